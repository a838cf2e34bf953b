//! Slash commands (`/ask`, `/paper`, `/related`, `/search`, `/about`), their
//! autocomplete, and the answer buttons.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serenity::all::{
    ButtonStyle, CommandInteraction, CommandOptionType, ComponentInteraction, Context, CreateActionRow,
    CreateAutocompleteResponse, CreateButton, CreateCommand, CreateCommandOption, CreateEmbed, CreateEmbedFooter,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    EditInteractionResponse, GuildId, Http, Interaction, ResolvedValue,
};
use tracing::Instrument;

use super::render::{self, DESCRIPTION_MAX, EMBEDS_PER_MESSAGE, FIELD_MAX, MESSAGE_EMBEDS_MAX, TITLE_MAX};
use super::{Bot, Streamer, log_failure, no_pings};
use crate::answer::{Answer, AnswerKind, AskRequest};
use crate::paper::{Paper, normalise_title};
use crate::retrieve::{self, SearchOptions};
use crate::store::{PaperStore, StoredPaper};

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
            ),
        CreateCommand::new("paper")
            .description("A paper's card: authors, date, links, abstract")
            .add_option(text("title", "Start typing a title").set_autocomplete(true)),
        CreateCommand::new("related")
            .description("Papers most similar to a paper")
            .add_option(text("title", "Start typing a title").set_autocomplete(true)),
        CreateCommand::new("search")
            .description("Top matching papers, no LLM")
            .add_option(text("query", "Keywords or a question")),
        CreateCommand::new("about").description("What this bot is, index size and freshness, the LLM in use"),
        super::digests::definition(),
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

