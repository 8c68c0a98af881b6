# sops-nix on a host: secrets/HOST.yaml, decrypted with the age key derived
# from the SSH host key. The key is read from /persistent directly because
# sops activation can run before impermanence's bind mounts exist.
{ nodeName, ... }:
let
  paths = import ./paths.nix;
in
{
  sops.defaultSopsFile = ../secrets + "/${nodeName}.yaml";
  sops.age.sshKeyPaths = [ paths.hostKey ];
  sops.age.keyFile = null;
  # No RSA host key exists, so no GnuPG fallback either.
  sops.gnupg.sshKeyPaths = [ ];
}
