//! The retrieval quality bar, kept: on the sample corpus and the project's
//! eval set, hybrid search reaches recall@5 ≥ 0.95 and MRR ≥ 0.85 on
//! paraphrased questions and beats dense-only and BM25-only, and every
//! question that names a paper gets it first.

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
        let outcomes = eval::run_mode(&lib, &questions, &SearchConfig::default(), mode)
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
            let (unanswerable_below, _) = eval::threshold_split(&outcomes, SearchConfig::default().min_relevance);
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
