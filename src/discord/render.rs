//! Answers to Discord's shapes, within Discord's limits: message content
//! 2000, embed title 256, description 4096, field value 1024, 6000 per
//! message across embeds, 10 embeds. Text is split at paragraph, line,
//! sentence or word boundaries and never inside a citation (`[1, 2]`), a
//! markdown link or a URL.

use serenity::all::{CreateEmbed, CreateEmbedFooter};

use crate::answer::{Answer, AnswerKind};
use crate::digest::Digest;
use crate::paper::Paper;

pub const CONTENT_MAX: usize = 2000;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELD_MAX: usize = 1024;
pub const MESSAGE_EMBEDS_MAX: usize = 6000;
pub const EMBEDS_PER_MESSAGE: usize = 10;

/// Splits `text` into pieces of at most `limit` characters, preferring a
/// paragraph break, then a line break, then a sentence end, then a space,
/// and never cutting inside `[...]`, `(...)` of a link, or a URL. Only a
/// single unbreakable run longer than `limit` is cut hard (at a char).
pub fn split(text: &str, limit: usize) -> Vec<String> {
    assert!(limit >= 16, "limit too small to split sensibly");
    let mut out = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > limit {
        let cut = best_cut(rest, limit);
        let (head, tail) = rest.split_at(cut);
        out.push(head.trim_end().to_string());
        rest = tail.trim_start();
    }
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

/// Byte index to cut `text` at: the best boundary within `limit` chars.
fn best_cut(text: &str, limit: usize) -> usize {
    let window_end = text.char_indices().nth(limit).map_or(text.len(), |(i, _)| i);
    let window = &text[..window_end];
    let safe = safe_positions(text, window_end);
    let min = window.len() / 3; // do not make tiny pieces when a boundary is earlier
    let pick = |pat: &str, after: usize| {
        window
            .match_indices(pat)
            .map(|(i, _)| i + after)
            .filter(|&i| i >= min && i > 0 && safe[i])
            .last()
    };
    pick("\n\n", 2)
        .or_else(|| pick("\n", 1))
        .or_else(|| pick(". ", 2))
        .or_else(|| pick("? ", 2))
        .or_else(|| pick("! ", 2))
        .or_else(|| pick(" ", 1))
        .or_else(|| (1..window_end).rev().find(|&i| safe[i] && text.is_char_boundary(i)))
        .unwrap_or_else(|| {
            // One unbreakable run: cut at the char boundary.
            let mut i = window_end;
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        })
}

/// `safe[i]`: a cut before byte `i` would not split a bracket group, a
/// link target or a URL (only `0..=upto` is computed).
fn safe_positions(text: &str, upto: usize) -> Vec<bool> {
    let bytes = text.as_bytes();
    let mut safe = vec![true; upto + 1];
    let mut depth_sq = 0i32;
    let mut depth_par = 0i32;
    let mut in_url = false;
    let mut i = 0;
    while i < upto {
        if !in_url && (bytes[i..].starts_with(b"https://") || bytes[i..].starts_with(b"http://")) {
            in_url = true;
        }
        match bytes[i] {
            b'[' => depth_sq += 1,
            b']' => depth_sq = (depth_sq - 1).max(0),
            b'(' if i > 0 && bytes[i - 1] == b']' => depth_par += 1,
            b')' if depth_par > 0 => depth_par -= 1,
            b' ' | b'\n' | b'\t' | b'>' => in_url = false,
            _ => {}
        }
        safe[i + 1] = depth_sq == 0 && depth_par == 0 && !in_url;
        i += 1;
    }
    safe
}

/// Cuts `text` to at most `max` chars at a word boundary, adding `…`.
pub fn trim(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head = split(text, max.saturating_sub(2).max(16))
        .into_iter()
        .next()
        .unwrap_or_default();
    let head: String = head.chars().take(max.saturating_sub(2)).collect();
    format!("{head} …")
}

/// `[n] Title` linked when the paper has a link: one Sources line.
pub fn source_line(prefix: &str, paper: &Paper, max: usize) -> String {
    let link = paper.link();
    // `[title](<link>)` adds six characters around the title and link.
    let room = max
        .saturating_sub(prefix.chars().count() + link.as_ref().map_or(0, |l| l.chars().count() + 6))
        .max(16);
    let title = trim(&escape_markdown(&paper.title), room);
    match link {
        Some(l) => format!("{prefix}[{title}](<{l}>)"),
        None => format!("{prefix}{title}"),
    }
}

/// Paper text is data: keep it from turning into markdown or links.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '_' | '~' | '`' | '|' | '[' | ']' | '>' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Lines grouped into chunks of at most `max` chars (joined by newlines);
/// a line is never split across chunks.
pub fn pack_lines(lines: &[String], max: usize) -> Vec<String> {
    let mut chunks: Vec<String> = Vec::new();
    for line in lines {
        let line = trim(line, max);
        match chunks.last_mut() {
            Some(c) if c.chars().count() + 1 + line.chars().count() <= max => {
                c.push('\n');
                c.push_str(&line);
            }
            _ => chunks.push(line),
        }
    }
    chunks
}

/// The "Sources" lines of an answer, or its related/nearest papers.
pub fn reference_lines(answer: &Answer, max: usize) -> (String, Vec<String>) {
    if !answer.citations.is_empty() {
        let lines = answer
            .citations
            .iter()
            .map(|c| source_line(&format!("[{}] ", c.n), &c.paper, max))
            .collect();
        ("Sources".into(), lines)
    } else {
        let lines = answer.related.iter().map(|p| source_line("• ", p, max)).collect();
        (answer.related_label().into(), lines)
    }
}

/// A plain-text answer for a chat message (mentions and threads): the text,
/// a label when it is not written by an LLM, then the references; split
/// into messages of at most [`CONTENT_MAX`] chars.
pub fn answer_messages(answer: &Answer) -> Vec<String> {
    let mut text = answer.text.trim_end().to_string();
    if answer.kind == AnswerKind::Extractive {
        text.push_str("\n\n*Quoted from the abstracts (no language model configured).*");
    }
    if answer.truncated {
        text.push_str("\n\n*(The answer reached its length limit.)*");
    }
    let (label, lines) = reference_lines(answer, FIELD_MAX);
    if !lines.is_empty() {
        text.push_str(&format!("\n\n**{label}**\n"));
        text.push_str(&lines.join("\n"));
    }
    split(&text, CONTENT_MAX)
}

/// Embeds for an answer: the text (split over several embeds past 4096),
/// Sources fields (split past 1024, a line never cut), a footer.
pub fn answer_embeds(question: &str, answer: &Answer, freshness: &str, llm: &str) -> Vec<CreateEmbed> {
    let mut parts = split(&answer.text, DESCRIPTION_MAX);
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
    let footer = trim(&footer, 2048);
    let (ref_label, lines) = reference_lines(answer, FIELD_MAX);
    let fields: Vec<(String, String)> = pack_lines(&lines, FIELD_MAX)
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
    let title = trim(&escape_markdown(question), TITLE_MAX);
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
pub fn embed_chars(e: &CreateEmbed) -> usize {
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

/// Batches embeds into messages (≤10 embeds, ≤6000 chars each): the first
/// batch, then the rest.
pub fn embed_batches(embeds: Vec<CreateEmbed>) -> (Vec<CreateEmbed>, Vec<Vec<CreateEmbed>>) {
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

/// A paper's card: title linked, TL;DR or abstract, authors, date, upvotes, links.
pub fn paper_card(p: &Paper) -> CreateEmbed {
    let mut e = CreateEmbed::new().title(trim(&p.title, TITLE_MAX));
    if let Some(link) = p.link() {
        e = e.url(link);
    }
    let body = p
        .summary
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&p.abstract_text);
    e = e.description(trim(body, DESCRIPTION_MAX));
    if !p.authors.is_empty() {
        let authors = if p.authors.len() > 8 {
            format!("{}, … ({} authors)", p.authors[..8].join(", "), p.authors.len())
        } else {
            p.authors.join(", ")
        };
        e = e.field("Authors", trim(&authors, FIELD_MAX), false);
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

/// A paper's TL;DR for a compact card: its summary, else its abstract's
/// first sentence or two, within `max` characters.
pub fn tldr(p: &Paper, max: usize) -> String {
    if let Some(s) = p.summary.as_deref().filter(|s| !s.trim().is_empty()) {
        return trim(s.trim(), max);
    }
    let mut out = String::new();
    for s in crate::text::sentences(&p.abstract_text) {
        if !out.is_empty() && out.chars().count() + s.chars().count() > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&s);
    }
    trim(&out, max)
}

/// "A, B, C et al. · 2025-11-02"
fn byline(p: &Paper) -> String {
    let mut parts = vec![];
    if !p.authors.is_empty() {
        let names = p
            .authors
            .iter()
            .take(3)
            .map(|a| escape_markdown(a))
            .collect::<Vec<_>>()
            .join(", ");
        parts.push(if p.authors.len() > 3 {
            format!("{names} et al.")
        } else {
            names
        });
    }
    if let Some(d) = p.published {
        parts.push(d.format("%Y-%m-%d").to_string());
    }
    parts.join(" · ")
}

/// "[arXiv](<…>) · [PDF](<…>) · [Hugging Face](<…>) · [code](<…>)"
fn link_line(p: &Paper) -> String {
    let mut links = vec![];
    match p.id.arxiv_id() {
        Some(id) => {
            links.push(format!("[arXiv](<https://arxiv.org/abs/{id}>)"));
            links.push(format!("[PDF](<https://arxiv.org/pdf/{id}>)"));
            links.push(format!("[Hugging Face](<https://huggingface.co/papers/{id}>)"));
        }
        None => links.extend(p.link().map(|l| format!("[page](<{l}>)"))),
    }
    if let Some(c) = &p.code_url {
        links.push(format!("[code](<{c}>)"));
    }
    links.join(" · ")
}

/// The compact card a shared link gets: title, TL;DR, authors and date, links.
pub fn link_card(p: &Paper) -> CreateEmbed {
    let mut e = CreateEmbed::new().title(trim(&p.title, TITLE_MAX));
    if let Some(link) = p.link() {
        e = e.url(link);
    }
    let body = [tldr(p, 300), byline(p), link_line(p)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    e.description(trim(&body, DESCRIPTION_MAX))
}

/// The same card as text, for a channel where the bot may not embed.
pub fn link_card_text(p: &Paper) -> String {
    format!(
        "**{}**\n{}\n{}\n{}",
        escape_markdown(&trim(&p.title, 200)),
        tldr(p, 200),
        byline(p),
        link_line(p)
    )
}

/// A numbered list of papers as one embed (`/search`, `/related`).
pub fn paper_list(title: &str, papers: &[&Paper], empty: &str, footer: Option<String>) -> CreateEmbed {
    let body = if papers.is_empty() {
        empty.to_string()
    } else {
        papers
            .iter()
            .enumerate()
            .map(|(i, p)| source_line(&format!("{}. ", i + 1), p, 300))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut e = CreateEmbed::new()
        .title(trim(&escape_markdown(title), TITLE_MAX))
        .description(trim(&body, DESCRIPTION_MAX));
    if let Some(f) = footer {
        e = e.footer(CreateEmbedFooter::new(trim(&f, 2048)));
    }
    e
}

/// A digest as one embed: overview, then each paper as a linked title with
/// its TL;DR and why it is there. The footer carries the digest id, which
/// is how a post is recognised after a crash.
pub fn digest_embed(d: &Digest, digest_id: &str) -> CreateEmbed {
    let title = match &d.topics {
        Some(t) => format!("New papers — {}", escape_markdown(t)),
        None => "New papers".into(),
    };
    let mut body = format!("{}\n", d.overview);
    for (i, it) in d.items.iter().enumerate() {
        let line = source_line(&format!("**[{}]** ", i + 1), &it.paper, 400);
        body.push_str(&format!(
            "\n{line}\n{} · *{}*\n",
            trim(&escape_markdown(&it.tldr), 300),
            it.why
        ));
    }
    CreateEmbed::new()
        .title(trim(&title, TITLE_MAX))
        .description(trim(&body, DESCRIPTION_MAX))
        .footer(CreateEmbedFooter::new(format!(
            "paperbot digest {digest_id} · since {}",
            d.since.format("%Y-%m-%d %H:%M UTC")
        )))
}

/// "Discussed here": papers shared in the server since the last digest,
/// with how many messages linked each.
pub fn with_discussed(e: CreateEmbed, discussed: &[(Paper, u64)]) -> CreateEmbed {
    if discussed.is_empty() {
        return e;
    }
    let lines: Vec<String> = discussed
        .iter()
        .map(|(p, n)| {
            let times = if *n == 1 {
                "once".to_string()
            } else {
                format!("{n} times")
            };
            source_line("• ", p, 200) + &format!(" — shared {times}")
        })
        .collect();
    e.field("Discussed here", trim(&lines.join("\n"), FIELD_MAX), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_best_boundary_and_keeps_everything() {
        let para = "Sentence one is here [1]. Sentence two follows it [2, 3]. ".repeat(20);
        let text = format!("{para}\n\n{para}");
        let parts = split(&text, 600);
        assert!(parts.iter().all(|p| p.chars().count() <= 600));
        let joined: String = parts.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
        let original: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(joined, original, "nothing lost");
        for p in &parts {
            assert_eq!(p.matches('[').count(), p.matches(']').count(), "citation cut: {p}");
            assert!(p.ends_with('.') || p.ends_with(']'), "ends mid-sentence: {p:?}");
        }
    }

    #[test]
    fn never_cuts_citations_links_or_urls() {
        let link = "[A Long Paper Title About Things](<https://arxiv.org/abs/2501.01234>)";
        let text = format!(
            "{} {link} {} https://huggingface.co/papers/2501.01234 end",
            "x".repeat(50),
            "y ".repeat(10)
        );
        for limit in 16..text.len() {
            for part in split(&text, limit) {
                assert!(part.chars().count() <= limit);
                if part.contains("https://arxiv") && limit >= link.len() {
                    assert!(
                        part.contains(link) || !part.contains('['),
                        "link cut at {limit}: {part}"
                    );
                }
                if part.contains("https://huggingface") && limit >= 42 {
                    assert!(
                        part.contains("https://huggingface.co/papers/2501.01234"),
                        "url cut at {limit}: {part}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_single_unbreakable_run_is_cut_hard_but_at_char_boundaries() {
        let text = "é".repeat(100);
        let parts = split(&text, 30);
        assert!(parts.iter().all(|p| p.chars().count() <= 30));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn titles_are_escaped_and_lines_fit() {
        let mut p = Paper::from_title_and_abstract(
            "**Bold** [fake](https://evil.example) title",
            "x",
            crate::paper::SourceKind::PageText,
        );
        p.url = Some("https://arxiv.org/abs/2501.01234".into());
        let line = source_line("[1] ", &p, 1024);
        assert_eq!(
            line,
            "[1] [\\*\\*Bold\\*\\* \\[fake\\](https://evil.example) title](<https://arxiv.org/abs/2501.01234>)"
        );
        p.title = "T".repeat(1000);
        assert!(source_line("[1] ", &p, 200).chars().count() <= 200);
        let packed = pack_lines(&["a".repeat(600), "b".repeat(600), "c".repeat(300)], 1024);
        assert_eq!(packed.len(), 2);
        assert!(packed.iter().all(|c| c.chars().count() <= 1024));
    }

    #[test]
    fn a_long_answer_with_many_sources_fits_every_embed_and_message_limit() {
        use crate::answer::Cited;
        let citations: Vec<Cited> = (1..=20)
            .map(|n| {
                let mut p = Paper::from_title_and_abstract(
                    &format!("{n} {}", "Long Title ".repeat(20)),
                    "a",
                    crate::paper::SourceKind::PageText,
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
            support: Default::default(),
            hedged: false,
            screen: Default::default(),
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
        let (first, rest) = embed_batches(embeds);
        for batch in std::iter::once(&first).chain(rest.iter()) {
            assert!(batch.len() <= EMBEDS_PER_MESSAGE);
            assert!(batch.iter().map(embed_chars).sum::<usize>() <= MESSAGE_EMBEDS_MAX);
        }
    }
}
