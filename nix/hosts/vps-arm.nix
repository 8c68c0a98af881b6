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

  # aarch64 VPS firmware is UEFI. bootctl then writes NVRAM boot entries
  # from nixos-anywhere's kexec environment, which some providers refuse or
  # drop; without it systemd-boot is still found at the firmware's fallback
  # path (EFI/BOOT/BOOTAA64.EFI), which bootctl always installs.
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = false;

  system.stateVersion = "26.05";
}
