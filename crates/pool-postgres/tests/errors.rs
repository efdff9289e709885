//! The errors of a connector that cannot reach its database (issue 10, part 5), against
//! the server named by `POOL_TEST_POSTGRES_URL`: an unknown user, an unknown database, a
//! refused port and a malformed URL, each with the words that say what is wrong. Without
//! the variable the test prints "skipped ..." and passes.

use pool_conformance::errors::{
    check_blocking_connector_errors, check_connector_errors, refused_port, server_address, Case,
    ErrorCases,
};
use pool_conformance::faults::server_url_or_skip;
use pool_conformance::POSTGRES_URL;
use pool_postgres::{AsyncPostgresConnector, PostgresConnector};

/// The four cases against the server at `url`, with the words each error must show.
fn cases(url: &str) -> ErrorCases {
    let at = server_address(url, 5432);
    let port = refused_port();
    ErrorCases {
        unknown_user: Case::fails(
            format!("postgres://nosuchuser@{at}/test"),
            "db error: FATAL: role \"nosuchuser\" does not exist",
        ),
        unknown_database: Case::fails(
            format!("postgres://postgres@{at}/nosuchdb"),
            "db error: FATAL: database \"nosuchdb\" does not exist",
        ),
        refused_port: Case::fails(
            format!("postgres://postgres@127.0.0.1:{port}/test"),
            format!("error connecting to 127.0.0.1:{port}: Connection refused"),
        ),
        malformed_url: Case::fails(
            "postgres://postgres@127.0.0.1:notaport/test",
            "invalid connection string \"postgres://postgres@127.0.0.1:notaport/test\": invalid \
             value for option `port`",
        ),
    }
}

#[test]
fn connect_and_url_errors_say_what_is_wrong() {
    let Some(url) = server_url_or_skip(POSTGRES_URL, "connect_and_url_errors_say_what_is_wrong")
    else {
        return;
    };
    let printed = check_blocking_connector_errors::<pool_postgres::postgres::Error, _, _, _>(
        "PostgreSQL",
        "the postgres crate starts a runtime of its own, which tokio refuses on a runtime's \
         thread (AsyncPostgresConnector is the async front end's, below)",
        &cases(&url),
        PostgresConnector::new,
    );
    println!("{}", printed.join("\n"));
}

// The same four errors from the async connector, through both of the pool's front ends
// (the blocking one runs its connects in the connector's runtime): the same words, the
// same driver error behind them.
#[test]
fn async_connector_errors_say_what_is_wrong() {
    let Some(url) = server_url_or_skip(POSTGRES_URL, "async_connector_errors_say_what_is_wrong")
    else {
        return;
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let printed = check_connector_errors::<pool_postgres::tokio_postgres::Error, _, _, _>(
        "PostgreSQL (async)",
        &cases(&url),
        |url| AsyncPostgresConnector::new(url).map(|c| c.with_runtime(runtime.handle().clone())),
    );
    println!("{}", printed.join("\n"));
}

#[test]
fn connection_strings_hide_the_password() {
    let err = PostgresConnector::new("postgres://u:secret@127.0.0.1:x/db").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid connection string \"postgres://u:***@127.0.0.1:x/db\": invalid value for \
         option `port`"
    );
    let err = PostgresConnector::new("host=h password=secret port=x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid connection string \"host=h password=*** port=x\": invalid value for option \
         `port`"
    );
    assert!(
        std::error::Error::source(&err).is_some_and(|s| s.is::<pool_postgres::postgres::Error>())
    );
    let err = AsyncPostgresConnector::new("postgres://u:secret@127.0.0.1:x/db").unwrap_err();
    assert!(err.to_string().contains("postgres://u:***@127.0.0.1:x/db"), "{err}");
}
