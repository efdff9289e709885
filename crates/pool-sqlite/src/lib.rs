#![doc = include_str!("../README.md")]

mod connector;

pub use crate::connector::{
    commit_if_open, is_disconnect, rollback_if_open, InitHook, SqliteConnector,
};

/// The SQLite driver this crate opens connections with, re-exported so applications use
/// the same version as the connector.
pub use rusqlite;
