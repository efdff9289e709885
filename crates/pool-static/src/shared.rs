//! The `Static` strategy: one connection, handed to one holder at a time.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use pool_core::rt::{ReturnRuntime, ReturnTask};
use pool_core::{
    AsyncStrategy, BuildError, CheckoutError, CloseCause, Connector, Core, Pick, PoolEntry,
    PoolStatus, Strategy, TimeoutError, WaitEnd,
};
use tracing::Instrument;

use crate::config::StaticConfig;

/// SQLAlchemy's `StaticPool` as a [`Strategy`]: exactly one connection for every
/// checkout, opened at the first one. Use it through the [`StaticPool`](crate::StaticPool)
/// alias.
///
/// The pool keeps one record (SQLAlchemy's `_ConnectionRecord`) and lends it to one
/// holder at a time:
///
/// - **Another thread waits.** A checkout while another thread holds the connection waits
///   for it to come back, up to the configured timeout
///   ([`StaticConfig::timeout`](crate::StaticConfig::timeout), 30 s by default), and then
///   fails with [`CheckoutError::Timeout`]. Waiters are woken one at a time as the
///   connection comes back.
/// - **The holding thread is refused.** A second checkout by the thread that holds the
///   connection could only wait for itself, so it fails at once with
///   [`CheckoutError::Unavailable`], whose message says to return the first one. (The
///   check looks at the thread that checked the connection out: if that thread handed the
///   guard to another thread, its own next checkout is refused rather than made to wait.)
/// - **Replacement is the core's.** A connection that was invalidated (the record comes
///   back empty), soft-invalidated, recycled by age or older than the pool generation is
///   closed and replaced on the same record at the next checkout, like in every strategy.
/// - **`dispose` closes it.** If the connection is idle,
///   [`Pool::dispose`](pool_core::Pool::dispose) closes it at once; if it is checked out,
///   it is closed when its holder returns it (after the usual reset), and no one else
///   gets it in between. Either way the record is forgotten and the next checkout opens a
///   new connection on a new record.
///
/// Status: `size` 1, `idle` 1 while the record waits in the pool (0 before the first
/// checkout, while it is out, and after `dispose`), `checked_out` 0 or 1, `waiting` the
/// threads waiting for it; `status_line()` is `"StaticPool"`.
///
/// # Differences from SQLAlchemy
///
/// - **One holder at a time.** SQLAlchemy hands the same DBAPI connection to every
///   concurrent `connect()`; each gets its own checked-out wrapper, each wrapper's close
///   resets (rolls back) the shared connection again, and only the first one checks it
///   in. In Rust two holders of one connection would mean shared mutable access, so the
///   connection goes to one holder at a time: other threads wait with the pool's timeout,
///   and the holding thread's own second checkout is an error rather than a deadlock.
///   Each checkout is reset and checked in exactly once.
/// - **Replaced connections are closed.** SQLAlchemy's `StaticPool` drops a
///   soft-invalidated or pool-invalidated connection without closing it (semantics §5.2,
///   item 4), leaving it to the garbage collector. Here the core replaces it through its
///   recycle path, which closes the old connection (and fires `close`) first.
/// - **The record survives replacement.** SQLAlchemy's `StaticPool` makes a new record
///   (with a new `record_info`) when it finds its connection invalidated (hard, soft or
///   pool-wide); here the replacement keeps the record, so `record_info` survives, as in
///   every strategy of this library. Only `dispose` starts a new record, as SQLAlchemy's
///   does.
/// - **`dispose` while checked out** cannot close a connection its holder is using, so
///   it closes it when it comes back. SQLAlchemy (since 1.4.3, #6145) closes it at once,
///   under the holder's feet.
/// - A `timeout` exists: SQLAlchemy's `StaticPool` never waits, since it never refuses.
///
/// # Async
///
/// [`Pool::get_async`](pool_core::Pool::get_async) waits for the connection without
/// blocking, in the same wait as the threads (with the same timeout), and opens it with
/// the connector's `connect_async`. A task has no thread of its own (it moves between a
/// runtime's workers), so a task that already holds the connection and asks again is not
/// refused at once: it waits, and fails with the timeout.
pub struct Static<C: Connector> {
    config: StaticConfig,
    state: Mutex<State<C>>,
    /// Signalled when the connection becomes free.
    freed: Condvar,
    /// Where async returns made outside a runtime run.
    runtime: ReturnRuntime,
}

