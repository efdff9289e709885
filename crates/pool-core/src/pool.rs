//! The pool: builder, core services, and the checkout and checkin paths.

use std::error::Error as StdError;
use std::fmt;
use std::mem;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::Instrument;

use crate::builder::Builder;
use crate::config::{Echo, PoolConfig, ResetOnReturn};
use crate::error::{
    BoxError, BuildError, CheckoutError, ConnectError, ErrorChain, ListenerError, Outage,
};
use crate::events::{ErrorContext, ErrorOrigin, Events, PoolListener, ResetState};
use crate::guard::PooledConnection;
use crate::io::{now, Blocking, Io, NonBlocking, Timed};
use crate::leaks::{Leak, Leases};
use crate::maintain::{self, Held, Signal};
use crate::record::{ConnectionRecord, EntryInner, PoolEntry};
use crate::stats::{CloseCause, Counters, Statistics, WaitEnd};
use crate::strategy::{AsyncStrategy, PoolStatus, Strategy};
use crate::timeouts::OperationTimeout;
use crate::unwind;
use crate::Connector;

/// How many passes the checkout loop makes before giving up, as SQLAlchemy's code does
/// (its comments and docs say three; the code makes two).
const CHECKOUT_ATTEMPTS: u32 = 2;

/// The services of a pool that strategies call: making, closing and counting entries.
///
/// A strategy receives `&Core` in each of its methods; it is the only way a strategy
/// touches connections, so connecting, listeners and logging stay in one place.
pub struct Core<C: Connector> {
    connector: Arc<C>,
    pub(crate) config: PoolConfig,
    pub(crate) events: Events<C>,
    generation: AtomicU64,
    next_id: AtomicU64,
    /// The last failed connect's message, and when it failed.
    last_connect_error: Mutex<Option<(Instant, String)>>,
    /// Whether the database is answering: the last connect's outcome, and since when.
    reachable: Mutex<Reachable>,
    kind: &'static str,
    /// Set by [`Pool::close`]: checkouts fail, returns are closed.
    closed: AtomicBool,
    /// The maintenance worker's signal, when a maintenance setting is on.
    pub(crate) signal: Option<Arc<Signal>>,
    /// `min_idle`, `leak_threshold` or `measure_hold_time` is set: a checkout pokes the
    /// worker, records a lease or notes the time ([`Core::after_checkout`]).
    watch_checkouts: bool,
    /// `leak_threshold` is set, or the strategy traces its checkouts: the checked-out
    /// connections, with where each was checked out.
    pub(crate) leases: Option<Leases>,
    /// `idle_timeout`, `keepalive`, `max_lifetime` or hold times are on: a return notes
    /// when the connection became idle, closes it past its lifetime, or times its hold.
    watch_returns: bool,
    /// What the pool did ([`Pool::statistics`]).
    pub(crate) stats: Counters,
}

impl<C: Connector> Core<C> {
    /// The connector.
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// The settings common to all strategies.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// The name this pool logs under: its `logging_name`, or its type.
    pub fn name(&self) -> &str {
        self.config.logging_name.as_deref().unwrap_or(self.kind)
    }

    /// A record with no connection yet; the core connects it at checkout.
    pub fn empty_entry(&self) -> PoolEntry<C> {
        PoolEntry::new(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// A new record with a new connection (`connect` listeners have run).
    ///
    /// On failure nothing is left open, and the error is remembered for timeout messages.
    pub fn new_entry(&self) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        now(self.open_entry::<Blocking>())
    }

    /// [`new_entry`](Self::new_entry) for an [`AsyncStrategy`]: connects with the
    /// connector's `connect_async`. If the future is dropped, nothing is left open.
    pub async fn new_entry_async(&self) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        self.open_entry::<NonBlocking>().await
    }

