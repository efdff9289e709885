//! Checks: reset on return and finalizers (SQLAlchemy's `ResetOnReturnTest`, `_reset` and
//! `_ConnectionRecord.checkin`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pool_core::{ConnectionRecord, Connector, ListenerError, PoolListener, PooledConnection};
use pool_core::{ResetOnReturn, ResetState};

use super::{closed_after_return, then_closed};
use crate::{build, Backend, Call, CallLog, EventLog, Harness, Identified, Outcome, Spec};

/// What a [`Probe`] saw: the event, the connection, the reset state, and how many calls
/// the connector log held at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    event: &'static str,
    conn: Option<u64>,
    state: Option<ResetState>,
    calls_before: usize,
}

/// A listener that records `reset` and `checkin` with the length of the call log, so a
/// check can tell whether the rollback or commit came before or after the event.
#[derive(Debug, Clone)]
struct Probe {
    log: CallLog,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Probe {
    fn new(log: &CallLog) -> Self {
        Probe { log: log.clone(), seen: Arc::default() }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }

    fn clear(&self) {
        self.seen.lock().clear();
    }

    fn push(&self, event: &'static str, conn: Option<u64>, state: Option<ResetState>) {
        let calls_before = self.log.calls().len();
        self.seen.lock().push(Seen { event, conn, state, calls_before });
    }
}

impl<C> PoolListener<C> for Probe
where
    C: Connector,
    C::Connection: Identified,
{
    fn reset(
        &self,
        conn: &mut C::Connection,
        _record: Option<&mut ConnectionRecord<C>>,
        state: ResetState,
    ) -> Result<(), ListenerError> {
        self.push("reset", Some(conn.conn_id()), Some(state));
        Ok(())
    }

    fn checkin(&self, conn: Option<&mut C::Connection>, _record: &mut ConnectionRecord<C>) {
        self.push("checkin", conn.map(|c| c.conn_id()), None);
    }
}

/// A reset listener standing for SQLAlchemy's `special_reset_method()`: it counts its
/// calls, per connection.
#[derive(Debug, Clone, Default)]
struct SpecialReset {
    calls: Arc<Mutex<Vec<u64>>>,
}

impl<C> PoolListener<C> for SpecialReset
where
    C: Connector,
    C::Connection: Identified,
{
    fn reset(
        &self,
        conn: &mut C::Connection,
        _record: Option<&mut ConnectionRecord<C>>,
        _state: ResetState,
    ) -> Result<(), ListenerError> {
        self.calls.lock().push(conn.conn_id());
        Ok(())
    }
}

/// The events of a plain return: `reset`, `checkin`, and `close` in a pool that keeps no
/// connection (NullPool: connect, checkout, reset, checkin, close).
fn return_events<H: Harness>() -> Vec<&'static str> {
    if H::caps().reuses_connections {
        vec!["reset", "checkin"]
    } else {
        vec!["reset", "checkin", "close"]
    }
}

/// The calls the connector made for one checkout and return in `mode`, with the events
/// an [`EventLog`] saw during the return.
fn one_return<H: Harness, B: Backend>(
    backend: &B,
    mode: ResetOnReturn,
) -> (u64, Vec<Call>, Vec<&'static str>) {
    let log = backend.log();
    let events = EventLog::new();
    let p = build::<H, B>(backend, Spec::default(), |b| {
        b.reset_on_return(mode).listener(events.clone())
    });
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    log.clear();
    events.clear();
    drop(c);
    (id, log.calls(), events.names())
}

// test_pool.py ResetOnReturnTest.test_plain_rollback: "rollback" rolls back and never
// commits; the reset listener is called too.
/// Rollback mode rolls back on return and does not commit.
pub fn reset_plain_rollback<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (id, calls, events) = one_return::<H, B>(backend, ResetOnReturn::Rollback);
    assert_eq!(calls, then_closed::<H>(vec![Call::Rollback(id)], id));
    assert_eq!(events, return_events::<H>());
    Ok(())
}

// test_pool.py ResetOnReturnTest.test_plain_commit: "commit" commits and never rolls back.
/// Commit mode commits on return and does not roll back.
pub fn reset_plain_commit<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (id, calls, events) = one_return::<H, B>(backend, ResetOnReturn::Commit);
    assert_eq!(calls, then_closed::<H>(vec![Call::Commit(id)], id));
    assert_eq!(events, return_events::<H>());
    Ok(())
}

