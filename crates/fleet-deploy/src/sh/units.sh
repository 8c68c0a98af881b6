# shellcheck shell=sh
# After a host switch: which containers' host-side unit or .conf the switch
# changed. The container units carry `restartIfChanged = false`, so the
# switch left those containers on their old unit; the deployer restarts them
# in graph order. Contents are compared, not store paths: two paths may hold
# the same text, which needs no restart. A container new or gone in the new
# system is started or stopped by the switch itself.
#
# $1 old host system, $2 new host system, then container names; prints one
# changed name a line.
set -u
old=$1 new=$2
shift 2
for name; do
  changed=
  for file in "etc/systemd/system/container@$name.service" "etc/nixos-containers/$name.conf"; do
    if [ -e "$old/$file" ] && [ -e "$new/$file" ] && ! cmp -s "$old/$file" "$new/$file"; then
      changed=1
    fi
  done
  [ -n "$changed" ] && printf '%s\n' "$name"
done
exit 0
