//! Prometheus metrics: the HTTP edge's own, actor restarts, and the background jobs per
//! kind (`folio_jobs_pending{kind}`, `folio_jobs_failed_total{kind}`, …); the queue
//! gauges are read from the job state when scraped, so any node shows the cluster's backlog.

use folio_actors::{
    jobs::{JobKind, JobObserver},
    project::views::ViewStats,
    report::jobs::JobKindStatus,
};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    actor_restarts: IntCounterVec,
    events_malformed: IntCounterVec,
    cluster_decode_errors: IntCounter,
    cluster_port: ClusterPortMetrics,
    project_views: ProjectViewMetrics,
    jobs: JobMetrics,
}

/// The project domain's in-memory views, read from its counters at scrape time.
#[derive(Clone)]
struct ProjectViewMetrics {
    reads: IntCounterVec,
    bytes: IntGauge,
    max_bytes: IntGauge,
}

impl ProjectViewMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let reads = IntCounterVec::new(
            Opts::new(
                "project_view_reads_total",
                "Project reads answered from memory (hit) or from the database (miss)",
            ),
            &["result"],
        )?;
        let bytes = IntGauge::new("project_views_bytes", "Estimated memory held by cached project views")?;
        let max_bytes = IntGauge::new("project_views_max_bytes", "The budget of the cached project views")?;
        registry.register(Box::new(reads.clone()))?;
        registry.register(Box::new(bytes.clone()))?;
        registry.register(Box::new(max_bytes.clone()))?;
        for result in ["hit", "miss"] {
            reads.with_label_values(&[result]);
        }
        Ok(Self {
            reads,
            bytes,
            max_bytes,
        })
    }
}

/// The cluster port's door (see `folio_actors::cluster::gate`), read from its counters
/// at scrape time.
#[derive(Clone)]
struct ClusterPortMetrics {
    failed_handshakes: IntCounter,
    refused: IntCounterVec,
    accept_errors: IntCounter,
}

impl ClusterPortMetrics {
    const REASONS: [&'static str; 4] = ["over_capacity", "throttled", "handshake_timeout", "oversized_frame"];

    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let failed_handshakes = IntCounter::new(
            "cluster_failed_handshakes_total",
            "Incoming cluster sessions that closed before they authenticated (a wrong cookie, a stranger, the deadline)",
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "cluster_connections_refused_total",
                "Connections to the cluster port closed by its limits, by reason",
            ),
            &["reason"],
        )?;
        let accept_errors = IntCounter::new(
            "cluster_accept_errors_total",
            "Failed accepts on the cluster port (e.g. out of file handles)",
        )?;
        registry.register(Box::new(failed_handshakes.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(accept_errors.clone()))?;
        for reason in Self::REASONS {
            refused.with_label_values(&[reason]);
        }
        Ok(Self {
            failed_handshakes,
            refused,
            accept_errors,
        })
    }

    fn catch_up(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let counters = &folio_actors::cluster::gate::COUNTERS;
        raise_to(&self.failed_handshakes, counters.failed_handshakes.load(Relaxed));
        raise_to(&self.accept_errors, counters.accept_errors.load(Relaxed));
        for (reason, counter) in Self::REASONS.into_iter().zip([
            &counters.over_capacity,
            &counters.throttled,
            &counters.timed_out,
            &counters.oversized_frames,
        ]) {
            raise_to(&self.refused.with_label_values(&[reason]), counter.load(Relaxed));
        }
    }
}

/// Background jobs per kind (thumbnails, indexing, outbox).
#[derive(Clone)]
struct JobMetrics {
    pending: IntGaugeVec,
    oldest_pending_age: GaugeVec,
    failed: IntCounterVec,
    duration: HistogramVec,
}

impl JobMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let pending = IntGaugeVec::new(Opts::new("jobs_pending", "Jobs waiting to be worked on"), &["kind"])?;
        let oldest_pending_age = GaugeVec::new(
            Opts::new(
                "jobs_oldest_pending_age_seconds",
                "Age of the oldest waiting job (0 when none waits)",
            ),
            &["kind"],
        )?;
        let failed = IntCounterVec::new(
            Opts::new("jobs_failed_total", "Jobs given up for good by this node"),
            &["kind"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "job_duration_seconds",
                "Time to run one job (an indexing job is a batch)",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["kind"],
        )?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(oldest_pending_age.clone()))?;
        registry.register(Box::new(failed.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        // Every kind shows up from the start, so a rate over the counter works at once.
        for kind in JobKind::ALL {
            failed.with_label_values(&[kind.as_str()]);
        }
        Ok(Self {
            pending,
            oldest_pending_age,
            failed,
            duration,
        })
    }
}

