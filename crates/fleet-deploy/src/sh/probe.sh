# shellcheck shell=sh
# Reads what each node's profile points at, in one round trip (see probe.rs).
state=$1 detail=$2
shift 2
command -v nix-env >/dev/null 2>&1 || { echo "nix is not installed on the target (no nix-env on PATH); install Nix there first" >&2; exit "$EXIT_UNPREPARED"; }
while [ $# -ge 2 ]; do
  name=$1 profile=$2
  shift 2
  current=$(readlink -e -- "$profile" || true)
  pending=
  [ -e "$state/pending/$name" ] && pending=pending
  generation='' previous='' since=''
  link=
  [ "$detail" = full ] && link=$(readlink -- "$profile" || true)
  case $link in
    *-link)
      generation=${link%-link}
      generation=${generation##*-}
      i=$((generation - 1))
      while [ "$i" -gt 0 ]; do
        if [ -e "$profile-$i-link" ]; then previous=$(readlink -e -- "$profile-$i-link" || true); break; fi
        i=$((i - 1))
      done
      ;;
  esac
  [ -n "$generation" ] && since=$(date -u -d "@$(stat -c %Y -- "$profile-$generation-link")" '+%Y-%m-%d %H:%M:%SZ' 2>/dev/null || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$current" "$pending" "$generation" "$previous" "$since"
done
