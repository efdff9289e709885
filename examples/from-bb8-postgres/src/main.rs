use bb8_postgres::tokio_postgres::NoTls;
use bb8_postgres::PostgresConnectionManager;
use sqlpool::{Bb8Connector, QueueConfig, QueuePool};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let manager = PostgresConnectionManager::new(url.parse()?, NoTls);
    // was: let pool = bb8::Pool::builder().max_size(4).build(manager).await?;
    let pool = QueuePool::builder(Bb8Connector::new(manager))
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(true) // bb8's test_on_check_out
        .build()?;

    let conn = pool.get_async().await?; // was: pool.get().await?
    let sum: i32 = conn.query_one("SELECT $1::INT4 + 1", &[&41i32]).await?.get(0);
    assert_eq!(sum, 42);
    conn.batch_execute("BEGIN; SET LOCAL application_name = 'left open'").await?;
    drop(conn); // back to the pool: the open transaction is rolled back

    let conn = pool.get_async().await?; // pinged (is_valid) first
    let name: String = conn.query_one("SHOW application_name", &[]).await?.get(0);
    assert_ne!(name, "left open");
    println!("sum: {sum}; application_name after the rollback: {name:?}");
    Ok(())
}
