# `/` is a tmpfs (nix/disko.nix); what must survive a reboot is bind-mounted
# from /persistent. The SSH host key needs no entry: it lives in /persistent
# itself (nix/ssh.nix).
{ lib, ... }:
let
  paths = import ./paths.nix;
in
{
  # disko does not set this, and impermanence asserts it: /persistent must be
  # mounted in the initrd, before the bind mounts and before sops reads the key.
  fileSystems.${paths.persistent}.neededForBoot = true;

  environment.persistence.${paths.persistent} = {
    hideMounts = true;
    directories = [
      "/var/log"
      "/var/lib/nixos" # uid/gid allocations
      "/var/lib/systemd/coredump"
      "/var/lib/caddy" # ACME account and certificates
      "/var/lib/nixos-containers" # the containers' root file systems and state
      # The last attempted and deployed commits (forward-only needs them),
      # the queue, the delivery ids, the mirror and Nix's fetcher cache.
      {
        directory = "/var/lib/gitops-deploy";
        mode = "0700";
      }
      # The deploy key and known_hosts for fetching a private repository.
      {
        directory = "/root/.ssh";
        mode = "0700";
      }
    ];
    files = [ "/etc/machine-id" ];
  };
}
