//! `paperbot export`: every paper as JSONL, the format `ingest` reads back.

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
    let papers = paperbot::store::all(&store).await?;
    let mut w: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for s in &papers {
        w.write_all(paperbot::sources::jsonl::to_line(&s.paper).as_bytes())?;
    }
    w.flush()?;
    if let Some(p) = &args.output {
        eprintln!("exported {} papers to {}", papers.len(), p.display());
    }
    Ok(ExitCode::SUCCESS)
}
