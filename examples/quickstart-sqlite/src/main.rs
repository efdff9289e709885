use sqlpool::{QueueConfig, QueuePool, SqliteConnector};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = QueuePool::builder(SqliteConnector::memory())
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .pre_ping(true)
        .build()?;

    let conn = pool.get()?;
    let one: i64 = conn.query_row("SELECT 1", [], |row| row.get(0))?;
    assert_eq!(one, 1);
    drop(conn); // rolled back and returned to the pool

    assert_eq!(pool.status().idle, 1);
    println!("{}", pool.status_line());
    Ok(())
}
