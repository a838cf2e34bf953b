//! Slash commands (`/ask`, `/paper`, `/related`, `/search`, `/about`), their
//! autocomplete, and the answer buttons.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serenity::all::{
    ButtonStyle, CommandInteraction, CommandOptionType, ComponentInteraction, Context, CreateActionRow,
    CreateAutocompleteResponse, CreateButton, CreateCommand, CreateCommandOption, CreateEmbed,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    EditInteractionResponse, GuildId, Http, Interaction, ResolvedValue,
};
use tracing::Instrument;

use super::render;
use super::{Bot, Streamer, log_failure, no_pings};
use crate::answer::{Answer, AskRequest};
use crate::on_demand;
use crate::paper::{Paper, PaperId};
use crate::retrieve::{self, lookup};
use crate::shares::{self, Place};
use crate::store::{PaperStore, StoredPaper};

const LIBRARY_DOWN: &str = "The paper library is unavailable right now.";

/// The command set, registered on READY.
pub fn definitions(max_question: usize) -> Vec<CreateCommand> {
    let text = |name: &str, desc: &str| {
        CreateCommandOption::new(CommandOptionType::String, name, desc)
            .required(true)
            .max_length(max_question.min(6000) as u16)
    };
    vec![
        CreateCommand::new("ask")
            .description("Ask about recent papers; the answer cites them")
            .add_option(text("question", "Your question"))
            .add_option(CreateCommandOption::new(
                CommandOptionType::String,
                "since",
                "Only papers since a date (2025-01-31) or a span (7d, 24h)",
            ))
            .add_option(
                CreateCommandOption::new(CommandOptionType::Integer, "sources", "How many papers to read (1-10)")
                    .min_int_value(1)
                    .max_int_value(10),
            )
            .add_option(CreateCommandOption::new(
                CommandOptionType::Boolean,
                "shared",
                "Only papers linked in this server's channels",
            )),
        CreateCommand::new("paper")
            .description("A paper's card: authors, date, links, abstract")
            .add_option(text("title", "Start typing a title").set_autocomplete(true)),
        CreateCommand::new("related")
            .description("Papers most similar to a paper")
            .add_option(text("title", "Start typing a title").set_autocomplete(true)),
        CreateCommand::new("search")
            .description("Top matching papers, no LLM")
            .add_option(text("query", "Keywords or a question"))
            .add_option(CreateCommandOption::new(
                CommandOptionType::Boolean,
                "shared",
                "Only papers linked in this server's channels",
            )),
        CreateCommand::new("about").description("What this bot is, index size and freshness, the LLM in use"),
        super::digests::definition(),
        super::links::definition(),
    ]
}

pub async fn register(http: &Http, guild: Option<u64>, max_question: usize) -> serenity::Result<()> {
    let commands = definitions(max_question);
    match guild {
        Some(g) => GuildId::new(g).set_commands(http, commands).await.map(|_| ()),
        None => serenity::all::Command::set_global_commands(http, commands)
            .await
            .map(|_| ()),
    }
}

pub async fn dispatch(bot: &Arc<Bot>, ctx: &Context, interaction: Interaction) {
    match interaction {
        Interaction::Command(cmd) => {
            let id = cmd.id.get();
            let span = tracing::info_span!("command", id, name = %cmd.data.name, user = cmd.user.id.get());
            let result = async {
                match cmd.data.name.as_str() {
                    "ask" => ask(bot, ctx, &cmd).await,
                    "search" => search(bot, ctx, &cmd).await,
                    "paper" => paper(bot, ctx, &cmd).await,
                    "related" => related(bot, ctx, &cmd).await,
                    "about" => about(bot, ctx, &cmd).await,
                    "digest" => super::digests::command(bot, ctx, &cmd).await,
                    "linkcards" => super::links::command(bot, ctx, &cmd).await,
                    other => {
                        tracing::warn!(name = other, "unknown command");
                        Ok(())
                    }
                }
            }
            .instrument(span)
            .await;
            if let Err(e) = result {
                log_failure("command", id, &e);
            }
        }
        Interaction::Autocomplete(cmd) => {
            if let Err(e) = autocomplete(bot, ctx, &cmd).await {
                log_failure("autocomplete", cmd.id.get(), &e);
            }
        }
        Interaction::Component(c) => {
            if let Err(e) = button(bot, ctx, &c).await {
                log_failure("button", c.id.get(), &e);
            }
        }
        _ => {}
    }
}

