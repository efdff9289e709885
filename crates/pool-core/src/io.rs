//! The two ways the core performs a connector's I/O: by calling its blocking methods, or
//! by awaiting its `_async` twins.
//!
//! The checkout and checkin paths are written once, as `async fn`s generic over [`Io`].
//! The blocking front end ([`Pool::get`](crate::Pool::get), dropping a connection)
//! drives them with [`now`]: every future of [`Blocking`] is ready when created, so one
//! poll finishes the whole path. The async front end awaits them with [`NonBlocking`].

use std::future::{self, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::Connector;

/// How the core calls a connector's I/O.
pub(crate) trait Io: 'static {
    fn connect<C: Connector>(c: &C)
        -> impl Future<Output = Result<C::Connection, C::Error>> + Send;

    fn ping<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
    ) -> impl Future<Output = Option<Result<(), C::Error>>> + Send + 'a;

    fn rollback<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
    ) -> impl Future<Output = Result<(), C::Error>> + Send + 'a;

    fn commit<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
    ) -> impl Future<Output = Result<(), C::Error>> + Send + 'a;
}

/// The connector's blocking methods, each wrapped in a ready future.
pub(crate) struct Blocking;

impl Io for Blocking {
    fn connect<C: Connector>(
        c: &C,
    ) -> impl Future<Output = Result<C::Connection, C::Error>> + Send {
        future::ready(c.connect())
    }

    fn ping<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
    ) -> impl Future<Output = Option<Result<(), C::Error>>> + Send + 'a {
        future::ready(c.ping(conn))
    }

    fn rollback<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
    ) -> impl Future<Output = Result<(), C::Error>> + Send + 'a {
        future::ready(c.rollback(conn))
    }

    fn commit<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
    ) -> impl Future<Output = Result<(), C::Error>> + Send + 'a {
        future::ready(c.commit(conn))
    }
}

/// The connector's `_async` methods.
pub(crate) struct NonBlocking;

impl Io for NonBlocking {
    fn connect<C: Connector>(
        c: &C,
    ) -> impl Future<Output = Result<C::Connection, C::Error>> + Send {
        c.connect_async()
    }

    fn ping<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
    ) -> impl Future<Output = Option<Result<(), C::Error>>> + Send + 'a {
        c.ping_async(conn)
    }

    fn rollback<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
    ) -> impl Future<Output = Result<(), C::Error>> + Send + 'a {
        c.rollback_async(conn)
    }

    fn commit<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
    ) -> impl Future<Output = Result<(), C::Error>> + Send + 'a {
        c.commit_async(conn)
    }
}

/// Runs a path of the core that performs its I/O with [`Blocking`] to its end.
///
/// Such a path awaits only ready futures, so the first poll finishes it.
pub(crate) fn now<F: Future>(fut: F) -> F::Output {
    let fut = pin!(fut);
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("a blocking path of the core awaits only ready futures"),
    }
}
