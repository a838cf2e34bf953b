//! The bot token and the LLM key never reach the logs: the bot runs with
//! the filter `PAPERBOT_LOG=trace` gives (serenity, reqwest and paperbot at
//! TRACE) against the local fake Discord and LLM, answers a question, and
//! the captured log is searched for both secrets, plain and hex-encoded.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fake_discord::{self as fd, FakeDiscord};
use common::fake_llm::{FakeLlm, Reply};
use paperbot::answer::llm::{LlmClient, LlmConfig};
use paperbot::answer::prompts::Prompts;
use paperbot::answer::{AnswerConfig, Answerer};
use paperbot::config::{SearchConfig, Secret};
use paperbot::discord::{Bot, DiscordConfig};
use paperbot::store::AnyStore;
use paperbot::store::edge::EdgeStore;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const LLM_KEY: &str = "sk-live-DO-NOT-LOG-7f3e";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_logs_even_at_trace_level() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(paperbot::telemetry::filter(Some("trace"), "info"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let tmp = tempfile::tempdir().unwrap();
    let lib = common::sample_library(AnyStore::Edge(EdgeStore::open(tmp.path()).unwrap()), Some(8)).await;
    let fake = FakeDiscord::start().await;
    let llm = FakeLlm::start(vec![Reply::text(&["Process errors are found [1]."])]).await;
    let lc = LlmConfig {
        base_url: Some(llm.base_url()),
        model: "fake-model".into(),
        ..Default::default()
    };
    let key = Secret::from(LLM_KEY.to_string());
    let answerer = Answerer::new(
        Arc::new(lib),
        Prompts::builtin().unwrap(),
        LlmClient::from_config(&lc, Some(&key)).unwrap(),
        AnswerConfig::default(),
        &SearchConfig::default(),
    );
    let config = DiscordConfig {
        edit_interval_ms: 100,
        ..Default::default()
    };
    let bot = Arc::new(Bot::new(Arc::new(answerer), config, tmp.path().join("fb.jsonl")));
    let http = serenity::all::HttpBuilder::new(fd::TOKEN)
        .client(fake.http_client())
        .build();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { paperbot::discord::run(bot, http, stop).await.unwrap() }
    });
    let t = Duration::from_secs(20);
    fake.wait_ready(t).await;
    let question =
        json!([{"name": "question", "type": 3, "value": "which papers find errors in math reasoning steps?"}]);
    fake.dispatch("INTERACTION_CREATE", fd::slash_command(3001, "ask", question))
        .await;
    fake.wait_for("the answer", t, |c| {
        c.method == "PATCH" && c.path.ends_with("/@original") && c.body.to_string().contains("Process errors are found")
    })
    .await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;

    // The key went out on the wire…
    let seen = llm.seen();
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {LLM_KEY}").as_str());
    // …and never into the log, which did record the traffic.
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(log.len() > 10_000, "trace logging captured little: {} bytes", log.len());
    assert!(log.contains("connected to Discord"), "the log is the bot's");
    if let Some(i) = log.find(fd::TOKEN) {
        let line_start = log[..i].rfind('\n').map_or(0, |j| j + 1);
        let line_end = log[i..].find('\n').map_or(log.len(), |j| i + j);
        panic!(
            "the Discord token is in the log:\n{}",
            &log[line_start..line_end.min(line_start + 600)]
        );
    }
    assert!(!log.contains(LLM_KEY), "the LLM key is in the log");
    // Nor as bytes, as websocket frame dumps print payloads (hex or a byte list).
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let list = |s: &str| s.bytes().map(|b| b.to_string()).collect::<Vec<_>>().join(", ");
    assert!(
        !log.contains(&hex(&fd::TOKEN[..24])),
        "the Discord token is in the log, in hex"
    );
    assert!(
        !log.contains(&list(&fd::TOKEN[..24])),
        "the Discord token is in the log, as bytes"
    );
}
