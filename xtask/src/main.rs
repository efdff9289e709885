//! Repository automation, run as `cargo xtask <task>`.
//!
//! - `cargo xtask conformance [--json] [--filter TEXT]`: runs the conformance suite for
//!   every implementation on every backend and prints the matrix (pass / skip with its
//!   reason / FAIL). Exits non-zero if any check fails.
//! - `cargo xtask bench [--quick] [--report-only]`: runs every benchmark group and writes
//!   `docs/benchmarks.md` (see `bench.rs`).
//!
//! After the implementations come the peers' reference rows (plain `r2d2::Pool` and plain
//! deadpool `managed::Pool`, on SQLite only): a probe per check the peer can be asked about (see
//! `pool_conformance::peers`). A peer's failed probe is a plain "no", which is not a
//! failure; a check without a probe shows "-".

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod bench;

use pool_conformance::harnesses::{self, Implementation};
use pool_conformance::peers;
use pool_conformance::{BackendKind, Skip};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("conformance") => conformance(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask conformance [--json] [--filter TEXT]\n       cargo xtask bench [--quick] [--report-only]"
            );
            ExitCode::from(2)
        }
    }
}

/// The result of one check on one backend.
#[derive(Debug, Clone)]
enum Verdict {
    Pass,
    Skip(String),
    Fail(String),
    /// A peer's probe panicked: the peer does not do what the check asserts.
    No(String),
}

impl Verdict {
    fn cell(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Skip(_) => "skip",
            Verdict::Fail(_) => "FAIL",
            Verdict::No(_) => "no",
        }
    }
}

/// The short label of a peer's reference row (`r2d2`, `deadpool`), from its row name.
fn peer_label(implementation: &str) -> Option<&'static str> {
    peers::all().into_iter().find(|p| p.name == implementation).map(|p| p.label)
}

struct Row {
    implementation: &'static str,
    backend: BackendKind,
    check: &'static str,
    verdict: Verdict,
}

