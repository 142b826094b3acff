//! A [`BlobStore`] over a local directory.
//!
//! Each object is one file at `<root>/<key>`: a magic line, a one-line JSON header
//! (content type, ETag, size) and then the bytes. `put` writes a hidden temporary file in
//! the same directory, syncs it and renames it over the target, so readers see the old or
//! the new object in full (rename is atomic on POSIX file systems).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};

use crate::blob::{content_etag, validate_content_type, validate_key};
use crate::{Blob, BlobError, BlobMeta, BlobStore, BlobStream, BlobWriter};

/// Chunks a streamed read hands out.
const READ_CHUNK: usize = 64 * 1024;
/// What a streamed write buffers before it writes to its file.
const WRITE_BUFFER: usize = 256 * 1024;

const MAGIC: &[u8] = b"FOLIOBLOB1\n";
/// Upper bound for the header line (content type ≤ 255 bytes plus JSON framing).
const MAX_HEADER: u64 = 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    content_type: String,
    etag: String,
    size: u64,
}

#[derive(Debug, Clone)]
pub struct LocalDirStore {
    root: PathBuf,
}

impl LocalDirStore {
    /// A store rooted at `root`; the directory is created on first write (and by `ping`).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    /// The object's file, opened, with its header read: the file is positioned at the
    /// first byte of the content.
    async fn open_object(&self, key: &str) -> Result<(BufReader<tokio::fs::File>, BlobMeta), BlobError> {
        let path = self.path_of(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) => return Err(io_err(key, e)),
        };
        let meta = file.metadata().await.map_err(|e| io_err(key, e))?;
        if meta.is_dir() {
            return Err(BlobError::NotFound(key.to_owned()));
        }
        let mut reader = BufReader::new(file);
        let mut raw = Vec::with_capacity(256);
        {
            let mut limited = (&mut reader).take(MAGIC.len() as u64 + MAX_HEADER);
            limited.read_until(b'\n', &mut raw).await.map_err(|e| io_err(key, e))?;
            limited.read_until(b'\n', &mut raw).await.map_err(|e| io_err(key, e))?;
        }
        let (header, start) = parse_header(key, &raw)?;
        if meta.len() != start as u64 + header.size {
            return Err(corrupt(key, "size"));
        }
        Ok((
            reader,
            BlobMeta {
                size: header.size,
                content_type: header.content_type,
                etag: header.etag,
            },
        ))
    }
}

/// The header line of a streamed object is written last, over a placeholder of this
/// many bytes reserved before the content: the longest header this content type can
/// have (any size, any ETag), which the real one is padded to with spaces (JSON
/// allows trailing whitespace).
fn header_width(content_type: &str) -> Result<usize, BlobError> {
    let widest = Header {
        content_type: content_type.to_owned(),
        etag: format!("\"{}\"", "f".repeat(32)),
        size: u64::MAX,
    };
    serde_json::to_vec(&widest)
        .map(|v| v.len())
        .map_err(|e| BlobError::Backend(format!("header: {e}")))
}

/// A streamed write into a hidden temporary file beside the target, renamed over it by
/// `finish` (so readers see the old object or the new one in full).
struct LocalWriter {
    key: String,
    path: PathBuf,
    tmp: PathBuf,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    content_type: String,
    header_width: usize,
    hasher: Sha256,
    size: u64,
}

impl LocalWriter {
    fn file(&mut self) -> Result<&mut tokio::io::BufWriter<tokio::fs::File>, BlobError> {
        self.file
            .as_mut()
            .ok_or_else(|| BlobError::Backend(format!("{}: the write was already finished", self.key)))
    }

    fn failed(&self, e: std::io::Error) -> BlobError {
        failed(format!("{}: writing: {e}", self.key), &e)
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // Neither finished nor aborted: the temporary file goes (renamed files are gone
        // from this path already).
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[async_trait]
impl BlobWriter for LocalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        self.hasher.update(&chunk);
        self.size += chunk.len() as u64;
        let result = self.file()?.write_all(&chunk).await;
        result.map_err(|e| self.failed(e))
    }

