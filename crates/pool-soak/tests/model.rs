//! The state-machine property test (issue 14): random sequences of checkouts, returns,
//! invalidations, detaches, disposes and recreates, with connector and listener faults
//! armed for single steps, run on every strategy against a small reference model. A
//! failing sequence shrinks to a minimal one.
//!
//! The model is what a single caller can know without looking inside the pool:
//!
//! - the handles it holds, each with its connection's id, its pool, and whether it was
//!   detached;
//! - per pool, how many of its connections are checked out (`PoolStatus::checked_out`
//!   must equal the held, attached handles) and how many checkouts succeeded
//!   (`Statistics::checkouts` must equal it);
//! - whether a checkout must succeed: with no fault armed, exactly when the strategy has
//!   room for one more holder on this thread (QueuePool: `pool_size + max_overflow`,
//!   StaticPool, AssertionPool and SingletonThreadPool: one, NullPool: any number);
//! - the call log's rules: no connection is closed twice, none is used after it was
//!   closed, none is closed while a caller holds it (unless that caller closed it), no
//!   two handles hold the same connection, and once every pool is dropped every
//!   connection opened was closed exactly once.
//!
//! A step with a fault arms it, runs, and disarms whatever it did not consume, so the
//! next step starts clean; the model then accepts the outcomes the fault allows.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Duration;

use pool_conformance::{Call, Script, ScriptedConnector};
use pool_core::{CheckoutError, Pool, PooledConnection, Strategy as PoolStrategy};
use pool_null::Null;
use pool_queue::{Queue, QueueConfig};
use pool_singleton_thread::{SingletonThread, SingletonThreadConfig};
use pool_soak::{faulty_pool, Faults};
use pool_static::{Assertion, Static, StaticConfig};
use proptest::prelude::*;

/// A fault armed for one step.
#[derive(Debug, Clone, Copy)]
enum Fault {
    ConnectFails,
    ConnectPanics,
    PingFails,
    RollbackFails,
    RollbackPanics,
    CloseFails,
    CheckoutListenerErrs,
    CheckoutListenerPanics,
    ResetListenerPanics,
    CheckinListenerPanics,
    CloseListenerPanics,
    DetachListenerPanics,
}

/// One step. A handle index is taken modulo the handles held (a step on no handle does
/// nothing).
#[derive(Debug, Clone, Copy)]
enum Op {
    Get(Option<Fault>),
    Drop(usize, Option<Fault>),
    CloseAfterReset(usize),
    Invalidate(usize, Option<Fault>),
    SoftInvalidate(usize),
    Detach(usize, Option<Fault>),
    Kill(usize),
    Dispose(Option<Fault>),
    Recreate,
}

