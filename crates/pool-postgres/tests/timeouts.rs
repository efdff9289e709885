//! `connect_timeout` against a server that accepts the TCP connection and never
//! answers the startup message (a hung server, a black-holing proxy): the postgres
//! drivers would wait for ever; the pool's checkout fails at the bound, naming it, on
//! both front ends, and frees the slot. No PostgreSQL server is needed: the silent
//! server is a listener in the test.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use pool_core::{CheckoutError, Operation};
use pool_postgres::{AsyncPostgresConnector, PostgresConnector};
use pool_queue::{QueueConfig, QueuePool};

const BOUND: Duration = Duration::from_millis(500);
/// Far more than the bound: a checkout that took this long was not bounded.
const HUNG: Duration = Duration::from_secs(20);

/// A listener that accepts connections and never writes a byte; the accepted sockets
/// stay open until the test ends. Returns its URL.
fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("bound").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("postgres://postgres@127.0.0.1:{port}/test")
}

fn is_connect_timeout<E>(err: &CheckoutError<E>) -> bool {
    matches!(err, CheckoutError::OperationTimeout(t) if t.operation == Operation::Connect)
}

#[test]
fn the_blocking_connector_is_bounded_by_connect_timeout() {
    let url = silent_server();
    let pool = QueuePool::builder(PostgresConnector::new(&url).expect("parses"))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0).timeout(HUNG))
        .connect_timeout(BOUND)
        .build()
        .expect("valid settings");
    let started = Instant::now();
    let err = pool.get().expect_err("the server never answers");
    assert!(started.elapsed() < HUNG, "get was not bounded");
    assert!(is_connect_timeout(&err), "{err}");
    assert!(err.to_string().contains("connect_timeout"), "{err}");
    assert_eq!(pool.status().checked_out, 0);
    assert_eq!(pool.status().overflow, -1, "the slot was freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_connector_is_bounded_by_connect_timeout() {
    let url = silent_server();
    let pool = QueuePool::builder(AsyncPostgresConnector::new(&url).expect("parses"))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0).timeout(HUNG))
        .connect_timeout(BOUND)
        .build()
        .expect("valid settings");
    let started = Instant::now();
    let err = pool.get_async().await.expect_err("the server never answers");
    assert!(started.elapsed() < HUNG, "get_async was not bounded");
    assert!(is_connect_timeout(&err), "{err}");
    assert_eq!(pool.status().overflow, -1, "the slot was freed");
}
