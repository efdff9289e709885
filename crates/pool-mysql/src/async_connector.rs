//! [`AsyncMySqlConnector`]: a [`Connector`] over `mysql_async`, whose connects, pings and
//! resets are futures that never block a tokio worker.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, DriverError, Error, IoError, Opts};
use pool_core::{Connector, Operation, OperationTimeout, UrlError};
use tokio::runtime::Handle;

use crate::connector::{ends_session, url_error};

/// Opens, resets, pings and closes MySQL and MariaDB connections over the async driver
/// (`mysql_async::Conn`) for a pool, without blocking a tokio worker: its
/// `connect_async`, `ping_async`, `rollback_async` and `commit_async` are the driver's
/// futures.
///
/// Built from a URL ([`new`](Self::new)) or from driver options
/// ([`from_opts`](Self::from_opts)). The reset on return (`ROLLBACK`, or `COMMIT` in
/// commit mode), the ping (`COM_PING`) and the disconnect rules ([`is_disconnect_async`])
/// are [`MySqlConnector`](crate::MySqlConnector)'s.
///
/// The driver has no connect or read timeout of its own: the pool's `connect_timeout`,
/// `ping_timeout` and `reset_timeout` bound each operation (a bounded operation that does
/// not finish in time is dropped, and the driver then counts the connection as
/// disconnected, so it is never pooled again).
///
/// # The blocking methods
///
/// `connect`, `ping`, `rollback` and `commit` (what the pool's blocking `get` and a
/// connection dropped outside a runtime call) run the same futures to their end on the
/// calling thread, as [`pool_core::rt::block_on_runtime`] does: outside any runtime
/// inside the connector's (the one current when it was made, or
/// [`with_runtime`](Self::with_runtime)'s); on a multi-thread runtime's worker through
/// `block_in_place`; on a current-thread runtime's thread never, failing at once with an
/// error that [`is_runtime_error`] recognizes (waiting there could deadlock). With no
/// runtime at all, `connect` fails the same way: the driver's sockets need one.
///
/// Cloning copies the options.
#[derive(Clone)]
pub struct AsyncMySqlConnector {
    opts: Opts,
    runtime: Option<Handle>,
}

/// The error of a blocking call made where it could deadlock.
const CURRENT_THREAD: &str = "a blocking call of AsyncMySqlConnector on a current-thread tokio \
     runtime's thread could deadlock (the connection's I/O needs that thread): use the \
     pool's get_async there, or a multi-thread runtime";

/// The error of a connect with no runtime to drive the connection.
const NO_RUNTIME: &str = "AsyncMySqlConnector needs a tokio runtime to drive its connections: \
     connect inside one, or make the connector inside one or with_runtime";

