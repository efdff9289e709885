//! The `metrics` export served by `metrics-exporter-prometheus` and scraped over HTTP
//! (issue 13, part 2): every metric of `METRICS` is there, under the pool's name, with
//! the values of `Pool::statistics` and `Pool::status`.

use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusBuilder;
use pool_conformance::observe::scrape;
use sqlpool::{CheckoutError, PooledConnection, QueueConfig, QueuePool, SqliteConnector, METRICS};

/// The value of the series `name{labels}` in a scrape, if it is there.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn a_scrape_finds_every_metric_with_the_pools_values() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    PrometheusBuilder::new().with_http_listener(addr).install().expect("the exporter starts");

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
    let checkouts = format!("sqlpool_checkouts{{{label}}}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = scrape(addr);
        if value(&page, &checkouts) == Some(4.0) || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for (name, ..) in METRICS {
        let name = name.replace('.', "_");
        assert!(
            page.lines().any(|l| l.starts_with(&name) && l.contains(label)),
            "{name} is not in the scrape:\n{page}"
        );
    }
    assert_eq!(value(&page, &checkouts), Some(4.0), "{page}");
    let series = |name: &str, extra: &str| format!("{name}{{{label}{extra}}}");
    assert_eq!(value(&page, &series("db_client_connection_timeouts", "")), Some(1.0), "{page}");
    assert_eq!(value(&page, &series("sqlpool_connects", "")), Some(2.0), "{page}");
    let idle = series("db_client_connection_count", r#",db_client_connection_state="idle""#);
    assert_eq!(value(&page, &idle), Some(1.0), "{page}");
    let invalidated = series("sqlpool_closes", r#",cause="invalidated""#);
    assert_eq!(value(&page, &invalidated), Some(1.0), "{page}");
    assert_eq!(value(&page, &series("db_client_connection_max", "")), Some(1.0), "{page}");
    // Four hold times, four waits (three of them zero), two connects.
    assert_eq!(
        value(&page, &series("db_client_connection_use_time_count", "")),
        Some(4.0),
        "{page}"
    );
    assert_eq!(
        value(&page, &series("db_client_connection_wait_time_count", "")),
        Some(4.0),
        "{page}"
    );
    assert_eq!(
        value(&page, &series("db_client_connection_create_time_count", "")),
        Some(2.0),
        "{page}"
    );
}
