#!/usr/bin/env bash
# gitops-deploy COMMIT-DELIVERY: bring this host and its containers to COMMIT,
# or to the newest commit requested meanwhile.
#
# Run as root by gitops-deploy@COMMIT-DELIVERY.service (nix/gitops.nix), which
# the webhook starts after GitHub reported a successful CI run for COMMIT on
# the branch, in the delivery whose X-GitHub-Delivery id is DELIVERY. The
# webhook's word is not trusted beyond the commit id: this script fetches the
# branch from the forge itself and deploys only a commit that is on it and
# descends from the last attempted one, so a forged delivery can at most
# repeat a deploy, never roll back. The deploy itself is the orchestrator's
# (`fleet deploy`), the same code path as a workstation deploy; nothing here
# knows the activation order.
#
# A queue of one: a request that arrives while a deploy runs is queued and
# waits for the lock; the next run deploys the newest queued commit that
# descends from the last attempted one and says which it skipped. A delivery
# id seen before (GitHub's Redeliver resends the same id) does nothing.
#
# Environment:
#   GITOPS_REPO_URL     where to fetch from (required), e.g. https://github.com/OWNER/REPO.git
#   GITOPS_BRANCH       the deployed branch (default: main)
#   GITOPS_STATE_DIR    lock, queue, mirror, records and log (default: /var/lib/gitops-deploy)
#   GITOPS_LOCK_TIMEOUT seconds to wait for a running deploy (default: 7000,
#                       under the unit's TimeoutStartSec)
#   GITOPS_ALLOWED_SIGNERS  if set, an ssh allowed-signers file: the commit must
#                       carry a good signature by one of them
#   GITOPS_STATUS_REPOSITORY, GITOPS_STATUS_API, GITOPS_STATUS_TOKEN_FILE,
#   GITOPS_STATUS_TARGET_URL  if the first is set, commit statuses are posted
#                       to GITOPS_STATUS_API/repos/REPOSITORY/statuses/SHA
#   GITOPS_TEXTFILE     if set, a Prometheus textfile written after each deploy
#   GITOPS_ON_FAILURE   if set, run as `HOOK COMMIT EXIT-CODE MESSAGE` when a
#                       run ends with a failure or a refusal
#   FLEET_BIN           the orchestrator (default: fleet)
#
# Exit codes: 0 deployed, already deployed, replayed delivery, or handled by
# an earlier run (superseded); 1 the deploy failed; 2 usage or configuration
# error; 3 refused (commit not on the branch, not a descendant of the last
# attempted one, bad signature, no flake.lock); 4 timed out waiting for the
# running deploy.
set -euo pipefail

readonly EXIT_FAILED=1 EXIT_USAGE=2 EXIT_REFUSED=3 EXIT_BUSY=4
readonly CONTEXT=fleet/deploy

log() { echo "gitops-deploy: $*" >&2; }

