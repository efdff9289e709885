//! The checked-out connection (SQLAlchemy's `_ConnectionFairy`).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::mem;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;

use tracing::Instrument;

use crate::events::{ErrorOrigin, ResetState};
use crate::io::{now, Blocking, Io, NonBlocking};
use crate::pool::{Inner, Invalidation, Pool};
use crate::record::{ConnectionRecord, Info, PoolEntry};
use crate::strategy::Strategy;
use crate::Connector;

/// A connection checked out of a [`Pool`]; dropping it returns the connection.
///
/// It dereferences to the connection. Returning it resets the connection (rollback by
/// default), runs the finalizers and the `checkin` listeners, and gives it back to the
/// strategy. Its own operations are associated functions (`PooledConnection::detach(&mut
/// conn)`), so they never hide a method of the connection.
///
/// A closed connection cannot be used or closed again: [`close`](Self::close) and
/// [`invalidate`](Self::invalidate) take it by value.
///
/// ```compile_fail
/// # fn f<C: pool_core::Connector, S: pool_core::Strategy<C>>(c: pool_core::PooledConnection<C, S>) {
/// pool_core::PooledConnection::close(c);
/// pool_core::PooledConnection::close(c); // error: use of moved value
/// # }
/// ```
///
/// # Differences from SQLAlchemy
///
/// - Dropping is the deterministic version of SQLAlchemy's garbage-collector return: it
///   resets and checks in at once, for sync and async users alike.
/// - A double checkin cannot be written, so there is no "Double checkin attempted" warning.
/// - After [`detach`](Self::detach) the connection's `info` moves into this handle
///   rather than being copied (values of arbitrary types cannot be cloned); the record's
///   finalizers are dropped with the connection they were registered for.
#[must_use = "dropping a PooledConnection returns it to the pool at once"]
pub struct PooledConnection<C: Connector, S: Strategy<C>> {
    pool: Pool<C, S>,
    held: Held<C>,
    echo: bool,
    /// Checked out inside a `checkout` span (a subscriber recorded debug spans then): the
    /// return makes its `return` span. Decided once, at checkout, so an untraced return
    /// reads no global level.
    traced: bool,
    nesting: u32,
    /// Set for connections checked out with `get_async`: their return awaits the
    /// connector's `_async` reset, run by the strategy's `AsyncStrategy::run_return`.
    spawn: Option<RunReturn<C, S>>,
}

/// Hands the return of an async checkout to the strategy.
pub(crate) type RunReturn<C, S> = fn(&Pool<C, S>, Pin<Box<dyn Future<Output = ()> + Send>>);

/// What a handle holds. A detached connection is boxed, so that moving a `Held` (at
/// every return) copies two words, not the connection.
enum Held<C: Connector> {
    Pooled(PoolEntry<C>),
    Detached(Box<Detached<C>>),
    Returned,
}

/// A connection taken out of the pool by `detach`, with the `info` that went with it.
struct Detached<C: Connector> {
    conn: C::Connection,
    info: Info,
}

impl<C: Connector, S: Strategy<C>> PooledConnection<C, S> {
    pub(crate) fn new(
        pool: Pool<C, S>,
        entry: PoolEntry<C>,
        echo: bool,
        spawn: Option<RunReturn<C, S>>,
    ) -> Self {
        PooledConnection { pool, held: Held::Pooled(entry), echo, traced: false, nesting: 1, spawn }
    }

    /// Marks a connection checked out inside a `checkout` span: its return makes a
    /// `return` span.
    pub(crate) fn trace_return(this: &mut Self) {
        this.traced = true;
    }

    /// Returns the connection to the pool now; the same as dropping it.
    pub fn close(this: Self) {
        drop(this);
    }

    /// Returns the connection, saying its holder already ended its transaction: the
    /// rollback of reset-on-return is skipped (the `reset` event still fires, and commit
    /// mode still commits, as in SQLAlchemy's `_close_special(transaction_reset=True)`).
    pub fn close_after_reset(mut this: Self) {
        this.check_in(ResetState { transaction_was_reset: true, ..ResetState::default() });
    }

