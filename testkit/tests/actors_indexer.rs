//! The indexer started alone (with the profile domain it asks for display names), fed
//! typed project and profile events, and watched through the search engine it writes
//! to: what arrives together is written together, in the order delivered; a delete or
//! a rename ends a run of upserts; an engine outage is retried until it passes; a
//! document the engine refuses is dropped. The HTTP twin (`tests/search.rs`) keeps the
//! contract.

use std::time::Duration;

use folio_actors::{
    events::{DomainEvent, ProfileUpdated, ProjectDeleted},
    profile::{ProfileClient, ProfilePatch},
    project::{ProjectClient, ProjectPatch, ProjectView, Visibility},
};
use folio_testkit::actors::{
    Kit, SearchFault, SearchWrite,
    fixtures::{draft, eventually, project_created, project_updated, register},
};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

struct Indexing {
    kit: Kit,
    projects: ProjectClient,
    profiles: ProfileClient,
    owner: Uuid,
}

/// The indexer alone: nothing relays what the domains commit, so the test's events
/// are the only ones it gets.
async fn indexer() -> Indexing {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let profiles = kit.profiles().await;
    let projects = kit.projects().await;
    kit.indexer(&profiles).await;
    let owner = register(&session, "uma").await;
    Indexing {
        kit,
        projects,
        profiles,
        owner,
    }
}

impl Indexing {
    async fn create(&self, title: &str) -> ProjectView {
        self.projects.create(self.owner, draft(title)).await.expect("created")
    }

    async fn created(&self, project: &ProjectView) {
        self.kit.publish(project_created(project), Some(project.version)).await;
    }

    /// The engine's writes, once there are `n` of them.
    async fn writes(&self, n: usize) -> Vec<SearchWrite> {
        eventually(WAIT, &format!("{n} writes to the engine"), || async {
            let writes = self.kit.search.writes();
            (writes.len() >= n).then_some(writes)
        })
        .await
    }
}

#[tokio::test]
async fn events_that_arrive_together_are_written_with_one_call() {
    let t = indexer().await;
    let mut projects = Vec::new();
    for n in 0..5 {
        projects.push(t.create(&format!("batch {n}")).await);
    }
    // Published back to back: they wait together for the indexer to take them.
    for project in &projects {
        t.created(project).await;
    }
    let writes = t.writes(1).await;
    let expected: Vec<(Uuid, i64)> = projects.iter().map(|p| (p.id, 1)).collect();
    assert_eq!(writes, [SearchWrite::Upsert(expected)]);
    for project in &projects {
        let doc = t.kit.search.document(project.id).await.expect("indexed");
        assert_eq!(
            (doc.title.as_str(), doc.username.as_str()),
            (project.title.as_str(), "uma")
        );
    }
}

#[tokio::test]
async fn a_delete_ends_the_run_so_every_change_reaches_the_engine_in_order() {
    let t = indexer().await;
    let a = t.create("alpha").await;
    let b = t.create("beta").await;
    let c = t.create("gamma").await;
    t.created(&a).await;
    t.created(&b).await;
    t.kit
        .publish(
            DomainEvent::ProjectDeleted(ProjectDeleted { project_id: a.id }),
            Some(2),
        )
        .await;
    t.created(&c).await;

    let writes = t.writes(3).await;
    assert_eq!(
        writes,
        [
            SearchWrite::Upsert(vec![(a.id, 1), (b.id, 1)]),
            SearchWrite::Delete {
                project_id: a.id,
                version: 2
            },
            SearchWrite::Upsert(vec![(c.id, 1)]),
        ]
    );
    assert!(t.kit.search.document(a.id).await.is_none());
    assert!(t.kit.search.document(c.id).await.is_some());
}

