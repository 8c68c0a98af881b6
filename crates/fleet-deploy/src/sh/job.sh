# shellcheck shell=sh
# The activation job: moves one node to a new system, on the target, detached
# from any SSH session. It ends with the node on its new system or back on the
# one that was running when it started, and says which in its status file.
#
# $1 state dir, $2 run id, $3 the epoch of the deploy lock its agent took, $4
# node. It holds the node's lock (fd 8, from the agent) until it ends. Its
# spec is $1/jobs/NODE.spec (0600, so that no check's arguments are on a
# command line), one field a line, as protocol/agent.rs writes it:
#   kind=KIND             its kind script is $1/bin/RUN-kind-KIND.sh
#   profile=PATH          the node's profile
#   system=PATH           the new system
#   expect=PATH           what the profile pointed at when the run probed it
#                         (empty: nothing)
#   confirm=SECONDS       how long to wait for the deployer's confirmation
#                         (0: none)
#   check-timeout=SECONDS how long the health checks may take to pass
#   switch-timeout=SECONDS the bound on one switch
#   verb=VERB             the kind script's verb: a goal (switch, boot, test or
#                         dry-activate, see goal.rs), or restart (a switch that
#                         restarts a container whose host-side unit changed)
#   generation=N          a generation of the profile to move to instead of
#                         making a new one (a rollback), or empty
# then each health check: `check=LABEL`, then its argument vector as `arg=ARG`
# lines, run as that vector (never as shell text).
#
# Fencing: under the node's lock, before it sets the profile and before it
# switches, the job checks that the lease record still names its run (held
# without a break since its epoch) with time left on the target's monotonic
# clock, and before it sets the profile that the profile still points at what
# the run probed; a job that fails a check changes nothing more. A rollback
# undoes only this job's own change (the node's lock keeps every other job
# out), so it goes ahead unless another run holds the lock now: that run's
# deploy then finds the pending mark and decides.
#
# Per goal: switch sets the profile, switches, checks, confirms. boot sets the
# profile and runs the kind's boot, nothing else. test switches without setting
# the profile, checks and confirms; its rollback switches the old system back
# (test). Both leave the pending mark: the profile and the running system
# differ, so the next deploy activates even an unchanged path, and a rollback
# returns to the last system a switch activated. dry-activate only runs the
# kind's dry-activate and changes nothing.
#
# What it goes back to is what was running when it started: the kind's
# `running` verb says (a host's /run/current-system); where the kind cannot
# tell, what the profile pointed at, or with a pending mark the last system a
# switch activated in full.
#
# A kind script that exits EXIT_REFUSED refused the goal before changing
# anything.
umask 077
# First, so that the agent knows the job runs (and later, whether it died).
echo $$ >"$1/jobs/$4.pid"
set -u
state=$1 run=$2 epoch=$3 name=$4
jobs=$state/jobs status=$state/jobs/$name.status record=$state/deploy.lease
marker=$state/activated/$name pending=$state/pending/$name
# The status, then a line to the agent's watcher (agent.sh), which sleeps
# until one comes.
say() {
  printf '%s\n' "$*" >"$status.tmp" && mv -f "$status.tmp" "$status"
  if [ -p "$state/wake" ]; then to_fifo "$state/wake" p; fi
}
# Seconds since boot, set by uptime_now (prelude.sh).
up=0
uptime_now
# The wall clock once, at the job's first line; later lines count seconds
# from it (each `date` would be a process, several an activation).
started=$(date '+%F %T') start=$up
log() {
  uptime_now
  printf '%s +%ss %s: %s\n' "$started" "$((up - start))" "$name" "$*"
}
read -r boot </proc/sys/kernel/random/boot_id

kind='' profile='' new='' expect='' confirm='' check_timeout='' switch_timeout='' verb='' generation=''
while IFS= read -r line; do
  case $line in
    kind=*) kind=${line#kind=} ;;
    profile=*) profile=${line#profile=} ;;
    system=*) new=${line#system=} ;;
    expect=*) expect=${line#expect=} ;;
    confirm=*) confirm=${line#confirm=} ;;
    check-timeout=*) check_timeout=${line#check-timeout=} ;;
    switch-timeout=*) switch_timeout=${line#switch-timeout=} ;;
    verb=*) verb=${line#verb=} ;;
    generation=*) generation=${line#generation=} ;;
    check=* | arg=*) ;;
    *)
      say "$STATUS_REFUSED: its spec has a line in no known form; nothing was changed"
      exit "$EXIT_USAGE"
      ;;
  esac
