#!/usr/bin/env bash
# flake.nix generates its systems from nix/fleet.nix: one nixosConfiguration
# per node, and a check variant of each that CI builds from a fresh clone
# (scripts/checks/flake-test.nix, with nixpkgs replaced by a stand-in). And
# CI builds what the host builds: the workflow fails without a current
# flake.lock and never lets nix change it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

report_nix_cases scripts/checks/flake-test.nix

# Each `run:` of the workflow that evaluates the flake (not a plain --file).
unpinned=$(python3 - .github/workflows/ci.yml <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for block, single in re.findall(r"run: [|>]-?\n((?: {10}.*\n)+)|run: (.*)", text):
    cmd = " ".join((block or single).split())
    # Quoted text (messages, Nix expressions) runs nothing.
    bare = re.sub(r"\"[^\"]*\"|'[^']*'", "", cmd)
    if re.search(r"\bnix (build|flake|eval|develop|run)\b", bare) and "--file" not in bare \
            and "--no-update-lock-file" not in bare:
        print(cmd)
PY
)
if [ -z "$unpinned" ]; then
  pass "every flake command in ci.yml has --no-update-lock-file"
else
  fail "every flake command in ci.yml has --no-update-lock-file" "$unpinned"
fi
check "ci.yml fails when flake.lock is missing" grep -qF '[ ! -f flake.lock ]' .github/workflows/ci.yml
check "ci.yml checks flake.lock against flake.nix" grep -qF 'nix flake metadata --no-update-lock-file' .github/workflows/ci.yml

summary flake
