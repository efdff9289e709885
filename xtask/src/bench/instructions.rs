//! Instructions per uncontended checkout, counted with callgrind over
//! `benches/examples/count.rs`: unlike times, the counts repeat on a loaded machine, so
//! they are what a small regression is judged by.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

use super::{cargo, escape, Report};

/// The loops of `count.rs`, with what each one is in the report.
const LOOPS: [(&str, &str); 8] = [
    ("floor-mutex", "floor: Mutex<Vec>"),
    ("floor-mutex-arc", "floor: Mutex<Vec> + Arc handle"),
    ("queue", "QueuePool"),
    ("singleton", "SingletonThreadPool"),
    ("static", "StaticPool"),
    ("floor-semaphore", "floor: Semaphore+Mutex<Vec>"),
    ("queue-async", "QueuePool (async)"),
    ("deadpool", "deadpool"),
];
/// Checkouts per counted run; a run of 0 counts the setup, which is subtracted.
const ROUNDS: u64 = 100_000;

/// Counts every loop; `None` when valgrind is not installed or the example does not
/// build. The result maps each loop's name to its instructions per get+drop.
pub(super) fn count(root: &Path) -> Option<Value> {
    let valgrind = Command::new("valgrind").arg("--version").output();
    if !valgrind.is_ok_and(|o| o.status.success()) {
        println!("valgrind is not installed: instructions not counted");
        return None;
    }
    let built = cargo()
        .current_dir(root)
        .args(["build", "--profile", "bench", "-p", "benches", "--example", "count"])
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        eprintln!("benches/examples/count.rs did not build");
        return None;
    }
    let exe = root.join("target/release/examples/count");
    let mut counts = Map::new();
    for (name, _) in LOOPS {
        let (Some(setup), Some(total)) = (run(&exe, name, 0), run(&exe, name, ROUNDS)) else {
            eprintln!("callgrind failed on the {name} loop");
            continue;
        };
        let per_op = (total - setup) as f64 / ROUNDS as f64;
        println!("{name}: {per_op:.0} instructions per get+drop");
        counts.insert(name.to_string(), per_op.into());
    }
    Some(Value::Object(counts))
}

/// The instructions callgrind counted for one run of a loop.
fn run(exe: &Path, name: &str, rounds: u64) -> Option<u64> {
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args([name, &rounds.to_string()])
        .stdout(Stdio::null())
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().find(|l| l.contains("Collected :"))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

impl Report<'_> {
    /// The counts as a table, each against its floor and deadpool.
    pub(super) fn instructions_table(&self, md: &mut String) {
        let _ = writeln!(md, "\n## 1b. Instructions per uncontended get and drop (callgrind)\n");
        let _ = writeln!(
            md,
            "`benches/examples/count.rs` under `valgrind --tool=callgrind`: {ROUNDS} rounds \
             of get and drop on a pool of 8 no-op connections, minus a run of 0 rounds (the \
             setup), divided by the rounds. The async loops run on a current-thread tokio \
             runtime. Counts repeat from run to run on a loaded machine, where times do not.\n"
        );
        let Some(counts) = &self.instructions else {
            let _ = writeln!(md, "not counted in this run (valgrind not installed).");
            return;
        };
        let _ = writeln!(md, "| loop | instructions per op | × its floor | × deadpool |");
        let _ = writeln!(md, "|---|---:|---:|---:|");
        let get = |name: &str| counts[name].as_f64();
        for (name, label) in LOOPS {
            let Some(n) = get(name) else { continue };
            let floor =
                if name.contains("async") || name.contains("semaphore") || name == "deadpool" {
                    "floor-semaphore"
                } else {
                    "floor-mutex"
                };
            let ratio = |other: &str| get(other).map_or("-".into(), |o| format!("{:.2}", n / o));
            let _ = writeln!(
                md,
                "| {} | {n:.0} | {} | {} |",
                escape(label),
                ratio(floor),
                ratio("deadpool")
            );
        }
    }
}
