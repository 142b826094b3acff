//! `[blobs]`: where uploads and thumbnails are stored.

use serde::Deserialize;

use super::Secret;

/// Where blobs live, parsed from the `[blobs]` keys when the settings are loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BlobFile")]
#[cfg_attr(test, derive(serde::Serialize), serde(into = "BlobFile"))]
pub enum BlobBackend {
    /// No endpoint: a directory under the data dir (`media/`).
    #[default]
    LocalDir,
    /// An S3-compatible server.
    S3(S3Blobs),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Blobs {
    pub endpoint: String,
    pub access_key: Secret,
    pub secret_key: Secret,
    pub bucket: String,
    pub region: String,
}

/// The `[blobs]` keys as the file and the environment spell them.
#[derive(Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
struct BlobFile {
    s3_endpoint: Option<String>,
    s3_access_key: Option<Secret>,
    s3_secret_key: Option<Secret>,
    s3_bucket: String,
    s3_region: String,
}

const DEFAULT_BUCKET: &str = "media-files";

impl Default for BlobFile {
    fn default() -> Self {
        Self {
            s3_endpoint: None,
            s3_access_key: None,
            s3_secret_key: None,
            s3_bucket: DEFAULT_BUCKET.into(),
            s3_region: String::new(),
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("FOLIO_S3_ACCESS_KEY and FOLIO_S3_SECRET_KEY are required with FOLIO_S3_ENDPOINT")]
pub struct S3KeysMissing;

impl TryFrom<BlobFile> for BlobBackend {
    type Error = S3KeysMissing;

    fn try_from(file: BlobFile) -> Result<Self, Self::Error> {
        let Some(endpoint) = file.s3_endpoint else {
            return Ok(Self::LocalDir);
        };
        let (Some(access_key), Some(secret_key)) = (file.s3_access_key, file.s3_secret_key) else {
            return Err(S3KeysMissing);
        };
        Ok(Self::S3(S3Blobs {
            endpoint,
            access_key,
            secret_key,
            bucket: file.s3_bucket,
            region: file.s3_region,
        }))
    }
}

impl From<BlobBackend> for BlobFile {
    fn from(backend: BlobBackend) -> Self {
        match backend {
            BlobBackend::LocalDir => BlobFile::default(),
            BlobBackend::S3(s3) => BlobFile {
                s3_endpoint: Some(s3.endpoint),
                s3_access_key: Some(s3.access_key),
                s3_secret_key: Some(s3.secret_key),
                s3_bucket: s3.bucket,
                s3_region: s3.region,
            },
        }
    }
}

impl S3Blobs {
    /// A bucket on an S3 server, in the default region.
    pub fn new(
        endpoint: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
        bucket: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            access_key: Secret::new(access_key),
            secret_key: Secret::new(secret_key),
            bucket: bucket.into(),
            region: String::new(),
        }
    }
}
