//! `paperbot bench lookup`: finding a paper by title (exact, and by the start
//! of its words as autocomplete does) against finding it by id, on libraries
//! of N papers, in the same run. The libraries are the sample corpus repeated
//! with distinct titles ("… (copy k)"): every title shares its words with
//! N/85 others, the hard case for a title index. Vectors are BM25 of the
//! real text and random dense vectors (lookup never reads them).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use paperbot::app::App;
use paperbot::paper::Paper;
use paperbot::retrieve::lookup;
use paperbot::store::edge::EdgeStore;
use paperbot::store::{PaperPoint, PaperStore, PaperVectors, StoredPaper};

use super::{peak_rss_mb, percentile, synthetic, tempfile_dir};

pub async fn run(app: &App, corpus: &Path, sizes: &[usize], queries: usize) -> anyhow::Result<ExitCode> {
    println!(
        "title lookup benchmark: the sample corpus repeated with distinct titles, embedded Qdrant Edge, {queries} lookups per row\n"
    );
    println!("| papers | lookup | p50 ms | p99 ms | p50 ÷ by id | found |");
    println!("|---:|---|---:|---:|---:|---:|");
    for &n in sizes {
        let dir = tempfile_dir()?.join(format!("lookup-{n}"));
        let lib = app.library_over(EdgeStore::open(&dir)?).await?;
        lib.ensure_collection().await?;
        let papers = synthetic(corpus, n)?;
        let dim = lib.dense.dim();
        let mut rng = fastrand::Rng::with_seed(7);
        for chunk in papers.chunks(1_000) {
            let points = chunk
                .iter()
                .map(|p| PaperPoint {
                    vectors: PaperVectors {
                        dense: (0..dim).map(|_| rng.f32() - 0.5).collect(),
                        sparse: lib.bm25.document(&p.embedding_text()),
                    },
                    stored: StoredPaper {
                        paper: p.clone(),
                        first_seen: chrono::Utc::now(),
                        content_hash: String::new(),
                        text_hash: String::new(),
                    },
                })
                .collect();
            lib.store.upsert(points).await?;
        }
        lib.store.optimize().await?;
        let picks: Vec<&Paper> = (0..queries).map(|_| &papers[rng.usize(..n)]).collect();

        let mut rows: Vec<(&str, Vec<f64>, usize)> = Vec::new();
        let mut times = Vec::new();
        let mut found = 0;
        for p in &picks {
            let t = Instant::now();
            let got = lib.store.get(std::slice::from_ref(&p.id)).await?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            found += usize::from(got.first().is_some_and(|s| s.paper.id == p.id));
        }
        rows.push(("by id", times, found));
        let (mut times, mut found) = (Vec::new(), 0);
        for p in &picks {
            let t = Instant::now();
            let got = lookup::find(&lib, &p.title).await?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            found += usize::from(got.is_some_and(|s| s.paper.id == p.id));
        }
        rows.push(("exact title", times, found));
        let (mut times, mut found) = (Vec::new(), 0);
        for p in &picks {
            let typed = typed_prefix(&p.title);
            let t = Instant::now();
            let got = lookup::suggest(&lib, &typed, 25).await?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            found += usize::from(!got.is_empty());
        }
        rows.push(("autocomplete (first words, last one cut)", times, found));

        let by_id = {
            let mut t = rows[0].1.clone();
            t.sort_by(f64::total_cmp);
            percentile(&t, 0.5)
        };
        for (name, mut t, found) in rows {
            t.sort_by(f64::total_cmp);
            let p50 = percentile(&t, 0.5);
            println!(
                "| {n} | {name} | {p50:.2} | {:.2} | {:.1} | {found}/{queries} |",
                percentile(&t, 0.99),
                p50 / by_id.max(1e-9)
            );
        }
        drop(lib);
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "\npeak RSS {:.0} MB; `found` = the paper itself (by id, exact title) or any suggestion (autocomplete)",
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    Ok(ExitCode::SUCCESS)
}

/// What someone has typed so far: the first two words, the second cut short.
fn typed_prefix(title: &str) -> String {
    let mut words = title.split_whitespace();
    let first = words.next().unwrap_or_default();
    match words.next() {
        Some(second) => format!("{first} {}", second.chars().take(3).collect::<String>()),
        None => first.chars().take(4).collect(),
    }
}
