//! `PostgresConnector` in a QueuePool against the PostgreSQL server named by
//! `POOL_TEST_POSTGRES_URL` (for example `postgres://postgres@127.0.0.1:5432/test`): the
//! four proofs of issue 6 (killed backends with and without pre-ping, a storm of kills,
//! reset on return, a hanging server and connect timeouts) and the connector's own
//! contract. Without the variable each test prints "skipped <name>: POOL_TEST_POSTGRES_URL
//! is not set" and passes.
//!
//! Each test tags its connections with its own `application_name`, so that it kills
//! (`pg_terminate_backend`) and counts only its own sessions; that needs a role allowed
//! to terminate them (the same role, or a superuser).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use pool_conformance::faults::{self, HangEnd};
use pool_conformance::POSTGRES_URL;
use pool_core::{Connector, ResetOnReturn};
use pool_postgres::postgres::{Client, Config};
use pool_postgres::{PostgresConnection, PostgresConnector, TransactionStatus};
use pool_queue::{QueueConfig, QueuePool};

/// The server's URL, or `None` after saying the test is skipped.
fn url(test: &str) -> Option<String> {
    faults::server_url_or_skip(POSTGRES_URL, test)
}

/// The application name of one test's sessions.
fn tag(test: &str) -> String {
    format!("pool-postgres-{test}")
}

/// A plain client beside the pool, to watch and to kill the pool's sessions.
fn watcher(url: &str) -> Client {
    let config: Config = url.parse().expect("the URL parses");
    config.connect(pool_postgres::postgres::NoTls).expect("the test server accepts connections")
}

fn backend_pid(conn: &mut Client) -> i32 {
    conn.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
}

/// Terminates every session tagged `app`; returns how many there were.
fn terminate(watcher: &mut Client, app: &str) -> usize {
    watcher
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&app],
        )
        .unwrap()
        .len()
}

/// Terminates every session tagged `app` and waits until the server has ended them;
/// returns how many there were.
fn kill_all(watcher: &mut Client, app: &str) -> usize {
    let killed = terminate(watcher, app);
    assert!(faults::wait_until(Duration::from_secs(5), || sessions(watcher, app) == 0));
    killed
}

/// Sessions tagged `app` on the server.
fn sessions(watcher: &mut Client, app: &str) -> usize {
    let n: i64 = watcher
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&app])
        .unwrap()
        .get(0);
    usize::try_from(n).unwrap()
}

fn connector(url: &str, app: &str) -> PostgresConnector {
    PostgresConnector::new(url).unwrap().with_application_name(app)
}

fn select_one(conn: &mut PostgresConnection) -> Result<(), pool_postgres::Error> {
    Ok(conn.batch_execute("SELECT 1")?)
}

/// The server process of a pooled connection.
fn pid(conn: &mut PostgresConnection) -> i32 {
    backend_pid(conn)
}

#[test]
fn connects_with_its_settings_and_resets() {
    let Some(url) = url("connects_with_its_settings_and_resets") else { return };
    let app = tag("settings");
    let connector = connector(&url, &app).with_connect_timeout(Duration::from_secs(3));
    assert_eq!(connector.config().get_connect_timeout(), Some(&Duration::from_secs(3)));
    let mut conn = connector.connect().unwrap();
    let shown: String = conn.query_one("SHOW application_name", &[]).unwrap().get(0);
    assert_eq!(shown, app);

    connector.ping(&mut conn).expect("PostgreSQL can ping").unwrap();
    // Outside a transaction ROLLBACK and COMMIT only warn.
    connector.rollback(&mut conn).unwrap();
    connector.commit(&mut conn).unwrap();
    // In an aborted transaction COMMIT rolls back without an error.
    conn.batch_execute("BEGIN").unwrap();
    conn.batch_execute("SELECT 1/0").unwrap_err();
    connector.commit(&mut conn).unwrap();
    assert!(!connector.is_broken(&mut conn));
    connector.close(conn).unwrap();
}

