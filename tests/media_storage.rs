//! Originals carry pixels, not secrets: on the local blob store and on S3 (s3s-fs), an
//! upload's EXIF (with its GPS position), XMP, IPTC, comments and PNG text never reach
//! storage, its image data is stored byte for byte, its orientation still displays; an
//! image whose structure cannot be read is refused; `folio media strip-metadata`
//! cleans originals stored before, resuming after a kill; blob responses answer byte
//! ranges.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use common::{Backend, TestNode};
use folio::configuration::BlobBackend;
use folio_entities::media_files;
use folio_testkit::blobs::S3sFs;
use folio_testkit::images::{
    gif_image_blocks, gif_with_metadata, jpeg_scans, jpeg_with_metadata, png_idat, png_with_metadata, secrets_left,
    webp_chunks, webp_with_metadata,
};
use sea_orm::{ActiveValue::Set, EntityTrait};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blobs {
    Local,
    S3,
}

/// A node on SQLite with its blobs in a local directory or in a fresh S3 bucket, and
/// where those blobs end up on disk (for looking at the raw storage).
struct Setup {
    node: TestNode,
    s3: Option<S3sFs>,
    bucket: String,
}

impl Setup {
    async fn start(blobs: Blobs) -> Self {
        let s3 = (blobs == Blobs::S3).then(S3sFs::start);
        let bucket = format!("privacy-{}", &Uuid::new_v4().simple().to_string()[..12]);
        let settings = s3.as_ref().map(|s| s.settings(&bucket));
        let bucket_name = bucket.clone();
        let node = TestNode::spawn_with(Backend::Sqlite, |s| {
            if let Some(s3) = settings {
                s.blobs = folio::configuration::BlobBackend::S3(folio::configuration::S3Blobs::new(
                    s3.endpoint,
                    s3.access_key,
                    s3.secret_key,
                    s3.bucket,
                ));
            }
        })
        .await;
        Self {
            node,
            s3,
            bucket: bucket_name,
        }
    }

    /// Where the store keeps its bytes: the data dir's `media/`, or s3s-fs's root.
    fn storage_root(&self) -> PathBuf {
        match &self.s3 {
            Some(s3) => s3.root.path().to_path_buf(),
            None => self.node.dir.path().join("media"),
        }
    }

    /// The objects in the store, as files: the bucket's directory in s3s-fs (without its
    /// hidden metadata files, which s3s-fs keeps even after a delete), or the local
    /// store's files (without temporary ones).
    fn objects(&self) -> Vec<PathBuf> {
        let root = match &self.s3 {
            Some(s3) => s3.root.path().join(&self.bucket),
            None => self.node.dir.path().join("media"),
        };
        files_under(&root)
            .into_iter()
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .collect()
    }

    /// Every file of the raw storage that still holds a secret, with the secrets.
    fn secrets_in_storage(&self) -> Vec<(PathBuf, Vec<String>)> {
        files_under(&self.storage_root())
            .into_iter()
            .filter_map(|path| {
                // A store's temporary file may be renamed away between listing and reading.
                let left = secrets_left(&std::fs::read(&path).ok()?);
                (!left.is_empty()).then_some((path, left))
            })
            .collect()
    }

