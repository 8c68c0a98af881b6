# shellcheck shell=sh
# A NixOS host's switch, as `nixos-rebuild --target-host` does it: inside a
# transient unit, so the switch finishes even if the SSH connection drops.
# `switch NODE SYSTEM` or `retire NODE` (a host is never stopped).
set -u
case $1 in
  switch)
    exec systemd-run --collect --no-ask-password --pipe --quiet --service-type=exec \
      --unit="fleet-switch-$2-$(date +%s)-$$" "$3/bin/switch-to-configuration" switch
    ;;
  retire) exit 0 ;;
  *)
    echo "host.sh: unknown verb $1" >&2
    exit 2
    ;;
esac
