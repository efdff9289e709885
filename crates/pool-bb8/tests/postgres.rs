//! The adapter over bb8-postgres's `PostgresConnectionManager`, on the PostgreSQL server
//! named by `POOL_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`): killed backends with and without pre-ping
//! (`pool_conformance::faults`' scenarios), reset on return, and errors with the server's
//! words. Without the variable each test prints "skipped <name>: POOL_TEST_POSTGRES_URL
//! is not set" and passes. Killing a backend needs a role allowed to call
//! `pg_terminate_backend` on the pool's sessions (the same role, or a superuser).

use pool_bb8::bb8_postgres::tokio_postgres::{Client, Config, NoTls};
use pool_bb8::bb8_postgres::PostgresConnectionManager;
use pool_bb8::{Bb8Connector, Bb8Error};
use pool_conformance::errors::{self, Case, ErrorCases};
use pool_conformance::faults::{self, PostgresSessions};
use pool_conformance::POSTGRES_URL;
use pool_core::{CheckoutError, Connector, ResetOnReturn};
use pool_queue::{QueueConfig, QueuePool};
use tokio::runtime::Runtime;

type Pg = Bb8Connector<PostgresConnectionManager<NoTls>>;
type PgError = Bb8Error<pool_bb8::bb8_postgres::tokio_postgres::Error>;

/// The runtime the connections' tasks run on while the tests block: the suite's.
fn runtime() -> &'static Runtime {
    pool_conformance::harnesses::async_runtime()
}

/// The server's URL, or `None` after saying the test is skipped.
fn url(test: &str) -> Option<String> {
    faults::server_url_or_skip(POSTGRES_URL, test)
}

/// The application name of one test's sessions.
fn tag(test: &str) -> String {
    format!("pool-bb8-{test}")
}

/// bb8-postgres's manager, unchanged, for sessions named `app`, in the adapter.
fn connector(url: &str, app: &str) -> Pg {
    let mut config: Config = url.parse().expect("the URL parses");
    config.application_name(app);
    Bb8Connector::new(PostgresConnectionManager::new(config, NoTls))
        .with_runtime(runtime().handle().clone())
}

fn backend_pid(conn: &mut Client) -> i32 {
    runtime().block_on(conn.query_one("SELECT pg_backend_pid()", &[])).unwrap().get(0)
}

fn run(conn: &mut Client, sql: &str) -> Result<(), PgError> {
    Ok(runtime().block_on(conn.batch_execute(sql))?)
}

fn select_one(conn: &mut Client) -> Result<(), PgError> {
    run(conn, "SELECT 1")
}

// Issue 10: with pre-ping on, the checkouts after the kill succeed with no setting; the
// ping that finds the first dead connection invalidates the pool generation, so the
// other idle connections are replaced without being pinged.
#[test]
fn killed_backends_are_replaced_with_pre_ping() {
    let Some(url) = url("killed_backends_are_replaced_with_pre_ping") else { return };
    let app = tag("pre-ping");
    let sessions = PostgresSessions::new(&url, &app);
    faults::killed_replaced_with_pre_ping(
        QueuePool::builder(connector(&url, &app)),
        backend_pid,
        select_one,
        || sessions.kill(),
        || sessions.count(),
    );
}

// With pre-ping off, the first use fails with the driver's error, which the adapter
// classifies as a disconnect with no setting; `handle_error` recovers the pool.
#[test]
fn killed_backend_without_pre_ping_through_handle_error() {
    let Some(url) = url("killed_backend_without_pre_ping_through_handle_error") else { return };
    let app = tag("no-pre-ping");
    let sessions = PostgresSessions::new(&url, &app);
    faults::killed_without_pre_ping_through_handle_error(
        QueuePool::builder(connector(&url, &app)),
        backend_pid,
        select_one,
        |conn| run(conn, "SELEC 1"),
        || sessions.kill(),
        || sessions.count(),
    );
}

// The async pool: killed backends are replaced at the next `get_async().await`.
#[test]
fn killed_backends_are_replaced_in_the_async_pool() {
    let Some(url) = url("killed_backends_are_replaced_in_the_async_pool") else { return };
    let app = tag("async");
    let sessions = PostgresSessions::new(&url, &app);
    let pool = QueuePool::builder(connector(&url, &app))
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .pre_ping(true)
        .build()
        .unwrap();
    let old = runtime().block_on(async {
        let held = [pool.get_async().await.unwrap(), pool.get_async().await.unwrap()];
        let mut pids = Vec::new();
        for conn in &held {
            pids.push(
                conn.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get::<_, i32>(0),
            );
        }
        pids
    });
    assert!(faults::wait_until(std::time::Duration::from_secs(5), || {
        pool.status().checked_out == 0
    }));
    assert_eq!(sessions.kill(), 2);
    assert!(faults::wait_until(std::time::Duration::from_secs(5), || sessions.count() == 0));
    let generation = pool.generation();
    runtime().block_on(async {
        for _ in 0..3 {
            let conn = pool.get_async().await.expect("a checkout after the kill succeeds");
            let pid: i32 = conn.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
            assert!(!old.contains(&pid), "a killed backend was handed out");
        }
    });
    assert!(pool.generation() > generation, "the disconnect moved the pool generation");
}

