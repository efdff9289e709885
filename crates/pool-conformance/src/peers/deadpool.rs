//! The probes of plain deadpool `managed::Pool`.
//!
//! They run on SQLite through a small rusqlite manager written here (the one users write
//! inline: `create` opens a connection, `recycle` counts and accepts), each on its own
//! current-thread tokio runtime, with deadpool's tokio timer for wait timeouts. deadpool's
//! hooks stand for events: `post_create` is the connect event, `pre_recycle` and
//! `post_recycle` fire at checkout; it has no hook at return.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Hook, Metrics, Object, PoolError, QueueMode, RecycleResult};
use deadpool::Runtime;
use r2d2_sqlite::rusqlite::{self, Connection};

use super::{conn_id, run, AsyncPeer, PeerProbe, Probed};
use crate::{Outcome, Skip};

/// The probes of plain deadpool `managed::Pool` over an inline rusqlite manager, in suite
/// order.
pub fn deadpool_probes() -> Vec<PeerProbe> {
    vec![
        PeerProbe { check: "base::sequential_checkouts_reuse", run: sequential_checkouts_reuse },
        PeerProbe { check: "base::detach_semantics", run: detach_semantics },
        PeerProbe { check: "events::connect_event", run: connect_event },
        PeerProbe { check: "events::checkin_event", run: checkin_event },
        PeerProbe { check: "events::reset_event", run: reset_event },
        PeerProbe { check: "checkout::checkout_pre_ping_pooled_once", run: pre_ping_pooled_once },
        PeerProbe { check: "checkout::checkout_invalidate_all", run: invalidate_all },
        PeerProbe { check: "checkout::checkout_no_ping_without_pre_ping", run: no_ping_without },
        PeerProbe { check: "reset::reset_plain_rollback", run: reset_plain_rollback },
        PeerProbe { check: "reset::reset_plain_commit", run: reset_plain_commit },
        PeerProbe { check: "failures::failures_timeout_message", run: timeout_message },
        PeerProbe { check: "queue::timeout_fires", run: timeout_fires },
        PeerProbe { check: "queue::overflow_closed_on_return", run: overflow_closed_on_return },
        PeerProbe { check: "queue::lifo_order", run: lifo_order },
        PeerProbe { check: "queue::fifo_order", run: fifo_order },
    ]
}

/// The inline manager: `create` opens a numbered connection, `recycle` (deadpool's ping)
/// counts and accepts.
impl managed::Manager for Probed {
    type Type = Connection;
    type Error = rusqlite::Error;

    async fn create(&self) -> Result<Connection, rusqlite::Error> {
        self.open()
    }

    async fn recycle(&self, _conn: &mut Connection, _: &Metrics) -> RecycleResult<rusqlite::Error> {
        self.ping();
        Ok(())
    }
}

type Pool = managed::Pool<Probed>;
type Builder = managed::PoolBuilder<Probed>;

impl AsyncPeer for Pool {
    type Conn<'a> = Object<Probed>;

    async fn checkout(&self) -> Object<Probed> {
        self.get().await.expect("checkout")
    }
}

fn builder(max_size: usize) -> Builder {
    Pool::builder(Probed::default()).max_size(max_size).runtime(Runtime::Tokio1)
}

/// A pool of `max_size` and its manager (whose clone shares the counts).
fn pool(max_size: usize) -> (Pool, Probed) {
    let pool = builder(max_size).build().expect("pool");
    let manager = pool.manager().clone();
    (pool, manager)
}

/// Sequential checkouts share one connection and connect once.
fn sequential_checkouts_reuse() -> Outcome {
    run(async {
        let (p, m) = pool(5);
        super::sequential_checkouts_reuse(p, &m).await
    })
}

/// A detached connection (deadpool: `Object::take`) leaves the pool's limit: a
/// one-connection pool opens another for the next checkout, and the taken one still works.
fn detach_semantics() -> Outcome {
    run(async {
        let p = builder(1).wait_timeout(Some(Duration::from_millis(100))).build().expect("pool");
        let taken = Object::take(p.get().await.expect("checkout"));
        let next = p.get().await.expect("the detached connection no longer counts");
        assert_ne!(conn_id(&next), conn_id(&taken));
        taken.execute_batch("SELECT 1").expect("the detached connection stays usable");
        Ok(())
    })
}

