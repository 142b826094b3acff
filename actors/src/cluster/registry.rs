//! Discovery: a JetStream key-value bucket with one entry per node. Each node rewrites
//! its own entry every [`REFRESH`]; the bucket forgets entries older than [`ENTRY_TTL`],
//! so a node that dies (or is cut off) drops out on its own.
//!
//! nats-server 2.9 (Debian 12, the project machines) constrains how: async-nats 0.51's
//! `create_key_value` first reads the account info, whose reply on 2.9 lacks fields the
//! client requires (`reserved_memory`, `reserved_storage`), so it fails there. The
//! bucket's stream is created here instead, with the settings a KV bucket has
//! (`KV_<bucket>`, `$KV.<bucket>.>`, rollups, direct get), and opened with
//! `get_key_value`, which reads only the stream info. Expiry is the stream's `max_age`
//! (2.9 has no per-key TTL, a 2.11 feature); the server_2_10+ client features stay off,
//! so nothing newer is asked for.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};

pub const DEFAULT_BUCKET: &str = "folio_nodes";
/// How long an entry lives without a refresh.
pub const ENTRY_TTL: Duration = Duration::from_secs(15);
/// How often a node rewrites its entry.
pub const REFRESH: Duration = Duration::from_secs(5);

/// One node, as it announces itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub name: String,
    pub cluster_addr: String,
    pub http_addr: Option<String>,
    pub roles: Vec<String>,
    pub version: String,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("connecting to NATS")]
    Connect(#[source] async_nats::ConnectError),
    #[error("opening the node bucket {bucket}")]
    Open {
        bucket: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("writing this node's entry")]
    Put(#[source] kv::PutError),
    #[error("listing the nodes")]
    List(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("encoding this node's entry")]
    Encode(#[source] serde_json::Error),
}

#[derive(Clone)]
pub struct NodeRegistry {
    kv: kv::Store,
}

impl NodeRegistry {
    pub async fn connect(nats_url: &str, bucket: &str) -> Result<Self, RegistryError> {
        let client = async_nats::connect(nats_url).await.map_err(RegistryError::Connect)?;
        Self::open(jetstream::new(client), bucket).await
    }

    pub async fn open(js: jetstream::Context, bucket: &str) -> Result<Self, RegistryError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| RegistryError::Open {
            bucket: bucket.to_string(),
            source,
        };
        if let Ok(kv) = js.get_key_value(bucket).await {
            return Ok(Self { kv });
        }
        let config = jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            description: Some("Folio nodes: one entry per live node".to_string()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age: ENTRY_TTL,
            storage: jetstream::stream::StorageType::Memory,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            num_replicas: 1,
            ..Default::default()
        };
        // Another node may create it at the same moment; either way it exists after.
        if let Err(create) = js.get_or_create_stream(config).await {
            tracing::debug!(error = %create, "creating the node bucket; opening it");
        }
        js.get_key_value(bucket)
            .await
            .map(|kv| Self { kv })
            .map_err(|e| open_error(Box::new(e)))
    }

    pub async fn announce(&self, entry: &NodeEntry) -> Result<(), RegistryError> {
        let value = serde_json::to_vec(entry).map_err(RegistryError::Encode)?;
        self.kv
            .put(&entry.name, value.into())
            .await
            .map_err(RegistryError::Put)?;
        Ok(())
    }

    /// Removes this node's entry at once (a graceful stop), instead of letting it expire.
    pub async fn withdraw(&self, name: &str) {
        if let Err(e) = self.kv.purge(name).await {
            tracing::warn!(node = name, error = %e, "removing this node's registry entry; it expires on its own");
        }
    }

    /// Every node with a live entry.
    pub async fn nodes(&self) -> Result<Vec<NodeEntry>, RegistryError> {
        let list_error = |e: Box<dyn std::error::Error + Send + Sync>| RegistryError::List(e);
        let keys: Vec<String> = self
            .kv
            .keys()
            .await
            .map_err(|e| list_error(Box::new(e)))?
            .try_collect()
            .await
            .map_err(|e| list_error(Box::new(e)))?;
        let mut nodes = Vec::with_capacity(keys.len());
        for key in keys {
            // Expired (or purged) since it was listed: gone.
            let Some(value) = self.kv.get(&key).await.map_err(|e| list_error(Box::new(e)))? else {
                continue;
            };
            match serde_json::from_slice::<NodeEntry>(&value) {
                Ok(entry) => nodes.push(entry),
                Err(e) => tracing::warn!(key, error = %e, "a node registry entry that is not a node; ignored"),
            }
        }
        Ok(nodes)
    }
}