struct State<C: Connector> {
    /// The record, while it waits in the pool: `None` before the first checkout, while
    /// it is out, and after `dispose`.
    idle: Option<PoolEntry<C>>,
    holder: Holder,
    /// Threads and tasks waiting for the connection.
    waiting: usize,
    /// The waiting tasks' wakers, by ticket; all are woken when the connection is freed.
    tasks: Vec<(u64, Waker)>,
    /// The next task ticket.
    next_ticket: u64,
    /// `dispose` ran while the connection was out: close it when it comes back.
    close_on_return: bool,
    /// Set by `close`: every checkout and every waiter fails.
    closed: bool,
    /// Entries handed out (counted under the lock the checkout takes anyway).
    handed: u64,
}

/// Who has the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// No one: a checkout takes it (or opens it) at once.
    Free,
    /// Checked out by a caller on this thread.
    Thread(ThreadId),
    /// Checked out by a task (`get_async`).
    Task,
    /// Being closed by `dispose` (outside the lock): checkouts wait.
    Closing,
}

impl<C: Connector> Static<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock()
    }

    fn status_of(st: &State<C>) -> PoolStatus {
        let checked_out = usize::from(matches!(st.holder, Holder::Thread(_) | Holder::Task));
        PoolStatus::new(1, Some(1), usize::from(st.idle.is_some()), 0, checked_out, st.waiting)
    }

    fn timeout_error(st: &State<C>, core: &Core<C>, timeout: Duration) -> TimeoutError {
        TimeoutError::new(
            <Self as Strategy<C>>::NAME,
            &Self::status_of(st),
            timeout,
            core.connect_error_within(timeout),
        )
    }

    /// Waits until the connection is free, up to `timeout` (`None`: for ever). On
    /// success the caller still holds the lock and must take the connection.
    fn wait_free(
        &self,
        st: &mut MutexGuard<'_, State<C>>,
        core: &Core<C>,
        timeout: Option<Duration>,
    ) -> Result<(), CheckoutError<C::Error>> {
        if timeout == Some(Duration::ZERO) {
            return Err(CheckoutError::Timeout(Self::timeout_error(st, core, Duration::ZERO)));
        }
        let _span = tracing::debug_span!("wait").entered();
        let since = Instant::now();
        let deadline = timeout.and_then(|t| since.checked_add(t));
        st.waiting += 1;
        while st.holder != Holder::Free {
            if st.closed {
                st.waiting -= 1;
                return Err(CheckoutError::PoolClosed);
            }
            let timed_out = match deadline {
                Some(deadline) => self.freed.wait_until(st, deadline).timed_out(),
                None => {
                    self.freed.wait(st);
                    false
                }
            };
            if timed_out && st.holder != Holder::Free {
                st.waiting -= 1;
                let waited = timeout.unwrap_or_else(|| since.elapsed());
                return Err(CheckoutError::Timeout(Self::timeout_error(st, core, waited)));
            }
        }
        st.waiting -= 1;
        Ok(())
    }

    /// The configured timeout; `None` waits forever.
    pub fn timeout(&self) -> Option<Duration> {
        self.config.timeout
    }
}

