# The fleet's topology: the one source of truth for hosts, containers and their
# dependencies. Pure data, evaluated without nixpkgs, so that
# `nix eval --json --file nix/fleet.nix` works offline. The flake (mkContainer,
# per-container systems) and the orchestrator both read this file.
# (Node records look alike by design: they are data, one per node.)
{
  nodes = {
    vps-arm = {
      kind = "host";
      system = "aarch64-linux";
      # Where the orchestrator deploys to (USER@HOST[:PORT]); `--target` overrides it.
      target = "root@vps-arm.example.org";
      bridge = {
        name = "br0";
        address = "10.233.0.1";
        prefixLength = 24;
      };
    };

    bgs-backend = {
      kind = "container";
      host = "vps-arm";
      address = "10.233.0.10";
      dependsOn = [ ];
      # Optional: served publicly by the host's Caddy, https://DOMAIN -> ADDRESS:PORT.
      # The container opens PORT in its own firewall and its service listens on it.
      http = {
        domain = "search.example.org";
        port = 7700;
      };
    };

    nannuo-bot = {
      kind = "container";
      host = "vps-arm";
      address = "10.233.0.11";
      # The bot answers queries through the search backend.
      dependsOn = [ "bgs-backend" ];
    };

    test-container = {
      kind = "container";
      host = "vps-arm";
      address = "10.233.0.12";
      dependsOn = [ ];
    };
  };
}