#[test]
fn sql_errors_are_not_disconnects() {
    let Some(url) = url("sql_errors_are_not_disconnects") else { return };
    let mut client = watcher(&url);
    for sql in [
        "SELEC 1",
        "SELECT * FROM pool_postgres_no_such_table",
        "SELECT 1/0",
        "SELECT 'a\0b'",
        "SET statement_timeout = '10ms'; SELECT pg_sleep(1)",
        "CREATE TEMP TABLE u (x int UNIQUE); INSERT INTO u VALUES (1); INSERT INTO u VALUES (1)",
    ] {
        let err = client.batch_execute(sql).unwrap_err();
        assert!(!pool_postgres::is_disconnect(&err), "{sql}: {err:?}");
        client.batch_execute("RESET statement_timeout").unwrap();
    }
    let refused = PostgresConnector::new("host=127.0.0.1 port=1 user=postgres").unwrap();
    let Err(err) = refused.connect() else { panic!("nothing listens on port 1") };
    assert!(refused.is_disconnect(&err), "{err:?}");
}

#[test]
fn a_killed_session_is_a_disconnect_and_broken() {
    let Some(url) = url("a_killed_session_is_a_disconnect_and_broken") else { return };
    let app = tag("killed");
    let connector = connector(&url, &app);
    let mut conn = connector.connect().unwrap();
    assert_eq!(kill_all(&mut watcher(&url), &app), 1);
    let first = select_one(&mut conn).unwrap_err();
    assert!(connector.is_disconnect(&first), "{first:?}");
    assert!(connector.is_broken(&mut conn), "the client knows it is closed");
    let second = select_one(&mut conn).unwrap_err();
    assert!(
        second.as_postgres().is_some_and(|e| e.is_closed()) && connector.is_disconnect(&second),
        "{second:?}"
    );
}

// Issue 6, proof 1, pre-ping on: every checkout after the kill succeeds; the ping that
// finds the first dead connection invalidates the pool generation, so the other idle
// connections (older than the disconnect) are replaced without being pinged.
#[test]
fn killed_backends_are_replaced_with_pre_ping() {
    let Some(url) = url("killed_backends_are_replaced_with_pre_ping") else { return };
    let app = tag("pre-ping");
    let watcher = Mutex::new(watcher(&url));
    faults::killed_replaced_with_pre_ping(
        QueuePool::builder(connector(&url, &app)),
        pid,
        select_one,
        || terminate(&mut watcher.lock().unwrap(), &app),
        || sessions(&mut watcher.lock().unwrap(), &app),
    );
}

// Issue 6, proof 1, pre-ping off: the first use fails with the driver's error;
// `handle_error` classifies it as a disconnect and invalidates the connection and the
// pool generation; the next checkouts work, on new sessions.
#[test]
fn killed_backend_without_pre_ping_through_handle_error() {
    let Some(url) = url("killed_backend_without_pre_ping_through_handle_error") else { return };
    let app = tag("no-pre-ping");
    let watcher = Mutex::new(watcher(&url));
    faults::killed_without_pre_ping_through_handle_error(
        QueuePool::builder(connector(&url, &app)),
        pid,
        select_one,
        |conn| Ok(conn.batch_execute("SELEC 1")?),
        || terminate(&mut watcher.lock().unwrap(), &app),
        || sessions(&mut watcher.lock().unwrap(), &app),
    );
}

// Issue 6, proof 2: 16 threads check out while every backend is terminated five times.
#[test]
fn storm_of_kills_loses_no_slot() {
    let Some(url) = url("storm_of_kills_loses_no_slot") else { return };
    let app = tag("storm");
    let killer = Mutex::new(watcher(&url));
    let report = faults::storm_of_kills(
        QueuePool::builder(connector(&url, &app)),
        select_one,
        || terminate(&mut killer.lock().unwrap(), &app),
        || sessions(&mut killer.lock().unwrap(), &app),
    );
    println!("postgres storm: {report:?}");
}