    pub(crate) async fn open_entry<I: Io>(&self) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let mut opening = Opening { core: self, entry: Some(self.empty_entry()) };
        let result = self.connect::<I>(opening.entry.as_mut().expect("set above")).await;
        let mut entry = opening.entry.take().expect("still there");
        match result {
            Ok(()) => Ok(entry),
            Err(e) => {
                // A refused connection is closed here; SQLAlchemy leaves it to the GC.
                self.close_connection(&mut entry, true, true, CloseCause::Refused);
                Err(e)
            }
        }
    }

    /// Whether `keep` keeps this idle entry ([`Strategy::retain`]): an entry without a
    /// connection is always kept (it connects at its next checkout).
    fn keeps(&self, entry: &mut PoolEntry<C>, keep: &mut crate::strategy::Keep<'_, C>) -> bool {
        let e = &mut *entry.inner;
        match e.conn.as_mut() {
            Some(conn) => keep(conn, &e.record),
            None => true,
        }
    }

    /// Closes the entry's connection, if any, gracefully (the `close` event fires); the
    /// record can connect again. `cause` is what [`Pool::statistics`] counts it as.
    pub fn close_entry(&self, entry: &mut PoolEntry<C>, cause: CloseCause) {
        self.close_connection(entry, false, true, cause);
    }

    /// Where the connection of `record`, checked out now, was checked out: kept for a
    /// strategy that [traces its checkouts](Strategy::traces_checkouts) and under
    /// `leak_threshold`.
    pub fn checkout_backtrace(&self, record: u64) -> Option<Arc<std::backtrace::Backtrace>> {
        self.leases.as_ref()?.backtrace_of(record)
    }

    /// Counts a wait for a connection, for [`Pool::statistics`]: a strategy that makes
    /// callers wait reports each wait once, when it ends, with how long it lasted.
    pub fn note_wait(&self, waited: Duration, end: WaitEnd) {
        self.stats.wait(waited, end);
    }

    /// The message of the last failed connect, if any connect of this pool failed.
    pub fn last_connect_error(&self) -> Option<String> {
        self.last_connect_error.lock().as_ref().map(|(_, shown)| shown.clone())
    }

    /// The message of the last failed connect if it failed `within` the time before now:
    /// what a timeout names (with the time it waited), so that an old failure does not
    /// send its reader to the wrong place.
    pub fn connect_error_within(&self, within: Duration) -> Option<String> {
        let since = Instant::now().checked_sub(within);
        let last = self.last_connect_error.lock();
        last.as_ref().filter(|(at, _)| since.is_none_or(|s| *at >= s)).map(|(_, m)| m.clone())
    }

    /// Logs the moments the database stops and starts answering this pool's connects: a
    /// warning at the first failure after a success ("went away", with how long it had
    /// been answering), and a line when a connect succeeds again (with how long it was
    /// gone and how many connects failed). One line each way, however many fail between.
    /// A failure returns the outage it belongs to, if the database had answered before.
    fn note_reachable(&self, ok: bool, shown: &str) -> Option<Outage> {
        let now = Instant::now();
        let mut r = self.reachable.lock();
        match (ok, r.up) {
            (true, Some(true)) => {}
            (true, seen) => {
                if seen == Some(false) {
                    tracing::info!(
                        pool = %self.name(),
                        "Connected again after {} failed connect(s) over {:.1} s",
                        r.failures,
                        now.duration_since(r.since).as_secs_f64()
                    );
                }
                *r = Reachable { up: Some(true), since: now, failures: 0, ever_up: true };
            }
            (false, Some(true)) => {
                tracing::warn!(
                    pool = %self.name(),
                    "The database stopped accepting connections (it had for {:.1} s); connects fail: {shown}",
                    now.duration_since(r.since).as_secs_f64()
                );
                *r = Reachable { up: Some(false), since: now, failures: 1, ever_up: true };
            }
            (false, None) => {
                *r = Reachable { up: Some(false), since: now, failures: 1, ever_up: false }
            }
            (false, Some(false)) => r.failures += 1,
        }
        (!ok && r.ever_up)
            .then(|| Outage { down_for: now.duration_since(r.since), failures: r.failures })
    }

    fn note_connect_error(&self, shown: String) {
        *self.last_connect_error.lock() = Some((Instant::now(), shown));
    }

    /// The current pool generation; connections opened in an older one are replaced at
    /// their next checkout.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Invalidates every connection opened so far (SQLAlchemy's `pool._invalidate`
    /// without a connection).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::info!(pool = %self.name(), "Pool invalidated; connections will be recycled at checkout");
    }

    /// Invalidates the generation `seen` belongs to, unless a newer one already was.
    pub(crate) fn invalidate_generation_of(&self, seen: u64) {
        let _ =
            self.generation.compare_exchange(seen, seen + 1, Ordering::AcqRel, Ordering::Acquire);
    }

    /// SQLAlchemy's `_ConnectionRecord.__connect`.
    pub(crate) async fn connect<I: Io>(
        &self,
        entry: &mut PoolEntry<C>,
    ) -> Result<(), CheckoutError<C::Error>> {
        let e = &mut *entry.inner;
        e.conn = None;
        let opened = Instant::now();
        e.record.opened_at = Some(opened);
        e.record.expires_at = maintain::expiry(&self.config, opened);
        e.record.generation = self.generation.load(Ordering::Acquire);
        let span = tracing::debug_span!("connect", record = e.record.id);
        let outcome = self.connect_retrying::<I>().instrument(span).await;
        self.stats.connect(opened, matches!(outcome, Ok(Ok(_))));
        match outcome {
            Err(timeout) => {
                tracing::debug!(pool = %self.name(), "Error on connect(): {timeout}");
                self.note_connect_error(timeout.to_string());
                self.note_reachable(false, &timeout.to_string());
                return Err(CheckoutError::OperationTimeout(timeout));
            }
            Ok(Ok(conn)) => {
                e.conn = Some(conn);
                e.record.fresh = true;
                e.record.soft_invalidated = false;
                tracing::debug!(pool = %self.name(), "Created new connection {}", e.record.id);
                self.note_reachable(true, "");
            }
            Ok(Err(err)) => {
                let shown = ErrorChain::new(&err).to_string();
                tracing::debug!(pool = %self.name(), "Error on connect(): {shown}");
                let outage = self.note_reachable(false, &shown);
                self.note_connect_error(shown);
                return Err(CheckoutError::Connect(ConnectError::during(err, outage)));
            }
        }
        if self.events.any() {
            let conn = e.conn.as_mut().expect("connected just above");
            self.events.on_new_connection(conn, &mut e.record).map_err(CheckoutError::Listener)?;
        }
        Ok(())
    }

    /// One connect, or with [`connect_retry`](Builder::connect_retry) set, attempts with
    /// a backoff while they fail with a disconnect or time out, until the period ends;
    /// the last attempt's outcome.
    async fn connect_retrying<I: Io>(&self) -> Timed<Result<C::Connection, C::Error>> {
        let bound = self.config.connect_timeout;
        let Some(period) = self.config.connect_retry else {
            let outcome = I::connect(&self.connector, bound).await;
            if let Ok(Err(err)) = &outcome {
                // Listeners hear every failed connect, as SQLAlchemy's `handle_error`
                // does; the verdict matters only to a retry.
                self.judge(err, ErrorOrigin::Connect, self.connector.is_disconnect(err), false);
            }
            return outcome;
        };
        let deadline = Instant::now().checked_add(period);
        let mut backoff = RETRY_FIRST;
        let mut attempt = 1;
        loop {
            let outcome = I::connect(&self.connector, bound).await;
            let retryable = match &outcome {
                Ok(Ok(_)) => false,
                Ok(Err(err)) => {
                    let known = self.connector.is_disconnect(err);
                    self.judge(err, ErrorOrigin::Connect, known, false).disconnect
                }
                Err(_timeout) => true,
            };
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !retryable || left.is_some_and(|left| left.is_zero()) {
                return outcome;
            }
            let why = match &outcome {
                Ok(Err(err)) => ErrorChain::new(err).to_string(),
                Err(timeout) => timeout.to_string(),
                Ok(Ok(_)) => unreachable!("a connection is not retried"),
            };
            tracing::info!(
                pool = %self.name(),
                "Connect attempt {attempt} failed, retrying in {backoff:?}: {why}"
            );
            self.stats.failed_connect();
            self.note_connect_error(why);
            I::sleep(left.map_or(backoff, |left| left.min(backoff))).await;
            backoff = (backoff * 2).min(RETRY_MAX);
            attempt += 1;
        }
    }

    /// SQLAlchemy's `_ConnectionRecord.get_connection`: connect an empty record, replace a
    /// stale connection (too old, older than the pool generation, soft-invalidated).
    async fn prepare<I: Io>(
        &self,
        entry: &mut PoolEntry<C>,
    ) -> Result<(), CheckoutError<C::Error>> {
        let e = &mut *entry.inner;
        if e.conn.is_none() {
            e.record.info.clear();
            return self.connect::<I>(entry).await;
        }
        let id = e.record.id;
        let stale = if self.recycle_due(&e.record) {
            tracing::info!(pool = %self.name(), "Connection {id} exceeded timeout; recycling");
            Some(CloseCause::Recycled)
        } else if expired(&e.record) {
            tracing::debug!(pool = %self.name(), "Connection {id} reached its max_lifetime; replacing");
            Some(CloseCause::MaxLifetime)
        } else if e.record.generation < self.generation.load(Ordering::Acquire) {
            tracing::info!(
                pool = %self.name(),
                "Connection {id} invalidated due to pool invalidation; recycling"
            );
            Some(CloseCause::Invalidated)
        } else if e.record.soft_invalidated {
            tracing::info!(
                pool = %self.name(),
                "Connection {id} invalidated due to local soft invalidation; recycling"
            );
            Some(CloseCause::SoftInvalidated)
        } else {
            None
        };
        if let Some(cause) = stale {
            self.close_connection(entry, true, true, cause);
            entry.inner.record.info.clear();
            return self.connect::<I>(entry).await;
        }
        Ok(())
    }

    /// Whether the entry can be handed out as it is: connected and not due for
    /// replacement (what [`prepare`](Self::prepare) checks, without its logging).
    #[inline]
    fn is_usable(&self, entry: &PoolEntry<C>) -> bool {
        let e = &*entry.inner;
        e.conn.is_some()
            && !e.record.soft_invalidated
            && e.record.generation >= self.generation.load(Ordering::Acquire)
            && !self.recycle_due(&e.record)
            && !expired(&e.record)
    }

    /// Whether the connection is older than `recycle`; reads the clock only when
    /// `recycle` is set.
    #[inline]
    fn recycle_due(&self, record: &ConnectionRecord<C>) -> bool {
        match (self.config.recycle, record.opened_at) {
            (Some(limit), Some(opened)) => opened.elapsed() > limit,
            _ => false,
        }
    }

    /// SQLAlchemy's `__close`: drop the finalizers, fire `close`, close or terminate;
    /// counted under `cause`.
    pub(crate) fn close_connection(
        &self,
        entry: &mut PoolEntry<C>,
        terminate: bool,
        with_events: bool,
        cause: CloseCause,
    ) {
        let e = &mut *entry.inner;
        let Some(conn) = e.conn.as_mut() else { return };
        self.stats.close(cause);
        e.record.finalizers.clear();
        if with_events && self.events.any() {
            // A panicking listener's panic reaches the caller after the close.
            let record = &mut e.record;
            let heard = unwind::listen(|| {
                self.events.snapshot().iter().for_each(|l| l.close(conn, record))
            });
            self.close_now(entry, terminate);
            return heard.resume();
        }
        self.close_now(entry, terminate);
    }

    /// Closes the connection of `entry` with the connector, now: no event, no count.
    fn close_now(&self, entry: &mut PoolEntry<C>, terminate: bool) {
        let e = &mut *entry.inner;
        let Some(conn) = e.conn.take() else { return };
        let id = e.record.id;
        let result = if terminate {
            tracing::debug!(pool = %self.name(), "Hard-closing connection {id}");
            self.connector.terminate(conn)
        } else {
            tracing::debug!(pool = %self.name(), "Closing connection {id}");
            self.connector.close(conn)
        };
        if let Err(err) = result {
            tracing::error!(pool = %self.name(), "Exception closing connection {id}: {}", ErrorChain::new(&err));
        }
    }

    /// SQLAlchemy's `_ConnectionRecord.invalidate`: nothing without a connection;
    /// `Soft` marks it for replacement, `Close` closes it (counted under its cause).
    pub(crate) fn invalidate(
        &self,
        entry: &mut PoolEntry<C>,
        reason: Option<&(dyn StdError + 'static)>,
        how: Invalidation,
        with_events: bool,
    ) {
        let soft = how == Invalidation::Soft;
        let e = &mut *entry.inner;
        let Some(conn) = e.conn.as_mut() else { return };
        if with_events && self.events.any() {
            for l in self.events.snapshot().iter() {
                if soft {
                    l.soft_invalidate(conn, &mut e.record, reason);
                } else {
                    l.invalidate(conn, &mut e.record, reason);
                }
            }
        }
        let prefix = if soft { "Soft " } else { "" };
        match reason {
            Some(r) => tracing::info!(
                pool = %self.name(),
                "{prefix}Invalidate connection {} (reason: {})",
                e.record.id,
                ErrorChain::new(r)
            ),
            None => {
                tracing::info!(pool = %self.name(), "{prefix}Invalidate connection {}", e.record.id)
            }
        }
        match how {
            Invalidation::Soft => e.record.soft_invalidated = true,
            Invalidation::Close(cause) => {
                self.close_connection(entry, true, with_events, cause);
                self.poke();
            }
        }
    }

    /// SQLAlchemy's `handle_error`: the verdict on `error`, starting from the pool's own
    /// (`is_disconnect`, `invalidate_pool`), after every listener had its say. Free when
    /// no listener is registered.
    pub(crate) fn judge(
        &self,
        error: &(dyn StdError + 'static),
        origin: ErrorOrigin,
        is_disconnect: bool,
        invalidate_pool: bool,
    ) -> Verdict {
        let mut ctx = ErrorContext::new(error, origin, is_disconnect, invalidate_pool);
        self.events.classify(&mut ctx);
        Verdict {
            disconnect: ctx.is_disconnect(),
            invalidate_pool: ctx.invalidate_pool_on_disconnect(),
        }
    }

    /// SQLAlchemy's `_ConnectionFairy._reset`: the `reset` event, then rollback, commit
    /// or nothing (nothing when the state says no I/O may run: not `asyncio_safe`).
    pub(crate) async fn reset<I: Io>(
        &self,
        conn: &mut C::Connection,
        mut record: Option<&mut ConnectionRecord<C>>,
        state: ResetState,
    ) -> Result<(), BoxError> {
        if self.events.any() {
            let listeners = self.events.snapshot();
            for l in listeners.iter() {
                l.reset(conn, record.as_deref_mut(), state)?;
            }
        }
        if !state.asyncio_safe {
            return Ok(());
        }
        match self.reset_action(ConnId(record.as_deref().map(|r| r.id)), state, true) {
            ResetAction::Rollback => {
                let span = tracing::debug_span!("reset", action = "rollback");
                I::rollback(&*self.connector, conn, self.config.reset_timeout)
                    .instrument(span)
                    .await??
            }
            ResetAction::Commit => {
                let span = tracing::debug_span!("reset", action = "commit");
                I::commit(&*self.connector, conn, self.config.reset_timeout)
                    .instrument(span)
                    .await??
            }
            ResetAction::Nothing => {}
        }
        Ok(())
    }

    /// What reset on return does to this connection now (and the log line saying so).
    #[inline]
    /// `log`: whether debug logging may be on (the untraced return knows it is off).
    fn reset_action(&self, id: ConnId, state: ResetState, log: bool) -> ResetAction {
        let action = match self.config.reset_on_return {
            ResetOnReturn::Rollback if state.transaction_was_reset => ResetAction::Nothing,
            ResetOnReturn::Rollback => ResetAction::Rollback,
            ResetOnReturn::Commit => ResetAction::Commit,
            ResetOnReturn::Nothing => return ResetAction::Nothing,
        };
        if log && tracing_debug() {
            self.log_reset(id, action);
        }
        action
    }

    /// The debug line of a reset on return.
    #[cold]
    #[inline(never)]
    fn log_reset(&self, id: ConnId, action: ResetAction) {
        match action {
            ResetAction::Nothing => {
                tracing::debug!(pool = %self.name(), "Connection {id} reset, transaction already reset");
            }
            ResetAction::Rollback => {
                tracing::debug!(pool = %self.name(), "Connection {id} rollback-on-return");
            }
            ResetAction::Commit => {
                tracing::debug!(pool = %self.name(), "Connection {id} commit-on-return");
            }
        }
    }

    pub(crate) fn echo_debug(&self) -> bool {
        self.config.echo == Echo::Debug
    }

    /// A checkout under `min_idle` (poke the worker), `leak_threshold` (record the
    /// lease) or `measure_hold_time` (note the time).
    #[cold]
    #[inline(never)]
    fn after_checkout(&self, record: &mut ConnectionRecord<C>) {
        if self.config.times_holds() {
            record.checked_out_at = Some(Instant::now());
        }
        if let Some(leases) = &self.leases {
            leases.begin(record.id);
        }
        if self.config.min_idle > 0 {
            self.poke();
        }
    }

    /// Asks the maintenance worker, if any, for a sweep: a connection was closed.
    pub(crate) fn poke(&self) {
        if let Some(signal) = &self.signal {
            signal.poke();
        }
    }

    /// A core that closes connections as this one does (same connector, settings and
    /// listeners), for the idle connections of a dropped pool.
    fn orphan(&self) -> Core<C> {
        Core::new(
            Arc::clone(&self.connector),
            self.config.clone(),
            self.events.snapshot().iter().cloned().collect(),
            self.kind,
            None,
            false,
        )
    }

    fn new(
        connector: Arc<C>,
        config: PoolConfig,
        listeners: Vec<Arc<dyn PoolListener<C>>>,
        kind: &'static str,
        signal: Option<Arc<Signal>>,
        trace_checkouts: bool,
    ) -> Self {
        let leases = (config.leak_threshold.is_some() || trace_checkouts)
            .then(|| Leases::new(config.leak_threshold));
        Core {
            watch_checkouts: config.times_holds()
                || leases.is_some()
                || (signal.is_some() && config.min_idle > 0),
            watch_returns: config.watches_returns() || leases.is_some(),
            leases,
            connector,
            config,
            events: Events::new(listeners),
            generation: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            last_connect_error: Mutex::new(None),
            reachable: Mutex::new(Reachable {
                up: None,
                since: Instant::now(),
                failures: 0,
                ever_up: false,
            }),
            kind,
            closed: AtomicBool::new(false),
            signal,
            stats: Counters::new(),
        }
    }
}

/// What the pool last saw of its database's connects (for [`Core::note_reachable`]).
struct Reachable {
    /// The last connect's outcome; `None` before the first.
    up: Option<bool>,
    /// When that outcome began.
    since: Instant,
    /// Connects failed since it went away.
    failures: u64,
    /// Whether any connect of this pool ever succeeded.
    ever_up: bool,
}

/// Whether a subscriber records debug spans and events now (one atomic load): the
/// checkout and return paths open their spans only then.
#[inline(always)]
pub(crate) fn tracing_debug() -> bool {
    tracing::level_filters::LevelFilter::current() >= tracing::level_filters::LevelFilter::DEBUG
}

/// The span of one checkout: the pool's name, and the record it hands out.
fn checkout_span<C: Connector>(core: &Core<C>) -> tracing::Span {
    tracing::debug_span!("checkout", pool = %core.name(), conn = tracing::field::Empty)
}

/// Whether the connection is past its `max_lifetime`; reads the clock only when that is
/// set.
#[inline]
fn expired<C: Connector>(record: &ConnectionRecord<C>) -> bool {
    record.expires_at.is_some_and(|at| Instant::now() >= at)
}

impl<C: Connector> fmt::Debug for Core<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("name", &self.name())
            .field("config", &self.config)
            .field("generation", &self.generation())
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// A new entry being connected: if a `connect` listener panics, the new connection is
/// closed (without calling listeners again) instead of being dropped unclosed.
struct Opening<'a, C: Connector> {
    core: &'a Core<C>,
    entry: Option<PoolEntry<C>>,
}

