# shellcheck shell=sh
# The deployer's agent on the target: one per host per run, on one SSH session.
#
# It takes the deploy lock (a flock, with a lease record naming the run and an
# epoch that grows with every taking) and holds it for its session; renews the
# lease at each `renew` the deployer sends, and exits, releasing the lock, when
# the lease runs out (a dead deployer, or a network partition that the SSH
# server does not notice); launches each activation as a detached job that
# starts, and changes anything, only while this run and epoch hold the lock;
# and streams the jobs' status back.
#
# The lease runs on the target's monotonic clock (/proc/uptime, with the boot
# id): moving the wall clock neither ends a live lease nor keeps a dead one.
#
# $1 state dir, $2 run id, $3 who is deploying, $4 lease in seconds,
# $5 job script text, $6 how long a launch waits for an earlier activation of
# its node (seconds), then pairs KIND-NAME KIND-SCRIPT-TEXT.
#
# Reads requests on stdin, one per line (protocol/agent.rs writes them):
#   renew                 the deployer is alive: the lease runs another $4 s
#   launch NODE COUNT     then COUNT lines: the job's spec (see job.sh)
#   watch NODE            report NODE's job of this run (after a reconnect)
#   release               give up the lock and exit
# Prints, one per line:
#   locked EPOCH SINCE [took-over HOLDER | re-took | expired HOLDER]  first line
#   launched NODE | gone NODE | failed NODE WHY
#   log NODE LINE         the job log's tail, before a final status that is not ok
#   status NODE STATUS    started, switched, ok, rolled back: ..., failed: ...,
#                         refused: ...
#   bye WHY               the agent ends by itself
# Exits EXIT_LOCKED when another run holds the lock, naming it on stderr
# (EXIT_REFUSED when it cannot make its state directory).
set -u
umask 077
state=$1 run=$2 holder=$3 lease=$4 job=$5 node_wait=$6
shift 6
jobs=$state/jobs bin=$state/bin record=$state/deploy.lease
if ! mkdir -p "$state" || ! chmod 700 "$state"; then
  echo "cannot create the state directory $state" >&2
  exit "$EXIT_REFUSED"
fi
mkdir -p "$jobs" "$bin" "$state/activated" "$state/pending" || exit "$EXIT_REFUSED"
# Older versions left world-readable files; job logs may hold secrets.
chmod -R go-rwx "$state" 2>/dev/null

