//! The models: each race of QueuePool's line of waiters that matters, on both paths
//! from a return to a waiter and, where a caller waits, through both front ends. See
//! the README for what loom checks and how time is modelled.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use pool_core::{CheckoutError, PooledConnection};
use pool_loom::{
    cases, model, poll_once, pool, spawn, Checkout, Counted, Fairness, Front, Joiner, Tally,
};
use pool_queue::{Queue, QueuePool};

type Conn = PooledConnection<Counted, Queue<Counted>>;

/// A bound on a wait; its length does not matter under loom, where the deadline passes
/// at the wait's second look.
const BOUND: Duration = Duration::from_secs(5);

/// Takes a checked-out connection into use, asserting that nobody else holds it.
fn hold(tally: &Tally, conn: Conn) -> Conn {
    tally.hold(*conn);
    conn
}

/// Gives a held connection back.
fn give_back(tally: &Tally, conn: Conn) {
    tally.unhold(*conn);
    drop(conn);
}

/// Uses and gives back the connection of a checkout; returns whether there was one (a
/// timeout, a closed pool or a failed connect are the only failures a model expects).
fn use_one(tally: &Tally, got: Checkout) -> bool {
    match got {
        Ok(conn) => {
            give_back(tally, hold(tally, conn));
            true
        }
        Err(CheckoutError::Timeout(_) | CheckoutError::PoolClosed | CheckoutError::Connect(_)) => {
            false
        }
        Err(other) => panic!("unexpected checkout error: {other}"),
    }
}

/// A thread that checks out through `front`, then uses and gives back the connection;
/// its join says whether it got one.
fn checkout_on_a_thread(
    pool: &QueuePool<Counted>,
    tally: &Arc<Tally>,
    front: Front,
) -> Joiner<bool> {
    let (pool, tally) = (pool.clone(), Arc::clone(tally));
    spawn(move || use_one(&tally, front.get(&pool)))
}

/// A thread that gives a held connection back.
fn return_on_a_thread(tally: &Arc<Tally>, conn: Conn) -> Joiner<()> {
    let tally = Arc::clone(tally);
    spawn(move || give_back(&tally, conn))
}

/// The end of every model: nothing held, nothing waiting, `idle` connections in the
/// pool, the statistics' checkouts exact; then the pool is dropped and every connection
/// it opened was closed exactly once.
fn settle(pool: QueuePool<Counted>, tally: &Tally, idle: usize, checkouts: u64) {
    let status = pool.status();
    assert_eq!((status.checked_out, status.waiting, status.idle), (0, 0, idle), "{status:?}");
    assert_eq!(pool.statistics().checkouts, checkouts);
    assert_eq!(tally.opened() - tally.closed(), idle, "open connections not in the pool");
    drop(pool);
    tally.assert_closed_once();
}

#[test]
fn return_races_a_timeout() {
    for (fairness, front) in cases() {
        model(move || {
            let (pool, tally) = pool(1, Some(BOUND), fairness);
            let held = hold(&tally, pool.get().unwrap());
            let waiter = checkout_on_a_thread(&pool, &tally, front);
            give_back(&tally, held);
            let got = waiter.join();
            // A grant racing the timeout is either used or given back: the one
            // connection is idle again either way.
            settle(pool, &tally, 1, 1 + u64::from(got));
            assert_eq!(tally.opened(), 1);
        });
    }
}

#[test]
fn two_returns_race_one_waiter() {
    for (fairness, front) in cases() {
        model(move || two_returns_race(fairness, &[front]));
    }
}

#[test]
fn two_returns_race_two_waiters() {
    for (fairness, front) in cases() {
        // A thread and a task in one line, or two threads.
        model(move || two_returns_race(fairness, &[Front::Blocking, front]));
    }
}

/// Two connections out, one returned on a thread and one on the model's own, while
/// callers through `fronts` wait: each waiter gets one of them.
fn two_returns_race(fairness: Fairness, fronts: &[Front]) {
    let (pool, tally) = pool(2, None, fairness);
    let first = hold(&tally, pool.get().unwrap());
    let second = hold(&tally, pool.get().unwrap());
    let waiters: Vec<_> =
        fronts.iter().map(|&front| checkout_on_a_thread(&pool, &tally, front)).collect();
    let returner = return_on_a_thread(&tally, first);
    give_back(&tally, second);
    returner.join();
    waiters.into_iter().for_each(|w| assert!(w.join()));
    settle(pool, &tally, 2, 2 + fronts.len() as u64);
    assert_eq!(tally.opened(), 2);
}

