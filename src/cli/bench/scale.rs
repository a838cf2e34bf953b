//! `paperbot bench scale`: the library at 100k and 1M papers, measured as a
//! user meets it — each step a separate `paperbot` process on the same data
//! directory: `backfill snapshot` (how a library gets this big: papers/s,
//! peak RSS), `stats` (wall time), a serving
//! process (open, hybrid search p50/p99, title lookup p99, peak RSS), and the
//! disk size. Embedding is a stand-in served here on 127.0.0.1 (bag-of-words
//! random-indexing vectors: deterministic, cheap, and with neighbourhood
//! structure, since texts sharing words are close), so the numbers are
//! paperbot's own costs. Baselines in the same run: an exact scan over the
//! same vectors (for recall@10 and as the latency baseline) and lookup by id.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use paperbot::app::App;
use paperbot::paper::{Paper, PaperId, SourceKind};
use paperbot::retrieve::lookup;
use paperbot::store::{PaperStore, SearchFilter, SearchMode, SearchRequest};
use serde_json::{Value, json};

use super::{percentile, tempfile_dir};

const DIM: usize = 384;

pub async fn run(corpus: &Path, sizes: &[usize], queries: usize, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let words = Vocabulary::from_corpus(corpus)?;
    let embedder = StandIn::start().await?;
    println!(
        "scale benchmark: synthetic papers (titles and abstracts of words and sentences from {}), embedded by a \
         stand-in on 127.0.0.1 (random-indexing vectors, {DIM}-d), each step its own paperbot process, embedded Qdrant Edge\n",
        corpus.display()
    );
    println!(
        "| papers | ingest papers/s | ingest peak RSS MB | disk MB | stats ms | serving open ms | serving peak RSS MB \
         | hybrid p50 / p99 ms | exact scan p50 ms | exact ÷ hybrid p50 | recall@10 vs exact | title lookup p99 ms | by id p99 ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|");
    for &n in sizes {
        let root = match dir {
            Some(d) => d.join(format!("scale-{n}")),
            None => tempfile_dir()?.join(format!("scale-{n}")),
        };
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)?;
        let data = root.join("data");
        let papers_file = root.join("snapshot.jsonl");
        let mut rng = fastrand::Rng::with_seed(n as u64);
        let papers = words.write_papers(&papers_file, n, &mut rng)?;
        // Questions: a sentence of a random paper, some words dropped.
        let qs: Vec<(String, usize)> = (0..queries)
            .map(|_| {
                let i = rng.usize(..n);
                (words.question(&papers[i], &mut rng), i)
            })
            .collect();
        let titles: Vec<(String, String)> = (0..queries)
            .map(|_| {
                let p = &papers[rng.usize(..n)];
                (p.title.clone(), p.id.as_str().to_string())
            })
            .collect();

        // 1. ingest
        let start = Instant::now();
        let (status, ingest_rss) = tokio::task::block_in_place(|| {
            run_child(
                embedder.command(&data).args(["backfill", "snapshot"]).arg(&papers_file),
                &root.join("ingest.log"),
            )
        })?;
        let ingest_s = start.elapsed().as_secs_f64();
        anyhow::ensure!(status, "ingest failed; see {}", root.join("ingest.log").display());
        // 2. stats, five times
        let mut stats_ms = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let out = tokio::task::block_in_place(|| embedder.command(&data).args(["stats", "--json"]).output())?;
            stats_ms.push(t.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(
                out.status.success(),
                "stats failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout)?;
            anyhow::ensure!(
                v["count"].as_u64() == Some(n as u64),
                "stats counts {} of {n}",
                v["count"]
            );
        }
        stats_ms.sort_by(f64::total_cmp);
        // 3. serving
        let work = root.join("serve-work.json");
        std::fs::write(
            &work,
            serde_json::to_vec(&json!({ "questions": qs, "titles": titles }))?,
        )?;
        let out_file = root.join("serve-out.json");
        let (status, _) = tokio::task::block_in_place(|| {
            run_child(
                embedder
                    .command(&data)
                    .args(["bench", "scale-serve"])
                    .arg(&work)
                    .arg(&out_file),
                &root.join("serve.log"),
            )
        })?;
        anyhow::ensure!(status, "serving failed; see {}", root.join("serve.log").display());
        let served: Served = serde_json::from_slice(&std::fs::read(&out_file)?)?;
        // 4. exact baseline over the same vectors
        let (exact_p50, recall) = tokio::task::block_in_place(|| exact_recall(&papers, &qs, &served.dense_top))?;
        let disk = dir_size(&data) as f64 / 1e6;
        // 5. reindex in place (keyword vectors only), after serving so the
        // serving numbers are of the library as ingested
        let start = Instant::now();
        let (status, reindex_rss) = tokio::task::block_in_place(|| {
            run_child(embedder.command(&data).arg("reindex"), &root.join("reindex.log"))
        })?;
        let reindex_s = start.elapsed().as_secs_f64();
        anyhow::ensure!(status, "reindex failed; see {}", root.join("reindex.log").display());
        println!(
            "| {n} | {:.0} | {:.0} | {disk:.0} | {:.0} | {:.0} | {:.0} | {:.2} / {:.2} | {exact_p50:.1} | {:.1}x | {recall:.3} | {:.2} | {:.2} |",
            n as f64 / ingest_s,
            ingest_rss,
            percentile(&stats_ms, 0.5),
            served.open_ms,
            served.peak_rss_mb,
            served.hybrid_p50,
            served.hybrid_p99,
            exact_p50 / served.hybrid_p50,
            served.title_p99,
            served.id_p99,
        );
        println!(
            "  (`reindex` in place, keyword vectors only: {:.0} papers/s, {:.1}x the ingest rate, peak RSS {reindex_rss:.0} MB)",
            n as f64 / reindex_s,
            ingest_s / reindex_s,
        );
        if served.titles_found < titles.len() {
            println!("  (title lookup found {} of {})", served.titles_found, titles.len());
        }
        if dir.is_none() {
            let _ = std::fs::remove_dir_all(&root);
        }
    }
    println!(
        "\ningest papers/s: the whole `paperbot backfill snapshot` process (read, BM25, embedding requests to the stand-in, store writes, flushes, index builds);\n\
         stats: wall time of a `paperbot stats --json` process (median of 5); serving: one process that opens the library and\n\
         answers every question (hybrid, prefetch 50, k 10; the question's embedding is not timed) and title lookup;\n\
         exact scan: brute-force cosine over the same vectors in memory, the baseline for recall and latency."
    );
    Ok(ExitCode::SUCCESS)
}

