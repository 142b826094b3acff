//! `[search]`: the engine behind `GET /search`.

use serde::Deserialize;

use super::Secret;

/// The search engine, parsed from the `[search]` keys when the settings are loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "SearchFile")]
#[cfg_attr(test, derive(serde::Serialize), serde(into = "SearchFile"))]
pub enum SearchBackend {
    /// No URL: the embedded tantivy index under the data dir (`search/`).
    #[default]
    Embedded,
    Meilisearch(MeilisearchServer),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeilisearchServer {
    pub url: String,
    pub key: Option<Secret>,
    pub index: String,
}

/// The `[search]` keys as the file and the environment spell them.
#[derive(Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
struct SearchFile {
    meilisearch_url: Option<String>,
    meilisearch_key: Option<Secret>,
    meilisearch_index: String,
}

const DEFAULT_INDEX: &str = "projects";

impl Default for SearchFile {
    fn default() -> Self {
        Self {
            meilisearch_url: None,
            meilisearch_key: None,
            meilisearch_index: DEFAULT_INDEX.into(),
        }
    }
}

impl From<SearchFile> for SearchBackend {
    fn from(file: SearchFile) -> Self {
        match file.meilisearch_url {
            None => Self::Embedded,
            Some(url) => Self::Meilisearch(MeilisearchServer {
                url,
                key: file.meilisearch_key,
                index: file.meilisearch_index,
            }),
        }
    }
}

impl From<SearchBackend> for SearchFile {
    fn from(backend: SearchBackend) -> Self {
        match backend {
            SearchBackend::Embedded => SearchFile::default(),
            SearchBackend::Meilisearch(server) => SearchFile {
                meilisearch_url: Some(server.url),
                meilisearch_key: server.key,
                meilisearch_index: server.index,
            },
        }
    }
}

impl MeilisearchServer {
    /// A server at `url` with this key, on the default index.
    pub fn new(url: impl Into<String>, key: Option<Secret>) -> Self {
        Self {
            url: url.into(),
            key,
            index: DEFAULT_INDEX.into(),
        }
    }
}
