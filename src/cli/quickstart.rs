//! `paperbot quickstart`: the README's first command. On a fresh machine it
//! fetches the model, ingests the sample corpus into the embedded store,
//! shows a search and answers a question with cited papers (offline
//! extracts unless an LLM is configured), so a new user sees the whole path.

use std::path::Path;
use std::process::ExitCode;

use std::sync::Arc;

use paperbot::answer::Answerer;
use paperbot::answer::llm::LlmClient;
use paperbot::answer::prompts::Prompts;
use paperbot::config::{Config, Secrets};
use paperbot::library::Library;
use paperbot::retrieve::{self, SearchOptions};

pub async fn run(
    config: &Config,
    secrets: &Secrets,
    corpus: &Path,
    query: &str,
    question: &str,
) -> anyhow::Result<ExitCode> {
    // Prompt or LLM misconfiguration fails before minutes of embedding.
    let prompts = Prompts::load(config.answer.prompts_dir.as_deref())?;
    let llm = LlmClient::from_config(&config.llm, secrets.llm_api_key.as_ref())?;
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

    println!("\nask: {question}\n");
    let answerer = Answerer::new(Arc::new(lib), prompts, llm, config.answer.clone(), &config.search);
    let code = super::ask::answer(&answerer, question, None, None, false).await?;
    println!(
        "\nnext: paperbot ask \"<your question>\"   ·   paperbot search \"<keywords>\"   ·   paperbot stats   ·   paperbot --help"
    );
    Ok(code)
}
