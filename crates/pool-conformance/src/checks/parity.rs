//! SQLAlchemy 2.0's additions to the pool's contract: the `handle_error` hook that
//! re-classifies an error as a disconnect (or not), and the reset state's
//! `terminate_only` and `asyncio_safe` (semantics §6, "What 2.0 changed").

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::{
    CheckoutError, ConnectionRecord, Connector, ErrorContext, ErrorOrigin, ListenerError,
    PoolListener, PooledConnection, ResetState,
};

use super::{needs_reuse, then_closed};
use crate::observe::eventually;
use crate::{build, Backend, Call, EventLog, Harness, Identified, Outcome, Reason, Skip, Spec};

/// A short timeout, so that a slot the pool failed to give back fails the check quickly.
const SHORT: Option<Duration> = Some(Duration::from_secs(2));

/// What a [`Classifier`] saw: where the error came from, and the verdict it arrived
/// with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    origin: ErrorOrigin,
    pre_ping: bool,
    disconnect: bool,
    invalidate_pool: bool,
    message: String,
}

/// A `handle_error` listener: records the error in an [`EventLog`] (as `handle_error`,
/// the message as its reason) and in its own list, then gives its verdict on the errors
/// whose message contains `matching`.
#[derive(Debug, Clone, Default)]
struct Classifier {
    log: EventLog,
    matching: &'static str,
    /// The disconnect verdict it gives; `None` leaves the one it got.
    disconnect: Option<bool>,
    /// Whether a disconnect invalidates the pool; `None` leaves it.
    invalidate_pool: Option<bool>,
    panics: bool,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Classifier {
    fn new(log: &EventLog) -> Self {
        Classifier { log: log.clone(), ..Classifier::default() }
    }

    fn says(
        mut self,
        matching: &'static str,
        disconnect: Option<bool>,
        pool: Option<bool>,
    ) -> Self {
        self.matching = matching;
        self.disconnect = disconnect;
        self.invalidate_pool = pool;
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }
}

impl<C: Connector> PoolListener<C> for Classifier {
    fn handle_error(&self, ctx: &mut ErrorContext<'_>) {
        let message = ctx.error().to_string();
        self.log.push("handle_error", None, None, Some(message.clone()));
        self.seen.lock().push(Seen {
            origin: ctx.origin(),
            pre_ping: ctx.is_pre_ping(),
            disconnect: ctx.is_disconnect(),
            invalidate_pool: ctx.invalidate_pool_on_disconnect(),
            message: message.clone(),
        });
        if self.panics {
            panic!("handle_error listener panics");
        }
        if message.contains(self.matching) {
            if let Some(disconnect) = self.disconnect {
                ctx.set_disconnect(disconnect);
            }
            if let Some(pool) = self.invalidate_pool {
                ctx.set_invalidate_pool_on_disconnect(pool);
            }
        }
    }
}

/// A `checkout` listener that refuses its first `left` checkouts, as a disconnect or as
/// a plain failure.
#[derive(Debug, Clone)]
struct RefuseFirst {
    left: Arc<AtomicUsize>,
    disconnect: bool,
}

impl RefuseFirst {
    fn new(n: usize, disconnect: bool) -> Self {
        RefuseFirst { left: Arc::new(AtomicUsize::new(n)), disconnect }
    }
}

impl<C: Connector> PoolListener<C> for RefuseFirst {
    fn checkout(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        let refuse =
            self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match refuse {
            Err(_) => Ok(()),
            Ok(_) if self.disconnect => {
                Err(ListenerError::disconnect(Reason("the session was reset")))
            }
            Ok(_) => Err(ListenerError::new(Reason("the server is read-only now"))),
        }
    }
}

fn seen(origin: ErrorOrigin, disconnect: bool, invalidate_pool: bool, message: &str) -> Seen {
    let pre_ping = matches!(origin, ErrorOrigin::PrePing | ErrorOrigin::Keepalive);
    Seen { origin, pre_ping, disconnect, invalidate_pool, message: message.to_owned() }
}

/// The event names recorded so far, without `first_connect`.
fn names(log: &EventLog) -> Vec<&'static str> {
    log.names().into_iter().filter(|n| *n != "first_connect").collect()
}

