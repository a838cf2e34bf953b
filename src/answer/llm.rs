//! Any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM, llama.cpp's
//! server) through `async-openai`, always streaming (SSE) so callers can show
//! partial text.
//!
//! Faults are handled in two places:
//! - before the stream starts, an HTTP layer under async-openai retries 429
//!   and 5xx with exponential backoff and jitter, honouring `Retry-After`,
//!   within a bounded number of attempts and a total deadline;
//! - once text flows, a broken stream, a malformed chunk, a stall longer
//!   than the idle timeout or an empty answer end the call with an
//!   [`LlmError`] whose [`LlmError::user_message`] is fit to show.

use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequestArgs,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::Instrument;

use super::reasoning::{Piece, ReasoningMode, ThinkFilter};
use crate::secret::Secret;

/// Where the LLM is and how to treat it. No `base_url`: offline (extractive) mode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1` (Ollama),
    /// `http://localhost:8080/v1` (llama.cpp, vLLM). The key comes from
    /// `PAPERBOT_LLM_API_KEY` (or `OPENAI_API_KEY`), never from here.
    pub base_url: Option<String>,
    pub model: String,
    pub temperature: f32,
    /// Longest answer, in tokens.
    pub max_tokens: u32,
    /// Waiting for the first text, retries included.
    pub first_token_timeout_secs: f64,
    /// Longest silence between two chunks once text flows.
    pub idle_timeout_secs: f64,
    /// Everything, from the first request to the last chunk.
    pub deadline_secs: f64,
    /// Requests per answer, the first included, for 429/5xx/connect errors.
    pub max_attempts: u32,
    /// First backoff delay; doubles per attempt, with jitter.
    pub retry_base_ms: u64,
    /// How `<think>` blocks in the answer text are treated (reasoning sent in
    /// separate `reasoning_content`/`reasoning` fields is always set aside).
    pub reasoning: ReasoningMode,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: None,
            model: "gpt-4o-mini".into(),
            temperature: 0.2,
            max_tokens: 700,
            first_token_timeout_secs: 60.0,
            idle_timeout_secs: 30.0,
            deadline_secs: 180.0,
            max_attempts: 4,
            retry_base_ms: 500,
            reasoning: ReasoningMode::Auto,
        }
    }
}

/// Why an answer could not be generated. `user_message` is short and
/// actionable; `Display` has the cause for the log.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("rate limited (HTTP 429) after {attempts} attempt(s): {detail}")]
    RateLimited { attempts: u32, detail: String },
    #[error("server error (HTTP {status}) after {attempts} attempt(s): {detail}")]
    Unavailable { status: u16, attempts: u32, detail: String },
    #[error("request rejected (HTTP {status}): {detail}")]
    Rejected { status: u16, detail: String },
    #[error("cannot reach {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("no answer within {secs:.0} s ({stage})")]
    Timeout { stage: &'static str, secs: f64 },
    #[error("stream broke off after {chars} characters: {detail}")]
    StreamBroken { chars: usize, detail: String },
    #[error("malformed chunk in the stream: {detail}")]
    Malformed { detail: String },
    #[error("the model returned an empty answer (finish reason: {finish})")]
    Empty { finish: String },
    #[error("the model spent its {max_tokens}-token limit reasoning and wrote no answer")]
    OnlyReasoned { max_tokens: u32 },
    #[error("the server reported an error mid-stream after {chars} characters: {detail}")]
    ServerFailed { chars: usize, detail: String },
    #[error("bad LLM configuration: {0}")]
    Config(String),
}

impl LlmError {
    /// One line for the person who asked.
    pub fn user_message(&self) -> String {
        match self {
            LlmError::RateLimited { .. } => {
                "The language model is rate-limiting requests right now. Please try again in a minute.".into()
            }
            LlmError::Unavailable { status, .. } => {
                format!("The language model service is failing (HTTP {status}). Please try again later.")
            }
            LlmError::Rejected { status, .. } => format!(
                "The language model rejected the request (HTTP {status}); an operator should check the model name and API key."
            ),
            LlmError::Unreachable { .. } => {
                "The language model cannot be reached; an operator should check `llm.base_url`.".into()
            }
            LlmError::Timeout { secs, .. } => {
                format!("The language model did not answer within {secs:.0} seconds. Please try again.")
            }
            LlmError::StreamBroken { .. } => "The answer broke off mid-way. Please ask again.".into(),
            LlmError::Malformed { .. } => "The language model sent a garbled response. Please ask again.".into(),
            LlmError::Empty { .. } => {
                "The language model returned an empty answer. Please rephrase or ask again.".into()
            }
            LlmError::OnlyReasoned { .. } => "The language model used its whole length limit thinking and wrote no \
                 answer; an operator can raise `llm.max_tokens`."
                .into(),
            LlmError::ServerFailed { detail, .. } => format!(
                "The language model failed while answering ({}). Please try again.",
                crate::paper::clean_text(detail).chars().take(120).collect::<String>()
            ),
            LlmError::Config(_) => "The language model is misconfigured; an operator should check the logs.".into(),
        }
    }
}

