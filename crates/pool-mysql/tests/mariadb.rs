//! `MySqlConnector` in a QueuePool against the MySQL or MariaDB server named by
//! `POOL_TEST_MYSQL_URL` (for example `mysql://root@127.0.0.1:3306/test`): the proofs of
//! issue 6 that apply (sessions killed with `KILL`, with and without pre-ping, a storm of
//! kills, reset on return, a hanging server and connect timeouts) and the connector's own
//! contract. Without the variable each test prints "skipped <name>: POOL_TEST_MYSQL_URL is
//! not set" and passes.
//!
//! MySQL has no `application_name`, so each test's pool records the id of every
//! connection it opens (a `connect` listener) and kills and counts only those; killing
//! them needs a user allowed to `KILL` them (the same user, or one with the privilege).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool_conformance::faults::{self, HangEnd, QueueBuilder};
use pool_conformance::MYSQL_URL;
use pool_core::ResetOnReturn;
use pool_core::{ConnectionRecord, Connector, ListenerError, PoolListener};
use pool_mysql::mysql::prelude::Queryable;
use pool_mysql::mysql::{Conn, Error, Opts, OptsBuilder};
use pool_mysql::MySqlConnector;
use pool_queue::{QueueConfig, QueuePool};

/// The server's URL, or `None` after saying the test is skipped.
fn url(test: &str) -> Option<String> {
    faults::server_url_or_skip(MYSQL_URL, test)
}

/// A plain connection beside the pool, to watch and to kill the pool's sessions.
fn watcher(url: &str) -> Conn {
    Conn::new(Opts::from_url(url).unwrap()).expect("the test server accepts connections")
}

/// The ids of every connection a pool opened: its sessions on the server.
#[derive(Debug, Clone, Default)]
struct Sessions(Arc<Mutex<HashSet<u32>>>);

impl PoolListener<MySqlConnector> for Sessions {
    fn connect(
        &self,
        conn: &mut Conn,
        _record: &mut ConnectionRecord<MySqlConnector>,
    ) -> Result<(), ListenerError> {
        self.0.lock().unwrap().insert(conn.connection_id());
        Ok(())
    }
}

impl Sessions {
    /// The pool's sessions the server still has.
    fn alive(&self, watcher: &mut Conn) -> Vec<u32> {
        let ids: Vec<u64> = watcher.query("SELECT ID FROM information_schema.PROCESSLIST").unwrap();
        let mine = self.0.lock().unwrap();
        ids.into_iter()
            .filter_map(|id| u32::try_from(id).ok())
            .filter(|id| mine.contains(id))
            .collect()
    }

    /// Kills every session of the pool; returns how many.
    fn kill(&self, watcher: &mut Conn) -> usize {
        let alive = self.alive(watcher);
        for id in &alive {
            // It may have ended since: "Unknown thread id" is fine.
            let _ = watcher.query_drop(format!("KILL {id}"));
        }
        alive.len()
    }
}

fn select_one(conn: &mut Conn) -> Result<(), Error> {
    conn.query_drop("SELECT 1")
}

/// A QueuePool builder over the server, whose sessions are recorded.
fn recorded(url: &str) -> (QueueBuilder<MySqlConnector>, Sessions) {
    let sessions = Sessions::default();
    let builder = QueuePool::builder(MySqlConnector::new(url).unwrap()).listener(sessions.clone());
    (builder, sessions)
}

#[test]
fn connects_pings_and_resets() {
    let Some(url) = url("connects_pings_and_resets") else { return };
    let connector = MySqlConnector::new(&url).unwrap().with_connect_timeout(Duration::from_secs(3));
    assert_eq!(connector.opts().get_tcp_connect_timeout(), Some(Duration::from_secs(3)));
    let mut conn = connector.connect().unwrap();
    connector.ping(&mut conn).expect("MySQL can ping").unwrap();
    connector.rollback(&mut conn).unwrap();
    connector.commit(&mut conn).unwrap();
    assert!(!connector.is_broken(&mut conn));
    connector.close(conn).unwrap();
    assert!(format!("{connector:?}").starts_with("MySqlConnector"));
}