// SQLAlchemy 2.0's `handle_error` on a statement's error (`Connection._handle_dbapi_exception`):
// the listeners see the error with the dialect's verdict, in order, each seeing the
// previous one's; a disconnect they declare invalidates the connection and, unless
// `invalidate_pool_on_disconnect` was cleared, the pool. Any error type can be handed in.
/// `handle_error` listeners decide whether a holder's error is a disconnect.
pub fn handle_error_reclassifies_holder_errors<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = EventLog::new();
    let first = Classifier::new(&log).says("server gone", Some(true), None);
    let second = Classifier::new(&log).says("local only", None, Some(false));
    let p = build::<H, B>(backend, Spec::default().with_timeout(SHORT), |b| {
        b.listener(log.clone()).listener(first.clone()).listener(second.clone())
    });
    let c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    let generation = p.generation();
    log.clear();
    backend.log().clear();

    let plain = Reason("duplicate key value violates unique constraint");
    let c = PooledConnection::handle_error(c, &plain).expect("not a disconnect: kept");
    assert_eq!(c.conn_id(), a);
    assert_eq!(names(&log), ["handle_error", "handle_error"], "both listeners heard it");
    let heard = seen(ErrorOrigin::Holder, false, true, plain.0);
    assert_eq!(first.seen(), std::slice::from_ref(&heard), "the pool's own verdict comes first");
    assert_eq!(second.seen(), [heard]);
    assert!(backend.log().calls().is_empty(), "nothing was closed");
    assert_eq!(p.generation(), generation);

    log.clear();
    first.seen.lock().clear();
    second.seen.lock().clear();
    let gone = Reason("server gone");
    assert!(PooledConnection::handle_error(c, &gone).is_none(), "a disconnect consumes it");
    assert_eq!(
        second.seen(),
        [seen(ErrorOrigin::Holder, true, true, gone.0)],
        "the second listener sees the first one's verdict"
    );
    assert_eq!(
        names(&log),
        ["handle_error", "handle_error", "invalidate", "close", "checkin"],
        "the verdict comes before the invalidation"
    );
    assert_eq!(backend.log().calls_for(a), [Call::Terminate(a)], "closed abruptly, no reset");
    assert_eq!(p.generation(), generation + 1, "the pool is invalidated by default");
    assert_eq!(p.status().checked_out, 0, "the slot is back");

    let c = H::get(&p).expect("checkout");
    let b = c.conn_id();
    assert_ne!(a, b);
    let generation = p.generation();
    let local = Reason("server gone, local only");
    assert!(PooledConnection::handle_error(c, &local).is_none(), "a disconnect consumes it");
    assert_eq!(p.generation(), generation, "a listener kept the rest of the pool");
    assert!(backend.log().calls_for(b).contains(&Call::Terminate(b)));
    assert_eq!(p.status().checked_out, 0);
    Ok(())
}

