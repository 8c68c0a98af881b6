//! `build`: build the selected nodes' closures and print their store paths.

use std::collections::BTreeMap;

use fleet_deploy::{Kinds, Mode, Plan};

use crate::args::Args;
use crate::exit::CliError;
use crate::format::{take_evaluation, Format};
use crate::gc_roots::RootsArgs;
use crate::source::SourceArgs;

/// Runs `build`.
pub(crate) fn run(mut args: Args) -> Result<(), CliError> {
    let hosts = args.values("--host")?;
    let containers = args.values("--container")?;
    let jobs = jobs(&mut args)?;
    let source = SourceArgs::take(&mut args)?;
    let roots = RootsArgs::take(&mut args)?;
    let format = Format::take(&mut args)?;
    let build_logs = args.flag("--print-build-logs");
    let evaluation = take_evaluation(&mut args)?;
    let nix_args = args.nix_args();
    args.finish()?;
    let source = source.resolve()?;
    let roots = roots.dir(&source)?;
    let nix = crate::deploy::nix_with_args(&nix_args);
    let fleet = source.load(&nix)?;
    let kinds = Kinds::standard();
    let plan = Plan::new(&fleet, &kinds, &hosts, &containers, &source.flake)
        .map_err(crate::deploy::plan_failure)?
        .with_jobs(jobs)
        .with_build_logs(build_logs)
        .with_evaluation(evaluation);
    let reporter = format.reporter();
    let summary = plan.run(&nix, Mode::Build, &BTreeMap::new(), reporter.sink());
    if let Some(dir) = roots {
        crate::gc_roots::keep(&nix, &dir, &summary)?;
    }
    let paths = || -> String {
        summary
            .nodes
            .iter()
            .filter_map(|report| Some(format!("{} {}\n", report.node, report.new.as_ref()?)))
            .collect()
    };
    let printed = crate::output::print(&reporter.finish("build", &summary, paths));
    if summary.success() {
        printed
    } else {
        if format == Format::Text {
            eprint!("\n{}", fleet_report::summary_table(&summary));
        }
        Err(CliError::NodesFailed)
    }
}

/// Reads `--jobs N` (default 8).
pub(crate) fn jobs(args: &mut Args) -> Result<usize, CliError> {
    match args.value("--jobs")? {
        None => Ok(8),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(CliError::Usage(format!("--jobs takes a positive number, not `{text}`"))),
        },
    }
}
