# shellcheck shell=sh
# Runs a command as root on a target that fleet reaches as another user (or as
# a user it cannot tell is root). It runs as the login user; $1 says how to
# become root and the rest is the command, as arguments (`sh -c SCRIPT ...`).
#   root:     the login user must be root already.
#   sudo:     `sudo -n`: sudo must not ask for a password.
#   password: stdin starts with the sudo password on two lines, then the
#             command's own input. The first line is checked here with a sudo
#             that reads nothing else; the second is read by the sudo that
#             runs the command, which reads exactly one line, byte by byte, and
#             leaves the rest of stdin to the command. The password is only
#             ever in this shell's memory and on stdin: `printf` is a builtin.
# Every refusal names sudo and exits 1, before anything ran as root.
mode=$1
shift
user=$(id -un)
case $mode in
  root)
    if [ "$(id -u)" != 0 ]; then
      echo "fleet: logged in as \`$user\`, not root, and fleet changes the system as root; pass --sudo to run it through sudo (with --ask-sudo-password if sudo asks \`$user\` for a password)" >&2
      exit 1
    fi
    exec "$@"
    ;;
  sudo)
    if ! refused=$(sudo -n -- sh -c : 2>&1 </dev/null); then
      echo "fleet: sudo on this target refused to run as root for \`$user\` without a password ($refused); pass --ask-sudo-password if it needs one, or check the sudoers rules" >&2
      exit 1
    fi
    exec sudo -n -- "$@"
    ;;
  password)
    if ! IFS= read -r password; then
      echo "fleet: no sudo password came on stdin" >&2
      exit 1
    fi
    if sudo -n -k -- sh -c : 2>/dev/null </dev/null; then
      # sudo asks no password here: the second line is not for it.
      IFS= read -r password || :
      unset password
      exec sudo -n -- "$@"
    fi
    if ! refused=$(printf '%s\n' "$password" | sudo -S -k -p '' -- sh -c : 2>&1); then
      unset password
      # sudo's own lines, on one: `no password was provided; 1 incorrect password attempt`.
      refused=$(printf '%s\n' "$refused" |
        awk 'NF && !/^Sorry, try again/ { sub(/^sudo: /, ""); printf "%s%s", sep, $0; sep = "; " }')
      echo "fleet: sudo on this target refused the password given for \`$user\` (sudo: $refused), so nothing ran as root; check the password, and that \`$user\` may use sudo" >&2
      exit 1
    fi
    unset password
    exec sudo -S -k -p '' -- "$@"
    ;;
  *)
    echo "fleet: unknown way to become root \`$mode\`" >&2
    exit 2
    ;;
esac