// The extension of `handle_error` to the pool's own checkout listeners: a plain
// failure a listener re-classifies as a disconnect is retried on a new connection (and
// invalidates the pool, as SQLAlchemy's `InvalidatePoolError` would), a
// `ListenerError::disconnect` starts with `invalidate_pool_on_disconnect` false, and a
// disconnect declared not one fails the checkout, losing nothing.
/// `handle_error` listeners decide whether a checkout listener's error is a disconnect.
pub fn handle_error_reclassifies_checkout_listener_errors<H: Harness, B: Backend>(
    backend: &B,
) -> Outcome {
    let scenario = |refuse: RefuseFirst, classifier: Classifier| {
        let log = classifier.log.clone();
        let p = build::<H, B>(backend, Spec::default().with_timeout(SHORT), |b| {
            b.listener(log.clone()).listener(refuse).listener(classifier.clone())
        });
        backend.log().clear();
        let generation = p.generation();
        (p, log, generation)
    };

    // A plain failure, declared a disconnect: retried, the pool invalidated.
    let classifier = Classifier::new(&EventLog::new()).says("read-only", Some(true), None);
    let (p, log, generation) = scenario(RefuseFirst::new(1, false), classifier.clone());
    let c = H::get(&p).expect("retried on a new connection");
    let refused = first_connect(backend);
    assert_ne!(c.conn_id(), refused);
    let message = "a pool listener failed: the server is read-only now";
    assert_eq!(classifier.seen(), [seen(ErrorOrigin::CheckoutListener, false, true, message)]);
    assert_eq!(
        names(&log),
        ["connect", "checkout", "handle_error", "invalidate", "close", "connect", "checkout"]
    );
    assert_eq!(p.generation(), generation + 1, "a re-classified failure invalidates the pool");
    drop(c);

    // A disconnect asks to replace its own connection only, unless a listener says more.
    let classifier = Classifier::new(&EventLog::new());
    let (p, _log, generation) = scenario(RefuseFirst::new(1, true), classifier.clone());
    let c = H::get(&p).expect("retried on a new connection");
    assert_ne!(c.conn_id(), first_connect(backend));
    let message = "a pool listener reported a disconnect: the session was reset";
    assert_eq!(classifier.seen(), [seen(ErrorOrigin::CheckoutListener, true, false, message)]);
    assert_eq!(p.generation(), generation);
    drop(c);

    // A disconnect declared not one: the checkout fails, the connection is closed.
    let classifier = Classifier::new(&EventLog::new()).says("reset", Some(false), None);
    let (p, _log, _) = scenario(RefuseFirst::new(1, true), classifier.clone());
    let err = H::get(&p).expect_err("not a disconnect: the checkout fails");
    assert!(matches!(err, CheckoutError::Listener(_)), "{err}");
    assert!(err.to_string().contains("the session was reset"), "{err}");
    let refused = first_connect(backend);
    assert!(backend.log().calls_for(refused).iter().any(|c| c.is_close()), "closed");
    assert_eq!(p.status().checked_out, 0, "the slot is back");
    assert_ne!(H::get(&p).expect("the next checkout works").conn_id(), refused);
    Ok(())
}

/// The first connection the backend opened since its log was cleared.
fn first_connect<B: Backend>(backend: &B) -> u64 {
    backend
        .log()
        .calls()
        .into_iter()
        .find_map(|c| if let Call::Connect(id) = c { Some(id) } else { None })
        .expect("a connection was opened")
}

// SQLAlchemy 2.0.5's `_do_ping_w_event`: a failed pre-ping goes through `handle_error`
// with `is_pre_ping`; a disconnect (by the dialect's or a listener's say) replaces the
// connection, anything else is raised. Here `invalidate_pool_on_disconnect` is honoured
// at pre-ping too (SQLAlchemy always invalidates the pool there).
/// `handle_error` listeners decide whether a failed pre-ping is a disconnect.
pub fn handle_error_reclassifies_pre_ping<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let script = backend.script()?;
    let pinged = |classifier: &Classifier| {
        let log = classifier.log.clone();
        let p = build::<H, B>(backend, Spec::default().with_timeout(SHORT), |b| {
            b.pre_ping(true).listener(log).listener(classifier.clone())
        });
        let a = H::get(&p).expect("checkout").conn_id();
        (p, a)
    };

    // An ordinary ping error, declared a disconnect that keeps the rest of the pool.
    let classifier = Classifier::new(&EventLog::new()).says("", Some(true), Some(false));
    let (p, a) = pinged(&classifier);
    let generation = p.generation();
    script.fail_pings(1, false);
    let c = H::get(&p).expect("replaced and retried");
    assert_ne!(c.conn_id(), a);
    let heard = classifier.seen();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(
        (heard[0].origin, heard[0].pre_ping, heard[0].disconnect),
        (ErrorOrigin::PrePing, true, false)
    );
    assert!(heard[0].invalidate_pool, "a failed pre-ping invalidates the pool by default");
    assert_eq!(p.generation(), generation, "the listener kept the rest of the pool");
    assert!(backend.log().calls_for(a).contains(&Call::Terminate(a)));
    drop(c);

    // A disconnect declared not one: the checkout fails with the ping's error.
    let classifier = Classifier::new(&EventLog::new()).says("", Some(false), None);
    let (p, a) = pinged(&classifier);
    script.fail_pings(1, true);
    let err = H::get(&p).expect_err("not a disconnect: the checkout fails");
    assert!(matches!(err, CheckoutError::Ping(_)), "{err}");
    assert!(classifier.seen()[0].disconnect, "the connector's verdict came first");
    assert!(backend.log().calls_for(a).iter().any(|c| c.is_close()), "the connection is closed");
    assert_eq!(p.status().checked_out, 0, "the slot is back");
    Ok(())
}

