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
  "container a_b dependsOn names other nodes, on its own host containers" \
  "container bc address lies inside its host's bridge subnet" \
  "container bc http, if any, has a domain and a port" \
  "host h: container and bridge addresses are unique"; do
  if grep -qxF "$expected" <<<"$caught"; then
    pass "a broken fleet fails: $expected"
  else
    fail "a broken fleet fails: $expected" "not reported"
  fi
done

# The topology is written once: no Nix file but nix/fleet.nix names a node,
# except a node's own files (containers/NAME/, nix/hosts/NAME.nix), which
# may name their own node (its options, units and secrets file).
# hardcoded_names ROOT NAME...: prints "FILE: NAME" for each offence.
hardcoded_names() {
  local root=$1 file own name
  shift
  while IFS= read -r -d '' file; do
    case $file in
      nix/fleet.nix) continue ;;
      containers/*/*) own=${file#containers/} own=${own%%/*} ;;
      nix/hosts/*.nix) own=${file#nix/hosts/} own=${own%.nix} ;;
      *) own= ;;
    esac
    for name in "$@"; do
      if [ "$name" != "$own" ] && grep -qwF -- "$name" "$root/$file"; then
        echo "$file: $name"
      fi
    done
  done < <(git -C "$root" ls-files -z --cached --others --exclude-standard -- flake.nix 'nix/*.nix' 'containers/*')
}

# The scanner on a tree that does repeat the topology, so a blind one fails.
planted=$tmp/planted
git init --quiet "$planted"
mkdir -p "$planted/nix/hosts" "$planted/containers/bot" "$planted/containers/search"
echo '{ nodes = { edge = { }; search = { }; bot = { }; }; }' >"$planted/nix/fleet.nix"
echo '{ fleet, ... }: { url = fleet.nodes.search.address; }' >"$planted/containers/bot/default.nix"
echo '{ options.fleet.search.port = 1; } # search' >"$planted/containers/search/default.nix"
echo '# edge: this machine' >"$planted/nix/hosts/edge.nix"
echo '{ after = [ "container@bot.service" ]; }' >"$planted/nix/caddy.nix"
found=$(hardcoded_names "$planted" edge search bot)
check "scanner finds a container naming another node" grep -qxF "containers/bot/default.nix: search" <<<"$found"
check "scanner finds a host module naming a node" grep -qxF "nix/caddy.nix: bot" <<<"$found"
check "scanner lets a node's own files name it" test "$(wc -l <<<"$found")" -eq 2

mapfile -t names < <(nix eval --json --file nix/fleet.nix --apply 'f: builtins.attrNames f.nodes' 2>"$tmp/stderr" \
  | python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)))')
found=$(hardcoded_names "$repo_root" "${names[@]}")
if [ "${#names[@]}" -gt 0 ] && [ -z "$found" ]; then
  pass "no Nix file outside nix/fleet.nix names another node (${#names[@]} nodes)"
else
  while IFS= read -r line; do fail "node named outside nix/fleet.nix: $line"; done <<<"${found:-no node names read: $(cat "$tmp/stderr")}"
fi

summary fleet
