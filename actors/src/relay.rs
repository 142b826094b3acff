//! The outbox relay. A change and its event are committed together
//! ([`crate::events::append_event`]); the relay then publishes unpublished rows in order, waits for the bus's acknowledgement, and
//! only then stamps the row. A crash or a bus outage at any point leaves the row
//! unpublished, so it is sent again later; the bus deduplicates by event id.
//!
//! On PostgreSQL the relay has a small pool of its own (it must not queue behind the
//! API's writers for a connection; the node opens it with `synchronous_commit=off`, as a
//! lost stamp only republishes rows the bus drops by id), and nodes share the outbox by claiming rows with
//! `FOR UPDATE SKIP LOCKED` for the length of one publish round. A commit wakes the
//! writing node's relay in process ([`OutboxSignal`]); that relay passes the wake-up on
//! to the other nodes' relays with one `NOTIFY` per round. The writers never `NOTIFY`
//! themselves: a notifying transaction holds a global lock from before its commit until
//! its WAL flush, which serialises every writer's commit (pgbench here: 8 000 inserts/s
//! without, 400/s with a notify trigger). On SQLite (one node, one writer connection)
//! the relay shares the node's connection and follows a cursor.

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::Utc;
use folio_entities::outbox_events;
use futures::{StreamExt as _, future::BoxFuture, stream::FuturesUnordered};
use ractor::ActorRef;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, LockBehavior, LockType},
    sqlx::postgres::PgListener,
};
use tokio::{
    sync::{Notify, mpsc, watch},
    task::JoinHandle,
};

use crate::{
    events::{
        BusError, EventBus, EventEnvelope,
        outbox::{OUTBOX_CHANNEL, OutboxSignal},
    },
    faults::{self, FaultPoint},
    supervised_loop::{LoopActor, LoopBody, LoopError, LoopScope},
    supervisor::{SupervisorError, SupervisorMsg},
};

/// The relay: a supervised loop (see [`crate::supervised_loop`]). Every node relays;
/// on PostgreSQL they share the rows, and the bus drops the duplicates a crash causes.
pub struct OutboxRelay {
    db: DatabaseConnection,
    /// SQLite: where the relay looks for new rows, so that looking never queues behind
    /// the writers on the single writer connection (stamping still goes through `db`).
    reads: DatabaseConnection,
    bus: Arc<dyn EventBus>,
    signal: OutboxSignal,
    /// PostgreSQL: how often the relay looks without being woken.
    safety_poll: Duration,
}

const BATCH: u64 = 256;
const RESCAN_BATCH: u64 = 2048;
/// SQLite: commits wake the relay through [`OutboxSignal`]; the poll is a safety net.
const POLL: Duration = Duration::from_millis(200);
/// PostgreSQL: rows claimed per round (one transaction, one publish round trip).
const CLAIM_BATCH: u64 = 512;
/// PostgreSQL: rounds open at once, each on a connection of its own. A commit that
/// lands while every round waits for its acks waits for the first to finish.
pub const CONCURRENT_ROUNDS: usize = 4;
/// PostgreSQL: the connections the relay's own pool needs: one per concurrent round,
/// and one that listens for other nodes' commits.
pub const RELAY_CONNECTIONS: u32 = CONCURRENT_ROUNDS as u32 + 1;
/// PostgreSQL: commits wake the relay in process, or through another relay's `NOTIFY`;
/// the poll only catches rows whose wake-up was lost (the listener reconnecting) or that
/// another node released without publishing (its bus failed).
const SAFETY_POLL: Duration = Duration::from_secs(1);
const RESCAN: Duration = Duration::from_secs(3);
/// Publishes awaiting their acknowledgement at once.
const MAX_IN_FLIGHT: usize = 4096;

pub const RELAY_ACTOR: &str = "outbox-relay";

impl OutboxRelay {
    /// Starts the relay under the node supervisor. On PostgreSQL `db` should be the
    /// relay's own pool, of at least two connections (one listens for commits), and
    /// `reads` is not used; on SQLite `reads` is the node's read pool.
    pub async fn start(
        supervisor: &ActorRef<SupervisorMsg>,
        db: DatabaseConnection,
        reads: DatabaseConnection,
        bus: Arc<dyn EventBus>,
        signal: OutboxSignal,
    ) -> Result<(), SupervisorError> {
        Self::start_with_poll(supervisor, db, reads, bus, signal, SAFETY_POLL).await
    }

