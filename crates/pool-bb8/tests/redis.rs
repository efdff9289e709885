//! The adapter over bb8-redis's `RedisConnectionManager` (multiplexed async connections),
//! on the Redis server named by `POOL_TEST_REDIS_URL` (for example
//! `redis://127.0.0.1:6379/`): connections the server killed (`CLIENT KILL`) are replaced
//! at the next checkout with pre-ping, and redis errors are classified with no setting.
//! Without the variable each test prints "skipped <name>: POOL_TEST_REDIS_URL is not
//! set" and passes.

use bb8_redis::redis::{self, aio::MultiplexedConnection};
use bb8_redis::RedisConnectionManager;
use pool_bb8::{Bb8Connector, Bb8Error};
use pool_conformance::faults;
use pool_conformance::REDIS_URL;
use pool_core::{Connector, PooledConnection};
use pool_queue::{QueueConfig, QueuePool};
use tokio::runtime::Runtime;

type Rd = Bb8Connector<RedisConnectionManager>;

fn runtime() -> &'static Runtime {
    pool_conformance::harnesses::async_runtime()
}

fn connector(url: &str) -> Rd {
    // bb8-redis's connections are multiplexed: a MULTI goes out whole, nothing to reset.
    Bb8Connector::without_reset(RedisConnectionManager::new(url).expect("the URL parses"))
        .with_runtime(runtime().handle().clone())
}

fn client_id(conn: &mut MultiplexedConnection) -> Result<i64, Bb8Error<redis::RedisError>> {
    Ok(runtime().block_on(redis::cmd("CLIENT").arg("ID").query_async(conn))?)
}

/// Kills the connections with these ids from a plain connection beside the pool.
fn kill(url: &str, ids: &[i64]) {
    let killer = redis::Client::open(url).unwrap();
    let mut killer = runtime().block_on(killer.get_multiplexed_async_connection()).unwrap();
    for id in ids {
        let killed: i64 = runtime()
            .block_on(redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query_async(&mut killer))
            .unwrap();
        assert_eq!(killed, 1, "connection {id} was found");
    }
}

#[test]
fn killed_connections_are_replaced_with_pre_ping() {
    let test = "killed_connections_are_replaced_with_pre_ping";
    let Some(url) = faults::server_url_or_skip(REDIS_URL, test) else { return };
    let pool = QueuePool::builder(connector(&url))
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .pre_ping(true)
        .build()
        .unwrap();
    let mut held = [pool.get().unwrap(), pool.get().unwrap()];
    let old: Vec<i64> = held.iter_mut().map(|c| client_id(c).unwrap()).collect();
    drop(held);
    kill(&url, &old);
    let generation = pool.generation();
    let mut held = [pool.get().expect("pre-ping reconnects"), pool.get().expect("again")];
    for conn in &mut held {
        let id = client_id(conn).expect("a new connection works");
        assert!(!old.contains(&id), "a killed connection was handed out: {id}");
    }
    assert_eq!(pool.generation(), generation + 1, "one disconnect, one invalidation");
}

#[test]
fn a_killed_connection_is_a_disconnect_through_handle_error() {
    let test = "a_killed_connection_is_a_disconnect_through_handle_error";
    let Some(url) = faults::server_url_or_skip(REDIS_URL, test) else { return };
    let pool = QueuePool::builder(connector(&url)).build().unwrap();
    let mut conn = pool.get().unwrap();
    let id = client_id(&mut conn).unwrap();
    kill(&url, &[id]);
    let err = client_id(&mut conn).expect_err("the connection is gone");
    assert!(pool.connector().is_disconnect(&err), "{err:?}");
    let generation = pool.generation();
    assert!(PooledConnection::handle_error(conn, &err).is_none(), "a disconnect consumes it");
    assert_eq!(pool.generation(), generation + 1);

    // A command the server refuses is not a disconnect.
    let mut conn = pool.get().unwrap();
    let refused = runtime()
        .block_on(redis::cmd("NOSUCHCOMMAND").query_async::<()>(&mut *conn))
        .map_err(Bb8Error::from)
        .unwrap_err();
    assert!(!pool.connector().is_disconnect(&refused), "{refused:?}");

    // A refused connect is.
    let refused = connector("redis://127.0.0.1:1/").connect().unwrap_err();
    assert!(pool.connector().is_disconnect(&refused), "{refused:?}");
    assert!(refused.to_string().contains("refused"), "{refused}");
}