fn fault() -> impl Strategy<Value = Option<Fault>> {
    use Fault::*;
    prop_oneof![
        4 => Just(None),
        1 => prop_oneof![
            Just(ConnectFails),
            Just(ConnectPanics),
            Just(PingFails),
            Just(RollbackFails),
            Just(RollbackPanics),
            Just(CloseFails),
            Just(CheckoutListenerErrs),
            Just(CheckoutListenerPanics),
            Just(ResetListenerPanics),
            Just(CheckinListenerPanics),
            Just(CloseListenerPanics),
            Just(DetachListenerPanics),
        ]
        .prop_map(Some),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let h = 0..8usize;
    prop_oneof![
        6 => fault().prop_map(Op::Get),
        4 => (h.clone(), fault()).prop_map(|(i, f)| Op::Drop(i, f)),
        1 => h.clone().prop_map(Op::CloseAfterReset),
        1 => (h.clone(), fault()).prop_map(|(i, f)| Op::Invalidate(i, f)),
        1 => h.clone().prop_map(Op::SoftInvalidate),
        1 => (h.clone(), fault()).prop_map(|(i, f)| Op::Detach(i, f)),
        1 => h.prop_map(Op::Kill),
        1 => fault().prop_map(Op::Dispose),
        1 => Just(Op::Recreate),
    ]
}

/// Arms `fault` on `script` and `faults`.
fn arm(script: &Script, faults: &Faults, fault: Option<Fault>) {
    use Fault::*;
    let one = |budget: &std::sync::atomic::AtomicUsize| budget.store(1, Ordering::Relaxed);
    match fault {
        None => {}
        Some(ConnectFails) => script.fail_connects(1),
        Some(ConnectPanics) => script.panic_connects(1),
        Some(PingFails) => script.fail_pings(1, true),
        Some(RollbackFails) => script.fail_rollbacks(1),
        Some(RollbackPanics) => script.panic_rollbacks(1),
        Some(CloseFails) => script.fail_closes(1),
        Some(CheckoutListenerErrs) => one(&faults.checkout_errors),
        Some(CheckoutListenerPanics) => one(&faults.checkout_panics),
        Some(ResetListenerPanics) => one(&faults.reset_panics),
        Some(CheckinListenerPanics) => one(&faults.checkin_panics),
        Some(CloseListenerPanics) => one(&faults.close_panics),
        Some(DetachListenerPanics) => one(&faults.detach_panics),
    }
}

/// Disarms every fault (what a step did not consume).
fn disarm(script: &Script, faults: &Faults) {
    script.fail_connects(0);
    script.panic_connects(0);
    script.fail_pings(0, true);
    script.fail_rollbacks(0);
    script.panic_rollbacks(0);
    script.fail_closes(0);
    for budget in [
        &faults.checkout_errors,
        &faults.checkout_panics,
        &faults.reset_panics,
        &faults.checkin_panics,
        &faults.close_panics,
        &faults.detach_panics,
    ] {
        budget.store(0, Ordering::Relaxed);
    }
}

/// A handle the caller holds.
struct Held<S: PoolStrategy<ScriptedConnector>> {
    conn: PooledConnection<ScriptedConnector, S>,
    id: u64,
    pool: usize,
    /// Counted by its pool as checked out (AssertionPool's dispose forgets its holder,
    /// as SQLAlchemy's does, and closes the connection when it comes back).
    counted: bool,
}

/// The model and the real pools, side by side.
struct Run<S: PoolStrategy<ScriptedConnector>> {
    script: Script,
    faults: std::sync::Arc<Faults>,
    /// Every pool made (recreate adds one); the last is current.
    pools: Vec<Pool<ScriptedConnector, S>>,
    /// Per pool: successful checkouts.
    checkouts: Vec<u64>,
    held: Vec<Held<S>>,
    /// How many handles of one pool this thread may hold at once.
    room: usize,
    /// Whether `dispose` forgets the holders (AssertionPool).
    dispose_forgets: bool,
    /// How far the call log has been checked, and what it has shown.
    log_seen: usize,
    closed: HashSet<u64>,
}

impl<S: PoolStrategy<ScriptedConnector>> Run<S> {
    fn new(config: S::Config, room: usize, dispose_forgets: bool) -> Self {
        let (script, faults, pool) = faulty_pool::<S>(config);
        Run {
            script,
            faults,
            pools: vec![pool],
            checkouts: vec![0],
            held: Vec::new(),
            room,
            dispose_forgets,
            log_seen: 0,
            closed: HashSet::new(),
        }
    }

    fn current(&self) -> usize {
        self.pools.len() - 1
    }

    /// Takes the handle `i` names (modulo), if any.
    fn take(&mut self, i: usize) -> Option<Held<S>> {
        (!self.held.is_empty()).then(|| self.held.remove(i % self.held.len()))
    }

    /// Runs `f`, catching an injected panic; whether it panicked.
    fn caught(f: impl FnOnce()) -> bool {
        panic::catch_unwind(AssertUnwindSafe(f)).is_err()
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Get(f) => {
                arm(&self.script, &self.faults, f);
                let pool = self.current();
                let attached = self.held.iter().filter(|h| h.pool == pool && h.attached()).count();
                let mut got = None;
                let panicked =
                    Self::caught(|| got = Some(self.pools[pool].get_timeout(Duration::ZERO)));
                disarm(&self.script, &self.faults);
                match got {
                    Some(Ok(conn)) => {
                        prop_assert!(
                            attached < self.room,
                            "a checkout past the room: {attached} held"
                        );
                        let id = conn.id();
                        prop_assert!(
                            self.held.iter().all(|h| h.id != id),
                            "connection {id} handed to a second holder"
                        );
                        prop_assert!(
                            !self.closed.contains(&id),
                            "closed connection {id} handed out"
                        );
                        self.checkouts[pool] += 1;
                        self.held.push(Held { conn, id, pool, counted: true });
                    }
                    Some(Err(err)) => {
                        let expected = attached >= self.room
                            || matches!(
                                (f, &err),
                                (Some(Fault::ConnectFails), CheckoutError::Connect(_))
                                    | (
                                        Some(Fault::CheckoutListenerErrs),
                                        CheckoutError::Listener(_)
                                    )
                                    | (Some(Fault::PingFails), CheckoutError::Connect(_))
                            );
                        prop_assert!(
                            expected,
                            "an unexpected refusal ({f:?}, {attached} held): {err}"
                        );
                    }
                    None => prop_assert!(
                        panicked
                            && matches!(
                                f,
                                Some(
                                    Fault::ConnectPanics
                                        | Fault::CheckoutListenerPanics
                                        | Fault::CloseListenerPanics
                                )
                            ),
                        "a checkout panicked without an injected panic ({f:?})"
                    ),
                }
            }
            Op::Drop(i, f) => {
                if let Some(h) = self.take(i) {
                    arm(&self.script, &self.faults, f);
                    Self::caught(|| drop(h.conn));
                    disarm(&self.script, &self.faults);
                }
            }
            Op::CloseAfterReset(i) => {
                if let Some(h) = self.take(i) {
                    PooledConnection::close_after_reset(h.conn);
                }
            }
            Op::Invalidate(i, f) => {
                if let Some(h) = self.take(i) {
                    arm(&self.script, &self.faults, f);
                    Self::caught(|| PooledConnection::invalidate(h.conn, None));
                    disarm(&self.script, &self.faults);
                    prop_assert!(
                        self.closed_now(h.id),
                        "invalidated connection {} not closed",
                        h.id
                    );
                }
            }
            Op::SoftInvalidate(i) => {
                if !self.held.is_empty() {
                    let n = self.held.len();
                    PooledConnection::soft_invalidate(&mut self.held[i % n].conn, None);
                }
            }
            Op::Detach(i, f) => {
                if !self.held.is_empty() {
                    let n = self.held.len();
                    arm(&self.script, &self.faults, f);
                    let conn = &mut self.held[i % n].conn;
                    Self::caught(|| PooledConnection::detach(conn));
                    disarm(&self.script, &self.faults);
                    prop_assert!(PooledConnection::is_detached(conn), "the detach stands");
                }
            }
            Op::Kill(i) => {
                if let Some(mut h) = self.take(i) {
                    self.script.kill(h.id);
                    let err = h.conn.execute().expect_err("a killed connection fails");
                    let kept = PooledConnection::handle_error(h.conn, &err);
                    prop_assert!(kept.is_none(), "a disconnect invalidates");
                    prop_assert!(self.closed_now(h.id), "a killed connection is closed");
                }
            }
            Op::Dispose(f) => {
                arm(&self.script, &self.faults, f);
                let pool = &self.pools[self.current()];
                Self::caught(|| pool.dispose());
                disarm(&self.script, &self.faults);
                if self.dispose_forgets {
                    let current = self.current();
                    self.held
                        .iter_mut()
                        .filter(|h| h.pool == current)
                        .for_each(|h| h.counted = false);
                }
            }
            Op::Recreate => {
                let new = self.pools[self.current()].recreate();
                self.pools.push(new);
                self.checkouts.push(0);
            }
        }
        self.check()
    }

    /// Whether the log shows `id` closed (after reading the new entries).
    fn closed_now(&mut self, id: u64) -> bool {
        let _ = self.read_log();
        self.closed.contains(&id)
    }

    /// Reads the log's new entries against its rules.
    fn read_log(&mut self) -> Result<(), TestCaseError> {
        let calls = self.script.log().calls();
        for call in &calls[self.log_seen..] {
            let id = call.id();
            if matches!(call, Call::Connect(_)) {
                continue;
            }
            prop_assert!(!self.closed.contains(&id), "{call:?} after connection {id} was closed");
            if call.is_close() {
                self.closed.insert(id);
            }
        }
        self.log_seen = calls.len();
        Ok(())
    }

    /// The invariants after every step.
    fn check(&mut self) -> Result<(), TestCaseError> {
        self.read_log()?;
        for h in &self.held {
            prop_assert!(!self.closed.contains(&h.id), "held connection {} was closed", h.id);
        }
        for (i, pool) in self.pools.iter().enumerate() {
            let attached = self.held.iter().filter(|h| h.pool == i && h.attached()).count();
            let status = pool.status();
            prop_assert_eq!(status.checked_out, attached, "pool {}'s checked out: {:?}", i, status);
            prop_assert_eq!(
                pool.statistics().checkouts,
                self.checkouts[i],
                "pool {}'s checkouts",
                i
            );
        }
        Ok(())
    }

    /// Drops everything; every connection must then be closed exactly once.
    fn finish(mut self) -> Result<(), TestCaseError> {
        self.held.clear();
        self.pools.clear();
        self.script.log().closed_once().map_err(TestCaseError::fail)?;
        Ok(())
    }
}

