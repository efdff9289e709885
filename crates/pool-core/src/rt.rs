//! The async front end's runtime services: running a future to its end on a blocking
//! thread, and running the return of an async-checked-out connection.
//!
//! The async front end runs on tokio. These functions are public so that strategies
//! ([`AsyncStrategy::run_return`](crate::AsyncStrategy::run_return)) and connectors over
//! async drivers (their blocking methods) share one correct way to do both.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::{Operation, OperationTimeout};

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
/// (a multi-thread tokio runtime does).
///
/// ```
/// use std::time::{Duration, Instant};
///
/// assert_eq!(pool_core::rt::block_on(async { 6 * 7 }, None), Some(42));
/// let never = std::future::pending::<()>();
/// let deadline = Instant::now() + Duration::from_millis(10);
/// assert_eq!(pool_core::rt::block_on(never, Some(deadline)), None);
/// ```
pub fn block_on<F: Future>(fut: F, deadline: Option<Instant>) -> Option<F::Output> {
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

/// Runs an async driver's future to its end on the calling thread, for the blocking
/// calls of a connector over an async driver (pool-postgres's and pool-mysql's async
/// connectors, pool-deadpool's `ManagerConnector`, pool-bb8's `Bb8Connector`):
///
/// - on a thread outside any runtime, inside `runtime` (drivers that spawn tasks or open
///   sockets need one), whose workers drive the I/O;
/// - on a worker of a multi-thread runtime, through `tokio::task::block_in_place`, so
///   that the worker's other tasks (a connection's I/O task among them) move to another
///   thread while it waits;
/// - on a thread of a current-thread runtime, never: it returns `None` without polling,
///   because the future could need that very thread to make progress, and waiting would
///   deadlock.
///
/// ```
/// assert_eq!(pool_core::rt::block_on_runtime(None, async { 6 * 7 }), Some(42));
///
/// let current_thread = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let inside = current_thread.block_on(async { pool_core::rt::block_on_runtime(None, async { 1 }) });
/// assert_eq!(inside, None, "refused: it would deadlock");
///
/// let multi_thread = tokio::runtime::Runtime::new().unwrap();
/// let worker = multi_thread.block_on(async {
///     tokio::spawn(async { pool_core::rt::block_on_runtime(None, async { 2 }) }).await.unwrap()
/// });
/// assert_eq!(worker, Some(2));
/// ```
pub fn block_on_runtime<F: Future>(runtime: Option<&Handle>, fut: F) -> Option<F::Output> {
    match block_on_runtime_within(runtime, fut, None) {
        Waited::Done(out) => Some(out),
        Waited::TimedOut | Waited::WouldDeadlock => None,
    }
}

/// How [`block_on_runtime_within`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited<T> {
    /// The future completed with this output.
    Done(T),
    /// The bound passed first; the future was dropped unfinished.
    TimedOut,
    /// Not polled at all: the thread belongs to a current-thread runtime (see
    /// [`block_on_runtime`]).
    WouldDeadlock,
}

/// [`block_on_runtime`], giving up after `bound` (`None`: no bound): the future is then
/// dropped where it stands. This is how a connector over an async driver bounds its
/// blocking calls ([`Connector::ping_within`](crate::Connector::ping_within) and the
/// resets); the pool terminates a connection whose operation timed out, so the state the
/// dropped future left it in does not matter.
///
/// ```
/// use std::time::Duration;
///
/// use pool_core::rt::{block_on_runtime_within, Waited};
///
/// let bound = Some(Duration::from_millis(10));
/// assert_eq!(block_on_runtime_within(None, async { 7 }, bound), Waited::Done(7));
/// let never = std::future::pending::<()>();
/// assert_eq!(block_on_runtime_within(None, never, bound), Waited::TimedOut);
/// ```
pub fn block_on_runtime_within<F: Future>(
    runtime: Option<&Handle>,
    fut: F,
    bound: Option<Duration>,
) -> Waited<F::Output> {
    let wait = || {
        let deadline = bound.and_then(|bound| Instant::now().checked_add(bound));
        match block_on(fut, deadline) {
            Some(out) => Waited::Done(out),
            None => Waited::TimedOut,
        }
    };
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::CurrentThread) => Waited::WouldDeadlock,
        Ok(_) => tokio::task::block_in_place(wait),
        Err(_) => {
            let _entered = runtime.map(Handle::enter);
            wait()
        }
    }
}

