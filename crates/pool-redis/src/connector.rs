//! [`RedisConnector`]: a [`Connector`] that opens `redis` connections (the sync API).

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use pool_core::{Connector, Operation, OperationTimeout, UrlError, UrlParts};
use redis::{
    Client, Cmd, Connection, ConnectionLike, ErrorKind, Pipeline, RedisConnectionInfo, RedisError,
    Value,
};

/// Opens, resets, pings and closes Redis connections (`redis::Connection`, the sync API)
/// for a pool.
///
/// Built from a URL ([`new`](RedisConnector::new)) or a [`redis::Client`]
/// ([`from_client`](RedisConnector::from_client)), then refined with
/// [`with_connect_timeout`](RedisConnector::with_connect_timeout) and
/// [`with_client_name`](RedisConnector::with_client_name). Cloning copies the
/// configuration.
///
/// Reset on return discards what a holder left open: an unfinished `MULTI` (with
/// `DISCARD`; in commit mode it is executed with `EXEC` instead) and every `WATCH` (with
/// `UNWATCH`). See the crate docs for the details.
#[derive(Clone)]
pub struct RedisConnector {
    client: Client,
    connect_timeout: Option<Duration>,
    client_name: Option<String>,
}

impl RedisConnector {
    /// A connector for the server that `url` names (`redis://127.0.0.1:6379/0`,
    /// `redis+unix:///run/redis.sock`), as [`Client::open`] reads it. Nothing is opened
    /// until [`connect`](Connector::connect).
    ///
    /// # Errors
    ///
    /// When the driver refuses `url`: a [`UrlError`] that says which part is wrong
    /// (`invalid Redis URL "redis://127.0.0.1:notaport/": the port `notaport` is not a
    /// number ...`), whose [`source`](std::error::Error::source) is the driver's
    /// [`RedisError`].
    pub fn new(url: &str) -> Result<Self, UrlError> {
        match Client::open(url) {
            Ok(client) => Ok(RedisConnector::from_client(client)),
            Err(err) => Err(UrlError::new("Redis", url, url_problem(url).err(), err)),
        }
    }

    /// A connector opening connections with `client`.
    pub fn from_client(client: Client) -> Self {
        RedisConnector { client, connect_timeout: None, client_name: None }
    }

    /// Bounds each step of a connect: opening the socket, then each reply to the setup
    /// commands the driver sends (`HELLO`/`AUTH`, `SELECT`, `CLIENT SETINFO`) and to
    /// `CLIENT SETNAME` (see [`with_client_name`](Self::with_client_name)). A server that
    /// takes longer fails the connect with an I/O error of kind `TimedOut`, which
    /// [`is_disconnect`] counts.
    ///
    /// Against a server that accepts and then says nothing, the steps add up (two
    /// timeouts, measured). The pool's own `connect_timeout` (30 s unless set) bounds the
    /// whole connect, whatever the steps; this setting makes a silent server fail sooner
    /// and frees the connecting thread.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Names every connection with `CLIENT SETNAME`, right after it opens (one more round
    /// trip per connect), so that the pool's connections can be found in `CLIENT LIST`.
    ///
    /// The name must not contain spaces, newlines or other special characters; Redis
    /// refuses it otherwise, and every connect fails.
    #[must_use]
    pub fn with_client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// The driver client connections are opened with.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl fmt::Debug for RedisConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the address: the driver's connection info holds the password.
        f.debug_struct("RedisConnector")
            .field("addr", &self.client.get_connection_info().addr())
            .field("connect_timeout", &self.connect_timeout)
            .field("client_name", &self.client_name)
            .finish()
    }
}

impl Connector for RedisConnector {
    type Connection = Connection;
    type Error = RedisError;

    /// Opens a connection, then names it, each step bounded by the connect timeout
    /// ([`with_connect_timeout`](Self::with_connect_timeout)) as the driver applies it.
    fn connect(&self) -> Result<Connection, RedisError> {
        self.open(self.connect_timeout)
    }