/// Unless disarmed, marks the connection free and wakes a waiter when dropped, so a
/// connect or close that fails or panics (in the connector or a listener) still frees
/// it.
impl<C: Connector> Static<C> {
    /// The holder is set: the idle entry, or (the first checkout, or the first after
    /// `dispose`) the guard under which the caller opens the connection, outside the
    /// lock, holding the pool meanwhile. If that connect fails (or panics, or its future
    /// is dropped) the guard leaves the pool as it was: no record, no holder.
    fn take_idle(
        &self,
        mut st: MutexGuard<'_, State<C>>,
    ) -> Result<PoolEntry<C>, FreeOnDrop<'_, C>> {
        match st.idle.take() {
            Some(entry) => {
                st.handed += 1;
                Ok(entry)
            }
            None => Err(FreeOnDrop { pool: self, armed: true }),
        }
    }

    /// A new connection was opened for a checkout: it is the caller's, counted as
    /// handed out.
    fn opened(&self, mut free: FreeOnDrop<'_, C>) {
        free.armed = false;
        self.lock().handed += 1;
    }

    /// Takes the connection for a task if no one holds it (and the pool is open).
    fn take_if_free(&self) -> bool {
        let mut st = self.lock();
        let free = !st.closed && st.holder == Holder::Free;
        if free {
            st.holder = Holder::Task;
        }
        free
    }

    /// The wakers of the waiting tasks, to wake once the lock is released (none without
    /// a waiting task, and then no allocation).
    fn freed_wakers(st: &State<C>) -> Vec<Waker> {
        st.tasks.iter().map(|(_, waker)| waker.clone()).collect()
    }
}

/// A task waiting for the connection; when dropped (the checkout's future was dropped)
/// it leaves the line.
struct TaskWait<'a, C: Connector> {
    pool: &'a Static<C>,
    core: &'a Core<C>,
    /// The ticket under which its waker is kept, while it waits.
    ticket: Option<u64>,
    /// When it first found the connection taken and joined the line.
    queued_at: Option<Instant>,
}

impl<C: Connector> TaskWait<'_, C> {
    fn leave(&mut self, st: &mut State<C>) {
        if let Some(ticket) = self.ticket.take() {
            st.tasks.retain(|(t, _)| *t != ticket);
            st.waiting -= 1;
        }
    }
}

/// Ready with `true` once the task holds the connection, `false` if the pool was closed.
impl<C: Connector> Future for TaskWait<'_, C> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let pool = self.pool;
        let mut st = pool.lock();
        if st.closed {
            self.leave(&mut st);
            return Poll::Ready(false);
        }
        if st.holder == Holder::Free {
            st.holder = Holder::Task;
            self.leave(&mut st);
            return Poll::Ready(true);
        }
        match self.ticket {
            Some(ticket) => {
                if let Some((_, waker)) = st.tasks.iter_mut().find(|(t, _)| *t == ticket) {
                    waker.clone_from(cx.waker());
                }
            }
            None => {
                let ticket = st.next_ticket;
                st.next_ticket += 1;
                st.tasks.push((ticket, cx.waker().clone()));
                st.waiting += 1;
                self.ticket = Some(ticket);
                self.queued_at = Some(Instant::now());
            }
        }
        Poll::Pending
    }
}

impl<C: Connector> Drop for TaskWait<'_, C> {
    fn drop(&mut self) {
        if self.ticket.is_some() {
            let pool = self.pool;
            self.leave(&mut pool.lock());
            // The caller gave up waiting (its future was dropped).
            if let Some(since) = self.queued_at {
                self.core.note_wait(since.elapsed(), WaitEnd::Failed);
            }
        }
    }
}

impl<C: Connector> AsyncStrategy<C> for Static<C> {
    fn acquire_async<'a>(
        &'a self,
        core: &'a Core<C>,
    ) -> impl Future<Output = Result<PoolEntry<C>, CheckoutError<C::Error>>> + Send + 'a {
        self.acquire_async_bounded(core, self.config.timeout)
    }

    fn acquire_async_within<'a>(
        &'a self,
        core: &'a Core<C>,
        wait: Duration,
    ) -> impl Future<Output = Result<PoolEntry<C>, CheckoutError<C::Error>>> + Send + 'a {
        self.acquire_async_bounded(core, Some(wait))
    }

    fn run_return(&self, task: ReturnTask) {
        self.runtime.run_return(task);
    }
}

