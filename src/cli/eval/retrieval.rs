//! `paperbot eval <questions.jsonl>`: retrieval quality per search mode and
//! how well the relevance model tells answerable questions from the rest;
//! `--calibrate` fits that model on the questions of one split.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use paperbot::app::App;
use paperbot::eval::{self, ModeScores, Outcome};
use paperbot::retrieve::relevance::RelevanceModel;
use paperbot::store::SearchMode;

use super::EvalArgs;

/// Hits judged per question: the candidates an answer chooses its sources from.
const CANDIDATES: usize = paperbot::retrieve::relevance::CANDIDATES;

pub async fn run(app: &App, file: &Path, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let questions = super::questions(file, args.split.as_deref())?;
    let lib = app.library().await?;
    let json = args.json;
    let mut report = serde_json::Map::new();
    let mut hybrid: Vec<Outcome> = Vec::new();
    if !json {
        println!(
            "{} questions ({} answerable) from {}{}\n",
            questions.len(),
            questions.iter().filter(|q| !q.gold.is_empty()).count(),
            file.display(),
            args.split
                .as_deref()
                .map(|s| format!(", split {s}"))
                .unwrap_or_default()
        );
        println!("| mode | kind | n | recall@1 | recall@5 | recall@10 | MRR |");
        println!("|---|---|---:|---:|---:|---:|---:|");
    }
    for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Sparse] {
        let k = if mode == SearchMode::Hybrid { CANDIDATES } else { 10 };
        let outcomes = eval::run_mode(&lib, &questions, &app.config.search, mode, k).await?;
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
            hybrid = outcomes;
        }
    }
    if let Some(path) = &args.features {
        write_features(path, &questions, &hybrid)?;
    }

    let configured = app.config.search.relevance.clone();
    // Other libraries fitted on with these questions (`--also DIR=FILE`).
    let mut also: Vec<(String, Vec<Outcome>)> = Vec::new();
    for pair in &args.also {
        also.push((
            pair.clone(),
            outcomes_elsewhere(app, pair, args.split.as_deref()).await?,
        ));
    }
    let model = if args.calibrate {
        let sizes: Vec<usize> = std::iter::once(hybrid.len())
            .chain(also.iter().map(|(_, o)| o.len()))
            .collect();
        let mut all: Vec<Outcome> = hybrid
            .drain(..)
            .chain(also.iter_mut().flat_map(|(_, o)| o.drain(..)))
            .collect();
        let model = calibrate(&configured, &mut all, &sizes);
        // Back to their libraries, with the cross-validated decisions.
        let mut all = all.into_iter();
        hybrid = all.by_ref().take(sizes[0]).collect();
        for ((_, outcomes), &n) in also.iter_mut().zip(&sizes[1..]) {
            *outcomes = all.by_ref().take(n).collect();
        }
        model
    } else {
        configured
    };
    let decision = Decision::measure(&hybrid, &model, app.config.answer.sources);
    let also_decisions: Vec<(&String, Decision)> = also
        .iter()
        .map(|(pair, o)| (pair, Decision::measure(o, &model, app.config.answer.sources)))
        .collect();
    report.insert(
        "relevance".into(),
        serde_json::json!({
            "model": &model, "calibrated_here": args.calibrate, "decision": &decision,
            "also": also_decisions.iter().map(|(pair, d)| serde_json::json!({ "library": pair, "decision": d })).collect::<Vec<_>>(),
        }),
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "\nrelevance (search.relevance: answer at p ≥ {:.2}, include a source at p ≥ {:.2}){}:",
        model.answer_at,
        model.include_at,
        if args.calibrate {
            " — fitted on these questions (declines cross-validated), so these numbers are not a result"
        } else {
            ""
        }
    );
    println!("{decision}");
    for (pair, d) in &also_decisions {
        println!("\nalso fitted on {pair}:\n{d}");
    }
    if args.calibrate {
        println!("\n{}", model.to_toml());
    }
    Ok(ExitCode::SUCCESS)
}

/// The hybrid outcomes of `FILE` asked of the embedded library in `DIR`
/// (`pair` = `DIR=FILE`), judged with the configured models.
async fn outcomes_elsewhere(app: &App, pair: &str, split: Option<&str>) -> anyhow::Result<Vec<Outcome>> {
    let (dir, file) = pair
        .split_once('=')
        .with_context(|| format!("--also {pair}: expected DIR=FILE"))?;
    anyhow::ensure!(
        app.config.store.qdrant_url.is_none(),
        "--also reads embedded libraries; unset store.qdrant_url"
    );
    let questions = super::questions(Path::new(file), split)?;
    let store = paperbot::store::open(&app.config.store, Path::new(dir), None)
        .await
        .with_context(|| format!("opening the library in {dir}"))?;
    let lib = app.library_over(store).await?;
    Ok(eval::run_mode(&lib, &questions, &app.config.search, SearchMode::Hybrid, CANDIDATES).await?)
}

