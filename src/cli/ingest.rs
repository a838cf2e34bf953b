//! `paperbot ingest`, `paperbot sync` and `paperbot reindex`.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paperbot::app::App;
use paperbot::backup;
use paperbot::ingest::{self, Incoming, IngestCounts};
use paperbot::library::Library;
use paperbot::sources::SourceSpec;
use paperbot::store::PaperStore;
use paperbot::sync::Read;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// Sources: a file; arXiv ids or links (2401.01234, https://arxiv.org/abs/…,
    /// https://huggingface.co/papers/…); `hf:YYYY-MM-DD` | `hf:today`; `arxiv:<search query>`
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

/// The sources named, ids merged into one request, and why each argument
/// that is no source at all is not: a typo costs only itself, as a file that
/// cannot be read does.
pub fn parse_sources(sources: &[String]) -> (Vec<SourceSpec>, Vec<String>) {
    let today = Utc::now().date_naive();
    let (mut specs, mut errors) = (Vec::new(), Vec::new());
    for s in sources {
        match SourceSpec::parse(s, today) {
            Ok(spec) => specs.push(spec),
            Err(e) => errors.push(e),
        }
    }
    (SourceSpec::merge_ids(specs), errors)
}

/// Reads every source; a source that fails entirely is reported and skipped.
pub async fn read_sources(app: &App, sources: &[String]) -> anyhow::Result<Read> {
    let (specs, errors) = parse_sources(sources);
    if specs.is_empty()
        && let Some(e) = errors.first()
    {
        anyhow::bail!("{e}");
    }
    let mut read = read_specs(app, &specs).await?;
    read.failed.extend(errors);
    Ok(read)
}

async fn read_specs(app: &App, specs: &[SourceSpec]) -> anyhow::Result<Read> {
    let fetcher = app.fetcher().context("building the HTTP client")?;
    Ok(paperbot::sync::read_all(specs, &fetcher).await)
}

pub async fn run(app: &App, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let (specs, errors) = parse_sources(&args.sources);
    if specs.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        return Ok(ExitCode::from(2));
    }
    let mut read = read_specs(app, &specs).await?;
    read.failed.extend(errors);
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
    if read.records.is_empty() && read.state.is_empty() && read.skipped > 0 && read.failed.is_empty() {
        eprintln!("nothing to ingest: every record was skipped (the reasons are above)");
        return Ok(ExitCode::from(2));
    }
    let lib = app.library().await?;
    let total = read.records.len();
    let pb = progress_bar(total, "embedding");
    let stop = stop_on_signal();
    let outcome = ingest::ingest_until(&lib, read.records, &pb, &stop)
        .await
        .context("writing papers")?;
    pb.finish_and_clear();
    let mut counts = outcome.counts;
    counts.skipped += read.skipped;
    print_summary(&lib.store.describe(), counts);
    if !read.state.is_empty() {
        let restored = backup::restore_state(&lib.store, &read.state)
            .await
            .context("restoring subscriptions and digest state")?;
        println!("restored {restored} state records (digest subscriptions and state, budgets)");
    }
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

#[derive(Debug, clap::Args)]
pub struct ReindexArgs {
    /// Re-embed every paper too, even when the library was built by the
    /// configured embedder (by default only its keyword vectors are redone
    /// then, in place)
    #[arg(long)]
    pub full: bool,
}

/// Brings the library up to this paperbot. Built by the configured
/// embedder: each paper's keyword vector is re-derived in place
/// ([`paperbot::reindex::keywords`]), minutes instead of the hours
/// re-embedding 100k papers takes. Built by another (or `--full`): every
/// paper is re-embedded, keeping when each entered the library, after
/// everything is saved to a backup (the export format), so a failure
/// part-way loses nothing: `paperbot ingest <backup>` restores it.
pub async fn reindex(app: &App, args: ReindexArgs) -> anyhow::Result<ExitCode> {
    let store = app.store().await?;
    let Some(found) = store.meta().await? else {
        eprintln!("no library at {} to reindex", store.describe());
        return Ok(ExitCode::SUCCESS);
    };
    let lib = Library::open_to_rebuild(store, &app.config.embed, app.secrets.embed_api_key.as_ref()).await?;
    if !args.full && found.check(&lib.wanted_meta(), &lib.store.describe()).is_ok() {
        let total = lib.store.count().await?;
        let pb = progress_bar(total as usize, "re-deriving keywords");
        let outcome = paperbot::reindex::keywords(&lib, &pb, &stop_on_signal()).await?;
        pb.finish_and_clear();
        if outcome.interrupted {
            eprintln!(
                "interrupted after {} of {total} papers; the library works as it is, and `paperbot reindex` redoes it",
                outcome.done
            );
            return Ok(ExitCode::from(130));
        }
        println!(
            "reindexed {} papers in {}: keyword vectors redone in place (the embedder is unchanged; `--full` re-embeds too)",
            outcome.done,
            lib.store.describe()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let store = &lib.store;
    let data_dir = &app.config.data_dir;
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(format!("reindex-backup-{}.jsonl", Utc::now().format("%Y%m%dT%H%M%S")));
    let file = std::fs::File::create(&path).with_context(|| format!("writing backup {}", path.display()))?;
    let saved = backup::export(store, std::io::BufWriter::new(file))
        .await
        .with_context(|| format!("writing backup {}", path.display()))?;
    eprintln!("saved {} papers to {}", saved.papers, path.display());
    let records: Vec<Incoming> = paperbot::store::all(store)
        .await?
        .into_iter()
        .map(|s| Incoming {
            paper: s.paper,
            first_seen: Some(s.first_seen),
        })
        .collect();
    store.drop_collection().await?;
    let pb = progress_bar(records.len(), "re-embedding");
    let outcome = ingest::ingest_until(&lib, records, &pb, &stop_on_signal()).await?;
    pb.finish_and_clear();
    print_summary(&lib.store.describe(), outcome.counts);
    if outcome.interrupted {
        eprintln!(
            "interrupted: everything is in {}; `paperbot ingest {}` restores what is missing",
            path.display(),
            path.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
