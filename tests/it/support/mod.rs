//! Shared test helpers: paths to shipped data, a local HTTP server, the model.

pub mod fake_arxiv;
pub mod fake_discord;
pub mod fake_llm;
pub mod fake_oai;
pub mod stand_in_embedder;

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

/// The `paperbot` binary with a clean environment: nothing of the caller's
/// `PAPERBOT_*`, `OPENAI_API_KEY` or `DISCORD_TOKEN` leaks in, so a test
/// behaves the same on any machine. It gets `PATH`, `HOME`, the local model
/// and `PAPERBOT_LOG=warn`; callers add the rest.
pub fn paperbot() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_paperbot"));
    cmd.env_clear()
        .env("PAPERBOT_EMBED__MODEL_DIR", model_dir())
        .env("PAPERBOT_LOG", "warn");
    for keep in ["PATH", "HOME", "TMPDIR"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd
}

/// A running child process whose stderr goes to a file: killed when
/// dropped, and its log's tail printed when that happens during a panic
/// (so a failing test shows why the child misbehaved).
pub struct Spawned {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Spawned {
    /// Starts `cmd` with stdout discarded and stderr in `log`.
    pub fn start(mut cmd: std::process::Command, log: PathBuf) -> Spawned {
        let file = std::fs::File::create(&log).expect("create the child's log");
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn the child");
        Spawned { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits up to 30 s for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the child") {
                return status;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "the child did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: String = log
                .chars()
                .rev()
                .take(6_000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            eprintln!("---- the child's log ({}), last part ----\n{tail}", self.log.display());
        }
    }
}

/// A library of the sample corpus's first `n` papers under `data`.
/// The sample corpus's 85 papers, parsed.
pub async fn sample_papers() -> Vec<paperbot::paper::Paper> {
    paperbot::sources::load_file(&corpus()).await.unwrap().papers
}

pub async fn small_library(data: &std::path::Path, n: usize) {
    let papers = crate::support::sample_papers().await;
    let file = data.with_extension("jsonl");
    let body: String = papers.iter().take(n).map(paperbot::sources::jsonl::to_line).collect();
    std::fs::write(&file, body).unwrap();
    let out = crate::support::paperbot()
        .arg("--data-dir")
        .arg(data)
        .arg("ingest")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