    /// Discards an open `MULTI` and every `WATCH`: `DISCARD` then `UNWATCH`, pipelined
    /// in one round trip. The server's "DISCARD without MULTI" answer (nothing was open)
    /// is expected and ignored.
    fn rollback(&self, conn: &mut Connection) -> Result<(), RedisError> {
        end_transaction(conn, "DISCARD")
    }

    /// Executes an open `MULTI` with `EXEC`, then `UNWATCH`, pipelined in one round
    /// trip. The server's "EXEC without MULTI" answer (nothing was open) is expected and
    /// ignored; an `EXECABORT` (a queued command was refused, so nothing ran) is
    /// returned as the error, and the pool then closes the connection.
    fn commit(&self, conn: &mut Connection) -> Result<(), RedisError> {
        end_transaction(conn, "EXEC")
    }

    /// Sends `PING`.
    fn ping(&self, conn: &mut Connection) -> Option<Result<(), RedisError>> {
        Some(redis::cmd("PING").exec(conn))
    }

    /// `PING`, with the socket's read timeout set to `bound` for it.
    ///
    /// Like the two resets below, this clears a read timeout the application set on the
    /// connection (`Connection::set_read_timeout`): the driver cannot tell what it was.
    fn ping_within(
        &self,
        conn: &mut Connection,
        bound: Duration,
    ) -> Result<Option<Result<(), RedisError>>, OperationTimeout> {
        within(conn, bound, Operation::Ping, |conn| redis::cmd("PING").exec(conn)).map(Some)
    }

    /// The reset, with the socket's read timeout set for it. The driver applies the
    /// timeout to each of the two replies in turn (measured: a silent server fails the
    /// reset after twice the timeout), so each gets half of `bound`.
    fn rollback_within(
        &self,
        conn: &mut Connection,
        bound: Duration,
    ) -> Result<Result<(), RedisError>, OperationTimeout> {
        let reset = |conn: &mut Connection| end_transaction(conn, "DISCARD");
        within(conn, bound / 2, Operation::Reset, reset).map_err(|_| reset_timeout(bound))
    }

    /// The commit-mode reset, bounded likewise.
    fn commit_within(
        &self,
        conn: &mut Connection,
        bound: Duration,
    ) -> Result<Result<(), RedisError>, OperationTimeout> {
        let reset = |conn: &mut Connection| end_transaction(conn, "EXEC");
        within(conn, bound / 2, Operation::Reset, reset).map_err(|_| reset_timeout(bound))
    }

    /// Drops the connection, which closes the socket.
    fn close(&self, conn: Connection) -> Result<(), RedisError> {
        drop(conn);
        Ok(())
    }

    /// Whether the driver has seen the socket fail (`ConnectionLike::is_open` is false):
    /// no round trip, only the state the last call left.
    fn is_broken(&self, conn: &mut Connection) -> bool {
        !conn.is_open()
    }

    /// Whether `error` means the connection is gone; see the free function
    /// [`is_disconnect`].
    fn is_disconnect(&self, error: &RedisError) -> bool {
        is_disconnect(error)
    }
}

impl RedisConnector {
    /// Opens and names a connection, each step bounded by `timeout` as the driver
    /// applies it.
    fn open(&self, timeout: Option<Duration>) -> Result<Connection, RedisError> {
        let mut conn = match open_with(&self.client, timeout) {
            Ok(conn) => conn,
            Err(err) if err.kind() == ErrorKind::AuthenticationFailed => {
                return Err(self.explain_auth(err, timeout))
            }
            Err(err) => return Err(self.with_address(err)),
        };
        if let Some(name) = &self.client_name {
            // The driver lifts its temporary timeouts after its own setup: put them back
            // for this one command.
            conn.set_read_timeout(timeout)?;
            conn.set_write_timeout(timeout)?;
            redis::cmd("CLIENT").arg("SETNAME").arg(name).exec(&mut conn)?;
            conn.set_read_timeout(None)?;
            conn.set_write_timeout(None)?;
        }
        Ok(conn)
    }
}

fn reset_timeout(bound: Duration) -> OperationTimeout {
    OperationTimeout::new(Operation::Reset, bound)
}

