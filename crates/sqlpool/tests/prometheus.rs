//! The `metrics` export served by `metrics-exporter-prometheus` and scraped over HTTP
//! (issue 13, part 2): every metric of `METRICS` is there, under the pool's name, with
//! the values of `Pool::statistics` and `Pool::status`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusBuilder;
use pool_conformance::observe::scrape;
use sqlpool::{
    CheckoutError, Pool, PooledConnection, QueueConfig, QueuePool, SqliteConnector, Strategy,
    METRICS,
};

/// The value of the series `name{labels}` in a scrape, if it is there.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The address of this test binary's exporter (one recorder per process).
fn exporter() -> SocketAddr {
    static ADDR: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();
    *ADDR.get_or_init(|| {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        PrometheusBuilder::new().with_http_listener(addr).install().expect("the exporter starts");
        addr
    })
}

/// Scrapes until every `(series, value)` of `expected` reads its value (the worker
/// publishes on its own schedule, one series after another, so a page can show part of
/// a publication), or 10 s have passed; the last page.
fn scrape_until(expected: &[(String, f64)]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = scrape(exporter());
        let done = expected.iter().all(|(series, v)| value(&page, series) == Some(*v));
        if done || Instant::now() > deadline {
            return page;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_scrape_finds_every_metric_with_the_pools_values() {
    // The recorder first: a histogram sample published before it exists is gone.
    exporter();
    let pool = QueuePool::builder(SqliteConnector::memory())
        .logging_name("scraped")
        .export_metrics(Duration::from_millis(50))
        .measure_hold_time(true)
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .expect("valid settings");
    let held = pool.get().expect("checkout");
    assert!(matches!(pool.get_timeout(Duration::from_millis(10)), Err(CheckoutError::Timeout(_))));
    PooledConnection::invalidate(held, None);
    for _ in 0..3 {
        drop(pool.get().expect("checkout"));
    }
    let stats = pool.statistics();
    assert_eq!((stats.checkouts, stats.timeouts, stats.connects), (4, 1, 2), "{stats}");

    let label = r#"db_client_connection_pool_name="scraped""#;
    let series = |name: &str, extra: &str| format!("{name}{{{label}{extra}}}");
    let expected = [
        (series("sqlpool_checkouts", ""), 4.0),
        (series("db_client_connection_timeouts", ""), 1.0),
        (series("sqlpool_connects", ""), 2.0),
        (series("db_client_connection_count", r#",db_client_connection_state="idle""#), 1.0),
        (series("sqlpool_closes", r#",cause="invalidated""#), 1.0),
        (series("db_client_connection_max", ""), 1.0),
        // Four hold times, four waits (all of them zero), two connects.
        (series("db_client_connection_use_time_count", ""), 4.0),
        (series("db_client_connection_wait_time_count", ""), 4.0),
        (series("db_client_connection_create_time_count", ""), 2.0),
    ];
    let page = scrape_until(&expected);
    for (name, ..) in METRICS {
        let name = name.replace('.', "_");
        assert!(
            page.lines().any(|l| l.starts_with(&name) && l.contains(label)),
            "{name} is not in the scrape:\n{page}"
        );
    }
    for (series, v) in &expected {
        assert_eq!(value(&page, series), Some(*v), "{series} in\n{page}");
    }
}

/// Three checkouts on a pool of strategy `S` named `name`, then its checkout count in
/// the scrape.
fn published_checkouts<S: Strategy<SqliteConnector>>(name: &str) -> Option<f64> {
    exporter();
    let pool: Pool<SqliteConnector, S> = Pool::builder(SqliteConnector::memory())
        .logging_name(name)
        .export_metrics(Duration::from_millis(50))
        .build()
        .expect("valid settings");
    for _ in 0..3 {
        drop(pool.get().expect("checkout"));
    }
    let series = format!(r#"sqlpool_checkouts{{db_client_connection_pool_name="{name}"}}"#);
    value(&scrape_until(&[(series.clone(), 3.0)]), &series)
}

// Every strategy publishes: the worker runs for `export_metrics` alone, also on the
// strategies that keep no idle connection.
#[test]
fn every_strategy_publishes() {
    assert_eq!(published_checkouts::<pool_queue::Queue<_>>("queue"), Some(3.0));
    assert_eq!(published_checkouts::<pool_null::Null<_>>("null"), Some(3.0));
    assert_eq!(published_checkouts::<pool_static::Static<_>>("static"), Some(3.0));
    assert_eq!(published_checkouts::<pool_static::Assertion<_>>("assertion"), Some(3.0));
    assert_eq!(
        published_checkouts::<pool_singleton_thread::SingletonThread<_>>("singleton"),
        Some(3.0)
    );
}
