//! The seam between the core and a pool strategy.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::error::{BuildError, CheckoutError};
use crate::pool::Core;
use crate::record::{ConnectionRecord, PoolEntry};
use crate::Connector;

/// Where idle connections wait and how callers wait for them: all a pool strategy does.
///
/// The core owns everything else (connecting, pre-ping, recycle, invalidation, reset,
/// events), so a strategy never opens, resets or closes a connection itself: it asks
/// [`Core`] to. A strategy is built from its [`Config`](Strategy::Config), which the pool
/// keeps so that [`Pool::recreate`](crate::Pool::recreate) can build a twin.
///
/// Implementations must keep one invariant: every entry handed out by
/// [`acquire`](Strategy::acquire) comes back exactly once through
/// [`release`](Strategy::release), and the core guarantees that on every path,
/// including failed checkouts and panics.
pub trait Strategy<C: Connector>: Send + Sync + Sized + 'static {
    /// The strategy's own settings (sizes, timeouts).
    type Config: Clone + Default + fmt::Debug + Send + Sync + 'static;

    /// The pool's name in messages and logs (`"QueuePool"`).
    const NAME: &'static str;

    /// Builds the strategy, refusing a configuration it cannot honour.
    fn build(config: &Self::Config) -> Result<Self, BuildError>;

    /// Takes an idle entry, or makes a new one with [`Core::new_entry`], waiting for one
    /// to come back if the strategy's limits say so.
    ///
    /// The entry may be unconnected; the core connects it.
    fn acquire(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>>;

    /// [`acquire`](Strategy::acquire), waiting at most `wait` for a connection to come
    /// back instead of the strategy's own timeout (zero: not at all), for
    /// [`Pool::try_get`](crate::Pool::try_get) and
    /// [`Pool::get_timeout`](crate::Pool::get_timeout).
    ///
    /// The default calls `acquire`: right for a strategy that never waits.
    fn acquire_within(
        &self,
        core: &Core<C>,
        wait: Duration,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let _ = wait;
        self.acquire(core)
    }

    /// Takes back an entry: keep it for the next caller, hand it to a waiter, or close it
    /// with [`Core::close_entry`].
    fn release(&self, core: &Core<C>, entry: PoolEntry<C>);

    /// Closes the idle connections; checked-out ones are left to come back normally.
    fn dispose(&self, core: &Core<C>);

    /// Shuts the strategy down for [`Pool::close`](crate::Pool::close): fails every
    /// caller waiting for a connection with [`CheckoutError::PoolClosed`] and closes the
    /// idle connections. From then on [`acquire`](Strategy::acquire) (and the async
    /// acquire) fails at once with `PoolClosed`, and [`release`](Strategy::release)
    /// closes what comes back. The core leaves all of it to the strategy, so that a
    /// checkout and a return of an open pool pay nothing for it.
    fn close(&self, core: &Core<C>);

    /// How many idle connections the strategy can keep for the core to look after: the
    /// background maintenance (`min_idle`, `idle_timeout`, `max_lifetime`, `keepalive`),
    /// [`Pool::retain`](crate::Pool::retain), and closing idle connections when the pool
    /// is dropped. `Some(usize::MAX)` when nothing bounds it.
    ///
    /// The default, `None`, says the strategy keeps none the core may take (NullPool
    /// keeps none; SingletonThreadPool's belong to threads): the builder then refuses the
    /// maintenance settings, and `retain` closes nothing. A strategy that answers `Some`
    /// implements [`take_idle`](Self::take_idle), [`forget`](Self::forget) and
    /// [`reserve`](Self::reserve).
    fn idle_capacity(&self) -> Option<usize> {
        None
    }

    /// The idle connections of a pool being dropped, for the core to close without
    /// blocking the dropping thread (the last handle is gone, so none is checked out).
    ///
    /// The default takes the connected idle entries with [`take_idle`](Self::take_idle)
    /// when the strategy has an [`idle_capacity`](Self::idle_capacity), and none
    /// otherwise; a strategy that keeps idle connections the core does not look after
    /// (AssertionPool's one, SingletonThreadPool's per thread) overrides it.
    fn drain_on_drop(&mut self) -> Vec<PoolEntry<C>> {
        if self.idle_capacity().is_none() {
            return Vec::new();
        }
        self.take_idle(&mut |idle| idle.iter().map(PoolEntry::is_connected).collect())
    }

    /// Takes out of the pool the idle entries `pick` chooses.
    ///
    /// Call `pick` once, under the strategy's lock, with the idle entries least recently
    /// used first; it returns, for each, whether to take it. It only reads records (no
    /// I/O, no application code). The entries taken stay counted, as if checked out,
    /// until the core gives each back with [`release`](Self::release) or, having closed
    /// it, with [`forget`](Self::forget).
    fn take_idle(&self, pick: &mut Pick<'_, C>) -> Vec<PoolEntry<C>> {
        let _ = pick;
        Vec::new()
    }

    /// Frees the slot of an entry the core closed for good (one taken with
    /// [`take_idle`](Self::take_idle), one past its `max_lifetime` on return, or one
    /// opened for [`reserve`](Self::reserve) whose connect failed), as `release` frees
    /// the slot of a connection it closes: a caller waiting for a slot may take it.
    fn forget(&self, core: &Core<C>, entry: PoolEntry<C>) {
        let _ = (core, entry);
    }

    /// Counts a slot for one more idle connection, for `min_idle`, if the strategy may
    /// open one more and keep it idle (below its limits, not closed); the core then opens
    /// a connection in it and gives it to [`release`](Self::release), or to
    /// [`forget`](Self::forget) if the connect fails.
    fn reserve(&self) -> bool {
        false
    }

    /// Takes in an entry holding a connection made elsewhere, for
    /// [`Pool::add`](crate::Pool::add): keep it idle or hand it to a waiter if the
    /// strategy has room for one more connection, else give it back.
    ///
    /// The default gives it back: right for a strategy that keeps no idle connection.
    fn add(&self, core: &Core<C>, entry: PoolEntry<C>) -> Result<(), PoolEntry<C>> {
        let _ = core;
        Err(entry)
    }

    /// Whether the core keeps the backtrace of each checkout, for the strategy's own
    /// messages ([`Core::checkout_backtrace`]): AssertionPool's `store_traceback`. The same
    /// record serves `leak_threshold`. Default `false`.
    fn traces_checkouts(&self) -> bool {
        false
    }

    /// How many entries `acquire`, `acquire_within` and the async acquires have returned
    /// since the strategy was built: the base of
    /// [`Statistics::checkouts`](crate::Statistics::checkouts), which subtracts the
    /// checkouts that then failed.
    ///
    /// Count where it costs nothing: a plain integer under the lock the idle path takes
    /// anyway, an atomic on paths that wait or connect. (An atomic add on the idle path
    /// would cost more than a tenth of an uncontended checkout.)
    fn handed_out(&self) -> u64;

    /// The counts that describe the strategy right now.
    fn status(&self) -> PoolStatus;

    /// The status as one line, in SQLAlchemy's words for this pool type.
    fn status_line(&self) -> String;
}

