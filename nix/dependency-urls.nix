# The HTTP services a node depends on, by name: for each node in its
# `dependsOn` that has `http = { port; ... }`, the URL it answers on over the
# bridge. A container finds its backends here instead of naming them, so the
# edge is written once, in nix/fleet.nix. Plain data in, plain data out (no
# nixpkgs), so scripts/checks/from-graph-test.nix evaluates it offline.
{ fleet, nodeName }:
let
  dependencies = fleet.nodes.${nodeName}.dependsOn;
  url = node: "http://${node.address}:${toString node.http.port}";
in
builtins.listToAttrs (
  map (name: {
    inherit name;
    value = url fleet.nodes.${name};
  }) (builtins.filter (name: fleet.nodes.${name} ? http) dependencies)
)
