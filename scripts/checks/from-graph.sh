#!/usr/bin/env bash
# What a node's own system takes from nix/fleet.nix (a host's bridge, a
# container's network, the URLs of its HTTP dependencies) is a pure function
# of the graph (scripts/checks/from-graph-test.nix).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

report_nix_cases scripts/checks/from-graph-test.nix
summary from-graph