done <"$jobs/$name.spec"
case $kind in '' | *[!a-z0-9-]*) kind=- ;; esac
if ! is_number "$confirm" || ! is_number "$check_timeout" || ! is_number "$switch_timeout" ||
  { [ -n "$generation" ] && ! is_number "$generation"; } || [ "$kind" = - ] || [ -z "$profile" ]; then
  say "$STATUS_REFUSED: its spec lacks a field or has one out of form; nothing was changed"
  exit "$EXIT_USAGE"
fi
kind=$state/bin/$run-kind-$kind.sh
# A restart is a switch whose kind verb restarts the node.
goal=$verb
[ "$verb" = restart ] && goal=switch
# Where this job's lines begin in the node's log, which keeps earlier jobs'.
log "job: $verb $new (run $run)"

# Whether the lease record names this run, held without a break since this
# job's epoch, with time left; `fenced_by` says why not.
holds_lock() {
  r_run='' r_expires='' r_boot='' r_since=''
  [ -e "$record" ] && read -r _ r_run _ r_expires r_boot r_since _ <"$record"
  uptime_now
  if [ "$r_run" != "$run" ] || ! is_number "$r_since" || [ "$r_since" -gt "$epoch" ]; then
    fenced_by="run $run no longer holds the deploy lock (${r_run:+held by run $r_run}${r_run:-free})"
    return 1
  fi
  if [ "$r_boot" != "$boot" ] || ! is_number "$r_expires" || [ "$up" -gt "$r_expires" ]; then
    fenced_by="the deploy lease of run $run ran out"
    return 1
  fi
}

# Whether another run (or this run after a break) holds the lock now.
another_holds() {
  ! holds_lock && [ -n "$r_run" ] && [ "$r_boot" = "$boot" ] && is_number "$r_expires" && [ "$up" -le "$r_expires" ]
}

# What the profile points at now.
profile_now() { readlink -e -- "$profile" || true; }

if ! holds_lock; then
  say "$STATUS_REFUSED: $fenced_by; nothing was changed"
  exit "$EXIT_FENCED"
fi
if [ ! -e "$new/nixos-version" ] || [ ! -x "$new/bin/switch-to-configuration" ]; then
  say "$STATUS_REFUSED: $new is not a NixOS system (it lacks nixos-version or bin/switch-to-configuration); nothing was changed"
  exit "$EXIT_REFUSED"
fi
before=$(profile_now)
if [ "$before" != "$expect" ]; then
  say "$STATUS_REFUSED: $profile points at ${before:-nothing}, not at ${expect:-nothing} as when run $run read it (another deploy or an out-of-band switch changed it); nothing was changed"
  exit "$EXIT_FENCED"
fi
say "$STATUS_STARTED"

# Runs the kind's script for this job's verb with system $1, killed at the
# timeout. The node's lock is not the kind's to keep. The timeout kills only
# the kind's client (`systemd-run`, `systemctl reload`): what it started
# belongs to the init system and would go on, so the kind stops it, and
# nothing else (a rollback) runs before it has stopped; if it cannot be
# stopped, the job ends without a rollback.
switch_to() {
  timeout -k 10 "$switch_timeout" sh "$kind" "$verb" "$name" "$1" "$switch_timeout" 8>&-
  code=$?
  if [ "$code" = 124 ] || [ "$code" = 137 ]; then
    if sh "$kind" stop "$name" 8>&-; then
      log "$goal of $1 did not finish within ${switch_timeout}s; it was stopped"
    else
      log "$goal of $1 did not finish within ${switch_timeout}s, and it could not be stopped"
      say "$STATUS_FAILED: $goal of $1 did not finish within ${switch_timeout}s and could not be stopped; nothing was rolled back, see $jobs/$name.log"
      exit "$EXIT_FAILED"
    fi
  fi
  return "$code"
}

if [ "$goal" = dry-activate ]; then
  log "dry-activate $new (run $run)"
  switch_to "$new"
  code=$?
  if [ "$code" = 0 ]; then
    say "$STATUS_OK"
  elif [ "$code" = "$EXIT_REFUSED" ]; then
    say "$STATUS_REFUSED: $name cannot dry-activate $new (see $jobs/$name.log); nothing was changed"
  else
    say "$STATUS_FAILED: dry-activate of $new failed (see $jobs/$name.log); nothing was changed"
  fi
  exit "$code"
fi

