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
//! It behaves like Discord where a bot can get it wrong: an interaction can be
//! acknowledged once (then 400, code 40060); its webhook (`@original`,
//! follow-ups) exists only after the acknowledgement; the token must match the
//! interaction; message length and embed limits give 400 "Invalid Form Body";
//! empty messages give 400 (50006); a thread from a message has the message's
//! id and can be created once (160004); command registration checks names,
//! descriptions and required-before-optional options; REST calls other than
//! interaction callbacks and webhooks need `Authorization: Bot TOKEN` (401); an
//! IDENTIFY with another token is closed with 4004; MESSAGE_CREATE is not
//! delivered without the GUILD_MESSAGES intent and arrives with empty content
//! without MESSAGE_CONTENT (unless the bot is mentioned), as Discord does.

use std::collections::{HashMap, HashSet};
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
/// Gateway intents (Discord's bit values).
const INTENT_GUILD_MESSAGES: u64 = 1 << 9;
const INTENT_MESSAGE_CONTENT: u64 = 1 << 15;

/// One REST request the fake received (429s and 404s included).
#[derive(Debug, Clone)]
pub struct RestCall {
    pub method: String,
    /// The URL path, e.g. `/api/v10/channels/123/messages` (no query).
    pub path: String,
    /// The query string without `?`, empty if none.
    pub query: String,
    pub headers: HeaderMap,
    /// JSON body; for multipart, the parsed `payload_json` part; `Null` if none.
    pub body: Value,
    /// Uploaded files of a multipart body: (file name, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    pub at: Instant,
}

/// A handle on the running fake; clones share it.
#[derive(Clone)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
}

struct Shared {
    rest_addr: SocketAddr,
    gateway_url: String,
    state: Mutex<FakeState>,
    ids: AtomicU64,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<RestCall>,
    failures: Vec<Failure>,
    /// The `d` of the last IDENTIFY with the right token.
    identify: Option<Value>,
    /// The live, identified gateway connection: (connection number, sender).
    session: Option<(u64, mpsc::UnboundedSender<WsMessage>)>,
    session_id: Option<String>,
    seq: u64,
    ws_connections: u64,
    /// Every frame the bot sent over the gateway.
    gateway_frames: Vec<Value>,
    bad_identify: Option<String>,
    /// REST connections whose TLS handshake failed (shown when a wait times out).
    tls_failures: Vec<String>,
    echo_bot_messages: bool,
    /// Interactions dispatched through `dispatch`, by id.
    interactions: HashMap<u64, Value>,
    /// Interaction ids whose callback succeeded.
    acknowledged: HashSet<u64>,
    /// Interaction token -> id of its original response message.
    originals: HashMap<String, u64>,
    /// Messages known to the fake: created over REST or dispatched.
    messages: HashMap<u64, Value>,
    /// Threads created from messages, by id (= the starter message's id).
    threads: HashMap<u64, Value>,
    /// Registered commands: None = global, Some(guild).
    commands: HashMap<Option<u64>, Vec<Value>>,
}

struct Failure {
    method: String,
    path_contains: String,
    retry_after: f64,
}

type Reply = Result<Response, Response>;

