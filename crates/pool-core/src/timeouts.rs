//! Bounds on the connector's operations: how long a connect, a pre-ping or a reset on
//! return may take before the pool gives up on it.
//!
//! The async front end bounds all three with tokio's timer, which it arms only when the
//! operation does not finish at its first poll (an operation with no I/O to wait for
//! costs no timer). The blocking front end cannot interrupt a call in progress, so it
//! runs a bounded connect on a thread of its own and stops waiting for it at the bound;
//! a connection that arrives after that is closed on that thread. Blocking pings and
//! resets run on the calling thread through the connector's `_within` methods
//! ([`Connector::ping_within`]), which bound them where the driver can (a socket read
//! timeout, a deadline on an async driver's future).

use std::error::Error as StdError;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::Connector;

/// An operation of the connector that the pool bounds in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Opening a connection (`connect_timeout`).
    Connect,
    /// The pre-ping of a pooled connection at checkout (`ping_timeout`).
    Ping,
    /// The rollback or commit of reset on return (`reset_timeout`).
    Reset,
}

impl Operation {
    /// The builder setting that bounds this operation.
    pub fn setting(self) -> &'static str {
        match self {
            Operation::Connect => "connect_timeout",
            Operation::Ping => "ping_timeout",
            Operation::Reset => "reset_timeout",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Operation::Connect => "connect",
            Operation::Ping => "pre-ping",
            Operation::Reset => "reset on return",
        }
    }
}

/// A connector operation did not finish within its bound.
///
/// A connect or pre-ping that times out fails the checkout with
/// [`CheckoutError::OperationTimeout`](crate::CheckoutError::OperationTimeout) and frees
/// the slot (the pinged connection is invalidated); a reset that times out invalidates
/// the returned connection instead of pooling it.
///
/// ```
/// use std::time::Duration;
/// use pool_core::{Operation, OperationTimeout};
///
/// let t = OperationTimeout::new(Operation::Connect, Duration::from_secs(5));
/// assert_eq!(
///     t.to_string(),
///     "connect timed out after 5.00 s (connect_timeout): the server did not answer in time"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationTimeout {
    /// What timed out.
    pub operation: Operation,
    /// The bound it exceeded.
    pub after: Duration,
}

impl OperationTimeout {
    /// `operation` did not finish within `after`.
    pub fn new(operation: Operation, after: Duration) -> Self {
        OperationTimeout { operation, after }
    }
}

impl fmt::Display for OperationTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} timed out after {:.2} s ({}): the server did not answer in time",
            self.operation.what(),
            self.after.as_secs_f64(),
            self.operation.setting()
        )
    }
}

impl StdError for OperationTimeout {}

/// Awaits `fut`, giving up after `bound`. The timer is armed only if `fut` is not ready
/// at its first poll, so an operation with nothing to wait for costs no timer.
pub(crate) async fn bounded<F: Future>(
    fut: F,
    bound: Option<Duration>,
    operation: Operation,
) -> Result<F::Output, OperationTimeout> {
    let Some(bound) = bound else { return Ok(fut.await) };
    let mut fut = pin!(fut);
    if let Poll::Ready(out) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        return Ok(out);
    }
    tokio::time::timeout(bound, fut).await.map_err(|_| OperationTimeout::new(operation, bound))
}

/// What a bounded blocking connect's thread and its caller share.
struct Handoff<T> {
    state: Mutex<Slot<T>>,
    ready: Condvar,
}

enum Slot<T> {
    /// The caller still waits.
    Waiting,
    /// The connect ended (or panicked) before the caller gave up.
    Done(thread::Result<T>),
    /// The caller gave up: whatever the connect returns is the thread's to close.
    Abandoned,
}

/// Runs `connector.connect()` on a thread of its own and waits at most `bound` for it.
///
/// A connect that has not returned by then fails the caller with a timeout; when it does
/// return, its connection is closed on that thread (`terminate`). A panic in the connect
/// is resumed on the caller's thread, as if it had called `connect` itself. The thread
/// enters the caller's tokio runtime, if any. If no thread
/// can be started, the connect runs on the caller's thread, unbounded.
pub(crate) fn connect_on_thread<C: Connector>(
    connector: &Arc<C>,
    bound: Duration,
) -> Result<Result<C::Connection, C::Error>, OperationTimeout> {
    let handoff = Arc::new(Handoff { state: Mutex::new(Slot::Waiting), ready: Condvar::new() });
    // A connector over an async driver looks for the caller's tokio runtime to drive the
    // connection it opens: the thread enters it, so the connect sees what the caller would.
    let runtime = tokio::runtime::Handle::try_current().ok();
    let spawned = {
        let handoff = Arc::clone(&handoff);
        let connector = Arc::clone(connector);
        thread::Builder::new().name("pool-connect".into()).spawn(move || {
            let _entered = runtime.as_ref().map(|handle| handle.enter());
            let result = panic::catch_unwind(AssertUnwindSafe(|| connector.connect()));
            let mut state = handoff.state.lock();
            if matches!(*state, Slot::Abandoned) {
                drop(state);
                if let Ok(Ok(late)) = result {
                    let _ = connector.terminate(late);
                }
                return;
            }
            *state = Slot::Done(result);
            handoff.ready.notify_one();
        })
    };
    if spawned.is_err() {
        tracing::debug!("no thread for a bounded connect; connecting on the caller's thread");
        return Ok(connector.connect());
    }
    let deadline = Instant::now().checked_add(bound);
    let mut state = handoff.state.lock();
    while matches!(*state, Slot::Waiting) {
        let Some(deadline) = deadline else {
            handoff.ready.wait(&mut state);
            continue;
        };
        if handoff.ready.wait_until(&mut state, deadline).timed_out()
            && matches!(*state, Slot::Waiting)
        {
            *state = Slot::Abandoned;
            return Err(OperationTimeout::new(Operation::Connect, bound));
        }
    }
    match std::mem::replace(&mut *state, Slot::Abandoned) {
        Slot::Done(Ok(result)) => Ok(result),
        Slot::Done(Err(payload)) => {
            drop(state);
            panic::resume_unwind(payload)
        }
        Slot::Waiting | Slot::Abandoned => unreachable!("the loop above waits until Done"),
    }
}