# What to go back to on failure: what runs, where the kind can tell;
# otherwise what the profile pointed at, unless an unfinished activation left
# a pending mark (then the profile may point at the system that never
# finished, and the last system activated in full is the one to return to).
running=$(sh "$kind" running "$name" 8>&- 2>/dev/null) || running=
case $running in /nix/store/*/* | *[!A-Za-z0-9+._?=/-]*) running= ;; /nix/store/?*) ;; *) running= ;; esac
[ "$running" = "$new" ] && running=
old=$before restore=$before
if [ -e "$pending" ]; then
  good=$(cat "$marker" 2>/dev/null || true)
  case $good in /nix/store/*) old=$good restore=$good ;; esac
fi
if [ -n "$running" ]; then
  # An unfinished activation of ours moved the profile: back to what runs.
  # Otherwise the profile stays where it was (an out-of-band `boot` chose it).
  old=$running
  [ -e "$pending" ] && restore=$running
fi
[ "$old" = "$new" ] && old=
# The generation the profile was on, for a rollback job to move back to.
before_generation=$(readlink -- "$profile" || true)
case $before_generation in
  *-link) before_generation=${before_generation%-link} before_generation=${before_generation##*-} ;;
esac
is_number "$before_generation" || before_generation=

# Points the profile at $1: back at the generation it was on, when this job
# moved it to another generation and $1 is what it was, else at a new
# generation of $1.
set_profile() {
  if [ -n "$generation" ] && [ -n "$before_generation" ] && [ "$1" = "$before" ]; then
    nix-env -p "$profile" --switch-generation "$before_generation"
  else
    nix-env -p "$profile" --set "$1"
  fi
}

# Back to the old system (or, with none, no system at all), then exit; not
# while another run holds the lock.
roll_back() {
  why=$1
  if another_holds; then
    say "$STATUS_FAILED: $why; run $r_run holds the deploy lock now, so $name is left on $new, marked as not activated in full: that run's deploy activates it again or rolls it back"
    exit "$EXIT_FENCED"
  fi
  if [ -n "$old" ]; then
    log "rolling back to $old: $why"
    # test never set the profile, so only the running system goes back.
    if { [ "$goal" = test ] || [ -z "$restore" ] || set_profile "$restore"; } && switch_to "$old"; then
      printf '%s\n' "$old" >"$marker"
      rm -f "$pending"
      say "$STATUS_ROLLED_BACK: $why"
    else
      say "$STATUS_FAILED: $why; rolling back to $old failed too, see $jobs/$name.log"
    fi
  elif [ "$before" = "$new" ]; then
    # A restart of the system it ran before: there is nothing to go back
    # to, and stopping it would leave less than this job found.
    rm -f "$pending"
    say "$STATUS_FAILED: $why; it keeps $new, which it ran before this job"
  else
    log "no earlier system to roll back to: $why"
    [ "$goal" = test ] || rm -f "$profile"
    rm -f "$pending" "$marker"
    if [ "$goal" = boot ]; then
      # Nothing was activated: only the profile goes.
      say "$STATUS_ROLLED_BACK: $why (there was no earlier system: the profile was removed)"
    else
      sh "$kind" retire "$name" 8>&- || true
      say "$STATUS_ROLLED_BACK: $why (there was no earlier system: the node was stopped)"
    fi
  fi
  exit "$EXIT_FAILED"
}

# Runs check $1 with the argument vector that follows, killed with its process
# group when `deadline` passes. Its output goes to a file of at most 1 MiB,
# not a pipe, so that what it leaves running cannot hold the job; it never
# gets the node's lock. Sets `failed` when it fails.
out=$jobs/$name.check
run_check() {
  label=$1
  shift
  uptime_now
  left=$((deadline - up))
  [ "$left" -lt 1 ] && left=1
  (
    ulimit -f 2048 2>/dev/null
    trap '' XFSZ
    exec timeout -k 2 "$left" "$@"
  ) </dev/null >"$out" 2>&1 8>&- &
  group=$!
  wait "$group"
  code=$?
  # GNU timeout runs the check in a process group of its own: what the check
  # left behind goes with it.
  kill -KILL "-$group" 2>/dev/null
  [ "$code" = 0 ] && return 0
  first=$(head -c 300 "$out" | head -n 1)
  failed="$label failed${first:+: $first}"
  failed_code=$code
  return 1
}

# Runs every check of the spec once; `failed` says the first that failed.
run_checks() {
  failed='' label=''
  set --
  while IFS= read -r line; do
    case $line in
      check=*)
        if [ -n "$label" ]; then run_check "$label" "$@" || return 1; fi
        label=${line#check=}
        set --
        ;;
      arg=*) set -- "$@" "${line#arg=}" ;;
    esac
  done <"$jobs/$name.spec"
  [ -z "$label" ] || run_check "$label" "$@"
}

checks_pass() {
  uptime_now
  deadline=$((up + check_timeout))
  while :; do
    run_checks && return 0
    uptime_now
    if [ "$up" -ge "$deadline" ]; then
      why="health check failed for ${check_timeout}s: $failed"
      if [ -s "$out" ]; then
        log "the last try of that check exited $failed_code; its output (at most 4 KiB):"
        head -c 4096 "$out"
        echo
      fi
      return 1
    fi
    sleep 1
  done
}

[ -d "$state/pending" ] || mkdir -p "$state/activated" "$state/pending"
log "activating $new (run $run)"
printf '%s\n' "$new" >"$pending"
if ! holds_lock; then
  rm -f "$pending"
  say "$STATUS_REFUSED: $fenced_by; nothing was changed"
  exit "$EXIT_FENCED"
fi
if [ -n "$generation" ]; then
  if ! nix-env -p "$profile" --switch-generation "$generation"; then
    rm -f "$pending"
    say "$STATUS_FAILED: could not move profile $profile to generation $generation; nothing was changed"
    exit "$EXIT_FAILED"
  fi
elif [ "$goal" != test ] && [ "$before" != "$new" ]; then
  if ! { [ -d "${profile%/*}" ] || mkdir -p "${profile%/*}"; } || ! nix-env -p "$profile" --set "$new"; then
    rm -f "$pending"
    say "$STATUS_FAILED: could not set profile $profile to $new; nothing was changed"
    exit "$EXIT_FAILED"
  fi
fi
if ! holds_lock; then
  # Set, not switched: the profile goes back to what it was.
  if [ "$goal" = test ] || [ "$before" = "$new" ] || { [ -n "$before" ] && set_profile "$before"; } ||
    { [ -z "$before" ] && rm -f "$profile"; }; then
    rm -f "$pending"
    say "$STATUS_REFUSED: $fenced_by; nothing was changed"
  else
    say "$STATUS_FAILED: $fenced_by after its profile was set; $profile points at $new, not activated"
  fi
  exit "$EXIT_FENCED"
fi
switch_to "$new"
code=$?
if [ "$code" = "$EXIT_REFUSED" ] && [ "$goal" = test ]; then
  rm -f "$pending"
  say "$STATUS_REFUSED: $name cannot $goal $new (see $jobs/$name.log); nothing was changed"
  exit "$EXIT_REFUSED"
fi
if [ "$code" != 0 ]; then
  if [ "$goal" = switch ]; then roll_back "switching to $new failed"; else roll_back "$goal of $new failed"; fi
fi
if [ "$goal" != boot ]; then
  checks_pass || roll_back "$why"
fi
if [ "$confirm" -gt 0 ]; then
  # The confirmation comes as a line on a fifo (confirm.sh writes the run's
  # id), and a clock's line once a second, so the job sleeps until one comes
  # instead of looking 20 times a second. The clock holds neither the fifo's
  # reading end nor the node's lock, and ends with the job (were the job
  # killed, at its next write, with no reader left).
  wait_for=$jobs/$name.confirm
  rm -f "$wait_for"
  if ! mkfifo -m 600 "$wait_for"; then
    roll_back "could not make $wait_for to wait for the deployer's confirmation"
  fi
  if ! command exec 6<>"$wait_for" 2>/dev/null; then
    roll_back "could not open $wait_for to wait for the deployer's confirmation"
  fi
  clock 1 6>&- 8>&- <&- >"$wait_for" 2>/dev/null &
  clock=$!
  trap 'kill "$clock" 2>/dev/null' EXIT
  say "$STATUS_SWITCHED"
  uptime_now
  deadline=$((up + confirm))
  while :; do
    # A read that fails (it should not) still waits, and still times out.
    said=
    IFS= read -r said <&6 || sleep 1
    [ "$said" = "$run" ] && break
    uptime_now
    [ "$up" -ge "$deadline" ] && roll_back "no confirmation from the deployer within ${confirm}s"
  done
  exec 6<&-
fi
if [ "$goal" = switch ]; then
  printf '%s\n' "$new" >"$marker"
  rm -f "$pending"
fi
if [ "$goal" = switch ]; then log "activated $new"; else log "$goal of $new done"; fi
say "$STATUS_OK"
