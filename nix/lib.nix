# The flake's `lib`: what another flake needs to adopt the fleet. Builtins
# only (nixpkgs comes in as an argument), so the template's test evaluates it
# with a stand-in nixpkgs.
{ nixosModules }:
{
  # A fleet.nix -> one nixosConfiguration per node, as the orchestrator
  # builds them (nixosConfigurations.NODE.config.system.build.toplevel).
  # A host gets nixosModules.host, a container nixosModules.container as a
  # standalone system for its host's platform (the host declares it by its
  # profile path, so a host switch never rebuilds it); `modules NAME NODE`
  # adds the node's own modules. Every module receives `fleet` (the graph)
  # and `nodeName` as special arguments, beside `specialArgs`.
  nixosConfigurations =
    {
      nixpkgs,
      fleet,
      modules ? name: node: [ ],
      specialArgs ? { },
    }:
    builtins.mapAttrs (
      name: node:
      let
        host = if node.kind == "host" then node else fleet.nodes.${node.host};
      in
      nixpkgs.lib.nixosSystem {
        specialArgs = specialArgs // {
          inherit fleet;
          nodeName = name;
        };
        modules = [
          { nixpkgs.hostPlatform = host.system; }
          (if node.kind == "host" then nixosModules.host else nixosModules.container)
        ]
        ++ modules name node;
      }
    ) fleet.nodes;
}
