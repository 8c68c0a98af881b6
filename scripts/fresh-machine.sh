#!/usr/bin/env bash
# Runs a command as a new user's machine would: Nix's defaults and an empty
# store. In a private mount namespace a tmpfs hides /nix, NIX_CONF_DIR and the
# XDG folders point at an empty folder, and NIX_CONFIG is unset, so neither the
# store nor any nix.conf this machine has gathered is seen. Nothing outside the
# namespace changes. CI runs the README's commands through it; so can you:
#
#   sudo scripts/fresh-machine.sh sh -c 'cargo xtask demo && cargo test --workspace'
#
# Usage: fresh-machine.sh COMMAND [ARG]...
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG]..." >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "fresh-machine: run as root: it mounts a tmpfs over /nix in a private mount namespace" >&2
  exit 2
fi

empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
mkdir -p /nix

env -u NIX_CONFIG -u NIX_USER_CONF_FILES -u NIX_REMOTE -u NIX_PATH \
  NIX_CONF_DIR="$empty" XDG_CONFIG_HOME="$empty" XDG_CONFIG_DIRS="$empty" \
  unshare --mount --propagation private -- \
  sh -c 'mount -t tmpfs -o mode=0755 fleet-fresh-nix /nix && exec "$@"' fresh-machine "$@"