// test_pool.py ResetOnReturnTest.test_plain_none: None neither rolls back nor commits (the
// reset event still fires, semantics §2.5 step 4).
/// Mode "none" neither rolls back nor commits; the reset event still fires.
pub fn reset_plain_none<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (id, calls, events) = one_return::<H, B>(backend, ResetOnReturn::from(None));
    assert_eq!(calls, closed_after_return::<H>(id), "no rollback, no commit");
    assert_eq!(events, return_events::<H>());
    Ok(())
}

// test_pool.py ResetOnReturnTest.test_custom: with reset_on_return=None and a reset
// listener, only the listener's own reset runs.
/// A reset listener with mode "none" is the only reset performed.
pub fn reset_custom<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = backend.log();
    let special = SpecialReset::default();
    let p = build::<H, B>(backend, Spec::default(), |b| {
        b.reset_on_return(None::<ResetOnReturn>).listener(special.clone())
    });
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    log.clear();
    drop(c);
    assert_eq!(*special.calls.lock(), vec![id], "the custom reset runs once");
    assert_eq!(log.calls(), closed_after_return::<H>(id), "no rollback, no commit");
    Ok(())
}

// semantics §2.5 step 1 and §3 (reset event): the reset event fires on every return,
// whatever the mode, before the rollback or commit, and checkin fires after both.
/// The reset event fires in every mode, before the rollback or commit.
pub fn reset_event_precedes_reset<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = backend.log();
    for mode in [ResetOnReturn::Rollback, ResetOnReturn::Commit, ResetOnReturn::Nothing] {
        let probe = Probe::new(log);
        let p = build::<H, B>(backend, Spec::default(), |b| {
            b.reset_on_return(mode).listener(probe.clone())
        });
        let c = H::get(&p).expect("checkout");
        let id = c.conn_id();
        log.clear();
        drop(c);
        let expected: Vec<Call> = match mode {
            ResetOnReturn::Rollback => vec![Call::Rollback(id)],
            ResetOnReturn::Commit => vec![Call::Commit(id)],
            ResetOnReturn::Nothing => vec![],
        };
        assert_eq!(log.calls(), then_closed::<H>(expected.clone(), id), "{mode}");
        let state = Some(ResetState::default());
        assert_eq!(
            probe.seen(),
            vec![
                Seen { event: "reset", conn: Some(id), state, calls_before: 0 },
                Seen {
                    event: "checkin",
                    conn: Some(id),
                    state: None,
                    calls_before: expected.len()
                },
            ],
            "{mode}: reset must fire before the connector call, checkin after it"
        );
    }
    Ok(())
}

// semantics §2.4 `_close_special(transaction_reset=True)`, §2.5 and §5.2 item 9: when the
// holder says it already ended its transaction, the rollback is skipped but the reset event
// still fires (1.4.43+, #8717), and commit mode still commits.
/// `close_after_reset` skips the rollback, still fires reset, and still commits in commit mode.
pub fn reset_close_after_reset<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = backend.log();
    for mode in [ResetOnReturn::Rollback, ResetOnReturn::Commit, ResetOnReturn::Nothing] {
        let probe = Probe::new(log);
        let p = build::<H, B>(backend, Spec::default(), |b| {
            b.reset_on_return(mode).listener(probe.clone())
        });
        let c = H::get(&p).expect("checkout");
        let id = c.conn_id();
        log.clear();
        PooledConnection::close_after_reset(c);
        let expected: Vec<Call> = match mode {
            ResetOnReturn::Commit => vec![Call::Commit(id)],
            ResetOnReturn::Rollback | ResetOnReturn::Nothing => vec![],
        };
        assert_eq!(log.calls(), then_closed::<H>(expected, id), "{mode}: after close_after_reset");
        let seen = probe.seen();
        assert_eq!(seen.len(), 2, "{mode}: {seen:?}");
        assert_eq!(seen[0].event, "reset", "{mode}: the reset event still fires");
        assert!(
            seen[0].state.is_some_and(|s| s.transaction_was_reset),
            "{mode}: the listener is told the transaction was already reset: {seen:?}"
        );
        assert_eq!((seen[1].event, seen[1].conn), ("checkin", Some(id)));

        // A plain return afterwards is a normal reset again.
        probe.clear();
        let c = H::get(&p).expect("checkout");
        let id = c.conn_id();
        log.clear();
        drop(c);
        assert!(probe.seen()[0].state.is_some_and(|s| !s.transaction_was_reset));
        let plain = log.calls();
        match mode {
            ResetOnReturn::Rollback => {
                assert_eq!(plain, then_closed::<H>(vec![Call::Rollback(id)], id))
            }
            ResetOnReturn::Commit => {
                assert_eq!(plain, then_closed::<H>(vec![Call::Commit(id)], id))
            }
            ResetOnReturn::Nothing => assert_eq!(plain, closed_after_return::<H>(id)),
        }
    }
    Ok(())
}

