//! The HTML report in a real browser: a report of a small synthetic run is loaded in
//! headless Chromium, and the DOM it builds must hold the matrix, its cells' classes and
//! the escaped messages.
//!
//! Without `chromium` on the PATH the test says why and passes, unless `CI` is set: CI
//! installs Chromium (`.ci/run`), so there a missing browser is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pool_conformance::BackendKind;
use xtask::conformance::docs::{CheckDoc, CheckDocs};
use xtask::conformance::html::{self, MATRIX_ID};
use xtask::conformance::results::{Outcomes, Row, Verdict};
use xtask::conformance::servers::{Found, ServerStatus, SERVERS};

/// A run of two checks on two implementations and two backends, plus a peer, with one of
/// each outcome and a message that would be markup if it were not escaped.
fn synthetic() -> Outcomes {
    let mut rows = Vec::new();
    for implementation in ["QueuePool", "NullPool"] {
        for check in ["base::rec_unconnected", "queue::timeout_fires"] {
            for backend in [BackendKind::Scripted, BackendKind::Sqlite] {
                let verdict = match (implementation, check, backend) {
                    ("NullPool", "queue::timeout_fires", _) => {
                        Verdict::Skip("callers never wait (caps().bounded_wait)".into())
                    }
                    ("QueuePool", "queue::timeout_fires", BackendKind::Sqlite) => Verdict::Fail(
                        "timed out after 3s, not 1s <script>alert(\"x\")</script> & more".into(),
                    ),
                    _ => Verdict::Pass,
                };
                rows.push(Row { implementation, peer: None, backend, check, verdict });
            }
        }
    }
    rows.push(Row {
        implementation: "r2d2::Pool (peer)",
        peer: Some("r2d2"),
        backend: BackendKind::Sqlite,
        check: "queue::timeout_fires",
        verdict: Verdict::No("r2d2's timeout message is \"timed out\"".into()),
    });
    Outcomes { rows, elapsed: Duration::from_millis(1234) }
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// The DOM Chromium builds from `file`, or a panic after a minute.
fn dump_dom(chromium: &Path, file: &Path) -> String {
    let profile = file.with_file_name("chromium-profile");
    let mut child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().expect("wait for chromium").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("chromium's output");
    assert!(output.status.success(), "chromium failed: {:?}", output.status);
    String::from_utf8(output.stdout).expect("utf-8 DOM")
}

#[test]
fn the_report_opens_in_chromium_with_its_matrix() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium is not installed: .ci/run installs it with apt-get"
        );
        eprintln!("skipped: chromium is not installed (apt-get install chromium), so the HTML report was not opened in a browser");
        return;
    };

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html_report");
    let file = dir.join("index.html");
    let mut docs = CheckDocs::default();
    docs.insert(
        "queue::timeout_fires",
        CheckDoc {
            summary:
                "A checkout of an exhausted pool fails with a timeout after the configured time."
                    .into(),
            source: "test_pool.py QueuePoolTest.test_timeout".into(),
        },
    );
    let servers: Vec<ServerStatus> = SERVERS
        .iter()
        .map(|&server| ServerStatus { server, found: Found::Missing("nothing answers".into()) })
        .collect();
    html::write(&file, &synthetic(), &docs, &servers).expect("write the report");

    let dom = dump_dom(&chromium, &file);
    assert!(dom.contains(&format!("<table id=\"{MATRIX_ID}\">")), "no matrix in the DOM:\n{dom}");
    assert!(dom.contains(">queue::timeout_fires</th>"), "no check row in the DOM:\n{dom}");
    // The matrix: 2 checks x (2 implementations x 2 backends + the peer's column).
    let start = dom.find(&format!("<table id=\"{MATRIX_ID}\">")).expect("the matrix");
    let matrix = &dom[start..start + dom[start..].find("</table>").expect("its end")];
    let cells = |class: &str| {
        matrix.matches(&format!("<td class=\"{class}\"")).count()
            + matrix.matches(&format!("<td class=\"{class} ")).count()
    };
    assert_eq!(
        [cells("pass"), cells("skip"), cells("fail"), cells("no"), cells("none")],
        [5, 2, 1, 1, 1],
        "pass, skip, fail, no, not asked in:\n{matrix}"
    );
    // The description is on hover, and a message's markup stays text.
    assert!(dom.contains("A checkout of an exhausted pool fails with a timeout"), "{dom}");
    assert!(!dom.contains("<script>"), "a message became markup:\n{dom}");
    assert!(dom.contains("&lt;script&gt;alert"), "the failure message is missing:\n{dom}");
}
