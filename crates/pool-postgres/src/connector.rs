//! [`PostgresConnector`]: a [`Connector`] that opens `postgres` clients.

use std::error::Error as _;
use std::fmt;
use std::time::{Duration, Instant};

use pool_core::{Connector, Operation, OperationTimeout};
use postgres::config::{Host, SslMode, SslNegotiation, TargetSessionAttrs};
use postgres::error::{Severity, SqlState};
use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres::{Config, NoTls, Socket};

use crate::error::Error;
use crate::session::{Passthrough, Session};
use crate::target::TargetSession;
use crate::PostgresConnection;

/// The builder methods and configuration accessors both connectors share, for an `impl`
/// block of a type with a `config: Config` field (`postgres::Config` or
/// `tokio_postgres::Config`, whichever `Config` names where it is used).
macro_rules! config_methods {
    () => {
        /// Bounds each attempt to open the TCP (or Unix) socket: an attempt that takes longer
        /// fails with an I/O error of kind `TimedOut`, which [`is_disconnect`] counts.
        ///
        /// This is the driver's `connect_timeout`, applied to each address a host name
        /// resolves to. It does not bound the startup exchange that follows: a server that
        /// accepts the socket and then says nothing keeps the connect waiting until it
        /// closes the socket (see the crate docs, "Timeouts").
        #[must_use]
        pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
            self.config.connect_timeout(timeout);
            self
        }

        /// Tags every connection with `application_name` (shown in `pg_stat_activity`), so
        /// that the pool's sessions can be found, watched and terminated from the server.
        #[must_use]
        pub fn with_application_name(mut self, name: &str) -> Self {
            self.config.application_name(name);
            self
        }

        /// Which of the configured hosts a connection may use; see [`TargetSession`]
        /// (`ReadWrite` also counts a read-only session's error as a disconnect).
        #[must_use]
        pub fn with_target_session(mut self, target: $crate::TargetSession) -> Self {
            self.target = target;
            self.config.target_session_attrs(target.attrs());
            self
        }

        /// The kind of server connections must land on.
        pub fn target_session(&self) -> $crate::TargetSession {
            self.target
        }

        /// The driver configuration connections are opened with.
        pub fn config(&self) -> &Config {
            &self.config
        }

        /// The driver configuration, to set what no builder method of this type covers
        /// (keepalives, `tcp_user_timeout`, `options`, ...). Set the target session with
        /// [`with_target_session`](Self::with_target_session), which also decides what
        /// counts as a disconnect.
        pub fn config_mut(&mut self) -> &mut Config {
            &mut self.config
        }
    };
}
pub(crate) use config_methods;

/// Opens, resets, pings and closes PostgreSQL connections (`postgres::Client`) for a pool.
///
/// Built from a URL or a `key=value` string ([`new`](PostgresConnector::new)) or from a
/// [`Config`] ([`from_config`](PostgresConnector::from_config)), then refined with
/// [`with_connect_timeout`](PostgresConnector::with_connect_timeout),
/// [`with_application_name`](PostgresConnector::with_application_name) and
/// [`with_tls`](PostgresConnector::with_tls). Connections use no TLS unless a TLS
/// connector is given.
///
/// Without TLS, over TCP, each connection's socket is watched for the transaction
/// status the server reports after every request, so the reset on return sends nothing
/// when no transaction is open (see the crate docs, "Reset without a round trip").
///
/// Cloning copies the configuration; nothing is shared but the TLS connector's own state.
///
/// It is blocking all the way down: the `postgres` crate drives each connection with a
/// runtime of its own, and tokio panics when one starts on a thread that is running
/// async tasks. From async code use [`AsyncPostgresConnector`](crate::AsyncPostgresConnector)
/// and the pool's `get_async`, or check out and query inside `spawn_blocking`.
#[derive(Clone)]
pub struct PostgresConnector<T = NoTls> {
    config: Config,
    target: TargetSession,
    tls: T,
    /// Whether the application asked for no TLS, so that the socket may be watched.
    watch: bool,
}

