//! The `fleet` binary end to end: its command line, its output, and deploys to testbeds.
//!
//! One test binary a crate: the files here are its modules, so their tests
//! share one pool of test threads and one link.

mod cli;
mod common;
mod conventions;
mod diff;
mod errors;
mod fetching;
mod hostile;
mod json;
mod names;
mod operator;
mod progress;
mod reboot;
mod safety;
mod selection;
mod sudo;
mod template;
mod untrusted;
mod verbose;
