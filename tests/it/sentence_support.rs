//! The sentence support check on real abstracts with the real embedder:
//! supported sentences keep (or get) their citation, wrong citations go,
//! unsupported sentences are marked (or removed in strict mode),
//! placeholders never show, names and titles are corrected or marked — and
//! streamed, it holds back no more than the sentence being written.

use paperbot::answer::citations;
use paperbot::answer::support::{
    SupportCheck, SupportConfig, SupportGate, SupportMode, SupportStats, UNKNOWN_NAME_MARK, UNSUPPORTED_MARK,
};
use paperbot::library::Library;
use paperbot::paper::Paper;
use paperbot::store::edge::EdgeStore;

const PROCESSBENCH: &str = "ProcessBench: Identifying Process Errors in Mathematical Reasoning";
const TEACHER: &str = "On Teacher Hacking in Language Model Distillation";
const THOUGHT: &str = "Thought Propagation: An Analogical Approach to Complex Reasoning with Large Language Models";

struct Fixture {
    lib: Library<EdgeStore>,
    papers: Vec<Paper>,
    _tmp: tempfile::TempDir,
}

/// The sample library; sources [1] ProcessBench, [2] Teacher Hacking,
/// [3] Thought Propagation.
async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let lib = crate::support::sample_library(EdgeStore::open(tmp.path()).unwrap(), None).await;
    let all = crate::support::sample_papers().await;
    let papers = [PROCESSBENCH, TEACHER, THOUGHT]
        .iter()
        .map(|t| all.iter().find(|p| p.title == *t).unwrap().clone())
        .collect();
    Fixture { lib, papers, _tmp: tmp }
}

