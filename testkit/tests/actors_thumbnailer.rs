//! The thumbnailer started alone (with the media and project domains it writes
//! through), fed typed `media.uploaded` events, and watched through the ports it writes
//! to: the blob store, the media rows, the project, and `folio.edge` for what the owner
//! hears live. Its retry rules: a store that cannot be reached is retried with backoff
//! until `max_attempts`, anything else fails the thumbnail at once, and a job whose
//! media is settled is acknowledged without work. The HTTP twin (`tests/media.rs`)
//! keeps the contract.

use folio_actors::media::ThumbnailStatus;
use std::time::Duration;

use folio_actors::{
    cluster::{EdgeHubMsg, LiveEvent},
    media::{MediaClient, MediaView},
    project::ProjectClient,
};
use folio_testkit::actors::{
    BlobOp, FaultKind, GroupProbe, Kit, KitConfig,
    fixtures::{draft, eventually, jpeg, media_uploaded, register, upload},
};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

struct Thumbnailing {
    kit: Kit,
    media: MediaClient,
    projects: ProjectClient,
    owner: Uuid,
    hub: GroupProbe<EdgeHubMsg>,
}

/// The thumbnailer alone: nothing relays what the media domain commits, so the test's
/// events are the only jobs.
async fn thumbnailer(config: KitConfig) -> Thumbnailing {
    let kit = Kit::start_with(config).await;
    let session = kit.session().await;
    let projects = kit.projects().await;
    let media = kit.media(&projects).await;
    kit.thumbnailer(&media, &projects).await;
    let owner = register(&session, "tess").await;
    let hub = GroupProbe::<EdgeHubMsg>::edge_for(owner).await;
    Thumbnailing {
        kit,
        media,
        projects,
        owner,
        hub,
    }
}

impl Thumbnailing {
    async fn upload(&self, project: Option<Uuid>) -> MediaView {
        upload(&self.media, self.owner, jpeg(64, 48), project).await
    }

    /// Hands the thumbnailer the job for `image`.
    async fn feed(&self, image: &MediaView) {
        self.kit.publish(media_uploaded(image), None).await;
    }

    /// What the owner hears live next.
    async fn heard(&mut self) -> LiveEvent {
        match self.hub.next(WAIT).await {
            EdgeHubMsg::Push(push) => {
                assert_eq!(push.user_id, self.owner, "told to the owner");
                push.event
            }
            _ => panic!("a live event for the owner"),
        }
    }
}

#[tokio::test]
async fn an_uploaded_image_gets_its_thumbnail_renditions_and_project_cover() {
    let mut t = thumbnailer(KitConfig::default()).await;
    let project = t.projects.create(t.owner, draft("Gallery")).await.expect("created");
    let image = t.upload(Some(project.id)).await;
    assert_eq!(image.thumbnail_status, ThumbnailStatus::Pending);
    t.feed(&image).await;

    let LiveEvent::ThumbnailReady {
        file_id,
        thumbnail_url,
        renditions,
        ..
    } = t.heard().await
    else {
        panic!("the thumbnail is ready")
    };
    assert_eq!(file_id, image.file_id);
    let key = format!("thumbnails/{}/{}_thumb.jpg", t.owner, image.file_id);
    assert_eq!(thumbnail_url, format!("http://folio.test/media/{key}"));
    let thumbnail = t.kit.blobs.object(&key).expect("the thumbnail is stored");
    assert_eq!(thumbnail.content_type, "image/jpeg");
    assert!(!renditions.is_empty());
    assert_eq!(
        t.kit.blobs.keys_under(&format!("renditions/{}/", t.owner)).len(),
        renditions.len(),
        "every rendition is stored"
    );
    let row = t.media.get(t.owner, image.file_id).await.expect("media");
    assert_eq!(row.thumbnail_status, ThumbnailStatus::Ready);
    assert_eq!(row.thumbnail_url.as_deref(), Some(thumbnail_url.as_str()));
    assert_eq!((row.width, row.height), (Some(64), Some(48)));
    let project = t.projects.get(project.id).await.expect("project");
    assert_eq!(
        project.thumbnail_url,
        Some(thumbnail_url),
        "the project takes it as its cover"
    );
}

#[tokio::test]
async fn a_store_that_cannot_be_reached_is_retried_until_it_answers() {
    let mut t = thumbnailer(KitConfig::default()).await;
    let image = t.upload(None).await;
    t.kit.blobs.fail_next(BlobOp::Get, 2, FaultKind::Unavailable);
    t.feed(&image).await;

    assert!(matches!(t.heard().await, LiveEvent::ThumbnailReady { file_id, .. } if file_id == image.file_id));
    let row = t.kit.media_row(image.file_id).await;
    assert_eq!(row.thumbnail_status, ThumbnailStatus::Ready);
    assert_eq!(row.thumbnail_attempts, 2, "two failed attempts were recorded");
    assert_eq!(row.thumbnail_error, None, "the success clears the error");
}

