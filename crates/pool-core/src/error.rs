//! The pool's errors: one type per operation that can fail.

use std::error::Error as StdError;
use std::fmt::{self, Write as _};
use std::time::Duration;

/// A boxed error from a listener or a connector, as carried by the pool's errors.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Displays an error followed by each cause of its [`source`](StdError::source) chain
/// whose text it has not shown yet, separated by `": "`.
///
/// Many drivers keep the cause out of their own message (`postgres`: "db error", with the
/// server's words in `source()`); this shows it, and skips a cause that the message
/// already contains, so a driver that repeats its cause does not print it twice. The
/// pool's errors display the connector's error this way; use it for your own messages
/// too.
///
/// ```
/// use std::{fmt, io};
///
/// use pool_core::ErrorChain;
///
/// #[derive(Debug)]
/// struct DbError(io::Error);
///
/// impl fmt::Display for DbError {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str("db error")
///     }
/// }
///
/// impl std::error::Error for DbError {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let err = DbError(io::Error::other("role \"nosuchuser\" does not exist"));
/// assert_eq!(
///     ErrorChain::new(&err).to_string(),
///     "db error: role \"nosuchuser\" does not exist"
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(&'a (dyn StdError + 'static));

impl<'a> ErrorChain<'a> {
    /// `error` and its causes, ready to display.
    pub fn new(error: &'a (dyn StdError + 'static)) -> Self {
        ErrorChain(error)
    }
}

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let words = cause.to_string();
            if !shown.contains(&words) {
                write!(shown, ": {words}")?;
            }
            source = cause.source();
        }
        f.write_str(&shown)
    }
}

/// A connection URL that a connector's driver refused, with the part that is wrong.
///
/// Returned by the connectors' URL constructors (`MySqlConnector::new`,
/// `RedisConnector::new`). `Display` names the backend, the URL (its password replaced by
/// `***`), what is wrong in it when the URL can be taken apart to find out
/// ([`UrlParts`](crate::UrlParts)), and the driver's own message:
///
/// ```text
/// invalid MySQL URL "mysql://root@127.0.0.1:notaport/test": the port `notaport` is not a number (the driver says: UrlError { URL ParseError { invalid port number } })
/// ```
///
/// [`source`](StdError::source) is the driver's error.
#[derive(Debug)]
#[non_exhaustive]
pub struct UrlError {
    backend: &'static str,
    url: String,
    problem: Option<String>,
    source: BoxError,
}

impl UrlError {
    /// The driver of `backend` (`"MySQL"`) refused `url` with `source`; `problem`, if
    /// known, says which part is wrong (`"the port `x` is not a number"`).
    pub fn new(
        backend: &'static str,
        url: &str,
        problem: Option<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        UrlError { backend, url: crate::url::redact(url), problem, source: source.into() }
    }

    /// The URL, its password replaced by `***`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What is wrong in the URL, when more is known than the driver's message says.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} URL \"{}\": ", self.backend, self.url)?;
        let driver = ErrorChain::new(&*self.source);
        match &self.problem {
            Some(problem) => write!(f, "{problem} (the driver says: {driver})"),
            None => driver.fmt(f),
        }
    }
}

impl StdError for UrlError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// A pool was configured with a value it cannot work with.
///
/// Returned by [`Builder::build`](crate::Builder::build) and by the parsers of
/// configuration values; the message says which setting to change and how.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildError {
    setting: &'static str,
    message: String,
}

impl BuildError {
    /// A refused `setting`, with a message that says what to change.
    pub fn new(setting: &'static str, message: impl Into<String>) -> Self {
        BuildError { setting, message: message.into() }
    }

    pub(crate) fn invalid_reset(value: String) -> Self {
        BuildError::new(
            "reset_on_return",
            format!(
                "invalid value for 'reset_on_return': {value}; \
                 use \"rollback\" (or true), \"commit\" or \"none\" (or false)"
            ),
        )
    }

    /// The name of the setting that was refused.
    pub fn setting(&self) -> &'static str {
        self.setting
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for BuildError {}

/// What a listener returns to stop the operation it was called for.
///
/// From a `checkout` listener, [`disconnect`](ListenerError::disconnect) and
/// [`invalidate_pool`](ListenerError::invalidate_pool) ask the pool to replace the
/// connection and try again (SQLAlchemy's `DisconnectionError` and `InvalidatePoolError`);
/// any other error fails the checkout. From `connect`, `first_connect` and `reset`
/// listeners every error is a failure.
#[derive(Debug)]
pub struct ListenerError {
    kind: ListenerErrorKind,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListenerErrorKind {
    Failed,
    Disconnect,
    InvalidatePool,
}

impl ListenerError {
    /// A plain failure, caused by `error`.
    pub fn new(error: impl Into<BoxError>) -> Self {
        ListenerError { kind: ListenerErrorKind::Failed, source: Some(error.into()) }
    }

