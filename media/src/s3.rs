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
use crate::{Blob, BlobError, BlobMeta, BlobStore, BlobStream, BlobWriter};

const ETAG_META: &str = "folio-etag";

/// The part size of a streamed write: what one upload holds in memory at most. S3 asks
/// for at least 5 MiB per part but the last, and 10 000 parts at most (80 GB here).
pub const STREAM_PART_BYTES: usize = 8 * 1024 * 1024;
const MAX_PARTS: usize = 10_000;

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

/// Our content ETag when the object carries it, else the server's own (an object
/// written in several parts, or by something else than Folio), quoted.
fn stored_etag(headers: &http::HeaderMap) -> String {
    match header_str(headers, &format!("x-amz-meta-{ETAG_META}")) {
        Some(etag) => etag,
        None => {
            let server = header_str(headers, "etag").unwrap_or_default();
            format!("\"{}\"", server.trim_matches('"'))
        }
    }
}

impl S3Store {
    /// The GET of `key`, sent; `get` reads it whole, `get_stream` as it comes.
    async fn get_object(&self, key: &str) -> Result<minio::s3::response::GetObjectResponse, BlobError> {
        let object = Self::object_key(key)?;
        self.client
            .get_object(self.bucket.clone(), object)
            .map_err(validation)?
            .build()
            .send()
            .await
            .map_err(|e| map_err(key, e))
    }

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

/// A streamed write: a multipart upload, begun with the first full part. What has not
/// filled a part yet is kept (at most [`STREAM_PART_BYTES`]); an object that never fills
/// one is stored with one plain `put`.
struct S3Writer {
    store: S3Store,
    key: String,
    object: ObjectKey,
    content_type: String,
    buffer: minio::s3::segmented_bytes::SegmentedBytes,
    upload_id: Option<minio::s3::types::UploadId>,
    parts: Vec<minio::s3::types::PartInfo>,
    done: bool,
}

impl S3Writer {
    async fn upload_id(&mut self) -> Result<minio::s3::types::UploadId, BlobError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let resp = self
            .store
            .client
            .create_multipart_upload(self.store.bucket.clone(), self.object.clone())
            .map_err(validation)?
            .content_type(Some(self.content_type.clone()))
            .build()
            .send()
            .await
            .map_err(|e| map_err(&self.key, e))?;
        let id = resp.upload_id().await.map_err(|e| map_err(&self.key, e.into()))?;
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    /// Uploads what is buffered as the next part.
    async fn flush_part(&mut self) -> Result<(), BlobError> {
        use minio::s3::response_traits::HasEtagFromHeaders as _;
        if self.parts.len() >= MAX_PARTS {
            return Err(BlobError::Backend(format!(
                "{}: more than {MAX_PARTS} parts of {STREAM_PART_BYTES} bytes",
                self.key
            )));
        }
        let upload_id = self.upload_id().await?;
        let data = std::mem::take(&mut self.buffer);
        let size = data.len() as u64;
        let number = u16::try_from(self.parts.len() + 1).unwrap_or(u16::MAX);
        let resp = self
            .store
            .client
            .upload_part(self.store.bucket.clone(), self.object.clone(), upload_id, number, data)
            .map_err(validation)?
            .build()
            .send()
            .await
            .map_err(|e| map_err(&self.key, e))?;
        let etag = resp.etag().map_err(|e| map_err(&self.key, e.into()))?;
        self.parts
            .push(minio::s3::types::PartInfo::new(number, etag, size, None));
        Ok(())
    }

    async fn abort_upload(&mut self) -> Result<(), BlobError> {
        self.done = true;
        self.buffer = Default::default();
        if let Some(upload_id) = self.upload_id.take() {
            self.store
                .client
                .abort_multipart_upload(self.store.bucket.clone(), self.object.clone(), upload_id)
                .map_err(validation)?
                .build()
                .send()
                .await
                .map_err(|e| map_err(&self.key, e))?;
        }
        Ok(())
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // Neither finished nor aborted: the parts uploaded so far are given up in the
        // background (a bucket lifecycle rule for incomplete uploads catches the rest).
        if self.done {
            return;
        }
        if let (Some(upload_id), Ok(runtime)) = (self.upload_id.take(), tokio::runtime::Handle::try_current()) {
            let client = self.store.client.clone();
            let (bucket, object) = (self.store.bucket.clone(), self.object.clone());
            runtime.spawn(async move {
                if let Ok(request) = client.abort_multipart_upload(bucket, object, upload_id) {
                    let _ = request.build().send().await;
                }
            });
        }
    }
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        let mut chunk = chunk;
        while !chunk.is_empty() {
            let room = STREAM_PART_BYTES - self.buffer.len();
            let take = room.min(chunk.len());
            self.buffer.append(chunk.split_to(take));
            if self.buffer.len() >= STREAM_PART_BYTES
                && let Err(e) = self.flush_part().await
            {
                let _ = self.abort_upload().await;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<BlobMeta, BlobError> {
        if self.upload_id.is_none() {
            // Less than one part: one plain put, with the content's own ETag.
            self.done = true;
            let bytes = std::mem::take(&mut self.buffer).to_bytes();
            self.store.put(&self.key, bytes, &self.content_type).await?;
            return self.store.head(&self.key).await;
        }
        if !self.buffer.is_empty()
            && let Err(e) = self.flush_part().await
        {
            let _ = self.abort_upload().await;
            return Err(e);
        }
        let upload_id = self.upload_id.clone().expect("an upload was begun above");
        let parts = std::mem::take(&mut self.parts);
        let completed = self
            .store
            .client
            .complete_multipart_upload(self.store.bucket.clone(), self.object.clone(), upload_id, parts)
            .map_err(validation)?
            .build()
            .send()
            .await;
        if let Err(e) = completed {
            let _ = self.abort_upload().await;
            return Err(map_err(&self.key, e));
        }
        self.done = true;
        self.store.head(&self.key).await
    }

    async fn abort(mut self: Box<Self>) -> Result<(), BlobError> {
        self.abort_upload().await
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
        let resp = self.get_object(key).await?;
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
        let etag = stored_etag(headers);
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

    async fn put_stream(&self, key: &str, content_type: &str) -> Result<Box<dyn BlobWriter>, BlobError> {
        let object = Self::object_key(key)?;
        validate_content_type(content_type)?;
        Ok(Box::new(S3Writer {
            store: self.clone(),
            key: key.to_owned(),
            object,
            content_type: content_type.to_owned(),
            buffer: Default::default(),
            upload_id: None,
            parts: Vec::new(),
            done: false,
        }))
    }

    async fn get_stream(&self, key: &str) -> Result<BlobStream, BlobError> {
        use futures::StreamExt as _;
        let resp = self.get_object(key).await?;
        let headers = resp.headers();
        let content_type = header_str(headers, "content-type").unwrap_or_else(|| "application/octet-stream".to_owned());
        let etag = stored_etag(headers);
        let length = header_str(headers, "content-length").and_then(|l| l.parse::<u64>().ok());
        let content = resp.content().map_err(|e| map_err(key, e))?;
        let (stream, size) = content
            .to_stream()
            .await
            .map_err(|e| BlobError::Unavailable(format!("{key}: reading body: {e}")))?;
        let size = length.or_else(|| size.value()).unwrap_or(0);
        let owned = key.to_owned();
        let body =
            stream.map(move |chunk| chunk.map_err(|e| BlobError::Unavailable(format!("{owned}: reading body: {e}"))));
        Ok(BlobStream {
            meta: BlobMeta {
                size,
                content_type,
                etag,
            },
            body: body.boxed(),
        })
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
