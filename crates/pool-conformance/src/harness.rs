//! What an implementation provides to be checked, and the backends checks run on.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::{
    Builder, CheckoutError, ConnectionRecord, Connector, ListenerError, Pool, PoolListener,
    PooledConnection, ResetState, Strategy,
};
use pool_sqlite::SqliteConnector;

use crate::log::{CallLog, Numbered, Recorded};
use crate::scripted::{Script, ScriptedConnection, ScriptedConnector};

/// A check that does not apply, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip(pub String);

impl Skip {
    /// A skip for `reason`.
    pub fn because(reason: impl Into<String>) -> Self {
        Skip(reason.into())
    }
}

/// What a check returns: `Ok` when it ran and passed (a failure panics), or a skip.
pub type Outcome = Result<(), Skip>;

/// The sizes a check asks for; each harness maps them to its strategy's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Connections kept idle.
    pub pool_size: usize,
    /// Extra connections under load; `None` for no limit.
    pub max_overflow: Option<usize>,
    /// How long a checkout waits; `None` forever.
    pub timeout: Option<Duration>,
    /// Newest idle connection first.
    pub use_lifo: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            pool_size: 5,
            max_overflow: Some(10),
            timeout: Some(Duration::from_secs(30)),
            use_lifo: false,
        }
    }
}

impl Spec {
    /// A spec with this size and overflow, other settings at their defaults.
    pub fn sized(pool_size: usize, max_overflow: Option<usize>) -> Self {
        Spec { pool_size, max_overflow, ..Spec::default() }
    }

    /// The same spec with another timeout.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same spec, LIFO or not.
    pub fn lifo(mut self, lifo: bool) -> Self {
        self.use_lifo = lifo;
        self
    }
}

/// What an implementation can do; checks that need more skip with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caps {
    /// Keeps connections between checkouts (false for NullPool).
    pub reuses_connections: bool,
    /// Counts connections beyond its size and closes them on return (QueuePool).
    pub overflow: bool,
    /// Makes callers wait, with a timeout, when at its limit.
    pub bounded_wait: bool,
    /// Honours `use_lifo`.
    pub lifo: bool,
    /// Reports SQLAlchemy's QueuePool counts in its status.
    pub queue_counts: bool,
    /// Hands out several connections at once to one thread.
    pub concurrent_checkouts: bool,
    /// Holds at most one connection for everyone (StaticPool, AssertionPool).
    pub single_connection: bool,
    /// Binds each connection to a thread (SingletonThreadPool).
    pub thread_affine: bool,
    /// Keeps its (now empty) record through `dispose`, so the idle count stays
    /// (AssertionPool, as SQLAlchemy's keeps its `_conn`).
    pub dispose_keeps_record: bool,
    /// Refuses at once a second checkout by the caller that holds its one connection
    /// (StaticPool's and AssertionPool's blocking front ends: the caller is a thread).
    /// Without it, that checkout waits like any other (StaticPool's async front end: a
    /// task has no thread of its own).
    pub refuses_holder: bool,
    /// Keeps idle connections the core looks after (`Strategy::idle_capacity`): judges
    /// them in `Pool::retain`, takes connections made elsewhere in `Pool::add`, runs the
    /// maintenance (`min_idle`, `idle_timeout`, `max_lifetime`, `keepalive`) and closes
    /// them when dropped (QueuePool, StaticPool); the others keep everything, take
    /// nothing and refuse the maintenance settings (they keep no idle connection, or
    /// none apart from a thread's or the one holder's).
    pub retains: bool,
}

impl Caps {
    /// QueuePool's capabilities: all of them.
    pub const QUEUE: Caps = Caps {
        reuses_connections: true,
        overflow: true,
        bounded_wait: true,
        lifo: true,
        queue_counts: true,
        concurrent_checkouts: true,
        single_connection: false,
        thread_affine: false,
        dispose_keeps_record: false,
        refuses_holder: false,
        retains: true,
    };