    /// The connection is unusable: replace it and try the checkout again.
    pub fn disconnect(reason: impl Into<BoxError>) -> Self {
        ListenerError { kind: ListenerErrorKind::Disconnect, source: Some(reason.into()) }
    }

    /// Like [`disconnect`](ListenerError::disconnect), and every connection opened before
    /// this one is stale too.
    pub fn invalidate_pool(reason: impl Into<BoxError>) -> Self {
        ListenerError { kind: ListenerErrorKind::InvalidatePool, source: Some(reason.into()) }
    }

    /// Whether this asks for a reconnect rather than failing.
    pub fn is_disconnect(&self) -> bool {
        self.kind != ListenerErrorKind::Failed
    }

    /// Whether this also invalidates every older connection of the pool.
    pub fn invalidates_pool(&self) -> bool {
        self.kind == ListenerErrorKind::InvalidatePool
    }
}

impl fmt::Display for ListenerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ListenerErrorKind::Failed => "a pool listener failed",
            ListenerErrorKind::Disconnect => "a pool listener reported a disconnect",
            ListenerErrorKind::InvalidatePool => {
                "a pool listener reported a disconnect and invalidated the pool"
            }
        };
        match &self.source {
            Some(source) => write!(f, "{what}: {}", ErrorChain::new(&**source)),
            None => f.write_str(what),
        }
    }
}

impl StdError for ListenerError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// No connection became available within the pool's timeout.
///
/// Its message keeps SQLAlchemy's text (`QueuePool limit of size 5 overflow 10 reached,
/// connection timed out, timeout 30.00`) and adds what helps find the cause: how many
/// connections are open, idle and checked out, how many other callers wait, and the last
/// connect error if one failed during this wait:
///
/// ```text
/// QueuePool limit of size 2 overflow 0 reached, connection timed out, timeout 0.10 (2 open: 0 idle, 2 checked out; 0 other callers waiting)
/// ```
///
/// A pool that times out usually has leaked connections or idle transactions, rarely too
/// small a size.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeoutError {
    /// The pool type, as in the message (`"QueuePool"`).
    pub pool: &'static str,
    /// The configured pool size ([`PoolStatus::pool_size`](crate::PoolStatus::pool_size)).
    pub pool_size: usize,
    /// The overflow at the moment of the timeout.
    pub overflow: isize,
    /// How long the caller waited.
    pub timeout: Duration,
    /// Connections open at the moment of the timeout: idle, checked out, or being
    /// opened.
    pub open: usize,
    /// Idle connections at the moment of the timeout (usually 0: a caller that waits
    /// found none).
    pub idle: usize,
    /// Connections checked out at the moment of the timeout (those being opened count
    /// here too).
    pub checked_out: usize,
    /// Other callers waiting at the moment of the timeout.
    pub waiting: usize,
    /// The last error a connect attempt of this pool returned, if one failed while this
    /// caller waited (an older failure is left out: it says nothing about this wait).
    pub last_connect_error: Option<String>,
}

impl TimeoutError {
    /// A timeout of a `pool` type whose counts were `status` when it gave up after
    /// waiting `timeout`.
    pub fn new(
        pool: &'static str,
        status: &crate::PoolStatus,
        timeout: Duration,
        last_connect_error: Option<String>,
    ) -> Self {
        TimeoutError {
            pool,
            pool_size: status.pool_size,
            overflow: status.overflow,
            timeout,
            open: status.idle + status.checked_out,
            idle: status.idle,
            checked_out: status.checked_out,
            waiting: status.waiting,
            last_connect_error,
        }
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} limit of size {} overflow {} reached, connection timed out, timeout {:.2} \
             ({} open: {} idle, {} checked out; {} other callers waiting",
            self.pool,
            self.pool_size,
            self.overflow,
            self.timeout.as_secs_f64(),
            self.open,
            self.idle,
            self.checked_out,
            self.waiting
        )?;
        if let Some(last) = &self.last_connect_error {
            write!(f, "; a connect failed during the wait: {last}")?;
        }
        f.write_str(")")
    }
}

impl StdError for TimeoutError {}

