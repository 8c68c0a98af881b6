# Caddy terminates TLS for every container that nix/fleet.nix exposes with
# `http = { domain; port; }`, and proxies to its bridge address. Certificates
# live in /var/lib/caddy, which nix/impermanence.nix persists (or they would
# be issued again on every boot, into rate limits).
{
  config,
  lib,
  fleet,
  nodeName,
  ...
}:
let
  exposed = lib.filterAttrs (
    _: node: node.kind == "container" && node.host == nodeName && node ? http
  ) fleet.nodes;
in
{
  options.fleet.acmeEmail = lib.mkOption {
    type = lib.types.nullOr lib.types.str;
    default = null;
    example = "admin@example.org";
    description = "Contact address for the ACME account (certificate expiry notices).";
  };

  config = {
    services.caddy = {
      enable = true;
      email = config.fleet.acmeEmail;
      virtualHosts = lib.mapAttrs' (
        _: node:
        lib.nameValuePair node.http.domain {
          extraConfig = "reverse_proxy ${node.address}:${toString node.http.port}";
        }
      ) exposed;
    };

    networking.firewall.allowedTCPPorts = [
      80
      443
    ];
    # HTTP/3
    networking.firewall.allowedUDPPorts = [ 443 ];
  };
}
