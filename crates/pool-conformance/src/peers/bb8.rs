//! The probes of plain `bb8::Pool`.
//!
//! They run on SQLite through the small rusqlite manager the async peers share
//! ([`Probed`]: `connect` opens a numbered connection, `is_valid` counts and accepts;
//! there is no bb8-sqlite crate on rusqlite 0.40), each on its own current-thread tokio
//! runtime. bb8's one hook, `CustomizeConnection::on_acquire`, stands for the connect
//! event; it has no hook at checkout or at return.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bb8::{CustomizeConnection, ManageConnection, PooledConnection, QueueStrategy, RunError};
use r2d2_sqlite::rusqlite::{self, Connection};

use super::{run, AsyncPeer, PeerProbe, Probed};
use crate::{Outcome, Skip};

/// The probes of plain `bb8::Pool` over an inline rusqlite manager, in suite order.
pub fn bb8_probes() -> Vec<PeerProbe> {
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

/// The inline manager: `connect` opens a numbered connection, `is_valid` (bb8's ping)
/// counts and accepts.
impl ManageConnection for Probed {
    type Connection = Connection;
    type Error = rusqlite::Error;

    async fn connect(&self) -> Result<Connection, rusqlite::Error> {
        self.open()
    }

    async fn is_valid(&self, _conn: &mut Connection) -> Result<(), rusqlite::Error> {
        self.ping();
        Ok(())
    }

    fn has_broken(&self, _conn: &mut Connection) -> bool {
        false
    }
}

type Pool = bb8::Pool<Probed>;

impl AsyncPeer for Pool {
    type Conn<'a> = PooledConnection<'a, Probed>;

    async fn checkout(&self) -> PooledConnection<'_, Probed> {
        self.get().await.expect("checkout")
    }
}

/// A builder with room for `max_size`, opening connections on demand (bb8's default:
/// `min_idle` none) and testing them on checkout (bb8's default).
fn builder(max_size: u32) -> bb8::Builder<Probed> {
    Pool::builder().max_size(max_size)
}

/// The pool `builder` makes, and its manager (whose clone shares the counts).
async fn build(builder: bb8::Builder<Probed>) -> (Pool, Probed) {
    let manager = Probed::default();
    (builder.build(manager.clone()).await.expect("pool"), manager)
}

/// Sequential checkouts share one connection and connect once.
fn sequential_checkouts_reuse() -> Outcome {
    run(async {
        let (p, m) = build(builder(5)).await;
        super::sequential_checkouts_reuse(p, &m).await
    })
}

fn detach_semantics() -> Outcome {
    Err(Skip::because(
        "no such API (bb8's PooledConnection cannot be detached; dedicated_connection opens \
         a connection outside the pool)",
    ))
}

/// Counts the calls of bb8's one hook.
#[derive(Debug, Default, Clone)]
struct OnAcquire(Arc<AtomicUsize>);

impl OnAcquire {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl CustomizeConnection<Connection, rusqlite::Error> for OnAcquire {
    fn on_acquire<'a>(
        &'a self,
        _connection: &'a mut Connection,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), rusqlite::Error>> + Send + 'a>>
    {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

/// A connect event fires once for a new connection, not again when it is reused (bb8:
/// `CustomizeConnection::on_acquire`).
fn connect_event() -> Outcome {
    run(async {
        let hook = OnAcquire::default();
        let (p, _) = build(builder(5).connection_customizer(Box::new(hook.clone()))).await;
        drop(p.checkout().await);
        assert_eq!(hook.count(), 1);
        drop(p.checkout().await);
        assert_eq!(hook.count(), 1, "a reused connection is not connected again");
        Ok(())
    })
}

/// How many times bb8's one hook fired while a connection was returned.
fn hooks_at_return() -> usize {
    run(async {
        let hook = OnAcquire::default();
        let (p, _) = build(builder(5).connection_customizer(Box::new(hook.clone()))).await;
        let c = p.checkout().await;
        let before = hook.count();
        drop(c);
        tokio::task::yield_now().await;
        hook.count() - before
    })
}

/// A checkin event fires when a connection is returned.
fn checkin_event() -> Outcome {
    assert!(
        hooks_at_return() > 0,
        "no event on return: bb8's only hook is CustomizeConnection::on_acquire, at connect"
    );
    Ok(())
}

/// A reset event fires when a connection is returned.
fn reset_event() -> Outcome {
    assert!(
        hooks_at_return() > 0,
        "no reset event on return: bb8 has no hook at return and does not reset"
    );
    Ok(())
}

/// With pre-ping on (bb8: `test_on_check_out(true)`, its default), a connection just
/// opened is not pinged, and a pooled one is pinged exactly once per checkout.
fn pre_ping_pooled_once() -> Outcome {
    run(async {
        let (p, m) = build(builder(5).test_on_check_out(true)).await;
        super::pre_ping_pooled_once(p, &m).await
    })
}

fn invalidate_all() -> Outcome {
    Err(Skip::because("no such API (bb8 cannot invalidate every pooled connection)"))
}

/// With pre-ping off (bb8: `test_on_check_out(false)`), checkouts never ping.
fn no_ping_without() -> Outcome {
    run(async {
        let (p, m) = build(builder(5).test_on_check_out(false)).await;
        super::no_ping_without(p, &m, "bb8 pinged with test_on_check_out(false)").await
    })
}

/// Leaves a transaction open on the only connection of a pool (bb8 does nothing at
/// return).
fn leave_transaction_open() -> (bool, i64) {
    run(async { super::leave_transaction_open(build(builder(1)).await.0).await })
}

/// Reset on return "rollback": the transaction left open is rolled back.
fn reset_plain_rollback() -> Outcome {
    super::rolled_back(leave_transaction_open())
}

/// Reset on return "commit": the transaction left open is committed.
fn reset_plain_commit() -> Outcome {
    super::committed(leave_transaction_open())
}

/// Holds the only connection of a pool with this `connection_timeout` (bb8's wait for a
/// checkout) and asks for another.
fn time_out(timeout: Duration) -> (RunError<rusqlite::Error>, Duration) {
    run(async {
        let (p, _) = build(builder(1).connection_timeout(timeout)).await;
        let _held = p.checkout().await;
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
    super::timeout_message("bb8", time_out)
}

/// A checkout from a full pool fails after the timeout, not before and not much later.
fn timeout_fires() -> Outcome {
    super::timeout_fires(time_out)
}

fn overflow_closed_on_return() -> Outcome {
    Err(Skip::because("no overflow concept (bb8 has max_size only)"))
}

/// The order of idle connections after three returns, with `strategy`.
fn order_after_return(strategy: QueueStrategy) -> ([u64; 3], u64) {
    run(async {
        let (p, m) = build(builder(5).queue_strategy(strategy)).await;
        super::order_after_return(p, &m).await
    })
}

/// With LIFO (bb8: `QueueStrategy::Lifo`), the connection returned last comes first.
fn lifo_order() -> Outcome {
    super::newest_first(order_after_return(QueueStrategy::Lifo))
}

/// By default (FIFO), the connection returned first is handed out first.
fn fifo_order() -> Outcome {
    super::oldest_first(order_after_return(QueueStrategy::default()))
}
