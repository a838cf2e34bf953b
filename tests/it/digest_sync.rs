//! Continuous ingestion against a local server replaying the Hugging Face
//! daily papers API over several days (with an outage and recovery), and
//! the digest of what entered the library.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{NaiveDate, Utc};
use paperbot::answer::prompts::Prompts;
use paperbot::digest::{self, DigestRequest};
use paperbot::embed::{Bm25, DenseEmbedder, EmbedConfig};
use paperbot::library::Library;
use paperbot::sources::{Fetcher, HttpConfig};
use paperbot::store::edge::EdgeStore;
use paperbot::sync::{SyncConfig, sync_once};
use serde_json::{Value, json};

/// date → (status, body) the fake HF API answers with.
type Days = Arc<Mutex<HashMap<String, (u16, String)>>>;

async fn daily(State(days): State<Days>, Query(q): Query<HashMap<String, String>>) -> (StatusCode, String) {
    let date = q.get("date").cloned().unwrap_or_default();
    let (status, body) = days.lock().unwrap().get(&date).cloned().unwrap_or((200, "[]".into()));
    (StatusCode::from_u16(status).unwrap(), body)
}

/// An HF day payload for sample-corpus papers, with arXiv ids and upvotes.
fn hf_day(papers: &[(String, &paperbot::paper::Paper, u32)]) -> String {
    let items: Vec<Value> = papers
        .iter()
        .map(|(id, p, up)| {
            json!({
                "paper": {
                    "id": id, "title": p.title, "summary": p.abstract_text,
                    "authors": [{"name": "A. Author"}], "publishedAt": "2026-11-25T00:00:00.000Z",
                    "upvotes": up, "ai_summary": format!("TL;DR of {}", p.title),
                },
                "numComments": 0,
            })
        })
        .collect();
    Value::Array(items).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_survives_an_outage_stays_idempotent_and_feeds_the_digest() {
    let corpus = crate::support::sample_papers().await;
    let pick = |i: usize, up: u32| (format!("2611.{:05}", 100 + i), &corpus[i], up);
    let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let d = |back: u64| (today - chrono::Days::new(back)).format("%Y-%m-%d").to_string();
    let day0 = vec![pick(0, 40), pick(1, 3)];
    let day1 = vec![pick(2, 12), pick(3, 0)];
    let day2 = vec![pick(4, 7)];

    let days: Days = Arc::default();
    {
        let mut m = days.lock().unwrap();
        m.insert(d(0), (200, hf_day(&day0)));
        m.insert(d(1), (500, "{\"error\": \"down\"}".into()));
        m.insert(d(2), (200, hf_day(&day2)));
    }
    let router = Router::new()
        .route("/api/daily_papers", get(daily))
        .with_state(days.clone());
    let addr = crate::support::serve(router).await;
    let fetcher = Fetcher::new(HttpConfig {
        hf_base_url: format!("http://{addr}"),
        max_attempts: 2,
        retry_base_ms: 10,
        ..Default::default()
    })
    .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let dense = DenseEmbedder::from_config(
        &EmbedConfig {
            model_dir: crate::support::model_dir(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let lib = Library::new(EdgeStore::open(tmp.path()).unwrap(), dense, Arc::new(Bm25::default()))
        .await
        .unwrap();
    let config = SyncConfig {
        hf_days: 3,
        ..Default::default()
    };
    let started = Utc::now();

    // Round 1: one day is down; the others are ingested, the outage reported.
    let r1 = sync_once(&lib, &fetcher, &config, today).await.unwrap();
    assert_eq!(r1.counts.new, 3);
    assert_eq!(r1.failed.len(), 1, "{:?}", r1.failed);
    assert!(
        r1.failed[0].contains(&d(1)) && r1.failed[0].contains("500"),
        "{:?}",
        r1.failed
    );

    // Round 2: the day recovers; upvotes moved on day 0.
    {
        let mut m = days.lock().unwrap();
        m.insert(d(1), (200, hf_day(&day1)));
        m.insert(d(0), (200, hf_day(&[pick(0, 55), pick(1, 3)])));
    }
    let r2 = sync_once(&lib, &fetcher, &config, today).await.unwrap();
    assert!(r2.failed.is_empty(), "{:?}", r2.failed);
    assert_eq!((r2.counts.new, r2.counts.updated, r2.counts.unchanged), (2, 1, 2));

    // Round 3: nothing changed, nothing duplicated.
    let r3 = sync_once(&lib, &fetcher, &config, today).await.unwrap();
    assert_eq!((r3.counts.new, r3.counts.updated, r3.counts.unchanged), (0, 0, 5));
    assert_eq!(paperbot::store::PaperStore::count(&lib.store).await.unwrap(), 5);

    // The digest: everything that entered since the test started, by upvotes.
    let req = DigestRequest {
        topics: None,
        since: started,
        max: 10,
        min_upvotes: 0,
        min_relevance: 0.35,
    };
    let d = digest::build(&lib, &Prompts::builtin().unwrap(), None, &req)
        .await
        .unwrap();
    let titles: Vec<&str> = d.items.iter().map(|i| i.paper.title.as_str()).collect();
    assert_eq!(titles.len(), 5);
    assert_eq!(titles[0], corpus[0].title, "most upvoted first");
    assert_eq!(titles[1], corpus[2].title);
    assert_eq!(d.items[0].tldr, format!("TL;DR of {}", corpus[0].title));
    assert!(d.items[0].why.contains("55 upvotes"), "{}", d.items[0].why);
    assert!(!d.generated && d.overview.starts_with("5 new papers"), "{}", d.overview);
    let text = digest::to_text(&d);
    assert!(
        text.contains(&format!("[1] {}", corpus[0].title)) && text.contains("https://huggingface.co/papers/2611.00100"),
        "{text}"
    );

    // Nothing entered since now: an empty digest says so.
    let later = DigestRequest {
        since: Utc::now(),
        ..req.clone()
    };
    let empty = digest::build(&lib, &Prompts::builtin().unwrap(), None, &later)
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.overview, "No new papers since the last digest.");

    // With topics, only on-topic papers, the best match first.
    let topic = DigestRequest {
        topics: Some(corpus[4].title.clone()),
        ..req
    };
    let on_topic = digest::select(&lib, &topic).await.unwrap();
    assert!(!on_topic.is_empty() && on_topic.len() < 5, "{}", on_topic.len());
    assert_eq!(on_topic[0].paper.title, corpus[4].title);
    assert!(on_topic[0].why.starts_with("on topic"), "{}", on_topic[0].why);
}
