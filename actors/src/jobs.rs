//! The job guard the background workers share: what kind of job runs, how many are in
//! flight on this node, and where a finished one is reported (Prometheus). The operator's
//! report over these and the shared queues lives in [`crate::report`], above the workers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Thumbnails,
    Indexing,
    Outbox,
}

impl JobKind {
    pub const ALL: [JobKind; 3] = [JobKind::Thumbnails, JobKind::Indexing, JobKind::Outbox];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Thumbnails => "thumbnails",
            JobKind::Indexing => "indexing",
            JobKind::Outbox => "outbox",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Told when a job ends, e.g. to feed Prometheus.
pub trait JobObserver: Send + Sync + 'static {
    fn finished(&self, kind: JobKind, elapsed: Duration, failed_for_good: bool);
}

/// What this node is doing right now, and where to report finished jobs.
#[derive(Clone, Default)]
pub struct JobActivity {
    in_flight: Arc<[AtomicU64; 3]>,
    observer: Option<Arc<dyn JobObserver>>,
}

impl JobActivity {
    pub fn new(observer: Arc<dyn JobObserver>) -> Self {
        Self {
            in_flight: Arc::default(),
            observer: Some(observer),
        }
    }

    /// Counts the job as in flight until the guard is finished or dropped.
    pub fn start(&self, kind: JobKind) -> JobGuard {
        self.in_flight[kind.index()].fetch_add(1, Ordering::Relaxed);
        JobGuard {
            activity: self.clone(),
            kind,
            started: std::time::Instant::now(),
            done: false,
        }
    }

    pub fn in_flight(&self, kind: JobKind) -> u64 {
        self.in_flight[kind.index()].load(Ordering::Relaxed)
    }
}

pub struct JobGuard {
    activity: JobActivity,
    kind: JobKind,
    started: std::time::Instant,
    done: bool,
}

impl JobGuard {
    pub fn finish(mut self, failed_for_good: bool) {
        self.end(failed_for_good);
    }

    fn end(&mut self, failed_for_good: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.activity.in_flight[self.kind.index()].fetch_sub(1, Ordering::Relaxed);
        if let Some(observer) = &self.activity.observer {
            observer.finished(self.kind, self.started.elapsed(), failed_for_good);
        }
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.end(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_jobs_in_flight() {
        let activity = JobActivity::default();
        let a = activity.start(JobKind::Thumbnails);
        let b = activity.start(JobKind::Thumbnails);
        assert_eq!(activity.in_flight(JobKind::Thumbnails), 2);
        a.finish(true);
        drop(b);
        assert_eq!(activity.in_flight(JobKind::Thumbnails), 0);
    }
}
