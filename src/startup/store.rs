//! What the node keeps its state in besides the database: the blob store (S3 or a
//! directory) and the search engine (Meilisearch or the embedded index).

use std::sync::Arc;

use folio_actors::indexer::SearchClient;
use folio_media::{LocalDirStore, S3Settings, S3Store, SharedBlobStore};
use folio_search::{MeiliEngine, MeiliSettings, SearchEngine, TantivyEngine};
use sea_orm::DatabaseConnection;

use super::{NodeError, database::connect_read_pool};
use crate::configuration::{BlobBackend, SearchBackend, Settings};

/// What the node keeps its state in.
pub(super) struct Store {
    pub db: DatabaseConnection,
    /// For reads that need no transaction: a pool of its own on SQLite, `db` otherwise.
    pub reads: DatabaseConnection,
    pub blobs: SharedBlobStore,
    pub search: SearchClient,
}

/// The blob store and the search engine, next to the (already migrated) database.
pub(super) async fn store(settings: &Settings, db: DatabaseConnection) -> Result<Store, NodeError> {
    let blobs = blob_store(settings).await?;
    let search = SearchClient {
        engine: search_engine(settings)?,
    };
    let reads = connect_read_pool(settings, &db).await?;
    Ok(Store {
        db,
        reads,
        blobs,
        search,
    })
}

/// Blobs on S3 when an endpoint is configured, otherwise in the data dir.
pub async fn blob_store(settings: &Settings) -> Result<SharedBlobStore, NodeError> {
    Ok(match &settings.blobs {
        BlobBackend::S3(s3) => Arc::new(
            S3Store::connect(S3Settings {
                endpoint: s3.endpoint.clone(),
                access_key: s3.access_key.expose().to_string(),
                secret_key: s3.secret_key.expose().to_string(),
                bucket: s3.bucket.clone(),
                region: s3.region.clone(),
            })
            .await
            .map_err(NodeError::Blobs)?,
        ),
        BlobBackend::LocalDir => Arc::new(LocalDirStore::new(settings.node.data_dir.join("media"))),
    })
}

/// Meilisearch when a URL is configured, otherwise the embedded tantivy index. The
/// Meilisearch client does no I/O here, so a node starts while the engine is down
/// (searches answer 503 and indexing catches up when it returns).
pub fn search_engine(settings: &Settings) -> Result<Arc<dyn SearchEngine>, NodeError> {
    Ok(match &settings.search {
        SearchBackend::Meilisearch(server) => Arc::new(
            MeiliEngine::new(MeiliSettings {
                url: server.url.clone(),
                api_key: server.key.as_ref().map(|k| k.expose().to_string()),
                index: server.index.clone(),
            })
            .map_err(NodeError::Search)?,
        ),
        SearchBackend::Embedded => {
            let dir = settings.node.data_dir.join("search");
            std::fs::create_dir_all(&dir).map_err(|source| NodeError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
            Arc::new(TantivyEngine::open(&dir).map_err(NodeError::Search)?)
        }
    })
}
