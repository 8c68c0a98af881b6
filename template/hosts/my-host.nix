# my-host: what this machine needs besides its containers. Replace the disk
# and the key with your machine's (nixos-generate-config writes the
# hardware part).
{
  boot.loader.grub.device = "/dev/sda";
  fileSystems."/" = {
    device = "/dev/sda1";
    fsType = "ext4";
  };

  # fleet deploys as root over SSH.
  services.openssh.enable = true;
  users.users.root.openssh.authorizedKeys.keys = [
    # "ssh-ed25519 AAAA... you@workstation"
  ];

  system.stateVersion = "26.05";
}
