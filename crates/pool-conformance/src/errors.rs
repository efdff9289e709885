//! The errors a connector gives when it cannot reach its database (issue 10, part 5): one
//! test shape for every backend, four cases (an unknown user, an unknown database, a
//! refused port, a malformed URL), each asserting the useful part of the message through
//! `Display` and that `source()` reaches the driver's error.
//!
//! A backend's test builds its [`ErrorCases`] and calls [`check_connector_errors`] with
//! the function that builds its connector from a URL:
//!
//! ```no_run
//! use pool_conformance::errors::{check_connector_errors, Case, ErrorCases};
//! use pool_mysql::MySqlConnector;
//!
//! let cases = ErrorCases {
//!     unknown_user: Case::fails(
//!         "mysql://nosuchuser@127.0.0.1:3306/test",
//!         "Access denied for user 'nosuchuser'",
//!     ),
//!     unknown_database: Case::fails("mysql://root@127.0.0.1:3306/nosuchdb", "Unknown database 'nosuchdb'"),
//!     refused_port: Case::fails("mysql://root@127.0.0.1:1/test", "Connection refused"),
//!     malformed_url: Case::fails(
//!         "mysql://root@127.0.0.1:notaport/test",
//!         "the port `notaport` is not a number",
//!     ),
//! };
//! check_connector_errors::<pool_mysql::mysql::Error, _, _, _>("MySQL", &cases, MySqlConnector::new);
//! ```

use std::error::Error as StdError;
use std::net::TcpListener;

use pool_core::{CheckoutError, Connector, UrlParts};
use pool_queue::QueuePool;

/// One way for a connector to fail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Case {
    /// Building a connector from `url` and checking out from a pool over it must fail
    /// (in either step), with `message` in the error's `Display`.
    Fails {
        /// The URL (or path) the connector is built from.
        url: String,
        /// Words the error's `Display` must contain.
        message: String,
    },
    /// The backend has no such case, for the reason given (printed as a skip).
    NotApplicable(&'static str),
}

impl Case {
    /// `url` must fail with `message` in the error's `Display`.
    pub fn fails(url: impl Into<String>, message: impl Into<String>) -> Self {
        Case::Fails { url: url.into(), message: message.into() }
    }
}

/// The four cases of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCases {
    /// A user the server does not know (Redis: `AUTH` of an unknown user).
    pub unknown_user: Case,
    /// A database that does not exist (Redis: an index out of range; SQLite: a path that
    /// cannot be opened).
    pub unknown_database: Case,
    /// A port on 127.0.0.1 where nothing listens ([`refused_port`]).
    pub refused_port: Case,
    /// A URL the connector or its driver cannot read.
    pub malformed_url: Case,
}

/// Runs the four `cases` of `backend` with the connectors `build` makes, and returns the
/// message of each failure, as `"<case>: <message>"`, in the order of the fields (a
/// case that does not apply prints its skip instead).
///
/// For each case, `build(url)` either refuses the URL, and then its error's `Display`
/// must contain the case's message and the error (or a cause in its `source()` chain)
/// must be a `D`, the driver's error type; or it gives a connector, and then `get()` on a
/// `QueuePool` over it, and then `get_async()` on the same pool, must each fail with a
/// [`CheckoutError`] whose `Display` contains the
/// message, whose `source()` is the connector's error, and whose `source()` chain reaches
/// a `D`.
///
/// # Panics
///
/// When a case does not fail, or fails without the message or without the driver's error.
pub fn check_connector_errors<D, C, E, F>(
    backend: &str,
    cases: &ErrorCases,
    build: F,
) -> Vec<String>
where
    D: StdError + 'static,
    C: Connector,
    E: StdError + 'static,
    F: Fn(&str) -> Result<C, E>,
{
    check_errors::<D, C, E, F>(backend, cases, build, false)
}

