//! `paperbot bench ingest`: ingest throughput on the sample corpus repeated
//! to N papers, for the embedded store and (when `QDRANT_URL` or
//! `store.qdrant_url` is set) a Qdrant server — each as a ratio to a
//! baseline measured in the same run: embedding alone (dense + BM25), the
//! floor any store adds to.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use paperbot::app::App;
use paperbot::library::Library;
use paperbot::paper::Paper;
use paperbot::store::PaperStore;
use paperbot::store::edge::EdgeStore;
use paperbot::store::server::{ServerConfig, ServerStore};

use super::{synthetic, tempfile_dir};

pub async fn run(app: &App, corpus: &Path, n: usize, baseline_n: usize) -> anyhow::Result<ExitCode> {
    let papers = synthetic(corpus, n)?;
    let tmp = tempfile_dir()?;
    // The configured embedders, loaded once and shared by every row.
    let lib = app.library_over(EdgeStore::open(&tmp)?).await?;
    let (dense, bm25) = (lib.dense.clone(), lib.bm25.clone());
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
    for chunk in sample.chunks(dense.ingest_batch(paperbot::ingest::BATCH)) {
        let _ = dense.embed_documents(chunk.to_vec()).await?;
        let _: Vec<_> = chunk.iter().map(|t| bm25.document(t)).collect();
    }
    let base_rate = sample.len() as f64 / t.elapsed().as_secs_f64();

    let mut rows = vec![("embed only (baseline)".to_string(), sample.len(), base_rate)];
    let (rate, lib) = run_store(lib, &papers).await?;
    drop(lib);
    rows.push(("qdrant-edge (embedded)".into(), n, rate));
    let server_url = std::env::var("QDRANT_URL")
        .ok()
        .or_else(|| app.config.store.qdrant_url.clone());
    if let Some(url) = server_url {
        let store = ServerStore::connect(ServerConfig {
            url: url.clone(),
            api_key: app.secrets.qdrant_api_key.clone(),
            collection: "paperbot_bench".into(),
            shard_number: None,
            replication_factor: None,
            timeout: std::time::Duration::from_secs(60),
        })?;
        store.drop_collection().await?;
        let lib = Library::new(store, dense.clone(), bm25.clone()).await?;
        let (rate, lib) = run_store(lib, &papers).await?;
        lib.store.drop_collection().await?;
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

/// Ingests `papers` into an empty library; returns papers/s and the library.
async fn run_store<S: PaperStore>(lib: Library<S>, papers: &[Paper]) -> anyhow::Result<(f64, Library<S>)> {
    let pb = crate::cli::ingest::progress_bar(papers.len(), "ingesting");
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
    Ok((papers.len() as f64 / secs, lib))
}
