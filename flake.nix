{
  description = "A NixOS host with native containers, deployed in graph order by the fleet orchestrator";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    disko = {
      url = "github:nix-community/disko";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    sops-nix = {
      url = "github:Mic92/sops-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    impermanence = {
      url = "github:nix-community/impermanence";
      # Only needed for impermanence's own development.
      inputs.nixpkgs.follows = "";
      inputs.home-manager.follows = "";
    };
  };

  outputs =
    { self, nixpkgs, ... }@inputs:
    let
      inherit (nixpkgs) lib;

      # The one source of truth for the topology; every system below is
      # generated from it.
      fleet = import ./nix/fleet.nix;

      systems = [
        "aarch64-linux"
        "x86_64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      mkSystem =
        name: system: modules:
        lib.nixosSystem {
          specialArgs = {
            inherit self inputs fleet;
            nodeName = name;
          };
          modules = [ { nixpkgs.hostPlatform = system; } ] ++ modules;
        };

      # A host, or a container as a standalone system, so the orchestrator
      # can build and activate each container on its own (per-container
      # profile), without a host switch.
      nodeSystem =
        extraModules: name: node:
        if node.kind == "host" then
          mkSystem name node.system (
            [
              { networking.hostName = name; }
              ./nix/host.nix
              ./nix/hosts/${name}.nix
            ]
            ++ extraModules
          )
        else
          mkSystem name fleet.nodes.${node.host}.system (
            [
              ./nix/container-base.nix
              ./containers/${name}
            ]
            ++ extraModules
          );

      # What CI builds from a fresh clone: every node with placeholder
      # secrets and keys (nix/check-variant.nix), never deployed.
      checkSystems = lib.mapAttrs (nodeSystem [ ./nix/check-variant.nix ]) fleet.nodes;
    in
    {
      nixosConfigurations = lib.mapAttrs (nodeSystem [ ]) fleet.nodes;

      packages = forAllSystems (pkgs: {
        fleet = pkgs.callPackage ./nix/package.nix { };
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.fleet;
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [
            # deploy and install
            nh
            nixos-anywhere
            # secrets
            sops
            ssh-to-age
            age
            # the orchestrator
            cargo
            rustc
            clippy
            rustfmt
            rust-analyzer
            # the offline checks
            git
            openssl
            curl
            python3
            webhook
            nixfmt-tree
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);

      # The offline checks, and on each node's platform its check variant's
      # toplevel. The real nodes are not here: they need the real secrets,
      # which a fresh clone does not have.
      checks = forAllSystems (
        pkgs:
        let
          system = pkgs.stdenv.hostPlatform.system;
          toplevels = lib.mapAttrs' (
            name: cfg: lib.nameValuePair "toplevel-${name}" cfg.config.system.build.toplevel
          ) (lib.filterAttrs (_: cfg: cfg.pkgs.stdenv.hostPlatform.system == system) checkSystems);
        in
        import ./nix/checks.nix { inherit pkgs lib; } // toplevels
      );
    };
}
