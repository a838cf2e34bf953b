//! `@paperbot <question>` in a channel: the answer goes into a thread
//! started from that message (a reply in place where threads are not
//! allowed, e.g. in DMs). Later messages in that thread are follow-ups:
//! earlier turns go into the follow-up prompt and the papers already cited
//! stay in play. Bots (this one included) are never answered.

use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    AutoArchiveDuration, ChannelId, Context, CreateMessage, CreateThread, EditMessage, Message, MessageId,
};
use tracing::Instrument;

use super::render;
use super::{Bot, Streamer, no_pings};
use crate::answer::AskRequest;

pub async fn on_message(bot: &Arc<Bot>, ctx: &Context, msg: Message) {
    if msg.author.bot {
        return;
    }
    let me = bot.me.load(std::sync::atomic::Ordering::Relaxed);
    let mentioned = me != 0 && msg.mentions.iter().any(|u| u.id.get() == me);
    let history = bot.conversations.history(msg.channel_id.get());
    if !mentioned && history.is_none() {
        return;
    }
    let question = strip_mention(&msg.content, me);
    let span = tracing::info_span!("mention", id = msg.id.get(), follow_up = history.is_some());
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
        // Where the answer goes: this thread (follow-up), a new thread, or here.
        let channel = match &history {
            Some(_) => msg.channel_id,
            None => start_thread(ctx, &msg, &question).await,
        };
        bot.conversations.start(channel.get());
        answer_into(bot, ctx, &msg, channel, question, history.unwrap_or_default()).await;
    }
    .instrument(span)
    .await
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
    msg.channel_id
        .send_message(
            &ctx.http,
            CreateMessage::new()
                .content(render::trim(text, render::CONTENT_MAX))
                .reference_message(msg)
                .allowed_mentions(no_pings()),
        )
        .await
}

/// A thread from the question's message, or the channel itself when a
/// thread cannot be made there.
async fn start_thread(ctx: &Context, msg: &Message, question: &str) -> ChannelId {
    if msg.guild_id.is_none() {
        return msg.channel_id;
    }
    let name = render::trim(&question.replace('\n', " "), 90);
    let builder = CreateThread::new(name).auto_archive_duration(AutoArchiveDuration::OneDay);
    match msg
        .channel_id
        .create_thread_from_message(&ctx.http, msg.id, builder)
        .await
    {
        Ok(thread) => thread.id,
        Err(e) => {
            tracing::info!(error = %e, "cannot start a thread here; replying in place");
            msg.channel_id
        }
    }
}

async fn answer_into(
    bot: &Arc<Bot>,
    ctx: &Context,
    msg: &Message,
    channel: ChannelId,
    question: String,
    history: Vec<crate::answer::Turn>,
) {
    let in_place = channel == msg.channel_id && history.is_empty();
    let mut first = CreateMessage::new()
        .content("Reading the papers…")
        .allowed_mentions(no_pings());
    if in_place {
        first = first.reference_message(msg);
    }
    let placeholder = match channel.send_message(&ctx.http, first).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot post in the channel");
            return;
        }
    };
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
    let result = bot.answerer.ask(&req, &mut |t| streamer.push(t)).await;
    streamer.finish().await;
    let pieces = match result {
        Ok(answer) => {
            let guild = msg.guild_id.map(|g| g.get());
            super::limits::budget::charge(&bot.answerer.library().store, guild, answer.llm_tokens).await;
            bot.conversations.record(channel.get(), &question, &answer);
            render::answer_messages(&answer)
        }
        Err(e) => {
            tracing::warn!(id = msg.id.get(), error = %e, "answer failed");
            vec![e.user_message()]
        }
    };
    post_pieces(ctx, channel, placeholder_id, pieces).await;
}

/// The first piece replaces the placeholder; the rest follow as messages.
async fn post_pieces(ctx: &Context, channel: ChannelId, first: MessageId, pieces: Vec<String>) {
    let mut it = pieces.into_iter();
    if let Some(p) = it.next() {
        let edit = EditMessage::new().content(p).allowed_mentions(no_pings());
        if let Err(e) = channel.edit_message(&ctx.http, first, edit).await {
            tracing::warn!(error = %e, "final edit failed");
        }
    }
    for p in it {
        let m = CreateMessage::new().content(p).allowed_mentions(no_pings());
        if let Err(e) = channel.send_message(&ctx.http, m).await {
            tracing::warn!(error = %e, "sending the rest of an answer failed");
            break;
        }
    }
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
