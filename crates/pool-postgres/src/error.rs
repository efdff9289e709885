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
/// [`source`](StdError::source) is the driver's [`postgres::Error`], and
/// [`as_postgres`](Self::as_postgres) and [`as_db_error`](Self::as_db_error) reach it
/// directly (for the SQLSTATE, say).
#[derive(Debug)]
pub struct Error {
    /// What the connector was doing, when the driver's message does not say it.
    context: Option<String>,
    inner: postgres::Error,
}

impl Error {
    /// The driver's error, with what this connector was doing when it failed.
    pub(crate) fn with_context(context: String, inner: postgres::Error) -> Self {
        Error { context: Some(context), inner }
    }

    /// The driver's error.
    pub fn as_postgres(&self) -> &postgres::Error {
        &self.inner
    }

    /// The driver's error, owned.
    pub fn into_postgres(self) -> postgres::Error {
        self.inner
    }

    /// The server's error (severity, SQLSTATE, message, detail, hint), if the server
    /// sent one.
    pub fn as_db_error(&self) -> Option<&DbError> {
        self.inner.as_db_error()
    }
}

impl From<postgres::Error> for Error {
    fn from(inner: postgres::Error) -> Self {
        Error { context: None, inner }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
            // The driver's kind ("invalid connection string") is in the context already.
            if let Some(cause) = self.inner.source() {
                return ErrorChain::new(cause).fmt(f);
            }
        }
        ErrorChain::new(&self.inner).fmt(f)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.inner)
    }
}
