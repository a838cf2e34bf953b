//! Daily digests in Discord: `/digest subscribe|unsubscribe|list|preview`,
//! subscriptions and posting state in the store (so restarts, a second
//! process or a move to the Qdrant server keep them), and the scheduler tick
//! that posts each due digest exactly once (see `digest::schedule`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serenity::all::{
    ChannelId, CommandDataOptionValue, CommandInteraction, CommandOptionType, Context, CreateCommand,
    CreateCommandOption, CreateMessage, EditInteractionResponse, GetMessages, Http, MessageId, Nonce, Permissions,
};

use super::render;
use super::{Bot, no_pings};
use crate::digest::schedule::{self, DigestSink, DigestState, Schedule, Tick};
use crate::digest::{self, Digest, DigestRequest};
use crate::store::StoreError;
use crate::store::state::StateStore;

const SUBS: &str = "digest_subscription";
const STATE: &str = "digest_state";
/// Which process is posting a subscription's digest, until when.
const CLAIM: &str = "digest_claim";

/// A channel's digest subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub guild_id: Option<u64>,
    pub channel_id: u64,
    /// Local time of day, `HH:MM`.
    pub time: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    pub topics: Option<String>,
    pub max: usize,
    pub min_upvotes: u32,
}

impl Subscription {
    pub fn key(&self) -> String {
        self.channel_id.to_string()
    }

    pub fn schedule(&self) -> Result<Schedule, String> {
        let time = NaiveTime::parse_from_str(&self.time, "%H:%M")
            .map_err(|_| format!("`{}`: give the time as HH:MM, e.g. 09:00", self.time))?;
        let tz: Tz = self
            .timezone
            .parse()
            .map_err(|_| format!("`{}`: give an IANA time zone, e.g. Europe/Berlin or UTC", self.timezone))?;
        Ok(Schedule { time, tz })
    }
}

/// The `/digest` command and its subcommands.
pub fn definition() -> CreateCommand {
    let sub = |name: &str, desc: &str| CreateCommandOption::new(CommandOptionType::SubCommand, name, desc);
    let channel = || CreateCommandOption::new(CommandOptionType::Channel, "channel", "Channel [default: this one]");
    CreateCommand::new("digest")
        .description("Daily digests of new papers")
        .add_option(
            sub("subscribe", "Post a daily digest in a channel (needs Manage Channels)")
                .add_sub_option(channel())
                .add_sub_option(CreateCommandOption::new(
                    CommandOptionType::String,
                    "time",
                    "Time of day, HH:MM [09:00]",
                ))
                .add_sub_option(CreateCommandOption::new(
                    CommandOptionType::String,
                    "timezone",
                    "IANA time zone, e.g. Europe/Berlin [UTC]",
                ))
                .add_sub_option(CreateCommandOption::new(
                    CommandOptionType::String,
                    "topics",
                    "What matters to you (free text)",
                ))
                .add_sub_option(
                    CreateCommandOption::new(CommandOptionType::Integer, "max", "Papers per digest (1-15) [8]")
                        .min_int_value(1)
                        .max_int_value(15),
                )
                .add_sub_option(
                    CreateCommandOption::new(
                        CommandOptionType::Integer,
                        "min_upvotes",
                        "Only papers with this many upvotes",
                    )
                    .min_int_value(0),
                ),
        )
        .add_option(sub("unsubscribe", "Stop a channel's digest (needs Manage Channels)").add_sub_option(channel()))
        .add_option(sub("list", "This server's digest subscriptions"))
        .add_option(sub(
            "preview",
            "What this channel's digest would post now (only you see it)",
        ))
}

fn options(cmd: &CommandInteraction) -> (String, Vec<(String, CommandDataOptionValue)>) {
    match cmd.data.options.first() {
        Some(o) => match &o.value {
            CommandDataOptionValue::SubCommand(opts) => (
                o.name.clone(),
                opts.iter().map(|x| (x.name.clone(), x.value.clone())).collect(),
            ),
            _ => (o.name.clone(), vec![]),
        },
        None => (String::new(), vec![]),
    }
}

/// The answer to a `/digest` command (deferred, ephemeral).
async fn reply(ctx: &Context, cmd: &CommandInteraction, text: &str) -> serenity::Result<()> {
    cmd.edit_response(
        &ctx.http,
        EditInteractionResponse::new()
            .content(render::trim(text, render::CONTENT_MAX))
            .allowed_mentions(no_pings()),
    )
    .await
    .map(|_| ())
}

