#![doc = include_str!("../README.md")]

mod connector;
mod disconnect;
mod reset;

pub use crate::connector::R2d2Connector;
#[cfg(feature = "postgres")]
pub use crate::disconnect::postgres_is_disconnect;
#[cfg(feature = "sqlite")]
pub use crate::disconnect::sqlite_is_disconnect;
pub use crate::reset::Reset;

/// The r2d2 crate whose [`ManageConnection`](r2d2::ManageConnection) this crate adapts,
/// re-exported so applications name the same version as the adapter.
pub use r2d2;