instance=${1-}
uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
if [ $# -ne 1 ] || ! [[ $instance =~ ^([0-9a-f]{40})-($uuid)$ ]]; then
  log "usage: gitops-deploy COMMIT-DELIVERY (40 lowercase hex digits, a dash, the"
  log "X-GitHub-Delivery id, e.g. from /proc/sys/kernel/random/uuid); got: ${*:-nothing}"
  exit "$EXIT_USAGE"
fi
commit=${BASH_REMATCH[1]}
delivery=${BASH_REMATCH[2]}
if [ -z "${GITOPS_REPO_URL-}" ]; then
  log "GITOPS_REPO_URL is not set"
  exit "$EXIT_USAGE"
fi

branch=${GITOPS_BRANCH:-main}
state=${GITOPS_STATE_DIR:-/var/lib/gitops-deploy}
fleet=${FLEET_BIN:-fleet}
mirror=$state/repo.git
attempted=$state/last-attempted
deployed=$state/last-deployed
queue=$state/queue
deliveries=$state/deliveries

# The outcome of every request, one line each: time, commit, outcome.
note() { printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${2:-$commit}" "$1" >>"$state/deploy.log"; }

# A private repository's mirror lives here: nobody else may read it.
umask 077
mkdir -p "$state"
chmod 0700 "$state"

# finish CODE MESSAGE: the run's end; a failure or refusal runs the hook.
finish() {
  if [ "$1" -ne 0 ] && [ -n "${GITOPS_ON_FAILURE-}" ]; then
    "$GITOPS_ON_FAILURE" "$commit" "$1" "$2" || log "the failure hook exited $?"
  fi
  exit "$1"
}

# Short critical sections on the queue and the delivery ids, never held
# while deploying.
queued() {
  exec 8>"$state/queue.lock"
  flock 8
  local result=0
  "$@" || result=$?
  flock --unlock 8
  return "$result"
}

receive() {
  if grep -qxF "$delivery" "$deliveries" 2>/dev/null; then
    return 1
  fi
  printf '%s\n' "$delivery" >>"$deliveries"
  # GitHub keeps deliveries for days, not years: the last 10000 ids suffice.
  if [ "$(wc -l <"$deliveries")" -gt 10000 ]; then
    tail -n 5000 "$deliveries" >"$deliveries.tmp" && mv "$deliveries.tmp" "$deliveries"
  fi
  printf '%s %s\n' "$commit" "$delivery" >>"$queue"
}
if ! queued receive; then
  log "delivery $delivery was received before; a replay does nothing"
  note "unchanged: delivery $delivery replayed"
  exit 0
fi

# One deploy at a time; the others wait, bounded, in the queue.
exec 9>"$state/lock"
if ! flock --nonblock 9; then
  log "a deploy is running; $commit waits in the queue: $(cut -c1-12 "$queue" | tr '\n' ' ')"
  if ! flock --timeout "${GITOPS_LOCK_TIMEOUT:-7000}" 9; then
    log "the running deploy did not end within ${GITOPS_LOCK_TIMEOUT:-7000} s; giving up on $commit"
    note "failed: timed out waiting for the running deploy"
    finish "$EXIT_BUSY" "timed out waiting for the running deploy"
  fi
fi

# drop COMMIT: removes every request for COMMIT from the queue.
drop() {
  local rest
  rest=$(grep -v "^$1 " "$queue" || true)
  printf '%s' "${rest:+$rest$'\n'}" >"$queue"
}
still_queued() { grep -q "^$commit " "$queue"; }
if ! queued still_queued; then
  log "$commit was handled by an earlier run (see $state/deploy.log); nothing to do"
  exit 0
fi

last=$(cat "$attempted" 2>/dev/null || cat "$deployed" 2>/dev/null || true)
# Already deployed, and nothing attempted since (else the checks below
# refuse it: some nodes may run the newer attempt).
if [ "$commit" = "$last" ] && [ "$commit" = "$(cat "$deployed" 2>/dev/null || true)" ]; then
  queued drop "$commit"
  log "$commit is already deployed; nothing to do"
  note "unchanged: already deployed"
  exit 0
fi

git() { command git --git-dir="$mirror" "$@"; }

if [ ! -d "$mirror" ]; then
  command git init --quiet --bare "$mirror"
fi
log "fetching $branch from $GITOPS_REPO_URL"
if ! git fetch --quiet --no-tags "$GITOPS_REPO_URL" "+refs/heads/$branch:refs/heads/$branch"; then
  log "cannot fetch $branch from $GITOPS_REPO_URL"
  note "failed: fetch"
  finish "$EXIT_FAILED" "cannot fetch $branch"
fi

# refusal COMMIT: why COMMIT may not be deployed, or nothing.
refusal() {
  local c=$1
  if ! git cat-file -e "$c^{commit}" 2>/dev/null; then
    echo "unknown to the forge"
  elif ! git merge-base --is-ancestor "$c" "refs/heads/$branch"; then
    echo "not on $branch"
  elif [ -n "$last" ] && ! git merge-base --is-ancestor "$last" "$c"; then
    echo "not a descendant of the last attempted commit $last"
  elif [ -n "${GITOPS_ALLOWED_SIGNERS-}" ] &&
    ! git -c gpg.ssh.allowedSignersFile="$GITOPS_ALLOWED_SIGNERS" verify-commit "$c" >/dev/null 2>&1; then
    echo "no good signature by an allowed signer"
  # CI built this commit with its flake.lock; without one, nix here would
  # resolve every input afresh and build what CI never built.
  elif ! git cat-file -e "$c:flake.lock" 2>/dev/null; then
    echo "no flake.lock in $c (run: nix flake lock && git add flake.lock)"
  elif ! git cat-file -e "$c:nix/fleet.nix" 2>/dev/null; then
    echo "no nix/fleet.nix in $c"
  fi
}
why=$(refusal "$commit")
if [ -n "$why" ]; then
  queued drop "$commit"
  log "refusing $commit: $why"
  note "refused: $why"
  finish "$EXIT_REFUSED" "refused: $why"
fi

# The newest request: every queued commit that may be deployed and descends
# from this one wins over it; the others' own runs refuse them.
target=$commit
while read -r other _; do
  if [ "$other" != "$target" ] && [ -z "$(refusal "$other")" ] &&
    git merge-base --is-ancestor "$target" "$other"; then
    target=$other
  fi
done <"$queue"
skip() {
  local c commits
  mapfile -t commits < <(cut -d' ' -f1 "$queue" | sort -u)
  for c in "${commits[@]}"; do
    if [ "$c" != "$target" ] && git merge-base --is-ancestor "$c" "$target" 2>/dev/null; then
      log "skipping $c: $target, requested later, descends from it"
      note "skipped: superseded by $target" "$c"
      drop "$c"
    fi
  done
  drop "$target"
}
queued skip
commit=$target

# Recorded before deploying: after a partial failure, some nodes already run
# this commit, and nothing older may be deployed over them.
printf '%s\n' "$commit" >"$attempted.tmp"
mv "$attempted.tmp" "$attempted"

# status STATE DESCRIPTION [NODE]: a commit status on the forge (GitHub's
# statuses API), if configured. A forge that cannot be reached is logged,
# never a reason to fail the deploy.
status() {
  [ -n "${GITOPS_STATUS_REPOSITORY-}" ] || return 0
  local context=$CONTEXT${3:+/$3} body
  body=$(jq -cn --arg state "$1" --arg description "${2:0:140}" --arg context "$context" \
    --arg target_url "${GITOPS_STATUS_TARGET_URL-}" \
    '{$state, $description, $context} + (if $target_url == "" then {} else {$target_url} end)')
  printf 'Authorization: Bearer %s\n' "$(tr -d '\r\n' <"$GITOPS_STATUS_TOKEN_FILE")" >"$state/auth-header"
  curl --silent --show-error --fail --max-time 20 -o /dev/null -X POST \
    -H "Accept: application/vnd.github+json" -H @"$state/auth-header" --data-binary "$body" \
    "${GITOPS_STATUS_API:-https://api.github.com}/repos/$GITOPS_STATUS_REPOSITORY/statuses/$commit" ||
    log "could not post the $context status of $commit"
  rm -f "$state/auth-header"
}

flake="git+file://$mirror?ref=refs/heads/$branch&rev=$commit"
graph=$state/fleet.nix
git show "$commit:nix/fleet.nix" >"$graph"
report=$state/report.json
nodes=$("$fleet" graph --flake "$flake" --graph "$graph" --names 2>/dev/null | cut -d' ' -f1 || true)
status pending "deploying ${commit:0:12}"
for node in $nodes; do status pending "deploying ${commit:0:12}" "$node"; done

log "deploying $commit (last attempted: ${last:-none})"
started=$(date +%s)
result=0
# Exactly this commit, from the mirror just verified, with Nix's own git
# fetcher (so the flake sees the same tree and its rev), and its lock file as
# committed: never re-locked here.
"$fleet" deploy --flake "$flake" --graph "$graph" --target local --no-magic-rollback --json \
  -- --no-update-lock-file >"$report" || result=$?
ended=$(date +%s)

# The summary line, e.g. "4 nodes: 1 activated, 3 unchanged", from the report.
summary=$(jq -r '(.nodes | length | tostring) + " nodes: " +
  ([.nodes | group_by(.outcome)[] | "\(length) \(.[0].outcome)"] | join(", "))' "$report" 2>/dev/null ||
  echo "fleet exited $result with no report")
reported=" "
while IFS=$'\t' read -r node outcome message; do
  reported="$reported$node "
  case $outcome in
    failed | "rolled back" | skipped | "not started") status failure "$outcome: $message" "$node" ;;
    *) status success "$outcome" "$node" ;;
  esac
