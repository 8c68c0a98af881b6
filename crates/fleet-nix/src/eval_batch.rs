//! One batch of the evaluation pool (`eval.rs`): a `nix build --dry-run
//! --json` of several installables started, and the derivations it printed,
//! one per installable in their order, read back.

use std::process::{Child, Command, Stdio};

use serde::Deserialize;

use crate::capture::Drain;
use crate::command::{self, CommandError, Failure};
use crate::nix::Nix;

/// A running worker: its batch (the attributes' indices), the process, the
/// threads that read its output while it runs (a worker that writes more
/// than a pipe holds must not wait for the pool) and its peak.
pub(super) struct Worker {
    pub(super) batch: Vec<usize>,
    pub(super) child: Child,
    pub(super) stdout: Drain,
    pub(super) stderr: Drain,
    pub(super) peak: u64,
}

impl Nix {
    /// `nix build --dry-run --json FLAKE#ATTRIBUTE...`, started: it prints
    /// each installable's derivation, in order, and reads it from Nix's
    /// evaluation cache where that has it (`nix eval` would evaluate the
    /// value again). It asks no substituter what it could fetch: that is the
    /// build's business. Beside other workers (`among_others`), its garbage
    /// collector marks on one thread: the workers already use every core,
    /// and parallel marking in each of them only makes them wait for each
    /// other.
    pub(super) fn spawn_batch(
        &self,
        flake: &str,
        attributes: &[&str],
        among_others: bool,
    ) -> Result<Child, CommandError> {
        let mut cmd: Command = self.command(&BATCH_ARGS, &[])?;
        cmd.args(self.eval_args());
        cmd.args(attributes.iter().map(|attribute| installable(flake, attribute)));
        if among_others {
            cmd.env("GC_MARKERS", "1");
        }
        let shown = command::display(&cmd);
        crate::verbose::started(&shown);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CommandError { command: shown, failure: Failure::Spawn(e.to_string()) })
    }

    /// The derivations a finished worker printed, in the order of its
    /// attributes, or its failure.
    pub(super) fn finish_batch(
        &self,
        flake: &str,
        attributes: &[&str],
        mut worker: Worker,
    ) -> Result<Vec<String>, CommandError> {
        let installables: Vec<String> = attributes.iter().map(|a| installable(flake, a)).collect();
        let shown = format!("nix {} {}", BATCH_ARGS.join(" "), installables.join(" "));
        let status = worker.child.wait();
        let (stdout, stderr) = (worker.stdout.finish(), worker.stderr.finish());
        let status = status
            .map_err(|e| CommandError { command: shown.clone(), failure: Failure::Spawn(e.to_string()) })?;
        if !status.success() {
            return Err(CommandError {
                command: shown,
                failure: Failure::Exit {
                    code: status.code(),
                    stderr_tail: command::tail(&stderr.tail_text()),
                },
            });
        }
        parse_dry_run(&String::from_utf8_lossy(&stdout.bytes), attributes.len())
            .map_err(|reason| CommandError { command: shown, failure: Failure::Output(reason) })
    }
}

/// The arguments of one batch's `nix` before its installables.
const BATCH_ARGS: [&str; 6] = ["build", "--dry-run", "--json", "--option", "substitute", "false"];

/// The derivations in `nix build --dry-run --json`'s output, one per
/// installable, in their order (a `drvPath` each: a string on 2.8 and 2.18).
fn parse_dry_run(stdout: &str, expected: usize) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Built {
        #[serde(rename = "drvPath")]
        drv_path: String,
    }
    let built: Vec<Built> = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("unexpected output (not a list of derivations): {e}"))?;
    if built.len() != expected {
        return Err(format!("{} derivations for {expected} attributes", built.len()));
    }
    built
        .into_iter()
        .map(|b| match b.drv_path.starts_with("/nix/store/") && b.drv_path.ends_with(".drv") {
            true => Ok(b.drv_path),
            false => Err(format!("`{}` is not a derivation", b.drv_path.escape_debug())),
        })
        .collect()
}

/// `FLAKE#ATTRIBUTE`, each attribute component quoted.
fn installable(flake: &str, attribute: &str) -> String {
    let path: Vec<String> = attribute.split('.').map(|part| format!("\"{part}\"")).collect();
    format!("{flake}#{}", path.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installables_quote_every_component() {
        assert_eq!(
            installable("path:/f", "nixosConfigurations.vps-arm.config.system.build.toplevel"),
            "path:/f#\"nixosConfigurations\".\"vps-arm\".\"config\".\"system\".\"build\".\"toplevel\""
        );
    }

    /// `nix build --dry-run --json` of two installables, recorded from Nix
    /// 2.8.0: a `drvPath` per installable, in their order.
    const DRY_RUN_2_8: &str = r#"[{"drvPath":"/nix/store/iym6nrqf1vlv56vv79fi6h60cr2nw4wp-n0.drv","outputs":{"out":"/nix/store/gvhxasl8rk1lp8phbz8wqcrpsimrixq4-n0"}},{"drvPath":"/nix/store/j7wck8xism3rp9wwwmf7arzhfbgyl72f-n1.drv","outputs":{"out":"/nix/store/f5f0lf412br4f73n4wppbrmwq99jzh8x-n1"}}]"#;

    #[test]
    fn a_dry_run_gives_each_installables_derivation_in_order() {
        let drvs = parse_dry_run(DRY_RUN_2_8, 2).unwrap();
        assert_eq!(
            drvs,
            [
                "/nix/store/iym6nrqf1vlv56vv79fi6h60cr2nw4wp-n0.drv",
                "/nix/store/j7wck8xism3rp9wwwmf7arzhfbgyl72f-n1.drv"
            ]
        );
        // 2.18 and later write `outputs` as a list of names.
        let newer = r#"[{"drvPath":"/nix/store/a-x.drv","outputs":["out"]}]"#;
        assert_eq!(parse_dry_run(newer, 1).unwrap(), ["/nix/store/a-x.drv"]);
        assert!(parse_dry_run(DRY_RUN_2_8, 3).unwrap_err().contains("2 derivations for 3"));
        let not_drv = r#"[{"drvPath":"/etc/passwd"}]"#;
        assert!(parse_dry_run(not_drv, 1).unwrap_err().contains("is not a derivation"));
    }
}
