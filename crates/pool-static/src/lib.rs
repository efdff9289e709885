#![doc = include_str!("../README.md")]

mod assertion;
mod config;
mod shared;

pub use crate::assertion::Assertion;
pub use crate::config::{AssertionConfig, StaticConfig, DEFAULT_TIMEOUT};
pub use crate::shared::Static;

/// A pool over `C` with SQLAlchemy's `StaticPool` behaviour: one connection, made at the
/// first checkout, shared by every checkout in turn.
///
/// See [`Static`] for how concurrent callers are served.
pub type StaticPool<C> = pool_core::Pool<C, Static<C>>;

/// A pool over `C` with SQLAlchemy's `AssertionPool` behaviour: one connection, and an
/// error (that says where the first checkout was taken) for any second checkout while it
/// is out.
///
/// See [`Assertion`].
pub type AssertionPool<C> = pool_core::Pool<C, Assertion<C>>;
