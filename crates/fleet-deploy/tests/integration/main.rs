//! The deploy pipeline against testbeds: real nix, real sshd, real profiles.
//!
//! One test binary a crate: the files here are its modules, so their tests
//! share one pool of test threads and one link.

mod activation;
mod builders;
mod common;
mod deadlines;
mod evaluation;
mod faults;
mod fencing;
mod hosts;
mod partition;
mod progress;
mod size;
mod systemd;
mod testbed;
mod trust;
