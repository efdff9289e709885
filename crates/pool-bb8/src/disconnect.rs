//! [`is_disconnect`]: the disconnect rules of the connection types this crate knows.

use std::error::Error as StdError;

/// Whether an error, or any cause in its `source()` chain, is one that the server
/// connectors of this workspace classify as a disconnect.
///
/// - a `tokio_postgres::Error` (bb8-postgres's; feature `postgres`):
///   `pool_postgres::is_disconnect`'s rule — a closed client, an I/O error talking to
///   the server, a `FATAL` or `PANIC` server error, SQLSTATE class `08`, `57P01`–`57P03`
///   (what `pg_terminate_backend` and a server restart send);
/// - a `redis::RedisError` (bb8-redis's; feature `redis`): `pool_redis::is_disconnect`'s
///   rule — an I/O error, a dropped connection, a refused connect.
///
/// Everything else is not. It is what [`Bb8Connector`](crate::Bb8Connector) uses when
/// no classifier was given to
/// [`with_disconnect`](crate::Bb8Connector::with_disconnect), so a manager whose error
/// wraps one of these types is classified too.
///
/// ```
/// use pool_bb8::bb8_postgres::tokio_postgres::Config;
///
/// // A configuration that does not parse is not a disconnect.
/// let err = "port=notanumber".parse::<Config>().unwrap_err();
/// assert!(!pool_bb8::is_disconnect(&err));
///
/// // Nothing listens on port 1: the refused connect is one.
/// let config: Config = "host=127.0.0.1 port=1 user=postgres".parse().unwrap();
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// let connect = config.connect(pool_bb8::bb8_postgres::tokio_postgres::NoTls);
/// let Err(err) = runtime.block_on(connect) else { unreachable!() };
/// assert!(pool_bb8::is_disconnect(&err));
/// ```
pub fn is_disconnect(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if known_disconnect(error) {
            return true;
        }
        next = error.source();
    }
    false
}

/// The rule of the one error type `error` is, if this crate knows it.
#[allow(unused_variables)] // without features there is no rule
fn known_disconnect(error: &(dyn StdError + 'static)) -> bool {
    #[cfg(feature = "postgres")]
    if let Some(e) = error.downcast_ref::<bb8_postgres::tokio_postgres::Error>() {
        return pool_postgres::is_disconnect(e);
    }
    #[cfg(feature = "redis")]
    if let Some(e) = error.downcast_ref::<pool_redis::redis::RedisError>() {
        return pool_redis::is_disconnect(e);
    }
    false
}
