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
        "deploy [--runs N] [--sizes N,N,...] [--keep-bashrc]",
        "deploy --mixed",
        "deploy --builder",
        "eval [--sizes N,N,...]",
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
  deploy   For each size, start a testbed (a simulated VPS: its own /nix, a real
           sshd on a loopback port) and a fixture fleet of a host and N containers
           (every fifth depends on the one before; all share base packages; each
           container's build sleeps 1 s), then deploy it with three tools:
             fleet deploy   this orchestrator (this binary), --jobs = node count,
                            with its default host confirmation;
             baseline       scripts/bench/sequential-deploy.sh: per node in
                            dependency order nix build, nix copy, activation over
                            ssh, one node after the other, a connection per step;
             lower bound    scripts/bench/lower-bound-deploy.sh: one nix build of
                            every node (--max-jobs = node count), one nix copy, every
                            activation over one ssh connection.
           Scenarios, per tool and run: cold (every node at a new version, so every
           node builds and is pushed), no-op (again, nothing changed), one changed
           (one container at a new version). Prints per size a Markdown table:
           median, min and max wall time, speed-up over the baseline, ratio to the
           lower bound, activations, and the orchestrator's own CPU time (total and
           per node) and peak memory.
           With --mixed, instead: a host and 20 containers whose builds take 1 s
           but one's 20 s (one container depends on that one; three more form a
           chain), deployed with --json-events; per node, when it was built and
           activated against its bound (built, or its dependencies activated,
           whichever is later, plus one copy and activation measured alone), and
           the deploy against the critical path (the longest chain of bounds).
           With --builder, instead: a second testbed serves as a remote builder
           (--builders 'ssh-ng://root@127.0.0.1 SYSTEM KEY 4'); a host and 20
           containers (each build 1 s) at new versions are deployed once built
           here alone and once with the builder; prints the wall times and how
           many systems were built on the builder (read from its store).
  eval     For each size (default: 20,100), a testbed and a fixture of a host and N
           containers whose every node costs about 1 s and 400 MB to evaluate, then:
           one `nix eval` of every node (the orchestrator's evaluation before its pool;
           not run where it would not fit in memory), `build` with the pool at one
           worker and at the default workers with a memory budget (512 MiB each),
           and a no-op deploy of the unchanged content against the no-op deploy of a
           fixture that costs nothing to evaluate. Prints wall times, when the last
           node was evaluated, the peak memory of the nix eval processes together
           (read from /proc every 10 ms), and the ratios derived from them.

Installs nix-bin (and for deploy and eval openssh-server) with apt-get when missing and \
this is Debian as root.",
    options: &[&RUNS, &PATHS, &SIZES, &MIXED, &BUILDER, &KEEP_BASHRC],
    after_dashes: Rest::Nothing,
    examples: &[
        ("bench diff --runs 3", "the closure diff, three timed runs"),
        ("bench deploy --sizes 4", "one size"),
        ("bench deploy --mixed", "pipelining: mixed build times"),
        ("bench deploy --builder", "builds spread over this machine and a builder"),
    ],
    complete: Complete::Words(&["diff", "deploy"]),
};

const RUNS: OptSpec = OptSpec {
    long: "--runs",
    short: None,
    value: Some("N"),
    repeatable: false,
    help: "Timed runs per tool (diff default: 5; deploy default: 3; the deploy baseline runs once at \
           sizes above 20, since one run takes minutes)",
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
    help: "deploy: container counts (default: 4,20,100; each at least 1)",
    complete: Complete::Nothing,
};
const BUILDER: OptSpec = OptSpec {
    long: "--builder",
    short: None,
    value: None,
    repeatable: false,
    help: "deploy: only the remote-builder scenario (see above), no sizes or tools.",
    complete: Complete::Nothing,
};

const MIXED: OptSpec = OptSpec {
    long: "--mixed",
    short: None,
    value: None,
    repeatable: false,
    help: "deploy: only the mixed-build scenario (see above), no sizes or tools.",
    complete: Complete::Nothing,
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
