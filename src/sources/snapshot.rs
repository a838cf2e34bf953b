//! The arXiv metadata snapshot (Kaggle's `arxiv-metadata-oai-snapshot.json`):
//! one JSON object per line for every arXiv paper, 4+ GB in all. The caller
//! reads it line by line and hands each line to [`parse_line`] with a
//! [`SnapshotFilter`]; a line the filter rejects costs one JSON scan and no
//! copies of its title or abstract.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::paper::{Paper, PaperId, SourceKind};

/// Which snapshot lines to keep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotFilter {
    /// A paper is kept when any of its categories matches any of these: an
    /// archive, with or without a final `.` (`cs.`, `cs`, `hep-th`), keeps
    /// itself and all its subjects (`cs.CL`, `cs.LG`, …); a subject (`cs.CL`)
    /// must match exactly. Empty keeps every paper.
    pub categories: Vec<String>,
    /// First day kept (inclusive).
    pub from: Option<NaiveDate>,
    /// Last day kept (inclusive). Both are compared with the first
    /// version's date (UTC), falling back to `update_date`.
    pub until: Option<NaiveDate>,
}

impl SnapshotFilter {
    /// Whether a paper with these (space-separated) categories is kept.
    pub fn wants_categories(&self, categories: &str) -> bool {
        self.categories.is_empty()
            || categories
                .split_whitespace()
                .any(|c| self.categories.iter().any(|f| category_matches(f, c)))
    }

    fn wants_day(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|f| day >= f) && self.until.is_none_or(|u| day <= u)
    }

    fn has_dates(&self) -> bool {
        self.from.is_some() || self.until.is_some()
    }
}

fn category_matches(filter: &str, category: &str) -> bool {
    let filter = filter.trim();
    let base = filter.strip_suffix('.').unwrap_or(filter);
    if base.is_empty() {
        return false;
    }
    if filter.ends_with('.') || !base.contains('.') {
        // An archive: itself (old papers, e.g. `hep-th`, `astro-ph` before
        // 2009) and its subjects.
        category == base || category.strip_prefix(base).is_some_and(|rest| rest.starts_with('.'))
    } else {
        category == filter
    }
}

/// What became of one line.
#[derive(Debug, Clone, PartialEq)]
pub enum LineOutcome {
    Paper(Paper),
    /// Outside the filter, or a blank line.
    Filtered,
    /// Not a usable paper record; the message says why (the caller knows
    /// the line number).
    Problem(String),
}

/// One snapshot line as read. Title, abstract and authors stay raw JSON
/// until the filter has passed the line.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    title: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "abstract")]
    abstract_text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    authors: Option<&'a RawValue>,
    #[serde(default, borrow)]
    authors_parsed: Option<&'a RawValue>,
    #[serde(default, borrow)]
    categories: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    versions: Option<Vec<Version<'a>>>,
    #[serde(default, borrow)]
    update_date: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Version<'a> {
    #[serde(default, borrow)]
    created: Option<Cow<'a, str>>,
}

pub fn parse_line(line: &[u8], filter: &SnapshotFilter) -> LineOutcome {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return LineOutcome::Filtered;
    }
    let rec: Line = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => return LineOutcome::Problem(format!("not a snapshot record: {e}")),
    };
    let Some(id) = PaperId::arxiv(&rec.id) else {
        return LineOutcome::Problem(format!(
            "no arXiv id in \"id\" ({:?}); record skipped",
            super::page_text::short(&rec.id)
        ));
    };
    let categories = rec.categories.as_deref().unwrap_or_default();
    if !filter.wants_categories(categories) {
        return LineOutcome::Filtered;
    }
    // The first version's submission time: the earliest of the versions
    // (v1 comes first, but nothing in the file promises that).
    let published = rec
        .versions
        .iter()
        .flatten()
        .filter_map(|v| v.created.as_deref().and_then(parse_rfc2822))
        .min();
    if filter.has_dates() {
        let day = published.map(|t| t.date_naive()).or_else(|| {
            rec.update_date
                .as_deref()
                .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        });
        match day {
            Some(d) if filter.wants_day(d) => {}
            Some(_) => return LineOutcome::Filtered,
            None => {
                return LineOutcome::Problem(format!(
                    "{id}: no version date or update_date to compare with the date filter; record skipped"
                ));
            }
        }
    }
    let paper = Paper {
        url: Some(format!("https://arxiv.org/abs/{id}")),
        title: raw_string(rec.title),
        abstract_text: raw_string(rec.abstract_text),
        authors: authors(rec.authors_parsed, rec.authors),
        published,
        source: SourceKind::Arxiv,
        upvotes: None,
        keywords: categories.split_whitespace().map(str::to_string).collect(),
        summary: None,
        code_url: None,
        id,
    };
    let id = paper.id.clone();
    match paper.validate() {
        Ok(p) => LineOutcome::Paper(p),
        Err(e) => LineOutcome::Problem(format!("{id}: {e}; record skipped")),
    }
}

