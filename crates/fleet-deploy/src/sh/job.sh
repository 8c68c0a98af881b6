# shellcheck shell=sh
# The activation job: moves one node to a new system, on the target, detached
# from any SSH session. It ends with the node on its new system or back on the
# one that was running when it started, and says which in its status file.
#
# $1 state dir, $2 run id, $3 node, $4 kind script, $5 profile, $6 new system,
# $7 confirmation timeout in seconds (0: none), $8 health-check timeout in
# seconds, $9 switch timeout in seconds, $10 the kind script's verb: a goal
# (switch, boot, test or dry-activate, see goal.rs), or restart (a switch that
# restarts a container whose host-side unit changed), $11 a generation number of the profile to move
# to instead of setting it to a new generation (a rollback), or empty; then the
# health checks, each as LABEL COUNT ARG..., run as that argument vector (never
# as shell text).
#
# Per goal: switch sets the profile, switches, checks, confirms. boot sets the
# profile and runs the kind's boot, nothing else. test switches without setting
# the profile, checks and confirms; its rollback switches the old system back
# (test). Both leave the pending mark: the profile and the running system
# differ, so the next deploy activates even an unchanged path, and a rollback
# returns to the last system a switch activated. dry-activate only runs the
# kind's dry-activate and changes nothing.
#
# A kind script that exits 3 refused the goal before changing anything.
umask 077
# First, so that the agent knows the job runs (and later, whether it died).
echo $$ >"$1/jobs/$3.pid"
set -u
state=$1 run=$2 name=$3 kind=$4 profile=$5 new=$6 confirm=$7 check_timeout=$8 switch_timeout=$9
verb=${10} generation=${11}
shift 11
# A restart is a switch whose kind verb restarts the node.
goal=$verb
[ "$verb" = restart ] && goal=switch
jobs=$state/jobs status=$state/jobs/$name.status
marker=$state/activated/$name pending=$state/pending/$name
say() { printf '%s\n' "$*" >"$status.tmp" && mv -f "$status.tmp" "$status"; }
log() { printf '%s %s: %s\n' "$(date '+%F %T')" "$name" "$*"; }
# Where this job's lines begin in the node's log, which keeps earlier jobs'.
log "job: $verb $new (run $run)"

# Fencing: only a job of the run that holds the deploy lock may start.
holder=
[ -e "$state/deploy.lease" ] && read -r holder _ <"$state/deploy.lease"
if [ "$holder" != "$run" ]; then
  say "refused: run $run no longer holds the deploy lock (${holder:+held by run $holder}${holder:-free}); nothing was changed"
  exit "$EXIT_FENCED"
fi
if [ ! -e "$new/nixos-version" ] || [ ! -x "$new/bin/switch-to-configuration" ]; then
  say "refused: $new is not a NixOS system (it lacks nixos-version or bin/switch-to-configuration); nothing was changed"
  exit "$EXIT_REFUSED"
fi
say started

# Runs the kind's script for this job's verb with system $1, killed at the
# timeout. The timeout kills only the kind's client (`systemd-run`,
# `systemctl reload`): what it started belongs to the init system and would
# go on, so the kind stops it, and nothing else (a rollback) runs before it
# has stopped; if it cannot be stopped, the job ends without a rollback.
switch_to() {
  timeout -k 10 "$switch_timeout" sh "$kind" "$verb" "$name" "$1" "$switch_timeout"
  code=$?
  if [ "$code" = 124 ] || [ "$code" = 137 ]; then
    if sh "$kind" stop "$name"; then
      log "$goal of $1 did not finish within ${switch_timeout}s; it was stopped"
    else
      log "$goal of $1 did not finish within ${switch_timeout}s, and it could not be stopped"
      say "failed: $goal of $1 did not finish within ${switch_timeout}s and could not be stopped; nothing was rolled back, see $jobs/$name.log"
      exit "$EXIT_FAILED"
    fi
  fi
  return "$code"
}

if [ "$goal" = dry-activate ]; then
  log "dry-activate $new (run $run)"
  switch_to "$new"
  code=$?
  case $code in
    0) say ok ;;
    3) say "refused: $name cannot dry-activate $new (see $jobs/$name.log); nothing was changed" ;;
    *) say "failed: dry-activate of $new failed (see $jobs/$name.log); nothing was changed" ;;
  esac
  exit "$code"
fi

