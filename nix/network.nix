# Host networking with systemd-networkd: DHCP on the uplink, the containers'
# bridge from nix/fleet.nix, NAT from the bridge to the internet, and a
# firewall in front of the host.
{
  lib,
  fleet,
  nodeName,
  ...
}:
let
  bridge = fleet.nodes.${nodeName}.bridge;
in
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

  systemd.network.netdevs."20-${bridge.name}".netdevConfig = {
    Name = bridge.name;
    Kind = "bridge";
  };
  systemd.network.networks."20-${bridge.name}" = {
    matchConfig.Name = bridge.name;
    address = [ "${bridge.address}/${toString bridge.prefixLength}" ];
    # The bridge has no port until the first container starts; without this
    # networkd would not give it its address, and Caddy could not reach the
    # containers nor the containers their gateway.
    networkConfig.ConfigureWithoutCarrier = true;
    linkConfig.RequiredForOnline = "no";
  };

  # Containers reach the internet through the host. No externalInterface:
  # whatever the uplink is called, traffic from the bridge is masqueraded.
  networking.nat = {
    enable = true;
    internalInterfaces = [ bridge.name ];
  };

  # The bridge is deliberately not a trusted interface: a container reaches
  # the host only where a port is open to everyone (SSH, HTTP(S)).
  networking.firewall.enable = true;
}
