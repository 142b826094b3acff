//! Prometheus metrics: the HTTP edge's own, actor restarts, thumbnails given up, and
//! the backlog of the work queues (thumbnails, outbox) read from the database when
//! scraped, so the alerts see a backlog whichever node is asked. Names follow the
//! product contract (`folio_jobs_pending{kind}`, `folio_jobs_failed_total{kind}`, …).

use std::sync::Arc;

use futures::future::BoxFuture;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// `kind` label of the thumbnail queue.
pub const THUMBNAILS: &str = "thumbnails";
/// `kind` label of the outbox (events written, not yet acknowledged by the bus).
pub const OUTBOX: &str = "outbox";

/// One queue's backlog at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    pub pending: u64,
    /// Age of the oldest pending item, seconds (0 when nothing waits).
    pub oldest_age_secs: f64,
}

/// The queues' backlogs at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueSample {
    pub thumbnails: Backlog,
    pub outbox: Backlog,
}

#[derive(Debug, thiserror::Error)]
#[error("sampling the work queues: {source}")]
pub struct SampleError {
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Reads the queues' state; the node implements it on its database.
pub trait QueueSampler: Send + Sync {
    fn sample(&self) -> BoxFuture<'_, Result<QueueSample, SampleError>>;
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    actor_restarts: IntCounterVec,
    jobs_pending: IntGaugeVec,
    jobs_oldest_pending_age: GaugeVec,
    jobs_failed: IntCounterVec,
    sampler: Option<Arc<dyn QueueSampler>>,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("folio".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being served")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        let actor_restarts = IntCounterVec::new(
            Opts::new(
                "actor_restarts_total",
                "Actors restarted by the node supervisor after a failure",
            ),
            &["actor"],
        )?;
        let jobs_pending = IntGaugeVec::new(
            Opts::new(
                "jobs_pending",
                "Work waiting, per queue (cluster-wide, read from the database)",
            ),
            &["kind"],
        )?;
        let jobs_oldest_pending_age = GaugeVec::new(
            Opts::new(
                "jobs_oldest_pending_age_seconds",
                "Age of the oldest waiting item, per queue; 0 when nothing waits (cluster-wide)",
            ),
            &["kind"],
        )?;
        let jobs_failed = IntCounterVec::new(
            Opts::new("jobs_failed_total", "Jobs this node gave up for good"),
            &["kind"],
        )?;
        // Present from the start, so `increase()` sees the first failure.
        jobs_failed.with_label_values(&[THUMBNAILS]);
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(actor_restarts.clone()))?;
        registry.register(Box::new(jobs_pending.clone()))?;
        registry.register(Box::new(jobs_oldest_pending_age.clone()))?;
        registry.register(Box::new(jobs_failed.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            in_flight,
            actor_restarts,
            jobs_pending,
            jobs_oldest_pending_age,
            jobs_failed,
            sampler: None,
        })
    }

    /// Queue gauges are read through `sampler` on every scrape.
    pub fn with_sampler(mut self, sampler: Arc<dyn QueueSampler>) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// The actor's restart series exists, at 0, from its start: `increase()` needs a
    /// sample before the first restart to see that restart at all.
    pub fn actor_started(&self, actor: &str) {
        self.actor_restarts.with_label_values(&[pool_of(actor)]);
    }

    /// This node gave a thumbnail up for good.
    pub fn thumbnail_given_up(&self) {
        self.jobs_failed.with_label_values(&[THUMBNAILS]).inc();
    }

    /// One restart of `actor`; pool workers (`session[3]`) count under their pool.
    pub fn actor_restarted(&self, actor: &str) {
        self.actor_restarts.with_label_values(&[pool_of(actor)]).inc();
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn started(&self) {
        self.in_flight.inc();
    }

    pub fn finished(&self, method: &str, path: &str, status: u16, seconds: f64) {
        self.in_flight.dec();
        let route = route_label(path);
        self.requests
            .with_label_values(&[method, &route, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[method, &route]).observe(seconds);
    }

    /// Refreshes the queue gauges, then renders everything.
    pub async fn scrape(&self) -> String {
        if let Some(sampler) = &self.sampler {
            match sampler.sample().await {
                Ok(sample) => {
                    for (kind, backlog) in [(THUMBNAILS, sample.thumbnails), (OUTBOX, sample.outbox)] {
                        self.jobs_pending
                            .with_label_values(&[kind])
                            .set(i64::try_from(backlog.pending).unwrap_or(i64::MAX));
                        self.jobs_oldest_pending_age
                            .with_label_values(&[kind])
                            .set(backlog.oldest_age_secs);
                    }
                }
                // The gauges keep their last values; a scrape still answers.
                Err(e) => tracing::warn!(error = %e, "metrics scrape"),
            }
        }
        self.render()
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

fn pool_of(actor: &str) -> &str {
    actor.split('[').next().unwrap_or(actor)
}

/// Ids in paths would give every resource its own series: they become `{id}`.
fn route_label(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if uuid::Uuid::parse_str(segment).is_ok() || (segment.len() > 16 && segment.contains('.')) {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_folded() {
        assert_eq!(
            super::route_label("/projects/0192f0c4-7a1e-7cc3-9a55-3e1f2d9c8b7a"),
            "/projects/{id}"
        );
        assert_eq!(super::route_label("/auth/login"), "/auth/login");
    }
}
