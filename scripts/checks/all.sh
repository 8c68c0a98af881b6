#!/usr/bin/env bash
# Runs every offline check; prints each one's summary line and exits non-zero
# if any failed. Needs only nix, git, bash, coreutils, openssl, curl, python3
# and the webhook daemon (Debian/Ubuntu package `webhook`).
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)

checks=(parse fleet mk-container from-graph flake webhook deploy-script secrets)
passed=0
failed=0
for name in "${checks[@]}"; do
  if out=$("$dir/$name.sh" 2>&1); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf '%s\n' "$out" | grep -v '^ok ' >&2
  fi
  printf '%s\n' "$out" | tail -n 1
done
echo "all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
