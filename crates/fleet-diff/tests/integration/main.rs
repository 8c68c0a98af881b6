//! Closure diffs checked against nix's own answers.
//!
//! One test binary a crate: the files here are its modules, so their tests
//! share one pool of test threads and one link.

mod against_diff_closures;
mod against_nix;
