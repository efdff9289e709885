//! The pool's background maintenance: `min_idle`, `idle_timeout`, `max_lifetime` and
//! `keepalive`, and closing the idle connections of a dropped pool.
//!
//! One worker per pool does it all: a thread (the blocking connector calls), or a task
//! on the runtime the pool was built in when its connector does its own async I/O
//! ([`Connector::ASYNC_IO`]). The worker sleeps until the next deadline among the idle
//! connections, or until it is poked (a checkout under `min_idle`, an invalidation, a
//! dispose), and holds only a weak handle on the pool between sweeps, so it never keeps
//! a dropped pool alive. A sweep picks the idle entries that need something under the
//! strategy's lock ([`Strategy::take_idle`]), then closes, pings or connects them with the
//! lock released, and gives each back ([`Strategy::release`]) or frees its slot
//! ([`Strategy::forget`]). Nothing here runs when none of the settings is on.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::config::PoolConfig;
use crate::error::{CheckoutError, ErrorChain};
use crate::events::ErrorOrigin;
use crate::io::{now, Blocking, Io, NonBlocking};
use crate::pool::{Core, Inner, Invalidation};
use crate::record::PoolEntry;
use crate::stats::CloseCause;
use crate::strategy::Strategy;
use crate::Connector;

/// The least time between two sweeps that pokes ask for, so that a busy pool under
/// `min_idle` does not keep its worker spinning.
const POKE_INTERVAL: Duration = Duration::from_millis(10);
/// The first pause after a failed connect of the fill, doubled after each failure.
const FILL_BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// The longest pause between fill attempts.
const FILL_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// The share of `max_lifetime` taken off at random, so connections opened together do
/// not all end together (HikariCP's 2.5 %).
const LIFETIME_JITTER: f64 = 0.025;

/// How the pool and its worker reach each other.
pub(crate) struct Signal {
    flags: Mutex<Flags>,
    wake: Condvar,
    wake_task: tokio::sync::Notify,
    /// Set by the worker when a poke should wake it; a poke clears it, so a burst of
    /// pokes costs one wake-up and the rest one atomic swap each.
    armed: AtomicBool,
}

#[derive(Default)]
struct Flags {
    poked: bool,
    stopped: bool,
}

impl Signal {
    fn new() -> Arc<Self> {
        Arc::new(Signal {
            flags: Mutex::new(Flags::default()),
            wake: Condvar::new(),
            wake_task: tokio::sync::Notify::new(),
            armed: AtomicBool::new(false),
        })
    }

    /// Asks for a sweep soon (at most one per [`POKE_INTERVAL`]).
    #[inline]
    pub(crate) fn poke(&self) {
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::AcqRel) {
            self.deliver(false);
        }
    }

    /// Stops the worker (the pool is closed or dropped).
    pub(crate) fn stop(&self) {
        self.deliver(true);
    }

    #[cold]
    fn deliver(&self, stop: bool) {
        let mut flags = self.flags.lock();
        flags.poked = true;
        flags.stopped |= stop;
        drop(flags);
        self.wake.notify_all();
        self.wake_task.notify_one();
    }

    fn stopped(&self) -> bool {
        self.flags.lock().stopped
    }
}

/// When the next sweep is due, and the state kept between sweeps.
struct Worker {
    signal: Arc<Signal>,
    /// The pause after the last failed fill, doubled after each failure in a row.
    backoff: Option<Duration>,
    /// No fill is tried before this (after a failed one).
    fill_not_before: Option<Instant>,
    last_sweep: Instant,
    /// The `metrics` export, and when it publishes next.
    #[cfg(feature = "metrics")]
    /// The exporter and when it publishes next (`None`: never again, for a period past
    /// the clock's range).
    export: Option<(crate::export::Exporter, Option<Instant>)>,
}

