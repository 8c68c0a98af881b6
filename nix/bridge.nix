# A host's side of its containers' network, from its `bridge` in the graph:
# the bridge itself (systemd-networkd) and NAT from it to the internet. Part
# of nixosModules.host; a host's uplink is its own (nix/network.nix here).
{
  fleet,
  nodeName,
  ...
}:
let
  node = fleet.nodes.${nodeName};
  inherit (node) bridge;
in
# A host without containers may have no bridge.
if !(node ? bridge) then
  { }
else
{
  # The bridge is a networkd netdev; networkd manages only the links it has
  # configuration for, so scripted networking may keep the uplink.
  systemd.network.enable = true;

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
}