impl<S: PoolStrategy<ScriptedConnector>> Held<S> {
    /// Counted by its pool: not detached, not forgotten.
    fn attached(&self) -> bool {
        self.counted && !PooledConnection::is_detached(&self.conn)
    }
}

fn run<S: PoolStrategy<ScriptedConnector>>(
    config: S::Config,
    room: usize,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let mut run = Run::<S>::new(config, room, S::NAME == "AssertionPool");
    for op in ops {
        run.step(op)?;
    }
    run.finish()
}

fn sequences() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn queue_pool_follows_the_model(ops in sequences()) {
        pool_soak::quiet_injected_panics();
        let config = QueueConfig::default().pool_size(2).max_overflow(1).timeout(Duration::ZERO);
        run::<Queue<_>>(config, 3, ops)?;
    }

    #[test]
    fn null_pool_follows_the_model(ops in sequences()) {
        pool_soak::quiet_injected_panics();
        run::<Null<_>>(Default::default(), usize::MAX, ops)?;
    }

    #[test]
    fn static_pool_follows_the_model(ops in sequences()) {
        pool_soak::quiet_injected_panics();
        run::<Static<_>>(StaticConfig::default().timeout(Duration::ZERO), 1, ops)?;
    }

    #[test]
    fn assertion_pool_follows_the_model(ops in sequences()) {
        pool_soak::quiet_injected_panics();
        run::<Assertion<_>>(Default::default(), 1, ops)?;
    }

    #[test]
    fn singleton_thread_pool_follows_the_model(ops in sequences()) {
        pool_soak::quiet_injected_panics();
        run::<SingletonThread<_>>(SingletonThreadConfig::default(), 1, ops)?;
    }
}