impl FakeDiscord {
    /// Starts the REST (TLS) and gateway (ws) servers on 127.0.0.1 (free ports)
    /// on the current runtime; they run until the runtime ends.
    pub async fn start() -> FakeDiscord {
        paperbot::install_crypto_provider();
        let rest = TcpListener::bind("127.0.0.1:0").await.expect("bind fake Discord REST");
        let gateway = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Discord gateway");
        let rest_addr = rest.local_addr().expect("REST addr");
        let gateway_addr = gateway.local_addr().expect("gateway addr");
        let shared = Arc::new(Shared {
            rest_addr,
            gateway_url: format!("ws://{gateway_addr}"),
            state: Mutex::new(FakeState::default()),
            ids: AtomicU64::new(1_400_000_000_000_000_000),
        });

        let listener = TlsListener::start(rest, tls_config(), shared.clone());
        let router = Router::new()
            .fallback(handle_rest)
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(shared.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("fake Discord REST server");
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

    /// The REST server's address (`discord.com` resolves here in [`Self::http_client`]).
    pub fn rest_addr(&self) -> SocketAddr {
        self.shared.rest_addr
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
        // A root certificate is not enough: the certificate is self-signed with
        // CA:TRUE, which webpki refuses as a server certificate
        // (CaUsedAsEndEntity), so the client pins it instead.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pinned = PinnedCert {
            cert: fake_cert(),
            provider: provider.clone(),
        };
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(pinned))
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        reqwest_012::Client::builder()
            .use_preconfigured_tls(tls)
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
        let start = Instant::now();
        loop {
            {
                let st = self.state();
                if st.session.is_some() && st.identify.is_some() {
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
            "fake Discord: no READY within {timeout:?} at {}: {why}. REST calls seen: {}",
            self.shared.gateway_url,
            summary(&st)
        );
    }

    /// The `d` of the bot's IDENTIFY (token, intents, shard, properties...).
    pub fn identify(&self) -> Option<Value> {
        self.state().identify.clone()
    }

    /// Every frame the bot sent over the gateway, in order (heartbeats included).
    pub fn gateway_frames(&self) -> Vec<Value> {
        self.state().gateway_frames.clone()
    }

    /// Sends `{"op":0,"t":event,"s":next,"d":data}` to the identified bot
    /// (waits up to 10 s for one, then panics). MESSAGE_CREATE/UPDATE are
    /// filtered by the IDENTIFY intents like Discord does (see the module docs).
    pub async fn dispatch(&self, event: &str, data: Value) {
        let start = Instant::now();
        while self.state().session.is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                panic!(
                    "fake Discord: dispatch({event}) but no bot is identified on the gateway (call wait_ready first); \
                     REST calls seen: {}",
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
                }
            }
            "MESSAGE_CREATE" | "MESSAGE_UPDATE" => {
                if let Some(id) = id_of(&data["id"]) {
                    st.messages.insert(id, data.clone());
                }
                let intents = st.identify.as_ref().and_then(|d| d["intents"].as_u64()).unwrap_or(0);
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
        send_dispatch(&mut st, event, data);
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
    /// gets a Discord-style 429 (`retry_after` seconds, bucket headers, scope
    /// user); later ones succeed.
    pub fn fail_next(&self, method: &str, path_contains: &str, retry_after_secs: f64) {
        self.state().failures.push(Failure {
            method: method.to_uppercase(),
            path_contains: path_contains.to_string(),
            retry_after: retry_after_secs,
        });
    }

    /// A message the fake knows (created over REST or dispatched), as JSON.
    pub fn message_state(&self, id: u64) -> Option<Value> {
        self.state().messages.get(&id).cloned()
    }

    /// Threads created so far (thread id = starter message id), as channel JSON.
    pub fn threads(&self) -> Vec<Value> {
        self.state().threads.values().cloned().collect()
    }

    // ---- payload builders (the `d` of a dispatch) ----------------------------

    /// INTERACTION_CREATE, type 2 (slash command), in GUILD_ID/CHANNEL_ID from
    /// USER_ID; `options` is an array of `{name, type, value}`.
    pub fn slash_command(interaction_id: u64, name: &str, options: Value) -> Value {
        let options = if options.is_null() { json!([]) } else { options };
        interaction(
            interaction_id,
            2,
            json!({
                "id": command_id(name).to_string(),
                "name": name,
                "type": 1,
                "options": options,
            }),
        )
    }

    /// INTERACTION_CREATE, type 4 (autocomplete): `option` focused with `partial`.
    pub fn autocomplete(interaction_id: u64, name: &str, option: &str, partial: &str) -> Value {
        interaction(
            interaction_id,
            4,
            json!({
                "id": command_id(name).to_string(),
                "name": name,
                "type": 1,
                "options": [{"name": option, "type": 3, "value": partial, "focused": true}],
            }),
        )
    }

    /// INTERACTION_CREATE, type 3: a click on button `custom_id` of the bot's
    /// message `message_id` in CHANNEL_ID.
    pub fn component_click(interaction_id: u64, custom_id: &str, message_id: u64) -> Value {
        let mut v = interaction(interaction_id, 3, json!({"custom_id": custom_id, "component_type": 2}));
        let mut msg = message_object(message_id, CHANNEL_ID, bot_user(), "", 0);
        msg["components"] = json!([{
            "type": 1,
            "id": 1,
            "components": [{"type": 2, "id": 2, "style": 2, "label": "button", "custom_id": custom_id}],
        }]);
        msg["application_id"] = json!(APP_ID.to_string());
        msg["webhook_id"] = json!(APP_ID.to_string());
        v["message"] = msg;
        v
    }

    /// MESSAGE_CREATE in GUILD_ID; `mentions` become user objects (with `member`).
    pub fn message(
        message_id: u64,
        channel_id: u64,
        author_id: u64,
        author_is_bot: bool,
        content: &str,
        mentions: &[u64],
    ) -> Value {
        let mut m = message_object(message_id, channel_id, user(author_id, author_is_bot), content, 0);
        m["guild_id"] = json!(GUILD_ID.to_string());
        m["member"] = partial_member();
        m["mentions"] = mentions
            .iter()
            .map(|&id| {
                let mut u = user(id, id == BOT_USER_ID);
                u["member"] = partial_member();
                u
            })
            .collect();
        m["nonce"] = json!(message_id.to_string());
        m
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.shared.lock()
    }
}

/// Module-level forms of the payload builders (`fake_discord::slash_command(..)`
/// as well as `FakeDiscord::slash_command(..)`).
pub fn slash_command(interaction_id: u64, name: &str, options: Value) -> Value {
    FakeDiscord::slash_command(interaction_id, name, options)
}

pub fn autocomplete(interaction_id: u64, name: &str, option: &str, partial: &str) -> Value {
    FakeDiscord::autocomplete(interaction_id, name, option, partial)
}

pub fn component_click(interaction_id: u64, custom_id: &str, message_id: u64) -> Value {
    FakeDiscord::component_click(interaction_id, custom_id, message_id)
}

pub fn message(
    message_id: u64,
    channel_id: u64,
    author_id: u64,
    author_is_bot: bool,
    content: &str,
    mentions: &[u64],
) -> Value {
    FakeDiscord::message(message_id, channel_id, author_id, author_is_bot, content, mentions)
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
            .map(|c| format!("\n  {} {} {}", c.method, c.path, c.body))
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

// ---- JSON objects -------------------------------------------------------------

fn user(id: u64, bot: bool) -> Value {
    let name = match id {
        BOT_USER_ID => BOT_NAME.to_string(),
        USER_ID => USER_NAME.to_string(),
        _ => format!("user{}", id % 100_000),
    };
    let mut u = json!({
        "id": id.to_string(),
        "username": name,
        "discriminator": "0",
        "global_name": if bot { Value::Null } else { json!(name.to_uppercase()) },
        "avatar": null,
        "public_flags": 0,
        "flags": 0,
        "banner": null,
        "accent_color": null,
        "avatar_decoration_data": null,
        "primary_guild": null,
        "collectibles": null,
    });
    if bot {
        u["bot"] = json!(true);
    }
    u
}

fn bot_user() -> Value {
    user(BOT_USER_ID, true)
}

/// `GET /users/@me` / READY's user: the bot with its private fields.
fn current_user() -> Value {
    let mut u = bot_user();
    u["verified"] = json!(true);
    u["mfa_enabled"] = json!(false);
    u["email"] = Value::Null;
    u["locale"] = json!(GUILD_LOCALE);
    u["premium_type"] = json!(0);
    u
}

fn partial_member() -> Value {
    json!({
        "roles": [],
        "nick": null,
        "avatar": null,
        "banner": null,
        "premium_since": null,
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": null,
        "unusual_dm_activity_until": null,
    })
}

fn member(user_id: u64) -> Value {
    let mut m = partial_member();
    m["user"] = user(user_id, false);
    m["permissions"] = json!(PERMISSIONS);
    m
}

fn text_channel(id: u64) -> Value {
    json!({
        "id": id.to_string(),
        "type": 0,
        "guild_id": GUILD_ID.to_string(),
        "name": if id == CHANNEL_ID { "papers".to_string() } else { format!("channel-{}", id % 100_000) },
        "position": 0,
        "permission_overwrites": [],
        "parent_id": null,
        "topic": null,
        "nsfw": false,
        "last_message_id": null,
        "rate_limit_per_user": 0,
        "flags": 0,
    })
}

fn message_object(id: u64, channel_id: u64, author: Value, content: &str, kind: u8) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": author,
        "content": content,
        "timestamp": now(),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "pinned": false,
        "type": kind,
        "flags": 0,
    })
}

fn interaction(id: u64, kind: u8, data: Value) -> Value {
    let mut channel = text_channel(CHANNEL_ID);
    channel["permissions"] = json!(PERMISSIONS);
    json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "guild_id": GUILD_ID.to_string(),
        "guild": {"id": GUILD_ID.to_string(), "locale": GUILD_LOCALE, "features": []},
        "channel_id": CHANNEL_ID.to_string(),
        "channel": channel,
        "member": member(USER_ID),
        "token": format!("itoken-{id}"),
        "version": 1,
        "app_permissions": PERMISSIONS,
        "locale": "en-US",
        "guild_locale": GUILD_LOCALE,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    })
}