#[test]
fn sql_errors_are_not_disconnects() {
    let Some(url) = url("sql_errors_are_not_disconnects") else { return };
    let mut conn = watcher(&url);
    conn.query_drop("CREATE TEMPORARY TABLE u (x INT UNIQUE)").unwrap();
    conn.query_drop("INSERT INTO u VALUES (1)").unwrap();
    for sql in ["SELEC 1", "SELECT * FROM pool_mysql_no_such_table", "INSERT INTO u VALUES (1)"] {
        let err = conn.query_drop(sql).unwrap_err();
        assert!(!pool_mysql::is_disconnect(&err), "{sql}: {err:?}");
    }
    select_one(&mut conn).expect("still usable");

    // KILL QUERY interrupts the statement (1317) and leaves the session.
    let id = conn.connection_id();
    let killer = std::thread::spawn({
        let url = url.clone();
        move || {
            std::thread::sleep(Duration::from_millis(300));
            watcher(&url).query_drop(format!("KILL QUERY {id}")).unwrap();
        }
    });
    let err = conn.query_drop("SELECT SLEEP(5)").err();
    killer.join().unwrap();
    // MariaDB either fails the statement with 1317 or returns SLEEP's 1 early.
    if let Some(err) = err {
        assert!(!pool_mysql::is_disconnect(&err), "{err:?}");
    }
    select_one(&mut conn).expect("a killed query leaves the session");

    let refused = MySqlConnector::new("mysql://root@127.0.0.1:1/test").unwrap();
    let Err(err) = refused.connect() else { panic!("nothing listens on port 1") };
    assert!(refused.is_disconnect(&err), "{err:?}");
}

#[test]
fn a_killed_session_is_a_disconnect() {
    let Some(url) = url("a_killed_session_is_a_disconnect") else { return };
    let connector = MySqlConnector::new(&url).unwrap();
    let mut conn = connector.connect().unwrap();
    let mut watcher = watcher(&url);
    watcher.query_drop(format!("KILL {}", conn.connection_id())).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let first = select_one(&mut conn).unwrap_err();
    assert!(connector.is_disconnect(&first), "{first:?}");
    let ping = conn.ping().unwrap_err();
    assert!(connector.is_disconnect(&ping), "{ping:?}");
}

// Issue 6, proof 1 with KILL, pre-ping on: every checkout after the kill succeeds, and
// the first failed ping invalidates the generation, replacing the other idle connections.
#[test]
fn killed_sessions_are_replaced_with_pre_ping() {
    let Some(url) = url("killed_sessions_are_replaced_with_pre_ping") else { return };
    let (builder, sessions) = recorded(&url);
    let watcher = Mutex::new(watcher(&url));
    faults::killed_replaced_with_pre_ping(
        builder,
        |conn| conn.connection_id(),
        select_one,
        || sessions.kill(&mut watcher.lock().unwrap()),
        || sessions.alive(&mut watcher.lock().unwrap()).len(),
    );
}

// Issue 6, proof 1 with KILL, pre-ping off: the first use fails, `handle_error`
// invalidates the connection and the generation, the next checkouts work.
#[test]
fn killed_session_without_pre_ping_through_handle_error() {
    let Some(url) = url("killed_session_without_pre_ping_through_handle_error") else { return };
    let (builder, sessions) = recorded(&url);
    let watcher = Mutex::new(watcher(&url));
    faults::killed_without_pre_ping_through_handle_error(
        builder,
        |conn| conn.connection_id(),
        select_one,
        |conn| conn.query_drop("SELEC 1"),
        || sessions.kill(&mut watcher.lock().unwrap()),
        || sessions.alive(&mut watcher.lock().unwrap()).len(),
    );
}

// Issue 6, proof 2 with KILL: 16 threads check out while every session is killed five times.
#[test]
fn storm_of_kills_loses_no_slot() {
    let Some(url) = url("storm_of_kills_loses_no_slot") else { return };
    let (builder, sessions) = recorded(&url);
    let watcher = Mutex::new(watcher(&url));
    let report = faults::storm_of_kills(
        builder,
        select_one,
        || sessions.kill(&mut watcher.lock().unwrap()),
        || sessions.alive(&mut watcher.lock().unwrap()).len(),
    );
    println!("mariadb storm: {report:?}");
}

