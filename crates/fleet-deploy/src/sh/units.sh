# shellcheck shell=sh
# After a host switch: which running containers' host-side unit differs from
# the one they started with. The container units carry `restartIfChanged =
# false`, so a switch leaves them on their old unit; the deployer restarts
# them in graph order. What a container started with is the record its unit's
# postStart wrote (unit_record, unit-record.sh), so a switch made without the
# deployer (`nh os switch`, `nixos-rebuild switch --rollback`), after which
# the old and the new system are the same, and drop-ins under /run count.
# A container without a record (stopped, or started before the unit wrote
# one) is compared between the old and the new system, by content: two paths
# may hold the same text, which needs no restart. A container new or gone in
# the new system is started or stopped by the switch itself.
#
# $1 old host system, $2 new host system, then container names; prints one
# changed name a line.
set -u
old=$1 new=$2
shift 2
# Per container, no program is started where none is needed (a no-op deploy
# runs this for every container of an unchanged host): the record is read by
# the shell, and an old system that is the new one has nothing to compare.
for name; do
  unit=etc/systemd/system/container@$name.service
  [ -e "$new/$unit" ] || continue
  changed='' record=''
  if [ -e "/run/fleet/units/$name" ]; then
    { read -r record || :; } <"/run/fleet/units/$name" 2>/dev/null || record=
  fi
  if [ -n "$record" ] && systemctl is-active --quiet "container@$name"; then
    [ "$record" = "$(unit_record "$name" "$new/etc")" ] || changed=1
  elif [ "$old" != "$new" ]; then
    for file in "$unit" "etc/nixos-containers/$name.conf"; do
      if [ -e "$old/$file" ] && [ -e "$new/$file" ] && ! cmp -s "$old/$file" "$new/$file"; then
        changed=1
      fi
    done
  fi
  [ -n "$changed" ] && printf '%s\n' "$name"
done
exit 0
