#![doc = include_str!("../README.md")]

pub use pool_core::{
    BoxError, BuildError, Builder, CheckoutError, CloseCause, Closes, ConnectionRecord, Connector,
    Core, Echo, ErrorContext, ErrorOrigin, Info, Leak, ListenerError, Nested, Pool, PoolConfig,
    PoolEntry, PoolListener, PoolStatus, PooledConnection, ResetOnReturn, ResetState, Statistics,
    Strategy, TimeoutError,
};
#[cfg(feature = "metrics")]
pub use pool_core::{MetricKind, METRICS};

#[cfg(feature = "bb8")]
pub use pool_bb8::{self as bb8, Bb8Connector};
#[cfg(feature = "deadpool")]
pub use pool_deadpool::{self as deadpool, ManagerConnector};
#[cfg(feature = "mysql")]
pub use pool_mysql::{self as mysql, AsyncMySqlConnector, MySqlConnector};
#[cfg(feature = "null")]
pub use pool_null::{self as null, NullPool};
#[cfg(feature = "postgres")]
pub use pool_postgres::{self as postgres, AsyncPostgresConnector, PostgresConnector};
#[cfg(feature = "queue")]
pub use pool_queue::{self as queue, QueueConfig, QueuePool};
#[cfg(feature = "r2d2")]
pub use pool_r2d2::{self as r2d2, R2d2Connector};
#[cfg(feature = "redis")]
pub use pool_redis::{self as redis, AsyncRedisConnector, RedisConnector};
#[cfg(feature = "singleton-thread")]
pub use pool_singleton_thread::{self as singleton_thread, SingletonThreadPool};
#[cfg(feature = "sqlite")]
pub use pool_sqlite::{self as sqlite, SqliteConnector};
#[cfg(feature = "assertion")]
pub use pool_static::AssertionPool;
#[cfg(feature = "static")]
pub use pool_static::StaticPool;
#[cfg(any(feature = "static", feature = "assertion"))]
pub use pool_static::{self as static_pool};

#[cfg(not(any(
    feature = "queue",
    feature = "null",
    feature = "singleton-thread",
    feature = "static",
    feature = "assertion"
)))]
compile_error!(
    "sqlpool needs a pool strategy: enable one of the features \
     queue, null, singleton-thread, static or assertion"
);

/// The application's pool type, picked by the enabled features (see the crate docs for
/// the order when several are enabled).
#[cfg(feature = "assertion")]
pub type DefaultPool<C> = pool_static::AssertionPool<C>;
/// The application's pool type, picked by the enabled features.
#[cfg(all(feature = "static", not(feature = "assertion")))]
pub type DefaultPool<C> = pool_static::StaticPool<C>;
/// The application's pool type, picked by the enabled features.
#[cfg(all(feature = "singleton-thread", not(any(feature = "static", feature = "assertion"))))]
pub type DefaultPool<C> = pool_singleton_thread::SingletonThreadPool<C>;
/// The application's pool type, picked by the enabled features.
#[cfg(all(
    feature = "null",
    not(any(feature = "singleton-thread", feature = "static", feature = "assertion"))
))]
pub type DefaultPool<C> = pool_null::NullPool<C>;
/// The application's pool type, picked by the enabled features.
#[cfg(all(
    feature = "queue",
    not(any(
        feature = "null",
        feature = "singleton-thread",
        feature = "static",
        feature = "assertion"
    ))
))]
pub type DefaultPool<C> = pool_queue::QueuePool<C>;

/// The name of the strategy [`DefaultPool`] is (`"QueuePool"`, `"StaticPool"`, ...).
pub const DEFAULT_POOL: &str = {
    if cfg!(feature = "assertion") {
        "AssertionPool"
    } else if cfg!(feature = "static") {
        "StaticPool"
    } else if cfg!(feature = "singleton-thread") {
        "SingletonThreadPool"
    } else if cfg!(feature = "null") {
        "NullPool"
    } else {
        "QueuePool"
    }
};
