//! The table of the `fleet` commands and the options each takes (each option
//! defined once in `table/options.rs`): the one place that says what the
//! command line accepts. Help, usage lines, shell completions and the manual
//! page are all written from it (`help.rs`, `completions.rs`, `man.rs`), and
//! the parser refuses what it does not list (`args.rs`).

use crate::spec::{CommandSpec, Complete, Rest};

mod options;

use options::*;

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
        options: &[&DOT, &NAMES, &JSON, &VERBOSE, &FLAKE, &GRAPH],
        after_dashes: Rest::Nothing,
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
            &VERBOSE,
            &FLAKE,
            &GRAPH,
        ],
        after_dashes: Rest::Nix,
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
                Goals (--goal), as nixos-rebuild means them: `switch` sets the profile and activates; \
                `boot` sets the profile and runs `switch-to-configuration boot` on the host, while a \
                container's profile is simply what its next start boots (nothing restarts); `test` \
                activates without setting the profile (the host's `switch-to-configuration test`, a \
                running container's `switch-to-configuration test` run inside it with `nixos-container \
                run`; a stopped container is refused), health-checked and confirmed like a switch, and \
                rolled back by activating the old system again; `dry-activate` changes nothing and \
                writes what a switch would do to the job log (/nix/var/fleet/jobs/NODE.log); for a \
                stopped container, what a start would boot. Only `switch` and `test` are confirmed. \
                The `build` goal is the `build` command; to push without activating, use \
                `--goal dry-activate`, which copies the closures and changes nothing else.\n\n\
                Reboots (--reboot, after `switch` or `boot`): once every selected node on a host \
                succeeded, the host is rebooted if it needs it: its profile's system is not running yet, \
                or its kernel, initrd, kernel modules or systemd differ from those it booted \
                (/run/booted-system); --reboot-always reboots it regardless. fleet then waits for SSH \
                (at most --reboot-timeout), checks that the host runs its profile's system and that its \
                deployed containers are up, and reports the host as `rebooted`; a host that does not \
                come back in time fails the deploy. `status` says which hosts need a reboot.\n\n\
                With --ask, the diff of every selected node comes first (as with --dry-run), then one \
                question; anything but `y` changes nothing. Without a terminal --ask is refused unless \
                --yes answers it.\n\n\
                Safety: every activation runs as a job on the target, detached from the SSH session. A \
                failed switch or health check rolls the node back to its previous system; one deploy at \
                a time holds the target's lock; lost connections during lock, probe and copy are retried.",
        options: &[
            &HOST,
            &CONTAINER,
            &NO_CONTAINERS,
            &NODE,
            &GOAL,
            &REBOOT,
            &REBOOT_ALWAYS,
            &REBOOT_TIMEOUT,
            &DRY_RUN,
            &ASK,
            &YES,
            &JSON,
            &JSON_EVENTS,
            &PRINT_BUILD_LOGS,
            &TARGET,
            &SSH_OPTION,
            &SUDO,
            &ASK_SUDO_PASSWORD,
            &JOBS,
            &CONFIRM_TIMEOUT,
            &SWITCH_TIMEOUT,
            &NO_MAGIC_ROLLBACK,
            &NO_CONFIRM,
            &BUILD_ON_TARGET,
            &BUILDERS,
            &SUBSTITUTE,
            &EVAL_WORKERS,
            &EVAL_MEMORY,
            &OUT_LINK,
            &KEEP_RESULT,
            &VERBOSE,
            &FLAKE,
            &GRAPH,
        ],
        after_dashes: Rest::Nix,
        examples: &[
            ("deploy --container nannuo-bot --dry-run", "what a deploy of one container would change"),
            ("deploy --ask", "show every node's diff, then ask before deploying"),
            (
                "deploy --goal boot --host vps-arm",
                "vps-arm and its containers get their new systems at the next boot or start; nothing restarts",
            ),
            ("deploy --node vps-arm --goal boot --reboot", "the host alone, booted into its new system"),
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
            &SUDO,
            &ASK_SUDO_PASSWORD,
            &JOBS,
            &EVAL_WORKERS,
            &EVAL_MEMORY,
            &VERBOSE,
            &FLAKE,
            &GRAPH,
        ],
        after_dashes: Rest::Nix,
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
        summary: "Activate the selected nodes' previous generations (or generation N)",
        operands: "",
        forms: &[],
        about: "Nothing is built. Each node's profile moves to an existing generation, as \
                `nix-env --rollback` and `--switch-generation` do, without making a new one: the \
                generation before the current one, or N with --to. So a second rollback goes one \
                further back, and `--to` with a newer number goes forward again (`status` shows the \
                current number). The system is then activated like a deploy would (health checks, \
                confirmation for the host, and back to where it was if that fails), in dependency \
                order, under the target's deploy lock. A generation that does not exist is an error \
                naming those that do, and nothing changes.\n\n\
                With no --host or --container, every node would roll back: rollback asks first \
                (refused without a terminal unless --yes answers it). --to takes exactly one node, \
                since generation numbers are each profile's own.",
        options: &[
            &HOST,
            &CONTAINER,
            &NO_CONTAINERS,
            &NODE,
            &TO,
            &ROLLBACK_DRY_RUN,
            &LIST_ASK,
            &YES,
            &TARGET,
            &SSH_OPTION,
            &SUDO,
            &ASK_SUDO_PASSWORD,
            &NO_MAGIC_ROLLBACK,
            &NO_CONFIRM,
            &CONFIRM_TIMEOUT,
            &SWITCH_TIMEOUT,
            &JSON,
            &JSON_EVENTS,
            &VERBOSE,
            &FLAKE,
            &GRAPH,
        ],
        after_dashes: Rest::Nothing,
        examples: &[
            ("rollback --container nannuo-bot", "one container back to its previous generation"),
            ("rollback --container nannuo-bot --to 3", "one container to its generation 3"),
            ("rollback --node vps-arm --dry-run", "which generation the host alone would go to"),
        ],
        complete: Complete::Nothing,
    },
    CommandSpec {
        name: "exec",
        summary: "Run a command on each selected node at once (a container's inside it)",
        operands: "",
        forms: &[],
        about: "Runs COMMAND on every selected node in parallel: on a host over SSH, in a container \
                with `nixos-container run NAME -- COMMAND`. Each line of output (stdout and stderr) \
                comes prefixed with its node's name; the summary gives each node's exit status, and the \
                exit status is 1 if any node's command failed. Nothing is built and no lock is taken. \
                --host NAME selects the host and its containers; --node NAME (or --host NAME \
                --no-containers) the host alone.",
        options: &[
            &HOST,
            &CONTAINER,
            &NO_CONTAINERS,
            &NODE,
            &EXEC_DRY_RUN,
            &LIST_ASK,
            &YES,
            &TARGET,
            &SSH_OPTION,
            &SUDO,
            &ASK_SUDO_PASSWORD,
            &VERBOSE,
            &FLAKE,
            &GRAPH,
        ],
        after_dashes: Rest::Command,
        examples: &[
            ("exec -- systemctl --failed", "failed units on every node"),
            ("exec --container 'bgs-*' -- df -h /", "disk use in the bgs containers"),
            ("exec --node vps-arm --ask -- systemctl --failed", "failed units on the host alone, after a yes"),
        ],
        complete: Complete::Nothing,
    },
    CommandSpec {
        name: "status",
        summary: "What each node runs on its host, and whether it matches the last local build",
        operands: "",
        forms: &[],
        about: "Reads the selected nodes' profiles on the target in one SSH round trip: the running \
                system, its generation number and date, and whether it is the system the last build of \
                the flake's current content here produced (nothing is evaluated or built; when no build \
                of the flake as it is now is known here, as for a changed or uncommitted git tree, it \
                says so). --build evaluates and \
                builds first, and compares with that. Changes nothing on the target.",
        options: &[
            &HOST,
            &CONTAINER,
            &NO_CONTAINERS,
            &NODE,
            &STATUS_BUILD,
            &TARGET,
            &SSH_OPTION,
            &SUDO,
            &ASK_SUDO_PASSWORD,
            &JOBS,
            &JSON,
            &JSON_EVENTS,
            &EVAL_WORKERS,
            &EVAL_MEMORY,
            &VERBOSE,
            &FLAKE,
            &GRAPH,
        ],
        after_dashes: Rest::Nix,
        examples: &[
            ("status", "every node, against the last build"),
            ("status --build", "every node, against a fresh build"),
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
        after_dashes: Rest::Nothing,
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
        after_dashes: Rest::Nothing,
        examples: &[("help deploy", "the options of deploy")],
        complete: Complete::Commands,
    },
];

/// The goals `deploy --goal` takes (as [`fleet_deploy::Goal`] names them).
pub(crate) const GOALS: &[&str] = &["switch", "boot", "test", "dry-activate"];

/// The shells `completions` writes for.
pub(crate) const SHELLS: &[&str] = &["bash", "zsh", "fish"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_goals_offered_are_the_pipelines() {
        let names: Vec<&str> = fleet_deploy::Goal::ALL.iter().map(|g| g.name()).collect();
        assert_eq!(GOALS, names);
    }
}