fn application() -> Value {
    json!({
        "id": APP_ID.to_string(),
        "name": BOT_NAME,
        "icon": null,
        "description": "",
        "summary": "",
        "type": null,
        "hook": true,
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "owner": user(USER_ID, false),
        "team": null,
        "flags": 0,
        "tags": [],
        "rpc_origins": [],
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "approximate_guild_count": 1,
        "bot": bot_user(),
    })
}

// ---- gateway --------------------------------------------------------------------

fn frame(v: &Value) -> WsMessage {
    WsMessage::Text(v.to_string())
}

fn send_dispatch(st: &mut FakeState, event: &str, data: Value) {
    st.seq += 1;
    let f = json!({"op": 0, "s": st.seq, "t": event, "d": data});
    if let Some((_, tx)) = &st.session {
        let _ = tx.send(frame(&f));
    }
}

async fn gateway_connection(shared: Arc<Shared>, tcp: TcpStream, conn: u64) {
    let ws = match tokio_tungstenite::accept_async(tcp).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("fake Discord gateway: websocket handshake failed: {e}");
            return;
        }
    };
    shared.lock().ws_connections += 1;
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<WsMessage>();
    let hello = json!({"op": 10, "s": null, "t": null, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS, "_trace": ["fake-discord"]}});
    let _ = tx.send(frame(&hello));
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => on_gateway_frame(&shared, &tx, conn, &text),
                Some(Ok(WsMessage::Binary(_))) => {
                    let _ = tx.send(close(4002, "Decode error"));
                }
                Some(Ok(WsMessage::Close(_))) => {
                    // tungstenite has queued the closing handshake's reply; send it.
                    let _ = sink.close().await;
                    break;
                }
                None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            outgoing = rx.recv() => match outgoing {
                Some(msg) => {
                    let closing = matches!(msg, WsMessage::Close(_));
                    if sink.send(msg).await.is_err() || closing {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let mut st = shared.lock();
    if st.session.as_ref().is_some_and(|(c, _)| *c == conn) {
        st.session = None;
    }
}

fn close(code: u16, reason: &'static str) -> WsMessage {
    WsMessage::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// Handles one frame from the bot (replies go through `tx`, in order).
fn on_gateway_frame(shared: &Shared, tx: &mpsc::UnboundedSender<WsMessage>, conn: u64, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        let _ = tx.send(close(4002, "Decode error"));
        return;
    };
    let mut st = shared.lock();
    st.gateway_frames.push(v.clone());
    match v["op"].as_u64() {
        Some(1) => {
            let _ = tx.send(frame(&json!({"op": 11, "s": null, "t": null, "d": null})));
        }
        Some(2) => {
            let d = v["d"].clone();
            let token = d["token"].as_str().unwrap_or_default();
            if token.strip_prefix("Bot ").unwrap_or(token) != TOKEN {
                st.bad_identify = Some(format!("{token:?}"));
                let _ = tx.send(close(4004, "Authentication failed."));
                return;
            }
            let session_id = format!("fake-session-{conn}");
            st.identify = Some(d.clone());
            st.session_id = Some(session_id.clone());
            st.session = Some((conn, tx.clone()));
            st.seq = 0;
            let shard = if d["shard"].is_array() {
                d["shard"].clone()
            } else {
                json!([0, 1])
            };
            let ready = json!({
                "v": 10,
                "user": current_user(),
                "guilds": [],
                "session_id": session_id,
                "session_type": "normal",
                "resume_gateway_url": shared.gateway_url,
                "shard": shard,
                "application": {"id": APP_ID.to_string(), "flags": 0},
                "private_channels": [],
                "presences": [],
                "relationships": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": ["local"],
                "user_settings": {},
                "auth": {},
                "_trace": ["fake-discord"],
            });
            send_dispatch(&mut st, "READY", ready);
        }
        Some(6) => {
            let d = &v["d"];
            let token = d["token"].as_str().unwrap_or_default();
            let known = st.session_id.as_deref() == d["session_id"].as_str();
            if token.strip_prefix("Bot ").unwrap_or(token) != TOKEN {
                let _ = tx.send(close(4004, "Authentication failed."));
            } else if !known {
                let _ = tx.send(frame(&json!({"op": 9, "s": null, "t": null, "d": false})));
            } else {
                st.session = Some((conn, tx.clone()));
                send_dispatch(&mut st, "RESUMED", json!({"_trace": ["fake-discord"]}));
            }
        }
        // presence update, voice state, request guild members, soundboard: accepted, ignored
        Some(3 | 4 | 8 | 31) => {}
        _ => {
            let _ = tx.send(close(4001, "Unknown opcode"));
        }
    }
}

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

// ---- TLS listener for axum ---------------------------------------------------------

fn fake_cert() -> CertificateDer<'static> {
    let pem = std::fs::read(data_dir().join("fake-discord.crt")).expect("read tests/data/fake-discord.crt");
    CertificateDer::from_pem_slice(&pem).expect("parse fake-discord.crt")
}

fn tls_config() -> Arc<rustls::ServerConfig> {
    let key_pem = std::fs::read(data_dir().join("fake-discord.key")).expect("read tests/data/fake-discord.key");
    let certs = vec![fake_cert()];
    let key = PrivateKeyDer::from_pem_slice(&key_pem).expect("parse fake-discord.key");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("fake Discord certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The client side: only the fake's own certificate is accepted.
#[derive(Debug)]
struct PinnedCert {
    cert: CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Accepts TCP and does TLS handshakes in the background (a stalled or failed
/// handshake never blocks the next connection), handing finished streams to axum.
struct TlsListener {
    rx: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    fn start(tcp: TcpListener, config: Arc<rustls::ServerConfig>, shared: Arc<Shared>) -> TlsListener {
        let addr = tcp.local_addr().expect("REST addr");
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let failure = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                            return;
                        }
                        Ok(Err(e)) => format!("TLS handshake from {peer} failed: {e}"),
                        Err(_) => format!("TLS handshake from {peer} timed out"),
                    };
                    eprintln!("fake Discord REST: {failure}");
                    shared.lock().tls_failures.push(failure);
                });
            }
        });
        TlsListener { rx, addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

// ---- REST ------------------------------------------------------------------------

fn json_reply(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn no_content() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

fn error(status: StatusCode, code: u64, message: &str) -> Response {
    json_reply(status, &json!({"message": message, "code": code}))
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, 0, "404: Not Found")
}

/// 400 "Invalid Form Body" with Discord's nested `errors` at `path` (dot separated).
fn form_error(path: &str, code: &str, message: &str) -> Response {
    let mut errors = json!({"_errors": [{"code": code, "message": message}]});
    for key in path.rsplit('.').filter(|k| !k.is_empty()) {
        let mut outer = Map::new();
        outer.insert(key.to_string(), errors);
        errors = Value::Object(outer);
    }
    json_reply(
        StatusCode::BAD_REQUEST,
        &json!({"message": "Invalid Form Body", "code": 50035, "errors": errors}),
    )
}

fn rate_limited(secs: f64, bucket: &str) -> Response {
    let mut r = json_reply(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"message": "You are being rate limited.", "retry_after": secs, "global": false}),
    );
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        + secs;
    let h = r.headers_mut();
    for (name, value) in [
        ("retry-after", format!("{secs}")),
        ("x-ratelimit-limit", "5".to_string()),
        ("x-ratelimit-remaining", "0".to_string()),
        ("x-ratelimit-reset", format!("{reset:.3}")),
        ("x-ratelimit-reset-after", format!("{secs:.3}")),
        ("x-ratelimit-bucket", bucket.to_string()),
        ("x-ratelimit-scope", "user".to_string()),
    ] {
        h.insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    r
}