fn string_option<'a>(cmd: &'a CommandInteraction, name: &str) -> Option<&'a str> {
    cmd.data
        .options()
        .into_iter()
        .find(|o| o.name == name)
        .and_then(|o| match o.value {
            ResolvedValue::String(s) => Some(s),
            _ => None,
        })
}

fn int_option(cmd: &CommandInteraction, name: &str) -> Option<i64> {
    cmd.data
        .options()
        .into_iter()
        .find(|o| o.name == name)
        .and_then(|o| match o.value {
            ResolvedValue::Integer(i) => Some(i),
            _ => None,
        })
}

fn bool_option(cmd: &CommandInteraction, name: &str) -> Option<bool> {
    cmd.data
        .options()
        .into_iter()
        .find(|o| o.name == name)
        .and_then(|o| match o.value {
            ResolvedValue::Boolean(b) => Some(b),
            _ => None,
        })
}

const NOTHING_SHARED: &str = "No papers have been shared here yet: when someone posts an arXiv or Hugging Face \
paper link, I remember it (unless link cards are off).";

/// With `shared: true`, the papers shared where the command was used (a
/// server, or this DM), for the search filter; `Err` is the reply instead.
async fn shared_only(bot: &Bot, cmd: &CommandInteraction) -> Result<Option<Vec<PaperId>>, &'static str> {
    if bool_option(cmd, "shared") != Some(true) {
        return Ok(None);
    }
    let place = match cmd.guild_id {
        Some(g) => Place::Guild(g.get()),
        None => Place::Direct(cmd.channel_id.get()),
    };
    match shares::in_place(&bot.answerer.library().store, place).await {
        Ok(found) if found.is_empty() => Err(NOTHING_SHARED),
        Ok(found) => Ok(Some(found.into_iter().map(|s| s.paper).collect())),
        Err(e) => {
            tracing::warn!(error = %e, "shared papers could not be listed");
            Err(LIBRARY_DOWN)
        }
    }
}

/// A short ephemeral reply (limits, bad input).
pub(super) async fn ephemeral(ctx: &Context, cmd: &CommandInteraction, text: &str) -> serenity::Result<()> {
    cmd.create_response(
        &ctx.http,
        CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(text)
                .ephemeral(true)
                .allowed_mentions(no_pings()),
        ),
    )
    .await
}

