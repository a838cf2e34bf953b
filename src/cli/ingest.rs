//! `paperbot ingest`, `paperbot sync` and `paperbot reindex`.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paperbot::app::App;
use paperbot::ingest::{self, IngestCounts};
use paperbot::paper::Paper;
use paperbot::sources::SourceSpec;
use paperbot::store::PaperStore;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// Sources: a path, `hf:YYYY-MM-DD` | `hf:today`, or `arxiv:<search query>`
    #[arg(required = true, value_name = "SOURCE")]
    sources: Vec<String>,
}

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

/// What reading the sources gave: papers, records skipped, sources that failed.
pub struct Read {
    pub papers: Vec<Paper>,
    pub skipped: usize,
    pub failed: Vec<String>,
}

/// Reads every source; a source that fails entirely is reported and skipped.
pub async fn read_sources(app: &App, sources: &[String]) -> anyhow::Result<Read> {
    let today = Utc::now().date_naive();
    let specs = sources
        .iter()
        .map(|s| SourceSpec::parse(s, today).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    read_specs(app, &specs).await
}

async fn read_specs(app: &App, specs: &[SourceSpec]) -> anyhow::Result<Read> {
    let fetcher = app.fetcher().context("building the HTTP client")?;
    let (papers, skipped, failed) = paperbot::sync::read_all(specs, &fetcher).await;
    Ok(Read {
        papers,
        skipped,
        failed,
    })
}

pub async fn run(app: &App, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let read = read_sources(app, &args.sources).await?;
    write_and_report(app, read).await
}

/// `paperbot sync`: one round of what `serve` does in the background.
pub async fn sync(app: &App) -> anyhow::Result<ExitCode> {
    let specs = paperbot::sync::specs(&app.config.sync, Utc::now().date_naive());
    let read = read_specs(app, &specs).await?;
    write_and_report(app, read).await
}

/// A token cancelled by the first Ctrl-C or SIGTERM, saying what happens.
pub fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        paperbot::app::wait_for_signal().await;
        eprintln!("\nstopping after the current batch (everything written so far is kept)…");
        signal.cancel();
    });
    stop
}

async fn write_and_report(app: &App, read: Read) -> anyhow::Result<ExitCode> {
    let lib = app.library().await?;
    let total = read.papers.len();
    let pb = progress_bar(total, "embedding");
    let stop = stop_on_signal();
    let outcome = ingest::ingest_until(&lib, read.papers, &pb, &stop)
        .await
        .context("writing papers")?;
    pb.finish_and_clear();
    let mut counts = outcome.counts;
    counts.skipped += read.skipped;
    print_summary(&lib.store.describe(), counts);
    if outcome.interrupted {
        eprintln!(
            "interrupted: {} of {total} papers handled and saved; run the same command again to continue \
             (papers already stored are skipped)",
            outcome.done
        );
        return Ok(ExitCode::from(130));
    }
    if !read.failed.is_empty() {
        eprintln!(
            "{} source(s) could not be read (nothing from them was ingested):",
            read.failed.len()
        );
        for f in &read.failed {
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
pub async fn reindex(app: &App) -> anyhow::Result<ExitCode> {
    let store = app.store().await?;
    let papers: Vec<Paper> = paperbot::store::all(&store)
        .await?
        .into_iter()
        .map(|s| s.paper)
        .collect();
    let data_dir = &app.config.data_dir;
    let backup = data_dir.join(format!("reindex-backup-{}.jsonl", Utc::now().format("%Y%m%dT%H%M%S")));
    std::fs::create_dir_all(data_dir)?;
    let body: String = papers.iter().map(paperbot::sources::jsonl::to_line).collect();
    std::fs::write(&backup, body).with_context(|| format!("writing backup {}", backup.display()))?;
    eprintln!("saved {} papers to {}", papers.len(), backup.display());
    store.drop_collection().await?;
    let lib = app.library_over(store).await?;
    let pb = progress_bar(papers.len(), "re-embedding");
    let counts = ingest::ingest(&lib, papers, &pb).await?;
    pb.finish_and_clear();
    print_summary(&lib.store.describe(), counts);
    Ok(ExitCode::SUCCESS)
}
