//! One data directory, many paperbot processes: the first to open the
//! embedded library owns it and serves it over a Unix socket in the data
//! directory; later ones use it through the owner, and take it over when the
//! owner stops. Tested in one process (two opens), and end to end: `paperbot
//! serve` answering on the local Discord while `paperbot ingest` and
//! `paperbot stats` run beside it.

use std::time::Duration;

use paperbot::paper::{Paper, SourceKind};
use paperbot::store::shared::SharedEdge;
use paperbot::store::state::StateStore;
use paperbot::store::{CollectionMeta, PaperPoint, PaperStore, PaperVectors, SparseVec, StoredPaper};
use serde_json::json;

use crate::support::Spawned;
use crate::support::fake_discord::{self as fd, FakeDiscord};

const T: Duration = Duration::from_secs(30);

fn point(title: &str) -> PaperPoint {
    PaperPoint {
        stored: StoredPaper {
            paper: Paper::from_title_and_abstract(title, "An abstract.", SourceKind::PageText),
            first_seen: chrono::Utc::now(),
            content_hash: String::new(),
            text_hash: String::new(),
        },
        vectors: PaperVectors {
            dense: vec![1.0, 0.0, 0.0, 0.0],
            sparse: SparseVec::default(),
        },
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_opener_uses_the_library_through_the_first_and_takes_over_when_it_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let owner = SharedEdge::open(tmp.path()).await.unwrap();
    assert!(owner.is_owner());
    owner.create(&CollectionMeta::new("test", 4)).await.unwrap();
    owner.upsert(vec![point("Owned first")]).await.unwrap();

    let client = SharedEdge::open(tmp.path()).await.unwrap();
    assert!(
        !client.is_owner(),
        "the directory is held: the second opener is a client"
    );
    assert!(
        client.describe().contains("shared by paperbot process"),
        "{}",
        client.describe()
    );
    assert_eq!(client.count().await.unwrap(), 1);
    client.upsert(vec![point("Written by the client")]).await.unwrap();
    client.put_doc("kind", "key", &json!({"n": 1})).await.unwrap();
    assert_eq!(owner.count().await.unwrap(), 2, "the owner wrote it");
    assert_eq!(owner.get_doc("kind", "key").await.unwrap(), Some(json!({"n": 1})));
    let words = paperbot::paper::title_words("written cli");
    assert_eq!(client.title_matches(&words, 5).await.unwrap().len(), 1);

    // Charges from both sides, all at once, add up exactly: the owner does
    // each read-and-write under its one write lock.
    let from_owner = (0..10).map(|_| owner.increment("budget", "g", "tokens", 7));
    let from_client = (0..10).map(|_| client.increment("budget", "g", "tokens", 11));
    let (a, b) = tokio::join!(
        futures_util::future::join_all(from_owner),
        futures_util::future::join_all(from_client)
    );
    assert!(a.iter().chain(&b).all(Result::is_ok));
    assert_eq!(client.get_doc("budget", "g").await.unwrap().unwrap()["tokens"], 180);

    // The socket is the owner's user's alone.
    use std::os::unix::fs::PermissionsExt;
    let socket = paperbot::store::shared::socket_path(tmp.path());
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");

    // The owner stops: the client takes the library over and keeps working.
    drop(owner);
    assert_eq!(client.count().await.unwrap(), 2);
    assert!(client.is_owner());
    client.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_works_beside_a_running_bot_and_the_bot_sees_what_it_ingests() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::small_library(&data, 8).await;
    // As a paperbot before the current keyword forms left it: the bot
    // re-derives them in the background while it serves.
    let meta_file = data.join("papers").join("paperbot-collection.json");
    let meta =
        |f: &std::path::Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap() };
    let mut old = meta(&meta_file);
    old.as_object_mut().unwrap().remove("keyword_forms");
    std::fs::write(&meta_file, old.to_string()).unwrap();
    let fake = FakeDiscord::start().await;
    let mut cmd = crate::support::paperbot();
    cmd.arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .env("DISCORD_TOKEN", fd::TOKEN)
        .env("PAPERBOT_DISCORD__API_PROXY", fake.proxy_url())
        .env("PAPERBOT_SYNC__ENABLED", "false")
        .env("PAPERBOT_OPS__LISTEN", "127.0.0.1:0")
        .env("PAPERBOT_LOG", "info");
    let mut serve = Spawned::start(cmd, tmp.path().join("serve.log"));
    fake.wait_ready(T).await;

    // A paper the library lacks, ingested from a second terminal.
    let papers = crate::support::sample_papers().await;
    let new = papers
        .iter()
        .find(|p| p.title.starts_with("NegativePrompt"))
        .expect("the sample corpus has it");
    let file = tmp.path().join("one.jsonl");
    std::fs::write(&file, paperbot::sources::jsonl::to_line(new)).unwrap();
    let cli = |args: &[&str]| {
        let out = crate::support::paperbot()
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "paperbot {args:?}: {text}");
        text
    };
    let ingested = cli(&["ingest", file.to_str().unwrap()]);
    assert!(
        ingested.contains("1 new") && ingested.contains("shared by paperbot process"),
        "{ingested}"
    );
    let stats = cli(&["stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["count"], 9);

    // The running bot finds it without a restart.
    fake.dispatch(
        "INTERACTION_CREATE",
        fd::slash_command(
            4001,
            "search",
            json!([{"name": "query", "type": 3, "value": "negative emotional stimuli in prompts"}]),
        ),
    )
    .await;
    let found = fake
        .wait_for("the search result", T, |c| {
            c.method == "PATCH" && c.path.contains("/itoken-4001/") && c.body.to_string().contains("NegativePrompt")
        })
        .await;
    assert!(
        found.body["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .starts_with("1. ")
    );
    let deadline = std::time::Instant::now() + T;
    while meta(&meta_file)["keyword_forms"] != paperbot::store::schema::KEYWORD_FORMS {
        assert!(std::time::Instant::now() < deadline, "{}", serve.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        serve.log_text().contains("keyword vectors re-derived"),
        "{}",
        serve.log_text()
    );
    let status = serve.terminate();
    assert!(status.success(), "serve exited with {status}");
    fake.assert_no_unexpected_errors();
}
