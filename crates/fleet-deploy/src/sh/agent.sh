# shellcheck shell=sh
# The deployer's agent on the target: one per host per run, on one SSH session.
#
# It takes the deploy lock (a flock, with a lease record naming the run) and
# holds it for its session; renews the lease while the deployer keeps saying
# `renew`, and exits, releasing the lock, when it stops hearing from it (a
# dead deployer, or a network partition that the SSH server does not notice);
# launches each activation as a detached job that starts only if this run
# still holds the lock; and streams the jobs' status back.
#
# $1 state dir, $2 run id, $3 who is deploying, $4 lease in seconds,
# $5 job script text, $6 how long a launch waits for an earlier activation of
# its node (seconds), then pairs KIND-NAME KIND-SCRIPT-TEXT.
#
# Reads commands on stdin, one per line:
#   renew                 the deployer is alive
#   launch COUNT          then COUNT lines, the job's arguments after the state
#                         dir and run id (node, kind, profile, ...)
#   watch NODE            report NODE's job of this run (after a reconnect)
#   release               give up the lock and exit
# Prints, one per line:
#   locked [took-over HOLDER | re-took | expired HOLDER]   first line
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

now=$(date +%s)
exec 9>>"$state/deploy.lock"
note=
r_run='' r_reader='' r_watcher='' r_expires='' r_holder=''
[ -e "$record" ] && read -r r_run r_reader r_watcher r_expires r_holder <"$record"
if flock -n 9; then
  # A record without a live lock: its agent ended without releasing it.
  [ -n "$r_run" ] && [ "$r_run" != "$run" ] && note="took-over $r_holder (run $r_run)"
else
  if [ "$r_run" = "$run" ]; then
    note=re-took
  elif [ -n "$r_expires" ] && [ "$now" -gt "$r_expires" ]; then
    note="expired $r_holder (run $r_run)"
  else
    echo "another deploy holds the lock on this target: ${r_holder:-unknown holder} (run ${r_run:-unknown})${r_expires:+, its lease runs until $(date -u -d "@$r_expires" '+%Y-%m-%dT%H:%M:%SZ')}" >&2
    exit "$EXIT_LOCKED"
  fi
  # Our own earlier agent (a dropped session) or one whose lease ran out:
  # end its two processes, but only if they still are that agent (their
  # command line holds its run id), never a process that reused a pid.
  for p in "$r_reader" "$r_watcher"; do
    case $p in '' | *[!0-9]*) continue ;; esac
    if tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF -- "$r_run"; then
      kill "$p" 2>/dev/null
    fi
  done
  if ! flock -w 10 9; then
    echo "the deploy lock on this target is still held 10s after ending the agent of run $r_run (pids $r_reader $r_watcher)" >&2
    exit "$EXIT_LOCKED"
  fi
fi

# The job and kind scripts of this run, as files the jobs run.
write() { printf '%s' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1"; }
write "$bin/$run-job.sh" "$job"
while [ $# -ge 2 ]; do
  case $1 in *[!a-z0-9-]* | '') echo "invalid kind name $1" >&2 && exit "$EXIT_USAGE" ;; esac
  write "$bin/$run-kind-$1.sh" "$2"
  shift 2
done
# Scripts of runs that ended a day ago or more.
find "$bin" -type f -mtime +1 -delete 2>/dev/null

reader=$$
beat=$state/agent-$run.beat watchlist=$state/agent-$run.watch
printf '0\n' >"$beat"
: >"$watchlist"

# The lease record: run, the agent's two pids, when the lease ends, holder.
write_record() {
  printf '%s %s %s %s %s\n' "$run" "$reader" "$1" "$2" "$holder" >"$record.tmp" && mv -f "$record.tmp" "$record"
}

# Extends this run's lease to $1 (seconds since the epoch).
renew_record() {
  r='' w=''
  [ -e "$record" ] && read -r r _ w _ <"$record"
  [ "$r" = "$run" ] && write_record "$w" "$1"
}

# Reports the jobs in the watch list and keeps the lease: renewed while the
# deployer's beats come, given up when they stop for the lease's length.
watcher() {
  finished=' ' seen=' ' ticks=0 last_beat=0 heard=$(date +%s)
  while :; do
    while IFS= read -r n; do
      case $finished in *" $n "*) continue ;; esac
      s='' p=''
      [ -e "$jobs/$n.status" ] && IFS= read -r s <"$jobs/$n.status"
      case $s in
        '' | started | switched)
          [ -e "$jobs/$n.pid" ] && read -r p <"$jobs/$n.pid"
          if [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; then
            s=
            [ -e "$jobs/$n.status" ] && IFS= read -r s <"$jobs/$n.status"
            case $s in '' | started | switched) s="failed: the activation job ended without finishing, see $jobs/$n.log" ;; esac
          fi
          ;;
      esac
      case $s in
        '') ;;
        started | switched)
          case $seen in *" $n:$s "*) ;; *)
            seen="$seen$n:$s "
            printf 'status %s %s\n' "$n" "$s"
            ;;
          esac
          ;;
        *)
          finished="$finished$n "
          if [ "$s" != ok ]; then
            tail -n 15 "$jobs/$n.log" 2>/dev/null | while IFS= read -r l; do printf 'log %s %s\n' "$n" "$l"; done
          fi
          printf 'status %s %s\n' "$n" "$s"
          ;;
      esac
    done <"$watchlist"
    ticks=$((ticks + 1))
    if [ "$ticks" -ge 20 ]; then
      ticks=0
      kill -0 "$reader" 2>/dev/null || exit 0
      now=$(date +%s)
      b=
      read -r b <"$beat"
      if [ "$b" != "$last_beat" ]; then
        last_beat=$b heard=$now
        renew_record $((now + lease))
      elif [ $((now - heard)) -ge "$lease" ]; then
        echo "bye the deployer was silent for ${lease}s; the lock was released"
        rm -f "$record" "$beat" "$watchlist"
        kill "$reader" 2>/dev/null
        exit 0
      fi
    fi
    sleep 0.05
  done
}

