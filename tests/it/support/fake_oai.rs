//! A local arXiv OAI-PMH interface (`/oai`), as strict as the OAI-PMH 2.0
//! specification (<https://www.openarchives.org/OAI/openarchivesprotocol.html>)
//! and arXiv's notes on it (<https://info.arxiv.org/help/oa/index.html>):
//!
//! - only `verb=ListRecords` (anything else: `badVerb`);
//! - `resumptionToken` is exclusive: with any argument but `verb` it is
//!   `badArgument`; an unknown token is `badResumptionToken`;
//! - otherwise `metadataPrefix` is required (`arXiv` only here:
//!   `cannotDisseminateFormat` for the rest); `from`/`until` must be
//!   `YYYY-MM-DD` (else `badArgument`); an unknown `set` is `badArgument`;
//! - a window with no records is the `noRecordsMatch` error, not an empty list;
//! - pages of `page_size` records; every page but the last carries a
//!   `resumptionToken` with `completeListSize` and `cursor`, the last an
//!   empty one; deleted records are headers with `status="deleted"` and no
//!   metadata;
//! - flow control: a request sooner than the interval after the previous
//!   one gets a 503 with `Retry-After` (arXiv asks harvesters to honour it),
//!   and so does any request the test asks to refuse.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;

/// One record the fake archive holds.
#[derive(Clone, Debug)]
pub struct OaiRecord {
    pub id: String,
    pub datestamp: NaiveDate,
    /// Space-separated, primary first (`cs.CL cs.LG`).
    pub categories: String,
    pub title: String,
    pub abstract_text: String,
    pub deleted: bool,
}

impl OaiRecord {
    /// The OAI set of the primary category's archive (`cs`, `math`, `physics:hep-th`).
    fn set(&self) -> String {
        let primary = self.categories.split_whitespace().next().unwrap_or_default();
        let archive = primary.split('.').next().unwrap_or_default();
        match archive {
            "cs" | "math" | "stat" | "q-bio" | "q-fin" | "eess" | "econ" => archive.to_string(),
            other => format!("physics:{other}"),
        }
    }
}

#[derive(Default)]
struct Inner {
    records: Vec<OaiRecord>,
    page_size: usize,
    interval: Duration,
    last: Option<Instant>,
    requests: Vec<String>,
    too_soon: usize,
    /// Requests to answer with 503 `Retry-After: 1` regardless (by number, from 1).
    refuse: Vec<usize>,
    /// Open lists: token id → the matching records' indexes.
    lists: HashMap<u64, Vec<usize>>,
    next_list: u64,
}

#[derive(Clone)]
pub struct FakeOai {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeOai {
    pub async fn start(records: Vec<OaiRecord>, page_size: usize, interval: Duration) -> FakeOai {
        let inner = Arc::new(Mutex::new(Inner {
            records,
            page_size,
            interval,
            next_list: 7_041_562,
            ..Inner::default()
        }));
        let router = Router::new().route("/oai", get(oai)).with_state(inner.clone());
        let addr = super::serve(router).await;
        FakeOai { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}/oai", self.addr)
    }

    /// The query strings of every request, in order.
    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Requests refused for coming sooner than the interval.
    pub fn too_soon(&self) -> usize {
        self.inner.lock().unwrap().too_soon
    }

    /// Answer the `n`th request (counting from 1, over the server's life)
    /// with 503 and `Retry-After: 1`, as arXiv's flow control does.
    pub fn refuse_request(&self, n: usize) {
        self.inner.lock().unwrap().refuse.push(n);
    }