/// A blocking call refused by [`AsyncMySqlConnector`] (see its docs, "The blocking
/// methods"); carried inside [`Error::Other`].
#[derive(Debug)]
struct Refused(&'static str);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether `error` is an [`AsyncMySqlConnector`] call refused because of where it was
/// made (a blocking call on a current-thread tokio runtime's thread, or a connect with no
/// runtime to drive the connection), not an error of the driver or the server. Such an
/// error is never a disconnect.
pub fn is_runtime_error(error: &Error) -> bool {
    matches!(error, Error::Other(inner) if inner.is::<Refused>())
}

impl AsyncMySqlConnector {
    /// A connector for the server that `url` names
    /// (`mysql://user:password@host:3306/db?prefer_socket=false`), as the driver's
    /// [`Opts::from_url`] reads it. Nothing is opened until a connect. Made inside a
    /// tokio runtime, the connector keeps a handle to it for the blocking calls of
    /// threads outside any runtime.
    ///
    /// As with the sync driver, `prefer_socket=true` (the default) makes a connection to
    /// a local server reconnect through its Unix socket; add `prefer_socket=false` to keep
    /// TCP.
    ///
    /// # Errors
    ///
    /// When the driver refuses `url`: a [`UrlError`] that says which part is wrong,
    /// whose [`source`](std::error::Error::source) is the driver's [`Error::Url`].
    pub fn new(url: &str) -> Result<Self, UrlError> {
        match Opts::from_url(url) {
            Ok(opts) => Ok(AsyncMySqlConnector::from_opts(opts)),
            Err(err) => Err(url_error(url, Error::Url(err))),
        }
    }

    /// A connector for `opts` (an [`Opts`] or a [`mysql_async::OptsBuilder`]).
    pub fn from_opts(opts: impl Into<Opts>) -> Self {
        AsyncMySqlConnector { opts: opts.into(), runtime: Handle::try_current().ok() }
    }

    /// Runs the blocking calls made on threads outside any runtime inside this runtime.
    /// Without it, the runtime current when the connector was made, if any.
    #[must_use]
    pub fn with_runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// The driver options connections are opened with.
    pub fn opts(&self) -> &Opts {
        &self.opts
    }

    /// Runs one of the connector's futures to its end on this thread (see the type's
    /// docs, "The blocking methods").
    fn wait<R>(&self, fut: impl Future<Output = Result<R, Error>>) -> Result<R, Error> {
        pool_core::rt::block_on_runtime(self.runtime.as_ref(), fut)
            .unwrap_or_else(|| Err(refused(CURRENT_THREAD)))
    }

    /// [`wait`](Self::wait) within `bound`, for the `_within` methods.
    fn wait_within<R>(
        &self,
        fut: impl Future<Output = Result<R, Error>>,
        bound: Duration,
        operation: Operation,
    ) -> Result<Result<R, Error>, OperationTimeout> {
        let refused = || refused(CURRENT_THREAD);
        pool_core::rt::block_on_bounded(self.runtime.as_ref(), fut, bound, operation, refused)
    }

    /// A driver I/O error of a connect, with the address it was for: the driver's says
    /// only "Connection refused (os error 111)". It stays an I/O error of the same kind.
    fn with_address(&self, err: Error) -> Error {
        match err {
            Error::Io(IoError::Io(io)) => {
                let addr = format!("{}:{}", self.opts.ip_or_hostname(), self.opts.tcp_port());
                Error::Io(IoError::Io(io::Error::new(io.kind(), format!("{addr}: {io}"))))
            }
            err => err,
        }
    }
}

fn refused(why: &'static str) -> Error {
    Error::Other(Box::new(Refused(why)))
}

impl fmt::Debug for AsyncMySqlConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.opts;
        // Not the driver's Debug: it prints the password.
        f.debug_struct("AsyncMySqlConnector")
            .field("host", &o.ip_or_hostname())
            .field("port", &o.tcp_port())
            .field("user", &o.user())
            .field("db", &o.db_name())
            .field("prefer_socket", &o.prefer_socket())
            .field("runtime", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

impl Connector for AsyncMySqlConnector {
    type Connection = Conn;
    type Error = Error;

    const ASYNC_IO: bool = true;

    /// [`connect_async`](Connector::connect_async), waited for (see the type's docs).
    fn connect(&self) -> Result<Conn, Error> {
        self.wait(self.connect_async())
    }

    /// [`rollback_async`](Connector::rollback_async), waited for.
    fn rollback(&self, conn: &mut Conn) -> Result<(), Error> {
        self.wait(conn.query_drop("ROLLBACK"))
    }

    /// [`commit_async`](Connector::commit_async), waited for.
    fn commit(&self, conn: &mut Conn) -> Result<(), Error> {
        self.wait(conn.query_drop("COMMIT"))
    }

    /// [`ping_async`](Connector::ping_async), waited for.
    fn ping(&self, conn: &mut Conn) -> Option<Result<(), Error>> {
        Some(self.wait(conn.ping()))
    }

    /// [`ping`](Connector::ping), given up after `bound` (the connection is then out of
    /// step, and the pool terminates it).
    fn ping_within(
        &self,
        conn: &mut Conn,
        bound: Duration,
    ) -> Result<Option<Result<(), Error>>, OperationTimeout> {
        self.wait_within(conn.ping(), bound, Operation::Ping).map(Some)
    }

    /// [`rollback`](Connector::rollback), given up after `bound`.
    fn rollback_within(
        &self,
        conn: &mut Conn,
        bound: Duration,
    ) -> Result<Result<(), Error>, OperationTimeout> {
        self.wait_within(conn.query_drop("ROLLBACK"), bound, Operation::Reset)
    }

    /// [`commit`](Connector::commit), given up after `bound`.
    fn commit_within(
        &self,
        conn: &mut Conn,
        bound: Duration,
    ) -> Result<Result<(), Error>, OperationTimeout> {
        self.wait_within(conn.query_drop("COMMIT"), bound, Operation::Reset)
    }

    /// Drops the connection: the driver sends `COM_QUIT` and closes the socket from a
    /// task of its own, on the current runtime or, from a thread outside any runtime, on
    /// the connector's.
    fn close(&self, conn: Conn) -> Result<(), Error> {
        let _entered = match Handle::try_current() {
            Ok(_) => None,
            Err(_) => self.runtime.as_ref().map(Handle::enter),
        };
        drop(conn);
        Ok(())
    }

    /// Whether the driver counts the connection as disconnected: an I/O error ended it,
    /// or an operation was dropped half done (a cancelled query, a timed-out ping), which
    /// leaves the protocol out of step.
    fn is_broken(&self, conn: &mut Conn) -> bool {
        conn.is_disconnected()
    }

    /// Whether `error` means the connection is gone; see the free function
    /// [`is_disconnect_async`].
    fn is_disconnect(&self, error: &Error) -> bool {
        is_disconnect_async(error)
    }

    /// Opens a connection with the options (and runs their `init` statements).
    ///
    /// # Errors
    ///
    /// The driver's error, an I/O error naming the address; outside any tokio runtime,
    /// an error for which [`is_runtime_error`] is true.
    async fn connect_async(&self) -> Result<Conn, Error> {
        if Handle::try_current().is_err() {
            return Err(refused(NO_RUNTIME));
        }
        Conn::new(self.opts.clone()).await.map_err(|e| self.with_address(e))
    }

    /// Sends `COM_PING`.
    async fn ping_async(&self, conn: &mut Conn) -> Option<Result<(), Error>> {
        Some(conn.ping().await)
    }

    /// Executes `ROLLBACK` (always: the driver does not say whether a transaction is
    /// open; outside one the server does nothing and says nothing).
    fn rollback_async(&self, conn: &mut Conn) -> impl Future<Output = Result<(), Error>> + Send {
        conn.query_drop("ROLLBACK")
    }

    /// Executes `COMMIT`; outside a transaction the server does nothing.
    fn commit_async(&self, conn: &mut Conn) -> impl Future<Output = Result<(), Error>> + Send {
        conn.query_drop("COMMIT")
    }
}

/// Whether a `mysql_async` error means the connection is gone, by the same rules as
/// [`is_disconnect`](crate::is_disconnect) for the sync driver:
///
/// - every I/O error, TLS errors included;
/// - a broken packet stream or a closed connection (`ConnectionClosed`,
///   `PacketOutOfOrder`, `UnexpectedPacket`, `BadCompressedPacketHeader`);
/// - a server error that ends the session (the codes listed in
///   [`is_disconnect`](crate::is_disconnect)'s docs, or SQLSTATE class `08`).
///
/// False for everything else: SQL errors, deadlocks, lock wait timeouts, value
/// conversions, URL errors and a blocking call refused by [`AsyncMySqlConnector`]
/// ([`is_runtime_error`]).
///
/// ```
/// use pool_mysql::mysql_async::{Error, ServerError};
///
/// let killed = Error::Server(ServerError {
///     code: 1927,
///     message: "Connection was killed".into(),
///     state: "70100".into(),
/// });
/// assert!(pool_mysql::is_disconnect_async(&killed));
///
/// let syntax = Error::Server(ServerError {
///     code: 1064,
///     message: "You have an error in your SQL syntax".into(),
///     state: "42000".into(),
/// });
/// assert!(!pool_mysql::is_disconnect_async(&syntax));
/// ```
pub fn is_disconnect_async(error: &Error) -> bool {
    match error {
        Error::Io(_) => true,
        Error::Driver(driver) => matches!(
            driver,
            DriverError::ConnectionClosed
                | DriverError::PacketOutOfOrder
                | DriverError::UnexpectedPacket { .. }
                | DriverError::BadCompressedPacketHeader
        ),
        Error::Server(server) => ends_session(server.code, &server.state),
        _ => false,
    }
}
