//! The [`BlobStore`] conformance suite every implementation must pass, and [`S3sFs`], a
//! real S3 server (s3s-fs) on a free loopback port for tests. These helpers panic on failure, as test code does.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use folio_media::{BlobError, BlobStore, BlobWriter, S3Settings, content_etag};
use futures::StreamExt as _;

/// Finds the `s3s-fs` binary: `$FOLIO_S3S_FS` if set, else `PATH`, else `~/.cargo/bin`.
pub fn s3s_fs_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FOLIO_S3S_FS") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    in_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = PathBuf::from(home).join(".cargo/bin/s3s-fs");
        p.is_file().then_some(p)
    })
}

/// A running s3s-fs over a temporary directory; killed and cleaned up on drop.
pub struct S3sFs {
    child: Child,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub root: tempfile::TempDir,
}

impl S3sFs {
    /// Starts s3s-fs on a free loopback port and waits until it accepts connections.
    ///
    /// Panics (never skips) when the binary is missing: `scripts/test.sh` installs it.
    pub fn start() -> Self {
        let bin = s3s_fs_binary().unwrap_or_else(|| {
            panic!(
                "s3s-fs is not installed (not on PATH nor in ~/.cargo/bin). Run the tests through \
                 scripts/test.sh, which installs it, or run \
                 `cargo install s3s-fs@0.14.1 --features binary --locked`"
            )
        });
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let root = tempfile::tempdir().expect("temp dir for s3s-fs");
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("free loopback port")
                .port();
            let access_key = "folio-test-access".to_owned();
            let secret_key = format!("folio-test-secret-{}", uuid::Uuid::new_v4().simple());
            let mut child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", &access_key, "--secret-key", &secret_key])
                .arg(root.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Self {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                        access_key,
                        secret_key,
                        root,
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut err);
                    }
                    last_err = format!("s3s-fs exited with {status}: {err}");
                    break; // port taken in between: try another
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("s3s-fs did not listen on port {port} within 15 s");
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        panic!("could not start s3s-fs: {last_err}");
    }

