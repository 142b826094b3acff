//! The kit's in-memory ports behave as the product's: the blob store passes the
//! conformance suite every `BlobStore` passes, and the recording search engine the one
//! every `SearchEngine` passes.

use std::sync::Arc;

use folio_testkit::actors::{MemoryBlobs, RecordingSearch};

#[tokio::test]
async fn the_memory_blob_store_passes_the_blob_store_conformance_suite() {
    folio_testkit::blobs::conformance(Arc::new(MemoryBlobs::new())).await;
}

#[tokio::test]
async fn the_recording_search_engine_passes_the_search_conformance_suite() {
    folio_testkit::search::run_conformance(Arc::new(RecordingSearch::new())).await;
}
