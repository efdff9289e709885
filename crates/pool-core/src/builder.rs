//! The builder: settings, checked when the pool is built.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Echo, PoolConfig, ResetOnReturn};
use crate::error::{BuildError, CheckoutError, ErrorChain};
use crate::events::PoolListener;
use crate::pool::Pool;
use crate::strategy::Strategy;
use crate::Connector;

/// Configures and builds a [`Pool`].
///
/// ```
/// # use pool_core::{Builder, Connector, ResetOnReturn};
/// # fn configure<C: Connector, S: pool_core::Strategy<C>>(b: Builder<C, S>) -> Builder<C, S> {
/// b.pre_ping(true)
///     .recycle(std::time::Duration::from_secs(3600))
///     .reset_on_return(ResetOnReturn::Rollback)
///     .logging_name("orders")
/// # }
/// ```
pub struct Builder<C: Connector, S: Strategy<C>> {
    connector: Arc<C>,
    config: PoolConfig,
    strategy: S::Config,
    listeners: Vec<Arc<dyn PoolListener<C>>>,
}

impl<C: Connector, S: Strategy<C>> fmt::Debug for Builder<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("strategy", &self.strategy)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl<C: Connector, S: Strategy<C>> Builder<C, S> {
    pub(crate) fn new(connector: C) -> Self {
        Builder {
            connector: Arc::new(connector),
            config: PoolConfig::default(),
            strategy: S::Config::default(),
            listeners: Vec::new(),
        }
    }

    /// Replace connections older than this at checkout (SQLAlchemy's `recycle`); the age
    /// counts from when the connection was opened, not from its last use.
    pub fn recycle(mut self, age: Duration) -> Self {
        self.config.recycle = Some(age);
        self
    }

    /// Never recycle by age (the default; SQLAlchemy's `recycle=-1`).
    pub fn no_recycle(mut self) -> Self {
        self.config.recycle = None;
        self
    }

    /// Ping pooled connections at checkout (SQLAlchemy's `pre_ping`); connections opened
    /// by the checkout itself are not pinged.
    pub fn pre_ping(mut self, on: bool) -> Self {
        self.config.pre_ping = on;
        self
    }

    /// What to do with a connection when it is returned (default: roll back).
    pub fn reset_on_return(mut self, mode: impl Into<ResetOnReturn>) -> Self {
        self.config.reset_on_return = mode.into();
        self
    }

    /// The name that tags this pool's log lines.
    pub fn logging_name(mut self, name: impl Into<String>) -> Self {
        self.config.logging_name = Some(name.into());
        self
    }

    /// How much the pool logs about itself.
    pub fn echo(mut self, echo: Echo) -> Self {
        self.config.echo = echo;
        self
    }

    /// How long opening a connection may take before the checkout fails with
    /// [`CheckoutError::OperationTimeout`] and frees its slot (default 30 s, HikariCP's
    /// `connectionTimeout`); `None` waits as long as the connector does.
    ///
    /// This bounds each connect, where the strategy's own timeout (QueuePool's
    /// `timeout`) bounds the wait for a free slot. The async front end stops awaiting
    /// the connect at the bound. The blocking front end runs the connect on a thread of
    /// its own and stops waiting for it at the bound; a connection that arrives later is
    /// closed on that thread. A [`LOCAL`](Connector::LOCAL) connector (SQLite) connects
    /// on the caller's thread.
    pub fn connect_timeout(mut self, bound: impl Into<Option<Duration>>) -> Self {
        self.config.connect_timeout = bound.into();
        self
    }

    /// Keeps a checkout retrying a connect that fails with a disconnect (a refused or
    /// timed-out connect, a server starting up or shutting down) for up to `period`,
    /// with a backoff from 10 ms doubling to 1 s, as r2d2 and bb8 retry until their
    /// checkout timeout while a database restarts. Past it the checkout fails with the
    /// last connect error. Other connect errors (a refused password, an unknown
    /// database) fail at once.
    ///
    /// The default, `None`, fails at once (SQLAlchemy's behaviour). The blocking front
    /// end sleeps between attempts on the caller's thread; `get_async` awaits tokio's
    /// timer. Each attempt is bounded by [`connect_timeout`](Self::connect_timeout).
    pub fn connect_retry(mut self, period: impl Into<Option<Duration>>) -> Self {
        self.config.connect_retry = period.into();
        self
    }

