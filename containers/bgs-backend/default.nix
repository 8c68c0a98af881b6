# bgs-backend: the search backend, served by Caddy on the host at the domain
# nix/fleet.nix gives it. The engine is Meilisearch from nixpkgs; its master
# key comes from secrets/bgs-backend.yaml.
{
  config,
  fleet,
  nodeName,
  ...
}:
let
  node = fleet.nodes.${nodeName};
in
{
  services.meilisearch = {
    enable = true;
    listenAddress = node.address;
    listenPort = node.http.port;
    masterKeyFile = config.sops.secrets.meili-master-key.path;
    # Refuses to start without a master key of at least 16 bytes.
    settings.env = "production";
  };

  sops.secrets.meili-master-key.restartUnits = [ "meilisearch.service" ];
}
