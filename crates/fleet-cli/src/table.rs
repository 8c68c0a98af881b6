//! The table of the `fleet` commands and their options: the one place that
//! says what the command line accepts. Help, usage lines, shell completions
//! and the manual page are all written from it (`help.rs`, `completions.rs`,
//! `man.rs`), and the parser refuses what it does not list (`args.rs`).

use crate::spec::{CommandSpec, Complete, OptSpec};

const fn opt(long: &'static str, value: Option<&'static str>, help: &'static str) -> OptSpec {
    OptSpec { long, value, repeatable: false, help, complete: Complete::Nothing }
}

const fn many(long: &'static str, value: &'static str, help: &'static str) -> OptSpec {
    OptSpec { long, value: Some(value), repeatable: true, help, complete: Complete::Nothing }
}

/// `--host`: hosts by name, `@tag` or glob.
pub(crate) static HOST: OptSpec = OptSpec {
    complete: Complete::Nodes("host"),
    ..many(
        "--host",
        "NAME",
        "Only this host and its containers: a name, `@TAG` or a glob such as 'vps-*' \
         (repeatable; default: every host)",
    )
};
/// `--container`: containers by name, `@tag` or glob.
pub(crate) static CONTAINER: OptSpec = OptSpec {
    complete: Complete::Nodes("container"),
    ..many(
        "--container",
        "NAME",
        "Only this container: a name, `@TAG` or a glob such as 'bgs-*' \
         (repeatable; default: the host and every container)",
    )
};
static JOBS: OptSpec = opt("--jobs", Some("N"), "Builds and activations to run at once (default: 8)");
static TARGET: OptSpec = opt(
    "--target",
    Some("TARGET"),
    "USER@HOST[:PORT], or `local` for this machine (default: the host's `target` in the graph data)",
);
static SSH_OPTION: OptSpec = many(
    "--ssh-option",
    "OPT",
    "Extra ssh arguments, e.g. \"-i ~/.ssh/deploy\" (repeatable; also used by nix)",
);
/// `--flake`: the flake to build from.
pub(crate) static FLAKE: OptSpec = OptSpec {
    long: "--flake",
    value: Some("REF"),
    repeatable: false,
    help: "Flake to build from (default: the nearest folder upwards with flake.nix and nix/fleet.nix)",
    complete: Complete::Dir,
};
static GRAPH: OptSpec = OptSpec {
    long: "--graph",
    value: Some("FILE"),
    repeatable: false,
    help: "Graph data file (default: nix/fleet.nix inside a local --flake)",
    complete: Complete::File,
};
static DRY_RUN: OptSpec = opt(
    "--dry-run",
    None,
    "Build and show each node's closure diff against what the target runs; change nothing",
);
static JSON: OptSpec = opt(
    "--json",
    None,
    "Print one JSON document instead of text (its schema: README, \"Machine-readable output\")",
);
static JSON_EVENTS: OptSpec = opt(
    "--json-events",
    None,
    "Print every event as a JSON line as it happens, then the result as a last line, for CI \
     (README, \"Machine-readable output\")",
);
static PRINT_BUILD_LOGS: OptSpec = opt(
    "--print-build-logs",
    None,
    "Show the builders' output, each line after its derivation's name (like `nix build -L`)",
);
static EVAL_WORKERS: OptSpec = opt(
    "--eval-workers",
    Some("N"),
    "Nodes to evaluate at once, each in its own nix process (default: the number of cores)",
);
static EVAL_MEMORY: OptSpec = opt(
    "--eval-memory",
    Some("SIZE"),
    "Memory all evaluating nix processes may hold together, e.g. 4G or 1500M; a worker past its \
     share is replaced before the next node (default: no limit)",
);
static CONFIRM_TIMEOUT: OptSpec = opt(
    "--confirm-timeout",
    Some("SECS"),
    "How long the host waits for this deployer to confirm its switch over a new SSH connection \
     before rolling back by itself (default: 30)",
);
static NO_CONFIRM: OptSpec =
    opt("--no-confirm", None, "Keep the host's switch without confirmation (always so with --target local)");
