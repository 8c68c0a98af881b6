# shellcheck shell=sh
# A host's reboot, in three verbs (reboot.rs runs them and parses what they
# print; every value is checked there, since a container's root can write
# below /nix/var/nix/profiles/per-container but not these links):
# `state`: one `KEY VALUE` line each for the system the profile boots next,
# the one running, the one booted, the parts of the booted and the next
# system a reboot changes (kernel, initrd, kernel-modules, systemd), and
# whether a reboot asked for by `start` is still pending; VALUE is a store
# path or `-`.
# `start`: marks /run (a tmpfs: the mark is gone once the host booted again)
# and asks systemd to reboot; the SSH session may drop before it returns.
# `containers NAME...`: `NAME active` or `NAME inactive` for each container
# unit.
set -u
pending=/run/fleet-reboot-pending
# The store path a link resolves to, or `-`.
resolved() {
  target=$(readlink -e "$1" 2>/dev/null) || target=
  case $target in
    /nix/store/*) printf '%s\n' "$target" ;;
    *) printf '%s\n' - ;;
  esac
}
case $1 in
  state)
    next=$(resolved /nix/var/nix/profiles/system)
    booted=$(resolved /run/booted-system)
    printf 'next %s\ncurrent %s\nbooted %s\n' "$next" "$(resolved /run/current-system)" "$booted"
    for part in kernel initrd kernel-modules systemd; do
      printf 'booted-%s %s\n' "$part" "$(resolved "$booted/$part")"
      printf 'next-%s %s\n' "$part" "$(resolved "$next/$part")"
    done
    if [ -e "$pending" ]; then echo "pending yes"; else echo "pending no"; fi
    ;;
  start)
    : >"$pending" || exit "$EXIT_FAILED"
    exec systemctl reboot
    ;;
  containers)
    shift
    for name in "$@"; do
      if systemctl is-active --quiet "container@$name"; then
        echo "$name active"
      else
        echo "$name inactive"
      fi
    done
    ;;
  *)
    echo "reboot.sh: unknown verb $1" >&2
    exit "$EXIT_USAGE"
    ;;
esac