impl<C: Connector> Drop for Opening<'_, C> {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            self.core.close_connection(&mut entry, true, false, CloseCause::Refused);
        }
    }
}

/// Counts a failed checkout when dropped armed (see [`Inner::checkout`]).
struct CountFailure<'a>(Option<&'a Counters>);

impl Drop for CountFailure<'_> {
    fn drop(&mut self) {
        if let Some(stats) = self.0 {
            stats.failed_after_acquire();
        }
    }
}

/// Why a connection was invalidated on return: [`Connector::is_broken`] said so.
#[derive(Debug)]
struct BrokenOnReturn;

impl fmt::Display for BrokenOnReturn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connector reported the returned connection as broken")
    }
}

impl StdError for BrokenOnReturn {}

/// The I/O of a reset on return.
#[derive(Clone, Copy)]
enum ResetAction {
    Rollback,
    Commit,
    Nothing,
}

/// Shows a record id, or `detached`.
struct ConnId(Option<u64>);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => id.fmt(f),
            None => f.write_str("detached"),
        }
    }
}

/// A connection pool: a [`Connector`] behind a [`Strategy`], with SQLAlchemy's semantics.
///
/// Cloning a `Pool` is cheap and shares it. Applications use a strategy crate's alias,
/// such as `pool_queue::QueuePool<C>`.
pub struct Pool<C: Connector, S: Strategy<C>> {
    pub(crate) inner: Arc<Inner<C, S>>,
}

