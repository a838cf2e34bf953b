//! A local fake Discord for driving the real serenity client in tests: the
//! REST API (v10) over TLS on 127.0.0.1 and a plain `ws://` gateway.
//!
//! * REST: serenity's `Http` gets [`FakeDiscord::http_client`], a reqwest
//!   (0.12, serenity's) client that resolves `discord.com` to this server and
//!   accepts only its certificate (`tests/data/fake-discord.crt`), so
//!   serenity's real URLs and its real ratelimiter are used and nothing can
//!   reach the real Discord. Every request is recorded as a [`RestCall`];
//!   unknown routes get a Discord-style 404 (recorded too).
//!
//! ```ignore
//! let fake = FakeDiscord::start().await;
//! let http = HttpBuilder::new(TOKEN).client(fake.http_client()).build();
//! // start a serenity Client with ClientBuilder::new_with_http(http, intents), then:
//! fake.wait_ready(Duration::from_secs(20)).await;
//! fake.dispatch("INTERACTION_CREATE", FakeDiscord::slash_command(1, "ask", json!([]))).await;
//! fake.wait_for("the answer", WAIT, |c| c.path.ends_with("/messages/@original")).await;
//! ```
//! * Gateway: `GET /gateway` and `/gateway/bot` point at
//!   `ws://127.0.0.1:PORT`. The fake sends HELLO, answers IDENTIFY with READY,
//!   RESUME with RESUMED and heartbeats with HEARTBEAT_ACK; tests push events
//!   with [`FakeDiscord::dispatch`].
//!
//! It refuses what Discord refuses (the rules are in `rules.rs`, each checked
//! by `fake_discord_selftest` against Discord's documented codes):
//! * interactions: the first response after 3 s is 404 10062; an
//!   interaction is acknowledged once (400 40060); the callback type must fit
//!   the interaction (autocomplete only 8; components 4/5/6/7/9; 400 50035);
//!   its webhook (`@original`, follow-ups) exists only after the
//!   acknowledgement (404 10015) and for 15 minutes (then 401 50027; tests
//!   move the fake's clock with [`FakeDiscord::advance`]);
//! * bodies: message, embed (trimmed text, 6000 per message), component
//!   (5 rows, 1-5 buttons, custom_id 1-100 and unique, label 80) and
//!   autocomplete (25 choices, 1-100 characters) limits give 400 50035 with
//!   Discord's nested `errors` (under `data.` for callbacks); empty messages
//!   give 400 50006;
//! * channels ([`FakeDiscord::add_channel`]): without VIEW_CHANNEL 403 50001,
//!   without SEND_MESSAGES (in threads SEND_MESSAGES_IN_THREADS) or, for
//!   embed-only messages, EMBED_LINKS 403 50013, a reply without
//!   READ_MESSAGE_HISTORY 400 160002; a thread cannot start in a thread,
//!   voice/stage chat or forum (400 50024), in a DM (403 50003), without
//!   CREATE_PUBLIC_THREADS (403 50013), from an unknown message (404 10008),
//!   or twice (400 160004);
//! * rate limits: per-route, shared and global 429s with Discord's headers
//!   ([`FakeDiscord::fail_next_with`]);
//! * gateway: one session per shard, each sent only its guilds' events
//!   (`(guild_id >> 22) % shards`, DMs to shard 0), an invalid shard closed
//!   with 4010, a wrong token with 4004; MESSAGE_CREATE is not delivered
//!   without the GUILD_MESSAGES intent and arrives with empty content without
//!   MESSAGE_CONTENT (unless the bot is mentioned);
//! * REST calls other than interaction callbacks and webhooks need
//!   `Authorization: Bot TOKEN` (401).
//!
//! Every response's status is recorded; [`FakeDiscord::unexpected_errors`]
//! lists the error responses a test did not declare with
//! [`FakeDiscord::expect_error`] (injected 429s are expected), so a bot
//! request Discord would refuse cannot pass unnoticed.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

