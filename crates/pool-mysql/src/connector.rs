//! [`MySqlConnector`]: a [`Connector`] that opens `mysql` connections.

use std::fmt;
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, DriverError, Error, Opts, OptsBuilder};
use pool_core::{Connector, UrlError, UrlParts};

/// Opens, resets, pings and closes MySQL and MariaDB connections (`mysql::Conn`) for a
/// pool.
///
/// Built from a URL ([`new`](MySqlConnector::new)) or from driver options
/// ([`from_opts`](MySqlConnector::from_opts)), then refined with
/// [`with_connect_timeout`](MySqlConnector::with_connect_timeout) and
/// [`with_read_timeout`](MySqlConnector::with_read_timeout). Cloning copies the options.
#[derive(Clone)]
pub struct MySqlConnector {
    opts: Opts,
}

impl MySqlConnector {
    /// A connector for the server that `url` names
    /// (`mysql://user:password@host:3306/db?prefer_socket=false`), as the driver's
    /// [`Opts::from_url`] reads it. Nothing is opened until
    /// [`connect`](Connector::connect).
    ///
    /// The driver's default `prefer_socket=true` makes a connection to a local server
    /// reconnect through its Unix socket; add `prefer_socket=false` to keep TCP.
    ///
    /// # Errors
    ///
    /// When the driver refuses `url`: a [`UrlError`] that says which part is wrong
    /// (`invalid MySQL URL "mysql://root@127.0.0.1:notaport/test": the port `notaport` is
    /// not a number ...`), whose [`source`](std::error::Error::source) is the driver's
    /// [`Error::UrlError`].
    pub fn new(url: &str) -> Result<Self, UrlError> {
        match Opts::from_url(url) {
            Ok(opts) => Ok(MySqlConnector::from_opts(opts)),
            Err(err) => Err(url_error(url, Error::UrlError(err))),
        }
    }

    /// A connector for `opts` (an [`Opts`] or an [`OptsBuilder`]).
    pub fn from_opts(opts: impl Into<Opts>) -> Self {
        MySqlConnector { opts: opts.into() }
    }

    /// Bounds opening the TCP socket: an attempt that takes longer fails with the
    /// driver's `ConnectTimeout` error, which [`is_disconnect`] counts.
    ///
    /// It does not bound the handshake after the socket is open; a read timeout
    /// ([`with_read_timeout`](Self::with_read_timeout)) does.
    #[must_use]
    pub fn with_connect_timeout(self, timeout: Duration) -> Self {
        self.map_opts(|b| b.tcp_connect_timeout(Some(timeout)))
    }

    /// Bounds every read from the server, during the handshake and for every statement
    /// afterwards: a server that stays silent longer fails the call with an I/O error
    /// of kind `WouldBlock` or `TimedOut`, which [`is_disconnect`] counts (the reply may
    /// still arrive, so the connection cannot be used again).
    ///
    /// Choose it longer than the slowest statement the application runs.
    #[must_use]
    pub fn with_read_timeout(self, timeout: Duration) -> Self {
        self.map_opts(|b| b.read_timeout(Some(timeout)))
    }

    /// The driver options connections are opened with.
    pub fn opts(&self) -> &Opts {
        &self.opts
    }

    fn map_opts(self, f: impl FnOnce(OptsBuilder) -> OptsBuilder) -> Self {
        MySqlConnector { opts: f(OptsBuilder::from_opts(self.opts)).into() }
    }
}

impl fmt::Debug for MySqlConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.opts;
        // Not the driver's Debug: it prints the password.
        f.debug_struct("MySqlConnector")
            .field("host", &o.get_ip_or_hostname())
            .field("port", &o.get_tcp_port())
            .field("user", &o.get_user())
            .field("db", &o.get_db_name())
            .field("tcp_connect_timeout", &o.get_tcp_connect_timeout())
            .field("read_timeout", &o.get_read_timeout())
            .field("prefer_socket", &o.get_prefer_socket())
            .finish_non_exhaustive()
    }
}

impl Connector for MySqlConnector {
    type Connection = Conn;
    type Error = Error;

    /// Opens a connection with the options (and runs their `init` statements).
    fn connect(&self) -> Result<Conn, Error> {
        Conn::new(self.opts.clone())
    }

