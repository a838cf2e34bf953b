//! A local arXiv export API (`/api/query`) for papers fetched by id, as
//! strict as arXiv's manual describes it (<https://info.arxiv.org/help/api/user-manual.html>):
//!
//! - `id_list` is comma-separated; ids may carry a version; the response is
//!   the real Atom shape (feed header with OpenSearch totals, one `<entry>`
//!   per paper: `id` as `http://arxiv.org/abs/<id>v<n>`, `published`,
//!   `updated`, `title`, `summary`, `author/name`, `arxiv:primary_category`,
//!   `category`, alternate and pdf links);
//! - `max_results` defaults to 10: a longer `id_list` without it gets 10;
//! - a malformed id answers with an error feed: one entry titled `Error`
//!   whose summary is `incorrect id format for <id>` (section 3.4);
//! - an id arXiv does not have is simply absent from the feed;
//! - requests closer together than the politeness interval (one per 3 s in
//!   the terms of use; shorter here) get a 503 with `Retry-After`, and are
//!   counted, so a test can assert there were none.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// A paper the fake arXiv has.
#[derive(Clone, Debug)]
pub struct ArxivPaper {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub authors: Vec<String>,
    pub published: String,
    pub category: String,
}

#[derive(Default)]
struct Inner {
    papers: Vec<ArxivPaper>,
    interval: Duration,
    last: Option<Instant>,
    requests: Vec<String>,
    too_soon: usize,
}

#[derive(Clone)]
pub struct FakeArxiv {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeArxiv {
    pub async fn start(papers: Vec<ArxivPaper>, interval: Duration) -> FakeArxiv {
        let inner = Arc::new(Mutex::new(Inner {
            papers,
            interval,
            ..Inner::default()
        }));
        let router = Router::new().route("/api/query", get(query)).with_state(inner.clone());
        let addr = super::serve(router).await;
        FakeArxiv { addr, inner }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The query strings of every request, in order.
    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Requests refused for coming sooner than the interval.
    pub fn too_soon(&self) -> usize {
        self.inner.lock().unwrap().too_soon
    }

    /// The first `n` sample-corpus papers as arXiv papers `2511.000NN`.
    pub async fn sample(n: usize) -> Vec<ArxivPaper> {
        let all = paperbot::sources::load_file(&super::corpus()).await.unwrap().papers;
        all.into_iter()
            .take(n)
            .enumerate()
            .map(|(i, p)| ArxivPaper {
                id: format!("2511.{:05}", i + 1),
                title: p.title,
                summary: p.abstract_text,
                authors: vec!["Ada Lovelace".into(), "Alan Turing".into()],
                published: format!("2025-11-{:02}T10:00:00Z", i % 28 + 1),
                category: "cs.CL".into(),
            })
            .collect()
    }
}

/// The id without a trailing `vN`.
fn base(id: &str) -> &str {
    match id.rsplit_once('v') {
        Some((b, v)) if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) => b,
        _ => id,
    }
}

fn valid_id(id: &str) -> bool {
    let base = base(id);
    let new_style = base.split_once('.').is_some_and(|(a, b)| {
        a.len() == 4
            && a.chars().all(|c| c.is_ascii_digit())
            && (4..=5).contains(&b.len())
            && b.chars().all(|c| c.is_ascii_digit())
    });
    let old_style = base
        .split_once('/')
        .is_some_and(|(a, b)| !a.is_empty() && b.len() == 7 && b.chars().all(|c| c.is_ascii_digit()));
    new_style || old_style
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn feed(title: &str, total: usize, entries: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: {}</title>
  <id>http://arxiv.org/api/fake</id>
  <updated>2025-11-30T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{total}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{total}</opensearch:itemsPerPage>
{entries}</feed>
"#,
        escape(title)
    )
}

fn entry(p: &ArxivPaper) -> String {
    let authors: String = p
        .authors
        .iter()
        .map(|a| format!("    <author>\n      <name>{}</name>\n    </author>\n", escape(a)))
        .collect();
    format!(
        r#"  <entry>
    <id>http://arxiv.org/abs/{id}v1</id>
    <updated>{published}</updated>
    <published>{published}</published>
    <title>{title}</title>
    <summary>  {summary}
</summary>
{authors}    <link href="http://arxiv.org/abs/{id}v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{id}v1" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{cat}" scheme="http://arxiv.org/schemas/atom"/>
    <category term="{cat}" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
"#,
        id = p.id,
        published = p.published,
        title = escape(&p.title),
        summary = escape(&p.summary),
        cat = p.category,
    )
}

async fn query(State(inner): State<Arc<Mutex<Inner>>>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let mut st = inner.lock().unwrap();
    let now = Instant::now();
    let raw: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    st.requests.push(raw.join("&"));
    if let Some(last) = st.last
        && now.duration_since(last) < st.interval
    {
        st.too_soon += 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "3")],
            "Rate exceeded.",
        )
            .into_response();
    }
    st.last = Some(now);
    let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let ids: Vec<String> = get("id_list")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let max_results: usize = get("max_results").and_then(|m| m.parse().ok()).unwrap_or(10);
    let title = raw.join("&");
    if let Some(bad) = ids.iter().find(|id| !valid_id(id)) {
        let error = format!(
            "  <entry>\n    <id>http://arxiv.org/api/errors#incorrect_id_format_for_{bad}</id>\n    <title>Error</title>\n    <summary>incorrect id format for {bad}</summary>\n    <updated>2025-11-30T00:00:00-05:00</updated>\n    <link href=\"http://arxiv.org/api/errors#incorrect_id_format_for_{bad}\" rel=\"alternate\" type=\"text/html\"/>\n    <author>\n      <name>arXiv api core</name>\n    </author>\n  </entry>\n"
        );
        return xml(feed(&title, 1, &error));
    }
    let found: Vec<&ArxivPaper> = ids
        .iter()
        .filter_map(|id| st.papers.iter().find(|p| p.id == base(id)))
        .take(max_results)
        .collect();
    let entries: String = found.iter().map(|p| entry(p)).collect();
    xml(feed(&title, found.len(), &entries))
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")], body).into_response()
}