/// `/digest …`: every subcommand reads or writes the store, and `preview`
/// builds a digest (an LLM overview may take a while), so all defer at once
/// (Discord drops a first response after 3 s), privately.
pub async fn command(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    cmd.defer_ephemeral(&ctx.http).await?;
    let (name, opts) = options(cmd);
    let get = |n: &str| opts.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let string = |n: &str| match get(n) {
        Some(CommandDataOptionValue::String(s)) => Some(s),
        _ => None,
    };
    let int = |n: &str| match get(n) {
        Some(CommandDataOptionValue::Integer(i)) => Some(i),
        _ => None,
    };
    let channel = match get("channel") {
        Some(CommandDataOptionValue::Channel(c)) => c,
        _ => cmd.channel_id,
    };
    let can_manage = cmd
        .member
        .as_ref()
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.contains(Permissions::MANAGE_CHANNELS));
    let store = &bot.answerer.library().store;
    match name.as_str() {
        "subscribe" | "unsubscribe" if !can_manage => {
            reply(ctx, cmd, "Changing digests needs the Manage Channels permission.").await
        }
        "subscribe" => {
            let sub = Subscription {
                guild_id: cmd.guild_id.map(|g| g.get()),
                channel_id: channel.get(),
                time: string("time").unwrap_or_else(|| "09:00".into()),
                timezone: string("timezone").unwrap_or_else(|| "UTC".into()),
                topics: string("topics").filter(|t| !t.trim().is_empty()),
                max: int("max").unwrap_or(8).clamp(1, 15) as usize,
                min_upvotes: int("min_upvotes").unwrap_or(0).clamp(0, 100_000) as u32,
            };
            if let Err(why) = sub.schedule() {
                return reply(ctx, cmd, &why).await;
            }
            match save_subscription(store, &sub).await {
                Ok(()) => {
                    let topics = sub
                        .topics
                        .as_deref()
                        .map(|t| format!(", topics: {t}"))
                        .unwrap_or_default();
                    let text = format!(
                        "<#{}> gets a digest of up to {} new papers daily at {} ({}){topics}.",
                        sub.channel_id, sub.max, sub.time, sub.timezone
                    );
                    reply(ctx, cmd, &text).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "saving a subscription failed");
                    reply(ctx, cmd, "I could not save that right now; please try again.").await
                }
            }
        }
        "unsubscribe" => {
            let key = channel.get().to_string();
            let result = async {
                store.delete_doc(SUBS, &key).await?;
                store.delete_doc(STATE, &key).await
            }
            .await;
            match result {
                Ok(()) => reply(ctx, cmd, &format!("<#{key}> no longer gets a digest.")).await,
                Err(e) => {
                    tracing::warn!(error = %e, "removing a subscription failed");
                    reply(ctx, cmd, "I could not change that right now; please try again.").await
                }
            }
        }
        "list" => {
            let subs = subscriptions(store).await.unwrap_or_default();
            let here: Vec<String> = subs
                .iter()
                .filter(|s| s.guild_id == cmd.guild_id.map(|g| g.get()))
                .map(|s| {
                    let topics = s.topics.as_deref().map(|t| format!(" · {t}")).unwrap_or_default();
                    format!(
                        "<#{}> at {} {} · up to {}{topics}",
                        s.channel_id, s.time, s.timezone, s.max
                    )
                })
                .collect();
            let text = if here.is_empty() {
                "No digests in this server yet: `/digest subscribe`.".to_string()
            } else {
                here.join("\n")
            };
            reply(ctx, cmd, &text).await
        }
        "preview" => {
            let key = cmd.channel_id.get().to_string();
            let sub = store
                .get_doc(SUBS, &key)
                .await
                .ok()
                .flatten()
                .and_then(|v| serde_json::from_value::<Subscription>(v).ok());
            let state: DigestState = load_state(store, &key).await.unwrap_or_default();
            let since = state.cutoff.unwrap_or_else(|| Utc::now() - chrono::Duration::hours(24));
            let d = build(bot, sub.as_ref(), since).await;
            match d {
                Ok(d) => cmd
                    .edit_response(
                        &ctx.http,
                        EditInteractionResponse::new()
                            .embed(render::with_discussed(
                                render::digest_embed(&d, "preview"),
                                &discussed(bot, cmd.guild_id.map(|g| g.get()), d.since).await,
                            ))
                            .allowed_mentions(no_pings()),
                    )
                    .await
                    .map(|_| ()),
                Err(e) => {
                    tracing::warn!(error = %e, "digest preview failed");
                    reply(ctx, cmd, "The paper library is unavailable right now.").await
                }
            }
        }
        _ => reply(ctx, cmd, "Unknown digest command.").await,
    }
}