    /// Invalidates the connection: it is closed (after the `invalidate` and `close`
    /// events), and its record goes back to the pool empty, to reconnect at its next
    /// checkout. A detached connection is simply closed.
    pub fn invalidate(mut this: Self, reason: Option<&(dyn StdError + 'static)>) {
        let inner = &*this.pool.inner;
        match mem::replace(&mut this.held, Held::Returned) {
            Held::Pooled(entry) => inner.checkin_failed(entry, reason, true),
            Held::Detached(detached) => {
                tracing::info!(pool = %inner.core.name(), "Invalidate detached connection");
                inner.terminate_detached(detached.conn);
            }
            Held::Returned => {}
        }
    }

    /// Marks the connection for replacement at its next checkout and keeps it usable now
    /// (the `soft_invalidate` event fires). Does nothing to a detached connection.
    pub fn soft_invalidate(this: &mut Self, reason: Option<&(dyn StdError + 'static)>) {
        if let Held::Pooled(entry) = &mut this.held {
            this.pool.inner.core.invalidate(entry, reason, Invalidation::Soft, true);
        }
    }

    /// Invalidates this connection and every connection of the pool opened before it
    /// (SQLAlchemy's `pool._invalidate(connection)`): each is replaced at its next
    /// checkout.
    pub fn invalidate_pool(this: Self, reason: Option<&(dyn StdError + 'static)>) {
        if let Held::Pooled(entry) = &this.held {
            this.pool.inner.core.invalidate_generation_of(entry.inner.record.generation);
        }
        Self::invalidate(this, reason);
    }

    /// Takes an error the application got from this connection and decides whether it
    /// means the connection is gone, as SQLAlchemy's engine does: first
    /// [`Connector::is_disconnect`] (when `error` is the connector's error type), then
    /// every listener's [`handle_error`](crate::PoolListener::handle_error), which may
    /// change the verdict and whether it invalidates the pool.
    ///
    /// On a disconnect this connection is invalidated (closed, its slot returned), and
    /// with it every connection of the pool opened before it unless a listener said
    /// otherwise; it returns `None`. Otherwise the connection is handed back, still
    /// checked out.
    ///
    /// `error` can be any error, not only the connector's: an ORM's error wrapping the
    /// driver's, say, which a listener then recognises.
    ///
    /// ```text
    /// match conn.execute("…") {
    ///     Err(e) => match PooledConnection::handle_error(conn, &e) {
    ///         None => { /* gone: check out another and retry */ }
    ///         Some(conn) => { /* still usable */ }
    ///     },
    ///     Ok(_) => {}
    /// }
    /// ```
    pub fn handle_error(this: Self, error: &(dyn StdError + 'static)) -> Option<Self> {
        let core = &this.pool.inner.core;
        let known =
            error.downcast_ref::<C::Error>().is_some_and(|e| core.connector().is_disconnect(e));
        let verdict = core.judge(error, ErrorOrigin::Holder, known, true);
        if !verdict.disconnect {
            return Some(this);
        }
        if verdict.invalidate_pool {
            Self::invalidate_pool(this, Some(error));
        } else {
            Self::invalidate(this, Some(error));
        }
        None
    }

    /// Separates the connection from the pool: the record goes back empty (and counts as
    /// idle), the connection stays with this handle, outside the pool's limits, and is
    /// closed when the handle is dropped (after a reset and `close_detached`).
    pub fn detach(this: &mut Self) {
        if !matches!(this.held, Held::Pooled(_)) {
            return;
        }
        let Held::Pooled(entry) = mem::replace(&mut this.held, Held::Returned) else {
            unreachable!("checked above")
        };
        let (conn, info, heard) = this.pool.inner.detach_entry(entry);
        this.held = Held::Detached(Box::new(Detached { conn, info }));
        heard.resume();
    }

    /// Whether [`detach`](Self::detach) was called.
    pub fn is_detached(this: &Self) -> bool {
        matches!(this.held, Held::Detached(_))
    }

    /// State that belongs to this connection (the record's `info`, or this handle's own
    /// after a detach).
    pub fn info(this: &Self) -> &Info {
        match &this.held {
            Held::Pooled(entry) => &entry.inner.record.info,
            Held::Detached(detached) => &detached.info,
            Held::Returned => unreachable!("a returned connection cannot be reached"),
        }
    }

    /// State that belongs to this connection, mutably.
    pub fn info_mut(this: &mut Self) -> &mut Info {
        match &mut this.held {
            Held::Pooled(entry) => &mut entry.inner.record.info,
            Held::Detached(detached) => &mut detached.info,
            Held::Returned => unreachable!("a returned connection cannot be reached"),
        }
    }

    /// State that lives as long as the record; `None` once detached.
    pub fn record_info(this: &Self) -> Option<&Info> {
        Self::record(this).map(|r| &r.record_info)
    }

    /// State that lives as long as the record, mutably; `None` once detached.
    pub fn record_info_mut(this: &mut Self) -> Option<&mut Info> {
        Self::record_mut(this).map(|r| &mut r.record_info)
    }

    /// The record; `None` once detached.
    pub fn record(this: &Self) -> Option<&ConnectionRecord<C>> {
        match &this.held {
            Held::Pooled(entry) => Some(&entry.inner.record),
            _ => None,
        }
    }

    /// The record, mutably (to add a finalizer, say); `None` once detached.
    pub fn record_mut(this: &mut Self) -> Option<&mut ConnectionRecord<C>> {
        match &mut this.held {
            Held::Pooled(entry) => Some(&mut entry.inner.record),
            _ => None,
        }
    }

    /// How many holders share this connection: 1, plus one per live
    /// [`nest`](Self::nest) handle.
    pub fn nesting(this: &Self) -> u32 {
        this.nesting
    }

    /// A nested hold on the same connection (SQLAlchemy's re-entrant checkout on one
    /// thread): it derefs to the connection, counts in [`nesting`](Self::nesting), and
    /// returns nothing when dropped; only the outermost holder resets and returns it.
    ///
    /// The borrow checker plays the part of SQLAlchemy's counter: the outer handle cannot
    /// be used or returned while a nested one lives.
    ///
    /// ```
    /// # use pool_core::{Connector, Pool, PooledConnection, Strategy};
    /// # fn f<C: Connector, S: Strategy<C>>(pool: &Pool<C, S>) {
    /// let mut outer = pool.get().unwrap();
    /// {
    ///     let inner = PooledConnection::nest(&mut outer);
    ///     assert_eq!(PooledConnection::nesting(inner.outer()), 2);
    /// } // no reset here
    /// assert_eq!(PooledConnection::nesting(&outer), 1);
    /// drop(outer); // reset and returned here
    /// # }
    /// ```
    pub fn nest(this: &mut Self) -> Nested<'_, C, S> {
        this.nesting += 1;
        Nested { outer: this }
    }

    /// The pool this connection came from.
    pub fn pool(this: &Self) -> &Pool<C, S> {
        &this.pool
    }

    fn check_in(&mut self, state: ResetState) {
        if std::thread::panicking() {
            return self.check_in_unwinding();
        }
        if self.traced {
            return self.check_in_traced(state);
        }
        self.check_in_untraced(state);
    }

    /// The return of a connection dropped while its thread unwinds from a panic: its
    /// holder stopped half way, so the connection's state is unknown (a transaction
    /// open, a driver interrupted mid-message). It is closed abruptly, without a reset
    /// and without listeners (a second panic would abort the process), and its slot
    /// freed.
    #[cold]
    #[inline(never)]
    fn check_in_unwinding(&mut self) {
        let inner = &*self.pool.inner;
        match mem::replace(&mut self.held, Held::Returned) {
            Held::Pooled(entry) => inner.interrupted(entry),
            Held::Detached(detached) => inner.terminate_detached(detached.conn),
            Held::Returned => {}
        }
    }

    /// [`check_in`](Self::check_in) inside a `return` span (the pool's name, the record),
    /// for when a subscriber records debug spans. Every return then takes the general
    /// path, whose reset opens a `reset` span.
    #[cold]
    #[inline(never)]
    fn check_in_traced(&mut self, state: ResetState) {
        let record = match &self.held {
            Held::Pooled(entry) => Some(entry.inner.record.id),
            _ => None,
        };
        let span =
            tracing::debug_span!("return", pool = %self.pool.inner.core.name(), conn = record);
        let _in = span.enter();
        let held = mem::replace(&mut self.held, Held::Returned);
        if matches!(held, Held::Returned) {
            return;
        }
        let echo = self.echo;
        match self.spawn {
            None => now(give_back::<Blocking, C, S>(&self.pool.inner, held, state, echo)),
            Some(run_return) => {
                let task = Box::pin(self.async_return(held, state).instrument(span.clone()));
                run_return(&self.pool, task);
            }
        }
    }

    #[inline(always)]
    fn check_in_untraced(&mut self, state: ResetState) {
        let held = mem::replace(&mut self.held, Held::Returned);
        if matches!(held, Held::Returned) {
            return;
        }
        let echo = self.echo;
        match self.spawn {
            None => match held {
                Held::Pooled(entry) => self.pool.inner.checkin_now(entry, state, echo),
                held => now(give_back::<Blocking, C, S>(&self.pool.inner, held, state, echo)),
            },
            Some(run_return) => {
                let task = Box::pin(self.async_return(held, state));
                run_return(&self.pool, task);
            }
        }
    }

    /// The return of a connection checked out with `get_async`, as a task for the
    /// strategy's `run_return`. If the task is dropped before it first runs (its runtime
    /// shut down), the return runs without I/O instead ([`Unstarted`]).
    fn async_return(
        &self,
        held: Held<C>,
        state: ResetState,
    ) -> impl Future<Output = ()> + Send + 'static {
        let mut unstarted = Unstarted { pool: self.pool.clone(), held, state };
        let echo = self.echo;
        async move {
            let held = mem::replace(&mut unstarted.held, Held::Returned);
            give_back::<NonBlocking, C, S>(&unstarted.pool.inner, held, state, echo).await
        }
    }
}

/// What an async return holds until its task first runs. Dropped before that (its
/// runtime shut down, so the task never will), it returns the connection without I/O:
/// [`Inner::return_without_runtime`] and [`Inner::close_detached_without_runtime`].
struct Unstarted<C: Connector, S: Strategy<C>> {
    pool: Pool<C, S>,
    held: Held<C>,
    state: ResetState,
}

impl<C: Connector, S: Strategy<C>> Drop for Unstarted<C, S> {
    fn drop(&mut self) {
        let inner = &*self.pool.inner;
        match mem::replace(&mut self.held, Held::Returned) {
            Held::Pooled(entry) => inner.return_without_runtime(entry, self.state),
            Held::Detached(detached) => {
                inner.close_detached_without_runtime(detached.conn, self.state)
            }
            Held::Returned => {}
        }
    }
}

/// The return of what a connection handle held: reset and check in a pooled entry, or
/// reset and close a detached connection.
async fn give_back<I: Io, C: Connector, S: Strategy<C>>(
    inner: &Inner<C, S>,
    held: Held<C>,
    state: ResetState,
    echo: bool,
) {
    match held {
        Held::Pooled(entry) => inner.checkin::<I>(entry, state, echo).await,
        Held::Detached(detached) => inner.close_detached::<I>(detached.conn, state).await,
        Held::Returned => {}
    }
}

impl<C: Connector, S: Strategy<C>> Drop for PooledConnection<C, S> {
    fn drop(&mut self) {
        self.check_in(ResetState::default());
    }
}

impl<C: Connector, S: Strategy<C>> Deref for PooledConnection<C, S> {
    type Target = C::Connection;

    #[inline]
    fn deref(&self) -> &C::Connection {
        match &self.held {
            Held::Pooled(entry) => {
                entry.inner.conn.as_ref().expect("a checked-out entry has a connection")
            }
            Held::Detached(detached) => &detached.conn,
            Held::Returned => unreachable!("a returned connection cannot be reached"),
        }
    }
}

impl<C: Connector, S: Strategy<C>> DerefMut for PooledConnection<C, S> {
    #[inline]
    fn deref_mut(&mut self) -> &mut C::Connection {
        match &mut self.held {
            Held::Pooled(entry) => {
                entry.inner.conn.as_mut().expect("a checked-out entry has a connection")
            }
            Held::Detached(detached) => &mut detached.conn,
            Held::Returned => unreachable!("a returned connection cannot be reached"),
        }
    }
}

impl<C: Connector, S: Strategy<C>> fmt::Debug for PooledConnection<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PooledConnection");
        match &self.held {
            Held::Pooled(entry) => d.field("record", &entry.inner.record),
            Held::Detached(_) => d.field("detached", &true),
            Held::Returned => d.field("returned", &true),
        };
        d.field("nesting", &self.nesting).finish()
    }
}

/// A nested hold on a checked-out connection; see [`PooledConnection::nest`].
#[must_use = "a nested hold does nothing unless used"]
pub struct Nested<'a, C: Connector, S: Strategy<C>> {
    outer: &'a mut PooledConnection<C, S>,
}

impl<C: Connector, S: Strategy<C>> Nested<'_, C, S> {
    /// The outer handle (for its `info`, record and nesting count).
    pub fn outer(&self) -> &PooledConnection<C, S> {
        self.outer
    }
}

impl<C: Connector, S: Strategy<C>> Deref for Nested<'_, C, S> {
    type Target = C::Connection;

    fn deref(&self) -> &C::Connection {
        self.outer
    }
}

impl<C: Connector, S: Strategy<C>> DerefMut for Nested<'_, C, S> {
    fn deref_mut(&mut self) -> &mut C::Connection {
        self.outer
    }
}

impl<C: Connector, S: Strategy<C>> Drop for Nested<'_, C, S> {
    fn drop(&mut self) {
        self.outer.nesting -= 1;
    }
}

impl<C: Connector, S: Strategy<C>> fmt::Debug for Nested<'_, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nested").field("outer", &self.outer).finish()
    }
}