    /// The sample corpus as `n` records over November 2025: every fifth is
    /// math, every seventh cs.LG (cs.CL otherwise), and `deleted` of them
    /// withdrawn.
    pub async fn sample(n: usize, deleted: &[usize]) -> Vec<OaiRecord> {
        let all = paperbot::sources::load_file(&super::corpus()).await.unwrap().papers;
        (0..n)
            .map(|i| {
                let p = &all[i % all.len()];
                let categories = if i % 5 == 4 {
                    "math.ST stat.ML"
                } else if i % 7 == 6 {
                    "cs.LG cs.AI"
                } else {
                    "cs.CL cs.LG"
                };
                OaiRecord {
                    id: format!("2511.{:05}", i + 1),
                    datestamp: NaiveDate::from_ymd_opt(2025, 11, (i % 28) as u32 + 1).unwrap(),
                    categories: categories.into(),
                    title: if i < all.len() {
                        p.title.clone()
                    } else {
                        format!("{} (part {})", p.title, i / all.len() + 1)
                    },
                    abstract_text: p.abstract_text.clone(),
                    deleted: deleted.contains(&i),
                }
            })
            .collect()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn envelope(request: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/ http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">
<responseDate>2025-11-30T12:00:00Z</responseDate>
<request {request}>http://oaipmh.arxiv.org/oai</request>
{body}
</OAI-PMH>
"#
    )
}

fn error(code: &str, message: &str) -> Response {
    xml(envelope(
        "",
        &format!(r#"<error code="{code}">{}</error>"#, escape(message)),
    ))
}

fn record(r: &OaiRecord) -> String {
    let header = format!(
        " <identifier>oai:arXiv.org:{}</identifier>\n <datestamp>{}</datestamp>\n <setSpec>{}</setSpec>\n",
        r.id,
        r.datestamp,
        r.set()
    );
    if r.deleted {
        return format!("<record>\n<header status=\"deleted\">\n{header}</header>\n</record>\n");
    }
    format!(
        r#"<record>
<header>
{header}</header>
<metadata>
 <arXiv xmlns="http://arxiv.org/OAI/arXiv/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://arxiv.org/OAI/arXiv/ http://arxiv.org/OAI/arXiv.xsd">
 <id>{id}</id><created>{day}</created><authors><author><keyname>Lovelace</keyname><forenames>Ada</forenames></author><author><keyname>Turing</keyname><forenames>Alan</forenames></author></authors><title>{title}</title><categories>{cats}</categories><license>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</license><abstract>  {abs}
</abstract></arXiv>
</metadata>
</record>
"#,
        id = r.id,
        day = r.datestamp,
        title = escape(&r.title),
        cats = r.categories,
        abs = escape(&r.abstract_text),
    )
}

fn day(s: &str) -> Option<NaiveDate> {
    (s.len() == 10).then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())?
}

async fn oai(State(inner): State<Arc<Mutex<Inner>>>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let mut st = inner.lock().unwrap();
    let now = Instant::now();
    st.requests.push(
        params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&"),
    );
    let number = st.requests.len();
    let too_soon = st.last.is_some_and(|last| now.duration_since(last) < st.interval);
    if too_soon || st.refuse.contains(&number) {
        st.too_soon += usize::from(too_soon);
        st.last = Some(now);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "Retry after 1 second",
        )
            .into_response();
    }
    st.last = Some(now);
    let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    if params.iter().filter(|(k, _)| k == "verb").count() != 1 || get("verb") != Some("ListRecords") {
        return error("badVerb", "Illegal OAI verb");
    }
    if let Some(unknown) = params
        .iter()
        .find(|(k, _)| !["verb", "resumptionToken", "metadataPrefix", "from", "until", "set"].contains(&k.as_str()))
    {
        return error("badArgument", &format!("Illegal argument: {}", unknown.0));
    }
    let (list, cursor) = if let Some(token) = get("resumptionToken") {
        if params.len() != 2 {
            return error("badArgument", "resumptionToken is an exclusive argument");
        }
        let parsed = token
            .split_once('|')
            .and_then(|(l, c)| Some((l.parse::<u64>().ok()?, c.parse::<usize>().ok()?)));
        match parsed {
            Some((l, c)) if st.lists.contains_key(&l) && c >= 1 => (l, c - 1),
            _ => return error("badResumptionToken", &format!("Bad resumption token: {token}")),
        }
    } else {
        match get("metadataPrefix") {
            None => return error("badArgument", "metadataPrefix is required"),
            Some("arXiv") => {}
            Some(other) => {
                return error(
                    "cannotDisseminateFormat",
                    &format!("Metadata format {other} not supported here"),
                );
            }
        }
        let from = match get("from").map(day) {
            Some(None) => return error("badArgument", "from: expected YYYY-MM-DD"),
            Some(d) => d,
            None => None,
        };
        let until = match get("until").map(day) {
            Some(None) => return error("badArgument", "until: expected YYYY-MM-DD"),
            Some(d) => d,
            None => None,
        };
        let set = get("set");
        if let Some(s) = set
            && !st.records.iter().any(|r| r.set() == s)
            && !["cs", "math", "stat", "physics"].contains(&s)
        {
            return error("badArgument", &format!("Unknown set {s}"));
        }
        let matching: Vec<usize> = st
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                from.is_none_or(|f| r.datestamp >= f)
                    && until.is_none_or(|u| r.datestamp <= u)
                    && set.is_none_or(|s| r.set() == s || r.set().starts_with(&format!("{s}:")))
            })
            .map(|(i, _)| i)
            .collect();
        if matching.is_empty() {
            return error("noRecordsMatch", "No records match");
        }
        let id = st.next_list;
        st.next_list += 1;
        st.lists.insert(id, matching);
        (id, 0)
    };
    let indexes = st.lists[&list].clone();
    let end = (cursor + st.page_size).min(indexes.len());
    let body: String = indexes[cursor..end].iter().map(|&i| record(&st.records[i])).collect();
    let token = if end < indexes.len() {
        format!(
            r#"<resumptionToken cursor="{cursor}" completeListSize="{}">{list}|{}</resumptionToken>"#,
            indexes.len(),
            end + 1
        )
    } else {
        format!(
            r#"<resumptionToken cursor="{cursor}" completeListSize="{}"/>"#,
            indexes.len()
        )
    };
    xml(envelope(
        r#"verb="ListRecords""#,
        &format!("<ListRecords>\n{body}{token}\n</ListRecords>"),
    ))
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml;charset=UTF-8")], body).into_response()
}