    /// No capability at all; harnesses start from this and switch on what they have.
    pub const NONE: Caps = Caps {
        reuses_connections: false,
        overflow: false,
        bounded_wait: false,
        lifo: false,
        queue_counts: false,
        concurrent_checkouts: false,
        single_connection: false,
        thread_affine: false,
        dispose_keeps_record: false,
        refuses_holder: false,
        retains: false,
    };
}

/// An implementation under test: a strategy and how to configure it.
pub trait Harness: 'static {
    /// The row name in the conformance matrix.
    const NAME: &'static str;
    /// The strategy, for any connector.
    type Strategy<C: Connector>: Strategy<C>;
    /// What it can do.
    fn caps() -> Caps;
    /// Its settings for `spec`.
    fn config<C: Connector>(spec: &Spec) -> <Self::Strategy<C> as Strategy<C>>::Config;

    /// Checks a connection out the way this implementation's users do: [`Pool::get`]
    /// for the blocking pools; an async harness awaits its async checkout here.
    fn get<C: Connector>(pool: &Pool<C, Self::Strategy<C>>) -> Checkout<C, Self::Strategy<C>> {
        pool.get()
    }

    /// [`get`](Self::get) waiting at most `wait` for a connection to come back:
    /// [`Pool::get_timeout`] (zero: [`Pool::try_get`]); an async harness awaits
    /// `get_async_timeout`.
    fn get_within<C: Connector>(
        pool: &Pool<C, Self::Strategy<C>>,
        wait: Duration,
    ) -> Checkout<C, Self::Strategy<C>> {
        pool.get_timeout(wait)
    }

    /// An async checkout ([`Pool::get_async`]) awaited on `runtime`, for the async rows;
    /// `None` for the blocking ones.
    fn get_async_on<C: Connector>(
        pool: &Pool<C, Self::Strategy<C>>,
        runtime: &tokio::runtime::Runtime,
    ) -> Option<Checkout<C, Self::Strategy<C>>> {
        let _ = (pool, runtime);
        None
    }

    /// Whether this implementation can run on backend `B` (an async pool cannot drive a
    /// driver that blocks on a runtime of its own).
    fn runs_on<B: Backend>() -> Outcome {
        Ok(())
    }
}

/// What a checkout returns.
pub type Checkout<C, S> = Result<PooledConnection<C, S>, CheckoutError<<C as Connector>::Error>>;

/// A connection whose identity a check can compare.
pub trait Identified {
    /// The id the call log uses for this connection.
    fn conn_id(&self) -> u64;
}

impl Identified for ScriptedConnection {
    fn conn_id(&self) -> u64 {
        self.id()
    }
}

impl<T> Identified for Numbered<T> {
    fn conn_id(&self) -> u64 {
        self.id()
    }
}

/// The kinds of backend the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The scripted connector: every fault can be injected.
    Scripted,
    /// Embedded SQLite (`:memory:`), through `pool-sqlite`.
    Sqlite,
    /// Embedded SQLite through r2d2_sqlite's manager and the `pool-r2d2` adapter.
    R2d2Sqlite,
    /// Embedded SQLite through deadpool-sqlite's manager and `pool-deadpool`'s
    /// `ManagerConnector`.
    DeadpoolSqlite,
    /// PostgreSQL through deadpool-postgres's manager and `pool-deadpool`'s
    /// `ManagerConnector` (`POOL_TEST_POSTGRES_URL`): the async driver.
    DeadpoolPostgres,
    /// PostgreSQL through bb8-postgres's manager and `pool-bb8`'s `Bb8Connector`
    /// (`POOL_TEST_POSTGRES_URL`): the async driver under bb8's manager.
    Bb8Postgres,
    /// PostgreSQL through `pool-postgres` (`POOL_TEST_POSTGRES_URL`).
    Postgres,
    /// PostgreSQL through `pool-postgres`'s `AsyncPostgresConnector`
    /// (`POOL_TEST_POSTGRES_URL`): the native async connector over tokio-postgres.
    TokioPostgres,
    /// PostgreSQL through `pool-postgres` behind PgBouncer in transaction mode
    /// (`POOL_TEST_PGBOUNCER_TX_URL`).
    PgbouncerTx,
    /// `AsyncPostgresConnector` behind PgBouncer in transaction mode
    /// (`POOL_TEST_PGBOUNCER_TX_URL`).
    PgbouncerTxAsync,
    /// PostgreSQL through `pool-postgres` behind PgBouncer in session mode
    /// (`POOL_TEST_PGBOUNCER_SESSION_URL`).
    PgbouncerSession,
    /// `AsyncPostgresConnector` behind PgBouncer in session mode
    /// (`POOL_TEST_PGBOUNCER_SESSION_URL`).
    PgbouncerSessionAsync,
    /// MySQL or MariaDB through `pool-mysql` (`POOL_TEST_MYSQL_URL`).
    Mysql,
    /// MySQL or MariaDB through `pool-mysql`'s `AsyncMySqlConnector`
    /// (`POOL_TEST_MYSQL_URL`): the native async connector over mysql_async.
    MysqlAsync,
    /// Redis through `pool-redis` (`POOL_TEST_REDIS_URL`).
    Redis,
    /// Redis through `pool-redis`'s `AsyncRedisConnector` (`POOL_TEST_REDIS_URL`): the
    /// driver's async connection on tokio.
    RedisAsync,
}

