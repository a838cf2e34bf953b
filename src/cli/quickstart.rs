//! `paperbot quickstart`: the README's first command. On a fresh machine it
//! fetches the model, ingests the sample corpus into the embedded store,
//! shows a search and answers a question with cited papers (offline
//! extracts unless an LLM is configured), so a new user sees the whole path.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use paperbot::app::App;
use paperbot::ingest::Incoming;
use paperbot::retrieve;
use paperbot::sync::Read;

#[derive(clap::Args, Debug)]
pub struct QuickstartArgs {
    /// A corpus to ingest instead of the sample one built into paperbot
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// The search to show
    #[arg(long, default_value = "which papers find errors in step-by-step math reasoning?")]
    query: String,
    /// The question to answer with citations
    #[arg(long, default_value = "which papers study reward hacking?")]
    question: String,
}

/// The sample corpus (`corpus/hf-papers-page.txt`, 85 papers of a real
/// Hugging Face papers page), built in so that `quickstart` works from any
/// directory and in the container image, not only in a checkout.
const SAMPLE: &[u8] = include_bytes!("../../corpus/hf-papers-page.txt");

fn sample() -> Read {
    let outcome = paperbot::sources::page_text::parse(SAMPLE);
    Read {
        skipped: outcome.problems.len(),
        records: outcome.papers.into_iter().map(Incoming::from).collect(),
        ..Read::default()
    }
}

pub async fn run(app: &App, args: QuickstartArgs) -> anyhow::Result<ExitCode> {
    // Prompt or LLM misconfiguration fails before minutes of embedding.
    app.prompts()?;
    app.llm()?;
    let embed = &app.config.embed;
    if embed.backend == paperbot::embed::EmbedBackend::Local && !paperbot::embed::model::is_present(&embed.model_dir) {
        super::model::fetch(app).await?;
    }
    let read = match &args.corpus {
        Some(path) => super::ingest::read_sources(app, &[path.display().to_string()]).await?,
        None => sample(),
    };
    if let Some(f) = read.failed.first() {
        anyhow::bail!("cannot read the corpus: {f}");
    }
    let lib = app.library().await?;
    let pb = super::ingest::progress_bar(read.records.len(), "embedding");
    let mut counts = paperbot::ingest::ingest_until(&lib, read.records, &pb, &Default::default())
        .await?
        .counts;
    pb.finish_and_clear();
    counts.skipped += read.skipped;
    super::ingest::print_summary(&paperbot::store::PaperStore::describe(&lib.store), counts);

    println!("\nsearch: {}", args.query);
    let hits = retrieve::search(&lib, &args.query, &app.config.search.options(5)).await?;
    super::search::print_hits(&hits, None, false)?;

    println!("\nask: {}\n", args.question);
    let answerer = app.answerer_over(Arc::new(lib))?;
    let code = super::ask::answer(&answerer, &super::ask::AskArgs::question(&args.question)).await?;
    println!(
        "\nnext: paperbot ask \"<your question>\"   ·   paperbot search \"<keywords>\"   ·   paperbot stats   ·   paperbot --help"
    );
    Ok(code)
}
