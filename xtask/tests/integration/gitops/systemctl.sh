#!/usr/bin/env bash
# Stand-in for `systemctl start --no-block gitops-deploy@INSTANCE.service`,
# the one call scripts/gitops-trigger.sh makes, for xtask/tests/gitops.rs
# (no systemd PID 1 here). It does what systemd does with that unit
# (nix/gitops.nix): queues the start and returns at once (--no-block), then
# runs the unit's ExecStart, `bash scripts/gitops-deploy.sh INSTANCE`, as root
# on the VPS (the testbed, over ssh) with the unit's Environment= lines
# ($E2E_UNIT_ENV). Like systemd, a start of an instance that is still running
# is merged into it. Each start is appended to $E2E_UNITS/started, each end
# ("INSTANCE EXIT-CODE") to $E2E_UNITS/ended, the output to INSTANCE.log.
set -euo pipefail
if [ $# -ne 3 ] || [ "$1 $2" != "start --no-block" ] || ! [[ $3 =~ ^gitops-deploy@([0-9a-f-]+)\.service$ ]]; then
  echo "systemctl (gitops test stand-in): unsupported: $*" >&2
  exit 1
fi
instance=${BASH_REMATCH[1]}
echo "$instance" >>"$E2E_UNITS/started"
if [ -e "$E2E_UNITS/$instance.running" ]; then exit 0; fi
touch "$E2E_UNITS/$instance.running"
environment=()
while IFS= read -r assignment; do environment+=("$(printf '%q' "$assignment")"); done <"$E2E_UNIT_ENV"
remote="cd / && exec env ${environment[*]} bash $(printf '%q' "$E2E_SCRIPT") $instance"
(
  code=0
  ssh -p "$E2E_SSH_PORT" -i "$E2E_SSH_KEY" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$E2E_SSH_TARGET" "$remote" \
    </dev/null >>"$E2E_UNITS/$instance.log" 2>&1 || code=$?
  rm -f "$E2E_UNITS/$instance.running"
  echo "$instance $code" >>"$E2E_UNITS/ended"
) </dev/null >/dev/null 2>&1 &