/// An async driver's operation run to its end on the calling thread within `bound`, as
/// a connector's `_within` methods return it: past the bound an [`OperationTimeout`] for
/// `operation`; on a current-thread runtime's thread, where waiting would deadlock, the
/// connector's own error made by `refused`.
///
/// ```
/// use std::time::Duration;
///
/// use pool_core::rt::block_on_bounded;
/// use pool_core::Operation;
///
/// let bound = Duration::from_millis(10);
/// let ping = async { Ok::<_, std::io::Error>(()) };
/// assert!(matches!(block_on_bounded(None, ping, bound, Operation::Ping, || unreachable!()), Ok(Ok(()))));
/// let hung = std::future::pending::<Result<(), std::io::Error>>();
/// let timeout = block_on_bounded(None, hung, bound, Operation::Ping, || unreachable!()).unwrap_err();
/// assert_eq!(timeout.operation, Operation::Ping);
/// ```
pub fn block_on_bounded<T, E>(
    runtime: Option<&Handle>,
    fut: impl Future<Output = Result<T, E>>,
    bound: Duration,
    operation: Operation,
    refused: impl FnOnce() -> E,
) -> Result<Result<T, E>, OperationTimeout> {
    match block_on_runtime_within(runtime, fut, Some(bound)) {
        Waited::Done(out) => Ok(out),
        Waited::TimedOut => Err(OperationTimeout::new(operation, bound)),
        Waited::WouldDeadlock => Ok(Err(refused())),
    }
}

/// A connection's return (reset, events, release), as
/// [`AsyncStrategy::run_return`](crate::AsyncStrategy::run_return) receives it.
pub type ReturnTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs a return the way every async strategy should: inside a tokio runtime, poll it
/// once at once (a reset that does not wait ends inside the drop) and spawn the rest;
/// on a thread outside any runtime (blocking code dropping a connection), finish it
/// there while `runtime`'s workers drive the I/O, as a blocking pool would; if `runtime`
/// is a current-thread runtime, whose I/O only its own thread drives, spawn it there.
///
/// `runtime` is the runtime the pool's async checkouts ran on, if any.
pub fn run_return(runtime: Option<&Handle>, mut task: ReturnTask) {
    if let Ok(handle) = Handle::try_current() {
        if task.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending() {
            drop(handle.spawn(task));
        }
        return;
    }
    match runtime {
        Some(handle) if handle.runtime_flavor() == RuntimeFlavor::CurrentThread => {
            drop(handle.spawn(task));
        }
        Some(handle) => {
            let _entered = handle.enter();
            block_on(task, None);
        }
        None => {
            block_on(task, None);
        }
    }
}

/// The runtime a strategy's async checkouts run on: given at build, or remembered at
/// the first async checkout. Its [`run_return`](Self::run_return) is what an
/// [`AsyncStrategy::run_return`](crate::AsyncStrategy::run_return) needs.
#[derive(Debug, Default)]
pub struct ReturnRuntime(OnceLock<Handle>);

impl ReturnRuntime {
    /// None yet: the first async checkout's runtime will be remembered.
    pub fn new() -> Self {
        ReturnRuntime(OnceLock::new())
    }

    /// This runtime, or none yet if `handle` is `None`.
    pub fn with(handle: Option<Handle>) -> Self {
        let slot = OnceLock::new();
        if let Some(handle) = handle {
            let _ = slot.set(handle);
        }
        ReturnRuntime(slot)
    }

    /// Remembers the current runtime if none is known yet; one atomic load once known.
    #[inline]
    pub fn note_current(&self) {
        if self.0.get().is_none() {
            if let Ok(handle) = Handle::try_current() {
                let _ = self.0.set(handle);
            }
        }
    }

    /// The runtime, if known.
    pub fn handle(&self) -> Option<&Handle> {
        self.0.get()
    }

    /// [`run_return`] on this runtime.
    pub fn run_return(&self, task: ReturnTask) {
        run_return(self.handle(), task);
    }
}