impl BackendKind {
    /// Every backend, in matrix order.
    pub const ALL: [BackendKind; 16] = [
        BackendKind::Scripted,
        BackendKind::Sqlite,
        BackendKind::R2d2Sqlite,
        BackendKind::DeadpoolSqlite,
        BackendKind::DeadpoolPostgres,
        BackendKind::Bb8Postgres,
        BackendKind::Postgres,
        BackendKind::TokioPostgres,
        BackendKind::PgbouncerTx,
        BackendKind::PgbouncerTxAsync,
        BackendKind::PgbouncerSession,
        BackendKind::PgbouncerSessionAsync,
        BackendKind::Mysql,
        BackendKind::MysqlAsync,
        BackendKind::Redis,
        BackendKind::RedisAsync,
    ];

    /// A three-letter tag for the matrix's column labels.
    pub fn tag(self) -> &'static str {
        match self {
            BackendKind::Scripted => "scr",
            BackendKind::Sqlite => "sql",
            BackendKind::R2d2Sqlite => "r2d",
            BackendKind::DeadpoolSqlite => "dps",
            BackendKind::DeadpoolPostgres => "dpp",
            BackendKind::Bb8Postgres => "b8p",
            BackendKind::Postgres => "pos",
            BackendKind::TokioPostgres => "tkp",
            BackendKind::PgbouncerTx => "pbt",
            BackendKind::PgbouncerTxAsync => "pba",
            BackendKind::PgbouncerSession => "pbs",
            BackendKind::PgbouncerSessionAsync => "psa",
            BackendKind::Mysql => "mys",
            BackendKind::MysqlAsync => "mya",
            BackendKind::Redis => "red",
            BackendKind::RedisAsync => "rda",
        }
    }

    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Scripted => "scripted",
            BackendKind::Sqlite => "sqlite",
            BackendKind::R2d2Sqlite => "r2d2-sqlite",
            BackendKind::DeadpoolSqlite => "deadpool-sqlite",
            BackendKind::DeadpoolPostgres => "deadpool-postgres",
            BackendKind::Bb8Postgres => "bb8-postgres",
            BackendKind::Postgres => "postgres",
            BackendKind::TokioPostgres => "tokio-postgres",
            BackendKind::PgbouncerTx => "pgbouncer-tx",
            BackendKind::PgbouncerTxAsync => "pgbouncer-tx-async",
            BackendKind::PgbouncerSession => "pgbouncer-session",
            BackendKind::PgbouncerSessionAsync => "pgbouncer-session-async",
            BackendKind::Mysql => "mysql",
            BackendKind::MysqlAsync => "mysql_async",
            BackendKind::Redis => "redis",
            BackendKind::RedisAsync => "redis-async",
        }
    }
}

