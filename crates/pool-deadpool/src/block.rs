//! Running a future to its end on the calling thread, with an optional deadline.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use tokio::runtime::{Handle, RuntimeFlavor};

/// Wakes the thread that is blocked on a future.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on this thread, parking between polls, until it completes or `deadline`
/// passes; `None` on the deadline, after dropping the future.
///
/// Futures that need a runtime's I/O or timer drivers must have them driven elsewhere
/// (a multi-thread tokio runtime does); the futures the blocking paths of this crate
/// run (a semaphore wait, a manager's `create`) do not need a timer.
pub(crate) fn block_on<F: Future>(fut: F, deadline: Option<Instant>) -> Option<F::Output> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                thread::park_timeout(deadline - now);
            }
        }
    }
}

/// Runs an async manager's future to its end on the calling thread, for the blocking
/// calls of a connector over it (this crate's `ManagerConnector`, pool-bb8's
/// `Bb8Connector`): inside `runtime` when the thread is outside any runtime (managers
/// that spawn tasks or open sockets need one), in the current runtime otherwise.
///
/// Returns `None`, without polling, on a thread of a current-thread tokio runtime: the
/// future could need that very thread to make progress, so waiting would deadlock.
///
/// ```
/// assert_eq!(pool_deadpool::block_on_runtime(None, async { 6 * 7 }), Some(42));
///
/// let current_thread = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let inside = current_thread.block_on(async { pool_deadpool::block_on_runtime(None, async { 1 }) });
/// assert_eq!(inside, None, "refused: it would deadlock");
/// ```
pub fn block_on_runtime<F: Future>(runtime: Option<&Handle>, fut: F) -> Option<F::Output> {
    let current = Handle::try_current().ok();
    if current.as_ref().is_some_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread) {
        return None;
    }
    let _entered = runtime.filter(|_| current.is_none()).map(Handle::enter);
    block_on(fut, None)
}
