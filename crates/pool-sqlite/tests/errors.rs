//! The errors of a connector that cannot open its database (issue 10, part 5): a path in a
//! directory that does not exist, a directory, and a malformed `file:` URI, each with the
//! words that say what is wrong (SQLite has no users and no port). SQLite's message does
//! not name the file; rusqlite adds the path to a failed open, and the pool shows SQLite's
//! code after it.

use std::convert::Infallible;

use pool_conformance::errors::{check_connector_errors, Case, ErrorCases};
use pool_sqlite::SqliteConnector;

fn connector(path: &str) -> Result<SqliteConnector, Infallible> {
    Ok(SqliteConnector::new(path))
}

#[test]
fn connect_errors_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap();
    let cases = ErrorCases {
        unknown_user: Case::NotApplicable("SQLite has no users"),
        unknown_database: Case::fails(
            "/no/such/dir/pool-test.db",
            "could not connect: unable to open database file: /no/such/dir/pool-test.db",
        ),
        refused_port: Case::NotApplicable("SQLite has no server to connect to"),
        malformed_url: Case::fails(
            "file:pool-test.db?mode=bogus",
            "could not connect: no such access mode: bogus",
        ),
    };
    check_connector_errors::<pool_sqlite::rusqlite::Error, _, _, _>("SQLite", &cases, connector);
    let a_directory = ErrorCases {
        unknown_user: Case::NotApplicable("SQLite has no users"),
        unknown_database: Case::fails(dir, format!("unable to open database file: {dir}")),
        refused_port: Case::NotApplicable("SQLite has no server to connect to"),
        malformed_url: Case::NotApplicable("covered above"),
    };
    check_connector_errors::<pool_sqlite::rusqlite::Error, _, _, _>(
        "SQLite",
        &a_directory,
        connector,
    );
}
