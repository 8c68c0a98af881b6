# shellcheck shell=sh disable=SC2034
# What every script that runs on a target shares: the exit codes and status
# words by name, and the small helpers more than one script uses. This text
# goes in front of each of them (`target_script!` in job.rs puts it there), so each
# uses the names without sourcing a file the target does not have.
# protocol/ holds the same codes and words, and a test fails when the two
# disagree. (SC2034: the names are used by the script that follows, not here.)
EXIT_FAILED=1
EXIT_USAGE=2
EXIT_REFUSED=3
EXIT_FENCED=4
EXIT_LOCKED=75
# The first word of a job's status file: started and switched while it runs,
# then one of the others, followed by `: WHY` but for ok.
STATUS_STARTED=started
STATUS_SWITCHED=switched
STATUS_OK=ok
STATUS_ROLLED_BACK='rolled back'
STATUS_FAILED=failed
STATUS_REFUSED=refused

# Whether $1 is a number: digits only, at least one.
is_number() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }

# Seconds since boot, in `up`: the clock of the deploy lock's lease, which
# moving the wall clock does not change.
uptime_now() {
  read -r up _ </proc/uptime
  up=${up%.*}
}

# Writes line $2 to fifo $1, opened read-write: the open never waits for a
# reader, and the line goes with the fifo's buffer when no one reads.
to_fifo() { printf '%s\n' "$2" 1<>"$1"; }

# A clock for a loop that sleeps on a fifo: prints `t` every $1 seconds, run
# in the background with its output on the fifo. Stopped (TERM), it stops its
# sleep too; it also ends at a write that fails (no reader left).
clock() {
  tick=
  trap 'kill "$tick" 2>/dev/null; exit 0' TERM
  while :; do
    sleep "$1" &
    tick=$!
    wait "$tick"
    printf 't\n' || exit 0
  done
}