#[tokio::test]
async fn a_store_that_stays_away_fails_the_thumbnail_after_max_attempts() {
    let mut config = KitConfig::default();
    config.thumbnailer.max_attempts = 3;
    let mut t = thumbnailer(config).await;
    let image = t.upload(None).await;
    t.kit.blobs.fail_always(BlobOp::Get, FaultKind::Unavailable);
    t.feed(&image).await;

    let LiveEvent::ThumbnailFailed { file_id, error } = t.heard().await else {
        panic!("the thumbnail failed")
    };
    assert_eq!(file_id, image.file_id);
    assert!(error.contains("unavailable"), "{error}");
    let row = t.kit.media_row(image.file_id).await;
    assert_eq!(row.thumbnail_status, ThumbnailStatus::Failed);
    assert_eq!(row.thumbnail_attempts, 3);
    assert!(row.thumbnail_failed_at.is_some());
    assert!(t.kit.blobs.keys_under("thumbnails/").is_empty());
}

#[tokio::test]
async fn a_store_that_refuses_fails_the_thumbnail_at_once() {
    let mut t = thumbnailer(KitConfig::default()).await;
    let image = t.upload(None).await;
    t.kit.blobs.fail_always(BlobOp::Get, FaultKind::Denied);
    t.feed(&image).await;

    assert!(matches!(t.heard().await, LiveEvent::ThumbnailFailed { file_id, .. } if file_id == image.file_id));
    let row = t.kit.media_row(image.file_id).await;
    assert_eq!(row.thumbnail_status, ThumbnailStatus::Failed);
    assert_eq!(row.thumbnail_attempts, 1, "a refusal is not worth another try");
}

#[tokio::test]
async fn a_missing_upload_fails_the_thumbnail_at_once_saying_so() {
    let mut t = thumbnailer(KitConfig::default()).await;
    let image = t.upload(None).await;
    t.kit.blobs.remove(&image.file_path);
    t.feed(&image).await;

    let LiveEvent::ThumbnailFailed { error, .. } = t.heard().await else {
        panic!("the thumbnail failed")
    };
    assert_eq!(error, "the uploaded file is missing");
    let row = t.kit.media_row(image.file_id).await;
    assert_eq!(
        (row.thumbnail_status, row.thumbnail_attempts),
        (ThumbnailStatus::Failed, 1)
    );
}

#[tokio::test]
async fn a_thumbnail_that_cannot_be_stored_is_retried_whole() {
    let mut t = thumbnailer(KitConfig::default()).await;
    let image = t.upload(None).await;
    let writes_before = t.kit.blobs.writes().len();
    t.kit.blobs.fail_next(BlobOp::Put, 1, FaultKind::Unavailable);
    t.feed(&image).await;

    assert!(matches!(t.heard().await, LiveEvent::ThumbnailReady { .. }));
    let row = t.kit.media_row(image.file_id).await;
    assert_eq!(
        (row.thumbnail_status, row.thumbnail_attempts),
        (ThumbnailStatus::Ready, 1)
    );
    // The second attempt wrote everything again under the same keys: the thumbnail last.
    let writes = t.kit.blobs.writes();
    let (last_key, last_type) = writes.last().expect("writes");
    assert!(
        last_key.ends_with("_thumb.jpg") && last_type == "image/jpeg",
        "{writes:?}"
    );
    assert!(writes.len() > writes_before + 1);
}

#[tokio::test]
async fn a_job_whose_thumbnail_is_settled_is_acknowledged_without_work() {
    let mut t = thumbnailer(KitConfig::default()).await;
    let image = t.upload(None).await;
    t.feed(&image).await;
    assert!(matches!(t.heard().await, LiveEvent::ThumbnailReady { .. }));
    let writes = t.kit.blobs.writes().len();

    // The same job again, as a redelivery after a lost acknowledgement would bring it.
    t.feed(&image).await;
    // Then another image: once its thumbnail is heard of, the repeat was settled before.
    let second = t.upload(None).await;
    t.feed(&second).await;
    assert!(matches!(t.heard().await, LiveEvent::ThumbnailReady { file_id, .. } if file_id == second.file_id));
    let renditions_of_first = t
        .kit
        .blobs
        .writes()
        .iter()
        .skip(writes)
        .filter(|(key, _)| key.contains(&image.file_id.to_string()))
        .count();
    assert_eq!(renditions_of_first, 0, "nothing was made again for the settled image");
    t.hub.expect_none(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn a_job_for_media_that_is_gone_is_acknowledged_without_work() {
    let mut t = thumbnailer(KitConfig::default()).await;
    let image = t.upload(None).await;
    t.media.delete(t.owner, image.file_id).await.expect("deleted");
    let writes = t.kit.blobs.writes().len();
    t.feed(&image).await;
    let next = t.upload(None).await;
    t.feed(&next).await;
    assert!(matches!(t.heard().await, LiveEvent::ThumbnailReady { file_id, .. } if file_id == next.file_id));
    assert!(
        t.kit.blobs.writes()[writes..]
            .iter()
            .all(|(key, _)| !key.contains(&image.file_id.to_string())),
        "nothing made for the deleted image"
    );
    eventually(WAIT, "the thumbnailer to be idle", || async {
        (t.kit.activity.in_flight(folio_actors::jobs::JobKind::Thumbnails) == 0).then_some(())
    })
    .await;
}
