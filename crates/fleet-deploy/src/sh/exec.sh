# shellcheck shell=sh
# `fleet exec`: runs its arguments as one command, an argument vector (never
# shell text), with its stderr on its stdout (so that the deployer prefixes
# both, in order) and nothing on its stdin. Its exit status is the command's.
exec "$@" </dev/null 2>&1