/// A short ephemeral reply (limits, bad input).
async fn ephemeral(ctx: &Context, cmd: &CommandInteraction, text: &str) -> serenity::Result<()> {
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
    let result = bot.answerer.ask(&req, &mut |t| streamer.push(t)).await;
    streamer.finish().await;

    match result {
        Ok(answer) => {
            super::limits::budget::charge(store, guild, answer.llm_tokens).await;
            bot.answers.remember(cmd.id.get(), &question, &answer);
            let embeds = answer_embeds(&question, &answer, &bot.index_info().footer(), &bot.llm_label());
            let (first, rest) = first_message(embeds);
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
            let _ = cmd.delete_response(&ctx.http).await;
            cmd.create_followup(
                &ctx.http,
                CreateInteractionResponseFollowup::new()
                    .content(e.user_message())
                    .ephemeral(true)
                    .allowed_mentions(no_pings()),
            )
            .await
            .map(|_| ())
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

/// Embeds for an answer: the text (split over several embeds past 4096),
/// Sources fields (split past 1024, a line never cut), a footer.
pub fn answer_embeds(question: &str, answer: &Answer, freshness: &str, llm: &str) -> Vec<CreateEmbed> {
    let mut parts = render::split(&answer.text, DESCRIPTION_MAX);
    if parts.is_empty() {
        parts.push("(no text)".into());
    }
    let label = match answer.kind {
        AnswerKind::Extractive => " · quoted from abstracts",
        _ => "",
    };
    let mut footer = format!("{freshness} · {llm}{label}");
    if answer.truncated {
        footer.push_str(" · cut at the length limit");
    }
    let footer = render::trim(&footer, 2048);
    let (ref_label, lines) = render::reference_lines(answer, FIELD_MAX);
    let fields: Vec<(String, String)> = render::pack_lines(&lines, FIELD_MAX)
        .into_iter()
        .enumerate()
        .map(|(j, f)| {
            let name = if j == 0 {
                ref_label.clone()
            } else {
                format!("{ref_label} (cont.)")
            };
            (name, f)
        })
        .collect();
    let chars = |s: &str| s.chars().count();
    let title = render::trim(&render::escape_markdown(question), TITLE_MAX);
    let mut embeds: Vec<(usize, CreateEmbed)> = parts
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let mut e = CreateEmbed::new().color(0x4f6bed);
            let mut size = chars(&text);
            if i == 0 {
                e = e.title(title.clone());
                size += chars(&title);
            }
            (size, e.description(text))
        })
        .collect();
    // Sources go under the last text while the embed stays within
    // Discord's budget (6000 characters, 25 fields); the rest in embeds of their own.
    let mut fields = fields.into_iter().peekable();
    loop {
        let (size, e) = embeds.last_mut().expect("at least one embed");
        let mut count = 0;
        while let Some((name, value)) = fields.peek() {
            let add = chars(name) + chars(value);
            if count == 25 || *size + add + chars(&footer) > MESSAGE_EMBEDS_MAX - 100 {
                break;
            }
            *e = std::mem::replace(e, CreateEmbed::new()).field(name.clone(), value.clone(), false);
            *size += add;
            count += 1;
            fields.next();
        }
        if fields.peek().is_none() {
            break;
        }
        embeds.push((0, CreateEmbed::new().color(0x4f6bed)));
    }
    let last = embeds.len() - 1;
    embeds[last].1 = std::mem::replace(&mut embeds[last].1, CreateEmbed::new()).footer(CreateEmbedFooter::new(footer));
    embeds.into_iter().map(|(_, e)| e).collect()
}

/// Characters an embed counts toward the 6000-per-message limit.
fn embed_chars(e: &CreateEmbed) -> usize {
    let v = serde_json::to_value(e).unwrap_or_default();
    let s = |k: &str| v[k].as_str().map_or(0, |x| x.chars().count());
    let fields: usize = v["fields"].as_array().map_or(0, |fs| {
        fs.iter()
            .map(|f| {
                f["name"].as_str().map_or(0, |x| x.chars().count())
                    + f["value"].as_str().map_or(0, |x| x.chars().count())
            })
            .sum()
    });
    s("title") + s("description") + fields + v["footer"]["text"].as_str().map_or(0, |x| x.chars().count())
}

/// Batches embeds into messages (≤10 embeds, ≤6000 chars each).
fn first_message(embeds: Vec<CreateEmbed>) -> (Vec<CreateEmbed>, Vec<Vec<CreateEmbed>>) {
    let mut batches: Vec<Vec<CreateEmbed>> = vec![];
    let mut size = 0;
    for e in embeds {
        let c = embed_chars(&e);
        match batches.last_mut() {
            Some(b) if b.len() < EMBEDS_PER_MESSAGE && size + c <= MESSAGE_EMBEDS_MAX => {
                b.push(e);
                size += c;
            }
            _ => {
                batches.push(vec![e]);
                size = c;
            }
        }
    }
    let mut it = batches.into_iter();
    (it.next().unwrap_or_default(), it.collect())
}

async fn search(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let query = string_option(cmd, "query").unwrap_or_default().to_string();
    cmd.defer(&ctx.http).await?;
    let lib = bot.answerer.library();
    let opts = SearchOptions {
        k: 8,
        ..Default::default()
    };
    let body = match retrieve::search(lib, &query, &opts).await {
        Ok(hits) if hits.is_empty() => "No matching papers.".to_string(),
        Ok(hits) => {
            let lines: Vec<String> = hits
                .iter()
                .enumerate()
                .map(|(i, h)| render::source_line(&format!("{}. ", i + 1), &h.stored.paper, 300))
                .collect();
            lines.join("\n")
        }
        Err(e) => {
            tracing::warn!(id = cmd.id.get(), error = %e, "search failed");
            "The paper library is unavailable right now.".to_string()
        }
    };
    let embed = CreateEmbed::new()
        .title(render::trim(
            &format!("Search: {}", render::escape_markdown(&query)),
            TITLE_MAX,
        ))
        .description(render::trim(&body, DESCRIPTION_MAX))
        .footer(CreateEmbedFooter::new(bot.index_info().footer()));
    cmd.edit_response(
        &ctx.http,
        EditInteractionResponse::new().embed(embed).allowed_mentions(no_pings()),
    )
    .await
    .map(|_| ())
}

/// Finds a paper by exact id, exact title, or title prefix/substring.
async fn find_paper(bot: &Bot, needle: &str) -> Option<StoredPaper> {
    let lib = bot.answerer.library();
    if let Some(id) = crate::paper::PaperId::parse(needle) {
        if let Ok(mut found) = lib.store.get(&[id]).await {
            if let Some(p) = found.pop() {
                return Some(p);
            }
        }
    }
    let want = normalise_title(needle);
    let titles = title_index(bot).await;
    let id = titles
        .iter()
        .find(|(t, _)| *t == want)
        .or_else(|| titles.iter().find(|(t, _)| t.contains(&want)))
        .map(|(_, p)| p.id.clone())?;
    lib.store.get(&[id]).await.ok()?.pop()
}

/// (normalised title, paper) for every paper; scans the store.
async fn title_index(bot: &Bot) -> Vec<(String, Paper)> {
    let store = &bot.answerer.library().store;
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let Ok(page) = store.scroll(cursor, 1_000).await else {
            break;
        };
        out.extend(
            page.papers
                .into_iter()
                .map(|s| (normalise_title(&s.paper.title), s.paper)),
        );
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    out
}

fn paper_card(p: &Paper) -> CreateEmbed {
    let mut e = CreateEmbed::new().title(render::trim(&p.title, TITLE_MAX));
    if let Some(link) = p.link() {
        e = e.url(link);
    }
    let body = p
        .summary
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&p.abstract_text);
    e = e.description(render::trim(body, DESCRIPTION_MAX));
    if !p.authors.is_empty() {
        let authors = if p.authors.len() > 8 {
            format!("{}, … ({} authors)", p.authors[..8].join(", "), p.authors.len())
        } else {
            p.authors.join(", ")
        };
        e = e.field("Authors", render::trim(&authors, FIELD_MAX), false);
    }
    if let Some(d) = p.published {
        e = e.field("Published", d.format("%Y-%m-%d").to_string(), true);
    }
    if let Some(u) = p.upvotes {
        e = e.field("Upvotes", u.to_string(), true);
    }
    let mut links = vec![];
    if let Some(a) = p.arxiv_url() {
        links.push(format!("[arXiv](<{a}>)"));
    }
    if let Some(id) = p.id.arxiv_id() {
        links.push(format!("[Hugging Face](<https://huggingface.co/papers/{id}>)"));
    }
    if let Some(c) = &p.code_url {
        links.push(format!("[code](<{c}>)"));
    }
    if !links.is_empty() {
        e = e.field("Links", links.join(" · "), false);
    }
    e
}

