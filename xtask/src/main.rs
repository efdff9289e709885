//! Repository automation, run as `cargo xtask <task>` (`cargo xtask --help` lists them).
//!
//! - `cargo xtask conformance [--matrix] [--json] [--filter TEXT]`: runs the conformance
//!   suite for every implementation on every backend, then the peers' reference rows, and
//!   prints a short report: pass/skip/fail counts per implementation and backend, every
//!   failure in full, the skip reasons grouped and counted, the peers' yes/no counts.
//!   `--matrix` adds the full check-by-check table, `--json` prints every result for
//!   machines instead. Either way it writes the HTML report
//!   `target/conformance/index.html`, finds the local servers when their `POOL_TEST_*_URL`
//!   variables are unset, shows progress on stderr, and exits non-zero iff a check fails.
//!   The code is the library half of this package, `xtask::conformance`.
//! - `cargo xtask bench [--quick] [--report-only]`: runs every benchmark group and writes
//!   `docs/benchmarks.md` (see `bench.rs`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;

/// Repository automation for the sqlpool workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

/// The tasks.
#[derive(Debug, Subcommand)]
enum Task {
    /// Run the conformance suite on every implementation and backend and report.
    ///
    /// Prints a short report by default and writes the full matrix as HTML to
    /// target/conformance/index.html. Server backends read POOL_TEST_POSTGRES_URL,
    /// POOL_TEST_MYSQL_URL, POOL_TEST_REDIS_URL, POOL_TEST_PGBOUNCER_TX_URL and
    /// POOL_TEST_PGBOUNCER_SESSION_URL; when one is unset, the server's local default
    /// address is tried. Exits with 1 if any check fails.
    Conformance(xtask::conformance::Options),
    /// Run every benchmark group and write docs/benchmarks.md.
    Bench(bench::Options),
}

fn main() -> ExitCode {
    // clap exits with 2 on an unknown flag or subcommand, and 0 after `--help`.
    match Cli::parse().task {
        Task::Conformance(options) => xtask::conformance::run(&options),
        Task::Bench(options) => bench::bench(&options),
    }
}
