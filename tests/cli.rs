//! The `paperbot` binary end to end on the embedded default: ingest the
//! sample corpus, re-ingest idempotently, stats, export/import round trip,
//! search, and bad input that costs only itself.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn paperbot(data_dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_paperbot"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("PAPERBOT_EMBED__MODEL_DIR", common::model_dir())
        .env("PAPERBOT_LOG", "warn")
        .current_dir(data_dir.parent().unwrap())
        .output()
        .expect("run paperbot");
    eprintln!(
        "$ paperbot {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn ingest_is_idempotent_and_export_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let corpus = common::corpus();
    let corpus = corpus.to_str().unwrap();

    let first = stdout(&paperbot(&data, &["ingest", corpus]));
    assert!(first.contains("85 new, 0 updated, 0 unchanged, 0 skipped"), "{first}");
    let again = stdout(&paperbot(&data, &["ingest", corpus]));
    assert!(again.contains("0 new, 0 updated, 85 unchanged, 0 skipped"), "{again}");

    let stats: serde_json::Value = serde_json::from_str(&stdout(&paperbot(&data, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["count"], 85);
    assert!(stats["backend"].as_str().unwrap().contains("Qdrant Edge"));

    // Title-named question: the named paper comes first.
    let hits: serde_json::Value = serde_json::from_str(&stdout(&paperbot(
        &data,
        &["search", "what does the ProcessBench paper find?", "--json", "--k", "5"],
    )))
    .unwrap();
    assert_eq!(
        hits[0]["title"],
        "ProcessBench: Identifying Process Errors in Mathematical Reasoning"
    );
    for key in ["id", "title", "score", "published", "url"] {
        assert!(hits[0].get(key).is_some(), "search --json has `{key}`");
    }

    // Export, import into a fresh library, export again: identical.
    let e1 = tmp.path().join("e1.jsonl");
    let e2 = tmp.path().join("e2.jsonl");
    stdout(&paperbot(&data, &["export", "-o", e1.to_str().unwrap()]));
    let data2 = tmp.path().join("data2");
    let imported = stdout(&paperbot(&data2, &["ingest", e1.to_str().unwrap()]));
    assert!(imported.contains("85 new"), "{imported}");
    stdout(&paperbot(&data2, &["export", "-o", e2.to_str().unwrap()]));
    let lines = |p: &Path| {
        let mut v: Vec<String> = std::fs::read_to_string(p).unwrap().lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(lines(&e1).len(), 85);
    assert_eq!(lines(&e1), lines(&e2), "every field round-trips");
}

#[test]
fn bad_sources_cost_only_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // An HF response with one good paper, then a bad record, then truncation.
    let hf = tmp.path().join("day.json");
    std::fs::write(
        &hf,
        r#"[{"paper":{"id":"2509.04664","title":"Why Language Models Hallucinate","summary":"Like students facing hard exam questions, models guess.","upvotes":26}},
            {"paper":{"id":"2509.00002","title":"<i>No abstract</i>"}},
            {"paper":{"id":"2509.00003","title":"Cut"#,
    )
    .unwrap();
    let missing = tmp.path().join("nope.txt");
    let out = paperbot(&data, &["ingest", hf.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a source that could not be read fails the run"
    );
    let so = String::from_utf8_lossy(&out.stdout);
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(so.contains("1 new, 0 updated, 0 unchanged, 2 skipped"), "{so}");
    assert!(se.contains("nope.txt"), "{se}");
    assert!(
        se.contains("2509.00002") && se.contains("empty abstract"),
        "names the record: {se}"
    );

    // Upvotes change upstream: the paper is updated in place, not duplicated.
    std::fs::write(
        &hf,
        r#"[{"paper":{"id":"2509.04664v2","title":"Why Language Models Hallucinate","summary":"Like students facing hard exam questions, models guess.","upvotes":30}}]"#,
    )
    .unwrap();
    let again = stdout(&paperbot(&data, &["ingest", hf.to_str().unwrap()]));
    assert!(again.contains("0 new, 1 updated, 0 unchanged, 0 skipped"), "{again}");
    let stats: serde_json::Value = serde_json::from_str(&stdout(&paperbot(&data, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["count"], 1);
}
