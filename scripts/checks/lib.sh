# Shared by the offline checks: counters, one summary line, a temporary
# folder, and nix set up to work with no binary cache and no nixpkgs. Sourced,
# not run.
# shellcheck shell=bash

# shellcheck disable=SC2034 # read by the checks that source this file
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# $tmp: the check's scratch folder, removed on exit. A check that starts a
# daemon stops it in its own before_exit.
tmp=$(mktemp -d)
before_exit() { :; }
trap 'before_exit; rm -rf "$tmp"' EXIT

# Every nix a check starts reads this file and nothing else: the machine's
# nix.conf may enable the sandbox (which hides /bin/sh from builtins-only
# builders), name a build-users group that does not exist, or list binary
# caches this machine cannot reach.
mkdir "$tmp/nix-conf"
cat >"$tmp/nix-conf/nix.conf" <<'CONF'
experimental-features = nix-command flakes
substituters =
build-users-group =
sandbox = false
CONF
export NIX_CONF_DIR=$tmp/nix-conf NIX_USER_CONF_FILES=$tmp/nix-conf/nix.conf
unset NIX_CONFIG

passed=0
failed=0

pass() {
  passed=$((passed + 1))
  echo "ok    $1"
}

fail() {
  failed=$((failed + 1))
  echo "FAIL  $1${2:+: $2}"
}

# check DESCRIPTION COMMAND...: runs the command, counts the outcome.
check() {
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# summary NAME: the last line every check prints; exits non-zero on failure.
summary() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# nix_cases FILE [ARGS]: evaluates a Nix test file, a function of defaulted
# arguments that returns a list of { name; ok; detail; }, applied to the Nix
# attribute set ARGS (default { }); prints "ok<TAB>name<TAB>detail" per case.
nix_cases() {
  local args=${2:-"{ }"}
  nix eval --json --file "$1" --apply "test: test ($args)" | python3 -c '
import json, sys
for c in json.load(sys.stdin):
    print("true" if c["ok"] else "false", c["name"], c.get("detail", ""), sep="\t")
'
}

# report_nix_cases FILE: counts each case of a Nix test file. Only stdout is
# parsed: nix's warnings go to stderr, which is shown only on failure.
report_nix_cases() {
  local json
  if ! json=$(nix_cases "$1" 2>"$tmp/nix-stderr"); then
    fail "evaluate $1" "$(cat "$tmp/nix-stderr")"
    return
  fi
  while IFS=$'\t' read -r ok name detail; do
    if [ "$ok" = true ]; then pass "$name"; else fail "$name" "$detail"; fi
  done <<<"$json"
}
