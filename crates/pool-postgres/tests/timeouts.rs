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

/// The test server's address, or `None` after saying the test is skipped.
fn server(test: &str) -> Option<(String, u16)> {
    let url = pool_conformance::faults::server_url_or_skip(pool_conformance::POSTGRES_URL, test)?;
    let config: pool_postgres::postgres::Config = url.parse().expect("the URL parses");
    let host = match config.get_hosts().first() {
        Some(pool_postgres::postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    Some((host, config.get_ports().first().copied().unwrap_or(5432)))
}

/// The test server's URL pointed at `addr` (a fault proxy).
fn via(addr: std::net::SocketAddr) -> String {
    format!("postgres://postgres@{addr}/test")
}

// A server that goes silent on established connections: the blocking pre-ping and reset
// on return give up at ping_timeout and reset_timeout (the driver's is_valid timer for
// the ping, the watched socket's read deadline for the reset), with the sync connector.
#[test]
fn the_blocking_connector_bounds_ping_and_reset() {
    let Some(server) = server("the_blocking_connector_bounds_ping_and_reset") else { return };
    let (ping, reset) = pool_conformance::faults::silent_server_bounds_blocking_ping_and_reset(
        server,
        |addr| PostgresConnector::new(&via(addr)).expect("parses"),
        |conn| conn.query_one("SELECT pg_backend_pid()", &[]).expect("a pid").get::<_, i32>(0),
        |conn| Ok(conn.batch_execute("BEGIN")?),
    );
    println!("postgres: a silent pre-ping gave up after {ping:?}, a silent reset after {reset:?}");
}

// The same through the async connector's blocking calls (its futures, dropped at the
// bound).
#[test]
fn the_async_connector_bounds_blocking_ping_and_reset() {
    let Some(server) = server("the_async_connector_bounds_blocking_ping_and_reset") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let (ping, reset) = pool_conformance::faults::silent_server_bounds_blocking_ping_and_reset(
        server,
        |addr| {
            AsyncPostgresConnector::new(&via(addr))
                .expect("parses")
                .with_runtime(rt.handle().clone())
        },
        |conn| {
            let row = rt.block_on(conn.query_one("SELECT pg_backend_pid()", &[]));
            row.expect("a pid").get::<_, i32>(0)
        },
        |conn| Ok(rt.block_on(conn.batch_execute("BEGIN"))?),
    );
    println!(
        "tokio-postgres: a silent pre-ping gave up after {ping:?}, a silent reset after {reset:?}"
    );
}

/// A loopback address nothing listens on (yet).
fn free_addr() -> std::net::SocketAddr {
    let probe = TcpListener::bind("127.0.0.1:0").expect("a local port");
    probe.local_addr().expect("bound")
}

// Issue 12, part 7: a server that refuses connections for a while (a restart) and then
// comes back; with connect_retry the checkout keeps trying and succeeds, through both
// connectors and both front ends. Without it the first refusal fails the checkout.
#[test]
fn connect_retry_rides_out_a_server_that_comes_back() {
    let Some(server) = server("connect_retry_rides_out_a_server_that_comes_back") else { return };
    let outage = Duration::from_millis(300);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    for (connector, front_end) in [("postgres", "blocking"), ("tokio-postgres", "async")] {
        let addr = free_addr();
        let url = via(addr);
        let fails_at_once = QueuePool::builder(PostgresConnector::new(&url).expect("parses"))
            .build()
            .expect("valid settings");
        assert!(matches!(fails_at_once.get(), Err(CheckoutError::Connect(_))), "nothing listens");

        let asked = Instant::now();
        let comes_back = std::thread::spawn({
            let server = server.clone();
            move || {
                std::thread::sleep(outage);
                pool_conformance::faults::FaultProxy::start_on(addr, server).expect("the port")
            }
        });
        let got = if front_end == "blocking" {
            let pool = QueuePool::builder(PostgresConnector::new(&url).expect("parses"))
                .connect_retry(Duration::from_secs(20))
                .build()
                .expect("valid settings");
            pool.get().map(|mut c| c.batch_execute("SELECT 1").map_err(|e| e.to_string()))
        } else {
            let connector = AsyncPostgresConnector::new(&url).expect("parses");
            let pool = QueuePool::builder(connector)
                .connect_retry(Duration::from_secs(20))
                .build()
                .expect("valid settings");
            rt.block_on(async {
                let c = pool.get_async().await?;
                Ok(c.batch_execute("SELECT 1").await.map_err(|e| e.to_string()))
            })
        };
        let took = asked.elapsed();
        let _proxy = comes_back.join().expect("the proxy started");
        got.expect("the checkout rode out the outage").expect("the connection works");
        assert!(took >= outage, "{connector}: connected after {took:?}, during the outage");
        assert!(took < HUNG, "{connector}: took {took:?}");
        println!("{connector} ({front_end}): connected {took:?} after a {outage:?} outage");
    }
}
