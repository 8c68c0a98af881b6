# shellcheck shell=sh
# Reads what each node's profile points at, in one round trip (see probe.rs).
state=$1 detail=$2
shift 2
command -v nix-env >/dev/null 2>&1 || { echo "nix is not installed on the target (no nix-env on PATH); install Nix there first" >&2; exit "$EXIT_REFUSED"; }
while [ $# -ge 2 ]; do
  name=$1 profile=$2
  shift 2
  current=$(readlink -e -- "$profile" || true)
  pending=
  [ -e "$state/pending/$name" ] && pending=pending
  generation='' previous='' previous_generation='' since='' all=''
  link=
  [ "$detail" = full ] && link=$(readlink -- "$profile" || true)
  case $link in
    *-link)
      generation=${link%-link}
      generation=${generation##*-}
      i=$((generation - 1))
      while [ "$i" -gt 0 ]; do
        if [ -e "$profile-$i-link" ]; then
          previous=$(readlink -e -- "$profile-$i-link" || true) previous_generation=$i
          break
        fi
        i=$((i - 1))
      done
      ;;
  esac
  # Every generation, as NUMBER:SYSTEM words, for `rollback --to`.
  if [ -n "$generation" ]; then
    for l in "$profile"-*-link; do
      n=${l%-link}
      n=${n##*-}
      case $n in '' | *[!0-9]*) continue ;; esac
      all="$all${all:+ }$n:$(readlink -e -- "$l" || true)"
    done
  fi
  [ -n "$generation" ] && since=$(date -u -d "@$(stat -c %Y -- "$profile-$generation-link")" '+%Y-%m-%d %H:%M:%SZ' 2>/dev/null || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$current" "$pending" "$generation" "$previous" "$since" "$previous_generation" "$all"
done
