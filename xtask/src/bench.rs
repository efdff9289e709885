//! `cargo xtask bench [--quick] [--report-only]`: runs every benchmark group of the
//! `benches` crate and writes `docs/benchmarks.md`.
//!
//! The criterion groups (uncontended, SQLite, PostgreSQL, features) leave their HTML
//! reports and plots in `target/criterion`; this reads each benchmark's median back from
//! `target/criterion/<group>/<id>/new/estimates.json` (with its names from the
//! `benchmark.json` beside it), keeping only results written by this run. The contention
//! harness writes `target/bench-results/contention.json`. The report puts each group in a
//! table with every row's ratio to the group's floor and to each peer, counts
//! instructions per uncontended checkout with callgrind when valgrind is installed
//! (`bench/instructions.rs`), and checks the issues' targets (`bench/targets.rs`).
//!
//! `--quick` shortens every measurement (a smoke run of a couple of minutes);
//! `--report-only` rewrites the report from the last run's results without measuring.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

mod instructions;
mod targets;

/// The criterion benchmarks, in the order they run.
const CRITERION_BENCHES: [&str; 4] = ["uncontended", "sqlite", "postgres", "features"];
/// Criterion's options for `--quick`: short warm-up and measurement, the fewest samples.
const QUICK_ARGS: [&str; 8] = [
    "--warm-up-time",
    "0.3",
    "--measurement-time",
    "0.6",
    "--sample-size",
    "10",
    "--nresamples",
    "5000",
];
/// The environment variable that names the PostgreSQL server of group 4.
const POSTGRES_URL: &str = "POOL_TEST_POSTGRES_URL";
/// The crates whose versions the report lists, from Cargo.lock.
const VERSIONED: [&str; 15] = [
    "criterion",
    "r2d2",
    "r2d2_sqlite",
    "r2d2_postgres",
    "postgres",
    "tokio-postgres",
    "deadpool",
    "deadpool-postgres",
    "bb8",
    "tokio",
    "rusqlite",
    "libsqlite3-sys",
    "parking_lot",
    "crossbeam-queue",
    "hdrhistogram",
];

/// `cargo xtask bench`'s flags.
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// Shorten every measurement: a smoke run of a couple of minutes (noisy figures).
    #[arg(long)]
    quick: bool,
    /// Rewrite docs/benchmarks.md from the last run's results, without measuring.
    #[arg(long)]
    report_only: bool,
}

