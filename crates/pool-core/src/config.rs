//! Configuration common to every pool strategy.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::BuildError;

/// What the pool does to a connection when it comes back (SQLAlchemy's `reset_on_return`).
///
/// The accepted spellings are exactly SQLAlchemy's: `"rollback"`, `true` and `1` mean
/// [`Rollback`](ResetOnReturn::Rollback); `"none"`, `false`, `0` and `None` mean
/// [`Nothing`](ResetOnReturn::Nothing); `"commit"` means [`Commit`](ResetOnReturn::Commit).
/// Anything else is refused.
///
/// ```
/// use pool_core::ResetOnReturn;
///
/// assert_eq!("commit".parse::<ResetOnReturn>().unwrap(), ResetOnReturn::Commit);
/// assert_eq!(ResetOnReturn::from(true), ResetOnReturn::Rollback);
/// assert_eq!(ResetOnReturn::try_from(0).unwrap(), ResetOnReturn::Nothing);
/// let err = "foo".parse::<ResetOnReturn>().unwrap_err();
/// assert!(err.to_string().starts_with("invalid value for 'reset_on_return': \"foo\""));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResetOnReturn {
    /// Roll back (the default).
    #[default]
    Rollback,
    /// Commit.
    Commit,
    /// Do nothing; the `reset` event still fires, so a listener can do its own reset.
    Nothing,
}

impl ResetOnReturn {
    /// The SQLAlchemy spelling of this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetOnReturn::Rollback => "rollback",
            ResetOnReturn::Commit => "commit",
            ResetOnReturn::Nothing => "none",
        }
    }
}

impl fmt::Display for ResetOnReturn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResetOnReturn {
    type Err = BuildError;

    fn from_str(s: &str) -> Result<Self, BuildError> {
        match s {
            "rollback" => Ok(ResetOnReturn::Rollback),
            "commit" => Ok(ResetOnReturn::Commit),
            "none" => Ok(ResetOnReturn::Nothing),
            other => Err(BuildError::invalid_reset(format!("{other:?}"))),
        }
    }
}

impl From<bool> for ResetOnReturn {
    fn from(value: bool) -> Self {
        if value {
            ResetOnReturn::Rollback
        } else {
            ResetOnReturn::Nothing
        }
    }
}

impl From<Option<ResetOnReturn>> for ResetOnReturn {
    /// `None` means [`ResetOnReturn::Nothing`], as SQLAlchemy's `reset_on_return=None`.
    fn from(value: Option<ResetOnReturn>) -> Self {
        value.unwrap_or(ResetOnReturn::Nothing)
    }
}

impl TryFrom<i64> for ResetOnReturn {
    type Error = BuildError;

    /// `1` and `0`, the integers Python treats as `True` and `False`; nothing else.
    fn try_from(value: i64) -> Result<Self, BuildError> {
        match value {
            1 => Ok(ResetOnReturn::Rollback),
            0 => Ok(ResetOnReturn::Nothing),
            other => Err(BuildError::invalid_reset(other.to_string())),
        }
    }
}

/// How much the pool logs about itself (SQLAlchemy's `echo`).
///
/// Logging goes through [`tracing`] whatever this says; `Echo` only decides whether the
/// per-checkout and per-checkin debug lines are produced at all, which costs a little.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Echo {
    /// Invalidation, recycling and errors only (SQLAlchemy's `echo=None`).
    #[default]
    Off,
    /// The same, named for symmetry with SQLAlchemy's `echo=True`.
    Info,
    /// Also every checkout and checkin (SQLAlchemy's `echo="debug"`).
    Debug,
}

/// The settings every strategy shares; build it through [`Builder`](crate::Builder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub(crate) recycle: Option<Duration>,
    pub(crate) pre_ping: bool,
    pub(crate) reset_on_return: ResetOnReturn,
    pub(crate) logging_name: Option<String>,
    pub(crate) echo: Echo,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) ping_timeout: Option<Duration>,
    pub(crate) reset_timeout: Option<Duration>,
    pub(crate) connect_retry: Option<Duration>,
    pub(crate) min_idle: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) leak_threshold: Option<Duration>,
    pub(crate) measure_hold_time: bool,
    /// How often the `metrics` export publishes (feature `metrics`).
    pub(crate) export_every: Option<Duration>,
}