impl Worker {
    /// What to wait for after a sweep: until `next`, or a poke, or a stop; `Err` to stop.
    fn wait_thread(&mut self, next: Option<Instant>) -> Result<(), ()> {
        let signal = &self.signal;
        let mut flags = signal.flags.lock();
        loop {
            if flags.stopped {
                return Err(());
            }
            if flags.poked {
                flags.poked = false;
                // Pokes ask for a sweep, but not more often than every POKE_INTERVAL.
                let not_before = self.last_sweep + POKE_INTERVAL;
                while !flags.stopped && Instant::now() < not_before {
                    signal.wake.wait_until(&mut flags, not_before);
                }
                flags.poked = false;
                return if flags.stopped { Err(()) } else { Ok(()) };
            }
            match next {
                Some(at) => {
                    if signal.wake.wait_until(&mut flags, at).timed_out() {
                        return if flags.stopped { Err(()) } else { Ok(()) };
                    }
                }
                None => signal.wake.wait(&mut flags),
            }
        }
    }

    /// [`wait_thread`](Self::wait_thread) for the task.
    async fn wait_task(&mut self, next: Option<Instant>) -> Result<(), ()> {
        let signal = Arc::clone(&self.signal);
        loop {
            let notified = signal.wake_task.notified();
            let poked = {
                let mut flags = signal.flags.lock();
                if flags.stopped {
                    return Err(());
                }
                mem::take(&mut flags.poked)
            };
            if poked {
                // Pokes ask for a sweep, but not more often than every POKE_INTERVAL.
                tokio::time::sleep_until((self.last_sweep + POKE_INTERVAL).into()).await;
                signal.flags.lock().poked = false;
                return if signal.stopped() { Err(()) } else { Ok(()) };
            }
            match next {
                Some(at) => {
                    if tokio::time::timeout_at(at.into(), notified).await.is_err() {
                        return if signal.stopped() { Err(()) } else { Ok(()) };
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Runs one sweep (catching a panic from a listener or the connector, which the
    /// guards have already cleaned up after) and says when the next one is due.
    async fn sweep<I: Io, C: Connector, S: Strategy<C>>(
        &mut self,
        inner: &Inner<C, S>,
    ) -> Option<Instant> {
        self.signal.armed.store(true, Ordering::Release);
        let start = Instant::now();
        self.last_sweep = start;
        let may_fill = self.fill_not_before.is_none_or(|t| start >= t);
        let outcome = CatchUnwind(Box::pin(sweep::<I, C, S>(inner, may_fill))).await;
        match outcome {
            Ok(swept) => {
                match swept.fill {
                    Fill::Failed => {
                        let pause = self
                            .backoff
                            .map_or(FILL_BACKOFF_FIRST, |b| (b * 2).min(FILL_BACKOFF_MAX));
                        self.backoff = Some(pause);
                        self.fill_not_before = Some(Instant::now() + pause);
                    }
                    Fill::Done => {
                        self.backoff = None;
                        self.fill_not_before = None;
                    }
                    Fill::Deferred => {}
                }
                let next =
                    earliest(swept.next, self.fill_not_before.filter(|_| swept.fill != Fill::Done));
                earliest(next, self.publish(inner))
            }
            Err(_) => {
                tracing::error!(
                    pool = %inner.core.name(),
                    "Pool maintenance panicked (a listener or the connector); retrying in 1 s"
                );
                Some(Instant::now() + Duration::from_secs(1))
            }
        }
    }
}

impl Worker {
    /// Publishes the metrics if they are due; when they are due next.
    #[cfg(feature = "metrics")]
    fn publish<C: Connector, S: Strategy<C>>(&mut self, inner: &Inner<C, S>) -> Option<Instant> {
        let (exporter, due) = self.export.as_mut()?;
        let now = Instant::now();
        if due.is_some_and(|due| now >= due) {
            let core = &inner.core;
            let stats = core.stats.snapshot(|| inner.strategy.handed_out());
            exporter.publish::<C, S>(&inner.strategy, stats, core.config.min_idle);
            let every = core.config.export_every.expect("set when exporting");
            *due = now.checked_add(every);
        }
        *due
    }

    #[cfg(not(feature = "metrics"))]
    fn publish<C: Connector, S: Strategy<C>>(&mut self, _inner: &Inner<C, S>) -> Option<Instant> {
        None
    }
}

/// Starts the worker of a pool whose settings need one.
pub(crate) fn start<C: Connector, S: Strategy<C>>(
    pool: &Arc<Inner<C, S>>,
) -> Result<(), std::io::Error> {
    let Some(signal) = pool.core.signal.clone() else { return Ok(()) };
    let weak = Arc::downgrade(pool);
    let worker = Worker {
        signal,
        backoff: None,
        fill_not_before: None,
        last_sweep: Instant::now(),
        #[cfg(feature = "metrics")]
        export: pool
            .core
            .config
            .export_every
            .map(|_| (crate::export::Exporter::new(pool.core.name()), Some(Instant::now()))),
    };
    if C::ASYNC_IO {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(run_task(weak, worker));
            return Ok(());
        }
    }
    std::thread::Builder::new()
        .name(format!("sqlpool:{}", pool.core.name()))
        .spawn(move || run_thread(weak, worker))?;
    Ok(())
}

fn run_thread<C: Connector, S: Strategy<C>>(pool: Weak<Inner<C, S>>, mut worker: Worker) {
    loop {
        let next = {
            let Some(inner) = pool.upgrade() else { return };
            if worker.signal.stopped() {
                return;
            }
            now(worker.sweep::<Blocking, C, S>(&inner))
            // A pool dropped meanwhile is dropped here, by this thread.
        };
        if worker.wait_thread(next).is_err() {
            return;
        }
    }
}

async fn run_task<C: Connector, S: Strategy<C>>(pool: Weak<Inner<C, S>>, mut worker: Worker) {
    loop {
        let next = {
            let Some(inner) = pool.upgrade() else { return };
            if worker.signal.stopped() {
                return;
            }
            worker.sweep::<NonBlocking, C, S>(&inner).await
        };
        if worker.wait_task(next).await.is_err() {
            return;
        }
    }
}

/// A future that turns a panic while polled into `Err`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a sweep found.
struct Swept {
    /// When the next deadline falls.
    next: Option<Instant>,
    /// How the connects for `min_idle` went.
    fill: Fill,
}

/// How a sweep's connects for `min_idle` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// None was needed, or all succeeded.
    Done,
    /// One failed; the next waits for the backoff.
    Failed,
    /// Some were needed, but the backoff of an earlier failure was not over.
    Deferred,
}

/// What a sweep does with an idle entry it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Past its `max_lifetime`: close it.
    Expired,
    /// Idle past `idle_timeout`, above `min_idle`: close it.
    IdleTooLong,
    /// Idle past `keepalive`: ping it.
    Keepalive,
    /// A record without a connection, wanted for `min_idle`: connect it.
    Connect,
}

/// The choice made under the strategy's lock: which idle entries to take and why, and
/// when the next deadline among those left falls.
struct Plan<'a> {
    config: &'a PoolConfig,
    now: Instant,
    verdicts: Vec<Verdict>,
    next: Option<Instant>,
    /// Idle connections that stay open after this sweep.
    kept_open: usize,
}

impl Plan<'_> {
    fn pick<C: Connector>(&mut self, idle: &[PoolEntry<C>]) -> Vec<bool> {
        let cfg = self.config;
        let now = self.now;
        let expired = |e: &PoolEntry<C>| e.inner.record.expires_at.is_some_and(|t| t <= now);
        let open = idle.iter().filter(|e| e.is_connected() && !expired(e)).count();
        let mut removable = open.saturating_sub(cfg.min_idle);
        let mut to_connect = cfg.min_idle.saturating_sub(open);
        self.kept_open = open;
        idle.iter()
            .map(|e| {
                let record = &e.inner.record;
                let verdict = if !e.is_connected() {
                    (to_connect > 0).then(|| {
                        to_connect -= 1;
                        Verdict::Connect
                    })
                } else if expired(e) {
                    Some(Verdict::Expired)
                } else {
                    // A deadline past the clock's range is never due.
                    let after = |(d, t): (Duration, Instant)| t.checked_add(d);
                    let idle_due = cfg.idle_timeout.zip(record.idle_since).and_then(after);
                    let alive_due = cfg.keepalive.zip(record.alive_at).and_then(after);
                    if removable > 0 && idle_due.is_some_and(|t| t <= now) {
                        removable -= 1;
                        self.kept_open -= 1;
                        Some(Verdict::IdleTooLong)
                    } else if alive_due.is_some_and(|t| t <= now) {
                        Some(Verdict::Keepalive)
                    } else {
                        // Left idle: its deadlines set the next sweep (a past idle
                        // deadline kept by `min_idle` sets none).
                        for due in [record.expires_at, idle_due.filter(|t| *t > now), alive_due] {
                            self.next = earliest(self.next, due);
                        }
                        None
                    }
                };
                if let Some(v) = verdict {
                    self.verdicts.push(v);
                }
                verdict.is_some()
            })
            .collect()
    }
}

/// One sweep: take what is due, act on it outside the lock, fill up to `min_idle`.
async fn sweep<I: Io, C: Connector, S: Strategy<C>>(inner: &Inner<C, S>, may_fill: bool) -> Swept {
    let core = &inner.core;
    let config = &core.config;
    let mut plan =
        Plan { config, now: Instant::now(), verdicts: Vec::new(), next: None, kept_open: 0 };
    let taken = inner.strategy.take_idle(&mut |idle| plan.pick(idle));
    let mut open = plan.kept_open;
    let mut fill = Fill::Done;
    // Guarded at once: if a listener panics, those not handled yet are closed too.
    let taken: Vec<_> = taken.into_iter().map(|entry| Held { inner, entry: Some(entry) }).collect();
    for (mut held, verdict) in taken.into_iter().zip(plan.verdicts) {
        let id = held.entry().inner.record.id;
        match verdict {
            Verdict::Expired => {
                tracing::debug!(pool = %core.name(), "Connection {id} reached its max_lifetime; closing");
                held.close(CloseCause::MaxLifetime);
            }
            Verdict::IdleTooLong => {
                tracing::debug!(pool = %core.name(), "Connection {id} idle longer than idle_timeout; closing");
                held.close(CloseCause::IdleTimeout);
            }
            Verdict::Keepalive => {
                if keepalive::<I, C, S>(&mut held).await {
                    held.give_back();
                } else {
                    open -= 1;
                    held.forget();
                }
            }
            Verdict::Connect => {
                if open >= config.min_idle || !may_fill || fill != Fill::Done {
                    if open < config.min_idle && fill == Fill::Done {
                        fill = Fill::Deferred;
                    }
                    held.give_back();
                    continue;
                }
                match core.connect::<I>(held.entry()).await {
                    Ok(()) => {
                        open += 1;
                        held.give_back();
                    }
                    Err(err) => {
                        fill = Fill::Failed;
                        tracing::warn!(pool = %core.name(), "Could not open a connection for min_idle: {}", ErrorChain::new(&err));
                        held.forget();
                    }
                }
            }
        }
    }
    // Open new connections while fewer than `min_idle` are idle and the pool has room.
    if open < config.min_idle && !may_fill && fill == Fill::Done {
        fill = Fill::Deferred;
    }
    while open < config.min_idle && fill == Fill::Done {
        if !inner.strategy.reserve() {
            break;
        }
        match fill_one::<I, C, S>(inner).await {
            Ok(()) => open += 1,
            Err(err) => {
                fill = Fill::Failed;
                tracing::warn!(pool = %core.name(), "Could not open a connection for min_idle: {}", ErrorChain::new(&err));
            }
        }
    }
    // Connections held too long are reported; the next one falls due then.
    let leaks_due = core.leases.as_ref().and_then(|leases| leases.scan(core.name()));
    // A connection returned (or checked out) after this sweep is due no sooner than a
    // full period away.
    let period = [
        config.idle_timeout,
        config.keepalive,
        config.max_lifetime.map(lifetime_floor),
        config.leak_threshold,
    ]
    .into_iter()
    .flatten()
    .min();
    let next = earliest(
        earliest(plan.next, leaks_due),
        period.and_then(|p| Instant::now().checked_add(p)),
    );
    Swept { next, fill }
}

/// Opens one connection in a slot [`Strategy::reserve`] counted, and gives it to the
/// pool; on failure the slot is freed.
pub(crate) async fn fill_one<I: Io, C: Connector, S: Strategy<C>>(
    inner: &Inner<C, S>,
) -> Result<(), CheckoutError<C::Error>> {
    let mut held = Held { inner, entry: Some(inner.core.empty_entry()) };
    match inner.core.connect::<I>(held.entry()).await {
        Ok(()) => {
            held.give_back();
            Ok(())
        }
        Err(err) => {
            held.forget();
            Err(err)
        }
    }
}

/// Pings an idle connection; on failure invalidates it as a failed pre-ping does (and
/// the pool's generation on a disconnect). Whether it is still good.
async fn keepalive<I: Io, C: Connector, S: Strategy<C>>(held: &mut Held<'_, C, S>) -> bool {
    let core = &held.inner.core;
    let entry = held.entry.as_mut().expect("held");
    let e = &mut *entry.inner;
    let id = e.record.id;
    let conn = e.conn.as_mut().expect("a keepalive is for an open connection");
    tracing::debug!(pool = %core.name(), "Keepalive ping on connection {id}");
    // A disconnect (after `handle_error`) also invalidates the pool, unless a listener
    // said otherwise.
    let generation = e.record.generation;
    let judge = |error: &(dyn std::error::Error + 'static), known: bool| {
        let verdict = core.judge(error, ErrorOrigin::Keepalive, known, true);
        if verdict.disconnect && verdict.invalidate_pool {
            core.invalidate_generation_of(generation);
        }
    };
    let failure: Box<dyn std::error::Error + Send + Sync> =
        match I::ping(core.connector(), conn, core.config.ping_timeout).await {
            Ok(Some(Ok(()))) | Ok(None) => {
                e.record.alive_at = Some(Instant::now());
                return true;
            }
            Ok(Some(Err(err))) => {
                judge(&err, core.connector().is_disconnect(&err));
                Box::new(KeepaliveFailed(ErrorChain::new(&err).to_string()))
            }
            Err(timeout) => {
                judge(&timeout, false);
                Box::new(timeout)
            }
        };
    tracing::info!(pool = %core.name(), "Keepalive ping on connection {id} failed: {failure}");
    core.invalidate(entry, Some(&*failure), Invalidation::Close(CloseCause::Invalidated), true);
    false
}

/// Why a keepalive invalidated a connection.
#[derive(Debug)]
struct KeepaliveFailed(String);

impl std::fmt::Display for KeepaliveFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "keepalive ping failed: {}", self.0)
    }
}