/// Runs `f` with the socket's read timeout set to `bound`, then lifts it; a read that
/// timed out is the bound's [`OperationTimeout`] (the connection, out of step, is then
/// terminated by the pool).
fn within<T>(
    conn: &mut Connection,
    bound: Duration,
    operation: Operation,
    f: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
) -> Result<Result<T, RedisError>, OperationTimeout> {
    if let Err(err) = conn.set_read_timeout(Some(bound)) {
        return Ok(Err(err));
    }
    match f(conn) {
        Err(err) if err.is_timeout() => Err(OperationTimeout::new(operation, bound)),
        result => Ok(result.and_then(|out| conn.set_read_timeout(None).map(|()| out))),
    }
}

/// Opens a connection with `client`, bounded by `timeout` as the driver applies it.
fn open_with(client: &Client, timeout: Option<Duration>) -> Result<Connection, RedisError> {
    match timeout {
        Some(timeout) => client.get_connection_with_timeout(timeout),
        None => client.get_connection(),
    }
}

impl RedisConnector {
    /// An I/O error of a connect, with the address it was for: the driver's says only
    /// "Connection refused (os error 111)". It stays an I/O error of the same kind.
    fn with_address(&self, err: RedisError) -> RedisError {
        with_address(&self.client, err)
    }

    /// The driver's "Password authentication failed", with the server's own answer and
    /// the user: the driver drops the server's words (`WRONGPASS ...`, `ERR AUTH <password>
    /// called without any password configured ...`), so they are asked for again, with
    /// `AUTH` on a second connection that sends nothing else. Only a failed
    /// authentication pays for it; if that connection fails too, the driver's error is
    /// returned as it was.
    fn explain_auth(&self, err: RedisError, timeout: Option<Duration>) -> RedisError {
        let Some(probe) = AuthProbe::new(&self.client) else { return err };
        let answer = Client::open(probe.bare.clone())
            .and_then(|client| open_with(&client, timeout))
            .and_then(|mut conn| probe.auth.exec(&mut conn));
        probe.explain(err, answer)
    }
}

/// How to ask the server again why it refused a password: a bare client (no setup
/// commands) and the `AUTH` command the driver sent.
pub(crate) struct AuthProbe {
    pub(crate) bare: redis::ConnectionInfo,
    pub(crate) auth: Cmd,
    user: Option<String>,
}

impl AuthProbe {
    /// The probe for `client`'s credentials; `None` when it has no password.
    pub(crate) fn new(client: &Client) -> Option<Self> {
        let info = client.get_connection_info();
        let creds = info.redis_settings();
        let password = creds.password()?;
        let user = creds.username();
        let bare = info.clone().set_redis_settings(
            RedisConnectionInfo::default().set_protocol(creds.protocol()).set_skip_set_lib_name(),
        );
        let mut auth = redis::cmd("AUTH");
        auth.arg(user).arg(password);
        Some(AuthProbe { bare, auth, user: user.map(str::to_owned) })
    }

    /// The driver's `err`, with the server's `answer` to the probe if it gave one.
    pub(crate) fn explain(&self, err: RedisError, answer: Result<(), RedisError>) -> RedisError {
        match answer {
            Err(answer) if answer.kind() != ErrorKind::Io => {
                // The server's line as it sent it: `WRONGPASS invalid username-password ...`.
                let line = match (answer.code(), answer.detail()) {
                    (Some(code), Some(detail)) => format!("{code} {detail}"),
                    _ => answer.to_string(),
                };
                let user = self.user.as_deref().unwrap_or("default");
                RedisError::from((
                    ErrorKind::AuthenticationFailed,
                    "Password authentication failed",
                    format!("the server answered AUTH as `{user}`: {line}"),
                ))
            }
            _ => err,
        }
    }
}

/// An I/O error of a connect through `client`, with the address it was for.
pub(crate) fn with_address(client: &Client, err: RedisError) -> RedisError {
    // The driver keeps the I/O error behind an `Arc` as its `source()`.
    let io = StdError::source(&err)
        .and_then(|e| e.downcast_ref::<Arc<dyn StdError + Send + Sync>>())
        .and_then(|e| e.downcast_ref::<io::Error>());
    match io {
        Some(io) => {
            let addr = client.get_connection_info().addr();
            RedisError::from(io::Error::new(io.kind(), format!("{addr}: {io}")))
        }
        None => err,
    }
}

