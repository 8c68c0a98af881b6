# nannuo-bot: a Discord bot. Its code lives outside this repository: set
# `fleet.nannuo-bot.package` (e.g. from a flake input) to a package whose main
# program is the bot. It gets the token as a systemd credential and the search
# backend's URL, both from here. The backend is whichever node with `http` its
# `dependsOn` in nix/fleet.nix names, so the edge is written only there.
{
  config,
  lib,
  fleet,
  nodeName,
  ...
}:
let
  cfg = config.fleet.nannuo-bot;
  backends = import ../../nix/dependency-urls.nix { inherit fleet nodeName; };
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
      assertions = [
        {
          assertion = builtins.length (lib.attrNames backends) == 1;
          message = "${nodeName}: dependsOn (nix/fleet.nix) must name exactly one node with `http`, its search backend; found [ ${toString (lib.attrNames backends)} ].";
        }
      ];
    }
    (lib.mkIf (cfg.package != null) {
      sops.secrets.discord-token.restartUnits = [ "nannuo-bot.service" ];

      systemd.services.nannuo-bot = {
        description = "nannuo Discord bot";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        environment.BGS_BACKEND_URL = lib.head (lib.attrValues backends);
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
