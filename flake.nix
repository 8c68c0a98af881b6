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

      # A host gets nix/host.nix and nix/hosts/<name>.nix, a container
      # nix/container-base.nix and containers/<name>/, beside what
      # lib.nixosConfigurations gives every node of the graph.
      nodeSystems =
        extraModules:
        self.lib.nixosConfigurations {
          inherit nixpkgs fleet;
          specialArgs = { inherit self inputs; };
          modules =
            name: node:
            (
              if node.kind == "host" then
                [
                  ./nix/host.nix
                  ./nix/hosts/${name}.nix
                ]
              else
                [
                  ./nix/container-base.nix
                  ./containers/${name}
                ]
            )
            ++ extraModules;
        };

      # What CI builds from a fresh clone: every node with placeholder
      # secrets and keys (nix/check-variant.nix), never deployed.
      checkSystems = nodeSystems [ ./nix/check-variant.nix ];
    in
    {
      nixosConfigurations = nodeSystems [ ];

      # The interface for other flakes (README, "Use it in your flake"): the
      # modules that give a host its containers and a container its network,
      # lib.nixosConfigurations to make every node's system from a fleet.nix,
      # and a template to start from (`nix flake init -t`).
      nixosModules = {
        host = ./nix/fleet-host.nix;
        container = ./nix/fleet-container.nix;
      };
      lib = import ./nix/lib.nix { inherit (self) nixosModules; };
      templates.default = {
        path = ./template;
        description = "A NixOS host with one native container, deployed by fleet";
      };

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
