//! `paperbot export`: every paper as JSONL, the format `ingest` reads back.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use paperbot::config::{Config, Secrets};
use paperbot::paper::Paper;
use paperbot::store::PaperStore;

pub async fn all_papers<S: PaperStore>(store: &S) -> anyhow::Result<Vec<Paper>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.scroll(cursor, 1_000).await?;
        out.extend(page.papers.into_iter().map(|s| s.paper));
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
}

pub async fn run(config: &Config, secrets: &Secrets, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let store = paperbot::library::open_store(config, secrets)?;
    let papers = all_papers(&store).await?;
    let mut w: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for p in &papers {
        w.write_all(paperbot::sources::jsonl::to_line(p).as_bytes())?;
    }
    w.flush()?;
    if let Some(p) = output {
        eprintln!("exported {} papers to {}", papers.len(), p.display());
    }
    Ok(ExitCode::SUCCESS)
}
