# The identity this repository's containers share: the host's SSH key,
# bind-mounted read-only into every container placed on the host, which
# sops-nix in the container converts to an age key. Root in the container
# can still read it (README.md, "Secrets and identity"). Not part of
# nixosModules.host: a host of another flake may have no such key, and
# nspawn refuses a bind mount whose source is missing. Builtins only, so
# scripts/checks/mk-container-test.nix evaluates it offline.
{
  fleet,
  nodeName,
  ...
}:
let
  paths = import ./paths.nix;
  onThisHost = builtins.filter (
    name: fleet.nodes.${name}.kind == "container" && fleet.nodes.${name}.host == nodeName
  ) (builtins.attrNames fleet.nodes);
in
{
  containers = builtins.listToAttrs (
    map (name: {
      inherit name;
      value.bindMounts.${paths.containerKey} = {
        hostPath = paths.hostKey;
        isReadOnly = true;
      };
    }) onThisHost
  );
}
