# The HTTP services a node depends on, by name: for each node in its
# `dependsOn` that has `http = { port; ... }`, the URL it answers on (over the
# bridge on the same host, at its domain on another). A container finds its
# backends here instead of naming them, so the
# edge is written once, in nix/fleet.nix. Plain data in, plain data out (no
# nixpkgs), so scripts/checks/from-graph-test.nix evaluates it offline.
{ fleet, nodeName }:
let
  self = fleet.nodes.${nodeName};
  dependencies = self.dependsOn;
  # Over the bridge on the same host; a node of another host is reached at its
  # domain, through that host's Caddy (its bridge is not this host's).
  url =
    node:
    if (node.host or null) == (self.host or null) then
      "http://${node.address}:${toString node.http.port}"
    else
      "https://${node.http.domain}";
in
builtins.listToAttrs (
  map (name: {
    inherit name;
    value = url fleet.nodes.${name};
  }) (builtins.filter (name: fleet.nodes.${name} ? http) dependencies)
)
