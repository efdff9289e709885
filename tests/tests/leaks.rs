//! Leak detection (issue 13, part 4): a connection held past `leak_threshold` is listed
//! by `Pool::leaks` with the backtrace of its checkout, reported once as a warning by
//! the pool's worker (on its own thread, so this binary's one test installs a global
//! subscriber), and reported again as returned when it comes back; on every strategy
//! (NullPool, SingletonThreadPool and AssertionPool have no idle connections but still a
//! worker for this), and through `get_async`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool_conformance::observe::eventually;
use pool_conformance::Script;
use pool_core::{Connector, Pool, PooledConnection, Strategy};
use pool_null::NullPool;
use pool_queue::QueuePool;
use pool_singleton_thread::SingletonThreadPool;
use pool_static::{AssertionPool, StaticPool};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Keeps the messages of warnings and info lines about leaks.
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<(Level, String)>>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            write!(self.0, "{value:?}").unwrap();
        }
    }
}

impl Subscriber for Reports {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= Level::INFO
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        if m.0.contains("leak") {
            self.0.lock().unwrap().push((*event.metadata().level(), m.0));
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// `held`, checked out by the caller, is reported as a leak. `concurrent`: the pool
/// hands this thread a second connection meanwhile, returned at once (never a leak).
fn held_too_long<C: Connector, S: Strategy<C>>(
    pool: &Pool<C, S>,
    held: PooledConnection<C, S>,
    concurrent: bool,
    reports: &Reports,
    test: &str,
) {
    if concurrent {
        drop(pool.get().unwrap());
    }
    eventually("the leak is listed", || pool.leaks().len() == 1);
    let leak = pool.leaks().remove(0);
    assert!(leak.held >= Duration::from_millis(50));
    let trace = leak.backtrace.to_string();
    assert!(trace.contains(test), "the backtrace names the checkout's caller {test}: {trace}");
    eventually("the warning", || !reports.0.lock().unwrap().is_empty());
    drop(held);
    assert!(pool.leaks().is_empty(), "returned");
    let seen = reports.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one warning, one line for the return: {seen:?}");
    assert_eq!(seen[0].0, Level::WARN);
    assert!(seen[0].1.starts_with("Possible connection leak: connection "), "{seen:?}");
    assert!(seen[0].1.contains(test), "the warning carries the backtrace: {seen:?}");
    assert_eq!(seen[1].0, Level::INFO);
    assert!(seen[1].1.contains("reported as leaked was returned after"), "{seen:?}");
    reports.0.lock().unwrap().clear();
}

#[test]
fn a_connection_held_past_leak_threshold_is_reported_once_with_its_checkout() {
    let reports = Reports::default();
    tracing::subscriber::set_global_default(reports.clone()).unwrap();
    let threshold = Duration::from_millis(50);

    let script = Script::new();
    let test = "a_connection_held_past_leak_threshold_is_reported_once_with_its_checkout";
    let queue = QueuePool::builder(script.connector()).leak_threshold(threshold).build().unwrap();
    held_too_long(&queue, queue.get().unwrap(), true, &reports, test);

    let null = NullPool::builder(script.connector()).leak_threshold(threshold).build().unwrap();
    held_too_long(&null, null.get().unwrap(), true, &reports, test);

    let single = StaticPool::builder(script.connector()).leak_threshold(threshold).build().unwrap();
    held_too_long(&single, single.get().unwrap(), false, &reports, test);

    let assertion =
        AssertionPool::builder(script.connector()).leak_threshold(threshold).build().unwrap();
    held_too_long(&assertion, assertion.get().unwrap(), false, &reports, test);

    let per_thread =
        SingletonThreadPool::builder(script.connector()).leak_threshold(threshold).build().unwrap();
    held_too_long(&per_thread, per_thread.get().unwrap(), false, &reports, test);

    // Through the async front end: the backtrace names the task's code.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let held = runtime.block_on(async { queue.get_async().await.unwrap() });
    held_too_long(&queue, held, true, &reports, test);

    let err = QueuePool::builder(script.connector()).leak_threshold(Duration::ZERO).build();
    assert_eq!(err.expect_err("zero").setting(), "leak_threshold");
}
