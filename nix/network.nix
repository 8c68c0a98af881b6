# Host networking with systemd-networkd: DHCP on the uplink and a firewall in
# front of the host. The containers' bridge and NAT are nix/bridge.nix, part
# of the flake's nixosModules.host.
{
  lib,
  ...
}:
{
  # Defaults, as srvos sets them: a provider profile may bring its own.
  networking.useNetworkd = lib.mkDefault true;
  networking.useDHCP = lib.mkDefault false;
  # Resolves for the host from the DHCP-provided servers. Containers do not
  # use it (it listens on loopback only); see nix/container-base.nix.
  services.resolved.enable = true;

  systemd.network.networks."10-uplink" = {
    # Most VPS images name the uplink en* (or eth* without predictable
    # names). A provider that needs static addresses overrides this network.
    matchConfig.Name = lib.mkDefault "en* eth*";
    networkConfig.DHCP = lib.mkDefault "yes";
  };

  # The bridge is deliberately not a trusted interface: a container reaches
  # the host only where a port is open to everyone (SSH, HTTP(S)).
  networking.firewall.enable = true;
}
