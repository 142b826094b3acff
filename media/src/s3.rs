//! A [`BlobStore`] over an S3 server (MinIO in production, s3s-fs in tests), through the
//! `minio` crate.
//!
//! The content ETag (see [`content_etag`]) travels as user metadata `x-amz-meta-folio-etag`,
//! so it is the same as the local store's and does not depend on how the server computes
//! its own (MD5, or a multipart composite).

use async_trait::async_trait;
use bytes::Bytes;
use minio::s3::builders::ObjectContent;
use minio::s3::creds::StaticProvider;
use minio::s3::error::{Error as MinioError, NetworkError, S3ServerError, ValidationErr};
use minio::s3::http::BaseUrl;
use minio::s3::minio_error_response::MinioErrorCode;
use minio::s3::response_traits::HasS3Fields;
use minio::s3::types::{BucketName, ObjectKey, Region, S3Api};
use minio::s3::{MinioClient, MinioClientBuilder};

use crate::blob::{content_etag, validate_content_type, validate_key};
use crate::{Blob, BlobError, BlobMeta, BlobStore};

const ETAG_META: &str = "folio-etag";

/// Where and how to reach the S3 server.
#[derive(Clone, serde::Deserialize, serde::Serialize)]
pub struct S3Settings {
    /// Base URL, e.g. `http://127.0.0.1:9000`.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// Created when missing (the product uses `media-files`).
    pub bucket: String,
    /// Signing region; empty means `us-east-1` (MinIO's default).
    pub region: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct S3Store {
    client: MinioClient,
    bucket: BucketName,
}

fn map_err(key: &str, e: MinioError) -> BlobError {
    match e {
        MinioError::Network(NetworkError::ReqwestError(e)) => BlobError::Unavailable(format!("S3 request failed: {e}")),
        // minio files transport failures (refused, reset, timeout) under validation.
        MinioError::Validation(ValidationErr::HttpError(e)) => {
            BlobError::Unavailable(format!("S3 request failed: {e}"))
        }
        MinioError::Network(NetworkError::ServerError(status)) => {
            BlobError::Unavailable(format!("S3 server answered HTTP {status}"))
        }
        MinioError::S3Server(S3ServerError::S3Error(resp)) => {
            let code = resp.code();
            let message = resp.message().clone().unwrap_or_default();
            match code {
                MinioErrorCode::NoSuchKey => BlobError::NotFound(key.to_owned()),
                MinioErrorCode::AccessDenied => BlobError::Denied(format!("{code:?}: {message}")),
                MinioErrorCode::OtherError(ref c)
                    if matches!(
                        c.as_str(),
                        "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "AccessDenied"
                    ) =>
                {
                    BlobError::Denied(format!("{c}: {message}"))
                }
                MinioErrorCode::OtherError(ref c)
                    if matches!(
                        c.as_str(),
                        "InternalError" | "ServiceUnavailable" | "SlowDown" | "RequestTimeout"
                    ) =>
                {
                    BlobError::Unavailable(format!("{c}: {message}"))
                }
                _ => BlobError::Backend(format!("{key}: {code:?}: {message}")),
            }
        }
        MinioError::S3Server(S3ServerError::HttpError(status, body)) => match status {
            404 => BlobError::NotFound(key.to_owned()),
            401 | 403 => BlobError::Denied(format!("HTTP {status}: {body}")),
            s if s >= 500 => BlobError::Unavailable(format!("HTTP {status}: {body}")),
            _ => BlobError::Backend(format!("{key}: HTTP {status}: {body}")),
        },
        MinioError::S3Server(S3ServerError::InvalidServerResponse {
            message,
            http_status_code,
            content_type,
        }) => match http_status_code {
            404 => BlobError::NotFound(key.to_owned()),
            401 | 403 => BlobError::Denied(format!("HTTP {http_status_code}: {message}")),
            s if s >= 500 => BlobError::Unavailable(format!("HTTP {s}: {message}")),
            s => BlobError::Backend(format!("{key}: unexpected answer HTTP {s} ({content_type}): {message}")),
        },
        other => BlobError::Backend(format!("{key}: {other}: {other:?}")),
    }
}

fn validation(e: impl std::fmt::Display) -> BlobError {
    BlobError::Backend(format!("S3 request rejected before sending: {e}"))
}

fn header_str(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

impl S3Store {
    /// Connects (one request, `bucket_exists`) and creates the bucket when missing.
    /// Connection failures are [`BlobError::Unavailable`], bad credentials
    /// [`BlobError::Denied`].
    pub async fn connect(settings: S3Settings) -> Result<Self, BlobError> {
        let mut base_url: BaseUrl = settings
            .endpoint
            .parse()
            .map_err(|e| BlobError::Backend(format!("S3 endpoint {:?}: {e}", settings.endpoint)))?;
        let region = settings.region.trim();
        let skip_lookup = region.is_empty() || region == "us-east-1";
        if !skip_lookup {
            base_url.region =
                Region::try_from(region).map_err(|e| BlobError::Backend(format!("S3 region {region:?}: {e}")))?;
        }
        let provider = StaticProvider::new(&settings.access_key, &settings.secret_key, None);
        let client = MinioClientBuilder::new(base_url)
            .provider(Some(provider))
            .skip_region_lookup(skip_lookup)
            .build()
            .map_err(|e| map_err("", e))?;
        let bucket = BucketName::try_from(settings.bucket.as_str())
            .map_err(|e| BlobError::Backend(format!("S3 bucket {:?}: {e}", settings.bucket)))?;
        let store = Self { client, bucket };
        if !store.bucket_exists().await? {
            match store
                .client
                .create_bucket(store.bucket.clone())
                .map_err(validation)?
                .build()
                .send()
                .await
            {
                Ok(_) => {}
                // Another node created it in between.
                Err(MinioError::S3Server(S3ServerError::S3Error(resp)))
                    if matches!(resp.code(), MinioErrorCode::BucketAlreadyOwnedByYou) => {}
                // Servers that report the race otherwise (s3s-fs: InternalError) still
                // end with the bucket in place when several nodes start at once.
                Err(e) => {
                    if !store.bucket_exists().await? {
                        return Err(map_err(store.bucket.as_str(), e));
                    }
                }
            }
        }
        Ok(store)
    }

    pub fn bucket(&self) -> &str {
        self.bucket.as_str()
    }

    async fn bucket_exists(&self) -> Result<bool, BlobError> {
        let resp = self
            .client
            .bucket_exists(self.bucket.clone())
            .map_err(validation)?
            .build()
            .send()
            .await
            .map_err(|e| map_err(self.bucket.as_str(), e))?;
        Ok(resp.exists())
    }

    fn object_key(key: &str) -> Result<ObjectKey, BlobError> {
        validate_key(key)?;
        ObjectKey::new(key).map_err(validation)
    }
}

#[async_trait]
impl BlobStore for S3Store {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        let object = Self::object_key(key)?;
        validate_content_type(content_type)?;
        let etag = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || content_etag(&bytes))
                .await
                .map_err(|e| BlobError::Backend(format!("hashing task failed: {e}")))?
        };
        let mut meta = multimap::MultiMap::new();
        meta.insert(format!("x-amz-meta-{ETAG_META}"), etag);
        self.client
            .put_object_content(self.bucket.clone(), object, ObjectContent::from(bytes))
            .map_err(validation)?
            .content_type(Some(content_type.to_owned()))
            .user_metadata(Some(meta))
            .build()
            .send()
            .await
            .map_err(|e| map_err(key, e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Blob, BlobError> {
        let object = Self::object_key(key)?;
        let resp = self
            .client
            .get_object(self.bucket.clone(), object)
            .map_err(validation)?
            .build()
            .send()
            .await
            .map_err(|e| map_err(key, e))?;
        let headers = resp.headers();
        let content_type = header_str(headers, "content-type").unwrap_or_else(|| "application/octet-stream".to_owned());
        let stored_etag = header_str(headers, &format!("x-amz-meta-{ETAG_META}"));
        let content = resp.content().map_err(|e| map_err(key, e))?;
        let bytes = content
            .to_segmented_bytes()
            .await
            .map_err(|e| BlobError::Unavailable(format!("{key}: reading body: {e}")))?
            .to_bytes();
        let etag = match stored_etag {
            Some(etag) => etag,
            // An object written by something else than Folio.
            None => content_etag(&bytes),
        };
        Ok(Blob {
            bytes,
            content_type,
            etag,
        })
    }

    async fn head(&self, key: &str) -> Result<BlobMeta, BlobError> {
        let object = Self::object_key(key)?;
        let resp = self
            .client
            .stat_object(self.bucket.clone(), object)
            .map_err(validation)?
            .build()
            .send()
            .await
            .map_err(|e| map_err(key, e))?;
        let size = resp.size().map_err(validation)?;
        let headers = resp.headers();
        let content_type = header_str(headers, "content-type").unwrap_or_else(|| "application/octet-stream".to_owned());
        let etag = match header_str(headers, &format!("x-amz-meta-{ETAG_META}")) {
            Some(etag) => etag,
            None => header_str(headers, "etag").unwrap_or_default(),
        };
        Ok(BlobMeta {
            size,
            content_type,
            etag,
        })
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let object = Self::object_key(key)?;
        match self
            .client
            .delete_object(self.bucket.clone(), object)
            .map_err(validation)?
            .build()
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match map_err(key, e) {
                BlobError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn ping(&self) -> Result<(), BlobError> {
        if self.bucket_exists().await? {
            Ok(())
        } else {
            Err(BlobError::Unavailable(format!(
                "bucket {} does not exist",
                self.bucket.as_str()
            )))
        }
    }
}
