//! Tracing spans (issue 13, part 3): with a subscriber that records debug spans, each
//! checkout opens a `checkout` span (the pool's name, the record it hands out) with a
//! `wait`, `connect` or `pre_ping` span inside when those happen, and each return a
//! `return` span with the `reset` inside. Without such a subscriber no span is made.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use pool_conformance::Script;
use pool_queue::{QueueConfig, QueuePool};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One span: its name, its fields as `name=value`, and its parent's name.
#[derive(Debug, Clone, PartialEq)]
struct SpanSeen {
    name: &'static str,
    fields: String,
    parent: Option<&'static str>,
}

#[derive(Default)]
struct State {
    next: u64,
    names: HashMap<u64, &'static str>,
    spans: Vec<SpanSeen>,
    /// Each thread's entered spans, innermost last.
    stacks: HashMap<ThreadId, Vec<u64>>,
}

/// A subscriber that records every span and the span it was opened in; `info_only`
/// makes it say it wants nothing below info (as a production subscriber at info does).
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<State>>, Arc<AtomicU64>, bool);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        write!(self.0, "{}={value:?} ", field.name()).unwrap();
    }
}

impl Subscriber for Spans {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        !self.2 || *meta.level() <= tracing::Level::INFO
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(if self.2 {
            tracing::level_filters::LevelFilter::INFO
        } else {
            tracing::level_filters::LevelFilter::DEBUG
        })
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut st = self.0.lock().unwrap();
        st.next += 1;
        let id = st.next;
        let name = attrs.metadata().name();
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        let parent = st
            .stacks
            .get(&thread::current().id())
            .and_then(|s| s.last())
            .and_then(|p| st.names.get(p).copied());
        st.names.insert(id, name);
        st.spans.push(SpanSeen { name, fields: fields.0.trim_end().to_owned(), parent });
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, id: &Id) {
        let mut st = self.0.lock().unwrap();
        st.stacks.entry(thread::current().id()).or_default().push(id.into_u64());
    }
    fn exit(&self, id: &Id) {
        let mut st = self.0.lock().unwrap();
        let stack = st.stacks.entry(thread::current().id()).or_default();
        if let Some(at) = stack.iter().rposition(|s| *s == id.into_u64()) {
            stack.remove(at);
        }
    }
}

impl Spans {
    fn seen(&self) -> Vec<SpanSeen> {
        self.0.lock().unwrap().spans.clone()
    }
}

#[test]
fn checkouts_and_returns_open_spans_with_what_they_did_inside() {
    let spans = Spans::default();
    let script = Script::new();
    let pool = QueuePool::builder(script.connector())
        .logging_name("traced")
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .pre_ping(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(spans.clone(), || {
        let first = pool.get().expect("opens one");
        drop(first);
        let second = pool.get().expect("the idle one, pinged");
        // A checkout that waits for it.
        thread::scope(|s| {
            let waiter = s.spawn(|| {
                tracing::subscriber::with_default(spans.clone(), || {
                    drop(pool.get_timeout(Duration::from_secs(5)).expect("after the wait"))
                })
            });
            thread::sleep(Duration::from_millis(50));
            drop(second);
            waiter.join().unwrap();
        });
    });
    let seen = spans.seen();
    let named = |name: &str| seen.iter().filter(|s| s.name == name).cloned().collect::<Vec<_>>();
    let checkouts = named("checkout");
    assert_eq!(checkouts.len(), 3, "{seen:#?}");
    assert!(checkouts.iter().all(|s| s.fields.contains("pool=traced")), "{checkouts:?}");
    assert_eq!(named("connect").len(), 1, "one connect: {seen:#?}");
    assert_eq!(named("connect")[0].parent, Some("checkout"));
    assert_eq!(named("pre_ping").len(), 2, "the second and third checkouts ping");
    assert!(named("pre_ping").iter().all(|s| s.parent == Some("checkout")));
    assert_eq!(named("wait").len(), 1, "{seen:#?}");
    assert_eq!(named("wait")[0].parent, Some("checkout"));
    let returns = named("return");
    assert_eq!(returns.len(), 3);
    assert!(returns.iter().all(|s| s.fields.contains("pool=traced") && s.fields.contains("conn=")));
    let resets = named("reset");
    assert_eq!(resets.len(), 3, "a rollback per return: {seen:#?}");
    assert!(resets.iter().all(|s| s.parent == Some("return") && s.fields.contains("rollback")));
    assert!(spans.1.load(Ordering::Relaxed) >= 3, "each checkout records its connection");
}

#[test]
fn no_span_under_a_subscriber_at_info() {
    let script = Script::new();
    let pool = QueuePool::builder(script.connector()).pre_ping(true).build().unwrap();
    let info = Spans(Arc::default(), Arc::default(), true);
    tracing::subscriber::with_default(info.clone(), || {
        drop(pool.get().unwrap());
        drop(pool.get().unwrap());
    });
    assert_eq!(info.seen(), vec![], "the checkout and return paths made no span");
    let debug = Spans::default();
    tracing::subscriber::with_default(debug.clone(), || drop(pool.get().unwrap()));
    assert_eq!(debug.seen().iter().filter(|s| s.name == "checkout").count(), 1);
}

/// A task waits for the one connection another task holds: its `get_async` opens a
/// `wait` span inside its `checkout` span; a checkout that finds the connection free
/// opens none.
async fn an_async_wait_is_a_span<
    S: pool_core::AsyncStrategy<pool_conformance::ScriptedConnector>,
>(
    pool: pool_core::Pool<pool_conformance::ScriptedConnector, S>,
) {
    let held = pool.get_async().await.expect("free: no wait");
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { drop(pool.get_async().await.expect("after the wait")) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(held);
    waiter.await.expect("the waiter");
}

#[test]
fn async_waits_open_a_wait_span_in_every_waiting_strategy() {
    let script = Script::new();
    let queue = QueuePool::builder(script.connector())
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .unwrap();
    let single = pool_static::StaticPool::builder(script.connector()).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for name in ["QueuePool", "StaticPool"] {
        let spans = Spans::default();
        tracing::subscriber::with_default(spans.clone(), || {
            runtime.block_on(async {
                match name {
                    "QueuePool" => an_async_wait_is_a_span(queue.clone()).await,
                    _ => an_async_wait_is_a_span(single.clone()).await,
                }
            })
        });
        let seen = spans.seen();
        let waits: Vec<_> = seen.iter().filter(|s| s.name == "wait").collect();
        assert_eq!(waits.len(), 1, "{name}: one checkout waited: {seen:#?}");
        assert_eq!(waits[0].parent, Some("checkout"), "{name}");
        assert_eq!(seen.iter().filter(|s| s.name == "checkout").count(), 2, "{name}");
    }
}
