//! Shared test helpers: paths to shipped data, a local HTTP server, the model.
#![allow(dead_code)]

pub mod fake_discord;
pub mod fake_llm;

use std::net::SocketAddr;
use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn corpus() -> PathBuf {
    repo().join("corpus/hf-papers-page.txt")
}

pub fn data(name: &str) -> PathBuf {
    repo().join("tests/data").join(name)
}

/// The local model directory; tests that need it fail with the fix spelled out.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("PAPERBOT_EMBED__MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models/all-MiniLM-L6-v2"));
    assert!(
        paperbot::embed::model::is_present(&dir),
        "the embedding model is not in {}: run `cargo run -- model fetch` first (.ci/run does)",
        dir.display()
    );
    dir
}

/// Serves `router` on 127.0.0.1 on a free port until the test ends.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("test server");
    });
    addr
}

/// A library over `store` holding the sample corpus (its first `n` papers
/// when given), embedded with the local MiniLM.
pub async fn sample_library<S: paperbot::store::PaperStore>(
    store: S,
    n: Option<usize>,
) -> paperbot::library::Library<S> {
    let config = paperbot::embed::EmbedConfig {
        model_dir: model_dir(),
        ..Default::default()
    };
    let dense = paperbot::embed::DenseEmbedder::from_config(&config, None)
        .await
        .unwrap();
    let bm25 = std::sync::Arc::new(paperbot::embed::Bm25::default());
    let lib = paperbot::library::Library::new(store, dense, bm25).await.unwrap();
    let mut papers = paperbot::sources::load_file(&corpus()).await.unwrap().papers;
    if let Some(n) = n {
        papers.truncate(n);
    }
    paperbot::ingest::ingest(&lib, papers, &indicatif::ProgressBar::hidden())
        .await
        .unwrap();
    lib
}
