//! [`Error`]: the driver's error with its whole message.

use std::error::Error as StdError;
use std::fmt;

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
        match &self.context {
            Some(context) => f.write_str(context)?,
            None => write!(f, "{}", self.inner)?,
        }
        let mut source = self.inner.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.inner)
    }
}

/// The connection string `params` with any password replaced by `***`, for messages.
pub(crate) fn redact(params: &str) -> String {
    if let Some(rest) = params.split_once("://").map(|(_, rest)| rest) {
        // URL: user:password@host
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                let start = params.len() - rest.len();
                return format!("{}***{}", &params[..start + colon + 1], &params[start + at..]);
            }
        }
        return params.to_owned();
    }
    // key=value: password=... up to the next space.
    params
        .split(' ')
        .map(|pair| if pair.starts_with("password=") { "password=***" } else { pair })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("host=h password=secret user=u"), "host=h password=*** user=u");
    }
}
