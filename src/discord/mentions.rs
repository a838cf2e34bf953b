//! `@paperbot <question>` in a channel: the answer goes into a thread
//! started from that message. Where a thread cannot be started (no
//! permission, a thread already, a voice channel's chat, a DM) it is
//! answered in place, as a reply, and nothing else there is taken as
//! addressed to the bot: a follow-up happens in a thread the bot started, in
//! a DM, or as a reply to one of the bot's answers. Earlier turns go into the
//! follow-up prompt and the papers already cited stay in play. Bots (this
//! one included) are never answered.

use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    AutoArchiveDuration, ChannelId, Context, CreateMessage, CreateThread, EditMessage, Message, MessageId,
};
use tracing::Instrument;

use super::state::ConversationKey;
use super::{Bot, Streamer, no_pings, render};
use crate::answer::{AskRequest, Turn};

pub async fn on_message(bot: &Arc<Bot>, ctx: &Context, msg: Message) {
    if msg.author.bot {
        return;
    }
    let me = bot.me.load(std::sync::atomic::Ordering::Relaxed);
    let mentioned = me != 0 && msg.mentions.iter().any(|u| u.id.get() == me);
    let follows = conversation_of(bot, &msg);
    // In a DM every message is addressed to the bot, but one that is only
    // paper links asks for their cards.
    let direct = msg.guild_id.is_none();
    let only_links = crate::sources::chat_links::only_links(&msg.content);
    if (direct && only_links) || (!direct && !mentioned && follows.is_none()) {
        return super::links::on_message(bot, ctx, &msg).await;
    }
    let question = strip_mention(&msg.content, me);
    let span = tracing::info_span!("mention", id = msg.id.get(), follow_up = follows.is_some());
    async {
        if question.is_empty() {
            let _ = reply_in_place(
                ctx,
                &msg,
                "Ask me about recent papers, e.g. `@paperbot which papers study reward hacking?`",
            )
            .await;
            return;
        }
        let max = bot.answerer.config().max_question_chars;
        if question.chars().count() > max {
            let _ = reply_in_place(ctx, &msg, &format!("Please keep questions under {max} characters.")).await;
            return;
        }
        let guild = msg.guild_id.map(|g| g.get());
        if let Err(why) = bot.limits.check(msg.author.id.get(), guild) {
            let _ = reply_in_place(ctx, &msg, &why).await;
            return;
        }
        let store = &bot.answerer.library().store;
        if let Err(why) = super::limits::budget::check(store, guild, bot.config.guild_daily_llm_tokens).await {
            let _ = reply_in_place(ctx, &msg, &why).await;
            return;
        }
        // Where the answer goes: the conversation's thread or DM, a new
        // thread, or (as a reply) here.
        let (channel, key) = match follows {
            Some(key @ ConversationKey::Channel(c)) => (ChannelId::new(c), Some(key)),
            Some(key @ ConversationKey::Replies(_)) => (msg.channel_id, Some(key)),
            None => match start_thread(ctx, &msg, &question).await {
                Some(thread) => (thread, Some(ConversationKey::Channel(thread.get()))),
                None if msg.guild_id.is_none() => {
                    (msg.channel_id, Some(ConversationKey::Channel(msg.channel_id.get())))
                }
                None => (msg.channel_id, None),
            },
        };
        let history = key.and_then(|k| bot.conversations.history(k)).unwrap_or_default();
        answer_into(bot, ctx, &msg, channel, key, question, history).await;
    }
    .instrument(span)
    .await
}

/// The conversation `msg` continues, if any: it is in a thread the bot
/// started or a DM it answers in, or it replies to one of the bot's answers.
fn conversation_of(bot: &Bot, msg: &Message) -> Option<ConversationKey> {
    let here = ConversationKey::Channel(msg.channel_id.get());
    if bot.conversations.history(here).is_some() {
        return Some(here);
    }
    let replied_to = msg.message_reference.as_ref()?.message_id?;
    bot.conversations.chain_of(replied_to.get())
}

/// The message text without the bot's mention.
pub fn strip_mention(content: &str, me: u64) -> String {
    content
        .replace(&format!("<@{me}>"), "")
        .replace(&format!("<@!{me}>"), "")
        .trim()
        .to_string()
}

async fn reply_in_place(ctx: &Context, msg: &Message, text: &str) -> serenity::Result<Message> {
    let body = CreateMessage::new()
        .content(render::trim(text, render::CONTENT_MAX))
        .allowed_mentions(no_pings());
    send_reply(ctx, msg.channel_id, msg, body).await
}

