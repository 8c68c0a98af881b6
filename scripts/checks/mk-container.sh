#!/usr/bin/env bash
# mkContainer is a pure function: evaluated for every container of
# nix/fleet.nix without nixpkgs, it declares what ARCHITECTURE.md requires of it
# (scripts/checks/mk-container-test.nix).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

report_nix_cases scripts/checks/mk-container-test.nix
summary mk-container
