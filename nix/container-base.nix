# What this repository's containers add to nixosModules.container
# (nix/fleet-container.nix): they decrypt their secrets with the host key
# that nix/container-key.nix bind-mounts in. A container's own file in
# containers/ says only what is particular to it.
{
  lib,
  inputs,
  nodeName,
  ...
}:
let
  paths = import ./paths.nix;
in
{
  imports = [ inputs.sops-nix.nixosModules.sops ];

  # sops-nix turns the host's SSH ed25519 key into an age key itself. A raw
  # SSH key as age.keyFile would not parse.
  sops.defaultSopsFile = ../secrets + "/${nodeName}.yaml";
  sops.age.sshKeyPaths = [ paths.containerKey ];
  sops.age.keyFile = null;
  sops.gnupg.sshKeyPaths = [ ];

  system.stateVersion = lib.mkDefault "26.05";
}