    /// [`OutboxRelay::start`] with another safety poll on PostgreSQL (tests that must
    /// tell a wake-up from the poll set it to hours).
    pub async fn start_with_poll(
        supervisor: &ActorRef<SupervisorMsg>,
        db: DatabaseConnection,
        reads: DatabaseConnection,
        bus: Arc<dyn EventBus>,
        signal: OutboxSignal,
        safety_poll: Duration,
    ) -> Result<(), SupervisorError> {
        let relay = OutboxRelay {
            db,
            reads,
            bus,
            signal,
            safety_poll,
        };
        LoopActor::start(supervisor, RELAY_ACTOR, Arc::new(relay)).await
    }
}

impl LoopBody for OutboxRelay {
    fn run(self: Arc<Self>, scope: LoopScope) -> BoxFuture<'static, Result<(), LoopError>> {
        match self.db.get_database_backend() {
            DbBackend::Postgres => Box::pin(claiming_loop(
                self.db.clone(),
                self.bus.clone(),
                self.signal.clone(),
                self.safety_poll,
                scope.stop_signal(),
            )),
            _ => Box::pin(relay_loop(
                self.db.clone(),
                self.reads.clone(),
                self.bus.clone(),
                self.signal.clone(),
                scope.stop_signal(),
            )),
        }
    }
}

/// Why a claiming round published nothing, or not everything it claimed.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("reading or stamping the outbox")]
    Database(#[from] DbErr),
    #[error("publishing to the event bus")]
    Bus(#[from] BusError),
}

/// What a claiming round left behind.
enum Round {
    /// Fewer rows than a batch were waiting: sleep until woken.
    Drained,
    /// A full batch: more rows may be waiting right now.
    Full,
}

/// The PostgreSQL relay: claim, publish, wait for the acks, stamp, commit; again as soon
/// as a commit (on any node) is notified.
async fn claiming_loop(
    db: DatabaseConnection,
    bus: Arc<dyn EventBus>,
    signal: OutboxSignal,
    safety_poll: Duration,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), LoopError> {
    let me = uuid::Uuid::new_v4().to_string();
    let other_nodes = Arc::new(Notify::new());
    let _listener = AbortOnDrop(listen_for_commits(&db, me.clone(), other_nodes.clone()));
    // A commit during a round starts another round at once instead of waiting for the
    // first one's acks; it skips the rows the first one holds.
    let mut rounds = FuturesUnordered::new();
    let mut wanted = true;
    let mut committed_here = false;
    let mut backoff = Duration::from_millis(100);
    // After a failed round, no new round before this.
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut next_poll = tokio::time::Instant::now() + safety_poll;
    loop {
        faults::hit(FaultPoint::Relay);
        let backing_off = retry_at.is_some_and(|at| tokio::time::Instant::now() < at);
        if wanted && !backing_off && rounds.len() < CONCURRENT_ROUNDS {
            wanted = false;
            retry_at = None;
            let tell = std::mem::take(&mut committed_here);
            let (db, bus, me) = (&db, bus.as_ref(), me.as_str());
            rounds.push(async move {
                if tell {
                    tell_other_nodes(db, me).await;
                }
                claim_and_publish(db, bus).await
            });
            next_poll = tokio::time::Instant::now() + safety_poll;
        }
        let wake_at = retry_at.unwrap_or(next_poll);
        // Stopping mid-round rolls the round back: its rows are published again later
        // (the bus drops the ones it already has).
        tokio::select! {
            _ = stopped.changed() => return Ok(()),
            Some(round) = rounds.next() => match round {
                Ok(Round::Full) => wanted = true,
                Ok(Round::Drained) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error.cause_chain = %crate::errors::error_chain(&e), "relaying the outbox; will retry");
                    wanted = true;
                    retry_at = Some(tokio::time::Instant::now() + backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            },
            _ = signal.notified() => {
                wanted = true;
                committed_here = true;
            }
            _ = other_nodes.notified() => wanted = true,
            _ = tokio::time::sleep_until(wake_at) => wanted = true,
        }
    }
}

/// Wakes the other nodes' relays, so they share the rows this node's writers just
/// committed. Best effort: a relay that misses it finds the rows at its next poll.
async fn tell_other_nodes(db: &DatabaseConnection, me: &str) {
    let notify = sea_orm::Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [OUTBOX_CHANNEL.into(), me.into()],
    );
    if let Err(e) = db.execute_raw(notify).await {
        tracing::warn!(error = %e, "notifying other nodes of outbox rows");
    }
}

