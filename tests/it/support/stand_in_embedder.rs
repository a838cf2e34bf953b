//! A deterministic, slightly slow `/v1/embeddings` (8-d vectors from the
//! text's bytes) that counts the requests it answered: store-scale and
//! crash runs cost no model, and a test can act after `n` batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

pub struct StandInEmbedder {
    pub base: String,
    served: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct Shared {
    served: Arc<AtomicUsize>,
    /// Requests past this many are never answered (an endpoint that hangs).
    stall_after: usize,
}

impl StandInEmbedder {
    pub async fn start() -> StandInEmbedder {
        Self::start_stalling_after(usize::MAX).await
    }

    /// Answers `n` requests, then accepts requests and never answers them.
    pub async fn start_stalling_after(n: usize) -> StandInEmbedder {
        let served = Arc::new(AtomicUsize::new(0));
        let router = Router::new()
            .route("/v1/embeddings", post(embeddings))
            .with_state(Shared {
                served: served.clone(),
                stall_after: n,
            });
        let base = format!("http://{}", super::serve(router).await);
        StandInEmbedder { base, served }
    }

    /// Requests answered so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.served.store(0, Ordering::SeqCst);
    }

    /// Waits until `n` requests were answered (a minute at most).
    pub async fn until_served(&self, n: usize) {
        let start = Instant::now();
        while self.served() < n {
            assert!(start.elapsed() < Duration::from_secs(60), "the ingest never got going");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `paperbot` with `--data-dir data`, embedding through this server.
    pub fn paperbot(&self, data: &std::path::Path, args: &[&str]) -> std::process::Command {
        let mut cmd = super::paperbot();
        cmd.arg("--data-dir")
            .arg(data)
            .args(args)
            .env("PAPERBOT_EMBED__BACKEND", "openai")
            .env("PAPERBOT_EMBED__OPENAI_BASE_URL", format!("{}/v1", self.base))
            .env("PAPERBOT_EMBED__OPENAI_MODEL", "stand-in")
            // One embedding request per ingest batch (plus the dimension probe).
            .env("PAPERBOT_EMBED__BATCH_SIZE", "64")
            .env("PAPERBOT_EMBED__CONCURRENCY", "1");
        cmd
    }

    /// The library's paper count, by `paperbot stats`.
    pub fn count(&self, data: &std::path::Path) -> u64 {
        let out = self.paperbot(data, &["stats", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["count"].as_u64().unwrap()
    }
}

async fn embeddings(State(shared): State<Shared>, Json(req): Json<Value>) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(30)).await;
    if shared.served.load(Ordering::SeqCst) >= shared.stall_after {
        std::future::pending::<()>().await;
    }
    shared.served.fetch_add(1, Ordering::SeqCst);
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