    /// How long a pre-ping may take before the checkout fails with
    /// [`CheckoutError::OperationTimeout`] (default 5 s, HikariCP's
    /// `validationTimeout`); the connection is invalidated and its slot freed. `None`
    /// waits as long as the ping does.
    ///
    /// `get_async` stops awaiting the ping at the bound. The blocking `get` pings on the
    /// calling thread through [`Connector::ping_within`], which bounds the call where the
    /// connector's driver can (every connector of this workspace but the sync
    /// `MySqlConnector`, whose driver fixes its timeouts at connect; see its docs).
    pub fn ping_timeout(mut self, bound: impl Into<Option<Duration>>) -> Self {
        self.config.ping_timeout = bound.into();
        self
    }

    /// How long the reset on return may take (default 30 s); past it the connection is
    /// invalidated (closed with `terminate`) instead of pooled, and its slot freed.
    /// `None` waits as long as the rollback or commit does.
    ///
    /// An async return stops awaiting the reset at the bound. A blocking return resets
    /// on the dropping thread through [`Connector::rollback_within`] or
    /// [`Connector::commit_within`], bounded where the connector's driver can (as for
    /// [`ping_timeout`](Self::ping_timeout)).
    pub fn reset_timeout(mut self, bound: impl Into<Option<Duration>>) -> Self {
        self.config.reset_timeout = bound.into();
        self
    }

    /// Keeps at least `n` idle connections open (r2d2's and HikariCP's `min_idle`,
    /// default 0): a background worker opens connections while fewer are idle and the
    /// pool has room, after checkouts, invalidations, expiries and `dispose` alike.
    /// `idle_timeout` never closes below it.
    ///
    /// The pool still opens nothing at [`build`](Self::build) (SQLAlchemy's lazy start);
    /// [`build_warm`](Self::build_warm) opens them before it returns. `n` may not exceed
    /// what the strategy keeps idle (QueuePool: `pool_size`; StaticPool: 1).
    pub fn min_idle(mut self, n: usize) -> Self {
        self.config.min_idle = n;
        self
    }

    /// Closes connections that stayed idle longer than `d`, in the background, but never
    /// below [`min_idle`](Self::min_idle) (r2d2's, deadpool's and HikariCP's
    /// `idle_timeout`); default `None`, which keeps them.
    pub fn idle_timeout(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.config.idle_timeout = d.into();
        self
    }

    /// Closes each connection once it is `d` old, less a random 0 to 2.5 % so that
    /// connections opened together do not all close together (HikariCP's
    /// `maxLifetime`, r2d2's `max_lifetime`): an idle one in the background, a
    /// checked-out one when it comes back. One past its lifetime is never handed out.
    /// Default `None`.
    ///
    /// How it differs from [`recycle`](Self::recycle) (SQLAlchemy's setting, kept as
    /// SQLAlchemy has it): `recycle` acts only at checkout, replacing an old connection
    /// before it is handed out, so an idle pool keeps old connections open; `max_lifetime`
    /// also closes them while idle and on return, so none outlives it by more than a
    /// sweep. Both may be set.
    pub fn max_lifetime(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.config.max_lifetime = d.into();
        self
    }

    /// Pings connections that stayed idle longer than `d`, in the background, so that a
    /// firewall or the server's own idle timeout does not end them unnoticed
    /// (HikariCP's `keepaliveTime`); default `None`. A failed keepalive invalidates the
    /// connection as a failed pre-ping does (and, for a disconnect, the connections
    /// opened before it); `min_idle` then opens a new one. The ping is bounded by
    /// [`ping_timeout`](Self::ping_timeout).
    pub fn keepalive(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.config.keepalive = d.into();
        self
    }

