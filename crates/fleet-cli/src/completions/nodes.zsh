# The nodes of kind $1 (host, or container for every other kind) and their tags
# as @TAG (kind node: every node's name alone, for --node), from `fleet graph --names` with the --flake and --graph typed so far.
_fleet_nodes() {
    local kind=$1 line i
    local -a source found fields
    for ((i = 1; i < CURRENT; i++)); do
        case $words[i] in
            --flake|--graph) source+=($words[i] $words[i+1]) ;;
            --flake=*|--graph=*) source+=($words[i]) ;;
        esac
    done
    for line in ${(f)"$(fleet graph --names $source 2>/dev/null)"}; do
        fields=(${=line})
        if [[ $kind == node ]]; then
            found+=($fields[1])
        elif [[ $fields[2] == $kind || ( $kind == container && $fields[2] != host ) ]]; then
            found+=($fields[1] ${fields[3,-1]/#/@})
        fi
    done
    compadd -a found
}
