//! [`MemoryBlobs`]: a [`BlobStore`] in memory, for actors started by the kit. It passes
//! the same conformance suite as the local and S3 stores (`testkit/tests/actors_ports.rs`),
//! records every write, and can be told to fail the next operations the way an
//! unreachable store fails, so a test can watch the thumbnailer's retry rules.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use folio_media::{Blob, BlobError, BlobMeta, BlobStore, BlobStream, BlobWriter, content_etag, validate_key};

/// The operations a fault can be set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobOp {
    Put,
    Get,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, Blob>,
    /// Every finished write, in order: `(key, content type)`.
    writes: Vec<(String, String)>,
    /// Failures still to hand out per operation, and the error to hand out.
    faults: Vec<(BlobOp, u32, FaultKind)>,
}

/// What a set fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// [`BlobError::Unavailable`]: the store cannot be reached (retryable).
    Unavailable,
    /// [`BlobError::Denied`]: the store refuses us (not retryable).
    Denied,
}

/// An in-memory blob store. Clones share the objects.
#[derive(Clone, Default)]
pub struct MemoryBlobs {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryBlobs {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock has already failed.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next `times` calls of `op` fail with `kind`.
    pub fn fail_next(&self, op: BlobOp, times: u32, kind: FaultKind) {
        let mut inner = self.lock();
        inner.faults.retain(|(o, _, _)| *o != op);
        inner.faults.push((op, times, kind));
    }

    /// Every call of `op` fails with `kind` until [`MemoryBlobs::heal`].
    pub fn fail_always(&self, op: BlobOp, kind: FaultKind) {
        self.fail_next(op, u32::MAX, kind);
    }

    /// No more faults.
    pub fn heal(&self) {
        self.lock().faults.clear();
    }

    fn fault(&self, op: BlobOp, key: &str) -> Result<(), BlobError> {
        let mut inner = self.lock();
        let Some(slot) = inner.faults.iter_mut().find(|(o, left, _)| *o == op && *left > 0) else {
            return Ok(());
        };
        if slot.1 != u32::MAX {
            slot.1 -= 1;
        }
        Err(match slot.2 {
            FaultKind::Unavailable => BlobError::Unavailable(format!("fault set by the test on {op:?} {key}")),
            FaultKind::Denied => BlobError::Denied(format!("fault set by the test on {op:?} {key}")),
        })
    }

    /// The stored keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock().objects.keys().cloned().collect()
    }

    /// The stored keys under `prefix`, sorted.
    pub fn keys_under(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The object under `key`, read without going through the store's faults.
    pub fn object(&self, key: &str) -> Option<Blob> {
        self.lock().objects.get(key).cloned()
    }

    /// Every finished write so far, in order, as `(key, content type)`.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.lock().writes.clone()
    }

    /// Removes an object behind the actors' backs (a lost upload).
    pub fn remove(&self, key: &str) {
        self.lock().objects.remove(key);
    }

    fn store(&self, key: &str, bytes: Bytes, content_type: &str) -> BlobMeta {
        let blob = Blob {
            etag: content_etag(&bytes),
            content_type: content_type.to_string(),
            bytes,
        };
        let meta = meta_of(&blob);
        let mut inner = self.lock();
        inner.objects.insert(key.to_string(), blob);
        inner.writes.push((key.to_string(), content_type.to_string()));
        meta
    }
}

fn meta_of(blob: &Blob) -> BlobMeta {
    BlobMeta {
        size: blob.bytes.len() as u64,
        content_type: blob.content_type.clone(),
        etag: blob.etag.clone(),
    }
}

/// The rule the product's stores apply: a content type fits in an HTTP header.
fn check_content_type(content_type: &str) -> Result<(), BlobError> {
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

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        // A real store's call waits on I/O: others run meanwhile (a reader racing a
        // writer on one thread would otherwise never let the writer in).
        tokio::task::yield_now().await;
        validate_key(key)?;
        check_content_type(content_type)?;
        self.fault(BlobOp::Put, key)?;
        self.store(key, bytes, content_type);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Blob, BlobError> {
        tokio::task::yield_now().await;
        validate_key(key)?;
        self.fault(BlobOp::Get, key)?;
        self.object(key).ok_or_else(|| BlobError::NotFound(key.to_string()))
    }

    async fn head(&self, key: &str) -> Result<BlobMeta, BlobError> {
        tokio::task::yield_now().await;
        validate_key(key)?;
        self.object(key)
            .map(|blob| meta_of(&blob))
            .ok_or_else(|| BlobError::NotFound(key.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        self.lock().objects.remove(key);
        Ok(())
    }

    async fn ping(&self) -> Result<(), BlobError> {
        Ok(())
    }

    async fn put_stream(&self, key: &str, content_type: &str) -> Result<Box<dyn BlobWriter>, BlobError> {
        validate_key(key)?;
        check_content_type(content_type)?;
        self.fault(BlobOp::Put, key)?;
        Ok(Box::new(MemoryWriter {
            store: self.clone(),
            key: key.to_string(),
            content_type: content_type.to_string(),
            body: BytesMut::new(),
        }))
    }

    async fn get_stream(&self, key: &str) -> Result<BlobStream, BlobError> {
        let blob = self.get(key).await?;
        let meta = meta_of(&blob);
        // Chunks of 1 MiB, as a store that streams would hand them out.
        let chunks: Vec<Result<Bytes, BlobError>> = blob
            .bytes
            .chunks(1 << 20)
            .map(|chunk| Ok(blob.bytes.slice_ref(chunk)))
            .collect();
        Ok(BlobStream {
            meta,
            body: Box::pin(futures::stream::iter(chunks)),
        })
    }
}

/// A streamed write: nothing is visible under the key until it finishes.
struct MemoryWriter {
    store: MemoryBlobs,
    key: String,
    content_type: String,
    body: BytesMut,
}

#[async_trait]
impl BlobWriter for MemoryWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        self.body.extend_from_slice(&chunk);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<BlobMeta, BlobError> {
        let MemoryWriter {
            store,
            key,
            content_type,
            body,
        } = *self;
        Ok(store.store(&key, body.freeze(), &content_type))
    }

    async fn abort(self: Box<Self>) -> Result<(), BlobError> {
        Ok(())
    }
}
