//! The adapter over `r2d2_postgres`'s manager in every strategy, on the PostgreSQL server
//! named by `POOL_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`). Without it each test prints
//! "skipped: POOL_TEST_POSTGRES_URL is not set" and passes. Killing a backend needs a
//! role allowed to call `pg_terminate_backend` on the pool's sessions (the same role, or
//! a superuser).

use pool_conformance::{Harness, Spec};
use pool_core::{Builder, Connector, Pool};
use pool_r2d2::R2d2Connector;
use r2d2_postgres::postgres::{Client, Config, NoTls};
use r2d2_postgres::PostgresConnectionManager;

/// The variable naming the server.
const URL: &str = "POOL_TEST_POSTGRES_URL";

type Manager = PostgresConnectionManager<NoTls>;
type PoolOver<H> = Pool<R2d2Connector<Manager>, <H as Harness>::Strategy<R2d2Connector<Manager>>>;
type BuilderOver<H> =
    Builder<R2d2Connector<Manager>, <H as Harness>::Strategy<R2d2Connector<Manager>>>;

/// The server's configuration, or `None` (after saying so) when the variable is unset.
fn config() -> Option<Config> {
    match std::env::var(URL) {
        Ok(url) if !url.is_empty() => Some(url.parse().expect("POOL_TEST_POSTGRES_URL parses")),
        _ => {
            println!("skipped: {URL} is not set");
            None
        }
    }
}

/// The pool of harness `H` over r2d2_postgres's manager (which classifies disconnects by
/// itself).
fn build<H: Harness>(
    config: &Config,
    configure: impl FnOnce(BuilderOver<H>) -> BuilderOver<H>,
) -> PoolOver<H> {
    let connector = R2d2Connector::new(PostgresConnectionManager::new(config.clone(), NoTls));
    let strategy = H::config::<R2d2Connector<Manager>>(&Spec::default());
    configure(Pool::builder(connector).strategy(strategy)).build().expect("valid settings")
}

/// A plain client beside the pool, to watch and to kill the pool's sessions.
fn watcher(config: &Config) -> Client {
    config.connect(NoTls).expect("the test server accepts connections")
}

fn backend_pid(conn: &mut Client) -> i32 {
    conn.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
}

fn terminate(watcher: &mut Client, pid: i32) {
    let killed: bool =
        watcher.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
    assert!(killed, "could not terminate backend {pid}");
    // Wait until the server has ended it.
    for _ in 0..200 {
        let gone: bool = watcher
            .query_one("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", &[&pid])
            .unwrap()
            .get(0);
        if gone {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("backend {pid} still runs");
}

fn select_one_and_rollback_on_return<H: Harness>(table: &str) {
    let Some(config) = config() else { return };
    let mut watcher = watcher(&config);
    watcher
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x int)"))
        .unwrap();
    let pool = build::<H>(&config, |b| b);

    let mut conn = pool.get().unwrap();
    let one: i32 = conn.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    conn.batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES (1)")).unwrap();
    drop(conn); // ROLLBACK on return

    let count = |client: &mut Client| -> i64 {
        client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).unwrap().get(0)
    };
    assert_eq!(count(&mut watcher), 0, "the row is gone");
    let mut conn = pool.get().unwrap();
    assert_eq!(count(&mut conn), 0);
    // Outside a transaction the reset asks and sends nothing more: the return succeeds.
    drop(conn);
    drop(pool.get().unwrap());
    watcher.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

fn pre_ping_replaces_a_killed_connection<H: Harness>() {
    let Some(config) = config() else { return };
    let mut watcher = watcher(&config);
    let pool = build::<H>(&config, |b| b.pre_ping(true));

    let mut conn = pool.get().unwrap();
    let pid = backend_pid(&mut conn);
    drop(conn);
    if !H::caps().reuses_connections {
        // Closed on return already; the next checkout is a new session anyway.
        let mut conn = pool.get().unwrap();
        assert_ne!(backend_pid(&mut conn), pid);
        return;
    }
    terminate(&mut watcher, pid);

    // The pooled connection's `is_valid` fails with a closed-connection error: a
    // disconnect, so the pool is invalidated and the checkout reconnects.
    let generation = pool.generation();
    let mut conn = pool.get().unwrap();
    assert_ne!(backend_pid(&mut conn), pid);
    assert_eq!(pool.generation(), generation + 1);
}

fn closed_on_return_is_not_pooled<H: Harness>() {
    let Some(config) = config() else { return };
    let mut watcher = watcher(&config);
    let pool = build::<H>(&config, |b| b);

    let mut conn = pool.get().unwrap();
    let pid = backend_pid(&mut conn);
    terminate(&mut watcher, pid);
    let err = conn.simple_query("SELECT 1").unwrap_err();
    assert!(pool.connector().is_disconnect(&err), "{err:?}");
    assert!(conn.is_closed(), "r2d2_postgres's has_broken is `is_closed`");
    drop(conn); // broken: invalidated, not reset

    let mut conn = pool.get().unwrap();
    assert!(!conn.is_closed());
    assert_ne!(backend_pid(&mut conn), pid);
}

#[test]
fn sql_errors_are_not_disconnects() {
    let Some(config) = config() else { return };
    let mut client = watcher(&config);
    for sql in [
        "SELEC 1",
        "SELECT * FROM pool_r2d2_no_such_table",
        "SELECT 1/0",
        "CREATE TEMP TABLE u (x int UNIQUE); INSERT INTO u VALUES (1); INSERT INTO u VALUES (1)",
    ] {
        let err = client.batch_execute(sql).unwrap_err();
        assert!(!pool_r2d2::postgres_is_disconnect(&err), "{sql}: {err:?}");
    }
    // A refused connect is one.
    let refused: Config = "host=127.0.0.1 port=1 user=postgres connect_timeout=5".parse().unwrap();
    let Err(err) = refused.connect(NoTls) else { panic!("nothing listens on port 1") };
    assert!(pool_r2d2::postgres_is_disconnect(&err), "{err:?}");
}

/// Sessions tagged `app` on the server.
fn sessions(watcher: &mut Client, app: &str) -> usize {
    let n: i64 = watcher
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&app])
        .unwrap()
        .get(0);
    usize::try_from(n).unwrap()
}

