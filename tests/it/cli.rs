//! The `paperbot` binary end to end on the embedded default: ingest the
//! sample corpus, re-ingest idempotently, stats, export/import round trip,
//! search, and bad input that costs only itself.

use std::path::Path;
use std::process::Output;

use crate::support::fake_llm::{FakeLlm, Reply};

fn paperbot(data_dir: &Path, args: &[&str]) -> Output {
    let out = crate::support::paperbot()
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
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
    let corpus = crate::support::corpus();
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

    ask_in_the_terminal(&data);

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

/// `paperbot ask` offline (zero config) and against a local
/// OpenAI-compatible server, streaming, with the key kept out of the logs.
fn ask_in_the_terminal(data: &Path) {
    let offline = stdout(&paperbot(data, &["ask", "which papers study reward hacking?"]));
    assert!(offline.starts_with("- "), "{offline}");
    assert!(offline.contains("(extractive answer"), "{offline}");
    assert!(offline.contains("Sources:\n[1] "), "{offline}");
    // A question the relevance model answers but is unsure of (under
    // `hedge_at`) is labelled as the nearest papers; a sure one is not.
    assert!(!offline.contains(paperbot::answer::HEDGE), "{offline}");
    let unsure = crate::support::paperbot()
        .arg("--data-dir")
        .arg(data)
        .args(["ask", "which papers study reward hacking?"])
        .env("PAPERBOT_SEARCH__RELEVANCE__HEDGE_AT", "1.0")
        .output()
        .unwrap();
    let unsure = stdout(&unsure);
    assert!(unsure.starts_with(paperbot::answer::HEDGE), "{unsure}");
    assert!(unsure.contains("Sources:\n[1] "), "{unsure}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let llm = rt.block_on(FakeLlm::start(vec![
        // [42]: more than `answer.sources` (15), never a source given.
        Reply::text(&["Reward hacking is studied in [1", "] and [3]; see also [42]."]),
        Reply::text(&["Again [2]."]),
    ]));
    let key = "sk-live-NEVER-LOG-9d8c";
    let run = |args: &[&str]| {
        crate::support::paperbot()
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .env("PAPERBOT_LLM__BASE_URL", llm.base_url())
            .env("PAPERBOT_LLM__MODEL", "fake-model")
            .env("PAPERBOT_LLM_API_KEY", key)
            // Scripted text no paper supports: this is about citations and secrets.
            .env("PAPERBOT_ANSWER__SUPPORT__MODE", "off")
            .env("PAPERBOT_LOG", "trace")
            .output()
            .unwrap()
    };
    let out = run(&["ask", "which papers study reward hacking?"]);
    let text = stdout(&out);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        !logs.contains(key) && !text.contains(key),
        "the API key leaked into the output"
    );
    assert!(
        text.starts_with("Reward hacking is studied in [1] and [2]; see also.\n"),
        "{text}"
    );
    assert!(!text.contains("[42]"), "{text}");
    let seen = &llm.seen()[0];
    let sources = seen.sources();
    let expected = format!("Sources:\n[1] {}\n[2] {}", sources[0].1, sources[2].1);
    assert!(text.contains(&expected), "{text}\nexpected {expected}");
    assert!(text.contains("(answer by fake-model"), "{text}");

    let json: serde_json::Value = serde_json::from_str(&stdout(&run(&["ask", "reward hacking?", "--json"]))).unwrap();
    assert_eq!(json["kind"]["kind"], "generated");
    assert_eq!(json["citations"][0]["n"], 1);
    assert_eq!(json["text"], "Again [1].");

    // The script is exhausted: the server now fails, and the CLI says so briefly.
    let failed = run(&["ask", "reward hacking?"]);
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("error: The language model service is failing (HTTP 500)"),
        "{err}"
    );
    drop(rt);
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