    /// Settings for a store on this server using `bucket`.
    pub fn settings(&self, bucket: &str) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint.clone(),
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            bucket: bucket.to_owned(),
            region: String::new(),
        }
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes (xorshift), so big blobs do not compress to nothing.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn assert_not_found<T: std::fmt::Debug>(r: Result<T, BlobError>, what: &str) {
    match r {
        Err(BlobError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

fn assert_invalid_key<T: std::fmt::Debug>(r: Result<T, BlobError>, key: &str) {
    match r {
        Err(BlobError::InvalidKey { .. }) => {}
        other => panic!("key {key:?}: expected InvalidKey, got {other:?}"),
    }
}

/// What a store guarantees beyond the common contract.
#[derive(Debug, Clone, Copy)]
pub struct Guarantees {
    /// A reader racing an overwrite gets content type and ETag of the same version as the
    /// bytes. True for the local store and MinIO/S3; false for s3s-fs, which keeps metadata
    /// in a separate file written after the object (bytes themselves are still atomic).
    pub atomic_metadata: bool,
    /// A streamed object of several parts has [`content_etag`] as its ETag. True for the
    /// local store; S3 sends an object's metadata before its bytes, so a multipart
    /// object has the server's ETag there.
    pub streamed_content_etag: bool,
}

/// The behaviour every [`BlobStore`] must have, with every guarantee checked.
pub async fn conformance(store: Arc<dyn BlobStore>) {
    conformance_with(
        store,
        Guarantees {
            atomic_metadata: true,
            streamed_content_etag: true,
        },
    )
    .await
}

/// The conformance suite. Uses keys under a fresh random prefix, so it can run against a
/// store that holds other data.
pub async fn conformance_with(store: Arc<dyn BlobStore>, guarantees: Guarantees) {
    let user = uuid::Uuid::new_v4();
    let key = |name: &str| format!("uploads/{user}/{name}");

    store.ping().await.expect("ping");

    // Round trip: bytes and content type, ETag from the content.
    let a = Bytes::from_static(b"\x89PNG\r\n\x1a\nnot really a png, but bytes");
    store.put(&key("a.png"), a.clone(), "image/png").await.expect("put a");
    let got = store.get(&key("a.png")).await.expect("get a");
    assert_eq!(got.bytes, a);
    assert_eq!(got.content_type, "image/png");
    assert_eq!(got.etag, content_etag(&a));
    assert!(
        got.etag.starts_with('"') && got.etag.ends_with('"'),
        "strong quoted ETag"
    );

    // Head agrees with get.
    let meta = store.head(&key("a.png")).await.expect("head a");
    assert_eq!(meta.size, a.len() as u64);
    assert_eq!(meta.content_type, "image/png");
    assert_eq!(meta.etag, got.etag);

    // Same bytes elsewhere: same ETag. Different bytes: different ETag.
    store
        .put(&key("copy.png"), a.clone(), "image/png")
        .await
        .expect("put copy");
    assert_eq!(store.head(&key("copy.png")).await.expect("head copy").etag, got.etag);
    let b = Bytes::from_static(b"\xFF\xD8\xFF other bytes");
    store.put(&key("b.jpg"), b.clone(), "image/jpeg").await.expect("put b");
    let b_meta = store.head(&key("b.jpg")).await.expect("head b");
    assert_ne!(b_meta.etag, got.etag);

    // Overwrite replaces bytes, type and ETag.
    store
        .put(&key("a.png"), b.clone(), "image/jpeg")
        .await
        .expect("overwrite a");
    let over = store.get(&key("a.png")).await.expect("get overwritten");
    assert_eq!(over.bytes, b);
    assert_eq!(over.content_type, "image/jpeg");
    assert_eq!(over.etag, b_meta.etag);
    let over_meta = store.head(&key("a.png")).await.expect("head overwritten");
    assert_eq!(over_meta.size, b.len() as u64);
    assert_eq!(over_meta.etag, b_meta.etag);

    // Empty blob.
    store
        .put(&key("empty.bin"), Bytes::new(), "application/octet-stream")
        .await
        .expect("put empty");
    let empty = store.get(&key("empty.bin")).await.expect("get empty");
    assert!(empty.bytes.is_empty());
    assert_eq!(store.head(&key("empty.bin")).await.expect("head empty").size, 0);

    // Delete: then NotFound; deleting again or a never-written key is Ok.
    store.delete(&key("a.png")).await.expect("delete a");
    assert_not_found(store.get(&key("a.png")).await, "get after delete");
    assert_not_found(store.head(&key("a.png")).await, "head after delete");
    store.delete(&key("a.png")).await.expect("delete a again");
    store.delete(&key("never.png")).await.expect("delete missing");
    assert_not_found(store.get(&key("never.png")).await, "get missing");
    assert_not_found(store.head(&key("never.png")).await, "head missing");
    // Other keys are untouched.
    assert_eq!(store.get(&key("copy.png")).await.expect("copy survives").bytes, a);

    // Invalid keys are rejected by every operation.
    for bad in [
        "",
        "/uploads/x.png",
        "uploads/../etc/passwd",
        "..",
        "uploads//x.png",
        "uploads/x.png/",
        "uploads\\x.png",
        "uploads/x y.png",
        "uploads/%2e%2e/x",
        "uploads/ü.png",
        "uploads/.hidden",
    ] {
        assert_invalid_key(store.put(bad, a.clone(), "image/png").await, bad);
        assert_invalid_key(store.get(bad).await, bad);
        assert_invalid_key(store.head(bad).await, bad);
        assert_invalid_key(store.delete(bad).await, bad);
    }

    // A 6 MiB blob (past the 5 MiB upload limit and S3's multipart minimum).
    let big = Bytes::from(pseudo_random_bytes(6 * 1024 * 1024, 42));
    store
        .put(&key("big.bin"), big.clone(), "application/octet-stream")
        .await
        .expect("put big");
    let got_big = store.get(&key("big.bin")).await.expect("get big");
    assert_eq!(got_big.bytes.len(), big.len());
    assert!(got_big.bytes == big, "6 MiB blob differs after round trip");
    assert_eq!(got_big.etag, content_etag(&big));
    assert_eq!(
        store.head(&key("big.bin")).await.expect("head big").size,
        big.len() as u64
    );

    // Concurrent puts of different keys.
    let puts = (0..16u64).map(|i| {
        let store = store.clone();
        let k = key(&format!("concurrent/{i}.bin"));
        let body = Bytes::from(pseudo_random_bytes(64 * 1024 + i as usize, i + 1));
        async move {
            store
                .put(&k, body.clone(), "application/octet-stream")
                .await
                .map(|()| (k, body))
        }
    });
    for r in futures::future::join_all(puts).await {
        let (k, body) = r.expect("concurrent put");
        let got = store.get(&k).await.expect("get concurrent");
        assert!(got.bytes == body, "{k} has wrong bytes");
        assert_eq!(got.etag, content_etag(&body));
    }

    // Readers racing an overwriting writer see one whole version, never a mix.
    let v1 = Bytes::from(pseudo_random_bytes(512 * 1024, 7));
    let v2 = Bytes::from(pseudo_random_bytes(512 * 1024, 8));
    let race_key = key("race.bin");
    store
        .put(&race_key, v1.clone(), "application/x-v1")
        .await
        .expect("put v1");
    let writer = {
        let (store, k, v1, v2) = (store.clone(), race_key.clone(), v1.clone(), v2.clone());
        tokio::spawn(async move {
            for i in 0..12 {
                let (body, ct) = if i % 2 == 0 {
                    (&v2, "application/x-v2")
                } else {
                    (&v1, "application/x-v1")
                };
                store.put(&k, body.clone(), ct).await.expect("racing put");
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads < 4 {
        let got = store.get(&race_key).await.expect("racing get");
        let (expected, ct) = if got.bytes == v1 {
            (&v1, "application/x-v1")
        } else if got.bytes == v2 {
            (&v2, "application/x-v2")
        } else {
            panic!("reader saw a partial or mixed blob ({} bytes)", got.bytes.len());
        };
        if guarantees.atomic_metadata {
            assert_eq!(got.content_type, ct, "content type from another version");
            assert_eq!(got.etag, content_etag(expected), "ETag from another version");
        } else {
            let _ = (expected, ct);
        }
        reads += 1;
    }
    writer.await.expect("writer task");

    streaming(store.as_ref(), &key, guarantees).await;

    // Tidy up.
    for k in ["copy.png", "b.jpg", "empty.bin", "big.bin", "race.bin"] {
        store.delete(&key(k)).await.expect("cleanup");
    }
    for i in 0..16 {
        store
            .delete(&key(&format!("concurrent/{i}.bin")))
            .await
            .expect("cleanup");
    }
    store.ping().await.expect("ping at the end");
}

/// Writes `body` through `put_stream` in chunks of uneven sizes.
async fn put_streamed(store: &dyn BlobStore, key: &str, body: &[u8], content_type: &str) -> folio_media::BlobMeta {
    let mut writer = store.put_stream(key, content_type).await.expect("put_stream");
    write_chunks(writer.as_mut(), body).await;
    writer.finish().await.expect("finish")
}

async fn write_chunks(writer: &mut dyn BlobWriter, body: &[u8]) {
    let sizes = [1usize, 4096, 65_537, 1 << 20, 3 * (1 << 20) + 11];
    let mut at = 0;
    let mut i = 0;
    while at < body.len() {
        let n = sizes[i % sizes.len()].min(body.len() - at);
        writer
            .write(Bytes::copy_from_slice(&body[at..at + n]))
            .await
            .expect("write");
        at += n;
        i += 1;
    }
}

/// Reads an object through `get_stream`, checking that no chunk is unreasonably large.
pub async fn read_streamed(store: &dyn BlobStore, key: &str) -> (folio_media::BlobMeta, Vec<u8>) {
    let mut stream = store.get_stream(key).await.expect("get_stream");
    let mut out = Vec::new();
    while let Some(chunk) = stream.body.next().await {
        let chunk = chunk.expect("chunk");
        assert!(chunk.len() <= 16 * 1024 * 1024, "a chunk of {} bytes", chunk.len());
        out.extend_from_slice(&chunk);
    }
    (stream.meta, out)
}

/// Streamed writes and reads: whole objects appear only when finished, aborting or
/// dropping a writer leaves the key as it was, and a streamed object reads back the same
/// through `get`, `get_stream` and `head`.
async fn streaming(store: &dyn BlobStore, key: &dyn Fn(&str) -> String, guarantees: Guarantees) {
    // Larger than two S3 parts, so a multipart upload with a short last part.
    let big = pseudo_random_bytes(20 * 1024 * 1024 + 123, 99);
    let k = key("stream/big.zip");
    let mut writer = store.put_stream(&k, "application/zip").await.expect("put_stream");
    write_chunks(writer.as_mut(), &big[..9 * 1024 * 1024]).await;
    assert_not_found(store.head(&k).await, "head of an object still being written");
    write_chunks(writer.as_mut(), &big[9 * 1024 * 1024..]).await;
    let finished = writer.finish().await.expect("finish big");
    assert_eq!(finished.size, big.len() as u64);
    assert_eq!(finished.content_type, "application/zip");
    let head = store.head(&k).await.expect("head big stream");
    assert_eq!(head, finished, "finish tells what head tells");
    assert!(head.etag.starts_with('"') && head.etag.ends_with('"') && head.etag.len() > 2);
    if guarantees.streamed_content_etag {
        assert_eq!(head.etag, content_etag(&big));
    }
    let (meta, bytes) = read_streamed(store, &k).await;
    assert_eq!(meta, head, "get_stream's meta agrees with head");
    assert!(bytes == big, "streamed object differs after the round trip");
    assert!(store.get(&k).await.expect("get streamed").bytes == big);

    // A small one (under one part) carries the content's ETag everywhere.
    let small = pseudo_random_bytes(70_000, 5);
    let ks = key("stream/small.json");
    let meta = put_streamed(store, &ks, &small, "application/json").await;
    assert_eq!(meta.etag, content_etag(&small));
    assert_eq!(read_streamed(store, &ks).await.1, small);

    // Empty.
    let ke = key("stream/empty.bin");
    let meta = put_streamed(store, &ke, &[], "application/octet-stream").await;
    assert_eq!(meta.size, 0);
    assert!(read_streamed(store, &ke).await.1.is_empty());

    // Overwriting by stream: the old object stays whole until the new one is finished.
    let old = Bytes::from(pseudo_random_bytes(1000, 6));
    let ko = key("stream/over.bin");
    store.put(&ko, old.clone(), "application/x-old").await.expect("put old");
    let mut writer = store
        .put_stream(&ko, "application/x-new")
        .await
        .expect("put_stream over");
    write_chunks(writer.as_mut(), &big[..6 * 1024 * 1024]).await;
    assert_eq!(store.get(&ko).await.expect("old while writing").bytes, old);
    write_chunks(writer.as_mut(), &big[6 * 1024 * 1024..]).await;
    writer.finish().await.expect("finish over");
    let (meta, bytes) = read_streamed(store, &ko).await;
    assert_eq!(meta.content_type, "application/x-new");
    assert!(bytes == big);

    // Abort, and a writer dropped unfinished: the key keeps what it had.
    let mut writer = store
        .put_stream(&ko, "application/x-aborted")
        .await
        .expect("put_stream abort");
    write_chunks(writer.as_mut(), &big[..9 * 1024 * 1024]).await;
    writer.abort().await.expect("abort");
    assert_eq!(
        store.head(&ko).await.expect("kept after abort").content_type,
        "application/x-new"
    );
    let ka = key("stream/never.bin");
    let mut writer = store
        .put_stream(&ka, "application/x-dropped")
        .await
        .expect("put_stream drop");
    write_chunks(writer.as_mut(), &big[..1024 * 1024]).await;
    drop(writer);
    assert_not_found(store.head(&ka).await, "head of a dropped write");
    let mut writer = store
        .put_stream(&ka, "application/x-aborted")
        .await
        .expect("put_stream abort small");
    write_chunks(writer.as_mut(), b"short").await;
    writer.abort().await.expect("abort small");
    assert_not_found(store.get(&ka).await, "get of an aborted write");

    // Missing and invalid keys.
    match store.get_stream(&key("stream/missing.bin")).await {
        Err(BlobError::NotFound(_)) => {}
        other => panic!("get_stream of a missing key: {other:?}"),
    }
    for bad in ["", "uploads/../x", "uploads/.hidden", "a b"] {
        assert!(matches!(
            store.put_stream(bad, "application/zip").await.err(),
            Some(BlobError::InvalidKey { .. })
        ));
        assert!(matches!(
            store.get_stream(bad).await.err(),
            Some(BlobError::InvalidKey { .. })
        ));
    }

    for k in [&k, &ks, &ke, &ko] {
        store.delete(k).await.expect("cleanup stream");
    }
}
