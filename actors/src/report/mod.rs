//! What operators read: the job queues and the reindex run ([`jobs`]), and the cluster
//! with its shared queues ([`cluster`]). The report sits above the workers it reports on
//! (thumbnailer, indexer, relay), so nothing below it ever imports it back.

pub mod cluster;
pub mod jobs;