// Issue 6, proof 3: a row inserted in a transaction left open is rolled back on return;
// in commit mode it is committed. The next holder gets the same connection.
#[test]
fn reset_on_return_for_real() {
    let Some(url) = url("reset_on_return_for_real") else { return };
    let app = tag("reset");
    let mut watcher = watcher(&url);
    watcher
        .batch_execute(
            "DROP TABLE IF EXISTS pool_postgres_reset; CREATE TABLE pool_postgres_reset (x int)",
        )
        .unwrap();
    let rows = |client: &mut Client| -> i64 {
        client.query_one("SELECT count(*) FROM pool_postgres_reset", &[]).unwrap().get(0)
    };
    for (mode, kept) in [(ResetOnReturn::Rollback, 0), (ResetOnReturn::Commit, 1)] {
        watcher.batch_execute("TRUNCATE pool_postgres_reset").unwrap();
        let pool = QueuePool::builder(connector(&url, &app))
            .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
            .reset_on_return(mode)
            .build()
            .unwrap();
        let mut conn = pool.get().unwrap();
        let pid = backend_pid(&mut conn);
        conn.batch_execute("BEGIN; INSERT INTO pool_postgres_reset VALUES (1)").unwrap();
        assert_eq!(rows(&mut conn), 1, "the holder sees its row");
        assert_eq!(rows(&mut watcher), 0, "nobody else does yet");
        drop(conn);

        let mut next = pool.get().unwrap();
        assert_eq!(backend_pid(&mut next), pid, "the same connection");
        assert_eq!(rows(&mut next), kept, "{mode}");
        assert_eq!(rows(&mut watcher), kept, "{mode}");
        // Nothing is left open: the next holder's own transaction starts cleanly.
        next.batch_execute("BEGIN; SELECT 1; COMMIT").unwrap();
    }
    watcher.batch_execute("DROP TABLE pool_postgres_reset").unwrap();
}

/// A connector for the server behind the fault proxy at `proxy`: the URL's user and
/// database, the proxy's address.
fn through(url: &str, proxy: SocketAddr, app: &str) -> PostgresConnector {
    let base: Config = url.parse().unwrap();
    let mut config = Config::new();
    config.host("127.0.0.1").port(proxy.port()).application_name(app);
    if let Some(user) = base.get_user() {
        config.user(user);
    }
    if let Some(db) = base.get_dbname() {
        config.dbname(db);
    }
    if let Some(password) = base.get_password() {
        config.password(password);
    }
    PostgresConnector::from_config(config)
}

/// The server's address, from the URL (TCP only).
fn server_addr(url: &str) -> (String, u16) {
    let config: Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(pool_postgres::postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_string(),
    };
    (host, config.get_ports().first().copied().unwrap_or(5432))
}

// Issue 6, proof 4: through a fault proxy, a connect that hangs in the overflow (the
// server accepted and says nothing) does not hold up the pooled connections; it ends
// only when the server closes the socket, since the driver bounds the TCP connect only.
#[test]
fn hanging_connect_does_not_block_other_checkouts() {
    let Some(url) = url("hanging_connect_does_not_block_other_checkouts") else { return };
    let (longest, hung) = faults::hanging_connect_in_overflow(
        server_addr(&url),
        |proxy| through(&url, proxy, &tag("hang")).with_connect_timeout(Duration::from_secs(2)),
        HangEnd::WhenReleased,
        select_one,
    );
    println!("postgres hang: other checkouts took at most {longest:?}; the hung connect failed after {hung:?}");
}

// Issue 6, proof 4 (timeouts): a server whose TCP handshake never completes fails the
// checkout after the configured connect timeout.
#[test]
fn connect_timeout_fires_as_configured() {
    let Some(_url) = url("connect_timeout_fires_as_configured") else { return };
    let limit = Duration::from_secs(1);
    let took = faults::connect_timeout_fires(limit, |hole| {
        let mut config = Config::new();
        config.host("127.0.0.1").port(hole.port()).user("postgres");
        PostgresConnector::from_config(config).with_connect_timeout(limit)
    });
    println!("postgres connect timeout {limit:?} fired after {took:?}");
}

