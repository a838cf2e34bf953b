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
    /// Relevance checks (`paperbot::answer::screen`) answered with this
    /// instead of the script, and kept apart from `seen`, so tests about the
    /// answer call script only the answer. `None`: checks take their turn
    /// in the script like any request.
    screen_reply: Arc<Mutex<Option<String>>>,
    screens: Arc<Mutex<Vec<Seen>>>,
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
        *llm.shared.screen_reply.lock().unwrap() = Some("1".into());
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
    let screen_reply = shared.screen_reply.lock().unwrap().clone();
    if let Some(reply) = screen_reply.filter(|_| seen.system_prompt() == paperbot::answer::screen::SYSTEM) {
        shared.screens.lock().unwrap().push(seen);
        return sse(vec![
            (Duration::ZERO, Ok(chunk(Some(&reply), None))),
            (Duration::ZERO, Ok(chunk(None, Some("stop")))),
            (Duration::ZERO, Ok(Bytes::from("data: [DONE]\n\n"))),
        ]);
    }
    shared.seen.lock().unwrap().push(seen);
    let reply = shared.script.lock().unwrap().pop_front();
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
