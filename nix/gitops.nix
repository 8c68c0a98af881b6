# GitOps on the host: gitops-deploy@COMMIT.service, a root oneshot that runs
# scripts/gitops-deploy.sh for one commit id. The webhook (nix/webhook.nix)
# only starts this unit; the script locks, fetches, refuses anything that is
# not a forward step on the branch, and deploys with the orchestrator, the
# same `fleet deploy` a workstation runs, here against the machine itself.
{
  config,
  lib,
  pkgs,
  self,
  ...
}:
let
  cfg = config.fleet.gitops;
in
{
  options.fleet.gitops = {
    enable = lib.mkEnableOption "deploys triggered by successful CI runs on the branch";
    repository = lib.mkOption {
      type = lib.types.strMatching "[^/]+/[^/]+";
      example = "owner/fleet";
      description = "The GitHub repository (owner/name) whose CI runs may trigger a deploy.";
    };
    url = lib.mkOption {
      type = lib.types.str;
      default = "https://github.com/${cfg.repository}.git";
      defaultText = lib.literalExpression ''"https://github.com/''${repository}.git"'';
      description = "Where the host fetches the branch from; never taken from a delivery.";
    };
    branch = lib.mkOption {
      type = lib.types.str;
      default = "main";
      description = "The branch that is deployed.";
    };
    workflowPath = lib.mkOption {
      type = lib.types.str;
      default = ".github/workflows/ci.yml";
      description = ''
        The CI workflow whose success triggers a deploy, as a path in the
        repository. A delivery may name it bare, with `@BRANCH`, or with
        `OWNER/REPO/` in front; each of these matches (nix/webhook-hook.nix).
      '';
    };
    allowedSigners = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      description = ''
        An SSH allowed-signers file (see ssh-keygen(1)). When set, only commits
        with a good signature by one of its keys are deployed.
      '';
    };
    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.fleet;
      defaultText = lib.literalExpression "self.packages.\${system}.fleet";
      description = "The orchestrator the deploy runs.";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services."gitops-deploy@" = {
      description = "GitOps deploy of commit %i";
      # The deploy may switch this very host; a switch must not restart (kill)
      # the deploy that is performing it.
      restartIfChanged = false;
      path = [
        config.nix.package
        config.systemd.package
        pkgs.git
        pkgs.openssh
        pkgs.util-linux
        pkgs.coreutils
      ];
      environment = {
        GITOPS_REPO_URL = cfg.url;
        GITOPS_BRANCH = cfg.branch;
        GITOPS_STATE_DIR = "/var/lib/gitops-deploy";
        FLEET_BIN = lib.getExe cfg.package;
      }
      // lib.optionalAttrs (cfg.allowedSigners != null) {
        GITOPS_ALLOWED_SIGNERS = "${cfg.allowedSigners}";
      };
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${pkgs.bash}/bin/bash ${../scripts/gitops-deploy.sh} %i";
        StateDirectory = "gitops-deploy";
        TimeoutStartSec = "2h";
      };
    };
  };
}