# Seconds since boot, set by uptime_now (prelude.sh).
up=0
read -r boot </proc/sys/kernel/random/boot_id
# This agent's process group (its session's, which every launcher and the
# watcher share): what a taking over agent ends. /proc/PID/stat holds
# `PID (COMM) STATE PPID PGRP ...`.
group_of() { pgid=$3; }
read -r stat <"/proc/$$/stat"
# shellcheck disable=SC2086
group_of ${stat##*) }

# The lease record: epoch, run, process group, when the lease ends (uptime),
# boot id, the epoch since which the run holds the lock without a break, and
# the holder. A job checks the last two (job.sh).
r_epoch='' r_run='' r_pgid='' r_expires='' r_boot='' r_since='' r_holder=''
read_record() {
  r_epoch='' r_run='' r_pgid='' r_expires='' r_boot='' r_since='' r_holder=''
  [ -e "$record" ] && read -r r_epoch r_run r_pgid r_expires r_boot r_since r_holder <"$record"
}
write() { printf '%s' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1"; }
write_record() {
  uptime_now
  write "$record" "$epoch $run $pgid $((up + lease)) $boot $since $holder
"
}
# Whether the record's lease ran out: its boot ended, or its time passed.
expired() {
  uptime_now
  [ "$r_boot" != "$boot" ] || ! is_number "$r_expires" || [ "$up" -gt "$r_expires" ]
}

exec 9>>"$state/deploy.lock"
note=
read_record
if flock -n 9; then
  # A record without a live lock: its agent ended without releasing it.
  [ -n "$r_run" ] && [ "$r_run" != "$run" ] && note="took-over $r_holder (run $r_run)"
else
  if [ "$r_run" = "$run" ]; then
    note=re-took
  elif expired; then
    note="expired $r_holder (run $r_run)"
  else
    echo "another deploy holds the lock on this target: ${r_holder:-unknown holder} (run ${r_run:-unknown}), its lease runs for another $((r_expires - up))s" >&2
    exit "$EXIT_LOCKED"
  fi
  # Our own earlier agent (a dropped session) or one whose lease ran out.
  # The record names this run first, so that nothing the old agent still
  # launches passes its check; then its whole process group is killed (KILL:
  # a stopped agent would never handle TERM), but only if it still is that
  # agent (its leader's command line holds its run id), never a group that
  # reused the number, and never our own.
  epoch=$r_epoch since=$r_since
  is_number "$epoch" || epoch=0
  is_number "$since" || since=0
  write_record
  if is_number "$r_pgid" && [ "$r_pgid" != "$pgid" ] &&
    tr '\0' '\n' <"/proc/$r_pgid/cmdline" 2>/dev/null | grep -qF -- "$r_run"; then
    kill -KILL "-$r_pgid" 2>/dev/null
  fi
  if ! flock -w 10 9; then
    echo "the deploy lock on this target is still held 10s after ending the agent of run $r_run (process group $r_pgid)" >&2
    exit "$EXIT_LOCKED"
  fi
fi
# Every taking of the lock has an epoch of its own; `since` is the epoch at
# which this run began to hold it without a break (another run's taking in
# between starts it anew). A reconnected deployer that finds a `since` not its
# own, and a job whose epoch is older than `since`, know that another run held
# the lock in between. deploy.epoch: the last epoch, its run, its `since`.
epoch=0 last_run='' since=''
[ -e "$state/deploy.epoch" ] && read -r epoch last_run since <"$state/deploy.epoch"
is_number "$epoch" || epoch=0
epoch=$((epoch + 1))
{ [ "$last_run" = "$run" ] && is_number "$since"; } || since=$epoch
write "$state/deploy.epoch" "$epoch $run $since
"
write_record

# The job and kind scripts of this run, as files the jobs run.
write "$bin/$run-job.sh" "$job"
while [ $# -ge 2 ]; do
  case $1 in *[!a-z0-9-]* | '') echo "invalid kind name $1" >&2 && exit "$EXIT_USAGE" ;; esac
  write "$bin/$run-kind-$1.sh" "$2"
  shift 2
done
# Scripts of runs that ended a day ago or more.
find "$bin" -type f -mtime +1 -delete 2>/dev/null
# Job logs past 1 MiB: the one before stays beside each, so that a log never
# shrinks to nothing. Once an agent, not once a launch: a process a launch
# adds up on a host with many containers.
find "$jobs" -maxdepth 1 -type f -name '*.log' -size +1024k \
  -exec sh -c 'for log; do mv -f "$log" "$log.1"; done' sh {} + 2>/dev/null

# Whether NODE's job of this run began: it wrote its pid or a status, or it
# holds the node's lock (as does a launcher of this agent, from which the job
# inherits it). A launch cut off with an earlier agent, between recording the run
# and the job's start, left the run recorded and nothing else.
job_began() {
  [ -e "$jobs/$1.pid" ] || [ -e "$jobs/$1.status" ] || ! flock -n "$jobs/$1.lock" true
}

# One file per watched node, holding the last status reported: each tick
# reads only the jobs not yet finished.
# Those of agents that were killed go too: this one holds the lock now.
watching=$state/watch-$epoch
rm -rf "$state"/watch-*
mkdir -p "$watching"

# What wakes the watcher: a line from a job that wrote its status (job.sh's
# `say`), from the agent that gave it a node to watch, or, for its checks of
# the lease and of jobs that died, a tick: at each `renew` (once a second while
# the deployer lives) and from a clock every 5 s (a silent deployer's lease
# still runs out). It sleeps in between: an agent that looked 20 times a
# second started 20 processes a second, which on a small host with many
# containers is CPU that the activations need.
wake=$state/wake
if [ ! -p "$wake" ]; then
  rm -f "$wake"
  mkfifo -m 600 "$wake" || exit "$EXIT_REFUSED"
fi

# Reports the jobs being watched, and ends the agent when its lease ran out
# or another agent took the lock.
watcher() {
  if ! command exec 7<>"$wake" 2>/dev/null; then
    echo "bye cannot open $wake to watch the jobs"
    kill "$reader" 2>/dev/null
    exit 0
  fi
  # The clock ends with the watcher; were the watcher killed (KILL), at its
  # next write, with no reader left: it holds neither the fifo's reading end
  # nor the lock.
  clock 5 7>&- 9>&- <&- >"$wake" 2>/dev/null &
  clock=$!
  trap 'kill "$clock" 2>/dev/null' EXIT
  trap 'exit 0' TERM
  while :; do
    for w in "$watching"/*; do
      [ -e "$w" ] || continue
      n=${w##*/}
      s='' p='' said=''
      [ -e "$jobs/$n.status" ] && IFS= read -r s <"$jobs/$n.status"
      case $s in
        '' | "$STATUS_STARTED" | "$STATUS_SWITCHED")
          [ -e "$jobs/$n.pid" ] && read -r p <"$jobs/$n.pid"
          if [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; then
            s=
            [ -e "$jobs/$n.status" ] && IFS= read -r s <"$jobs/$n.status"
            case $s in '' | "$STATUS_STARTED" | "$STATUS_SWITCHED") s="$STATUS_FAILED: the activation job ended without finishing, see $jobs/$n.log" ;; esac
          elif [ -z "$p" ] && [ -z "$s" ] && ! job_began "$n"; then
            s="$STATUS_FAILED: the activation job never started; nothing was changed, see $jobs/$n.log"
          fi
          ;;
      esac
      case $s in
        '') ;;
        "$STATUS_STARTED" | "$STATUS_SWITCHED")
          IFS= read -r said <"$w"
          if [ "$said" != "$s" ]; then
            printf '%s\n' "$s" >"$w"
            printf 'status %s %s\n' "$n" "$s"
          fi
          ;;
        *)
          rm -f "$w"
          if [ "$s" != "$STATUS_OK" ]; then
            tail -n 15 "$jobs/$n.log" 2>/dev/null | cut -c 1-2000 | while IFS= read -r l; do printf 'log %s %s\n' "$n" "$l"; done
          fi
          printf 'status %s %s\n' "$n" "$s"
          ;;
      esac
    done
    IFS= read -r woken <&7 || exit 0
    if [ "$woken" = t ]; then
      kill -0 "$reader" 2>/dev/null || exit 0
      read_record
      if [ "$r_run" != "$run" ] || [ "$r_epoch" != "$epoch" ]; then
        echo "bye run ${r_run:-none} took the deploy lock"
        kill "$reader" 2>/dev/null
        exit 0
      elif expired; then
        echo "bye the deployer was silent for ${lease}s; the lock was released"
        rm -f "$record"
        rm -rf "$watching"
        kill "$reader" 2>/dev/null
        exit 0
      fi
    fi
  done
}