/// What a finished stream produced.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The answer, reasoning removed.
    pub text: String,
    /// What the model reasoned before answering (never shown; counted).
    pub reasoning: String,
    /// The model stopped at `max_tokens`.
    pub truncated: bool,
}

/// A piece of a streaming completion, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta<'a> {
    /// Answer text.
    Text(&'a str),
    /// Reasoning (from a reasoning field or a `<think>` block): not to be shown.
    Reasoning(&'a str),
}

/// One SSE chunk, read leniently: servers differ in which fields they send
/// (reasoning fields, an `error` object mid-stream, integer error codes), so
/// every field is optional and unknown ones are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Chunk {
    choices: Vec<ChunkChoice>,
    error: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChunkChoice {
    index: u32,
    delta: ChunkDelta,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChunkDelta {
    content: Option<String>,
    /// DeepSeek, llama.cpp, SGLang, older vLLM.
    reasoning_content: Option<String>,
    /// Newer vLLM, Ollama.
    reasoning: Option<String>,
}

/// The text of an OpenAI-style error object (`{"message": …}` or a string).
fn error_text(e: &serde_json::Value) -> String {
    let text = e["message"].as_str().map(str::to_string).unwrap_or_else(|| match e {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    text.chars().take(300).collect()
}

/// A streaming chat client for one configured endpoint.
#[derive(Clone)]
pub struct LlmClient {
    client: Client<OpenAIConfig>,
    config: LlmConfig,
    base_url: String,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("base_url", &self.base_url)
            .field("model", &self.config.model)
            .finish_non_exhaustive()
    }
}

impl LlmClient {
    /// None when no endpoint is configured (offline mode).
    pub fn from_config(config: &LlmConfig, api_key: Option<&Secret>) -> Result<Option<LlmClient>, LlmError> {
        let Some(base_url) = config.base_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "llm.base_url `{base_url}` must start with http:// or https://"
            )));
        }
        for (name, v) in [
            ("first_token_timeout_secs", config.first_token_timeout_secs),
            ("idle_timeout_secs", config.idle_timeout_secs),
            ("deadline_secs", config.deadline_secs),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(LlmError::Config(format!(
                    "llm.{name} must be a positive number of seconds"
                )));
            }
        }
        // No read timeout here: a local model may think longer than the idle
        // limit before its first token; the first-token deadline and the idle
        // timeout are enforced per chunk in `stream_inner`.
        let http = crate::http_client_builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LlmError::Config(format!("HTTP client: {e}")))?;
        // Local servers accept any key; the key is never logged (async-openai
        // keeps it in a `SecretString`).
        let openai = OpenAIConfig::new()
            .with_api_base(&base_url)
            .with_api_key(api_key.map_or("unused", Secret::expose));
        let retry = Arc::new(RetryPolicy {
            max_attempts: config.max_attempts.max(1),
            base: Duration::from_millis(config.retry_base_ms),
            deadline: Duration::from_secs_f64(config.first_token_timeout_secs.min(config.deadline_secs)),
        });
        let service = tower::service_fn(move |factory: HttpRequestFactory| {
            let (http, retry) = (http.clone(), retry.clone());
            async move { retry.send(&http, factory).await }
        });
        let client = Client::with_config(openai).with_http_service(service);
        Ok(Some(LlmClient {
            client,
            config: config.clone(),
            base_url,
        }))
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Streams one completion. `on_delta` sees each piece as it arrives,
    /// reasoning sorted from answer text; the returned text is the
    /// concatenation of the answer pieces.
    pub async fn stream_chat(
        &self,
        system: &str,
        user: &str,
        on_delta: &mut (dyn FnMut(Delta<'_>) + Send),
    ) -> Result<Completion, LlmError> {
        let span = tracing::info_span!("llm_chat", model = %self.config.model, url = %self.base_url);
        self.stream_inner(system, user, on_delta).instrument(span).await
    }

    async fn stream_inner(
        &self,
        system: &str,
        user: &str,
        on_delta: &mut (dyn FnMut(Delta<'_>) + Send),
    ) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(self.config.deadline_secs);
        let messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessage::from(system).into(),
            ChatCompletionRequestUserMessage::from(user).into(),
        ];
        let request = CreateChatCompletionRequestArgs::default()
            .model(self.config.model.clone())
            .messages(messages)
            .temperature(self.config.temperature)
            .max_tokens(self.config.max_tokens)
            // Our own chunk type (reasoning fields, errors) means the request
            // must say `stream` itself.
            .stream(true)
            .build()
            .map_err(|e| LlmError::Config(e.to_string()))?;

        let first_timeout = Duration::from_secs_f64(self.config.first_token_timeout_secs);
        let first_deadline = (started + first_timeout).min(deadline);
        let timeout_first = || LlmError::Timeout {
            stage: "waiting for the first text",
            secs: first_deadline.duration_since(started).as_secs_f64(),
        };
        let mut stream = tokio::time::timeout_at(
            first_deadline,
            self.client.chat().create_stream_byot::<_, Chunk>(request),
        )
        .await
        .map_err(|_| timeout_first())?
        .map_err(|e| self.classify(e))?;

        let idle = Duration::from_secs_f64(self.config.idle_timeout_secs);
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut think = ThinkFilter::new(self.config.reasoning);
        let mut finish: Option<String> = None;
        let mut sort = |piece: Piece, text: &mut String, reasoning: &mut String| match piece {
            Piece::Answer(t) => {
                on_delta(Delta::Text(&t));
                text.push_str(&t);
            }
            Piece::Reasoning(t) => {
                on_delta(Delta::Reasoning(&t));
                reasoning.push_str(&t);
            }
        };
        loop {
            // Until the model says anything (answer or reasoning) the
            // first-token deadline applies, then the idle one.
            let alive = !text.is_empty() || !reasoning.is_empty();
            let wait_until = if alive {
                (Instant::now() + idle).min(deadline)
            } else {
                first_deadline
            };
            let next = match tokio::time::timeout_at(wait_until, stream.next()).await {
                Ok(next) => next,
                Err(_) if !alive => return Err(timeout_first()),
                Err(_) if Instant::now() >= deadline => {
                    return Err(LlmError::Timeout {
                        stage: "streaming the answer",
                        secs: self.config.deadline_secs,
                    });
                }
                Err(_) => {
                    return Err(LlmError::StreamBroken {
                        chars: text.chars().count(),
                        detail: format!("no data for {:.0} s", idle.as_secs_f64()),
                    });
                }
            };
            let Some(item) = next else { break };
            let chunk = match item {
                Ok(chunk) => chunk,
                // Some servers send an empty `data:` line as a keep-alive.
                Err(OpenAIError::JSONDeserialize(_, raw)) if raw.trim().is_empty() => continue,
                Err(OpenAIError::JSONDeserialize(e, raw)) => {
                    return Err(LlmError::Malformed {
                        detail: format!("{e}; chunk starts {:?}", raw.chars().take(120).collect::<String>()),
                    });
                }
                Err(e) => {
                    return Err(LlmError::StreamBroken {
                        chars: text.chars().count(),
                        detail: e.to_string(),
                    });
                }
            };
            // OpenAI, vLLM and llama.cpp report a failure after the stream
            // started as a chunk holding only an error object.
            if let Some(e) = chunk.error.filter(|e| !e.is_null()) {
                return Err(LlmError::ServerFailed {
                    chars: text.chars().count(),
                    detail: error_text(&e),
                });
            }
            for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
                let was_alive = !text.is_empty() || !reasoning.is_empty();
                let d = choice.delta;
                for r in [d.reasoning_content, d.reasoning].into_iter().flatten() {
                    if !r.is_empty() {
                        sort(Piece::Reasoning(r), &mut text, &mut reasoning);
                    }
                }
                if let Some(content) = d.content.filter(|c| !c.is_empty()) {
                    for piece in think.push(&content) {
                        sort(piece, &mut text, &mut reasoning);
                    }
                }
                if !was_alive && (!text.is_empty() || !reasoning.is_empty()) {
                    crate::metrics::metrics()
                        .llm_first_token_seconds
                        .observe(started.elapsed().as_secs_f64());
                }
                if let Some(f) = choice.finish_reason {
                    // vLLM ends a failed generation with these instead of an error object.
                    if matches!(f.as_str(), "error" | "abort") {
                        return Err(LlmError::ServerFailed {
                            chars: text.chars().count(),
                            detail: format!("generation ended with `{f}`"),
                        });
                    }
                    finish = Some(f);
                }
            }
        }
        for piece in think.finish() {
            sort(piece, &mut text, &mut reasoning);
        }
        let Some(finish) = finish else {
            // Every compatible server ends with a finish reason before
            // `[DONE]`; a stream that simply stops was cut off.
            return Err(LlmError::StreamBroken {
                chars: text.chars().count(),
                detail: "the stream ended without a finish reason".into(),
            });
        };
        if text.trim().is_empty() {
            if !reasoning.is_empty() && finish == "length" {
                return Err(LlmError::OnlyReasoned {
                    max_tokens: self.config.max_tokens,
                });
            }
            return Err(LlmError::Empty { finish });
        }
        tracing::debug!(
            chars = text.len(),
            reasoning_chars = reasoning.len(),
            %finish,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "llm answered"
        );
        Ok(Completion {
            text,
            reasoning,
            truncated: finish == "length",
        })
    }

    fn classify(&self, e: OpenAIError) -> LlmError {
        match e {
            OpenAIError::ApiError(api) => {
                let status = api.status_code.as_u16();
                let detail = api.api_error.message.chars().take(300).collect::<String>();
                let attempts = self.config.max_attempts.max(1);
                match status {
                    429 => LlmError::RateLimited { attempts, detail },
                    s if s >= 500 => LlmError::Unavailable {
                        status,
                        attempts,
                        detail,
                    },
                    _ => LlmError::Rejected { status, detail },
                }
            }
            OpenAIError::Boxed(e) => match e.downcast::<GaveUp>() {
                Ok(gave_up) => *gave_up.into_error(),
                Err(e) => LlmError::Unreachable {
                    url: self.base_url.clone(),
                    detail: e.to_string(),
                },
            },
            OpenAIError::Reqwest(e) => LlmError::Unreachable {
                url: self.base_url.clone(),
                detail: error_chain(&e),
            },
            OpenAIError::JSONDeserialize(e, raw) => LlmError::Malformed {
                detail: format!("{e}; body starts {:?}", raw.chars().take(120).collect::<String>()),
            },
            other => LlmError::StreamBroken {
                chars: 0,
                detail: other.to_string(),
            },
        }
    }
}

