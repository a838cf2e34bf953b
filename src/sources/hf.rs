//! Hugging Face daily papers API (`/api/daily_papers?date=YYYY-MM-DD`).
//!
//! The response is a JSON array of `{paper: {...}, numComments, ...}`; a saved
//! single paper object (`/api/papers/<id>`) is accepted too. Fields may be
//! missing and unknown fields are ignored. A truncated or malformed document
//! keeps every item that parsed before the fault.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;

use super::{ParseOutcome, RecordProblem};
use crate::paper::{Paper, PaperId, SourceKind};

#[derive(Deserialize)]
struct Item {
    paper: Option<HfPaper>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HfPaper {
    id: Option<String>,
    title: Option<String>,
    summary: Option<String>,
    #[serde(default)]
    authors: Vec<HfAuthor>,
    published_at: Option<String>,
    upvotes: Option<i64>,
    #[serde(rename = "ai_summary")]
    ai_summary: Option<String>,
    #[serde(rename = "ai_keywords", default)]
    ai_keywords: Option<Vec<String>>,
    github_repo: Option<String>,
}

#[derive(Deserialize)]
struct HfAuthor {
    name: Option<String>,
}

/// Parses a daily-papers response (or a single paper object).
pub fn parse(bytes: &[u8]) -> ParseOutcome {
    let mut outcome = ParseOutcome::default();
    let mut items = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = Collect(&mut items).deserialize(&mut de).and_then(|()| de.end());
    let parsed = items.len();
    for (n, value) in items.into_iter().enumerate() {
        let record = describe(n, &value);
        match convert(value) {
            Ok(paper) => outcome.push(record, paper.validate()),
            Err(reason) => outcome.problems.push(RecordProblem::new(record, reason)),
        }
    }
    if let Err(e) = result {
        outcome.problems.push(RecordProblem::new(
            format!("document after item {parsed}"),
            format!("malformed or truncated JSON ({e}); the rest of the document was skipped"),
        ));
    }
    outcome
}

fn describe(n: usize, value: &Value) -> String {
    let paper = value.get("paper").unwrap_or(value);
    match paper.get("id").and_then(Value::as_str) {
        Some(id) => format!("item {} ({})", n + 1, super::page_text::short(id)),
        None => format!("item {}", n + 1),
    }
}

fn convert(value: Value) -> Result<Paper, String> {
    let paper = if value.get("paper").is_some() {
        serde_json::from_value::<Item>(value)
            .map_err(|e| format!("unexpected shape: {e}"))?
            .paper
    } else {
        Some(serde_json::from_value::<HfPaper>(value).map_err(|e| format!("unexpected shape: {e}"))?)
    };
    let p = paper.ok_or("no `paper` object")?;
    let raw_id = p.id.unwrap_or_default();
    let title = p.title.unwrap_or_default();
    let id = PaperId::arxiv(&raw_id).unwrap_or_else(|| PaperId::from_title(&title));
    let published = p.published_at.as_deref().and_then(parse_date);
    Ok(Paper {
        url: id.arxiv_id().map(|a| format!("https://huggingface.co/papers/{a}")),
        id,
        title,
        abstract_text: p.summary.unwrap_or_default(),
        authors: p.authors.into_iter().filter_map(|a| a.name).collect(),
        published,
        source: SourceKind::HfDaily,
        upvotes: p.upvotes.map(|u| u.clamp(0, i64::from(u32::MAX)) as u32),
        keywords: p.ai_keywords.unwrap_or_default(),
        summary: p.ai_summary,
        code_url: p.github_repo,
    })
}

pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Collects array elements (or one object) one at a time, so the elements read
/// before a syntax error survive it.
struct Collect<'a>(&'a mut Vec<Value>);

impl<'de> DeserializeSeed<'de> for Collect<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Collect<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of daily papers or one paper object")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            self.0.push(v);
        }
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.0.push(v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABSTRACT: &str = "An abstract long enough to be one.";

    fn item(id: &str, title: &str) -> String {
        format!(
            r#"{{"paper":{{"id":"{id}","title":"{title}","summary":"{ABSTRACT}","upvotes":3,"authors":[{{"name":"A. B"}}],"publishedAt":"2025-09-04T21:26:31.000Z","unknown":1}},"numComments":2}}"#
        )
    }

    #[test]
    fn parses_items_and_ignores_unknown_fields() {
        let doc = format!("[{},{}]", item("2509.04664", "One"), item("2509.00001v2", "Two"));
        let out = parse(doc.as_bytes());
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert_eq!(out.papers.len(), 2);
        assert_eq!(out.papers[1].id.as_str(), "2509.00001");
        assert_eq!(out.papers[0].upvotes, Some(3));
        assert_eq!(out.papers[0].authors, ["A. B"]);
        assert_eq!(
            out.papers[0].url.as_deref(),
            Some("https://huggingface.co/papers/2509.04664")
        );
    }

    #[test]
    fn truncated_document_keeps_earlier_items() {
        let doc = format!(
            "[{},{},{}",
            item("2509.04664", "One"),
            item("2509.00001", "Two"),
            &item("2509.00002", "Three")[..40]
        );
        let out = parse(doc.as_bytes());
        assert_eq!(out.papers.len(), 2);
        assert_eq!(out.problems.len(), 1);
        assert!(out.problems[0].reason.contains("truncated"), "{:?}", out.problems);
    }

    #[test]
    fn bad_item_is_skipped_alone() {
        let doc = format!(
            r#"[{},{{"paper":{{"id":"2509.1","title":5}}}},{}]"#,
            item("2509.04664", "One"),
            item("2509.00003", "Three")
        );
        let out = parse(doc.as_bytes());
        assert_eq!(out.papers.len(), 2);
        assert_eq!(out.problems.len(), 1);
        assert!(out.problems[0].record.starts_with("item 2"), "{:?}", out.problems);
    }
}
