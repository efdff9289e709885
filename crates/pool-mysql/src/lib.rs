#![doc = include_str!("../README.md")]

mod async_connector;
mod connector;

pub use crate::async_connector::{is_disconnect_async, is_runtime_error, AsyncMySqlConnector};
pub use crate::connector::{is_disconnect, MySqlConnector};

/// The MySQL driver this crate opens connections with, re-exported so applications use
/// the same version as the connector.
pub use mysql;

/// The async MySQL driver [`AsyncMySqlConnector`] opens connections with, re-exported so
/// applications use the same version.
pub use mysql_async;
