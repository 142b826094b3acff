//! Thumbnailer scale-out on the real cluster stack: PostgreSQL, NATS JetStream and S3
//! (s3s-fs). Two `folio serve --roles thumbnailer` processes share one durable
//! consumer; one is SIGKILLed mid-run; every upload still ends `ready`.

mod common;

use std::{
    collections::HashMap,
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{Backend, TEST_JWT_SECRET, TestNode, eventually, jpeg, nats_isolation, shared_nats_url};
use folio::Settings;
use folio_testkit::blobs::S3sFs;

/// A thumbnailer process; its "thumbnail ready" log lines are counted.
struct Worker {
    child: Child,
    done: Arc<Mutex<usize>>,
}

fn spawn_thumbnailer(
    settings: &Settings,
    data_dir: &std::path::Path,
    public_url: &str,
    s3: &folio_media::S3Settings,
) -> Worker {
    let mut command = Command::new(env!("CARGO_BIN_EXE_folio"));
    command
        .args(["serve", "--roles", "thumbnailer"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FOLIO_DATA_DIR", data_dir)
        .env("FOLIO_DATABASE_URL", settings.database_url())
        .env("FOLIO_JWT_SECRET", TEST_JWT_SECRET)
        .env("FOLIO_NATS_URL", settings.bus.backend.nats_url().expect("a NATS URL"))
        .env("FOLIO_NATS_STREAM_PREFIX", &settings.bus.stream_prefix)
        .env("FOLIO_NATS_SUBJECT_PREFIX", &settings.bus.subject_prefix)
        .env("FOLIO_S3_ENDPOINT", &s3.endpoint)
        .env("FOLIO_S3_ACCESS_KEY", &s3.access_key)
        .env("FOLIO_S3_SECRET_KEY", &s3.secret_key)
        .env("FOLIO_S3_BUCKET", &s3.bucket)
        .env("FOLIO_PUBLIC_URL", public_url)
        .env("FOLIO_CLUSTER_COOKIE", "scale-out-test-cookie-of-at-least-32-bytes")
        .env("FOLIO_CLUSTER_ADDR", "127.0.0.1:0")
        .env("FOLIO_CLUSTER_BUCKET", format!("{}nodes", settings.bus.stream_prefix))
        .env("FOLIO_THUMBNAIL_CONCURRENCY", "1")
        .env("FOLIO_THUMBNAIL_ACK_WAIT_SECS", "3")
        .env("FOLIO_LOG_FILTER", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("starting a thumbnailer process");
    let done = Arc::new(Mutex::new(0));
    let stdout = child.stdout.take().expect("stdout piped");
    let counter = done.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("thumbnail ready") {
                *counter.lock().unwrap() += 1;
            }
        }
    });
    Worker { child, done }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thumbnailers_share_the_work_and_survive_a_kill() {
    let s3 = S3sFs::start();
    let bucket = format!("scale-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let s3_settings = s3.settings(&bucket);
    let nats = shared_nats_url();
    let edge = TestNode::spawn_with(Backend::Postgres, |s| {
        nats_isolation(s, &nats);
        s.node.roles = folio::configuration::Roles::parse("http,indexer").expect("valid roles");
        s.blobs = folio::configuration::BlobBackend::S3(folio::configuration::S3Blobs::new(
            s3_settings.endpoint.clone(),
            s3_settings.access_key.clone(),
            s3_settings.secret_key.clone(),
            bucket.clone(),
        ));
    })
    .await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut first = spawn_thumbnailer(&edge.settings, dirs[0].path(), &edge.url, &s3_settings);
    let second = spawn_thumbnailer(&edge.settings, dirs[1].path(), &edge.url, &s3_settings);

    let u = edge.user("uploader").await;
    let picture = jpeg(1600, 1200);
    let mut files = Vec::new();
    for i in 0..50 {
        let up = edge
            .upload(Some(&u.access), picture.clone(), &format!("p{i}.jpg"), None)
            .await;
        assert_eq!(up.status, 201, "{}", up.body);
        files.push(up.body["file_id"].as_str().unwrap().to_string());
    }

    // Kill the first worker once it has done some of the work.
    eventually(
        Duration::from_secs(120),
        "the first worker to make thumbnails",
        || async { (*first.done.lock().unwrap() >= 3).then_some(()) },
    )
    .await;
    first.child.kill().expect("SIGKILL the first worker");
    let _ = first.child.wait();
    let by_first_before_kill = *first.done.lock().unwrap();

    let statuses = eventually(Duration::from_secs(180), "all 50 thumbnails ready", || async {
        let mut statuses = HashMap::new();
        for id in &files {
            let reply = edge.get(&format!("/media/{id}"), Some(&u.access)).await;
            statuses.insert(id.clone(), reply.body);
        }
        statuses
            .values()
            .all(|m| m["thumbnail_status"] == "ready")
            .then_some(statuses)
    })
    .await;
    let by_second = *second.done.lock().unwrap();
    assert!(by_first_before_kill >= 1, "the first worker did no work");
    assert!(by_second >= 1, "the second worker did no work");
    // Every thumbnail is where its row says, and is a 300×225 JPEG.
    for media in statuses.values() {
        let url = media["thumbnail_url"].as_str().unwrap();
        let bytes = edge.client.get(url).send().await.unwrap().bytes().await.unwrap();
        let decoded = image::load_from_memory(&bytes).expect("a decodable thumbnail");
        assert_eq!((decoded.width(), decoded.height()), (300, 225));
    }
    // Redelivered jobs were settled without redoing finished ones: at most the killed
    // worker's in-flight job (concurrency 1) was made twice.
    assert!(
        by_first_before_kill + by_second <= 50 + 1,
        "{by_first_before_kill} + {by_second} thumbnails for 50 uploads"
    );
    drop(second);
    edge.shutdown().await;
}
