#![doc = include_str!("../README.md")]

mod connector;

pub use crate::connector::{is_disconnect, MySqlConnector};

/// The MySQL driver this crate opens connections with, re-exported so applications use
/// the same version as the connector.
pub use mysql;