static BUILD_ON_TARGET: OptSpec = opt(
    "--build-on-target",
    None,
    "Build each closure on its host, like `nixos-rebuild --build-host`: evaluate here, copy the \
     derivations there, build there; nothing is pushed afterwards",
);
static BUILDERS: OptSpec = opt(
    "--builders",
    Some("SPEC"),
    "Passed to nix: build on these machines (Nix's distributed builds, see `man nix.conf`, \
     option builders), e.g. \"ssh://builder aarch64-linux\"",
);
static SUBSTITUTE: OptSpec = opt(
    "--substitute-on-destination",
    None,
    "Let the target fetch what it can from its own binary caches during the copy",
);
static OUT_LINK: OptSpec = OptSpec {
    long: "--out-link",
    value: Some("DIR"),
    repeatable: false,
    help: "Keep what was built: DIR/NODE becomes a garbage-collector root pointing at the node's \
           system (like `nix build --out-link`)",
    complete: Complete::Dir,
};
static KEEP_RESULT: OptSpec = opt(
    "--keep-result",
    None,
    "Keep what was built as garbage-collector roots in .gcroots/NODE next to the flake's \
     flake.nix (like colmena's --keep-result; --out-link DIR chooses the folder)",
);
static DOT: OptSpec =
    opt("--dot", None, "Print Graphviz dot instead (edges point from a dependency to its dependent)");
static NAMES: OptSpec = opt(
    "--names",
    None,
    "Print one line per node, `NAME KIND TAG...`, in the order the graph data declares them \
     (for scripts; shell completion reads it)",
);

