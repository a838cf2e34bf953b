//! The OpenAI-compatible embedder against a local `/v1/embeddings` server,
//! and the library refusing vectors from a different embedder until
//! `paperbot reindex` rebuilds it.

use std::path::Path;
use std::process::Output;

use axum::Json;
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

const DIM: usize = 16;
const KEY: &str = "sk-test-DO-NOT-LOG-4f2a";

/// A deterministic bag-of-letters embedding: similar texts, similar vectors.
fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    for (i, b) in text.bytes().enumerate() {
        v[(b as usize + i % 3) % DIM] += 1.0;
    }
    v
}

async fn embeddings(headers: HeaderMap, Json(req): Json<Value>) -> Json<Value> {
    assert_eq!(
        headers.get("authorization").and_then(|h| h.to_str().ok()),
        Some(format!("Bearer {KEY}").as_str())
    );
    let inputs: Vec<String> = match &req["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect(),
        other => panic!("unexpected input {other}"),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t)}))
        .collect();
    Json(
        json!({"object": "list", "data": data, "model": req["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
    )
}

fn paperbot(data: &Path, base: &str, openai: bool, args: &[&str]) -> Output {
    let mut cmd = crate::support::paperbot();
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("PAPERBOT_LOG", "debug")
        .env("OPENAI_API_KEY", KEY);
    if openai {
        cmd.env("PAPERBOT_EMBED__BACKEND", "openai")
            .env("PAPERBOT_EMBED__OPENAI_BASE_URL", format!("{base}/v1"))
            .env("PAPERBOT_EMBED__OPENAI_MODEL", "test-embed");
    } else {
        cmd.env("PAPERBOT_EMBED__MODEL_DIR", crate::support::model_dir());
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains(KEY) && !String::from_utf8_lossy(&out.stdout).contains(KEY),
        "the API key was printed"
    );
    eprintln!(
        "$ paperbot {}\n{}{stderr}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_embedder_mismatch_and_reindex() {
    let addr = crate::support::serve(Router::new().route("/v1/embeddings", post(embeddings))).await;
    let base = format!("http://{addr}");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let corpus = crate::support::corpus().to_str().unwrap().to_string();
    // The CLI blocks; the test server needs the runtime meanwhile.
    let run = |openai: bool, args: &[&str]| {
        let (data, base) = (data.clone(), base.clone());
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            paperbot(&data, &base, openai, &refs)
        })
    };

    // Built with the local model...
    let out = run(false, &["ingest", &corpus]).await.unwrap();
    assert!(out.status.success());

    // ...so the OpenAI embedder is refused, with the fix named.
    let out = run(true, &["search", "reward hacking"]).await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("paperbot reindex") && err.contains("openai:test-embed"),
        "{err}"
    );

    // Reindex rebuilds it with the OpenAI embedder, keeping every paper.
    let out = run(true, &["reindex"]).await.unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("85 new"));
    let out = run(true, &["search", "reward hacking", "--json"]).await.unwrap();
    assert!(out.status.success());
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 10);
    let out = run(true, &["stats", "--json"]).await.unwrap();
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["count"], 85);
}

/// A server that answers slowly and records how many requests it held at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_embedder_keeps_several_requests_in_flight_and_the_order() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    #[derive(Default)]
    struct Seen {
        now: AtomicUsize,
        most: AtomicUsize,
        total: AtomicUsize,
    }
    let seen = Arc::new(Seen::default());
    let handler = {
        let seen = seen.clone();
        move |Json(req): Json<Value>| {
            let seen = seen.clone();
            async move {
                let at_once = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most.fetch_max(at_once, Ordering::SeqCst);
                seen.total.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                seen.now.fetch_sub(1, Ordering::SeqCst);
                let data: Vec<Value> = req["input"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t.as_str().unwrap())}))
                    .collect();
                Json(
                    json!({"object": "list", "data": data, "model": req["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
                )
            }
        }
    };
    let addr = crate::support::serve(Router::new().route("/v1/embeddings", post(handler))).await;
    let config = paperbot::embed::EmbedConfig {
        backend: paperbot::embed::EmbedBackend::Openai,
        openai_base_url: format!("http://{addr}/v1"),
        openai_model: "test-embed".into(),
        batch_size: 8,
        concurrency: 4,
        ..Default::default()
    };
    let embedder = paperbot::embed::DenseEmbedder::from_config(&config, None)
        .await
        .unwrap();
    assert_eq!(embedder.ingest_batch(64), 64);
    seen.most.store(0, Ordering::SeqCst);
    seen.total.store(0, Ordering::SeqCst);
    let texts: Vec<String> = (0..80).map(|i| format!("text number {i} {}", "x".repeat(i))).collect();
    let vectors = embedder.embed_documents(texts.clone()).await.unwrap();
    assert_eq!(seen.total.load(Ordering::SeqCst), 10, "80 texts in requests of 8");
    assert_eq!(seen.most.load(Ordering::SeqCst), 4, "four in flight at once");
    for (t, v) in texts.iter().zip(&vectors) {
        let mut want = embed(t);
        let n = want.iter().map(|x| x * x).sum::<f32>().sqrt();
        want.iter_mut().for_each(|x| *x /= n);
        assert!(
            v.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5),
            "vectors in the order of the texts"
        );
    }
}