/// A backend: a connector with a call log, and fault injection where it has one.
pub trait Backend: Sized + 'static {
    /// The connector checks build pools over.
    type Connector: Connector<Connection = Self::Conn>;
    /// Its connection type.
    type Conn: Identified + Send + 'static;
    /// Which backend this is.
    const KIND: BackendKind;
    /// A fresh backend with an empty log.
    fn new() -> Self;
    /// Whether this backend can run here; a server backend whose URL variable is unset
    /// says so, and every check skips with that reason ([`run_on`](crate::run_on)).
    fn available() -> Result<(), Skip> {
        Ok(())
    }
    /// Why this backend's driver cannot be used inside an async runtime, if it cannot
    /// (it blocks on a runtime of its own).
    const BLOCKS_IN_ASYNC: Option<&'static str> = None;
    /// A connector logging into this backend's log.
    fn connector(&self) -> Self::Connector;
    /// The call log.
    fn log(&self) -> &CallLog;
    /// The fault-injection script, or a skip on a real backend.
    fn script(&self) -> Result<&Script, Skip>;
    /// Uses a connection (a `SELECT 1` or the scripted equivalent).
    fn exercise(conn: &mut Self::Conn) -> Result<(), <Self::Connector as Connector>::Error>;
}

/// The scripted backend.
#[derive(Debug, Default)]
pub struct ScriptedBackend {
    script: Script,
}

impl Backend for ScriptedBackend {
    type Connector = ScriptedConnector;
    type Conn = ScriptedConnection;
    const KIND: BackendKind = BackendKind::Scripted;

    fn new() -> Self {
        ScriptedBackend::default()
    }
    fn connector(&self) -> ScriptedConnector {
        self.script.connector()
    }
    fn log(&self) -> &CallLog {
        self.script.log()
    }
    fn script(&self) -> Result<&Script, Skip> {
        Ok(&self.script)
    }
    fn exercise(conn: &mut ScriptedConnection) -> Result<(), crate::ScriptedError> {
        conn.execute()
    }
}

/// The skip of a real backend asked for faults.
pub(crate) fn no_fault_injection() -> Skip {
    Skip::because("needs fault injection (scripted connector only)")
}

/// Uses a SQLite connection, as every SQLite backend does.
fn select_one(
    conn: &pool_sqlite::rusqlite::Connection,
) -> Result<(), pool_sqlite::rusqlite::Error> {
    conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())
}

/// SQLite in memory, each connection its own database.
#[derive(Debug, Default)]
pub struct SqliteBackend {
    log: CallLog,
}

impl Backend for SqliteBackend {
    type Connector = Recorded<SqliteConnector>;
    type Conn = Numbered<pool_sqlite::rusqlite::Connection>;
    const KIND: BackendKind = BackendKind::Sqlite;

    fn new() -> Self {
        SqliteBackend::default()
    }
    fn connector(&self) -> Self::Connector {
        Recorded::new(SqliteConnector::memory(), self.log.clone())
    }
    fn log(&self) -> &CallLog {
        &self.log
    }
    fn script(&self) -> Result<&Script, Skip> {
        Err(no_fault_injection())
    }
    fn exercise(conn: &mut Self::Conn) -> Result<(), pool_sqlite::rusqlite::Error> {
        select_one(conn)
    }
}

/// SQLite in memory through r2d2_sqlite's `SqliteConnectionManager` and the r2d2 adapter,
/// the way a user coming from r2d2 runs it.
#[derive(Debug, Default)]
pub struct R2d2SqliteBackend {
    log: CallLog,
}

impl Backend for R2d2SqliteBackend {
    type Connector = Recorded<pool_r2d2::R2d2Connector<r2d2_sqlite::SqliteConnectionManager>>;
    type Conn = Numbered<pool_sqlite::rusqlite::Connection>;
    const KIND: BackendKind = BackendKind::R2d2Sqlite;