/// The predicate of [`Pool::retain`](crate::Pool::retain): whether to keep an idle
/// connection, given it and its record.
pub type Keep<'a, C> =
    dyn FnMut(&mut <C as Connector>::Connection, &ConnectionRecord<C>) -> bool + 'a;

/// What [`Strategy::take_idle`] asks: given the idle entries, least recently used
/// first, which to take.
pub type Pick<'a, C> = dyn FnMut(&[PoolEntry<C>]) -> Vec<bool> + 'a;

/// Counts that describe a pool at one moment.
///
/// Every field means the same thing for every strategy:
///
/// | strategy | `pool_size` | `max_size` | `overflow` |
/// |---|---|---|---|
/// | `QueuePool` | `pool_size` | `pool_size + max_overflow` (`None`: unlimited overflow, or `pool_size` 0) | open connections beyond `pool_size` (negative below it) |
/// | `NullPool` | 0 | `None` | 0 |
/// | `SingletonThreadPool` | `pool_size` | `None` (one per thread) | kept connections beyond `pool_size` |
/// | `StaticPool`, `AssertionPool` | 1 | `Some(1)` | 0 |
///
/// How each connection is counted, at the moment of the call (the counts are read
/// under the strategy's lock, so they are consistent with one another):
///
/// - A checkout whose connect is in flight counts as **checked out** (it holds a
///   slot), not as waiting: deadpool counts such a caller in `waiting` and bb8 in
///   `pending`. So do connections the maintenance worker is opening for `min_idle`,
///   pinging for `keepalive`, or that `retain` is judging.
/// - `waiting` counts only callers parked for a connection or a slot (QueuePool,
///   StaticPool); a caller retrying a failed connect under `connect_retry` is checked
///   out, not waiting.
/// - `idle` counts records in the pool, including one whose connection was invalidated
///   and that reconnects at its next checkout (SQLAlchemy keeps the record); such a
///   record holds no server session.
/// - A connection being reset after its holder dropped it is still checked out until
///   the reset ends (an async return runs as a task).
/// - After [`close`](crate::Pool::close), `idle` is 0 and `checked_out` falls as holders
///   return.
/// - A detached connection is no longer counted: its record goes back to the pool at
///   once, idle and without a connection, as SQLAlchemy's does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolStatus {
    /// How many connections the pool keeps open while they are idle: the `pool_size`
    /// setting (0 when the strategy keeps none).
    pub pool_size: usize,
    /// The most connections the pool has open at once, idle and checked out together;
    /// `None` when nothing bounds it.
    pub max_size: Option<usize>,
    /// Connections waiting in the pool (SQLAlchemy's `checkedin()`).
    pub idle: usize,
    /// Connections beyond `pool_size` (SQLAlchemy's `overflow()`; negative while the
    /// pool has not reached `pool_size`).
    pub overflow: isize,
    /// Connections held by callers (SQLAlchemy's `checkedout()`).
    pub checked_out: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl PoolStatus {
    /// A status with these counts, in the order of the fields.
    pub fn new(
        pool_size: usize,
        max_size: Option<usize>,
        idle: usize,
        overflow: isize,
        checked_out: usize,
        waiting: usize,
    ) -> Self {
        PoolStatus { pool_size, max_size, idle, overflow, checked_out, waiting }
    }
}

