//! Prometheus metrics: the HTTP edge's own, actor restarts, and the state of the work
//! queues (outbox, thumbnails) read from the database when scraped, so the alerts see
//! a backlog whichever node is asked.

use std::sync::Arc;

use futures::future::BoxFuture;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The queues' state at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSample {
    /// Outbox rows not yet acknowledged by the bus.
    pub outbox_unpublished: i64,
    /// Age of the oldest of them, seconds (0 when there is none).
    pub outbox_oldest_age_secs: i64,
    pub thumbnails_pending: i64,
    pub thumbnails_failed: i64,
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
    outbox_unpublished: IntGauge,
    outbox_oldest_age: IntGauge,
    thumbnails: IntGaugeVec,
    sample_failed: IntGauge,
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
        let outbox_unpublished = IntGauge::new(
            "outbox_unpublished_events",
            "Events written to the outbox and not yet acknowledged by the bus (cluster-wide)",
        )?;
        let outbox_oldest_age = IntGauge::new(
            "outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox event, 0 when the outbox is empty (cluster-wide)",
        )?;
        let thumbnails = IntGaugeVec::new(
            Opts::new("thumbnails", "Uploaded images by thumbnail status (cluster-wide)"),
            &["status"],
        )?;
        let sample_failed = IntGauge::new(
            "queue_sample_failed",
            "1 when the last scrape could not read the queue gauges from the database",
        )?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(actor_restarts.clone()))?;
        registry.register(Box::new(outbox_unpublished.clone()))?;
        registry.register(Box::new(outbox_oldest_age.clone()))?;
        registry.register(Box::new(thumbnails.clone()))?;
        registry.register(Box::new(sample_failed.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            in_flight,
            actor_restarts,
            outbox_unpublished,
            outbox_oldest_age,
            thumbnails,
            sample_failed,
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
                    self.outbox_unpublished.set(sample.outbox_unpublished);
                    self.outbox_oldest_age.set(sample.outbox_oldest_age_secs);
                    self.thumbnails
                        .with_label_values(&["pending"])
                        .set(sample.thumbnails_pending);
                    self.thumbnails
                        .with_label_values(&["failed"])
                        .set(sample.thumbnails_failed);
                    self.sample_failed.set(0);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics scrape");
                    self.sample_failed.set(1);
                }
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