impl<C: Connector> Static<C> {
    /// An async checkout whose wait is bounded by `timeout` (`None`: for ever).
    async fn acquire_async_bounded(
        &self,
        core: &Core<C>,
        timeout: Option<Duration>,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        self.runtime.note_current();
        let started = Instant::now();
        let mut wait = TaskWait { pool: self, core, ticket: None, queued_at: None };
        // `Some(true)`: this task holds the connection; `Some(false)`: the pool was
        // closed; `None`: the timeout passed. Free now: no wait, and no `wait` span.
        let waited = if self.take_if_free() {
            Some(true)
        } else {
            let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
            let waiting = async {
                match deadline {
                    None => Some((&mut wait).await),
                    Some(at) => tokio::time::timeout_at(at.into(), &mut wait).await.ok(),
                }
            };
            waiting.instrument(tracing::debug_span!("wait")).await
        };
        let got = match waited {
            Some(true) => Ok(()),
            Some(false) => Err(CheckoutError::PoolClosed),
            None => {
                let mut st = self.lock();
                wait.leave(&mut st);
                let t = timeout.unwrap_or_default();
                Err(CheckoutError::Timeout(Self::timeout_error(&st, core, t)))
            }
        };
        // A wait is counted when the task joined the line, or timed out without.
        if wait.queued_at.is_some() || waited.is_none() {
            let since = wait.queued_at.unwrap_or(started);
            core.note_wait(since.elapsed(), WaitEnd::of(&got));
        }
        got?;
        match self.take_idle(self.lock()) {
            Ok(entry) => Ok(entry),
            Err(free) => {
                let entry = core.new_entry_async().await?;
                self.opened(free);
                Ok(entry)
            }
        }
    }
}

struct FreeOnDrop<'a, C: Connector> {
    pool: &'a Static<C>,
    armed: bool,
}

impl<C: Connector> Drop for FreeOnDrop<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.pool.lock();
            st.holder = Holder::Free;
            // Nothing is left to close: a failed first connect leaves no connection.
            st.close_on_return = false;
            let wake = Static::freed_wakers(&st);
            drop(st);
            self.pool.freed.notify_one();
            wake.into_iter().for_each(Waker::wake);
        }
    }
}

impl<C: Connector> Static<C> {
    /// A blocking checkout whose wait is bounded by `timeout` (`None`: for ever).
    fn acquire_bounded(
        &self,
        core: &Core<C>,
        timeout: Option<Duration>,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let me = pool_core::current_thread_id();
        let mut st = self.lock();
        if st.closed {
            return Err(CheckoutError::PoolClosed);
        }
        if st.holder == Holder::Thread(me) {
            return Err(CheckoutError::Unavailable(
                "the StaticPool connection is already checked out by this thread; \
                 return it (drop the PooledConnection) before checking it out again"
                    .to_owned(),
            ));
        }
        if st.holder != Holder::Free {
            let since = Instant::now();
            let waited = self.wait_free(&mut st, core, timeout);
            core.note_wait(since.elapsed(), WaitEnd::of(&waited));
            waited?;
        }
        st.holder = Holder::Thread(me);
        match self.take_idle(st) {
            Ok(entry) => Ok(entry),
            Err(free) => {
                let entry = core.new_entry()?;
                self.opened(free);
                Ok(entry)
            }
        }
    }
}

impl<C: Connector> Strategy<C> for Static<C> {
    type Config = StaticConfig;

    const NAME: &'static str = "StaticPool";

    fn build(config: &StaticConfig) -> Result<Self, BuildError> {
        Ok(Static {
            config: config.clone(),
            state: Mutex::new(State {
                idle: None,
                holder: Holder::Free,
                waiting: 0,
                tasks: Vec::new(),
                next_ticket: 0,
                close_on_return: false,
                closed: false,
                handed: 0,
            }),
            freed: Condvar::new(),
            runtime: ReturnRuntime::new(),
        })
    }

    fn acquire(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        self.acquire_bounded(core, self.config.timeout)
    }

    fn acquire_within(
        &self,
        core: &Core<C>,
        wait: Duration,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        self.acquire_bounded(core, Some(wait))
    }

