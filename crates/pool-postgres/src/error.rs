//! [`Error`]: the driver's error with its whole message.

use std::error::Error as StdError;
use std::fmt;

use pool_core::ErrorChain;
use postgres::error::DbError;

/// An error of the PostgreSQL driver, shown with everything it knows.
///
/// The driver's own message names only the kind of failure ("db error", "invalid
/// connection string") and keeps the server's words in its `source()`. This type prints
/// both, and says which setting of a connection string is wrong:
///
/// ```text
/// db error: FATAL: role "nosuchuser" does not exist
/// invalid connection string "postgres://postgres@localhost:notaport/test": invalid value for option `port`
/// ```
///
/// [`source`](StdError::source) is the driver's [`postgres::Error`] (the same type as
/// `tokio_postgres::Error`), and [`as_postgres`](Self::as_postgres) and
/// [`as_db_error`](Self::as_db_error) reach it directly (for the SQLSTATE, say).
///
/// The one error that is not the driver's: a blocking call of an
/// [`AsyncPostgresConnector`](crate::AsyncPostgresConnector) that cannot run where it was
/// made (on a current-thread tokio runtime's thread, or with no runtime to drive the
/// connection); [`is_runtime`](Self::is_runtime) tells it, and it has no source.
#[derive(Debug)]
pub struct Error {
    /// What the connector was doing, when the driver's message does not say it.
    context: Option<String>,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Driver(postgres::Error),
    /// A blocking call refused, with why.
    Runtime(&'static str),
}

impl Error {
    /// The driver's error, with what this connector was doing when it failed.
    pub(crate) fn with_context(context: String, inner: postgres::Error) -> Self {
        Error { context: Some(context), inner: Inner::Driver(inner) }
    }

    /// A blocking call refused because of where it was made.
    pub(crate) fn runtime(why: &'static str) -> Self {
        Error { context: None, inner: Inner::Runtime(why) }
    }

    /// The driver's error; `None` for a refused blocking call ([`is_runtime`](Self::is_runtime)).
    pub fn as_postgres(&self) -> Option<&postgres::Error> {
        match &self.inner {
            Inner::Driver(e) => Some(e),
            Inner::Runtime(_) => None,
        }
    }

    /// The driver's error, owned; `None` for a refused blocking call.
    pub fn into_postgres(self) -> Option<postgres::Error> {
        match self.inner {
            Inner::Driver(e) => Some(e),
            Inner::Runtime(_) => None,
        }
    }

    /// The server's error (severity, SQLSTATE, message, detail, hint), if the server
    /// sent one.
    pub fn as_db_error(&self) -> Option<&DbError> {
        self.as_postgres()?.as_db_error()
    }

    /// Whether this is a blocking call of an
    /// [`AsyncPostgresConnector`](crate::AsyncPostgresConnector) refused because it
    /// would deadlock (made on a current-thread tokio runtime's thread) or because no
    /// tokio runtime was there to drive a new connection. Such an error is never a
    /// disconnect.
    pub fn is_runtime(&self) -> bool {
        matches!(self.inner, Inner::Runtime(_))
    }
}

impl From<postgres::Error> for Error {
    fn from(inner: postgres::Error) -> Self {
        Error { context: None, inner: Inner::Driver(inner) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = match &self.inner {
            Inner::Driver(inner) => inner,
            Inner::Runtime(why) => return f.write_str(why),
        };
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
            // The driver's kind ("invalid connection string") is in the context already.
            if let Some(cause) = inner.source() {
                return ErrorChain::new(cause).fmt(f);
            }
        }
        ErrorChain::new(inner).fmt(f)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.as_postgres().map(|e| e as _)
    }
}