/// What the relevance model decides on a set of questions.
#[derive(Debug, serde::Serialize)]
struct Decision {
    offcorpus: usize,
    offcorpus_declined: usize,
    answerable: usize,
    answerable_declined: usize,
    multi: usize,
    /// Multi-paper questions with every gold paper among the included sources.
    multi_all_gold_included: usize,
    /// Gold papers among the candidates that the model includes.
    gold_included: usize,
    gold_candidates: usize,
    /// Sources included per answered question (mean).
    mean_sources: f64,
}

impl Decision {
    fn measure(outcomes: &[Outcome], model: &RelevanceModel, most: usize) -> Decision {
        let declined = |o: &Outcome| o.relevance < model.answer_at;
        let included = |o: &Outcome| sources(o, model, most);
        let answered: Vec<&Outcome> = outcomes.iter().filter(|o| !declined(o)).collect();
        Decision {
            offcorpus: outcomes.iter().filter(|o| !o.answerable).count(),
            offcorpus_declined: outcomes.iter().filter(|o| !o.answerable && declined(o)).count(),
            answerable: outcomes.iter().filter(|o| o.answerable).count(),
            answerable_declined: outcomes.iter().filter(|o| o.answerable && declined(o)).count(),
            multi: outcomes.iter().filter(|o| o.kind == "multi").count(),
            multi_all_gold_included: outcomes
                .iter()
                .filter(|o| o.kind == "multi" && !declined(o))
                .filter(|o| {
                    let inc = included(o);
                    let gold_total = o.gold_count;
                    inc.iter().filter(|&&(_, gold)| gold).count() == gold_total
                })
                .count(),
            gold_included: outcomes
                .iter()
                .filter(|o| !declined(o))
                .map(|o| included(o).iter().filter(|&&(_, gold)| gold).count())
                .sum(),
            gold_candidates: outcomes
                .iter()
                .map(|o| o.judged.iter().filter(|(_, gold)| *gold).count())
                .sum(),
            mean_sources: answered.iter().map(|o| included(o).len()).sum::<usize>() as f64
                / answered.len().max(1) as f64,
        }
    }
}

/// The candidates an answer would use: the first hit and those the paper
/// model includes, most likely first, up to `answer.sources` (as `ask`).
fn sources(o: &Outcome, model: &RelevanceModel, most: usize) -> Vec<(usize, bool)> {
    let mut included: Vec<(f32, usize, bool)> = o
        .judged
        .iter()
        .enumerate()
        .filter(|(i, (j, _))| *i == 0 || j.probability >= model.include_at)
        .map(|(i, (j, gold))| (if i == 0 { f32::INFINITY } else { j.probability }, i, *gold))
        .collect();
    included.sort_by(|a, b| b.0.total_cmp(&a.0));
    included.into_iter().take(most).map(|(_, i, gold)| (i, gold)).collect()
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        writeln!(
            f,
            "  off-corpus questions declined: {}/{} ({:.1}%)",
            self.offcorpus_declined,
            self.offcorpus,
            pct(self.offcorpus_declined, self.offcorpus)
        )?;
        writeln!(
            f,
            "  answerable questions declined: {}/{} ({:.1}%)",
            self.answerable_declined,
            self.answerable,
            pct(self.answerable_declined, self.answerable)
        )?;
        writeln!(
            f,
            "  multi-paper questions with every gold paper among the sources: {}/{} ({:.1}%)",
            self.multi_all_gold_included,
            self.multi,
            pct(self.multi_all_gold_included, self.multi)
        )?;
        write!(
            f,
            "  gold papers among the candidates that reach the sources: {}/{} ({:.1}%); sources per answer: {:.1}",
            self.gold_included,
            self.gold_candidates,
            pct(self.gold_included, self.gold_candidates),
            self.mean_sources
        )
    }
}

