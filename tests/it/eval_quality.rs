//! The retrieval quality bar, kept: on the sample corpus and the project's
//! eval set, hybrid search reaches recall@5 ≥ 0.95 and MRR ≥ 0.85 on
//! paraphrased questions and beats dense-only and BM25-only, and every
//! question that names a paper gets it first.

use crate::support::fake_llm::{FakeLlm, Judgements};
use paperbot::eval::{self, ModeScores};
use paperbot::retrieve::SearchConfig;
use paperbot::store::SearchMode;
use paperbot::store::edge::EdgeStore;

#[tokio::test(flavor = "multi_thread")]
async fn hybrid_search_meets_the_quality_bar() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = crate::support::sample_library(EdgeStore::open(tmp.path()).unwrap(), None).await;

    let questions =
        eval::read(&std::fs::read(crate::support::repo().join("tests/eval/questions.jsonl")).unwrap()).unwrap();
    let mut mrr = Vec::new();
    for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Sparse] {
        let outcomes = eval::run_mode(&lib, &questions, &SearchConfig::default(), mode, 10)
            .await
            .unwrap();
        let ranks =
            |kind: &str| -> Vec<Option<usize>> { outcomes.iter().filter(|o| o.kind == kind).map(|o| o.rank).collect() };
        let para = ModeScores::from_ranks(&ranks("paraphrase"));
        eprintln!("{mode:?}: paraphrase {para:?}");
        if mode == SearchMode::Hybrid {
            assert!(para.recall_at_5 >= 0.95, "hybrid recall@5 {}", para.recall_at_5);
            assert!(para.mrr >= 0.85, "hybrid MRR {}", para.mrr);
            let titles = ModeScores::from_ranks(&ranks("title"));
            assert_eq!(titles.recall_at_1, 1.0, "a named paper comes first");
            let (unanswerable_below, _) = eval::threshold_split(&outcomes, SearchConfig::default().relevance.answer_at);
            assert!(
                unanswerable_below >= 0.8,
                "threshold flags {unanswerable_below} of unanswerable questions"
            );
        }
        mrr.push(para.mrr);
    }
    assert!(
        mrr[0] > mrr[1] && mrr[0] > mrr[2],
        "hybrid beats dense and sparse: {mrr:?}"
    );
}

/// Runs `paperbot` on a library of the sample corpus in `data`.
fn paperbot_json(data: &std::path::Path, args: &[&str]) -> serde_json::Value {
    paperbot_json_with(data, args, &[])
}

