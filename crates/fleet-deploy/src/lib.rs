//! The deploy pipeline: select -> build (parallel) -> probe -> diff (dry run) or
//! push -> activate (in dependency waves) -> summary.
//!
//! The pipeline never prints. It reports progress as [`Event`]s to a [`Sink`]
//! and returns a [`Summary`]; terminals, logs and JSON are the reporters' job.
//! What a node *is* (how it is built, activated and probed on the target) is
//! decided by its [`NodeKind`] plugin, so a new kind needs no pipeline change.
#![deny(missing_docs)]

mod build_progress;
mod builtin_kinds;
mod checks;
mod closures;
mod error;
mod event;
mod exec;
mod goal;
mod job;
mod kind;
mod lock;
mod outcome;
mod pipeline;
mod probe;
mod protocol;
mod reboot;
mod rollback;

pub use builtin_kinds::{ContainerKind, HostKind};
pub use checks::Check;
pub use closures::closure_diff;
pub use error::{Cause, ConfigError, NodeError};
pub use event::{Event, Sink, Stage};
pub use exec::exec_on;
pub use goal::Goal;
pub use job::{DEFAULT_SWITCH_SECONDS, STATE_DIR};
pub use kind::{Kinds, NodeKind};
pub use lock::{AgentSession, LEASE};
pub use outcome::{Generation, Mode, NodeReport, Outcome, Summary};
pub use pipeline::{Plan, ACTIVATION_JOBS, DEFAULT_ANSWER, DEFAULT_CONFIRM, DEFAULT_REBOOT_TIMEOUT};
pub use reboot::Reboot;
