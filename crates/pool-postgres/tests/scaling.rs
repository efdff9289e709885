//! Several application instances sharing one server (issue 17, part 3): three pools of
//! eight, standing for three instances, against a server with `max_connections = 20`
//! (the primary of `.ci/failover`, 127.0.0.1:5433), first directly, then through
//! PgBouncer in transaction mode with ten server connections (its database `scaling`).
//! The figures printed here are the ones `docs/scaling.md` quotes.
//!
//! Needs `POOL_TEST_FAILOVER` (the command that sets up the clusters) and
//! `POOL_TEST_PGBOUNCER_TX_URL`; without them the test prints "skipped ..." and passes.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pool_conformance::faults::server_url_or_skip;
use pool_conformance::PGBOUNCER_TX_URL;
use pool_core::{CheckoutError, Connector};
use pool_postgres::postgres::{self, Client, NoTls};
use pool_postgres::PostgresConnector;
use pool_queue::{QueueConfig, QueuePool};

const PRIMARY: &str = "postgres://postgres@127.0.0.1:5433/postgres";
const INSTANCES: usize = 3;
const POOL_SIZE: usize = 8;

fn pools(url: &str, app: &str) -> Vec<QueuePool<PostgresConnector>> {
    (0..INSTANCES)
        .map(|i| {
            let connector =
                PostgresConnector::new(url).unwrap().with_application_name(&format!("{app}-{i}"));
            QueuePool::builder(connector)
                .strategy(
                    QueueConfig::default()
                        .pool_size(POOL_SIZE)
                        .max_overflow(0)
                        .timeout(Duration::from_secs(30)),
                )
                .build()
                .unwrap()
        })
        .collect()
}

/// The server connections PgBouncer holds for the database `scaling` (its admin
/// console's `SHOW POOLS`: active, idle, used, tested and logging in).
fn server_connections(console: &mut Client) -> usize {
    let rows = console.simple_query("SHOW POOLS").unwrap();
    rows.iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) if r.get("database") == Some("scaling") => Some(
                ["sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"]
                    .iter()
                    .map(|c| r.get(*c).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0))
                    .sum::<usize>(),
            ),
            _ => None,
        })
        .sum()
}

// Directly, the connects past the server's limit fail, each checkout with the server's
// own `FATAL: sorry, too many clients already` (SQLSTATE 53300), which the pool hands to
// the caller whole. Through PgBouncer the same 24 clients all work, over at most ten
// server connections: PgBouncer queues the transactions instead.
#[test]
fn many_instances_against_max_connections() {
    let test = "many_instances_against_max_connections";
    let Some(failover) = std::env::var("POOL_TEST_FAILOVER").ok().filter(|c| !c.is_empty()) else {
        println!(
            "skipped {test}: POOL_TEST_FAILOVER (the command that sets up the clusters) is unset"
        );
        return;
    };
    let Some(bouncer) = server_url_or_skip(PGBOUNCER_TX_URL, test) else { return };
    let status = Command::new("sh").arg("-c").arg(format!("{failover} setup")).status().unwrap();
    assert!(status.success(), "{failover} setup failed");

    // Directly: 24 connections wanted, 20 allowed.
    let direct = pools(PRIMARY, "scaling-direct");
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for pool in &direct {
        for _ in 0..POOL_SIZE {
            match pool.get() {
                Ok(conn) => held.push(conn),
                Err(e) => refused.push(e),
            }
        }
    }
    let limit: i32 = {
        let conn = held.first_mut().expect("some connections");
        conn.query_one("SELECT current_setting('max_connections')::int", &[]).unwrap().get(0)
    };
    println!(
        "directly: {} of {} connections opened (max_connections {limit}), {} refused",
        held.len(),
        INSTANCES * POOL_SIZE,
        refused.len()
    );
    assert!(!refused.is_empty(), "24 connections fit in max_connections {limit}");
    println!("the caller's error: {}", refused[0]);
    assert!(held.len() <= limit as usize);
    for err in &refused {
        let CheckoutError::Connect(connect) = err else { panic!("not a connect error: {err}") };
        let text = err.to_string();
        assert!(text.contains("sorry, too many clients already"), "{text}");
        let code = connect.as_postgres().and_then(|e| e.code()).map(|c| c.code());
        assert_eq!(code, Some("53300"), "{text}");
        assert!(direct[0].connector().is_disconnect(connect), "FATAL: a refused session");
    }
    drop(held);
    drop(direct);

    // Through PgBouncer: the same 24 clients, each running 20 short transactions.
    let mut bouncer_config: postgres::Config = bouncer.parse().unwrap();
    bouncer_config.dbname("scaling");
    let url = format!(
        "postgres://postgres@{}:{}/scaling",
        match &bouncer_config.get_hosts()[0] {
            postgres::config::Host::Tcp(h) => h.clone(),
            #[allow(unreachable_patterns)]
            _ => "127.0.0.1".into(),
        },
        bouncer_config.get_ports().first().copied().unwrap_or(6432)
    );
    let mut console = {
        let mut c = bouncer_config.clone();
        c.dbname("pgbouncer");
        c.connect(NoTls).expect("PgBouncer's admin console")
    };
    let shared = pools(&url, "scaling-bouncer");
    let done = AtomicUsize::new(0);
    let most = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for pool in &shared {
            for _ in 0..POOL_SIZE {
                s.spawn(|| {
                    let mut conn = pool.get().expect("every client connects");
                    for _ in 0..20 {
                        conn.batch_execute("SELECT pg_sleep(0.005)")
                            .expect("every transaction runs");
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        }
        while done.load(Ordering::Relaxed) < INSTANCES * POOL_SIZE * 20 {
            most.fetch_max(server_connections(&mut console), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let elapsed = started.elapsed();
    let most = most.into_inner();
    println!(
        "through PgBouncer: {} clients, {} transactions in {elapsed:?}, at most {most} server connections",
        INSTANCES * POOL_SIZE,
        done.load(Ordering::Relaxed)
    );
    assert!(most <= 10, "PgBouncer kept to its pool_size: {most}");
    assert!(most >= 1);
}
