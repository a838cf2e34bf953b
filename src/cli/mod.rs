//! Command-line interface: one file per command, each holding its flags (a
//! `clap::Args` struct with their help text) and its handler. This file
//! lists the commands, loads the configuration and hands each handler the
//! [`App`] it runs in.

mod ask;
mod backfill;
mod bench;
mod config;
mod digest;
mod eval;
mod export;
mod ingest;
mod model;
mod quickstart;
mod search;
mod serve;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use paperbot::app::App;
use paperbot::config::Config;
use paperbot::secret::Secrets;
use paperbot::telemetry::{self, LogFormat};

#[derive(Parser, Debug)]
#[command(
    name = "paperbot",
    version,
    about = "Answers questions about recent research papers, with honest citations."
)]
pub struct Args {
    /// Directory of the embedded store [default: ./data]
    #[arg(long, global = true, env = "PAPERBOT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file [default: ./paperbot.toml when present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log output format (filter with PAPERBOT_LOG or RUST_LOG)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Ingest papers: files (page text, HF JSON, arXiv Atom, JSONL), hf:DATE or arxiv:QUERY
    Ingest(ingest::IngestArgs),
    /// Search the library (no LLM)
    Search(search::SearchArgs),
    /// Answer a question with cited papers (offline extracts when no LLM is configured)
    Ask(ask::AskArgs),
    /// The digest of papers that entered the library recently
    Digest(digest::DigestArgs),
    /// Print the effective configuration (secrets redacted); --check validates it
    Config(config::ConfigArgs),
    /// Bulk, resumable ingestion from arXiv's OAI-PMH interface or its metadata snapshot
    Backfill {
        #[command(subcommand)]
        what: backfill::BackfillWhat,
    },
    /// One round of continuous ingestion: HF daily papers for the last sync.hf_days days, sync.arxiv_queries
    Sync,
    /// Run the Discord bot (token from DISCORD_TOKEN); stops cleanly on SIGTERM/Ctrl-C
    Serve(serve::ServeArgs),
    /// Papers most like a given paper (by id, URL or title)
    Related(search::RelatedArgs),
    /// Retrieval quality per search mode on a JSONL question set (question, gold titles)
    Eval(eval::EvalArgs),
    /// Library statistics
    Stats(stats::StatsArgs),
    /// Write every paper as JSONL (re-import with `ingest`)
    Export(export::ExportArgs),
    /// Rebuild the library's index for this paperbot (keeps every paper)
    Reindex(ingest::ReindexArgs),
    /// Benchmarks that print a table (ratios to a baseline measured in the same run)
    Bench {
        #[command(subcommand)]
        what: bench::BenchWhat,
    },
    /// Manage the local embedding model
    Model {
        #[command(subcommand)]
        action: model::ModelAction,
    },
    /// Fresh machine: fetch the model, ingest the sample corpus, search it and answer a question
    Quickstart(quickstart::QuickstartArgs),
}

impl Command {
    /// Commands whose stdout is data: only warnings go to the log.
    fn quiet(&self) -> bool {
        match self {
            Command::Search(a) => a.json,
            Command::Ask(a) => a.json,
            Command::Digest(a) => a.json,
            Command::Stats(a) => a.json,
            Command::Export(a) => a.output.is_none(),
            Command::Config(_) => true,
            _ => false,
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    telemetry::init(args.log_format, if args.command.quiet() { "warn" } else { "info" });
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) if matches!(args.command, Command::Config(_)) => {
            eprintln!("error: invalid configuration: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(anyhow::Error::new(e).context("invalid configuration")),
    };
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    let app = App::new(config, Secrets::from_env());
    match args.command {
        Command::Ingest(a) => ingest::run(&app, a).await,
        Command::Search(a) => search::run(&app, a).await,
        Command::Ask(a) => ask::run(&app, a).await,
        Command::Digest(a) => digest::run(&app, a).await,
        Command::Config(a) => config::run(&app, a),
        Command::Sync => ingest::sync(&app).await,
        Command::Backfill { what } => backfill::run(&app, what).await,
        Command::Serve(a) => serve::run(app, a).await,
        Command::Related(a) => search::related(&app, a).await,
        Command::Eval(a) => eval::run(&app, a).await,
        Command::Stats(a) => stats::run(&app, a).await,
        Command::Export(a) => export::run(&app, a).await,
        Command::Reindex(a) => ingest::reindex(&app, a).await,
        Command::Bench { what } => bench::run(&app, what).await,
        Command::Model { action } => model::run(&app, action).await,
        Command::Quickstart(a) => quickstart::run(&app, a).await,
    }
}