    /// Reports a connection checked out for longer than `d` as a possible leak
    /// (HikariCP's `leakDetectionThreshold`): once, as a `tracing` warning with the
    /// backtrace of its checkout, and again, at info, if it comes back. `Pool::leaks`
    /// lists those held past `d` now. Default `None`.
    ///
    /// With it set, every checkout captures a backtrace (a stack walk, some
    /// microseconds; symbols are resolved only when a report shows it) and the pool's
    /// maintenance worker runs, on every strategy.
    pub fn leak_threshold(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.config.leak_threshold = d.into();
        self
    }

    /// Records how long each checkout holds its connection, in
    /// [`Statistics::hold_time`](crate::Statistics::hold_time) (HikariCP's usage timer,
    /// OpenTelemetry's `db.client.connection.use_time`). Default off: it reads the clock
    /// at checkout and at return, some tens of nanoseconds a checkout.
    /// `leak_threshold` records it too, since it reads the clock anyway.
    pub fn measure_hold_time(mut self, on: bool) -> Self {
        self.config.measure_hold_time = on;
        self
    }

    /// Publishes the pool's status and statistics through the [`metrics`](::metrics)
    /// facade every `every` (feature `metrics`), under OpenTelemetry's names
    /// (`db.client.connection.count`, `.wait_time`, ...; the list is
    /// [`METRICS`](crate::METRICS)) with the pool's logging name as the
    /// `db.client.connection.pool.name` label. The maintenance worker publishes, so it
    /// runs for this alone, on every strategy. Default `None`.
    ///
    /// Install a recorder (an exporter such as `metrics-exporter-prometheus`) before
    /// building the pool: counters and gauges are published as totals and catch up, but
    /// histogram samples published while no recorder listens are gone. With none the
    /// publication costs a few microseconds and goes nowhere.
    #[cfg(feature = "metrics")]
    pub fn export_metrics(mut self, every: impl Into<Option<Duration>>) -> Self {
        self.config.export_every = every.into();
        self
    }

    /// Registers a listener (after those registered before it).
    pub fn listener(mut self, listener: impl PoolListener<C>) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// The strategy's own settings.
    pub fn strategy(mut self, config: S::Config) -> Self {
        self.strategy = config;
        self
    }

    /// Changes the strategy's settings in place.
    pub fn configure(mut self, f: impl FnOnce(&mut S::Config)) -> Self {
        f(&mut self.strategy);
        self
    }

    /// Builds the pool, refusing invalid settings with a message that says what to
    /// change. No connection is opened (see [`build_warm`](Self::build_warm)).
    ///
    /// With [`min_idle`](Self::min_idle), [`idle_timeout`](Self::idle_timeout),
    /// [`max_lifetime`](Self::max_lifetime) or [`keepalive`](Self::keepalive) set, the
    /// pool starts its maintenance worker: a task on the current tokio runtime when the
    /// connector does its own async I/O ([`Connector::ASYNC_IO`]) and one is running,
    /// otherwise a thread. It ends when the pool is closed or dropped.
    pub fn build(self) -> Result<Pool<C, S>, BuildError> {
        let pool = self.assemble()?;
        start_maintenance(&pool)?;
        Ok(pool)
    }

    /// The pool, its settings checked, its maintenance not started yet.
    fn assemble(self) -> Result<Pool<C, S>, BuildError> {
        self.check()?;
        let strategy = S::build(&self.strategy)?;
        check_maintenance::<C, S>(&self.config, strategy.idle_capacity())?;
        Ok(Pool::assemble(self.connector, self.config, strategy, self.strategy, self.listeners))
    }

    /// [`build`](Self::build), then opens [`min_idle`](Self::min_idle) connections (at
    /// least one) on this thread before returning, so that a service finds out at start
    /// that its database cannot be reached (r2d2's `build`). The connections stay idle
    /// in the pool; a pool that keeps none (NullPool) closes its one.
    ///
    /// # Errors
    ///
    /// [`WarmError::Build`] for a refused setting; [`WarmError::Connect`] with the
    /// first failed connect's error, whole (the pool is dropped).
    pub fn build_warm(self) -> Result<Pool<C, S>, WarmError<C::Error>> {
        let pool = self.assemble().map_err(WarmError::Build)?;
        crate::io::now(pool.warm::<crate::io::Blocking>()).map_err(WarmError::Connect)?;
        start_maintenance(&pool).map_err(WarmError::Build)?;
        Ok(pool)
    }