/// An error the retry layer decided on (a retry would overrun the deadline,
/// or a request was refused), carried through async-openai.
#[derive(Debug)]
struct GaveUp(Box<LlmError>);

impl GaveUp {
    fn into_error(self) -> Box<LlmError> {
        self.0
    }
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for GaveUp {}

/// Retries under async-openai, where the response status and headers are
/// still visible (async-openai's own errors drop `Retry-After`).
struct RetryPolicy {
    max_attempts: u32,
    base: Duration,
    /// From the first attempt; no sleep may end after it.
    deadline: Duration,
}

impl RetryPolicy {
    async fn send(
        &self,
        http: &reqwest::Client,
        factory: HttpRequestFactory,
    ) -> Result<reqwest::Response, OpenAIError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = factory.build().await?;
            let result = http.execute(request).await;
            if let Ok(resp) = result.as_ref()
                && resp.status().is_client_error()
                && !crate::retry::is_retryable(resp.status())
            {
                return Err(rejected(result.expect("checked")).await);
            }
            let wait = match &result {
                Ok(resp) if crate::retry::is_retryable(resp.status()) => {
                    let hinted = crate::retry::retry_after(resp.headers());
                    tracing::warn!(status = resp.status().as_u16(), attempt, retry_after = ?hinted, "LLM request failed");
                    hinted.unwrap_or_else(|| crate::retry::backoff(self.base, attempt, Duration::from_secs(30)))
                }
                Err(e) if e.is_connect() => {
                    tracing::warn!(error = %error_chain(e), attempt, "LLM endpoint unreachable");
                    crate::retry::backoff(self.base, attempt, Duration::from_secs(30))
                }
                _ => return result.map_err(OpenAIError::Reqwest),
            };
            if attempt >= self.max_attempts {
                return result.map_err(OpenAIError::Reqwest);
            }
            if started.elapsed() + wait > self.deadline {
                // Waiting as asked would overrun the deadline: fail now, saying so.
                let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
                let detail = format!(
                    "server asked to wait {:.1} s; only {:.1} s left before the deadline",
                    wait.as_secs_f64(),
                    self.deadline.saturating_sub(started.elapsed()).as_secs_f64()
                );
                let error = match status {
                    429 => LlmError::RateLimited {
                        attempts: attempt,
                        detail,
                    },
                    0 => return result.map_err(OpenAIError::Reqwest),
                    s => LlmError::Unavailable {
                        status: s,
                        attempts: attempt,
                        detail,
                    },
                };
                return Err(OpenAIError::Boxed(Box::new(GaveUp(Box::new(error)))));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// A refused request (4xx, not retried), with the server's reason read here:
/// llama.cpp and vLLM send integer error codes async-openai cannot parse.
async fn rejected(resp: reqwest::Response) -> OpenAIError {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .map(|v| error_text(if v["error"].is_null() { &v } else { &v["error"] }))
        .unwrap_or_else(|_| body.chars().take(300).collect());
    OpenAIError::Boxed(Box::new(GaveUp(Box::new(LlmError::Rejected { status, detail }))))
}

/// An error with its sources, for logs (reqwest hides the useful part).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
