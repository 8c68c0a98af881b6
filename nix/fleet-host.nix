# nixosModules.host: what the graph gives a host, in any flake: its host
# name, every container placed on it (nix/containers.nix) and their bridge
# and NAT (nix/bridge.nix). It reads `fleet` (the graph) and `nodeName`, the
# special arguments the flake's lib.nixosConfigurations passes.
{ lib, nodeName, ... }:
{
  imports = [
    ./containers.nix
    ./bridge.nix
  ];

  networking.hostName = lib.mkDefault nodeName;
}
