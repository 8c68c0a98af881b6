# shellcheck shell=sh
# `fleet exec`: says `running` first (the deployer gives up a session that
# says nothing within its answer limit), then runs its arguments as one
# command, an argument vector (never shell text), with its stderr on its
# stdout (so that the deployer prefixes both, in order) and nothing on its
# stdin. Its exit status is the command's.
echo running
exec "$@" </dev/null 2>&1
