//! PgBouncer in front of PostgreSQL (issue 17): what transaction mode breaks, shown
//! against session mode; what reset on return and pre-ping mean there; and what the
//! pool does when PgBouncer drops its clients (`KILL`), closes its server connections
//! (`RECONNECT`) or restarts under load.
//!
//! `POOL_TEST_PGBOUNCER_TX_URL` and `POOL_TEST_PGBOUNCER_SESSION_URL` name a PgBouncer in
//! transaction and in session mode (`.ci/pgbouncer` starts both, `server_round_robin = 0`
//! so that an idle server connection is reused last-in first-out), and
//! `POOL_TEST_PGBOUNCER_RESTART` restarts the transaction-mode one. Without them each
//! test prints "skipped <name>: ..." and passes.
//!
//! The tests run one at a time ([`serial`]): PgBouncer's server connections for the
//! database are shared, and the behaviour shown depends on which one a client gets.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pool_conformance::faults::{restart_command_or_skip, restart_under_load, server_url_or_skip};
use pool_conformance::{PGBOUNCER_SESSION_URL, PGBOUNCER_TX_URL, POSTGRES_URL};
use pool_core::{Connector, PooledConnection, ResetOnReturn};
use pool_postgres::postgres::fallible_iterator::FallibleIterator;
use pool_postgres::postgres::{self, error::SqlState, Client, NoTls};
use pool_postgres::{
    AsyncPostgresConnection, AsyncPostgresConnector, Error, PostgresConnection, PostgresConnector,
};
use pool_queue::{QueueConfig, QueuePool};

/// The variable holding the command that restarts the transaction-mode PgBouncer.
const PGBOUNCER_RESTART: &str = "POOL_TEST_PGBOUNCER_RESTART";

/// One test at a time (see the module's documentation).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A direct client through `url`.
fn client(url: &str) -> Client {
    Client::connect(url, NoTls).expect("connects through PgBouncer")
}

/// The admin console of the PgBouncer at `url` (its database `pgbouncer`).
fn admin(url: &str) -> Client {
    let mut config: postgres::Config = url.parse().expect("a valid URL");
    config.dbname("pgbouncer");
    config.connect(NoTls).expect("connects to PgBouncer's admin console")
}

/// The first column of the one row `sql` returns, as text (simple protocol: works in
/// every pool mode).
fn one(client: &mut Client, sql: &str) -> String {
    let rows = client.simple_query(sql).expect(sql);
    rows.iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default()
}

// Transaction mode gives a client a server connection per transaction; a statement
// prepared in one (tokio-postgres and postgres prepare a named statement for every
// `query`, `execute` and `prepare`) is unknown on the next. PgBouncer 1.18 does not track
// prepared statements (1.21 can, with `max_prepared_statements`). Here `a` prepares on
// server connection X, `b` opens a transaction and gets X (last in, first out), and `a`'s
// execute lands on another server connection: SQLSTATE 26000. The unnamed statement of
// `query_typed`, or a prepare and execute inside one transaction, work; in session mode
// everything does.
#[test]
fn named_prepared_statements_break_in_transaction_mode() {
    let test = "named_prepared_statements_break_in_transaction_mode";
    let Some(tx) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let Some(session) = server_url_or_skip(PGBOUNCER_SESSION_URL, test) else { return };
    let _one = serial();

    let (mut a, mut b) = (client(&tx), client(&tx));
    let statement = a.prepare("SELECT 41 + 1").expect("prepared on one server connection");
    b.batch_execute("BEGIN; SELECT 1").expect("b holds that server connection");
    let err = a.query(&statement, &[]).expect_err("executed on another server connection");
    assert_eq!(err.code(), Some(&SqlState::INVALID_SQL_STATEMENT_NAME), "{err}");
    let message = err.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
    assert!(message.contains("does not exist"), "{message}");
    let rows = a
        .query_typed("SELECT $1::int + 1", &[(&41i32, postgres::types::Type::INT4)])
        .expect("the unnamed statement of query_typed works");
    assert_eq!(rows[0].get::<_, i32>(0), 42);
    let mut t = a.transaction().expect("BEGIN");
    let inside = t.prepare("SELECT 42").expect("prepared inside a transaction");
    assert_eq!(t.query_one(&inside, &[]).expect("same server connection").get::<_, i32>(0), 42);
    t.commit().expect("COMMIT");
    b.batch_execute("COMMIT").expect("COMMIT");

    let (mut a, mut b) = (client(&session), client(&session));
    let statement = a.prepare("SELECT 41 + 1").expect("prepared");
    b.batch_execute("BEGIN; SELECT 1").expect("b has its own server connection");
    let row = a.query_one(&statement, &[]).expect("session mode keeps the statement");
    assert_eq!(row.get::<_, i32>(0), 42);
    b.batch_execute("COMMIT").expect("COMMIT");
}

