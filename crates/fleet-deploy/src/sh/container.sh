# shellcheck shell=sh
# A native NixOS container's activation; the commands are the ones
# `activation.txt` lists for a container. The job has set the per-container
# profile already for switch and boot, never for test or dry-activate.
#   switch        reload `container@NODE` (which runs the profile's
#                 `switch-to-configuration test` inside) when it runs, else start it
#   restart       restart `container@NODE`: its host-side unit changed, and only
#                 a new start runs the new unit
#   boot          nothing: the profile is what the next start boots
#   test          run SYSTEM's `switch-to-configuration test` inside the running
#                 container; refused (EXIT_REFUSED) when it is not running, since a
#                 start boots the profile's system, not SYSTEM
#   dry-activate  run SYSTEM's `switch-to-configuration dry-activate` inside the
#                 running container; when it is stopped, say what a start would boot
#   stop          after the job's timeout: stop `container@NODE`, which ends
#                 its reload or start job and every process of it (cancelling
#                 the job would leave the reload's `switch-to-configuration`
#                 running); the rollback then starts it on the old system
#   running       nothing: what a container runs is its root's to say (the
#                 job goes by its profile)
# `GOAL NODE SYSTEM [SECONDS]`, `restart NODE SYSTEM`, `stop NODE`,
# `retire NODE` (stop it), or `running NODE`.
set -u
unit=container@$2
case $1 in
  switch)
    if systemctl is-active --quiet "$unit"; then
      exec systemctl reload "$unit"
    else
      exec systemctl start "$unit"
    fi
    ;;
  restart) exec systemctl restart "$unit" ;;
  boot) exit 0 ;;
  test | dry-activate)
    if systemctl is-active --quiet "$unit"; then
      exec nixos-container run "$2" -- "$3/bin/switch-to-configuration" "$1"
    elif [ "$1" = test ]; then
      echo "$unit is not running: test activates a running container only (a start boots its profile's system); use --goal switch or boot" >&2
      exit "$EXIT_REFUSED"
    else
      echo "$unit is not running: a start would boot $3"
    fi
    ;;
  stop)
    systemctl stop "$unit"
    ! systemctl is-active --quiet "$unit"
    ;;
  retire) exec systemctl stop "$unit" ;;
  running) ;;
  *)
    echo "container.sh: unknown verb $1" >&2
    exit "$EXIT_USAGE"
    ;;
esac