/// [`paperbot_json`] with extra environment variables.
fn paperbot_json_with(data: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let out = crate::support::paperbot()
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn ingest_sample(data: &std::path::Path) {
    let out = crate::support::paperbot()
        .arg("--data-dir")
        .arg(data)
        .args(["ingest", crate::support::corpus().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A held-out set nothing was fitted on (`heldout7.jsonl`; README also
/// reports `heldout11`/`heldout12`): the offline numbers, kept from regressing (the bars sit just
/// under what was measured, not at the targets, which are not met; see
/// README "Is anything in the library relevant?").
#[test]
fn held_out_relevance_and_offline_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ingest_sample(&data);
    let heldout = crate::support::repo().join("tests/eval/heldout7.jsonl");
    let heldout = heldout.to_str().unwrap();

    let r = paperbot_json(&data, &["eval", heldout, "--json"]);
    eprintln!("{}", serde_json::to_string_pretty(&r["relevance"]["decision"]).unwrap());
    let para = &r["hybrid"]["paraphrase"];
    assert!(para["recall_at_5"].as_f64().unwrap() >= 0.95, "{para}");
    assert!(para["mrr"].as_f64().unwrap() >= 0.90, "{para}");
    let d = &r["relevance"]["decision"];
    let share = |a: &str, b: &str| d[a].as_f64().unwrap() / d[b].as_f64().unwrap();
    assert!(share("offcorpus_declined", "offcorpus") >= 0.52, "{d}");
    assert!(share("answerable_declined", "answerable") <= 0.02, "{d}");
    assert!(share("multi_all_gold_included", "multi") >= 0.89, "{d}");

    let a = paperbot_json(&data, &["eval", "--answers", heldout, "--json"]);
    let t = &a["tally"];
    eprintln!("{}", serde_json::to_string_pretty(t).unwrap());
    assert_eq!(t["invalid_citations_shown"], 0, "{t}");
    assert_eq!(t["errors"], 0, "{t}");
    // Declined or answered under the "may not answer this exactly" label.
    let n = |k: &str| t[k].as_f64().unwrap();
    assert!(
        n("offcorpus_declined") + n("offcorpus_hedged") >= 0.74 * n("offcorpus"),
        "{t}"
    );
    assert!(n("answerable_hedged") <= 0.07 * n("answered"), "{t}");
    let (cited, answered) = (t["gold_cited"].as_f64().unwrap(), t["answered"].as_f64().unwrap());
    assert!(cited >= 0.97 * answered, "offline answers quote a gold paper: {t}");
}

/// The LLM's relevance check (`answer.screen`), with a capable model's
/// judgements standing in for the model: every source of every check prompt
/// on the twelve fresh sets (`test7`, `test11`…`test21`) was judged blind by
/// a session reading exactly that prompt (`tests/eval/screen-judged.jsonl`).
/// The whole answer path runs (real retrieval, the relevance models, the
/// check prompt, parsing its reply, declining), so a change anywhere in it
/// shows here; a change that offers sources nobody judged shows as
/// "unjudged" and needs new judgements (`tests/eval/README.md`).
#[test]
fn with_a_capable_models_judgements_the_check_declines_near_misses() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ingest_sample(&data);
    let mut questions = String::new();
    for set in [
        "heldout7",
        "heldout11",
        "heldout12",
        "heldout13",
        "heldout14",
        "heldout15",
        "heldout16",
        "heldout17",
        "heldout18",
        "heldout19",
        "heldout20",
        "heldout21",
    ] {
        questions.push_str(
            &std::fs::read_to_string(crate::support::repo().join(format!("tests/eval/{set}.jsonl"))).unwrap(),
        );
    }
    let file = tmp.path().join("fresh.jsonl");
    std::fs::write(&file, questions).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let judged = std::sync::Arc::new(Judgements::load(
        &crate::support::repo().join("tests/eval/screen-judged.jsonl"),
    ));
    let llm = rt.block_on(FakeLlm::judging(judged.clone(), "The first source addresses this [1]."));
    let url = llm.base_url();
    let run = |screen: &str| {
        let env = [
            ("PAPERBOT_LLM__BASE_URL", url.as_str()),
            ("PAPERBOT_LLM__MODEL", "judged"),
            ("PAPERBOT_ANSWER__SCREEN", screen),
        ];
        let r = paperbot_json_with(&data, &["eval", "--answers", file.to_str().unwrap(), "--json"], &env);
        eprintln!(
            "screen = {screen}: {}",
            serde_json::to_string_pretty(&r["tally"]).unwrap()
        );
        r["tally"].clone()
    };
    let t = run("always");
    let n = |k: &str| t[k].as_f64().unwrap();
    assert_eq!(n("errors"), 0.0, "{t}");
    assert_eq!(n("invalid_citations_shown"), 0.0, "{t}");
    assert!(
        judged.unjudged() as f64 <= 0.02 * n("screened"),
        "{} check prompts offered sources nobody judged: judge them (tests/eval/README.md)",
        judged.unjudged()
    );
    // The targets.
    assert!(n("offcorpus_declined") >= 0.93 * n("offcorpus"), "{t}");
    // Under `answer_at` but not under `check_at`, the check decides: fewer
    // answerable questions are declined than the cut alone declines (2%).
    assert!(n("answerable_declined") <= 0.005 * n("answerable"), "{t}");
    assert!(n("screen_declined_answerable") <= 0.01 * n("answerable"), "{t}");

    // Only when unsure: fewer calls, fewer near misses caught, never fewer
    // than offline.
    let u = run("unsure");
    let m = |k: &str| u[k].as_f64().unwrap();
    assert!(m("screened") < 0.3 * n("screened"), "{u}");
    assert!(m("offcorpus_declined") >= 0.6 * m("offcorpus"), "{u}");
    assert!(m("answerable_declined") <= 0.02 * m("answerable"), "{u}");
}

/// The support check on the held-out claims' test split.
#[test]
fn held_out_claims_support_check() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ingest_sample(&data);
    let claims = crate::support::repo().join("tests/eval/claims.jsonl");
    let r = paperbot_json(
        &data,
        &[
            "eval",
            "--claims",
            claims.to_str().unwrap(),
            "--split",
            "test",
            "--json",
        ],
    );
    let right = |k: &str| r["by_style"][k]["right"].as_f64().unwrap() / r["by_style"][k]["of"].as_f64().unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&r["by_style"]).unwrap());
    assert!(right("all supported") >= 0.8, "{r}");
    assert!(right("all unsupported") >= 0.75, "{r}");
    assert!(
        right("other_paper (unsupported)") >= 0.9,
        "wrong citations are caught: {r}"
    );
}