mod gateway;
mod payloads;
mod rest;
mod rules;
mod tls;

use gateway::*;
use payloads::*;
use rest::*;
use rules::*;
use tls::*;

pub use payloads::{as_dm, autocomplete, component_click, in_guild, message, slash_command};
pub use rules::{kind, perm};

pub const APP_ID: u64 = 1_300_000_000_000_000_001;
/// Deliberately not equal to [`APP_ID`] (older bots have distinct ids), so
/// code that mixes the two up fails here.
pub const BOT_USER_ID: u64 = 1_300_000_000_000_000_002;
pub const GUILD_ID: u64 = 1_300_000_000_000_000_100;
pub const CHANNEL_ID: u64 = 1_300_000_000_000_000_200;
pub const USER_ID: u64 = 1_300_000_000_000_000_300;
/// Shaped like a real bot token (base64 user id, timestamp, hmac); serenity
/// sends it as `Bot <TOKEN>`.
pub const TOKEN: &str = "MTMwMDAwMDAwMDAwMDAwMDAwMg.GfAkE0.fake-discord-token-for-tests-only-000000";

const BOT_NAME: &str = "paperbot";
const USER_NAME: &str = "alice";
const GUILD_LOCALE: &str = "en-US";
const HEARTBEAT_INTERVAL_MS: u64 = 41_250;
/// Discord's default upload limit, sent as `attachment_size_limit`.
const ATTACHMENT_SIZE_LIMIT: u64 = 10 * 1024 * 1024;
/// All permissions a bot usually gets in a test guild (string, as Discord sends it).
const PERMISSIONS: &str = "2248473465835073";
/// An interaction's first response must come within this of the event.
const RESPONSE_DEADLINE: Duration = Duration::from_secs(3);
/// How long Discord remembers an enforced nonce ("a few minutes").
const NONCE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// An interaction's token (its webhook) lives this long.
const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Gateway intents (Discord's bit values).
const INTENT_GUILD_MESSAGES: u64 = 1 << 9;
const INTENT_MESSAGE_CONTENT: u64 = 1 << 15;

/// One REST request the fake received (429s and 404s included).
#[derive(Debug, Clone)]
pub struct RestCall {
    pub method: String,
    /// The URL path, e.g. `/api/v10/channels/123/messages` (no query).
    pub path: String,
    pub headers: HeaderMap,
    /// JSON body; for multipart, the parsed `payload_json` part; `Null` if none.
    pub body: Value,
    /// Uploaded files of a multipart body: (file name, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    pub at: Instant,
    /// The status the fake answered with, and its headers.
    pub status: u16,
    pub response_headers: HeaderMap,
    /// A 429 the test injected ([`FakeDiscord::fail_next`]).
    pub injected: bool,
}

impl fmt::Display for RestCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {} {}", self.method, self.path, self.status, self.body)
    }
}

/// A channel's kind and what the bot may do in it; channels the fake was
/// not told about are text channels where the bot may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Discord's channel type ([`kind`]).
    pub kind: u8,
    /// The bot's permissions there ([`perm`]).
    pub permissions: u64,
}

impl Default for ChannelSpec {
    fn default() -> Self {
        ChannelSpec {
            kind: kind::GUILD_TEXT,
            permissions: perm::ALL,
        }
    }
}

/// Which rate limit a 429 reports (docs: topics/rate-limits.mdx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A route's bucket ran out (`X-RateLimit-Scope: user`).
    Route,
    /// A shared resource is busy (`X-RateLimit-Scope: shared`).
    Shared,
    /// The bot's global limit (`X-RateLimit-Global: true`, scope `global`).
    Global,
}

/// One identified gateway connection: a shard of the bot.
struct Session {
    conn: u64,
    tx: mpsc::UnboundedSender<WsMessage>,
    session_id: String,
    /// (shard id, shard count), from IDENTIFY.
    shard: (u64, u64),
    seq: u64,
}

/// A handle on the running fake; clones share it.
#[derive(Clone)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
}

