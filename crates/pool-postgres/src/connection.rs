//! [`PostgresConnection`]: a `postgres::Client` that knows its transaction status, and
//! the reset of a client that does not.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, SimpleQueryMessage};

use crate::session::{Session, TransactionStatus};

/// A connection of a [`PostgresConnector`](crate::PostgresConnector): a
/// [`postgres::Client`] (it dereferences to it, so code written for a client works
/// unchanged) that also knows whether a transaction is open.
pub struct PostgresConnection {
    client: Client,
    session: Arc<Session>,
}

impl PostgresConnection {
    pub(crate) fn new(client: Client, session: Arc<Session>) -> Self {
        PostgresConnection { client, session }
    }

    /// Where the session stands, from the last answer the server sent, without a round
    /// trip: [`Idle`](TransactionStatus::Idle) when no transaction is open,
    /// [`Unknown`](TransactionStatus::Unknown) when this connection's socket is not
    /// watched (see the crate docs, "Reset without a round trip") or a request that may
    /// open or end one is still unanswered.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.session.status()
    }

    /// The client, without the status watcher's handle.
    pub fn into_client(self) -> Client {
        self.client
    }

    /// Closes the connection without waiting for the server: a watched socket is aborted
    /// first, so the driver's close returns at once; an unwatched one is closed on a
    /// thread of its own, which waits as long as the driver does.
    pub(crate) fn abort(self) {
        if self.session.is_watched() {
            self.session.abort();
            drop(self);
        } else {
            // Without a thread, the closure (and the connection) is dropped right here.
            let closer = std::thread::Builder::new().name("pool-postgres-close".into());
            let _ = closer.spawn(move || drop(self));
        }
    }

    /// [`end`](Self::end) with the socket's reads bounded by `bound` (only a watched
    /// socket can be: see [`Session::bounded`]); whether the bound passed comes second.
    pub(crate) fn end_within(
        &mut self,
        statement: &str,
        bound: Duration,
    ) -> (Result<(), postgres::Error>, bool) {
        let session = Arc::clone(&self.session);
        session.bounded(bound, || self.end(statement))
    }

    /// Ends any open transaction with `statement` (`ROLLBACK` or `COMMIT`): nothing at all
    /// when the status says none is open; otherwise as [`end_transaction`] does.
    pub(crate) fn end(&mut self, statement: &str) -> Result<(), postgres::Error> {
        match self.transaction_status() {
            TransactionStatus::Idle => Ok(()),
            TransactionStatus::InTransaction | TransactionStatus::Failed => {
                self.client.batch_execute(statement)
            }
            TransactionStatus::Unknown => end_transaction(&mut self.client, statement),
        }
    }
}

impl Deref for PostgresConnection {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PostgresConnection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl fmt::Debug for PostgresConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConnection")
            .field("closed", &self.client.is_closed())
            .field("transaction_status", &self.transaction_status())
            .finish()
    }
}

/// Asks the server whether the session is inside a transaction block, without a warning
/// in its log: `now()` is when the transaction began, `statement_timestamp()` when this
/// statement arrived, and the two are equal exactly when the statement runs in a
/// transaction of its own (no block is open). In a failed block it fails, which also
/// says a block is open.
///
/// Send it with the simple query protocol (`simple_query`, `batch_execute`): under the
/// extended protocol the transaction begins at the `Parse` message, before the
/// statement's own timestamp, and the answer is always true.
pub const IN_TRANSACTION_QUERY: &str =
    "SELECT pg_catalog.now() <> pg_catalog.statement_timestamp()";

/// Ends any open transaction of a client whose status is not watched (a client of
/// r2d2_postgres, say) with `statement` (`"ROLLBACK"` or `"COMMIT"`), without the
/// warning PostgreSQL logs for a `ROLLBACK` outside a transaction.
///
/// It asks first ([`IN_TRANSACTION_QUERY`]: one round trip), and sends `statement` only
/// when a transaction block is open or failed.
///
/// # Errors
///
/// The driver's error if the question or the statement fails for another reason than
/// a failed transaction (a lost connection, say).
pub fn end_transaction(client: &mut Client, statement: &str) -> Result<(), postgres::Error> {
    match client.simple_query(IN_TRANSACTION_QUERY) {
        Ok(messages) => {
            if messages.iter().any(is_true_row) {
                client.batch_execute(statement)?;
            }
            Ok(())
        }
        Err(e) if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => {
            client.batch_execute(statement)
        }
        Err(e) => Err(e),
    }
}

/// [`end_transaction`] for an async client (deadpool-postgres's and bb8-postgres's
/// connections are `tokio_postgres::Client`s): one round trip to ask, and `statement`
/// only when a transaction block is open or failed.
///
/// # Errors
///
/// The driver's error if the question or the statement fails for another reason than
/// a failed transaction.
pub async fn end_transaction_async(
    client: &tokio_postgres::Client,
    statement: &str,
) -> Result<(), tokio_postgres::Error> {
    match client.simple_query(IN_TRANSACTION_QUERY).await {
        Ok(messages) => {
            if messages.iter().any(is_true_row) {
                client.batch_execute(statement).await?;
            }
            Ok(())
        }
        Err(e) if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => {
            client.batch_execute(statement).await
        }
        Err(e) => Err(e),
    }
}

/// Whether a simple query's message is a row whose first column is `true`.
fn is_true_row(message: &SimpleQueryMessage) -> bool {
    matches!(message, SimpleQueryMessage::Row(row) if row.get(0) == Some("t"))
}