// semantics §2.4 "Reset raising" (verified): a failing rollback is logged and swallowed,
// the connection is invalidated (invalidate, close; terminated), checkin fires with no
// connection, the record goes back to the pool and reconnects at its next checkout. The
// finalizers registered for the connection are dropped with it.
/// A failing rollback invalidates the connection, returns the slot, and the record reconnects.
pub fn reset_failed_rollback_invalidates<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    let log = backend.log();
    let events = EventLog::new();
    let p = build::<H, B>(backend, Spec::default(), |b| b.listener(events.clone()));
    let mut c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    let rec = PooledConnection::record(&c).expect("record").id();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    PooledConnection::record_mut(&mut c).expect("record").add_finalizer(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let out = p.status();

    log.clear();
    events.clear();
    script.fail_rollbacks(1);
    drop(c); // must not panic: the error is swallowed
    assert_eq!(log.calls(), vec![Call::Rollback(id), Call::Terminate(id)]);
    assert_eq!(
        events.named_ids(),
        vec![("reset", Some(id)), ("invalidate", Some(id)), ("close", Some(id)), ("checkin", None)]
    );
    assert_eq!(events.events()[1].reason.as_deref(), Some("rollback failed"));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the finalizer is dropped with the connection");
    assert_eq!(Arc::strong_count(&ran), 1, "the finalizer itself was dropped");
    let back = p.status();
    assert_eq!(back.checked_out, out.checked_out - 1, "the slot is returned");
    if H::caps().reuses_connections {
        assert_eq!(back.idle, out.idle + 1);
    }

    log.clear();
    let c = H::get(&p).expect("the record reconnects");
    if H::caps().reuses_connections {
        assert_eq!(PooledConnection::record(&c).expect("record").id(), rec);
    }
    assert_eq!(log.calls(), vec![Call::Connect(c.conn_id())]);
    Ok(())
}

// semantics §1.1 reset_on_return: "rollback", True and 1 mean rollback; "none", None, False
// and 0 mean none; "commit" means commit; anything else is refused. SQLAlchemy's message is
// `Invalid value for 'reset_on_return': 'foo'` (ArgumentError, Python repr); ours starts
// with `invalid value for 'reset_on_return': ` and the value, then says what to use.
/// `reset_on_return` accepts SQLAlchemy's spellings and refuses anything else.
pub fn reset_mode_parsing<H: Harness, B: Backend>(backend: &B) -> Outcome {
    use ResetOnReturn::{Commit, Nothing, Rollback};
    let parse = |s: &str| s.parse::<ResetOnReturn>();
    assert_eq!(parse("rollback"), Ok(Rollback));
    assert_eq!(ResetOnReturn::from(true), Rollback);
    assert_eq!(ResetOnReturn::try_from(1), Ok(Rollback));
    assert_eq!(parse("none"), Ok(Nothing));
    assert_eq!(ResetOnReturn::from(false), Nothing);
    assert_eq!(ResetOnReturn::try_from(0), Ok(Nothing));
    assert_eq!(ResetOnReturn::from(None), Nothing);
    assert_eq!(parse("commit"), Ok(Commit));
    assert_eq!(ResetOnReturn::from(Some(Commit)), Commit);
    assert_eq!(ResetOnReturn::default(), Rollback, "SQLAlchemy's default is rollback");

    let refused = [
        (parse("foo").unwrap_err(), "\"foo\""),
        (parse("ROLLBACK").unwrap_err(), "\"ROLLBACK\""),
        (ResetOnReturn::try_from(2).unwrap_err(), "2"),
        (ResetOnReturn::try_from(-1).unwrap_err(), "-1"),
    ];
    for (err, shown) in refused {
        assert_eq!(err.setting(), "reset_on_return");
        let message = err.to_string();
        let expected = format!("invalid value for 'reset_on_return': {shown}");
        assert!(message.starts_with(&expected), "{message:?} should start with {expected:?}");
    }

    // The parsed value is what the pool keeps.
    for mode in [Rollback, Commit, Nothing] {
        let p = build::<H, B>(backend, Spec::default(), |b| b.reset_on_return(mode));
        assert_eq!(p.config().reset_on_return(), mode);
        assert_eq!(parse(mode.as_str()), Ok(mode), "as_str round-trips");
    }
    Ok(())
}

