# Evaluates flake.nix's outputs with builtins only: nixpkgs is replaced by a
# stand-in whose lib.nixosSystem returns its arguments, so the test sees which
# modules each system gets. Every node of nix/fleet.nix is one
# nixosConfiguration with its own modules on its platform; the checks build,
# per platform, each node's check variant (the same modules plus
# nix/check-variant.nix), and no real node carries the check variant.
# Returns a list of { name; ok; detail; } like fleet-test.nix (whose `case` and
# builtins list it repeats: each test file evaluates alone, with no import).
{
  fleet ? import ../../nix/fleet.nix,
}:
let
  inherit (builtins)
    attrNames
    concatMap
    elem
    filter
    head
    listToAttrs
    ;

  case = name: ok: detail: { inherit name ok detail; };
  show = builtins.toJSON;

  # The part of nixpkgs' lib that flake.nix's outputs use.
  lib = {
    genAttrs = names: f: listToAttrs (map (name: { inherit name; value = f name; }) names);
    inherit (builtins) mapAttrs;
    filterAttrs =
      pred: set:
      listToAttrs (
        concatMap (name: if pred name set.${name} then [ { inherit name; value = set.${name}; } ] else [ ]) (
          attrNames set
        )
      );
    mapAttrs' = f: set: listToAttrs (map (name: f name set.${name}) (attrNames set));
    nameValuePair = name: value: { inherit name value; };
    nixosSystem =
      args:
      let
        system = (head args.modules).nixpkgs.hostPlatform;
      in
      args
      // {
        pkgs.stdenv.hostPlatform.system = system;
        config.system.build.toplevel = { inherit (args) modules; };
      };
  };

  outputs = (import ../../flake.nix).outputs {
    self = outputs;
    nixpkgs = {
      inherit lib;
      legacyPackages = lib.genAttrs [ "aarch64-linux" "x86_64-linux" ] (system: {
        stdenv.hostPlatform.system = system;
      });
    };
  };

  checkVariant = ../../nix/check-variant.nix;
  names = attrNames fleet.nodes;
  platformOf =
    name:
    let
      node = fleet.nodes.${name};
    in
    if node.kind == "host" then node.system else fleet.nodes.${node.host}.system;
  ownModules =
    name:
    if fleet.nodes.${name}.kind == "host" then
      [
        ../../nix/fleet-host.nix
        ../../nix/host.nix
        (../../nix/hosts + "/${name}.nix")
      ]
    else
      [
        ../../nix/fleet-container.nix
        ../../nix/container-base.nix
        (../../containers + "/${name}")
      ];

  nodeCases =
    name:
    let
      cfg = outputs.nixosConfigurations.${name};
      check = outputs.checks.${platformOf name}."toplevel-${name}" or null;
      checkModules = if check == null then [ ] else check.modules;
      files = filter builtins.isPath;
    in
    [
      (case "${name}: a nixosConfiguration on ${platformOf name}" (
        cfg.pkgs.stdenv.hostPlatform.system == platformOf name
      ) cfg.pkgs.stdenv.hostPlatform.system)
      (case "${name}: its own modules, and nothing of the check variant" (
        files cfg.modules == ownModules name && !(elem checkVariant cfg.modules)
      ) (show (map toString (files cfg.modules))))
      (case "${name}: checks.${platformOf name}.toplevel-${name} is its check variant" (
        files checkModules == ownModules name ++ [ checkVariant ]
      ) (show (map toString (files checkModules))))
    ];

  systems = attrNames outputs.checks;
in
[
  (case "nixosModules.host and .container are the graph's modules for any flake" (
    outputs.nixosModules.host == ../../nix/fleet-host.nix
    && outputs.nixosModules.container == ../../nix/fleet-container.nix
  ) (show (builtins.mapAttrs (_: toString) outputs.nixosModules)))
  (case "templates.default is the template folder, with a flake and its graph" (
    outputs.templates.default.path == ../../template
    && builtins.pathExists (../../template + "/flake.nix")
    && builtins.pathExists (../../template + "/nix/fleet.nix")
  ) (toString outputs.templates.default.path))
  (case "one nixosConfiguration per node of nix/fleet.nix" (
    attrNames outputs.nixosConfigurations == names
  ) (show (attrNames outputs.nixosConfigurations)))
  (case "every platform's checks hold the offline checks" (
    builtins.all (
      s:
      builtins.all (c: outputs.checks.${s} ? ${c}) [
        "fleet"
        "mk-container"
        "from-graph"
        "webhook"
        "deploy-script"
      ]
    ) systems
  ) (show systems))
  (case "checks build a toplevel only for nodes of that platform" (
    builtins.all (
      s:
      builtins.all (n: platformOf n == s) (
        map (c: builtins.substring 9 (-1) c) (
          filter (c: builtins.substring 0 9 c == "toplevel-") (attrNames outputs.checks.${s})
        )
      )
    ) systems
  ) "")
]
++ concatMap nodeCases names
