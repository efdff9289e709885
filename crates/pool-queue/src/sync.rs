//! Every synchronization primitive QueuePool's line of waiters uses, in one place, so
//! that a model checker can take their place.
//!
//! Built normally, these are `parking_lot`'s mutex, the standard atomics, thread parking
//! and tokio's timer. Built with `--cfg loom`, they are [loom]'s, and the `pool-loom`
//! package explores every interleaving of the real strategy code (not a copy) at each
//! lock, atomic and park. Loom has no clock, so under it a deadline is modelled: a
//! bounded wait looks for its grant twice without parking, the first time as after a
//! spurious wake-up and the second as its deadline passes; a wait without a deadline
//! parks until woken.
//!
//! [loom]: https://docs.rs/loom

use std::future::Future;
use std::time::Instant;

#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::thread::{current, Thread};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(loom)]
pub(crate) use loom::sync::MutexGuard;
#[cfg(loom)]
pub(crate) use loom::thread::{current, Thread};

/// loom's mutex with `parking_lot`'s signature (loom never poisons).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A blocked thread's wait for its wake-up, up to an optional deadline.
pub(crate) struct Park {
    deadline: Option<Instant>,
    /// Under loom: whether the wait already looked once (its deadline passes at the
    /// second look).
    #[cfg(loom)]
    looked: bool,
}

impl Park {
    pub(crate) fn until(deadline: Option<Instant>) -> Self {
        Park {
            deadline,
            #[cfg(loom)]
            looked: false,
        }
    }

    /// Parks the calling thread until it is unparked, spuriously, or until the deadline;
    /// returns `true` without parking if the deadline has passed.
    #[cfg(not(loom))]
    pub(crate) fn park(&mut self) -> bool {
        match self.deadline {
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return true;
                }
                std::thread::park_timeout(deadline - now);
                false
            }
            None => {
                std::thread::park();
                false
            }
        }
    }

    /// The model of `park`: a bounded wait wakes at once (spuriously) the first time and
    /// times out the second; loom interleaves the other threads at every step between.
    #[cfg(loom)]
    pub(crate) fn park(&mut self) -> bool {
        if self.deadline.is_none() {
            loom::thread::park();
            return false;
        }
        if self.looked {
            return true;
        }
        // No yield: loom would then run the other threads first, and never let the
        // deadline pass before a return.
        self.looked = true;
        false
    }
}

/// `future`'s output, or `None` if `deadline` passes first.
#[cfg(not(loom))]
pub(crate) async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    tokio::time::timeout_at(deadline.into(), future).await.ok()
}

/// The model of `timeout_at`: the deadline passes at the second poll (the first one
/// pending wakes the task, as the timer would).
#[cfg(loom)]
pub(crate) async fn timeout_at<F: Future>(_deadline: Instant, future: F) -> Option<F::Output> {
    use std::task::Poll;
    let mut future = std::pin::pin!(future);
    let mut polls = 0;
    std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending if polls == 0 => {
            polls += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Poll::Pending => Poll::Ready(None),
    })
    .await
}
