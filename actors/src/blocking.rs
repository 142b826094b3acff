//! CPU-heavy work (password hashing, image codecs) runs on tokio's blocking threads, and
//! a semaphore bounds how many run at once so a burst cannot take every core from the
//! async runtime that serves other requests.

use std::sync::Arc;

use tokio::sync::Semaphore;

#[derive(Clone, Debug)]
pub struct BlockingPool {
    permits: Arc<Semaphore>,
    size: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BlockingError {
    #[error("the blocking pool is closed")]
    Closed(#[source] tokio::sync::AcquireError),
    /// The work panicked (a bug, or a codec that panics on some input) or was cancelled.
    #[error("the blocking task did not finish")]
    Task(#[source] tokio::task::JoinError),
}

impl BlockingPool {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// Half the cores (at least one): the other half stays free for the runtime.
    pub fn default_size() -> usize {
        std::thread::available_parallelism()
            .map(|n| (n.get() / 2).max(1))
            .unwrap_or(1)
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub async fn run<T, F>(&self, work: F) -> Result<T, BlockingError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(BlockingError::Closed)?;
        tokio::task::spawn_blocking(work).await.map_err(BlockingError::Task)
    }
}
