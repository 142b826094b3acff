//! The `folio` node: configuration, startup, and the command-line tools around it.

#[cfg(feature = "bench")]
pub mod bench;
pub mod configuration;
pub mod import;
pub mod startup;
pub mod telemetry;
pub mod tools;

pub use configuration::Settings;
pub use startup::{Node, NodeError, NodeFailure};
