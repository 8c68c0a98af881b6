# nixosModules.container: what the graph gives every container's standalone
# system, in any flake. It is an nspawn container, has its address on eth0
# with the host's bridge as its gateway, and opens its `http` port. It reads
# `fleet` (the graph) and `nodeName`, the special arguments the flake's
# lib.nixosConfigurations passes.
{
  lib,
  fleet,
  nodeName,
  ...
}:
let
  node = fleet.nodes.${nodeName};
  hostNode = fleet.nodes.${node.host};
in
{
  imports = [ (import ./container-network.nix { inherit node hostNode; }) ];

  # The host declares containers by `path`, not `config`, so the containers
  # module does not inject these; the system is built on its own.
  boot.isContainer = true;
  boot.isNspawnContainer = true;
  networking.hostName = nodeName;
  networking.useDHCP = lib.mkDefault false;

  # The host's resolv.conf points at its loopback stub resolver, which a
  # container cannot reach; resolve through public servers instead.
  networking.useHostResolvConf = false;
  networking.nameservers = lib.mkDefault [
    "9.9.9.9"
    "149.112.112.112"
  ];
  networking.firewall.allowedTCPPorts = lib.optional (node ? http) node.http.port;
}