impl std::error::Error for KeepaliveFailed {}

/// An entry the maintenance took from the strategy: given back, or closed and
/// forgotten. If the sweep panics or its task is dropped, the connection is closed
/// without events and its slot freed, so nothing is lost.
pub(crate) struct Held<'a, C: Connector, S: Strategy<C>> {
    pub(crate) inner: &'a Inner<C, S>,
    pub(crate) entry: Option<PoolEntry<C>>,
}

impl<C: Connector, S: Strategy<C>> Held<'_, C, S> {
    pub(crate) fn entry(&mut self) -> &mut PoolEntry<C> {
        self.entry.as_mut().expect("held until given back or forgotten")
    }

    /// Back to the pool, idle since now.
    pub(crate) fn give_back(mut self) {
        let mut entry = self.entry.take().expect("held");
        let now = Instant::now();
        let record = &mut entry.inner.record;
        record.idle_since = Some(now);
        record.alive_at = Some(now);
        self.inner.strategy.release(&self.inner.core, entry);
    }

    /// Back to the pool as it was (kept by `retain`).
    pub(crate) fn keep(mut self) {
        let entry = self.entry.take().expect("held");
        self.inner.strategy.release(&self.inner.core, entry);
    }

    /// Closes the connection (the `close` event fires) and frees the slot.
    pub(crate) fn close(mut self, cause: CloseCause) {
        let core = &self.inner.core;
        core.close_connection(self.entry(), false, true, cause);
        self.forget();
    }

    /// Frees the slot of an entry whose connection is closed.
    pub(crate) fn forget(mut self) {
        let entry = self.entry.take().expect("held");
        self.inner.strategy.forget(&self.inner.core, entry);
    }
}

