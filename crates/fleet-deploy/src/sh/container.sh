# shellcheck shell=sh
# A native NixOS container's switch: reload `container@NODE` (which runs
# `switch-to-configuration test` inside) when it runs, else start it.
# `switch NODE SYSTEM` or `retire NODE`.
set -u
unit=container@$2
case $1 in
  switch)
    if systemctl is-active --quiet "$unit"; then
      exec systemctl reload "$unit"
    else
      exec systemctl start "$unit"
    fi
    ;;
  retire) exec systemctl stop "$unit" ;;
  *)
    echo "container.sh: unknown verb $1" >&2
    exit 2
    ;;
esac
