#![doc = include_str!("../README.md")]

mod null;

pub use crate::null::{Null, NullConfig};

/// A "pool" over `C` with SQLAlchemy's `NullPool` behaviour: a new connection for every
/// checkout, closed when it is returned.
pub type NullPool<C> = pool_core::Pool<C, Null<C>>;
