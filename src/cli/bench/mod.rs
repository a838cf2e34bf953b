//! `paperbot bench …`: benchmarks that print a table, each with a baseline
//! measured in the same run and the ratio to it (absolute numbers differ
//! between machines; same-run ratios do not).

mod embed;
mod ingest;
mod lookup;
mod scale;
mod search;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use paperbot::app::App;
use paperbot::paper::{Paper, PaperId};
use paperbot::sources::Format;

#[derive(clap::Subcommand, Debug)]
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
        #[arg(long, value_enum, default_value_t = search::Vectors::Real)]
        vectors: search::Vectors,
        /// Corpus the real vectors come from
        #[arg(long, default_value = "corpus/hf-papers-page.txt")]
        corpus: PathBuf,
    },
    /// Finding a paper by title (exact, autocomplete) against by id, at N papers
    Lookup {
        /// Library sizes
        #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        #[arg(long, default_value = "corpus/hf-papers-page.txt")]
        corpus: PathBuf,
    },
    /// The library at scale: ingest, stats, serving (RSS, hybrid search, title lookup), disk, recall
    Scale {
        /// Library sizes (`--sizes 100000,1000000` for the README's table)
        #[arg(long, value_delimiter = ',', default_values_t = [100_000usize])]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        #[arg(long, default_value = "corpus/hf-papers-page.txt")]
        corpus: PathBuf,
        /// Keep the libraries here (default: a temporary directory, removed)
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The serving process of `bench scale` (run by it)
    #[command(hide = true)]
    ScaleServe { work: PathBuf, out: PathBuf },
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

pub async fn run(app: &App, what: BenchWhat) -> anyhow::Result<ExitCode> {
    match what {
        BenchWhat::Embed { python, corpus } => embed::run(app, &corpus, python.as_deref()).await,
        BenchWhat::Search {
            sizes,
            queries,
            vectors,
            corpus,
        } => search::run(app, &corpus, &sizes, queries, vectors).await,
        BenchWhat::Scale {
            sizes,
            queries,
            corpus,
            dir,
        } => scale::run(&corpus, &sizes, queries, dir.as_deref()).await,
        BenchWhat::ScaleServe { work, out } => scale::serve(app, &work, &out).await,
        BenchWhat::Lookup { sizes, queries, corpus } => lookup::run(app, &corpus, &sizes, queries).await,
        BenchWhat::Ingest {
            papers,
            baseline,
            corpus,
        } => ingest::run(app, &corpus, papers, baseline).await,
    }
}

/// The corpus repeated to `n` distinct papers (distinct titles, so distinct ids).
pub fn synthetic(corpus: &Path, n: usize) -> anyhow::Result<Vec<Paper>> {
    let bytes = std::fs::read(corpus).with_context(|| format!("reading {}", corpus.display()))?;
    let base = Format::detect(corpus, &bytes).parse(&bytes).papers;
    anyhow::ensure!(!base.is_empty(), "no papers in {}", corpus.display());
    Ok((0..n)
        .map(|i| {
            let mut p = base[i % base.len()].clone();
            let copy = i / base.len();
            if copy > 0 {
                p.title = format!("{} (copy {copy})", p.title);
                p.id = PaperId::from_title(&p.title);
            }
            p
        })
        .collect())
}

pub fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("paperbot-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_ms.len() as f64 - 1.0) * p).round() as usize;
    sorted_ms[i.min(sorted_ms.len() - 1)]
}

pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
