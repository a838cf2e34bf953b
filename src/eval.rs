//! Retrieval quality, measured: recall@k and MRR per search mode on a set of
//! questions with gold titles, and how well a relevance threshold separates
//! questions the library can answer from those it cannot.
//!
//! File format (JSONL): `{"question": "...", "gold": ["Exact Title", ...]}`;
//! an empty `gold` marks a question the library cannot answer. Other fields
//! (e.g. `kind`) are carried for per-kind breakdowns and otherwise ignored.

use serde::{Deserialize, Serialize};

use crate::library::{Library, LibraryError};
use crate::paper::normalise_title;
use crate::retrieve::relevance::Judged;
use crate::retrieve::{self, SearchConfig};
use crate::store::{PaperStore, SearchMode};

#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    pub question: String,
    #[serde(default)]
    pub gold: Vec<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// `calib` or `test`: thresholds are fitted on one, reported on the other.
    #[serde(default)]
    pub split: Option<String>,
}

/// Reads an eval file; a bad line is an error naming the line.
pub fn read(bytes: &[u8]) -> Result<Vec<Question>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Rank (1-based) of the first gold title among `titles`.
pub fn first_gold_rank(titles: &[String], gold: &[String]) -> Option<usize> {
    let gold: Vec<String> = gold.iter().map(|g| normalise_title(g)).collect();
    titles
        .iter()
        .position(|t| gold.contains(&normalise_title(t)))
        .map(|i| i + 1)
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ModeScores {
    pub questions: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mrr: f64,
}

impl ModeScores {
    /// From the gold ranks of answerable questions (`None` = not in top 10).
    pub fn from_ranks(ranks: &[Option<usize>]) -> ModeScores {
        let n = ranks.len().max(1) as f64;
        let within = |k: usize| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count() as f64 / n;
        ModeScores {
            questions: ranks.len(),
            recall_at_1: within(1),
            recall_at_5: within(5),
            recall_at_10: within(10),
            mrr: ranks.iter().map(|r| r.map_or(0.0, |r| 1.0 / r as f64)).sum::<f64>() / n,
        }
    }
}

/// One question's outcome in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub kind: String,
    pub answerable: bool,
    /// Gold papers the question has.
    pub gold_count: usize,
    pub rank: Option<usize>,
    /// Rank (1-based) of the last gold title, when all are among the hits.
    pub all_gold_rank: Option<usize>,
    /// Cosine of the best dense match.
    pub top_cosine: f32,
    /// Probability that the library answers it (the question model).
    pub relevance: f32,
    /// The best evidence among the hits.
    pub question: crate::retrieve::relevance::QuestionEvidence,
    /// Every hit's evidence and whether it is a gold paper.
    pub judged: Vec<(Judged, bool)>,
    /// The hits' titles, in the same order.
    pub titles: Vec<String>,
}

/// Rank (1-based) of the last of the gold titles among `titles`, if all are there.
pub fn all_gold_rank(titles: &[String], gold: &[String]) -> Option<usize> {
    let titles: Vec<String> = titles.iter().map(|t| normalise_title(t)).collect();
    gold.iter()
        .map(|g| titles.iter().position(|t| *t == normalise_title(g)).map(|i| i + 1))
        .try_fold(0, |worst, r| r.map(|r| worst.max(r)))
        .filter(|&r| r > 0)
}

/// Runs every question in `mode` for `k` hits, otherwise searching as
/// `search` says.
pub async fn run_mode<S: PaperStore>(
    lib: &Library<S>,
    questions: &[Question],
    search: &SearchConfig,
    mode: SearchMode,
    k: usize,
) -> Result<Vec<Outcome>, LibraryError> {
    let mut opts = search.options(k);
    opts.mode = mode;
    let mut out = Vec::with_capacity(questions.len());
    for q in questions {
        let result = retrieve::search_with_relevance(lib, &q.question, &opts).await?;
        let titles: Vec<String> = result.hits.iter().map(|h| h.stored.paper.title.clone()).collect();
        out.push(Outcome {
            kind: q.kind.clone().unwrap_or_else(|| {
                if q.gold.is_empty() {
                    "unanswerable".into()
                } else {
                    "answerable".into()
                }
            }),
            answerable: !q.gold.is_empty(),
            gold_count: q.gold.len(),
            rank: first_gold_rank(&titles, &q.gold),
            all_gold_rank: all_gold_rank(&titles, &q.gold),
            top_cosine: result.top_cosine,
            relevance: result.relevance,
            question: result.question,
            judged: result
                .judged
                .iter()
                .zip(&titles)
                .map(|(j, t)| (*j, first_gold_rank(std::slice::from_ref(t), &q.gold).is_some()))
                .collect(),
            titles,
        });
    }
    Ok(out)
}

/// Threshold behaviour: the share of unanswerable questions whose
/// relevance is under `threshold`, and of answerable ones at or above it.
pub fn threshold_split(outcomes: &[Outcome], threshold: f32) -> (f64, f64) {
    let share = |answerable: bool, pred: &dyn Fn(f32) -> bool| {
        let set: Vec<_> = outcomes.iter().filter(|o| o.answerable == answerable).collect();
        if set.is_empty() {
            return 0.0;
        }
        set.iter().filter(|o| pred(o.relevance)).count() as f64 / set.len() as f64
    };
    (share(false, &|r| r < threshold), share(true, &|r| r >= threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics() {
        let s = ModeScores::from_ranks(&[Some(1), Some(2), None, Some(6)]);
        assert_eq!(s.recall_at_1, 0.25);
        assert_eq!(s.recall_at_5, 0.5);
        assert_eq!(s.recall_at_10, 0.75);
        assert!((s.mrr - (1.0 + 0.5 + 1.0 / 6.0) / 4.0).abs() < 1e-12);
        let titles = vec!["A paper".to_string(), "ProcessBench: X".to_string()];
        assert_eq!(first_gold_rank(&titles, &["processbench  x".into()]), Some(2));
        assert_eq!(first_gold_rank(&titles, &[]), None);
        assert_eq!(
            all_gold_rank(&titles, &["ProcessBench: X".into(), "a paper".into()]),
            Some(2)
        );
        assert_eq!(
            all_gold_rank(&titles, &["ProcessBench: X".into(), "missing".into()]),
            None
        );
        assert_eq!(all_gold_rank(&titles, &[]), None);
    }

    #[test]
    fn reads_eval_files_and_names_bad_lines() {
        let qs = read(b"{\"question\":\"q\",\"gold\":[\"T\"],\"kind\":\"paraphrase\",\"extra\":1}\n\n{\"question\":\"u\",\"gold\":[]}\n").unwrap();
        assert_eq!(qs.len(), 2);
        assert!(qs[1].gold.is_empty());
        assert!(read(b"{\"question\":1}\n").unwrap_err().starts_with("line 1"));
    }
}
