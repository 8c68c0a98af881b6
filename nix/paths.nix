# Fixed paths that several modules, mkContainer and the docs must agree on.
# Pure data: mkContainer imports it and is evaluated without nixpkgs.
{
  # The btrfs subvolume that survives reboots; `/` is a tmpfs.
  persistent = "/persistent";

  # The host's SSH identity. sops-nix on the host and in every container
  # derives its age key from it; nixos-anywhere puts it here at install time.
  hostKey = "/persistent/etc/ssh/ssh_host_ed25519_key";

  # Where the orchestrator keeps each container's profile (NAME/system);
  # nspawn binds NAME onto the container's /nix/var/nix/profiles.
  containerProfiles = "/nix/var/nix/profiles/per-container";

  # Where each container sees the host key (bind-mounted read-only).
  containerKey = "/var/lib/sops-nix/key.txt";
}