#[test]
fn config_prints_the_effective_settings_and_check_names_the_bad_key() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        let mut cmd = crate::support::paperbot();
        cmd.args(args).current_dir(tmp.path());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let shown = run(
        &[("DISCORD_TOKEN", "tok-SECRET-42"), ("PAPERBOT_LLM__MODEL", "llama3.2")],
        &["config"],
    );
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success());
    assert!(
        text.contains("model = \"llama3.2\"") && text.contains("DISCORD_TOKEN: set"),
        "{text}"
    );
    assert!(!text.contains("tok-SECRET-42"), "the token was printed");

    let ok = run(&[], &["config", "--check"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    for (envs, key) in [
        (vec![("PAPERBOT_LLM__BASE_URL", "ftp://llm")], "llm.base_url"),
        (vec![("PAPERBOT_EMBED__BATCH_SISE", "8")], "batch_sise"),
        (vec![("PAPERBOT_OPS__LISTEN", "everywhere")], "ops.listen"),
        (vec![("PAPERBOT_DISCORD__SHARD_LAST", "2")], "discord.shard_first"),
    ] {
        let bad = run(&envs, &["config", "--check"]);
        assert_eq!(bad.status.code(), Some(2), "{envs:?}");
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.contains(key), "{envs:?}: {err}");
    }

    // `serve` refuses what `config --check` rejects, before touching Discord;
    // --shards/--shard-range override the config.
    let serve = |args: &[&str]| {
        let out = run(&[], &[&["serve"], args].concat());
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = serve(&["--shards", "2", "--shard-range", "1..=2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("(1..=2) must lie within 0..shard_total (2)"), "{err}");
    let (code, err) = serve(&["--shard-range", "0..1"]);
    assert_eq!(code, Some(2), "--shard-range needs --shards: {err}");
    assert!(err.contains("--shards"), "{err}");
    let (code, err) = serve(&["--shards", "4", "--shard-range", "2..2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`2..2` is empty"), "{err}");
    // A valid range gets as far as the token.
    let (code, err) = serve(&["--shards", "4", "--shard-range", "2..4"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("DISCORD_TOKEN is not set"), "{err}");
}

/// A library indexed before the keyword forms paperbot now adds (acronyms,
/// other spellings) opens with a warning that names the fix; `reindex`
/// re-derives its keyword vectors in place (the dense vectors stay, nothing
/// is re-embedded), so a question's long form finds an abstract that only
/// has the acronym; `reindex --full` re-embeds too, after a backup.
#[test]
fn a_library_indexed_before_the_acronym_forms_is_told_to_reindex() {
    use paperbot::store::{KeywordVector, PaperStore, SparseVec};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let page = tmp.path().join("page.txt");
    std::fs::write(
        &page,
        "Agent-R: Training Language Model Agents to Reflect via Iterative Self-Training\n\n\
         Agent-R leverages MCTS to construct training data that recover correct trajectories from erroneous ones, \
         so language agents learn to reflect on the fly in interactive environments.\n\n\
         Troublemaker Learning for Low-Light Image Enhancement\n\n\
         Low-light image enhancement restores the color and brightness of underexposed images without paired \
         training data, using a network trained only on normal-light images.\n",
    )
    .unwrap();
    stdout(&paperbot(&data, &["ingest", page.to_str().unwrap()]));
    let sparse_top = |data: &Path| {
        let out = paperbot(
            data,
            &[
                "search",
                "Monte Carlo tree search for agents",
                "--mode",
                "sparse",
                "--json",
            ],
        );
        let hits: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        (
            hits[0]["title"].as_str().map(str::to_string),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (top, log) = sparse_top(&data);
    assert!(top.unwrap().starts_with("Agent-R"), "the acronym's long form finds it");
    assert!(
        !log.contains("reindex"),
        "a library indexed today is not flagged: {log}"
    );

    // As a paperbot before the keyword forms left it: other keyword
    // vectors, and no `keyword_forms` in the meta.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dense_before = rt.block_on(async {
        let store = paperbot::store::edge::EdgeStore::open(&data).unwrap();
        let papers = paperbot::store::all(&store).await.unwrap();
        let old = papers
            .iter()
            .map(|s| KeywordVector {
                id: s.paper.id.clone(),
                text_hash: s.text_hash.clone(),
                sparse: SparseVec {
                    indices: vec![1],
                    values: vec![1.0],
                },
            })
            .collect();
        store.update_keywords(old).await.unwrap();
        store.flush().await.unwrap();
        let mut dense = Vec::new();
        for s in &papers {
            dense.push(store.vectors(&s.paper.id).await.unwrap().unwrap().dense);
        }
        (papers, dense)
    });
    let meta = data.join("papers").join("paperbot-collection.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("keyword_forms");
    std::fs::write(&meta, serde_json::to_vec(&json).unwrap()).unwrap();
    let (top, log) = sparse_top(&data);
    assert_eq!(top, None, "the old keywords do not have the long form");
    assert!(log.contains("paperbot reindex"), "{log}");

    let out = paperbot(&data, &["reindex"]);
    assert!(stdout(&out).contains("reindexed 2 papers") && stdout(&out).contains("in place"));
    let (top, log) = sparse_top(&data);
    assert!(top.unwrap().starts_with("Agent-R"));
    assert!(!log.contains("reindex"), "{log}");
    rt.block_on(async {
        let store = paperbot::store::edge::EdgeStore::open(&data).unwrap();
        let (papers, dense) = &dense_before;
        assert_eq!(&paperbot::store::all(&store).await.unwrap(), papers, "payload kept");
        for (s, d) in papers.iter().zip(dense) {
            assert_eq!(
                &store.vectors(&s.paper.id).await.unwrap().unwrap().dense,
                d,
                "not re-embedded"
            );
        }
    });

    let out = paperbot(&data, &["reindex", "--full"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("saved 2 papers"),
        "a backup first"
    );
    assert!(stdout(&out).contains("2 new"), "{}", stdout(&out));
    assert!(sparse_top(&data).0.unwrap().starts_with("Agent-R"));
}

/// The README's first command, as a new user runs it: from a directory
/// that is no checkout (the sample corpus is built in), no LLM configured.
#[test]
fn quickstart_runs_from_any_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert!(!tmp.path().join("corpus").exists());
    let out = stdout(&paperbot(&data, &["quickstart"]));
    assert!(out.contains("85 new, 0 updated, 0 unchanged, 0 skipped"), "{out}");
    let (search, ask) = out.split_once("\nask: ").expect("a search, then an answer");
    assert!(
        search.contains(" 1. ProcessBench: Identifying Process Errors"),
        "{search}"
    );
    let (answer, sources) = ask.split_once("Sources:").expect("an answer with its sources");
    assert!(answer.contains("reward hacking") && answer.contains("[1]"), "{answer}");
    assert!(sources.contains("[1] "), "{sources}");
    // Run again, it changes nothing and says so.
    let again = stdout(&paperbot(&data, &["quickstart"]));
    assert!(again.contains("0 new, 0 updated, 85 unchanged"), "{again}");
}