/// The URL schemes the driver reads.
const SCHEMES: [&str; 7] =
    ["redis", "rediss", "valkey", "valkeys", "redis+unix", "valkey+unix", "unix"];

/// What is wrong in a URL the driver refused ("Redis URL did not parse", "Invalid database
/// number"): the scheme, the host, the port, the database number or the protocol.
pub(crate) fn url_problem(url: &str) -> Result<(), String> {
    let parts = UrlParts::parse(url, &SCHEMES)?;
    let db = if parts.scheme.to_ascii_lowercase().ends_with("unix") {
        parts.query_pairs().find(|(key, _)| *key == "db").map_or("", |(_, db)| db)
    } else {
        parts.with_host()?.path.trim_matches('/')
    };
    if !db.is_empty() && db.parse::<i64>().is_err() {
        return Err(format!("the database `{db}` is not a number (expected `/0`, `/1`, ...)"));
    }
    if let Some((_, protocol)) = parts.query_pairs().find(|(key, _)| *key == "protocol") {
        if !["2", "3", "resp2", "resp3"].contains(&protocol) {
            return Err(format!("the protocol `{protocol}` is not `resp2` or `resp3`"));
        }
    }
    Ok(())
}

/// Ends whatever `MULTI` is open with `end` (`DISCARD` or `EXEC`) and drops every `WATCH`.
fn end_transaction(conn: &mut Connection, end: &str) -> Result<(), RedisError> {
    check_reset(reset_pipe(end).query(conn)?)
}

/// The reset's two commands, pipelined: `end` then `UNWATCH`. `end` goes first: inside a
/// `MULTI`, an `UNWATCH` would only be queued.
pub(crate) fn reset_pipe(end: &str) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd(end).cmd("UNWATCH").ignore_errors();
    pipe
}

/// The outcome of a reset from its two replies: "without MULTI" (nothing was open) is
/// expected; any other error of either command is returned.
pub(crate) fn check_reset(replies: Vec<Value>) -> Result<(), RedisError> {
    let [first, unwatch] = <[Value; 2]>::try_from(replies).map_err(|_| {
        RedisError::from((ErrorKind::UnexpectedReturnType, "expected two replies to a reset"))
    })?;
    if let Value::ServerError(err) = first {
        let nothing_open = err.details().is_some_and(|d| d.contains("without MULTI"));
        if !nothing_open {
            return Err(err.into());
        }
    }
    if let Value::ServerError(err) = unwatch {
        return Err(err.into());
    }
    Ok(())
}

/// Whether a `redis` error means the connection is gone.
///
/// True for every I/O error (reset, broken pipe, end of stream, refused connect, and
/// read or write timeouts: after one the reply may still arrive, so the connection
/// cannot be trusted) and for what the driver reports as a dropped connection. False for
/// the server's errors (`WRONGTYPE`, `NOSCRIPT`, `LOADING`, `READONLY`, `EXECABORT`,
/// ...), for the driver's parse errors (its kind `Parse` also covers a reply that does
/// not convert to the type asked for, which leaves the connection fine) and for client
/// configuration errors.
///
/// A connection closed by `CLIENT KILL` reports an I/O error on its next use.
///
/// This is [`RedisConnector`]'s [`is_disconnect`](Connector::is_disconnect), for code
/// that classifies `redis` errors elsewhere.
///
/// ```
/// use std::io;
///
/// use pool_redis::redis::{ErrorKind, RedisError};
///
/// let reset = RedisError::from(io::Error::from(io::ErrorKind::ConnectionReset));
/// assert!(pool_redis::is_disconnect(&reset));
///
/// let wrong_type = RedisError::from((ErrorKind::UnexpectedReturnType, "not a number"));
/// assert!(!pool_redis::is_disconnect(&wrong_type));
/// ```
pub fn is_disconnect(error: &RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal()
}
