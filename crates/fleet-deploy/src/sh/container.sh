# shellcheck shell=sh
# A native NixOS container's switch: reload `container@NODE` (which runs
# `switch-to-configuration test` inside) when it runs, else start it.
# `switch NODE SYSTEM`, `restart NODE SYSTEM` (its host-side unit changed:
# only a new start runs the new unit) or `retire NODE`.
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
  restart) exec systemctl restart "$unit" ;;
  retire) exec systemctl stop "$unit" ;;
  *)
    echo "container.sh: unknown verb $1" >&2
    exit 2
    ;;
esac
