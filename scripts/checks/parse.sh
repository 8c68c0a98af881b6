#!/usr/bin/env bash
# Every .nix file of the repository (tracked or new, not ignored) parses.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

while IFS= read -r -d '' file; do
  if out=$(nix-instantiate --parse "$file" 2>&1 >/dev/null); then
    pass "parse $file"
  else
    fail "parse $file" "$out"
  fi
done < <(git ls-files -z --cached --others --exclude-standard -- '*.nix')

summary parse
