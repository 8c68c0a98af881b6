//! The table of the developer tasks, in fleet-cli's table format: `cargo
//! xtask`'s help, usage lines and argument checks are written from it, as
//! `fleet`'s are from `crates/fleet-cli/src/table.rs`.

use fleet_cli::{CommandSpec, Complete, OptSpec, Rest};

/// Every developer task, in the order help lists them.
pub(crate) static TASKS: &[CommandSpec] = &[DEMO, BENCH, MAN];

/// `demo`'s entry in the command table.
pub(crate) const DEMO: CommandSpec = CommandSpec {
    name: "demo",
    summary: "Deploy an example fleet to a simulated VPS on this machine, twice",
    operands: "",
    forms: &[],
    about: "Starts a testbed (its own /nix in a private mount namespace, a real sshd on a loopback \
            port), deploys the fleet, then changes one container, shows what a deploy would change \
            (a dry run with closure diffs), and deploys again: only that container is pushed and \
            activated. Installs nix-bin and openssh-server with apt-get when they are missing and \
            this is Debian as root; otherwise says what to install.\n\n\
            With --keep the simulated VPS goes on running after the demo, and the demo prints the \
            --flake, --target and --ssh-option to try status, diff, deploy and rollback against it; \
            `demo --stop` stops it and removes its folder.",
    options: &[&KEEP, &STOP, &DIR],
    after_dashes: Rest::Nothing,
    examples: &[
        ("demo --keep", "the demo, leaving its simulated VPS running"),
        ("demo --stop", "stop the VPS that `demo --keep` left running"),
    ],
    complete: Complete::Nothing,
};

const KEEP: OptSpec = OptSpec {
    long: "--keep",
    short: None,
    value: None,
    repeatable: false,
    help: "Leave the simulated VPS running, with its folder (the target's /nix, logs, keys), and \
           print how to use it",
    complete: Complete::Nothing,
};
const STOP: OptSpec = OptSpec {
    long: "--stop",
    short: None,
    value: None,
    repeatable: false,
    help: "Stop the simulated VPS that `demo --keep` left running and remove its folder",
    complete: Complete::Nothing,
};
const DIR: OptSpec = OptSpec {
    long: "--dir",
    short: None,
    value: Some("DIR"),
    repeatable: false,
    help: "The demo's folder (default: fleet-demo in the temporary folder with --keep and --stop, \
           else a new one that is removed afterwards)",
    complete: Complete::Dir,
};

/// `bench`'s entry in the command table.
pub(crate) const BENCH: CommandSpec = CommandSpec {
    name: "bench",
    summary: "Benchmarks: `bench diff` times the closure diff, `bench deploy` the deploy",
    operands: "BENCHMARK",
    forms: &[
        "diff [--runs N] [--paths N]",
        "deploy [--runs N] [--sizes N,N,...] [--hosts N] [--eval-heavy] [--committed] [--mixed] \
         [--jobs N] [--keep-bashrc] [--plot FILE]",
    ],
    about: "\
Benchmarks:
  diff     Build two closures of N store paths each (realistic names and versions,
           builtins derivations, no nixpkgs; the new one bumps about 10% of the
           packages, adds 2% and removes 2%), then time on that pair
           `fleet diff OLD NEW` (reading both closures, from the Nix database or with
           `nix path-info`, the diff and its text, as `cargo xtask diff OLD NEW`
           runs them) against
           `nix store diff-closures OLD NEW`: one warm-up run each, then N timed
           runs each, alternating. Prints a Markdown table: median, min and max per
           tool, the ratio of the medians, the path counts and the machine.
  deploy   For each size, start --hosts testbeds (simulated VPSs: each its own /nix
           and a real sshd on a loopback port) and a fixture fleet (a git
           repository) of those hosts with N containers each (every fifth depends
           on the one before; all share base packages; each container's build
           sleeps 1 s), deploy it once untimed, then time two tools:
             fleet deploy   this orchestrator (this binary) with its defaults
                            (and --jobs N if given);
             lower bound    scripts/bench/lower-bound-deploy.sh: one nix build of
                            every node (--max-jobs = node count), then per host,
                            all hosts at once, one nix copy and every activation
                            over one ssh session.
           Scenarios, per tool and run: cold (every node at a new version, so every
           node builds and is pushed), no-op (again, nothing changed), one changed
           (one container at a new version). While each deploy runs, the targets'
           activation logs are watched: when each host's last activation came.
           Prints a Markdown table (median wall time of each tool, their ratio,
           activations, the orchestrator's own CPU time and peak memory, and the
           first and last host done), the cost per added container (least squares
           over the sizes) and writes the growth plot, an SVG of wall time against
           containers for both tools (--plot, default deploy-growth.svg).

Installs nix-bin (and for deploy openssh-server) with apt-get when missing and \
this is Debian as root.",
    options: &[&RUNS, &PATHS, &SIZES, &HOSTS, &EVAL_HEAVY, &COMMITTED, &MIXED, &JOBS, &KEEP_BASHRC, &PLOT],
    after_dashes: Rest::Nothing,
    examples: &[
        ("bench diff --runs 3", "the closure diff, three timed runs"),
        ("bench deploy --sizes 20,100,300,1000", "one host, four sizes"),
        ("bench deploy --hosts 10 --sizes 30", "ten hosts of 30 containers each"),
        ("bench deploy --sizes 20 --eval-heavy --committed", "costly evaluations, a clean tree"),
        ("bench deploy --sizes 20 --mixed", "one build of 20 s among builds of 1 s"),
    ],
    complete: Complete::Words(&["diff", "deploy"]),
};