/// Successful replies carry bucket headers that never run out.
fn with_bucket(mut r: Response, bucket: &str) -> Response {
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        + 1.0;
    let h = r.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", "50".to_string()),
        ("x-ratelimit-remaining", "49".to_string()),
        ("x-ratelimit-reset", format!("{reset:.3}")),
        ("x-ratelimit-reset-after", "1.000".to_string()),
        ("x-ratelimit-bucket", bucket.to_string()),
    ] {
        h.insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    r
}

/// A bucket name per route shape (ids replaced), like Discord's opaque hashes.
fn bucket_of(method: &Method, path: &str) -> String {
    let shape: Vec<&str> = path
        .split('/')
        .map(|s| {
            if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
                "id"
            } else {
                s
            }
        })
        .collect();
    let key = format!("{method} {}", shape.join("/"));
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> (Value, Vec<(String, Vec<u8>)>) {
    if body.is_empty() {
        return (Value::Null, vec![]);
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ct.starts_with("multipart/form-data") {
        let mut payload = Value::Null;
        let mut files = vec![];
        for part in multipart_parts(ct, body) {
            if part.name == "payload_json" {
                payload = serde_json::from_slice(&part.data).unwrap_or(Value::Null);
            } else {
                files.push((part.filename.unwrap_or(part.name), part.data));
            }
        }
        return (payload, files);
    }
    let value = serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()));
    (value, vec![])
}

