# nannuo-bot: a Discord bot. Its code lives outside this repository: set
# `fleet.nannuo-bot.package` (e.g. from a flake input) to a package whose main
# program is the bot. It gets the token as a systemd credential and the search
# backend's URL, both from here; it starts after bgs-backend (nix/fleet.nix).
{
  config,
  lib,
  fleet,
  ...
}:
let
  cfg = config.fleet.nannuo-bot;
  backend = fleet.nodes.bgs-backend;
in
{
  options.fleet.nannuo-bot.package = lib.mkOption {
    type = lib.types.nullOr lib.types.package;
    default = null;
    description = ''
      The bot. Its main program reads the token from
      $CREDENTIALS_DIRECTORY/discord-token (a systemd credential) and finds
      the search backend at $BGS_BACKEND_URL.
      When null, the container runs without the bot (and says so at build).
    '';
  };

  config = lib.mkMerge [
    {
      warnings = lib.optional (cfg.package == null) ''
        fleet.nannuo-bot.package is not set: the nannuo-bot container runs without the bot.
      '';
    }
    (lib.mkIf (cfg.package != null) {
      sops.secrets.discord-token.restartUnits = [ "nannuo-bot.service" ];

      systemd.services.nannuo-bot = {
        description = "nannuo Discord bot";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        environment.BGS_BACKEND_URL = "http://${backend.address}:${toString backend.http.port}";
        serviceConfig = {
          ExecStart = lib.getExe cfg.package;
          LoadCredential = "discord-token:${config.sops.secrets.discord-token.path}";
          DynamicUser = true;
          StateDirectory = "nannuo-bot";
          Restart = "on-failure";
          RestartSec = "10s";
          NoNewPrivileges = true;
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
        };
      };
    })
  ];
}
