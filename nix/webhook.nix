# The GitOps trigger: webhook behind Caddy at https://DOMAIN/hooks/deploy.
# The hook definition is nix/webhook-hook.nix (tested against the real daemon
# by scripts/checks/webhook.sh). The shared secret comes from sops through an
# EnvironmentFile; the hooks file in the store holds only a template action.
# The hook runs as the unprivileged `webhook` user and can do exactly one
# thing as root: start gitops-deploy@COMMIT-DELIVERY.service (polkit rule
# below), through scripts/gitops-trigger.sh.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.fleet.gitops;
  port = 9000;
  trigger = pkgs.writeShellScript "gitops-trigger" ''
    export PATH=${config.systemd.package}/bin
    exec ${pkgs.bash}/bin/bash ${../scripts/gitops-trigger.sh} "$@"
  '';
in
{
  options.fleet.gitops.domain = lib.mkOption {
    type = lib.types.str;
    example = "deploy.example.org";
    description = "The virtual host GitHub delivers webhooks to.";
  };

  config = lib.mkIf cfg.enable {
    services.webhook = {
      enable = true;
      ip = "127.0.0.1";
      inherit port;
      hooksTemplated.deploy = import ./webhook-hook.nix {
        executeCommand = "${trigger}";
        inherit (cfg) repository branch workflowPath;
      };
    };
    systemd.services.webhook.serviceConfig.EnvironmentFile =
      config.sops.templates."webhook.env".path;

    sops.secrets.gitops-webhook-secret = { };
    sops.templates."webhook.env" = {
      content = "GITOPS_WEBHOOK_SECRET=${config.sops.placeholder.gitops-webhook-secret}\n";
      restartUnits = [ "webhook.service" ];
    };

    services.caddy.virtualHosts.${cfg.domain}.extraConfig = ''
      handle /hooks/deploy {
        reverse_proxy 127.0.0.1:${toString port}
      }
      handle {
        respond 404
      }
    '';

    security.polkit.enable = true;
    security.polkit.extraConfig = ''
      polkit.addRule(function (action, subject) {
        if (action.id == "org.freedesktop.systemd1.manage-units" &&
            subject.user == "webhook" &&
            action.lookup("verb") == "start" &&
            /^gitops-deploy@[0-9a-f]{40}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.service$/.test(action.lookup("unit"))) {
          return polkit.Result.YES;
        }
      });
    '';
  };
}
