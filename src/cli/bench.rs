//! `paperbot bench ingest`: ingest throughput on the sample corpus repeated
//! to N papers, for the embedded store and (when `QDRANT_URL` or
//! `store.qdrant_url` is set) a Qdrant server — each as a ratio to a
//! baseline measured in the same run: embedding alone (dense + BM25), the
//! floor any store adds to.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use paperbot::config::{Config, Secrets};
use paperbot::embed::{Bm25, DenseEmbedder};
use paperbot::library::Library;
use paperbot::paper::{Paper, PaperId};
use paperbot::sources::Format;
use paperbot::store::PaperStore;
use paperbot::store::edge::EdgeStore;
use paperbot::store::server::{ServerConfig, ServerStore};

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

pub async fn ingest(
    config: &Config,
    secrets: &Secrets,
    corpus: &Path,
    n: usize,
    baseline_n: usize,
) -> anyhow::Result<ExitCode> {
    let papers = synthetic(corpus, n)?;
    let dense = DenseEmbedder::from_config(&config.embed, secrets.embed_api_key.as_ref().map(|s| s.expose())).await?;
    let bm25 = Arc::new(Bm25::new(config.embed.bm25_avg_len).map_err(anyhow::Error::msg)?);
    println!(
        "ingest benchmark: {n} papers (sample corpus repeated), embedder {}, {} CPU threads",
        dense.name(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Baseline: embedding alone, in the same batches ingest uses.
    let sample: Vec<String> = papers
        .iter()
        .take(baseline_n.min(n))
        .map(Paper::embedding_text)
        .collect();
    let t = Instant::now();
    for chunk in sample.chunks(paperbot::ingest::BATCH) {
        let _ = dense.embed_documents(chunk.to_vec()).await?;
        let _: Vec<_> = chunk.iter().map(|t| bm25.document(t)).collect();
    }
    let base_rate = sample.len() as f64 / t.elapsed().as_secs_f64();

    let mut rows = vec![("embed only (baseline)".to_string(), sample.len(), base_rate)];
    let tmp = tempfile_dir()?;
    let edge = EdgeStore::open(&tmp)?;
    let (rate, edge) = run_store(edge, &dense, &bm25, &papers).await?;
    drop(edge);
    rows.push(("qdrant-edge (embedded)".into(), n, rate));
    let server_url = std::env::var("QDRANT_URL")
        .ok()
        .or_else(|| config.store.qdrant_url.clone());
    if let Some(url) = server_url {
        let store = ServerStore::connect(ServerConfig {
            url: url.clone(),
            api_key: secrets.qdrant_api_key.as_ref().map(|s| s.expose().to_string()),
            collection: "paperbot_bench".into(),
            shard_number: None,
            replication_factor: None,
            timeout: std::time::Duration::from_secs(60),
        })?;
        store.drop_collection().await?;
        let (rate, store) = run_store(store, &dense, &bm25, &papers).await?;
        store.drop_collection().await?;
        rows.push((format!("qdrant server ({url})"), n, rate));
    } else {
        println!("(set QDRANT_URL to include a Qdrant server)");
    }
    let _ = std::fs::remove_dir_all(&tmp);

    println!("\n| pipeline | papers | papers/s | ratio to baseline |");
    println!("|---|---:|---:|---:|");
    for (name, count, rate) in &rows {
        println!("| {name} | {count} | {rate:.1} | {:.2} |", rate / base_rate);
    }
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("paperbot-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Ingests `papers` into an empty `store`; returns papers/s and the store.
async fn run_store<S: PaperStore>(
    store: S,
    dense: &DenseEmbedder,
    bm25: &Arc<Bm25>,
    papers: &[Paper],
) -> anyhow::Result<(f64, S)> {
    let lib = Library::new(store, dense.clone(), bm25.clone()).await?;
    let pb = super::ingest::progress_bar(papers.len(), "ingesting");
    let t = Instant::now();
    let counts = paperbot::ingest::ingest(&lib, papers.to_vec(), &pb).await?;
    let secs = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    anyhow::ensure!(
        counts.new == papers.len(),
        "expected {} new papers, got {:?}",
        papers.len(),
        counts
    );
    Ok((papers.len() as f64 / secs, lib.store))
}