impl Fixture {
    async fn check(&self, mode: SupportMode) -> SupportCheck<'_> {
        let config = SupportConfig {
            mode,
            ..SupportConfig::default()
        };
        SupportCheck::new(
            config,
            &self.lib.dense,
            &self.lib.bm25,
            &self.lib.sentences,
            &self.papers,
        )
        .await
        .unwrap()
    }

    async fn one(&self, sentence: &str) -> (String, SupportStats) {
        let mut stats = SupportStats::default();
        let out = self
            .check(SupportMode::Mark)
            .await
            .check(sentence, &mut stats)
            .await
            .unwrap();
        (out, stats)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supported_sentence_keeps_its_citation() {
    let f = fixture().await;
    let s = "ProcessBench has 3,400 test cases, mostly competition and Olympiad-level math problems [1]. ";
    let (out, stats) = f.one(s).await;
    assert_eq!(out, s);
    assert_eq!(
        (stats.supported, stats.citations_kept, stats.marked),
        (1, 1, 0),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_citation_is_replaced_by_the_source_that_supports_the_sentence() {
    let f = fixture().await;
    // Teacher hacking is source [2], not [3].
    let (out, stats) = f
        .one("Generating data online during distillation effectively mitigates teacher hacking [3].")
        .await;
    assert_eq!(
        out,
        "Generating data online during distillation effectively mitigates teacher hacking [2]."
    );
    assert_eq!((stats.citations_dropped, stats.citations_added), (1, 1), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supported_sentence_without_a_citation_gets_one() {
    let f = fixture().await;
    let (out, stats) = f
        .one("Thought Propagation first asks the model to solve analogous problems and then reuses their solutions.\n")
        .await;
    assert_eq!(
        out,
        "Thought Propagation first asks the model to solve analogous problems and then reuses their solutions [3].\n"
    );
    assert_eq!(stats.citations_added, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsupported_sentence_is_marked_or_removed_and_loses_its_citation() {
    let f = fixture().await;
    let claim = "The benchmark was collected from 12,000 hours of recorded classroom lectures in Finnish [1]. ";
    let (out, stats) = f.one(claim).await;
    assert_eq!(
        out,
        format!(
            "The benchmark was collected from 12,000 hours of recorded classroom lectures in Finnish. {UNSUPPORTED_MARK} "
        )
    );
    assert_eq!((stats.marked, stats.citations_dropped), (1, 1), "{stats:?}");
    // A wrong number is not supported either, even in a sentence that
    // otherwise restates the abstract.
    let (out, _) = f
        .one("ProcessBench consists of 9,100 test cases focused on competition-level math problems [1].")
        .await;
    assert!(out.ends_with(UNSUPPORTED_MARK), "{out}");

    let mut stats = SupportStats::default();
    let out = f
        .check(SupportMode::Strict)
        .await
        .check(claim, &mut stats)
        .await
        .unwrap();
    assert_eq!(out, "");
    assert_eq!(stats.removed, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn placeholders_never_reach_the_reader() {
    let f = fixture().await;
    let (out, stats) = f.one("The answer can be found in [n]. ").await;
    assert_eq!(stats.placeholders, 1);
    let (shown, gate) = citations::validate(&out, 3);
    assert!(!shown.contains('['), "{shown}");
    assert_eq!(gate.placeholders(), 0, "already gone");
    let (shown, gate) = citations::validate("Teacher hacking is real [source].", 3);
    assert_eq!(shown, "Teacher hacking is real.");
    assert_eq!(gate.placeholders(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn mangled_names_and_titles_are_corrected_or_marked() {
    let f = fixture().await;
    let (out, stats) = f
        .one("ProcesBench measures whether models can identify the earliest erroneous step in math solutions [1].")
        .await;
    assert!(out.starts_with("ProcessBench measures"), "{out}");
    assert_eq!(stats.titles_corrected, 1);

    let (out, stats) = f
        .one("ProcessBench on MLNetSharp measures whether models identify the earliest erroneous step [1].")
        .await;
    assert!(out.contains(&format!("MLNetSharp {UNKNOWN_NAME_MARK}")), "{out}");
    assert_eq!(stats.titles_marked, 1);

    let (out, stats) = f
        .one("The paper \u{201c}Thought Propagation: Analogical Reasoning with Language Models\u{201d} reuses solutions of analogous problems [3].")
        .await;
    assert!(out.contains(&format!("\u{201c}{THOUGHT}\u{201d}")), "{out}");
    assert_eq!(stats.titles_corrected, 1);

    let (out, stats) = f
        .one(
            "The paper \"Quantum Annealing For Protein Folding Schedules\" reuses solutions of analogous problems [3].",
        )
        .await;
    assert!(out.contains(&format!("Schedules\" {UNKNOWN_NAME_MARK}")), "{out}");
    assert_eq!(stats.titles_marked, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_it_holds_back_only_the_sentence_being_written() {
    let f = fixture().await;
    let text = "ProcessBench has 3,400 test cases, mostly competition and Olympiad-level math problems [1]. \
                Generating data online during distillation effectively mitigates teacher hacking [3]. \
                The answer can be found in [n].";
    let mut whole = SupportGate::new(f.check(SupportMode::Mark).await);
    let mut expected = whole.push(text).await.unwrap();
    expected.push_str(&whole.finish().await.unwrap());

    let mut gate = SupportGate::new(f.check(SupportMode::Mark).await);
    let mut shown = String::new();
    let first_end = text.find("[1]. ").unwrap() + 5;
    for (i, c) in text.char_indices() {
        shown.push_str(&gate.push(&c.to_string()).await.unwrap());
        if i == first_end {
            // The next sentence has started: the first one is out, checked.
            assert!(shown.starts_with("ProcessBench has 3,400"), "{shown:?}");
        }
        assert!(!shown.contains("[3]"), "an unchecked citation was shown: {shown}");
    }
    shown.push_str(&gate.finish().await.unwrap());
    assert_eq!(shown, expected);
    assert!(shown.contains("teacher hacking [2]."), "{shown}");
    assert_eq!(gate.stats.citations_dropped, 1);
}