    fn new() -> Self {
        R2d2SqliteBackend::default()
    }
    fn connector(&self) -> Self::Connector {
        let manager = r2d2_sqlite::SqliteConnectionManager::memory();
        let connector =
            pool_r2d2::R2d2Connector::new(manager).with_disconnect(pool_r2d2::sqlite_is_disconnect);
        Recorded::new(connector, self.log.clone())
    }
    fn log(&self) -> &CallLog {
        &self.log
    }
    fn script(&self) -> Result<&Script, Skip> {
        Err(no_fault_injection())
    }
    fn exercise(conn: &mut Self::Conn) -> Result<(), pool_sqlite::rusqlite::Error> {
        select_one(conn)
    }
}

/// SQLite in memory through deadpool-sqlite's `Manager` and `pool-deadpool`'s
/// `ManagerConnector`, the way a user coming from deadpool runs it: connects, pings
/// (`recycle`) and resets run on deadpool-sqlite's worker threads.
#[derive(Debug, Default)]
pub struct DeadpoolSqliteBackend {
    log: CallLog,
}

/// deadpool-sqlite's connection type.
type DeadpoolSqliteConn =
    pool_deadpool::Managed<deadpool_sync::SyncWrapper<pool_sqlite::rusqlite::Connection>>;

impl Backend for DeadpoolSqliteBackend {
    type Connector = Recorded<pool_deadpool::ManagerConnector<deadpool_sqlite::Manager>>;
    type Conn = Numbered<DeadpoolSqliteConn>;
    const KIND: BackendKind = BackendKind::DeadpoolSqlite;

    fn new() -> Self {
        DeadpoolSqliteBackend::default()
    }
    fn connector(&self) -> Self::Connector {
        let config = deadpool_sqlite::Config::new(":memory:");
        let manager =
            deadpool_sqlite::Manager::from_config(&config, deadpool_sqlite::Runtime::Tokio1);
        // Blocking checkouts (the blocking pools' rows) run the manager's futures in the
        // suite's runtime: deadpool-sqlite's connections live on its blocking threads.
        let runtime = crate::harnesses::async_runtime().handle().clone();
        let connector = pool_deadpool::ManagerConnector::new(manager).with_runtime(runtime);
        Recorded::new(connector, self.log.clone())
    }
    fn log(&self) -> &CallLog {
        &self.log
    }
    fn script(&self) -> Result<&Script, Skip> {
        Err(no_fault_injection())
    }
    fn exercise(conn: &mut Self::Conn) -> Result<(), <Self::Connector as Connector>::Error> {
        let conn = conn.lock().expect("deadpool-sqlite's mutex is not poisoned");
        // The connector's error has no variant for a query's failure; the driver's error
        // rides in `Create`, which no check inspects.
        select_one(&conn).map_err(pool_deadpool::ManagerError::Create)
    }
}

/// The pool type a check builds for harness `H` on backend `B`.
pub type PoolOf<H, B> =
    Pool<<B as Backend>::Connector, <H as Harness>::Strategy<<B as Backend>::Connector>>;

/// The builder for that pool.
pub type BuilderOf<H, B> =
    Builder<<B as Backend>::Connector, <H as Harness>::Strategy<<B as Backend>::Connector>>;

/// Builds the pool of harness `H` on `backend` for `spec`, after `configure`.
pub fn build<H: Harness, B: Backend>(
    backend: &B,
    spec: Spec,
    configure: impl FnOnce(BuilderOf<H, B>) -> BuilderOf<H, B>,
) -> PoolOf<H, B> {
    try_build::<H, B>(backend, spec, configure).expect("the suite's configurations are valid")
}

/// [`build`], returning the builder's refusal instead of panicking on it.
pub fn try_build<H: Harness, B: Backend>(
    backend: &B,
    spec: Spec,
    configure: impl FnOnce(BuilderOf<H, B>) -> BuilderOf<H, B>,
) -> Result<PoolOf<H, B>, pool_core::BuildError> {
    let builder = Pool::builder(backend.connector()).strategy(H::config::<B::Connector>(&spec));
    configure(builder).build()
}