// SQLAlchemy 2.0 runs `handle_error` for connect errors too
// (`_handle_dbapi_exception_noconnection`). Here the verdict decides `connect_retry`:
// a disconnect is retried, anything else fails at once.
/// `handle_error` listeners decide whether `connect_retry` retries a failed connect.
pub fn handle_error_decides_connect_retry<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    let retrying = |classifier: &Classifier| {
        build::<H, B>(backend, Spec::default().with_timeout(SHORT), |b| {
            b.connect_retry(Duration::from_secs(10)).listener(classifier.clone())
        })
    };

    let classifier = Classifier::new(&EventLog::new());
    let p = retrying(&classifier);
    let before = script.connect_attempts();
    script.fail_connects(1);
    H::get(&p).expect_err("an ordinary connect error is not retried");
    assert_eq!(script.connect_attempts(), before + 1);
    assert_eq!(classifier.seen(), [seen(ErrorOrigin::Connect, false, false, "connect failed")]);

    let classifier = Classifier::new(&EventLog::new()).says("connect failed", Some(true), None);
    let p = retrying(&classifier);
    let before = script.connect_attempts();
    script.fail_connects(1);
    drop(H::get(&p).expect("declared a disconnect: retried"));
    assert_eq!(script.connect_attempts(), before + 2);
    Ok(())
}

// The keepalive (issue 12) is a ping like pre-ping, so `handle_error` hears it with
// `is_pre_ping`: an ordinary ping error declared a disconnect closes the connection and,
// by default, invalidates the pool.
/// `handle_error` listeners decide whether a failed keepalive ping is a disconnect.
pub fn handle_error_judges_keepalive<H: Harness, B: Backend>(backend: &B) -> Outcome {
    super::maintain::needs_maintenance::<H>()?;
    let script = backend.script()?;
    let classifier = Classifier::new(&EventLog::new()).says("", Some(true), None);
    let p = build::<H, B>(backend, Spec::sized(1, Some(0)), |b| {
        b.keepalive(Duration::from_millis(25)).listener(classifier.clone())
    });
    let c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    let generation = p.generation();
    script.fail_pings(1, false);
    drop(c);
    eventually("the keepalive's verdict", || p.generation() == generation + 1);
    let heard = classifier.seen();
    assert_eq!(
        (heard[0].origin, heard[0].pre_ping, heard[0].disconnect),
        (ErrorOrigin::Keepalive, true, false)
    );
    eventually("closed", || backend.log().calls_for(a).iter().any(|c| c.is_close()));
    assert_ne!(H::get(&p).expect("checkout").conn_id(), a, "replaced");
    Ok(())
}

// The unwind rule (issue 14) for the new listener: a panicking `handle_error` listener's
// panic reaches the caller, and the connection it was judging is closed once, its slot
// given back.
/// A panicking `handle_error` listener loses no slot and no connection.
pub fn handle_error_listener_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let classifier = Classifier { panics: true, ..Classifier::default() };
    let p = build::<H, B>(backend, Spec::default().with_timeout(SHORT), |b| {
        b.listener(RefuseFirst::new(1, false)).listener(classifier.clone())
    });
    backend.log().clear();
    let got = panic::catch_unwind(AssertUnwindSafe(|| H::get(&p)));
    assert!(got.is_err(), "the listener's panic reaches the caller");
    assert_eq!(classifier.seen().len(), 1);
    let refused = first_connect(backend);
    let closes = backend.log().calls_for(refused).iter().filter(|c| c.is_close()).count();
    assert_eq!(closes, 1, "the judged connection is closed once");
    assert_eq!(p.status().checked_out, 0, "the slot is back");
    let c = H::get(&p).expect("the next checkout works");
    assert_ne!(c.conn_id(), refused);
    Ok(())
}

