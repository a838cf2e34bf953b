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
