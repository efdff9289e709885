//! Prints which pool strategy the enabled features picked, and uses it on SQLite.
//!
//! ```sh
//! cargo run -p sqlpool --example which_pool
//! cargo run -p sqlpool --example which_pool --features static
//! cargo run -p sqlpool --example which_pool --features static -- --expect StaticPool
//! ```

use std::process::ExitCode;

use sqlpool::{DefaultPool, SqliteConnector, Strategy, DEFAULT_POOL};

fn strategy_name<C: sqlpool::Connector, S: Strategy<C>>(_: &sqlpool::Pool<C, S>) -> &'static str {
    S::NAME
}

fn main() -> ExitCode {
    let pool = DefaultPool::new(SqliteConnector::memory()).expect("default settings are valid");
    let conn = pool.get().expect("checkout");
    let one: i64 = conn.query_row("SELECT 1", [], |row| row.get(0)).expect("SELECT 1");
    drop(conn);
    let name = strategy_name(&pool);
    assert_eq!(name, DEFAULT_POOL, "DEFAULT_POOL names the DefaultPool type");
    println!("default pool: {name} (SELECT 1 = {one}; {})", pool.status_line());

    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--expect") {
        let wanted = args.get(i + 1).map(String::as_str).unwrap_or("");
        if wanted != name {
            eprintln!("expected {wanted}, got {name}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