/// Papers linked in the server since `since` (most shared first, five at
/// most), for the digest's "Discussed here"; nothing when unknown.
async fn discussed(bot: &Bot, guild: Option<u64>, since: DateTime<Utc>) -> Vec<(crate::paper::Paper, u64)> {
    let Some(guild) = guild else { return vec![] };
    let store = &bot.answerer.library().store;
    let shared = match crate::shares::discussed_since(store, crate::shares::Place::Guild(guild), since, 5).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "papers shared in the server could not be listed");
            return vec![];
        }
    };
    let ids: Vec<_> = shared.iter().map(|s| s.paper.clone()).collect();
    let papers = crate::store::PaperStore::get(store, &ids).await.unwrap_or_default();
    shared
        .iter()
        .filter_map(|s| {
            let p = papers.iter().find(|p| p.paper.id == s.paper)?;
            Some((p.paper.clone(), s.count))
        })
        .collect()
}

async fn save_subscription<S: StateStore>(store: &S, sub: &Subscription) -> Result<(), StoreError> {
    let doc = serde_json::to_value(sub).map_err(|e| StoreError::backend("subscription", e))?;
    store.put_doc(SUBS, &sub.key(), &doc).await
}

/// Every stored subscription (unreadable ones are logged and skipped).
pub async fn subscriptions<S: StateStore>(store: &S) -> Result<Vec<Subscription>, StoreError> {
    Ok(store
        .list_docs(SUBS)
        .await?
        .into_iter()
        .filter_map(|(k, v)| match serde_json::from_value(v) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(key = %k, error = %e, "skipping an unreadable subscription");
                None
            }
        })
        .collect())
}

async fn load_state<S: StateStore>(store: &S, key: &str) -> Result<DigestState, StoreError> {
    match store.get_doc(STATE, key).await? {
        Some(v) => serde_json::from_value(v).map_err(|e| StoreError::backend("digest state", e)),
        None => Ok(DigestState::default()),
    }
}

async fn build(bot: &Bot, sub: Option<&Subscription>, since: DateTime<Utc>) -> Result<Digest, digest::DigestError> {
    let req = DigestRequest {
        topics: sub.and_then(|s| s.topics.clone()),
        since,
        max: sub.map_or(8, |s| s.max),
        min_upvotes: sub.map_or(0, |s| s.min_upvotes),
        min_relevance: bot.answerer.min_relevance(),
    };
    digest::build(bot.answerer.library(), bot.answerer.prompts(), bot.answerer.llm(), &req).await
}

/// Posts through Discord and keeps state in the store.
struct DiscordSink<'a> {
    bot: &'a Bot,
    http: &'a Http,
    sub: &'a Subscription,
}