impl PostgresConnector<NoTls> {
    /// A connector for the server that `params` names, without TLS.
    ///
    /// `params` is a URL (`postgres://user@host:5432/db?application_name=app`) or a
    /// `key=value` string (`host=localhost user=postgres`), as
    /// [`Config`]'s parser reads them. Nothing is opened until
    /// [`connect`](Connector::connect).
    ///
    /// # Errors
    ///
    /// The parser's error when `params` is not a valid configuration; its message
    /// quotes `params` (the password hidden) and names the option that is wrong.
    pub fn new(params: &str) -> Result<Self, Error> {
        Ok(PostgresConnector::from_config(parse(params)?))
    }

    /// A connector for `config`, without TLS.
    pub fn from_config(config: Config) -> Self {
        let target = TargetSession::of(&config);
        PostgresConnector { config, target, tls: NoTls, watch: true }
    }
}

impl<T> PostgresConnector<T> {
    /// The same connector, opening connections through `tls` (for example a
    /// `postgres-native-tls` or `postgres-openssl` connector).
    ///
    /// Connections through a TLS connector are not watched: their reset on return asks the
    /// server whether a transaction is open ([`end_transaction`](crate::end_transaction)),
    /// one round trip per return.
    pub fn with_tls<U>(self, tls: U) -> PostgresConnector<U> {
        PostgresConnector { config: self.config, target: self.target, tls, watch: false }
    }

    config_methods!();
}

impl<T> PostgresConnector<T>
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::TlsConnect: Send,
    T::Stream: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    /// One connect with `config`.
    fn connect_with(&self, config: &Config) -> Result<PostgresConnection, Error> {
        let session = Session::new();
        let client = match watched(config, self.watch) {
            Some(config) => config.connect(Passthrough::new(session.clone())),
            None => config.connect(self.tls.clone()),
        };
        match client {
            Ok(client) => Ok(PostgresConnection::new(client, session)),
            Err(e) => Err(connect_error(config, e)),
        }
    }
}

impl<T> fmt::Debug for PostgresConnector<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The driver's configuration hides the password in its own Debug output.
        f.debug_struct("PostgresConnector")
            .field("config", &self.config)
            .field("tls", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T> Connector for PostgresConnector<T>
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::TlsConnect: Send,
    T::Stream: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    type Connection = PostgresConnection;
    type Error = Error;

    /// Opens a client with the configuration and the TLS connector; without TLS, over
    /// TCP, its socket is watched for the transaction status.
    ///
    /// With [`TargetSession::PreferStandby`], a standby is tried for first, then any
    /// server (so a connect may take up to twice `connect_timeout`).
    fn connect(&self) -> Result<PostgresConnection, Error> {
        match self.target.standby_first(&self.config) {
            Some(standby) => {
                self.connect_with(&standby).or_else(|_| self.connect_with(&self.config))
            }
            None => self.connect_with(&self.config),
        }
    }

    /// Ends an open transaction with `ROLLBACK`; sends nothing when the server's last
    /// answer said none is open, and asks first when that is not known
    /// ([`end_transaction`](crate::end_transaction)). So PostgreSQL never logs "there is
    /// no transaction in progress" for a return.
    fn rollback(&self, conn: &mut PostgresConnection) -> Result<(), Error> {
        Ok(conn.end("ROLLBACK")?)
    }

    /// Ends an open transaction with `COMMIT`, likewise. In a transaction that an error
    /// aborted, PostgreSQL rolls back instead, without an error.
    fn commit(&self, conn: &mut PostgresConnection) -> Result<(), Error> {
        Ok(conn.end("COMMIT")?)
    }

    /// Runs `SELECT 1` with the simple query protocol.
    fn ping(&self, conn: &mut PostgresConnection) -> Option<Result<(), Error>> {
        Some(conn.batch_execute("SELECT 1").map_err(Error::from))
    }

    /// An empty query through the driver's `Client::is_valid`, which gives up after
    /// `bound` (its own timer, with or without TLS).
    fn ping_within(
        &self,
        conn: &mut PostgresConnection,
        bound: Duration,
    ) -> Result<Option<Result<(), Error>>, OperationTimeout> {
        let start = Instant::now();
        match conn.is_valid(bound) {
            Ok(()) => Ok(Some(Ok(()))),
            // The driver's timeout error has no public kind: the time tells it.
            Err(_) if start.elapsed() >= bound => {
                Err(OperationTimeout::new(Operation::Ping, bound))
            }
            Err(e) => Ok(Some(Err(e.into()))),
        }
    }

    /// [`rollback`](Connector::rollback), its reads from a watched socket (no TLS, over
    /// TCP) bounded by `bound`: past it the read fails, and so does the connection. A
    /// socket that is not watched cannot be bounded here: the reset then waits as long as
    /// the driver does.
    fn rollback_within(
        &self,
        conn: &mut PostgresConnection,
        bound: Duration,
    ) -> Result<Result<(), Error>, OperationTimeout> {
        end_within(conn, "ROLLBACK", bound)
    }

    /// [`commit`](Connector::commit), bounded likewise.
    fn commit_within(
        &self,
        conn: &mut PostgresConnection,
        bound: Duration,
    ) -> Result<Result<(), Error>, OperationTimeout> {
        end_within(conn, "COMMIT", bound)
    }

    /// Sends the protocol's `Terminate` message and waits for the socket to close,
    /// returning the driver's error if that fails.
    fn close(&self, conn: PostgresConnection) -> Result<(), Error> {
        Ok(conn.into_client().close()?)
    }

    /// Closes a connection known or suspected to be broken without waiting for the
    /// server: the driver's own close (and drop) waits for every answer still owed,
    /// which a silent server never sends. A watched socket is made to fail at once; an
    /// unwatched one (TLS) is closed on a thread of its own.
    fn terminate(&self, conn: PostgresConnection) -> Result<(), Error> {
        conn.abort();
        Ok(())
    }

    /// Whether the driver already knows the connection is closed (`Client::is_closed`):
    /// no round trip, only the state the driver's last call left.
    fn is_broken(&self, conn: &mut PostgresConnection) -> bool {
        conn.is_closed()
    }

    /// Whether `error` means the session is gone; see the free function
    /// [`is_disconnect`]. Under [`TargetSession::ReadWrite`], also an error saying the
    /// session is read-only (the server was demoted).
    fn is_disconnect(&self, error: &Error) -> bool {
        error.as_postgres().is_some_and(|e| is_disconnect(e) || self.target.refused_by(e))
    }
}

