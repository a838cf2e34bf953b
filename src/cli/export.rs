//! `paperbot export`: the whole library as JSONL — every paper with when it
//! entered the library, and the digest subscriptions, digest state and
//! budgets — the format `ingest` reads back (on either backend).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use paperbot::app::App;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Output file [default: stdout]
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub async fn run(app: &App, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = app.store().await?;
    let w: Box<dyn Write + Send> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let done = paperbot::backup::export(&store, w).await?;
    if let Some(p) = &args.output {
        eprintln!(
            "exported {} papers and {} state records (digest subscriptions and state, budgets) to {}",
            done.papers,
            done.state,
            p.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