/// A strategy that can also wait without blocking, for
/// [`Pool::get_async`](crate::Pool::get_async).
///
/// The core's asynchronous checkout asks [`acquire_async`](Self::acquire_async) for an
/// entry, then connects, pings and runs listeners itself with the connector's `_async`
/// methods; the return of such a connection is handed to
/// [`run_return`](Self::run_return).
pub trait AsyncStrategy<C: Connector>: Strategy<C> {
    /// [`acquire`](Strategy::acquire) without blocking the thread.
    ///
    /// It must be cancellation safe: if the future is dropped before it completes, no
    /// entry is lost and no waiter slot is left behind. New entries should be connected
    /// with [`Core::new_entry_async`].
    fn acquire_async<'a>(
        &'a self,
        core: &'a Core<C>,
    ) -> impl Future<Output = Result<PoolEntry<C>, CheckoutError<C::Error>>> + Send + 'a;

    /// [`acquire_async`](Self::acquire_async), waiting at most `wait` (zero: not at all)
    /// instead of the strategy's own timeout, as [`Strategy::acquire_within`] does.
    ///
    /// The default calls `acquire_async`: right for a strategy that never waits.
    fn acquire_async_within<'a>(
        &'a self,
        core: &'a Core<C>,
        wait: Duration,
    ) -> impl Future<Output = Result<PoolEntry<C>, CheckoutError<C::Error>>> + Send + 'a {
        let _ = wait;
        self.acquire_async(core)
    }

    /// Runs the return of a connection checked out with `get_async` (reset, events,
    /// release), called when its handle is dropped.
    ///
    /// Inside their runtime, implementations poll `task` once at once, so that a return
    /// whose reset does not wait is finished when the drop returns, and run the rest in
    /// the background; on a thread outside any runtime (blocking code) they may finish it
    /// there, as a blocking pool would. Until the task ends, the entry counts as checked
    /// out; if the task is dropped unfinished (a runtime shutting down), the connection
    /// is closed and its entry released, never pooled half reset.
    ///
    /// [`rt::run_return`](crate::rt::run_return) does all of this; strategies call it
    /// with the runtime their async checkouts ran on.
    fn run_return(&self, task: crate::rt::ReturnTask);
}

/// The calling thread's id, read from a thread-local: `thread::current().id()` costs a
/// reference count round trip, which strategies keyed by thread pay on every checkout.
pub fn current_thread_id() -> std::thread::ThreadId {
    thread_local! {
        static ID: std::thread::ThreadId = std::thread::current().id();
    }
    ID.with(|id| *id)
}