impl JobObserver for Metrics {
    fn finished(&self, kind: JobKind, elapsed: std::time::Duration, failed_for_good: bool) {
        self.jobs
            .duration
            .with_label_values(&[kind.as_str()])
            .observe(elapsed.as_secs_f64());
        if failed_for_good {
            self.jobs.failed.with_label_values(&[kind.as_str()]).inc();
        }
    }
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
        registry.register(Box::new(in_flight.clone()))?;
        let actor_restarts = IntCounterVec::new(
            Opts::new(
                "actor_restarts_total",
                "Actors restarted by the node supervisor after a failure",
            ),
            &["actor"],
        )?;
        registry.register(Box::new(actor_restarts.clone()))?;
        let events_malformed = IntCounterVec::new(
            Opts::new(
                "events_malformed_total",
                "Deliveries that did not decode as a Folio event, terminated instead of processed",
            ),
            &["type"],
        )?;
        registry.register(Box::new(events_malformed.clone()))?;
        // Every series exists at 0 from the start, so that `increase()` sees the first
        // malformed delivery of a type (the label set is the known types plus `unknown`).
        for event_type in folio_actors::events::EventType::ALL
            .map(|t| t.as_str())
            .into_iter()
            .chain(["unknown"])
        {
            events_malformed.with_label_values(&[event_type]);
        }
        let cluster_decode_errors = IntCounter::new(
            "cluster_decode_errors_total",
            "Messages from other nodes that did not decode (logged and dropped)",
        )?;
        registry.register(Box::new(cluster_decode_errors.clone()))?;
        let cluster_port = ClusterPortMetrics::new(&registry)?;
        let jobs = JobMetrics::new(&registry)?;
        let project_views = ProjectViewMetrics::new(&registry)?;
        Ok(Self {
            project_views,
            cluster_decode_errors,
            cluster_port,
            registry,
            requests,
            latency,
            in_flight,
            actor_restarts,
            events_malformed,
            jobs,
        })
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

    /// A delivery that was not a valid event; `event_type` is a known type or `unknown`.
    pub fn event_malformed(&self, event_type: &str) {
        self.events_malformed.with_label_values(&[event_type]).inc();
    }

    /// The gauges read from the job state just before a scrape.
    pub fn record_job_status(&self, status: &[JobKindStatus]) {
        for kind in status {
            let label = [kind.kind.as_str()];
            self.jobs
                .pending
                .with_label_values(&label)
                .set(i64::try_from(kind.pending).unwrap_or(i64::MAX));
            self.jobs
                .oldest_pending_age
                .with_label_values(&label)
                .set(kind.oldest_pending_age_secs.unwrap_or(0.0));
        }
    }

    /// Brings the project view series up to the domain's own counters.
    pub fn record_project_views(&self, stats: ViewStats) {
        let views = &self.project_views;
        for (result, total) in [("hit", stats.hits), ("miss", stats.misses)] {
            raise_to(&views.reads.with_label_values(&[result]), total);
        }
        views.bytes.set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
        views.max_bytes.set(i64::try_from(stats.max_bytes).unwrap_or(i64::MAX));
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn started(&self) {
        self.in_flight.inc();
    }

    /// `route` is a route template or `unmatched` (see `hygiene::route_template`), never a
    /// raw path: each distinct label value is a series kept for the life of the process.
    pub fn finished(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.in_flight.dec();
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[method, route]).observe(seconds);
    }

    pub fn render(&self) -> String {
        // Counted where ractor decodes, which knows no node's registry; brought up to date
        // here. The count is per process, as ractor's node connections are.
        raise_to(
            &self.cluster_decode_errors,
            folio_actors::cluster::wire::decode_errors(),
        );
        self.cluster_port.catch_up();
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// Brings a counter up to a total kept elsewhere (counted where no registry is known).
fn raise_to(counter: &IntCounter, total: u64) {
    let shown = counter.get();
    if total > shown {
        counter.inc_by(total - shown);
    }
}

fn pool_of(actor: &str) -> &str {
    actor.split('[').next().unwrap_or(actor)
}
