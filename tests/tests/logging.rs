//! The pool logs through `tracing`, tagged with its logging name, at SQLAlchemy's levels:
//! info for invalidation and recycling, debug for checkouts and checkins only when `echo`
//! is `Debug`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use pool_conformance::{Reason, Script};
use pool_core::{Echo, PooledConnection};
use pool_queue::QueuePool;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One captured event: its level, its message, and its `pool` field.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    level: Level,
    message: String,
    pool: String,
}

/// A subscriber that keeps every event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Line>>>);

impl Capture {
    fn lines(&self) -> Vec<Line> {
        self.0.lock().unwrap().clone()
    }

    fn messages_at(&self, level: Level) -> Vec<String> {
        self.lines().into_iter().filter(|l| l.level == level).map(|l| l.message).collect()
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    pool: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => write!(self.message, "{value:?}").unwrap(),
            "pool" => write!(self.pool, "{value:?}").unwrap(),
            _ => {}
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        self.0.lock().unwrap().push(Line { level, message: fields.message, pool: fields.pool });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn invalidation_logs_at_info_with_the_logging_name() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let script = Script::new();
        let pool =
            QueuePool::builder(script.connector()).logging_name("orders").build().expect("valid");
        let conn = pool.get().expect("checkout");
        let id = PooledConnection::record(&conn).expect("attached").id();
        PooledConnection::invalidate(conn, Some(&Reason("server went away")));

        let info = capture.messages_at(Level::INFO);
        assert!(
            info.contains(&format!("Invalidate connection {id} (reason: server went away)")),
            "{info:?}"
        );
        assert!(capture.lines().iter().all(|l| l.pool == "orders"), "{:?}", capture.lines());
    });
}

#[test]
fn checkouts_log_at_debug_only_when_echo_is_debug() {
    for (echo, expected) in [(Echo::Off, false), (Echo::Debug, true)] {
        let capture = Capture::default();
        tracing::subscriber::with_default(capture.clone(), || {
            let pool =
                QueuePool::builder(Script::new().connector()).echo(echo).build().expect("valid");
            drop(pool.get().expect("checkout"));
            let debug = capture.messages_at(Level::DEBUG);
            let checked_out = debug.iter().any(|m| m.ends_with("checked out from pool"));
            let returned = debug.iter().any(|m| m.ends_with("being returned to pool"));
            assert_eq!((checked_out, returned), (expected, expected), "{echo:?}: {debug:?}");
            assert!(
                capture.lines().iter().all(|l| l.pool == "QueuePool"),
                "unnamed pools log their type"
            );
        });
    }
}

#[test]
fn recycling_logs_at_info() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let pool = QueuePool::builder(Script::new().connector()).build().expect("valid");
        let conn = pool.get().expect("checkout");
        let id = PooledConnection::record(&conn).expect("attached").id();
        drop(conn);
        pool.invalidate_all();
        drop(pool.get().expect("recycled checkout"));
        let info = capture.messages_at(Level::INFO);
        assert!(
            info.contains(&format!(
                "Connection {id} invalidated due to pool invalidation; recycling"
            )),
            "{info:?}"
        );
    });
}

#[test]
fn reset_on_return_logs_at_debug() {
    use pool_core::ResetOnReturn;
    for (mode, line) in [
        (ResetOnReturn::Rollback, Some("rollback-on-return")),
        (ResetOnReturn::Commit, Some("commit-on-return")),
        (ResetOnReturn::Nothing, None),
    ] {
        let capture = Capture::default();
        tracing::subscriber::with_default(capture.clone(), || {
            let pool = QueuePool::builder(Script::new().connector())
                .reset_on_return(mode)
                .build()
                .expect("valid");
            let conn = pool.get().expect("checkout");
            let id = PooledConnection::record(&conn).expect("attached").id();
            drop(conn);
            let debug = capture.messages_at(Level::DEBUG);
            let resets: Vec<_> = debug.iter().filter(|m| m.contains("-on-return")).collect();
            match line {
                Some(line) => assert_eq!(resets, [&format!("Connection {id} {line}")], "{mode:?}"),
                None => assert!(resets.is_empty(), "{mode:?}: {resets:?}"),
            }
        });
    }
}

#[test]
fn a_database_that_goes_away_and_comes_back_is_logged_once_each_way() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let script = Script::new();
        let pool = QueuePool::builder(script.connector())
            .logging_name("away")
            .strategy(pool_queue::QueueConfig::default().pool_size(3).max_overflow(0))
            .build()
            .unwrap();
        drop(pool.get().expect("the database answers"));
        pool.dispose();
        script.shutdown(true);
        for _ in 0..3 {
            assert!(pool.get().is_err(), "the database is gone");
        }
        script.shutdown(false);
        drop(pool.get().expect("back"));
        drop(pool.get().expect("still back"));
    });
    let warnings = capture.messages_at(Level::WARN);
    assert_eq!(warnings.len(), 1, "one warning for three failures: {warnings:?}");
    assert!(
        warnings[0].starts_with("The database stopped accepting connections (it had for ")
            && warnings[0].ends_with("connects fail: connect failed"),
        "{warnings:?}"
    );
    let back: Vec<_> = capture
        .messages_at(Level::INFO)
        .into_iter()
        .filter(|m| m.starts_with("Connected again"))
        .collect();
    assert_eq!(back.len(), 1, "{back:?}");
    assert!(back[0].starts_with("Connected again after 3 failed connect(s) over "), "{back:?}");
}
