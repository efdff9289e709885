//! Serves a running pool's metrics to Prometheus.
//!
//! ```sh
//! cargo run -p sqlpool --example prometheus --features metrics
//! curl -s http://127.0.0.1:9000/metrics | grep db_client_connection
//! # or: scrape itself once, check that every metric is there, and exit
//! cargo run -p sqlpool --example prometheus --features metrics -- --check
//! ```
//!
//! The pool publishes through the `metrics` facade every second
//! (`Builder::export_metrics`); `metrics-exporter-prometheus` serves what it publishes.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use pool_conformance::observe::scrape;
use sqlpool::{QueueConfig, QueuePool, SqliteConnector, METRICS};

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let addr: SocketAddr = ([127, 0, 0, 1], if check { 0 } else { 9000 }).into();
    let addr = if check { free_port() } else { addr };
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .expect("the Prometheus exporter starts (is the port free?)");

    let pool = QueuePool::builder(SqliteConnector::memory())
        .logging_name("app")
        .export_metrics(Duration::from_secs(1))
        .measure_hold_time(true)
        .strategy(QueueConfig::default().pool_size(4).max_overflow(2))
        .build()
        .expect("valid settings");

    // A workload: four threads running queries.
    for _ in 0..4 {
        let pool = pool.clone();
        thread::spawn(move || loop {
            let conn = pool.get().expect("checkout");
            let _: i64 = conn.query_row("SELECT 1", [], |row| row.get(0)).expect("SELECT 1");
            drop(conn);
            thread::sleep(Duration::from_millis(2));
        });
    }

    if !check {
        println!("serving http://{addr}/metrics; Ctrl-C to stop");
        loop {
            thread::sleep(Duration::from_secs(10));
            println!("{}", pool.statistics());
        }
    }
    thread::sleep(Duration::from_millis(1500));
    let page = scrape(addr);
    let missing: Vec<_> = METRICS
        .iter()
        .map(|(name, ..)| name.replace('.', "_"))
        .filter(|name| !page.lines().any(|line| line.starts_with(name.as_str())))
        .collect();
    println!("{}", pool.statistics());
    if missing.is_empty() {
        println!("all {} metrics served at http://{addr}/metrics", METRICS.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("missing from the scrape: {missing:?}\n{page}");
        ExitCode::FAILURE
    }
}

/// A port nothing listens on now.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}
