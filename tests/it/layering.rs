//! The layering rule of ARCHITECTURE.md, kept true: only the wiring layer
//! (`src/app.rs`, `src/config.rs` itself, and the binary: `src/main.rs`,
//! `src/cli/`) refers to the root configuration. Every other module takes
//! its own section or built objects.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `rel` (a path under `src/`) belongs to the wiring layer.
fn is_wiring(rel: &Path) -> bool {
    let s = rel.to_string_lossy().replace('\\', "/");
    s == "app.rs" || s.starts_with("app/") || s == "config.rs" || s == "main.rs" || s.starts_with("cli/")
}

/// Lines of `text` that reach the root configuration module.
fn config_uses(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| {
            ["crate::config", "paperbot::config", "super::config", "config::Config"]
                .iter()
                .any(|p| l.contains(p))
        })
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn only_the_wiring_layer_knows_the_whole_configuration() {
    let src = crate::support::repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 40, "found only {} files under src/", files.len());
    let mut offenders = Vec::new();
    let mut wiring_uses = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let uses = config_uses(&std::fs::read_to_string(f).unwrap());
        if is_wiring(rel) {
            wiring_uses += uses.len();
        } else {
            offenders.extend(uses.into_iter().map(|u| format!("src/{}: {u}", rel.display())));
        }
    }
    assert!(
        offenders.is_empty(),
        "modules below the wiring layer import the root config (take your own section instead):\n{}",
        offenders.join("\n")
    );
    assert!(wiring_uses > 0, "the check sees the wiring layer's own imports");
}

#[test]
fn the_check_catches_an_import() {
    assert_eq!(
        config_uses("use crate::config::Config;\n// crate::config in a comment").len(),
        1
    );
    assert_eq!(config_uses("fn f(c: &paperbot::config::Config) {}").len(), 1);
    assert!(config_uses("use crate::store::StoreConfig;").is_empty());
    assert!(is_wiring(Path::new("cli/search.rs")) && !is_wiring(Path::new("discord/mod.rs")));
}
