# Declares on a host every container that nix/fleet.nix places on it, through
# mkContainer. Nothing about the topology is written here.
{
  lib,
  fleet,
  nodeName,
  ...
}:
let
  mkContainer = import ./mk-container.nix;
  hostNode = fleet.nodes.${nodeName};
  onThisHost = lib.filterAttrs (
    _: node: node.kind == "container" && node.host == nodeName
  ) fleet.nodes;
  # systemd orders units of one machine only: a dependency on a node of
  # another host is the orchestrator's to order (it activates that node
  # first), so mkContainer sees only those on this host.
  sameHost = node: {
    dependsOn = builtins.filter (dep: onThisHost ? ${dep}) node.dependsOn;
  };
in
{
  config = lib.mkMerge (
    lib.mapAttrsToList (
      name: node: mkContainer { inherit name hostNode; node = node // sameHost node; }
    ) onThisHost
  );
}
