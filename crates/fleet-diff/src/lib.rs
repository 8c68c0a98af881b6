//! Closure diffs: package-level changes between two Nix closures, given as data.
//!
//! This crate takes two closures (lists of store paths with NAR sizes) and tells what
//! changed per package: versions up, down or changed, packages added and removed, size
//! deltas, and totals. It is pure: it never runs nix, reads no files and never looks at the
//! terminal; callers fetch closures (`nix path-info --json --recursive`) and decide on
//! colour.
//!
//! - [`parse_drv_name`] and [`compare_versions`] follow `builtins.parseDrvName` and
//!   `builtins.compareVersions` exactly (checked against the real nix in
//!   `tests/integration/against_nix.rs`).
//! - [`parse_store_path`] strips the hash and an output suffix (`-dev`, `-lib`, `-man`...),
//!   so a package's outputs are grouped under one name.
//! - [`diff`] computes a [`ClosureDiff`], whose serde form is the stable JSON document.
//! - [`render`] turns a diff into text for one node.
//!
//! ```
//! use fleet_diff::{diff, render, PathInfo, RenderOptions};
//!
//! let old = [PathInfo::new("/nix/store/00000000000000000000000000000000-hello-2.12", 1000)];
//! let new = [PathInfo::new("/nix/store/11111111111111111111111111111111-hello-2.12.1", 1100)];
//! let d = diff(&old, &new);
//! assert_eq!(d.packages[0].name, "hello");
//! print!("{}", render("web", &d, &RenderOptions { color: false }));
//! ```
#![deny(missing_docs)]

mod closure;
mod name;
mod render;
mod version;

pub use closure::{diff, Change, ClosureDiff, PackageDiff, PathInfo, Totals};
pub use name::{parse_drv_name, parse_store_path, DrvName, StorePathName};
pub use render::{render, RenderOptions};
pub use version::compare_versions;
