//! The Discord adapter (serenity 0.12): parse, defer, call the core,
//! render. Slash commands live in [`commands`], mentions and thread
//! follow-ups in [`mentions`], Discord's shapes and limits in [`render`].
//!
//! Safety invariant: every body the bot sends carries [`no_pings`], so no
//! LLM or paper text can ping anyone (serenity's Http-wide default does not
//! reach interaction edits and followups).

pub mod commands;
pub mod digests;
pub mod limits;
pub mod links;
pub mod mentions;
pub mod render;
pub mod state;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serenity::all::{
    ActivityData, Context, CreateAllowedMentions, EventHandler, GatewayIntents, Http, HttpBuilder, Interaction,
    Message, Ready,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::answer::Answerer;
use limits::{Limits, LimitsConfig};
use state::{Answers, Conversations, FeedbackLog, IndexInfo};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    /// Register commands in this guild only (instant; for development).
    /// Unset: global commands (may take up to an hour to appear).
    pub guild_id: Option<u64>,
    /// Shortest gap between two edits of a streaming answer.
    pub edit_interval_ms: u64,
    pub limits: LimitsConfig,
    /// On SIGTERM/Ctrl-C, how long in-flight answers may take to finish.
    pub shutdown_grace_secs: u64,
    /// Earlier turns a thread follow-up sees.
    pub max_thread_turns: usize,
    /// LLM tokens a guild may spend per day (UTC); unset: no limit.
    pub guild_daily_llm_tokens: Option<u64>,
    /// A digest missed while the bot was down is still posted this late.
    pub digest_grace_minutes: u64,
    /// Discord shards in the whole deployment, and the range this process
    /// runs (it posts the digests of guilds on its shards).
    pub shard_total: u32,
    pub shard_first: u32,
    pub shard_last: u32,
    /// Send Discord REST calls to this HTTP proxy instead of
    /// `https://discord.com` (e.g. `http://127.0.0.1:3000`, a
    /// twilight-http-proxy that several bot processes share). The proxy then
    /// enforces Discord's rate limits: serenity only supports a proxy with its
    /// own ratelimiter off. Unset: direct, with serenity's ratelimiter.
    pub api_proxy: Option<String>,
    /// Answer messages that link arXiv or Hugging Face papers with cards
    /// (and ingest the papers); servers and channels can still turn it off.
    pub link_cards: bool,
    /// Cards in one reply (the other linked papers are ingested all the same).
    pub link_cards_max: usize,
    /// Links read from one message.
    pub links_per_message: usize,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            guild_id: None,
            edit_interval_ms: 1_000,
            limits: LimitsConfig::default(),
            shutdown_grace_secs: 30,
            max_thread_turns: 6,
            guild_daily_llm_tokens: None,
            digest_grace_minutes: 360,
            shard_total: 1,
            shard_first: 0,
            shard_last: 0,
            api_proxy: None,
            link_cards: true,
            link_cards_max: 4,
            links_per_message: 20,
        }
    }
}

/// Allowed mentions that allow nothing: no @everyone/@here, no roles, no
/// users, not even the author of the message replied to.
pub fn no_pings() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
        .everyone(false)
        .all_users(false)
        .all_roles(false)
        .replied_user(false)
}

/// Gateway intents: guild messages for mentions and thread follow-ups.
/// MESSAGE_CONTENT is privileged (enable it in the developer portal): without
/// it, only messages that mention the bot carry their text.
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
}

/// The bot: the answering core plus Discord-side state.
pub struct Bot {
    pub answerer: Arc<Answerer>,
    pub config: DiscordConfig,
    pub limits: Limits,
    pub conversations: Conversations,
    pub answers: Answers,
    pub feedback: FeedbackLog,
    pub info: RwLock<IndexInfo>,
    /// The bot's own user id, from READY.
    pub me: AtomicU64,
    /// The gateway session is up (for `/healthz`).
    pub connected: AtomicBool,
    pub tracker: TaskTracker,
    pub stopping: AtomicBool,
    /// This process's identity in shared state (digest claims).
    pub instance: String,
    /// Fetches papers named by id or link that the library lacks (none:
    /// only the library is searched).
    pub fetcher: Option<Arc<crate::sources::Fetcher>>,
}

impl Bot {
    pub fn new(answerer: Arc<Answerer>, config: DiscordConfig, feedback_path: std::path::PathBuf) -> Bot {
        Bot {
            limits: Limits::new(&config.limits),
            conversations: Conversations::new(10_000, config.max_thread_turns),
            answers: Answers::new(10_000),
            feedback: FeedbackLog::new(feedback_path),
            info: RwLock::new(IndexInfo::default()),
            me: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            tracker: TaskTracker::new(),
            stopping: AtomicBool::new(false),
            instance: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            fetcher: None,
            answerer,
            config,
        }
    }