async fn ask(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let question = string_option(cmd, "question").unwrap_or_default().trim().to_string();
    let max = bot.answerer.config().max_question_chars;
    if question.chars().count() > max {
        return ephemeral(ctx, cmd, &format!("Please keep questions under {max} characters.")).await;
    }
    if question.is_empty() {
        return ephemeral(ctx, cmd, "Please ask a question.").await;
    }
    let mut req = AskRequest {
        question: question.clone(),
        sources: int_option(cmd, "sources").map(|n| n.clamp(1, 10) as usize),
        ..Default::default()
    };
    if let Some(since) = string_option(cmd, "since") {
        match crate::retrieve::parse_since(since, Utc::now()) {
            Ok(d) => req.filter.published_since = Some(d),
            Err(e) => return ephemeral(ctx, cmd, &e).await,
        }
    }
    let guild = cmd.guild_id.map(|g| g.get());
    if let Err(why) = bot.limits.check(cmd.user.id.get(), guild) {
        return ephemeral(ctx, cmd, &why).await;
    }
    let store = &bot.answerer.library().store;
    if let Err(why) = super::limits::budget::check(store, guild, bot.config.guild_daily_llm_tokens).await {
        return ephemeral(ctx, cmd, &why).await;
    }
    // Discord allows 3 s for the first response: defer before any work.
    cmd.defer(&ctx.http).await?;
    match shared_only(bot, cmd).await {
        Ok(only) => req.filter.only = only,
        Err(why) => return fail_privately(ctx, cmd, why).await,
    }

    let http = ctx.http.clone();
    let token_cmd = cmd.clone();
    let streamer = Streamer::start(Duration::from_millis(bot.config.edit_interval_ms), move |text| {
        let (http, cmd) = (http.clone(), token_cmd.clone());
        async move {
            let edit = EditInteractionResponse::new()
                .content(text)
                .allowed_mentions(no_pings());
            if let Err(e) = cmd.edit_response(&http, edit).await {
                tracing::debug!(error = %e, "preview edit failed");
            }
        }
    });
    let result = bot.answerer.ask(&req, &mut |p| streamer.progress(p)).await;
    streamer.finish().await;

    match result {
        Ok(answer) => {
            super::limits::budget::charge(store, guild, answer.llm_tokens).await;
            bot.answers.remember(cmd.id.get(), &question, &answer);
            let embeds = render::answer_embeds(&question, &answer, &bot.index_info().footer(), &bot.llm_label());
            let (first, rest) = render::embed_batches(embeds);
            let mut edit = EditInteractionResponse::new()
                .content("")
                .embeds(first)
                .allowed_mentions(no_pings());
            if has_papers(&answer) {
                edit = edit.components(vec![buttons(cmd.id.get())]);
            }
            cmd.edit_response(&ctx.http, edit).await?;
            for batch in rest {
                cmd.create_followup(
                    &ctx.http,
                    CreateInteractionResponseFollowup::new()
                        .embeds(batch)
                        .allowed_mentions(no_pings()),
                )
                .await?;
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(id = cmd.id.get(), error = %e, "answer failed");
            // The deferred response is public; the error is for the asker only.
            fail_privately(ctx, cmd, &e.user_message()).await
        }
    }
}

fn has_papers(a: &Answer) -> bool {
    !a.citations.is_empty() || !a.related.is_empty()
}

fn buttons(answer_id: u64) -> CreateActionRow {
    CreateActionRow::Buttons(vec![
        CreateButton::new(format!("abs:{answer_id}"))
            .label("Show abstracts")
            .style(ButtonStyle::Secondary),
        CreateButton::new(format!("fb:{answer_id}:1"))
            .label("Helpful")
            .style(ButtonStyle::Success),
        CreateButton::new(format!("fb:{answer_id}:0"))
            .label("Not helpful")
            .style(ButtonStyle::Danger),
    ])
}

async fn search(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let query = string_option(cmd, "query").unwrap_or_default().to_string();
    cmd.defer(&ctx.http).await?;
    let mut opts = bot.answerer.search_config().default_options();
    match shared_only(bot, cmd).await {
        Ok(only) => opts.filter.only = only,
        Err(why) => return fail_privately(ctx, cmd, why).await,
    }
    let title = format!("Search: {query}");
    let embed = match retrieve::search(bot.answerer.library(), &query, &opts).await {
        Ok(hits) => {
            let papers: Vec<&Paper> = hits.iter().map(|h| &h.stored.paper).collect();
            render::paper_list(&title, &papers, "No matching papers.", Some(bot.index_info().footer()))
        }
        Err(e) => {
            tracing::warn!(id = cmd.id.get(), error = %e, "search failed");
            render::paper_list(&title, &[], LIBRARY_DOWN, None)
        }
    };
    cmd.edit_response(
        &ctx.http,
        EditInteractionResponse::new().embed(embed).allowed_mentions(no_pings()),
    )
    .await
    .map(|_| ())
}

/// The paper a `/paper` or `/related` option names — an arXiv id or link
/// the library lacks is fetched from arXiv — or the reply to give instead.
async fn named_paper(bot: &Bot, needle: &str) -> Result<StoredPaper, &'static str> {
    match on_demand::find(bot.answerer.library(), bot.fetcher.as_deref(), needle).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) if PaperId::arxiv(needle).is_some() && bot.fetcher.is_some() => {
            Err("arXiv has no paper with that id.")
        }
        Ok(None) => Err("No paper with that title or id in the library; try `/search`, or give an arXiv id or link."),
        Err(on_demand::OnDemandError::Source(e)) => {
            tracing::warn!(error = %e, "fetching a paper from arXiv failed");
            Err("arXiv did not answer; please try again in a minute.")
        }
        Err(e) => {
            tracing::warn!(error = %e, "paper lookup failed");
            Err(LIBRARY_DOWN)
        }
    }
}

/// A deferred command's failure, for the asker only: the public "thinking"
/// response goes and a private line takes its place.
async fn fail_privately(ctx: &Context, cmd: &CommandInteraction, text: &str) -> serenity::Result<()> {
    let _ = cmd.delete_response(&ctx.http).await;
    cmd.create_followup(
        &ctx.http,
        CreateInteractionResponseFollowup::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(no_pings()),
    )
    .await
    .map(|_| ())
}

