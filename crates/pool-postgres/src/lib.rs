#![doc = include_str!("../README.md")]

mod connection;
mod connector;
mod error;
mod session;

pub use crate::connection::{
    end_transaction, end_transaction_async, PostgresConnection, IN_TRANSACTION_QUERY,
};
pub use crate::connector::{is_disconnect, PostgresConnector};
pub use crate::error::Error;
pub use crate::session::TransactionStatus;

/// The PostgreSQL driver this crate opens connections with, re-exported so applications
/// use the same version as the connector.
pub use postgres;
