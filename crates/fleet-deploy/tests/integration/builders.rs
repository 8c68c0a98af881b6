//! Nix's remote builders, for real: a second testbed serves as the builder
//! (`--builders ssh-ng://...`), the build runs in its store, and the result
//! comes back here and is deployed to the target.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use common::Recorder;
use fleet_deploy::{Kinds, Mode, Plan};
use fleet_nix::Target;
use fleet_testbed::{container_profile, Testbed};

#[test]
fn a_build_on_a_remote_builder_is_copied_back_and_deployed() {
    let bed = common::Bed::new("remote_builder");
    let builder = Testbed::start(&bed.testbed.dir().with_file_name("builder")).unwrap();
    let mut fixture = bed.fixture.clone();
    // A version no earlier run built: its system must be built now, somewhere.
    let unique = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    fixture.set_version("test-container", &format!("remote-{unique}")).unwrap();
    let system = fixture.system_path("test-container").unwrap();

    let key = builder.dir().join("ssh/id_ed25519");
    let platform = format!("{}-linux", std::env::consts::ARCH);
    // ssh-ng store URIs take no port; nix hands NIX_SSHOPTS to every ssh it runs.
    let port = builder.address().rsplit_once(':').unwrap().1.to_string();
    let ssh_opts =
        format!("-p {port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR");
    let nix = Testbed::nix().with_env("NIX_SSHOPTS", &ssh_opts).with_build_args([
        "--builders".to_string(),
        format!("ssh-ng://root@127.0.0.1 {platform} {key} 4"),
        // No local builds: everything that is built, is built there.
        "--max-jobs".to_string(),
        "0".to_string(),
    ]);

    let fleet = bed.fleet();
    let kinds = Kinds::standard();
    let plan = Plan::new(&fleet, &kinds, &[], &["test-container".to_string()], &fixture.flake_ref())
        .unwrap()
        .with_confirm_timeout(Some(Duration::from_secs(30)));
    let targets: BTreeMap<String, Target> =
        plan.targets(Some(&bed.testbed.target())).unwrap().into_iter().collect();
    let summary = plan.run(&nix, Mode::Deploy, &targets, &Recorder::default());
    assert!(summary.success(), "{summary:#?}");

    assert!(builder.store_paths().contains(&system), "{system} was not built in the builder's store");
    assert!(std::path::Path::new(&system).exists(), "{system} did not come back to the local store");
    assert_eq!(bed.testbed.profile(&container_profile("test-container")), Some(system));
}
