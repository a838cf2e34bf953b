//! `paperbot bench search`: query latency on synthetic libraries, against an
//! exact brute-force scan over the same vectors, with the ANN's recall@10.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use paperbot::app::App;
use paperbot::paper::{Paper, PaperId};
use paperbot::store::PaperStore;
use paperbot::store::edge::EdgeStore;

use super::{peak_rss_mb, percentile, tempfile_dir};

pub async fn run(
    app: &App,
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
        Vectors::Real => Some(RealPool::build(app, corpus, queries).await?),
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
    async fn build(app: &App, corpus: &Path, queries: usize) -> anyhow::Result<RealPool> {
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
        let model_dir = app.config.embed.model_dir.clone();
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
