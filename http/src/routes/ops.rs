//! Liveness, readiness and metrics.

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{Json, PlainText},
};

use crate::EdgeState;

#[derive(Debug, Object)]
pub struct HealthReply {
    pub status: String,
}

#[derive(Debug, Object)]
pub struct CheckReply {
    pub name: String,
    pub ok: bool,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

#[derive(Debug, Object)]
pub struct ReadyReply {
    pub ready: bool,
    pub checks: Vec<CheckReply>,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Every dependency answers.
    #[oai(status = 200)]
    Ready(Json<ReadyReply>),
    /// At least one dependency does not answer.
    #[oai(status = 503)]
    NotReady(Json<ReadyReply>),
}

pub struct OpsApi {
    pub state: EdgeState,
}

#[OpenApi(tag = "crate::ApiTags::Ops")]
impl OpsApi {
    /// The process is up.
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> Json<HealthReply> {
        Json(HealthReply {
            status: "ok".to_string(),
        })
    }

    /// The node can serve: its database (and other dependencies) answer.
    #[oai(path = "/ready", method = "get")]
    async fn ready(&self) -> ReadyResponse {
        let mut checks = Vec::new();
        for check in self.state.readiness.checks() {
            let result = check.probe().await;
            checks.push(CheckReply {
                name: check.name().to_string(),
                ok: result.is_ok(),
                error: result.err(),
            });
        }
        let ready = checks.iter().all(|c| c.ok);
        let reply = Json(ReadyReply { ready, checks });
        if ready {
            ReadyResponse::Ready(reply)
        } else {
            ReadyResponse::NotReady(reply)
        }
    }

    /// Prometheus metrics in the text exposition format.
    #[oai(path = "/metrics", method = "get")]
    async fn metrics(&self) -> PlainText<String> {
        // Queue gauges are read from the job state at scrape time.
        match self.state.jobs.status().await {
            Ok(status) => self.state.metrics.record_job_status(&status),
            Err(e) => tracing::warn!(error = %e, "reading job state for metrics"),
        }
        PlainText(self.state.metrics.render())
    }
}
