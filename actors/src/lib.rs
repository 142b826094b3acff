//! Folio's domain actors. Each domain owns its tables and answers typed messages; the
//! HTTP edge and the CLI only translate into and out of these messages.

pub mod account_deleter;
pub mod blocking;
pub mod cluster;
pub mod database;
pub mod errors;
pub mod events;
pub mod export;
pub mod faults;
pub mod indexer;
pub mod jobs;
pub mod media;
pub mod paging;
pub mod profile;
pub mod project;
pub mod relay;
pub mod report;
pub mod session;
pub mod supervised_loop;
pub mod supervisor;
pub mod thumbnailer;
pub mod validation;
pub mod visibility;

pub use supervisor::{CallError, KeyedPool, NodeSupervisor, PoolStartError};