# Starts one job, in the background of the agent (its wait for the node's job
# lock must not hold up the agent): `launcher NODE SPEC-FILE`.
launcher() {
  exec 9>&-
  n=$1 spec=$2
  exec 8>>"$jobs/$n.lock"
  if ! flock -w "$node_wait" 8; then
    rm -f "$spec"
    p=
    [ -e "$jobs/$n.pid" ] && read -r p <"$jobs/$n.pid"
    echo "failed $n an earlier activation of $n (pid ${p:-unknown}) was still running after ${node_wait}s; nothing was changed"
    exit 0
  fi
  read_record
  if [ "$r_run" != "$run" ] || [ "$r_epoch" != "$epoch" ]; then
    rm -f "$spec"
    echo "failed $n run $run no longer held the deploy lock; nothing was changed"
    exit 0
  fi
  rm -f "$jobs/$n.status" "$jobs/$n.confirm" "$jobs/$n.pid"
  printf '%s\n' "$run" >"$jobs/$n.run"
  mv -f "$spec" "$jobs/$n.spec"
  : >"$watching/$n"
  # The job keeps fd 8, the node's lock, until it ends. It counts as launched
  # once forked: from then on the watcher sees that it began (it holds the
  # lock), and reports it if it ends without a status, even before its first
  # act, writing its pid.
  setsid -f sh "$bin/$run-job.sh" "$state" "$run" "$epoch" "$n" </dev/null >>"$jobs/$n.log" 2>&1
  echo "launched $n"
}

reader=$$
watcher &
watcher_pid=$!
echo "locked $epoch $since${note:+ $note}"

is_node() { case $1 in '' | *[!A-Za-z0-9_-]*) return 1 ;; esac; }
while IFS= read -r line; do
  case $line in
    renew)
      # The record is rewritten (a process: the rename) once a third of the
      # lease has passed, not at every renew (once a second).
      read_record
      uptime_now
      if [ "$r_run" = "$run" ] && [ "$r_epoch" = "$epoch" ] &&
        { ! is_number "$r_expires" || [ $((r_expires - up)) -lt $((lease - lease / 3)) ]; }; then
        write_record
      fi
      to_fifo "$wake" t
      ;;
    'launch '*)
      rest=${line#launch }
      n=${rest%% *} k=${rest#* }
      is_number "$k" || k=0
      # The spec is read off stdin whatever the name, to stay in step.
      spec=/dev/null
      is_node "$n" && spec=$jobs/.spec-$epoch-$$-$n
      while [ "$k" -gt 0 ] && IFS= read -r arg; do
        printf '%s\n' "$arg"
        k=$((k - 1))
      done >"$spec"
      if [ "$spec" != /dev/null ]; then
        launcher "$n" "$spec" &
      else
        echo "failed ${n:-?} not a node name"
      fi
      ;;
    'watch '*)
      n=${line#watch }
      r=
      is_node "$n" && [ -e "$jobs/$n.run" ] && read -r r <"$jobs/$n.run"
      if [ "$r" = "$run" ] && job_began "$n"; then
        : >"$watching/$n"
        to_fifo "$wake" p
      else
        echo "gone $n"
      fi
      ;;
    release) break ;;
    *) echo "bye the deployer sent a request in no known form; the lock was released" && break ;;
  esac
done
kill "$watcher_pid" 2>/dev/null
read_record
[ "$r_run" = "$run" ] && [ "$r_epoch" = "$epoch" ] && rm -f "$record"
rm -rf "$watching"
