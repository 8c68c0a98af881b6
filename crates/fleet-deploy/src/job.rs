//! The activation job: what runs on the target to move one node to a new
//! system, and the scripts the deployer uses to start it, confirm it and lock
//! the target.
//!
//! The job runs detached from the SSH session (`setsid -f`, output to a log),
//! so a deployer that dies or loses its connection mid-activation cannot leave
//! a node half-switched: the job finishes on its own, either on the new system
//! or rolled back to the old one. Its progress is a status file; the deployer
//! waits on it from its session, and anyone can read it afterwards.

use fleet_nix::RemoteScript;

/// Where the orchestrator keeps its state on a target. Under `/nix` because the
/// host persists `/nix` (its root is a tmpfs) and the testbed remaps it.
pub const STATE_DIR: &str = "/nix/var/fleet";

/// The job. `$1` node, `$2` state dir, `$3` profile, `$4` new system, `$5`
/// confirmation timeout in seconds (0: none), `$6` health-check timeout in
/// seconds, `$7` the kind's shell functions `switch_to PATH` and `retire`; the
/// remaining arguments are health checks, each a shell command line.
const JOB: &str = r#"set -u
name=$1 state=$2 profile=$3 new=$4 confirm=$5 check_timeout=$6
eval "$7"
shift 7
jobs=$state/jobs status=$state/jobs/$name.status
marker=$state/activated/$name pending=$state/pending/$name
echo $$ > "$jobs/$name.pid"
say() { printf '%s\n' "$*" > "$status.tmp" && mv -f "$status.tmp" "$status"; }
log() { printf '%s %s: %s\n' "$(date '+%F %T')" "$name" "$*"; }

if [ ! -e "$new/nixos-version" ] || [ ! -x "$new/bin/switch-to-configuration" ]; then
  say "refused: $new is not a NixOS system (it lacks nixos-version or bin/switch-to-configuration); nothing was changed"
  exit 3
