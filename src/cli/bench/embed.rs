//! `paperbot bench embed`: the local embedder's engines against each other
//! and against sentence-transformers.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use paperbot::app::App;
use paperbot::paper::Paper;

use super::{peak_rss_mb, percentile, synthetic, tempfile_dir};

/// `paperbot bench embed`: the local embedder's two engines (packed, the
/// default, and candle-transformers' `BertModel`), and sentence-transformers
/// when a Python with it is given, all in the same run.
pub async fn run(app: &App, corpus: &Path, python: Option<&Path>) -> anyhow::Result<ExitCode> {
    use paperbot::embed::minilm::{EngineKind, MiniLm};
    let model_dir = app.config.embed.model_dir.clone();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let papers = synthetic(corpus, 85)?;
    let texts: Vec<String> = papers.iter().map(Paper::embedding_text).collect();
    let queries: Vec<String> = papers
        .iter()
        .map(|p| format!("what does the paper on {} find?", p.title.to_lowercase()))
        .collect();
    let mut sides = Vec::new();
    for kind in [
        EngineKind::Packed(paperbot::embed::minilm::Precision::F32),
        EngineKind::Candle,
    ] {
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
    type Metric = Box<dyn Fn(&serde_json::Value) -> Option<f64>>;
    let mut rows: Vec<(String, Metric, bool)> = vec![
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
        let st = baseline.as_ref().and_then(get);
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
