//! Command-line interface: one file per command, all flags defined here.

mod ask;
mod bench;
mod config;
mod digest;
mod eval;
mod export;
mod ingest;
mod model;
mod quickstart;
mod search;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use paperbot::config::{Config, Secrets};
use paperbot::store::SearchMode;
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
    Ingest {
        /// Sources: a path, `hf:YYYY-MM-DD` | `hf:today`, or `arxiv:<search query>`
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<String>,
    },
    /// Search the library (no LLM)
    Search {
        /// The question or keywords
        query: String,
        /// Number of results
        #[arg(long)]
        k: Option<usize>,
        /// Retrievers to use
        #[arg(long, value_enum)]
        mode: Option<SearchMode>,
        /// Only papers published on or after DATE (YYYY-MM-DD) or within a span (7d, 24h)
        #[arg(long, value_name = "DATE|SPAN")]
        since: Option<String>,
        /// Print a JSON array instead of text
        #[arg(long)]
        json: bool,
    },
    /// Answer a question with cited papers (offline extracts when no LLM is configured)
    Ask {
        question: String,
        /// Abstracts to give the model [default: answer.sources]
        #[arg(long)]
        sources: Option<usize>,
        /// Only papers published on or after DATE (YYYY-MM-DD) or within a span (7d, 24h)
        #[arg(long, value_name = "DATE|SPAN")]
        since: Option<String>,
        /// Print the answer, citations and sources as JSON (no streaming)
        #[arg(long)]
        json: bool,
    },
    /// The digest of papers that entered the library recently
    Digest {
        /// Topics to rank by (free text); without, upvotes and recency
        #[arg(long)]
        topics: Option<String>,
        /// Papers that entered the library since DATE or within a span
        #[arg(long, default_value = "24h", value_name = "DATE|SPAN")]
        since: String,
        #[arg(long, default_value_t = 10)]
        max: usize,
        #[arg(long, default_value_t = 0)]
        min_upvotes: u32,
        #[arg(long)]
        json: bool,
    },
    /// Print the effective configuration (secrets redacted); --check validates it
    Config {
        /// Exit 2 with a precise message when something is wrong
        #[arg(long)]
        check: bool,
    },
    /// One round of continuous ingestion: HF daily papers for the last sync.hf_days days, sync.arxiv_queries
    Sync,
    /// Run the Discord bot (token from DISCORD_TOKEN); stops cleanly on SIGTERM/Ctrl-C
    Serve {
        /// Discord shards in the whole deployment [config: discord.shard_total]
        #[arg(long, value_name = "N")]
        shards: Option<u32>,
        /// The shards this process runs: `a..b` (b excluded) or `a..=b`
        /// [default: all of them; config: discord.shard_first/shard_last]
        #[arg(long, value_name = "RANGE", value_parser = parse_shard_range, requires = "shards")]
        shard_range: Option<(u32, u32)>,
    },
    /// Papers most like a given paper (by id or title)
    Related {
        /// An arXiv id, a title- id, or (part of) a title
        paper: String,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long)]
        json: bool,
    },
    /// Retrieval quality per search mode on a JSONL question set (question, gold titles)
    Eval {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Library statistics
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Write every paper as JSONL (re-import with `ingest`)
    Export {
        /// Output file [default: stdout]
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Rebuild the library with the configured embedder (keeps every paper)
    Reindex,
    /// Benchmarks that print a table (ratios to a baseline measured in the same run)
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Manage the local embedding model
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Fresh machine: fetch the model, ingest the sample corpus, search it and answer a question
    Quickstart {
        /// The corpus to ingest
        #[arg(long, default_value = "corpus/hf-papers-page.txt")]
        corpus: PathBuf,
        /// The search to show
        #[arg(long, default_value = "which papers find errors in step-by-step math reasoning?")]
        query: String,
        /// The question to answer with citations
        #[arg(long, default_value = "which papers study reward hacking?")]
        question: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// Embedding latency and throughput, against sentence-transformers when --python is given
    Embed {
        /// A Python with sentence-transformers installed, for the baseline
        #[arg(long)]
        python: Option<PathBuf>,
        #[arg(long, default_value = "corpus/hf-papers-page.txt")]
        corpus: PathBuf,
    },
    /// Search latency and ANN recall on synthetic libraries, against an exact scan
    Search {
        /// Library sizes
        #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 170)]
        queries: usize,
        /// What the libraries are made of
        #[arg(long, value_enum, default_value_t = bench::Vectors::Real)]
        vectors: bench::Vectors,
        /// Corpus the real vectors come from
        #[arg(long, default_value = "corpus/hf-papers-page.txt")]
        corpus: PathBuf,
    },
    /// Ingest throughput on the sample corpus repeated to N papers
    Ingest {
        #[arg(long, default_value_t = 10_000)]
        papers: usize,
        /// Papers embedded for the embedding-only baseline
        #[arg(long, default_value_t = 1_000)]
        baseline: usize,
        #[arg(long, default_value = "corpus/hf-papers-page.txt")]
        corpus: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ModelAction {
    /// Download all-MiniLM-L6-v2 into embed.model_dir (no-op when present)
    Fetch,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let quiet = matches!(
        args.command,
        Command::Search { json: true, .. }
            | Command::Ask { json: true, .. }
            | Command::Config { .. }
            | Command::Digest { json: true, .. }
            | Command::Export { output: None }
            | Command::Stats { json: true }
    );
    telemetry::init(args.log_format, if quiet { "warn" } else { "info" });
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) if matches!(args.command, Command::Config { .. }) => {
            eprintln!("error: invalid configuration: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(anyhow::Error::new(e).context("invalid configuration")),
    };
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    let secrets = Secrets::from_env();
    match args.command {
        Command::Ingest { sources } => ingest::run(&config, &secrets, &sources).await,
        Command::Search {
            query,
            k,
            mode,
            since,
            json,
        } => search::run(&config, &secrets, &query, k, mode, since.as_deref(), json).await,
        Command::Ask {
            question,
            sources,
            since,
            json,
        } => ask::run(&config, &secrets, &question, sources, since.as_deref(), json).await,
        Command::Digest {
            topics,
            since,
            max,
            min_upvotes,
            json,
        } => digest::run(&config, &secrets, topics, &since, max, min_upvotes, json).await,
        Command::Config { check } => config::run(&config, &secrets, check),
        Command::Sync => ingest::sync(&config, &secrets).await,
        Command::Serve { shards, shard_range } => {
            if let Some(total) = shards {
                let (first, last) = shard_range.unwrap_or((0, total.saturating_sub(1)));
                (
                    config.discord.shard_total,
                    config.discord.shard_first,
                    config.discord.shard_last,
                ) = (total, first, last);
            }
            // Refuse to start on a configuration `config --check` would reject.
            let problems = config::problems(&config, &secrets);
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("error: {p}");
                }
                return Ok(ExitCode::from(2));
            }
            paperbot::discord::serve(&config, &secrets)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Related { paper, k, json } => search::related(&config, &secrets, &paper, k, json).await,
        Command::Eval { file, json } => eval::run(&config, &secrets, &file, json).await,
        Command::Stats { json } => stats::run(&config, &secrets, json).await,
        Command::Export { output } => export::run(&config, &secrets, output.as_deref()).await,
        Command::Reindex => ingest::reindex(&config, &secrets).await,
        Command::Bench {
            what: BenchWhat::Embed { python, corpus },
        } => bench::embed(&config, &corpus, python.as_deref()).await,
        Command::Bench {
            what:
                BenchWhat::Search {
                    sizes,
                    queries,
                    vectors,
                    corpus,
                },
        } => bench::search(&config, &corpus, &sizes, queries, vectors).await,
        Command::Bench {
            what:
                BenchWhat::Ingest {
                    papers,
                    baseline,
                    corpus,
                },
        } => bench::ingest(&config, &secrets, &corpus, papers, baseline).await,
        Command::Model {
            action: ModelAction::Fetch,
        } => model::fetch(&config).await,
        Command::Quickstart {
            corpus,
            query,
            question,
        } => quickstart::run(&config, &secrets, &corpus, &query, &question).await,
    }
}

/// `a..b` (half-open, as in Rust) or `a..=b` (inclusive), as (first, last).
fn parse_shard_range(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not a shard range like 0..2 or 0..=1");
    let (a, b, inclusive) = match s.split_once("..=") {
        Some((a, b)) => (a, b, true),
        None => {
            let (a, b) = s.split_once("..").ok_or_else(bad)?;
            (a, b, false)
        }
    };
    let first: u32 = a.trim().parse().map_err(|_| bad())?;
    let end: u32 = b.trim().parse().map_err(|_| bad())?;
    let last = if inclusive {
        end
    } else {
        end.checked_sub(1).ok_or_else(|| format!("`{s}` is empty"))?
    };
    if last < first {
        return Err(format!("`{s}` is empty"));
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::parse_shard_range;

    #[test]
    fn shard_ranges_parse_both_ways() {
        assert_eq!(parse_shard_range("0..2"), Ok((0, 1)));
        assert_eq!(parse_shard_range("2..=3"), Ok((2, 3)));
        assert_eq!(parse_shard_range("4..5"), Ok((4, 4)));
        for bad in ["3..3", "3..=2", "1-2", "a..b", "..2", "2.."] {
            assert!(parse_shard_range(bad).is_err(), "{bad}");
        }
    }
}
