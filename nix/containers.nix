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
in
{
  config = lib.mkMerge (
    lib.mapAttrsToList (name: node: mkContainer { inherit name node hostNode; }) onThisHost
  );
}