    /// The `folio` binary with this node's storage settings.
    fn folio(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_folio"));
        command
            .args(args)
            .env("FOLIO_DATA_DIR", self.node.dir.path())
            .env("FOLIO_LOG_FILTER", "warn");
        let blobs = &self.node.settings.blobs;
        if let BlobBackend::S3(s3) = blobs {
            command
                .env("FOLIO_S3_ENDPOINT", &s3.endpoint)
                .env("FOLIO_S3_BUCKET", &s3.bucket)
                .env("FOLIO_S3_ACCESS_KEY", s3.access_key.expose())
                .env("FOLIO_S3_SECRET_KEY", s3.secret_key.expose());
        }
        command
    }
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_stored_without_metadata_on_the_local_store() {
    uploads_are_stored_without_metadata(Blobs::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_stored_without_metadata_on_s3() {
    uploads_are_stored_without_metadata(Blobs::S3).await;
}

async fn uploads_are_stored_without_metadata(blobs: Blobs) {
    let setup = Setup::start(blobs).await;
    let t = &setup.node;
    let u = t.user("phone").await;

    // A phone photo: 640×480 stored, orientation 6, so it displays as 480×640.
    let photo = jpeg_with_metadata(640, 480, 6);
    let up = t
        .upload(Some(&u.access), photo.clone(), "IMG_20261204_093012.jpg", None)
        .await;
    assert_eq!(up.status, 201, "{}", up.body);
    assert_eq!(
        up.body["original_filename"], "IMG_20261204_093012.jpg",
        "the owner sees the name"
    );
    let file_id = up.body["file_id"].as_str().unwrap().to_string();
    // Nobody else reads the media's metadata (its name can carry the capture time).
    let stranger = t.user("stranger").await;
    t.get(&format!("/media/{file_id}"), Some(&stranger.access))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(t.get("/media", Some(&stranger.access)).await.body["total"], 0);
    let stored = t
        .node()
        .blobs
        .get(up.body["file_path"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        secrets_left(&stored.bytes).is_empty(),
        "{:?}",
        secrets_left(&stored.bytes)
    );
    assert_eq!(
        jpeg_scans(&stored.bytes),
        jpeg_scans(&photo),
        "the scans are the uploaded bytes"
    );
    assert_eq!(up.body["file_size"], stored.bytes.len());
    // What the file URL serves is what is stored.
    let served = t
        .client
        .get(up.body["file_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap(), stored.bytes);
    // The orientation survives: sizes as displayed, and an upright thumbnail.
    let settled = t.settled_media(&u.access, &file_id).await;
    assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
    assert_eq!(
        (settled["width"].as_i64(), settled["height"].as_i64()),
        (Some(480), Some(640))
    );
    let thumb = t
        .client
        .get(settled["thumbnail_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (225, 300));

    let png = png_with_metadata(120, 80, 1);
    let up = t.upload(Some(&u.access), png.clone(), "scan.png", None).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let stored = t
        .node()
        .blobs
        .get(up.body["file_path"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        secrets_left(&stored.bytes).is_empty(),
        "{:?}",
        secrets_left(&stored.bytes)
    );
    assert_eq!(png_idat(&stored.bytes), png_idat(&png), "IDAT byte-identical");

    let webp = webp_with_metadata(90, 60, 1);
    let up = t.upload(Some(&u.access), webp.clone(), "shot.webp", None).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let stored = t
        .node()
        .blobs
        .get(up.body["file_path"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        secrets_left(&stored.bytes).is_empty(),
        "{:?}",
        secrets_left(&stored.bytes)
    );
    let bitstream = |b: &[u8]| webp_chunks(b).into_iter().find(|(k, _)| k == b"VP8L").unwrap().1;
    assert_eq!(bitstream(&stored.bytes), bitstream(&webp), "bitstream byte-identical");

    let gif = gif_with_metadata(40, 30);
    let up = t.upload(Some(&u.access), gif.clone(), "loop.gif", None).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let stored = t
        .node()
        .blobs
        .get(up.body["file_path"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        secrets_left(&stored.bytes).is_empty(),
        "{:?}",
        secrets_left(&stored.bytes)
    );
    assert_eq!(gif_image_blocks(&stored.bytes), gif_image_blocks(&gif));

    // An image whose EXIF segment runs past its end: refused, nothing stored.
    let mut broken = jpeg_with_metadata(64, 64, 1);
    let app1 = broken.windows(2).position(|w| w == [0xFF, 0xE1]).unwrap();
    broken[app1 + 2] = 0xFF;
    broken.truncate(app1 + 300);
    let refused = t.upload(Some(&u.access), broken, "broken.jpg", None).await;
    refused.assert_error(400, "unreadable_image");
    assert_eq!(t.get("/media", Some(&u.access)).await.body["total"], 4);

    // And nothing anywhere in the raw storage holds a secret.
    assert_eq!(setup.secrets_in_storage(), Vec::<(PathBuf, Vec<String>)>::new());
    setup.node.shutdown().await;
}

/// Rows and blobs as an older version stored them: originals with their metadata.
async fn store_old_originals(t: &TestNode, owner: &str, count: usize) -> Vec<(String, Vec<u8>)> {
    let owner = Uuid::parse_str(owner).unwrap();
    let now = Utc::now();
    let mut stored = Vec::new();
    let mut rows = Vec::new();
    for n in 0..count {
        let id = Uuid::now_v7();
        let (bytes, ext, mime) = match n % 3 {
            0 => (jpeg_with_metadata(48 + n as u32 % 7, 32, 6), "jpg", "image/jpeg"),
            1 => (png_with_metadata(40, 24 + n as u32 % 5, 1), "png", "image/png"),
            _ => (webp_with_metadata(30, 20, 1), "webp", "image/webp"),
        };
        let path = format!("uploads/{owner}/{id}.{ext}");
        t.node().blobs.put(&path, bytes.clone().into(), mime).await.unwrap();
        rows.push(media_files::ActiveModel {
            id: Set(id),
            user_id: Set(owner),
            project_id: Set(None),
            filename: Set(format!("{id}.{ext}")),
            original_filename: Set(format!("old-{n}.{ext}")),
            file_url: Set(format!("{}/media/{path}", t.url)),
            file_path: Set(path.clone()),
            file_size: Set(bytes.len() as i64),
            mime_type: Set(mime.into()),
            width: Set(None),
            height: Set(None),
            upload_state: Set(folio_entities::media_files::UploadState::Stored),
            thumbnail_path: Set(None),
            thumbnail_url: Set(None),
            thumbnail_status: Set(folio_entities::media_files::ThumbnailStatus::Skipped),
            thumbnail_error: Set(None),
            thumbnail_attempts: Set(0),
            thumbnail_queued_at: Set(None),
            thumbnail_failed_at: Set(None),
            renditions: Set(None),
            thumbhash: Set(None),
            caption: Set(None),
            alt: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        stored.push((path, bytes));
    }
    for chunk in rows.chunks(200) {
        media_files::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&t.node().db)
            .await
            .unwrap();
    }
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_metadata_command_cleans_old_originals_on_the_local_store() {
    strip_metadata_command_cleans_old_originals(Blobs::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_metadata_command_cleans_old_originals_on_s3() {
    strip_metadata_command_cleans_old_originals(Blobs::S3).await;
}

async fn strip_metadata_command_cleans_old_originals(blobs: Blobs) {
    let setup = Setup::start(blobs).await;
    let t = &setup.node;
    let u = t.user("veteran").await;
    // One upload made by this version: already clean, left alone.
    let fresh = t
        .upload(Some(&u.access), jpeg_with_metadata(64, 48, 1), "new.jpg", None)
        .await;
    assert_eq!(fresh.status, 201);
    let mut old = store_old_originals(t, &u.user_id, 241).await;
    // An old original whose structure cannot be followed: reported, left as it is.
    let (unreadable_key, _) = old.pop().unwrap();
    let mut broken = jpeg_with_metadata(32, 32, 1);
    let app1 = broken.windows(2).position(|w| w == [0xFF, 0xE1]).unwrap();
    broken[app1 + 2] = 0xFF;
    broken.truncate(app1 + 100);
    t.node()
        .blobs
        .put(&unreadable_key, broken.into(), "image/jpeg")
        .await
        .unwrap();

    // First run: killed as soon as it has rewritten something, well before the end.
    let mut child = setup
        .folio(&["media", "strip-metadata"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("folio runs");
    let clean = |bytes: &[u8]| secrets_left(bytes).is_empty();
    let mut rewritten_before_kill = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while rewritten_before_kill == 0 && std::time::Instant::now() < deadline {
        for (key, _) in old.iter().take(20) {
            if clean(&t.node().blobs.get(key).await.unwrap().bytes) {
                rewritten_before_kill += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        rewritten_before_kill > 0,
        "the first run rewrote nothing within a minute"
    );
    // Every original is either as it was or fully stripped, never torn.
    let mut left_with_metadata = 0;
    for (key, original) in &old {
        let bytes = t.node().blobs.get(key).await.unwrap().bytes;
        if bytes[..] == original[..] {
            left_with_metadata += 1;
        } else {
            assert!(clean(&bytes), "{key} is neither the original nor stripped");
            image::load_from_memory(&bytes).unwrap();
        }
    }
    assert!(
        left_with_metadata > 0,
        "the kill came after the whole run: make the store larger for this test"
    );

    // Second run: finishes the job and says what it did.
    let output = setup.folio(&["media", "strip-metadata"]).output().expect("folio runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "checked 242 originals: {left_with_metadata} rewritten without metadata, {} already clean, 1 unreadable",
            242 - 1 - left_with_metadata
        )),
        "{stdout}"
    );
    for (key, original) in &old {
        let bytes = t.node().blobs.get(key).await.unwrap().bytes;
        assert!(clean(&bytes), "{key} still has metadata");
        if key.ends_with(".jpg") {
            assert_eq!(jpeg_scans(&bytes), jpeg_scans(original));
        }
    }
    // The rows' sizes follow their blobs.
    let sizes = t.get("/media?size=100", Some(&u.access)).await;
    for file in sizes.body["files"].as_array().unwrap() {
        if file["file_path"] == unreadable_key.as_str() {
            continue; // replaced behind the row's back by this test
        }
        let blob = t.node().blobs.get(file["file_path"].as_str().unwrap()).await.unwrap();
        assert_eq!(file["file_size"], blob.bytes.len(), "{file}");
    }

    // Third run: nothing left to do.
    let output = setup.folio(&["media", "strip-metadata"]).output().expect("folio runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("checked 242 originals: 0 rewritten without metadata, 241 already clean, 1 unreadable"),
        "{stdout}"
    );
    // Only the unreadable one still holds secrets in the raw storage.
    assert_eq!(setup.secrets_in_storage().len(), 1, "{:?}", setup.secrets_in_storage());
    setup.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_responses_answer_ranges_on_the_local_store() {
    blob_responses_answer_ranges(Blobs::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_responses_answer_ranges_on_s3() {
    blob_responses_answer_ranges(Blobs::S3).await;
}

async fn blob_responses_answer_ranges(blobs: Blobs) {
    let setup = Setup::start(blobs).await;
    let t = &setup.node;
    let u = t.user("ranger").await;
    let up = t
        .upload(Some(&u.access), png_with_metadata(200, 150, 1), "r.png", None)
        .await;
    assert_eq!(up.status, 201, "{}", up.body);
    let url = up.body["file_url"].as_str().unwrap();
    let whole = t.client.get(url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let etag = whole.headers()["etag"].to_str().unwrap().to_string();
    let cache = whole.headers()["cache-control"].to_str().unwrap().to_string();
    let body = whole.bytes().await.unwrap();
    let len = body.len();
    let get = |range: String| t.client.get(url).header("range", range).send();

    let part = get("bytes=0-99".into()).await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 0-99/{len}").as_str());
    assert_eq!(part.headers()["etag"], etag.as_str());
    assert_eq!(part.headers()["cache-control"], cache.as_str());
    assert_eq!(part.headers()["content-type"], "image/png");
    assert_eq!(part.bytes().await.unwrap(), body.slice(0..100));

    let tail = get("bytes=-10".into()).await.unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(
        tail.headers()["content-range"],
        format!("bytes {}-{}/{len}", len - 10, len - 1).as_str()
    );
    assert_eq!(tail.bytes().await.unwrap(), body.slice(len - 10..));

    let open_ended = get(format!("bytes={}-", len - 3)).await.unwrap();
    assert_eq!(open_ended.status(), 206);
    assert_eq!(open_ended.bytes().await.unwrap(), body.slice(len - 3..));

    let past_the_end = get(format!("bytes={len}-")).await.unwrap();
    assert_eq!(past_the_end.status(), 416);
    assert_eq!(
        past_the_end.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );

    // An If-Range naming another version gets the whole body; the right one, the part.
    let stale = t
        .client
        .get(url)
        .header("range", "bytes=0-9")
        .header("if-range", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.bytes().await.unwrap().len(), len);
    let fresh = t
        .client
        .get(url)
        .header("range", "bytes=0-9")
        .header("if-range", etag.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 206);
    // Conditional reads still answer 304.
    let cached = t
        .client
        .get(url)
        .header("if-none-match", etag.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    setup.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renditions_are_made_served_and_deleted_on_the_local_store() {
    renditions_are_made_served_and_deleted(Blobs::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renditions_are_made_served_and_deleted_on_s3() {
    renditions_are_made_served_and_deleted(Blobs::S3).await;
}

async fn renditions_are_made_served_and_deleted(blobs: Blobs) {
    let setup = Setup::start(blobs).await;
    let t = &setup.node;
    let u = t.user("gallery").await;
    let objects_before = setup.objects().len();
    // 1600×1200 stored, orientation 6: displayed 1200×1600.
    let up = t
        .upload(Some(&u.access), jpeg_with_metadata(1600, 1200, 6), "tall.jpg", None)
        .await;
    assert_eq!(up.status, 201, "{}", up.body);
    assert_eq!(up.body["renditions"], serde_json::json!([]), "none until made");
    let file_id = up.body["file_id"].as_str().unwrap().to_string();
    let mut events = common::SseStream::open(&format!("{}/events", t.url), Some(&u.access))
        .await
        .unwrap();
    let settled = t.settled_media(&u.access, &file_id).await;
    assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
    assert_eq!(
        (settled["width"].as_i64(), settled["height"].as_i64()),
        (Some(1200), Some(1600))
    );
    let renditions = settled["renditions"].as_array().unwrap();
    let listed: Vec<(u64, u64, &str)> = renditions
        .iter()
        .map(|r| {
            (
                r["width"].as_u64().unwrap(),
                r["height"].as_u64().unwrap(),
                r["format"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(u64, u64, &str)> = [(240, 320), (480, 640), (960, 1280), (1200, 1600)]
        .into_iter()
        .flat_map(|(w, h)| [(w, h, "webp"), (w, h, "jpeg")])
        .collect();
    assert_eq!(listed, expected);
    for r in renditions {
        let response = t.client.get(r["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(response.status(), 200, "{r}");
        let mime = format!("image/{}", r["format"].as_str().unwrap());
        assert_eq!(response.headers()["content-type"], mime.as_str());
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len() as u64, r["bytes"].as_u64().unwrap());
        let decoded = image::load_from_memory(&body).unwrap();
        assert_eq!(
            (u64::from(decoded.width()), u64::from(decoded.height())),
            (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap())
        );
    }
    // The placeholder has the picture's shape (3:4).
    let hash = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        settled["thumbhash"].as_str().unwrap(),
    )
    .unwrap();
    let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
    assert!((ratio - 0.75).abs() < 0.1, "{ratio}");
    // The live event carries the same renditions (it may have come before the stream
    // opened; then the media read above is what a reconnecting client relies on).
    if let Some((name, event)) = events.next_event(Duration::from_millis(500)).await {
        assert_eq!(name, "media.thumbnail_ready");
        assert_eq!(event["renditions"], settled["renditions"]);
    }

    // Original, thumbnail and eight renditions are stored (s3s-fs keeps each object's
    // metadata in a file of its own beside it); delete removes them all.
    let ours = || -> Vec<PathBuf> {
        setup
            .objects()
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(&file_id))
            .collect()
    };
    assert_eq!(ours().len(), 10, "{:?}", ours());
    assert_eq!(setup.objects().len(), objects_before + 10);
    let deleted = t.delete(&format!("/media/{file_id}"), Some(&u.access)).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(ours(), Vec::<PathBuf>::new());
    assert_eq!(setup.objects().len(), objects_before);
    for r in renditions {
        assert_eq!(
            t.client.get(r["url"].as_str().unwrap()).send().await.unwrap().status(),
            404
        );
    }
    setup.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_projects_images_leave_storage_on_the_local_store() {
    a_deleted_projects_images_leave_storage(Blobs::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_projects_images_leave_storage_on_s3() {
    a_deleted_projects_images_leave_storage(Blobs::S3).await;
}

/// Deleting a project removes its images with every stored form of them (the media
/// domain answers `project.deleted`); an image of another project stays.
async fn a_deleted_projects_images_leave_storage(blobs: Blobs) {
    let setup = Setup::start(blobs).await;
    let t = &setup.node;
    let u = t.user("curator").await;
    let doomed = t
        .create_project(&u.access, serde_json::json!({"title": "Doomed"}))
        .await;
    let doomed = doomed["id"].as_str().unwrap().to_string();
    let kept = t.create_project(&u.access, serde_json::json!({"title": "Kept"})).await;
    let kept = kept["id"].as_str().unwrap().to_string();
    let objects_before = setup.objects().len();
    let mut doomed_files = Vec::new();
    for (i, project) in [&doomed, &doomed, &kept].into_iter().enumerate() {
        let up = t
            .upload(
                Some(&u.access),
                jpeg_with_metadata(700, 500, 1),
                &format!("{i}.jpg"),
                Some(project),
            )
            .await;
        assert_eq!(up.status, 201, "{}", up.body);
        let file_id = up.body["file_id"].as_str().unwrap().to_string();
        let settled = t.settled_media(&u.access, &file_id).await;
        assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
        if *project == doomed {
            doomed_files.push(file_id);
        }
    }
    // Each image: the original, its thumbnail and six renditions (700 pixels wide: 320,
    // 640 and its own size, in two formats).
    assert_eq!(setup.objects().len(), objects_before + 3 * 8);

    let deleted = t.delete(&format!("/projects/{doomed}"), Some(&u.access)).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let gone = |file_id: &String| {
        !setup
            .objects()
            .iter()
            .any(|p| p.to_string_lossy().contains(file_id.as_str()))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !doomed_files.iter().all(gone) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deleted project's images are still stored: {:?}",
            setup.objects()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        setup.objects().len(),
        objects_before + 8,
        "the other project's image stays"
    );
    for file_id in &doomed_files {
        let read = t.get(&format!("/media/{file_id}"), Some(&u.access)).await;
        assert_eq!(read.status, 404, "{}", read.body);
    }
    let listed = t.get("/media", Some(&u.access)).await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
    setup.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_missing_makes_renditions_for_older_images_on_the_local_store() {
    regenerate_missing_makes_renditions_for_older_images(Blobs::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_missing_makes_renditions_for_older_images_on_s3() {
    regenerate_missing_makes_renditions_for_older_images(Blobs::S3).await;
}

async fn regenerate_missing_makes_renditions_for_older_images(blobs: Blobs) {
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    let setup = Setup::start(blobs).await;
    let t = &setup.node;
    let u = t.user("archivist").await;
    let up = t
        .upload(Some(&u.access), jpeg_with_metadata(900, 700, 1), "old.jpg", None)
        .await;
    assert_eq!(up.status, 201, "{}", up.body);
    let file_id = up.body["file_id"].as_str().unwrap().to_string();
    let ready = t.settled_media(&u.access, &file_id).await;
    assert_eq!(ready["renditions"].as_array().unwrap().len(), 6, "{ready}");
    // Made the way the previous version left it: a thumbnail, no renditions.
    media_files::Entity::update_many()
        .col_expr(media_files::Column::Renditions, Expr::value(Option::<String>::None))
        .col_expr(media_files::Column::Thumbhash, Expr::value(Option::<String>::None))
        .filter(media_files::Column::Id.eq(Uuid::parse_str(&file_id).unwrap()))
        .exec(&t.node().db)
        .await
        .unwrap();
    let old = t.get(&format!("/media/{file_id}"), Some(&u.access)).await;
    assert_eq!(old.body["renditions"], serde_json::json!([]));

    let report = t.node().media.regenerate_missing(|_, _| {}).await.unwrap();
    assert_eq!((report.checked, report.queued), (1, 1));
    let settled = t.settled_media(&u.access, &file_id).await;
    assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
    assert_eq!(
        settled["renditions"], ready["renditions"],
        "the same set, under the same keys"
    );
    assert!(settled["thumbhash"].is_string());
    // Nothing missing any more: a second run queues nothing.
    let again = t.node().media.regenerate_missing(|_, _| {}).await.unwrap();
    assert_eq!((again.checked, again.queued), (1, 0));
    setup.node.shutdown().await;
}
