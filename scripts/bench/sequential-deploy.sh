#!/usr/bin/env bash
# sequential-deploy FLAKE USER@HOST:PORT SSH_OPTIONS NODE...
#
# The baseline of `cargo xtask bench deploy`: what a careful user does by hand
# to deploy a host and its containers, one node after the other, in dependency
# order (the host first, as the first NODE). For each node:
#
#   1. nix build --json --no-link FLAKE#nixosConfigurations.NODE.config.system.build.toplevel
#   2. nix copy --no-check-sigs --to ssh-ng://USER@HOST  (its closure)
#   3. one ssh command that activates it, with the commands a NixOS target needs
#      (crates/fleet-deploy/src/activation.txt defines them; its test fails
#      when this script runs others):
#      host:      nix-env -p /nix/var/nix/profiles/system --set P
#                 systemd-run ... P/bin/switch-to-configuration switch
#      container: mkdir -p /nix/var/nix/profiles/per-container/NODE
#                 nix-env -p /nix/var/nix/profiles/per-container/NODE/system --set P
#                 systemctl reload container@NODE if it is active, else start it
#
# Every step opens its own SSH connection (no multiplexing) and no node is
# skipped when it is already current: a person typing these commands runs the
# same steps every time. The activation is one ssh invocation per node, not
# one per command, which is the cheaper of the two ways to type it, so the
# baseline is not made slower than it needs to be.
#
# SSH_OPTIONS is one string of ssh arguments (e.g. "-i KEY -o
# StrictHostKeyChecking=no"), split on whitespace. nix must find its
# configuration in the environment (NIX_CONFIG), as for the orchestrator.
set -euo pipefail

# shellcheck source=args.sh
source "$(dirname "$0")/args.sh" sequential-deploy "$@"

for node in "${nodes[@]}"; do
  attr="nixosConfigurations.\"$node\".config.system.build.toplevel"
  json=$(nix "${nix_flags[@]}" build --json --no-link "$flake#$attr")
  path=$(sed -n 's/.*"out":"\([^"]*\)".*/\1/p' <<<"$json")
  if [ -z "$path" ]; then
    echo "sequential-deploy: no out path for $node in: $json" >&2
    exit 1
  fi
  nix "${nix_flags[@]}" copy --no-check-sigs --to "ssh-ng://$destination" "$path"
  if [ "$node" = "$host_node" ]; then
    # Store paths and node names hold no shell metacharacters, so they can
    # stand in the remote command as they are (a baseline, not the product).
    # shellcheck disable=SC2029
    ssh "${ssh_args[@]}" "$destination" "
      set -e
      nix-env -p /nix/var/nix/profiles/system --set $path
      systemd-run --collect --no-ask-password --pipe --quiet --service-type=exec \
        --unit=sequential-deploy-\$\$ --property=RuntimeMaxSec=250 $path/bin/switch-to-configuration switch"
  else
    # shellcheck disable=SC2029
    ssh "${ssh_args[@]}" "$destination" "
      set -e
      mkdir -p /nix/var/nix/profiles/per-container/$node
      nix-env -p /nix/var/nix/profiles/per-container/$node/system --set $path
      if systemctl is-active --quiet container@$node; then
        systemctl reload container@$node
      else
        systemctl start container@$node
      fi"
  fi
  echo "sequential-deploy: $node -> $path" >&2
done
