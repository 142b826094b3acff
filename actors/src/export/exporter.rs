//! The consumer of `user.export_requested`: every node runs one on a shared durable
//! consumer, so each export is built on one node, one at a time per node (an export's
//! memory is bounded, and so is a node's). A delivery claims the export, builds the
//! archive while beating the export's heartbeat and telling the bus it is still at work,
//! marks it ready and tells the owner (`export.ready`), then acknowledges. A delivery
//! that finds the export held by a live run comes back later; one that finds it settled
//! is acknowledged.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use futures::{FutureExt as _, future::BoxFuture};
use ractor::ActorRef;

use super::{
    ExportClient, ExportError, archive,
    service::{self, Claim},
};
use crate::{
    cluster::{LiveEvent, LiveEvents},
    errors::error_chain,
    events::{ConsumerSpec, Delivery, DomainEvent, EventBus, EventObserver, EventType, retry_delay},
    supervised_loop::{LoopActor, LoopBody, LoopError, LoopScope, settle_each},
    supervisor::{SupervisorError, SupervisorMsg},
};

pub const DURABLE: &str = "account-exporter";
pub const ACTOR: &str = "account-exporter";

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);

pub fn subjects() -> Vec<String> {
    vec![EventType::UserExportRequested.as_str().to_string()]
}

pub struct AccountExporter {
    pub exports: ExportClient,
    pub bus: Arc<dyn EventBus>,
    pub events: Option<Arc<dyn EventObserver>>,
}

impl AccountExporter {
    fn consumer(&self) -> ConsumerSpec {
        ConsumerSpec {
            durable: DURABLE.to_string(),
            subjects: subjects(),
            // A delivery whose node died comes back about when its heartbeat is stale;
            // a live run keeps it with progress reports.
            ack_wait: self.exports.context().config.stale_after,
            max_deliver: -1,
        }
    }

    async fn settle(&self, delivery: Delivery) {
        let DomainEvent::UserExportRequested(requested) = &delivery.event.event else {
            let _ = delivery.ack().await;
            return;
        };
        let (export_id, user_id) = (requested.export_id, requested.user_id);
        let ctx = self.exports.context().clone();
        let config = &ctx.config;
        let (claim, row) = match service::claim(&ctx.db, export_id, config.stale_after).await {
            Ok(Claim::Taken { claim, row }) => (claim, *row),
            Ok(Claim::Settled) => {
                let _ = delivery.ack().await;
                return;
            }
            Ok(Claim::Held) => {
                let _ = delivery.nak(config.stale_after).await;
                return;
            }
            Err(e) => {
                tracing::warn!(%export_id, error.cause_chain = %error_chain(&e), "claiming an export; retrying");
                let delay = retry_delay(delivery.attempt, FIRST_RETRY, LAST_RETRY);
                let _ = delivery.nak(delay).await;
                return;
            }
        };
        if row.attempts > config.max_attempts {
            let reason = format!(
                "the export was started {} times without finishing; start another",
                config.max_attempts
            );
            if let Err(e) = service::give_up(&ctx.db, export_id, &reason).await {
                tracing::warn!(%export_id, error = %e, "failing an export that kept stopping");
            }
            let _ = delivery.ack().await;
            return;
        }
        if row.attempts > 1 {
            tracing::info!(%export_id, attempt = row.attempts, "resuming an interrupted account export");
        }
        let started = std::time::Instant::now();
        let built = async {
            let gathered = archive::gather(&ctx.db, user_id).await?;
            let keepalive = {
                let db = ctx.db.clone();
                let delivery = &delivery;
                move || {
                    let db = db.clone();
                    // The bus hears from the delivery that it is in progress; the row's
                    // heartbeat tells every node that this run is alive.
                    let progress = delivery.in_progress();
                    async move {
                        let _ = progress.await;
                        service::heartbeat(&db, export_id, claim).await.unwrap_or(true)
                    }
                    .boxed()
                }
            };
            archive::build(
                ctx.blobs.clone(),
                &row.blob_key,
                gathered,
                &keepalive,
                config.heartbeat_every(),
            )
            .await
        }
        .await;
        match built {
            Ok(written) => {
                let expires_at =
                    Utc::now() + chrono::Duration::from_std(config.link_ttl).unwrap_or(chrono::Duration::hours(24));
                match service::finish(&ctx.db, export_id, claim, written, expires_at).await {
                    Ok(true) => {
                        tracing::info!(
                            %export_id, %user_id, bytes = written.size_bytes, files = written.files,
                            seconds = started.elapsed().as_secs_f64(), "account export ready"
                        );
                        LiveEvents.publish(
                            user_id,
                            LiveEvent::ExportReady {
                                export_id,
                                url: ctx.download_url(export_id, user_id, expires_at),
                                size_bytes: written.size_bytes,
                                expires_at,
                            },
                        );
                        let _ = delivery.ack().await;
                    }
                    Ok(false) => {
                        self.lost(export_id, &row.blob_key).await;
                        let _ = delivery.ack().await;
                    }
                    Err(e) => {
                        tracing::warn!(%export_id, error.cause_chain = %error_chain(&e), "recording a finished export; retrying");
                        let delay = retry_delay(delivery.attempt, FIRST_RETRY, LAST_RETRY);
                        let _ = delivery.nak(delay).await;
                    }
                }
            }
            Err(ExportError::Lost) => {
                self.lost(export_id, &row.blob_key).await;
                let _ = delivery.ack().await;
            }
            Err(e) => {
                let chain = error_chain(&e);
                let give_up = row.attempts >= config.max_attempts;
                tracing::warn!(%export_id, attempt = row.attempts, give_up, error.cause_chain = %chain, "an account export failed");
                if let Err(record) = service::run_failed(&ctx.db, export_id, claim, &chain, give_up).await {
                    tracing::warn!(%export_id, error = %record, "recording a failed export");
                }
                if give_up {
                    let _ = delivery.ack().await;
                } else {
                    let delay = retry_delay(delivery.attempt, FIRST_RETRY, LAST_RETRY);
                    let _ = delivery.nak(delay).await;
                }
            }
        }
    }

    /// The run lost the export: when the export is gone (its account was deleted
    /// meanwhile) what it wrote goes too; when another run holds it, that run's archive
    /// is under the same key and stays.
    async fn lost(&self, export_id: uuid::Uuid, key: &str) {
        let ctx = self.exports.context();
        if let Ok(None) = service::find(&ctx.db, export_id).await {
            let _ = ctx.blobs.delete(key).await;
        }
        tracing::info!(%export_id, "an export run stopped: the export was taken over or removed");
    }
}

impl LoopBody for AccountExporter {
    fn run(self: Arc<Self>, scope: LoopScope) -> BoxFuture<'static, Result<(), LoopError>> {
        Box::pin(async move {
            let spec = self.consumer();
            settle_each(self.bus.as_ref(), &spec, scope, self.events.as_deref(), |delivery| {
                self.settle(delivery)
            })
            .await
        })
    }
}

pub async fn start(
    supervisor: &ActorRef<SupervisorMsg>,
    exporter: Arc<AccountExporter>,
) -> Result<(), SupervisorError> {
    LoopActor::start(supervisor, ACTOR, exporter).await
}
