//! [`Bb8Error`]: what went wrong in a [`Bb8Connector`](crate::Bb8Connector), with the
//! manager's whole message.

use std::error::Error as StdError;
use std::fmt;

use pool_core::{BoxError, ErrorChain};

/// What went wrong in a [`Bb8Connector`](crate::Bb8Connector).
///
/// `Display` shows the manager's error with every cause in its `source()` chain, so the
/// server's own words are there even where the driver's message is only a kind
/// (`tokio_postgres`'s is "db error"); the pool's
/// [`CheckoutError`](pool_core::CheckoutError) puts what it was doing first:
///
/// ```text
/// could not connect: db error: FATAL: role "nosuchuser" does not exist
/// ```
///
/// [`source`](StdError::source) is the manager's error.
#[derive(Debug)]
#[non_exhaustive]
pub enum Bb8Error<E> {
    /// The manager's `connect` failed.
    Connect(E),
    /// The manager's `is_valid` (the pre-ping) failed: the connection is gone, as bb8
    /// treats it.
    Ping(E),
    /// Using a connection failed: the manager's error from your own code, wrapped (with
    /// `?` or `.into()`) so that
    /// [`PooledConnection::handle_error`](pool_core::PooledConnection::handle_error) can
    /// classify it.
    Query(E),
    /// Rolling back or committing on return failed.
    Reset(BoxError),
    /// A blocking call was made on a thread of a current-thread tokio runtime, where
    /// waiting for the manager would deadlock.
    Blocking,
}

impl<E> From<E> for Bb8Error<E> {
    /// A failure of your own use of a connection ([`Bb8Error::Query`]).
    fn from(error: E) -> Self {
        Bb8Error::Query(error)
    }
}

impl<E: StdError + 'static> fmt::Display for Bb8Error<E> {
    /// The manager's error with its causes; the pool's error says what it was doing
    /// ("could not connect: ", "pre-ping failed: ").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bb8Error::Connect(e) | Bb8Error::Ping(e) | Bb8Error::Query(e) => {
                ErrorChain::new(e).fmt(f)
            }
            Bb8Error::Reset(e) => write!(f, "reset on return failed: {}", ErrorChain::new(&**e)),
            Bb8Error::Blocking => f.write_str(
                "a blocking checkout cannot wait for a bb8 manager inside a current-thread \
                 runtime; check out with get_async().await or use a multi-thread \
                 runtime",
            ),
        }
    }
}

impl<E: StdError + 'static> StdError for Bb8Error<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Bb8Error::Connect(e) | Bb8Error::Ping(e) | Bb8Error::Query(e) => Some(e),
            Bb8Error::Reset(e) => Some(&**e),
            Bb8Error::Blocking => None,
        }
    }
}
