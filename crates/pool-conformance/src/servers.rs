//! The server backends: PostgreSQL, MySQL/MariaDB and Redis, each named by a URL
//! variable. A backend whose variable is unset skips every check, saying so.

use pool_mysql::mysql::prelude::Queryable;
use pool_mysql::MySqlConnector;
use pool_postgres::PostgresConnector;
use pool_redis::RedisConnector;

use crate::harness::no_fault_injection;
use crate::log::{CallLog, Numbered, Recorded};
use crate::scripted::Script;
use crate::{Backend, BackendKind, Skip};

/// The variable naming the PostgreSQL server (`postgres://postgres@127.0.0.1:5432/test`).
pub const POSTGRES_URL: &str = "POOL_TEST_POSTGRES_URL";
/// The variable naming the MySQL or MariaDB server (`mysql://root@127.0.0.1:3306/test`).
pub const MYSQL_URL: &str = "POOL_TEST_MYSQL_URL";
/// The variable naming the Redis server (`redis://127.0.0.1:6379/`).
pub const REDIS_URL: &str = "POOL_TEST_REDIS_URL";
/// The variable naming a PgBouncer in transaction mode in front of the PostgreSQL server
/// (`postgres://postgres@127.0.0.1:6432/test`; `.ci/pgbouncer` starts one).
pub const PGBOUNCER_TX_URL: &str = "POOL_TEST_PGBOUNCER_TX_URL";
/// The variable naming a PgBouncer in session mode in front of the PostgreSQL server
/// (`postgres://postgres@127.0.0.1:6433/test`; `.ci/pgbouncer` starts one).
pub const PGBOUNCER_SESSION_URL: &str = "POOL_TEST_PGBOUNCER_SESSION_URL";

/// The URL in `var`, or the skip that says it is not set.
pub fn server_url(var: &str) -> Result<String, Skip> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Ok(url),
        _ => Err(Skip(format!("{var} is not set"))),
    }
}

/// Stamps one server backend: the connector built from the URL in `$var`, with a call log.
macro_rules! server_backend {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $var:ident, $connector:ty, $conn:ty,
     $error:ty, $make:expr, $exercise:expr) => {
        server_backend!($(#[$doc])* $name, $kind, $var, $connector, $conn, $error, $make,
            $exercise, None);
    };
    ($(#[$doc:meta])* $name:ident, $kind:ident, $var:ident, $connector:ty, $conn:ty,
     $error:ty, $make:expr, $exercise:expr, $blocks_in_async:expr) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        pub struct $name {
            log: CallLog,
        }

        impl Backend for $name {
            type Connector = Recorded<$connector>;
            type Conn = Numbered<$conn>;
            const KIND: BackendKind = BackendKind::$kind;
            const BLOCKS_IN_ASYNC: Option<&'static str> = $blocks_in_async;

            fn new() -> Self {
                $name::default()
            }
            fn available() -> Result<(), Skip> {
                server_url($var).map(|_| ())
            }
            fn connector(&self) -> Self::Connector {
                let url = server_url($var).unwrap_or_else(|Skip(why)| panic!("{why}"));
                let make: fn(&str) -> $connector = $make;
                Recorded::new(make(&url), self.log.clone())
            }
            fn log(&self) -> &CallLog {
                &self.log
            }
            fn script(&self) -> Result<&Script, Skip> {
                Err(no_fault_injection())
            }
            fn exercise(conn: &mut Self::Conn) -> Result<(), $error> {
                let exercise: fn(&mut $conn) -> Result<(), $error> = $exercise;
                exercise(conn)
            }
        }
    };
}