impl DigestSink for DiscordSink<'_> {
    type Error = String;

    async fn load(&self, key: &str) -> Result<DigestState, String> {
        load_state(&self.bot.answerer.library().store, key)
            .await
            .map_err(|e| e.to_string())
    }

    async fn save(&self, key: &str, state: &DigestState) -> Result<(), String> {
        let doc = serde_json::to_value(state).map_err(|e| e.to_string())?;
        self.bot
            .answerer
            .library()
            .store
            .put_doc(STATE, key, &doc)
            .await
            .map_err(|e| e.to_string())
    }

    async fn already_posted(&self, _key: &str, digest_id: &str, since: Option<DateTime<Utc>>) -> Result<bool, String> {
        let me = self.bot.me.load(std::sync::atomic::Ordering::Relaxed);
        let channel = ChannelId::new(self.sub.channel_id);
        // Newest first, a page of 100 at a time, back to when posting began
        // (however many messages came after it); without a start time (a
        // record from an older paperbot), the last 1,000 messages.
        let mut before: Option<MessageId> = None;
        let mut seen = 0usize;
        loop {
            let mut req = GetMessages::new().limit(100);
            if let Some(b) = before {
                req = req.before(b);
            }
            let page = channel
                .messages(self.http, req)
                .await
                .map_err(|e| format!("reading the channel: {e}"))?;
            if page.iter().any(|m| {
                m.author.id.get() == me
                    && m.embeds
                        .iter()
                        .any(|e| e.footer.as_ref().is_some_and(|f| f.text.contains(digest_id)))
            }) {
                return Ok(true);
            }
            seen += page.len();
            let reached_start = match (since, page.last()) {
                (Some(t), Some(oldest)) => *oldest.timestamp <= t,
                (None, _) => seen >= 1_000,
                (_, None) => true,
            };
            if page.len() < 100 || reached_start {
                return Ok(false);
            }
            before = page.last().map(|m| m.id);
        }
    }

    async fn claim(&self, key: &str, digest_id: &str, now: DateTime<Utc>) -> Result<bool, String> {
        let store = &self.bot.answerer.library().store;
        let held = store.get_doc(CLAIM, key).await.map_err(|e| e.to_string())?;
        let me = self.bot.instance.as_str();
        if let Some(c) = held.as_ref() {
            let by_other = c["owner"].as_str() != Some(me);
            let live = c["until"]
                .as_str()
                .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
                .is_some_and(|u| u > now);
            if by_other && live && c["digest_id"].as_str() == Some(digest_id) {
                return Ok(false);
            }
        }
        let lease = serde_json::json!({
            "owner": me,
            "digest_id": digest_id,
            "until": (now + chrono::Duration::minutes(5)).to_rfc3339(),
        });
        store.put_doc(CLAIM, key, &lease).await.map_err(|e| e.to_string())?;
        // Two processes may both have written: the one whose lease stayed wins.
        let after = store.get_doc(CLAIM, key).await.map_err(|e| e.to_string())?;
        Ok(after.is_some_and(|c| c["owner"].as_str() == Some(me)))
    }

    async fn post(&self, _key: &str, digest_id: &str, since: DateTime<Utc>) -> Result<(), String> {
        let d = build(self.bot, Some(self.sub), since)
            .await
            .map_err(|e| e.to_string())?;
        if d.items.is_empty() {
            tracing::info!(
                channel = self.sub.channel_id,
                "nothing new for the digest; posting nothing"
            );
            return Ok(());
        }
        let discussed = discussed(self.bot, self.sub.guild_id, since).await;
        // Discord returns the first message to a second post with the same
        // nonce (within a few minutes): two processes cannot both post it.
        let msg = CreateMessage::new()
            .embed(render::with_discussed(render::digest_embed(&d, digest_id), &discussed))
            .nonce(Nonce::String(digest_id.to_string()))
            .enforce_nonce(true)
            .allowed_mentions(no_pings());
        ChannelId::new(self.sub.channel_id)
            .send_message(self.http, msg)
            .await
            .map_err(|e| format!("posting the digest: {e}"))?;
        crate::metrics::metrics().digest_posts.inc();
        Ok(())
    }
}

/// One scheduler round at `now`: every subscription this process owns
/// (`shards` = (this shard range, total)) that is due gets its digest.
pub async fn run_due(bot: &Bot, http: &Http, now: DateTime<Utc>) -> Vec<(u64, Tick)> {
    let store = &bot.answerer.library().store;
    let subs = match subscriptions(store).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read subscriptions; will retry");
            return vec![];
        }
    };
    let grace = Duration::from_secs(bot.config.digest_grace_minutes * 60);
    let mut out = Vec::new();
    for sub in subs {
        let owned = sub.guild_id.is_none_or(|g| {
            let shard = schedule::shard_of(g, bot.config.shard_total);
            (bot.config.shard_first..=bot.config.shard_last).contains(&shard)
        });
        if !owned {
            continue;
        }
        let Ok(sched) = sub.schedule() else { continue };
        let sink = DiscordSink { bot, http, sub: &sub };
        let first_since = now - chrono::Duration::hours(24);
        match schedule::tick(&sink, &sub.key(), &sched, now, grace, first_since).await {
            Ok(Tick::NotDue) => {}
            Ok(t) => {
                tracing::info!(channel = sub.channel_id, tick = ?t, "digest");
                out.push((sub.channel_id, t));
            }
            Err(e) => tracing::warn!(channel = sub.channel_id, error = %e, "digest failed; will retry"),
        }
    }
    out
}

/// Runs `run_due` every minute until `stop` (from READY on: recovery
/// needs to know which messages are the bot's own).
pub async fn scheduler(bot: Arc<Bot>, http: Arc<Http>, stop: tokio_util::sync::CancellationToken) {
    loop {
        if bot.me.load(std::sync::atomic::Ordering::Relaxed) != 0 {
            run_due(&bot, &http, Utc::now()).await;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}