pub(crate) struct Inner<C: Connector, S: Strategy<C>> {
    pub(crate) core: Core<C>,
    pub(crate) strategy: S,
    strategy_config: S::Config,
}

impl<C: Connector, S: Strategy<C>> Clone for Pool<C, S> {
    fn clone(&self) -> Self {
        Pool { inner: Arc::clone(&self.inner) }
    }
}

impl<C: Connector, S: Strategy<C>> fmt::Debug for Pool<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("strategy", &S::NAME)
            .field("core", &self.inner.core)
            .field("status", &self.status())
            .finish()
    }
}

impl<C: Connector, S: Strategy<C>> Pool<C, S> {
    /// Starts configuring a pool over `connector`.
    pub fn builder(connector: C) -> Builder<C, S> {
        Builder::new(connector)
    }

    /// A pool with every setting at its default.
    pub fn new(connector: C) -> Result<Self, BuildError> {
        Self::builder(connector).build()
    }

    /// Checks out a connection (SQLAlchemy's `pool.connect()`).
    ///
    /// Takes an idle connection or opens one, replaces it if it is too old, belongs to an
    /// invalidated generation or was soft-invalidated, pings it if `pre_ping` is on and it
    /// was not opened by this checkout, and runs the `checkout` listeners. A listener or
    /// ping that reports a disconnect replaces the connection and tries again, two passes
    /// in all.
    ///
    /// On every error the entry goes back to the strategy, so the pool's counts are as
    /// they were before the call.
    pub fn get(&self) -> Result<PooledConnection<C, S>, CheckoutError<C::Error>> {
        if tracing_debug() {
            return self.get_traced(None);
        }
        let inner = &*self.inner;
        let entry = inner.strategy.acquire(&inner.core)?;
        self.finish_get(entry)
    }

    /// A blocking checkout inside a `checkout` span (with `wait`: `get_timeout`'s), for
    /// when a subscriber records debug spans.
    #[cold]
    #[inline(never)]
    fn get_traced(
        &self,
        wait: Option<Duration>,
    ) -> Result<PooledConnection<C, S>, CheckoutError<C::Error>> {
        let inner = &*self.inner;
        let span = checkout_span(&inner.core);
        let _in = span.enter();
        let entry = match wait {
            None => inner.strategy.acquire(&inner.core),
            Some(wait) => inner.strategy.acquire_within(&inner.core, wait),
        }?;
        let mut conn = self.finish_get(entry)?;
        PooledConnection::trace_return(&mut conn);
        if let Some(record) = PooledConnection::record(&conn) {
            span.record("conn", record.id());
        }
        Ok(conn)
    }

    /// [`get`](Self::get) without waiting for a connection to come back: an idle
    /// connection, or a new one if the pool may open one, or at once
    /// [`CheckoutError::Timeout`] (r2d2's `try_get`, which answers `None` instead).
    ///
    /// Connecting, pinging and listeners run as for `get`; only the wait is skipped.
    pub fn try_get(&self) -> Result<PooledConnection<C, S>, CheckoutError<C::Error>> {
        self.get_timeout(Duration::ZERO)
    }

    /// [`get`](Self::get), waiting at most `timeout` for a connection to come back
    /// instead of the strategy's own timeout (r2d2's `get_timeout`). Zero never waits,
    /// as [`try_get`](Self::try_get).
    ///
    /// A strategy that never waits (NullPool, SingletonThreadPool, AssertionPool) ignores
    /// it.
    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> Result<PooledConnection<C, S>, CheckoutError<C::Error>> {
        if tracing_debug() {
            return self.get_traced(Some(timeout));
        }
        let inner = &*self.inner;
        let entry = inner.strategy.acquire_within(&inner.core, timeout)?;
        self.finish_get(entry)
    }

    /// The rest of a blocking checkout, once the strategy gave an entry.
    #[inline]
    fn finish_get(
        &self,
        entry: PoolEntry<C>,
    ) -> Result<PooledConnection<C, S>, CheckoutError<C::Error>> {
        let inner = &*self.inner;
        let mut pending = Pending { inner, entry: Some(entry) };
        if inner.needs_checkout(pending.entry()) {
            inner.checkout_now(&mut pending)?;
        }
        Ok(self.hand_out(pending.take(), None))
    }

    /// Checks out a connection without blocking the task: [`get`](Self::get) for async
    /// code, with the same steps, events and errors.
    ///
    /// Waiting for a connection is the strategy's ([`AsyncStrategy`]); connecting,
    /// pinging and resetting use the connector's `_async` methods. Dropping the future
    /// at any await loses nothing: an entry already taken goes back to the strategy
    /// (closed, if a connect or ping was under way).
    ///
    /// The connection it returns resets itself on return through the connector's
    /// `rollback_async`/`commit_async`, in [`AsyncStrategy::run_return`]: at once if that
    /// completes without waiting, otherwise in the background; the entry reaches the
    /// strategy only after the reset. (A connector without [`Connector::ASYNC_IO`]
    /// resets with its blocking calls at once, as the defaults of the `_async` methods
    /// would.)
    pub async fn get_async(&self) -> Result<PooledConnection<C, S>, CheckoutError<C::Error>>
    where
        S: AsyncStrategy<C>,
    {
        if tracing_debug() {
            return Box::pin(self.get_async_traced(None)).await;
        }
        let inner = &*self.inner;
        let entry = inner.strategy.acquire_async(&inner.core).await?;
        let mut pending = Pending { inner, entry: Some(entry) };
        if inner.needs_checkout(pending.entry()) {
            inner.checkout::<NonBlocking>(&mut pending).await?;
        }
        Ok(self.hand_out(pending.take(), Self::async_return()))
    }

    /// [`get_async`](Self::get_async) without waiting for a connection to come back, as
    /// [`try_get`](Self::try_get).
    pub async fn try_get_async(&self) -> Result<PooledConnection<C, S>, CheckoutError<C::Error>>
    where
        S: AsyncStrategy<C>,
    {
        self.get_async_timeout(Duration::ZERO).await
    }

    /// [`get_async`](Self::get_async), waiting at most `timeout` for a connection to come
    /// back, as [`get_timeout`](Self::get_timeout).
    pub async fn get_async_timeout(
        &self,
        timeout: Duration,
    ) -> Result<PooledConnection<C, S>, CheckoutError<C::Error>>
    where
        S: AsyncStrategy<C>,
    {
        if tracing_debug() {
            return Box::pin(self.get_async_traced(Some(timeout))).await;
        }
        let inner = &*self.inner;
        let entry = inner.strategy.acquire_async_within(&inner.core, timeout).await?;
        let mut pending = Pending { inner, entry: Some(entry) };
        if inner.needs_checkout(pending.entry()) {
            inner.checkout::<NonBlocking>(&mut pending).await?;
        }
        Ok(self.hand_out(pending.take(), Self::async_return()))
    }

    /// An async checkout inside a `checkout` span, for when a subscriber records debug
    /// spans (boxed by the caller, so the untraced future stays small).
    async fn get_async_traced(
        &self,
        wait: Option<Duration>,
    ) -> Result<PooledConnection<C, S>, CheckoutError<C::Error>>
    where
        S: AsyncStrategy<C>,
    {
        let inner = &*self.inner;
        let span = checkout_span(&inner.core);
        let checkout = async {
            let entry = match wait {
                None => inner.strategy.acquire_async(&inner.core).await,
                Some(wait) => inner.strategy.acquire_async_within(&inner.core, wait).await,
            }?;
            let mut pending = Pending { inner, entry: Some(entry) };
            if inner.needs_checkout(pending.entry()) {
                inner.checkout::<NonBlocking>(&mut pending).await?;
            }
            Ok(self.hand_out(pending.take(), Self::async_return()))
        };
        let mut conn = checkout.instrument(span.clone()).await?;
        PooledConnection::trace_return(&mut conn);
        if let Some(record) = PooledConnection::record(&conn) {
            span.record("conn", record.id());
        }
        Ok(conn)
    }

