# shellcheck shell=sh
# A NixOS host's activation, as `nixos-rebuild --target-host` does it: the
# system's `switch-to-configuration GOAL` inside a transient unit, so it
# finishes even if the SSH connection drops. The commands are the ones
# `activation.txt` lists for the host.
# `GOAL NODE SYSTEM` (GOAL: switch, boot, test or dry-activate), `retire NODE`
# (a host is never stopped), or `running NODE`: the system it runs.
set -u
case $1 in
  switch | boot | test | dry-activate)
    exec systemd-run --collect --no-ask-password --pipe --quiet --service-type=exec \
      --unit="fleet-$1-$2-$(date +%s)-$$" "$3/bin/switch-to-configuration" "$1"
    ;;
  retire) exit 0 ;;
  running) readlink -e /run/current-system ;;
  *)
    echo "host.sh: unknown verb $1" >&2
    exit "$EXIT_USAGE"
    ;;
esac