    pub fn index_info(&self) -> IndexInfo {
        self.info.read().map(|i| i.clone()).unwrap_or_default()
    }

    /// Re-reads paper count and newest date from the store.
    pub async fn refresh_index_info(&self) {
        match crate::store::stats(&self.answerer.library().store).await {
            Ok(s) => {
                if let Ok(mut i) = self.info.write() {
                    *i = IndexInfo {
                        papers: s.count,
                        newest: s.newest_published.or(s.newest_first_seen),
                    };
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read index statistics"),
        }
    }

    /// "offline extracts" or the model in use.
    pub fn llm_label(&self) -> String {
        match self.answerer.llm() {
            Some(l) => format!("answers by {}", l.model()),
            None => "offline mode: quotes from abstracts".into(),
        }
    }
}

struct Handler {
    bot: Arc<Bot>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        self.bot.me.store(ready.user.id.get(), Ordering::Relaxed);
        self.bot.connected.store(true, Ordering::Relaxed);
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
        ctx.set_activity(Some(ActivityData::listening("/ask")));
        let max_question = self.bot.answerer.config().max_question_chars;
        if let Err(e) = commands::register(&ctx.http, self.bot.config.guild_id, max_question).await {
            tracing::error!(error = %e, "registering slash commands failed");
        }
    }

    async fn ratelimit(&self, data: serenity::http::RatelimitInfo) {
        crate::metrics::metrics().discord_ratelimited.inc();
        tracing::info!(path = %data.path, wait_ms = data.timeout.as_millis() as u64, global = data.global, "Discord rate limit");
    }

    async fn shard_stage_update(&self, _ctx: Context, event: serenity::all::ShardStageUpdateEvent) {
        let up = event.new == serenity::gateway::ConnectionStage::Connected;
        self.bot.connected.store(up, Ordering::Relaxed);
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if self.bot.stopping.load(Ordering::Relaxed) {
            return;
        }
        let bot = self.bot.clone();
        self.bot
            .tracker
            .spawn(async move { commands::dispatch(&bot, &ctx, interaction).await });
    }

    async fn message(&self, ctx: Context, msg: Message) {
        if self.bot.stopping.load(Ordering::Relaxed) {
            return;
        }
        let bot = self.bot.clone();
        self.bot
            .tracker
            .spawn(async move { mentions::on_message(&bot, &ctx, msg).await });
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("DISCORD_TOKEN is not set (create a bot at https://discord.com/developers/applications)")]
    NoToken,
    #[error("Discord client: {0}")]
    Client(#[from] serenity::Error),
}

/// Runs the bot until `shutdown` is cancelled, then lets in-flight answers
/// finish (bounded by `shutdown_grace_secs`) and closes the gateway.
pub async fn run(bot: Arc<Bot>, http: Http, shutdown: CancellationToken) -> Result<(), ServeError> {
    bot.refresh_index_info().await;
    let mut client = serenity::client::ClientBuilder::new_with_http(http, intents())
        .event_handler_arc(Arc::new(Handler { bot: bot.clone() }))
        .await?;
    let shards = client.shard_manager.clone();
    let scheduler = tokio::spawn(digests::scheduler(bot.clone(), client.http.clone(), shutdown.clone()));
    let refresher = {
        let bot = bot.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(600)) => bot.refresh_index_info().await,
                }
            }
        })
    };
    let shutdown_seen = shutdown.clone();
    let bot_grace = bot.config.shutdown_grace_secs;
    let stopper = {
        let bot = bot.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tracing::info!("shutting down: finishing answers in flight");
            bot.stopping.store(true, Ordering::Relaxed);
            bot.tracker.close();
            let grace = Duration::from_secs(bot.config.shutdown_grace_secs);
            if tokio::time::timeout(grace, bot.tracker.wait()).await.is_err() {
                tracing::warn!(left = bot.tracker.len(), "answers still running at the grace deadline");
            }
            shards.shutdown_all().await;
        })
    };
    // Scale-out: several processes split Discord's shards; each runs its range
    // (all shared state is in the store, so any process can own any shard).
    let d = &bot.config;
    let start = async {
        if d.shard_total > 1 {
            tracing::info!(
                first = d.shard_first,
                last = d.shard_last,
                total = d.shard_total,
                "running shards"
            );
            // serenity 0.12 reads the range's end as inclusive (it starts
            // `end - start + 1` shards), which is what shard_last is.
            client
                .start_shard_range(d.shard_first..d.shard_last, d.shard_total)
                .await
        } else {
            client.start().await
        }
    };
    // serenity's shard queuer keeps re-queueing a shard that never
    // connected (Discord unreachable), even after `shutdown_all`: a stop
    // request ends the run once the stopper is done plus a short wait, so
    // `docker stop` does not need its SIGKILL.
    let stopped = {
        let shutdown = shutdown_seen.clone();
        async move {
            shutdown.cancelled().await;
            tokio::time::sleep(Duration::from_secs(bot_grace + 5)).await;
        }
    };
    let result = tokio::select! {
        r = start => r,
        () = stopped => {
            tracing::warn!("the Discord client did not stop by itself; leaving it");
            Ok(())
        }
    };
    stopper.abort();
    refresher.abort();
    scheduler.abort();
    result.map_err(ServeError::from)
}