#[test]
fn cancelled_checkout_races_its_grant() {
    for fairness in Fairness::BOTH {
        model(move || {
            let (pool, tally) = pool(1, None, fairness);
            let held = hold(&tally, pool.get().unwrap());
            let canceller = {
                let pool = pool.clone();
                // Queues (or takes the returned connection), then drops the future: a
                // grant made meanwhile goes back to the pool.
                spawn(move || match poll_once(pool.get_async()) {
                    Poll::Ready(got) => u64::from(got.is_ok()),
                    Poll::Pending => 0,
                })
            };
            give_back(&tally, held);
            let taken = canceller.join();
            settle(pool, &tally, 1, 1 + taken);
            assert_eq!(tally.opened(), 1);
        });
    }
}

#[test]
fn dispose_races_a_hand_off() {
    for (fairness, front) in cases() {
        model(move || {
            let (pool, tally) = pool(1, None, fairness);
            // The waiter gets the returned connection, or, if dispose closed it first,
            // the freed slot to open a new one: never left waiting.
            assert!(race_a_return(&pool, &tally, front, |pool| pool.dispose()));
            let idle = pool.status().idle;
            assert!(idle <= 1 && (1..=2).contains(&tally.opened()));
            settle(pool, &tally, idle, 2);
        });
    }
}

#[test]
fn close_races_a_waiter() {
    for (fairness, front) in cases() {
        model(move || {
            let (pool, tally) = pool(1, None, fairness);
            // The waiter gets the returned connection, or `PoolClosed`: never left
            // waiting.
            let got = race_a_return(&pool, &tally, front, |pool| {
                let _still_open = pool.close_within(Duration::ZERO);
            });
            // A closed pool keeps nothing: every connection is closed once it is back.
            assert_eq!(tally.closed(), tally.opened());
            settle(pool, &tally, 0, 1 + u64::from(got));
        });
    }
}

/// Checks out the one connection of `pool`, then returns it on a thread while a caller
/// waits through `front` and the model's own thread runs `operation`; says whether the
/// waiter got a connection.
fn race_a_return(
    pool: &QueuePool<Counted>,
    tally: &Arc<Tally>,
    front: Front,
    operation: impl FnOnce(&QueuePool<Counted>),
) -> bool {
    let held = hold(tally, pool.get().unwrap());
    let waiter = checkout_on_a_thread(pool, tally, front);
    let returner = return_on_a_thread(tally, held);
    operation(pool);
    returner.join();
    waiter.join()
}

#[test]
fn failed_connect_hands_its_slot_to_a_waiter() {
    for (fairness, front) in cases() {
        model(move || {
            let (pool, tally) = pool(1, None, fairness);
            tally.fail_next_connect();
            let other = checkout_on_a_thread(&pool, &tally, front);
            // Whoever connects first fails and frees the one slot: to the other caller
            // as a reservation if it waits by then, or for it to take if it comes later.
            let mine = use_one(&tally, pool.get());
            let theirs = other.join();
            assert!(mine != theirs, "exactly one of the two connects fails");
            assert_eq!(tally.opened(), 1);
            settle(pool, &tally, 1, 1);
        });
    }
}

#[test]
fn invalidated_connection_reconnects_once() {
    for (fairness, front) in cases() {
        model(move || {
            let (pool, tally) = pool(1, None, fairness);
            let held = hold(&tally, pool.get().unwrap());
            let waiter = checkout_on_a_thread(&pool, &tally, front);
            let newcomer = checkout_on_a_thread(&pool, &tally, Front::Blocking);
            // The invalidated entry goes back without its connection: whoever takes it
            // first reconnects, and the other waits for that connection.
            tally.unhold(*held);
            PooledConnection::invalidate(held, None);
            assert!(waiter.join());
            assert!(newcomer.join());
            assert_eq!(tally.opened(), 2);
            settle(pool, &tally, 1, 3);
        });
    }
}