/// The reset states a [`EventLog`] recorded, in order.
fn states(log: &EventLog) -> Vec<ResetState> {
    log.events().into_iter().filter_map(|e| e.state).collect()
}

/// A reset state with these three fields.
fn state(transaction_was_reset: bool, terminate_only: bool, asyncio_safe: bool) -> ResetState {
    let mut s = ResetState::default();
    s.transaction_was_reset = transaction_was_reset;
    s.terminate_only = terminate_only;
    s.asyncio_safe = asyncio_safe;
    s
}

// SQLAlchemy 2.0's `PoolResetState`: an ordinary return resets with neither flag, a
// `close_after_reset` says the transaction was reset, and a detached connection's close
// resets with `terminate_only` (its reset still rolls back: `asyncio_safe`).
/// The `reset` event's state on a return, a return after reset and a detached close.
pub fn reset_state_of_returns<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = EventLog::new();
    let p = build::<H, B>(backend, Spec::default(), |b| b.listener(log.clone()));
    drop(H::get(&p).expect("checkout"));
    PooledConnection::close_after_reset(H::get(&p).expect("checkout"));
    let mut c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    PooledConnection::detach(&mut c);
    backend.log().clear();
    drop(c);
    assert_eq!(
        states(&log),
        [state(false, false, true), state(true, false, true), state(false, true, true)]
    );
    assert_eq!(backend.log().calls(), [Call::Rollback(a), Call::Close(a)], "still reset");
    Ok(())
}

// SQLAlchemy 2.0's `_finalize_fairy` for an asyncio connection the garbage collector
// finds (`test_checkin_event_gc`: reset_no_rollback, detach, close_detached): here, a
// connection checked out with `get_async` and dropped after its runtime shut down. The
// `reset` event hears `terminate_only` without `asyncio_safe`, no rollback is sent, the
// connection is detached (its record goes back empty) and terminated. A connector
// without async I/O needs no runtime to return a connection: its return is the ordinary
// one (SQLAlchemy's sync case), on the dropping thread.
/// An async return whose runtime is gone: reset without I/O, detach, terminate.
pub fn reset_state_runtime_gone<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = EventLog::new();
    let p =
        build::<H, B>(backend, Spec::default().with_timeout(SHORT), |b| b.listener(log.clone()));
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let Some(c) = H::get_async_on(&p, &runtime) else {
        return Err(Skip::because(
            "blocking checkouts: a return runs on the dropping thread, where it may do I/O",
        ));
    };
    let c = c.expect("checkout");
    let a = c.conn_id();
    let r = PooledConnection::record(&c).expect("pooled").id();
    drop(runtime);
    log.clear();
    backend.log().clear();
    drop(c);
    let events: Vec<_> = log.events().into_iter().map(|e| (e.name, e.conn, e.record)).collect();
    if !<B::Connector as Connector>::ASYNC_IO {
        // A blocking driver's return needs no runtime: it runs on the dropping thread as
        // any return does (SQLAlchemy's sync case: reset_rollback_ok, checkin).
        let mut expected = vec![("reset", Some(a), Some(r)), ("checkin", Some(a), Some(r))];
        if !H::caps().reuses_connections {
            expected.push(("close", Some(a), Some(r)));
        }
        assert_eq!(events, expected);
        assert_eq!(states(&log), [ResetState::default()]);
        assert_eq!(backend.log().calls(), then_closed::<H>(vec![Call::Rollback(a)], a));
        assert_eq!(p.status().checked_out, 0);
        return Ok(());
    }
    assert_eq!(
        events,
        [
            ("reset", Some(a), Some(r)),
            ("detach", Some(a), Some(r)),
            ("close_detached", Some(a), None)
        ]
    );
    assert_eq!(states(&log), [state(false, true, false)]);
    assert_eq!(backend.log().calls(), [Call::Terminate(a)], "no rollback: no I/O can run");
    assert_eq!(p.status().checked_out, 0, "the record is back");
    let c = H::get(&p).expect("the next checkout works");
    assert_ne!(c.conn_id(), a);
    Ok(())
}