// A `SET` outside a transaction stays on the server connection it ran on: in
// transaction mode the client that set it loses it at its next transaction, and the
// next client of that server connection finds it. Only `SET LOCAL` (inside a
// transaction) is safe. PgBouncer carries over a few parameters itself
// (`application_name`, `client_encoding`, `DateStyle`, `TimeZone`,
// `standard_conforming_strings`); `statement_timeout` is not one of them.
#[test]
fn session_settings_leak_in_transaction_mode() {
    let test = "session_settings_leak_in_transaction_mode";
    let Some(tx) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let Some(session) = server_url_or_skip(PGBOUNCER_SESSION_URL, test) else { return };
    let _one = serial();

    let (mut a, mut b) = (client(&tx), client(&tx));
    a.batch_execute("SET statement_timeout = '4321ms'").expect("SET");
    b.batch_execute("BEGIN").expect("b takes a's server connection");
    assert_eq!(one(&mut b, "SHOW statement_timeout"), "4321ms", "b finds a's setting");
    assert_eq!(one(&mut a, "SHOW statement_timeout"), "0", "a lost its own");
    b.batch_execute("RESET statement_timeout; COMMIT").expect("cleaned up");

    let (mut a, mut b) = (client(&session), client(&session));
    a.batch_execute("SET statement_timeout = '4321ms'").expect("SET");
    b.batch_execute("BEGIN").expect("BEGIN");
    assert_eq!(one(&mut b, "SHOW statement_timeout"), "0");
    assert_eq!(one(&mut a, "SHOW statement_timeout"), "4321ms", "session mode keeps it");
    b.batch_execute("COMMIT").expect("COMMIT");
}

// A session-level advisory lock belongs to the server connection: in transaction mode
// another client that gets that server connection "acquires" the lock its holder still
// believes it has (a lock is re-entrant within a session), and the holder's unlock runs
// elsewhere and fails. `pg_advisory_xact_lock` (released at the transaction's end) is
// the one that works there.
#[test]
fn session_advisory_locks_break_in_transaction_mode() {
    let test = "session_advisory_locks_break_in_transaction_mode";
    let Some(tx) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let Some(session) = server_url_or_skip(PGBOUNCER_SESSION_URL, test) else { return };
    let _one = serial();

    let (mut a, mut b) = (client(&tx), client(&tx));
    assert_eq!(one(&mut a, "SELECT pg_try_advisory_lock(17017)"), "t", "a locks");
    b.batch_execute("BEGIN").expect("b takes a's server connection");
    assert_eq!(one(&mut b, "SELECT pg_try_advisory_lock(17017)"), "t", "b gets a's lock too");
    assert_eq!(one(&mut a, "SELECT pg_advisory_unlock(17017)"), "f", "a's unlock misses");
    b.batch_execute("SELECT pg_advisory_unlock_all(); COMMIT").expect("cleaned up");

    let (mut a, mut b) = (client(&session), client(&session));
    assert_eq!(one(&mut a, "SELECT pg_try_advisory_lock(17017)"), "t", "a locks");
    assert_eq!(one(&mut b, "SELECT pg_try_advisory_lock(17017)"), "f", "b is refused");
    assert_eq!(one(&mut a, "SELECT pg_advisory_unlock(17017)"), "t", "a unlocks");
}

/// The notifications `client` has received, after a round trip that lets any pending
/// one arrive.
fn notifications(client: &mut Client) -> Vec<String> {
    client.batch_execute("SELECT 1").expect("a round trip");
    let mut got = Vec::new();
    let mut pending = client.notifications();
    let mut iter = pending.timeout_iter(Duration::from_millis(200));
    while let Ok(Some(n)) = iter.next() {
        got.push(n.payload().to_owned());
    }
    got
}