async fn paper(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let needle = string_option(cmd, "title").unwrap_or_default();
    // The lookup reads the library: defer first.
    cmd.defer(&ctx.http).await?;
    match named_paper(bot, needle).await {
        Ok(p) => cmd
            .edit_response(
                &ctx.http,
                EditInteractionResponse::new()
                    .embed(render::paper_card(&p.paper))
                    .allowed_mentions(no_pings()),
            )
            .await
            .map(|_| ()),
        Err(why) => fail_privately(ctx, cmd, why).await,
    }
}

async fn related(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let needle = string_option(cmd, "title").unwrap_or_default();
    cmd.defer(&ctx.http).await?;
    let p = match named_paper(bot, needle).await {
        Ok(p) => p,
        Err(why) => return fail_privately(ctx, cmd, why).await,
    };
    let opts = bot.answerer.search_config().default_options();
    let title = format!("Papers like: {}", p.paper.title);
    let embed = match retrieve::related(bot.answerer.library(), &p.paper.id, &opts).await {
        Ok(hits) => {
            let papers: Vec<&Paper> = hits.iter().map(|h| &h.stored.paper).collect();
            render::paper_list(&title, &papers, "No similar papers yet.", None)
        }
        Err(e) => {
            tracing::warn!(id = cmd.id.get(), error = %e, "related failed");
            render::paper_list(&title, &[], LIBRARY_DOWN, None)
        }
    };
    cmd.edit_response(
        &ctx.http,
        EditInteractionResponse::new().embed(embed).allowed_mentions(no_pings()),
    )
    .await
    .map(|_| ())
}

async fn about(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let info = bot.index_info();
    let text = format!(
        "I answer questions about recent research papers and cite the papers I used; every [n] is checked \
         against the papers I read before you see it.\n\n**Index:** {}\n**Store:** {}\n**Answers:** {}\n\n\
         Try `/ask`, `/search`, `/paper`, `/related`, or mention me with a question.",
        info.footer(),
        bot.answerer.library().store.describe(),
        bot.llm_label(),
    );
    cmd.create_response(
        &ctx.http,
        CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .embed(CreateEmbed::new().title("paperbot").description(text))
                .ephemeral(true)
                .allowed_mentions(no_pings()),
        ),
    )
    .await
}

/// Up to 25 titles matching what was typed (exact and prefix matches first).
async fn autocomplete(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let typed = cmd.data.autocomplete().map(|o| o.value.to_string()).unwrap_or_default();
    let papers = lookup::suggest(bot.answerer.library(), &typed, 25)
        .await
        .unwrap_or_else(|e| {
            // An empty list is all autocomplete can say; the cause goes to the log.
            tracing::warn!(error = %e, "title suggestions failed");
            vec![]
        });
    let mut resp = CreateAutocompleteResponse::new();
    for p in papers {
        // Choice names and values are limited to 100 characters.
        resp = resp.add_string_choice(render::trim(&p.title, 100), p.id.as_str().to_string());
    }
    cmd.create_response(&ctx.http, CreateInteractionResponse::Autocomplete(resp))
        .await
}

async fn button(bot: &Arc<Bot>, ctx: &Context, c: &ComponentInteraction) -> serenity::Result<()> {
    let parts: Vec<&str> = c.data.custom_id.split(':').collect();
    let reply = |text: String| {
        CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(render::trim(&text, render::CONTENT_MAX))
                .ephemeral(true)
                .allowed_mentions(no_pings()),
        )
    };
    let posted = parts
        .get(1)
        .and_then(|id| id.parse::<u64>().ok())
        .map(|id| (id, bot.answers.get(id)));
    let text = match (parts.first().copied(), posted) {
        (_, Some((_, None))) | (_, None) => "That answer is too old for its buttons; please ask again.".to_string(),
        (Some("abs"), Some((_, Some(p)))) => {
            let blocks: Vec<String> = p
                .papers
                .iter()
                .map(|paper| {
                    format!(
                        "**{}**\n{}",
                        render::escape_markdown(&paper.title),
                        render::trim(&paper.abstract_text, 600)
                    )
                })
                .collect();
            blocks.join("\n\n")
        }
        (Some("fb"), Some((id, Some(p)))) => {
            let helpful = parts.get(2) == Some(&"1");
            match bot.feedback.record(id, c.user.id.get(), helpful, &p) {
                Ok(()) => "Thanks, noted.".into(),
                Err(e) => {
                    tracing::warn!(error = %e, path = %bot.feedback.path().display(), "feedback not saved");
                    "Thanks (but I could not save that right now).".into()
                }
            }
        }
        _ => "Unknown button.".into(),
    };
    c.create_response(&ctx.http, reply(text)).await
}