// A row inserted in a transaction left open is rolled back on return; in commit mode it
// is committed; a failed transaction is ended either way.
#[test]
fn reset_on_return_for_real() {
    let Some(url) = url("reset_on_return_for_real") else { return };
    for (mode, table, expected) in [
        (ResetOnReturn::Rollback, "pool_bb8_reset_rollback", 0),
        (ResetOnReturn::Commit, "pool_bb8_reset_commit", 1),
    ] {
        let pool = QueuePool::builder(connector(&url, &tag("reset")))
            .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
            .reset_on_return(mode)
            .build()
            .unwrap();
        let mut conn = pool.get().unwrap();
        run(&mut conn, &format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x int)"))
            .unwrap();
        run(&mut conn, &format!("BEGIN; INSERT INTO {table} VALUES (1)")).unwrap();
        drop(conn);
        let mut conn = pool.get().unwrap();
        let rows: i64 = runtime()
            .block_on(conn.query_one(&format!("SELECT count(*) FROM {table}"), &[]))
            .unwrap()
            .get(0);
        assert_eq!(rows, expected, "{mode:?}");
        run(&mut conn, "BEGIN; SELECT 1/0").unwrap_err();
        drop(conn);
        let mut conn = pool.get().unwrap();
        run(&mut conn, &format!("DROP TABLE {table}")).expect("the failed block was ended");
    }
}

// The connector's errors carry the server's words, and say what failed.
#[test]
fn errors_carry_the_servers_words() {
    let Some(url) = url("errors_carry_the_servers_words") else { return };
    let mut config: Config = url.parse().unwrap();
    config.user("pool_bb8_nosuchuser");
    let connector = Bb8Connector::new(PostgresConnectionManager::new(config, NoTls))
        .with_runtime(runtime().handle().clone());
    let err = connector.connect().unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("db error: FATAL: "), "{message}");
    assert!(message.contains("pool_bb8_nosuchuser"), "{message}");
    assert!(std::error::Error::source(&err).is_some());

    let pool = QueuePool::builder(connector).build().unwrap();
    let err = pool.get().expect_err("the connect fails");
    assert!(matches!(err, CheckoutError::Connect(_)));
    let message = err.to_string();
    assert!(message.starts_with("could not connect: db error: FATAL: role "), "{message}");

    // An SQL error is not a disconnect; a refused connect is.
    let connector = self::connector(&url, &tag("errors"));
    let mut conn = connector.connect().unwrap();
    let err = run(&mut conn, "SELEC 1").unwrap_err();
    assert!(err.to_string().contains("syntax error"), "{err}");
    assert!(!connector.is_disconnect(&err), "{err:?}");
    let refused = Bb8Connector::new(PostgresConnectionManager::new(
        "host=127.0.0.1 port=1 user=postgres".parse().unwrap(),
        NoTls,
    ))
    .with_runtime(runtime().handle().clone());
    let err = refused.connect().unwrap_err();
    assert!(refused.is_disconnect(&err), "{err:?}");
}

// Issue 10, part 5: the four failures to reach the database, through the pool, with the
// server's (or the system's) words.
#[test]
fn connect_errors_say_what_is_wrong() {
    let Some(url) = url("connect_errors_say_what_is_wrong") else { return };
    let config: Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        pool_bb8::bb8_postgres::tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("a TCP host, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let port_refused = errors::refused_port();
    let cases = ErrorCases {
        unknown_user: Case::fails(
            format!("postgres://pool_bb8_nosuchuser@{host}:{port}/test"),
            "could not connect: db error: FATAL: role \"pool_bb8_nosuchuser\" does not exist",
        ),
        unknown_database: Case::fails(
            format!("postgres://postgres@{host}:{port}/pool_bb8_nosuchdb"),
            "database \"pool_bb8_nosuchdb\" does not exist",
        ),
        refused_port: Case::fails(
            format!("postgres://postgres@127.0.0.1:{port_refused}/test"),
            "Connection refused",
        ),
        // bb8-postgres's manager takes the driver's parsed configuration: the driver's
        // error, with the option it could not read in its source.
        malformed_url: Case::fails(
            format!("postgres://postgres@{host}:notaport/test"),
            "invalid connection string",
        ),
    };
    errors::check_connector_errors::<pool_bb8::bb8_postgres::tokio_postgres::Error, _, _, _>(
        "PostgreSQL through bb8-postgres",
        &cases,
        |url| {
            let manager = PostgresConnectionManager::new_from_stringlike(url, NoTls)?;
            Ok::<_, pool_bb8::bb8_postgres::tokio_postgres::Error>(
                Bb8Connector::new(manager).with_runtime(runtime().handle().clone()),
            )
        },
    );
}

// Issue 11: a server that goes silent on established connections, through the blocking
// checkout: the pre-ping (`is_valid`) and the reset on return give up at ping_timeout and
// reset_timeout (the manager's futures, dropped at the bound).
#[test]
fn silent_server_bounds_blocking_ping_and_reset() {
    let Some(url) = url("silent_server_bounds_blocking_ping_and_reset") else { return };
    let config: Config = url.parse().expect("the URL parses");
    let (host, port) = match config.get_hosts().first() {
        Some(pool_bb8::bb8_postgres::tokio_postgres::config::Host::Tcp(h)) => (h.clone(), 5432),
        _ => ("127.0.0.1".to_owned(), 5432),
    };
    let port = config.get_ports().first().copied().unwrap_or(port);
    let (ping, reset) = faults::silent_server_bounds_blocking_ping_and_reset(
        (host, port),
        |proxy| connector(&format!("postgres://postgres@{proxy}/test"), &tag("silent")),
        backend_pid,
        |conn| run(conn, "BEGIN"),
    );
    println!(
        "bb8-postgres: a silent pre-ping gave up after {ping:?}, a silent reset after {reset:?}"
    );
}
