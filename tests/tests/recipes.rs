//! The README's recipes are the programs under `examples/`, so the two cannot drift: each
//! `<!-- recipe: NAME -->` marker in the README is followed by a `toml` block (the
//! `[dependencies]` lines a user writes) and a `rust` block (the whole `main.rs`); the
//! code must be `examples/NAME/src/main.rs` byte for byte, and the dependency lines those
//! of `examples/NAME/Cargo.toml` once its `path = "..."` keys are removed. CI builds and
//! runs the programs (`.ci/examples`), so what the README shows compiles and runs as
//! copied. No code block of the README hides lines from its reader.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

fn readme() -> String {
    fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// A fenced code block: its info string and its text (every line with its newline).
#[derive(Debug)]
struct Block {
    info: String,
    text: String,
}

/// The fenced code blocks of `markdown` after byte offset `from`, in order.
fn blocks(markdown: &str, from: usize) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for line in markdown[from..].split_inclusive('\n') {
        let trimmed = line.trim_end();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some(Block { info: info.to_owned(), text: String::new() });
                }
            }
            Some(block) => {
                if trimmed == "```" {
                    out.extend(open.take());
                } else {
                    block.text.push_str(line);
                }
            }
        }
    }
    out
}

/// The recipes the README marks: name, dependency block, code block.
fn recipes() -> Vec<(String, Block, Block)> {
    const MARK: &str = "<!-- recipe: ";
    let readme = readme();
    let mut out = Vec::new();
    for (at, _) in readme.match_indices(MARK) {
        let rest = &readme[at + MARK.len()..];
        let name = rest[..rest.find(" -->").expect("a recipe marker ends with -->")].to_owned();
        let mut next = blocks(&readme, at).into_iter();
        let deps = next.next().unwrap_or_else(|| panic!("recipe {name}: no toml block"));
        let code = next.next().unwrap_or_else(|| panic!("recipe {name}: no rust block"));
        assert_eq!(deps.info, "toml", "recipe {name}: the first block after the marker is toml");
        assert!(
            code.info.split([' ', ',']).next() == Some("rust"),
            "recipe {name}: the second block after the marker is rust, not {:?}",
            code.info
        );
        out.push((name, deps, code));
    }
    out
}

/// `examples/*/`, by name.
fn examples() -> BTreeSet<String> {
    fs::read_dir(root().join("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.join("Cargo.toml").exists())
        .map(|p| p.file_name().expect("named").to_string_lossy().into_owned())
        .collect()
}

/// The lines of a manifest's `[dependencies]` table, without `path = "..."` keys.
fn dependency_lines(manifest: &str) -> Vec<String> {
    let table = manifest
        .split_once("[dependencies]\n")
        .expect("a [dependencies] table")
        .1
        .split("\n[")
        .next()
        .expect("split yields one part");
    table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(without_path)
        .collect()
}

/// `line` with its `path = "..."` key (and the comma that joins it) removed.
fn without_path(line: &str) -> String {
    let Some(start) = line.find("path = \"") else { return line.to_owned() };
    let len = line[start + 8..].find('"').expect("a closed path string") + 9;
    let (before, after) = (&line[..start], &line[start + len..]);
    match after.strip_prefix(", ") {
        Some(after) => format!("{before}{after}"),
        None => format!("{}{after}", before.strip_suffix(", ").unwrap_or(before)),
    }
}

#[test]
fn every_example_is_a_readme_recipe_and_every_recipe_an_example() {
    let marked: BTreeSet<String> = recipes().into_iter().map(|(name, _, _)| name).collect();
    assert!(!marked.is_empty(), "the README marks no recipe");
    assert_eq!(marked, examples(), "README recipe markers and examples/*/ differ");
}

#[test]
fn each_recipe_block_is_its_program_byte_for_byte() {
    for (name, _, code) in recipes() {
        let path = root().join("examples").join(&name).join("src/main.rs");
        let program = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(code.text, program, "README recipe {name} differs from {}", path.display());
    }
}

#[test]
fn each_recipe_names_its_programs_dependencies() {
    for (name, deps, _) in recipes() {
        let manifest = fs::read_to_string(root().join("examples").join(&name).join("Cargo.toml"))
            .expect("the example's manifest");
        assert_eq!(
            dependency_lines(&deps.text),
            dependency_lines(&manifest),
            "README recipe {name}: the [dependencies] lines differ from examples/{name}/Cargo.toml \
             (once path = \"...\" is removed)"
        );
        assert!(
            manifest.contains("\n[workspace]\n") || manifest.ends_with("\n[workspace]"),
            "examples/{name}/Cargo.toml must be its own workspace (an empty [workspace] table)"
        );
        assert!(
            root().join("examples").join(&name).join("Cargo.lock").exists(),
            "examples/{name}/Cargo.lock must be committed (CI builds with --locked)"
        );
    }
}

#[test]
fn no_readme_code_block_hides_lines() {
    for block in blocks(&readme(), 0) {
        if block.info.split([' ', ',']).next() != Some("rust") {
            continue;
        }
        for line in block.text.lines() {
            let t = line.trim_start();
            assert!(
                !(t == "#" || t.starts_with("# ")),
                "a README code block hides a line from its reader: {line:?}"
            );
        }
    }
}

#[test]
fn path_keys_are_removed_with_their_comma() {
    let line =
        r#"sqlpool = { version = "0.1", path = "../../crates/sqlpool", features = ["r2d2"] }"#;
    assert_eq!(without_path(line), r#"sqlpool = { version = "0.1", features = ["r2d2"] }"#);
    assert_eq!(without_path(r#"a = { version = "1", path = "x" }"#), r#"a = { version = "1" }"#);
    assert_eq!(without_path(r#"tokio = "1""#), r#"tokio = "1""#);
}
