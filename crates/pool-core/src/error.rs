//! The pool's errors: one type per operation that can fail.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// A boxed error from a listener or a connector, as carried by the pool's errors.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

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
            Some(source) => write!(f, "{what}: {source}"),
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
/// connections are checked out, how many callers wait, and the last connect error.
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
    /// Connections checked out at the moment of the timeout.
    pub checked_out: usize,
    /// Other callers waiting at the moment of the timeout.
    pub waiting: usize,
    /// The last error a connect attempt of this pool returned, if any.
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
             ({} checked out, {} waiting",
            self.pool,
            self.pool_size,
            self.overflow,
            self.timeout.as_secs_f64(),
            self.checked_out,
            self.waiting
        )?;
        if let Some(last) = &self.last_connect_error {
            write!(f, "; last connect error: {last}")?;
        }
        f.write_str(")")
    }
}

impl StdError for TimeoutError {}

/// A checkout failed; the pool's counts are as they were before it.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckoutError<E> {
    /// The connector could not open a connection.
    Connect(E),
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
}

impl<E: fmt::Display> fmt::Display for CheckoutError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckoutError::Connect(e) => write!(f, "could not connect: {e}"),
            CheckoutError::Timeout(e) => e.fmt(f),
            CheckoutError::Ping(e) => write!(f, "pre-ping failed: {e}"),
            CheckoutError::PingUnsupported => f.write_str(
                "the ping feature requires a connector that implements Connector::ping; \
                 implement it or turn pre_ping off",
            ),
            CheckoutError::Listener(e) => e.fmt(f),
            CheckoutError::Closed => f.write_str(
                "This connection is closed: reconnection attempts exhausted on checkout",
            ),
            CheckoutError::Unavailable(why) => f.write_str(why),
        }
    }
}

impl<E: StdError + 'static> StdError for CheckoutError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            CheckoutError::Connect(e) | CheckoutError::Ping(e) => Some(e),
            CheckoutError::Timeout(e) => Some(e),
            CheckoutError::Listener(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> CheckoutError<E> {
    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, CheckoutError::Timeout(_))
    }
}
