#![doc = include_str!("../README.md")]

mod exit;
mod singleton;

pub use crate::singleton::{SingletonThread, SingletonThreadConfig};

/// A pool that gives each thread its own connection (SQLAlchemy's `SingletonThreadPool`).
pub type SingletonThreadPool<C> = pool_core::Pool<C, SingletonThread<C>>;
