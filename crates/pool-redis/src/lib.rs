#![doc = include_str!("../README.md")]

mod async_connector;
mod connector;

pub use crate::async_connector::{is_runtime_error, AsyncRedisConnector};
pub use crate::connector::{is_disconnect, RedisConnector};

/// The Redis driver this crate opens connections with, re-exported so applications use
/// the same version as the connector.
pub use redis;
