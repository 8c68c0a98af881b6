#!/usr/bin/env bash
# nix/fleet.nix evaluates to JSON without nixpkgs, and its addresses and
# dependencies make sense for the NixOS side (scripts/checks/fleet-test.nix).
# The orchestrator validates the graph itself (cycles, unknown names) in Rust.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

if out=$(nix eval --json --file nix/fleet.nix 2>"$tmp/stderr") \
  && printf '%s' "$out" | python3 -c 'import json,sys; assert json.load(sys.stdin)["nodes"]'; then
  pass "nix eval --json --file nix/fleet.nix"
else
  fail "nix eval --json --file nix/fleet.nix" "$out $(cat "$tmp/stderr")"
fi

report_nix_cases scripts/checks/fleet-test.nix

# The checks themselves: a broken topology must be caught, case by case.
broken='{ nodes = {
  h = { kind = "host"; system = "aarch64-linux"; target = "root@h";
        bridge = { name = "br0"; address = "10.0.0.1"; prefixLength = 24; }; };
  a_b = { kind = "container"; host = "h"; address = "10.0.1.5"; dependsOn = [ "nope" ]; };
  dup = { kind = "container"; host = "h"; address = "10.0.0.1"; dependsOn = [ ]; };
  bc = { kind = "container"; host = "h"; address = "10.0.0.255"; dependsOn = [ ];
         http = { domain = "x"; port = 0; }; };
}; }'
caught=$(nix_cases scripts/checks/fleet-test.nix "{ fleet = $broken; }" | awk -F'\t' '$1 == "false" { print $2 }')
for expected in \
  "container a_b name has no underscore" \
  "container a_b address lies inside its host's bridge subnet" \
  "container a_b dependsOn names containers on the same host" \
  "container bc address lies inside its host's bridge subnet" \
  "container bc http, if any, has a domain and a port" \
  "host h: container and bridge addresses are unique"; do
  if grep -qxF "$expected" <<<"$caught"; then
    pass "a broken fleet fails: $expected"
  else
    fail "a broken fleet fails: $expected" "not reported"
  fi
done

summary fleet
