//! The errors of a connector that cannot reach its database (issue 10, part 5), against
//! the server named by `POOL_TEST_MYSQL_URL`: an unknown user, an unknown database, a
//! refused port and a malformed URL, each with the words that say what is wrong. Without
//! the variable the test prints "skipped ..." and passes.

use pool_conformance::errors::{
    check_connector_errors, refused_port, server_address, Case, ErrorCases,
};
use pool_conformance::faults::server_url_or_skip;
use pool_conformance::MYSQL_URL;
use pool_mysql::{AsyncMySqlConnector, MySqlConnector};

/// The four cases against the server at `url`, with the words each error must show.
fn cases(url: &str) -> ErrorCases {
    let at = server_address(url, 3306);
    let port = refused_port();
    ErrorCases {
        unknown_user: Case::fails(
            format!("mysql://nosuchuser@{at}/test?prefer_socket=false"),
            "Access denied for user 'nosuchuser'@",
        ),
        unknown_database: Case::fails(
            format!("mysql://root@{at}/nosuchdb?prefer_socket=false"),
            "Unknown database 'nosuchdb'",
        ),
        refused_port: Case::fails(
            format!("mysql://root@127.0.0.1:{port}/test"),
            format!("Could not connect to address `127.0.0.1:{port}': Connection refused"),
        ),
        malformed_url: Case::fails(
            "mysql://root@127.0.0.1:notaport/test",
            "invalid MySQL URL \"mysql://root@127.0.0.1:notaport/test\": the port `notaport` is \
             not a number",
        ),
    }
}

#[test]
fn connect_and_url_errors_say_what_is_wrong() {
    let Some(url) = server_url_or_skip(MYSQL_URL, "connect_and_url_errors_say_what_is_wrong")
    else {
        return;
    };
    check_connector_errors::<pool_mysql::mysql::Error, _, _, _>(
        "MySQL",
        &cases(&url),
        MySqlConnector::new,
    );
}

// The same four errors from the async connector, through both of the pool's front ends
// (the blocking one runs its connects in the connector's runtime).
#[test]
fn async_connector_errors_say_what_is_wrong() {
    let Some(url) = server_url_or_skip(MYSQL_URL, "async_connector_errors_say_what_is_wrong")
    else {
        return;
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    // mysql_async words a refused connect its own way.
    let port = refused_port();
    let cases = ErrorCases {
        refused_port: Case::fails(
            format!("mysql://root@127.0.0.1:{port}/test"),
            format!("127.0.0.1:{port}: Connection refused"),
        ),
        ..cases(&url)
    };
    check_connector_errors::<pool_mysql::mysql_async::Error, _, _, _>(
        "MySQL (async)",
        &cases,
        |url| AsyncMySqlConnector::new(url).map(|c| c.with_runtime(runtime.handle().clone())),
    );
}

#[test]
fn url_errors_hide_the_password_and_name_the_part() {
    let err = MySqlConnector::new("postgres://root:secret@127.0.0.1/test").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid MySQL URL \"postgres://root:***@127.0.0.1/test\": the scheme `postgres` is not \
         `mysql` (the driver says: UrlError { URL scheme `postgres' is not supported })"
    );
    let err = MySqlConnector::new("mysql://root@127.0.0.1/test?frob=1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid MySQL URL \"mysql://root@127.0.0.1/test?frob=1\": UrlError { Unknown URL \
         parameter `frob' }"
    );
}
