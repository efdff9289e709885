#![doc = include_str!("../README.md")]

mod config;
mod queue;
mod sync;
mod wait_async;

pub use crate::config::{Overflow, QueueConfig, DEFAULT_FAIR_AFTER};
pub use crate::queue::Queue;

/// A pool of connections from `C` with SQLAlchemy's `QueuePool` behaviour.
pub type QueuePool<C> = pool_core::Pool<C, Queue<C>>;

/// `pool.resize(pool_size, max_overflow)` on a [`QueuePool`] (deadpool's `resize`); see
/// [`Queue::resize`].
pub trait Resize {
    /// Changes `pool_size` and `max_overflow` at run time; see [`Queue::resize`].
    ///
    /// # Errors
    ///
    /// The [`BuildError`](pool_core::BuildError) the sizes would get at build.
    fn resize(&self, pool_size: usize, max_overflow: Overflow)
        -> Result<(), pool_core::BuildError>;
}

impl<C: pool_core::Connector> Resize for QueuePool<C> {
    fn resize(
        &self,
        pool_size: usize,
        max_overflow: Overflow,
    ) -> Result<(), pool_core::BuildError> {
        self.strategy().resize(self.core(), pool_size, max_overflow)
    }
}
