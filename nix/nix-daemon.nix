# Nix on a host: the orchestrator copies closures in and, for GitOps, builds
# the flake here, so flakes must work; old generations are collected.
{ lib, ... }:
{
  nix.settings = {
    experimental-features = [
      "nix-command"
      "flakes"
    ];
    # `nix copy --to ssh-ng://root@host` imports unsigned paths only for
    # trusted users.
    trusted-users = [ "root" ];
  };

  # Keeps a month of host and per-container generations for rollback.
  nix.gc = {
    automatic = lib.mkDefault true;
    dates = lib.mkDefault "weekly";
    options = lib.mkDefault "--delete-older-than 30d";
  };
}
