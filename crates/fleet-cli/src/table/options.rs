//! The options of the `fleet` commands, each defined once: the command table
//! (`table.rs`) lists which command takes which.

use super::GOALS;
use crate::spec::{Complete, OptSpec};

const fn opt(long: &'static str, value: Option<&'static str>, help: &'static str) -> OptSpec {
    OptSpec { long, short: None, value, repeatable: false, help, complete: Complete::Nothing }
}

const fn many(long: &'static str, value: &'static str, help: &'static str) -> OptSpec {
    OptSpec { long, short: None, value: Some(value), repeatable: true, help, complete: Complete::Nothing }
}

/// `--host`: hosts by name, `@tag` or glob.
pub(super) static HOST: OptSpec = OptSpec {
    complete: Complete::Nodes("host"),
    ..many(
        "--host",
        "NAME",
        "Only this host and its containers: a name, `@TAG` or a glob such as 'vps-*' \
         (repeatable; default: every host)",
    )
};
/// `--container`: containers by name, `@tag` or glob.
pub(super) static CONTAINER: OptSpec = OptSpec {
    complete: Complete::Nodes("container"),
    ..many(
        "--container",
        "NAME",
        "Only this container: a name, `@TAG` or a glob such as 'bgs-*' \
         (repeatable; default: the host and every container)",
    )
};
/// `--node`: exactly one node by its name.
pub(super) static NODE: OptSpec = OptSpec {
    complete: Complete::Nodes("node"),
    ..opt(
        "--node",
        Some("NAME"),
        "Only this one node, host or container, by its name (a host without its containers; \
         instead of --host, --container and --no-containers)",
    )
};
pub(super) static VERBOSE: OptSpec = OptSpec {
    short: Some('v'),
    ..opt(
        "--verbose",
        None,
        "Show every command as it starts (nix, ssh, and the scripts run on targets, escaped), and name \
         a target's scripts by their `sh -c` invocation in errors",
    )
};
pub(super) static JOBS: OptSpec = OptSpec {
    short: Some('j'),
    ..opt(
        "--jobs",
        Some("N"),
        "Builds to run at once (default: every node's), and activations per host (default: 8)",
    )
};
pub(super) static TARGET: OptSpec = opt(
    "--target",
    Some("TARGET"),
    "USER@HOST[:PORT], or `local` for this machine (default: the host's `target` in the graph data)",
);
pub(super) static SSH_OPTION: OptSpec = many(
    "--ssh-option",
    "OPT",
    "Extra ssh arguments, e.g. \"-i ~/.ssh/deploy\" (repeatable; also used by nix)",
);
pub(super) static SUDO: OptSpec = opt(
    "--sudo",
    None,
    "Run everything fleet does on the target through sudo, for an SSH user that is not root \
     (sudo must not ask for a password; see --ask-sudo-password)",
);
pub(super) static ASK_SUDO_PASSWORD: OptSpec = opt(
    "--ask-sudo-password",
    None,
    "Like --sudo, with the sudo password asked once, on the terminal without echo (without a \
     terminal, the first line of stdin); it reaches sudo on its stdin only",
);
/// `--flake`: the flake to build from.
pub(super) static FLAKE: OptSpec = OptSpec {
    long: "--flake",
    short: None,
    value: Some("REF"),
    repeatable: false,
    help: "Flake to build from (default: the nearest folder upwards with flake.nix and nix/fleet.nix)",
    complete: Complete::Dir,
};
pub(super) static GRAPH: OptSpec = OptSpec {
    long: "--graph",
    short: None,
    value: Some("FILE"),
    repeatable: false,
    help: "Graph data file (default: nix/fleet.nix inside a local --flake)",
    complete: Complete::File,
};
pub(super) static ROLLBACK_DRY_RUN: OptSpec = OptSpec {
    short: Some('n'),
    ..opt("--dry-run", None, "Print which nodes would roll back and to which generation; change nothing")
};
pub(super) static EXEC_DRY_RUN: OptSpec = OptSpec {
    short: Some('n'),
    ..opt("--dry-run", None, "Print the nodes the command would run on; run nothing")
};
pub(super) static DRY_RUN: OptSpec = OptSpec {
    short: Some('n'),
    ..opt(
        "--dry-run",
        None,
        "Build and show each node's closure diff against what the target runs; change nothing",
    )
};
pub(super) static JSON: OptSpec = opt(
    "--json",
    None,
    "Print one JSON document instead of text (its schema: README, \"Machine-readable output\")",
);
pub(super) static JSON_EVENTS: OptSpec = opt(
    "--json-events",
    None,
    "Print every event as a JSON line as it happens, then the result as a last line, for CI \
     (README, \"Machine-readable output\")",
);
pub(super) static PRINT_BUILD_LOGS: OptSpec = OptSpec {
    short: Some('L'),
    ..opt(
        "--print-build-logs",
        None,
        "Show the builders' output, each line after its derivation's name (like `nix build -L`)",
    )
};
pub(super) static EVAL_WORKERS: OptSpec = opt(
    "--eval-workers",
    Some("N"),
    "Evaluating nix processes to run at once, each taking a batch of nodes (default: the number \
     of cores)",
);
pub(super) static EVAL_MEMORY: OptSpec = opt(
    "--eval-memory",
    Some("SIZE"),
    "Memory all evaluating nix processes may hold together, e.g. 4G or 1500M; a worker takes the \
     nodes its share holds and is replaced before the next batch (default: no limit, 1G a batch)",
);
pub(super) static CONFIRM_TIMEOUT: OptSpec = opt(
    "--confirm-timeout",
    Some("SECS"),
    "How long the host waits for this deployer to confirm its switch over a new SSH connection \
     before rolling back by itself (default: 30)",
);
pub(super) static NO_MAGIC_ROLLBACK: OptSpec = opt(
    "--no-magic-rollback",
    None,
    "Keep the host's switch even when this deployer cannot confirm it over a new SSH connection \
     afterwards: no automatic rollback of a switch that cut SSH off (always so with --target local)",
);
pub(super) static NO_CONFIRM: OptSpec = opt(
    "--no-confirm",
    None,
    "Old name of --no-magic-rollback: still works, with a warning; will be removed",
);
pub(super) static NO_CONTAINERS: OptSpec = opt(
    "--no-containers",
    None,
    "Only the selected hosts themselves, none of their containers (e.g. --host vps-arm --no-containers)",
);
pub(super) static SWITCH_TIMEOUT: OptSpec = opt(
    "--switch-timeout",
    Some("SECS"),
    "How long one node's switch may run on the target before it is stopped and the node rolled \
     back (default: 240)",
);
pub(super) static BUILD_ON_TARGET: OptSpec = opt(
    "--build-on-target",
    None,
    "Build each closure on its host, like `nixos-rebuild --build-host`: evaluate here, copy the \
     derivations there, build there; nothing is pushed afterwards",
);
pub(super) static BUILDERS: OptSpec = opt(
    "--builders",
    Some("SPEC"),
    "Passed to nix: build on these machines (Nix's distributed builds, see `man nix.conf`, \
     option builders), e.g. \"ssh://builder aarch64-linux\"",
);
pub(super) static SUBSTITUTE: OptSpec = opt(
    "--substitute-on-destination",
    None,
    "Let the target fetch what it can from its own binary caches during the copy",
);
pub(super) static OUT_LINK: OptSpec = OptSpec {
    long: "--out-link",
    short: None,
    value: Some("DIR"),
    repeatable: false,
    help: "Keep what was built: DIR/NODE becomes a garbage-collector root pointing at the node's \
           system (like `nix build --out-link`)",
    complete: Complete::Dir,
};
pub(super) static KEEP_RESULT: OptSpec = opt(
    "--keep-result",
    None,
    "Keep what was built as garbage-collector roots in .gcroots/NODE next to the flake's \
     flake.nix (like colmena's --keep-result; --out-link DIR chooses the folder)",
);
pub(super) static GOAL: OptSpec = OptSpec {
    complete: Complete::Words(GOALS),
    ..opt(
        "--goal",
        Some("GOAL"),
        "switch (default), boot, test or dry-activate, as nixos-rebuild means them (see above)",
    )
};
pub(super) static REBOOT: OptSpec = opt(
    "--reboot",
    None,
    "After the deploy, reboot each host that needs it (its kernel, initrd, kernel modules or systemd \
     differ from the booted ones, or --goal boot left its new system to run), wait for it, and check it \
     runs its new system with its containers up (see above)",
);
pub(super) static REBOOT_ALWAYS: OptSpec =
    opt("--reboot-always", None, "Like --reboot, but reboot every deployed host, needed or not");
