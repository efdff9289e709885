//! deadpool's recycle hooks through `RecycleHook` (issue 10, part 8): deadpool's own
//! hook tests (deadpool-rs/deadpool, `crates/deadpool/tests/managed_hooks.rs`), ported
//! with their manager, give deadpool's sequences.

use std::sync::atomic::{AtomicUsize, Ordering};

use pool_core::{ConnectionRecord, ListenerError, PoolListener, PooledConnection};
use pool_deadpool::deadpool::managed::{Manager, Metrics, RecycleResult};
use pool_deadpool::{Managed, ManagerConnector, RecycleHook};
use pool_queue::{QueueConfig, QueuePool};

/// deadpool's test manager: objects are numbers, counting up from `start`.
#[derive(Debug)]
struct Computer {
    next: AtomicUsize,
}

impl Computer {
    fn new(start: usize) -> Self {
        Computer { next: AtomicUsize::new(start) }
    }
}

impl Manager for Computer {
    type Type = usize;
    type Error = std::io::Error;

    async fn create(&self) -> Result<usize, std::io::Error> {
        Ok(self.next.fetch_add(1, Ordering::SeqCst))
    }

    async fn recycle(&self, _: &mut usize, _: &Metrics) -> RecycleResult<std::io::Error> {
        Ok(())
    }
}

type Connector = ManagerConnector<Computer>;
type Pool = QueuePool<Connector>;

/// deadpool's `max_size(1)` pool (deadpool recycles at every get: pre-ping on).
fn one_object(start: usize) -> pool_core::Builder<Connector, pool_queue::Queue<Connector>> {
    QueuePool::builder(ManagerConnector::without_reset(Computer::new(start)))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .pre_ping(true)
}

async fn get(pool: &Pool) -> usize {
    **pool.get_async().await.expect("checkout")
}

fn increment(obj: &mut Managed<usize>) -> Result<(), ListenerError> {
    **obj += 1;
    Ok(())
}

// deadpool's `pre_recycle_ok`: 42, 43, 44, 45.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_recycle_ok() {
    let pool = one_object(42).listener(RecycleHook::new(increment)).build().unwrap();
    assert_eq!(get(&pool).await, 42);
    assert_eq!(get(&pool).await, 43);
    assert_eq!(get(&pool).await, 44);
    assert_eq!(get(&pool).await, 45);
}

/// The pool's `checkout` event as such: it also runs on the checkout that created the
/// connection, which is why a plain checkout listener is not deadpool's hook.
struct EveryCheckout;

impl PoolListener<Connector> for EveryCheckout {
    fn checkout(
        &self,
        conn: &mut Managed<usize>,
        _: &mut ConnectionRecord<Connector>,
    ) -> Result<(), ListenerError> {
        increment(conn)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_checkout_listener_also_runs_on_creation() {
    let pool = one_object(42).listener(EveryCheckout).build().unwrap();
    assert_eq!(get(&pool).await, 43);
    assert_eq!(get(&pool).await, 44);
}

// A replaced connection starts over: its first checkout runs no hook, as deadpool's
// newly created object does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_connection_skips_the_hook_once_again() {
    let pool = one_object(0).listener(RecycleHook::new(increment)).build().unwrap();
    assert_eq!(get(&pool).await, 0);
    assert_eq!(get(&pool).await, 1);
    PooledConnection::invalidate(pool.get_async().await.unwrap(), None);
    assert_eq!(get(&pool).await, 1, "created anew (the manager's second object): no hook");
    assert_eq!(get(&pool).await, 2);
}

// deadpool's `pre_recycle_err_continue` (first recycle fine, later ones fail with
// `HookError`, and deadpool discards the object and creates another):
// `ListenerError::disconnect` replaces the connection and the checkout goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_replaces_the_connection() {
    let recycles = AtomicUsize::new(0);
    let hook = move |_: &mut Managed<usize>| {
        if recycles.fetch_add(1, Ordering::SeqCst) > 0 {
            Err(ListenerError::disconnect("Fail!"))
        } else {
            Ok(())
        }
    };
    let pool = one_object(0).listener(RecycleHook::new(hook)).build().unwrap();
    assert_eq!(get(&pool).await, 0);
    assert_eq!(pool.status().idle, 1);
    assert_eq!(get(&pool).await, 0);
    assert_eq!(get(&pool).await, 1);
    assert_eq!(get(&pool).await, 2);
}
