# vps-arm: what differs for this machine. Replace the example values before
# the first install (deployment-plan.md, "Install").
{ modulesPath, ... }:
{
  imports = [ "${modulesPath}/profiles/qemu-guest.nix" ];

  fleet.disk = "/dev/sda";
  fleet.adminKeys = [
    # "ssh-ed25519 AAAA... admin@workstation"
  ];
  fleet.acmeEmail = null;
  fleet.gitops = {
    enable = true;
    repository = "example/fleet";
    domain = "deploy.example.org";
  };

  # aarch64 VPS firmware is UEFI.
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;

  system.stateVersion = "26.05";
}
