//! The export sweeper: a supervised loop on every node that deletes archives whose link
//! expired and fails exports that nothing has worked on for the give-up period.

use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::ActorRef;

use super::ExportClient;
use crate::{
    errors::error_chain,
    supervised_loop::{LoopActor, LoopBody, LoopError, LoopScope},
    supervisor::{SupervisorError, SupervisorMsg},
};

pub const ACTOR: &str = "export-sweeper";

pub struct ExportSweeper {
    pub exports: ExportClient,
}

impl ExportSweeper {
    pub async fn start(self, supervisor: &ActorRef<SupervisorMsg>) -> Result<(), SupervisorError> {
        LoopActor::start(supervisor, ACTOR, Arc::new(self)).await
    }
}

impl LoopBody for ExportSweeper {
    fn run(self: Arc<Self>, mut scope: LoopScope) -> BoxFuture<'static, Result<(), LoopError>> {
        Box::pin(async move {
            let mut every = tokio::time::interval(self.exports.context().config.sweep_every);
            loop {
                tokio::select! {
                    _ = scope.stopped() => return Ok(()),
                    _ = every.tick() => {}
                }
                match self.exports.sweep().await {
                    Ok(report) if report.expired + report.failed > 0 => {
                        tracing::info!(
                            expired = report.expired,
                            failed = report.failed,
                            "swept account exports"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error.cause_chain = %error_chain(&e), "sweeping account exports"),
                }
            }
        })
    }
}
