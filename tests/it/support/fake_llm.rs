//! A local OpenAI-compatible chat server, scripted per test: it speaks the
//! real wire protocol (`POST /v1/chat/completions`, JSON errors, SSE
//! `data:` chunks ending with `data: [DONE]`) so the real async-openai
//! client is exercised, faults included. Like real servers it sends SSE
//! comment lines (`: keep-alive`), splits events across writes, streams
//! reasoning in `reasoning_content`/`reasoning` deltas or inline `<think>`
//! blocks, reports errors mid-stream as an `error` object (OpenAI, vLLM) and
//! refuses requests with integer error codes (llama.cpp, vLLM).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A good stream: text pieces, then a finish reason and `[DONE]`.
    Stream {
        pieces: Vec<String>,
        finish: &'static str,
        first_delay: Duration,
        /// Between two pieces.
        gap: Duration,
    },
    /// An HTTP error with an OpenAI-style JSON body.
    Status { code: u16, retry_after: Option<String> },
    /// Some pieces, then the connection is cut (no finish reason, no `[DONE]`).
    Cut { pieces: Vec<String> },
    /// Some pieces, then a chunk that is not valid JSON.
    Malformed { pieces: Vec<String> },
    /// Reasoning deltas in `field` (`reasoning_content` or `reasoning`),
    /// then the answer pieces.
    Reasoning {
        field: &'static str,
        reasoning: Vec<String>,
        pieces: Vec<String>,
    },
    /// Some pieces, then `data: {"error": {...}}` and `[DONE]`, as OpenAI
    /// and vLLM report a failure after the stream started.
    ErrorMidStream { pieces: Vec<String>, message: String },
    /// A refusal with llama.cpp's body shape (an integer `code`).
    Refused { code: u16, message: String },
}

impl Reply {
    /// An HTTP error without a `Retry-After`.
    pub fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            retry_after: None,
        }
    }

    pub fn text(pieces: &[&str]) -> Reply {
        Reply::Stream {
            pieces: pieces.iter().map(|s| s.to_string()).collect(),
            finish: "stop",
            first_delay: Duration::ZERO,
            gap: Duration::from_millis(5),
        }
    }

    /// Like [`Reply::text`], with `gap` between pieces (a model typing).
    pub fn slow(pieces: &[&str], gap: Duration) -> Reply {
        match Reply::text(pieces) {
            Reply::Stream {
                pieces,
                finish,
                first_delay,
                ..
            } => Reply::Stream {
                pieces,
                finish,
                first_delay,
                gap,
            },
            other => other,
        }
    }
}

impl Reply {
    /// Like [`Reply::text`], the first piece after `delay` (a model loading or thinking).
    pub fn delayed(pieces: &[&str], delay: Duration) -> Reply {
        match Reply::text(pieces) {
            Reply::Stream {
                pieces, finish, gap, ..
            } => Reply::Stream {
                pieces,
                finish,
                first_delay: delay,
                gap,
            },
            other => other,
        }
    }

    /// Reasoning deltas in `field`, then the answer.
    pub fn reasoning(field: &'static str, reasoning: &[&str], pieces: &[&str]) -> Reply {
        Reply::Reasoning {
            field,
            reasoning: reasoning.iter().map(|s| s.to_string()).collect(),
            pieces: pieces.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Seen {
    /// The user message (the rendered answer/follow-up prompt).
    pub fn user_prompt(&self) -> String {
        self.message("user")
    }

    pub fn system_prompt(&self) -> String {
        self.message("system")
    }

    fn message(&self, role: &str) -> String {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["role"] == role)
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// `[n] Title` lines of the prompt's sources, as (n, title).
    pub fn sources(&self) -> Vec<(u32, String)> {
        self.user_prompt()
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix('[')?;
                let (n, title) = rest.split_once("] ")?;
                let title = title.rsplit_once(" (").map_or(title, |(t, _)| t);
                Some((n.parse().ok()?, title.to_string()))
            })
            .collect()
    }
}

#[derive(Clone, Default)]
struct Shared {
    script: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// How relevance checks (`paperbot::answer::screen`) are answered.
    checks: Arc<Mutex<Checks>>,
    screens: Arc<Mutex<Vec<Seen>>>,
    /// Answer requests beyond the script get this instead of a 500.
    answer_when_done: Arc<Mutex<Option<String>>>,
}

/// How relevance checks are answered.
#[derive(Clone, Default)]
enum Checks {
    /// They take their turn in the script like any request.
    #[default]
    Scripted,
    /// With this reply, outside the script and kept apart from `seen`, so
    /// tests about the answer call script only the answer.
    Fixed(String),
    /// From judgements of which paper addresses which question.
    Judged(Arc<Judgements>),
}

/// Which papers address which questions, as judged by readers of the
/// abstracts (`tests/eval/screen-judged.jsonl`): a stand-in for a capable
/// model's relevance check that answers any prompt over judged pairs.
#[derive(Default)]
pub struct Judgements {
    pairs: std::collections::HashMap<(String, String), bool>,
    unjudged: std::sync::atomic::AtomicUsize,
}

impl Judgements {
    /// Lines of `{"question", "addresses": [titles], "does_not": [titles]}`.
    pub fn load(path: &std::path::Path) -> Judgements {
        let mut pairs = std::collections::HashMap::new();
        for line in std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let v: Value = serde_json::from_str(line).unwrap();
            let q = paperbot::answer::prompts::untrusted(v["question"].as_str().unwrap());
            for (field, addresses) in [("addresses", true), ("does_not", false)] {
                for t in v[field].as_array().unwrap() {
                    let t = paperbot::answer::prompts::untrusted(t.as_str().unwrap());
                    pairs.insert((q.clone(), t), addresses);
                }
            }
        }
        Judgements {
            pairs,
            unjudged: Default::default(),
        }
    }

