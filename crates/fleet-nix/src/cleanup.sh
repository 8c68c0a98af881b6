# shellcheck shell=sh
# Cleans up a run's private folder of SSH control sockets once the deployer is
# gone, however it went (exit, SIGINT, SIGTERM, SIGKILL): it waits for its
# stdin, a pipe from the deployer, to close, then closes every master
# connection in the folder and removes it. $1 the folder.
trap '' INT TERM HUP
cat >/dev/null 2>&1
for socket in "$1"/*; do
  [ -S "$socket" ] && ssh -o ControlPath="$socket" -O exit fleet-cleanup >/dev/null 2>&1
done
rm -rf -- "$1"
