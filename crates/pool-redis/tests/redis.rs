//! `RedisConnector` in a QueuePool against the Redis server named by `POOL_TEST_REDIS_URL`
//! (for example `redis://127.0.0.1:6379/`): reset on return for real (`MULTI` and
//! `WATCH`), the proofs of issue 6 that apply (connections killed with `CLIENT KILL`, with
//! and without pre-ping, a storm of kills, a hanging server and connect timeouts) and the
//! connector's own contract. Without the variable each test prints "skipped <name>:
//! POOL_TEST_REDIS_URL is not set" and passes.
//!
//! Each test names its connections (`CLIENT SETNAME`) after itself, and kills and counts
//! only those. Keys start with `pool-redis:` and are deleted by the test that made them.

use std::sync::Mutex;
use std::time::Duration;

use pool_conformance::faults::{self, HangEnd};
use pool_conformance::REDIS_URL;
use pool_core::{Connector, ResetOnReturn};
use pool_queue::{QueueConfig, QueuePool};
use pool_redis::redis::{self, Client, Commands, Connection, RedisError, Value};
use pool_redis::RedisConnector;

/// The server's URL, or `None` after saying the test is skipped.
fn url(test: &str) -> Option<String> {
    faults::server_url_or_skip(REDIS_URL, test)
}

/// The client name of one test's connections.
fn tag(test: &str) -> String {
    format!("pool-redis-{test}")
}

/// A plain connection beside the pool, to watch and to kill the pool's connections.
fn watcher(url: &str) -> Connection {
    Client::open(url).unwrap().get_connection().expect("the test server accepts connections")
}

/// The ids of the connections named `name`.
fn named(watcher: &mut Connection, name: &str) -> Vec<i64> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(watcher).unwrap();
    let wanted = format!("name={name}");
    list.lines()
        .filter(|line| line.split(' ').any(|field| field == wanted))
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(|id| id.parse().unwrap())
        .collect()
}

/// Kills every connection named `name`; returns how many.
fn kill(watcher: &mut Connection, name: &str) -> usize {
    let ids = named(watcher, name);
    for id in &ids {
        let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(watcher).unwrap();
    }
    ids.len()
}

fn ping(conn: &mut Connection) -> Result<(), RedisError> {
    redis::cmd("PING").exec(conn)
}

fn connector(url: &str, name: &str) -> RedisConnector {
    RedisConnector::new(url).unwrap().with_client_name(name)
}

#[test]
fn connects_named_and_pings() {
    let Some(url) = url("connects_named_and_pings") else { return };
    let name = tag("named");
    let connector = connector(&url, &name).with_connect_timeout(Duration::from_secs(2));
    let mut conn = connector.connect().unwrap();
    let got: String = redis::cmd("CLIENT").arg("GETNAME").query(&mut conn).unwrap();
    assert_eq!(got, name);
    connector.ping(&mut conn).expect("Redis can ping").unwrap();
    // Nothing open: both resets succeed.
    connector.rollback(&mut conn).unwrap();
    connector.commit(&mut conn).unwrap();
    assert!(!connector.is_broken(&mut conn));
    connector.close(conn).unwrap();
    assert!(format!("{connector:?}").contains(&name));

    // A name Redis refuses fails the connect.
    assert!(pool_redis::RedisConnector::new(&url)
        .unwrap()
        .with_client_name("a b")
        .connect()
        .is_err());
}

#[test]
fn server_errors_are_not_disconnects() {
    let Some(url) = url("server_errors_are_not_disconnects") else { return };
    let mut conn = watcher(&url);
    let key = "pool-redis:errors";
    let _: () = conn.set(key, "text").unwrap();
    let wrong_type = conn.incr::<_, _, i64>(key, 1).unwrap_err();
    assert!(!pool_redis::is_disconnect(&wrong_type), "{wrong_type:?}");
    let unknown = redis::cmd("NOSUCHCOMMAND").exec(&mut conn).unwrap_err();
    assert!(!pool_redis::is_disconnect(&unknown), "{unknown:?}");
    let parse = conn.get::<_, i64>(key).unwrap_err();
    assert!(!pool_redis::is_disconnect(&parse), "{parse:?}");
    ping(&mut conn).expect("still usable");
    let _: () = conn.del(key).unwrap();

    let refused = RedisConnector::new("redis://127.0.0.1:1/").unwrap();
    let Err(err) = refused.connect() else { panic!("nothing listens on port 1") };
    assert!(refused.is_disconnect(&err), "{err:?}");
}

#[test]
fn a_killed_connection_is_a_disconnect_and_broken() {
    let Some(url) = url("a_killed_connection_is_a_disconnect_and_broken") else { return };
    let name = tag("killed");
    let connector = connector(&url, &name);
    let mut conn = connector.connect().unwrap();
    assert_eq!(kill(&mut watcher(&url), &name), 1);
    let first = ping(&mut conn).unwrap_err();
    assert!(connector.is_disconnect(&first), "{first:?}");
    assert!(connector.is_broken(&mut conn), "the driver saw the socket fail");
    let second = ping(&mut conn).unwrap_err();
    assert!(connector.is_disconnect(&second), "{second:?}");
}

