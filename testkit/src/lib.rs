//! Test support shared by Folio's crates, kept out of the production crates: the helpers
//! panic on failure, as test code does.
//!
//! * [`meili_stub`]: a local HTTP server that answers like Meilisearch 1.50, for the
//!   adapter's tests, the node's tests and `deploy/test-cluster.sh`;
//! * [`search`]: the conformance suite every `SearchEngine` passes;
//! * [`parity`]: one fixture and one query set for two engines, and what differs;
//! * [`blobs`]: the conformance suite every `BlobStore` passes, and a real S3 server
//!   (s3s-fs) for tests;
//! * `actors` (feature `actors`): the actor test kit, which starts domain actors
//!   without HTTP on in-memory stores, with probes for events, process groups and
//!   supervision (see `docs/testing.md`).

pub mod blobs;
pub mod images;
pub mod meili_stub;
pub mod parity;
pub mod search;

#[cfg(feature = "actors")]
pub mod actors;
