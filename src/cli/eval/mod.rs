//! `paperbot eval`: measured quality, on question files with gold papers.
//! One file per kind of measurement: retrieval and relevance
//! (`retrieval.rs`), whole answers (`answers.rs`), the sentence support
//! check (`claims.rs`).

mod answers;
mod claims;
mod retrieval;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use paperbot::app::App;
use paperbot::eval;

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["file", "answers", "claims"]))]
pub struct EvalArgs {
    /// Retrieval and relevance: questions, one JSON object per line:
    /// {"question", "gold": [titles], "kind", "split"}
    file: Option<PathBuf>,
    /// Whole answers (the configured LLM, or offline) on the same question format.
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// The sentence support check, on claims: {"paper", "claim", "label", "style", "split"}.
    #[arg(long, value_name = "FILE")]
    claims: Option<PathBuf>,
    /// Only the questions (or claims) of this split (`calib` to fit, `test` to report).
    #[arg(long)]
    split: Option<String>,
    /// Fit the relevance model (questions) or the support check (claims) and
    /// print it as a configuration section; numbers on the same data are not a result.
    #[arg(long)]
    calibrate: bool,
    /// With --calibrate: also fit on the questions of FILE asked of the
    /// embedded library in DIR (repeatable), e.g. a bigger library, so the
    /// decision is fitted at the size it will be used at.
    #[arg(long, value_name = "DIR=FILE", requires = "calibrate")]
    also: Vec<String>,
    /// Retrieval: write every judged hit (evidence, probability, gold) to this JSONL file.
    #[arg(long, value_name = "FILE")]
    features: Option<PathBuf>,
    /// Answers: keep every answer in this JSONL file, for reading.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub async fn run(app: &App, args: EvalArgs) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.answers {
        return answers::run(app, file, &args).await;
    }
    if let Some(file) = &args.claims {
        return claims::run(app, file, &args).await;
    }
    let file = args.file.clone().context("a question file is required")?;
    retrieval::run(app, &file, &args).await
}

/// Reads a question file, keeping one split if asked.
fn questions(file: &Path, split: Option<&str>) -> anyhow::Result<Vec<eval::Question>> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut questions = eval::read(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if let Some(split) = split {
        questions.retain(|q| q.split.as_deref() == Some(split));
        anyhow::ensure!(
            !questions.is_empty(),
            "no question in {} has split `{split}`",
            file.display()
        );
    }
    Ok(questions)
}

/// The value at quantile `q` (0..=1) of `values` (sorted here).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}
