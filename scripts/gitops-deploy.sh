#!/usr/bin/env bash
# gitops-deploy COMMIT: bring this host and its containers to COMMIT.
#
# Run as root by gitops-deploy@COMMIT.service (nix/gitops.nix), which the
# webhook starts after GitHub reported a successful CI run for COMMIT on the
# branch. The webhook's word is not trusted beyond the commit id: this script
# fetches the branch from the forge itself and deploys only a commit that is
# on it and descends from the last deployed one, so a replayed or forged
# delivery can at most repeat a deploy, never roll back. The deploy itself is
# the orchestrator's (`fleet deploy`), the same code path as a workstation
# deploy; nothing here knows the activation order.
#
# Environment:
#   GITOPS_REPO_URL     where to fetch from (required), e.g. https://github.com/OWNER/REPO.git
#   GITOPS_BRANCH       the deployed branch (default: main)
#   GITOPS_STATE_DIR    lock, mirror, record and log (default: /var/lib/gitops-deploy)
#   GITOPS_ALLOWED_SIGNERS  if set, an ssh allowed-signers file: the commit must
#                       carry a good signature by one of them
#   FLEET_BIN           the orchestrator (default: fleet)
#
# Exit codes: 0 deployed, or already deployed (replay); 1 the deploy failed;
# 2 usage or configuration error (malformed commit id); 3 refused (commit not
# on the branch, not a descendant of the last deployed one, bad signature, no
# flake.lock); 4 busy (another deploy holds the lock).
set -euo pipefail

readonly EXIT_FAILED=1 EXIT_USAGE=2 EXIT_REFUSED=3 EXIT_BUSY=4

log() { echo "gitops-deploy: $*" >&2; }

commit=${1-}
if [ $# -ne 1 ] || ! [[ $commit =~ ^[0-9a-f]{40}$ ]]; then
  log "usage: gitops-deploy COMMIT (40 lowercase hex digits); got: ${*:-nothing}"
  exit "$EXIT_USAGE"
fi
if [ -z "${GITOPS_REPO_URL-}" ]; then
  log "GITOPS_REPO_URL is not set"
  exit "$EXIT_USAGE"
fi

branch=${GITOPS_BRANCH:-main}
state=${GITOPS_STATE_DIR:-/var/lib/gitops-deploy}
fleet=${FLEET_BIN:-fleet}
mirror=$state/repo.git
record=$state/last-deployed

# The outcome of every run, one line each, next to the record.
note() { printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$1" >>"$state/deploy.log"; }

mkdir -p "$state"

# One deploy at a time. A second trigger while one runs is refused, not
# queued: the next successful CI run (or a redelivery) carries the newer commit.
exec 9>"$state/lock"
if ! flock --nonblock 9; then
  log "another deploy is running; refusing $commit"
  note "refused: busy"
  exit "$EXIT_BUSY"
fi

last=$(cat "$record" 2>/dev/null || true)
if [ "$commit" = "$last" ]; then
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
  exit "$EXIT_FAILED"
fi

refuse() {
  log "refusing $commit: $1"
  note "refused: $1"
  exit "$EXIT_REFUSED"
}

git cat-file -e "$commit^{commit}" 2>/dev/null || refuse "unknown to the forge"
git merge-base --is-ancestor "$commit" "refs/heads/$branch" || refuse "not on $branch"
if [ -n "$last" ] && ! git merge-base --is-ancestor "$last" "$commit"; then
  refuse "not a descendant of the last deployed commit $last"
fi
if [ -n "${GITOPS_ALLOWED_SIGNERS-}" ]; then
  git -c gpg.ssh.allowedSignersFile="$GITOPS_ALLOWED_SIGNERS" verify-commit "$commit" \
    || refuse "no good signature by an allowed signer"
fi

# CI built this commit with its flake.lock; without one, nix here would
# resolve every input afresh and build what CI never built.
git cat-file -e "$commit:flake.lock" 2>/dev/null \
  || refuse "no flake.lock in $commit (run: nix flake lock && git add flake.lock)"

# Exactly this commit, from the mirror just verified, with Nix's own git
# fetcher (so the flake sees the same tree and its rev).
flake="git+file://$mirror?ref=refs/heads/$branch&rev=$commit"
# The mirror is bare, so the graph data comes out of that same commit.
graph=$state/fleet.nix
git show "$commit:nix/fleet.nix" >"$graph" || refuse "no nix/fleet.nix in $commit"
log "deploying $commit (previous: ${last:-none})"
if "$fleet" deploy --flake "$flake" --graph "$graph" --target local --no-magic-rollback; then
  printf '%s\n' "$commit" >"$record.tmp"
  mv "$record.tmp" "$record"
  note "deployed"
  log "deployed $commit"
else
  status=$?
  note "failed: fleet exited $status"
  log "fleet exited $status; $commit is not recorded, a later trigger may retry it"
  exit "$EXIT_FAILED"
fi
