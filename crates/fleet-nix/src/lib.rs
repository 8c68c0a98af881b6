//! The nix driver: every external program the orchestrator runs (`nix`, `ssh`,
//! scripts on the target) is started here and nowhere else.
//!
//! Arguments always travel as vectors. The one place that turns arguments into
//! shell text, for commands that run on the far side of `ssh`, is
//! [`shell_quote`].
#![deny(missing_docs)]

mod build_log;
mod capture;
mod command;
mod connections;
mod eval;
mod eval_batch;
mod eval_cache;
mod inputs;
mod nix;
mod quote;
mod restrict;
mod store_db;
mod stream;
mod sudo;
mod target;
mod unreachable;
mod verbose;
mod version;

pub use build_log::{derivation_name, BuildLog, BuildLogEvent};
pub use command::{CommandError, Failure};
pub use connections::Connections;
pub use eval::{default_cache_dir, EvalSettings, EvalStats, Evaluated};
pub use nix::{nix_string, Nix, PathInfo};
pub use quote::shell_quote;
pub use restrict::GRAPH_MAY_READ;
pub use stream::Stream;
pub use sudo::{Sudo, SudoPassword};
pub use target::{RemoteScript, Sharing, SshTarget, Target};
pub use unreachable::Unreachable;
pub use verbose::show_commands;