// `LISTEN` registers the server session, not the client: in transaction mode the
// notification goes to a server connection the listening client no longer holds, and it
// never arrives. In session mode it does. A listener needs its own connection straight
// to PostgreSQL (or to a session-mode PgBouncer), outside the pool.
#[test]
fn listen_hears_nothing_in_transaction_mode() {
    let test = "listen_hears_nothing_in_transaction_mode";
    let Some(tx) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let Some(session) = server_url_or_skip(PGBOUNCER_SESSION_URL, test) else { return };
    let Some(direct) = server_url_or_skip(POSTGRES_URL, test) else { return };
    let _one = serial();
    let mut direct = client(&direct);
    for (url, expected) in [(&tx, 0), (&session, 1)] {
        let mut listener = client(url);
        let mut other = client(url);
        listener.batch_execute("LISTEN pool_pgbouncer_test").expect("LISTEN");
        other.batch_execute("BEGIN").expect("another client takes the server connection");
        direct.batch_execute("NOTIFY pool_pgbouncer_test, 'hello'").expect("NOTIFY");
        other.batch_execute("COMMIT").expect("COMMIT");
        let got = notifications(&mut listener);
        assert_eq!(got.len(), expected, "{url}: {got:?}");
        listener.batch_execute("UNLISTEN *").expect("UNLISTEN");
    }
}

/// How many server sessions tagged `app` are idle inside a transaction, counted on the
/// server itself.
fn idle_in_transaction(direct: &mut Client, app: &str) -> i64 {
    let sql = "SELECT count(*) FROM pg_stat_activity \
               WHERE application_name = $1 AND state = 'idle in transaction'";
    direct.query_one(sql, &[&app]).expect("pg_stat_activity").get(0)
}

// Reset on return matters more behind transaction mode: a connection returned with its
// transaction open pins a server connection (PgBouncer cannot hand it to anyone else)
// until the next holder ends it. The pool's rollback on return frees it at once; with
// reset off the server session stays "idle in transaction".
#[test]
fn reset_on_return_frees_the_server_connection() {
    let test = "reset_on_return_frees_the_server_connection";
    let Some(tx) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let Some(direct) = server_url_or_skip(POSTGRES_URL, test) else { return };
    let _one = serial();
    let mut direct = client(&direct);
    for (reset, pinned) in [(ResetOnReturn::Rollback, 0), (ResetOnReturn::Nothing, 1)] {
        let app = format!("pgbouncer-reset-{pinned}");
        let connector = PostgresConnector::new(&tx).unwrap().with_application_name(&app);
        let pool = QueuePool::builder(connector)
            .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
            .reset_on_return(reset)
            .build()
            .unwrap();
        let mut conn = pool.get().unwrap();
        conn.batch_execute("BEGIN; SELECT 1").unwrap();
        assert_eq!(idle_in_transaction(&mut direct, &app), 1);
        drop(conn);
        assert_eq!(idle_in_transaction(&mut direct, &app), pinned, "{reset:?}");
    }
}

/// The two connectors, as these tests drive them from plain threads.
trait Front: Connector<Error = Error> + Clone {
    fn make(url: &str, app: &str) -> Self;
    fn select_one(conn: &mut Self::Connection) -> Result<(), Error>;
}

impl Front for PostgresConnector {
    fn make(url: &str, app: &str) -> Self {
        PostgresConnector::new(url).unwrap().with_application_name(app)
    }
    fn select_one(conn: &mut PostgresConnection) -> Result<(), Error> {
        Ok(conn.batch_execute("SELECT 1")?)
    }
}

/// The runtime that drives the async connector's connections.
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

impl Front for AsyncPostgresConnector {
    fn make(url: &str, app: &str) -> Self {
        AsyncPostgresConnector::new(url)
            .unwrap()
            .with_application_name(app)
            .with_runtime(rt().handle().clone())
    }
    fn select_one(conn: &mut AsyncPostgresConnection) -> Result<(), Error> {
        Ok(rt().block_on(conn.batch_execute("SELECT 1"))?)
    }
}

/// A QueuePool of four over PgBouncer at `url`, tagged `app`, pre-ping as given.
fn pool_of_four<C: Front>(url: &str, app: &str, pre_ping: bool) -> QueuePool<C> {
    QueuePool::builder(C::make(url, app))
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(pre_ping)
        .build()
        .unwrap()
}