done < <(jq -r '.nodes[] | [.node, .outcome, (.error.message // .error.reason // "")] | @tsv' "$report" 2>/dev/null)
# A node the report does not name (the run ended before its nodes did) is
# not left pending.
for node in $nodes; do
  [[ $reported == *" $node "* ]] || status failure "$summary" "$node"
done

# metrics SUCCESS: the Prometheus textfile, replaced whole.
metrics() {
  [ -n "${GITOPS_TEXTFILE-}" ] || return 0
  mkdir -p "$(dirname "$GITOPS_TEXTFILE")"
  {
    echo "# HELP gitops_deploy_success Whether the last deploy succeeded on every node."
    echo "# TYPE gitops_deploy_success gauge"
    echo "gitops_deploy_success{commit=\"$commit\"} $1"
    echo "# HELP gitops_deploy_timestamp_seconds When the last deploy ended."
    echo "# TYPE gitops_deploy_timestamp_seconds gauge"
    echo "gitops_deploy_timestamp_seconds $ended"
    echo "# HELP gitops_deploy_duration_seconds How long the last deploy took."
    echo "# TYPE gitops_deploy_duration_seconds gauge"
    echo "gitops_deploy_duration_seconds $((ended - started))"
    echo "# HELP gitops_deployed_commit_info The last commit deployed on every node."
    echo "# TYPE gitops_deployed_commit_info gauge"
    echo "gitops_deployed_commit_info{commit=\"$(cat "$deployed" 2>/dev/null || echo none)\"} 1"
    echo "# HELP gitops_deployed_commit_timestamp_seconds When that commit was deployed."
    echo "# TYPE gitops_deployed_commit_timestamp_seconds gauge"
    echo "gitops_deployed_commit_timestamp_seconds $(stat -c %Y "$deployed" 2>/dev/null || echo 0)"
    echo "# HELP gitops_deploy_node_success Each node's outcome in the last deploy."
    echo "# TYPE gitops_deploy_node_success gauge"
    jq -r '.nodes[] | "gitops_deploy_node_success{node=\"\(.node)\",outcome=\"\(.outcome)\"} " +
      (if (.outcome | IN("failed", "rolled back", "skipped", "not started")) then "0" else "1" end)' \
      "$report" 2>/dev/null || true
  } >"$GITOPS_TEXTFILE.tmp"
  chmod 0644 "$GITOPS_TEXTFILE.tmp"
  mv "$GITOPS_TEXTFILE.tmp" "$GITOPS_TEXTFILE"
}

if [ "$result" -eq 0 ]; then
  printf '%s\n' "$commit" >"$deployed.tmp"
  mv "$deployed.tmp" "$deployed"
  note "deployed: $summary"
  log "deployed $commit: $summary"
  status success "$summary"
  metrics 1
else
  note "failed: fleet exited $result: $summary"
  log "fleet exited $result ($summary); $commit stays the last attempted commit: a later"
  log "request for it or a descendant retries, nothing older is deployed"
  status failure "$summary"
  metrics 0
  finish "$EXIT_FAILED" "$summary"
fi