    /// How a connection checked out with `get_async` returns: through the strategy's
    /// [`run_return`](AsyncStrategy::run_return) when the connector's `_async` methods
    /// do their own I/O; otherwise by the blocking path, the same steps without a task.
    #[inline]
    fn async_return() -> Option<crate::guard::RunReturn<C, S>>
    where
        S: AsyncStrategy<C>,
    {
        if C::ASYNC_IO {
            Some(|pool, task| pool.inner.strategy.run_return(task))
        } else {
            None
        }
    }

    #[inline]
    fn hand_out(
        &self,
        entry: PoolEntry<C>,
        spawn: Option<crate::guard::RunReturn<C, S>>,
    ) -> PooledConnection<C, S> {
        let inner = &*self.inner;
        let mut entry = entry;
        if inner.core.watch_checkouts {
            inner.core.after_checkout(&mut entry.inner.record);
        }
        let echo = inner.core.echo_debug();
        if echo {
            tracing::debug!(pool = %inner.core.name(), "Connection {} checked out from pool", entry.inner.record.id);
        }
        PooledConnection::new(self.clone(), entry, echo, spawn)
    }

    /// Registers a listener after the others.
    pub fn listen(&self, listener: impl PoolListener<C>) {
        self.inner.core.events.add(Arc::new(listener), false);
    }

    /// Registers a listener before the others (SQLAlchemy's `insert=True`).
    pub fn listen_first(&self, listener: impl PoolListener<C>) {
        self.inner.core.events.add(Arc::new(listener), true);
    }

    /// The counts that describe the pool now.
    pub fn status(&self) -> PoolStatus {
        self.inner.strategy.status()
    }

    /// What the pool did since it was built: checkouts, waits and timeouts, connects,
    /// closes by cause, and histograms of acquire, connect and hold times. Its `Display`
    /// is one line for a log.
    ///
    /// Reading it takes the histograms' locks and copies them (some kilobytes): fine
    /// every few seconds, not on every checkout.
    pub fn statistics(&self) -> Statistics {
        let inner = &*self.inner;
        inner.core.stats.snapshot(|| inner.strategy.handed_out())
    }

    /// The status as SQLAlchemy's `status()` string for this pool type.
    pub fn status_line(&self) -> String {
        self.inner.strategy.status_line()
    }

    /// Closes the idle connections. Checked-out connections are not touched; when they
    /// come back they are pooled as usual.
    pub fn dispose(&self) {
        self.inner.strategy.dispose(&self.inner.core);
        self.inner.core.poke();
        tracing::info!(pool = %self.inner.core.name(), "Pool disposed. {}", self.status_line());
    }

    /// Closes the idle connections that `keep` rejects (deadpool's `retain`), given each
    /// connection and its record (its age in [`ConnectionRecord::opened_at`], its
    /// [`info`](ConnectionRecord::info)); returns how many were closed. Checked-out
    /// connections are not looked at.
    ///
    /// `keep` runs outside the pool's lock, on this thread; meanwhile the connections it
    /// judges are out of the pool. A pool that keeps no idle connection (NullPool) closes
    /// nothing.
    pub fn retain(
        &self,
        mut keep: impl FnMut(&mut C::Connection, &ConnectionRecord<C>) -> bool,
    ) -> usize {
        let inner = &*self.inner;
        let core = &inner.core;
        // Judged outside the lock (the predicate is the application's code); meanwhile
        // the entries are out of the pool, still counted.
        let judged = inner.strategy.take_idle(&mut |idle| vec![true; idle.len()]);
        let mut judging = Judging { inner, left: judged.into_iter(), current: None };
        let mut closed = 0;
        for entry in judging.left.by_ref() {
            let kept = core.keeps(judging.current.insert(entry), &mut keep);
            let entry = judging.current.take().expect("set just above");
            let held = Held { inner, entry: Some(entry) };
            if kept {
                held.keep();
            } else {
                held.close(CloseCause::Pruned);
                closed += 1;
            }
        }
        if closed > 0 {
            tracing::info!(pool = %core.name(), "Pool retain closed {closed} idle connection(s)");
            core.poke();
        }
        closed
    }

    /// Opens `min_idle` connections (at least one) into the pool, for
    /// [`Builder::build_warm`]; a strategy that keeps none opens one and closes it.
    pub(crate) async fn warm<I: Io>(&self) -> Result<(), CheckoutError<C::Error>> {
        let inner = &*self.inner;
        let target = inner.core.config.min_idle.max(1);
        let mut opened = 0;
        while opened < target && inner.strategy.reserve() {
            maintain::fill_one::<I, C, S>(inner).await?;
            opened += 1;
        }
        if opened == 0 {
            let mut entry = inner.core.open_entry::<I>().await?;
            inner.core.close_entry(&mut entry, CloseCause::Overflow);
        }
        Ok(())
    }

    /// Adds a connection opened elsewhere to the pool (bb8's `add`), as if the pool had
    /// opened it: a new record, the `connect` listeners (and `first_connect` on the first
    /// connection), then idle or to the longest waiter.
    ///
    /// # Errors
    ///
    /// [`AddError::Full`] with the connection when the pool has no room for one more
    /// (at its limit, its idle list full, or closed); [`AddError::Refused`] when a
    /// `connect` listener refused it, which then closed it. A strategy that keeps no idle
    /// connection (NullPool, SingletonThreadPool, AssertionPool) is always full.
    pub fn add(&self, conn: C::Connection) -> Result<(), AddError<C>> {
        let inner = &*self.inner;
        let core = &inner.core;
        if self.is_closed() {
            return Err(AddError::Full(conn));
        }
        let mut entry = core.empty_entry();
        {
            let e = &mut *entry.inner;
            let opened = Instant::now();
            e.record.opened_at = Some(opened);
            e.record.expires_at = maintain::expiry(&core.config, opened);
            e.record.idle_since = Some(opened);
            e.record.alive_at = Some(opened);
            e.record.generation = core.generation.load(Ordering::Acquire);
            e.record.fresh = true;
            let conn = e.conn.insert(conn);
            if core.events.any() {
                if let Err(refused) = core.events.on_new_connection(conn, &mut e.record) {
                    core.close_connection(&mut entry, true, true, CloseCause::Refused);
                    return Err(AddError::Refused(refused));
                }
            }
        }
        match inner.strategy.add(core, entry) {
            Ok(()) => Ok(()),
            Err(mut entry) => {
                let conn = entry.inner.conn.take().expect("added with its connection");
                Err(AddError::Full(conn))
            }
        }
    }

    /// Closes the pool, waiting up to 30 s for the connections still checked out to come
    /// back: [`close_within`](Self::close_within) with that bound.
    ///
    /// # Errors
    ///
    /// [`StillOpen`] when connections were still checked out at the bound.
    pub fn close(&self) -> Result<(), StillOpen> {
        self.close_within(CLOSE_WAIT)
    }

    /// Closes the pool for good (deadpool's `close`, HikariCP's `close`): every checkout
    /// from now on, and every caller waiting now, fails at once with
    /// [`CheckoutError::PoolClosed`]; the idle connections are closed now, and each
    /// checked-out connection is closed when it comes back (a holder is never
    /// interrupted). Returns once no connection is checked out, or after `wait`.
    ///
    /// Calling it again is harmless. [`recreate`](Self::recreate) still builds a new,
    /// open pool with the same settings.
    ///
    /// # Errors
    ///
    /// [`StillOpen`] when connections were still checked out after `wait`; they are
    /// closed when they come back all the same.
    pub fn close_within(&self, wait: Duration) -> Result<(), StillOpen> {
        let deadline = Instant::now().checked_add(wait);
        self.inner.shut();
        loop {
            if let Some(done) = self.closed_by(deadline, wait) {
                return done;
            }
            std::thread::sleep(CLOSE_POLL);
        }
    }