// semantics §2.1 finalize_callback and §2.4 rec.checkin: finalizers run on checkin,
// last-added first, after the reset and before the checkin event, with the connection;
// they run once. SQLAlchemy's `__close` clears them without running them, and so does our
// core when a connection is invalidated.
/// Finalizers run on checkin, newest first, between reset and checkin; invalidation drops them.
pub fn reset_finalizers<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = backend.log();
    let trace: Arc<Mutex<Vec<String>>> = Arc::default();
    let probe = Probe::new(log);
    let p = build::<H, B>(backend, Spec::default(), |b| b.listener(probe.clone()));

    let mut c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    for n in 1..=3 {
        let trace = Arc::clone(&trace);
        let log = log.clone();
        PooledConnection::record_mut(&mut c).expect("record").add_finalizer(move |conn| {
            let conn = conn.map(|c| c.conn_id());
            let after_rollback = log.calls().contains(&Call::Rollback(id));
            trace.lock().push(format!("fin{n} conn={conn:?} after_rollback={after_rollback}"));
        });
    }
    log.clear();
    drop(c);
    assert_eq!(
        *trace.lock(),
        vec![
            format!("fin3 conn={:?} after_rollback=true", Some(id)),
            format!("fin2 conn={:?} after_rollback=true", Some(id)),
            format!("fin1 conn={:?} after_rollback=true", Some(id)),
        ],
        "finalizers run newest first, after the rollback, with the connection"
    );
    let seen = probe.seen();
    assert_eq!(
        seen.iter().map(|s| s.event).collect::<Vec<_>>(),
        vec!["reset", "checkin"],
        "{seen:?}"
    );
    // Against the events: reset, then the finalizer, then checkin.
    let order: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let mut c = H::get(&p).expect("checkout");
    {
        let order = Arc::clone(&order);
        PooledConnection::record_mut(&mut c)
            .expect("record")
            .add_finalizer(move |_| order.lock().push("finalizer"));
    }
    p.listen(Ordered(Arc::clone(&order)));
    drop(c);
    assert_eq!(*order.lock(), vec!["reset", "finalizer", "checkin"]);

    // Finalizers run once: the next return of the same connection runs none.
    trace.lock().clear();
    drop(H::get(&p).expect("checkout"));
    assert!(trace.lock().is_empty(), "finalizers ran again: {:?}", trace.lock());

    // An invalidated connection drops its finalizers without running them.
    let ran = Arc::new(AtomicUsize::new(0));
    let mut c = H::get(&p).expect("checkout");
    let counter = Arc::clone(&ran);
    PooledConnection::record_mut(&mut c).expect("record").add_finalizer(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    PooledConnection::invalidate(c, None);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "an invalidated connection's finalizers don't run");
    assert_eq!(Arc::strong_count(&ran), 1, "they are dropped");
    Ok(())
}

/// A listener that appends `reset` and `checkin` to a shared order list.
#[derive(Debug, Clone)]
struct Ordered(Arc<Mutex<Vec<&'static str>>>);

impl<C: Connector> PoolListener<C> for Ordered {
    fn reset(
        &self,
        _conn: &mut C::Connection,
        _record: Option<&mut ConnectionRecord<C>>,
        _state: ResetState,
    ) -> Result<(), ListenerError> {
        self.0.lock().push("reset");
        Ok(())
    }

    fn checkin(&self, _conn: Option<&mut C::Connection>, _record: &mut ConnectionRecord<C>) {
        self.0.lock().push("checkin");
    }
}

// r2d2's `has_broken` (no SQLAlchemy counterpart; pool-core's `Connector::is_broken`): a
// connection the connector reports broken when it comes back is invalidated (invalidate,
// close, checkin without a connection) instead of reset, and its record reconnects.
/// A connection reported broken on return is invalidated, not reset.
pub fn reset_broken_connection_invalidated<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    let log = backend.log();
    let events = EventLog::new();
    let p = build::<H, B>(backend, Spec::default(), |b| b.listener(events.clone()));
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    let before = p.status();
    script.mark_broken(id);
    log.clear();
    events.clear();
    drop(c);
    assert_eq!(log.calls(), vec![Call::Terminate(id)], "no rollback for a broken connection");
    assert_eq!(
        events.named_ids(),
        vec![("invalidate", Some(id)), ("close", Some(id)), ("checkin", None)]
    );
    assert_eq!(p.status().checked_out, before.checked_out - 1, "the slot came back");
    let again = H::get(&p).expect("a new connection");
    assert_ne!(again.conn_id(), id);
    Ok(())
}