struct Shared {
    rest_addr: SocketAddr,
    /// The same REST API over plain HTTP, for `discord.api_proxy`.
    proxy_addr: SocketAddr,
    gateway_url: String,
    state: Mutex<FakeState>,
    ids: AtomicU64,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<RestCall>,
    failures: Vec<Failure>,
    /// The `d` of every IDENTIFY with the right token, in order.
    identifies: Vec<Value>,
    /// The live, identified gateway connections (one per shard).
    sessions: Vec<Session>,
    /// Sessions that can be resumed: session id -> (shard, last seq).
    resumable: HashMap<String, ((u64, u64), u64)>,
    ws_connections: u64,
    /// Every frame the bot sent over the gateway.
    gateway_frames: Vec<Value>,
    bad_identify: Option<String>,
    /// REST connections whose TLS handshake failed (shown when a wait times out).
    tls_failures: Vec<String>,
    echo_bot_messages: bool,
    /// Interactions dispatched through `dispatch`, by id, with when.
    interactions: HashMap<u64, Value>,
    interaction_times: HashMap<u64, Instant>,
    /// How far [`FakeDiscord::advance`] moved the fake's clock.
    clock_offset: Duration,
    /// Channels with a kind or permissions of their own.
    channels: HashMap<u64, ChannelSpec>,
    /// Error responses a test declared: (method, path fragment, status).
    expected_errors: Vec<(String, String, u16)>,
    /// Interaction ids whose callback succeeded.
    acknowledged: HashSet<u64>,
    /// Interaction token -> id of its original response message.
    originals: HashMap<String, u64>,
    /// Messages known to the fake: created over REST or dispatched.
    messages: HashMap<u64, Value>,
    /// Threads created from messages, by id (= the starter message's id).
    threads: HashMap<u64, Value>,
    /// The bot's messages created with `enforce_nonce`: nonce -> (id, when).
    nonces: HashMap<String, (u64, Instant)>,
    /// Registered commands: None = global, Some(guild).
    commands: HashMap<Option<u64>, Vec<Value>>,
}

struct Failure {
    method: String,
    path_contains: String,
    retry_after: f64,
    limit: Limit,
}

impl FakeState {
    /// The fake's clock: real time plus what tests advanced it by.
    fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    fn channel(&self, id: u64) -> ChannelSpec {
        if let Some(c) = self.channels.get(&id) {
            return *c;
        }
        // Threads the bot started are public threads where it may do everything.
        if self.threads.contains_key(&id) {
            return ChannelSpec {
                kind: kind::PUBLIC_THREAD,
                permissions: perm::ALL,
            };
        }
        ChannelSpec::default()
    }

    /// The session that carries `guild`'s events (shard 0 for none).
    fn session_for(&self, guild: Option<u64>) -> Option<&Session> {
        self.sessions.iter().find(|s| {
            let (id, total) = s.shard;
            match guild {
                Some(g) => (g >> 22) % total.max(1) == id,
                None => id == 0,
            }
        })
    }
}

type Reply = Result<Response, Response>;

