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
use std::time::{Duration, Instant};

use pool_conformance::faults::{self, BlackHole, FaultProxy, HangEnd, OpenCount, Storm};
use pool_conformance::{server_url, MYSQL_URL};
use pool_core::ResetOnReturn;
use pool_core::{ConnectionRecord, Connector, ListenerError, PoolListener, PooledConnection};
use pool_mysql::mysql::prelude::Queryable;
use pool_mysql::mysql::{Conn, Error, Opts, OptsBuilder};
use pool_mysql::MySqlConnector;
use pool_queue::{QueueConfig, QueuePool};

/// The server's URL, or `None` after saying the test is skipped.
fn url(test: &str) -> Option<String> {
    match server_url(MYSQL_URL) {
        Ok(url) => Some(url),
        Err(skip) => {
            println!("skipped {test}: {}", skip.0);
            None
        }
    }
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

    /// Kills every session of the pool and waits until the server has ended them.
    fn kill_and_wait(&self, watcher: &mut Conn) -> usize {
        let killed = self.kill(watcher);
        assert!(faults::wait_until(Duration::from_secs(5), || self.alive(watcher).is_empty()));
        killed
    }
}

fn select_one(conn: &mut Conn) -> Result<(), Error> {
    conn.query_drop("SELECT 1")
}

/// A QueuePool over the server with `pool_size` and `max_overflow`, its sessions
/// recorded and counted.
fn pool(
    url: &str,
    size: usize,
    overflow: usize,
    configure: impl FnOnce(
        pool_core::Builder<MySqlConnector, pool_queue::Queue<MySqlConnector>>,
    ) -> pool_core::Builder<MySqlConnector, pool_queue::Queue<MySqlConnector>>,
) -> (QueuePool<MySqlConnector>, Sessions, OpenCount) {
    let (sessions, count) = (Sessions::default(), OpenCount::new());
    let builder = QueuePool::builder(MySqlConnector::new(url).unwrap())
        .strategy(QueueConfig::default().pool_size(size).max_overflow(overflow))
        .listener(sessions.clone())
        .listener(count.clone());
    (configure(builder).build().unwrap(), sessions, count)
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
    let (pool, sessions, count) = pool(&url, 4, 0, |b| b.pre_ping(true));
    let mut watcher = watcher(&url);
    let held: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    let old: Vec<u32> = held.iter().map(|c| c.connection_id()).collect();
    drop(held);
    assert_eq!(sessions.kill_and_wait(&mut watcher), 4);

    let generation = pool.generation();
    let mut held: Vec<_> = (0..4).map(|_| pool.get().expect("pre-ping reconnects")).collect();
    for conn in &mut held {
        assert!(!old.contains(&conn.connection_id()));
        select_one(conn).unwrap();
    }
    assert_eq!(pool.generation(), generation + 1);
    assert_eq!((count.opened(), count.live()), (8, 4));
    drop(held);
    assert_eq!(sessions.alive(&mut watcher).len(), 4);
}

// Issue 6, proof 1 with KILL, pre-ping off: the first use fails, `handle_error`
// invalidates the connection and the generation, the next checkouts work.
#[test]
fn killed_session_without_pre_ping_through_handle_error() {
    let Some(url) = url("killed_session_without_pre_ping_through_handle_error") else { return };
    let (pool, sessions, _) = pool(&url, 2, 0, |b| b);
    let mut watcher = watcher(&url);
    let mut a = pool.get().unwrap();
    let b = pool.get().unwrap();
    let old = [a.connection_id(), b.connection_id()];
    drop(b);
    assert_eq!(sessions.kill_and_wait(&mut watcher), 2);

    let generation = pool.generation();
    let err = select_one(&mut a).expect_err("the session is gone");
    assert!(pool.connector().is_disconnect(&err), "{err:?}");
    assert!(PooledConnection::handle_error(a, &err).is_none());
    assert_eq!(pool.generation(), generation + 1);
    let mut held: Vec<_> = (0..2).map(|_| pool.get().unwrap()).collect();
    for conn in &mut held {
        select_one(conn).unwrap();
        assert!(!old.contains(&conn.connection_id()));
    }
}

// Issue 6, proof 2 with KILL: 16 threads check out while every session is killed five times.
#[test]
fn storm_of_kills_loses_no_slot() {
    let Some(url) = url("storm_of_kills_loses_no_slot") else { return };
    let (pool, sessions, count) = pool(&url, 4, 4, |b| {
        b.pre_ping(true).configure(|c| *c = c.clone().timeout(Duration::from_secs(3)))
    });
    let watcher = Mutex::new(watcher(&url));
    let report = faults::kill_storm(
        &pool,
        &count,
        Storm::default(),
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
        let (pool, _, _) = pool(&url, 1, 0, |b| b.reset_on_return(mode));
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
    let proxy = FaultProxy::start(server_addr(&url)).unwrap();
    let limit = Duration::from_secs(3);
    let connector = MySqlConnector::from_opts(at_port(&url, proxy.addr().port()))
        .with_connect_timeout(Duration::from_secs(2))
        .with_read_timeout(limit);
    let pool = QueuePool::builder(connector)
        .strategy(
            QueueConfig::default().pool_size(2).max_overflow(1).timeout(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    let (longest, hung) =
        faults::hanging_connect_in_overflow(&pool, &proxy, HangEnd::TimesOut(limit), select_one);
    println!("mariadb hang: other checkouts took at most {longest:?}; the hung connect failed after {hung:?}");
}

// Issue 6, proof 4 (timeouts): a server whose TCP handshake never completes fails the
// checkout after the configured connect timeout.
#[test]
fn connect_timeout_fires_as_configured() {
    let Some(url) = url("connect_timeout_fires_as_configured") else { return };
    let hole = BlackHole::new().unwrap();
    let limit = Duration::from_secs(1);
    let connector =
        MySqlConnector::from_opts(at_port(&url, hole.addr().port())).with_connect_timeout(limit);
    let pool = QueuePool::builder(connector)
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .unwrap();
    let took = faults::connect_timeout_fires(&pool, limit);
    println!("mariadb connect timeout {limit:?} fired after {took:?}");
}

// A server that drops every connection (the proxy cuts them): with pre-ping the next
// checkouts work; without it the first use fails with a disconnect, once.
#[test]
fn cut_connections_are_replaced() {
    let Some(url) = url("cut_connections_are_replaced") else { return };
    let proxy = FaultProxy::start(server_addr(&url)).unwrap();
    for pre_ping in [true, false] {
        let connector = MySqlConnector::from_opts(at_port(&url, proxy.addr().port()));
        let pool = QueuePool::builder(connector)
            .strategy(QueueConfig::default().pool_size(3).max_overflow(0))
            .pre_ping(pre_ping)
            .build()
            .unwrap();
        drop((0..3).map(|_| pool.get().unwrap()).collect::<Vec<_>>());
        assert!(proxy.cut() >= 6);
        let started = Instant::now();
        let mut failures = 0;
        for _ in 0..3 {
            let mut conn = pool.get().unwrap();
            if let Err(e) = select_one(&mut conn) {
                assert!(pool.connector().is_disconnect(&e), "{e:?}");
                failures += 1;
                assert!(PooledConnection::handle_error(conn, &e).is_none());
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(failures, usize::from(!pre_ping), "pre_ping {pre_ping}");
        for mut conn in (0..3).map(|_| pool.get().unwrap()).collect::<Vec<_>>() {
            select_one(&mut conn).unwrap();
        }
    }
}
