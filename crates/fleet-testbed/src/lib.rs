//! A simulated VPS for tests, the demo and benchmarks.
//!
//! Real where it can be: the target has its own `/nix` (a bind mount in a
//! private mount namespace), a real `sshd` on a loopback port with generated
//! keys, real profiles and generations. Only the init system is simulated:
//! `systemctl` and `systemd-run` stand-ins on the target's PATH run the
//! profile's `switch-to-configuration` and append to an activation log.
//!
//! Used only by tests, the demo and benchmarks; the deploy crates never
//! depend on it.
#![deny(missing_docs)]

mod bed;
mod bench_deploy;
mod error;
mod fixture;
mod kept;
mod measure;
mod netns;
mod nix_config;
mod prerequisites;
mod procfs;
mod reboot;
mod sshd;
mod stall;
mod stand_in;
mod sudo_user;
mod systemd;
mod testbed;
mod wait;

pub use bed::{container_profile, fixture_nodes, fixture_profile, Bed, HOST_PROFILE};
pub use bench_deploy::{skip_bashrc, DeployBench, DeployTool, Measured, Shape};
pub use error::TestbedError;
pub use fixture::{Containers, Fixture, EVAL_COST_ONE_SECOND, FIXTURE_CONTAINERS, FIXTURE_HOST};
pub use measure::{run_measured, SelfUsage};
pub use netns::NETNS_PROGRAMS;
pub use nix_config::{hermetic, nix_env, NIX_CONF, NIX_CONF_DIR, NIX_CONF_FILE};
pub use prerequisites::{ensure_programs, Missing, SYSTEMD_PROGRAMS, TESTBED_PROGRAMS};
pub use procfs::{descendants, status_kib};
pub use stand_in::stand_in_nixpkgs;
pub use sudo_user::{SudoUser, SUDO_USER};
pub use testbed::{ActivationRecord, Testbed};
pub use wait::wait_until;
