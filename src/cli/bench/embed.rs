//! `paperbot bench embed`: the local embedder's engines against each other
//! and against sentence-transformers.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use paperbot::app::App;
use paperbot::paper::Paper;

use super::{peak_rss_mb, percentile, synthetic, tempfile_dir};

/// `paperbot bench embed`: the local embedder's engines — packed f32 (the
/// reference), packed int8 (AVX-512 VNNI, when the CPU has it) and
/// candle-transformers' `BertModel` — and sentence-transformers when a
/// Python with it is given, all in the same run on the same texts.
pub async fn run(app: &App, corpus: &Path, python: Option<&Path>) -> anyhow::Result<ExitCode> {
    use paperbot::embed::minilm::{EngineKind, MiniLm, Precision, int8_available};
    let model_dir = app.config.embed.model_dir.clone();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let papers = synthetic(corpus, 85)?;
    let texts: Vec<String> = papers.iter().map(Paper::embedding_text).collect();
    // Texts at the model's 256-token window: three abstracts each, truncated.
    let long: Vec<String> = (0..32)
        .map(|i| {
            (0..3)
                .map(|j| texts[(i + j * 29) % texts.len()].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let queries: Vec<String> = papers
        .iter()
        .map(|p| format!("what does the paper on {} find?", p.title.to_lowercase()))
        .collect();
    let mut engines = vec![("packed f32", EngineKind::Packed(Precision::F32))];
    if int8_available() {
        engines.push(("packed int8", EngineKind::Packed(Precision::Int8)));
    } else {
        println!("(no int8 engine: this CPU lacks AVX-512 VNNI)");
    }
    engines.push(("candle-transformers", EngineKind::Candle));
    let mut sides = Vec::new();
    let mut long_tokens = 0.0;
    for &(_, kind) in &engines {
        let (dir, texts, long, queries) = (model_dir.clone(), texts.clone(), long.clone(), queries.clone());
        let (measured, tokens) = tokio::task::spawn_blocking(move || -> anyhow::Result<(serde_json::Value, f64)> {
            let model = MiniLm::load_engine(&dir, 32, kind)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let long: Vec<&str> = long.iter().map(String::as_str).collect();
            model.embed(&refs[..8])?; // warm-up
            let mut lat = Vec::new();
            for q in &queries {
                let t = Instant::now();
                model.embed(&[q.as_str()])?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            lat.sort_by(f64::total_cmp);
            // Best of two runs: the machine may be shared.
            let best_secs = |texts: &[&str], b: usize| -> anyhow::Result<f64> {
                let mut best = f64::INFINITY;
                for _ in 0..2 {
                    let t = Instant::now();
                    model.embed_batched(texts, b)?;
                    best = best.min(t.elapsed().as_secs_f64());
                }
                Ok(best)
            };
            // GFLOP/s counts useful work only (no padding), by
            // Encoder::forward_flops: per layer and text of L tokens,
            // 2·L·(4h² + 2h·i) for the linear layers plus 4·L²·h for
            // attention's two products (h = 384, i = 1536, 6 layers).
            let (flops, long_flops) = (model.forward_flops(&refs), model.forward_flops(&long));
            let mut tp = serde_json::Map::new();
            let mut gf = serde_json::Map::new();
            for b in BATCHES {
                let secs = best_secs(&refs, b)?;
                tp.insert(b.to_string(), (refs.len() as f64 / secs).into());
                if let Some(f) = flops {
                    gf.insert(b.to_string(), (f / secs / 1e9).into());
                }
            }
            let secs = best_secs(&long, LONG_BATCH)?;
            tp.insert("long".into(), (long.len() as f64 / secs).into());
            if let Some(f) = long_flops {
                gf.insert("long".into(), (f / secs / 1e9).into());
            }
            let tokens = long.iter().map(|t| model.token_count(t)).sum::<usize>() as f64 / long.len() as f64;
            Ok((
                serde_json::json!({"query_p50_ms": percentile(&lat, 0.5), "query_p99_ms": percentile(&lat, 0.99), "throughput": tp, "gflops": gf}),
                tokens,
            ))
        })
        .await??;
        long_tokens = tokens;
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
        "embedding benchmark: all-MiniLM-L6-v2, {} abstracts (max 256 tokens) and {} long texts ({long_tokens:.0} tokens on average), {threads} threads",
        texts.len(),
        long.len()
    );
    if let Some(b) = &baseline {
        println!("sentence-transformers: {}", b["library"].as_str().unwrap_or("?"));
    }
    let side = |label: &str| engines.iter().position(|(l, _)| *l == label).map(|i| &sides[i]);
    let (f32_side, int8_side, candle_side) = (side("packed f32"), side("packed int8"), side("candle-transformers"));
    println!(
        "\n| metric | packed f32 | packed int8 | candle-transformers | sentence-transformers | int8 ÷ f32 | f32 ÷ candle | f32 ÷ s-t |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    // Ratios read "times better": > 1 means the first named engine wins.
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
    for (key, name) in BATCHES
        .iter()
        .map(|b| (b.to_string(), format!("abstracts, batch {b}")))
        .chain([(
            "long".to_string(),
            format!("{long_tokens:.0}-token texts, batch {LONG_BATCH}"),
        )])
    {
        let k = key.clone();
        rows.push((
            format!("{name}: texts/s"),
            Box::new(move |v| v["throughput"][&k].as_f64()),
            true,
        ));
        rows.push((
            format!("{name}: GFLOP/s"),
            Box::new(move |v| v["gflops"][&key].as_f64()),
            true,
        ));
    }
    for (name, get, higher_better) in rows {
        let (packed, int8, candle) = (
            f32_side.and_then(&get),
            int8_side.and_then(&get),
            candle_side.and_then(&get),
        );
        let st = baseline.as_ref().and_then(&get);
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            cell(packed),
            cell(int8),
            cell(candle),
            cell(st),
            ratio(int8, packed, higher_better),
            ratio(packed, candle, higher_better),
            ratio(packed, st, higher_better)
        );
    }
    println!(
        "\npeak RSS (paperbot process, all engines): {:.0} MB",
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    Ok(ExitCode::SUCCESS)
}

/// The batch size of the 256-token case.
const LONG_BATCH: usize = 8;
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