/// A connect event fires once for a new connection, not again when it is reused
/// (deadpool: the `post_create` hook).
fn connect_event() -> Outcome {
    run(async {
        let seen = Arc::new(AtomicUsize::new(0));
        let hook = Arc::clone(&seen);
        let p = builder(5)
            .post_create(Hook::sync_fn(move |_, _| {
                hook.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }))
            .build()
            .expect("pool");
        drop(p.get().await.expect("checkout"));
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        drop(p.get().await.expect("checkout"));
        assert_eq!(seen.load(Ordering::SeqCst), 1, "a reused connection is not connected again");
        Ok(())
    })
}

/// Which hooks fired, in order, through one checkout and return.
fn hooks_through_one_return() -> Vec<&'static str> {
    run(async {
        let seen: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let hook = |name: &'static str| {
            let seen = Arc::clone(&seen);
            Hook::sync_fn(move |_, _| {
                seen.lock().expect("not poisoned").push(name);
                Ok(())
            })
        };
        let p = builder(5)
            .post_create(hook("post_create"))
            .pre_recycle(hook("pre_recycle"))
            .post_recycle(hook("post_recycle"))
            .build()
            .expect("pool");
        let c = p.get().await.expect("checkout");
        seen.lock().expect("not poisoned").clear();
        drop(c);
        let after_return = seen.lock().expect("not poisoned").clone();
        after_return
    })
}

/// A checkin event fires when a connection is returned.
fn checkin_event() -> Outcome {
    let fired = hooks_through_one_return();
    assert!(
        !fired.is_empty(),
        "no event on return: deadpool's hooks are post_create, pre_recycle and post_recycle, \
         all at checkout"
    );
    Ok(())
}

/// A reset event fires when a connection is returned.
fn reset_event() -> Outcome {
    let fired = hooks_through_one_return();
    assert!(
        !fired.is_empty(),
        "no reset event on return: deadpool has no hook at return (got {fired:?})"
    );
    Ok(())
}

/// A connection just opened is not pinged, and a pooled one is pinged exactly once per
/// checkout (deadpool: `recycle` runs at every reuse).
fn pre_ping_pooled_once() -> Outcome {
    run(async {
        let (p, m) = pool(5);
        super::pre_ping_pooled_once(p, &m).await
    })
}

fn invalidate_all() -> Outcome {
    Err(Skip::because(
        "no such API (deadpool's retain drops idle objects now; it cannot mark every \
         connection, checked out ones included, for replacement)",
    ))
}

/// With pre-ping off, checkouts never ping.
fn no_ping_without() -> Outcome {
    run(async {
        let (p, m) = pool(5);
        let why = "deadpool recycles (pings) at every reuse; it cannot be off";
        super::no_ping_without(p, &m, why).await
    })
}

/// Leaves a transaction open on the only connection of a pool (deadpool does nothing
/// at return).
fn leave_transaction_open() -> (bool, i64) {
    run(super::leave_transaction_open(pool(1).0))
}

/// Reset on return "rollback": the transaction left open is rolled back.
fn reset_plain_rollback() -> Outcome {
    super::rolled_back(leave_transaction_open())
}

/// Reset on return "commit": the transaction left open is committed.
fn reset_plain_commit() -> Outcome {
    super::committed(leave_transaction_open())
}

/// Holds the only connection of a pool with this wait timeout and asks for another.
fn time_out(timeout: Duration) -> (PoolError<rusqlite::Error>, Duration) {
    run(async {
        let p = builder(1).wait_timeout(Some(timeout)).build().expect("pool");
        let _held = p.get().await.expect("the only connection");
        let start = Instant::now();
        let err = match p.get().await {
            Err(e) => e,
            Ok(_) => panic!("a full pool must time out"),
        };
        (err, start.elapsed())
    })
}

/// The timeout error carries SQLAlchemy's text.
fn timeout_message() -> Outcome {
    super::timeout_message("deadpool", time_out)
}

/// A checkout from a full pool fails after the timeout, not before and not much later.
fn timeout_fires() -> Outcome {
    super::timeout_fires(time_out)
}

fn overflow_closed_on_return() -> Outcome {
    Err(Skip::because("no overflow concept (deadpool has max_size only, and keeps every object)"))
}

/// The order of idle connections after three returns, in `mode`.
fn order_after_return(mode: QueueMode) -> ([u64; 3], u64) {
    run(async {
        let p = builder(5).queue_mode(mode).build().expect("pool");
        let m = p.manager().clone();
        super::order_after_return(p, &m).await
    })
}

/// With LIFO (deadpool: `QueueMode::Lifo`), the connection returned last comes first.
fn lifo_order() -> Outcome {
    super::newest_first(order_after_return(QueueMode::Lifo))
}

/// By default (FIFO), the connection returned first is handed out first.
fn fifo_order() -> Outcome {
    super::oldest_first(order_after_return(QueueMode::default()))
}