/// `eval --calibrate --also DIR=FILE`: the question model also learns from
/// another library's questions, but the paper model and both cuts are set on
/// the first library (the one whose gold lists are complete), and the other
/// library's decisions are reported beside it.
#[test]
fn calibrating_with_another_library_keeps_the_first_as_the_anchor() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    ingest_sample(&first);
    ingest_sample(&second);
    let questions = crate::support::repo().join("tests/eval/questions.jsonl");
    let questions = questions.to_str().unwrap();
    let alone = paperbot_json(&first, &["eval", questions, "--calibrate", "--json"]);
    let other = crate::support::repo().join("tests/eval/heldout5.jsonl");
    let also = format!("{}={}", second.display(), other.display());
    let both = paperbot_json(&first, &["eval", questions, "--calibrate", "--also", &also, "--json"]);
    let (a, b) = (&alone["relevance"], &both["relevance"]);
    // Equal up to float noise between two runs (parallel sums in the encoder).
    let close = |x: &serde_json::Value, y: &serde_json::Value| (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-3;
    let paper = a["model"]["paper"].as_object().unwrap();
    assert!(
        paper.iter().all(|(k, w)| close(w, &b["model"]["paper"][k])),
        "the paper model is the first library's: {a} vs {b}"
    );
    assert!(
        close(&a["model"]["include_at"], &b["model"]["include_at"]),
        "{a} vs {b}"
    );
    assert_eq!(b["also"][0]["library"], also.as_str());
    let d = &b["decision"];
    assert!(
        d["answerable_declined"].as_f64().unwrap() <= 0.02 * d["answerable"].as_f64().unwrap() + 1.0,
        "{d}"
    );
    // The other library's questions are judged and reported there.
    assert_eq!(b["also"][0]["decision"]["offcorpus"], 50, "{b}");
    assert_eq!(b["also"][0]["decision"]["answerable"], 100, "{b}");
    assert_ne!(
        a["model"]["question"], b["model"]["question"],
        "the question model learnt from both"
    );
    let out = crate::support::paperbot()
        .arg("--data-dir")
        .arg(&first)
        .args(["eval", questions, "--also", &also])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--also needs --calibrate");
}

/// A search for one acronym the stemmer would make a word ("AIME" → "aim")
/// finds the two papers that report AIME results first, not papers that
/// "aim to": BM25 keeps the acronym's own term, and hybrid hits are shown
/// most likely relevant first rather than in fused order (MiniLM's ranking
/// for the bare word is noise).
/// A search for many hits judges the first `JUDGED` and shows the rest in
/// fused order, and its relevance is the one `ask` reads (the first
/// `CANDIDATES` hits), however many hits are shown.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_search_judges_its_head_and_agrees_with_a_short_one() {
    use paperbot::retrieve::relevance::CANDIDATES;
    use paperbot::retrieve::{JUDGED, search_with_relevance};
    let tmp = tempfile::tempdir().unwrap();
    let lib = crate::support::sample_library(EdgeStore::open(tmp.path()).unwrap(), None).await;
    let q = "which papers study reward hacking?";
    let short = search_with_relevance(&lib, q, &SearchConfig::default().options(CANDIDATES))
        .await
        .unwrap();
    let long = search_with_relevance(&lib, q, &SearchConfig::default().options(80))
        .await
        .unwrap();
    assert_eq!(long.hits.len(), 80);
    assert!(
        long.judged.len() >= JUDGED && long.judged.len() < 80,
        "{}",
        long.judged.len()
    );
    assert!(
        (long.relevance - short.relevance).abs() < 1e-6,
        "{} vs {}",
        long.relevance,
        short.relevance
    );
    // The unjudged tail keeps fusion's order.
    let tail = &long.hits[long.judged.len()..];
    assert!(tail.windows(2).all(|w| w[0].score >= w[1].score));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_word_acronym_search_finds_the_papers_that_name_it() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = crate::support::sample_library(EdgeStore::open(tmp.path()).unwrap(), None).await;
    let hits = paperbot::retrieve::search(&lib, "AIME", &SearchConfig::default().options(5))
        .await
        .unwrap();
    let titles: Vec<&str> = hits.iter().map(|h| h.stored.paper.title.as_str()).collect();
    let mut first_two = titles[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(
        first_two,
        [
            "Advancing Language Model Reasoning through Reinforcement Learning and Inference Scaling",
            "Can 1B LLM Surpass 405B LLM? Rethinking Compute-Optimal Test-Time Scaling",
        ],
        "{titles:#?}"
    );
    // Every candidate is scored on fusion's scale, BM25's own best too (a
    // raw BM25 score of 20 read as a fused score in `search`'s output).
    let all = paperbot::retrieve::search_with_relevance(
        &lib,
        "which papers use Monte Carlo tree search?",
        &SearchConfig::default().options(paperbot::retrieve::relevance::CANDIDATES),
    )
    .await
    .unwrap();
    assert!(all.hits.len() > paperbot::retrieve::relevance::CANDIDATES);
    let most = paperbot::store::schema::RRF_WEIGHTS.iter().sum::<f32>() / paperbot::store::schema::RRF_K as f32;
    for h in &all.hits {
        assert!(
            h.score > 0.0 && h.score <= most,
            "{} scored {}",
            h.stored.paper.title,
            h.score
        );
    }
}