pub(crate) fn bench(options: &Options) -> ExitCode {
    let Options { quick, report_only } = *options;
    let root = root();
    let results = root.join("target/bench-results");
    let run_file = results.join("run.json");
    let contention_file = results.join("contention.json");
    let instructions_file = results.join("instructions.json");

    let run = if report_only {
        match read_json(&run_file) {
            Some(run) => Run::from_json(&run),
            None => {
                eprintln!("no previous run: {} is missing", run_file.display());
                return ExitCode::FAILURE;
            }
        }
    } else {
        let started = Instant::now();
        let run = Run {
            started: unix_now(),
            quick,
            postgres: std::env::var(POSTGRES_URL)
                .ok()
                .filter(|u| !u.is_empty())
                .map(|u| server(&u)),
            commit: commit(&root),
            seconds: 0.0,
            failed: Vec::new(),
            load: [load(), None],
        };
        fs::create_dir_all(&results).expect("create target/bench-results");
        let _ = fs::remove_file(&contention_file);
        let _ = fs::remove_file(&instructions_file);
        let run = measure(&root, &contention_file, run, started);
        if let Some(counts) = instructions::count(&root) {
            fs::write(&instructions_file, counts.to_string()).expect("write instructions.json");
        }
        fs::write(&run_file, serde_json::to_string_pretty(&run.json()).expect("serializable"))
            .expect("write run.json");
        run
    };

    let report = Report::collect(&root, &run, &contention_file, &instructions_file);
    let text = report.markdown(&root);
    let out = root.join("docs/benchmarks.md");
    fs::write(&out, text).expect("write docs/benchmarks.md");
    println!("\nwrote {} ({} criterion results)", out.display(), report.criterion.len());
    if !run.failed.is_empty() {
        eprintln!("these benchmarks failed: {}", run.failed.join(", "));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// One run of the benchmarks: when, how, and what failed.
struct Run {
    /// Seconds since the Unix epoch when the run started.
    started: f64,
    quick: bool,
    /// The PostgreSQL server measured (host, port and database), if any.
    postgres: Option<String>,
    /// The commit measured.
    commit: Option<String>,
    seconds: f64,
    failed: Vec<String>,
    /// The load averages (1, 5, 15 min) when the run started and when it ended: the
    /// machines are shared, and a load above the core count makes every figure noisier.
    load: [Option<String>; 2],
}

impl Run {
    fn json(&self) -> Value {
        serde_json::json!({
            "started": self.started,
            "quick": self.quick,
            "postgres": self.postgres,
            "commit": self.commit,
            "seconds": self.seconds,
            "failed": self.failed,
            "load_start": self.load[0],
            "load_end": self.load[1],
        })
    }

    fn from_json(v: &Value) -> Self {
        Run {
            started: v["started"].as_f64().unwrap_or(0.0),
            quick: v["quick"].as_bool().unwrap_or(false),
            postgres: v["postgres"].as_str().map(str::to_string),
            commit: v["commit"].as_str().map(str::to_string),
            seconds: v["seconds"].as_f64().unwrap_or(0.0),
            failed: v["failed"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            load: [
                v["load_start"].as_str().map(str::to_string),
                v["load_end"].as_str().map(str::to_string),
            ],
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_path_buf()
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The server part of a PostgreSQL URL (no user or password).
fn server(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('?').next().unwrap_or(rest).to_string()
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds the benchmarks once, then runs each built executable, so that every group
/// measures the same build even if the sources change during the run; a failing group is
/// noted and the others still run.
fn measure(root: &Path, contention_file: &Path, mut run: Run, started: Instant) -> Run {
    println!("== building the benchmarks");
    let Some(executables) = build(root) else {
        run.failed.push("build".into());
        return run;
    };
    let package = root.join("benches");
    let mut bench = |name: &str, args: &[&str], env: Option<(&str, &Path)>| {
        println!("\n== {name}");
        let Some(exe) = executables.get(name) else {
            eprintln!("no executable for the {name} benchmark");
            run.failed.push(name.to_string());
            return;
        };
        // As `cargo bench` runs it: from the package's directory, with `--bench`.
        let mut cmd = Command::new(exe);
        cmd.current_dir(&package)
            .arg("--bench")
            .args(args)
            .env("CRITERION_HOME", root.join("target/criterion"));
        if let Some((key, value)) = env {
            cmd.env(key, value);
        }
        if !cmd.status().is_ok_and(|s| s.success()) {
            run.failed.push(name.to_string());
        }
    };
    let quick: &[&str] = if run.quick { &QUICK_ARGS } else { &[] };
    for name in CRITERION_BENCHES {
        bench(name, quick, None);
    }
    let quick: &[&str] = if run.quick { &["--quick"] } else { &[] };
    bench("contention", quick, Some(("CONTENTION_JSON", contention_file)));
    run.seconds = started.elapsed().as_secs_f64();
    run.load[1] = load();
    run
}

/// `cargo bench -p benches --no-run`, returning each bench target's executable.
fn build(root: &Path) -> Option<BTreeMap<String, PathBuf>> {
    let output = cargo()
        .current_dir(root)
        .args(["bench", "-p", "benches", "--no-run", "--message-format=json-render-diagnostics"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let mut executables = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else { continue };
        let is_bench =
            message["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bench"));
        if let (true, Some(name), Some(exe)) =
            (is_bench, message["target"]["name"].as_str(), message["executable"].as_str())
        {
            executables.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    Some(executables)
}

/// The commit measured, with "+ local changes" if the work tree differs from it.
fn commit(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head} + local changes") } else { head })
}

/// The 1, 5 and 15 minute load averages.
fn load() -> Option<String> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// One criterion result: the median time per iteration and its 95 % interval, in ns.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    median: f64,
    low: f64,
    high: f64,
}

/// A criterion benchmark's key: group, function and parameter ("" for none).
type Key = (String, String, String);

/// Everything the report is made from.
struct Report<'a> {
    run: &'a Run,
    criterion: BTreeMap<Key, Estimate>,
    contention: Option<Value>,
    /// Instructions per uncontended get+drop of each callgrind loop, if counted.
    instructions: Option<Value>,
}

impl<'a> Report<'a> {
    fn collect(
        root: &Path,
        run: &'a Run,
        contention_file: &Path,
        instructions_file: &Path,
    ) -> Self {
        let since = UNIX_EPOCH + Duration::from_secs_f64(run.started);
        let mut criterion = BTreeMap::new();
        let mut files = Vec::new();
        find_benchmark_files(&root.join("target/criterion"), &mut files);
        for file in files {
            let dir = file.parent().expect("in new/");
            let estimates = dir.join("estimates.json");
            let fresh = fs::metadata(&estimates)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified >= since);
            if !fresh {
                continue;
            }
            let (Some(id), Some(est)) = (read_json(&file), read_json(&estimates)) else {
                continue;
            };
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let key = (text(&id["group_id"]), text(&id["function_id"]), text(&id["value_str"]));
            let median = &est["median"];
            let number = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
            criterion.insert(
                key,
                Estimate {
                    median: number(&median["point_estimate"]),
                    low: number(&median["confidence_interval"]["lower_bound"]),
                    high: number(&median["confidence_interval"]["upper_bound"]),
                },
            );
        }
        Report {
            run,
            criterion,
            contention: read_json(contention_file),
            instructions: read_json(instructions_file),
        }
    }

    fn get(&self, group: &str, id: &str, param: &str) -> Option<Estimate> {
        self.criterion.get(&(group.to_string(), id.to_string(), param.to_string())).copied()
    }

    fn markdown(&self, root: &Path) -> String {
        let mut md = String::new();
        let run = self.run;
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Generated by `cargo xtask bench{}`; do not edit by hand. Criterion's HTML \
             reports, with plots, are in `target/criterion/report/index.html` after a run. \
             What each group measures, and how, is in the doc comment at the top of its \
             file in `benches/benches/`.\n",
            if run.quick { " --quick" } else { "" }
        );
        let _ = writeln!(md, "| | |\n|---|---|");
        let _ = writeln!(md, "| date (UTC) | {} |", date(run.started));
        let _ = writeln!(md, "| machine | {} |", machine());
        let _ = writeln!(md, "| rustc | {} |", rustc());
        let _ = writeln!(md, "| commit | {} |", run.commit.as_deref().unwrap_or("not recorded"));
        let _ = writeln!(
            md,
            "| mode | {} |",
            if run.quick {
                "quick: criterion 0.3 s warm-up, 0.6 s measurement, 10 samples; contention 0.2 s a row (smoke run: noisy)"
            } else {
                "full: criterion defaults (3 s warm-up, 5 s measurement, 100 samples); contention 1 s a row"
            }
        );
        let _ = writeln!(md, "| run time | {:.0} s |", run.seconds);
        let show = |l: &Option<String>| l.clone().unwrap_or_else(|| "not recorded".into());
        let _ = writeln!(
            md,
            "| load average (1, 5, 15 min) | {} at the start, {} at the end (the machine is shared; above {} the figures are noisy, the contention group most) |",
            show(&run.load[0]),
            show(&run.load[1]),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        );
        let _ = writeln!(
            md,
            "| PostgreSQL | {} |",
            run.postgres
                .as_deref()
                .map_or("not measured (`POOL_TEST_POSTGRES_URL` not set)".into(), |s| format!(
                    "`{s}`, on this machine"
                ))
        );
        if !run.failed.is_empty() {
            let _ = writeln!(md, "| failed | {} |", run.failed.join(", "));
        }
        let _ = writeln!(md, "\nCrate versions (Cargo.lock):\n");
        let _ = writeln!(md, "| crate | version |\n|---|---|");
        let versions = lock_versions(root);
        for name in VERSIONED {
            if let Some(v) = versions.get(name) {
                let _ = writeln!(md, "| {name} | {} |", v.join(", "));
            }
        }
        let _ = writeln!(
            md,
            "\nHow to read the tables: each figure is criterion's median time per operation \
             (its 95 % interval in brackets) and the rate it makes; with several threads the \
             time is the wall time divided by all the operations of all threads, so the \
             rate is the aggregate. A ratio column `× X` is this row's time divided by X's: \
             below 1 is faster than X, above 1 slower.\n"
        );

        self.targets_of_issue_5(&mut md);
        let _ = writeln!(md);
        self.targets_of_issue_11(&mut md);
        self.targets_of_issue_12(&mut md);
        self.targets_of_issue_13(&mut md);
        self.targets_of_issue_15(&mut md);
        // The causes of the misses are analysis, not measurement: kept by hand beside the
        // benchmarks and carried into every report.
        if let Ok(causes) = fs::read_to_string(root.join("benches/MISSES.md")) {
            let _ = writeln!(md, "\n{}", causes.trim_end());
        }
        // In the issue's order: group 1, the contention group, then groups 3 to 5.
        let (first, rest) = TABLES.split_first().expect("tables");
        self.criterion_table(&mut md, first);
        self.instructions_table(&mut md);
        self.contention_tables(&mut md);
        for table in rest {
            self.criterion_table(&mut md, table);
        }
        md
    }

    fn criterion_table(&self, md: &mut String, t: &Table) {
        let _ = writeln!(md, "\n## {}\n", t.title);
        let _ = writeln!(md, "{}\n", t.about);
        let skipped = t.group.starts_with("postgres") && self.run.postgres.is_none();
        if skipped {
            let _ = writeln!(md, "skipped: {POSTGRES_URL} is not set for this run.");
            return;
        }
        // Rows in the declared order, then any other this group has (the adapter's).
        let mut rows: Vec<String> = t.rows.iter().map(|r| r.to_string()).collect();
        for (group, id, param) in self.criterion.keys() {
            if group == t.group && param == t.param && !rows.contains(id) {
                rows.push(id.clone());
            }
        }
        let mut header = String::from("| pool | time per op | rate | × floor |");
        let mut rule = String::from("|---|---:|---:|---:|");
        for peer in t.peers {
            let _ = write!(header, " × {} |", escape(peer));
            rule.push_str("---:|");
        }
        if t.delta {
            header.push_str(" over its floor |");
            rule.push_str("---:|");
        }
        let _ = writeln!(md, "{header}\n{rule}");
        for row in &rows {
            let Some(est) = self.get(t.group, row, t.param) else {
                let _ = writeln!(
                    md,
                    "| {} | not measured | | |{}",
                    escape(row),
                    " |".repeat(t.peers.len() + usize::from(t.delta))
                );
                continue;
            };
            let floor_id = t
                .alt_floor
                .iter()
                .find(|(rows, _)| rows.contains(&row.as_str()))
                .map_or(t.floor, |(_, floor)| *floor);
            let ratio = |id: &str| {
                self.get(t.group, id, t.param)
                    .map_or("-".to_string(), |other| format!("{:.2}", est.median / other.median))
            };
            let mut line = format!(
                "| {} | {} [{}, {}] | {} | {} |",
                escape(row),
                time(est.median),
                time(est.low),
                time(est.high),
                rate(1e9 / est.median),
                if floor_id == row.as_str() {
                    "floor".to_string()
                } else {
                    format!("{} ({})", ratio(floor_id), escape(floor_id))
                },
            );
            for peer in t.peers {
                let _ = write!(line, " {} |", ratio(peer));
            }
            if t.delta {
                let delta = self.get(t.group, floor_id, t.param).map_or("-".to_string(), |base| {
                    let d = est.median - base.median;
                    format!("{}{}", if d < 0.0 { "−" } else { "+" }, time(d.abs()))
                });
                let _ = write!(line, " {delta} |");
            }
            let _ = writeln!(md, "{line}");
        }
    }

    fn contention_rows(&self) -> Vec<&Value> {
        self.contention
            .as_ref()
            .and_then(|c| c["rows"].as_array())
            .map(|rows| rows.iter().collect())
            .unwrap_or_default()
    }

    fn contention_row(&self, pool: &str, threads: u64, hold_ns: u64) -> Option<&Value> {
        self.contention_rows().into_iter().find(|r| {
            r["pool"] == pool
                && r["threads"].as_u64() == Some(threads)
                && r["hold_ns"].as_u64() == Some(hold_ns)
        })
    }

    fn contention_tables(&self, md: &mut String) {
        let _ = writeln!(md, "\n## 2. Contention: T callers, a pool of 8 no-op connections\n");
        let _ = writeln!(
            md,
            "`benches/benches/contention.rs`, its own harness. Sync pools run on T OS threads, \
             async pools as T tasks on a two-worker tokio runtime. Throughput ratios `× X` \
             are this row's checkouts per second divided by X's (above 1 is faster). p50 and \
             p99 are of the acquire latency (one checkout in 8 timed, hdrhistogram); \
             min/max is the fewest checkouts of one caller over the most; stalled counts \
             the callers that went 100 ms or more without a checkout (or made none), and \
             the last column is the longest such gap (at most the row's run time).\n"
        );
        let Some(c) = &self.contention else {
            let _ = writeln!(md, "not measured: no contention results from this run.");
            return;
        };
        let _ = writeln!(md, "Run time: {} s per row.\n", c["secs_per_row"]);
        let rows = self.contention_rows();
        let mut pools: Vec<&str> = Vec::new();
        let mut holds: Vec<u64> = Vec::new();
        for r in &rows {
            let pool = r["pool"].as_str().unwrap_or("?");
            if !pools.contains(&pool) {
                pools.push(pool);
            }
            let hold = r["hold_ns"].as_u64().unwrap_or(0);
            if !holds.contains(&hold) {
                holds.push(hold);
            }
        }
        let peers = ["Mutex+Condvar floor", "r2d2", "deadpool", "bb8"];
        for hold in holds {
            let _ = writeln!(
                md,
                "\n### hold {}\n",
                if hold == 0 { "0".to_string() } else { time(hold as f64) }
            );
            let _ = write!(md, "| T | pool | callers | checkouts/s |");
            for p in peers {
                let _ = write!(md, " × {} |", if p == peers[0] { "floor" } else { p });
            }
            let _ = writeln!(md, " p50 | p99 | min/max | stalled | longest gap |");
            let _ =
                writeln!(md, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            let mut threads: Vec<u64> = rows.iter().filter_map(|r| r["threads"].as_u64()).collect();
            threads.sort_unstable();
            threads.dedup();
            for t in threads {
                for pool in &pools {
                    let Some(r) = self.contention_row(pool, t, hold) else { continue };
                    let ops = r["ops_per_sec"].as_f64().unwrap_or(0.0);
                    let _ = write!(
                        md,
                        "| {t} | {} | {} | {} |",
                        escape(pool),
                        r["callers"].as_str().unwrap_or(""),
                        rate(ops)
                    );
                    for p in peers {
                        let cell = self
                            .contention_row(p, t, hold)
                            .and_then(|o| o["ops_per_sec"].as_f64())
                            .map_or("-".to_string(), |o| format!("{:.2}", ops / o));
                        let _ = write!(md, " {cell} |");
                    }
                    let _ = writeln!(
                        md,
                        " {} | {} | {:.3} | {} of {t} | {:.1} ms |",
                        time(r["p50_ns"].as_f64().unwrap_or(0.0)),
                        time(r["p99_ns"].as_f64().unwrap_or(0.0)),
                        r["fairness"].as_f64().unwrap_or(0.0),
                        r["stalled"],
                        r["longest_stall_ms"].as_f64().unwrap_or(0.0),
                    );
                }
            }
        }
    }
}

/// One criterion table of the report.
struct Table {
    title: &'static str,
    about: &'static str,
    group: &'static str,
    /// The parameter (thread count) this table shows; "" for none.
    param: &'static str,
    /// The rows, in order; other ids found in the group follow.
    rows: &'static [&'static str],
    floor: &'static str,
    /// Rows measured against another floor than `floor`.
    alt_floor: &'static [(&'static [&'static str], &'static str)],
    peers: &'static [&'static str],
    /// Show each row's difference from the floor (the features group's baseline).
    delta: bool,
}

const UNCONTENDED_ROWS: &[&str] = &[
    "floor: Mutex<Vec>",
    "floor: Mutex<Vec> + Arc handle",
    "floor: ArrayQueue",
    "QueuePool",
    "QueuePool (reset: none)",
    "NullPool",
    "SingletonThreadPool",
    "StaticPool",
    "AssertionPool",
    "AssertionPool (store_traceback off)",
    "r2d2",
    "deadpool",
    "bb8",
    "QueuePool (async)",
    "floor: Semaphore+Mutex<Vec>",
];
const SQLITE_ROWS: &[&str] = &[
    "direct connection",
    "floor: Mutex<Vec<Connection>>",
    "QueuePool",
    "QueuePool (r2d2_sqlite connector)",
    "SingletonThreadPool",
    "StaticPool",
    "r2d2_sqlite",
    "r2d2_sqlite (test_on_check_out)",
    "deadpool (inline rusqlite manager)",
    "open per query",
    "NullPool",
];
const SQLITE_PEERS: &[&str] =
    &["r2d2_sqlite", "r2d2_sqlite (test_on_check_out)", "deadpool (inline rusqlite manager)"];
const SQLITE_ALT: &[(&[&str], &str)] = &[(&["NullPool", "open per query"], "open per query")];
const POSTGRES_ROWS: &[&str] = &[
    "direct connection",
    "QueuePool (PostgresConnector)",
    "QueuePool (r2d2_postgres connector)",
    "QueuePool (r2d2_postgres connector, reset: none)",
    "r2d2_postgres",
    "r2d2_postgres (test_on_check_out off)",
    "deadpool-postgres",
    "QueuePool (async, AsyncPostgresConnector)",
    "QueuePool (async, AsyncPostgresConnector, reset: none)",
];
const POSTGRES_PEERS: &[&str] =
    &["r2d2_postgres", "r2d2_postgres (test_on_check_out off)", "deadpool-postgres"];

const TABLES: &[Table] = &[
    Table {
        title: "1. Uncontended get and drop (no-op connection, one thread)",
        about: "`benches/benches/uncontended.rs`: every pool holds 8 connections and keeps its defaults; the async pools are polled on one current-thread tokio runtime, one `block_on` per criterion sample.",
        group: "uncontended",
        param: "",
        rows: UNCONTENDED_ROWS,
        floor: "floor: Mutex<Vec>",
        alt_floor: &[(&["QueuePool (async)"], "floor: Semaphore+Mutex<Vec>")],
        peers: &["floor: ArrayQueue", "r2d2", "deadpool", "bb8"],
        delta: false,
    },
    Table {
        title: "3. SQLite `SELECT 1` per checkout, 1 thread",
        about: "`benches/benches/sqlite.rs`: in-memory databases, `SELECT 1` through the statement cache; NullPool's floor is opening a connection per query.",
        group: "sqlite SELECT 1",
        param: "1",
        rows: SQLITE_ROWS,
        floor: "direct connection",
        alt_floor: SQLITE_ALT,
        peers: SQLITE_PEERS,
        delta: false,
    },
    Table {
        title: "3. SQLite `SELECT 1` per checkout, 4 threads",
        about: "The same on 4 threads (deadpool: 4 tasks on a two-worker runtime), each pool holding 4 connections (StaticPool one); the direct floor is one connection per thread.",
        group: "sqlite SELECT 1",
        param: "4",
        rows: SQLITE_ROWS,
        floor: "direct connection",
        alt_floor: SQLITE_ALT,
        peers: SQLITE_PEERS,
        delta: false,
    },
    Table {
        title: "4. PostgreSQL `SELECT 1` per checkout, 1 thread",
        about: "`benches/benches/postgres.rs`: `simple_query(\"SELECT 1\")`, one round trip. QueuePool's default reset on return is a `ROLLBACK` (one more round trip), r2d2's default `test_on_check_out` an empty query (one more round trip).",
        group: "postgres SELECT 1",
        param: "1",
        rows: POSTGRES_ROWS,
        floor: "direct connection",
        alt_floor: &[],
        peers: POSTGRES_PEERS,
        delta: false,
    },
    Table {
        title: "4. PostgreSQL `SELECT 1` per checkout, 16 threads",
        about: "The same on 16 threads (deadpool-postgres: 16 tasks on a two-worker runtime), 16 connections per pool.",
        group: "postgres SELECT 1",
        param: "16",
        rows: POSTGRES_ROWS,
        floor: "direct connection",
        alt_floor: &[],
        peers: POSTGRES_PEERS,
        delta: false,
    },
    Table {
        title: "5. The cost of each feature (QueuePool, no-op connection)",
        about: "`benches/benches/features.rs`: one feature on at a time; the floor is the same pool with nothing on.",
        group: "features (no-op connection)",
        param: "",
        rows: &[
            "baseline (nothing on)",
            "reset on return (rollback)",
            "pre_ping",
            "recycle (1 h)",
            "one listener per event",
        ],
        floor: "baseline (nothing on)",
        alt_floor: &[],
        peers: &[],
        delta: true,
    },
    Table {
        title: "5. The cost of each feature (QueuePool, SQLite)",
        about: "An in-memory SQLite connection with a table. The last two rows open a real transaction (`BEGIN`, `INSERT`) and end it by the caller's `ROLLBACK` (reset off) or by reset on return: their difference is what reset on return costs over doing it by hand.",
        group: "features (SQLite)",
        param: "",
        rows: &[
            "SELECT 1, baseline (nothing on)",
            "SELECT 1, pre_ping",
            "SELECT 1, reset on return (no transaction open)",
            "transaction, caller's ROLLBACK (reset off)",
            "transaction, reset on return rolls back",
        ],
        floor: "SELECT 1, baseline (nothing on)",
        alt_floor: &[(&["transaction, reset on return rolls back"], "transaction, caller's ROLLBACK (reset off)")],
        peers: &[],
        delta: true,
    },
];

fn find_benchmark_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                let file = path.join("benchmark.json");
                if file.exists() {
                    out.push(file);
                }
            } else if path.file_name().is_none_or(|n| n != "report" && n != "base") {
                find_benchmark_files(&path, out);
            }
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

/// `|` would end a table cell; `<` and `>` would be read as HTML.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

fn time(ns: f64) -> String {
    if !ns.is_finite() {
        "-".into()
    } else if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() {
        "-".into()
    } else if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} /s")
    }
}

