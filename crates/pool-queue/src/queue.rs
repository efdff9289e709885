//! The `Queue` strategy: idle connections in a deque, callers waiting in a fair queue.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use pool_core::rt::ReturnRuntime;
use pool_core::{
    BuildError, CheckoutError, CloseCause, Connector, Core, Pick, PoolEntry, PoolStatus, Strategy,
    TimeoutError, WaitEnd,
};

use crate::config::QueueConfig;
use crate::sync::{self, AtomicBool, AtomicU64, Mutex, MutexGuard, Park, Thread};

/// SQLAlchemy's `QueuePool` as a [`Strategy`]: up to `pool_size` idle connections, up to
/// `max_overflow` more under load, and a bounded wait when all are out.
///
/// Use it through the [`QueuePool`](crate::QueuePool) alias.
pub struct Queue<C: Connector> {
    config: QueueConfig,
    state: Mutex<State<C>>,
    /// Entries handed out by the slow paths (a new connection, a wait), which count
    /// with an atomic; the idle path counts in `State::handed`.
    pub(crate) handed_slow: AtomicU64,
    /// The runtime of the first async checkout: where returns made outside any runtime
    /// run their async reset.
    pub(crate) runtime: ReturnRuntime,
}

pub(crate) struct State<C: Connector> {
    /// Entries waiting to be checked out (some may hold no connection).
    pub(crate) idle: VecDeque<PoolEntry<C>>,
    /// Entries in existence: idle, checked out, or being connected.
    pub(crate) total: usize,
    /// Callers waiting, threads and tasks in one line, longest first.
    pub(crate) waiters: VecDeque<Arc<Waiter<C>>>,
    /// When a returned entry was last handed to a waiter because it waited too long.
    last_handoff: Option<Instant>,
    /// Waiters woken to compete for an idle entry that have not run yet; no more are
    /// woken than there are idle entries, so a burst of returns wakes no crowd.
    pub(crate) woken: usize,
    /// Set by `close`: nothing is kept idle, no caller queues, freed slots are uncounted.
    pub(crate) closed: bool,
    /// The idle list's bound (`pool_size`; 0: no bound), changed by `resize`.
    pool_size: usize,
    /// The most entries in existence (`None`: no limit), changed by `resize`.
    max_total: Option<usize>,
    /// Idle entries handed out (counted under the lock the idle path holds anyway).
    pub(crate) handed: u64,
}

/// One caller waiting for a connection: a parked thread (`Pool::get`) or a task
/// (`Pool::get_async`). Grants and notifications are the same for both; only the way
/// to wake the owner differs.
pub(crate) struct Waiter<C: Connector> {
    owner: Owner,
    since: Instant,
    /// Set by a returning caller (under the state lock) when it hands this waiter an
    /// entry or the right to open one.
    pub(crate) grant: Mutex<Option<Grant<C>>>,
    /// Set (under the state lock) when a connection was returned to the idle list and
    /// this waiter should compete for it; counted in `State::woken` until it runs.
    pub(crate) notified: AtomicBool,
}

/// Who waits, and how to wake them.
enum Owner {
    /// A blocked thread, unparked.
    Thread(Thread),
    /// A task, woken through the waker of its latest poll.
    Task(Mutex<Waker>),
}

/// A wake-up taken under the state lock and delivered after it is released.
pub(crate) enum Wakeup {
    Thread(Thread),
    Task(Waker),
}

impl Wakeup {
    pub(crate) fn wake(self) {
        match self {
            Wakeup::Thread(thread) => thread.unpark(),
            Wakeup::Task(waker) => waker.wake(),
        }
    }
}

impl<C: Connector> Waiter<C> {
    fn new(owner: Owner) -> Arc<Self> {
        Arc::new(Waiter {
            owner,
            since: Instant::now(),
            grant: Mutex::new(None),
            notified: AtomicBool::new(false),
        })
    }

    /// A waiter for the task that polls it; its waker is set at each poll.
    pub(crate) fn task() -> Arc<Self> {
        Self::new(Owner::Task(Mutex::new(Waker::noop().clone())))
    }

    fn wakeup(&self) -> Wakeup {
        match &self.owner {
            Owner::Thread(thread) => Wakeup::Thread(thread.clone()),
            Owner::Task(waker) => Wakeup::Task(waker.lock().clone()),
        }
    }

