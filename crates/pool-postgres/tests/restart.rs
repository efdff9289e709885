//! The server restarted under load (issue 14, part 4): eight threads query through a
//! QueuePool while `POOL_TEST_POSTGRES_RESTART` restarts the PostgreSQL server of
//! `POOL_TEST_POSTGRES_URL`; the pool succeeds again within a second of the server
//! answering, loses no slot and closes every connection once
//! (`pool_conformance::faults::restart_under_load`). Without both variables the test
//! prints "skipped ..." and passes: `.ci/run` sets them.

use pool_conformance::faults::{
    restart_command_or_skip, restart_under_load, server_url_or_skip, POSTGRES_RESTART,
};
use pool_conformance::POSTGRES_URL;
use pool_postgres::postgres;
use pool_postgres::{Error, PostgresConnection, PostgresConnector};

fn select_one(conn: &mut PostgresConnection) -> Result<(), Error> {
    Ok(conn.batch_execute("SELECT 1")?)
}

#[test]
fn the_pool_recovers_from_a_server_restart() {
    let test = "the_pool_recovers_from_a_server_restart";
    let Some(url) = server_url_or_skip(POSTGRES_URL, test) else { return };
    let Some(restart) = restart_command_or_skip(POSTGRES_RESTART, test) else { return };
    let connector = PostgresConnector::new(&url).expect("a valid URL");
    let probe = || postgres::Client::connect(&url, postgres::NoTls).is_ok();
    let restarted = restart_under_load(connector, &restart, probe, select_one);
    println!("PostgreSQL restart: {restarted:?}");
}
