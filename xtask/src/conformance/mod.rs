//! `cargo xtask conformance`: the suite of `pool-conformance` on every implementation and
//! backend, in-process, then the peers' reference rows, and the reports.
//!
//! 1. [`servers::find`] fills each unset `POOL_TEST_*_URL` variable whose server answers
//!    at its local default address (an explicitly set variable always wins).
//! 2. [`run::run`] runs `harnesses::all()` × checks × `BackendKind::ALL`, catching panics
//!    as failures, then `peers::all()`'s probes (a panic there is a "no", not a failure),
//!    with progress on stderr.
//! 3. The reports: the short summary ([`text::summary`]) on stdout by default, the full
//!    matrix ([`text::matrix`]) with `--matrix`, every result as JSON with `--json`; and
//!    always the HTML report ([`html`]) in `target/conformance/index.html`.
//!
//! The command exits with 1 iff a check failed.

pub mod docs;
pub mod html;
pub mod results;
pub mod run;
pub mod servers;
pub mod text;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use self::docs::CheckDocs;
use self::results::Outcomes;

/// `cargo xtask conformance`'s flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Also print the full matrix: a row per check, a column per implementation and
    /// backend.
    #[arg(long)]
    pub matrix: bool,
    /// Print every result as JSON (a list of {implementation, backend, check, outcome,
    /// reason}) instead of the report.
    #[arg(long, conflicts_with = "matrix")]
    pub json: bool,
    /// Run only the checks whose name (`group::name`) contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
}

/// Runs the command.
pub fn run(options: &Options) -> ExitCode {
    let root = workspace_root();
    let servers = servers::find();
    let outcomes = run::run(options.filter.as_deref());

    let docs = CheckDocs::load(&root.join("crates/pool-conformance/src/checks"));
    let html_path = target_dir(&root).join("conformance/index.html");
    let html = match html::write(&html_path, &outcomes, &docs, &servers) {
        Ok(()) => Some(html_path.as_path()),
        Err(e) => {
            eprintln!("could not write {}: {e}", html_path.display());
            None
        }
    };

    if options.json {
        println!("{}", json(&outcomes));
        if let Some(html) = html {
            eprintln!("HTML report: {}", html.display());
        }
    } else {
        if options.matrix {
            println!("{}", text::matrix(&outcomes));
        }
        print!("{}", text::summary(&outcomes, &servers, html));
    }
    if outcomes.failures().next().is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Every result as a JSON list of `{implementation, backend, check, outcome, reason}`,
/// `outcome` one of `pass`, `skip`, `fail`, `no` (a peer's), `reason` null on a pass.
pub fn json(outcomes: &Outcomes) -> String {
    let list: Vec<_> = outcomes
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "implementation": r.implementation,
                "backend": r.backend.name(),
                "check": r.check,
                "outcome": r.verdict.outcome(),
                "reason": r.verdict.reason(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&list).expect("serializable")
}

/// The workspace's root directory (xtask sits in it).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_path_buf()
}

/// Cargo's target directory, as `cargo metadata` reports it (so `CARGO_TARGET_DIR` and
/// `build.target-dir` count), else `CARGO_TARGET_DIR` (relative to the current
/// directory, as cargo reads it), else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["target_directory"].as_str().map(PathBuf::from))
        .or_else(|| {
            let dir = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty())?;
            Some(std::env::current_dir().ok()?.join(dir))
        })
        .unwrap_or_else(|| root.join("target"))
}
