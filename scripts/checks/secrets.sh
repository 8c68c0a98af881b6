#!/usr/bin/env bash
# No private key and no unencrypted secret is tracked by git (or about to be:
# untracked files that are not ignored count too): no file holds a
# PEM/OpenSSH private key block or an age secret key, and every secrets/*.yaml
# (or .json/.env/.ini) carries sops metadata. The scanner is first run on a
# throwaway repository that does hold such files, so a blind scanner fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Patterns written so that this file does not match them itself.
key_block='-----BEGIN [A-Z ]*PRIVATE KEY-----'
age_key='AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}'

# scan REPO: prints one line per offending tracked file.
scan() {
  local repo=$1 file
  while IFS= read -r -d '' file; do
    [ -f "$repo/$file" ] || continue
    if grep -qE -e "$key_block" -e "$age_key" "$repo/$file"; then
      echo "$file: private key material"
    fi
    case $file in
      secrets/*.yaml | secrets/*.yml | secrets/*.json | secrets/*.env | secrets/*.ini)
        grep -qE '(^sops:|"sops":|^sops_)' "$repo/$file" || echo "$file: not encrypted by sops"
        ;;
    esac
  done < <(git -C "$repo" ls-files -z --cached --others --exclude-standard)
}

git init --quiet "$tmp/bad"
mkdir -p "$tmp/bad/secrets" "$tmp/bad/keys"
printf -- '-----BEGIN OPENSSH %s KEY-----\nb3BlbnNzaA==\n' PRIVATE >"$tmp/bad/keys/host"
printf 'AGE-SECRET-KEY-1%s\n' "$(printf 'Q%.0s' $(seq 58))" >"$tmp/bad/keys/age.txt"
printf 'discord-token: plain\n' >"$tmp/bad/secrets/bot.yaml"
printf 'token: ENC[AES256_GCM,data:x]\nsops:\n    age: []\n' >"$tmp/bad/secrets/ok.yaml"
git -C "$tmp/bad" add -A
found=$(scan "$tmp/bad")
check "scanner finds an OpenSSH private key" grep -q '^keys/host: private key' <<<"$found"
check "scanner finds an age secret key" grep -q '^keys/age.txt: private key' <<<"$found"
check "scanner finds an unencrypted secrets file" grep -q '^secrets/bot.yaml: not encrypted' <<<"$found"
check "scanner accepts a sops-encrypted file" test "$(grep -c '^secrets/ok.yaml' <<<"$found")" -eq 0

found=$(scan "$repo_root")
if [ -z "$found" ]; then
  pass "no private key or unencrypted secret among the tracked and unignored files"
else
  while IFS= read -r line; do fail "tracked: $line"; done <<<"$found"
fi
check "secrets-init/ is ignored by git" git -C "$repo_root" check-ignore -q secrets-init/keys/persistent/etc/ssh/ssh_host_ed25519_key

summary secrets