impl<C: Connector, S: Strategy<C>> Drop for Held<'_, C, S> {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            let core = &self.inner.core;
            core.close_connection(&mut entry, true, false, CloseCause::Invalidated);
            self.inner.strategy.forget(core, entry);
        }
    }
}

/// The signal of a pool built with these settings: `None` when none of them is on.
pub(crate) fn signal_for(config: &PoolConfig) -> Option<Arc<Signal>> {
    config.maintained().then(Signal::new)
}

/// When a connection opened now reaches its `max_lifetime`: up to 2.5 % earlier, at
/// random, so that connections opened together do not all close together.
pub(crate) fn expiry(config: &PoolConfig, opened: Instant) -> Option<Instant> {
    let lifetime = config.max_lifetime?;
    let spread = lifetime.mul_f64(LIFETIME_JITTER);
    let random = RandomState::new().hash_one(opened) as f64 / u64::MAX as f64;
    opened.checked_add(lifetime - spread.mul_f64(random))
}

/// The shortest a connection may live under `max_lifetime` (jitter included).
fn lifetime_floor(lifetime: Duration) -> Duration {
    lifetime - lifetime.mul_f64(LIFETIME_JITTER)
}

/// How long dropping a pool outside any runtime waits for its idle connections to close.
const DROP_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Closes the idle connections of a pool being dropped, gracefully (the `close` event,
/// then [`Connector::close`]).
///
/// A [`LOCAL`](Connector::LOCAL) connector closes them on the dropping thread. Any other
/// closes them on a thread of its own, which a dropping thread outside any async runtime
/// waits for, up to [`DROP_CLOSE_WAIT`] (so that a program ending after it drops its
/// pool says goodbye to the server, and a silent server cannot hang it), and a runtime's
/// thread does not wait for at all (the closing thread then runs in that runtime's
/// context).
pub(crate) fn close_orphans<C: Connector>(core: Core<C>, idle: Vec<PoolEntry<C>>) {
    let close_all = move || {
        // A panicking `close` listener is caught here: nobody is there to hear it.
        let closing = || {
            crate::each_despite_panics(idle, |mut entry| {
                core.close_entry(&mut entry, CloseCause::Closed)
            })
        };
        let _ = panic::catch_unwind(AssertUnwindSafe(closing));
    };
    if C::LOCAL {
        return close_all();
    }
    // Dropped on a runtime's thread: the closing thread enters that runtime, as the
    // dropping thread was in it (an async driver's close may need its context, as
    // deadpool-sqlite's does to hand the close to a blocking thread).
    let runtime = tokio::runtime::Handle::try_current().ok();
    let in_runtime = runtime.is_some();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("sqlpool-close".to_owned()).spawn(move || {
        let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
        close_all();
        drop(done);
    });
    match spawned {
        Err(err) => {
            tracing::error!("Could not start a thread to close a dropped pool's connections: {err}")
        }
        Ok(_) if !in_runtime => {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                finished.recv_timeout(DROP_CLOSE_WAIT)
            {
                tracing::warn!(
                    "A dropped pool's idle connections were still closing after {DROP_CLOSE_WAIT:?}; \
                     they go on closing in the background"
                );
            }
        }
        Ok(_) => {}
    }
}
