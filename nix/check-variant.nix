# The variant of a node that CI builds from a fresh clone: the node's own
# modules, with the two things only a real deployment has replaced by
# placeholders. sops-nix hashes each secrets file at evaluation
# (validateSopsFiles) and secrets/ holds none until the administrator creates
# them; a host refuses to evaluate without an administrator's SSH key. This
# system is never deployed: nixosConfigurations stay the real nodes, which
# evaluate once the real secrets and keys exist (README, "Before the first
# deploy").
{
  lib,
  options,
  nodeName,
  ...
}:
{
  config = lib.mkMerge [
    {
      sops.validateSopsFiles = false;
      sops.defaultSopsFile = lib.mkForce (
        builtins.toFile "${nodeName}-placeholder.yaml" "# check variant: no secrets\n"
      );
    }
    # Only hosts have administrators; a container has no such option.
    (lib.optionalAttrs (options ? fleet.adminKeys) {
      fleet.adminKeys = [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNoZWNrLXZhcmlhbnQtcGxhY2Vob2xkZXIta2V5 check-variant"
      ];
    })
  ];
}