/// A pool of one connection, so that the next holder gets the same connection.
fn single(url: &str, name: &str, mode: ResetOnReturn) -> QueuePool<RedisConnector> {
    QueuePool::builder(connector(url, name))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .reset_on_return(mode)
        .build()
        .unwrap()
}

fn client_id(conn: &mut Connection) -> i64 {
    redis::cmd("CLIENT").arg("ID").query(conn).unwrap()
}

// Issue 6, proof 3 for Redis: a MULTI left open is discarded on return (its queued SET
// never runs, and the next holder's commands run at once); in commit mode it is executed.
#[test]
fn reset_on_return_ends_an_open_multi() {
    let Some(url) = url("reset_on_return_ends_an_open_multi") else { return };
    let mut watcher = watcher(&url);
    let key = "pool-redis:multi";
    for (mode, kept) in [(ResetOnReturn::Rollback, None), (ResetOnReturn::Commit, Some(1))] {
        let _: () = watcher.del(key).unwrap();
        let pool = single(&url, &tag("multi"), mode);
        let mut conn = pool.get().unwrap();
        let id = client_id(&mut conn);
        redis::cmd("MULTI").exec(&mut *conn).unwrap();
        let queued: String = redis::cmd("SET").arg(key).arg(1).query(&mut *conn).unwrap();
        assert_eq!(queued, "QUEUED");
        drop(conn);

        let mut next = pool.get().unwrap();
        assert_eq!(client_id(&mut next), id, "the same connection");
        let value: Option<i64> = next.get(key).unwrap();
        assert_eq!(value, kept, "{mode}: and GET ran at once, not queued");
        assert_eq!(watcher.get::<_, Option<i64>>(key).unwrap(), kept, "{mode}");
    }

    // Mode "none" leaves the MULTI open: the next holder's command is only queued.
    let pool = single(&url, &tag("multi"), ResetOnReturn::Nothing);
    let mut conn = pool.get().unwrap();
    redis::cmd("MULTI").exec(&mut *conn).unwrap();
    drop(conn);
    let mut next = pool.get().unwrap();
    let queued: String = redis::cmd("GET").arg(key).query(&mut *next).unwrap();
    assert_eq!(queued, "QUEUED");
    redis::cmd("DISCARD").exec(&mut *next).unwrap();
    let _: () = watcher.del(key).unwrap();
}

// Commit mode with a MULTI whose queued command the server refused: EXEC answers
// EXECABORT, nothing runs, the reset fails and the pool closes the connection.
#[test]
fn commit_of_a_refused_multi_closes_the_connection() {
    let Some(url) = url("commit_of_a_refused_multi_closes_the_connection") else { return };
    let key = "pool-redis:execabort";
    let pool = single(&url, &tag("execabort"), ResetOnReturn::Commit);
    let mut conn = pool.get().unwrap();
    let id = client_id(&mut conn);
    redis::cmd("MULTI").exec(&mut *conn).unwrap();
    redis::cmd("SET").arg(key).arg(1).exec(&mut *conn).unwrap();
    redis::cmd("SET").arg(key).exec(&mut *conn).expect_err("wrong number of arguments");
    drop(conn);

    let mut next = pool.get().unwrap();
    assert_ne!(client_id(&mut next), id, "the connection was replaced");
    assert_eq!(next.get::<_, Option<i64>>(key).unwrap(), None, "nothing ran");
}

// Reset on return forgets WATCHed keys: a key the previous holder watched and someone
// else changed does not abort the next holder's transaction.
#[test]
fn reset_on_return_forgets_watched_keys() {
    let Some(url) = url("reset_on_return_forgets_watched_keys") else { return };
    let mut watcher = watcher(&url);
    let (watched, other) = ("pool-redis:watched", "pool-redis:other");
    for mode in [ResetOnReturn::Rollback, ResetOnReturn::Commit, ResetOnReturn::Nothing] {
        let pool = single(&url, &tag("watch"), mode);
        let mut conn = pool.get().unwrap();
        redis::cmd("WATCH").arg(watched).exec(&mut *conn).unwrap();
        drop(conn);
        let _: () = watcher.set(watched, 1).unwrap(); // someone else changes it

        let mut next = pool.get().unwrap();
        redis::cmd("MULTI").exec(&mut *next).unwrap();
        redis::cmd("SET").arg(other).arg(2).exec(&mut *next).unwrap();
        let result: Value = redis::cmd("EXEC").query(&mut *next).unwrap();
        let aborted = result == Value::Nil;
        // Only mode "none" keeps the stale WATCH, which aborts the EXEC.
        assert_eq!(aborted, mode == ResetOnReturn::Nothing, "{mode}: {result:?}");
        let _: () = watcher.del(&[watched, other]).unwrap();
    }
}

