//! QueuePool's own settings.

use std::time::Duration;

use pool_core::BuildError;

/// How many connections a [`QueuePool`](crate::QueuePool) may open beyond `pool_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// At most this many (SQLAlchemy's `max_overflow=N`).
    Limited(usize),
    /// No limit: callers never wait (SQLAlchemy's `max_overflow=-1`).
    Unlimited,
}

impl Default for Overflow {
    fn default() -> Self {
        Overflow::Limited(10)
    }
}

/// The settings of a [`Queue`](crate::Queue) strategy.
///
/// ```
/// use std::time::Duration;
/// use pool_queue::QueueConfig;
///
/// let config = QueueConfig::default()
///     .pool_size(8)
///     .max_overflow(4)
///     .timeout(Duration::from_secs(5))
///     .use_lifo(true);
/// assert_eq!(config.pool_size, 8);
/// assert!(config.use_lifo);
/// ```
///
/// The fields read the settings back; each has a setter of the same name (the field
/// `max_overflow` also has [`unlimited_overflow`](Self::unlimited_overflow) and
/// [`overflow`](Self::overflow), the field `timeout` also has
/// [`wait_forever`](Self::wait_forever)). Values are checked when the pool is built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueConfig {
    /// How many connections are kept when idle.
    pub pool_size: usize,
    /// How many connections may be opened beyond `pool_size`.
    pub max_overflow: Overflow,
    /// How long a checkout waits at the limit; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Whether idle connections are handed out newest first.
    pub use_lifo: bool,
    /// The fairness bound.
    pub fair_after: Duration,
}

/// How long a waiter at the head of the queue may be overtaken by newcomers before
/// returned connections are handed to it directly.
pub const DEFAULT_FAIR_AFTER: Duration = Duration::from_micros(500);

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            pool_size: 5,
            max_overflow: Overflow::Limited(10),
            timeout: Some(Duration::from_secs(30)),
            use_lifo: false,
            fair_after: DEFAULT_FAIR_AFTER,
        }
    }
}

impl QueueConfig {
    /// How many connections are kept when idle (default 5).
    ///
    /// `0` keeps every connection and sets no limit at all, whatever `max_overflow`
    /// says (SQLAlchemy 2.0's meaning; 1.4 made it a trap, see the crate docs).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// How many connections may be opened beyond `pool_size` (default 10); they are
    /// closed when returned to a full pool.
    pub fn max_overflow(mut self, extra: usize) -> Self {
        self.max_overflow = Overflow::Limited(extra);
        self
    }

    /// No limit on connections beyond `pool_size`: callers never wait (SQLAlchemy's
    /// `max_overflow=-1`).
    pub fn unlimited_overflow(mut self) -> Self {
        self.max_overflow = Overflow::Unlimited;
        self
    }

    /// Sets the overflow limit from an [`Overflow`] value.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.max_overflow = overflow;
        self
    }

    /// How long a checkout waits when the pool is at its limit (default 30 s); zero fails
    /// at once.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Wait as long as it takes for a connection (SQLAlchemy's `timeout=None`).
    pub fn wait_forever(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Hand out the most recently returned connection first (default: the oldest), which
    /// lets idle connections beyond the load age out on the server side.
    pub fn use_lifo(mut self, lifo: bool) -> Self {
        self.use_lifo = lifo;
        self
    }

    /// The fairness bound: how long the longest waiter may be overtaken by callers that
    /// arrive later before every returned connection is handed to it directly (default
    /// 500 µs). Zero hands every returned connection to the longest waiter: strict
    /// first-come, first-served, at the cost of a thread wake-up per return.
    pub fn fair_after(mut self, bound: Duration) -> Self {
        self.fair_after = bound;
        self
    }

    /// The total number of connections the pool may hold, or `None` for no limit.
    pub(crate) fn max_total(&self) -> Option<usize> {
        match (self.pool_size, self.max_overflow) {
            (0, _) | (_, Overflow::Unlimited) => None,
            (size, Overflow::Limited(extra)) => Some(size + extra),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        if let Overflow::Limited(extra) = self.max_overflow {
            if self.pool_size.checked_add(extra).is_none() {
                return Err(BuildError::new(
                    "max_overflow",
                    format!(
                        "pool_size {} plus max_overflow {extra} does not fit in a usize; \
                         use Overflow::Unlimited for no limit",
                        self.pool_size
                    ),
                ));
            }
        }
        Ok(())
    }
}
