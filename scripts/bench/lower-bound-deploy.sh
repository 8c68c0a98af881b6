#!/usr/bin/env bash
# lower-bound-deploy FLAKE SSH_OPTIONS USER@HOST:PORT HOST-NODE [CONTAINER-NODE...]
#                     [-- USER@HOST:PORT HOST-NODE [CONTAINER-NODE...]]...
#
# The lower bound of `cargo xtask bench deploy`: the least work any tool must
# do to deploy the same nodes, with nothing around it (no lock, no checks, no
# confirmation, no rollback, no retries, no progress):
#
#   1. one nix build --json --no-link --max-jobs N of every node's toplevel at
#      once (N = the number of nodes, so every build may run at the same time),
#      of the flake pinned to its revision when the tree is clean;
#   2. per host, all hosts at once: one nix copy --no-check-sigs --to
#      ssh-ng://USER@HOST of its nodes' systems, then one ssh invocation that
#      runs, in dependency order (the NODEs' order, host first), each node's
#      activation: the commands of crates/fleet-deploy/src/activation.txt
#      (its test checks them), skipping a node whose profile already points at
#      its new system (as a tool that compares before it activates would).
#
# SSH_OPTIONS is one string of ssh arguments (e.g. "-i KEY -o
# StrictHostKeyChecking=no"), split on whitespace. nix must find its
# configuration in the environment, as for the orchestrator.
set -euo pipefail

usage="usage: lower-bound-deploy FLAKE SSH_OPTIONS USER@HOST:PORT HOST-NODE [CONTAINER-NODE...] [-- ...]"
if [ $# -lt 4 ]; then
  echo "$usage" >&2
  exit 2
fi
flake=$1
ssh_options=$2
shift 2
nix_flags=(--extra-experimental-features 'nix-command flakes')

# The hosts: each one's target, its node, and its nodes (host first).
targets=()
host_nodes=()
host_lists=()
nodes=()
while [ $# -gt 0 ]; do
  if [ $# -lt 2 ] || [ "$1" = -- ] || [ "$2" = -- ]; then
    echo "$usage" >&2
    exit 2
  fi
  targets+=("$1")
  host_nodes+=("$2")
  shift
  list=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    list+=("$1")
    shift
  done
  if [ $# -gt 0 ]; then shift; fi
  host_lists+=("${list[*]}")
  nodes+=("${list[@]}")
done

# A clean tree pinned to its revision, as the orchestrator pins it: Nix 2.8
# fetches an unpinned git flake again for each installable (five git
# processes each), a cost no tool needs to pay.
# Its locked url is the only one with a `rev=`.
pinned=$(nix "${nix_flags[@]}" flake metadata --json "$flake" |
  grep -o '"url":"[^"]*[?&]rev=[0-9a-f]\{40\}[^"]*"' | sed 's/^"url":"\(.*\)"$/\1/' || true)
if [ -n "$pinned" ]; then flake=$pinned; fi
installables=()
for node in "${nodes[@]}"; do
  installables+=("$flake#nixosConfigurations.\"$node\".config.system.build.toplevel")
done
json=$(nix "${nix_flags[@]}" build --json --no-link --max-jobs "${#nodes[@]}" "${installables[@]}")

# nix does not print the results in the installables' order: each node's
# system is found by its name (`nixos-system-NODE-VERSION`), which must match
# exactly one; node names and versions may hold dashes, so every dash of the
# name is tried as the end of the node's name.
declare -A system
while read -r node path; do
  system[$node]=$path
done < <(grep -o '"out":"[^"]*"' <<<"$json" | sed 's/"out":"\([^"]*\)"/\1/' |
  awk -v list="${nodes[*]}" '
    BEGIN { n = split(list, names, " "); for (i = 1; i <= n; i++) wanted[names[i]] = 1 }
    {
      rest = $0; sub(/^[^-]*-nixos-system-/, "", rest)
      k = split(rest, parts, "-"); name = ""
      for (i = 1; i < k; i++) {
        name = (i == 1) ? parts[1] : name "-" parts[i]
        if (name in wanted) { count[name]++; path[name] = $0 }
      }
    }
    END {
      for (node in wanted) {
        if (count[node] != 1) { printf "%s systems built for %s\n", count[node] + 0, node > "/dev/stderr"; bad = 1 }
        else print node, path[node]
      }
      exit bad
    }')
if [ "${#system[@]}" -ne "${#nodes[@]}" ]; then
  echo "lower-bound-deploy: not every node's system was found in: $json" >&2
  exit 1
fi

# One host's copy and activations. Store paths and node names hold no shell
# metacharacters, so they stand in the script as they are.
deploy_host() {
  local target=$1 host_node=$2
  shift 2
  local destination=${target%:*} port=${target##*:}
  if [ "$port" = "$target" ]; then port=22; fi
  # Word splitting of the options string is intended: it holds several arguments.
  # shellcheck disable=SC2206
  local ssh_args=(-p "$port" -o BatchMode=yes -o ControlMaster=no -o ControlPath=none $ssh_options)
  local paths=() node path profile script='set -e
'
  for node in "$@"; do
    paths+=("${system[$node]}")
  done
  NIX_SSHOPTS="${ssh_args[*]}" nix "${nix_flags[@]}" copy --no-check-sigs --to "ssh-ng://$destination" "${paths[@]}"
  for node in "$@"; do
    path=${system[$node]}
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
}

pids=()
for h in "${!targets[@]}"; do
  # Each host's list is split back into its nodes, as it was joined.
  # shellcheck disable=SC2086
  deploy_host "${targets[$h]}" "${host_nodes[$h]}" ${host_lists[$h]} &
  pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "lower-bound-deploy: a host's copy or activation failed" >&2
  exit 1
fi
echo "lower-bound-deploy: ${#nodes[@]} nodes on ${#targets[@]} hosts" >&2