/// Fills the pool's four slots and returns them, so that four connections are idle.
fn warm<C: Front>(pool: &QueuePool<C>) {
    let held: Vec<_> = (0..4).map(|_| pool.get().expect("checkout")).collect();
    drop(held);
}

// PgBouncer's `KILL db` drops every client connection of the database. Pre-ping finds the
// first dead one (a disconnect), invalidates the pool generation, and every checkout
// succeeds on a new client connection; without pre-ping the first use fails with an error
// the connector counts as a disconnect, and `handle_error` recovers the pool the same way.
#[test]
fn killed_clients_are_replaced() {
    let test = "killed_clients_are_replaced";
    let Some(tx) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let _one = serial();
    killed_clients::<PostgresConnector>(&tx);
    killed_clients::<AsyncPostgresConnector>(&tx);
}

fn killed_clients<C: Front>(tx: &str) {
    let mut console = admin(tx);
    let database: String = {
        let config: postgres::Config = tx.parse().unwrap();
        config.get_dbname().unwrap_or("postgres").to_owned()
    };
    let kill = |console: &mut Client| {
        console.simple_query(&format!("KILL {database}")).expect("KILL");
        console.simple_query(&format!("RESUME {database}")).expect("RESUME");
    };

    let pool = pool_of_four::<C>(tx, "pgbouncer-kill-pre-ping", true);
    warm(&pool);
    let generation = pool.generation();
    kill(&mut console);
    for _ in 0..4 {
        let mut conn = pool.get().expect("pre-ping replaces a killed client connection");
        C::select_one(&mut conn).expect("a live connection");
    }
    assert_eq!(pool.generation(), generation + 1, "one disconnect, one invalidation");

    let pool = pool_of_four::<C>(tx, "pgbouncer-kill-no-ping", false);
    warm(&pool);
    kill(&mut console);
    let mut conn = pool.get().expect("handed out unpinged");
    let err = C::select_one(&mut conn).expect_err("PgBouncer closed this client");
    // The blocking driver reads PgBouncer's words; the async one's I/O task read them
    // already, and its client says only that the connection is closed.
    let said = err.to_string();
    assert!(
        said.contains("FATAL: database removed") || said.contains("connection closed"),
        "{said}"
    );
    assert!(pool.connector().is_disconnect(&err), "a disconnect: {err}");
    assert!(PooledConnection::handle_error(conn, &err).is_none());
    for _ in 0..4 {
        let mut conn = pool.get().expect("the older connections are replaced");
        C::select_one(&mut conn).expect("a live connection");
    }
}

// PgBouncer's `RECONNECT db` closes each server connection once it is released and opens
// a new one for the next transaction: the clients, and so the pool, see nothing. No
// checkout fails and the pool generation stays.
#[test]
fn reconnected_servers_are_invisible_to_the_pool() {
    let test = "reconnected_servers_are_invisible_to_the_pool";
    let Some(tx) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let Some(direct) = server_url_or_skip(POSTGRES_URL, test) else { return };
    let _one = serial();
    let app = "pgbouncer-reconnect";
    let mut console = admin(&tx);
    let mut direct = client(&direct);
    let pool = pool_of_four::<PostgresConnector>(&tx, app, true);
    warm(&pool);
    let pid = |direct: &mut Client| -> Vec<i32> {
        let sql = "SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid";
        direct.query(sql, &[&app]).unwrap().iter().map(|r| r.get(0)).collect()
    };
    let before = pid(&mut direct);
    let generation = pool.generation();
    let database: String = {
        let config: postgres::Config = tx.parse().unwrap();
        config.get_dbname().unwrap_or("postgres").to_owned()
    };
    console.simple_query(&format!("RECONNECT {database}")).expect("RECONNECT");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let mut conn = pool.get().expect("no checkout fails");
        conn.batch_execute("SELECT 1").expect("no query fails");
        drop(conn);
        let now = pid(&mut direct);
        if !now.is_empty() && now.iter().all(|p| !before.contains(p)) {
            break;
        }
    }
    assert!(pid(&mut direct).iter().all(|p| !before.contains(p)), "new server sessions");
    assert_eq!(pool.generation(), generation, "the pool saw nothing");
}

