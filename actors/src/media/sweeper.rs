//! The upload sweeper: a supervised loop (see [`crate::supervised_loop`]) that removes
//! uploads a crash left half-done (`uploading` rows and their blobs) once they are old
//! enough that no request can still be writing them.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use ractor::ActorRef;

use super::MediaClient;
use crate::{
    errors::error_chain,
    faults::{self, FaultPoint},
    supervised_loop::{LoopActor, LoopBody, LoopError, LoopScope},
    supervisor::{SupervisorError, SupervisorMsg},
};

pub const ACTOR: &str = "upload-sweeper";

pub struct UploadSweeper {
    pub media: MediaClient,
    /// Time between sweeps.
    pub every: Duration,
    /// Uploads still `uploading` after this long are abandoned.
    pub abandoned_after: Duration,
}

impl UploadSweeper {
    pub fn new(media: MediaClient) -> Self {
        Self {
            media,
            every: Duration::from_secs(300),
            abandoned_after: Duration::from_secs(900),
        }
    }

    /// Starts the sweeper under the node supervisor.
    pub async fn start(self, supervisor: &ActorRef<SupervisorMsg>) -> Result<(), SupervisorError> {
        LoopActor::start(supervisor, ACTOR, Arc::new(self)).await
    }
}

impl LoopBody for UploadSweeper {
    fn run(self: Arc<Self>, mut scope: LoopScope) -> BoxFuture<'static, Result<(), LoopError>> {
        Box::pin(async move {
            let mut every = tokio::time::interval(self.every);
            loop {
                tokio::select! {
                    _ = scope.stopped() => return Ok(()),
                    _ = every.tick() => {}
                }
                faults::hit(FaultPoint::Sweeper);
                match self.media.sweep_abandoned(self.abandoned_after).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "removed abandoned uploads"),
                    Err(e) => tracing::warn!(error.cause_chain = %error_chain(&e), "sweeping abandoned uploads"),
                }
            }
        })
    }
}