server_backend!(
    /// PostgreSQL through `pool-postgres`, on the server named by `POOL_TEST_POSTGRES_URL`.
    PostgresBackend,
    Postgres,
    POSTGRES_URL,
    PostgresConnector,
    pool_postgres::PostgresConnection,
    pool_postgres::Error,
    |url| {
        PostgresConnector::new(url)
            .expect("POOL_TEST_POSTGRES_URL parses")
            .with_application_name("pool-conformance")
    },
    |conn| Ok(conn.batch_execute("SELECT 1")?),
    Some(
        "the postgres crate's blocking client runs a tokio runtime of its own, which cannot \
         start inside the async pool's; the async pool meets PostgreSQL through \
         deadpool-postgres's manager (pool-deadpool's tests/postgres.rs)"
    )
);

server_backend!(
    /// PostgreSQL through `pool-postgres`'s native async connector,
    /// `AsyncPostgresConnector` (tokio-postgres), on the server named by
    /// `POOL_TEST_POSTGRES_URL`: in every pool, the async one included. The blocking pools
    /// run its futures in the suite's runtime.
    TokioPostgresBackend,
    TokioPostgres,
    POSTGRES_URL,
    pool_postgres::AsyncPostgresConnector,
    pool_postgres::AsyncPostgresConnection,
    pool_postgres::Error,
    |url| {
        let runtime = crate::harnesses::async_runtime().handle().clone();
        pool_postgres::AsyncPostgresConnector::new(url)
            .expect("POOL_TEST_POSTGRES_URL parses")
            .with_application_name("pool-conformance-tokio")
            .with_runtime(runtime)
    },
    |conn| {
        let runtime = crate::harnesses::async_runtime();
        Ok(runtime.block_on(conn.batch_execute("SELECT 1"))?)
    }
);

server_backend!(
    /// PostgreSQL through `pool-postgres`, behind the PgBouncer in transaction mode named by
    /// `POOL_TEST_PGBOUNCER_TX_URL`.
    PgbouncerTxBackend,
    PgbouncerTx,
    PGBOUNCER_TX_URL,
    PostgresConnector,
    pool_postgres::PostgresConnection,
    pool_postgres::Error,
    |url| {
        PostgresConnector::new(url)
            .expect("POOL_TEST_PGBOUNCER_TX_URL parses")
            .with_application_name("pool-conformance-pgbouncer-tx")
    },
    |conn| Ok(conn.batch_execute("SELECT 1")?),
    Some(
        "the postgres crate's blocking client runs a tokio runtime of its own, which cannot \
         start inside the async pool's; the async pool meets PostgreSQL through \
         deadpool-postgres's manager (pool-deadpool's tests/postgres.rs)"
    )
);

server_backend!(
    /// PostgreSQL through `pool-postgres`'s `AsyncPostgresConnector` (tokio-postgres),
    /// behind the PgBouncer in transaction mode named by
    /// `POOL_TEST_PGBOUNCER_TX_URL`.
    PgbouncerTxAsyncBackend,
    PgbouncerTxAsync,
    PGBOUNCER_TX_URL,
    pool_postgres::AsyncPostgresConnector,
    pool_postgres::AsyncPostgresConnection,
    pool_postgres::Error,
    |url| {
        let runtime = crate::harnesses::async_runtime().handle().clone();
        pool_postgres::AsyncPostgresConnector::new(url)
            .expect("POOL_TEST_PGBOUNCER_TX_URL parses")
            .with_application_name("pool-conformance-pgbouncer-tx-tokio")
            .with_runtime(runtime)
    },
    |conn| {
        let runtime = crate::harnesses::async_runtime();
        Ok(runtime.block_on(conn.batch_execute("SELECT 1"))?)
    }
);

