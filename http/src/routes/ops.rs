//! Liveness, readiness and metrics.

use std::time::Duration;

use poem::Request;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{Json, PlainText},
};

use crate::{EdgeState, error::ApiError, readiness::Need};

/// A dependency that does not answer within this is reported down, so `/ready` itself
/// always answers promptly (a load balancer times out too).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Object)]
pub struct HealthReply {
    pub status: String,
}

#[derive(Debug, Object)]
pub struct CheckReply {
    pub name: String,
    pub ok: bool,
    /// Whether the node can serve without it (then its failure only degrades the node).
    pub required: bool,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

#[derive(Debug, Object)]
pub struct ReadyReply {
    pub ready: bool,
    /// `ok`, `degraded` (an optional dependency is down) or `unavailable`.
    pub status: String,
    pub checks: Vec<CheckReply>,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Every required dependency answers; `status` is `degraded` when an optional one
    /// (the event bus) does not.
    #[oai(status = 200)]
    Ready(Json<ReadyReply>),
    /// A required dependency does not answer.
    #[oai(status = 503)]
    NotReady(Json<ReadyReply>),
}

pub struct OpsApi {
    pub state: EdgeState,
}

#[OpenApi(tag = "crate::ApiTags::Ops")]
impl OpsApi {
    /// The process is up.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<HealthReply> {
        Json(HealthReply {
            status: "ok".to_string(),
        })
    }

    /// The node can serve: its database (and other dependencies) answer.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> ReadyResponse {
        let mut checks = Vec::new();
        for (check, need) in self.state.readiness.checks() {
            let result = match tokio::time::timeout(PROBE_TIMEOUT, check.probe()).await {
                Ok(result) => result,
                Err(_) => Err(ProbeTimeout.into()),
            };
            checks.push(CheckReply {
                name: check.name().to_string(),
                ok: result.is_ok(),
                required: need == Need::Required,
                error: result.err().map(|e| e.to_string()),
            });
        }
        let ready = checks.iter().all(|c| c.ok || !c.required);
        let status = if !ready {
            "unavailable"
        } else if checks.iter().all(|c| c.ok) {
            "ok"
        } else {
            "degraded"
        };
        let reply = Json(ReadyReply {
            ready,
            status: status.to_string(),
            checks,
        });
        if ready {
            ReadyResponse::Ready(reply)
        } else {
            ReadyResponse::NotReady(reply)
        }
    }

    /// Prometheus metrics in the text exposition format.
    /// With `FOLIO_METRICS_TOKEN` set, only for `Authorization: Bearer <token>`.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, req: &Request) -> Result<PlainText<String>, ApiError> {
        if let Some(token) = &self.state.metrics_token {
            let presented = req
                .headers()
                .get(poem::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())) {
                return Err(ApiError::unauthorized("the metrics token is required"));
            }
        }
        // Queue gauges are read from the job state at scrape time.
        match self.state.jobs.status().await {
            Ok(status) => self.state.metrics.record_job_status(&status),
            Err(e) => tracing::warn!(error = %e, "reading job state for metrics"),
        }
        self.state
            .metrics
            .record_project_views(self.state.projects.view_stats());
        Ok(PlainText(self.state.metrics.render()))
    }
}

/// Comparison time does not depend on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, thiserror::Error)]
#[error("no answer within {} s", PROBE_TIMEOUT.as_secs())]
struct ProbeTimeout;
