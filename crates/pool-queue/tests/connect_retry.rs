//! `connect_retry` (issue 12, part 7) on QueuePool's two front ends, with a connector
//! whose connects fail a chosen number of times: a checkout keeps retrying a connect that
//! fails with a disconnect until the period ends, fails at once on any other error, and
//! at the end carries the last connect error. The default fails at once. (Durations are
//! asserted with margins of seconds; nothing here asserts speed.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_core::{CheckoutError, Connector};
use pool_queue::{QueueConfig, QueuePool};

/// How a failing connect fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The server is not there (a disconnect): worth retrying.
    Refused,
    /// The server said no (not a disconnect): retrying cannot help.
    Denied,
}

#[derive(Debug)]
struct Failed {
    kind: Kind,
    attempt: usize,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} on attempt {}", self.kind, self.attempt)
    }
}

impl std::error::Error for Failed {}

/// Fails the first `failures` connects with `kind`, then connects.
#[derive(Debug, Clone)]
struct Flaky {
    failures: usize,
    kind: Kind,
    attempts: Arc<AtomicUsize>,
}

impl Flaky {
    fn new(failures: usize, kind: Kind) -> Self {
        Flaky { failures, kind, attempts: Arc::default() }
    }

    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

impl Connector for Flaky {
    type Connection = usize;
    type Error = Failed;
    const LOCAL: bool = true;

    fn connect(&self) -> Result<usize, Failed> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if attempt <= self.failures {
            return Err(Failed { kind: self.kind, attempt });
        }
        Ok(attempt)
    }

    fn rollback(&self, _conn: &mut usize) -> Result<(), Failed> {
        Ok(())
    }

    fn commit(&self, _conn: &mut usize) -> Result<(), Failed> {
        Ok(())
    }

    fn is_disconnect(&self, error: &Failed) -> bool {
        error.kind == Kind::Refused
    }
}

fn pool(connector: &Flaky, retry: Option<Duration>) -> QueuePool<Flaky> {
    QueuePool::builder(connector.clone())
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .connect_retry(retry)
        .build()
        .expect("valid settings")
}

const LONG: Duration = Duration::from_secs(30);
/// Far less than [`LONG`]: a checkout that took longer waited out the whole period.
const PROMPT: Duration = Duration::from_secs(10);

#[test]
fn a_refused_connect_is_retried_until_it_succeeds() {
    let connector = Flaky::new(3, Kind::Refused);
    let pool = pool(&connector, Some(LONG));
    let asked = Instant::now();
    let conn = pool.get().expect("the fourth attempt connects");
    assert_eq!(*conn, 4);
    assert_eq!(connector.attempts(), 4);
    assert!(asked.elapsed() < PROMPT, "{:?}", asked.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connect_is_retried_until_it_succeeds_async() {
    let connector = Flaky::new(3, Kind::Refused);
    let pool = pool(&connector, Some(LONG));
    let conn = pool.get_async().await.expect("the fourth attempt connects");
    assert_eq!(*conn, 4);
    assert_eq!(connector.attempts(), 4);
}

#[test]
fn an_error_that_is_not_a_disconnect_fails_at_once() {
    let connector = Flaky::new(3, Kind::Denied);
    let pool = pool(&connector, Some(LONG));
    match pool.get() {
        Err(CheckoutError::Connect(e)) => assert_eq!((e.kind, e.attempt), (Kind::Denied, 1)),
        other => panic!("expected the connect error: {:?}", other.map(|c| *c)),
    }
    assert_eq!(connector.attempts(), 1);
    assert_eq!(pool.status().checked_out, 0);
}

#[test]
fn past_the_period_the_checkout_fails_with_the_last_error() {
    let period = Duration::from_millis(300);
    for front_end in ["blocking", "async"] {
        let connector = Flaky::new(usize::MAX, Kind::Refused);
        let pool = pool(&connector, Some(period));
        let asked = Instant::now();
        let result = match front_end {
            "blocking" => pool.get().map(|c| *c),
            _ => {
                let rt = tokio::runtime::Runtime::new().expect("a runtime");
                rt.block_on(pool.get_async()).map(|c| *c)
            }
        };
        let took = asked.elapsed();
        let attempts = connector.attempts();
        match result {
            Err(CheckoutError::Connect(e)) => {
                assert_eq!(e.attempt, attempts, "{front_end}: the last attempt's error");
            }
            other => panic!("{front_end}: expected the connect error: {other:?}"),
        }
        assert!(attempts >= 3, "{front_end}: retried with a backoff: {attempts} attempts");
        assert!(took >= period, "{front_end}: gave up after {took:?}, before {period:?}");
        assert!(took < PROMPT, "{front_end}: retried for {took:?}");
        assert_eq!(pool.status().checked_out, 0, "{front_end}");
        assert_eq!(pool.status().overflow, -1, "{front_end}: the slot was freed");
    }
}

#[test]
fn without_the_setting_a_refused_connect_fails_at_once() {
    let connector = Flaky::new(1, Kind::Refused);
    let pool = pool(&connector, None);
    assert!(matches!(pool.get(), Err(CheckoutError::Connect(_))));
    assert_eq!(connector.attempts(), 1);
    assert_eq!(*pool.get().expect("the next checkout connects"), 2);
    assert_eq!(pool.config().connect_retry(), None);
}

#[test]
fn a_zero_period_is_refused_at_build() {
    let err = QueuePool::builder(Flaky::new(0, Kind::Refused))
        .connect_retry(Duration::ZERO)
        .build()
        .expect_err("zero is refused");
    assert!(err.to_string().contains("connect_retry is zero"), "{err}");
}
