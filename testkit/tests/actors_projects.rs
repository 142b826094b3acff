//! The project and media domains driven directly: who may change what, one event per
//! change in the order of the changes, changes to one project applied in arrival
//! order, and the notices that keep every node's cached views true. The HTTP twins
//! (`tests/projects.rs`, `tests/events.rs`, `tests/curation.rs`) keep the contract.

use std::time::Duration;

use folio_actors::{
    events::DomainEvent,
    media::{MediaError, MediaPatch},
    project::{
        ProjectError, ProjectPatch, ThumbnailSetter, ThumbnailUrl, Title, view_keeper::ProjectViewMsg,
        views::ViewNotice,
    },
};
use folio_testkit::actors::{
    EventProbe, GroupProbe, Kit, KitConfig,
    fixtures::{draft, jpeg, register, upload},
};

const WAIT: Duration = Duration::from_secs(5);

fn retitle(title: &str) -> ProjectPatch {
    ProjectPatch {
        title: Some(Title::parse(title).expect("a valid title")),
        ..ProjectPatch::default()
    }
}

#[tokio::test]
async fn only_the_owner_changes_a_project_and_a_refused_change_publishes_nothing() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let projects = kit.projects().await;
    kit.relay().await;
    let owner = register(&session, "frank").await;
    let other = register(&session, "grace").await;
    let mut events = EventProbe::start(&kit.bus).await;
    let project = projects.create(owner, draft("Mine")).await.expect("created");
    events
        .expect(
            WAIT,
            |e| matches!(e, DomainEvent::ProjectCreated(p) if p.project_id == project.id),
        )
        .await;

    let update = projects.update(other, project.id, retitle("Stolen")).await;
    assert!(matches!(update, Err(ProjectError::Forbidden)), "{update:?}");
    let thumbnail = projects
        .set_thumbnail(
            project.id,
            ThumbnailUrl::parse("https://evil.example/x.jpg").expect("url"),
            ThumbnailSetter::Owner(other),
        )
        .await;
    assert!(matches!(thumbnail, Err(ProjectError::Forbidden)), "{thumbnail:?}");
    let delete = projects.delete(other, project.id).await;
    assert!(matches!(delete, Err(ProjectError::Forbidden)), "{delete:?}");

    events.expect_none(Duration::from_millis(300)).await;
    let unchanged = projects.get(project.id).await.expect("still there");
    assert_eq!((unchanged.title.as_str(), unchanged.version), ("Mine", 1));
    assert_eq!(kit.unpublished().await, 0);
}

#[tokio::test]
async fn the_thumbnailer_may_set_any_projects_thumbnail() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let projects = kit.projects().await;
    let owner = register(&session, "hugo").await;
    let project = projects.create(owner, draft("Theirs")).await.expect("created");
    let url = ThumbnailUrl::parse("http://folio.test/media/thumbnails/x.jpg").expect("url");
    let set = projects
        .set_thumbnail(project.id, url, ThumbnailSetter::System)
        .await
        .expect("the system sets it");
    assert_eq!(
        set.thumbnail_url.as_deref(),
        Some("http://folio.test/media/thumbnails/x.jpg")
    );
    assert_eq!(set.version, 2);
}

#[tokio::test]
async fn each_change_is_one_event_in_the_order_of_the_changes() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let projects = kit.projects().await;
    kit.relay().await;
    let owner = register(&session, "alice").await;
    let mut events = EventProbe::on(&kit.bus, &["project.>"]).await;

    let project = projects.create(owner, draft("My App")).await.expect("created");
    projects
        .update(owner, project.id, retitle("My App 2"))
        .await
        .expect("updated");
    projects
        .set_thumbnail(
            project.id,
            ThumbnailUrl::parse("https://cdn.example/t.jpg").expect("url"),
            ThumbnailSetter::Owner(owner),
        )
        .await
        .expect("thumbnail set");
    projects.delete(owner, project.id).await.expect("deleted");
    // A change to a project that is gone is refused, and publishes nothing.
    let gone = projects.update(owner, project.id, retitle("gone")).await;
    assert!(matches!(gone, Err(ProjectError::NotFound)), "{gone:?}");

    let created = events
        .expect(
            WAIT,
            |e| matches!(e, DomainEvent::ProjectCreated(p) if p.title == "My App" && p.username == "alice"),
        )
        .await;
    let renamed = events
        .expect(
            WAIT,
            |e| matches!(e, DomainEvent::ProjectUpdated(p) if p.title == "My App 2"),
        )
        .await;
    let thumbnailed = events
        .expect(WAIT, |e| {
            matches!(e, DomainEvent::ProjectUpdated(p) if p.thumbnail_url.as_deref() == Some("https://cdn.example/t.jpg"))
        })
        .await;
    let deleted = events
        .expect(
            WAIT,
            |e| matches!(e, DomainEvent::ProjectDeleted(d) if d.project_id == project.id),
        )
        .await;
    let versions: Vec<Option<i64>> = [created, renamed, thumbnailed, deleted]
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, [Some(1), Some(2), Some(3), Some(4)]);
    events.expect_none(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn concurrent_changes_to_one_project_apply_one_after_another() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let projects = kit.projects().await;
    kit.relay().await;
    let owner = register(&session, "olga").await;
    let project = projects.create(owner, draft("v1")).await.expect("created");
    let mut events = EventProbe::on(&kit.bus, &["project.updated"]).await;

    let changes = (0..20).map(|n| {
        let projects = projects.clone();
        async move {
            projects
                .update(owner, project.id, retitle(&format!("change {n}")))
                .await
        }
    });
    let results = futures::future::join_all(changes).await;
    let mut versions: Vec<i64> = results
        .into_iter()
        .map(|r| r.expect("every change applies").version)
        .collect();
    versions.sort_unstable();
    assert_eq!(
        versions,
        (2..=21).collect::<Vec<i64>>(),
        "each change took the next version"
    );

    // The events follow the versions, and each carries the title of its version.
    let mut titles = Vec::new();
    for version in 2..=21 {
        let event = events
            .expect(WAIT, |e| matches!(e, DomainEvent::ProjectUpdated(_)))
            .await;
        assert_eq!(event.version, Some(version));
        let DomainEvent::ProjectUpdated(p) = event.event else {
            unreachable!()
        };
        titles.push(p.title);
    }
    let last = projects.get(project.id).await.expect("read");
    assert_eq!(last.version, 21);
    assert_eq!(titles.last(), Some(&last.title));
}

