# Everything a fleet host runs, one concern per file. A host's own file in
# nix/hosts/ adds what differs per machine (disk, keys, domains, boot loader);
# its containers, bridge and NAT are nixosModules.host (nix/fleet-host.nix),
# which lib.nixosConfigurations adds to every host.
{ inputs, ... }:
{
  imports = [
    inputs.disko.nixosModules.disko
    inputs.impermanence.nixosModules.impermanence
    inputs.sops-nix.nixosModules.sops
    ./nix-daemon.nix
    ./ssh.nix
    ./network.nix
    ./container-key.nix
    ./caddy.nix
    ./gitops.nix
    ./webhook.nix
    ./sops.nix
    ./impermanence.nix
    ./disko.nix
  ];
}