fi
before=$(readlink -e -- "$profile" || true)
good=$(cat "$marker" 2>/dev/null || true)
case $good in /nix/store/*) ;; *) good=$before ;; esac
old=$good
[ "$old" = "$new" ] && old=

# Back to the last good system (or, with none, no system at all), then exit.
roll_back() {
  why=$1
  if [ -n "$old" ]; then
    log "rolling back to $old: $why"
    if nix-env -p "$profile" --set "$old" && switch_to "$old"; then
      printf '%s\n' "$old" > "$marker"
      rm -f "$pending"
      say "rolled back: $why"
    else
      say "failed: $why; rolling back to $old failed too, see $jobs/$name.log"
    fi
  else
    log "no earlier system to roll back to: $why"
    rm -f "$profile"
    retire
    rm -f "$pending" "$marker"
    say "rolled back: $why (there was no earlier system: the node is stopped)"
  fi
  exit 1
}

checks_pass() {
  deadline=$(( $(date +%s) + check_timeout ))
  while :; do
    failed=
    for check in "$@"; do
      if ! out=$(sh -c "$check" 2>&1); then failed="\`$check\` failed${out:+: $out}"; break; fi
    done
    [ -z "$failed" ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      why="health check failed for ${check_timeout}s: $failed"
      return 1
    fi
    sleep 1
  done
}

mkdir -p "$state/activated" "$state/pending"
log "activating $new"
printf '%s\n' "$new" > "$pending"
if [ "$before" != "$new" ]; then
  if ! mkdir -p "${profile%/*}" || ! nix-env -p "$profile" --set "$new"; then
    rm -f "$pending"
    say "failed: could not set profile $profile to $new; nothing was changed"
    exit 1
  fi
fi
switch_to "$new" || roll_back "switching to $new failed"
checks_pass "$@" || roll_back "$why"
if [ "$confirm" -gt 0 ]; then
  say switched
  deadline=$(( $(date +%s) + confirm ))
  while [ ! -e "$jobs/$name.confirm" ]; do
    [ "$(date +%s)" -ge "$deadline" ] && roll_back "no confirmation from the deployer within ${confirm}s"
    sleep 0.2
  done
fi
printf '%s\n' "$new" > "$marker"
rm -f "$pending"
log "activated $new"
say ok
"#;

/// Waits until the node's job reports `ok`, `switched`, or a final failure,
/// printing that status; exits non-zero, with the job log's tail on stderr,
/// unless the job succeeded (or awaits confirmation). `$1` node, `$2` state dir.
macro_rules! wait_for_status {
    () => {
        r#"
jobs=$2/jobs
waited=0
# `read` is a builtin: the loop starts no process but `sleep`.
status() { s=; [ -e "$jobs/$1.status" ] && read -r s <"$jobs/$1.status"; }
while :; do
  status "$1"
  case $s in ok|switched|rolled*|failed*|refused*) break ;; esac
  pid=
  [ -e "$jobs/$1.pid" ] && read -r pid <"$jobs/$1.pid"
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
    status "$1"
    case $s in ok|switched|rolled*|failed*|refused*) ;; *) s="failed: the activation job ended without finishing, see $jobs/$1.log" ;; esac
    break
  fi
  waited=$((waited + 1))
  if [ -z "$pid" ] && [ "$waited" -gt 600 ]; then s="failed: the activation job did not start, see $jobs/$1.log"; break; fi
  sleep 0.05
done
case $s in
  ok|switched) echo "$s" ;;
  *) echo "$s" >&2; tail -n 15 "$jobs/$1.log" >&2; exit 1 ;;
esac
"#
    };
}

/// Starts the job detached and waits for it. The job inherits the node's job
/// lock (fd 8), so a second job for the same node waits for the first to end.
/// `$1` node, `$2` state dir, `$3` the job's text, then the job's arguments.
const LAUNCH: &str = concat!(
    r#"set -u
name=$1 state=$2 job=$3
shift 3
mkdir -p "$state/jobs"
exec 8>>"$state/jobs/$name.lock"
flock -w 3600 8 || { echo "an earlier activation of $name is still running" >&2; exit 1; }
rm -f "$state/jobs/$name.status" "$state/jobs/$name.confirm" "$state/jobs/$name.pid"
setsid -f sh -c "$job" fleet-job "$@" </dev/null >>"$state/jobs/$name.log" 2>&1
set -- "$name" "$state"
"#,
    wait_for_status!()
);

/// Confirms a job that awaits confirmation, then waits for its final status.
const CONFIRM: &str = concat!(
    r#"set -u
s=$(cat "$2/jobs/$1.status" 2>/dev/null || true)
[ "$s" = switched ] || { echo "cannot confirm $1: its activation is \"${s:-unknown}\"" >&2; exit 1; }
touch "$2/jobs/$1.confirm"
"#,
    wait_for_status!()
);

/// Takes the target's deploy lock and holds it while stdin stays open: the
/// lock lives exactly as long as the deployer's connection. `$1` state dir, `$2`
/// who is deploying.
const LOCK: &str = r#"set -u
mkdir -p "$1"
exec 9>>"$1/deploy.lock"
if ! flock -n 9; then
  echo "another deploy holds the lock on this target: $(cat "$1/deploy.holder" 2>/dev/null || echo 'unknown holder')" >&2
  exit 75
fi
stale=$(cat "$1/deploy.holder" 2>/dev/null || true)
printf '%s since %s\n' "$2" "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" > "$1/deploy.holder"
echo "locked${stale:+ (taking over from $stale, which ended without releasing it)}"
cat >/dev/null
rm -f "$1/deploy.holder"
"#;

/// What one activation needs: see [`JOB`] for the meaning of each part.
pub(crate) struct JobSpec<'a> {
    pub(crate) node: &'a str,
    pub(crate) profile: String,
    pub(crate) new: &'a str,
    pub(crate) confirm_seconds: u64,
    pub(crate) check_seconds: u64,
    pub(crate) functions: &'static str,
    pub(crate) checks: Vec<String>,
}

/// The script that starts the job and waits until it is done (or switched and
/// awaiting confirmation).
pub(crate) fn launch(spec: &JobSpec<'_>) -> RemoteScript {
    let mut args = vec![
        spec.node.to_string(),
        STATE_DIR.to_string(),
        JOB.to_string(),
        spec.node.to_string(),
        STATE_DIR.to_string(),
        spec.profile.clone(),
        spec.new.to_string(),
        spec.confirm_seconds.to_string(),
        spec.check_seconds.to_string(),
        spec.functions.to_string(),
    ];
    args.extend(spec.checks.iter().cloned());
    RemoteScript::new(LAUNCH, args)
}

/// The script that confirms `node`'s activation over a fresh connection.
pub(crate) fn confirm(node: &str) -> RemoteScript {
    RemoteScript::new(CONFIRM, [node, STATE_DIR])
}

/// The script that takes and holds the deploy lock for `holder`.
pub(crate) fn lock(holder: &str) -> RemoteScript {
    RemoteScript::new(LOCK, [STATE_DIR, holder])
}
