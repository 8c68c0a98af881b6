# A container's own network, from its node and its host's bridge in
# nix/fleet.nix. Plain data in, plain data out (no nixpkgs, no lib), so
# scripts/checks/from-graph-test.nix can evaluate it offline. The result is a
# module: nix/container-base.nix imports it.
#
# nspawn's container init renames the veth to eth0 and gives it
# localAddress, but NixOS does not know that interface. Since nixpkgs 26.05
# the scripted networking sets the default gateway only in
# network-addresses-IFACE, for interfaces declared here (nixpkgs#509247), so
# eth0 is declared with the same address the host hands in, and the gateway
# names it.
{ node, hostNode }:
{
  networking.interfaces.eth0.ipv4.addresses = [
    {
      inherit (node) address;
      inherit (hostNode.bridge) prefixLength;
    }
  ];
  networking.defaultGateway = {
    inherit (hostNode.bridge) address;
    interface = "eth0";
  };
}