/// `"Mon, 2 Apr 2007 19:18:42 GMT"`.
fn parse_rfc2822(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A JSON string, or empty for null / anything else.
fn raw_string(raw: Option<&RawValue>) -> String {
    raw.and_then(|r| serde_json::from_str::<Option<String>>(r.get()).ok().flatten())
        .unwrap_or_default()
}

/// `authors_parsed` (`[["Balázs", "C.", ""], …]`, last–first–suffix) as
/// "C. Balázs"; else the `authors` string split on commas and "and" (it
/// keeps TeX accents such as `Bal\'azs`, so it is only the fallback).
fn authors(parsed: Option<&RawValue>, plain: Option<&RawValue>) -> Vec<String> {
    let parsed: Option<Vec<Vec<Option<String>>>> = parsed.and_then(|r| serde_json::from_str(r.get()).ok());
    if let Some(list) = parsed.filter(|l| !l.is_empty()) {
        return list
            .iter()
            .map(|parts| {
                let part = |i: usize| parts.get(i).and_then(|p| p.as_deref()).unwrap_or("").trim();
                [part(1), part(0), part(2)]
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|a| !a.is_empty())
            .collect();
    }
    raw_string(plain)
        .split(',')
        .flat_map(|a| a.split(" and "))
        .map(|a| a.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|a| !a.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = include_bytes!("../../tests/data/arxiv-snapshot-sample.jsonl");

    fn lines() -> Vec<&'static [u8]> {
        SAMPLE.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect()
    }

    fn day(s: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    }

    fn filter(categories: &[&str], from: Option<&str>, until: Option<&str>) -> SnapshotFilter {
        SnapshotFilter {
            categories: categories.iter().map(|c| c.to_string()).collect(),
            from: from.and_then(day),
            until: until.and_then(day),
        }
    }

    /// The ids of the papers a filter keeps; panics on a problem in a good line.
    fn kept(f: &SnapshotFilter) -> Vec<String> {
        let mut ids = vec![];
        for (n, line) in lines().into_iter().enumerate().take(4) {
            match parse_line(line, f) {
                LineOutcome::Paper(p) => ids.push(p.id.to_string()),
                LineOutcome::Filtered => {}
                LineOutcome::Problem(why) => panic!("line {}: {why}", n + 1),
            }
        }
        ids
    }

    #[test]
    fn sample_lines_parse() {
        let all = SnapshotFilter::default();
        let lines = lines();
        assert_eq!(lines.len(), 5);
        let LineOutcome::Paper(p) = parse_line(lines[0], &all) else {
            panic!("line 1")
        };
        assert_eq!(p.id.as_str(), "0704.0001");
        assert_eq!(
            p.title,
            "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
        );
        assert!(p.abstract_text.starts_with("A fully differential calculation"));
        assert!(p.abstract_text.ends_with("selection of events."));
        assert_eq!(
            p.authors,
            ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]
        );
        assert_eq!(p.published, parse_rfc2822("Mon, 2 Apr 2007 19:18:42 GMT"));
        assert_eq!(p.published.unwrap().to_rfc3339(), "2007-04-02T19:18:42+00:00");
        assert_eq!(p.keywords, ["hep-ph"]);
        assert_eq!(p.source, SourceKind::Arxiv);
        assert_eq!(p.url.as_deref(), Some("https://arxiv.org/abs/0704.0001"));

        // Old-style id.
        let LineOutcome::Paper(p) = parse_line(lines[1], &all) else {
            panic!("line 2")
        };
        assert_eq!(p.id.as_str(), "hep-th/9711200");
        assert_eq!(p.url.as_deref(), Some("https://arxiv.org/abs/hep-th/9711200"));
        assert_eq!(p.authors, ["Juan M. Maldacena"]);
        assert_eq!(p.published.unwrap().date_naive(), day("1997-11-27").unwrap());

        let LineOutcome::Paper(p) = parse_line(lines[2], &all) else {
            panic!("line 3")
        };
        assert_eq!(p.id.as_str(), "1706.03762");
        assert_eq!(p.authors.len(), 8);
        assert_eq!(p.authors[5], "Aidan N. Gomez");
        assert_eq!(p.keywords, ["cs.CL", "cs.LG"]);
        assert_eq!(p.published.unwrap().date_naive(), day("2017-06-12").unwrap());

        assert_eq!(kept(&all), ["0704.0001", "hep-th/9711200", "1706.03762", "2401.14034"]);
    }

    #[test]
    fn malformed_line_is_a_problem() {
        for f in [SnapshotFilter::default(), filter(&["cs."], None, None)] {
            match parse_line(lines()[4], &f) {
                LineOutcome::Problem(why) => assert!(why.contains("not a snapshot record"), "{why}"),
                other => panic!("{other:?}"),
            }
        }
        for bad in [
            &b"{"[..],
            b"[1,2]",
            b"{\"id\": 5}",
            b"{\"id\": \"not-an-id\", \"title\": \"T\", \"abstract\": \"A\"}",
            b"{\"id\": \"2401.01234\", \"title\": null, \"abstract\": \"A\"}",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_line(bad, &SnapshotFilter::default()), LineOutcome::Problem(_)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_line(b"  \r", &SnapshotFilter::default()), LineOutcome::Filtered);
    }

    #[test]
    fn filter_by_category() {
        assert_eq!(kept(&filter(&["cs."], None, None)), ["1706.03762", "2401.14034"]);
        assert_eq!(kept(&filter(&["cs"], None, None)), ["1706.03762", "2401.14034"]);
        assert_eq!(kept(&filter(&["cs.CL"], None, None)), ["1706.03762"]);
        // Any category counts, not only the primary one.
        assert_eq!(kept(&filter(&["cs.LG"], None, None)), ["1706.03762"]);
        assert_eq!(
            kept(&filter(&["hep-th", "cs.CV"], None, None)),
            ["hep-th/9711200", "2401.14034"]
        );
        // An archive with a final dot still keeps its undivided papers.
        assert_eq!(kept(&filter(&["hep-th."], None, None)), ["hep-th/9711200"]);
        // Filters name archives or subjects, not arbitrary string prefixes.
        assert!(kept(&filter(&["hep"], None, None)).is_empty());
        assert!(kept(&filter(&["hep-"], None, None)).is_empty());
        assert!(kept(&filter(&["cs.C"], None, None)).is_empty());
    }

    #[test]
    fn filter_by_date() {
        assert_eq!(kept(&filter(&[], Some("2020-01-01"), None)), ["2401.14034"]);
        assert_eq!(kept(&filter(&[], None, Some("1999-12-31"))), ["hep-th/9711200"]);
        // Inclusive at both ends, on the first version's date (not update_date 2023-08-03).
        assert_eq!(
            kept(&filter(&[], Some("2017-06-12"), Some("2017-06-12"))),
            ["1706.03762"]
        );
        assert!(kept(&filter(&[], Some("2023-08-01"), Some("2023-12-31"))).is_empty());
        assert_eq!(
            kept(&filter(&["cs."], Some("2007-01-01"), Some("2018-01-01"))),
            ["1706.03762"]
        );
        // No versions: update_date decides.
        let line =
            br#"{"id":"0704.0002","title":"T","abstract":"A","categories":"math.CO cs.CG","update_date":"2008-12-13"}"#;
        assert!(matches!(
            parse_line(line, &filter(&[], Some("2008-12-13"), None)),
            LineOutcome::Paper(p) if p.published.is_none()
        ));
        assert_eq!(
            parse_line(line, &filter(&[], Some("2008-12-14"), None)),
            LineOutcome::Filtered
        );
        let undated = br#"{"id":"0704.0002","title":"T","abstract":"A"}"#;
        assert!(matches!(
            parse_line(undated, &filter(&[], Some("2008-12-14"), None)),
            LineOutcome::Problem(_)
        ));
        assert!(matches!(
            parse_line(undated, &SnapshotFilter::default()),
            LineOutcome::Paper(_)
        ));
    }

    #[test]
    fn authors_fallback_to_plain_string() {
        let line = br#"{"id":"0704.0002","title":"T","abstract":"A","authors":"Ileana Streinu and Louis Theran","authors_parsed":null}"#;
        let LineOutcome::Paper(p) = parse_line(line, &SnapshotFilter::default()) else {
            panic!()
        };
        assert_eq!(p.authors, ["Ileana Streinu", "Louis Theran"]);
    }
}