/// One round. The row locks are the claim: another node's round skips these rows
/// instead of publishing them too, and a crash (or a stop) anywhere before the commit
/// releases them unstamped, to be published again. Nothing but the relay locks outbox
/// rows, so a round never waits on a writer.
async fn claim_and_publish(db: &DatabaseConnection, bus: &dyn EventBus) -> Result<Round, RoundError> {
    let txn = db.begin().await?;
    let rows = outbox_events::Entity::find()
        .filter(outbox_events::Column::PublishedAt.is_null())
        .order_by_asc(outbox_events::Column::Seq)
        .limit(CLAIM_BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    let round = if rows.len() as u64 == CLAIM_BATCH {
        Round::Full
    } else {
        Round::Drained
    };
    let mut done = Vec::with_capacity(rows.len());
    let mut acks = Vec::with_capacity(rows.len());
    let mut failure = None;
    for row in &rows {
        let event: EventEnvelope = match serde_json::from_str(&row.envelope) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(seq = row.seq, error = %e, "outbox row is not an envelope; skipping it");
                done.push(row.seq);
                continue;
            }
        };
        // Publishes go out back to back; their acks are awaited together below.
        match bus.publish(&event).await {
            Ok(ack) => acks.push(async move { (row.seq, ack.await) }),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    for (seq, acked) in futures::future::join_all(acks).await {
        match acked {
            Ok(_) => done.push(seq),
            Err(e) => {
                tracing::warn!(seq, error = %e, "publish not acknowledged; will retry");
                failure.get_or_insert(e);
            }
        }
    }
    if !done.is_empty() {
        outbox_events::Entity::update_many()
            .col_expr(outbox_events::Column::PublishedAt, Expr::value(Utc::now()))
            .filter(outbox_events::Column::Seq.is_in(done))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(round),
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Turns another relay's `NOTIFY` on [`OUTBOX_CHANNEL`] into a wake-up, for as long as
/// the relay runs. While the listener is down the relay falls back on its poll, and
/// each (re)connection wakes the relay once for what it may have missed.
fn listen_for_commits(db: &DatabaseConnection, me: String, wake: Arc<Notify>) -> JoinHandle<()> {
    let pool = db.get_postgres_connection_pool().clone();
    tokio::spawn(async move {
        loop {
            let error = match PgListener::connect_with(&pool).await {
                Ok(mut listener) => match listener.listen(OUTBOX_CHANNEL).await {
                    Ok(()) => {
                        wake.notify_one();
                        loop {
                            match listener.recv().await {
                                Ok(notification) if notification.payload() == me => {}
                                Ok(_) => wake.notify_one(),
                                Err(e) => break e,
                            }
                        }
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
            tracing::warn!(error = %error, "listening for other nodes' outbox rows; polling until listening again");
            wake.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

async fn relay_loop(
    db: DatabaseConnection,
    reads: DatabaseConnection,
    bus: Arc<dyn EventBus>,
    signal: OutboxSignal,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), LoopError> {
    let mut in_flight: HashSet<i64> = HashSet::new();
    let (settled_tx, mut settled_rx) = mpsc::unbounded_channel::<(i64, bool)>();
    let (acked_tx, acked_rx) = mpsc::unbounded_channel::<i64>();
    let mut stamper = tokio::spawn(stamp_acknowledged(db.clone(), acked_rx, settled_tx.clone()));
    // Rows above the cursor are new; rows below it are looked at again by the periodic
    // rescan (a failed publish, or a PostgreSQL transaction that took a lower sequence
    // number but committed after a higher one).
    let mut cursor: i64 = 0;
    let mut last_rescan = tokio::time::Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut force_rescan = false;
    loop {
        faults::hit(FaultPoint::Relay);
        let mut failed = false;
        while let Ok((seq, ok)) = settled_rx.try_recv() {
            in_flight.remove(&seq);
            force_rescan |= !ok;
        }
        let rescan = std::mem::take(&mut force_rescan) || last_rescan.elapsed() >= RESCAN;
        let rows = if rescan {
            last_rescan = tokio::time::Instant::now();
            pending_rows(&reads, None, RESCAN_BATCH).await
        } else {
            pending_rows(&reads, Some(cursor), BATCH).await
        };
        match rows {
            Ok(rows) => {
                for row in rows {
                    if in_flight.contains(&row.seq) {
                        continue;
                    }
                    if in_flight.len() >= MAX_IN_FLIGHT {
                        break;
                    }
                    let event: EventEnvelope = match serde_json::from_str(&row.envelope) {
                        Ok(event) => event,
                        Err(e) => {
                            tracing::error!(seq = row.seq, error = %e, "outbox row is not an envelope; skipping it");
                            let _ = mark_published(&db, row.seq).await;
                            continue;
                        }
                    };
                    match bus.publish(&event).await {
                        Ok(ack) => {
                            in_flight.insert(row.seq);
                            cursor = std::cmp::max(cursor, row.seq);
                            let acked = acked_tx.clone();
                            let settled = settled_tx.clone();
                            let seq = row.seq;
                            tokio::spawn(async move {
                                match ack.await {
                                    Ok(_) => {
                                        let _ = acked.send(seq);
                                    }
                                    Err(e) => {
                                        tracing::warn!(seq, error = %e, "publish not acknowledged; will retry");
                                        let _ = settled.send((seq, false));
                                    }
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "event bus unavailable; outbox will retry");
                            failed = true;
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the outbox");
                failed = true;
            }
        }
        force_rescan |= failed;
        let wait = if failed {
            let wait = backoff;
            backoff = (backoff * 2).min(Duration::from_secs(2));
            wait
        } else {
            backoff = Duration::from_millis(100);
            POLL
        };
        tokio::select! {
            _ = stopped.changed() => break,
            // Without the stamper nothing acknowledged is ever settled: the relay would
            // stall while looking alive.
            _ = &mut stamper => return Err(LoopError::PartStopped { what: "the outbox stamper" }),
            _ = signal.notified(), if !failed => {}
            Some((seq, ok)) = settled_rx.recv() => {
                in_flight.remove(&seq);
                if !ok {
                    force_rescan = true;
                    tokio::time::sleep(backoff).await;
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
    // Acks still outstanding (an in-process consumer that stopped never settles) must
    // not hold up shutdown: their rows stay unstamped and are published again later.
    drop(acked_tx);
    if tokio::time::timeout(Duration::from_secs(2), &mut stamper)
        .await
        .is_err()
    {
        stamper.abort();
    }
    Ok(())
}

/// Stamps acknowledged rows in batches (one UPDATE for everything acknowledged since the
/// last one), then reports them settled. A row acknowledged but not yet stamped when
/// the node dies is published again later and dropped by the bus as a duplicate.
async fn stamp_acknowledged(
    db: DatabaseConnection,
    mut acked: mpsc::UnboundedReceiver<i64>,
    settled: mpsc::UnboundedSender<(i64, bool)>,
) {
    let mut pending: Vec<i64> = Vec::new();
    loop {
        if pending.is_empty() {
            match acked.recv().await {
                Some(seq) => pending.push(seq),
                None => return,
            }
        }
        while pending.len() < 2048 {
            match acked.try_recv() {
                Ok(seq) => pending.push(seq),
                Err(_) => break,
            }
        }
        let stamped = outbox_events::Entity::update_many()
            .col_expr(outbox_events::Column::PublishedAt, Expr::value(Utc::now()))
            .filter(outbox_events::Column::Seq.is_in(pending.iter().copied()))
            .exec(&db)
            .await;
        match stamped {
            Ok(_) => {
                for seq in pending.drain(..) {
                    let _ = settled.send((seq, true));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, rows = pending.len(), "stamping published outbox rows; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

async fn pending_rows(
    db: &DatabaseConnection,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<outbox_events::Model>, DbErr> {
    let mut query = outbox_events::Entity::find().filter(outbox_events::Column::PublishedAt.is_null());
    if let Some(after) = after {
        query = query.filter(outbox_events::Column::Seq.gt(after));
    }
    query
        .order_by_asc(outbox_events::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

async fn mark_published(db: &DatabaseConnection, seq: i64) -> Result<(), DbErr> {
    outbox_events::Entity::update_many()
        .col_expr(outbox_events::Column::PublishedAt, Expr::value(Utc::now()))
        .filter(outbox_events::Column::Seq.eq(seq))
        .exec(db)
        .await?;
    Ok(())
}