pub(super) static REBOOT_TIMEOUT: OptSpec = opt(
    "--reboot-timeout",
    Some("SECS"),
    "How long a rebooted host may take to answer over SSH again before its deploy counts as failed \
     (default: 600)",
);
pub(super) static ASK: OptSpec = opt(
    "--ask",
    None,
    "Show every selected node's diff first, then ask once on the terminal before changing anything",
);
pub(super) static LIST_ASK: OptSpec =
    opt("--ask", None, "Print what --dry-run prints, then ask once on the terminal before doing anything");
pub(super) static YES: OptSpec = opt(
    "--yes",
    None,
    "Answer yes instead of asking (--ask, or a rollback of every node); needed without a terminal",
);
pub(super) static TO: OptSpec = opt(
    "--to",
    Some("N"),
    "Move the selected node's profile to its generation N instead of the one before the current \
     (exactly one node: generation numbers are each profile's own)",
);
pub(super) static STATUS_BUILD: OptSpec = opt(
    "--build",
    None,
    "Evaluate and build the selected nodes first, and compare with that (default: with the last \
     build of the flake's current content here, evaluating and building nothing)",
);
pub(super) static DOT: OptSpec =
    opt("--dot", None, "Print Graphviz dot instead (edges point from a dependency to its dependent)");
pub(super) static NAMES: OptSpec = opt(
    "--names",
    None,
    "Print one line per node, `NAME KIND TAG...`, in the order the graph data declares them \
     (for scripts; shell completion reads it)",
);
