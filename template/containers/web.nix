# web: a container on my-host's bridge, serving nginx's default page on its
# address from nix/fleet.nix.
{
  services.nginx.enable = true;
  networking.firewall.allowedTCPPorts = [ 80 ];

  system.stateVersion = "26.05";
}