    async fn finish(mut self: Box<Self>) -> Result<BlobMeta, BlobError> {
        let digest = std::mem::take(&mut self.hasher).finalize();
        let header = Header {
            content_type: self.content_type.clone(),
            etag: format!("\"{}\"", hex::encode(&digest[..16])),
            size: self.size,
        };
        let mut line = serde_json::to_vec(&header).map_err(|e| BlobError::Backend(format!("header: {e}")))?;
        line.resize(self.header_width, b' ');
        let width = self.header_width;
        let mut file = self
            .file
            .take()
            .ok_or_else(|| BlobError::Backend(format!("{}: the write was already finished", self.key)))?;
        let written = async {
            file.flush().await?;
            let mut file = file.into_inner();
            file.seek(std::io::SeekFrom::Start(MAGIC.len() as u64)).await?;
            file.write_all(&line[..width]).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&self.tmp, &self.path).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return Err(self.failed(e));
        }
        Ok(BlobMeta {
            size: header.size,
            content_type: header.content_type,
            etag: header.etag,
        })
    }

    async fn abort(mut self: Box<Self>) -> Result<(), BlobError> {
        drop(self.file.take());
        match tokio::fs::remove_file(&self.tmp).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.failed(e)),
        }
    }
}

fn io_err(key: &str, e: std::io::Error) -> BlobError {
    if e.kind() == ErrorKind::NotFound {
        BlobError::NotFound(key.to_owned())
    } else {
        failed(format!("{key}: {e}"), &e)
    }
}

/// An I/O failure of the directory that can pass (permissions put back, space freed, a
/// slow disk) is `Unavailable`, which callers retry; anything else is `Backend`.
fn failed(message: String, e: &std::io::Error) -> BlobError {
    if is_passing(e.kind()) {
        BlobError::Unavailable(message)
    } else {
        BlobError::Backend(message)
    }
}

fn is_passing(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::PermissionDenied
            | ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::TimedOut
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
            | ErrorKind::ResourceBusy
            | ErrorKind::StaleNetworkFileHandle
    )
}

fn corrupt(key: &str, what: &str) -> BlobError {
    BlobError::Backend(format!("{key}: stored file is damaged ({what})"))
}

/// Parses magic + header from the start of a file's bytes; returns header and its length.
fn parse_header(key: &str, raw: &[u8]) -> Result<(Header, usize), BlobError> {
    let rest = raw.strip_prefix(MAGIC).ok_or_else(|| corrupt(key, "magic"))?;
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| corrupt(key, "header end"))?;
    let header: Header = serde_json::from_slice(&rest[..nl]).map_err(|_| corrupt(key, "header json"))?;
    Ok((header, MAGIC.len() + nl + 1))
}

