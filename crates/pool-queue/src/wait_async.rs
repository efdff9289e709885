//! QueuePool's async front end: the same line of waiters, grants, fairness bound,
//! overflow and timeout as the blocking `acquire`, with tasks woken through a `Waker`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pool_core::rt::ReturnTask;
use pool_core::{AsyncStrategy, CheckoutError, Connector, Core, PoolEntry, WaitEnd};
use tracing::Instrument;

use crate::queue::{Grant, Queue, Reservation, State, Waiter};
use crate::sync::{self, MutexGuard};

/// What an async checkout does next, decided under the lock in one visit.
enum Next<C: Connector> {
    Take(PoolEntry<C>),
    Create,
    Wait(Arc<Waiter<C>>),
}

impl<C: Connector> Queue<C> {
    /// The fast path and the decision to grow or queue, under one lock.
    fn begin_async(
        &self,
        core: &Core<C>,
        timeout: Option<Duration>,
    ) -> Result<Next<C>, CheckoutError<C::Error>> {
        let mut st = self.lock();
        if let Some(entry) = self.pop_idle(&mut st) {
            st.handed += 1;
            return Ok(Next::Take(entry));
        }
        if st.closed {
            return Err(CheckoutError::PoolClosed);
        }
        if self.can_grow(&st) {
            st.total += 1;
            return Ok(Next::Create);
        }
        if timeout == Some(Duration::ZERO) {
            return Err(CheckoutError::Timeout(self.timeout_error(&st, core, Duration::ZERO)));
        }
        let me = Waiter::task();
        st.waiters.push_back(Arc::clone(&me));
        Ok(Next::Wait(me))
    }

    /// Opens a new entry in a slot already counted; the slot is freed if the connect
    /// fails, panics, or the future is dropped.
    async fn create_async(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let mut reservation = Reservation { queue: self, armed: true };
        let entry = core.new_entry_async().await?;
        reservation.armed = false;
        Ok(entry)
    }

    /// An async checkout whose wait is bounded by `timeout` (`None`: for ever).
    async fn acquire_async_bounded(
        &self,
        core: &Core<C>,
        timeout: Option<Duration>,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        // Yield to the runtime here, holding nothing, when this task has used up its
        // cooperative budget: a task that checks out and returns in a loop would
        // otherwise never yield, or yield while holding a connection.
        tokio::task::coop::consume_budget().await;
        self.runtime.note_current();
        let got = match self.begin_async(core, timeout) {
            Ok(Next::Take(entry)) => return Ok(entry),
            Ok(Next::Create) => self.create_async(core).await,
            Ok(Next::Wait(me)) => {
                let span = tracing::debug_span!("wait");
                let since = me.since();
                let got = self.acquire_waiting(core, me, timeout).instrument(span).await;
                core.note_wait(since.elapsed(), WaitEnd::of(&got));
                got
            }
            Err(e) => {
                if matches!(e, CheckoutError::Timeout(_)) {
                    core.note_wait(Duration::ZERO, WaitEnd::TimedOut);
                }
                return Err(e);
            }
        };
        if got.is_ok() {
            self.handed_slow.fetch_add(1, Ordering::Relaxed);
        }
        got
    }

    async fn acquire_waiting(
        &self,
        core: &Core<C>,
        me: Arc<Waiter<C>>,
        timeout: Option<Duration>,
    ) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let deadline = timeout.and_then(|t| me.since().checked_add(t));
        let mut wait = Wait { queue: self, core, me: Some(me), timeout };
        let grant = match deadline {
            None => (&mut wait).await,
            Some(deadline) => match sync::timeout_at(deadline, &mut wait).await {
                Some(grant) => grant,
                None => wait.give_up()?,
            },
        };
        match grant {
            Grant::Entry(entry) => Ok(entry),
            Grant::Reserved => self.create_async(core).await,
            Grant::Closed => Err(CheckoutError::PoolClosed),
        }
    }
}