    /// [`close`](Self::close) for async code: the same, waiting without blocking the task.
    ///
    /// # Errors
    ///
    /// [`StillOpen`] when connections were still checked out after 30 s.
    pub async fn close_async(&self) -> Result<(), StillOpen> {
        self.close_async_within(CLOSE_WAIT).await
    }

    /// [`close_within`](Self::close_within) for async code.
    ///
    /// # Errors
    ///
    /// [`StillOpen`] when connections were still checked out after `wait`.
    pub async fn close_async_within(&self, wait: Duration) -> Result<(), StillOpen> {
        let deadline = Instant::now().checked_add(wait);
        self.inner.shut();
        loop {
            if let Some(done) = self.closed_by(deadline, wait) {
                return done;
            }
            tokio::time::sleep(CLOSE_POLL).await;
        }
    }

    /// Where a closing pool stands: `Ok` once nothing is checked out, [`StillOpen`] past
    /// `deadline`, `None` while it should go on waiting.
    fn closed_by(
        &self,
        deadline: Option<Instant>,
        wait: Duration,
    ) -> Option<Result<(), StillOpen>> {
        let out = self.status().checked_out;
        if out == 0 {
            return Some(Ok(()));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Err(StillOpen { checked_out: out, waited: wait }));
        }
        None
    }

    /// The connections checked out for longer than
    /// [`leak_threshold`](Builder::leak_threshold), longest first, each with the backtrace
    /// of its checkout; empty when the setting is off.
    pub fn leaks(&self) -> Vec<Leak> {
        self.inner.core.leases.as_ref().map(Leases::leaks).unwrap_or_default()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.core.closed.load(Ordering::Acquire)
    }

    /// A new, empty pool with the same connector, settings and listeners
    /// (SQLAlchemy's `recreate()`); `first_connect` fires again on it. The two pools
    /// share nothing else.
    pub fn recreate(&self) -> Self {
        tracing::info!(pool = %self.inner.core.name(), "Pool recreating");
        let core = &self.inner.core;
        let strategy = S::build(&self.inner.strategy_config)
            .expect("a configuration that built once builds again");
        let pool = Pool::assemble(
            Arc::clone(&core.connector),
            core.config.clone(),
            strategy,
            self.inner.strategy_config.clone(),
            core.events.snapshot().iter().cloned().collect(),
        );
        if let Err(err) = maintain::start(&pool.inner) {
            tracing::error!(pool = %core.name(), "Could not start the recreated pool's maintenance: {err}");
        }
        pool
    }

    /// Invalidates every connection opened so far: each is replaced at its next checkout
    /// (SQLAlchemy's `pool._invalidate` without a connection). Nothing is closed now.
    pub fn invalidate_all(&self) {
        self.inner.core.invalidate_all();
    }

    /// The current pool generation.
    pub fn generation(&self) -> u64 {
        self.inner.core.generation()
    }

    /// The settings common to all strategies.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.core.config
    }

    /// The strategy's own settings.
    pub fn strategy_config(&self) -> &S::Config {
        &self.inner.strategy_config
    }

    /// The strategy.
    pub fn strategy(&self) -> &S {
        &self.inner.strategy
    }

    /// The connector.
    pub fn connector(&self) -> &C {
        &self.inner.core.connector
    }

    /// The core services (what strategies see).
    pub fn core(&self) -> &Core<C> {
        &self.inner.core
    }

    /// Whether two handles share one pool.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn assemble(
        connector: Arc<C>,
        config: PoolConfig,
        strategy: S,
        strategy_config: S::Config,
        listeners: Vec<Arc<dyn PoolListener<C>>>,
    ) -> Self {
        // The builder refused the settings a strategy without idle capacity cannot use.
        let signal = maintain::signal_for(&config);
        let traced = strategy.traces_checkouts();
        let core = Core::new(connector, config, listeners, S::NAME, signal, traced);
        Pool { inner: Arc::new(Inner { core, strategy, strategy_config }) }
    }
}

/// The first pause between connect attempts under `connect_retry`, doubled after each.
const RETRY_FIRST: Duration = Duration::from_millis(10);
/// The longest pause between connect attempts.
const RETRY_MAX: Duration = Duration::from_secs(1);

/// Why [`Pool::add`] did not take a connection.
#[non_exhaustive]
pub enum AddError<C: Connector> {
    /// The pool has no room for it; here it is back.
    Full(C::Connection),
    /// A `connect` listener refused it; it was closed.
    Refused(ListenerError),
}

impl<C: Connector> fmt::Debug for AddError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddError::Full(_) => f.write_str("Full(..)"),
            AddError::Refused(e) => f.debug_tuple("Refused").field(e).finish(),
        }
    }
}

impl<C: Connector> fmt::Display for AddError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddError::Full(_) => f.write_str(
                "the pool has no room for another connection (at its limit, its idle list \
                 full, or closed); the connection was given back",
            ),
            AddError::Refused(e) => write!(f, "a connect listener refused the connection: {e}"),
        }
    }
}

impl<C: Connector> StdError for AddError<C> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            AddError::Refused(e) => Some(e),
            AddError::Full(_) => None,
        }
    }
}

/// How long [`Pool::close`] waits for checked-out connections.
const CLOSE_WAIT: Duration = Duration::from_secs(30);
/// How often a closing pool looks whether everything came back.
const CLOSE_POLL: Duration = Duration::from_millis(5);

/// [`Pool::close`] returned while connections were still checked out; each is closed
/// when it comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StillOpen {
    /// Connections still checked out.
    pub checked_out: usize,
    /// How long the close waited for them.
    pub waited: Duration,
}

impl fmt::Display for StillOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the pool is closed, but {} connection(s) were still checked out after {:.2} s; \
             each is closed when its holder drops it",
            self.checked_out,
            self.waited.as_secs_f64()
        )
    }
}

impl StdError for StillOpen {}

/// What the pool does with an error ([`Core::judge`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Verdict {
    /// The connection is gone.
    pub(crate) disconnect: bool,
    /// A disconnect also invalidates every older connection.
    pub(crate) invalidate_pool: bool,
}

/// Why one pass of the checkout loop did not hand out the connection.
enum Step<E> {
    /// Replace the connection and try again.
    Retry { invalidate_pool: bool, reason: Reason<E> },
    /// Give up: the record goes back, the caller gets the error.
    Fail(CheckoutError<E>),
}

enum Reason<E> {
    Ping(E),
    Timeout(OperationTimeout),
    Listener(ListenerError),
}

impl<E: StdError + 'static> Reason<E> {
    fn as_error(&self) -> &(dyn StdError + 'static) {
        match self {
            Reason::Ping(e) => e,
            Reason::Timeout(e) => e,
            Reason::Listener(e) => e,
        }
    }
}

impl<C: Connector, S: Strategy<C>> Inner<C, S> {
    /// SQLAlchemy's `_ConnectionRecord.checkout` after the strategy gave an entry:
    /// connect or replace it, then pre-ping and `checkout` listeners. On error the entry
    /// has gone back to the strategy.
    async fn checkout<I: Io>(
        &self,
        pending: &mut Pending<'_, C, S>,
    ) -> Result<(), CheckoutError<C::Error>> {
        // Counts the hand-out as a failed checkout unless it finishes (an error, a
        // panic, a dropped future).
        let mut failed = CountFailure(Some(&self.core.stats));
        if let Err(e) = self.core.prepare::<I>(pending.entry()).await {
            pending.fail(Some(&e));
            return Err(e);
        }
        if self.core.config.pre_ping || self.core.events.any() {
            self.checkout_loop::<I>(pending).await?;
        }
        failed.0 = None;
        Ok(())
    }

    /// SQLAlchemy's `_ConnectionFairy._checkout` loop: pre-ping and `checkout` listeners,
    /// with a reconnect on a reported disconnect.
    async fn checkout_loop<I: Io>(
        &self,
        pending: &mut Pending<'_, C, S>,
    ) -> Result<(), CheckoutError<C::Error>> {
        let core = &self.core;
        for _ in 0..CHECKOUT_ATTEMPTS {
            let entry = pending.entry();
            match self.checkout_pass::<I>(entry).await {
                Ok(()) => return Ok(()),
                Err(Step::Fail(e)) => {
                    pending.fail(Some(&e));
                    return Err(e);
                }
                Err(Step::Retry { invalidate_pool, reason }) => {
                    self.replace_after_disconnect(entry, invalidate_pool, &reason);
                    drop(reason);
                    if let Err(e) = core.prepare::<I>(entry).await {
                        pending.fail(Some(&e));
                        return Err(e);
                    }
                }
            }
        }
        tracing::info!(pool = %core.name(), "Reconnection attempts exhausted on checkout");
        pending.fail(None);
        Err(CheckoutError::Closed)
    }

