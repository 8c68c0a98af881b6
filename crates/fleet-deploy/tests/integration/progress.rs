//! nix's own build progress, per node, while the build runs: the derivation
//! a node's build is on and its done/expected counts, read from `--log-format
//! internal-json` and mapped to the nodes whose closures need it.

use crate::common;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use common::Bed;
use fleet_deploy::{Event, Mode, Sink};

/// One `Building` report: done, expected, the derivation, and whether the
/// node's system was in the store already when it came.
type Report = (usize, usize, Option<String>, bool);

/// What a run reported about building `node`, checking at each report that
/// its system is not in the store yet.
struct BuildWatch {
    node: &'static str,
    system: String,
    building: Mutex<Vec<Report>>,
    built: Mutex<Vec<String>>,
}

impl Sink for BuildWatch {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Building { node, done, expected, derivation } if node == self.node => {
                let exists = Path::new(&self.system).exists();
                self.building.lock().unwrap().push((done, expected, derivation.map(String::from), exists));
            }
            Event::DerivationBuilt { derivation, nodes } if nodes.contains(&self.node) => {
                self.built.lock().unwrap().push(derivation.to_string());
            }
            _ => {}
        }
    }
}

#[test]
fn a_slow_build_shows_its_derivation_and_counts_before_it_ends() {
    let mut bed = Bed::new("progress_slow_build");
    // A version no earlier run built, or there would be nothing to build.
    let unique = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    bed.fixture.set_version("nannuo-bot", &format!("slow-{unique}")).unwrap();
    bed.fixture.set_build_seconds("nannuo-bot", 2).unwrap();
    let system = bed.fixture.system_path("nannuo-bot").unwrap();
    let name = system.split_once('-').unwrap().1.to_string();
    let watch = BuildWatch {
        node: "nannuo-bot",
        system: system.clone(),
        building: Mutex::new(Vec::new()),
        built: Mutex::new(Vec::new()),
    };
    let summary = bed.run(Mode::Deploy, &[], &bed.testbed.target(), Some(Duration::from_secs(30)), &watch);
    assert!(summary.success(), "{summary:?}");

    let building = watch.building.into_inner().unwrap();
    let on_it = building
        .iter()
        .find(|(_, _, derivation, _)| derivation.as_deref() == Some(name.as_str()))
        .unwrap_or_else(|| panic!("no report names {name}: {building:?}"));
    let (done, expected, _, system_built) = on_it;
    assert!(!system_built, "the report came after the build: {building:?}");
    assert!(done < expected, "{building:?}");
    let (last_done, last_expected, _, _) = building.last().unwrap();
    assert_eq!(last_done, last_expected, "{building:?}");
    assert_eq!(watch.built.into_inner().unwrap().last(), Some(&name));
    assert!(Path::new(&system).exists());
}
