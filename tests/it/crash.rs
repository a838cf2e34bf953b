//! A killed or interrupted `paperbot ingest` keeps what it wrote: the child
//! process ingests 2,000 papers through a local embedding server that counts
//! requests and answers slowly, is killed with SIGKILL (or asked to stop with
//! SIGINT) part-way, and the library is reopened.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

/// A slow, deterministic `/v1/embeddings`: 8-d vectors from the text's bytes.
async fn embeddings(State(served): State<Arc<AtomicUsize>>, Json(req): Json<Value>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(30)).await;
    served.fetch_add(1, Ordering::SeqCst);
    let inputs: Vec<String> = match &req["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect(),
        _ => vec![],
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut v = vec![0.1f32; 8];
            for (j, b) in t.bytes().enumerate() {
                v[(b as usize + j) % 8] += 1.0;
            }
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    Json(
        json!({"object": "list", "data": data, "model": req["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
    )
}

/// 2,000 distinct papers in the export format.
async fn big_file(dir: &std::path::Path) -> std::path::PathBuf {
    let papers = paperbot::sources::load_file(&crate::support::corpus())
        .await
        .unwrap()
        .papers;
    let body: String = (0..2_000)
        .map(|i| {
            let mut p = papers[i % papers.len()].clone();
            p.title = format!("{} (copy {i})", p.title);
            p.id = paperbot::paper::PaperId::from_title(&p.title);
            paperbot::sources::jsonl::to_line(&p)
        })
        .collect();
    let file = dir.join("big.jsonl");
    std::fs::write(&file, body).unwrap();
    file
}

fn paperbot_with(base: &str, data: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = crate::support::paperbot();
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("PAPERBOT_EMBED__BACKEND", "openai")
        .env("PAPERBOT_EMBED__OPENAI_BASE_URL", format!("{base}/v1"))
        .env("PAPERBOT_EMBED__OPENAI_MODEL", "stand-in")
        // One embedding request per ingest batch (plus the dimension probe).
        .env("PAPERBOT_EMBED__BATCH_SIZE", "64");
    cmd
}

fn count(base: &str, data: &std::path::Path) -> u64 {
    let out = paperbot_with(base, data, &["stats", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["count"].as_u64().unwrap()
}

/// Waits until the embedding server has answered `n` batches.
async fn until_served(served: &AtomicUsize, n: usize) {
    let start = Instant::now();
    while served.load(Ordering::SeqCst) < n {
        assert!(start.elapsed() < Duration::from_secs(60), "the ingest never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_ingest_keeps_every_batch_it_finished_and_ctrl_c_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(served.clone());
    let base = format!("http://{}", crate::support::serve(router).await);
    let file = big_file(tmp.path()).await;
    let file = file.to_str().unwrap();

    // SIGKILL after ten batches were embedded.
    let data = tmp.path().join("killed");
    let mut child = paperbot_with(&base, &data, &["ingest", file])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    until_served(&served, 12).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = count(&base, &data);
    assert!(
        kept >= 64 * 8 && kept < 2_000,
        "{kept} papers after a kill during batch ~11 (each batch is 64)"
    );

    // SIGINT: the current batch finishes, the run says how to go on.
    let data = tmp.path().join("interrupted");
    served.store(0, Ordering::SeqCst);
    let child = paperbot_with(&base, &data, &["ingest", file])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    until_served(&served, 6).await;
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert!(said.contains("run the same command again"), "{said}");
    let kept = count(&base, &data);
    assert!(kept >= 64 * 5 && kept % 64 == 0, "{kept} papers: whole batches only");

    // Running it again finishes the job without re-embedding what is stored.
    served.store(0, Ordering::SeqCst);
    let out = paperbot_with(&base, &data, &["ingest", file]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("{} new, 0 updated, {kept} unchanged", 2_000 - kept)),
        "{said}"
    );
    assert_eq!(count(&base, &data), 2_000);
}
