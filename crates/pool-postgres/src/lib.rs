#![doc = include_str!("../README.md")]

mod async_connector;
mod connection;
mod connector;
mod error;
mod session;
mod target;

pub use crate::async_connector::{AsyncPostgresConnection, AsyncPostgresConnector};
pub use crate::connection::{
    end_transaction, end_transaction_async, PostgresConnection, IN_TRANSACTION_QUERY,
};
pub use crate::connector::{is_disconnect, PostgresConnector};
pub use crate::error::Error;
pub use crate::session::TransactionStatus;
pub use crate::target::TargetSession;

/// The PostgreSQL driver this crate opens connections with, re-exported so applications
/// use the same version as the connector.
pub use postgres;

/// The async PostgreSQL driver [`AsyncPostgresConnector`] opens connections with.
pub use tokio_postgres;

/// The TLS connector for both connectors' `with_tls` (`MakeTlsConnector`), over the
/// system's TLS library (OpenSSL on Linux), behind the `tls` feature.
#[cfg(feature = "tls")]
pub use postgres_native_tls;

/// The TLS library [`postgres_native_tls`] configures (`TlsConnector::builder`), behind
/// the `tls` feature.
#[cfg(feature = "tls")]
pub use native_tls;
