# shellcheck shell=sh
# Confirms a host's switch, over a new connection: proves that the switched
# host still accepts connections. The agent reports the job's final status.
# The confirmation names the run: a late one of another run's job, started
# after these checks, confirms nothing.
# $1 state dir, $2 node, $3 run id.
set -u
umask 077
jobs=$1/jobs
run=
[ -e "$jobs/$2.run" ] && read -r run <"$jobs/$2.run"
if [ "$run" != "$3" ]; then
  echo "cannot confirm $2: its last activation is of run ${run:-none}, not $3" >&2
  exit "$EXIT_FAILED"
fi
s=
[ -e "$jobs/$2.status" ] && read -r s <"$jobs/$2.status"
if [ "$s" != "$STATUS_SWITCHED" ]; then
  echo "cannot confirm $2: its activation had already ended: ${s:-unknown}" >&2
  exit "$EXIT_FAILED"
fi
# The job waits on a fifo.
to_fifo "$jobs/$2.confirm" "$3"
echo confirmed
