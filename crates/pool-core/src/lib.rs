#![doc = include_str!("../README.md")]

mod builder;
mod config;
mod connector;
mod detached;
mod error;
mod events;
#[cfg(feature = "metrics")]
mod export;
mod guard;
mod io;
mod leaks;
mod maintain;
mod pool;
mod record;
pub mod rt;
mod stats;
mod strategy;
mod timeouts;
mod unwind;
mod url;

/// The histogram crate of [`Statistics`]' histograms, to name their type.
pub use hdrhistogram;

pub use crate::builder::{Builder, WarmError};
pub use crate::config::{Echo, PoolConfig, ResetOnReturn};
pub use crate::connector::Connector;
pub use crate::error::{
    BoxError, BuildError, CheckoutError, ConnectError, ErrorChain, ListenerError, Outage,
    TimeoutError, UrlError,
};
pub use crate::events::{ErrorContext, ErrorOrigin, PoolListener, ResetState};
#[cfg(feature = "metrics")]
pub use crate::export::{MetricKind, METRICS};
pub use crate::guard::{Nested, PooledConnection};
pub use crate::leaks::Leak;
pub use crate::pool::{AddError, Core, Pool, StillOpen};
pub use crate::record::{ConnectionRecord, Info, PoolEntry};
pub use crate::stats::{CloseCause, Closes, Statistics, WaitEnd};
pub use crate::strategy::{current_thread_id, AsyncStrategy, Keep, Pick, PoolStatus, Strategy};
pub use crate::timeouts::{Operation, OperationTimeout};
pub use crate::unwind::each_despite_panics;
pub use crate::url::{redact, UrlParts};