server_backend!(
    /// PostgreSQL through `pool-postgres`, behind the PgBouncer in session mode named by
    /// `POOL_TEST_PGBOUNCER_SESSION_URL`.
    PgbouncerSessionBackend,
    PgbouncerSession,
    PGBOUNCER_SESSION_URL,
    PostgresConnector,
    pool_postgres::PostgresConnection,
    pool_postgres::Error,
    |url| {
        PostgresConnector::new(url)
            .expect("POOL_TEST_PGBOUNCER_SESSION_URL parses")
            .with_application_name("pool-conformance-pgbouncer-session")
    },
    |conn| Ok(conn.batch_execute("SELECT 1")?),
    Some(
        "the postgres crate's blocking client runs a tokio runtime of its own, which cannot \
         start inside the async pool's; the async pool meets PostgreSQL through \
         deadpool-postgres's manager (pool-deadpool's tests/postgres.rs)"
    )
);

server_backend!(
    /// PostgreSQL through `pool-postgres`'s `AsyncPostgresConnector` (tokio-postgres),
    /// behind the PgBouncer in session mode named by
    /// `POOL_TEST_PGBOUNCER_SESSION_URL`.
    PgbouncerSessionAsyncBackend,
    PgbouncerSessionAsync,
    PGBOUNCER_SESSION_URL,
    pool_postgres::AsyncPostgresConnector,
    pool_postgres::AsyncPostgresConnection,
    pool_postgres::Error,
    |url| {
        let runtime = crate::harnesses::async_runtime().handle().clone();
        pool_postgres::AsyncPostgresConnector::new(url)
            .expect("POOL_TEST_PGBOUNCER_SESSION_URL parses")
            .with_application_name("pool-conformance-pgbouncer-session-tokio")
            .with_runtime(runtime)
    },
    |conn| {
        let runtime = crate::harnesses::async_runtime();
        Ok(runtime.block_on(conn.batch_execute("SELECT 1"))?)
    }
);

server_backend!(
    /// MySQL or MariaDB through `pool-mysql`, on the server named by `POOL_TEST_MYSQL_URL`.
    MysqlBackend,
    Mysql,
    MYSQL_URL,
    MySqlConnector,
    pool_mysql::mysql::Conn,
    pool_mysql::mysql::Error,
    |url| MySqlConnector::new(url).expect("POOL_TEST_MYSQL_URL parses"),
    |conn| conn.query_drop("SELECT 1")
);

server_backend!(
    /// MySQL or MariaDB through `pool-mysql`'s native async connector,
    /// `AsyncMySqlConnector` (mysql_async), on the server named by `POOL_TEST_MYSQL_URL`:
    /// in every pool, the async one included. The blocking pools run its futures in the
    /// suite's runtime.
    MysqlAsyncBackend,
    MysqlAsync,
    MYSQL_URL,
    pool_mysql::AsyncMySqlConnector,
    pool_mysql::mysql_async::Conn,
    pool_mysql::mysql_async::Error,
    |url| {
        let runtime = crate::harnesses::async_runtime().handle().clone();
        pool_mysql::AsyncMySqlConnector::new(url)
            .expect("POOL_TEST_MYSQL_URL parses")
            .with_runtime(runtime)
    },
    |conn| {
        use pool_mysql::mysql_async::prelude::Queryable as _;
        crate::harnesses::async_runtime().block_on(conn.query_drop("SELECT 1"))
    }
);

server_backend!(
    /// Redis through `pool-redis`, on the server named by `POOL_TEST_REDIS_URL`.
    RedisBackend,
    Redis,
    REDIS_URL,
    RedisConnector,
    pool_redis::redis::Connection,
    pool_redis::redis::RedisError,
    |url| {
        RedisConnector::new(url)
            .expect("POOL_TEST_REDIS_URL parses")
            .with_client_name("pool-conformance")
    },
    |conn| pool_redis::redis::cmd("PING").exec(conn)
);