/// [`check_connector_errors`] through the blocking `get()` alone, for a connector that
/// cannot run on an async runtime's thread (`why` says so, printed as the skip of
/// `get_async`).
pub fn check_blocking_connector_errors<D, C, E, F>(
    backend: &str,
    why: &str,
    cases: &ErrorCases,
    build: F,
) -> Vec<String>
where
    D: StdError + 'static,
    C: Connector,
    E: StdError + 'static,
    F: Fn(&str) -> Result<C, E>,
{
    println!("skipped {backend} get_async: {why}");
    check_errors::<D, C, E, F>(backend, cases, build, true)
}

/// The checks of both functions above; `blocking_only` skips `get_async`.
fn check_errors<D, C, E, F>(
    backend: &str,
    cases: &ErrorCases,
    build: F,
    blocking_only: bool,
) -> Vec<String>
where
    D: StdError + 'static,
    C: Connector,
    E: StdError + 'static,
    F: Fn(&str) -> Result<C, E>,
{
    let named = [
        ("unknown user", &cases.unknown_user),
        ("unknown database", &cases.unknown_database),
        ("refused port", &cases.refused_port),
        ("malformed URL", &cases.malformed_url),
    ];
    let mut shown = Vec::new();
    for (name, case) in named {
        let (url, message) = match case {
            Case::Fails { url, message } => (url, message),
            Case::NotApplicable(why) => {
                println!("skipped {backend} {name}: {why}");
                continue;
            }
        };
        // What each way of failing showed: (how, `Display`, whether it reaches a `D`).
        let failures = match build(url) {
            Err(err) => vec![("building", err.to_string(), is_or_causes::<D>(&err))],
            Ok(connector) => {
                let pool = QueuePool::new(connector).expect("a default QueuePool builds");
                let (display, reaches) = pool_error::<C, D>(backend, name, url, pool.get().err());
                let mut failures = vec![("get", display, reaches)];
                if !blocking_only {
                    // The async front end connects through the connector's `_async` calls.
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a current-thread runtime");
                    let got = runtime.block_on(pool.get_async()).err();
                    let (display, reaches) = pool_error::<C, D>(backend, name, url, got);
                    failures.push(("get_async", display, reaches));
                }
                failures
            }
        };
        for (how, display, reaches_driver) in &failures {
            println!("{backend} {name} ({url}, {how}): {display}");
            assert!(
                display.contains(message.as_str()),
                "{backend} {name}: expected {message:?} in the message of {url} ({how}), got \
                 {display:?}"
            );
            assert!(
                reaches_driver,
                "{backend} {name}: the error of {url} ({how}) does not lead to the driver's {} \
                 through source(): {display}",
                std::any::type_name::<D>()
            );
        }
        let display = &failures[0].1;
        shown.push(format!("{name}: {display}"));
    }
    shown
}

/// The `Display` of a checkout's error `got` (which must be there, with the connector's
/// error as its `source()`), and whether its `source()` chain reaches a `D`.
fn pool_error<C: Connector, D: StdError + 'static>(
    backend: &str,
    name: &str,
    url: &str,
    got: Option<CheckoutError<C::Error>>,
) -> (String, bool) {
    let err = got.unwrap_or_else(|| panic!("{backend} {name}: {url} connected"));
    let source = err
        .source()
        .unwrap_or_else(|| panic!("{backend} {name}: the pool's error has no source: {err:?}"));
    assert!(
        source.is::<C::Error>(),
        "{backend} {name}: the pool's error's source is not the connector's error: {err:?}"
    );
    (err.to_string(), is_or_causes::<D>(source))
}

/// Whether `error`, or a cause in its `source()` chain, is a `D`.
fn is_or_causes<D: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<D>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A port on 127.0.0.1 where nothing listens: one the system just gave out and took back.
pub fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
    listener.local_addr().expect("a bound listener has an address").port()
}

/// The `host:port` of a server URL (`default_port` when it names none), to build the
/// cases' URLs for the same server.
///
/// # Panics
///
/// When `url` does not take apart ([`UrlParts::parse`]) with its own scheme.
pub fn server_address(url: &str, default_port: u16) -> String {
    let scheme = url.split(':').next().unwrap_or_default();
    let parts = UrlParts::parse(url, &[scheme]).unwrap_or_else(|why| panic!("{url}: {why}"));
    format!("{}:{}", parts.host, parts.port.unwrap_or(default_port))
}
