# test-container: a sandbox for trying things by hand
# (`nixos-container root-login test-container`). It runs no service; it has
# the shared base and a few tools to probe the network and the other
# containers from inside.
{ pkgs, ... }:
{
  environment.systemPackages = with pkgs; [
    curl
    dnsutils
    jq
  ];
}
