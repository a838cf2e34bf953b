//! The bot token, the LLM key and the Qdrant API key never reach the logs:
//! the real `paperbot serve` runs as a child process with
//! `PAPERBOT_LOG=trace` (serenity, tungstenite, reqwest, tonic/h2 and
//! paperbot at TRACE) against the local fake Discord (through
//! `discord.api_proxy`) and the scripted LLM, answers a question, is asked
//! to reconnect (its RESUME carries the token) and shuts down on SIGTERM;
//! its whole log is searched for every secret, plain, hex-encoded and as
//! byte lists. With `QDRANT_URL` set, the library is on that Qdrant server
//! and the client sends an API key.

use std::time::Duration;

use serde_json::json;

use crate::support::Spawned;
use crate::support::fake_discord::{self as fd, FakeDiscord};
use crate::support::fake_llm::{FakeLlm, Reply};

const LLM_KEY: &str = "sk-live-DO-NOT-LOG-7f3e";
const QDRANT_KEY: &str = "qk-live-DO-NOT-LOG-2c9a";
const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_logs_even_at_trace_level() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // On a Qdrant server when one is given: the client then sends an API key.
    let server = std::env::var("QDRANT_URL").ok();
    let collection = format!("paperbot_secrets_{}", std::process::id());
    let on_server = |cmd: &mut std::process::Command| {
        if let Some(url) = &server {
            cmd.env("PAPERBOT_QDRANT_URL", url)
                .env("PAPERBOT_QDRANT_API_KEY", QDRANT_KEY)
                .env("PAPERBOT_STORE__COLLECTION", &collection);
        }
    };
    if server.is_some() {
        let papers = crate::support::sample_papers().await;
        let file = tmp.path().join("eight.jsonl");
        std::fs::write(
            &file,
            papers
                .iter()
                .take(8)
                .map(paperbot::sources::jsonl::to_line)
                .collect::<String>(),
        )
        .unwrap();
        let mut ingest = crate::support::paperbot();
        ingest.arg("--data-dir").arg(&data).arg("ingest").arg(&file);
        on_server(&mut ingest);
        let out = ingest.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    } else {
        crate::support::small_library(&data, 8).await;
    }
    let fake = FakeDiscord::start().await;
    let llm = FakeLlm::start(vec![Reply::text(&["Process errors are found [1]."])]).await;
    let log_path = tmp.path().join("serve.log");
    let mut cmd = crate::support::paperbot();
    cmd.arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .env("PAPERBOT_LOG", "trace")
        .env("DISCORD_TOKEN", fd::TOKEN)
        .env("PAPERBOT_DISCORD__API_PROXY", fake.proxy_url())
        .env("PAPERBOT_DISCORD__EDIT_INTERVAL_MS", "100")
        .env("PAPERBOT_LLM__BASE_URL", llm.base_url())
        .env("PAPERBOT_LLM__MODEL", "fake-model")
        .env("PAPERBOT_LLM_API_KEY", LLM_KEY)
        .env("PAPERBOT_SYNC__ENABLED", "false")
        .env("PAPERBOT_OPS__LISTEN", "127.0.0.1:0");
    on_server(&mut cmd);
    let mut serve = Spawned::start(cmd, log_path);

    fake.wait_ready(T).await;
    let question =
        json!([{"name": "question", "type": 3, "value": "which papers find errors in math reasoning steps?"}]);
    fake.dispatch("INTERACTION_CREATE", fd::slash_command(3001, "ask", question))
        .await;
    fake.wait_for("the answer", T, |c| {
        c.method == "PATCH" && c.path.ends_with("/@original") && c.body.to_string().contains("Process errors are found")
    })
    .await;
    // Discord moves the session: the bot resumes it, sending its token again.
    let identifies = fake.gateway_frames().iter().filter(|f| f["op"] == 2).count();
    fake.reconnect_all();
    let started = std::time::Instant::now();
    while !fake.gateway_frames().iter().any(|f| f["op"] == 6) {
        assert!(
            started.elapsed() < T,
            "no RESUME after op 7: {:?}",
            fake.gateway_frames()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        fake.gateway_frames().iter().filter(|f| f["op"] == 2).count(),
        identifies,
        "resumed, not identified again"
    );
    let status = serve.terminate();
    assert!(status.success(), "serve exited with {status}");
    if let Some(url) = &server {
        let store = paperbot::store::server::ServerStore::connect(paperbot::store::server::ServerConfig {
            url: url.clone(),
            api_key: None,
            collection: collection.clone(),
            shard_number: None,
            replication_factor: None,
            timeout: Duration::from_secs(10),
        })
        .unwrap();
        store.drop_all().await.unwrap();
    }

    // The key went out on the wire…
    let seen = llm.seen();
    assert_eq!(seen[0].headers["authorization"], format!("Bearer {LLM_KEY}").as_str());
    // …and never into the log, which did record the traffic.
    let log = serve.log_text();
    assert!(log.len() > 10_000, "trace logging captured little: {} bytes", log.len());
    assert!(log.contains("connected to Discord"), "the log is the bot's");
    assert!(log.contains("shutting down"), "the log covers the shutdown");
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
    assert!(!log.contains(QDRANT_KEY), "the Qdrant API key is in the log");
    for secret in [fd::TOKEN, LLM_KEY, QDRANT_KEY] {
        assert!(!log.contains(&hex(&secret[..20])), "a secret is in the log, in hex");
        assert!(!log.contains(&list(&secret[..20])), "a secret is in the log, as bytes");
    }
}
