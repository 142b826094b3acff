//! Named dependency checks behind `/ready`.

use std::sync::Arc;

use futures::future::BoxFuture;

/// Why a dependency is not ready; its text is what `/ready` shows for the check.
pub type ProbeError = Box<dyn std::error::Error + Send + Sync>;

pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &str;
    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>>;
}

/// A dependency the node cannot serve without, or one whose absence only degrades it
/// (the event bus: writes queue in the outbox until it returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(Arc<dyn ReadinessCheck>, Need)>,
}

impl Readiness {
    pub fn with(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push((Arc::new(check), Need::Required));
        self
    }

    pub fn with_optional(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push((Arc::new(check), Need::Optional));
        self
    }

    pub fn checks(&self) -> impl Iterator<Item = (&Arc<dyn ReadinessCheck>, Need)> {
        self.checks.iter().map(|(check, need)| (check, *need))
    }
}