/// Builds the pool of harness `H` on `backend` with default settings.
pub fn pool<H: Harness, B: Backend>(backend: &B, spec: Spec) -> PoolOf<H, B> {
    build::<H, B>(backend, spec, |b| b)
}

/// One event, as an [`EventLog`] records it: the name and the connection id (`None`
/// where the event has no connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's name, as SQLAlchemy spells it (`"checkout"`).
    pub name: &'static str,
    /// The connection id, if the event carried a connection.
    pub conn: Option<u64>,
    /// The record id, if the event carried a record.
    pub record: Option<u64>,
    /// The reason's message, for `invalidate` and `soft_invalidate`.
    pub reason: Option<String>,
    /// The reset state, for `reset`.
    pub state: Option<ResetState>,
}

/// A listener that records every event, in order.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    events: std::sync::Arc<Mutex<Vec<Event>>>,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        EventLog::default()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().clone()
    }

    /// The names of the events so far.
    pub fn names(&self) -> Vec<&'static str> {
        self.events.lock().iter().map(|e| e.name).collect()
    }

    /// The names, each with its connection id (`"checkin:None"` style for none).
    pub fn named_ids(&self) -> Vec<(&'static str, Option<u64>)> {
        self.events.lock().iter().map(|e| (e.name, e.conn)).collect()
    }

    /// How many events had this name.
    pub fn count(&self, name: &str) -> usize {
        self.events.lock().iter().filter(|e| e.name == name).count()
    }

    /// Forgets the events so far.
    pub fn clear(&self) {
        self.events.lock().clear();
    }

    pub(crate) fn push(
        &self,
        name: &'static str,
        conn: Option<u64>,
        record: Option<u64>,
        reason: Option<String>,
    ) {
        self.events.lock().push(Event { name, conn, record, reason, state: None });
    }
}

impl<C> PoolListener<C> for EventLog
where
    C: Connector,
    C::Connection: Identified,
{
    fn first_connect(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.push("first_connect", Some(conn.conn_id()), Some(record.id()), None);
        Ok(())
    }
    fn connect(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.push("connect", Some(conn.conn_id()), Some(record.id()), None);
        Ok(())
    }
    fn checkout(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.push("checkout", Some(conn.conn_id()), Some(record.id()), None);
        Ok(())
    }
    fn checkin(&self, conn: Option<&mut C::Connection>, record: &mut ConnectionRecord<C>) {
        self.push("checkin", conn.map(|c| c.conn_id()), Some(record.id()), None);
    }
    fn reset(
        &self,
        conn: &mut C::Connection,
        record: Option<&mut ConnectionRecord<C>>,
        state: ResetState,
    ) -> Result<(), ListenerError> {
        let event = Event {
            name: "reset",
            conn: Some(conn.conn_id()),
            record: record.map(|r| r.id()),
            reason: None,
            state: Some(state),
        };
        self.events.lock().push(event);
        Ok(())
    }
    fn invalidate(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
        reason: Option<&(dyn StdError + 'static)>,
    ) {
        self.push(
            "invalidate",
            Some(conn.conn_id()),
            Some(record.id()),
            reason.map(|r| r.to_string()),
        );
    }
    fn soft_invalidate(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
        reason: Option<&(dyn StdError + 'static)>,
    ) {
        self.push(
            "soft_invalidate",
            Some(conn.conn_id()),
            Some(record.id()),
            reason.map(|r| r.to_string()),
        );
    }
    fn close(&self, conn: &mut C::Connection, record: &mut ConnectionRecord<C>) {
        self.push("close", Some(conn.conn_id()), Some(record.id()), None);
    }
    fn close_detached(&self, conn: &mut C::Connection) {
        self.push("close_detached", Some(conn.conn_id()), None, None);
    }
    fn detach(&self, conn: &mut C::Connection, record: &mut ConnectionRecord<C>) {
        self.push("detach", Some(conn.conn_id()), Some(record.id()), None);
    }
}

/// A plain error to pass as an invalidation reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(pub &'static str);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl StdError for Reason {}
