#![doc = include_str!("../README.md")]

mod connector;
mod disconnect;
mod error;
mod reset;

pub use crate::connector::Bb8Connector;
pub use crate::disconnect::is_disconnect;
pub use crate::error::Bb8Error;
pub use crate::reset::Reset;

/// The bb8 crate whose [`ManageConnection`](bb8::ManageConnection) this crate adapts,
/// re-exported so applications name the same version as the adapter.
pub use bb8;
/// bb8-postgres (feature `postgres`), whose manager's connections this crate resets and
/// classifies, re-exported with its `tokio_postgres`.
#[cfg(feature = "postgres")]
pub use bb8_postgres;