    /// Check prompts that held a source nobody judged for their question
    /// (answered with a reply the bot cannot read).
    pub fn unjudged(&self) -> usize {
        self.unjudged.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The reply to a check prompt: the numbers of the judged-relevant
    /// sources, or NONE.
    fn reply(&self, prompt: &str) -> String {
        let question = prompt
            .split_once("<question>\n")
            .and_then(|(_, rest)| rest.split_once("\n</question>"))
            .map_or("", |(q, _)| q);
        let mut named = Vec::new();
        let mut lines = prompt.lines();
        while let Some(line) = lines.next() {
            if !line.starts_with("<source n=") {
                continue;
            }
            let Some((n, title)) = lines.next().and_then(|l| l.strip_prefix('[')?.split_once("] ")) else {
                continue;
            };
            match self.pairs.get(&(question.to_string(), title.to_string())) {
                Some(true) => named.push(n.to_string()),
                Some(false) => {}
                None => {
                    self.unjudged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return "UNJUDGED".into();
                }
            }
        }
        if named.is_empty() {
            "NONE".into()
        } else {
            named.join(", ")
        }
    }
}

pub struct FakeLlm {
    pub addr: SocketAddr,
    shared: Shared,
}

impl FakeLlm {
    /// Answers relevance checks with "1" (the first source addresses the
    /// question, so nothing is reordered) outside the script.
    pub async fn start(script: Vec<Reply>) -> FakeLlm {
        let llm = Self::start_scripting_checks(script).await;
        *llm.shared.checks.lock().unwrap() = Checks::Fixed("1".into());
        llm
    }

    /// Relevance checks answered from `judgements`, every answer request
    /// with `answer`: for measuring what the check decides.
    pub async fn judging(judgements: Arc<Judgements>, answer: &str) -> FakeLlm {
        let llm = Self::start_scripting_checks(vec![]).await;
        *llm.shared.checks.lock().unwrap() = Checks::Judged(judgements);
        *llm.shared.answer_when_done.lock().unwrap() = Some(answer.into());
        llm
    }

