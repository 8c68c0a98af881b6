//! The developer tasks and the repository's own rules, run as a user runs them.
//!
//! One test binary a crate: the files here are its modules, so their tests
//! share one pool of test threads and one link.

mod bench;
mod conventions;
mod gitops;
mod help;
mod nixos_checks;
