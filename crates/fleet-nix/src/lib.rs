//! The nix driver: every external program the orchestrator runs (`nix`, `ssh`,
//! scripts on the target) is started here and nowhere else.
//!
//! Arguments always travel as vectors. The one place that turns arguments into
//! shell text, for commands that run on the far side of `ssh`, is
//! [`shell_quote`].
#![deny(missing_docs)]

mod command;
mod nix;
mod quote;
mod store_db;
mod target;

pub use command::{CommandError, Failure};
pub use nix::{nix_string, Nix, PathInfo};
pub use quote::shell_quote;
pub use target::{Connections, Held, RemoteScript, Sharing, SshTarget, Stream, Target};