#[tokio::test]
async fn a_project_changed_twice_in_one_batch_is_written_once_as_it_is_now() {
    let t = indexer().await;
    let project = t.create("first title").await;
    let updated = t
        .projects
        .update(
            t.owner,
            project.id,
            ProjectPatch {
                title: Some(folio_actors::project::Title::parse("second title").expect("title")),
                ..ProjectPatch::default()
            },
        )
        .await
        .expect("updated");
    t.created(&project).await;
    t.kit.publish(project_updated(&updated), Some(2)).await;

    // Documents are built from the database's current state, once per batch.
    assert_eq!(t.writes(1).await, [SearchWrite::Upsert(vec![(project.id, 2)])]);
    let doc = t.kit.search.document(project.id).await.expect("indexed");
    assert_eq!((doc.title.as_str(), doc.version), ("second title", 2));
}

#[tokio::test]
async fn an_engine_outage_is_retried_until_the_document_is_written() {
    let t = indexer().await;
    let project = t.create("patient").await;
    t.kit.search.fail_next(2, SearchFault::Unavailable);
    t.created(&project).await;

    let writes = t.writes(3).await;
    assert_eq!(writes, vec![SearchWrite::Upsert(vec![(project.id, 1)]); 3]);
    eventually(WAIT, "the document in the index", || async {
        t.kit.search.document(project.id).await
    })
    .await;
}

#[tokio::test]
async fn a_document_the_engine_refuses_is_dropped_and_the_indexer_goes_on() {
    let t = indexer().await;
    let refused = t.create("refused").await;
    let next = t.create("next").await;
    t.kit.search.fail_next(1, SearchFault::Invalid);
    t.created(&refused).await;
    // Taken in a batch of its own: the refused one is settled by then.
    t.writes(1).await;
    t.created(&next).await;

    let writes = t.writes(2).await;
    assert_eq!(
        writes,
        [
            SearchWrite::Upsert(vec![(refused.id, 1)]),
            SearchWrite::Upsert(vec![(next.id, 1)]),
        ],
        "the refused document is not tried again"
    );
    assert!(t.kit.search.document(refused.id).await.is_none());
}

#[tokio::test]
async fn a_project_that_is_not_public_is_taken_out_of_the_index() {
    let t = indexer().await;
    let project = t.create("draft").await;
    t.created(&project).await;
    t.writes(1).await;
    let private = t
        .projects
        .update(
            t.owner,
            project.id,
            ProjectPatch {
                visibility: Some(Visibility::Private),
                ..ProjectPatch::default()
            },
        )
        .await
        .expect("made private");
    t.kit.publish(project_updated(&private), Some(private.version)).await;

    let writes = t.writes(2).await;
    assert_eq!(
        writes[1],
        SearchWrite::Delete {
            project_id: project.id,
            version: 2
        }
    );
    assert!(t.kit.search.document(project.id).await.is_none());
}

#[tokio::test]
async fn a_profile_rename_rewrites_the_display_name_on_every_document() {
    let t = indexer().await;
    let project = t.create("named").await;
    t.created(&project).await;
    t.writes(1).await;
    t.profiles
        .update(
            t.owner,
            ProfilePatch {
                name: Some("Uma Thurber".to_string()),
                ..ProfilePatch::default()
            },
        )
        .await
        .expect("renamed");
    t.kit
        .publish(
            DomainEvent::ProfileUpdated(ProfileUpdated {
                name: Some("Uma Thurber".to_string()),
                user_id: t.owner,
                username: "uma".to_string(),
            }),
            None,
        )
        .await;

    let writes = t.writes(2).await;
    assert_eq!(
        writes[1],
        SearchWrite::Rename {
            user_id: t.owner,
            display_name: "Uma Thurber".to_string()
        }
    );
    let doc = t.kit.search.document(project.id).await.expect("indexed");
    assert_eq!(doc.username, "Uma Thurber");
}

#[tokio::test]
async fn an_event_for_a_project_that_is_gone_writes_nothing() {
    let t = indexer().await;
    let gone = t.create("gone").await;
    t.projects.delete(t.owner, gone.id).await.expect("deleted");
    let here = t.create("here").await;
    t.created(&gone).await;
    t.created(&here).await;
    // Only the project that exists is written; its own run, after the gone one's.
    let writes = t.writes(1).await;
    assert_eq!(writes, [SearchWrite::Upsert(vec![(here.id, 1)])]);
}