/// The REST client for `token`, through `config.api_proxy` when set.
pub fn http(token: &crate::secret::Secret, config: &DiscordConfig) -> Http {
    crate::install_crypto_provider();
    let builder = HttpBuilder::new(token.expose());
    match &config.api_proxy {
        // serenity 0.12 sends requests through its ratelimiter without the
        // proxy, so the proxy (which rate-limits) takes over that job.
        Some(proxy) => builder.proxy(proxy.trim_end_matches('/')).ratelimiter_disabled(true),
        None => builder,
    }
    .build()
}

/// A shard range as `serve --shard-range` takes it: `a..b` (half-open, as
/// in Rust) or `a..=b` (inclusive), as (first, last).
pub fn parse_shard_range(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not a shard range like 0..2 or 0..=1");
    let (a, b, inclusive) = match s.split_once("..=") {
        Some((a, b)) => (a, b, true),
        None => {
            let (a, b) = s.split_once("..").ok_or_else(bad)?;
            (a, b, false)
        }
    };
    let first: u32 = a.trim().parse().map_err(|_| bad())?;
    let end: u32 = b.trim().parse().map_err(|_| bad())?;
    let last = if inclusive {
        end
    } else {
        end.checked_sub(1).ok_or_else(|| format!("`{s}` is empty"))?
    };
    if last < first {
        return Err(format!("`{s}` is empty"));
    }
    Ok((first, last))
}

/// Anything that can go to a log line with the interaction or message id.
pub(crate) fn log_failure(what: &str, id: u64, e: &dyn std::fmt::Display) {
    tracing::warn!(id, error = %e, "{what} failed");
}

/// Streams an answer into a message by editing it at most once per
/// `interval`: `progress` feeds it (text, or "the model is thinking" until
/// text comes), `finish` stops it (waiting for an edit in flight, so the
/// final edit that follows cannot be overtaken by a preview).
pub(crate) struct Streamer {
    tx: tokio::sync::watch::Sender<Preview>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// What the streamed message shows so far.
#[derive(Debug, Clone, Default)]
struct Preview {
    text: String,
    thinking: bool,
}

/// Shown while a reasoning model thinks and no answer text has come yet.
pub(crate) const THINKING: &str = "*Thinking…*";

impl Streamer {
    pub fn start<F, Fut>(interval: Duration, edit: F) -> Streamer
    where
        F: Fn(String) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let (tx, mut rx) = tokio::sync::watch::channel(Preview::default());
        let stop = CancellationToken::new();
        let stop2 = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    _ = stop2.cancelled() => break,
                    changed = rx.changed() => if changed.is_err() { break },
                }
                let preview = rx.borrow_and_update().clone();
                let shown = if preview.text.is_empty() && preview.thinking {
                    THINKING.to_string()
                } else {
                    render::trim(&preview.text, render::CONTENT_MAX - 2)
                };
                if !shown.is_empty() {
                    edit(shown).await;
                }
                tokio::select! {
                    biased;
                    _ = stop2.cancelled() => break,
                    _ = tokio::time::sleep(interval) => {},
                }
            }
        });
        Streamer { tx, stop, task }
    }

    /// Takes one report of an answer in progress.
    pub fn progress(&self, p: crate::answer::Progress<'_>) {
        match p {
            crate::answer::Progress::Text(t) => self.tx.send_modify(|s| s.text.push_str(t)),
            crate::answer::Progress::Thinking => self.tx.send_modify(|s| s.thinking = true),
        }
    }

    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::parse_shard_range;

    #[test]
    fn shard_ranges_parse_both_ways() {
        assert_eq!(parse_shard_range("0..2"), Ok((0, 1)));
        assert_eq!(parse_shard_range("2..=3"), Ok((2, 3)));
        assert_eq!(parse_shard_range("4..5"), Ok((4, 4)));
        for bad in ["3..3", "3..=2", "1-2", "a..b", "..2", "2.."] {
            assert!(parse_shard_range(bad).is_err(), "{bad}");
        }
    }
}
