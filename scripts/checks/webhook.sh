#!/usr/bin/env bash
# The GitOps hook definition (nix/webhook-hook.nix) against the real webhook
# daemon on loopback, started as services.webhook starts it (-template, the
# secret in its environment). The hook command is a stub recording its
# arguments. Only a correctly signed, successful workflow_run of the pinned
# workflow (its path in each form GitHub gives) for a push to main of the
# pinned repository, with a well-formed X-GitHub-Delivery id, runs it, with
# the commit id and the delivery id as its two arguments.
#
# WEBHOOK_HOOKS_FILE may name a pre-rendered hooks file (with the command
# "@EXECUTE_COMMAND@"), for running where nix cannot evaluate (the flake's
# checks); otherwise it is evaluated here.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

daemon=
before_exit() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
}

repo=acme/fleet
secret=$(openssl rand -hex 32)
stub=$tmp/hook-command
cat >"$stub" <<STUB
#!/usr/bin/env bash
echo "STUB-OUTPUT-MUST-NOT-LEAK"
echo "\$*" >>"$tmp/calls"
STUB
chmod +x "$stub"

if [ -n "${WEBHOOK_HOOKS_FILE-}" ]; then
  sed "s|@EXECUTE_COMMAND@|$stub|" "$WEBHOOK_HOOKS_FILE" >"$tmp/hooks.json"
else
  nix eval --raw --file "$repo_root/scripts/checks/webhook-hooks.nix" \
    --apply "f: f { executeCommand = \"$stub\"; repository = \"$repo\"; }" >"$tmp/hooks.json"
fi
check "hooks file holds no secret, only the template action" \
  grep -qF '"secret":"{{ getenv "GITOPS_WEBHOOK_SECRET" | js }}"' "$tmp/hooks.json"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
GITOPS_WEBHOOK_SECRET=$secret webhook -ip 127.0.0.1 -port "$port" -urlprefix hooks \
  -hooks "$tmp/hooks.json" -template -verbose >"$tmp/daemon.log" 2>&1 &
daemon=$!
url=http://127.0.0.1:$port/hooks/deploy

deadline=$((SECONDS + 20))
until curl -s -o /dev/null "http://127.0.0.1:$port/" || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
check "webhook daemon is up and loaded the hook" grep -q "loaded: deploy" "$tmp/daemon.log"

# body FILE [KEY=VALUE...]: a workflow_run delivery, fields overridable.
body() {
  local out=$1
  shift
  python3 - "$repo" "$@" >"$out" <<'PY'
import json, sys
repo = sys.argv[1]
v = dict(action="completed", repo=repo, head_repo=repo, event="push", branch="main",
         path=".github/workflows/ci.yml", conclusion="success",
         sha="0123456789abcdef0123456789abcdef01234567")
v.update(a.split("=", 1) for a in sys.argv[2:])
print(json.dumps({
    "action": v["action"],
    "repository": {"full_name": v["repo"]},
    "workflow_run": {
        "head_sha": v["sha"], "head_branch": v["branch"], "event": v["event"],
        "path": v["path"], "status": "completed", "conclusion": v["conclusion"],
        "head_repository": {"full_name": v["head_repo"]},
    },
}))
PY
}
sign() { echo "sha256=$(openssl dgst -sha256 -hmac "$secret" -r <"$1" | cut -d' ' -f1)"; }

# The X-GitHub-Delivery id of the next post; GitHub sends a lowercase GUID.
delivery=72d3162e-cc78-11e3-81ab-4c9367dc0958
# post BODYFILE SIGNATURE [EVENT] [METHOD]: prints "HTTPCODE SECONDS", body to $tmp/resp.
post() {
  local sig_header=() delivery_header=() event=${3:-workflow_run}
  [ -n "$2" ] && sig_header=(-H "X-Hub-Signature-256: $2")
  [ -n "$delivery" ] && delivery_header=(-H "X-GitHub-Delivery: $delivery")
  curl -s --max-time 10 -o "$tmp/resp" -w '%{http_code} %{time_total}' -X "${4:-POST}" \
    -H "Content-Type: application/json" -H "X-GitHub-Event: $event" "${sig_header[@]}" \
    "${delivery_header[@]}" --data-binary "@$1" "$url"
}
calls() { if [ -e "$tmp/calls" ]; then cat "$tmp/calls"; fi; }

# A rejection is decided before webhook answers, so its answer proves the
# command was not started; the calls file is checked once more at the end.
rejects() {
  local desc=$1 file=$2 sig=$3 event=${4:-workflow_run} method=${5:-POST} res
  res=$(post "$file" "$sig" "$event" "$method" || echo "000 timeout")
  if ! grep -q "deploy requested" "$tmp/resp" 2>/dev/null && [ "${res%% *}" != 000 ]; then
    pass "rejects: $desc"
  else
    fail "rejects: $desc" "answer $res: $(cat "$tmp/resp" 2>/dev/null)"
  fi
}

good=0123456789abcdef0123456789abcdef01234567
body "$tmp/ok.json" sha=$good
res=$(post "$tmp/ok.json" "$(sign "$tmp/ok.json")")
check "signed success for main is accepted with status 200" test "${res%% *}" = 200
check "answer is fast (under 10 s)" python3 -c "import sys; sys.exit(not float('${res##* }') < 10)"
check "answer is the fixed message, no command output" \
  sh -c "grep -qx 'deploy requested' '$tmp/resp' && ! grep -q STUB-OUTPUT '$tmp/resp'"