// PgBouncer restarted under load (stopped, then started): every client connection is cut.
// The pool succeeds again within a second of PgBouncer answering, loses no slot, and
// closes every connection once (`restart_under_load`, as for PostgreSQL's own restart),
// with either connector.
#[test]
fn the_pool_recovers_from_a_pgbouncer_restart() {
    let test = "the_pool_recovers_from_a_pgbouncer_restart";
    let Some(tx) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let Some(restart) = restart_command_or_skip(PGBOUNCER_RESTART, test) else { return };
    let _one = serial();
    let probe = || postgres::Client::connect(&tx, NoTls).is_ok();
    let connector = PostgresConnector::make(&tx, "pgbouncer-restart");
    let restarted = restart_under_load(connector, &restart, probe, PostgresConnector::select_one);
    println!("PgBouncer restart, blocking connector: {restarted:?}");
    let connector = AsyncPostgresConnector::make(&tx, "pgbouncer-restart-async");
    let select_one = AsyncPostgresConnector::select_one;
    let restarted = restart_under_load(connector, &restart, probe, select_one);
    println!("PgBouncer restart, async connector: {restarted:?}");
}

/// Terminates, on the server itself, the sessions tagged `app` (PgBouncer's server
/// connections carry the application name of the client they last served); how many.
fn kill_server_sessions(direct: &mut Client, app: &str) -> usize {
    let sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
               WHERE application_name = $1 AND pid <> pg_backend_pid()";
    let killed = direct.query(sql, &[&app]).unwrap().len();
    let gone = || {
        let sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1";
        direct.query_one(sql, &[&app]).unwrap().get::<_, i64>(0) == 0
    };
    let mut gone = gone;
    let started = Instant::now();
    while !gone() {
        assert!(started.elapsed() < Duration::from_secs(5), "the killed sessions stayed");
        std::thread::sleep(Duration::from_millis(10));
    }
    killed
}

/// Runs eight checkouts with a `SELECT 1` each, handing any error of a use to
/// `handle_error`; the failures, each as "get: ..." or "use: ...".
fn eight_uses<C: Front>(pool: &QueuePool<C>) -> Vec<String> {
    let mut failures = Vec::new();
    for _ in 0..8 {
        match pool.get() {
            Ok(mut conn) => {
                if let Err(e) = C::select_one(&mut conn) {
                    assert!(pool.connector().is_disconnect(&e), "a disconnect: {e}");
                    failures.push(format!("use: {e}"));
                    assert!(PooledConnection::handle_error(conn, &e).is_none());
                }
            }
            Err(e) => failures.push(format!("get: {e}")),
        }
    }
    failures
}

// The server fault of pool-postgres's own tests (`pg_terminate_backend` on the sessions
// a pool uses) behind PgBouncer. In transaction mode the pool's clients hold no server
// session between transactions: PgBouncer drops the dead one and opens another, and the
// pool sees nothing (no failure, no invalidation, with or without pre-ping). In session
// mode each client is tied to its server session, and PgBouncer closes the client with
// the server's own message: as without PgBouncer, pre-ping replaces the connections
// (one invalidation, no failure), and without it the first use fails with a disconnect
// that `handle_error` turns into the same recovery.
#[test]
fn killed_server_sessions_behind_pgbouncer() {
    let test = "killed_server_sessions_behind_pgbouncer";
    let Some(tx) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let Some(session) = server_url_or_skip(PGBOUNCER_SESSION_URL, test) else { return };
    let Some(direct) = server_url_or_skip(POSTGRES_URL, test) else { return };
    let _one = serial();
    let mut direct = client(&direct);
    killed_server_sessions::<PostgresConnector>(&tx, &session, &mut direct, "blocking");
    killed_server_sessions::<AsyncPostgresConnector>(&tx, &session, &mut direct, "async");
}