    /// Keeps the waker of the task's latest poll. Called before the task looks at its
    /// grant, so a grant made after that look wakes this waker.
    pub(crate) fn register(&self, waker: &Waker) {
        if let Owner::Task(slot) = &self.owner {
            let mut slot = slot.lock();
            if !slot.will_wake(waker) {
                slot.clone_from(waker);
            }
        }
    }

    pub(crate) fn since(&self) -> Instant {
        self.since
    }
}

pub(crate) enum Grant<C: Connector> {
    /// This entry is yours.
    Entry(PoolEntry<C>),
    /// A slot was freed and counted for you: open a new connection.
    Reserved,
    /// The pool was closed while you waited.
    Closed,
}

impl<C: Connector> Queue<C> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock()
    }

    pub(crate) fn pop_idle(&self, st: &mut State<C>) -> Option<PoolEntry<C>> {
        if self.config.use_lifo {
            st.idle.pop_back()
        } else {
            st.idle.pop_front()
        }
    }

    pub(crate) fn can_grow(&self, st: &State<C>) -> bool {
        st.max_total.is_none_or(|max| st.total < max)
    }

    /// Whether a returned entry must not be kept idle: the idle list is at `pool_size`,
    /// or the pool is closed.
    fn idle_full(&self, st: &State<C>) -> bool {
        st.closed || (st.pool_size > 0 && st.idle.len() >= st.pool_size)
    }

    /// Whether the next returned entry must go to the longest waiter: it has waited past
    /// the fairness bound, and no such hand-off happened within the bound. Reads the
    /// clock, but only when someone waits.
    ///
    /// Rate-limiting the hand-offs keeps the pool from falling into strict
    /// first-come-first-served (a thread wake-up per return) when many callers wait.
    fn handoff_due(&self, st: &State<C>) -> bool {
        let Some(head) = st.waiters.front() else { return false };
        let bound = self.config.fair_after;
        if bound.is_zero() {
            return true;
        }
        let now = Instant::now();
        now.duration_since(head.since) >= bound
            && st.last_handoff.is_none_or(|last| now.duration_since(last) >= bound)
    }

    /// `acquire` when no connection is idle: open one if the pool may grow, else wait.
    #[cold]
    #[inline(never)]
    fn acquire_slow(
        &self,
        mut st: MutexGuard<'_, State<C>>,
        core: &Core<C>,
        timeout: Option<Duration>,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        if st.closed {
            return Err(CheckoutError::PoolClosed);
        }
        let got = if self.can_grow(&st) {
            st.total += 1;
            drop(st);
            self.create(core)
        } else {
            self.wait(st, core, timeout)
        };
        if got.is_ok() {
            self.handed_slow.fetch_add(1, Ordering::Relaxed);
        }
        got
    }

    /// `release` when someone waits or the idle list is full.
    #[cold]
    #[inline(never)]
    fn release_slow(
        &self,
        mut st: MutexGuard<'_, State<C>>,
        core: &Core<C>,
        mut entry: PoolEntry<C>,
    ) {
        if !st.waiters.is_empty() {
            // A full idle list means the waiters are not keeping up: hand off rather
            // than keep more idle connections than `pool_size`.
            let wake = if self.idle_full(&st) || self.handoff_due(&st) {
                st.last_handoff = Some(Instant::now());
                let head = Self::pop_waiter(&mut st).expect("not empty");
                *head.grant.lock() = Some(Grant::Entry(entry));
                Some(head.wakeup())
            } else {
                st.idle.push_back(entry);
                Self::notify_one(&mut st)
            };
            drop(st);
            if let Some(w) = wake {
                w.wake();
            }
            return;
        }
        drop(st);
        // Returned to a full pool: close it, then free its slot (the guard frees it even
        // if a `close` listener panics).
        let _slot = Reservation { queue: self, armed: true };
        core.close_entry(&mut entry, CloseCause::Overflow);
        drop(entry);
    }

    /// Opens a new entry in a slot already counted in `total`; the slot is freed again if
    /// the connect fails or panics.
    fn create(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let mut reservation = Reservation { queue: self, armed: true };
        let entry = core.new_entry()?;
        reservation.armed = false;
        Ok(entry)
    }

    /// A slot is free: give it to the longest waiter, or uncount it.
    pub(crate) fn free_slot(&self, st: &mut State<C>) -> Option<Wakeup> {
        // Closed, or shrunk below what is open: the slot is gone, not handed on.
        if st.closed || st.max_total.is_some_and(|max| st.total > max) {
            st.total -= 1;
            return None;
        }
        match Self::pop_waiter(st) {
            Some(waiter) => {
                *waiter.grant.lock() = Some(Grant::Reserved);
                Some(waiter.wakeup())
            }
            None => {
                st.total -= 1;
                None
            }
        }
    }

    /// Takes the longest waiter out of the line (to hand it something).
    fn pop_waiter(st: &mut State<C>) -> Option<Arc<Waiter<C>>> {
        let waiter = st.waiters.pop_front()?;
        if waiter.notified.swap(false, Ordering::Relaxed) {
            st.woken -= 1;
        }
        Some(waiter)
    }

    /// Wakes the longest waiter not yet woken, so it competes for an idle entry, unless
    /// enough woken waiters are already on their way for the idle entries there are.
    pub(crate) fn notify_one(st: &mut State<C>) -> Option<Wakeup> {
        if st.woken >= st.idle.len() {
            return None;
        }
        let waiter = st.waiters.iter().find(|w| !w.notified.load(Ordering::Relaxed))?;
        waiter.notified.store(true, Ordering::Relaxed);
        let wakeup = waiter.wakeup();
        st.woken += 1;
        Some(wakeup)
    }

    pub(crate) fn timeout_error(
        &self,
        st: &State<C>,
        core: &Core<C>,
        waited: Duration,
    ) -> TimeoutError {
        TimeoutError::new(
            <Self as Strategy<C>>::NAME,
            &self.status_of(st),
            waited,
            core.connect_error_within(waited),
        )
    }

    fn status_of(&self, st: &State<C>) -> PoolStatus {
        let size = st.pool_size;
        let overflow = if size == 0 { 0 } else { st.total as isize - size as isize };
        PoolStatus::new(
            size,
            st.max_total,
            st.idle.len(),
            overflow,
            st.total - st.idle.len(),
            st.waiters.len(),
        )
    }

    /// Waits in line for an entry or a slot, up to `timeout` (`None`: for ever), and
    /// reports the wait to the core's statistics.
    fn wait(
        &self,
        st: MutexGuard<'_, State<C>>,
        core: &Core<C>,
        timeout: Option<Duration>,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let since = Instant::now();
        let got = self.wait_in_line(st, core, timeout);
        core.note_wait(since.elapsed(), WaitEnd::of(&got));
        got
    }

    fn wait_in_line(
        &self,
        mut st: MutexGuard<'_, State<C>>,
        core: &Core<C>,
        timeout: Option<Duration>,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        if timeout == Some(Duration::ZERO) {
            return Err(CheckoutError::Timeout(self.timeout_error(&st, core, Duration::ZERO)));
        }
        let _span = tracing::debug_span!("wait").entered();
        let me = Waiter::new(Owner::Thread(sync::current()));
        let since = me.since;
        let mut park = Park::until(timeout.and_then(|t| since.checked_add(t)));
        st.waiters.push_back(Arc::clone(&me));
        drop(st);
        loop {
            let timed_out = park.park();
            if let Some(grant) = me.grant.lock().take() {
                return self.use_grant(grant, core);
            }
            let mut st = self.lock();
            if me.notified.swap(false, Ordering::Relaxed) {
                st.woken -= 1;
            }
            if let Some(grant) = me.grant.lock().take() {
                drop(st);
                return self.use_grant(grant, core);
            }
            if let Some(entry) = self.pop_idle(&mut st) {
                st.waiters.retain(|w| !Arc::ptr_eq(w, &me));
                let wake = Self::notify_one(&mut st);
                drop(st);
                if let Some(w) = wake {
                    w.wake();
                }
                return Ok(entry);
            }
            if timed_out {
                st.waiters.retain(|w| !Arc::ptr_eq(w, &me));
                let waited = timeout.unwrap_or_else(|| since.elapsed());
                return Err(CheckoutError::Timeout(self.timeout_error(&st, core, waited)));
            }
            // A spurious wake-up, or a newcomer took the entry first: wait on.
        }
    }

    fn use_grant(
        &self,
        grant: Grant<C>,
        core: &Core<C>,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        match grant {
            Grant::Entry(entry) => Ok(entry),
            Grant::Reserved => self.create(core),
            Grant::Closed => Err(CheckoutError::PoolClosed),
        }
    }

    /// Closes `entries`, taken out of the idle list still counted, freeing each one's
    /// slot once it is closed. Every entry is closed even if a `close` listener panics
    /// (the panic follows), and a slot is freed whatever happens.
    fn close_all(&self, core: &Core<C>, entries: Vec<PoolEntry<C>>, cause: CloseCause) {
        let slots: Vec<_> =
            entries.into_iter().map(|e| (e, Reservation { queue: self, armed: true })).collect();
        pool_core::each_despite_panics(slots, |(mut entry, _slot)| {
            core.close_entry(&mut entry, cause)
        });
    }
}

