# shellcheck shell=bash disable=SC2034
# The arguments both benchmark deploys take, FLAKE USER@HOST:PORT SSH_OPTIONS
# HOST-NODE [CONTAINER-NODE...], read into the names they share: flake,
# destination, port, ssh_args (and NIX_SSHOPTS for nix copy), nix_flags,
# host_node and nodes (SC2034: the caller uses them). Sourced with the
# caller's name as $1 and its arguments after it.
me=$1
shift
if [ $# -lt 4 ]; then
  echo "usage: $me FLAKE USER@HOST:PORT SSH_OPTIONS HOST-NODE [CONTAINER-NODE...]" >&2
  exit 2
fi
flake=$1
target=$2
ssh_options=$3
shift 3
host_node=$1
nodes=("$@")

destination=${target%:*}
port=${target##*:}
if [ "$port" = "$target" ]; then port=22; fi
# Word splitting of the options string is intended: it holds several arguments.
# shellcheck disable=SC2206
ssh_args=(-p "$port" -o BatchMode=yes -o ControlMaster=no -o ControlPath=none $ssh_options)
export NIX_SSHOPTS="${ssh_args[*]}"
nix_flags=(--extra-experimental-features 'nix-command flakes')
