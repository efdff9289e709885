//! The errors of a connector that cannot reach its database (issue 10, part 5), against
//! the server named by `POOL_TEST_REDIS_URL`: an unknown user, a database index out of
//! range, a refused port and a malformed URL, each with the words that say what is wrong.
//! Without the variable the test prints "skipped ..." and passes.

use pool_conformance::errors::{
    check_connector_errors, refused_port, server_address, Case, ErrorCases,
};
use pool_conformance::faults::server_url_or_skip;
use pool_conformance::REDIS_URL;
use pool_redis::{AsyncRedisConnector, RedisConnector};

/// The four cases against the server at `url`, with the words each error must show.
fn cases(url: &str) -> ErrorCases {
    let at = server_address(url, 6379);
    let port = refused_port();
    ErrorCases {
        unknown_user: Case::fails(
            format!("redis://nosuchuser:pw@{at}/"),
            "Password authentication failed - AuthenticationFailed: the server answered AUTH as `nosuchuser`: WRONGPASS",
        ),
        unknown_database: Case::fails(format!("redis://{at}/99"), "DB index is out of range"),
        refused_port: Case::fails(
            format!("redis://127.0.0.1:{port}/"),
            format!("could not connect: 127.0.0.1:{port}: Connection refused"),
        ),
        malformed_url: Case::fails(
            "redis://127.0.0.1:notaport/",
            "invalid Redis URL \"redis://127.0.0.1:notaport/\": the port `notaport` is not a \
             number",
        ),
    }
}

#[test]
fn connect_and_url_errors_say_what_is_wrong() {
    let Some(url) = server_url_or_skip(REDIS_URL, "connect_and_url_errors_say_what_is_wrong")
    else {
        return;
    };
    check_connector_errors::<pool_redis::redis::RedisError, _, _, _>(
        "Redis",
        &cases(&url),
        RedisConnector::new,
    );
}

// The same four errors from the async connector, through both of the pool's front ends
// (the blocking one runs its connects in the connector's runtime).
#[test]
fn async_connector_errors_say_what_is_wrong() {
    let Some(url) = server_url_or_skip(REDIS_URL, "async_connector_errors_say_what_is_wrong")
    else {
        return;
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    check_connector_errors::<pool_redis::redis::RedisError, _, _, _>(
        "Redis (async)",
        &cases(&url),
        |url| AsyncRedisConnector::new(url).map(|c| c.with_runtime(runtime.handle().clone())),
    );
}

#[test]
fn url_errors_hide_the_password_and_name_the_part() {
    let message = |url| RedisConnector::new(url).unwrap_err().to_string();
    assert_eq!(
        message("http://:secret@127.0.0.1/"),
        "invalid Redis URL \"http://:***@127.0.0.1/\": the scheme `http` is not one of `redis`, \
         `rediss`, `valkey`, `valkeys`, `redis+unix`, `valkey+unix`, `unix` (the driver says: \
         Redis URL did not parse - InvalidClientConfig)"
    );
    assert_eq!(
        message("redis://127.0.0.1:6379/zero"),
        "invalid Redis URL \"redis://127.0.0.1:6379/zero\": the database `zero` is not a number \
         (expected `/0`, `/1`, ...) (the driver says: Invalid database number - InvalidClientConfig)"
    );
    assert_eq!(
        message("redis://127.0.0.1:6379/?protocol=4"),
        "invalid Redis URL \"redis://127.0.0.1:6379/?protocol=4\": the protocol `4` is not `resp2` \
         or `resp3` (the driver says: Invalid protocol version - InvalidClientConfig: 4)"
    );
}