    /// Relevance checks are scripted like every other request.
    pub async fn start_scripting_checks(script: Vec<Reply>) -> FakeLlm {
        let shared = Shared::default();
        shared.script.lock().unwrap().extend(script);
        let router = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(shared.clone());
        FakeLlm {
            addr: super::serve(router).await,
            shared,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests answered from the script (every request, with
    /// [`FakeLlm::start_scripting_checks`]).
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Relevance checks answered outside the script.
    pub fn checks(&self) -> Vec<Seen> {
        self.shared.screens.lock().unwrap().clone()
    }
}

fn chunk(content: Option<&str>, finish: Option<&str>) -> Bytes {
    let delta = match content {
        Some(c) => json!({"role": "assistant", "content": c}),
        None => json!({}),
    };
    chunk_with(delta, finish)
}

fn chunk_with(delta: Value, finish: Option<&str>) -> Bytes {
    let v = json!({
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1_764_000_000u32,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
    });
    Bytes::from(format!("data: {v}\n\n"))
}

/// A keep-alive comment line, as llama.cpp and proxies send between events.
fn keep_alive() -> Event {
    (Duration::ZERO, Ok(Bytes::from(": keep-alive\n\n")))
}

/// Each event written in two parts, as TCP may deliver it.
fn split_writes(events: Vec<Event>) -> Vec<Event> {
    events
        .into_iter()
        .flat_map(|(delay, item)| match item {
            Ok(bytes) if bytes.len() > 8 => {
                let cut = bytes.len() / 2;
                vec![
                    (delay, Ok(bytes.slice(..cut))),
                    (Duration::from_millis(1), Ok(bytes.slice(cut..))),
                ]
            }
            other => vec![(delay, other)],
        })
        .collect()
}

/// (delay before, bytes or a transport error)
type Event = (Duration, Result<Bytes, std::io::Error>);

fn sse(events: Vec<Event>) -> Response {
    let mut all = vec![keep_alive()];
    all.extend(split_writes(events));
    let stream = futures_util::stream::unfold(VecDeque::from(all), |mut q| async move {
        let (delay, item) = q.pop_front()?;
        tokio::time::sleep(delay).await;
        Some((item, q))
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn chat(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let seen = Seen {
        at: Instant::now(),
        body: body.clone(),
        headers,
    };
    assert_eq!(body["stream"], json!(true), "paperbot always streams");
    let checks = shared.checks.lock().unwrap().clone();
    let reply = match checks {
        _ if seen.system_prompt() != paperbot::answer::screen::SYSTEM => None,
        Checks::Scripted => None,
        Checks::Fixed(reply) => Some(reply),
        Checks::Judged(j) => Some(j.reply(&seen.user_prompt())),
    };
    if let Some(reply) = reply {
        shared.screens.lock().unwrap().push(seen);
        return sse(vec![
            (Duration::ZERO, Ok(chunk(Some(&reply), None))),
            (Duration::ZERO, Ok(chunk(None, Some("stop")))),
            (Duration::ZERO, Ok(Bytes::from("data: [DONE]\n\n"))),
        ]);
    }
    shared.seen.lock().unwrap().push(seen);
    let reply = shared.script.lock().unwrap().pop_front().or_else(|| {
        let text = shared.answer_when_done.lock().unwrap().clone()?;
        Some(Reply::text(&[&text]))
    });
    let pieces_events = |pieces: &[String], first_delay: Duration, gap: Duration| -> Vec<Event> {
        pieces
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let delay = if i == 0 { first_delay } else { gap };
                (delay, Ok(chunk(Some(p), None)))
            })
            .collect()
    };
    match reply {
        None => error(500, None, "the test script has no more replies"),
        Some(Reply::Status { code, retry_after }) => error(code, retry_after, "scripted failure"),
        Some(Reply::Stream {
            pieces,
            finish,
            first_delay,
            gap,
        }) => {
            let mut events = pieces_events(&pieces, first_delay, gap);
            events.push((Duration::ZERO, Ok(chunk(None, Some(finish)))));
            events.push((Duration::ZERO, Ok(Bytes::from("data: [DONE]\n\n"))));
            sse(events)
        }
        Some(Reply::Cut { pieces }) => {
            let mut events = pieces_events(&pieces, Duration::ZERO, Duration::from_millis(5));
            events.push((
                Duration::from_millis(5),
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut")),
            ));
            sse(events)
        }
        Some(Reply::Reasoning {
            field,
            reasoning,
            pieces,
        }) => {
            let mut events: Vec<Event> = reasoning
                .iter()
                .map(|r| {
                    (
                        Duration::from_millis(5),
                        Ok(chunk_with(json!({"role": "assistant", field: r}), None)),
                    )
                })
                .collect();
            events.push(keep_alive());
            events.extend(pieces_events(
                &pieces,
                Duration::from_millis(5),
                Duration::from_millis(5),
            ));
            events.push((Duration::ZERO, Ok(chunk(None, Some("stop")))));
            events.push((Duration::ZERO, Ok(Bytes::from("data: [DONE]\n\n"))));
            sse(events)
        }
        Some(Reply::ErrorMidStream { pieces, message }) => {
            let mut events = pieces_events(&pieces, Duration::ZERO, Duration::from_millis(5));
            let error = json!({"error": {"message": message, "type": "server_error", "param": null, "code": 500}});
            events.push((Duration::from_millis(5), Ok(Bytes::from(format!("data: {error}\n\n")))));
            events.push((Duration::ZERO, Ok(Bytes::from("data: [DONE]\n\n"))));
            sse(events)
        }
        Some(Reply::Refused { code, message }) => {
            // llama.cpp's shape: the code is the HTTP status, as an integer.
            let body = json!({"error": {"code": code, "message": message, "type": "invalid_request_error"}});
            Response::builder()
                .status(StatusCode::from_u16(code).unwrap())
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        }
        Some(Reply::Malformed { pieces }) => {
            let mut events = pieces_events(&pieces, Duration::ZERO, Duration::from_millis(5));
            events.push((
                Duration::ZERO,
                Ok(Bytes::from("data: {\"id\": \"x\", \"choices\": [{\n\n")),
            ));
            events.push((Duration::ZERO, Ok(chunk(None, Some("stop")))));
            events.push((Duration::ZERO, Ok(Bytes::from("data: [DONE]\n\n"))));
            sse(events)
        }
    }
}

fn error(code: u16, retry_after: Option<String>, message: &str) -> Response {
    let kind = if code == 429 {
        "rate_limit_exceeded"
    } else {
        "server_error"
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json");
    if let Some(ra) = retry_after {
        resp = resp.header("retry-after", ra);
    }
    resp.body(Body::from(body.to_string())).unwrap()
}
