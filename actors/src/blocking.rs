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
    /// The pool's semaphore was closed: the node is shutting down.
    #[error("the blocking pool is closed")]
    Closed(#[from] tokio::sync::AcquireError),
    /// The task panicked or was cancelled.
    #[error("blocking task failed")]
    Failed(#[from] tokio::task::JoinError),
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
        let _permit = self.permits.acquire().await?;
        Ok(tokio::task::spawn_blocking(work).await?)
    }
}