#[async_trait]
impl BlobStore for LocalDirStore {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        validate_content_type(content_type)?;
        let dir = path
            .parent()
            .ok_or_else(|| BlobError::Backend(format!("{key}: no parent directory")))?
            .to_path_buf();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| failed(format!("{key}: creating {}: {e}", dir.display()), &e))?;

        let etag = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || content_etag(&bytes))
                .await
                .map_err(|e| BlobError::Backend(format!("hashing task failed: {e}")))?
        };
        let header = Header {
            content_type: content_type.to_owned(),
            etag,
            size: bytes.len() as u64,
        };
        let mut head = MAGIC.to_vec();
        serde_json::to_writer(&mut head, &header).map_err(|e| BlobError::Backend(format!("{key}: header: {e}")))?;
        head.push(b'\n');

        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let write = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            file.write_all(&head).await?;
            file.write_all(&bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&tmp, &path).await
        };
        if let Err(e) = write.await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(failed(format!("{key}: writing: {e}"), &e));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Blob, BlobError> {
        let path = self.path_of(key)?;
        let raw = match tokio::fs::read(&path).await {
            Ok(raw) => raw,
            // A key that names a directory (prefix of other keys) is not an object.
            Err(e) if e.kind() == ErrorKind::IsADirectory => return Err(BlobError::NotFound(key.to_owned())),
            Err(e) => return Err(io_err(key, e)),
        };
        let (header, start) = parse_header(key, &raw)?;
        if (raw.len() - start) as u64 != header.size {
            return Err(corrupt(key, "size"));
        }
        let bytes = Bytes::from(raw).slice(start..);
        Ok(Blob {
            bytes,
            content_type: header.content_type,
            etag: header.etag,
        })
    }

    async fn head(&self, key: &str) -> Result<BlobMeta, BlobError> {
        Ok(self.open_object(key).await?.1)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed(format!("{key}: deleting: {e}"), &e)),
        }
    }

    async fn put_stream(&self, key: &str, content_type: &str) -> Result<Box<dyn BlobWriter>, BlobError> {
        let path = self.path_of(key)?;
        validate_content_type(content_type)?;
        let dir = path
            .parent()
            .ok_or_else(|| BlobError::Backend(format!("{key}: no parent directory")))?
            .to_path_buf();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| failed(format!("{key}: creating {}: {e}", dir.display()), &e))?;
        let header_width = header_width(content_type)?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| failed(format!("{key}: creating a temporary file: {e}"), &e))?;
        let mut placeholder = MAGIC.to_vec();
        placeholder.resize(MAGIC.len() + header_width, b' ');
        placeholder.push(b'\n');
        if let Err(e) = file.write_all(&placeholder).await {
            drop(file);
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(failed(format!("{key}: writing: {e}"), &e));
        }
        Ok(Box::new(LocalWriter {
            key: key.to_owned(),
            path,
            tmp,
            file: Some(tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file)),
            content_type: content_type.to_owned(),
            header_width,
            hasher: Sha256::new(),
            size: 0,
        }))
    }

    async fn get_stream(&self, key: &str) -> Result<BlobStream, BlobError> {
        let (reader, meta) = self.open_object(key).await?;
        let key = key.to_owned();
        let body = futures::stream::try_unfold((reader, meta.size, key), |(mut reader, left, key)| async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(READ_CHUNK);
            let mut buf = vec![0u8; want];
            let n = reader.read(&mut buf).await.map_err(|e| io_err(&key, e))?;
            if n == 0 {
                return Err(corrupt(&key, "ends early"));
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), (reader, left - n as u64, key))))
        });
        Ok(BlobStream {
            meta,
            body: Box::pin(body),
        })
    }

    async fn ping(&self) -> Result<(), BlobError> {
        tokio::fs::create_dir_all(&self.root)
            .await
            .map_err(|e| BlobError::Unavailable(format!("blob directory {}: {e}", self.root.display())))?;
        let probe = self.root.join(format!(".tmp-ping-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ping").await.map_err(|e| {
            BlobError::Unavailable(format!("blob directory {} is not writable: {e}", self.root.display()))
        })?;
        let _ = tokio::fs::remove_file(&probe).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};

    use super::io_err;
    use crate::BlobError;

    #[test]
    fn a_directory_error_that_can_pass_is_retryable_and_a_damaged_file_is_not() {
        for kind in [ErrorKind::PermissionDenied, ErrorKind::StorageFull, ErrorKind::TimedOut] {
            let error = io_err("uploads/u/f.png", Error::from(kind));
            assert!(error.is_retryable(), "{kind:?}: {error}");
        }
        assert!(matches!(
            io_err("k", Error::from(ErrorKind::NotFound)),
            BlobError::NotFound(_)
        ));
        assert!(!io_err("k", Error::from(ErrorKind::InvalidData)).is_retryable());
    }
}