/// What the serving process measured.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Served {
    open_ms: f64,
    hybrid_p50: f64,
    hybrid_p99: f64,
    title_p99: f64,
    id_p99: f64,
    titles_found: usize,
    peak_rss_mb: f64,
    /// Dense-mode top 10 (paper ids) per question, for recall.
    dense_top: Vec<Vec<String>>,
}

/// `paperbot bench scale-serve WORK OUT`: the serving side of `bench scale`,
/// run as its own process so its RSS is its own.
pub async fn serve(app: &App, work: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    #[derive(serde::Deserialize)]
    struct Work {
        questions: Vec<(String, usize)>,
        titles: Vec<(String, String)>,
    }
    let work: Work = serde_json::from_slice(&std::fs::read(work)?)?;
    let t = Instant::now();
    let lib = app.library().await?;
    // The first search loads the library: opening is the time to a first answer.
    let q0 = lib.dense.embed_query(&work.questions[0].0).await?;
    lib.store
        .search(SearchRequest {
            dense: q0,
            sparse: lib.bm25.query(&work.questions[0].0),
            mode: SearchMode::Hybrid,
            limit: 10,
            prefetch: 50,
            filter: SearchFilter::default(),
        })
        .await?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut hybrid = Vec::new();
    let mut dense_top = Vec::new();
    for (q, _) in &work.questions {
        let dense = lib.dense.embed_query(q).await?;
        let sparse = lib.bm25.query(q);
        for mode in [SearchMode::Hybrid, SearchMode::Dense] {
            let req = SearchRequest {
                dense: dense.clone(),
                sparse: sparse.clone(),
                mode,
                limit: 10,
                prefetch: 50,
                filter: SearchFilter::default(),
            };
            let t = Instant::now();
            let hits = lib.store.search(req).await?;
            if mode == SearchMode::Hybrid {
                hybrid.push(t.elapsed().as_secs_f64() * 1e3);
            } else {
                dense_top.push(hits.iter().map(|h| h.stored.paper.id.as_str().to_string()).collect());
            }
        }
    }
    let (mut title_ms, mut id_ms, mut found) = (Vec::new(), Vec::new(), 0);
    for (title, id) in &work.titles {
        let t = Instant::now();
        let got = lookup::find(&lib, title).await?;
        title_ms.push(t.elapsed().as_secs_f64() * 1e3);
        found += usize::from(got.is_some_and(|s| s.paper.id.as_str() == id));
        let pid = PaperId::parse(id).context("paper id")?;
        let t = Instant::now();
        lib.store.get(std::slice::from_ref(&pid)).await?;
        id_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for v in [&mut hybrid, &mut title_ms, &mut id_ms] {
        v.sort_by(f64::total_cmp);
    }
    let served = Served {
        open_ms,
        hybrid_p50: percentile(&hybrid, 0.5),
        hybrid_p99: percentile(&hybrid, 0.99),
        title_p99: percentile(&title_ms, 0.99),
        id_p99: percentile(&id_ms, 0.99),
        titles_found: found,
        peak_rss_mb: super::peak_rss_mb().unwrap_or(f64::NAN),
        dense_top,
    };
    std::fs::write(out, serde_json::to_vec(&served)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a child to completion with its output in `log`, sampling its peak
/// RSS (VmHWM) every 50 ms; returns success and the peak in MB.
fn run_child(cmd: &mut Command, log: &Path) -> anyhow::Result<(bool, f64)> {
    let log_file = std::fs::File::create(log)?;
    let mut child = cmd
        .stdout(Stdio::from(log_file.try_clone()?))
        .stderr(Stdio::from(log_file))
        .spawn()
        .context("starting paperbot")?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0f64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path)
            && let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait()? {
            return Ok((status.success(), peak_kb / 1024.0));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Brute-force top 10 by cosine over every paper's stand-in vector; returns
/// the scan's p50 per question (ms) and the serving process's dense recall@10.
fn exact_recall(papers: &[Paper], qs: &[(String, usize)], served: &[Vec<String>]) -> anyhow::Result<(f64, f64)> {
    let words = WordVectors;
    let mut flat = Vec::with_capacity(papers.len() * DIM);
    for p in papers {
        flat.extend(words.embed(&p.embedding_text()));
    }
    let matrix = candle_core::Tensor::from_vec(flat, (papers.len(), DIM), &candle_core::Device::Cpu)?;
    let (mut ms, mut found) = (Vec::new(), 0usize);
    for ((q, _), got) in qs.iter().zip(served) {
        let qv = words.embed(q);
        let t = Instant::now();
        let qv = candle_core::Tensor::from_slice(&qv, (DIM, 1), &candle_core::Device::Cpu)?;
        let scores: Vec<f32> = matrix.matmul(&qv)?.flatten_all()?.to_vec1()?;
        let mut scored: Vec<(f32, usize)> = scores.into_iter().enumerate().map(|(i, s)| (s, i)).collect();
        let k = 10.min(scored.len());
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        let want: std::collections::HashSet<&str> = scored[..k].iter().map(|(_, i)| papers[*i].id.as_str()).collect();
        found += got.iter().filter(|id| want.contains(id.as_str())).count();
    }
    ms.sort_by(f64::total_cmp);
    Ok((percentile(&ms, 0.5), found as f64 / (10 * qs.len().max(1)) as f64))
}

/// Words and sentences of the corpus, to write synthetic papers from.
struct Vocabulary {
    title_words: Vec<String>,
    sentences: Vec<String>,
}

impl Vocabulary {
    fn from_corpus(corpus: &Path) -> anyhow::Result<Vocabulary> {
        let bytes = std::fs::read(corpus).with_context(|| format!("reading {}", corpus.display()))?;
        let base = paperbot::sources::Format::detect(corpus, &bytes).parse(&bytes).papers;
        anyhow::ensure!(!base.is_empty(), "no papers in {}", corpus.display());
        let mut title_words: Vec<String> = base
            .iter()
            .flat_map(|p| p.title.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .filter(|w| w.len() > 3)
            .collect();
        title_words.sort();
        title_words.dedup();
        let sentences = base
            .iter()
            .flat_map(|p| {
                p.abstract_text
                    .split(". ")
                    .filter(|s| s.len() > 40)
                    .map(|s| s.trim_end_matches('.').to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(Vocabulary { title_words, sentences })
    }

    /// Writes `n` papers in the arXiv snapshot's format and returns them. Titles are five
    /// to nine title words and a serial word (unique); abstracts four to
    /// seven sentences; arXiv ids of consecutive months, 20,000 a month.
    fn write_papers(&self, path: &Path, n: usize, rng: &mut fastrand::Rng) -> anyhow::Result<Vec<Paper>> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut papers = Vec::with_capacity(n);
        for i in 0..n {
            let mut title: Vec<&str> = (0..rng.usize(5..10))
                .map(|_| self.title_words[rng.usize(..self.title_words.len())].as_str())
                .collect();
            let serial = serial_word(i);
            title.push(&serial);
            let abstract_text: Vec<&str> = (0..rng.usize(4..8))
                .map(|_| self.sentences[rng.usize(..self.sentences.len())].as_str())
                .collect();
            let month = i / 20_000;
            let (year, month) = (21 + month / 12, 1 + month % 12);
            let id = format!("{year:02}{month:02}.{:05}", i % 20_000);
            let mut p = Paper::from_title_and_abstract(
                &title.join(" "),
                &format!("{}.", abstract_text.join(". ")),
                SourceKind::Arxiv,
            );
            p.id = PaperId::arxiv(&id).context("synthetic id")?;
            let day = chrono::NaiveDate::from_ymd_opt(2000 + year as i32, month as u32, 1 + (i % 28) as u32)
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map(|d| d.and_utc())
                .context("synthetic date")?;
            p.published = Some(day);
            p.authors = vec![format!("Author {}", i % 5_000)];
            // The arXiv metadata snapshot's shape: `backfill snapshot` reads it.
            serde_json::to_writer(
                &mut out,
                &json!({
                    "id": id,
                    "title": p.title,
                    "abstract": p.abstract_text,
                    "authors": p.authors[0],
                    "categories": "cs.LG",
                    "versions": [{"version": "v1", "created": day.to_rfc2822()}],
                    "update_date": day.format("%Y-%m-%d").to_string(),
                }),
            )?;
            out.write_all(b"\n")?;
            papers.push(p);
        }
        out.flush()?;
        Ok(papers)
    }

    /// A question near `p`: one of its sentences with a third of the words dropped.
    fn question(&self, p: &Paper, rng: &mut fastrand::Rng) -> String {
        let sentences: Vec<&str> = p.abstract_text.split(". ").collect();
        let s = sentences[rng.usize(..sentences.len())];
        s.split_whitespace()
            .filter(|_| rng.u8(..3) > 0)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A pronounceable-enough unique word for `i` ("Zobaku"): titles stay distinct.
fn serial_word(mut i: usize) -> String {
    const C: &[u8] = b"bdfgklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut s = String::from("Z");
    loop {
        s.push(C[i % C.len()] as char);
        i /= C.len();
        s.push(V[i % V.len()] as char);
        i /= V.len();
        if i == 0 {
            return s;
        }
    }
}

/// Random-indexing embeddings (the hashing trick): each lowercased word
/// adds ±1 at four positions chosen by its hash; a text is the normalised
/// sum. Texts that share words are close, as with a real embedder, at a
/// cost of a few operations per word.
#[derive(Default, Clone, Copy)]
struct WordVectors;

impl WordVectors {
    fn embed(&self, text: &str) -> Vec<f32> {
        let mut sum = vec![0f32; DIM];
        for w in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let mut h = w.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x100_0000_01b3)
            });
            for _ in 0..4 {
                h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
                sum[(h % DIM as u64) as usize] += if h & (1 << 40) == 0 { 1.0 } else { -1.0 };
            }
        }
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        sum.iter_mut().for_each(|x| *x /= norm);
        sum
    }
}

/// The stand-in `/v1/embeddings` on 127.0.0.1.
struct StandIn {
    base: String,
}

impl StandIn {
    async fn start() -> anyhow::Result<StandIn> {
        let router = axum::Router::new()
            .route("/v1/embeddings", axum::routing::post(embeddings))
            .with_state(WordVectors);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/v1", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(StandIn { base })
    }

    /// `paperbot --data-dir data …` embedding through the stand-in.
    fn command(&self, data: &Path) -> Command {
        let mut cmd = Command::new(std::env::current_exe().unwrap_or_else(|_| PathBuf::from("paperbot")));
        cmd.arg("--data-dir")
            .arg(data)
            .env("PAPERBOT_EMBED__BACKEND", "openai")
            .env("PAPERBOT_EMBED__OPENAI_BASE_URL", &self.base)
            .env("PAPERBOT_EMBED__OPENAI_MODEL", "stand-in")
            .env("PAPERBOT_EMBED__BATCH_SIZE", "256")
            .env_remove("PAPERBOT_LOG");
        cmd
    }
}

async fn embeddings(State(words): State<WordVectors>, Json(req): Json<Value>) -> Json<Value> {
    let inputs: Vec<String> = match &req["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect(),
        _ => vec![],
    };
    let data = tokio::task::spawn_blocking(move || {
        inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": words.embed(t)}))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Json(json!({"object": "list", "data": data, "model": "stand-in", "usage": {"prompt_tokens": 0, "total_tokens": 0}}))
}
