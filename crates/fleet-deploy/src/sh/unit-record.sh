# shellcheck shell=sh
# The record of a container's host-side unit: the sha256 of
# container@NAME.service, its drop-ins (the system's, and those under /run
# that `systemctl edit --runtime` or `set-property --runtime` write) and
# nixos-containers/NAME.conf, each file's name before its text. One
# definition for both sides: mkContainer's postStart (nix/mk-container.nix
# reads this file) writes it to /run/fleet/units/NAME whenever the unit
# starts, from /etc; units.sh compares it with a new host system's.
# $1 NAME, $2 the etc folder to read the unit and .conf from.
unit_record() {
  for file in "$2/systemd/system/container@$1.service" \
    "$2"/systemd/system/container@.service.d/*.conf \
    "$2/systemd/system/container@$1.service.d"/*.conf \
    /run/systemd/system/container@.service.d/*.conf \
    "/run/systemd/system/container@$1.service.d"/*.conf \
    "/run/systemd/system.control/container@$1.service.d"/*.conf \
    "$2/nixos-containers/$1.conf"; do
    if [ -e "$file" ]; then
      printf '%s\n' "${file##*/}"
      grep -v '^ExecReload=' "$file" || true
    fi
  done | sha256sum | cut -d ' ' -f 1
}
