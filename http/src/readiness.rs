//! Named dependency checks behind `/ready`.

use std::sync::Arc;

use futures::future::BoxFuture;

pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &str;
    fn probe(&self) -> BoxFuture<'_, Result<(), String>>;
}

#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl Readiness {
    pub fn with(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    pub fn checks(&self) -> impl Iterator<Item = &Arc<dyn ReadinessCheck>> {
        self.checks.iter()
    }
}