server_backend!(
    /// Redis through `pool-redis`'s native async connector, `AsyncRedisConnector` (the
    /// driver's multiplexed connection on tokio), on the server named by
    /// `POOL_TEST_REDIS_URL`: in every pool, the async one included. The blocking pools
    /// run its futures in the suite's runtime.
    RedisAsyncBackend,
    RedisAsync,
    REDIS_URL,
    pool_redis::AsyncRedisConnector,
    pool_redis::redis::aio::MultiplexedConnection,
    pool_redis::redis::RedisError,
    |url| {
        let runtime = crate::harnesses::async_runtime().handle().clone();
        pool_redis::AsyncRedisConnector::new(url)
            .expect("POOL_TEST_REDIS_URL parses")
            .with_client_name("pool-conformance-async")
            .with_runtime(runtime)
    },
    |conn| {
        let ping = pool_redis::redis::cmd("PING");
        crate::harnesses::async_runtime().block_on(ping.exec_async(conn))
    }
);

/// deadpool-postgres's connection type, as `ManagerConnector` hands it out.
type DeadpoolPgConn = pool_deadpool::Managed<deadpool_postgres::ClientWrapper>;
/// Its connector's error.
type DeadpoolPgError = pool_deadpool::ManagerError<deadpool_postgres::tokio_postgres::Error>;

server_backend!(
    /// PostgreSQL through deadpool-postgres's own manager and `pool-deadpool`'s
    /// `ManagerConnector`, on the server named by `POOL_TEST_POSTGRES_URL`: the async
    /// driver (tokio-postgres) under every pool, the async one included. The blocking pools
    /// run its futures in the suite's runtime.
    DeadpoolPostgresBackend,
    DeadpoolPostgres,
    POSTGRES_URL,
    pool_deadpool::ManagerConnector<deadpool_postgres::Manager>,
    DeadpoolPgConn,
    DeadpoolPgError,
    |url| {
        let mut config: deadpool_postgres::tokio_postgres::Config =
            url.parse().expect("POOL_TEST_POSTGRES_URL parses");
        config.application_name("pool-conformance-deadpool");
        let manager = deadpool_postgres::Manager::from_config(
            config,
            deadpool_postgres::tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Verified,
            },
        );
        let runtime = crate::harnesses::async_runtime().handle().clone();
        pool_deadpool::ManagerConnector::new(manager).with_runtime(runtime)
    },
    |conn| {
        // The connector's error has no variant for a query's failure; the driver's
        // error rides in `Create`, which no check inspects.
        let runtime = crate::harnesses::async_runtime();
        runtime.block_on(conn.batch_execute("SELECT 1")).map_err(pool_deadpool::ManagerError::Create)
    }
);

/// bb8-postgres's manager, as `Bb8Connector` adapts it.
type Bb8PgManager = pool_bb8::bb8_postgres::PostgresConnectionManager<
    pool_bb8::bb8_postgres::tokio_postgres::NoTls,
>;

server_backend!(
    /// PostgreSQL through bb8-postgres's own `PostgresConnectionManager` and `pool-bb8`'s
    /// `Bb8Connector`, on the server named by `POOL_TEST_POSTGRES_URL`: the async driver
    /// under bb8's manager, in every pool, the async one included. The blocking pools run
    /// its futures in the suite's runtime.
    Bb8PostgresBackend,
    Bb8Postgres,
    POSTGRES_URL,
    pool_bb8::Bb8Connector<Bb8PgManager>,
    pool_bb8::bb8_postgres::tokio_postgres::Client,
    pool_bb8::Bb8Error<pool_bb8::bb8_postgres::tokio_postgres::Error>,
    |url| {
        let mut config: pool_bb8::bb8_postgres::tokio_postgres::Config =
            url.parse().expect("POOL_TEST_POSTGRES_URL parses");
        config.application_name("pool-conformance-bb8");
        let manager = Bb8PgManager::new(config, pool_bb8::bb8_postgres::tokio_postgres::NoTls);
        let runtime = crate::harnesses::async_runtime().handle().clone();
        pool_bb8::Bb8Connector::new(manager).with_runtime(runtime)
    },
    |conn| {
        let runtime = crate::harnesses::async_runtime();
        Ok(runtime.block_on(conn.batch_execute("SELECT 1"))?)
    }
);
