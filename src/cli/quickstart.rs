//! `paperbot quickstart`: the README's first command. On a fresh machine it
//! fetches the model, ingests the sample corpus into the embedded store and
//! shows a search, so a new user sees the whole path work.

use std::path::Path;
use std::process::ExitCode;

use paperbot::config::{Config, Secrets};
use paperbot::library::Library;
use paperbot::retrieve::{self, SearchOptions};

pub async fn run(config: &Config, secrets: &Secrets, corpus: &Path, query: &str) -> anyhow::Result<ExitCode> {
    if config.embed.backend == paperbot::embed::EmbedBackend::Local
        && !paperbot::embed::model::is_present(&config.embed.model_dir)
    {
        super::model::fetch(config).await?;
    }
    let (papers, skipped, failed) = super::ingest::read_sources(config, &[corpus.display().to_string()]).await?;
    if let Some(f) = failed.first() {
        anyhow::bail!("cannot read the sample corpus: {f}");
    }
    let lib = Library::open(config, secrets).await?;
    let pb = super::ingest::progress_bar(papers.len(), "embedding");
    let mut counts = paperbot::ingest::ingest(&lib, papers, &pb).await?;
    pb.finish_and_clear();
    counts.skipped += skipped;
    super::ingest::print_summary(&paperbot::store::PaperStore::describe(&lib.store), counts);
    println!("\nsearch: {query}");
    let opts = SearchOptions {
        k: 5,
        mode: config.search.mode,
        prefetch: config.search.prefetch,
        ..Default::default()
    };
    let hits = retrieve::search(&lib, query, &opts).await?;
    super::search::print_hits(&hits, false)?;
    println!("\nnext: paperbot search \"<your question>\"   ·   paperbot stats   ·   paperbot --help");
    Ok(ExitCode::SUCCESS)
}