// A server that drops every connection (the proxy cuts them): with pre-ping, the next
// checkouts reconnect through the proxy and work; without it, the first use fails with
// a disconnect.
#[test]
fn cut_connections_are_replaced() {
    let Some(url) = url("cut_connections_are_replaced") else { return };
    let app = tag("cut");
    faults::cut_connections_are_replaced(
        server_addr(&url),
        |proxy| through(&url, proxy, &app),
        select_one,
    );
}

// Issue 10: a return sends nothing when no transaction is open, and `ROLLBACK` when
// one is, so the server's log gets no "there is no transaction in progress" warning,
// whatever the holder did: plain statements, prepared ones, errors, transactions
// committed, dropped or left open.
#[test]
fn reset_sends_nothing_when_idle() {
    let Some(url) = url("reset_sends_nothing_when_idle") else { return };
    let Some(log) = faults::postgres_log("reset_sends_nothing_when_idle") else { return };
    let pool = QueuePool::builder(connector(&url, &tag("quiet-reset")))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .unwrap();
    let mut conn = pool.get().unwrap();
    let pid = backend_pid(&mut conn);
    // Log every statement of this session, to count what the returns send.
    conn.batch_execute("SET log_statement = 'all'").unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    drop(conn);
    let start = std::fs::metadata(&log).unwrap().len();

    let rounds = 200;
    let mut left_open = 0;
    for i in 0..rounds {
        let mut conn = pool.get().unwrap();
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle, "round {i}");
        let _: i32 = conn.query_one("SELECT 1", &[]).unwrap().get(0);
        match i % 5 {
            0 => {
                conn.execute("SELECT $1::int", &[&i]).unwrap();
            }
            1 => {
                conn.batch_execute("SELEC 1").unwrap_err();
            }
            2 => {
                let mut tx = conn.transaction().unwrap();
                tx.batch_execute("SELECT 1").unwrap();
                tx.commit().unwrap();
            }
            3 => {
                let mut tx = conn.transaction().unwrap();
                tx.batch_execute("SELECT 1").unwrap();
                drop(tx); // rolled back by the driver
            }
            _ => {
                conn.batch_execute("BEGIN; SELECT 1").unwrap();
                assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
                if i % 10 == 4 {
                    conn.batch_execute("SELECT 1/0").unwrap_err();
                    // The driver returns the error before the server's last word, so the
                    // status may not be known yet; it is not idle either way.
                    assert!(matches!(
                        conn.transaction_status(),
                        TransactionStatus::Failed | TransactionStatus::Unknown
                    ));
                }
                left_open += 1;
            }
        }
    }
    let mut conn = pool.get().unwrap();
    // `TransactionStatus` is what the connector believes; ask the server itself.
    let answer = conn.simple_query(pool_postgres::IN_TRANSACTION_QUERY).unwrap();
    let open = answer.iter().any(|m| match m {
        pool_postgres::postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("t"),
        _ => false,
    });
    assert!(!open, "the last return ended the transaction its holder left open");
    conn.batch_execute("BEGIN").unwrap();
    let answer = conn.simple_query(pool_postgres::IN_TRANSACTION_QUERY).unwrap();
    assert!(
        answer.iter().any(|m| matches!(m,
            pool_postgres::postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("t"))),
        "the question tells an open transaction"
    );
    drop(conn);
    drop(pool);

    // The server writes its log asynchronously; give it a moment.
    std::thread::sleep(Duration::from_millis(200));
    let lines = faults::logged_by_backend(&log, start, pid);
    let warnings: Vec<_> =
        lines.iter().filter(|l| l.contains("there is no transaction in progress")).collect();
    assert!(warnings.is_empty(), "{} warnings, first: {:?}", warnings.len(), warnings.first());
    let rollbacks = lines.iter().filter(|l| l.ends_with("statement: ROLLBACK")).count();
    println!(
        "{rounds} returns: {rollbacks} ROLLBACK statements sent by the resets, {left_open} \
         transactions left open, {} log lines, 0 warnings",
        lines.len()
    );
    // The driver's own ROLLBACKs (dropped transactions) are logged the same way; the
    // returns add one only where a holder left a transaction open.
    let dropped = (0..rounds).filter(|i| i % 5 == 3).count();
    // And one for the transaction the last check opened.
    assert_eq!(rollbacks, left_open + dropped + 1, "a ROLLBACK only where a transaction was open");
}

