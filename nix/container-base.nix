# What every container's standalone system shares: it is an nspawn container,
# reaches the world through the host's bridge, and decrypts its secrets with
# the host key that mkContainer bind-mounts in. A container's own file in
# containers/ says only what is particular to it.
{
  lib,
  inputs,
  fleet,
  nodeName,
  ...
}:
let
  paths = import ./paths.nix;
  node = fleet.nodes.${nodeName};
  hostNode = fleet.nodes.${node.host};
in
{
  imports = [
    inputs.sops-nix.nixosModules.sops
    (import ./container-network.nix { inherit node hostNode; })
  ];

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

  # sops-nix turns the host's SSH ed25519 key into an age key itself. A raw
  # SSH key as age.keyFile would not parse.
  sops.defaultSopsFile = ../secrets + "/${nodeName}.yaml";
  sops.age.sshKeyPaths = [ paths.containerKey ];
  sops.age.keyFile = null;
  sops.gnupg.sshKeyPaths = [ ];

  system.stateVersion = lib.mkDefault "26.05";
}