/// Every `fleet` command, in the order help lists them.
// The option lists of build, deploy and diff repeat each other in part: each is
// in its command's help order, and a static slice cannot be spliced into another.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "graph",
        summary: "Print the nodes in activation order with their dependencies (--dot for Graphviz)",
        operands: "",
        forms: &[],
        about: "",
        options: &[&DOT, &NAMES, &JSON, &FLAKE, &GRAPH],
        nix_args: false,
        examples: &[
            ("graph", "the activation order"),
            ("graph --dot | dot -Tsvg > fleet.svg", "a picture of the graph"),
        ],
        complete: Complete::Nothing,
    },
    CommandSpec {
        name: "build",
        summary: "Build the selected nodes' system closures in parallel",
        operands: "",
        forms: &[],
        about: "Builds with `nix build` and prints `NODE STORE-PATH` on stdout for every node built; \
                progress goes to stderr.",
        options: &[
            &HOST,
            &CONTAINER,
            &JOBS,
            &JSON,
            &JSON_EVENTS,
            &PRINT_BUILD_LOGS,
            &EVAL_WORKERS,
            &EVAL_MEMORY,
            &OUT_LINK,
            &KEEP_RESULT,
            &FLAKE,
            &GRAPH,
        ],
        nix_args: true,
        examples: &[
            ("build --container nannuo-bot", "build one container"),
            (
                "build --out-link gcroots -- --keep-going",
                "build everything, keep roots, pass --keep-going to nix",
            ),
        ],
        complete: Complete::Nothing,
    },
    CommandSpec {
        name: "deploy",
        summary:
            "Build, push and activate the selected nodes on their host (--dry-run: show what would change)",
        operands: "",
        forms: &[],
        about: "A node whose new system equals the one its host runs is neither pushed nor activated. \
                A node is activated only after every node it depends on succeeded; the dependents of a \
                failed node are skipped. The host runs `switch-to-configuration switch` in a transient \
                unit; a container gets its per-container profile set and `container@NAME` reloaded \
                (or started).\n\n\
                Safety: every activation runs as a job on the target, detached from the SSH session. A \
                failed switch or health check rolls the node back to its previous system; one deploy at \
                a time holds the target's lock; lost connections during lock, probe and copy are retried.",
        options: &[
            &HOST,
            &CONTAINER,
            &DRY_RUN,
            &JSON,
            &JSON_EVENTS,
            &PRINT_BUILD_LOGS,
            &TARGET,
            &SSH_OPTION,
            &JOBS,
            &CONFIRM_TIMEOUT,
            &NO_CONFIRM,
            &BUILD_ON_TARGET,
            &BUILDERS,
            &SUBSTITUTE,
            &EVAL_WORKERS,
            &EVAL_MEMORY,
            &OUT_LINK,
            &KEEP_RESULT,
            &FLAKE,
            &GRAPH,
        ],
        nix_args: true,
        examples: &[
            ("deploy --container nannuo-bot --dry-run", "what a deploy of one container would change"),
            (
                "deploy --host @prod -- --show-trace",
                "the hosts tagged prod and their containers, with nix's --show-trace",
            ),
        ],
        complete: Complete::Nothing,
    },
    CommandSpec {
        name: "diff",
        summary: "Closure diffs per node against the target, or of two local closures",
        operands: "",
        forms: &["OLD NEW [--json]"],
        about: "The first form builds the selected nodes and reads each one's current closure on the \
                target over SSH, copying nothing and changing nothing (the same as `deploy --dry-run`). \
                The second diffs two local store paths or profile links, like nvd or \
                `nix store diff-closures`.\n\n\
                Per package: version changes (up, down, changed), added, removed, size deltas; then \
                path counts and closure sizes, old -> new.",
        options: &[
            &JSON,
            &HOST,
            &CONTAINER,
            &TARGET,
            &SSH_OPTION,
            &JOBS,
            &EVAL_WORKERS,
            &EVAL_MEMORY,
            &FLAKE,
            &GRAPH,
        ],
        nix_args: true,
        examples: &[
            ("diff --container 'bgs-*'", "what a deploy would change in the bgs containers"),
            (
                "diff /nix/var/nix/profiles/system-41-link /nix/var/nix/profiles/system-42-link",
                "two local generations",
            ),
        ],
        complete: Complete::File,
    },
    CommandSpec {
        name: "rollback",
        summary: "Activate the selected nodes' previous generations",
        operands: "",
        forms: &[],
        about: "Nothing is built. For each node, the generation before the profile's current one \
                becomes a new generation and is activated like a deploy would (health checks, \
                confirmation for the host, rollback if that fails too), in dependency order, under the \
                target's deploy lock.",
        options: &[
            &HOST,
            &CONTAINER,
            &TARGET,
            &SSH_OPTION,
            &NO_CONFIRM,
            &CONFIRM_TIMEOUT,
            &JSON,
            &JSON_EVENTS,
            &FLAKE,
            &GRAPH,
        ],
        nix_args: false,
        examples: &[("rollback --container nannuo-bot", "one container back to its previous generation")],
        complete: Complete::Nothing,
    },
    CommandSpec {
        name: "status",
        summary: "What each node runs on its host, and whether it matches the local build",
        operands: "",
        forms: &[],
        about: "Builds the selected nodes (a no-op when nothing changed) and reads their profiles on \
                the target in one SSH round trip: the running system, its generation number and date, \
                and whether it is the system the build produced. Changes nothing on the target.",
        options: &[
            &HOST,
            &CONTAINER,
            &TARGET,
            &SSH_OPTION,
            &JOBS,
            &JSON,
            &JSON_EVENTS,
            &EVAL_WORKERS,
            &EVAL_MEMORY,
            &FLAKE,
            &GRAPH,
        ],
        nix_args: true,
        examples: &[
            ("status", "every node"),
            ("status --container @web --container 'test-*'", "the containers tagged web, and test-*"),
        ],
        complete: Complete::Nothing,
    },
    CommandSpec {
        name: "completions",
        summary: "Print the shell completion script for bash, zsh or fish",
        operands: "SHELL",
        forms: &[],
        about: "Writes a completion script for the `fleet` command on stdout, from the same table as \
                this help. SHELL is bash, zsh or fish.",
        options: &[],
        nix_args: false,
        examples: &[
            ("completions bash > ~/.local/share/bash-completion/completions/fleet", "bash"),
            ("completions fish > ~/.config/fish/completions/fleet.fish", "fish"),
        ],
        complete: Complete::Words(SHELLS),
    },
    CommandSpec {
        name: "help",
        summary: "Print this help, or a command's help",
        operands: "[COMMAND]",
        forms: &[],
        about: "",
        options: &[],
        nix_args: false,
        examples: &[("help deploy", "the options of deploy")],
        complete: Complete::Commands,
    },
];

/// The shells `completions` writes for.
pub(crate) const SHELLS: &[&str] = &["bash", "zsh", "fish"];
