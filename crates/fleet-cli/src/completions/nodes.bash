# The nodes of kind $1 (host, or container for every other kind) and their tags
# as @TAG (kind node: every node's name alone, for --node), from `fleet graph --names` with the --flake and --graph typed so far.
_fleet_nodes() {
    local kind=$1 i name node_kind tags tag
    local -a source=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --flake | --graph) source+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}") ;;
            --flake=* | --graph=*) source+=("${COMP_WORDS[i]}") ;;
        esac
    done
    "${COMP_WORDS[0]}" graph --names "${source[@]}" 2>/dev/null |
        while read -r name node_kind tags; do
            if [[ $kind == node ]]; then
                printf '%s\n' "$name"
            elif [[ $node_kind == "$kind" || ($kind == container && $node_kind != host) ]]; then
                printf '%s\n' "$name"
                for tag in $tags; do printf '@%s\n' "$tag"; done
            fi
        done | LC_ALL=C sort -u
}