/// A counted slot whose connect has not finished; freed on drop unless disarmed.
pub(crate) struct Reservation<'a, C: Connector> {
    pub(crate) queue: &'a Queue<C>,
    pub(crate) armed: bool,
}

impl<C: Connector> Drop for Reservation<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            let wake = self.queue.free_slot(&mut self.queue.lock());
            if let Some(w) = wake {
                w.wake();
            }
        }
    }
}

/// The most idle slots allocated at build; the idle list grows past it when needed.
const IDLE_PREALLOCATED: usize = 256;

impl<C: Connector> Strategy<C> for Queue<C> {
    type Config = QueueConfig;

    const NAME: &'static str = "QueuePool";

    fn build(config: &QueueConfig) -> Result<Self, BuildError> {
        config.validate()?;
        Ok(Queue {
            config: config.clone(),
            runtime: ReturnRuntime::new(),
            state: Mutex::new(State {
                // Room for a usual pool at once; a larger one grows as connections come
                // back (a `pool_size` of 2^40 once aborted here, allocating it all).
                idle: VecDeque::with_capacity(config.pool_size.min(IDLE_PREALLOCATED)),
                total: 0,
                waiters: VecDeque::new(),
                last_handoff: None,
                woken: 0,
                closed: false,
                pool_size: config.pool_size,
                max_total: config.max_total(),
                handed: 0,
            }),
            handed_slow: AtomicU64::new(0),
        })
    }

