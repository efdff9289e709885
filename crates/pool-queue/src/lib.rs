#![doc = include_str!("../README.md")]

mod config;
mod queue;
mod wait_async;

pub use crate::config::{Overflow, QueueConfig, DEFAULT_FAIR_AFTER};
pub use crate::queue::Queue;

/// A pool of connections from `C` with SQLAlchemy's `QueuePool` behaviour.
pub type QueuePool<C> = pool_core::Pool<C, Queue<C>>;
