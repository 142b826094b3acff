//! The outbox relay started alone on the in-memory database and the in-process bus:
//! every committed event goes out once, in commit order, whether it was committed
//! before the relay started, while it ran, or while it was being restarted; and a row
//! is stamped only once every consumer has acknowledged it. The HTTP twins
//! (`tests/events.rs`, `tests/supervision.rs`) keep the contract over NATS.

use std::time::Duration;

use folio_actors::{
    events::{ConsumerSpec, DomainEvent, ProjectDeleted, next_event},
    faults::FaultPoint,
    relay::RELAY_ACTOR,
};
use folio_testkit::actors::{EventProbe, Kit, fixtures::eventually, inject, without_faults};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);

fn deleted(project_id: Uuid) -> DomainEvent {
    DomainEvent::ProjectDeleted(ProjectDeleted { project_id })
}

/// Commits `n` events (versions `first..first + n`) and returns their ids in order.
async fn commit(kit: &Kit, first: i64, n: i64) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for version in first..first + n {
        ids.push(kit.commit(deleted(Uuid::now_v7()), Some(version)).await.event_id);
    }
    ids
}

async fn received(probe: &mut EventProbe, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(probe.next(WAIT).await.event_id);
    }
    ids
}

#[tokio::test]
async fn every_committed_event_goes_out_once_in_commit_order() {
    let _turn = without_faults();
    let kit = Kit::start().await;
    let mut probe = EventProbe::start(&kit.bus).await;
    // Some before the relay runs, some while it runs.
    let mut committed = commit(&kit, 1, 5).await;
    kit.relay().await;
    committed.extend(commit(&kit, 6, 5).await);

    assert_eq!(received(&mut probe, 10).await, committed);
    probe.expect_none(Duration::from_millis(500)).await;
    eventually(WAIT, "every row stamped", || async {
        (kit.unpublished().await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_row_is_stamped_only_once_every_consumer_has_acknowledged_it() {
    let _turn = without_faults();
    let kit = Kit::start().await;
    let mut slow = kit
        .bus
        .subscribe(ConsumerSpec {
            durable: "slow".to_string(),
            subjects: vec!["project.>".to_string()],
            ack_wait: Duration::from_secs(3600),
            max_deliver: -1,
        })
        .await
        .expect("subscribed");
    let mut probe = EventProbe::start(&kit.bus).await;
    kit.relay().await;
    let committed = commit(&kit, 1, 1).await;

    assert_eq!(received(&mut probe, 1).await, committed);
    let delivery = next_event(slow.as_mut(), None)
        .await
        .expect("the slow consumer gets it");
    // The probe acknowledged; the slow consumer has not: the row waits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kit.unpublished().await, 1);
    delivery.ack().await.expect("acknowledged");
    eventually(WAIT, "the row stamped", || async {
        (kit.unpublished().await == 0).then_some(())
    })
    .await;
    probe.expect_none(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_relay_restarted_after_a_fault_sends_what_was_committed_meanwhile_and_nothing_twice() {
    let kit = Kit::start().await;
    let mut probe = EventProbe::start(&kit.bus).await;
    kit.relay().await;
    let before = commit(&kit, 1, 3).await;
    assert_eq!(received(&mut probe, 3).await, before);
    eventually(WAIT, "the first rows stamped", || async {
        (kit.unpublished().await == 0).then_some(())
    })
    .await;

    let fault = inject(FaultPoint::Relay, 1);
    kit.supervision.expect_restart(WAIT, RELAY_ACTOR).await;
    drop(fault);
    let after = commit(&kit, 4, 3).await;

    assert_eq!(
        received(&mut probe, 3).await,
        after,
        "only what was not sent yet, in order"
    );
    probe.expect_none(Duration::from_millis(500)).await;
}
