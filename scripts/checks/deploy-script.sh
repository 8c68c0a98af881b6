#!/usr/bin/env bash
# scripts/gitops-deploy.sh against a local git repository acting as the forge,
# with the orchestrator replaced by a stub (FLEET_BIN) that records its
# arguments and prints a `fleet deploy --json` document: it deploys exactly
# the commit it was given, refuses malformed ids, commits off the branch,
# non-descendants of the last attempted commit (also after a partial
# failure) and commits without flake.lock; a replayed delivery does nothing;
# requests that arrive during a deploy wait and only the newest is deployed
# after it; the state folder is private; the textfile and the failure hook
# say what happened.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

deploy=$repo_root/scripts/gitops-deploy.sh

# The forge: main is A <- B <- C; "other" branches off A with X.
forge=$tmp/forge.git
work=$tmp/work
git init --quiet --bare "$forge"
git init --quiet "$work"
g() { git -C "$work" -c user.name=t -c user.email=t@example.org "$@"; }
# commit MSG [unlocked]: a commit with flake.lock, or, given "unlocked", one
# that removes it.
commit() {
  mkdir -p "$work/nix"
  echo "$1" >"$work/file"
  echo "{ nodes = { }; } # $1" >"$work/nix/fleet.nix"
  if [ "${2-}" = unlocked ]; then
    g rm --quiet --cached --ignore-unmatch flake.lock && rm -f "$work/flake.lock"
  else
    echo '{ "nodes": { "root": { } }, "root": "root", "version": 7 }' >"$work/flake.lock"
    g add flake.lock
  fi
  g add file nix/fleet.nix && g commit --quiet -m "$1" && g rev-parse HEAD
}
g checkout --quiet -b main
A=$(commit a)
B=$(commit b)
C=$(commit c)
g checkout --quiet -b other "$A"
X=$(commit x)
g push --quiet "$forge" main other
D_UNKNOWN=$(printf 'not in the forge' | git hash-object --stdin)

# The orchestrator stub: `graph --names` prints two nodes; `deploy` records
# its arguments, blocks while $tmp/hold exists (after announcing itself in
# $tmp/started), and fails one node if $tmp/fail exists.
cat >"$tmp/fleet" <<STUB
#!/usr/bin/env bash
if [ "\$1" = graph ]; then printf 'vps-arm host\nweb container\n'; exit 0; fi
echo "\$*" >>"$tmp/calls"
touch "$tmp/started"
deadline=\$((SECONDS + 30))
while [ -e "$tmp/hold" ] && [ \$SECONDS -lt \$deadline ]; do sleep 0.05; done
outcome=activated error=null
if [ -e "$tmp/fail" ]; then outcome=failed error='{"stage": "switch", "message": "switch failed"}'; fi
cat <<JSON
{"version": 1, "command": "deploy", "success": \$([ \$outcome = activated ] && echo true || echo false),
 "nodes": [{"node": "vps-arm", "outcome": "unchanged", "error": null},
           {"node": "web", "outcome": "\$outcome", "error": \$error}]}
JSON
[ "\$outcome" = activated ]
STUB
chmod +x "$tmp/fleet"
cat >"$tmp/on-failure" <<HOOK
#!/usr/bin/env bash
echo "\$*" >>"$tmp/failures"
HOOK
chmod +x "$tmp/on-failure"

export GITOPS_REPO_URL=$forge GITOPS_BRANCH=main GITOPS_STATE_DIR=$tmp/state FLEET_BIN=$tmp/fleet \
  GITOPS_TEXTFILE=$tmp/gitops.prom GITOPS_ON_FAILURE=$tmp/on-failure
state=$tmp/state

# A fresh delivery id, as GitHub's X-GitHub-Delivery.
id() { cat /proc/sys/kernel/random/uuid; }
run() { "$deploy" "$@" >"$tmp/out" 2>&1; }
# expect_exit CODE DESCRIPTION ARGS...
expect_exit() {
  local want=$1 desc=$2 got=0
  shift 2
  run "$@" || got=$?
  if [ "$got" -eq "$want" ]; then pass "$desc"; else fail "$desc" "exit $got, want $want: $(cat "$tmp/out")"; fi
}
calls() { if [ -e "$tmp/calls" ]; then wc -l <"$tmp/calls"; else echo 0; fi; }
recorded() { cat "$state/last-deployed" 2>/dev/null || echo none; }

expect_exit 2 "malformed commit id is refused" "not-a-commit-$(id)"
expect_exit 2 "uppercase commit id is refused" "$(tr a-f A-F <<<"$A")-$(id)"
expect_exit 2 "short commit id is refused" "${A:0:12}-$(id)"
expect_exit 2 "commit id with trailing text is refused" "$A;true-$(id)"
expect_exit 2 "a commit without a delivery id is refused" "$A"
expect_exit 2 "a malformed delivery id is refused" "$A-$(id)x"
expect_exit 2 "no argument is refused"
check "nothing deployed for malformed ids" test "$(calls)" -eq 0

expect_exit 0 "first deploy of a commit on main" "$A-$(id)"
check "orchestrator got exactly that commit, its lock file as committed" \
  grep -qxF "deploy --flake git+file://$state/repo.git?ref=refs/heads/main&rev=$A --graph $state/fleet.nix --target local --no-magic-rollback --json -- --no-update-lock-file" "$tmp/calls"
check "the graph data comes from that commit" grep -qxF "{ nodes = { }; } # a" "$state/fleet.nix"
check "first deploy recorded" test "$(recorded)" = "$A"
check "the state folder is private (0700)" test "$(stat -c %a "$state")" = 700
check "the textfile names the deployed commit" grep -qxF "gitops_deployed_commit_info{commit=\"$A\"} 1" "$tmp/gitops.prom"
check "the textfile has each node's outcome" grep -qxF 'gitops_deploy_node_success{node="web",outcome="activated"} 1' "$tmp/gitops.prom"
check "the deploy log has the summary line" grep -qF "$A deployed: 2 nodes: 1 activated, 1 unchanged" "$state/deploy.log"