// Issue 6, proof 3: a row inserted in a transaction left open is rolled back on return;
// in commit mode it is committed.
#[test]
fn reset_on_return_for_real() {
    let Some(url) = url("reset_on_return_for_real") else { return };
    let mut watcher = watcher(&url);
    watcher.query_drop("DROP TABLE IF EXISTS pool_mysql_reset").unwrap();
    watcher.query_drop("CREATE TABLE pool_mysql_reset (x INT) ENGINE=InnoDB").unwrap();
    let rows = |conn: &mut Conn| -> i64 {
        conn.query_first("SELECT COUNT(*) FROM pool_mysql_reset").unwrap().unwrap()
    };
    for (mode, kept) in [(ResetOnReturn::Rollback, 0), (ResetOnReturn::Commit, 1)] {
        watcher.query_drop("TRUNCATE pool_mysql_reset").unwrap();
        let pool = QueuePool::builder(MySqlConnector::new(&url).unwrap())
            .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
            .reset_on_return(mode)
            .build()
            .unwrap();
        let mut conn = pool.get().unwrap();
        let id = conn.connection_id();
        conn.query_drop("START TRANSACTION").unwrap();
        conn.query_drop("INSERT INTO pool_mysql_reset VALUES (1)").unwrap();
        assert_eq!(rows(&mut conn), 1);
        assert_eq!(rows(&mut watcher), 0);
        drop(conn);

        let mut next = pool.get().unwrap();
        assert_eq!(next.connection_id(), id, "the same connection");
        assert_eq!(rows(&mut next), kept, "{mode}");
        assert_eq!(rows(&mut watcher), kept, "{mode}");
    }
    watcher.query_drop("DROP TABLE pool_mysql_reset").unwrap();
}

/// The URL's options pointed at `port` on loopback, over TCP only.
fn at_port(url: &str, port: u16) -> OptsBuilder {
    OptsBuilder::from_opts(Opts::from_url(url).unwrap())
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(port)
        .prefer_socket(false)
}

/// The server's address, from the URL.
fn server_addr(url: &str) -> (String, u16) {
    let opts = Opts::from_url(url).unwrap();
    (opts.get_ip_or_hostname().to_string(), opts.get_tcp_port())
}

// Issue 6, proof 4: a connect that hangs in the overflow (the server accepted and says
// nothing) does not hold up the pooled connections, and fails after the read timeout.
#[test]
fn hanging_connect_does_not_block_other_checkouts() {
    let Some(url) = url("hanging_connect_does_not_block_other_checkouts") else { return };
    let limit = Duration::from_secs(3);
    let (longest, hung) = faults::hanging_connect_in_overflow(
        server_addr(&url),
        |proxy| {
            MySqlConnector::from_opts(at_port(&url, proxy.port()))
                .with_connect_timeout(Duration::from_secs(2))
                .with_read_timeout(limit)
        },
        HangEnd::TimesOut(limit),
        select_one,
    );
    println!("mariadb hang: other checkouts took at most {longest:?}; the hung connect failed after {hung:?}");
}

// Issue 6, proof 4 (timeouts): a server whose TCP handshake never completes fails the
// checkout after the configured connect timeout.
#[test]
fn connect_timeout_fires_as_configured() {
    let Some(url) = url("connect_timeout_fires_as_configured") else { return };
    let limit = Duration::from_secs(1);
    let took = faults::connect_timeout_fires(limit, |hole| {
        MySqlConnector::from_opts(at_port(&url, hole.port())).with_connect_timeout(limit)
    });
    println!("mariadb connect timeout {limit:?} fired after {took:?}");
}

// A server that drops every connection (the proxy cuts them): with pre-ping the next
// checkouts work; without it the first use fails with a disconnect, once.
#[test]
fn cut_connections_are_replaced() {
    let Some(url) = url("cut_connections_are_replaced") else { return };
    faults::cut_connections_are_replaced(
        server_addr(&url),
        |proxy| MySqlConnector::from_opts(at_port(&url, proxy.port())),
        select_one,
    );
}
