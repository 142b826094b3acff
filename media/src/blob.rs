use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};

/// A stored object with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Bytes,
    pub content_type: String,
    /// Strong ETag, quoted (`"…"`), derived from the content only (see [`content_etag`]).
    pub etag: String,
}

/// What `head` tells about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub size: u64,
    pub content_type: String,
    pub etag: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The key breaks the key rules (see [`validate_key`]). Permanent.
    #[error("invalid blob key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// No object under that key.
    #[error("blob not found: {0}")]
    NotFound(String),
    /// The store cannot be reached (connection refused, timeout, 5xx): worth retrying.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
    /// The store refused our credentials or signature.
    #[error("blob store denied access: {0}")]
    Denied(String),
    /// Any other failure (local I/O error, unexpected server answer).
    #[error("blob store error: {0}")]
    Backend(String),
}

impl BlobError {
    /// True for failures a caller may retry later (the store was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, BlobError::Unavailable(_))
    }
}

/// A stored object read as it streams: what `head` tells, then the bytes in chunks.
pub struct BlobStream {
    pub meta: BlobMeta,
    pub body: BoxStream<'static, Result<Bytes, BlobError>>,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// An object being written as it is made (see [`BlobStore::put_stream`]). Memory stays
/// bounded whatever the object's size: the local store writes through to a temporary
/// file, S3 keeps at most one part in memory.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends `chunk` to the object.
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError>;
    /// Makes the object visible under its key, whole and at once (replacing what was
    /// there), and returns what `head` now tells about it.
    async fn finish(self: Box<Self>) -> Result<BlobMeta, BlobError>;
    /// Gives up: the key keeps what it had, and what was written is removed. Dropping
    /// the writer without `finish` does the same, as well as it can without waiting.
    async fn abort(self: Box<Self>) -> Result<(), BlobError>;
}

/// Object storage for uploads and thumbnails. Object-safe: use as `Arc<dyn BlobStore>`.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing what was there. Atomic: a reader sees either
    /// the old object or the new one in full, never a part.
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), BlobError>;
    /// The object, or [`BlobError::NotFound`].
    async fn get(&self, key: &str) -> Result<Blob, BlobError>;
    /// Size, content type and ETag without the bytes, or [`BlobError::NotFound`].
    async fn head(&self, key: &str) -> Result<BlobMeta, BlobError>;
    /// Removes the object; removing a missing key is Ok.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Readiness: Ok when the store answers and the bucket/directory is usable.
    async fn ping(&self) -> Result<(), BlobError>;
    /// Starts writing `key` as its bytes are made (an object too large to hold in
    /// memory, such as an account export). Nothing is visible under the key until
    /// [`BlobWriter::finish`]; then the whole object is, atomically, as with `put`.
    ///
    /// The ETag of an object written this way is strong, quoted and changes with the
    /// content; the local store's is [`content_etag`], but S3's is the server's own for
    /// an object of more than one part (the metadata is sent before the bytes are known).
    async fn put_stream(&self, key: &str, content_type: &str) -> Result<Box<dyn BlobWriter>, BlobError>;
    /// The object as a stream of chunks (never whole in memory), or
    /// [`BlobError::NotFound`]. Its `meta` agrees with `head`.
    async fn get_stream(&self, key: &str) -> Result<BlobStream, BlobError>;
}

pub type SharedBlobStore = Arc<dyn BlobStore>;

/// The strong ETag of some content: the quoted first 32 hex digits (128 bits) of its
/// SHA-256. Both stores use it, so equal bytes give equal ETags everywhere.
pub fn content_etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Longest key accepted (S3 allows 1024 bytes).
pub const MAX_KEY_LEN: usize = 1024;

/// Checks a key: non-empty segments separated by `/`, only `[A-Za-z0-9._-]` in a segment,
/// no segment that starts with `.` (which also rules out `.` and `..`; hidden names are
/// kept for the local store's temporary files), no leading or trailing `/`.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let bad = |reason| {
        Err(BlobError::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty key");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("key longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return bad("leading '/'");
    }
    if key.contains('\\') {
        return bad("backslash");
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
    {
        let _ = c;
        return bad("character outside [A-Za-z0-9._/-]");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return bad("empty path segment");
        }
        if segment == ".." || segment == "." {
            return bad("'.' or '..' segment");
        }
        if segment.starts_with('.') {
            return bad("segment starting with '.'");
        }
    }
    Ok(())
}

/// A content type must fit in an HTTP header: 1..=255 visible ASCII characters or spaces.
pub(crate) fn validate_content_type(content_type: &str) -> Result<(), BlobError> {
    let ok = !content_type.is_empty()
        && content_type.len() <= 255
        && content_type.bytes().all(|b| (0x20..0x7f).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(BlobError::Backend(format!(
            "content type {content_type:?} is not a valid header value"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "uploads/0b6f3f2e-1/3c2d.png",
            "thumbnails/u/abc_thumb.jpg",
            "a",
            "a-b_c.d/e",
        ] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "a/../b",
            "..",
            "a//b",
            "a/",
            "a\\b",
            "a b",
            "a/.hidden",
            "ü",
            "a?b",
            "a%2e",
        ] {
            assert!(
                matches!(validate_key(bad), Err(BlobError::InvalidKey { .. })),
                "{bad:?} accepted"
            );
        }
        assert!(validate_key(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn etag_is_quoted_and_content_derived() {
        let a = content_etag(b"hello");
        assert_eq!(a, content_etag(b"hello"));
        assert_ne!(a, content_etag(b"hellp"));
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_eq!(a.len(), 34);
        // SHA-256("hello") = 2cf24dba5fb0a30e26e83b2ac5b9e29e...
        assert_eq!(a, "\"2cf24dba5fb0a30e26e83b2ac5b9e29e\"");
    }
}