fn conformance(args: &[String]) -> ExitCode {
    let json = args.iter().any(|a| a == "--json");
    let filter = args.iter().position(|a| a == "--filter").and_then(|i| args.get(i + 1)).cloned();
    let started = Instant::now();

    // Keep failing checks quiet while they run; their messages are reported below.
    let last_panic: Arc<Mutex<Option<String>>> = Arc::default();
    let sink = Arc::clone(&last_panic);
    panic::set_hook(Box::new(move |info| {
        let location =
            info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        *sink.lock().unwrap() = Some(format!("{}{location}", payload_text(info.payload())));
    }));

    let mut rows = Vec::new();
    for Implementation { name, checks } in harnesses::all() {
        for check in checks {
            if filter.as_ref().is_some_and(|f| !check.name.contains(f.as_str())) {
                continue;
            }
            for backend in BackendKind::ALL {
                *last_panic.lock().unwrap() = None;
                let verdict = match panic::catch_unwind(AssertUnwindSafe(|| (check.run)(backend))) {
                    Ok(Ok(())) => Verdict::Pass,
                    Ok(Err(Skip(reason))) => Verdict::Skip(reason),
                    Err(payload) => Verdict::Fail(
                        last_panic
                            .lock()
                            .unwrap()
                            .take()
                            .unwrap_or_else(|| payload_text(&*payload)),
                    ),
                };
                rows.push(Row { implementation: name, backend, check: check.name, verdict });
            }
        }
    }
    // The peers' reference rows: a panic is a "no", never a failure.
    for (peer, probe) in peers::all().into_iter().flat_map(|p| {
        let name = p.name;
        p.probes.into_iter().map(move |probe| (name, probe))
    }) {
        if filter.as_ref().is_some_and(|f| !probe.check.contains(f.as_str())) {
            continue;
        }
        *last_panic.lock().unwrap() = None;
        let verdict = match panic::catch_unwind(probe.run) {
            Ok(Ok(())) => Verdict::Pass,
            Ok(Err(Skip(reason))) => Verdict::Skip(reason),
            Err(payload) => Verdict::No(
                last_panic.lock().unwrap().take().unwrap_or_else(|| payload_text(&*payload)),
            ),
        };
        rows.push(Row {
            implementation: peer,
            backend: BackendKind::Sqlite,
            check: probe.check,
            verdict,
        });
    }
    let _ = panic::take_hook();

    let failures = rows.iter().filter(|r| matches!(r.verdict, Verdict::Fail(_))).count();
    if json {
        print_json(&rows);
    } else {
        print_matrix(&rows);
        let nos = rows.iter().filter(|r| matches!(r.verdict, Verdict::No(_))).count();
        println!(
            "\n{} results in {:.1} s; {failures} FAIL; {nos} no (peers, not failures)",
            rows.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

fn print_matrix(rows: &[Row]) {
    // Columns: one per implementation and backend, in the order first seen.
    let mut columns: Vec<(&str, BackendKind)> = Vec::new();
    for r in rows {
        if !columns.contains(&(r.implementation, r.backend)) {
            columns.push((r.implementation, r.backend));
        }
    }
    let mut checks: Vec<&str> = Vec::new();
    let mut cells: BTreeMap<(&str, &str, &str), &Verdict> = BTreeMap::new();
    for r in rows {
        if !checks.contains(&r.check) {
            checks.push(r.check);
        }
        cells.insert((r.check, r.implementation, r.backend.name()), &r.verdict);
    }

    println!("Summary");
    println!(
        "{:<34} {:>6} {:>6} {:>6} {:>6}",
        "implementation/backend", "pass", "skip", "FAIL", "no"
    );
    for (imp, backend) in &columns {
        let mine = rows.iter().filter(|r| r.implementation == *imp && r.backend == *backend);
        let (mut pass, mut skip, mut fail, mut no) = (0, 0, 0, 0);
        for r in mine {
            match r.verdict {
                Verdict::Pass => pass += 1,
                Verdict::Skip(_) => skip += 1,
                Verdict::Fail(_) => fail += 1,
                Verdict::No(_) => no += 1,
            }
        }
        // A peer row cannot fail, and the project's own rows never say "no".
        let (fail, no) = if peer_label(imp).is_some() {
            ("-".to_string(), no.to_string())
        } else {
            (fail.to_string(), "-".to_string())
        };
        println!(
            "{:<34} {pass:>6} {skip:>6} {fail:>6} {no:>6}",
            format!("{imp}/{}", backend.name())
        );
    }

    // Columns are labelled with the SQLAlchemy test suite's tags (QP, NP, STP, SP, AP):
    // the capitals of the implementation's name, and the backend's first three letters.
    // A peer's row is labelled by its crate name (r2d2/sql, deadpool/sql).
    let label = |imp: &str, backend: BackendKind| {
        if let Some(peer) = peer_label(imp) {
            return format!("{peer}/{}", backend.tag());
        }
        let tag: String = imp.chars().filter(char::is_ascii_uppercase).collect();
        format!("{tag}/{}", backend.tag())
    };
    println!("\nMatrix (columns: {})", {
        let mut legend: Vec<String> = Vec::new();
        for (imp, backend) in &columns {
            legend.push(format!("{} = {imp} on {}", label(imp, *backend), backend.name()));
        }
        legend.join(", ")
    });
    let width = checks.iter().map(|c| c.len()).max().unwrap_or(5).max(5);
    print!("{:<width$}", "check");
    for (imp, backend) in &columns {
        print!(" {:>7}", label(imp, *backend));
    }
    println!();
    for check in &checks {
        print!("{check:<width$}");
        for (imp, backend) in &columns {
            let cell = cells.get(&(*check, *imp, backend.name())).map_or("-", |v| v.cell());
            print!(" {cell:>7}");
        }
        println!();
    }

    let skips: Vec<_> = rows.iter().filter(|r| matches!(r.verdict, Verdict::Skip(_))).collect();
    if !skips.is_empty() {
        println!("\nSkips");
        for r in skips {
            if let Verdict::Skip(reason) = &r.verdict {
                println!("  {} {}/{}: {reason}", r.check, r.implementation, r.backend.name());
            }
        }
    }
    let fails: Vec<_> = rows.iter().filter(|r| matches!(r.verdict, Verdict::Fail(_))).collect();
    if !fails.is_empty() {
        println!("\nFailures");
        for r in fails {
            if let Verdict::Fail(message) = &r.verdict {
                println!("  FAIL {} {}/{}: {message}", r.check, r.implementation, r.backend.name());
            }
        }
    }
    let nos: Vec<_> = rows.iter().filter(|r| matches!(r.verdict, Verdict::No(_))).collect();
    if !nos.is_empty() {
        println!("\nPeers: no (what the peer does not do; not failures)");
        for r in nos {
            if let Verdict::No(message) = &r.verdict {
                println!("  no {} {}/{}: {message}", r.check, r.implementation, r.backend.name());
            }
        }
    }
}

fn print_json(rows: &[Row]) {
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            let (outcome, reason) = match &r.verdict {
                Verdict::Pass => ("pass", None),
                Verdict::Skip(reason) => ("skip", Some(reason.clone())),
                Verdict::Fail(message) => ("fail", Some(message.clone())),
                Verdict::No(message) => ("no", Some(message.clone())),
            };
            serde_json::json!({
                "implementation": r.implementation,
                "backend": r.backend.name(),
                "check": r.check,
                "outcome": outcome,
                "reason": reason,
            })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&list).expect("serializable"));
}
