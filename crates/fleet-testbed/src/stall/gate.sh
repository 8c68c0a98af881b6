# shellcheck shell=sh
# The testbed's gate (stall.rs), which sshd runs for every session instead of
# its command (`ForceCommand`): a session whose command holds the text in the
# file $1 is accepted and then says nothing, as a wedged target does; every
# other runs its command as sshd would have.
text=$(cat "$1" 2>/dev/null) || text=
if [ -n "$text" ]; then
  case ${SSH_ORIGINAL_COMMAND:-} in
    *"$text"*) exec sleep 600 ;;
  esac
fi
exec /bin/sh -c "${SSH_ORIGINAL_COMMAND:-exec /bin/sh -l}"