/// Parses a URL or `key=value` string into a driver configuration (`postgres::Config`
/// or `tokio_postgres::Config`); the error quotes `params` with the password hidden.
pub(crate) fn parse<T>(params: &str) -> Result<T, Error>
where
    T: std::str::FromStr<Err = postgres::Error>,
{
    params.parse().map_err(|e| {
        Error::with_context(
            format!("invalid connection string \"{}\"", pool_core::redact(params)),
            e,
        )
    })
}

/// What the connectors read of a driver configuration: `postgres::Config` and
/// `tokio_postgres::Config` have the same getters and setters, not a common type.
pub(crate) trait Target: Clone {
    fn hosts(&self) -> &[Host];
    fn ports(&self) -> &[u16];
    /// Whether the application asked for TLS in the configuration itself.
    fn tls_asked(&self) -> bool;
    /// Hands the bare socket to the TLS hook at once: `sslmode=require` with
    /// `sslnegotiation=direct` (no `SSLRequest` exchange).
    fn direct(&mut self);
    /// The kind of server asked for (`target_session_attrs`).
    fn target_attrs(&self) -> TargetSessionAttrs;
    /// Asks for another kind of server.
    fn set_target_attrs(&mut self, attrs: TargetSessionAttrs);
}

macro_rules! target {
    ($config:ty) => {
        impl Target for $config {
            fn hosts(&self) -> &[Host] {
                self.get_hosts()
            }
            fn ports(&self) -> &[u16] {
                self.get_ports()
            }
            fn tls_asked(&self) -> bool {
                self.get_ssl_mode() == SslMode::Require
                    || self.get_ssl_negotiation() == SslNegotiation::Direct
            }
            fn direct(&mut self) {
                self.ssl_mode(SslMode::Require).ssl_negotiation(SslNegotiation::Direct);
            }
            fn target_attrs(&self) -> TargetSessionAttrs {
                self.get_target_session_attrs()
            }
            fn set_target_attrs(&mut self, attrs: TargetSessionAttrs) {
                self.target_session_attrs(attrs);
            }
        }
    };
}

target!(Config);
target!(tokio_postgres::Config);

