//! `paperbot ingest` and `paperbot reindex`.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paperbot::config::{Config, Secrets};
use paperbot::embed::DenseEmbedder;
use paperbot::ingest::{self, IngestCounts};
use paperbot::library::{self, Library};
use paperbot::paper::Paper;
use paperbot::sources::{Fetcher, SourceSpec};
use paperbot::store::PaperStore;

/// A bar on a terminal; nothing otherwise (logs carry progress there).
pub fn progress_bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if pb.is_hidden() {
        return pb;
    }
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} papers ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Reads every source; a source that fails entirely is reported and skipped.
pub async fn read_sources(config: &Config, sources: &[String]) -> anyhow::Result<(Vec<Paper>, usize, Vec<String>)> {
    let today = Utc::now().date_naive();
    let specs = sources
        .iter()
        .map(|s| SourceSpec::parse(s, today).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let fetcher = Fetcher::new(config.http.clone()).context("building the HTTP client")?;
    Ok(paperbot::sync::read_all(&specs, &fetcher).await)
}

pub async fn run(config: &Config, secrets: &Secrets, sources: &[String]) -> anyhow::Result<ExitCode> {
    let (papers, skipped, failed) = read_sources(config, sources).await?;
    write_and_report(config, secrets, papers, skipped, failed).await
}

/// `paperbot sync`: one round of what `serve` does in the background.
pub async fn sync(config: &Config, secrets: &Secrets) -> anyhow::Result<ExitCode> {
    let today = Utc::now().date_naive();
    let specs = paperbot::sync::specs(&config.sync, today);
    let fetcher = Fetcher::new(config.http.clone()).context("building the HTTP client")?;
    let (papers, skipped, failed) = paperbot::sync::read_all(&specs, &fetcher).await;
    write_and_report(config, secrets, papers, skipped, failed).await
}

async fn write_and_report(
    config: &Config,
    secrets: &Secrets,
    papers: Vec<Paper>,
    skipped: usize,
    failed: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let lib = Library::open(config, secrets).await?;
    let pb = progress_bar(papers.len(), "embedding");
    let mut counts = ingest::ingest(&lib, papers, &pb).await.context("writing papers")?;
    pb.finish_and_clear();
    counts.skipped += skipped;
    print_summary(&lib.store.describe(), counts);
    if !failed.is_empty() {
        eprintln!(
            "{} source(s) could not be read (nothing from them was ingested):",
            failed.len()
        );
        for f in &failed {
            eprintln!("  {f}");
        }
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_summary(store: &str, c: IngestCounts) {
    println!(
        "ingest into {store}: {} new, {} updated, {} unchanged, {} skipped",
        c.new, c.updated, c.unchanged, c.skipped
    );
}

/// Re-embeds every stored paper with the configured embedder. The papers
/// are saved to a JSONL backup first, so a failure part-way loses nothing.
pub async fn reindex(config: &Config, secrets: &Secrets) -> anyhow::Result<ExitCode> {
    let store = library::open_store(config, secrets)?;
    let papers = super::export::all_papers(&store).await?;
    let backup = config
        .data_dir
        .join(format!("reindex-backup-{}.jsonl", Utc::now().format("%Y%m%dT%H%M%S")));
    std::fs::create_dir_all(&config.data_dir)?;
    let body: String = papers.iter().map(paperbot::sources::jsonl::to_line).collect();
    std::fs::write(&backup, body).with_context(|| format!("writing backup {}", backup.display()))?;
    eprintln!("saved {} papers to {}", papers.len(), backup.display());
    let dense = DenseEmbedder::from_config(&config.embed, secrets.embed_api_key.as_ref().map(|s| s.expose())).await?;
    store.drop_collection().await?;
    let bm25 = paperbot::embed::Bm25::new(config.embed.bm25_avg_len).map_err(anyhow::Error::msg)?;
    let lib = Library::new(store, dense, std::sync::Arc::new(bm25)).await?;
    let pb = progress_bar(papers.len(), "re-embedding");
    let counts = ingest::ingest(&lib, papers, &pb).await?;
    pb.finish_and_clear();
    print_summary(&lib.store.describe(), counts);
    Ok(ExitCode::SUCCESS)
}
