use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use sqlpool::{QueueConfig, QueuePool, SqliteConnector};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Serves http://127.0.0.1:9000/metrics (Prometheus's text format).
    PrometheusBuilder::new().with_http_listener(([127, 0, 0, 1], 9000)).install()?;

    let pool = QueuePool::builder(SqliteConnector::memory())
        .logging_name("orders")
        .strategy(QueueConfig::default().pool_size(4))
        .measure_hold_time(true)
        .export_metrics(Duration::from_secs(5))
        .build()?;

    for _ in 0..100 {
        let conn = pool.get()?;
        let _: i64 = conn.query_row("SELECT 1", [], |row| row.get(0))?;
    }
    // 100 checkouts, 0 waited, 0 timeouts; 1 connects (0 failed, p50 98us, p99 98us); hold p50 ...
    println!("{}", pool.statistics());
    Ok(())
}