fn killed_server_sessions<C: Front>(tx: &str, session: &str, direct: &mut Client, front: &str) {
    for (url, mode) in [(tx, "transaction"), (session, "session")] {
        for pre_ping in [false, true] {
            let app = format!("pgbouncer-server-kill-{front}-{mode}-{pre_ping}");
            let pool = pool_of_four::<C>(url, &app, pre_ping);
            let held: Vec<_> = (0..4)
                .map(|_| {
                    let mut conn = pool.get().unwrap();
                    C::select_one(&mut conn).unwrap();
                    conn
                })
                .collect();
            drop(held);
            let killed = kill_server_sessions(direct, &app);
            assert!(killed >= 1, "{mode}: the pool's server sessions were found");
            // PgBouncer reads the end of a killed idle server connection from its event
            // loop; give it a moment, as any real kill would.
            std::thread::sleep(Duration::from_millis(100));
            let generation = pool.generation();
            let failures = eight_uses(&pool);
            let moved = pool.generation() - generation;
            match (mode, pre_ping) {
                ("transaction", _) => {
                    assert!(
                        failures.is_empty(),
                        "{front}, {mode}, pre-ping {pre_ping}: {failures:?}"
                    );
                    assert_eq!(moved, 0, "{mode}: the pool saw nothing");
                }
                (_, true) => {
                    assert!(failures.is_empty(), "{front}, {mode}, pre-ping: {failures:?}");
                    assert_eq!(moved, 1, "{mode}: one disconnect, one invalidation");
                }
                (_, false) => {
                    assert_eq!(
                        failures.len(),
                        1,
                        "{front}, {mode}: the first use fails: {failures:?}"
                    );
                    let said = &failures[0];
                    assert!(
                        said.contains("terminating connection")
                            || said.contains("connection closed"),
                        "{failures:?}"
                    );
                    assert_eq!(moved, 1, "{mode}: handle_error invalidated the pool");
                }
            }
        }
    }
}

/// The server process behind a connection now.
fn server_pid<C: Front>(conn: &mut C::Connection) -> i32
where
    C::Connection: PidOf,
{
    conn.pid()
}

/// `SELECT pg_backend_pid()` through either connection type.
trait PidOf {
    fn pid(&mut self) -> i32;
    fn refused(&mut self) -> Result<(), Error>;
}

impl PidOf for PostgresConnection {
    fn pid(&mut self) -> i32 {
        self.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
    }
    fn refused(&mut self) -> Result<(), Error> {
        Ok(self.batch_execute("SELEC 1")?)
    }
}

impl PidOf for AsyncPostgresConnection {
    fn pid(&mut self) -> i32 {
        rt().block_on(self.query_one("SELECT pg_backend_pid()", &[])).unwrap().get(0)
    }
    fn refused(&mut self) -> Result<(), Error> {
        Ok(rt().block_on(self.batch_execute("SELEC 1"))?)
    }
}

// Issue 6's server fault scenarios (`pool_conformance::faults`) through PgBouncer in
// session mode, with both connectors: a client there is tied to its server session, so
// killing the session on the server is what it is without PgBouncer, and the pool
// recovers the same way: pre-ping replaces every killed connection with one
// invalidation, `handle_error` does the same from a failed use, and a storm of kills
// loses no slot. (In transaction mode the same kills are invisible to the pool:
// `killed_server_sessions_behind_pgbouncer`.)
#[test]
fn issue_6_scenarios_through_session_mode() {
    let test = "issue_6_scenarios_through_session_mode";
    let Some(session) = server_url_or_skip(PGBOUNCER_SESSION_URL, test) else { return };
    let Some(direct) = server_url_or_skip(POSTGRES_URL, test) else { return };
    let _one = serial();
    scenarios::<PostgresConnector>(&session, &direct, "blocking");
    scenarios::<AsyncPostgresConnector>(&session, &direct, "async");
}

fn scenarios<C: Front>(session: &str, direct: &str, front: &str)
where
    C::Connection: PidOf,
{
    use pool_conformance::faults::{self, PostgresSessions};

    let app = format!("pgbouncer-issue6-pre-ping-{front}");
    let watcher = PostgresSessions::new(direct, &app);
    faults::killed_replaced_with_pre_ping(
        QueuePool::builder(C::make(session, &app)),
        server_pid::<C>,
        C::select_one,
        || watcher.kill(),
        || watcher.count(),
    );

    let app = format!("pgbouncer-issue6-no-pre-ping-{front}");
    let watcher = PostgresSessions::new(direct, &app);
    faults::killed_without_pre_ping_through_handle_error(
        QueuePool::builder(C::make(session, &app)),
        server_pid::<C>,
        C::select_one,
        |conn: &mut C::Connection| conn.refused(),
        || watcher.kill(),
        || watcher.count(),
    );

    let app = format!("pgbouncer-issue6-storm-{front}");
    let watcher = PostgresSessions::new(direct, &app);
    let report = faults::storm_of_kills(
        QueuePool::builder(C::make(session, &app)),
        C::select_one,
        || watcher.kill(),
        || watcher.count(),
    );
    println!("storm through PgBouncer's session mode, {front} connector: {report:?}");
}