// Issue 10: the README's "Coming from r2d2" recipe for PostgreSQL (examples/from-r2d2-postgres),
// with no `with_disconnect`: after the server killed every backend, the pre-ping's error
// counts as a disconnect, so the pool generation moves and every checkout succeeds on a
// new session (before, the next two checkouts failed with "pre-ping failed").
#[test]
fn the_recipe_recovers_from_killed_backends_with_no_setting() {
    use pool_queue::QueuePool;
    let Some(mut config) = config() else { return };
    let watcher = std::sync::Mutex::new(watcher(&config));
    let app = "pool-r2d2-recipe-killed";
    config.application_name(app);
    // As the recipe builds it; the scenario adds pool_size(4), max_overflow(0), pre_ping(true).
    let manager = PostgresConnectionManager::new(config, NoTls);
    pool_conformance::faults::killed_replaced_with_pre_ping(
        QueuePool::builder(R2d2Connector::new(manager)),
        backend_pid,
        |conn| conn.simple_query("SELECT 1").map(drop),
        || {
            let mut watcher = watcher.lock().unwrap();
            let killed = watcher
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1",
                    &[&app],
                )
                .unwrap()
                .len();
            let limit = std::time::Duration::from_secs(5);
            assert!(
                pool_conformance::faults::wait_until(limit, || sessions(&mut watcher, app) == 0)
            );
            killed
        },
        || sessions(&mut watcher.lock().unwrap(), app),
    );
}

/// Stamps the checks for one strategy; `$table` keeps their tables apart.
macro_rules! every_strategy {
    ($($module:ident => $harness:ty),* $(,)?) => {
        $(
            mod $module {
                #[test]
                fn select_one_and_rollback_on_return() {
                    let table = concat!("pool_r2d2_", stringify!($module));
                    super::select_one_and_rollback_on_return::<$harness>(table);
                }

                #[test]
                fn pre_ping_replaces_a_killed_connection() {
                    super::pre_ping_replaces_a_killed_connection::<$harness>();
                }

                #[test]
                fn closed_on_return_is_not_pooled() {
                    super::closed_on_return_is_not_pooled::<$harness>();
                }
            }
        )*
    };
}

every_strategy! {
    queue_pool => pool_conformance::harnesses::QueueHarness,
    null_pool => pool_conformance::harnesses::NullHarness,
    singleton_thread_pool => pool_conformance::harnesses::SingletonThreadHarness,
    static_pool => pool_conformance::harnesses::StaticHarness,
    assertion_pool => pool_conformance::harnesses::AssertionHarness,
}
