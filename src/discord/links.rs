//! Paper links in chat: a message that links arXiv or Hugging Face papers
//! gets one reply with a compact card per paper (the first few), every
//! linked paper is ingested (one arXiv request for all of them) and
//! remembered as shared in that server, so `/search` and `/ask` can keep to
//! "papers shared here". A server or a channel can turn the cards off
//! (`/linkcards`, Manage Channels); there the bot neither answers nor
//! records anything. Links count against the same per-user and per-guild
//! limits as questions; a limited message is passed over in silence (a
//! "slow down" reply to plain chat would be noise).

use std::sync::Arc;

use serenity::all::{
    CommandDataOptionValue, CommandInteraction, CommandOptionType, Context, CreateCommand, CreateCommandOption,
    CreateMessage, Message, Permissions,
};
use tracing::Instrument;

use super::{Bot, no_pings, render};
use crate::on_demand;
use crate::paper::PaperId;
use crate::shares::{self, Place};
use crate::store::state::StateStore;

/// State documents of this kind hold where link cards are off.
pub const SETTINGS_KIND: &str = "link_cards";

/// Whether link cards are on in `channel` of `guild` (off in either: off).
pub async fn enabled<S: StateStore>(store: &S, guild: Option<u64>, channel: u64) -> bool {
    let off = |key: String| async move {
        store
            .get_doc(SETTINGS_KIND, &key)
            .await
            .ok()
            .flatten()
            .is_some_and(|d| d["off"].as_bool() == Some(true))
    };
    if let Some(g) = guild
        && off(format!("guild:{g}")).await
    {
        return false;
    }
    !off(format!("channel:{channel}")).await
}

/// A message that mentions nobody in particular: if it links papers, and
/// cards are on here, and the author is within limits, the cards.
pub async fn on_message(bot: &Arc<Bot>, ctx: &Context, msg: &Message) {
    if !bot.config.link_cards {
        return;
    }
    let ids = crate::sources::chat_links::linked_papers(&msg.content, bot.config.links_per_message);
    if ids.is_empty() {
        return;
    }
    let span = tracing::info_span!("link_cards", id = msg.id.get(), links = ids.len());
    async {
        let guild = msg.guild_id.map(|g| g.get());
        let store = &bot.answerer.library().store;
        if !enabled(store, guild, msg.channel_id.get()).await {
            tracing::debug!("link cards are off here");
            return;
        }
        if let Err(why) = bot.limits.check(msg.author.id.get(), guild) {
            tracing::info!(%why, "links passed over: over the limit");
            return;
        }
        let papers = match fetch(bot, &ids).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "linked papers could not be fetched");
                return;
            }
        };
        if papers.is_empty() {
            return;
        }
        let place = match guild {
            Some(g) => Place::Guild(g),
            None => Place::Direct(msg.channel_id.get()),
        };
        let shared = shares::Message {
            channel: msg.channel_id.get(),
            message: msg.id.get(),
            at: *msg.timestamp,
        };
        let found: Vec<PaperId> = papers.iter().map(|p| p.paper.id.clone()).collect();
        if let Err(e) = shares::record(store, place, &found, shared).await {
            tracing::warn!(error = %e, "where the papers were shared was not saved");
        }
        let shown = &papers[..papers.len().min(bot.config.link_cards_max)];
        let more = papers.len() - shown.len();
        let note = (more > 0).then(|| format!("…and {more} more, now searchable with `/search`."));
        let mut body = CreateMessage::new()
            .embeds(shown.iter().map(|p| render::link_card(&p.paper)).collect())
            .allowed_mentions(no_pings());
        if let Some(n) = &note {
            body = body.content(n);
        }
        match super::mentions::send_reply(ctx, msg.channel_id, msg, body).await {
            Ok(_) => {}
            // No Embed Links here (50013 on an embed-only message): the cards as text.
            Err(serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(e))) if e.error.code == 50013 => {
                let mut text: Vec<String> = shown.iter().map(|p| render::link_card_text(&p.paper)).collect();
                text.extend(note);
                let body = CreateMessage::new()
                    .content(render::trim(&text.join("\n\n"), render::CONTENT_MAX))
                    .allowed_mentions(no_pings());
                if let Err(e) = super::mentions::send_reply(ctx, msg.channel_id, msg, body).await {
                    tracing::info!(error = %e, "cannot post link cards here");
                }
            }
            Err(e) => tracing::info!(error = %e, "cannot post link cards here"),
        }
    }
    .instrument(span)
    .await
}

/// The linked papers: the library's, and arXiv's (ingested) for the rest.
async fn fetch(bot: &Bot, ids: &[PaperId]) -> Result<Vec<crate::store::StoredPaper>, on_demand::OnDemandError> {
    let lib = bot.answerer.library();
    match bot.fetcher.as_deref() {
        Some(fetcher) => on_demand::papers(lib, fetcher, ids).await,
        None => {
            let held = crate::store::PaperStore::get(&lib.store, ids)
                .await
                .map_err(crate::library::LibraryError::from)?;
            Ok(ids
                .iter()
                .filter_map(|id| held.iter().find(|s| s.paper.id == *id).cloned())
                .collect())
        }
    }
}

/// `/linkcards on|off [where]`.
pub fn definition() -> CreateCommand {
    CreateCommand::new("linkcards")
        .description("Cards for arXiv and Hugging Face links posted here (needs Manage Channels)")
        .default_member_permissions(Permissions::MANAGE_CHANNELS)
        .dm_permission(false)
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "cards", "Post cards for paper links?")
                .required(true)
                .add_string_choice("on", "on")
                .add_string_choice("off", "off"),
        )
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "where", "This channel or the whole server")
                .add_string_choice("this channel", "channel")
                .add_string_choice("this server", "server"),
        )
}

pub async fn command(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let get = |n: &str| {
        cmd.data
            .options
            .iter()
            .find(|o| o.name == n)
            .and_then(|o| match &o.value {
                CommandDataOptionValue::String(s) => Some(s.as_str()),
                _ => None,
            })
    };
    // Discord hides the command from members without the permission unless
    // a server changed that; the member's permissions here decide.
    let can_manage = cmd
        .member
        .as_ref()
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.contains(Permissions::MANAGE_CHANNELS));
    let text = match (cmd.guild_id, can_manage) {
        (None, _) => "Link cards are set per server or channel.".to_string(),
        (Some(_), false) => "Changing link cards needs the Manage Channels permission.".to_string(),
        (Some(guild), true) => {
            let off = get("cards") == Some("off");
            let server = get("where") == Some("server");
            let key = if server {
                format!("guild:{}", guild.get())
            } else {
                format!("channel:{}", cmd.channel_id.get())
            };
            let doc = serde_json::json!({"off": off, "by": cmd.user.id.get().to_string(), "at": chrono::Utc::now()});
            let store = &bot.answerer.library().store;
            match store.put_doc(SETTINGS_KIND, &key, &doc).await {
                Ok(()) => match (off, server) {
                    (true, true) => "Link cards are off in this server.".to_string(),
                    (true, false) => "Link cards are off in this channel.".to_string(),
                    (false, true) => "Link cards are on in this server (channels turned off stay off).".to_string(),
                    (false, false) => {
                        "Link cards are on in this channel (unless the server turned them off).".to_string()
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "link card setting not saved");
                    "The setting could not be saved right now; please try again.".to_string()
                }
            }
        }
    };
    super::commands::ephemeral(ctx, cmd, &text).await
}