    #[inline]
    fn acquire(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let mut st = self.lock();
        if let Some(entry) = self.pop_idle(&mut st) {
            st.handed += 1;
            return Ok(entry);
        }
        self.acquire_slow(st, core, self.config.timeout)
    }

    fn acquire_within(
        &self,
        core: &Core<C>,
        wait: Duration,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let mut st = self.lock();
        if let Some(entry) = self.pop_idle(&mut st) {
            st.handed += 1;
            return Ok(entry);
        }
        self.acquire_slow(st, core, Some(wait))
    }

    #[inline]
    fn release(&self, core: &Core<C>, entry: PoolEntry<C>) {
        let mut st = self.lock();
        if st.waiters.is_empty() && !self.idle_full(&st) {
            st.idle.push_back(entry);
            return;
        }
        self.release_slow(st, core, entry);
    }

    fn dispose(&self, core: &Core<C>) {
        let drained: Vec<_> = self.lock().idle.drain(..).collect();
        self.close_all(core, drained, CloseCause::Disposed);
    }

    fn add(&self, core: &Core<C>, entry: PoolEntry<C>) -> Result<(), PoolEntry<C>> {
        let mut st = self.lock();
        let room = self.can_grow(&st) && !(self.idle_full(&st) && st.waiters.is_empty());
        if !room {
            return Err(entry);
        }
        // Counted, then placed as a return would be: idle, or to the longest waiter.
        st.total += 1;
        drop(st);
        self.release(core, entry);
        Ok(())
    }

    fn idle_capacity(&self) -> Option<usize> {
        let size = self.lock().pool_size;
        Some(if size == 0 { usize::MAX } else { size })
    }

    fn take_idle(&self, pick: &mut Pick<'_, C>) -> Vec<PoolEntry<C>> {
        let mut st = self.lock();
        // The front is the least recently used end, under FIFO and LIFO alike.
        let chosen = pick(st.idle.make_contiguous());
        if !chosen.contains(&true) {
            return Vec::new();
        }
        let mut taken = Vec::new();
        let mut chosen = chosen.into_iter();
        let mut kept = VecDeque::with_capacity(st.idle.capacity());
        for entry in st.idle.drain(..) {
            if chosen.next().unwrap_or(false) {
                taken.push(entry);
            } else {
                kept.push_back(entry);
            }
        }
        st.idle = kept;
        taken
    }

    fn forget(&self, _core: &Core<C>, entry: PoolEntry<C>) {
        drop(entry);
        let wake = self.free_slot(&mut self.lock());
        if let Some(w) = wake {
            w.wake();
        }
    }

