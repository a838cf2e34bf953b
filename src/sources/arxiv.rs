//! arXiv export API responses (Atom 1.0 feeds from `/api/query`).
//!
//! Read with a streaming parser: entries before a malformed or truncated
//! spot are kept. Versioned ids map to one paper; whitespace is folded.
//! API errors arrive as an entry whose id is an `/api/errors` URL and are
//! reported as such.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{ParseOutcome, RecordProblem};
use crate::paper::{Paper, PaperId, SourceKind};

#[derive(Default)]
struct Entry {
    id: String,
    title: String,
    summary: String,
    published: String,
    authors: Vec<String>,
    categories: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Field {
    None,
    Id,
    Title,
    Summary,
    Published,
    AuthorName,
}

pub fn parse(bytes: &[u8]) -> ParseOutcome {
    let mut outcome = ParseOutcome::default();
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(false);
    let mut entry: Option<Entry> = None;
    let mut field = Field::None;
    let mut in_author = false;
    let mut entries = 0usize;
    loop {
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                outcome.problems.push(RecordProblem::new(
                    format!("document after entry {entries} (byte {})", reader.buffer_position()),
                    format!("malformed XML ({e}); the rest of the feed was skipped"),
                ));
                break;
            }
        };
        match event {
            Event::Start(e) => match (local(&e).as_slice(), entry.is_some()) {
                (b"entry", _) => {
                    entry = Some(Entry::default());
                    field = Field::None;
                }
                (b"id", true) if !in_author => field = Field::Id,
                (b"title", true) => field = Field::Title,
                (b"summary", true) => field = Field::Summary,
                (b"published", true) => field = Field::Published,
                (b"author", true) => {
                    in_author = true;
                    if let Some(en) = entry.as_mut() {
                        en.authors.push(String::new());
                    }
                }
                (b"name", true) if in_author => field = Field::AuthorName,
                (b"category", true) => push_category(&e, &mut entry),
                _ => field = Field::None,
            },
            Event::Empty(e) if local(&e).as_slice() == b"category" => {
                push_category(&e, &mut entry);
            }
            Event::Text(t) => {
                if let Ok(s) = t.decode() {
                    append(&mut entry, field, &s, in_author);
                }
            }
            Event::CData(t) => {
                if let Ok(s) = t.decode() {
                    append(&mut entry, field, &s, in_author);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = super::xml_entity(&r);
                if let Some(s) = resolved {
                    append(&mut entry, field, &s, in_author);
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"entry" => {
                    entries += 1;
                    if let Some(done) = entry.take() {
                        finish(done, entries, &mut outcome);
                    }
                    field = Field::None;
                }
                b"author" => {
                    in_author = false;
                    field = Field::None;
                }
                _ => field = Field::None,
            },
            Event::Eof => {
                if entry.is_some() {
                    outcome.problems.push(RecordProblem::new(
                        format!("entry {}", entries + 1),
                        "feed ends inside an entry (truncated); entry skipped",
                    ));
                }
                break;
            }
            _ => {}
        }
    }
    outcome
}

fn local(e: &BytesStart) -> Vec<u8> {
    e.local_name().as_ref().to_vec()
}

fn push_category(e: &BytesStart, entry: &mut Option<Entry>) {
    if let (Some(en), Ok(Some(term))) = (entry.as_mut(), e.try_get_attribute("term"))
        && let Ok(v) = term.unescape_value()
        && !en.categories.contains(&v.to_string())
    {
        en.categories.push(v.into_owned());
    }
}

fn append(entry: &mut Option<Entry>, field: Field, s: &str, in_author: bool) {
    let Some(en) = entry.as_mut() else { return };
    let target = match field {
        Field::Id => &mut en.id,
        Field::Title => &mut en.title,
        Field::Summary => &mut en.summary,
        Field::Published => &mut en.published,
        Field::AuthorName if in_author => match en.authors.last_mut() {
            Some(name) => name,
            None => return,
        },
        _ => return,
    };
    target.push_str(s);
}

fn finish(en: Entry, n: usize, outcome: &mut ParseOutcome) {
    let raw_id = en.id.trim();
    if raw_id.contains("/api/errors") {
        outcome.problems.push(RecordProblem::new(
            format!("entry {n}"),
            format!("arXiv API error: {}", crate::paper::clean_text(&en.summary)),
        ));
        return;
    }
    let Some(id) = PaperId::arxiv(raw_id) else {
        outcome.problems.push(RecordProblem::new(
            format!("entry {n}"),
            format!(
                "no arXiv id in <id> ({:?}); entry skipped",
                super::page_text::short(raw_id)
            ),
        ));
        return;
    };
    let record = format!("entry {n} ({id})");
    let paper = Paper {
        url: Some(format!("https://arxiv.org/abs/{id}")),
        id,
        title: en.title,
        abstract_text: en.summary,
        authors: en.authors.into_iter().filter(|a| !a.trim().is_empty()).collect(),
        published: super::hf::parse_date(&en.published),
        source: SourceKind::Arxiv,
        upvotes: None,
        keywords: en.categories,
        summary: None,
        code_url: None,
    };
    outcome.push(record, paper.validate());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(entries: &str) -> String {
        format!(r#"<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">{entries}</feed>"#)
    }
    const E1: &str = r#"<entry><id>http://arxiv.org/abs/2401.01234v2</id><published>2024-01-02T00:00:00Z</published>
        <title>A   Title
          &amp; More</title><summary>  Some
        abstract text. </summary><author><name>Ann One</name></author><author><name>Bob Two</name></author>
        <category term="cs.CL"/><category term="cs.AI"/></entry>"#;

    #[test]
    fn parses_entry_and_normalises() {
        let out = parse(feed(E1).as_bytes());
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        let p = &out.papers[0];
        assert_eq!(p.id.as_str(), "2401.01234");
        assert_eq!(p.title, "A Title & More");
        assert_eq!(p.abstract_text, "Some abstract text.");
        assert_eq!(p.authors, ["Ann One", "Bob Two"]);
        assert_eq!(p.keywords, ["cs.CL", "cs.AI"]);
        assert!(p.published.is_some());
    }

    #[test]
    fn truncated_feed_keeps_complete_entries() {
        let doc = feed(&format!("{E1}{}", &E1[..60]));
        let out = parse(&doc.as_bytes()[..doc.len() - 7]);
        assert_eq!(out.papers.len(), 1);
        assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
    }

    #[test]
    fn api_error_entry_is_reported() {
        let err = r#"<entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id><title>Error</title><summary>incorrect id format for 1234</summary></entry>"#;
        let out = parse(feed(err).as_bytes());
        assert!(out.papers.is_empty());
        assert!(out.problems[0].reason.contains("incorrect id format"));
    }
}