/// Sends `body` as a reply to `msg`; where Discord refuses replies (no Read
/// Message History: 160002) it goes as a plain message instead.
pub(super) async fn send_reply(
    ctx: &Context,
    channel: ChannelId,
    msg: &Message,
    body: CreateMessage,
) -> serenity::Result<Message> {
    match channel
        .send_message(&ctx.http, body.clone().reference_message(msg))
        .await
    {
        Err(serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(e))) if e.error.code == 160002 => {
            tracing::info!("cannot reply here (no Read Message History); posting without the reply link");
            channel.send_message(&ctx.http, body).await
        }
        other => other,
    }
}

/// A thread from the question's message, or None where one cannot be made
/// (a DM, a thread, a voice channel's chat, no permission).
async fn start_thread(ctx: &Context, msg: &Message, question: &str) -> Option<ChannelId> {
    msg.guild_id?;
    let name = render::trim(&question.replace('\n', " "), 90);
    let builder = CreateThread::new(name).auto_archive_duration(AutoArchiveDuration::OneDay);
    match msg
        .channel_id
        .create_thread_from_message(&ctx.http, msg.id, builder)
        .await
    {
        Ok(thread) => Some(thread.id),
        Err(e) => {
            tracing::info!(error = %e, "cannot start a thread here; replying in place");
            None
        }
    }
}

async fn answer_into(
    bot: &Arc<Bot>,
    ctx: &Context,
    msg: &Message,
    channel: ChannelId,
    key: Option<ConversationKey>,
    question: String,
    history: Vec<Turn>,
) {
    let in_place = channel == msg.channel_id && !matches!(key, Some(ConversationKey::Channel(_)));
    let first = CreateMessage::new()
        .content("Reading the papers…")
        .allowed_mentions(no_pings());
    let sent = if in_place {
        send_reply(ctx, channel, msg, first).await
    } else {
        channel.send_message(&ctx.http, first).await
    };
    let placeholder = match sent {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot post in the channel");
            return;
        }
    };
    // An answer given in place starts (or continues) a chain of replies.
    let key = key.unwrap_or(ConversationKey::Replies(placeholder.id.get()));
    let http = ctx.http.clone();
    let placeholder_id = placeholder.id;
    let streamer = Streamer::start(Duration::from_millis(bot.config.edit_interval_ms), move |text| {
        let http = http.clone();
        async move {
            let edit = EditMessage::new().content(text).allowed_mentions(no_pings());
            if let Err(e) = channel.edit_message(&http, placeholder_id, edit).await {
                tracing::debug!(error = %e, "preview edit failed");
            }
        }
    });
    let req = AskRequest {
        question: question.clone(),
        history,
        ..Default::default()
    };
    let result = bot.answerer.ask(&req, &mut |p| streamer.progress(p)).await;
    streamer.finish().await;
    let pieces = match result {
        Ok(answer) => {
            let guild = msg.guild_id.map(|g| g.get());
            super::limits::budget::charge(&bot.answerer.library().store, guild, answer.llm_tokens).await;
            bot.conversations.record(key, &question, &answer);
            render::answer_messages(&answer)
        }
        Err(e) => {
            tracing::warn!(id = msg.id.get(), error = %e, "answer failed");
            vec![e.user_message()]
        }
    };
    let posted = post_pieces(ctx, channel, placeholder_id, pieces).await;
    if let ConversationKey::Replies(_) = key {
        for id in posted {
            bot.conversations.link(id.get(), key);
        }
    }
}

/// The first piece replaces the placeholder; the rest follow as messages.
/// Returns the ids of the messages that hold the answer.
async fn post_pieces(ctx: &Context, channel: ChannelId, first: MessageId, pieces: Vec<String>) -> Vec<MessageId> {
    let mut posted = vec![first];
    let mut it = pieces.into_iter();
    if let Some(p) = it.next() {
        let edit = EditMessage::new().content(p).allowed_mentions(no_pings());
        if let Err(e) = channel.edit_message(&ctx.http, first, edit).await {
            tracing::warn!(error = %e, "final edit failed");
        }
    }
    for p in it {
        let m = CreateMessage::new().content(p).allowed_mentions(no_pings());
        match channel.send_message(&ctx.http, m).await {
            Ok(m) => posted.push(m.id),
            Err(e) => {
                tracing::warn!(error = %e, "sending the rest of an answer failed");
                break;
            }
        }
    }
    posted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mention_is_stripped_both_ways() {
        assert_eq!(strip_mention("<@42> what is X?", 42), "what is X?");
        assert_eq!(strip_mention("hey <@!42> what is X?", 42), "hey  what is X?");
        assert_eq!(strip_mention("<@43> hi", 42), "<@43> hi");
    }
}