impl FakeDiscord {
    /// Starts the REST (TLS) and gateway (ws) servers on 127.0.0.1 (free ports)
    /// on the current runtime; they run until the runtime ends.
    pub async fn start() -> FakeDiscord {
        paperbot::install_crypto_provider();
        let rest = TcpListener::bind("127.0.0.1:0").await.expect("bind fake Discord REST");
        let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind fake Discord proxy");
        let proxy_addr = proxy.local_addr().expect("proxy addr");
        let gateway = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Discord gateway");
        let rest_addr = rest.local_addr().expect("REST addr");
        let gateway_addr = gateway.local_addr().expect("gateway addr");
        let shared = Arc::new(Shared {
            rest_addr,
            proxy_addr,
            gateway_url: format!("ws://{gateway_addr}"),
            state: Mutex::new(FakeState::default()),
            ids: AtomicU64::new(1_400_000_000_000_000_000),
        });

        let listener = TlsListener::start(rest, tls_config(), shared.clone());
        let router = Router::new()
            .fallback(handle_rest)
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(shared.clone());
        let plain = router.clone();
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("fake Discord REST server");
        });
        tokio::spawn(async move {
            axum::serve(proxy, plain).await.expect("fake Discord proxy server");
        });

        let gw = shared.clone();
        tokio::spawn(async move {
            let mut conn = 0u64;
            loop {
                let Ok((tcp, _)) = gateway.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                conn += 1;
                tokio::spawn(gateway_connection(gw.clone(), tcp, conn));
            }
        });

        FakeDiscord { shared }
    }

    /// `http://127.0.0.1:PORT`: the REST API over plain HTTP, as a Discord
    /// API proxy serves it. A bot in another process reaches the fake by
    /// `discord.api_proxy` set to this (serenity then sends
    /// `http://127.0.0.1:PORT/api/v10/…` and keeps its own ratelimiter).
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.shared.proxy_addr)
    }

    /// `ws://127.0.0.1:PORT`, what `GET /gateway` returns.
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url.clone()
    }

    /// A reqwest client that sends `discord.com` to this fake and accepts
    /// exactly its certificate (pinned: a connection to anything else, the real
    /// discord.com included, fails the TLS handshake). Pass it to
    /// `serenity::http::HttpBuilder::client`. It is serenity's reqwest (0.12,
    /// the `reqwest-012` dev-dependency), not the crate's 0.13.
    pub fn http_client(&self) -> reqwest_012::Client {
        reqwest_012::Client::builder()
            .use_preconfigured_tls(pinned_client_tls())
            .no_proxy()
            .resolve("discord.com", self.shared.rest_addr)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client for the fake Discord")
    }

    /// Waits until a bot has IDENTIFYed on the gateway and got READY; panics
    /// with what happened instead (serenity falls back to the real gateway
    /// silently when `GET /gateway` fails).
    pub async fn wait_ready(&self, timeout: Duration) {
        self.wait_shards(1, timeout).await;
    }

    /// Waits until `n` shards are identified (serenity starts one every 5 s).
    pub async fn wait_shards(&self, n: usize, timeout: Duration) {
        let start = Instant::now();
        loop {
            {
                let st = self.state();
                if st.sessions.len() >= n {
                    return;
                }
            }
            if start.elapsed() >= timeout {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let st = self.state();
        let asked = st.calls.iter().any(|c| c.path.starts_with("/api/v10/gateway"));
        let why = if let Some(bad) = &st.bad_identify {
            format!("the bot IDENTIFYed with the wrong token ({bad}); the fake closed it with 4004")
        } else if st.ws_connections > 0 {
            format!(
                "the bot opened {} gateway connection(s) but never sent IDENTIFY (frames seen: {:?})",
                st.ws_connections, st.gateway_frames
            )
        } else if asked {
            "the bot asked for the gateway URL but never connected to it".to_string()
        } else if !st.tls_failures.is_empty() {
            "the bot's REST connections failed the TLS handshake, so GET /api/v10/gateway failed and serenity \
             silently connects to the real wss://gateway.discord.gg instead: build its Http with \
             FakeDiscord::http_client()"
                .to_string()
        } else {
            "the bot never asked the fake for the gateway URL (GET /api/v10/gateway): its Http was probably \
             not built with FakeDiscord::http_client(), and serenity then silently connects to the real \
             wss://gateway.discord.gg"
                .to_string()
        };
        panic!(
            "fake Discord: {} of {n} shard(s) ready within {timeout:?} at {}: {why}. REST calls seen: {}",
            st.sessions.len(),
            self.shared.gateway_url,
            summary(&st)
        );
    }

    /// The `d` of the bot's last IDENTIFY (token, intents, shard, properties...).
    pub fn identify(&self) -> Option<Value> {
        self.state().identifies.last().cloned()
    }

    /// The `[id, total]` of every identified shard, sorted.
    pub fn shards(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self.state().sessions.iter().map(|s| s.shard).collect();
        v.sort_unstable();
        v
    }

    /// Every frame the bot sent over the gateway, in order (heartbeats included).
    pub fn gateway_frames(&self) -> Vec<Value> {
        self.state().gateway_frames.clone()
    }

    /// Sends `{"op":0,"t":event,"s":next,"d":data}` to the shard that carries
    /// the event's guild (`(guild_id >> 22) % shards`; shard 0 without a
    /// guild), waiting up to 10 s for it to be identified, then panicking.
    /// MESSAGE_CREATE/UPDATE are filtered by the IDENTIFY intents like Discord
    /// does (see the module docs). Returns whether a shard took it.
    pub async fn dispatch(&self, event: &str, data: Value) {
        let guild = id_of(&data["guild_id"]);
        let start = Instant::now();
        while self.state().session_for(guild).is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                panic!(
                    "fake Discord: dispatch({event}) for guild {guild:?} but no shard carrying it is identified \
                     (shards: {:?}; call wait_ready first); REST calls seen: {}",
                    self.shards(),
                    summary(&self.state())
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut st = self.state();
        let mut data = data;
        match event {
            "INTERACTION_CREATE" => {
                if let Some(id) = id_of(&data["id"]) {
                    st.interactions.insert(id, data.clone());
                    let now = st.now();
                    st.interaction_times.insert(id, now);
                }
            }
            "MESSAGE_CREATE" | "MESSAGE_UPDATE" => {
                if let Some(id) = id_of(&data["id"]) {
                    st.messages.insert(id, data.clone());
                }
                let intents = st
                    .session_for(guild)
                    .and_then(|s| st.identifies.iter().rev().find(|d| d["shard"][0] == json!(s.shard.0)))
                    .or(st.identifies.last())
                    .and_then(|d| d["intents"].as_u64())
                    .unwrap_or(0);
                if data.get("guild_id").is_some_and(|g| !g.is_null()) {
                    if intents & INTENT_GUILD_MESSAGES == 0 {
                        eprintln!("fake Discord: {event} not delivered: the IDENTIFY intents lack GUILD_MESSAGES");
                        return;
                    }
                    let mentioned = data["mentions"]
                        .as_array()
                        .is_some_and(|m| m.iter().any(|u| id_of(&u["id"]) == Some(BOT_USER_ID)));
                    let own = id_of(&data["author"]["id"]) == Some(BOT_USER_ID);
                    if intents & INTENT_MESSAGE_CONTENT == 0 && !mentioned && !own {
                        eprintln!("fake Discord: {event} content blanked: the IDENTIFY intents lack MESSAGE_CONTENT");
                        data["content"] = json!("");
                        data["embeds"] = json!([]);
                        data["attachments"] = json!([]);
                        data["components"] = json!([]);
                    }
                }
            }
            _ => {}
        }
        send_dispatch(&mut st, event, guild, data);
    }

    /// Makes an interaction exist as if Discord had just delivered it,
    /// without sending it over a gateway (for tests that drive REST alone).
    pub fn created(&self, interaction: &Value) {
        let mut st = self.state();
        let id = id_of(&interaction["id"]).expect("an interaction id");
        st.interactions.insert(id, interaction.clone());
        let now = st.now();
        st.interaction_times.insert(id, now);
    }

    /// Asks every connected shard to reconnect (op 7, as Discord does before
    /// moving a session): the bot resumes its session with RESUME.
    pub fn reconnect_all(&self) {
        for s in &self.state().sessions {
            let _ = s.tx.send(frame(&json!({"op": 7, "s": null, "t": null, "d": null})));
        }
    }

    /// Declares the channel's kind and the bot's permissions in it.
    pub fn add_channel(&self, id: u64, spec: ChannelSpec) {
        self.state().channels.insert(id, spec);
    }

    /// Moves the fake's clock forward (interaction deadlines and token
    /// lifetimes are measured on it), so tests need not sleep 15 minutes.
    pub fn advance(&self, by: Duration) {
        self.state().clock_offset += by;
    }

    /// Declares that requests with this method, whose path contains
    /// `path_contains`, may get `status` (e.g. a thread refused with 403).
    pub fn expect_error(&self, method: &str, path_contains: &str, status: u16) {
        self.state()
            .expected_errors
            .push((method.to_uppercase(), path_contains.to_string(), status));
    }

    /// Error responses (status ≥ 400) the test neither injected nor declared:
    /// requests Discord would have refused.
    pub fn unexpected_errors(&self) -> Vec<RestCall> {
        let st = self.state();
        let declared = |c: &RestCall| {
            st.expected_errors
                .iter()
                .any(|(m, p, s)| *m == c.method && c.path.contains(p.as_str()) && *s == c.status)
        };
        st.calls
            .iter()
            .filter(|c| c.status >= 400 && !c.injected && !declared(c))
            .cloned()
            .collect()
    }

    /// Panics listing every unexpected error response (see [`Self::unexpected_errors`]).
    pub fn assert_no_unexpected_errors(&self) {
        let bad = self.unexpected_errors();
        assert!(
            bad.is_empty(),
            "the bot made requests Discord refuses:\n{}",
            bad.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
        );
    }

    /// When on, messages the bot creates with `POST /channels/{id}/messages`
    /// come back to it as MESSAGE_CREATE, as on Discord. Off by default.
    pub fn echo_bot_messages(&self, on: bool) {
        self.state().echo_bot_messages = on;
    }

    pub fn requests(&self) -> Vec<RestCall> {
        self.state().calls.clone()
    }

    /// The first recorded call matching `pred`, waiting up to `timeout`;
    /// panics naming `what` and listing the calls seen.
    pub async fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&RestCall) -> bool) -> RestCall {
        let start = Instant::now();
        loop {
            if let Some(call) = self.state().calls.iter().find(|c| pred(c)) {
                return call.clone();
            }
            if start.elapsed() >= timeout {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "fake Discord: timed out after {timeout:?} waiting for {what}; REST calls seen: {}",
            summary(&self.state())
        );
    }

    /// The next request with this method whose path contains `path_contains`
    /// gets a Discord-style per-route 429 (`retry_after` seconds, bucket
    /// headers, scope user); later ones succeed.
    pub fn fail_next(&self, method: &str, path_contains: &str, retry_after_secs: f64) {
        self.fail_next_with(method, path_contains, Limit::Route, retry_after_secs);
    }

    /// Like [`Self::fail_next`], with the 429 of `limit`'s kind.
    pub fn fail_next_with(&self, method: &str, path_contains: &str, limit: Limit, retry_after_secs: f64) {
        self.state().failures.push(Failure {
            method: method.to_uppercase(),
            path_contains: path_contains.to_string(),
            retry_after: retry_after_secs,
            limit,
        });
    }

    /// A message the fake knows (created over REST or dispatched), as JSON.
    pub fn message_state(&self, id: u64) -> Option<Value> {
        self.state().messages.get(&id).cloned()
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.shared.lock()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

/// The calls seen (and failed TLS handshakes), for panic messages.
fn summary(st: &FakeState) -> String {
    let mut out = if st.calls.is_empty() {
        "none".to_string()
    } else {
        st.calls
            .iter()
            .map(|c| {
                let line = c.to_string();
                let short: String = line.chars().take(300).collect();
                format!("\n  {short}{}", if short.len() < line.len() { " …" } else { "" })
            })
            .collect()
    };
    if !st.tls_failures.is_empty() {
        out += &format!(
            "\n{} REST connection(s) failed the TLS handshake (is the client FakeDiscord::http_client()?): {:?}",
            st.tls_failures.len(),
            st.tls_failures
        );
    }
    out
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// A stable id per command name (Discord keeps a command's id across re-registrations).
fn command_id(name: &str) -> u64 {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    1_300_000_000_000_100_000 + h % 100_000
}