    /// Invalidates a connection a ping or listener reported gone, and with it the pool
    /// generation if the report says so.
    fn replace_after_disconnect(
        &self,
        entry: &mut PoolEntry<C>,
        invalidate_pool: bool,
        reason: &Reason<C::Error>,
    ) {
        let core = &self.core;
        let id = entry.inner.record.id;
        let generation = entry.inner.record.generation;
        let reason = reason.as_error();
        let shown = ErrorChain::new(reason);
        if invalidate_pool {
            tracing::info!(
                pool = %core.name(),
                "Disconnection detected on checkout, invalidating all pooled connections prior to current generation (reason: {shown})"
            );
        } else {
            tracing::info!(
                pool = %core.name(),
                "Disconnection detected on checkout, invalidating individual connection {id} (reason: {shown})"
            );
        }
        core.invalidate(entry, Some(reason), Invalidation::Close(CloseCause::Invalidated), true);
        if invalidate_pool {
            core.invalidate_generation_of(generation);
        }
    }

    /// A pre-ping that failed or timed out: a disconnect (after `handle_error`) replaces
    /// the connection and tries again; anything else fails the checkout.
    #[cold]
    #[inline(never)]
    fn after_failed_ping(&self, id: u64, reason: Reason<C::Error>) -> Step<C::Error> {
        let core = &self.core;
        let known = match &reason {
            Reason::Ping(err) => core.connector.is_disconnect(err),
            _ => false,
        };
        let verdict = core.judge(reason.as_error(), ErrorOrigin::PrePing, known, true);
        if verdict.disconnect {
            let what = if verdict.invalidate_pool { "pool" } else { "connection" };
            tracing::debug!(
                pool = %core.name(),
                "Pool pre-ping on connection {id} failed, will invalidate {what}"
            );
            return Step::Retry { invalidate_pool: verdict.invalidate_pool, reason };
        }
        match reason {
            Reason::Ping(err) => Step::Fail(CheckoutError::Ping(err)),
            Reason::Timeout(timeout) => {
                tracing::info!(pool = %core.name(), "Pool pre-ping on connection {id} failed: {timeout}");
                Step::Fail(CheckoutError::OperationTimeout(timeout))
            }
            Reason::Listener(err) => Step::Fail(CheckoutError::Listener(err)),
        }
    }

    async fn checkout_pass<I: Io>(&self, entry: &mut PoolEntry<C>) -> Result<(), Step<C::Error>> {
        let core = &self.core;
        let e = &mut *entry.inner;
        let fresh = mem::replace(&mut e.record.fresh, false);
        let conn = e.conn.as_mut().expect("prepare leaves a connection");
        if core.config.pre_ping {
            let id = e.record.id;
            if fresh {
                tracing::debug!(pool = %core.name(), "Connection {id} is fresh, skipping pre-ping");
            } else {
                tracing::debug!(pool = %core.name(), "Pool pre-ping on connection {id}");
                let span = tracing::debug_span!("pre_ping", record = id);
                let err = match I::ping(&*core.connector, conn, core.config.ping_timeout)
                    .instrument(span)
                    .await
                {
                    Ok(None) => return Err(Step::Fail(CheckoutError::PingUnsupported)),
                    Ok(Some(Ok(()))) => None,
                    Ok(Some(Err(err))) => Some(Reason::Ping(err)),
                    Err(timeout) => Some(Reason::Timeout(timeout)),
                };
                if let Some(reason) = err {
                    return Err(self.after_failed_ping(id, reason));
                }
            }
        }
        if core.events.any() {
            let listeners = core.events.snapshot();
            for l in listeners.iter() {
                if let Err(err) = l.checkout(conn, &mut e.record) {
                    let verdict = core.judge(
                        &err,
                        ErrorOrigin::CheckoutListener,
                        err.is_disconnect(),
                        err.invalidates_pool() || !err.is_disconnect(),
                    );
                    return Err(if verdict.disconnect {
                        Step::Retry {
                            invalidate_pool: verdict.invalidate_pool,
                            reason: Reason::Listener(err),
                        }
                    } else {
                        Step::Fail(CheckoutError::Listener(err))
                    });
                }
            }
        }
        Ok(())
    }

