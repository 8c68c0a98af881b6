# SSH: keys only. The host key lives in /persistent directly, not behind an
# impermanence mount: sops-nix (here and in every container) derives its age
# key from the same file, and it must be readable before any bind mount exists.
{ config, lib, ... }:
let
  paths = import ./paths.nix;
in
{
  options.fleet.adminKeys = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    description = ''
      SSH public keys allowed to log in as root: administrators and the
      orchestrator (`cargo xtask deploy` connects as root).
    '';
  };

  config = {
    assertions = [
      {
        assertion = config.fleet.adminKeys != [ ];
        message = "fleet.adminKeys is empty: with password logins off, nobody could log in.";
      }
    ];

    services.openssh = {
      enable = true;
      openFirewall = true;
      hostKeys = [
        {
          path = paths.hostKey;
          type = "ed25519";
        }
      ];
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "prohibit-password";
      };
    };

    users.users.root.openssh.authorizedKeys.keys = config.fleet.adminKeys;
  };
}
