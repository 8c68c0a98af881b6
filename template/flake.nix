# A fleet of your own: one NixOS host and one native container, deployed by
# `fleet deploy`. The graph is nix/fleet.nix; each node's own configuration
# is hosts/NAME.nix or containers/NAME.nix. fleet's lib.nixosConfigurations
# adds what the graph gives every node: a host's containers, bridge and NAT,
# a container's network.
{
  description = "A NixOS host and its native containers, deployed by fleet";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    fleet = {
      url = "github:example/fleet";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    { nixpkgs, fleet, ... }:
    {
      nixosConfigurations = fleet.lib.nixosConfigurations {
        inherit nixpkgs;
        fleet = import ./nix/fleet.nix;
        modules =
          name: node: [ (if node.kind == "host" then ./hosts/${name}.nix else ./containers/${name}.nix) ];
      };
    };
}