# Starts one job, in the background of the agent (its wait for the node's job
# lock must not hold up the agent): `launch NODE KIND ARGS...`.
launcher() {
  exec 9>&-
  n=$1 kind=$2
  shift 2
  exec 8>>"$jobs/$n.lock"
  if ! flock -w "$node_wait" 8; then
    p=
    [ -e "$jobs/$n.pid" ] && read -r p <"$jobs/$n.pid"
    echo "failed $n an earlier activation of $n (pid ${p:-unknown}) was still running after ${node_wait}s; nothing was changed"
    exit 0
  fi
  r=
  [ -e "$record" ] && read -r r _ <"$record"
  if [ "$r" != "$run" ]; then
    echo "failed $n run $run no longer held the deploy lock; nothing was changed"
    exit 0
  fi
  rm -f "$jobs/$n.status" "$jobs/$n.confirm" "$jobs/$n.pid"
  printf '%s\n' "$run" >"$jobs/$n.run"
  printf '%s\n' "$n" >>"$watchlist"
  setsid -f sh "$bin/$run-job.sh" "$state" "$run" "$n" "$bin/$run-kind-$kind.sh" "$@" \
    </dev/null >>"$jobs/$n.log" 2>&1
  # The job's first act is to write its pid: wait for it, bounded (10 s).
  i=0
  while [ ! -e "$jobs/$n.pid" ]; do
    i=$((i + 1))
    if [ "$i" -gt 200 ]; then
      echo "failed $n the activation job did not start within 10s; see $jobs/$n.log"
      exit 0
    fi
    sleep 0.05
  done
  echo "launched $n"
}

watcher &
watcher_pid=$!
write_record "$watcher_pid" $((now + lease))
echo "locked${note:+ $note}"

count=0
while IFS= read -r line; do
  case $line in
    renew)
      count=$((count + 1))
      printf '%s\n' "$count" >"$beat"
      ;;
    'launch '*)
      k=${line#launch }
      set --
      while [ "$k" -gt 0 ] && IFS= read -r arg; do
        set -- "$@" "$arg"
        k=$((k - 1))
      done
      case ${1:-} in '' | *[!A-Za-z0-9_-]*) echo "failed ${1:-?} not a node name" && continue ;; esac
      case ${2:-} in '' | *[!a-z0-9-]*) echo "failed $1 not a kind name" && continue ;; esac
      launcher "$@" &
      ;;
    'watch '*)
      n=${line#watch }
      r=
      [ -e "$jobs/$n.run" ] && read -r r <"$jobs/$n.run"
      if [ "$r" = "$run" ]; then
        printf '%s\n' "$n" >>"$watchlist"
      else
        echo "gone $n"
      fi
      ;;
    release) break ;;
  esac
done
kill "$watcher_pid" 2>/dev/null
r=
[ -e "$record" ] && read -r r _ <"$record"
[ "$r" = "$run" ] && rm -f "$record"
rm -f "$beat" "$watchlist"