/// The configuration to connect with through the socket watcher
/// ([`Passthrough`]), if the socket of a connection with `config` can be watched: only
/// when `watch` (no TLS connector was given), over TCP (the driver offers no TLS hook on
/// a Unix socket), and not where the application asked for TLS (`sslmode=require` with
/// no TLS connector fails as the driver makes it fail).
pub(crate) fn watched<T: Target>(config: &T, watch: bool) -> Option<T> {
    let hosts = config.hosts();
    let tcp = !hosts.is_empty() && hosts.iter().all(|h| matches!(h, Host::Tcp(_)));
    (watch && tcp && !config.tls_asked()).then(|| {
        // The driver hands the socket to its TLS hook at once under these two settings;
        // the hook watches it and encrypts nothing (see `session`).
        let mut config = config.clone();
        config.direct();
        config
    })
}

/// A connect's error; one the driver got from the socket names the servers it tried,
/// which the driver's message does not.
pub(crate) fn connect_error<T: Target>(config: &T, e: postgres::Error) -> Error {
    if e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        Error::with_context(format!("error connecting to {}", servers(config)), e)
    } else {
        e.into()
    }
}

/// The addresses `config` connects to, for messages: `host:port`, or the socket's
/// directory.
fn servers<T: Target>(config: &T) -> String {
    let ports = config.ports();
    let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let names: Vec<String> = config
        .hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(name) => format!("{name}:{}", port(i)),
            #[cfg(unix)]
            Host::Unix(dir) => format!("{} (port {})", dir.display(), port(i)),
        })
        .collect();
    if names.is_empty() {
        "the server (no host given)".to_owned()
    } else {
        names.join(", ")
    }
}

/// Whether a `postgres` error means the session is gone.
///
/// True for:
///
/// - a client the driver knows is closed (`Error::is_closed`);
/// - an error talking to the server at the socket level: reset, broken pipe, end of
///   stream, a refused or timed-out connect (the error's source is a `std::io::Error`,
///   of any kind but `InvalidInput`, which the driver uses for a statement it cannot
///   encode);
/// - a server error that ends the session: severity `FATAL` or `PANIC`, SQLSTATE class
///   `08` (connection exception), `57P01` admin shutdown (what `pg_terminate_backend`
///   and a fast shutdown send), `57P02` crash shutdown, `57P03` cannot connect now
///   (starting up, shutting down, in recovery).
///
/// False for everything else: SQL errors, constraint violations, serialization failures,
/// a cancelled statement or `statement_timeout` (`57014`), a configuration that does not
/// parse. A session killed while idle reports `57P01` on its next use, or an I/O error,
/// and then "connection closed" to every call after that: all three count.
///
/// This is [`PostgresConnector`]'s [`is_disconnect`](Connector::is_disconnect), for code
/// that classifies `postgres` errors elsewhere.
///
/// ```
/// use pool_postgres::postgres::Config;
///
/// // Nothing listens on port 1: the refused connect is a disconnect.
/// let config: Config = "host=127.0.0.1 port=1 user=postgres connect_timeout=5".parse().unwrap();
/// let Err(err) = config.connect(pool_postgres::postgres::NoTls) else { unreachable!() };
/// assert!(pool_postgres::is_disconnect(&err));
///
/// // A configuration that does not parse is not.
/// let err = "port=notanumber".parse::<Config>().unwrap_err();
/// assert!(!pool_postgres::is_disconnect(&err));
/// ```
pub fn is_disconnect(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        return matches!(db.parsed_severity(), Some(Severity::Fatal | Severity::Panic))
            || code.code().starts_with("08")
            || [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW]
                .contains(code);
    }
    // The driver also wraps an `io::Error` of kind `InvalidInput` around statements it
    // cannot encode (a string with a NUL byte): the session is fine, so that one is not
    // a disconnect.
    error
        .source()
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() != std::io::ErrorKind::InvalidInput)
}

/// A reset of the sync connector within `bound`: an error after the bound passed is the
/// bound's.
fn end_within(
    conn: &mut PostgresConnection,
    statement: &str,
    bound: Duration,
) -> Result<Result<(), Error>, OperationTimeout> {
    match conn.end_within(statement, bound) {
        (Err(_), true) => Err(OperationTimeout::new(Operation::Reset, bound)),
        (result, _) => Ok(result.map_err(Error::from)),
    }
}
