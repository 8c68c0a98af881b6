# Disk layout: GPT with an EFI system partition and one btrfs partition
# holding /nix and /persistent; `/` is a tmpfs, so everything not persisted
# (nix/impermanence.nix) is gone after a reboot.
{ config, lib, ... }:
let
  btrfsMount = mountpoint: {
    inherit mountpoint;
    mountOptions = [
      "compress=zstd"
      "noatime"
    ];
  };
in
{
  options.fleet.disk = lib.mkOption {
    type = lib.types.str;
    example = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_12345";
    description = "The disk nixos-anywhere partitions and installs to. It is wiped.";
  };

  config.disko.devices = {
    disk.main = {
      type = "disk";
      device = config.fleet.disk;
      content = {
        type = "gpt";
        partitions = {
          ESP = {
            size = "512M";
            type = "EF00";
            content = {
              type = "filesystem";
              format = "vfat";
              mountpoint = "/boot";
              mountOptions = [ "umask=0077" ];
            };
          };
          system = {
            size = "100%";
            content = {
              type = "btrfs";
              extraArgs = [ "-f" ];
              subvolumes = {
                "/nix" = btrfsMount "/nix";
                "/persistent" = btrfsMount "/persistent";
              };
            };
          };
        };
      };
    };
    nodev."/" = {
      fsType = "tmpfs";
      mountOptions = [
        "size=25%"
        "mode=755"
      ];
    };
  };
}
