# shellcheck shell=sh
# A NixOS host's activation, as `nixos-rebuild --target-host` does it: the
# system's `switch-to-configuration GOAL` inside a transient unit, so it
# finishes even if the SSH connection drops. The commands are the ones
# `activation.txt` lists for the host.
# `GOAL NODE SYSTEM SECONDS` (GOAL: switch, boot, test or dry-activate;
# SECONDS: the job's switch timeout), `stop NODE` (stop a switch the job's
# timeout gave up on, and return once it has stopped), `retire NODE` (a host
# is never stopped), or `running NODE`: the system it runs.
set -u
# The switch's unit is named for the node and the job (`.` cannot be in a
# node name), so that the job can stop it by that pattern: its timeout kills
# only this client, and the unit, PID 1's, would go on (and overlap the
# rollback). A fixed name would not do: systemd keeps a finished unit loaded
# for a moment, and a second unit of that name is refused meanwhile.
units="fleet-activate-$2.*.service"
case $1 in
  switch | boot | test | dry-activate)
    # RuntimeMaxSec: systemd stops the switch by itself, a little after the
    # job's own timeout, should the job be gone.
    exec systemd-run --collect --no-ask-password --pipe --quiet --service-type=exec \
      --unit="fleet-activate-$2.$(date +%s)-$$.service" --property=RuntimeMaxSec="$(($4 + 10))" "$3/bin/switch-to-configuration" "$1"
    ;;
  stop)
    # `systemctl stop` waits until every process of the units is gone; a
    # unit that already ended is no longer loaded, which is as good.
    systemctl stop "$units"
    [ -z "$(systemctl list-units --plain --no-legend --state=active,activating,deactivating "$units")" ]
    ;;
  retire) exit 0 ;;
  running) readlink -e /run/current-system ;;
  *)
    echo "host.sh: unknown verb $1" >&2
    exit "$EXIT_USAGE"
    ;;
esac