const RUNS: OptSpec = OptSpec {
    long: "--runs",
    short: None,
    value: Some("N"),
    repeatable: false,
    help: "Timed runs per tool and scenario (diff default: 5; deploy default: 1)",
    complete: Complete::Nothing,
};
const PATHS: OptSpec = OptSpec {
    long: "--paths",
    short: None,
    value: Some("N"),
    repeatable: false,
    help: "diff: store paths per closure (default: 2000, at least 20)",
    complete: Complete::Nothing,
};
const SIZES: OptSpec = OptSpec {
    long: "--sizes",
    short: None,
    value: Some("N,..."),
    repeatable: false,
    help: "deploy: containers per host (default: 20,100; each at least 1)",
    complete: Complete::Nothing,
};
const HOSTS: OptSpec = OptSpec {
    long: "--hosts",
    short: None,
    value: Some("N"),
    repeatable: false,
    help: "deploy: testbed hosts, each its own sshd and store (default: 1)",
    complete: Complete::Nothing,
};
const EVAL_HEAVY: OptSpec = OptSpec {
    long: "--eval-heavy",
    short: None,
    value: None,
    repeatable: false,
    help: "deploy: every node costs about 0.5 s and 200 MB to evaluate from scratch, as a NixOS \
           system does",
    complete: Complete::Nothing,
};
const COMMITTED: OptSpec = OptSpec {
    long: "--committed",
    short: None,
    value: None,
    repeatable: false,
    help: "deploy: commit every change before a deploy (a clean tree); by default the fixture's \
           git tree has uncommitted changes, as while someone edits it",
    complete: Complete::Nothing,
};
const MIXED: OptSpec = OptSpec {
    long: "--mixed",
    short: None,
    value: None,
    repeatable: false,
    help: "deploy: the first host's first container builds in 20 s, every other in 1 s; the \
           table adds when the nodes it does not hold back were done",
    complete: Complete::Nothing,
};
const JOBS: OptSpec = OptSpec {
    long: "--jobs",
    short: None,
    value: Some("N"),
    repeatable: false,
    help: "deploy: passed to `fleet deploy --jobs` (default: fleet's own default)",
    complete: Complete::Nothing,
};
const PLOT: OptSpec = OptSpec {
    long: "--plot",
    short: None,
    value: Some("FILE"),
    repeatable: false,
    help: "deploy: where the growth plot (SVG) goes (default: deploy-growth.svg)",
    complete: Complete::File,
};

const KEEP_BASHRC: OptSpec = OptSpec {
    long: "--keep-bashrc",
    short: None,
    value: None,
    repeatable: false,
    help: "deploy: let the target's SSH sessions run root's ~/.bashrc, as bash does for commands \
           started by sshd. By default the testbed's sessions skip it (SHLVL=1): a development \
           machine's ~/.bashrc (pyenv, say) can cost more per session than the deploy's own work, \
           which is not what a VPS's root shell costs.",
    complete: Complete::Nothing,
};

/// `man`'s entry in the command table.
pub(crate) const MAN: CommandSpec = CommandSpec {
    name: "man",
    summary: "Write the manual page fleet(1) to crates/fleet-cli/fleet.1, from the command table",
    operands: "",
    forms: &[],
    about: "Run it after changing a command or an option; a tidy test fails while the file is stale. \
            Read it with `man crates/fleet-cli/fleet.1`.",
    options: &[],
    after_dashes: Rest::Nothing,
    examples: &[("man", "write crates/fleet-cli/fleet.1")],
    complete: Complete::Nothing,
};
