//! The whole supervised tree of a node, started without HTTP: what one domain commits
//! reaches the others through the relay and the bus, and what the node casts to its
//! process groups can be heard (and answered) by a test that joins them.

use folio_actors::media::ThumbnailStatus;
use std::time::Duration;

use folio_actors::{
    cluster::{EdgeHubMsg, LiveEvent, NodeAgentMsg, NodeDescription, agent::Described, hub::StreamItem},
    events::DomainEvent,
    session::DeleteAccountCmd,
};
use folio_testkit::actors::{
    EventProbe, GroupProbe, Kit,
    fixtures::{self, PASSWORD, draft, eventually, jpeg, register, upload},
};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn an_upload_goes_from_the_media_domain_through_the_thumbnailer_to_the_index_and_the_owner() {
    let kit = Kit::start().await;
    let tree = kit.tree().await;
    let owner = register(&tree.session, "yara").await;
    let project = tree.projects.create(owner, draft("Pictures")).await.expect("created");
    let mut stream = tree.live.subscribe(owner, None, None).expect("a live stream");
    let mut uploads = EventProbe::on(&kit.bus, &["media.>"]).await;

    let image = upload(&tree.media, owner, jpeg(48, 32), Some(project.id)).await;
    uploads
        .expect(
            WAIT,
            |e| matches!(e, DomainEvent::MediaUploaded(m) if m.file_id == image.file_id),
        )
        .await;

    // The owner hears of the thumbnail on their stream, through the node's hub.
    let thumbnail_url = loop {
        match tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("the stream answers")
        {
            Some(StreamItem::Push(push)) => match push.event {
                LiveEvent::ThumbnailReady {
                    file_id, thumbnail_url, ..
                } if file_id == image.file_id => {
                    break thumbnail_url;
                }
                // Indexing of the project's versions is told too.
                LiveEvent::ProjectIndexed { .. } => {}
                other => panic!("unexpected live event {other:?}"),
            },
            other => panic!("the stream ended: {other:?}"),
        }
    };
    // The project took the thumbnail, and the index follows the project to its last
    // version (the thumbnail, then the gallery's renditions).
    eventually(WAIT, "the index to hold the project's last version", || async {
        let current = tree.projects.get(project.id).await.expect("project");
        let indexed = kit.search.document(project.id).await?;
        (current.thumbnail_url.as_deref() == Some(thumbnail_url.as_str())
            && indexed.thumbnail_url == current.thumbnail_url
            && indexed.version == current.version)
            .then_some(())
    })
    .await;
    uploads.expect_none(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_deleted_account_leaves_nothing_in_any_domain() {
    let kit = Kit::start().await;
    let tree = kit.tree().await;
    let owner = register(&tree.session, "zoe").await;
    let project = tree.projects.create(owner, draft("Going")).await.expect("created");
    let image = upload(&tree.media, owner, jpeg(16, 16), Some(project.id)).await;
    eventually(WAIT, "the thumbnail made", || async {
        (kit.media_row(image.file_id).await.thumbnail_status == ThumbnailStatus::Ready).then_some(())
    })
    .await;
    let mut events = EventProbe::on(&kit.bus, &["user.>", "project.deleted", "media.deleted"]).await;

    tree.session
        .delete_account(DeleteAccountCmd {
            user_id: owner,
            password: fixtures::password(PASSWORD),
            client: "192.0.2.20".to_string(),
        })
        .await
        .expect("deletion requested");

    events
        .expect(WAIT, |e| matches!(e, DomainEvent::UserDeleted(u) if u.user_id == owner))
        .await;
    // Media first, then the projects: never a project pointing at a file that is gone.
    events
        .expect(
            WAIT,
            |e| matches!(e, DomainEvent::MediaDeleted(m) if m.file_id == image.file_id),
        )
        .await;
    events
        .expect(
            WAIT,
            |e| matches!(e, DomainEvent::ProjectDeleted(p) if p.project_id == project.id),
        )
        .await;
    eventually(WAIT, "the deletion to finish", || async {
        tree.session
            .pending_deletions()
            .await
            .expect("deletions")
            .is_empty()
            .then_some(())
    })
    .await;
    eventually(WAIT, "the project out of the index", || async {
        kit.search.document(project.id).await.is_none().then_some(())
    })
    .await;
    assert!(kit.blobs.keys_under(&format!("uploads/{owner}")).is_empty());
    assert!(kit.blobs.keys_under(&format!("thumbnails/{owner}")).is_empty());
    assert!(
        tree.session
            .login(fixtures::login_cmd("zoe", PASSWORD, "192.0.2.20"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_test_in_the_node_group_is_asked_like_any_node_and_can_answer() {
    let kit = Kit::start().await;
    let tree = kit.tree().await;
    let mut nodes = GroupProbe::<NodeAgentMsg>::node().await;
    let ghost = NodeDescription {
        name: "ghost".to_string(),
        roles: vec!["indexer".to_string()],
        version: "0.0.0".to_string(),
        started_at: chrono::Utc::now(),
        uptime_secs: 7,
        http_addr: None,
        cluster_addr: None,
        actor_restarts: Default::default(),
    };

    let asking = tokio::spawn(folio_actors::cluster::agent::describe_all(Duration::from_secs(5)));
    let NodeAgentMsg::Describe(reply) = nodes.next(WAIT).await;
    reply.send(ghost.clone()).expect("the asker waits");
    let answers = asking.await.expect("asked");

    let answered: Vec<&NodeDescription> = answers
        .iter()
        .filter_map(|answer| match answer {
            Described::Answered(description) => Some(description),
            Described::NoAnswer { .. } => None,
        })
        .collect();
    // Under nextest the group holds this test's members only: the kit's agent and the probe.
    assert!(answered.contains(&&ghost), "{answers:?}");
    assert!(answered.iter().any(|d| d.name == "kit"), "{answers:?}");
    assert_eq!(tree.agent.describe_self().name, "kit");
}

#[tokio::test]
async fn every_hub_in_the_edge_group_hears_a_live_event_once() {
    let kit = Kit::start().await;
    let tree = kit.tree().await;
    let owner = register(&tree.session, "abel").await;
    let mut hub = GroupProbe::<EdgeHubMsg>::edge_for(owner).await;
    let project = tree.projects.create(owner, draft("Indexed")).await.expect("created");

    // The indexer tells every hub, the probe among them, that the project is searchable.
    let EdgeHubMsg::Push(push) = hub.next(WAIT).await else {
        panic!("a live event")
    };
    assert_eq!(push.user_id, owner);
    assert_eq!(
        push.event,
        LiveEvent::ProjectIndexed {
            project_id: project.id,
            version: 1
        }
    );
    hub.expect_none(Duration::from_millis(200)).await;
}