    /// SQLAlchemy's `_checkin_failed`: invalidate, then check the record in.
    ///
    /// The entry stays guarded while the `invalidate` and `close` listeners run: if one
    /// panics, the guard closes the connection without events and returns the record.
    pub(crate) fn checkin_failed(
        &self,
        entry: PoolEntry<C>,
        reason: Option<&(dyn StdError + 'static)>,
        with_events: bool,
    ) {
        let mut pending = Pending { inner: self, entry: Some(entry) };
        let how = Invalidation::Close(CloseCause::Invalidated);
        self.core.invalidate(pending.entry(), reason, how, with_events);
        let entry = pending.take();
        self.finish_checkin(entry, with_events);
    }

    /// The normal return of a checked-out entry: reset, then check the record in.
    pub(crate) async fn checkin<I: Io>(&self, entry: PoolEntry<C>, state: ResetState, echo: bool) {
        let mut pending = Pending { inner: self, entry: Some(entry) };
        let failed = {
            let e = &mut *pending.entry().inner;
            match e.conn.as_mut() {
                Some(conn) => {
                    if self.core.connector.is_broken(conn) {
                        return self.checkin_broken(pending);
                    }
                    if echo {
                        tracing::debug!(pool = %self.core.name(), "Connection {} being returned to pool", e.record.id);
                    }
                    self.core.reset::<I>(conn, Some(&mut e.record), state).await.err()
                }
                None => None,
            }
        };
        self.after_reset(pending, failed);
    }

    /// Whether a checkout must go through the checkout path (pre-ping, listeners, a
    /// connection to open or replace) rather than hand the entry out as it is.
    #[inline]
    fn needs_checkout(&self, entry: &PoolEntry<C>) -> bool {
        let core = &self.core;
        core.config.pre_ping || core.events.any() || !core.is_usable(entry)
    }

    /// Marks the pool closed and shuts the strategy down (see [`Pool::close_within`]).
    fn shut(&self) {
        let first = !self.core.closed.swap(true, Ordering::AcqRel);
        if let Some(signal) = &self.core.signal {
            signal.stop();
        }
        self.strategy.close(&self.core);
        if first {
            tracing::info!(pool = %self.core.name(), "Pool closed. {}", self.strategy.status_line());
        }
    }

    /// [`checkin`](Self::checkin) with the connector's blocking calls.
    ///
    /// When nothing observes the return (no listener, no echo) it runs here directly,
    /// without the future of the general path: the same steps, and the common case.
    #[inline]
    pub(crate) fn checkin_now(&self, entry: PoolEntry<C>, state: ResetState, echo: bool) {
        if echo || self.core.events.any() {
            return self.checkin_observed(entry, state, echo);
        }
        let mut pending = Pending { inner: self, entry: Some(entry) };
        let e = &mut *pending.entry().inner;
        let failed = match e.conn.as_mut() {
            Some(conn) => {
                if self.core.connector.is_broken(conn) {
                    return self.checkin_broken(pending);
                }
                let connector = &*self.core.connector;
                let bound = self.core.config.reset_timeout;
                // Reached only for a checkout made while debug logging was off
                // (`PooledConnection::check_in`): no reset line is logged.
                let reset = match self.core.reset_action(ConnId(Some(e.record.id)), state, false) {
                    ResetAction::Rollback => crate::io::rollback_now(connector, conn, bound),
                    ResetAction::Commit => crate::io::commit_now(connector, conn, bound),
                    ResetAction::Nothing => Ok(Ok(())),
                };
                match reset {
                    Ok(done) => done.err().map(BoxError::from),
                    Err(timeout) => Some(BoxError::from(timeout)),
                }
            }
            None => None,
        };
        self.after_reset(pending, failed);
    }

    /// The general path of a blocking checkout (pre-ping, listeners, a connection to
    /// replace): [`checkout`](Self::checkout) driven in one poll.
    #[cold]
    #[inline(never)]
    fn checkout_now(&self, pending: &mut Pending<'_, C, S>) -> Result<(), CheckoutError<C::Error>> {
        now(self.checkout::<Blocking>(pending))
    }

    /// A blocking return that someone observes (listeners, echo): the general path.
    #[cold]
    #[inline(never)]
    fn checkin_observed(&self, entry: PoolEntry<C>, state: ResetState, echo: bool) {
        now(self.checkin::<Blocking>(entry, state, echo))
    }

    /// The end of a return: a failed reset invalidates the connection; then the record
    /// is checked in.
    #[inline(always)]
    pub(crate) fn after_reset(&self, mut pending: Pending<'_, C, S>, failed: Option<BoxError>) {
        if let Some(err) = failed {
            self.reset_failed(pending.entry(), &*err);
        }
        let entry = pending.take();
        self.finish_checkin(entry, true);
    }

    /// A reset on return failed: log it and invalidate the connection.
    #[cold]
    #[inline(never)]
    fn reset_failed(&self, entry: &mut PoolEntry<C>, err: &(dyn StdError + 'static)) {
        let shown = ErrorChain::new(err);
        tracing::error!(pool = %self.core.name(), "Exception during reset or similar: {shown}");
        self.core.invalidate(entry, Some(err), Invalidation::Close(CloseCause::ResetFailed), true);
    }

    /// A connection the connector reports broken on return: invalidated, not reset.
    #[cold]
    #[inline(never)]
    fn checkin_broken(&self, mut pending: Pending<'_, C, S>) {
        let reason = BrokenOnReturn;
        let how = Invalidation::Close(CloseCause::BrokenOnReturn);
        self.core.invalidate(pending.entry(), Some(&reason), how, true);
        let entry = pending.take();
        self.finish_checkin(entry, true);
    }

    /// SQLAlchemy's `_ConnectionRecord.checkin`: finalizers, the `checkin` event, then
    /// back to the strategy (even if a finalizer or listener panics).
    #[inline(always)]
    fn finish_checkin(&self, entry: PoolEntry<C>, with_events: bool) {
        let mut release = ReleaseOnDrop { inner: self, entry: Some(entry) };
        let e = &mut *release.entry.as_mut().expect("set above").inner;
        if !e.record.finalizers.is_empty() || (with_events && self.core.events.any()) {
            self.before_checkin(e, with_events);
        }
        if self.core.watch_returns {
            self.note_return(release);
        }
    }

    /// A return under `idle_timeout`, `keepalive` or `max_lifetime`: a connection past
    /// its lifetime is closed and its slot freed; any other is idle from now.
    #[cold]
    #[inline(never)]
    fn note_return(&self, mut release: ReleaseOnDrop<'_, C, S>) {
        let entry = release.entry();
        if let Some(leases) = &self.core.leases {
            leases.end(entry.inner.record.id, self.core.name());
        }
        let now = Instant::now();
        if let Some(at) = entry.inner.record.checked_out_at.take() {
            self.core.stats.hold(now.saturating_duration_since(at));
        }
        if entry.is_connected() && entry.inner.record.expires_at.is_some_and(|at| now >= at) {
            let id = entry.inner.record.id;
            tracing::debug!(pool = %self.core.name(), "Connection {id} reached its max_lifetime; closing");
            let held = Held { inner: self, entry: release.entry.take() };
            held.close(CloseCause::MaxLifetime);
            return;
        }
        let record = &mut entry.inner.record;
        record.idle_since = Some(now);
        record.alive_at = Some(now);
    }

    /// The finalizers and the `checkin` listeners of a return.
    #[cold]
    #[inline(never)]
    fn before_checkin(&self, e: &mut EntryInner<C>, with_events: bool) {
        while let Some(finalize) = e.record.finalizers.pop() {
            finalize(e.conn.as_mut());
        }
        if with_events && self.core.events.any() {
            for l in self.core.events.snapshot().iter() {
                l.checkin(e.conn.as_mut(), &mut e.record);
            }
        }
    }

    /// A checked-out entry whose checkout or return did not finish (a panic, a dropped
    /// future): its connection is closed, its record given back. While the thread
    /// unwinds no listener runs: a second panic would abort the process.
    pub(crate) fn interrupted(&self, entry: PoolEntry<C>) {
        self.checkin_failed(entry, Some(&Interrupted), !std::thread::panicking());
    }
}

/// An entry between the strategy and the caller: if the checkout (or checkin) does not
/// finish, dropping this invalidates the entry and gives it back, so a failure or a
/// panic never loses a slot.
pub(crate) struct Pending<'a, C: Connector, S: Strategy<C>> {
    inner: &'a Inner<C, S>,
    entry: Option<PoolEntry<C>>,
}

impl<'a, C: Connector, S: Strategy<C>> Pending<'a, C, S> {
    pub(crate) fn new(inner: &'a Inner<C, S>, entry: PoolEntry<C>) -> Self {
        Pending { inner, entry: Some(entry) }
    }

    pub(crate) fn entry(&mut self) -> &mut PoolEntry<C> {
        self.entry.as_mut().expect("a pending entry is present until taken")
    }

    pub(crate) fn take(&mut self) -> PoolEntry<C> {
        self.entry.take().expect("a pending entry is taken once")
    }

    fn fail(&mut self, reason: Option<&(dyn StdError + 'static)>) {
        let entry = self.take();
        self.inner.checkin_failed(entry, reason, true);
    }
}

impl<C: Connector, S: Strategy<C>> Drop for Pending<'_, C, S> {
    #[inline]
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            // Reached while unwinding from a panic in a listener or the connector, or when
            // an async checkout or return is dropped at an await (its connect, ping or
            // reset may be half done, so the connection is closed, never pooled).
            self.inner.interrupted(entry);
        }
    }
}

/// What [`Core::invalidate`] does with the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalidation {
    /// Marks it for replacement at its next checkout; it stays usable.
    Soft,
    /// Closes it now, counted under the cause.
    Close(CloseCause),
}

/// Why a connection was invalidated when its checkout or return did not finish.
#[derive(Debug)]
struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the checkout or return was interrupted (panic or cancelled future)")
    }
}

impl StdError for Interrupted {}

/// The idle entries `retain` took out to judge; if the predicate panics, the one being
/// judged and those not judged yet go back to the pool, as kept.
struct Judging<'a, C: Connector, S: Strategy<C>> {
    inner: &'a Inner<C, S>,
    left: std::vec::IntoIter<PoolEntry<C>>,
    current: Option<PoolEntry<C>>,
}

impl<C: Connector, S: Strategy<C>> Drop for Judging<'_, C, S> {
    fn drop(&mut self) {
        for entry in self.current.take().into_iter().chain(self.left.by_ref()) {
            self.inner.strategy.release(&self.inner.core, entry);
        }
    }
}

impl<C: Connector, S: Strategy<C>> Drop for Inner<C, S> {
    /// The last handle is gone (no connection is checked out, since each holds one):
    /// stop the maintenance and close the idle connections, gracefully, without
    /// blocking the dropping thread on a server ([`maintain::close_orphans`]).
    fn drop(&mut self) {
        if let Some(signal) = &self.core.signal {
            signal.stop();
        }
        let idle = self.strategy.drain_on_drop();
        if !idle.is_empty() {
            maintain::close_orphans(self.core.orphan(), idle);
        }
    }
}

/// Gives an entry back to the strategy when dropped, whatever happened before.
pub(crate) struct ReleaseOnDrop<'a, C: Connector, S: Strategy<C>> {
    inner: &'a Inner<C, S>,
    entry: Option<PoolEntry<C>>,
}

impl<'a, C: Connector, S: Strategy<C>> ReleaseOnDrop<'a, C, S> {
    pub(crate) fn new(inner: &'a Inner<C, S>, entry: PoolEntry<C>) -> Self {
        ReleaseOnDrop { inner, entry: Some(entry) }
    }

    pub(crate) fn entry(&mut self) -> &mut PoolEntry<C> {
        self.entry.as_mut().expect("present until dropped")
    }
}

impl<C: Connector, S: Strategy<C>> Drop for ReleaseOnDrop<'_, C, S> {
    #[inline]
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.inner.strategy.release(&self.inner.core, entry);
        }
    }
}