/// A task's place in the line. Dropping it before it completes (the checkout's future
/// was dropped) leaves the line as if the task had never queued: a grant it received
/// goes back (an entry to the pool, a reserved slot to the next waiter), and a wake-up
/// meant for it passes to the next waiter.
struct Wait<'a, C: Connector> {
    queue: &'a Queue<C>,
    core: &'a Core<C>,
    /// `None` once the wait has ended.
    me: Option<Arc<Waiter<C>>>,
    /// The bound of this wait, for the timeout error.
    timeout: Option<Duration>,
}

impl<'a, C: Connector> Wait<'a, C> {
    /// What this waiter got, if anything; a waiter woken to compete for an idle entry
    /// takes one if it is still there (and passes the wake-up on, as the blocking
    /// waiters do). On `Err` the waiter is still in line and the lock still held.
    fn claim<'q>(&self, me: &Arc<Waiter<C>>) -> Result<Grant<C>, MutexGuard<'q, State<C>>>
    where
        'a: 'q,
    {
        let queue = self.queue;
        let mut st = queue.lock();
        if me.notified.swap(false, Ordering::Relaxed) {
            st.woken -= 1;
        }
        if let Some(grant) = me.grant.lock().take() {
            return Ok(grant);
        }
        let Some(entry) = queue.pop_idle(&mut st) else { return Err(st) };
        st.waiters.retain(|w| !Arc::ptr_eq(w, me));
        let wake = Queue::notify_one(&mut st);
        drop(st);
        if let Some(w) = wake {
            w.wake();
        }
        Ok(Grant::Entry(entry))
    }

    /// The deadline passed: a last look (a grant may have raced the timer), then leave
    /// the line with the timeout error.
    fn give_up(&mut self) -> Result<Grant<C>, CheckoutError<C::Error>> {
        let me = self.me.take().expect("an ended wait is not polled");
        let mut st = match self.claim(&me) {
            Ok(grant) => return Ok(grant),
            Err(st) => st,
        };
        st.waiters.retain(|w| !Arc::ptr_eq(w, &me));
        let waited = self.timeout.unwrap_or_else(|| me.since().elapsed());
        Err(CheckoutError::Timeout(self.queue.timeout_error(&st, self.core, waited)))
    }
}

impl<C: Connector> Future for Wait<'_, C> {
    type Output = Grant<C>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Grant<C>> {
        let me = Arc::clone(self.me.as_ref().expect("an ended wait is not polled"));
        // The waker first, then the look: a grant or notification made after the look
        // wakes the waker registered here.
        me.register(cx.waker());
        let granted = me.grant.lock().is_some();
        if granted || me.notified.load(Ordering::Relaxed) {
            if let Ok(grant) = self.claim(&me) {
                self.me = None;
                return Poll::Ready(grant);
            }
        }
        Poll::Pending
    }
}

impl<C: Connector> Drop for Wait<'_, C> {
    fn drop(&mut self) {
        let Some(me) = self.me.take() else { return };
        // The caller gave up waiting (its future was dropped).
        self.core.note_wait(me.since().elapsed(), WaitEnd::Failed);
        let queue = self.queue;
        let mut st = queue.lock();
        let was_notified = me.notified.swap(false, Ordering::Relaxed);
        if was_notified {
            st.woken -= 1;
        }
        st.waiters.retain(|w| !Arc::ptr_eq(w, &me));
        // Out of the line, under the lock: no grant can arrive any more.
        let grant = me.grant.lock().take();
        let wake = match grant {
            Some(Grant::Entry(entry)) => {
                drop(st);
                <Queue<C> as pool_core::Strategy<C>>::release(queue, self.core, entry);
                return;
            }
            Some(Grant::Reserved) => queue.free_slot(&mut st),
            Some(Grant::Closed) => None,
            None if was_notified => Queue::notify_one(&mut st),
            None => None,
        };
        drop(st);
        if let Some(w) = wake {
            w.wake();
        }
    }
}

impl<C: Connector> AsyncStrategy<C> for Queue<C> {
    // Plain functions returning the one future: an `async fn` here would wrap it in a
    // second state machine on the hot path.
    fn acquire_async<'a>(
        &'a self,
        core: &'a Core<C>,
    ) -> impl Future<Output = Result<PoolEntry<C>, CheckoutError<C::Error>>> + Send + 'a {
        self.acquire_async_bounded(core, self.timeout())
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
