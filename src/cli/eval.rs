//! `paperbot eval <file.jsonl>`: retrieval quality per search mode.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use paperbot::app::App;
use paperbot::eval::{self, ModeScores, Outcome};
use paperbot::store::SearchMode;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Questions, one JSON object per line: {"question", "gold": [titles], "kind"}
    file: PathBuf,
    #[arg(long)]
    json: bool,
}

pub async fn run(app: &App, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let (file, json) = (&args.file, args.json);
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let questions = eval::read(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let lib = app.library().await?;
    let threshold = app.config.search.min_relevance;
    let mut report = serde_json::Map::new();
    let mut hybrid_outcomes: Vec<Outcome> = Vec::new();
    if !json {
        println!(
            "{} questions ({} answerable) from {}\n",
            questions.len(),
            questions.iter().filter(|q| !q.gold.is_empty()).count(),
            file.display()
        );
        println!("| mode | kind | n | recall@1 | recall@5 | recall@10 | MRR |");
        println!("|---|---|---:|---:|---:|---:|---:|");
    }
    for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Sparse] {
        let outcomes = eval::run_mode(&lib, &questions, &app.config.search, mode).await?;
        let mut by_kind: BTreeMap<String, Vec<Option<usize>>> = BTreeMap::new();
        for o in outcomes.iter().filter(|o| o.answerable) {
            by_kind.entry(o.kind.clone()).or_default().push(o.rank);
            by_kind.entry("all answerable".into()).or_default().push(o.rank);
        }
        let mut mode_report = serde_json::Map::new();
        for (kind, ranks) in &by_kind {
            let s = ModeScores::from_ranks(ranks);
            if !json {
                println!(
                    "| {mode:?} | {kind} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    s.questions, s.recall_at_1, s.recall_at_5, s.recall_at_10, s.mrr
                );
            }
            mode_report.insert(kind.clone(), serde_json::to_value(&s)?);
        }
        report.insert(format!("{mode:?}").to_lowercase(), mode_report.into());
        if mode == SearchMode::Hybrid {
            hybrid_outcomes = outcomes;
        }
    }
    // "Nothing relevant": the best dense cosine against a threshold.
    let (unans_below, ans_above) = eval::threshold_split(&hybrid_outcomes, threshold);
    let best = calibrate(&hybrid_outcomes);
    report.insert(
        "threshold".into(),
        serde_json::json!({"configured": threshold, "unanswerable_below": unans_below, "answerable_at_or_above": ans_above, "calibrated": best}),
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("\nrelevance threshold (best dense cosine; search.min_relevance = {threshold:.2}):");
        println!("  unanswerable questions under it: {:.1}%", unans_below * 100.0);
        println!("  answerable questions at or above it: {:.1}%", ans_above * 100.0);
        if let Some((t, u, a)) = best {
            println!(
                "  best split on this set: {t:.2} ({:.1}% / {:.1}%)",
                u * 100.0,
                a * 100.0
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The threshold that best separates the two groups (balanced accuracy).
fn calibrate(outcomes: &[Outcome]) -> Option<(f32, f64, f64)> {
    let mut candidates: Vec<f32> = outcomes.iter().map(|o| o.top_relevance).collect();
    candidates.sort_by(f32::total_cmp);
    candidates
        .into_iter()
        .map(|t| {
            let (u, a) = eval::threshold_split(outcomes, t);
            (t, u, a)
        })
        .max_by(|x, y| (x.1 + x.2).total_cmp(&(y.1 + y.2)))
}
