//! Folio's domain actors. Each domain owns its tables and answers typed messages; the
//! HTTP edge and the CLI only translate into and out of these messages.

pub mod blocking;
pub mod session;
pub mod supervisor;

pub use supervisor::{CallError, KeyedPool, NodeSupervisor};
