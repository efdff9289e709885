//! Repository rules, checked as ordinary tests (as rust-analyzer's xtask does): every
//! crate documents itself from its README, inherits the workspace lints, and the code map
//! names it; no stray debugging macros and no test hidden behind an ignore attribute.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

fn crates() -> Vec<PathBuf> {
    let mut dirs: Vec<_> = fs::read_dir(root().join("crates"))
        .expect("crates/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("readable").path();
        if path.file_name().is_some_and(|n| n == "target" || n == ".git") {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_crate_has_a_readme_that_is_its_docs() {
    for dir in crates() {
        let readme = dir.join("README.md");
        assert!(readme.exists(), "{} has no README.md", dir.display());
        let lib = fs::read_to_string(dir.join("src/lib.rs")).expect("every crate is a library");
        let documented = lib.contains("include_str!(\"../README.md\")") || lib.starts_with("//!");
        assert!(
            documented,
            "{}: src/lib.rs should start with its docs (include the README)",
            dir.display()
        );
    }
}

#[test]
fn every_crate_inherits_the_workspace_lints() {
    for dir in crates().into_iter().chain([
        root().join("xtask"),
        root().join("benches"),
        root().join("tests"),
    ]) {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{}/Cargo.toml must say [lints] workspace = true",
            dir.display()
        );
    }
}

#[test]
fn the_code_map_names_every_crate() {
    let map = fs::read_to_string(root().join("docs/architecture.md"))
        .expect("docs/architecture.md exists");
    for dir in crates() {
        let name = dir.file_name().expect("named").to_string_lossy().into_owned();
        assert!(map.contains(&name), "docs/architecture.md does not mention {name}");
    }
}

#[test]
fn no_stray_debugging_or_hidden_tests() {
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "benches", "tests"] {
        rust_files(&root().join(dir), &mut files);
    }
    let this = file!().rsplit('/').next().expect("a file name");
    let (dbg, ignore) = (concat!("dbg", "!("), concat!("#[", "ignore"));
    for file in files {
        if file.ends_with(this) {
            continue;
        }
        let text = fs::read_to_string(&file).expect("readable");
        assert!(!text.contains(dbg), "{} contains dbg!", file.display());
        assert!(
            !text.contains(ignore),
            "{} hides a test behind an ignore attribute",
            file.display()
        );
    }
}