/// The default bound of a connect (HikariCP's `connectionTimeout`).
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default bound of a pre-ping (HikariCP's `validationTimeout`).
pub(crate) const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(5);
/// The default bound of a reset on return: a rollback of much work can take a while.
pub(crate) const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            recycle: None,
            pre_ping: false,
            reset_on_return: ResetOnReturn::Rollback,
            logging_name: None,
            echo: Echo::Off,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            ping_timeout: Some(DEFAULT_PING_TIMEOUT),
            reset_timeout: Some(DEFAULT_RESET_TIMEOUT),
            connect_retry: None,
            min_idle: 0,
            idle_timeout: None,
            max_lifetime: None,
            keepalive: None,
            leak_threshold: None,
            measure_hold_time: false,
            export_every: None,
        }
    }
}

impl PoolConfig {
    /// Connections older than this are replaced at checkout; `None` never recycles.
    pub fn recycle(&self) -> Option<Duration> {
        self.recycle
    }
    /// Whether pooled connections are pinged at checkout.
    pub fn pre_ping(&self) -> bool {
        self.pre_ping
    }
    /// What happens to a connection when it is returned.
    pub fn reset_on_return(&self) -> ResetOnReturn {
        self.reset_on_return
    }
    /// The name that tags this pool's log lines.
    pub fn logging_name(&self) -> Option<&str> {
        self.logging_name.as_deref()
    }
    /// How verbose the pool's own logging is.
    pub fn echo(&self) -> Echo {
        self.echo
    }
    /// How long a connect may take (default 30 s); `None` waits as long as it takes.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }
    /// How long a pre-ping may take (default 5 s).
    pub fn ping_timeout(&self) -> Option<Duration> {
        self.ping_timeout
    }
    /// How long a reset on return may take (default 30 s).
    pub fn reset_timeout(&self) -> Option<Duration> {
        self.reset_timeout
    }
    /// How long a checkout keeps retrying a connect that fails with a disconnect
    /// (default `None`: it fails at once, as SQLAlchemy's does).
    pub fn connect_retry(&self) -> Option<Duration> {
        self.connect_retry
    }
    /// How many idle connections the pool keeps open (default 0).
    pub fn min_idle(&self) -> usize {
        self.min_idle
    }
    /// How long a connection may stay idle before it is closed (default `None`).
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }
    /// How long a connection may live, less up to 2.5 % of jitter (default `None`).
    pub fn max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime
    }
    /// How long a connection may stay idle before it is pinged (default `None`).
    pub fn keepalive(&self) -> Option<Duration> {
        self.keepalive
    }
    /// How long a connection may stay checked out before it is reported as a possible
    /// leak (default `None`).
    pub fn leak_threshold(&self) -> Option<Duration> {
        self.leak_threshold
    }
    /// Whether [`Statistics::hold_time`](crate::Statistics::hold_time) is recorded:
    /// `measure_hold_time` or `leak_threshold` is on.
    pub fn times_holds(&self) -> bool {
        self.measure_hold_time || self.leak_threshold.is_some()
    }
    /// How often the pool publishes its metrics (`None`: it does not).
    pub fn export_every(&self) -> Option<Duration> {
        self.export_every
    }
    /// Whether any setting needs the background maintenance.
    pub(crate) fn maintained(&self) -> bool {
        self.min_idle > 0
            || self.idle_timeout.is_some()
            || self.max_lifetime.is_some()
            || self.keepalive.is_some()
            || self.leak_threshold.is_some()
            || self.export_every.is_some()
    }
    /// Whether a return must note when the connection became idle, or check its
    /// lifetime.
    pub(crate) fn watches_returns(&self) -> bool {
        self.idle_timeout.is_some()
            || self.max_lifetime.is_some()
            || self.keepalive.is_some()
            || self.times_holds()
    }
}
