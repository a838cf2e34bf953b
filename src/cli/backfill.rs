//! `paperbot backfill oai|snapshot`: bulk ingestion, resumable.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paperbot::app::App;
use paperbot::backfill::{self, OaiRequest, Report};
use paperbot::sources::snapshot::SnapshotFilter;

#[derive(clap::Subcommand, Debug)]
pub enum BackfillWhat {
    /// Harvest arXiv's OAI-PMH interface (metadataPrefix=arXiv), page by page
    Oai(OaiArgs),
    /// Read the arXiv metadata snapshot (arxiv-metadata-oai-snapshot.json, JSON lines)
    Snapshot(SnapshotArgs),
}

#[derive(clap::Args, Debug)]
pub struct OaiArgs {
    /// OAI set, e.g. `cs`, `math`, `physics:hep-th`
    #[arg(long)]
    set: Option<String>,
    /// First day (records added or updated since), YYYY-MM-DD
    #[arg(long)]
    from: NaiveDate,
    /// Last day, YYYY-MM-DD
    #[arg(long)]
    until: Option<NaiveDate>,
    /// Keep only these categories (`cs.CL,cs.LG`; an archive like `cs` keeps all its subjects)
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// Start over instead of resuming where the same harvest stopped
    #[arg(long)]
    restart: bool,
}

#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    file: PathBuf,
    /// Keep only these categories (`cs.`, `cs.CL,cs.LG`)
    #[arg(long, value_delimiter = ',')]
    categories: Vec<String>,
    /// First day of a paper's first version, YYYY-MM-DD
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Last day of a paper's first version, YYYY-MM-DD
    #[arg(long)]
    until: Option<NaiveDate>,
    /// Start over instead of resuming where the same backfill stopped
    #[arg(long)]
    restart: bool,
    /// Lines per batch (each batch is flushed and its end saved)
    #[arg(long, default_value_t = backfill::SNAPSHOT_BATCH_LINES, hide = true)]
    batch_lines: usize,
}

fn bar(unit: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if !pb.is_hidden() {
        let template = format!("backfill [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
        pb.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
    }
    pb
}

pub async fn run(app: &App, what: BackfillWhat) -> anyhow::Result<ExitCode> {
    let lib = app.library().await?;
    let stop = super::ingest::stop_on_signal();
    let report = match what {
        BackfillWhat::Oai(a) => {
            let fetcher = app.fetcher()?;
            let req = OaiRequest {
                set: a.set,
                from: a.from,
                until: a.until,
                categories: a.categories,
            };
            let pb = bar("records");
            let r = backfill::oai(&lib, &fetcher, &req, a.restart, &pb, &stop).await;
            pb.finish_and_clear();
            r.context("OAI-PMH backfill")?
        }
        BackfillWhat::Snapshot(a) => {
            let filter = SnapshotFilter {
                categories: a.categories,
                from: a.from,
                until: a.until,
            };
            let pb = bar("bytes");
            let r = backfill::snapshot(&lib, &a.file, &filter, a.batch_lines, a.restart, &pb, &stop).await;
            pb.finish_and_clear();
            r.context("snapshot backfill")?
        }
    };
    print_report(&report);
    Ok(if report.interrupted {
        eprintln!("interrupted: progress is saved; run the same command again to go on from there");
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_report(r: &Report) {
    let p = &r.progress;
    let c = &p.counts;
    if let Some(at) = r.resumed {
        println!("resumed a backfill saved at {at} records/lines");
    }
    println!(
        "backfill {}: {} records/lines read; {} new, {} updated, {} unchanged, {} filtered out, {} skipped, {} withdrawn upstream",
        if p.finished { "finished" } else { "stopped" },
        p.done,
        c.new,
        c.updated,
        c.unchanged,
        c.filtered,
        c.skipped,
        c.deleted
    );
}
