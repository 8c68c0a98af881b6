#!/usr/bin/env bash
# lower-bound-deploy FLAKE USER@HOST:PORT SSH_OPTIONS NODE...
#
# The lower bound of `cargo xtask bench deploy`: the least work any tool must
# do to deploy the same nodes, with nothing around it (no lock, no checks, no
# confirmation, no rollback, no retries, no progress):
#
#   1. one nix build --json --no-link --max-jobs N of every node's toplevel at
#      once (N = the number of nodes, so every build may run at the same time);
#   2. one nix copy --no-check-sigs --to ssh-ng://USER@HOST of all of them;
#   3. one ssh invocation that runs, in dependency order (the NODEs' order,
#      host first), each node's activation: the same commands as
#      sequential-deploy.sh (those of crates/fleet-deploy/src/activation.txt,
#      checked by its test), skipping a node whose profile already points at
#      its new system (as a tool that compares before it activates would).
#
# Arguments as for sequential-deploy.sh.
set -euo pipefail

# shellcheck source=args.sh
source "$(dirname "$0")/args.sh" lower-bound-deploy "$@"

installables=()
for node in "${nodes[@]}"; do
  installables+=("$flake#nixosConfigurations.\"$node\".config.system.build.toplevel")
done
json=$(nix "${nix_flags[@]}" build --json --no-link --max-jobs "${#nodes[@]}" "${installables[@]}")
# nix does not print the results in the installables' order: find each node's
# system by its name (`nixos-system-NODE-VERSION`), which must match exactly one.
mapfile -t built < <(grep -o '"out":"[^"]*"' <<<"$json" | sed 's/"out":"\([^"]*\)"/\1/')
paths=()
for node in "${nodes[@]}"; do
  matches=()
  for path in "${built[@]}"; do
    case "$path" in
      /nix/store/*-nixos-system-"$node"-*) matches+=("$path") ;;
    esac
  done
  if [ "${#matches[@]}" -ne 1 ]; then
    echo "lower-bound-deploy: ${#matches[@]} systems built for $node in: $json" >&2
    exit 1
  fi
  paths+=("${matches[0]}")
done

nix "${nix_flags[@]}" copy --no-check-sigs --to "ssh-ng://$destination" "${paths[@]}"

# The activation script, one block per node; store paths and node names hold
# no shell metacharacters, so they stand in it as they are.
script='set -e
'
for i in "${!nodes[@]}"; do
  node=${nodes[$i]}
  path=${paths[$i]}
  if [ "$node" = "$host_node" ]; then
    script+="if [ \"\$(readlink -f /nix/var/nix/profiles/system)\" != $path ]; then
  nix-env -p /nix/var/nix/profiles/system --set $path
  systemd-run --collect --no-ask-password --pipe --quiet --service-type=exec \\
    --unit=lower-bound-deploy-\$\$ --property=RuntimeMaxSec=250 $path/bin/switch-to-configuration switch
fi
"
  else
    profile=/nix/var/nix/profiles/per-container/$node/system
    script+="if [ \"\$(readlink -f $profile)\" != $path ]; then
  mkdir -p /nix/var/nix/profiles/per-container/$node
  nix-env -p $profile --set $path
  if systemctl is-active --quiet container@$node; then
    systemctl reload container@$node
  else
    systemctl start container@$node
  fi
fi
"
  fi
done
ssh "${ssh_args[@]}" "$destination" sh -s <<<"$script"
echo "lower-bound-deploy: ${#nodes[@]} nodes" >&2
