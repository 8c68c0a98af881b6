# The nodes of kind $argv[1] (host, or container for every other kind) and their
# tags as @TAG (kind node: every node's name alone, for --node), from `fleet graph --names` with the --flake and --graph typed so far.
function __fleet_nodes
    set -l kind $argv[1]
    set -l tokens (commandline -opc)
    set -l source
    for i in (seq (count $tokens))
        switch $tokens[$i]
            case --flake --graph
                if test $i -lt (count $tokens)
                    set -a source $tokens[$i] $tokens[(math $i + 1)]
                end
            case '--flake=*' '--graph=*'
                set -a source $tokens[$i]
        end
    end
    $tokens[1] graph --names $source 2>/dev/null | while read -l name node_kind tags
        if test "$kind" = node
            echo $name
        else if test "$node_kind" = "$kind"; or begin; test "$kind" = container; and test "$node_kind" != host; end
            echo $name
            for tag in (string split -n ' ' -- $tags)
                echo @$tag
            end
        end
    end
end