/// Answerable questions the calibrated model may decline (on the
/// calibration split): declining a question the library answers costs more
/// than answering from the nearest papers with a clear label.
const MAX_DECLINED: f64 = 0.02;
/// The same, for questions the LLM's relevance check also sees
/// (`check_at`): the check, not this cut, turns the near misses away.
const MAX_DECLINED_CHECKED: f64 = 0.005;
/// Gold papers among the candidates that must reach the sources.
const GOLD_INCLUDED: f64 = 0.98;

/// Fits both models and sets the decision points. `outcomes` are the
/// questions of one or more libraries, in segments of `sizes`; the first is
/// the library the targets are about (its gold lists are complete), the
/// others only add questions to the question model (`--also`).
///
/// - the paper model is fitted on the first library's candidates, and
///   `include_at` set as high as keeps [`GOLD_INCLUDED`] of its gold papers;
/// - the question model is fitted on every library's questions, and
///   `answer_at` set as high as declines at most [`MAX_DECLINED`] of the
///   first library's answerable questions (`check_at`:
///   [`MAX_DECLINED_CHECKED`]) — judged by 5-fold
///   cross-validation (a question asked of two libraries is in the same fold
///   in both), so the cut is not set on scores the model was fitted to.
fn calibrate(start: &RelevanceModel, outcomes: &mut [Outcome], sizes: &[usize]) -> RelevanceModel {
    const FOLDS: usize = 5;
    let main = sizes.first().copied().unwrap_or(outcomes.len()).min(outcomes.len());
    // Each outcome's index within its own library's questions.
    let within: Vec<usize> = sizes.iter().flat_map(|&n| 0..n).collect();
    let fold = |i: usize| within.get(i).copied().unwrap_or(i) % FOLDS;
    let mut model = start.clone();
    let papers: Vec<_> = outcomes[..main]
        .iter()
        .flat_map(|o| o.judged.iter().map(|(j, gold)| (j.evidence, *gold)))
        .collect();
    model.fit_papers(&papers);
    let questions: Vec<_> = outcomes.iter().map(|o| (o.question, o.answerable)).collect();
    // Cross-validated question scores.
    let mut held_out = vec![0.0f32; questions.len()];
    for f in 0..FOLDS {
        let train: Vec<_> = questions
            .iter()
            .enumerate()
            .filter(|(i, _)| fold(*i) != f)
            .map(|(_, q)| *q)
            .collect();
        let mut m = model.clone();
        m.fit_questions(&train);
        for (i, (q, _)) in questions.iter().enumerate().filter(|(i, _)| fold(*i) == f) {
            held_out[i] = m.question_probability(q);
        }
    }
    let mut answerable: Vec<f32> = held_out[..main]
        .iter()
        .zip(&questions)
        .filter(|(_, q)| q.1)
        .map(|(p, _)| *p)
        .collect();
    answerable.sort_by(f32::total_cmp);
    if !answerable.is_empty() {
        // Just under the score of the first answerable question that must pass.
        let cut = |share: f64| {
            let at = ((answerable.len() as f64 * share).floor() as usize).min(answerable.len() - 1);
            answerable[at] * 0.999
        };
        model.answer_at = cut(MAX_DECLINED);
        model.check_at = cut(MAX_DECLINED_CHECKED);
    }
    model.fit_questions(&questions);
    for o in outcomes.iter_mut() {
        for (j, _) in o.judged.iter_mut() {
            j.probability = model.paper_probability(&j.evidence);
        }
    }
    // Report the cross-validated decisions, not the refitted ones.
    for (o, p) in outcomes.iter_mut().zip(held_out) {
        o.relevance = p;
    }
    let mut gold: Vec<f32> = outcomes[..main]
        .iter()
        .flat_map(|o| o.judged.iter().skip(1).filter(|(_, g)| *g).map(|(j, _)| j.probability))
        .collect();
    gold.sort_by(f32::total_cmp);
    if !gold.is_empty() {
        let at = ((gold.len() as f64 * (1.0 - GOLD_INCLUDED)) as usize).min(gold.len() - 1);
        model.include_at = gold[at];
    }
    model
}

fn write_features(path: &PathBuf, questions: &[eval::Question], outcomes: &[Outcome]) -> anyhow::Result<()> {
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    for (q, o) in questions.iter().zip(outcomes) {
        for (rank, (j, gold)) in o.judged.iter().enumerate() {
            let line = serde_json::json!({
                "question": q.question, "kind": o.kind, "split": q.split, "rank": rank + 1, "title": o.titles.get(rank),
                "gold": gold, "answerable": o.answerable, "probability": j.probability, "evidence": j.evidence,
                "question_evidence": o.question, "question_relevance": o.relevance,
            });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(())
}
