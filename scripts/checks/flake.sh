#!/usr/bin/env bash
# flake.nix generates its systems from nix/fleet.nix: one nixosConfiguration
# per node, and a check variant of each that CI builds from a fresh clone
# (scripts/checks/flake-test.nix, with nixpkgs replaced by a stand-in).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

report_nix_cases scripts/checks/flake-test.nix
summary flake