/// A checkout failed; the pool's counts are as they were before it.
///
/// `Display` shows the connector's error with every cause of its `source()` chain that
/// its own message leaves out ([`ErrorChain`]), so the driver's whole message is there:
///
/// ```text
/// could not connect: db error: FATAL: role "nosuchuser" does not exist
/// ```
///
/// [`source`](StdError::source) is the connector's error (for `Connect` and `Ping`).
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckoutError<E> {
    /// The connector could not open a connection: its error (reached through `Deref`,
    /// or [`ConnectError::into_inner`]), and whether the database had been accepting
    /// the pool's connections before ([`ConnectError::outage`]).
    Connect(ConnectError<E>),
    /// No connection became available in time.
    Timeout(TimeoutError),
    /// Pre-ping failed with an error that is not a disconnect.
    Ping(E),
    /// `pre_ping` is on but the connector cannot ping.
    PingUnsupported,
    /// A `connect`, `first_connect` or `checkout` listener refused the connection.
    Listener(ListenerError),
    /// Every reconnect attempt of this checkout was refused (SQLAlchemy's
    /// "This connection is closed").
    Closed,
    /// The strategy cannot hand out a connection now, for the reason given.
    Unavailable(String),
    /// A connect or pre-ping did not finish within its bound (`connect_timeout`,
    /// `ping_timeout`); the slot was freed and a pinged connection invalidated.
    OperationTimeout(crate::OperationTimeout),
    /// The pool was closed ([`Pool::close`](crate::Pool::close)): no checkout succeeds
    /// any more, and callers that were waiting fail with this at once.
    PoolClosed,
}

/// Shows the connector's error with its causes ([`ErrorChain`]): the driver's whole message.
impl<E: StdError + 'static> fmt::Display for CheckoutError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckoutError::Connect(e) => write!(f, "could not connect: {e}"),
            CheckoutError::Timeout(e) => e.fmt(f),
            CheckoutError::Ping(e) => write!(f, "pre-ping failed: {}", ErrorChain::new(e)),
            CheckoutError::PingUnsupported => f.write_str(
                "the ping feature requires a connector that implements Connector::ping; \
                 implement it or turn pre_ping off",
            ),
            CheckoutError::Listener(e) => e.fmt(f),
            CheckoutError::Closed => f.write_str(
                "This connection is closed: reconnection attempts exhausted on checkout",
            ),
            CheckoutError::Unavailable(why) => f.write_str(why),
            CheckoutError::OperationTimeout(e) => e.fmt(f),
            CheckoutError::PoolClosed => f.write_str(
                "the pool is closed (Pool::close was called): build a new pool to check out again",
            ),
        }
    }
}

impl<E: StdError + 'static> StdError for CheckoutError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            CheckoutError::Connect(e) => Some(&e.error),
            CheckoutError::Ping(e) => Some(e),
            CheckoutError::Timeout(e) => Some(e),
            CheckoutError::Listener(e) => Some(e),
            CheckoutError::OperationTimeout(e) => Some(e),
            _ => None,
        }
    }
}

/// A failed connect ([`CheckoutError::Connect`]): the connector's error, which it derefs
/// to, and, when the database had accepted this pool's connections before, the outage
/// this failure belongs to. `Display` shows the driver's whole message and then the
/// outage, so the reader knows a working setup stopped working:
///
/// ```text
/// could not connect: error connecting to server: Connection refused (os error 111) (the database had accepted this pool's connections; connects have failed for 4.2 s, 7 in a row)
/// ```
#[derive(Debug)]
pub struct ConnectError<E> {
    error: E,
    outage: Option<Outage>,
}

/// The database stopped accepting a pool's connections after it had accepted them
/// ([`ConnectError::outage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outage {
    /// How long connects have been failing: since the first failure after the last
    /// connect that succeeded.
    pub down_for: Duration,
    /// How many connects failed in a row, this one included.
    pub failures: u64,
}

impl<E> ConnectError<E> {
    /// The connector's error, from a database never reached before (or not known to).
    pub fn new(error: E) -> Self {
        ConnectError { error, outage: None }
    }

    pub(crate) fn during(error: E, outage: Option<Outage>) -> Self {
        ConnectError { error, outage }
    }

    /// The outage this failure belongs to: `None` when this pool never connected (a
    /// wrong address, credentials or database are the likelier causes then).
    pub fn outage(&self) -> Option<Outage> {
        self.outage
    }

    /// The connector's error.
    pub fn into_inner(self) -> E {
        self.error
    }
}

impl<E> std::ops::Deref for ConnectError<E> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.error
    }
}

/// The connector's error with its causes ([`ErrorChain`]), then the outage, if any.
impl<E: StdError + 'static> fmt::Display for ConnectError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", ErrorChain::new(&self.error))?;
        if let Some(o) = self.outage {
            write!(
                f,
                " (the database had accepted this pool's connections; connects have failed for \
                 {:.1} s, {} in a row)",
                o.down_for.as_secs_f64(),
                o.failures
            )?;
        }
        Ok(())
    }
}

/// Its source is the connector's error's own source: `Display` already shows the error.
impl<E: StdError + 'static> StdError for ConnectError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.error.source()
    }
}

impl<E> CheckoutError<E> {
    /// Whether this is a timeout: no connection became free in time
    /// ([`Timeout`](CheckoutError::Timeout)), or a connect or pre-ping took too long
    /// ([`OperationTimeout`](CheckoutError::OperationTimeout)).
    pub fn is_timeout(&self) -> bool {
        matches!(self, CheckoutError::Timeout(_) | CheckoutError::OperationTimeout(_))
    }
}
