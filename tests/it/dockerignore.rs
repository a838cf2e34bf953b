//! The image's build context: `.dockerignore` read with Docker's rules
//! (moby/patternmatcher: a pattern excludes a path when it matches the
//! path or one of its parent directories, the last matching pattern wins,
//! `!` re-includes, `*` stays within a path segment, `**` crosses them) keeps
//! out what must never be sent and keeps in everything the build reads.

use std::path::Path;

/// `*`, `?` and `**` over `/`-separated paths.
fn glob(pattern: &[u8], path: &[u8]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((b'*', rest)) if rest.first() == Some(&b'*') => {
            let rest = &rest[1..];
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            // `**` is any number of whole segments (zero included).
            (0..=path.len()).any(|i| (i == 0 || path[i - 1] == b'/') && glob(rest, &path[i..]))
        }
        Some((b'*', rest)) => (0..=path.len())
            .take_while(|&i| i == 0 || path[i - 1] != b'/')
            .any(|i| glob(rest, &path[i..])),
        Some((b'?', rest)) => path.first().is_some_and(|&c| c != b'/') && glob(rest, &path[1..]),
        Some((c, rest)) => path.first() == Some(c) && glob(rest, &path[1..]),
    }
}

struct Rules(Vec<(bool, String)>);

impl Rules {
    fn read() -> Rules {
        let text = std::fs::read_to_string(crate::support::repo().join(".dockerignore")).expect(".dockerignore exists");
        Rules(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| match l.strip_prefix('!') {
                    Some(p) => (false, p.trim_start_matches('/').trim_end_matches('/').to_string()),
                    None => (true, l.trim_start_matches('/').trim_end_matches('/').to_string()),
                })
                .collect(),
        )
    }

    fn excluded(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let prefixes: Vec<String> = (1..=parts.len()).map(|n| parts[..n].join("/")).collect();
        let mut out = false;
        for (exclude, pattern) in &self.0 {
            if prefixes.iter().any(|p| glob(pattern.as_bytes(), p.as_bytes())) {
                out = *exclude;
            }
        }
        out
    }
}

fn files_under(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, root, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn the_matcher_follows_dockers_rules() {
    assert!(glob(b"*", b"target"));
    assert!(!glob(b"*", b"src/main.rs"));
    assert!(glob(b"**/target", b"target"));
    assert!(glob(b"**/target", b"encoder/target"));
    assert!(glob(b"**/*.safetensors", b"a/b/model.safetensors"));
    assert!(!glob(b"src", b"srcs"));
    let rules = Rules(vec![(true, "*".into()), (false, "src".into()), (true, "**/x".into())]);
    assert!(rules.excluded("other/file"));
    assert!(!rules.excluded("src/main.rs"));
    assert!(rules.excluded("src/x/y.rs"));
}

#[test]
fn the_build_context_keeps_secrets_and_bulk_out_and_the_sources_in() {
    let rules = Rules::read();
    for never in [
        ".env",
        "target/debug/paperbot",
        "data/papers/wal/open-1",
        "models/all-MiniLM-L6-v2/model.safetensors",
        "fuzz/corpus/oai_pmh/seed",
        "fuzz/artifacts/crash-1",
        ".git/HEAD",
        "encoder/target/release/x",
        "src/.env",
        "corpus/data/anything",
    ] {
        assert!(rules.excluded(never), "{never} would be sent to the Docker daemon");
    }
    // Everything the release build reads: the manifests, every source file
    // of both crates, the prompts compiled in, and the corpus the image ships.
    let root = crate::support::repo();
    let mut needed = vec!["Cargo.toml".to_string(), "Cargo.lock".to_string()];
    for dir in ["src", "encoder", "prompts", "corpus"] {
        files_under(&root.join(dir), &root, &mut needed);
    }
    for path in &needed {
        assert!(
            !rules.excluded(path),
            "{path} is needed by the image build but left out"
        );
    }
    // What the Dockerfile copies from the context.
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let source = line.split_whitespace().nth(1).unwrap();
        if source != "." {
            assert!(
                !rules.excluded(source),
                "the Dockerfile copies {source}, which is left out"
            );
        }
    }
}
