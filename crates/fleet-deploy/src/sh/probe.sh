# shellcheck shell=sh
# Reads what each node's profile points at, in one round trip (see probe.rs).
#
# $1 state dir, $2 `full` or `brief`; stdin: one `NAME PROFILE` line per node,
# then EOF. A container's root owns its profile folder, so every link read here
# is hostile text: it is never evaluated (no arithmetic, no eval), only matched
# against fixed patterns, and what fails them is printed hex-encoded, for the
# deployer to name. Prints per node one line of tab-separated fields:
#   node NAME CURRENT PENDING GENERATION SINCE GENERATIONS
# CURRENT: the store path the profile resolves to, empty when there is none,
# or !HEX for something else. GENERATION: the current generation's number,
# empty when the profile is not a generation link, or !HEX for a link named
# otherwise. SINCE: when that generation was made, epoch seconds. GENERATIONS
# (full only): `NUMBER:PATH` words, and `!HEX` for a link that is no
# generation. Ends with `end COUNT`.
set -u
unset CDPATH
state=$1 detail=$2
command -v nix-env >/dev/null 2>&1 || { echo "nix is not installed on the target (no nix-env on PATH); install Nix there first" >&2; exit "$EXIT_REFUSED"; }
# More generations than this are refused: listing them must stay bounded.
max_generations=10000

# `!` and the bytes of $1 as hex digits.
bad() { printf '!' && printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# Sets `field` to $1 if it looks like a store path (/nix/store/NAME with only
# the characters Nix allows in store path names; the deployer checks the hash
# part and the length), to nothing for nothing, else to !HEX.
path_field() {
  field=$1
  case $1 in
    '') ;;
    /nix/store/*/* | /nix/store/.*) field=$(bad "$1") ;;
    /nix/store/?*)
      case ${1#/nix/store/} in
        *[!A-Za-z0-9+._?=-]*) field=$(bad "$1") ;;
      esac
      ;;
    *) field=$(bad "$1") ;;
  esac
}

# What $1 resolves to, without starting a program when it is a directory (a
# system is one): `cd -P` follows every link.
resolve() {
  resolved=
  if cd -P -- "$1" 2>/dev/null; then
    resolved=$PWD
    cd / || exit "$EXIT_FAILED"
  elif [ -e "$1" ]; then
    resolved=$(readlink -e -- "$1") || resolved=
  fi
}

# Whether $1 is a generation number: 1 to 9 digits.
is_generation() {
  case $1 in
    '' | *[!0-9]* | ??????????*) return 1 ;;
  esac
}

count=0
while IFS=' ' read -r name profile; do
  count=$((count + 1))
  resolve "$profile"
  path_field "$resolved"
  current=$field
  pending=
  [ -e "$state/pending/$name" ] && pending=pending
  generation='' since='' all=''
  if [ "$detail" = full ]; then
    base=${profile##*/}
    link=$(readlink -- "$profile" 2>/dev/null) || link=
    case $link in
      '' | /*) ;;
      "$base"-*-link)
        n=${link#"$base"-}
        n=${n%-link}
        if is_generation "$n"; then
          generation=$n
          since=$(stat -c %Y -- "$profile-$n-link" 2>/dev/null) || since=
          case $since in '' | *[!0-9]*) since= ;; esac
        else
          generation=$(bad "$link")
        fi
        ;;
    esac
    seen=0
    for l in "$profile"-*-link; do
      [ -L "$l" ] || continue
      seen=$((seen + 1))
      if [ "$seen" -gt "$max_generations" ]; then
        all="$all $(bad "more than $max_generations generation links")"
        break
      fi
      n=${l#"$profile"-}
      n=${n%-link}
      if is_generation "$n"; then
        resolve "$l"
        path_field "$resolved"
        all="$all $n:$field"
      else
        all="$all $(bad "${l##*/}")"
      fi
    done
  fi
  printf 'node\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$current" "$pending" "$generation" "$since" "${all# }"
done
printf 'end %s\n' "$count"