/// Whether the server says `client` is inside a transaction block.
fn in_transaction(client: &mut Client) -> bool {
    match client.simple_query(pool_postgres::IN_TRANSACTION_QUERY) {
        Ok(answer) => answer.iter().any(|m| {
            matches!(m, pool_postgres::postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("t"))
        }),
        Err(_) => true, // a failed block refuses the question
    }
}

// Issue 10: a client whose socket is not watched (r2d2_postgres's, or one with TLS) is
// reset by asking first: idle, it gets no ROLLBACK and so no warning; in a block or a
// failed block, it is rolled back.
#[test]
fn end_transaction_asks_first() {
    let Some(url) = url("end_transaction_asks_first") else { return };
    let mut client = watcher(&url);
    let pid = backend_pid(&mut client);
    let log = faults::postgres_log("end_transaction_asks_first");
    let start = log.as_ref().map(|l| std::fs::metadata(l).unwrap().len());

    pool_postgres::end_transaction(&mut client, "ROLLBACK").unwrap();
    assert!(!in_transaction(&mut client));
    client.batch_execute("BEGIN; SELECT 1").unwrap();
    assert!(in_transaction(&mut client));
    pool_postgres::end_transaction(&mut client, "ROLLBACK").unwrap();
    assert!(!in_transaction(&mut client), "an open block is rolled back");
    client.batch_execute("BEGIN").unwrap();
    client.batch_execute("SELECT 1/0").unwrap_err();
    pool_postgres::end_transaction(&mut client, "COMMIT").unwrap();
    assert!(!in_transaction(&mut client), "a failed block is ended");
    for _ in 0..20 {
        pool_postgres::end_transaction(&mut client, "ROLLBACK").unwrap();
    }

    if let (Some(log), Some(start)) = (log, start) {
        std::thread::sleep(Duration::from_millis(200));
        let warnings = faults::logged_by_backend(&log, start, pid)
            .into_iter()
            .filter(|l| l.contains("there is no transaction in progress"))
            .count();
        assert_eq!(warnings, 0, "asking first leaves no warning");
    }
}

// Issue 13, part 5: when the server stops answering after it had, the connect error
// says so (for how long connects have failed, how many in a row) beside the driver's message;
// a pool that never reached it says nothing of the kind.
#[test]
fn a_connect_after_the_server_went_away_says_so() {
    let Some(url) = url("a_connect_after_the_server_went_away_says_so") else { return };
    let proxy = faults::FaultProxy::start(server_addr(&url)).unwrap();
    let pool = QueuePool::builder(through(&url, proxy.addr(), &tag("away")))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .unwrap();
    let mut conn = pool.get().expect("the server answers");
    select_one(&mut conn).unwrap();
    pool_core::PooledConnection::invalidate(conn, None);
    drop(proxy); // the port refuses connections from now on
    for failures in 1..=2 {
        let err = pool.get().expect_err("the server is gone");
        let shown = err.to_string();
        let pool_core::CheckoutError::Connect(e) = err else { panic!("{shown}") };
        assert_eq!(e.outage().map(|o| o.failures), Some(failures), "{shown}");
        assert!(shown.contains("Connection refused"), "the driver's message: {shown}");
        assert!(
            shown.contains(
                "(the database had accepted this pool's connections; connects have failed for "
            ),
            "{shown}"
        );
        println!("{shown}");
    }
    let never = QueuePool::builder(through(&url, proxy_gone(), &tag("never")))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .unwrap();
    match never.get() {
        Err(pool_core::CheckoutError::Connect(e)) => assert_eq!(e.outage(), None, "{e}"),
        other => panic!("expected a refused connect, got {:?}", other.map(|_| ())),
    }
}

/// An address nothing listens on.
fn proxy_gone() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