async fn paper(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let needle = string_option(cmd, "title").unwrap_or_default();
    match find_paper(bot, needle).await {
        Some(p) => {
            cmd.create_response(
                &ctx.http,
                CreateInteractionResponse::Message(
                    CreateInteractionResponseMessage::new()
                        .embed(paper_card(&p.paper))
                        .allowed_mentions(no_pings()),
                ),
            )
            .await
        }
        None => ephemeral(ctx, cmd, "No paper with that title in the library; try `/search`.").await,
    }
}

async fn related(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let needle = string_option(cmd, "title").unwrap_or_default();
    let Some(p) = find_paper(bot, needle).await else {
        return ephemeral(ctx, cmd, "No paper with that title in the library; try `/search`.").await;
    };
    cmd.defer(&ctx.http).await?;
    let opts = SearchOptions {
        k: 8,
        ..Default::default()
    };
    let body = match retrieve::related(bot.answerer.library(), &p.paper.id, &opts).await {
        Ok(hits) if !hits.is_empty() => hits
            .iter()
            .enumerate()
            .map(|(i, h)| render::source_line(&format!("{}. ", i + 1), &h.stored.paper, 300))
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(_) => "No similar papers yet.".into(),
        Err(e) => {
            tracing::warn!(id = cmd.id.get(), error = %e, "related failed");
            "The paper library is unavailable right now.".into()
        }
    };
    let embed = CreateEmbed::new()
        .title(render::trim(
            &format!("Papers like: {}", render::escape_markdown(&p.paper.title)),
            TITLE_MAX,
        ))
        .description(render::trim(&body, DESCRIPTION_MAX));
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

/// Up to 25 titles containing what was typed (prefix matches first).
async fn autocomplete(bot: &Arc<Bot>, ctx: &Context, cmd: &CommandInteraction) -> serenity::Result<()> {
    let typed = cmd.data.autocomplete().map(|o| o.value.to_string()).unwrap_or_default();
    let want = normalise_title(&typed);
    let titles = title_index(bot).await;
    let mut matches: Vec<&(String, Paper)> = titles.iter().filter(|(t, _)| t.contains(&want)).collect();
    matches.sort_by_key(|(t, p)| (!t.starts_with(&want), p.title.len()));
    let mut resp = CreateAutocompleteResponse::new();
    for (_, p) in matches.into_iter().take(25) {
        // Choice names and values are limited to 100 characters.
        let name = render::trim(&p.title, 100);
        resp = resp.add_string_choice(name, p.id.as_str().to_string());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::Cited;
    use crate::paper::{Paper, SourceKind};

    #[test]
    fn a_long_answer_with_many_sources_fits_every_embed_and_message_limit() {
        let citations: Vec<Cited> = (1..=20)
            .map(|n| {
                let mut p = Paper::from_title_and_abstract(
                    &format!("{n} {}", "Long Title ".repeat(20)),
                    "a",
                    SourceKind::PageText,
                );
                p.url = Some(format!("https://arxiv.org/abs/2501.{n:05}"));
                Cited { n, paper: p }
            })
            .collect();
        let answer = Answer {
            kind: AnswerKind::Generated { model: "m".into() },
            text: "A sentence that cites [1]. ".repeat(300),
            citations,
            related: vec![],
            dropped_citations: vec![],
            truncated: false,
            llm_tokens: 0,
        };
        let embeds = answer_embeds("q?", &answer, "85 papers indexed", "answers by m");
        let mut sources = 0;
        for e in &embeds {
            let v = serde_json::to_value(e).unwrap();
            assert!(embed_chars(e) <= MESSAGE_EMBEDS_MAX, "{} chars", embed_chars(e));
            assert!(v["description"].as_str().map_or(0, |d| d.chars().count()) <= DESCRIPTION_MAX);
            let fields = v["fields"].as_array().map_or(0, Vec::len);
            assert!(fields <= 25);
            for f in v["fields"].as_array().into_iter().flatten() {
                assert!(f["value"].as_str().unwrap().chars().count() <= FIELD_MAX);
                sources += f["value"].as_str().unwrap().lines().count();
            }
        }
        assert_eq!(sources, 20, "every source listed once");
        let (first, rest) = first_message(embeds);
        for batch in std::iter::once(&first).chain(rest.iter()) {
            assert!(batch.len() <= EMBEDS_PER_MESSAGE);
            assert!(batch.iter().map(embed_chars).sum::<usize>() <= MESSAGE_EMBEDS_MAX);
        }
    }
}