deadline=$((SECONDS + 10))
until grep -qxF "$good $delivery" "$tmp/calls" 2>/dev/null || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
check "the hook ran with exactly the commit id and the delivery id as its arguments" \
  test "$(calls)" = "$good $delivery"

# GitHub's workflow_run.path comes bare, with the ref, or (its schema's
# example) with the repository and the ref: every form of the pinned workflow
# on the pinned branch deploys.
accepted="$good $delivery"
n=0
for path in ".github/workflows/ci.yml@main" ".github/workflows/ci.yml@refs/heads/main" \
  "$repo/.github/workflows/ci.yml@main" "$repo/.github/workflows/ci.yml"; do
  n=$((n + 1))
  sha=$(printf '%040d' "$n")
  body "$tmp/form.json" sha="$sha" path="$path"
  res=$(post "$tmp/form.json" "$(sign "$tmp/form.json")")
  deadline=$((SECONDS + 10))
  until grep -qxF "$sha $delivery" "$tmp/calls" 2>/dev/null || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
  check "accepts workflow path $path" sh -c "test '${res%% *}' = 200 && grep -qxF '$sha $delivery' '$tmp/calls'"
  accepted=$accepted$'\n'"$sha $delivery"
done

bad=fedcba9876543210fedcba9876543210fedcba98
body "$tmp/b.json" sha=$bad
rejects "wrong signature" "$tmp/b.json" "sha256=$(openssl rand -hex 32)"
rejects "signature with another secret" "$tmp/b.json" \
  "sha256=$(openssl dgst -sha256 -hmac other -r <"$tmp/b.json" | cut -d' ' -f1)"
rejects "missing signature" "$tmp/b.json" ""
rejects "signature of another body" "$tmp/b.json" "$(sign "$tmp/ok.json")"
printf '{"action": "completed", "workflow_run": {' >"$tmp/malformed.json"
rejects "malformed body" "$tmp/malformed.json" "$(sign "$tmp/malformed.json")"
for case in "branch=feature" "repo=mallory/fleet" "head_repo=mallory/fleet" \
  "conclusion=failure" "conclusion=cancelled" "event=pull_request" "action=requested" \
  "path=.github/workflows/other.yml" "path=.github/workflows/other.yml@main" \
  "path=.github/workflows/ci.yml@feature" "path=.github/workflows/ci.yml@refs/heads/feature" \
  "path=mallory/fleet/.github/workflows/ci.yml@main" "path=.github/workflows/ciXyml" \
  "path=x.github/workflows/ci.yml" "path=.github/workflows/ci.yml.bak" \
  "sha=${bad^^}" "sha=${bad:0:12}" "sha=$bad;reboot"; do
  body "$tmp/case.json" sha=$bad "$case"
  rejects "$case" "$tmp/case.json" "$(sign "$tmp/case.json")"
done
for bad_delivery in "" "72D3162E-CC78-11E3-81AB-4C9367DC0958" "72d3162e-cc78-11e3-81ab-4c9367dc095" \
  "72d3162e-cc78-11e3-81ab-4c9367dc0958;reboot" "../../etc/passwd"; do
  delivery=$bad_delivery
  rejects "X-GitHub-Delivery '$bad_delivery'" "$tmp/b.json" "$(sign "$tmp/b.json")"
done
delivery=72d3162e-cc78-11e3-81ab-4c9367dc0958
rejects "another event (check_run)" "$tmp/b.json" "$(sign "$tmp/b.json")" check_run
rejects "GET instead of POST" "$tmp/b.json" "$(sign "$tmp/b.json")" workflow_run GET

check "only the accepted deliveries ever ran the hook" test "$(calls)" = "$accepted"
check "the secret is not in the daemon's log" sh -c "! grep -qF '$secret' '$tmp/daemon.log'"

# The hook's command on the host, scripts/gitops-trigger.sh, with a
# stand-in for the one systemctl call it makes: it starts exactly
# gitops-deploy@COMMIT-DELIVERY.service, and refuses anything else.
mkdir "$tmp/bin"
cat >"$tmp/bin/systemctl" <<STUB
#!/usr/bin/env bash
echo "\$*" >>"$tmp/systemctl-calls"
STUB
chmod +x "$tmp/bin/systemctl"
trigger() { PATH=$tmp/bin:$PATH bash "$repo_root/scripts/gitops-trigger.sh" "$@"; }
refuses() {
  local code=0
  trigger "$@" || code=$?
  [ "$code" -eq 2 ]
}
check "the trigger starts the unit for the commit and the delivery" trigger "$good" "$delivery"
check "with --no-block, as that instance" \
  test "$(cat "$tmp/systemctl-calls")" = "start --no-block gitops-deploy@$good-$delivery.service"
for args in "$good" "$good $delivery extra" "${good^^} $delivery" "$good ${delivery^^}" \
  "$good;x $delivery" "$good $delivery;x" "$good ../$delivery"; do
  # shellcheck disable=SC2086 # split on purpose: each case is an argument list
  check "the trigger refuses: $args" refuses $args
done
check "and started nothing for those" test "$(wc -l <"$tmp/systemctl-calls")" -eq 1

summary webhook