/// The UTC date and time of a Unix timestamp (days to civil date after Howard Hinnant).
fn date(unix: f64) -> String {
    let secs = unix as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

/// CPU model, core count and memory, from /proc.
fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(String::new(), |kb| format!(", {:.0} GiB memory", kb / 1024.0 / 1024.0));
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or(String::new(), |k| format!(", Linux {}", k.trim()));
    format!("{model}, {cores} cores{memory}{kernel}")
}

fn rustc() -> String {
    Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or("unknown".into(), |v| v.trim().to_string())
}

/// Every package's versions in Cargo.lock.
fn lock_versions(root: &Path) -> BTreeMap<String, Vec<String>> {
    let lock = fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut name: Option<String> = None;
    for line in lock.lines() {
        let value = |l: &str, key: &str| {
            l.strip_prefix(key)
                .map(|v| v.trim().trim_start_matches('=').trim().trim_matches('"').to_string())
        };
        if line == "[[package]]" {
            name = None;
        } else if let Some(n) = value(line, "name ") {
            name = Some(n);
        } else if let (Some(v), Some(n)) = (value(line, "version "), name.take()) {
            versions.entry(n).or_default().push(v);
        }
    }
    versions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(date(0.0), "1970-01-01 00:00");
        assert_eq!(date(951_782_400.0), "2000-02-29 00:00");
        assert_eq!(date(1_795_003_600.0), "2026-11-18 12:06");
    }

    #[test]
    fn a_postgres_url_shows_only_its_server() {
        assert_eq!(server("postgres://postgres:secret@127.0.0.1:5432/test"), "127.0.0.1:5432/test");
        assert_eq!(server("postgres://127.0.0.1/test?sslmode=disable"), "127.0.0.1/test");
    }

    #[test]
    fn times_and_rates_read_well() {
        assert_eq!(time(61.23), "61.2 ns");
        assert_eq!(time(51_867.0), "51.87 µs");
        assert_eq!(rate(16_400_000.0), "16.40 M/s");
        assert_eq!(rate(653_000.0), "653.0 k/s");
    }

    #[test]
    fn cargo_lock_versions_are_read() {
        let versions = lock_versions(&root());
        assert!(versions.get("serde_json").is_some_and(|v| !v.is_empty()));
    }
}
