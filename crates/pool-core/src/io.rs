//! The two ways the core performs a connector's I/O: by calling its blocking methods, or
//! by awaiting its `_async` twins.
//!
//! The checkout and checkin paths are written once, as `async fn`s generic over [`Io`].
//! The blocking front end ([`Pool::get`](crate::Pool::get), dropping a connection)
//! drives them with [`now`]: every future of [`Blocking`] is ready when created, so one
//! poll finishes the whole path. The async front end awaits them with [`NonBlocking`].

use std::future::{self, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::timeouts::{bounded, connect_on_thread, Operation, OperationTimeout};
use crate::Connector;

/// How the core calls a connector's I/O, each operation within its bound (`None`: no
/// bound); an operation past its bound ends with [`OperationTimeout`].
pub(crate) trait Io: 'static {
    fn connect<C: Connector>(
        c: &Arc<C>,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Result<C::Connection, C::Error>>> + Send;

    fn ping<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Option<Result<(), C::Error>>>> + Send + 'a;

    fn rollback<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Result<(), C::Error>>> + Send + 'a;

    fn commit<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Result<(), C::Error>>> + Send + 'a;

    /// A pause of `period` (between connect attempts).
    fn sleep(period: Duration) -> impl Future<Output = ()> + Send;
}

/// An operation's outcome, or the timeout that ended it.
pub(crate) type Timed<T> = Result<T, OperationTimeout>;

/// The connector's blocking methods, each wrapped in a ready future. A bounded connect
/// runs on a thread of its own (unless the connector is [`LOCAL`](Connector::LOCAL));
/// bounded pings and resets run on the calling thread through the connector's `_within`
/// methods, which bound them where its driver can.
pub(crate) struct Blocking;

impl Io for Blocking {
    fn connect<C: Connector>(
        c: &Arc<C>,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Result<C::Connection, C::Error>>> + Send {
        future::ready(match bound {
            Some(bound) if !C::LOCAL => connect_on_thread(c, bound),
            _ => Ok(c.connect()),
        })
    }

    fn ping<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Option<Result<(), C::Error>>>> + Send + 'a {
        future::ready(match bound {
            Some(bound) => c.ping_within(conn, bound),
            None => Ok(c.ping(conn)),
        })
    }

    fn rollback<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Result<(), C::Error>>> + Send + 'a {
        future::ready(rollback_now(c, conn, bound))
    }

    fn commit<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Result<(), C::Error>>> + Send + 'a {
        future::ready(commit_now(c, conn, bound))
    }

    /// Sleeps the calling thread, then is ready.
    fn sleep(period: Duration) -> impl Future<Output = ()> + Send {
        std::thread::sleep(period);
        future::ready(())
    }
}

/// The connector's blocking rollback, within `bound` if any.
#[inline]
pub(crate) fn rollback_now<C: Connector>(
    c: &C,
    conn: &mut C::Connection,
    bound: Option<Duration>,
) -> Timed<Result<(), C::Error>> {
    match bound {
        Some(bound) => c.rollback_within(conn, bound),
        None => Ok(c.rollback(conn)),
    }
}

/// The connector's blocking commit, within `bound` if any.
#[inline]
pub(crate) fn commit_now<C: Connector>(
    c: &C,
    conn: &mut C::Connection,
    bound: Option<Duration>,
) -> Timed<Result<(), C::Error>> {
    match bound {
        Some(bound) => c.commit_within(conn, bound),
        None => Ok(c.commit(conn)),
    }
}

/// The connector's `_async` methods, each within its bound.
pub(crate) struct NonBlocking;

impl Io for NonBlocking {
    fn connect<C: Connector>(
        c: &Arc<C>,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Result<C::Connection, C::Error>>> + Send {
        bounded(c.connect_async(), bound, Operation::Connect)
    }

    fn ping<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Option<Result<(), C::Error>>>> + Send + 'a {
        bounded(c.ping_async(conn), bound, Operation::Ping)
    }

    fn rollback<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Result<(), C::Error>>> + Send + 'a {
        bounded(c.rollback_async(conn), bound, Operation::Reset)
    }

    fn commit<'a, C: Connector>(
        c: &'a C,
        conn: &'a mut C::Connection,
        bound: Option<Duration>,
    ) -> impl Future<Output = Timed<Result<(), C::Error>>> + Send + 'a {
        bounded(c.commit_async(conn), bound, Operation::Reset)
    }

    fn sleep(period: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(period)
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