    /// Executes `ROLLBACK`.
    ///
    /// The driver does not report whether a transaction is open, so the statement always
    /// runs; outside a transaction the server does nothing and says nothing.
    fn rollback(&self, conn: &mut Conn) -> Result<(), Error> {
        conn.query_drop("ROLLBACK")
    }

    /// Executes `COMMIT`; outside a transaction the server does nothing.
    fn commit(&self, conn: &mut Conn) -> Result<(), Error> {
        conn.query_drop("COMMIT")
    }

    /// Sends `COM_PING`, the protocol's own ping: one round trip, nothing parsed.
    fn ping(&self, conn: &mut Conn) -> Option<Result<(), Error>> {
        Some(conn.ping())
    }

    /// Drops the connection, which sends `COM_QUIT` and closes the socket.
    fn close(&self, conn: Conn) -> Result<(), Error> {
        drop(conn);
        Ok(())
    }

    /// Whether `error` means the connection is gone; see the free function
    /// [`is_disconnect`].
    fn is_disconnect(&self, error: &Error) -> bool {
        is_disconnect(error)
    }
}

/// Server error codes that end the session (listed in [`is_disconnect`]'s docs).
const DISCONNECT_CODES: [u16; 20] = [
    1053, 1077, 1078, 1079, 1152, 1154, 1155, 1156, 1157, 1158, 1159, 1160, 1161, 1927, 2006, 2013,
    2014, 2045, 2055, 4031,
];

/// Whether a server error with `code` and SQLSTATE `state` ends the session: one of
/// [`DISCONNECT_CODES`] or SQLSTATE class `08` (connection exception).
pub(crate) fn ends_session(code: u16, state: &str) -> bool {
    DISCONNECT_CODES.contains(&code) || state.starts_with("08")
}

/// The [`UrlError`] for a URL that a driver refused with `err`.
pub(crate) fn url_error(
    url: &str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> UrlError {
    let problem = UrlParts::parse(url, &["mysql"]).and_then(UrlParts::with_host).err();
    UrlError::new("MySQL", url, problem, err)
}

/// Whether a `mysql` error means the connection is gone.
///
/// True for:
///
/// - every I/O error (reset, broken pipe, end of stream, a read timeout: after one the
///   reply may still arrive, so the connection cannot be trusted);
/// - a broken packet stream (`CodecError`, `PacketOutOfSync`, `UnexpectedPacket`);
/// - a connect that failed or timed out (`CouldNotConnect`, `ConnectTimeout`);
/// - a server error that ends the session: `1927` connection killed (MariaDB's answer
///   after `KILL`), `1053` server shutdown, `1077`–`1079` shutdown and signals, `1152`
///   aborted connection, `1154`–`1161` network read and write errors, `4031` idle too
///   long (MySQL 8.0.24+), the client-library codes `2006` server has gone away, `2013`
///   lost connection during query, `2014`, `2045`, `2055` (which a proxy may pass on),
///   and any code of SQLSTATE class `08` (connection exception).
///
/// False for everything else: SQL errors, constraint violations, deadlocks and lock
/// wait timeouts (`1213`, `1205`), a statement interrupted by `KILL QUERY` (`1317`),
/// too many connections (`1040`), bad URLs and value conversions.
///
/// This is [`MySqlConnector`]'s [`is_disconnect`](Connector::is_disconnect), for code
/// that classifies `mysql` errors elsewhere.
///
/// ```
/// use pool_mysql::mysql::{Error, MySqlError};
///
/// let killed = Error::MySqlError(MySqlError {
///     state: "70100".into(),
///     message: "Connection was killed".into(),
///     code: 1927,
/// });
/// assert!(pool_mysql::is_disconnect(&killed));
///
/// let syntax = Error::MySqlError(MySqlError {
///     state: "42000".into(),
///     message: "You have an error in your SQL syntax".into(),
///     code: 1064,
/// });
/// assert!(!pool_mysql::is_disconnect(&syntax));
/// ```
pub fn is_disconnect(error: &Error) -> bool {
    match error {
        Error::IoError(_) | Error::CodecError(_) => true,
        Error::DriverError(driver) => matches!(
            driver,
            DriverError::ConnectTimeout
                | DriverError::CouldNotConnect(_)
                | DriverError::PacketOutOfSync
                | DriverError::UnexpectedPacket
        ),
        Error::MySqlError(server) => ends_session(server.code, &server.state),
        _ => false,
    }
}
