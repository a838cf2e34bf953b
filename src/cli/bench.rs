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

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_ms.len() as f64 - 1.0) * p).round() as usize;
    sorted_ms[i.min(sorted_ms.len() - 1)]
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `paperbot bench embed`: the local embedder's two engines (packed, the
/// default, and candle-transformers' `BertModel`), and sentence-transformers
/// when a Python with it is given, all in the same run.
pub async fn embed(config: &Config, corpus: &Path, python: Option<&Path>) -> anyhow::Result<ExitCode> {
    use paperbot::embed::minilm::{EngineKind, MiniLm};
    let model_dir = config.embed.model_dir.clone();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let papers = synthetic(corpus, 85)?;
    let texts: Vec<String> = papers.iter().map(Paper::embedding_text).collect();
    let queries: Vec<String> = papers
        .iter()
        .map(|p| format!("what does the paper on {} find?", p.title.to_lowercase()))
        .collect();
    let mut sides = Vec::new();
    for kind in [EngineKind::Packed, EngineKind::Candle] {
        let (dir, texts, queries) = (model_dir.clone(), texts.clone(), queries.clone());
        let measured = tokio::task::spawn_blocking(move || -> anyhow::Result<serde_json::Value> {
            let model = MiniLm::load_engine(&dir, 32, kind)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            model.embed(&refs[..8])?; // warm-up
            let mut lat = Vec::new();
            for q in &queries {
                let t = Instant::now();
                model.embed(&[q.as_str()])?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            lat.sort_by(f64::total_cmp);
            let mut tp = serde_json::Map::new();
            for b in BATCHES {
                let t = Instant::now();
                model.embed_batched(&refs, b)?;
                tp.insert(b.to_string(), (refs.len() as f64 / t.elapsed().as_secs_f64()).into());
            }
            Ok(serde_json::json!({"query_p50_ms": percentile(&lat, 0.5), "query_p99_ms": percentile(&lat, 0.99), "throughput": tp}))
        })
        .await??;
        sides.push(measured);
    }
    let baseline = match python {
        Some(py) => Some(sentence_transformers(py, &model_dir, &texts, &queries, threads)?),
        None => {
            println!("(no sentence-transformers baseline: pass --python PATH to a Python that has it)");
            None
        }
    };
    println!(
        "embedding benchmark: all-MiniLM-L6-v2, {} abstracts (max 256 tokens), {threads} threads",
        texts.len()
    );
    if let Some(b) = &baseline {
        println!("sentence-transformers: {}", b["library"].as_str().unwrap_or("?"));
    }
    println!(
        "\n| metric | paperbot packed | candle-transformers | sentence-transformers | packed ÷ candle | packed ÷ s-t |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    // Ratios read "times better": > 1 means the packed engine wins.
    let ratio = |ours: Option<f64>, other: Option<f64>, higher_better: bool| match (ours, other) {
        (Some(o), Some(b)) if o > 0.0 && b > 0.0 => format!("{:.2}", if higher_better { o / b } else { b / o }),
        _ => "-".into(),
    };
    let mut rows: Vec<(String, Box<dyn Fn(&serde_json::Value) -> Option<f64>>, bool)> = vec![
        (
            "query latency p50 (ms)".into(),
            Box::new(|v| v["query_p50_ms"].as_f64()),
            false,
        ),
        (
            "query latency p99 (ms)".into(),
            Box::new(|v| v["query_p99_ms"].as_f64()),
            false,
        ),
    ];
    for b in BATCHES {
        let get = move |v: &serde_json::Value| v["throughput"][b.to_string()].as_f64();
        rows.push((format!("abstracts/s, batch {b}"), Box::new(get), true));
    }
    for (name, get, higher_better) in rows {
        let (packed, candle) = (get(&sides[0]), get(&sides[1]));
        let st = baseline.as_ref().and_then(|b| get(b));
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            cell(packed),
            cell(candle),
            cell(st),
            ratio(packed, candle, higher_better),
            ratio(packed, st, higher_better)
        );
    }
    println!(
        "\npeak RSS (paperbot process, both engines): {:.0} MB",
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    Ok(ExitCode::SUCCESS)
}

const BATCHES: [usize; 5] = [1, 4, 8, 16, 32];

/// Runs bench/st_baseline.py with `python` on the same texts and threads.
fn sentence_transformers(
    python: &Path,
    model_dir: &Path,
    texts: &[String],
    queries: &[String],
    threads: usize,
) -> anyhow::Result<serde_json::Value> {
    let tmp = tempfile_dir()?;
    let (tf, qf) = (tmp.join("texts.json"), tmp.join("queries.json"));
    std::fs::write(&tf, serde_json::to_vec(texts)?)?;
    std::fs::write(&qf, serde_json::to_vec(queries)?)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/st_baseline.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(model_dir)
        .arg(&tf)
        .arg(&qf)
        .arg(threads.to_string())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    let _ = std::fs::remove_dir_all(&tmp);
    anyhow::ensure!(
        out.status.success(),
        "sentence-transformers baseline failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("sentence-transformers baseline output")
}

/// `paperbot bench search`: query latency on synthetic libraries, against an
/// exact brute-force scan over the same vectors, with the ANN's recall@10.
pub async fn search(
    config: &Config,
    corpus: &Path,
    sizes: &[usize],
    queries: usize,
    vectors: Vectors,
) -> anyhow::Result<ExitCode> {
    use paperbot::store::{
        CollectionMeta, PaperPoint, PaperVectors, SearchFilter, SearchMode, SearchRequest, SparseVec, StoredPaper,
    };
    const DIM: usize = 384;
    let mut rng = fastrand::Rng::with_seed(42);
    let unit = |rng: &mut fastrand::Rng| {
        let v: Vec<f32> = (0..DIM).map(|_| rng.f32() * 2.0 - 1.0).collect();
        normalized(v)
    };
    let pool = match vectors {
        Vectors::Real => Some(RealPool::build(config, corpus, queries).await?),
        Vectors::Random => None,
    };
    match &pool {
        Some(p) => println!(
            "search benchmark: papers = mixtures of two real MiniLM embeddings of sentences from {} ({} sentences), \
             queries = MiniLM embeddings of {} questions about its papers; BM25 of the same texts; k=10, embedded Qdrant Edge (HNSW)\n",
            corpus.display(),
            p.sentences.len(),
            p.questions.len()
        ),
        None => println!(
            "search benchmark: uniformly random {DIM}-d papers (no neighbourhood structure, the worst case for HNSW) + random sparse, \
             {queries} queries near papers, k=10, embedded Qdrant Edge (HNSW)\n"
        ),
    }
    println!(
        "| papers | query | p50 ms | p99 ms | exact scan p50 ms | speed-up vs exact | recall@10 vs exact | peak RSS MB |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for &n in sizes {
        let tmp = tempfile_dir()?.join(format!("n{n}"));
        let store = EdgeStore::open(&tmp)?;
        store.create(&CollectionMeta::new("bench", DIM)).await?;
        let mut dense_all: Vec<Vec<f32>> = Vec::with_capacity(n);
        let template = StoredPaper {
            paper: Paper::from_title_and_abstract("x", "synthetic", paperbot::paper::SourceKind::PageText),
            first_seen: chrono::Utc::now(),
            content_hash: String::new(),
            text_hash: String::new(),
        };
        for start in (0..n).step_by(1_000) {
            let mut points = Vec::new();
            for i in start..(start + 1_000).min(n) {
                let (dense, indices, values) = match &pool {
                    Some(p) => {
                        let (dense, sparse) = p.paper(&mut rng);
                        (dense, sparse.indices, sparse.values)
                    }
                    None => {
                        let mut indices: Vec<u32> = (0..20).map(|_| rng.u32(0..30_000)).collect();
                        indices.sort_unstable();
                        indices.dedup();
                        let values = indices.iter().map(|_| rng.f32() + 0.1).collect();
                        (unit(&mut rng), indices, values)
                    }
                };
                dense_all.push(dense.clone());
                let mut stored = template.clone();
                stored.paper.title = format!("synthetic paper {i}");
                stored.paper.id = PaperId::from_title(&stored.paper.title);
                points.push(PaperPoint {
                    stored,
                    vectors: PaperVectors {
                        dense,
                        sparse: SparseVec { indices, values },
                    },
                });
            }
            store.upsert(points).await?;
        }
        store.optimize().await?;
        // Queries: real questions' embeddings, or perturbed library vectors
        // (real questions land near papers).
        let qs: Vec<(Vec<f32>, SparseVec)> = (0..queries)
            .map(|i| {
                if let Some(p) = &pool {
                    return p.questions[i % p.questions.len()].clone();
                }
                let base = &dense_all[rng.usize(..n)];
                let noise = unit(&mut rng);
                let v: Vec<f32> = base.iter().zip(&noise).map(|(a, b)| a + 0.6 * b).collect();
                let idx: Vec<u32> = {
                    let mut i: Vec<u32> = (0..3).map(|_| rng.u32(0..30_000)).collect();
                    i.sort_unstable();
                    i.dedup();
                    i
                };
                let vals = idx.iter().map(|_| 1.0).collect();
                (
                    v,
                    SparseVec {
                        indices: idx,
                        values: vals,
                    },
                )
            })
            .collect();
        // Exact baseline: brute-force cosine over the same vectors, as one
        // optimised matrix-vector product (candle) per query.
        let flat: Vec<f32> = dense_all.iter().flatten().copied().collect();
        let matrix = candle_core::Tensor::from_vec(flat, (n, DIM), &candle_core::Device::Cpu)?;
        let mut exact_ms = Vec::new();
        let mut exact_top: Vec<Vec<usize>> = Vec::new();
        for (q, _) in &qs {
            let t = Instant::now();
            let qv = candle_core::Tensor::from_slice(q, (DIM, 1), &candle_core::Device::Cpu)?;
            let scores: Vec<f32> = matrix.matmul(&qv)?.flatten_all()?.to_vec1()?;
            let mut scored: Vec<(f32, usize)> = scores.into_iter().enumerate().map(|(i, s)| (s, i)).collect();
            scored.select_nth_unstable_by(9, |a, b| b.0.total_cmp(&a.0));
            let mut top: Vec<(f32, usize)> = scored[..10].to_vec();
            top.sort_by(|a, b| b.0.total_cmp(&a.0));
            exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
            exact_top.push(top.into_iter().map(|(_, i)| i).collect());
        }
        exact_ms.sort_by(f64::total_cmp);
        let exact_p50 = percentile(&exact_ms, 0.5);
        for mode in [SearchMode::Dense, SearchMode::Hybrid] {
            let mut lat = Vec::new();
            let mut found = 0usize;
            for ((q, sp), truth) in qs.iter().zip(&exact_top) {
                let req = SearchRequest {
                    dense: q.clone(),
                    sparse: sp.clone(),
                    mode,
                    limit: 10,
                    prefetch: 50,
                    filter: SearchFilter::default(),
                };
                let t = Instant::now();
                let hits = store.search(req).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                if mode == SearchMode::Dense {
                    let want: std::collections::HashSet<String> =
                        truth.iter().map(|i| format!("synthetic paper {i}")).collect();
                    found += hits.iter().filter(|h| want.contains(&h.stored.paper.title)).count();
                }
            }
            lat.sort_by(f64::total_cmp);
            let p50 = percentile(&lat, 0.5);
            let recall = if mode == SearchMode::Dense {
                format!("{:.3}", found as f64 / (10 * qs.len()) as f64)
            } else {
                "-".into()
            };
            println!(
                "| {n} | {mode:?} | {p50:.2} | {:.2} | {exact_p50:.2} | {:.1}x | {recall} | {:.0} |",
                percentile(&lat, 0.99),
                exact_p50 / p50,
                peak_rss_mb().unwrap_or(f64::NAN)
            );
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&tmp);
    }
    println!(
        "\nexact scan = brute-force cosine over the same in-memory vectors (candle matrix-vector product); hybrid adds a BM25 prefetch and RRF fusion."
    );
    Ok(ExitCode::SUCCESS)
}

/// What `bench search` fills its libraries with.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vectors {
    /// Mixtures of real MiniLM sentence embeddings (the distribution HNSW sees in use)
    Real,
    /// Uniformly random unit vectors (no neighbourhood structure: HNSW's worst case)
    Random,
}

fn normalized(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.into_iter().map(|x| x / n).collect()
}

/// Real embeddings to build benchmark libraries from: every sentence of the
/// corpus's abstracts and a question per paper, embedded with MiniLM. A
/// library paper is a weighted mixture of two sentence embeddings (so 10^5
/// distinct papers keep the geometry of real embeddings without embedding
/// 10^5 texts), with the BM25 vector of those two sentences.
struct RealPool {
    sentences: Vec<(Vec<f32>, String)>,
    questions: Vec<(Vec<f32>, paperbot::store::SparseVec)>,
    bm25: paperbot::embed::Bm25,
}

impl RealPool {
    async fn build(config: &Config, corpus: &Path, queries: usize) -> anyhow::Result<RealPool> {
        let papers = paperbot::sources::load_file(corpus).await?.papers;
        let mut sentences: Vec<String> = papers
            .iter()
            .flat_map(|p| {
                p.abstract_text
                    .split(". ")
                    .map(str::trim)
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .filter(|s| s.len() >= 40)
            .collect();
        sentences.sort();
        sentences.dedup();
        let questions: Vec<String> = papers
            .iter()
            .flat_map(|p| {
                [
                    format!("what does the paper on {} find?", p.title.to_lowercase()),
                    format!(
                        "which papers look at {}",
                        p.abstract_text
                            .split_whitespace()
                            .take(12)
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ]
            })
            .take(queries.max(1))
            .collect();
        let model_dir = config.embed.model_dir.clone();
        let (s2, q2) = (sentences.clone(), questions.clone());
        let (se, qe) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let model = paperbot::embed::minilm::MiniLm::load(&model_dir, 32)?;
            let s: Vec<&str> = s2.iter().map(String::as_str).collect();
            let q: Vec<&str> = q2.iter().map(String::as_str).collect();
            Ok((model.embed(&s)?, model.embed(&q)?))
        })
        .await??;
        let bm25 = paperbot::embed::Bm25::default();
        Ok(RealPool {
            questions: qe
                .into_iter()
                .zip(&questions)
                .map(|(v, q)| (v, bm25.query(q)))
                .collect(),
            sentences: se.into_iter().zip(sentences).collect(),
            bm25,
        })
    }

    fn paper(&self, rng: &mut fastrand::Rng) -> (Vec<f32>, paperbot::store::SparseVec) {
        let (a, b) = (rng.usize(..self.sentences.len()), rng.usize(..self.sentences.len()));
        let w = 0.3 + 0.4 * rng.f32();
        let (ea, ta) = &self.sentences[a];
        let (eb, tb) = &self.sentences[b];
        let dense = normalized(ea.iter().zip(eb).map(|(x, y)| w * x + (1.0 - w) * y).collect());
        (dense, self.bm25.document(&format!("{ta} {tb}")))
    }
}