    fn release(&self, core: &Core<C>, mut entry: PoolEntry<C>) {
        let mut st = self.lock();
        // Closed while the maintenance held it (a keepalive ping): close it too.
        let close_it = mem::take(&mut st.close_on_return) || st.closed;
        if !close_it {
            debug_assert!(st.idle.is_none(), "a StaticPool has one record");
            st.idle = Some(entry);
            st.holder = Holder::Free;
            if st.waiting == 0 {
                return;
            }
            let wake = Self::freed_wakers(&st);
            drop(st);
            self.freed.notify_one();
            wake.into_iter().for_each(Waker::wake);
            return;
        }
        // Disposed while it was out: close it now, outside the lock (listeners run), and
        // forget the record. Checkouts wait until it is closed.
        let cause = if st.closed { CloseCause::Closed } else { CloseCause::Disposed };
        st.holder = Holder::Closing;
        drop(st);
        let _free = FreeOnDrop { pool: self, armed: true };
        core.close_entry(&mut entry, cause);
    }

    fn dispose(&self, core: &Core<C>) {
        let mut st = self.lock();
        match st.holder {
            Holder::Thread(_) | Holder::Task => {
                st.close_on_return = true;
                tracing::debug!(
                    pool = %core.name(),
                    "Connection is checked out; it will be closed when it is returned"
                );
            }
            Holder::Closing => {}
            Holder::Free => {
                if let Some(mut entry) = st.idle.take() {
                    let cause = if st.closed { CloseCause::Closed } else { CloseCause::Disposed };
                    st.holder = Holder::Closing;
                    drop(st);
                    let _free = FreeOnDrop { pool: self, armed: true };
                    core.close_entry(&mut entry, cause);
                }
            }
        }
    }

    /// Takes the connection only when the pool has none (never connected, or disposed).
    fn add(&self, _core: &Core<C>, entry: PoolEntry<C>) -> Result<(), PoolEntry<C>> {
        let mut st = self.lock();
        if st.closed || st.holder != Holder::Free || st.idle.is_some() {
            return Err(entry);
        }
        st.idle = Some(entry);
        Ok(())
    }

    fn idle_capacity(&self) -> Option<usize> {
        Some(1)
    }

    /// Takes the connection while it is idle; checkouts wait until it is back.
    fn take_idle(&self, pick: &mut Pick<'_, C>) -> Vec<PoolEntry<C>> {
        let mut st = self.lock();
        if st.holder != Holder::Free {
            return Vec::new();
        }
        let Some(entry) = st.idle.take() else { return Vec::new() };
        let idle = [entry];
        let take = pick(&idle) == [true];
        let [entry] = idle;
        if !take {
            st.idle = Some(entry);
            return Vec::new();
        }
        st.holder = Holder::Closing;
        vec![entry]
    }

    /// The connection is closed: the next checkout opens a new one.
    fn forget(&self, _core: &Core<C>, entry: PoolEntry<C>) {
        drop(entry);
        drop(FreeOnDrop { pool: self, armed: true });
    }

    /// The pool has no connection and no holder: hold it while the core opens one.
    fn reserve(&self) -> bool {
        let mut st = self.lock();
        if st.closed || st.holder != Holder::Free || st.idle.is_some() {
            return false;
        }
        st.holder = Holder::Closing;
        true
    }

    fn close(&self, core: &Core<C>) {
        let tasks = {
            let mut st = self.lock();
            st.closed = true;
            Self::freed_wakers(&st)
        };
        self.freed.notify_all();
        tasks.into_iter().for_each(Waker::wake);
        self.dispose(core);
    }

    fn handed_out(&self) -> u64 {
        self.lock().handed
    }

    fn status(&self) -> PoolStatus {
        Self::status_of(&self.lock())
    }

    fn status_line(&self) -> String {
        Self::NAME.to_owned()
    }
}

impl<C: Connector> fmt::Debug for Static<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Static")
            .field("config", &self.config)
            .field("holder", &st.holder)
            .field("status", &Self::status_of(&st))
            .finish()
    }
}
