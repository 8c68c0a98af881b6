#!/usr/bin/env bash
# scripts/gitops-deploy.sh against a local git repository acting as the forge,
# with the orchestrator replaced by a stub (FLEET_BIN) that records its
# arguments: it deploys exactly the commit it was given, refuses malformed
# ids, commits off the branch, non-descendants and commits without flake.lock,
# refuses a second run while one holds the lock, and a replay of the deployed
# commit changes nothing.
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

# The orchestrator stub: records its arguments; blocks while $tmp/hold exists
# (after announcing itself in $tmp/started); fails if $tmp/fail exists.
cat >"$tmp/fleet" <<STUB
#!/usr/bin/env bash
echo "\$*" >>"$tmp/calls"
touch "$tmp/started"
deadline=\$((SECONDS + 30))
while [ -e "$tmp/hold" ] && [ \$SECONDS -lt \$deadline ]; do sleep 0.05; done
[ ! -e "$tmp/fail" ]
STUB
chmod +x "$tmp/fleet"

export GITOPS_REPO_URL=$forge GITOPS_BRANCH=main GITOPS_STATE_DIR=$tmp/state FLEET_BIN=$tmp/fleet
state=$tmp/state

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

expect_exit 2 "malformed commit id is refused" not-a-commit
expect_exit 2 "uppercase commit id is refused" "$(tr a-f A-F <<<"$A")"
expect_exit 2 "short commit id is refused" "${A:0:12}"
expect_exit 2 "commit id with trailing text is refused" "$A;true"
expect_exit 2 "no commit id is refused"
check "nothing deployed for malformed ids" test "$(calls)" -eq 0

expect_exit 0 "first deploy of a commit on main" "$A"
check "orchestrator got exactly that commit" \
  grep -qxF "deploy --flake git+file://$state/repo.git?ref=refs/heads/main&rev=$A --graph $state/fleet.nix --target local --no-magic-rollback" "$tmp/calls"
check "the graph data comes from that commit" grep -qxF "{ nodes = { }; } # a" "$state/fleet.nix"
check "first deploy recorded" test "$(recorded)" = "$A"

expect_exit 0 "a descendant deploys" "$C"
check "descendant recorded" test "$(recorded)" = "$C"

n=$(calls)
log_lines=$(wc -l <"$state/deploy.log")
expect_exit 0 "replay of the deployed commit succeeds" "$C"
check "replay does not run the orchestrator" test "$(calls)" -eq "$n"
check "replay leaves the record" test "$(recorded)" = "$C"
check "replay is logged as unchanged" sh -c "tail -n1 '$state/deploy.log' | grep -q unchanged && test \$(wc -l <'$state/deploy.log') -eq $((log_lines + 1))"

expect_exit 3 "an ancestor of the deployed commit is refused (no rollback by replay)" "$B"
expect_exit 3 "a commit off the branch is refused" "$X"
expect_exit 3 "a commit unknown to the forge is refused" "$D_UNKNOWN"
check "refusals ran nothing and kept the record" sh -c "test $(calls) -eq $n && test $(recorded) = $C"

# A failing deploy is not recorded, so the commit can be retried.
g checkout --quiet main
E=$(commit e)
g push --quiet "$forge" main
touch "$tmp/fail"
expect_exit 1 "a failing orchestrator fails the deploy" "$E"
check "a failed deploy is not recorded" test "$(recorded)" = "$C"
rm "$tmp/fail"

# Concurrency: the first run holds the lock while the stub blocks.
F=$(commit f)
g push --quiet "$forge" main
touch "$tmp/hold"
rm -f "$tmp/started"
"$deploy" "$F" >"$tmp/first.out" 2>&1 &
first=$!
deadline=$((SECONDS + 30))
while [ ! -e "$tmp/started" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
check "first run reached the orchestrator" test -e "$tmp/started"
n=$(calls)
expect_exit 4 "a second run while one deploys is refused" "$E"
expect_exit 4 "even for the same commit" "$F"
check "the second run did not reach the orchestrator" test "$(calls)" -eq "$n"
rm "$tmp/hold"
status=0
wait "$first" || status=$?
check "the first run completes" test "$status" -eq 0
check "and records its commit" test "$(recorded)" = "$F"

# Inputs must be pinned: a commit that has no flake.lock is refused.
n=$(calls)
G=$(commit g unlocked)
g push --quiet "$forge" main
expect_exit 3 "a commit without flake.lock is refused" "$G"
check "the refusal names flake.lock and how to create it" grep -qF "nix flake lock && git add flake.lock" "$tmp/out"
check "nothing ran and the record stays" sh -c "test $(calls) -eq $n && test $(recorded) = $F"
H=$(commit h)
g push --quiet "$forge" main
expect_exit 0 "the next commit with flake.lock deploys" "$H"

summary deploy-script