#[tokio::test]
async fn changes_and_deletes_notify_every_nodes_project_views() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let projects = kit.projects().await;
    let owner = register(&session, "pia").await;
    let project = projects.create(owner, draft("Noticed")).await.expect("created");
    let mut views = GroupProbe::<ProjectViewMsg>::project_views_for(project.id).await;

    projects
        .update(owner, project.id, retitle("Noticed again"))
        .await
        .expect("updated");
    let ProjectViewMsg::Changed(notice) = views.next(WAIT).await;
    assert_eq!(
        notice,
        ViewNotice {
            project_id: project.id,
            version: 2,
            deleted: false
        }
    );
    projects.delete(owner, project.id).await.expect("deleted");
    let ProjectViewMsg::Changed(notice) = views.next(WAIT).await;
    // A delete is one past the last version, so no older view comes back.
    assert_eq!(
        notice,
        ViewNotice {
            project_id: project.id,
            version: 3,
            deleted: true
        }
    );
    // A refused change tells nobody.
    assert!(projects.update(owner, project.id, retitle("x")).await.is_err());
    views.expect_none(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_change_on_another_node_ends_this_nodes_cached_view_at_once() {
    let mut config = KitConfig::default();
    // Without the notice, a stale view would be served for an hour.
    config.views.ttl = Duration::from_secs(3600);
    let kit = Kit::start_with(config).await;
    let session = kit.session().await;
    // Two nodes' project domains on one database, each with its views and its keeper.
    let here = kit.projects().await;
    let there = kit.projects().await;
    let owner = register(&session, "quinn").await;
    let project = here.create(owner, draft("Before")).await.expect("created");
    assert_eq!(here.get(project.id).await.expect("read").title, "Before");
    let hits = here.view_stats().hits;
    assert_eq!(here.get(project.id).await.expect("read").title, "Before");
    assert_eq!(here.view_stats().hits, hits + 1, "served from the cached view");

    there
        .update(owner, project.id, retitle("After"))
        .await
        .expect("updated there");

    folio_testkit::actors::fixtures::eventually(WAIT, "this node to read the change", || async {
        let read = here.get(project.id).await.expect("read");
        (read.title == "After" && read.version == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn only_the_owner_changes_or_deletes_an_image() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let projects = kit.projects().await;
    let media = kit.media(&projects).await;
    let owner = register(&session, "rosa").await;
    let other = register(&session, "sam").await;
    let theirs = projects.create(other, draft("Sam's")).await.expect("created");
    let image = upload(&media, owner, jpeg(32, 24), None).await;

    let delete = media.delete(other, image.file_id).await;
    assert!(matches!(delete, Err(MediaError::Forbidden)), "{delete:?}");
    let moved = media
        .update(
            other,
            image.file_id,
            MediaPatch {
                project_id: Some(theirs.id),
                ..MediaPatch::default()
            },
        )
        .await;
    assert!(matches!(moved, Err(MediaError::Forbidden)), "{moved:?}");
    // Nor may the owner put it into someone else's project.
    let into_theirs = media
        .update(
            owner,
            image.file_id,
            MediaPatch {
                project_id: Some(theirs.id),
                ..MediaPatch::default()
            },
        )
        .await;
    assert!(into_theirs.is_err(), "{into_theirs:?}");
    assert!(
        kit.blobs.object(&image.file_path).is_some(),
        "the upload is still stored"
    );
    media.delete(owner, image.file_id).await.expect("the owner deletes it");
    assert!(kit.blobs.object(&image.file_path).is_none(), "and its blob goes");
}
