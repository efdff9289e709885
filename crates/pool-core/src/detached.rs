//! Connections outside the pool's limits: detaching one from its record, closing a
//! detached one, and the return of an async checkout whose runtime is gone.

use std::mem;

use crate::error::ErrorChain;
use crate::events::ResetState;
use crate::io::{now, Blocking, Io};
use crate::pool::{Inner, Pending, ReleaseOnDrop};
use crate::record::{Info, PoolEntry};
use crate::strategy::Strategy;
use crate::unwind::{self, Heard};
use crate::Connector;

impl<C: Connector, S: Strategy<C>> Inner<C, S> {
    /// SQLAlchemy's `detach`: takes the connection and its `info` out of a checked-out
    /// entry, fires `detach`, and gives the record back empty (it counts as idle). A
    /// panicking `detach` listener's panic is returned for the caller to resume once it
    /// holds the connection.
    pub(crate) fn detach_entry(&self, entry: PoolEntry<C>) -> (C::Connection, Info, Heard) {
        if let Some(leases) = &self.core.leases {
            leases.end(entry.inner.record.id, self.core.name());
        }
        let mut release = ReleaseOnDrop::new(self, entry);
        let e = &mut *release.entry().inner;
        let mut conn = e.conn.take().expect("a checked-out entry has a connection");
        let info = mem::take(&mut e.record.info);
        e.record.finalizers.clear();
        let heard = unwind::listen(|| {
            if self.core.events.any() {
                self.core.events.snapshot().iter().for_each(|l| l.detach(&mut conn, &mut e.record));
            }
        });
        drop(release);
        (conn, info, heard)
    }

    /// Closes a connection its holder detached (SQLAlchemy's `_finalize_fairy` with no
    /// record): reset (`terminate_only`), `close_detached`, close.
    pub(crate) async fn close_detached<I: Io>(&self, conn: C::Connection, state: ResetState) {
        let core = &self.core;
        // Terminated instead if the reset or a listener panics, or the future is dropped.
        let mut held = TerminateOnDrop { inner: self, conn: Some(conn) };
        let conn = held.conn.as_mut().expect("set just above");
        let state = ResetState { terminate_only: true, ..state };
        let reset = core.reset::<I>(conn, None, state).await;
        if let Err(err) = &reset {
            let shown = ErrorChain::new(&**err);
            tracing::error!(pool = %core.name(), "Exception during reset or similar: {shown}");
        }
        self.say_goodbye(held, reset.is_ok());
    }

    /// The end of a detached connection: `close_detached`, then a close (`graceful`) or
    /// a terminate.
    fn say_goodbye(&self, mut held: TerminateOnDrop<'_, C, S>, graceful: bool) {
        let core = &self.core;
        let conn = held.conn.as_mut().expect("present until here");
        if core.events.any() {
            for l in core.events.snapshot().iter() {
                l.close_detached(conn);
            }
        }
        let conn = held.conn.take().expect("present until here");
        tracing::debug!(pool = %core.name(), "Closing connection detached");
        let connector = core.connector();
        let result = if graceful { connector.close(conn) } else { connector.terminate(conn) };
        if let Err(err) = result {
            let shown = ErrorChain::new(&err);
            tracing::error!(pool = %core.name(), "Exception closing connection detached: {shown}");
        }
    }

    /// Closes a detached connection abruptly, without a reset or an event (an
    /// invalidation, or a return that cannot finish).
    pub(crate) fn terminate_detached(&self, conn: C::Connection) {
        if let Err(err) = self.core.connector().terminate(conn) {
            let shown = ErrorChain::new(&err);
            tracing::error!(pool = %self.core.name(), "Exception closing connection detached: {shown}");
        }
    }

    /// The return of a pooled connection checked out with `get_async` whose runtime shut
    /// down before the return could run (SQLAlchemy 2.0's cleanup of an asyncio
    /// connection the garbage collector finds): no I/O can run there, so the `reset`
    /// listeners hear `terminate_only` without `asyncio_safe`, no rollback is sent, and
    /// the connection is detached (its record goes back empty), then `close_detached`,
    /// then terminated. A failing `reset` listener invalidates it instead.
    #[cold]
    #[inline(never)]
    pub(crate) fn return_without_runtime(&self, entry: PoolEntry<C>, state: ResetState) {
        if std::thread::panicking() {
            return self.interrupted(entry);
        }
        let id = entry.inner.record.id;
        tracing::warn!(
            pool = %self.core.name(),
            "Connection {id} was dropped after the runtime it was checked out on shut down; \
             it is terminated without a reset. Return connections before their runtime ends."
        );
        let state = ResetState { terminate_only: true, asyncio_safe: false, ..state };
        let mut pending = Pending::new(self, entry);
        let e = &mut *pending.entry().inner;
        let conn = e.conn.as_mut().expect("a checked-out entry has a connection");
        if let Err(err) = now(self.core.reset::<Blocking>(conn, Some(&mut e.record), state)) {
            return self.after_reset(pending, Some(err));
        }
        let (conn, _info, heard) = self.detach_entry(pending.take());
        self.say_goodbye(TerminateOnDrop { inner: self, conn: Some(conn) }, false);
        heard.resume();
    }

    /// [`return_without_runtime`](Self::return_without_runtime) for a connection that was
    /// detached already: the `reset` listeners, `close_detached`, terminate.
    #[cold]
    #[inline(never)]
    pub(crate) fn close_detached_without_runtime(&self, conn: C::Connection, state: ResetState) {
        if std::thread::panicking() {
            return self.terminate_detached(conn);
        }
        let state = ResetState { terminate_only: true, asyncio_safe: false, ..state };
        let mut held = TerminateOnDrop { inner: self, conn: Some(conn) };
        let conn = held.conn.as_mut().expect("set just above");
        if let Err(err) = now(self.core.reset::<Blocking>(conn, None, state)) {
            let shown = ErrorChain::new(&*err);
            tracing::error!(pool = %self.core.name(), "Exception during reset or similar: {shown}");
        }
        self.say_goodbye(held, false);
    }
}

/// A detached connection on its way to being closed: terminated if dropped before.
struct TerminateOnDrop<'a, C: Connector, S: Strategy<C>> {
    inner: &'a Inner<C, S>,
    conn: Option<C::Connection>,
}

impl<C: Connector, S: Strategy<C>> Drop for TerminateOnDrop<'_, C, S> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.inner.terminate_detached(conn);
        }
    }
}