// Issue 6, proof 1 with CLIENT KILL, pre-ping on: every checkout after the kill succeeds,
// and the first failed PING invalidates the generation, replacing the other idle
// connections without pinging them.
#[test]
fn killed_connections_are_replaced_with_pre_ping() {
    let Some(url) = url("killed_connections_are_replaced_with_pre_ping") else { return };
    let name = tag("pre-ping");
    let watcher = Mutex::new(watcher(&url));
    faults::killed_replaced_with_pre_ping(
        QueuePool::builder(connector(&url, &name)),
        client_id,
        ping,
        || kill(&mut watcher.lock().unwrap(), &name),
        || named(&mut watcher.lock().unwrap(), &name).len(),
    );
}

// Issue 6, proof 1 with CLIENT KILL, pre-ping off: the first use fails with an I/O error,
// `handle_error` invalidates the connection and the generation, the next checkouts work.
#[test]
fn killed_connection_without_pre_ping_through_handle_error() {
    let Some(url) = url("killed_connection_without_pre_ping_through_handle_error") else {
        return;
    };
    let name = tag("no-pre-ping");
    let watcher = Mutex::new(watcher(&url));
    faults::killed_without_pre_ping_through_handle_error(
        QueuePool::builder(connector(&url, &name)),
        client_id,
        ping,
        |conn| redis::cmd("NOSUCHCOMMAND").exec(conn),
        || kill(&mut watcher.lock().unwrap(), &name),
        || named(&mut watcher.lock().unwrap(), &name).len(),
    );
}

// Issue 6, proof 2 with CLIENT KILL: 16 threads check out while every connection is
// killed five times.
#[test]
fn storm_of_kills_loses_no_slot() {
    let Some(url) = url("storm_of_kills_loses_no_slot") else { return };
    let name = tag("storm");
    let watcher = Mutex::new(watcher(&url));
    let report = faults::storm_of_kills(
        QueuePool::builder(connector(&url, &name)),
        ping,
        || kill(&mut watcher.lock().unwrap(), &name),
        || named(&mut watcher.lock().unwrap(), &name).len(),
    );
    println!("redis storm: {report:?}");
}

/// The server's address, from the URL.
fn server_addr(url: &str) -> (String, u16) {
    match Client::open(url).unwrap().get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        other => panic!("the fault proxy needs a TCP server, not {other:?}"),
    }
}

// Issue 6, proof 4: a connect that hangs in the overflow (the server accepted and says
// nothing) does not hold up the pooled connections, and fails by the connector's connect
// timeout. That timeout bounds each step of the handshake, and against a silent server
// the driver waits out two of them (its setup commands, then their replies): 1.5 s per
// step ends the connect after 3 s.
#[test]
fn hanging_connect_does_not_block_other_checkouts() {
    let Some(url) = url("hanging_connect_does_not_block_other_checkouts") else { return };
    let step = Duration::from_millis(1500);
    let (longest, hung) = faults::hanging_connect_in_overflow(
        server_addr(&url),
        |proxy| connector(&format!("redis://{proxy}/"), &tag("hang")).with_connect_timeout(step),
        HangEnd::TimesOut(step * 2),
        ping,
    );
    println!("redis hang: other checkouts took at most {longest:?}; the hung connect failed after {hung:?}");
}

// Issue 6, proof 4 (timeouts): a server whose TCP handshake never completes fails the
// checkout after the configured connect timeout.
#[test]
fn connect_timeout_fires_as_configured() {
    let Some(_url) = url("connect_timeout_fires_as_configured") else { return };
    let limit = Duration::from_secs(1);
    let took = faults::connect_timeout_fires(limit, |hole| {
        RedisConnector::new(&format!("redis://{hole}/")).unwrap().with_connect_timeout(limit)
    });
    println!("redis connect timeout {limit:?} fired after {took:?}");
}

// A server that drops every connection (the proxy cuts them): with pre-ping the next
// checkouts work; without it the first use fails with a disconnect, once.
#[test]
fn cut_connections_are_replaced() {
    let Some(url) = url("cut_connections_are_replaced") else { return };
    faults::cut_connections_are_replaced(
        server_addr(&url),
        |proxy| RedisConnector::new(&format!("redis://{proxy}/")).unwrap(),
        ping,
    );
}

// Issue 11: a server that goes silent on established connections: the blocking pre-ping
// and reset on return give up at ping_timeout and reset_timeout (a read timeout set on
// the socket for the call).
#[test]
fn silent_server_bounds_ping_and_reset() {
    let Some(url) = url("silent_server_bounds_ping_and_reset") else { return };
    let (ping, reset) = faults::silent_server_bounds_blocking_ping_and_reset(
        server_addr(&url),
        |proxy| RedisConnector::new(&format!("redis://{proxy}/")).unwrap(),
        client_id,
        |conn| redis::cmd("MULTI").exec(conn),
    );
    println!("redis: a silent pre-ping gave up after {ping:?}, a silent reset after {reset:?}");
}
