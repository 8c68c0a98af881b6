# GitOps on the host: gitops-deploy@COMMIT-DELIVERY.service, a root oneshot
# that runs scripts/gitops-deploy.sh for one commit id and the id of the
# delivery that asked for it. The webhook (nix/webhook.nix) only starts this
# unit; the script queues the request, waits for a running deploy, fetches,
# refuses anything that is not a forward step on the branch, and deploys the
# newest request with the orchestrator, the same `fleet deploy` a workstation
# runs, here against the machine itself. Optionally it reports each deploy
# as forge commit statuses, a Prometheus textfile and a failure hook.
{
  config,
  lib,
  pkgs,
  self,
  ...
}:
let
  cfg = config.fleet.gitops;
  # A deploy may take this long; a queued request waits at most this long
  # for the running one, so the unit's own timeout is twice as long.
  deploySeconds = 7200;
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
    status = {
      enable = lib.mkEnableOption ''
        commit statuses on the forge for every deploy (GitHub's statuses API:
        `pending` at the start, `success` or `failure` at the end, overall as
        context `fleet/deploy` and per node as `fleet/deploy/NODE`). The token
        is the sops secret `gitops-status-token`, with permission to write
        commit statuses'';
      apiUrl = lib.mkOption {
        type = lib.types.str;
        default = "https://api.github.com";
        description = "The forge's API root; statuses go to APIURL/repos/REPOSITORY/statuses/SHA.";
      };
      targetUrl = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "https://grafana.example.org/d/gitops";
        description = "The link each status carries (its `target_url`), if any.";
      };
    };
    textfile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/var/lib/prometheus-node-exporter/gitops-deploy.prom";
      description = ''
        A Prometheus textfile rewritten after every deploy (last deployed
        commit and its time, each node's outcome, the duration), for
        node-exporter's textfile collector; null writes none.
      '';
    };
    onFailure = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      description = ''
        An executable run as root when a deploy fails or a request is
        refused, as `HOOK COMMIT EXIT-CODE MESSAGE` (exit codes as in
        scripts/gitops-deploy.sh).
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
      description = "GitOps deploy of %i (COMMIT-DELIVERY)";
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
        pkgs.gnugrep
        pkgs.curl
        pkgs.jq
      ];
      environment = {
        GITOPS_REPO_URL = cfg.url;
        GITOPS_BRANCH = cfg.branch;
        GITOPS_STATE_DIR = "/var/lib/gitops-deploy";
        GITOPS_LOCK_TIMEOUT = toString deploySeconds;
        # Nix's fetcher cache (the flake's git checkouts) and fleet's
        # evaluation cache, under the persisted state, not in root's home.
        XDG_CACHE_HOME = "/var/lib/gitops-deploy/cache";
        FLEET_BIN = lib.getExe cfg.package;
      }
      // lib.optionalAttrs (cfg.allowedSigners != null) {
        GITOPS_ALLOWED_SIGNERS = "${cfg.allowedSigners}";
      }
      // lib.optionalAttrs cfg.status.enable {
        GITOPS_STATUS_REPOSITORY = cfg.repository;
        GITOPS_STATUS_API = cfg.status.apiUrl;
        GITOPS_STATUS_TOKEN_FILE = config.sops.secrets.gitops-status-token.path;
        GITOPS_STATUS_TARGET_URL = lib.optionalString (cfg.status.targetUrl != null) cfg.status.targetUrl;
      }
      // lib.optionalAttrs (cfg.textfile != null) { GITOPS_TEXTFILE = cfg.textfile; }
      // lib.optionalAttrs (cfg.onFailure != null) { GITOPS_ON_FAILURE = "${cfg.onFailure}"; };
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${pkgs.bash}/bin/bash ${../scripts/gitops-deploy.sh} %i";
        StateDirectory = "gitops-deploy";
        # The mirror of a private repository and the delivery ids.
        StateDirectoryMode = "0700";
        TimeoutStartSec = toString (2 * deploySeconds);
      };
    };
    sops.secrets = lib.mkIf cfg.status.enable { gitops-status-token = { }; };
  };
}