# What to go back to on failure: what was running when this job started,
# unless an unfinished activation left a pending mark (then the profile may
# already point at the system that never finished, and the last system that
# was activated in full is the one to return to).
before=$(readlink -e -- "$profile" || true)
old=$before
if [ -e "$pending" ]; then
  good=$(cat "$marker" 2>/dev/null || true)
  case $good in /nix/store/*) old=$good ;; esac
fi
[ "$old" = "$new" ] && old=
# The generation the profile was on, for a rollback job to move back to.
before_generation=$(readlink -- "$profile" || true)
case $before_generation in
  *-link) before_generation=${before_generation%-link} before_generation=${before_generation##*-} ;;
  *) before_generation= ;;
esac

# Points the profile at $1: back at the generation it was on, when this job
# moved it to another generation, else at a new generation of $1.
set_profile() {
  if [ -n "$generation" ] && [ -n "$before_generation" ] && [ "$1" = "$before" ]; then
    nix-env -p "$profile" --switch-generation "$before_generation"
  else
    nix-env -p "$profile" --set "$1"
  fi
}

# Back to the old system (or, with none, no system at all), then exit.
roll_back() {
  why=$1
  if [ -n "$old" ]; then
    log "rolling back to $old: $why"
    # test never set the profile, so only the running system goes back.
    if { [ "$goal" = test ] || set_profile "$old"; } && switch_to "$old"; then
      printf '%s\n' "$old" >"$marker"
      rm -f "$pending"
      say "rolled back: $why"
    else
      say "failed: $why; rolling back to $old failed too, see $jobs/$name.log"
    fi
  elif [ "$before" = "$new" ]; then
    # A restart of the system it ran before: there is nothing to go back
    # to, and stopping it would leave less than this job found.
    rm -f "$pending"
    say "failed: $why; it keeps $new, which it ran before this job"
  else
    log "no earlier system to roll back to: $why"
    [ "$goal" = test ] || rm -f "$profile"
    rm -f "$pending" "$marker"
    if [ "$goal" = boot ]; then
      # Nothing was activated: only the profile goes.
      say "rolled back: $why (there was no earlier system: the profile was removed)"
    else
      sh "$kind" retire "$name" || true
      say "rolled back: $why (there was no earlier system: the node was stopped)"
    fi
  fi
  exit "$EXIT_FAILED"
}

# Runs every check (LABEL COUNT ARG...) once; sets `failed` on the first that
# fails. Each check is killed, with its process group, when time runs out.
run_checks() {
  failed=
  while [ $# -gt 0 ]; do
    label=$1 count=$2
    shift 2
    left=$((deadline - $(date +%s)))
    [ "$left" -lt 1 ] && left=1
    # The check's own arguments, as its argument vector: the first COUNT of
    # what follows.
    if ! out=$(
      total=$#
      i=0
      for arg; do
        [ "$i" -lt "$count" ] && set -- "$@" "$arg"
        i=$((i + 1))
      done
      shift "$total"
      timeout -k 2 "$left" "$@" 2>&1
    ); then
      failed="$label failed${out:+: $out}"
      return 1
    fi
    shift "$count"
  done
}

checks_pass() {
  deadline=$(($(date +%s) + check_timeout))
  while :; do
    run_checks "$@" && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      why="health check failed for ${check_timeout}s: $failed"
      return 1
    fi
    sleep 1
  done
}

mkdir -p "$state/activated" "$state/pending"
log "activating $new (run $run)"
printf '%s\n' "$new" >"$pending"
if [ -n "$generation" ]; then
  if ! nix-env -p "$profile" --switch-generation "$generation"; then
    rm -f "$pending"
    say "failed: could not move profile $profile to generation $generation; nothing was changed"
    exit "$EXIT_FAILED"
  fi
elif [ "$goal" != test ] && [ "$before" != "$new" ]; then
  if ! mkdir -p "${profile%/*}" || ! nix-env -p "$profile" --set "$new"; then
    rm -f "$pending"
    say "failed: could not set profile $profile to $new; nothing was changed"
    exit "$EXIT_FAILED"
  fi
fi
switch_to "$new"
code=$?
if [ "$code" = "$EXIT_REFUSED" ] && [ "$goal" = test ]; then
  rm -f "$pending"
  say "refused: $name cannot $goal $new (see $jobs/$name.log); nothing was changed"
  exit "$EXIT_REFUSED"
fi
if [ "$code" != 0 ]; then
  if [ "$goal" = switch ]; then roll_back "switching to $new failed"; else roll_back "$goal of $new failed"; fi
fi
if [ "$goal" != boot ]; then
  checks_pass "$@" || roll_back "$why"
fi
if [ "$confirm" -gt 0 ]; then
  say switched
  deadline=$(($(date +%s) + confirm))
  # Looks for the confirmation 20 times a second, at the clock once a second.
  i=0
  while [ ! -e "$jobs/$name.confirm" ]; do
    i=$((i + 1))
    if [ $((i % 20)) = 0 ] && [ "$(date +%s)" -ge "$deadline" ]; then
      roll_back "no confirmation from the deployer within ${confirm}s"
    fi
    sleep 0.05
  done
fi
if [ "$goal" = switch ]; then
  printf '%s\n' "$new" >"$marker"
  rm -f "$pending"
fi
if [ "$goal" = switch ]; then log "activated $new"; else log "$goal of $new done"; fi
say ok