delivery=$(id)
expect_exit 0 "a descendant deploys" "$C-$delivery"
check "descendant recorded" test "$(recorded)" = "$C"

n=$(calls)
log_lines=$(wc -l <"$state/deploy.log")
expect_exit 0 "a replayed delivery succeeds" "$C-$delivery"
check "and does not run the orchestrator" test "$(calls)" -eq "$n"
check "and is logged as a replay" sh -c "tail -n1 '$state/deploy.log' | grep -q 'replayed' && test \$(wc -l <'$state/deploy.log') -eq $((log_lines + 1))"
expect_exit 0 "a new request for the deployed commit succeeds" "$C-$(id)"
check "and does not run the orchestrator either" test "$(calls)" -eq "$n"

expect_exit 3 "an ancestor of the deployed commit is refused (no rollback by replay)" "$B-$(id)"
expect_exit 3 "a commit off the branch is refused" "$X-$(id)"
expect_exit 3 "a commit unknown to the forge is refused" "$D_UNKNOWN-$(id)"
check "refusals ran nothing and kept the record" sh -c "test $(calls) -eq $n && test $(recorded) = $C"
check "refusals ran the failure hook" grep -qF "$B 3 refused: not a descendant" "$tmp/failures"

# A partial failure: E is attempted and fails; D, between C and E, would
# rewind the nodes E updated, so it is refused; E itself may be retried.
g checkout --quiet main
D=$(commit d)
E=$(commit e)
g push --quiet "$forge" main
touch "$tmp/fail"
expect_exit 1 "a failing orchestrator fails the deploy" "$E-$(id)"
check "a failed deploy is not recorded as deployed" test "$(recorded)" = "$C"
check "but as attempted" test "$(cat "$state/last-attempted")" = "$E"
check "the failure hook got the commit and the summary" \
  grep -qxF "$E 1 2 nodes: 1 failed, 1 unchanged" "$tmp/failures"
check "the textfile says the deploy failed, per node" \
  grep -qxF 'gitops_deploy_node_success{node="web",outcome="failed"} 0' "$tmp/gitops.prom"
rm "$tmp/fail"
n=$(calls)
expect_exit 3 "after a partial failure an older commit is refused (no rewind)" "$D-$(id)"
check "and nothing ran" test "$(calls)" -eq "$n"
expect_exit 0 "the failed commit can be retried" "$E-$(id)"
check "and is then recorded" test "$(recorded)" = "$E"

# The queue of one: F deploys while G and then H are requested; both wait,
# and after F only H, the newest, is deployed; G is skipped and said so.
F=$(commit f)
G=$(commit g)
H=$(commit h)
g push --quiet "$forge" main
touch "$tmp/hold"
rm -f "$tmp/started"
"$deploy" "$F-$(id)" >"$tmp/f.out" 2>&1 &
f_run=$!
deadline=$((SECONDS + 30))
while [ ! -e "$tmp/started" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
check "first run reached the orchestrator" test -e "$tmp/started"
n=$(calls)
GITOPS_LOCK_TIMEOUT=0 expect_exit 4 "a request that cannot wait long enough gives up" "$G-$(id)"
check "giving up names the running deploy" grep -qF "did not end within 0 s" "$tmp/out"
"$deploy" "$G-$(id)" >"$tmp/g.out" 2>&1 &
g_run=$!
"$deploy" "$H-$(id)" >"$tmp/h.out" 2>&1 &
h_run=$!
deadline=$((SECONDS + 30))
until grep -qs "waits in the queue" "$tmp/g.out" && grep -qs "waits in the queue" "$tmp/h.out" ||
  [ $SECONDS -ge $deadline ]; do sleep 0.05; done
check "requests during a deploy wait in the queue" \
  sh -c "grep -q 'waits in the queue' '$tmp/g.out' && grep -q 'waits in the queue' '$tmp/h.out'"
check "and have not reached the orchestrator" test "$(calls)" -eq "$n"
rm "$tmp/hold"
statuses=""
for run_pid in "$f_run" "$g_run" "$h_run"; do
  status=0
  wait "$run_pid" || status=$?
  statuses="$statuses$status"
done
check "every run ends with success" test "$statuses" = 000
check "F and then H were deployed, G never" \
  sh -c "tail -n2 '$tmp/calls' | grep -c 'rev=' | grep -qx 2 && tail -n2 '$tmp/calls' | head -n1 | grep -q 'rev=$F' && tail -n1 '$tmp/calls' | grep -q 'rev=$H' && test \$(wc -l <'$tmp/calls') -eq $((n + 1))"
check "H is recorded" test "$(recorded)" = "$H"
check "G is logged as skipped for H" grep -qF "$G skipped: superseded by $H" "$state/deploy.log"
check "the queue is empty" test ! -s "$state/queue"

# Inputs must be pinned: a commit that has no flake.lock is refused.
n=$(calls)
U=$(commit u unlocked)
g push --quiet "$forge" main
expect_exit 3 "a commit without flake.lock is refused" "$U-$(id)"
check "the refusal names flake.lock and how to create it" grep -qF "nix flake lock && git add flake.lock" "$tmp/out"
check "nothing ran and the record stays" sh -c "test $(calls) -eq $n && test $(recorded) = $H"
V=$(commit v)
g push --quiet "$forge" main
expect_exit 0 "the next commit with flake.lock deploys" "$V-$(id)"

summary deploy-script
