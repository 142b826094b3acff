//! Faults injected into one actor, and the supervisor watched restarting it, with
//! tokio's clock paused: the backoffs (0.1 s doubling to 10 s) and the restart budget
//! (10 restarts in 60 s) take virtual time, so each test runs in milliseconds. The
//! clock is paused only while nothing waits on the database (see the kit's module
//! note); the HTTP twins (`tests/supervision.rs`) check the same through `/metrics` and
//! `/ready` in real time.

use folio_actors::media::ThumbnailStatus;
use std::time::Duration;

use folio_actors::{
    cluster::{EdgeHubMsg, LiveEvent},
    faults::FaultPoint,
    indexer,
    relay::RELAY_ACTOR,
    supervisor::RestartPolicy,
    thumbnailer,
};
use folio_testkit::actors::{
    GroupProbe, Kit, KitConfig, SearchWrite,
    fixtures::{draft, eventually, jpeg, media_uploaded, project_created, register, upload},
    inject,
};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_loop_that_always_fails_is_restarted_with_doubling_backoff_until_its_budget_is_spent() {
    let kit = Kit::start().await;
    tokio::time::pause();
    let _fault = inject(FaultPoint::Relay, u32::MAX);
    kit.relay().await;

    let gave_up = kit.health.failed().await;
    assert_eq!(gave_up.actor, RELAY_ACTOR);
    assert!(
        gave_up.last_error.contains("fault injected at relay"),
        "{}",
        gave_up.last_error
    );
    let failures = kit.supervision.restarts_of(RELAY_ACTOR);
    assert_eq!(failures.len(), 10, "ten restarts, then the budget is spent");
    let gaps: Vec<Duration> = failures.windows(2).map(|w| w[1] - w[0]).collect();
    // Each restart waits twice as long as the one before, at most 10 s (to the timer's
    // 1 ms tick).
    let backoffs = [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000].map(Duration::from_millis);
    assert_eq!(gaps.len(), backoffs.len());
    for (gap, backoff) in gaps.iter().zip(backoffs) {
        assert!(
            *gap >= backoff && *gap <= backoff + Duration::from_millis(1),
            "gaps between restarts {gaps:?}, backoffs {backoffs:?}"
        );
    }
    // Given up on: no more restarts, however long the node goes on.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(kit.supervision.restarts_of(RELAY_ACTOR).len(), 10);
    assert_eq!(kit.health.restarts().get(RELAY_ACTOR), Some(&10));
}

#[tokio::test]
async fn failures_further_apart_than_the_window_never_spend_the_budget() {
    let kit = Kit::start_with(KitConfig {
        policy: RestartPolicy {
            max_restarts: 3,
            window: Duration::from_secs(10),
            ..RestartPolicy::default()
        },
        ..KitConfig::default()
    })
    .await;
    let session = kit.session().await;
    tokio::time::pause();
    let key = "one-account@folio.test";

    // One crash every 11 s: each finds the window empty, so each waits the first backoff.
    for _ in 0..5 {
        session.crash_worker_for(&key);
        let failed = kit.supervision.expect_restart(WAIT, "session").await;
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(kit.health.gave_up().is_none());
        assert!(tokio::time::Instant::now() - failed >= Duration::from_secs(11));
    }
    // Four crashes in a row: the fourth finds three restarts in the window.
    for backoff in [100, 200, 400] {
        session.crash_worker_for(&key);
        kit.supervision.expect_restart(WAIT, "session").await;
        tokio::time::sleep(Duration::from_millis(backoff + 1)).await;
    }
    session.crash_worker_for(&key);
    let gave_up = kit.health.failed().await;
    assert!(gave_up.actor.starts_with("session["), "{gave_up:?}");
    assert_eq!(kit.health.restarts().get("session"), Some(&8));
}

#[tokio::test]
async fn a_crashed_session_worker_is_replaced_and_callers_reach_the_new_one() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let agent = kit.agent("kit").await;
    register(&session, "vera").await;
    let key = folio_testkit::actors::fixtures::email("vera");
    let before = session.worker_id_for(&key);

    tokio::time::pause();
    let crashed = session.crash_worker_for(&key);
    assert_eq!(crashed, before);
    let failed = kit.supervision.expect_restart(WAIT, "session").await;
    tokio::time::sleep(Duration::from_millis(101)).await;
    assert!(tokio::time::Instant::now() - failed >= Duration::from_millis(100));
    tokio::time::resume();

    assert_ne!(session.worker_id_for(&key), before, "the slot holds the new worker");
    folio_testkit::actors::fixtures::login(&session, "vera").await;
    assert_eq!(agent.describe_self().actor_restarts.get("session"), Some(&1));
    assert!(kit.health.gave_up().is_none());
}

#[tokio::test]
async fn an_indexer_that_panics_is_restarted_and_indexes_the_batch_that_took_the_fault() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let profiles = kit.profiles().await;
    let projects = kit.projects().await;
    kit.indexer(&profiles).await;
    let owner = register(&session, "walt").await;
    let project = projects.create(owner, draft("survivor")).await.expect("created");

    tokio::time::pause();
    let fault = inject(FaultPoint::Indexer, 1);
    kit.publish(project_created(&project), Some(1)).await;
    kit.supervision.expect_restart(WAIT, indexer::ACTOR).await;
    drop(fault);
    assert!(kit.search.writes().is_empty(), "the batch never reached the engine");
    // The delivery died with the loop: the bus offers it again after the ack wait.
    tokio::time::advance(Duration::from_secs(30)).await;
    tokio::time::resume();

    let writes = eventually(WAIT, "the batch indexed", || async {
        let writes = kit.search.writes();
        (!writes.is_empty()).then_some(writes)
    })
    .await;
    assert_eq!(writes, [SearchWrite::Upsert(vec![(project.id, 1)])]);
    assert_eq!(kit.health.restarts().get(indexer::ACTOR), Some(&1));
}

#[tokio::test]
async fn a_thumbnail_runner_that_panics_is_restarted_and_loses_no_job() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let projects = kit.projects().await;
    let media = kit.media(&projects).await;
    kit.thumbnailer(&media, &projects).await;
    let owner = register(&session, "xena").await;
    let image = upload(&media, owner, jpeg(40, 30), None).await;
    let mut hub = GroupProbe::<EdgeHubMsg>::edge_for(owner).await;

    tokio::time::pause();
    let fault = inject(FaultPoint::ThumbnailerPump, 1);
    kit.publish(media_uploaded(&image), None).await;
    kit.supervision.expect_restart(WAIT, thumbnailer::ACTOR).await;
    drop(fault);
    // The kit's thumbnail jobs come back after one second unacknowledged.
    tokio::time::advance(Duration::from_secs(1)).await;
    tokio::time::resume();

    match hub.next(WAIT).await {
        EdgeHubMsg::Push(push) => assert!(
            matches!(push.event, LiveEvent::ThumbnailReady { file_id, .. } if file_id == image.file_id),
            "{:?}",
            push.event
        ),
        _ => panic!("a live event"),
    }
    assert_eq!(
        kit.media_row(image.file_id).await.thumbnail_status,
        ThumbnailStatus::Ready
    );
    assert_eq!(kit.health.restarts().get(thumbnailer::ACTOR), Some(&1));
}
