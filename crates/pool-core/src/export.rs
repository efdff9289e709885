//! The `metrics` export (feature `metrics`): the pool's status and statistics published
//! through the [`metrics`] facade under OpenTelemetry's names for a database client's
//! connection pool, by the maintenance worker, every
//! [`export_metrics`](crate::Builder::export_metrics) period.
//!
//! Gauges take the status; counters take the statistics' totals (`absolute`); histograms
//! get the samples recorded since the last publication, in seconds. Every series carries
//! the pool's logging name as `db.client.connection.pool.name`. What OpenTelemetry does
//! not name (checkouts, waits, connects, closes by cause) goes out under `sqlpool.`.

use hdrhistogram::Histogram;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics::{Label, Unit};

use crate::stats::CloseCause;
use crate::{Connector, Statistics, Strategy};

/// The label naming the pool.
const POOL: &str = "db.client.connection.pool.name";

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A value set at each publication.
    Gauge,
    /// A running total.
    Counter,
    /// A distribution, in seconds.
    Histogram,
}

use MetricKind::{Counter, Gauge, Histogram as Distribution};

/// Every metric the export publishes: name, kind, unit, description.
pub const METRICS: [(&str, MetricKind, Unit, &str); 14] = [
    (
        "db.client.connection.count",
        Gauge,
        Unit::Count,
        "Connections open now, by state (idle, used)",
    ),
    (
        "db.client.connection.idle.max",
        Gauge,
        Unit::Count,
        "The most idle connections the pool keeps",
    ),
    (
        "db.client.connection.idle.min",
        Gauge,
        Unit::Count,
        "The idle connections the pool keeps open (min_idle)",
    ),
    ("db.client.connection.max", Gauge, Unit::Count, "The most connections the pool opens at once"),
    (
        "db.client.connection.pending_requests",
        Gauge,
        Unit::Count,
        "Checkouts waiting for a connection",
    ),
    ("db.client.connection.timeouts", Counter, Unit::Count, "Checkouts that timed out waiting"),
    ("db.client.connection.create_time", Distribution, Unit::Seconds, "How long each connect took"),
    (
        "db.client.connection.wait_time",
        Distribution,
        Unit::Seconds,
        "How long each checkout waited for a connection",
    ),
    (
        "db.client.connection.use_time",
        Distribution,
        Unit::Seconds,
        "How long each checkout held its connection",
    ),
    ("sqlpool.checkouts", Counter, Unit::Count, "Connections handed out"),
    ("sqlpool.waits", Counter, Unit::Count, "Checkouts that waited"),
    ("sqlpool.connects", Counter, Unit::Count, "Connects tried"),
    ("sqlpool.connect_failures", Counter, Unit::Count, "Connects that failed"),
    ("sqlpool.closes", Counter, Unit::Count, "Connections closed, by cause"),
];

/// The maintenance worker's publisher: the histograms as last published, so that each
/// publication records only the new samples.
pub(crate) struct Exporter {
    labels: Vec<Label>,
    published: [Histogram<u64>; 3],
}

impl Exporter {
    pub(crate) fn new(pool_name: &str) -> Self {
        for (name, kind, unit, description) in METRICS {
            match kind {
                Gauge => describe_gauge!(name, unit, description),
                Counter => describe_counter!(name, unit, description),
                Distribution => describe_histogram!(name, unit, description),
            }
        }
        let empty = || Histogram::new(2).expect("a valid precision");
        Exporter {
            labels: vec![Label::new(POOL, pool_name.to_owned())],
            published: [empty(), empty(), empty()],
        }
    }

    /// Publishes the pool's status and statistics now.
    pub(crate) fn publish<C: Connector, S: Strategy<C>>(
        &mut self,
        strategy: &S,
        stats: Statistics,
        min_idle: usize,
    ) {
        let status = strategy.status();
        let labels = &self.labels;
        let with = |key: &'static str, value: &'static str| {
            let mut l = labels.clone();
            l.push(Label::new(key, value));
            l
        };
        let state = "db.client.connection.state";
        gauge!("db.client.connection.count", with(state, "idle")).set(status.idle as f64);
        gauge!("db.client.connection.count", with(state, "used")).set(status.checked_out as f64);
        let idle_max = strategy.idle_capacity().unwrap_or(0);
        gauge!("db.client.connection.idle.max", labels.clone()).set(idle_max as f64);
        gauge!("db.client.connection.idle.min", labels.clone()).set(min_idle as f64);
        if let Some(max) = status.max_size {
            gauge!("db.client.connection.max", labels.clone()).set(max as f64);
        }
        gauge!("db.client.connection.pending_requests", labels.clone()).set(status.waiting as f64);
        counter!("db.client.connection.timeouts", labels.clone()).absolute(stats.timeouts);
        counter!("sqlpool.checkouts", labels.clone()).absolute(stats.checkouts);
        counter!("sqlpool.waits", labels.clone()).absolute(stats.waits);
        counter!("sqlpool.connects", labels.clone()).absolute(stats.connects);
        counter!("sqlpool.connect_failures", labels.clone()).absolute(stats.failed_connects);
        for cause in CloseCause::ALL {
            counter!("sqlpool.closes", with("cause", cause.name()))
                .absolute(stats.closes.get(cause));
        }
        let current = [stats.connect_time, stats.acquire_time, stats.hold_time];
        let names = [
            "db.client.connection.create_time",
            "db.client.connection.wait_time",
            "db.client.connection.use_time",
        ];
        for ((name, now), last) in names.into_iter().zip(current).zip(&mut self.published) {
            let mut new = now.clone();
            // A count read a moment early can make a bucket shrink; skip this round then.
            if new.subtract(&*last).is_err() {
                continue;
            }
            let h = histogram!(name, labels.clone());
            for v in new.iter_recorded() {
                let seconds = v.value_iterated_to() as f64 / 1e9;
                h.record_many(seconds, v.count_since_last_iteration() as usize);
            }
            *last = now;
        }
    }
}