    /// [`build_warm`](Self::build_warm) for async code: the connects use the connector's
    /// `connect_async`.
    ///
    /// # Errors
    ///
    /// As [`build_warm`](Self::build_warm).
    pub async fn build_warm_async(self) -> Result<Pool<C, S>, WarmError<C::Error>> {
        let pool = self.assemble().map_err(WarmError::Build)?;
        pool.warm::<crate::io::NonBlocking>().await.map_err(WarmError::Connect)?;
        start_maintenance(&pool).map_err(WarmError::Build)?;
        Ok(pool)
    }

    /// The settings that need no strategy to check.
    fn check(&self) -> Result<(), BuildError> {
        if let Some(name) = &self.config.logging_name {
            if name.trim().is_empty() {
                return Err(BuildError::new(
                    "logging_name",
                    "logging_name is empty; give the pool a name or leave logging_name unset",
                ));
            }
        }
        for (setting, bound) in [
            ("connect_timeout", self.config.connect_timeout),
            ("ping_timeout", self.config.ping_timeout),
            ("reset_timeout", self.config.reset_timeout),
            ("connect_retry", self.config.connect_retry),
            ("idle_timeout", self.config.idle_timeout),
            ("max_lifetime", self.config.max_lifetime),
            ("keepalive", self.config.keepalive),
            ("leak_threshold", self.config.leak_threshold),
            ("export_metrics", self.config.export_every),
        ] {
            if bound == Some(Duration::ZERO) {
                return Err(BuildError::new(
                    setting,
                    format!(
                        "{setting} is zero, which would fail or close at once everything it \
                         bounds; give it a positive duration, or None to turn it off"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Starts the pool's maintenance worker, if its settings need one.
fn start_maintenance<C: Connector, S: Strategy<C>>(pool: &Pool<C, S>) -> Result<(), BuildError> {
    crate::maintain::start(&pool.inner).map_err(|err| {
        BuildError::new("min_idle", format!("could not start the pool's maintenance thread: {err}"))
    })
}

/// Refuses maintenance settings the strategy cannot honour.
fn check_maintenance<C: Connector, S: Strategy<C>>(
    config: &PoolConfig,
    capacity: Option<usize>,
) -> Result<(), BuildError> {
    let name = S::NAME;
    let Some(capacity) = capacity else {
        let set = [
            ("min_idle", config.min_idle > 0),
            ("idle_timeout", config.idle_timeout.is_some()),
            ("max_lifetime", config.max_lifetime.is_some()),
            ("keepalive", config.keepalive.is_some()),
        ];
        return match set.iter().find(|(_, on)| *on) {
            Some((setting, _)) => Err(BuildError::new(
                setting,
                format!(
                    "{name} keeps no idle connections the pool can look after, so {setting} \
                     has no meaning for it; leave {setting} unset, or use QueuePool"
                ),
            )),
            None => Ok(()),
        };
    };
    if config.min_idle > capacity {
        return Err(BuildError::new(
            "min_idle",
            format!(
                "min_idle is {}, but {name} keeps at most {capacity} idle connection(s); \
                 lower min_idle to {capacity} or less, or let the pool keep more (QueuePool: \
                 raise pool_size)",
                config.min_idle
            ),
        ));
    }
    Ok(())
}

/// Why [`Builder::build_warm`] did not return a pool.
#[derive(Debug)]
#[non_exhaustive]
pub enum WarmError<E> {
    /// A setting was refused.
    Build(BuildError),
    /// A connect failed (or a `connect` listener refused the connection).
    Connect(CheckoutError<E>),
}

impl<E: StdError + 'static> fmt::Display for WarmError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarmError::Build(e) => e.fmt(f),
            WarmError::Connect(e) => {
                write!(f, "could not open the pool's first connections: {}", ErrorChain::new(e))
            }
        }
    }
}

impl<E: StdError + 'static> StdError for WarmError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            WarmError::Build(e) => Some(e),
            WarmError::Connect(e) => Some(e),
        }
    }
}