    fn reserve(&self) -> bool {
        let mut st = self.lock();
        if st.closed || !self.can_grow(&st) || self.idle_full(&st) {
            return false;
        }
        st.total += 1;
        true
    }

    fn close(&self, core: &Core<C>) {
        let (drained, waiting) = {
            let mut st = self.lock();
            st.closed = true;
            st.woken = 0;
            let waiting: Vec<Wakeup> = st
                .waiters
                .drain(..)
                .map(|waiter| {
                    waiter.notified.store(false, Ordering::Relaxed);
                    *waiter.grant.lock() = Some(Grant::Closed);
                    waiter.wakeup()
                })
                .collect();
            let drained: Vec<_> = st.idle.drain(..).collect();
            (drained, waiting)
        };
        waiting.into_iter().for_each(Wakeup::wake);
        self.close_all(core, drained, CloseCause::Closed);
    }

    fn handed_out(&self) -> u64 {
        let idle_path = self.lock().handed;
        idle_path + self.handed_slow.load(Ordering::Relaxed)
    }

    fn status(&self) -> PoolStatus {
        self.status_of(&self.lock())
    }

    fn status_line(&self) -> String {
        let s = self.status();
        format!(
            "Pool size: {}  Connections in pool: {} Current Overflow: {} Current Checked out connections: {}",
            s.pool_size, s.idle, s.overflow, s.checked_out
        )
    }
}

impl<C: Connector> fmt::Debug for Queue<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("config", &self.config)
            .field("status", &self.status())
            .finish()
    }
}

impl<C: Connector> Queue<C> {
    /// The pool size (SQLAlchemy's `size()`): the configured one, or the last
    /// [`resize`](Self::resize)'s.
    pub fn size(&self) -> usize {
        self.lock().pool_size
    }

    /// Changes `pool_size` and `max_overflow` at run time (deadpool's `resize`); the
    /// [`Resize`](crate::Resize) trait calls it as `pool.resize(..)`.
    ///
    /// Growing lets callers that wait open connections at once. Shrinking closes idle
    /// connections beyond the new sizes now, least recently used first, and never takes a
    /// connection from its holder: one returned while the pool is over its new limit is
    /// closed instead of kept, until the pool fits.
    ///
    /// # Errors
    ///
    /// The [`BuildError`] the sizes would get at build (`pool_size` plus `max_overflow`
    /// must fit in a `usize`); nothing changes then.
    pub fn resize(
        &self,
        core: &Core<C>,
        pool_size: usize,
        max_overflow: crate::Overflow,
    ) -> Result<(), BuildError> {
        let sizes = QueueConfig { pool_size, max_overflow, ..self.config.clone() };
        sizes.validate()?;
        let (excess, granted) = {
            let mut st = self.lock();
            st.pool_size = pool_size;
            st.max_total = sizes.max_total();
            let over_idle =
                if pool_size == 0 { 0 } else { st.idle.len().saturating_sub(pool_size) };
            let over_total = st.max_total.map_or(0, |max| st.total.saturating_sub(max));
            let n = over_idle.max(over_total).min(st.idle.len());
            // The least recently used end: the front under LIFO and FIFO alike.
            let excess: Vec<_> = st.idle.drain(..n).collect();
            let mut granted = Vec::new();
            while !st.waiters.is_empty() && self.can_grow(&st) && !st.closed {
                st.total += 1;
                let waiter = Self::pop_waiter(&mut st).expect("not empty");
                *waiter.grant.lock() = Some(Grant::Reserved);
                granted.push(waiter.wakeup());
            }
            (excess, granted)
        };
        granted.into_iter().for_each(Wakeup::wake);
        self.close_all(core, excess, CloseCause::Overflow);
        Ok(())
    }

    /// The configured timeout (SQLAlchemy's `timeout()`); `None` waits forever.
    pub fn timeout(&self) -> Option<Duration> {
        self.config.timeout
    }

    /// Idle entries (SQLAlchemy's `checkedin()`).
    pub fn checkedin(&self) -> usize {
        self.lock().idle.len()
    }

    /// Entries beyond `pool_size` (SQLAlchemy's `overflow()`).
    pub fn overflow(&self) -> isize {
        self.status().overflow
    }

    /// Entries checked out (SQLAlchemy's `checkedout()`).
    pub fn checkedout(&self) -> usize {
        self.status().checked_out
    }
}
