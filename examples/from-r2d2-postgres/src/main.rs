use r2d2_postgres::postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;
use sqlpool::{QueueConfig, QueuePool, R2d2Connector};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let manager = PostgresConnectionManager::new(url.parse()?, NoTls);
    // was: let pool = r2d2::Pool::builder().max_size(4).build(manager)?;
    let pool = QueuePool::builder(R2d2Connector::new(manager))
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(true) // r2d2's test_on_check_out
        .build()?;

    let mut conn = pool.get()?; // derefs to the postgres::Client, as r2d2's did
    let sum: i32 = conn.query_one("SELECT $1::INT4 + 1", &[&41i32])?.get(0);
    assert_eq!(sum, 42);
    conn.batch_execute("BEGIN; SET LOCAL application_name = 'left open'")?;
    drop(conn); // back to the pool: the open transaction is rolled back

    let mut conn = pool.get()?; // the same session, pinged first
    let name: String = conn.query_one("SHOW application_name", &[])?.get(0);
    assert_ne!(name, "left open");
    drop(conn);
    println!("sum: {sum}; {}", pool.status_line());
    Ok(())
}
