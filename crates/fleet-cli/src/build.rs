//! `build`: build the selected nodes' closures and print their store paths.

use std::collections::BTreeMap;

use fleet_deploy::{Kinds, Mode, Plan};

use crate::exit::CliError;
use crate::format::Format;
use crate::gc_roots::RootsArgs;
use crate::options::Options;
use crate::source::SourceArgs;

/// Runs `build`.
pub(crate) fn run(options: Options) -> Result<(), CliError> {
    let format = Format::of(&options)?;
    let source = SourceArgs::of(&options).resolve()?;
    let roots = RootsArgs::of(&options).dir(&source)?;
    let nix = crate::deploy::nix_with_args(&options.rest);
    let fleet = source.load(&nix)?;
    let kinds = Kinds::standard();
    let plan = Plan::new(&fleet, &kinds, &options.hosts, &options.containers, &source.flake)
        .map_err(crate::deploy::plan_failure)?
        .with_jobs(options.jobs())
        .with_build_logs(options.print_build_logs)
        .with_evaluation(options.evaluation);
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
