//! The standard fixture on a testbed of its own, in a folder per test: what
//! the pipeline's and the command line's tests start from, and where the
//! host and container kinds keep a node's profile.

use camino::{Utf8Path, Utf8PathBuf};

use crate::{Fixture, Testbed, TestbedError, FIXTURE_CONTAINERS, FIXTURE_HOST, SUDO_USER};

/// The host's system profile on a target.
pub const HOST_PROFILE: &str = "/nix/var/nix/profiles/system";

/// Container `name`'s system profile on its host.
pub fn container_profile(name: &str) -> String {
    format!("/nix/var/nix/profiles/per-container/{name}/system")
}

/// The profile of the standard fixture's `node` on the target.
pub fn fixture_profile(node: &str) -> String {
    if node == FIXTURE_HOST {
        HOST_PROFILE.to_string()
    } else {
        container_profile(node)
    }
}

/// The standard fixture's nodes: its host, then its containers.
pub fn fixture_nodes() -> Vec<&'static str> {
    std::iter::once(FIXTURE_HOST).chain(FIXTURE_CONTAINERS.iter().map(|(name, _)| *name)).collect()
}

/// A testbed and the standard fixture deployed to it, every node at a
/// version of its test's own, so that its store paths are its own too.
pub struct Bed {
    /// The simulated VPS.
    pub testbed: Testbed,
    /// The fixture flake.
    pub fixture: Fixture,
    /// The test's folder: the target in `target`, the flake in `flake`.
    pub dir: Utf8PathBuf,
}

impl Bed {
    /// Starts a target in `dir/target` with `start` (e.g.
    /// [`Testbed::start`], [`Testbed::start_systemd`]) and writes the
    /// fixture to `dir/flake`, its host reached as the target's sudo user if
    /// it has one, else as root, and every node at version `1-{test}`.
    pub fn start(
        dir: Utf8PathBuf,
        test: &str,
        start: fn(&Utf8Path) -> Result<Testbed, TestbedError>,
    ) -> Result<Bed, TestbedError> {
        let testbed = start(&dir.join("target"))?;
        let address = match testbed.sudo_user() {
            Some(_) => testbed.address_as(SUDO_USER),
            None => testbed.address(),
        };
        let mut fixture = Fixture::create(&dir.join("flake"), &address)?;
        for node in fixture_nodes() {
            fixture.set_version(node, &format!("1-{test}"))?;
        }
        Ok(Bed { testbed, fixture, dir })
    }

    /// The system `node`'s profile points at on the target.
    pub fn profile_of(&self, node: &str) -> Option<String> {
        self.testbed.profile(&fixture_profile(node))
    }
}
