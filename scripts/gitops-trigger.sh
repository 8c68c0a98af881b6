#!/usr/bin/env bash
# gitops-trigger COMMIT DELIVERY: the webhook's hook command. Runs as the
# unprivileged `webhook` user and does one thing: start the root unit
# gitops-deploy@COMMIT-DELIVERY.service, without waiting for it (webhook must
# answer GitHub within 10 s), which polkit allows for exactly that name shape
# (nix/webhook.nix). webhook matched both values already; they are checked
# again so that this script is safe on its own. `systemctl` is the one on
# PATH: nix/webhook.nix sets it to systemd's.
set -euo pipefail
uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
[ $# -eq 2 ] && [[ $1 =~ ^[0-9a-f]{40}$ ]] && [[ $2 =~ ^$uuid$ ]] || exit 2
exec systemctl start --no-block "gitops-deploy@$1-$2.service"
