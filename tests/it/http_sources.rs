//! API sources against a local HTTP server on 127.0.0.1 replaying recorded
//! responses: retries on 429/5xx, Retry-After, arXiv politeness.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::NaiveDate;
use paperbot::sources::{Fetcher, HttpConfig, SourceError};

#[derive(Clone, Default)]
struct Log {
    hits: Arc<Mutex<Vec<(Instant, SocketAddr, String)>>>,
}

impl Log {
    fn record(&self, peer: SocketAddr, what: String) -> usize {
        let mut h = self.hits.lock().unwrap();
        h.push((Instant::now(), peer, what));
        h.len()
    }
    fn snapshot(&self) -> Vec<(Instant, SocketAddr, String)> {
        self.hits.lock().unwrap().clone()
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    addr
}

fn config(addr: SocketAddr) -> HttpConfig {
    HttpConfig {
        hf_base_url: format!("http://{addr}"),
        arxiv_base_url: format!("http://{addr}"),
        arxiv_oai_url: format!("http://{addr}/oai"),
        arxiv_interval_secs: 0.3,
        arxiv_page_size: 2,
        arxiv_max_results: 5,
        timeout_secs: 5,
        max_attempts: 3,
        retry_base_ms: 10,
        max_retry_after_secs: 5,
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 23).unwrap()
}

#[tokio::test]
async fn hf_daily_papers_with_429_then_success() {
    let log = Log::default();
    let fixture = std::fs::read_to_string(crate::support::data("daily_papers-trimmed.json")).unwrap();
    let app = Router::new()
        .route(
            "/api/daily_papers",
            get(
                |State((log, body)): State<(Log, String)>,
                 ConnectInfo(peer): ConnectInfo<SocketAddr>,
                 Query(q): Query<Vec<(String, String)>>| async move {
                    let n = log.record(peer, format!("{q:?}"));
                    let mut headers = HeaderMap::new();
                    if n == 1 {
                        headers.insert("retry-after", "1".parse().unwrap());
                        return (StatusCode::TOO_MANY_REQUESTS, headers, String::new()).into_response();
                    }
                    (StatusCode::OK, headers, body).into_response()
                },
            ),
        )
        .with_state((log.clone(), fixture));
    let addr = serve(app).await;
    let fetcher = Fetcher::new(config(addr)).unwrap();
    let started = Instant::now();
    let out = fetcher.hf_daily(day()).await.unwrap();
    assert_eq!(out.papers.len(), 1);
    assert_eq!(out.papers[0].id.as_str(), "2603.21489");
    let hits = log.snapshot();
    assert_eq!(hits.len(), 2, "one 429, one retry");
    assert!(hits[0].2.contains("2026-03-23"), "date passed: {}", hits[0].2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was honoured"
    );
}

#[tokio::test]
async fn persistent_500_gives_up_with_a_clear_error() {
    let log = Log::default();
    let app = Router::new()
        .route(
            "/api/daily_papers",
            get(
                |State(log): State<Log>, ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    log.record(peer, String::new());
                    (StatusCode::INTERNAL_SERVER_ERROR, "boom")
                },
            ),
        )
        .with_state(log.clone());
    let addr = serve(app).await;
    let fetcher = Fetcher::new(config(addr)).unwrap();
    let err = fetcher.hf_daily(day()).await.unwrap_err();
    assert!(
        matches!(
            err,
            SourceError::Status {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTTP 500 after 3 attempt(s)"), "{err}");
    assert_eq!(log.snapshot().len(), 3);
}

#[tokio::test]
async fn hf_404_is_not_retried() {
    let app = Router::new();
    let addr = serve(app).await;
    let fetcher = Fetcher::new(config(addr)).unwrap();
    let err = fetcher.hf_daily(day()).await.unwrap_err();
    assert!(
        matches!(
            err,
            SourceError::Status {
                status: 404,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

fn atom_page(start: usize, n: usize) -> String {
    let entries: String = (start..start + n)
        .map(|i| {
            format!(
                "<entry><id>http://arxiv.org/abs/2411.{i:05}v1</id><published>2024-11-0{}T00:00:00Z</published>\
                 <title>Paper {i}</title><summary>Abstract {i}.</summary><author><name>A {i}</name></author></entry>",
                1 + i % 9
            )
        })
        .collect();
    format!(r#"<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">{entries}</feed>"#)
}

#[tokio::test]
async fn arxiv_pages_politely_over_one_connection() {
    let log = Log::default();
    let app = Router::new()
        .route(
            "/api/query",
            get(
                |State(log): State<Log>,
                 ConnectInfo(peer): ConnectInfo<SocketAddr>,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    log.record(peer, q.get("search_query").cloned().unwrap_or_default());
                    let start: usize = q["start"].parse().unwrap();
                    let max: usize = q["max_results"].parse().unwrap();
                    // The "server" holds 3 results in all.
                    atom_page(start, max.min(3usize.saturating_sub(start)))
                },
            ),
        )
        .with_state(log.clone());
    let addr = serve(app).await;
    let fetcher = Fetcher::new(config(addr)).unwrap();
    let out = fetcher.arxiv_query("cat:cs.CL AND abs:retrieval").await.unwrap();
    assert_eq!(out.papers.len(), 3);
    assert_eq!(out.papers[2].id.as_str(), "2411.00002");
    let hits = log.snapshot();
    assert_eq!(hits.len(), 2, "page of 2, then a short page ends the query");
    assert_eq!(hits[0].2, "cat:cs.CL AND abs:retrieval");
    assert!(
        hits[1].0 - hits[0].0 >= Duration::from_millis(290),
        "requests spaced by the configured interval"
    );
    assert_eq!(hits[0].1, hits[1].1, "same client socket: one connection");
}
