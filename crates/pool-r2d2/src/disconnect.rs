//! The disconnect classifiers of the connection types this crate knows: what
//! [`R2d2Connector::new`](crate::R2d2Connector::new) uses by itself (through
//! [`Reset::is_disconnect`](crate::Reset::is_disconnect)), public for composing a
//! classifier of your own for [`R2d2Connector::with_disconnect`](crate::R2d2Connector::with_disconnect).

/// Whether a `rusqlite` error means the database file is gone or unreadable
/// (feature `sqlite`): `pool-sqlite`'s classification, for `r2d2_sqlite`'s manager.
///
/// True for `SQLITE_CANTOPEN`, `SQLITE_NOTADB`, `SQLITE_CORRUPT`, every `SQLITE_IOERR` and
/// `SQLITE_READONLY_DBMOVED`; false for SQL errors and lock contention.
///
/// ```
/// use pool_core::Connector;
/// use pool_r2d2::R2d2Connector;
/// use r2d2_sqlite::SqliteConnectionManager;
///
/// let connector = R2d2Connector::new(SqliteConnectionManager::file("/no/such/dir/app.db"));
/// let err = connector.connect().unwrap_err(); // SQLITE_CANTOPEN
/// assert!(pool_r2d2::sqlite_is_disconnect(&err));
/// assert!(connector.is_disconnect(&err)); // `new` classifies with it, no setting
/// ```
#[cfg(feature = "sqlite")]
pub fn sqlite_is_disconnect(error: &pool_sqlite::rusqlite::Error) -> bool {
    pool_sqlite::is_disconnect(error)
}

/// Whether a `postgres` error means the session is gone (feature `postgres`), for
/// `r2d2_postgres`'s manager.
///
/// True when the client is closed, when talking to the server failed with an I/O error
/// (reset, broken pipe, end of stream, refused connect), and for a server error of
/// severity `FATAL` or `PANIC` (which ends the session), of SQLSTATE class `08`
/// (connection exception) or `57P01`–`57P03` (administrator or crash shutdown, cannot
/// connect now). False for ordinary SQL errors: syntax, constraints, serialization
/// failures, a statement timeout, a statement the driver cannot encode. It is
/// `pool-postgres`'s rule ([`pool_postgres::is_disconnect`]), so both connectors agree.
///
/// `postgres::Error::is_closed` alone is not enough: a session ended by
/// `pg_terminate_backend` or a server restart first reports the server's `FATAL 57P01`
/// message or a connection reset, and only the calls after that report "closed".
///
/// ```
/// use pool_core::Connector;
/// use pool_r2d2::R2d2Connector;
/// use r2d2_postgres::postgres::NoTls;
/// use r2d2_postgres::PostgresConnectionManager;
///
/// // Nothing listens on port 1: the connect is refused.
/// let config = "host=127.0.0.1 port=1 user=postgres".parse().unwrap();
/// let connector = R2d2Connector::new(PostgresConnectionManager::new(config, NoTls));
/// let Err(err) = connector.connect() else { panic!("nothing listens on port 1") };
/// assert!(pool_r2d2::postgres_is_disconnect(&err));
/// assert!(connector.is_disconnect(&err)); // `new` classifies with it, no setting
/// ```
#[cfg(feature = "postgres")]
pub fn postgres_is_disconnect(error: &postgres::Error) -> bool {
    pool_postgres::is_disconnect(error)
}