struct Part {
    name: String,
    filename: Option<String>,
    data: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// A minimal multipart/form-data reader (what reqwest sends).
fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<Part> {
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
    else {
        return vec![];
    };
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = vec![];
    let Some(mut pos) = find(body, &delim, 0) else {
        return parts;
    };
    loop {
        let start = pos + delim.len();
        if body[start..].starts_with(b"--") {
            break;
        }
        let Some(next) = find(body, &delim, start) else { break };
        let mut chunk = &body[start..next];
        chunk = chunk.strip_prefix(b"\r\n").unwrap_or(chunk);
        chunk = chunk.strip_suffix(b"\r\n").unwrap_or(chunk);
        if let Some(split) = find(chunk, b"\r\n\r\n", 0) {
            let head = String::from_utf8_lossy(&chunk[..split]).to_string();
            let data = chunk[split + 4..].to_vec();
            let param = |key: &str| {
                let pat = format!("{key}=\"");
                let at = head.find(&pat)? + pat.len();
                let end = head[at..].find('"')? + at;
                Some(head[at..end].to_string())
            };
            parts.push(Part {
                name: param("name").unwrap_or_default(),
                filename: param("filename"),
                data,
            });
        }
        pos = next;
    }
    parts
}

async fn handle_rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let (json_body, files) = parse_body(&headers, &body);
    let call = RestCall {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers.clone(),
        body: json_body.clone(),
        files: files.clone(),
        at: Instant::now(),
    };
    let bucket = bucket_of(&method, &path);
    let fail = {
        let mut st = shared.lock();
        let hit = st
            .failures
            .iter()
            .position(|f| f.method == method.as_str() && path.contains(&f.path_contains));
        hit.map(|i| st.failures.remove(i).retry_after)
    };
    let reply = match fail {
        Some(secs) => rate_limited(secs, &bucket),
        None => with_bucket(
            route(&shared, &method, &path, &headers, &json_body, &files).unwrap_or_else(|e| e),
            &bucket,
        ),
    };
    // Recorded once handled: a call seen by `wait_for` has had its effect on the fake's state.
    shared.lock().calls.push(call);
    reply
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Value,
    files: &[(String, Vec<u8>)],
) -> Reply {
    let Some(rest) = path.strip_prefix("/api/v10/") else {
        return Err(not_found());
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let m = method.as_str();

    // Interaction callbacks and webhooks are authorised by their token, the rest by the bot token.
    let token_auth = matches!(segs.first(), Some(&"interactions" | &"webhooks")) || segs == ["gateway"];
    if !token_auth {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if auth != format!("Bot {TOKEN}") {
            return Err(error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized"));
        }
    }

    match (m, segs.as_slice()) {
        ("GET", ["gateway"]) => Ok(json_reply(StatusCode::OK, &json!({"url": shared.gateway_url}))),
        ("GET", ["gateway", "bot"]) => Ok(json_reply(
            StatusCode::OK,
            &json!({
                "url": shared.gateway_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
            }),
        )),
        ("GET", ["users", "@me"]) => Ok(json_reply(StatusCode::OK, &current_user())),
        ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => {
            Ok(json_reply(StatusCode::OK, &application()))
        }
        ("PUT", ["applications", app, "commands"]) => put_commands(shared, app, None, body),
        ("PUT", ["applications", app, "guilds", g, "commands"]) => put_commands(shared, app, Some(*g), body),
        ("GET", ["applications", app, "commands"]) => get_commands(shared, app, None),
        ("GET", ["applications", app, "guilds", g, "commands"]) => get_commands(shared, app, Some(*g)),
        ("POST", ["interactions", id, token, "callback"]) => callback(shared, id, token, body, files),
        (_, ["webhooks", app, token, "messages", which]) => webhook_message(shared, m, app, token, which, body, files),
        ("POST", ["webhooks", app, token]) => followup(shared, app, token, body, files),
        ("POST", ["channels", ch, "messages"]) => create_message(shared, ch, body, files),
        ("GET", ["channels", ch, "messages"]) => list_messages(shared, ch),
        (_, ["channels", ch, "messages", mid]) => channel_message(shared, m, ch, mid, body, files),
        ("POST", ["channels", ch, "messages", mid, "threads"]) => create_thread(shared, ch, mid, body),
        ("POST", ["channels", _, "typing"]) => Ok(no_content()),
        ("GET", ["channels", ch]) => {
            let id = snowflake(ch)?;
            let st = shared.lock();
            Ok(json_reply(
                StatusCode::OK,
                &st.threads.get(&id).cloned().unwrap_or_else(|| text_channel(id)),
            ))
        }
        _ => Err(not_found()),
    }
}

fn snowflake(s: &str) -> Result<u64, Response> {
    s.parse::<u64>()
        .ok()
        .filter(|&id| id > 0)
        .ok_or_else(|| form_error("", "NUMBER_TYPE_COERCE", &format!("Value \"{s}\" is not snowflake.")))
}

fn check_app(app: &str) -> Result<(), Response> {
    if app.parse::<u64>().ok() == Some(APP_ID) {
        Ok(())
    } else {
        Err(error(StatusCode::NOT_FOUND, 10002, "Unknown Application"))
    }
}

fn check_webhook(st: &FakeState, app: &str, token: &str) -> Result<(), Response> {
    let acked = token
        .strip_prefix("itoken-")
        .and_then(|id| id.parse::<u64>().ok())
        .is_some_and(|id| st.acknowledged.contains(&id));
    if app.parse::<u64>().ok() != Some(APP_ID) || !acked {
        return Err(error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook"));
    }
    Ok(())
}

// ---- messages ----------------------------------------------------------------------

/// Discord's length limits on a message body (create or edit).
fn check_limits(body: &Value) -> Result<(), Response> {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    if len(&body["content"]) > 2000 {
        return Err(form_error(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    if let Some(embeds) = body["embeds"].as_array() {
        if embeds.len() > 10 {
            return Err(form_error(
                "embeds",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 10 or fewer in length.",
            ));
        }
        let mut total = 0;
        for (i, e) in embeds.iter().enumerate() {
            for (key, max) in [("title", 256), ("description", 4096)] {
                if len(&e[key]) > max {
                    return Err(form_error(
                        &format!("embeds.{i}.{key}"),
                        "BASE_TYPE_MAX_LENGTH",
                        &format!("Must be {max} or fewer in length."),
                    ));
                }
                total += len(&e[key]);
            }
            for (key, inner, max) in [("footer", "text", 2048), ("author", "name", 256)] {
                if len(&e[key][inner]) > max {
                    return Err(form_error(
                        &format!("embeds.{i}.{key}.{inner}"),
                        "BASE_TYPE_MAX_LENGTH",
                        &format!("Must be {max} or fewer in length."),
                    ));
                }
                total += len(&e[key][inner]);
            }
            let fields = e["fields"].as_array().map(Vec::as_slice).unwrap_or_default();
            if fields.len() > 25 {
                return Err(form_error(
                    &format!("embeds.{i}.fields"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                ));
            }
            for (j, f) in fields.iter().enumerate() {
                for (key, max) in [("name", 256), ("value", 1024)] {
                    let n = len(&f[key]);
                    if n == 0 || n > max {
                        return Err(form_error(
                            &format!("embeds.{i}.fields.{j}.{key}"),
                            if n == 0 {
                                "BASE_TYPE_REQUIRED"
                            } else {
                                "BASE_TYPE_MAX_LENGTH"
                            },
                            &if n == 0 {
                                "This field is required".to_string()
                            } else {
                                format!("Must be {max} or fewer in length.")
                            },
                        ));
                    }
                    total += n;
                }
            }
        }
        if total > 6000 {
            return Err(form_error(
                "embeds",
                "MAX_EMBED_SIZE_EXCEEDED",
                "Embed size exceeds maximum size of 6000",
            ));
        }
    }
    if body["components"].as_array().is_some_and(|c| c.len() > 5) {
        return Err(form_error(
            "components",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 5 or fewer in length.",
        ));
    }
    Ok(())
}

fn check_not_empty(body: &Value, files: &[(String, Vec<u8>)]) -> Result<(), Response> {
    let non_empty = |k: &str| match &body[k] {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Null => false,
        _ => true,
    };
    let has_poll = !body["poll"].is_null();
    if files.is_empty()
        && !has_poll
        && !["content", "embeds", "components", "sticker_ids"]
            .iter()
            .any(|k| non_empty(k))
    {
        return Err(error(StatusCode::BAD_REQUEST, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

fn attachments(shared: &Shared, channel_id: u64, files: &[(String, Vec<u8>)]) -> Vec<Value> {
    files
        .iter()
        .map(|(name, data)| {
            let id = shared.new_id();
            let url = format!("https://cdn.discordapp.com/attachments/{channel_id}/{id}/{name}");
            json!({
                "id": id.to_string(),
                "filename": name,
                "size": data.len(),
                "url": url,
                "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
                "content_type": if name.ends_with(".txt") { "text/plain; charset=utf-8" } else { "application/octet-stream" },
            })
        })
        .collect()
}

fn normalized_embeds(embeds: &Value) -> Value {
    let mut out = embeds.as_array().cloned().unwrap_or_default();
    for e in &mut out {
        if e.get("type").is_none_or(Value::is_null) {
            e["type"] = json!("rich");
        }
    }
    Value::Array(out)
}

/// Applies a create/edit body to a message object (content, embeds, components, flags, files).
fn apply_body(shared: &Shared, msg: &mut Value, body: &Value, files: &[(String, Vec<u8>)], edit: bool) {
    let obj = body.as_object().cloned().unwrap_or_default();
    if let Some(c) = obj.get("content") {
        msg["content"] = if c.is_null() { json!("") } else { c.clone() };
    }
    if let Some(e) = obj.get("embeds") {
        msg["embeds"] = normalized_embeds(e);
    }
    if let Some(c) = obj.get("components") {
        msg["components"] = if c.is_null() { json!([]) } else { c.clone() };
    }
    if let Some(f) = obj.get("flags").and_then(Value::as_u64) {
        msg["flags"] = json!(f);
    }
    if obj.get("tts").and_then(Value::as_bool) == Some(true) {
        msg["tts"] = json!(true);
    }
    let channel_id = id_of(&msg["channel_id"]).unwrap_or(CHANNEL_ID);
    let new = attachments(shared, channel_id, files);
    if edit {
        // On edit, `attachments` lists the old ones to keep (by id); new files are added.
        if let Some(keep) = obj.get("attachments").and_then(Value::as_array) {
            let ids: HashSet<u64> = keep.iter().filter_map(|a| id_of(&a["id"])).collect();
            let kept: Vec<Value> = msg["attachments"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|a| id_of(&a["id"]).is_some_and(|id| ids.contains(&id)))
                .collect();
            msg["attachments"] = Value::Array(kept);
        }
        if let Some(list) = msg["attachments"].as_array_mut() {
            list.extend(new);
        }
        msg["edited_timestamp"] = json!(now());
    } else {
        msg["attachments"] = Value::Array(new);
    }
    // Mentions of users written as <@id> in the content.
    let content = msg["content"].as_str().unwrap_or_default().to_string();
    let mut mentions = vec![];
    for piece in content.split("<@").skip(1) {
        let digits: String = piece
            .trim_start_matches('!')
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(id) = digits.parse::<u64>()
            && !mentions.iter().any(|u: &Value| id_of(&u["id"]) == Some(id))
        {
            mentions.push(user(id, id == BOT_USER_ID));
        }
    }
    msg["mentions"] = Value::Array(mentions);
}

/// `GET /channels/{id}/messages`: the channel's messages, newest first (up to 50).
fn list_messages(shared: &Shared, ch: &str) -> Reply {
    let channel_id = snowflake(ch)?;
    let st = shared.lock();
    let mut msgs: Vec<(u64, Value)> = st
        .messages
        .iter()
        .filter(|(_, m)| id_of(&m["channel_id"]) == Some(channel_id))
        .map(|(id, m)| (*id, m.clone()))
        .collect();
    msgs.sort_by(|a, b| b.0.cmp(&a.0));
    let list: Vec<Value> = msgs.into_iter().take(50).map(|(_, m)| m).collect();
    Ok(json_reply(StatusCode::OK, &Value::Array(list)))
}

fn create_message(shared: &Shared, ch: &str, body: &Value, files: &[(String, Vec<u8>)]) -> Reply {
    let channel_id = snowflake(ch)?;
    check_limits(body)?;
    check_not_empty(body, files)?;
    let id = shared.new_id();
    let reference = &body["message_reference"];
    let kind = if reference.is_object() { 19 } else { 0 };
    let mut msg = message_object(id, channel_id, bot_user(), "", kind);
    apply_body(shared, &mut msg, body, files, false);
    let mut st = shared.lock();
    if reference.is_object() {
        let ref_id = id_of(&reference["message_id"]);
        msg["message_reference"] = json!({
            "type": reference["type"].as_u64().unwrap_or(0),
            "message_id": ref_id.map(|i| i.to_string()),
            "channel_id": id_of(&reference["channel_id"]).unwrap_or(channel_id).to_string(),
            "guild_id": id_of(&reference["guild_id"]).unwrap_or(GUILD_ID).to_string(),
        });
        msg["referenced_message"] = ref_id
            .and_then(|i| st.messages.get(&i))
            .cloned()
            .map(|mut m| {
                // A referenced message carries no nested reference or guild fields.
                if let Some(o) = m.as_object_mut() {
                    for k in ["referenced_message", "guild_id", "member", "nonce"] {
                        o.remove(k);
                    }
                }
                m
            })
            .unwrap_or(Value::Null);
    }
    if let Some(nonce) = body.get("nonce").filter(|n| !n.is_null()) {
        msg["nonce"] = nonce.clone();
    }
    st.messages.insert(id, msg.clone());
    if st.echo_bot_messages && st.session.is_some() {
        let mut event = msg.clone();
        event["guild_id"] = json!(GUILD_ID.to_string());
        event["member"] = partial_member();
        send_dispatch(&mut st, "MESSAGE_CREATE", event);
    }
    Ok(json_reply(StatusCode::OK, &msg))
}

fn channel_message(shared: &Shared, m: &str, ch: &str, mid: &str, body: &Value, files: &[(String, Vec<u8>)]) -> Reply {
    let channel_id = snowflake(ch)?;
    let id = snowflake(mid)?;
    let mut st = shared.lock();
    let unknown = || error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    let known = st
        .messages
        .get(&id)
        .filter(|msg| id_of(&msg["channel_id"]) == Some(channel_id))
        .cloned();
    match m {
        "GET" => known.map(|msg| json_reply(StatusCode::OK, &msg)).ok_or_else(unknown),
        "DELETE" => {
            st.messages.remove(&id);
            Ok(no_content())
        }
        "PATCH" => {
            check_limits(body)?;
            // Editing a message the fake never saw still works (it may predate the test).
            let mut msg = known.unwrap_or_else(|| message_object(id, channel_id, bot_user(), "", 0));
            if id_of(&msg["author"]["id"]) != Some(BOT_USER_ID) && body.get("content").is_some() {
                return Err(error(
                    StatusCode::FORBIDDEN,
                    50005,
                    "Cannot edit a message authored by another user",
                ));
            }
            apply_body(shared, &mut msg, body, files, true);
            st.messages.insert(id, msg.clone());
            Ok(json_reply(StatusCode::OK, &msg))
        }
        _ => Err(error(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed")),
    }
}

fn create_thread(shared: &Shared, ch: &str, mid: &str, body: &Value) -> Reply {
    let parent = snowflake(ch)?;
    let id = snowflake(mid)?;
    let name = body["name"].as_str().unwrap_or_default();
    let n = name.chars().count();
    if n == 0 || n > 100 {
        return Err(form_error(
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        ));
    }
    let mut st = shared.lock();
    if st.threads.contains_key(&id) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            160004,
            "A thread has already been created for this message",
        ));
    }
    let ts = now();
    let thread = json!({
        "id": id.to_string(),
        "type": 11,
        "guild_id": GUILD_ID.to_string(),
        "parent_id": parent.to_string(),
        "owner_id": BOT_USER_ID.to_string(),
        "name": name,
        "last_message_id": null,
        "rate_limit_per_user": body["rate_limit_per_user"].as_u64().unwrap_or(0),
        "flags": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "thread_metadata": {
            "archived": false,
            "auto_archive_duration": body["auto_archive_duration"].as_u64().unwrap_or(4320),
            "archive_timestamp": ts,
            "locked": false,
            "create_timestamp": ts,
        },
        "member": {"id": id.to_string(), "user_id": BOT_USER_ID.to_string(), "join_timestamp": ts, "flags": 1, "muted": false, "mute_config": null},
    });
    st.threads.insert(id, thread.clone());
    if let Some(msg) = st.messages.get_mut(&id) {
        let mut t = thread.clone();
        if let Some(o) = t.as_object_mut() {
            o.remove("member");
        }
        msg["thread"] = t;
        msg["flags"] = json!(msg["flags"].as_u64().unwrap_or(0) | 32); // HAS_THREAD
    }
    Ok(json_reply(StatusCode::CREATED, &thread))
}

// ---- interactions ------------------------------------------------------------------

fn callback(shared: &Shared, id: &str, token: &str, body: &Value, files: &[(String, Vec<u8>)]) -> Reply {
    let id = snowflake(id)?;
    if token != format!("itoken-{id}") {
        return Err(error(StatusCode::NOT_FOUND, 10062, "Unknown interaction"));
    }
    let kind = body["type"].as_u64().unwrap_or(0);
    let data = &body["data"];
    if !matches!(kind, 1 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 12) {
        return Err(form_error(
            "type",
            "BASE_TYPE_CHOICES",
            "Value must be one of (1, 4, 5, 6, 7, 8, 9, 10, 12).",
        ));
    }
    if matches!(kind, 4 | 7) {
        check_limits(data)?;
    }
    if kind == 4 {
        check_not_empty(data, files)?;
    }
    let mut st = shared.lock();
    if st.acknowledged.contains(&id) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            40060,
            "Interaction has already been acknowledged.",
        ));
    }
    let interaction = st.interactions.get(&id).cloned();
    let channel_id = interaction
        .as_ref()
        .and_then(|i| id_of(&i["channel_id"]))
        .unwrap_or(CHANNEL_ID);
    let clicked = interaction
        .as_ref()
        .map(|i| i["message"].clone())
        .filter(Value::is_object);
    st.acknowledged.insert(id);
    let original = match kind {
        // A new response message (5 = "thinking..." until edited).
        4 | 5 => {
            let mid = shared.new_id();
            let mut msg = message_object(mid, channel_id, bot_user(), "", 20);
            msg["application_id"] = json!(APP_ID.to_string());
            msg["webhook_id"] = json!(APP_ID.to_string());
            msg["interaction_metadata"] = json!({
                "id": id.to_string(),
                "type": interaction.as_ref().map_or(2, |i| i["type"].as_u64().unwrap_or(2)),
                "user": user(USER_ID, false),
                "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
            });
            if kind == 4 {
                apply_body(shared, &mut msg, data, files, false);
            } else {
                msg["flags"] = json!(data["flags"].as_u64().unwrap_or(0) | 128); // LOADING
            }
            Some(msg)
        }
        // The message the component was on (6 = deferred update, 7 = update now).
        6 | 7 => clicked.map(|mut msg| {
            if kind == 7 {
                apply_body(shared, &mut msg, data, files, true);
            }
            msg
        }),
        _ => None,
    };
    if let Some(msg) = original {
        let mid = id_of(&msg["id"]).expect("message id");
        st.originals.insert(token.to_string(), mid);
        st.messages.insert(mid, msg);
    }
    Ok(no_content())
}

fn webhook_message(
    shared: &Shared,
    m: &str,
    app: &str,
    token: &str,
    which: &str,
    body: &Value,
    files: &[(String, Vec<u8>)],
) -> Reply {
    let mut st = shared.lock();
    check_webhook(&st, app, token)?;
    let unknown = || error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    let id = if which == "@original" {
        st.originals.get(token).copied()
    } else {
        Some(snowflake(which)?)
    };
    let Some(id) = id.filter(|id| st.messages.contains_key(id)) else {
        return Err(unknown());
    };
    match m {
        "GET" => Ok(json_reply(StatusCode::OK, &st.messages[&id])),
        "DELETE" => {
            st.messages.remove(&id);
            Ok(no_content())
        }
        "PATCH" => {
            check_limits(body)?;
            let mut msg = st.messages[&id].clone();
            apply_body(shared, &mut msg, body, files, true);
            // The "thinking..." state ends with the first edit.
            let flags = msg["flags"].as_u64().unwrap_or(0) & !128;
            msg["flags"] = json!(flags);
            st.messages.insert(id, msg.clone());
            Ok(json_reply(StatusCode::OK, &msg))
        }
        _ => Err(error(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed")),
    }
}

fn followup(shared: &Shared, app: &str, token: &str, body: &Value, files: &[(String, Vec<u8>)]) -> Reply {
    {
        let st = shared.lock();
        check_webhook(&st, app, token)?;
    }
    check_limits(body)?;
    check_not_empty(body, files)?;
    let id = shared.new_id();
    let mut msg = message_object(id, CHANNEL_ID, bot_user(), "", 0);
    msg["application_id"] = json!(APP_ID.to_string());
    msg["webhook_id"] = json!(APP_ID.to_string());
    apply_body(shared, &mut msg, body, files, false);
    let mut st = shared.lock();
    let interaction_id = token.strip_prefix("itoken-").and_then(|i| i.parse::<u64>().ok());
    if let Some(ch) = interaction_id
        .and_then(|i| st.interactions.get(&i))
        .and_then(|i| id_of(&i["channel_id"]))
    {
        msg["channel_id"] = json!(ch.to_string());
    }
    st.messages.insert(id, msg.clone());
    Ok(json_reply(StatusCode::OK, &msg))
}

// ---- commands --------------------------------------------------------------------

fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name
            .chars()
            .all(|c| c == '-' || c == '_' || (c.is_alphanumeric() && !c.is_uppercase()))
}

fn check_options(options: &Value, path: &str) -> Result<(), Response> {
    let Some(options) = options.as_array() else {
        return Ok(());
    };
    if options.len() > 25 {
        return Err(form_error(
            path,
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        ));
    }
    let mut optional_seen = false;
    for (i, o) in options.iter().enumerate() {
        let p = format!("{path}.{i}");
        let name = o["name"].as_str().unwrap_or_default();
        if !valid_name(name) {
            return Err(form_error(
                &format!("{p}.name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            ));
        }
        let d = o["description"].as_str().map_or(0, |s| s.chars().count());
        if !(1..=100).contains(&d) {
            return Err(form_error(
                &format!("{p}.description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        let kind = o["type"].as_u64().unwrap_or(0);
        if matches!(kind, 1 | 2) {
            check_options(&o["options"], &format!("{p}.options"))?;
            continue;
        }
        let required = o["required"].as_bool().unwrap_or(false);
        if required && optional_seen {
            return Err(form_error(
                &p,
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            ));
        }
        optional_seen |= !required;
        let choices = o["choices"].as_array().map_or(0, Vec::len);
        if choices > 25 {
            return Err(form_error(
                &format!("{p}.choices"),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            ));
        }
        if choices > 0 && o["autocomplete"].as_bool() == Some(true) {
            return Err(form_error(
                &format!("{p}.autocomplete"),
                "AUTOCOMPLETE_CHOICES_INVALID",
                "Autocomplete cannot be set with choices",
            ));
        }
    }
    Ok(())
}

fn put_commands(shared: &Shared, app: &str, guild: Option<&str>, body: &Value) -> Reply {
    check_app(app)?;
    let guild = guild.map(snowflake).transpose()?;
    let Some(list) = body.as_array() else {
        return Err(form_error("", "BASE_TYPE_ARRAY", "Must be an array."));
    };
    let mut out = vec![];
    for (i, c) in list.iter().enumerate() {
        let kind = c["type"].as_u64().unwrap_or(1);
        let name = c["name"].as_str().unwrap_or_default();
        if kind == 1 {
            if !valid_name(name) {
                return Err(form_error(
                    &format!("{i}.name"),
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid",
                ));
            }
            let d = c["description"].as_str().map_or(0, |s| s.chars().count());
            if !(1..=100).contains(&d) {
                return Err(form_error(
                    &format!("{i}.description"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                ));
            }
            check_options(&c["options"], &format!("{i}.options"))?;
        } else if name.is_empty() || name.chars().count() > 32 {
            return Err(form_error(
                &format!("{i}.name"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 32 in length.",
            ));
        }
        let mut cmd: Map<String, Value> = c.as_object().cloned().unwrap_or_default();
        cmd.insert("id".into(), json!(command_id(name).to_string()));
        cmd.insert("application_id".into(), json!(APP_ID.to_string()));
        cmd.insert("version".into(), json!(shared.new_id().to_string()));
        cmd.insert("type".into(), json!(kind));
        cmd.entry("description").or_insert(json!(""));
        cmd.entry("default_member_permissions").or_insert(Value::Null);
        cmd.entry("nsfw").or_insert(json!(false));
        cmd.entry("integration_types").or_insert(json!([0]));
        cmd.entry("contexts").or_insert(Value::Null);
        if let Some(g) = guild {
            cmd.insert("guild_id".into(), json!(g.to_string()));
        }
        out.push(Value::Object(cmd));
    }
    shared.lock().commands.insert(guild, out.clone());
    Ok(json_reply(StatusCode::OK, &Value::Array(out)))
}

fn get_commands(shared: &Shared, app: &str, guild: Option<&str>) -> Reply {
    check_app(app)?;
    let guild = guild.map(snowflake).transpose()?;
    let list = shared.lock().commands.get(&guild).cloned().unwrap_or_default();
    Ok(json_reply(StatusCode::OK, &Value::Array(list)))
}
