//! The settings of the two strategies.

use std::time::Duration;

/// How long a [`StaticPool`](crate::StaticPool) checkout waits, by default, for the
/// connection to come back from another thread.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings of a [`Static`](crate::Static) strategy.
///
/// ```
/// use std::time::Duration;
/// use pool_static::StaticConfig;
///
/// let config = StaticConfig::default().timeout(Duration::from_secs(5));
/// assert_eq!(config.timeout, Some(Duration::from_secs(5)));
/// assert_eq!(StaticConfig::default().wait_forever().timeout, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaticConfig {
    /// How long a checkout waits while another thread holds the connection; `None`
    /// waits forever. Set with [`timeout`](Self::timeout) or
    /// [`wait_forever`](Self::wait_forever).
    pub timeout: Option<Duration>,
}

impl Default for StaticConfig {
    fn default() -> Self {
        StaticConfig { timeout: Some(DEFAULT_TIMEOUT) }
    }
}

impl StaticConfig {
    /// How long a checkout waits while another thread holds the connection (default
    /// 30 s); zero fails at once.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Wait as long as it takes for the connection to come back.
    pub fn wait_forever(mut self) -> Self {
        self.timeout = None;
        self
    }
}

/// The settings of an [`Assertion`](crate::Assertion) strategy.
///
/// ```
/// use pool_static::AssertionConfig;
///
/// assert!(AssertionConfig::default().store_traceback);
/// assert!(!AssertionConfig::default().store_traceback(false).store_traceback);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssertionConfig {
    /// Whether checkouts capture a backtrace; set with
    /// [`store_traceback`](Self::store_traceback).
    pub store_traceback: bool,
}

impl Default for AssertionConfig {
    fn default() -> Self {
        AssertionConfig { store_traceback: true }
    }
}

impl AssertionConfig {
    /// Capture a backtrace at each checkout, to show where the connection was taken when
    /// a second checkout fails (default on, SQLAlchemy's `store_traceback`). Capturing
    /// costs a stack walk per checkout.
    pub fn store_traceback(mut self, on: bool) -> Self {
        self.store_traceback = on;
        self
    }
}
