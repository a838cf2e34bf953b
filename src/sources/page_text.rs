//! Paper-listing pages saved as text (e.g. a copy of huggingface.co/papers):
//! a few header lines, then blocks of `title`, blank line, `abstract`.
//!
//! The page has no explicit structure, so blocks are told apart by shape: a
//! title is one short line, an abstract is a paragraph of at least
//! [`MIN_ABSTRACT_WORDS`] words. Header and footer noise ("Subscribe",
//! "Mar 11") never has an abstract after it and is passed over.

use super::{ParseOutcome, RecordProblem};
use crate::paper::{Paper, SourceKind};

/// Fewer words than this is not an abstract (headers, nav links, titles).
const MIN_ABSTRACT_WORDS: usize = 20;
/// A title line longer than this is a paragraph, not a title.
const MAX_TITLE_WORDS: usize = 40;

/// Parses page text. Invalid UTF-8 only costs the paragraph it occurs in.
pub fn parse(bytes: &[u8]) -> ParseOutcome {
    let mut outcome = ParseOutcome::default();
    let paragraphs = split_paragraphs(bytes);
    let mut i = 0;
    while i < paragraphs.len() {
        let (line_no, title_bytes) = (paragraphs[i].0, paragraphs[i].1.as_slice());
        let Some((_, next)) = paragraphs.get(i + 1) else {
            break;
        };
        let next = next.as_slice();
        let title = match std::str::from_utf8(title_bytes) {
            Ok(t) => t,
            Err(_) => {
                if looks_like_abstract_bytes(next) {
                    outcome.problems.push(RecordProblem::new(
                        format!("line {line_no}"),
                        "title is not valid UTF-8; record skipped",
                    ));
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
        };
        if !is_title_like(title) || !looks_like_abstract_bytes(next) {
            i += 1;
            continue;
        }
        let record = format!("line {line_no} ({})", short(title));
        match std::str::from_utf8(next) {
            Ok(abstract_text) => {
                let paper = Paper::from_title_and_abstract(title, abstract_text, SourceKind::PageText);
                outcome.push(record, paper.validate());
            }
            Err(e) => outcome.problems.push(RecordProblem::new(
                record,
                format!("abstract is not valid UTF-8 ({e}); record skipped"),
            )),
        }
        i += 2;
    }
    outcome
}

/// Splits on blank lines; each paragraph is returned with its first line
/// number (1-based) and its lines joined by a space.
fn split_paragraphs(bytes: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut current: Option<(usize, Vec<u8>)> = None;
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            out.extend(current.take());
        } else {
            match &mut current {
                Some((_, para)) => {
                    para.push(b' ');
                    para.extend_from_slice(line);
                }
                None => current = Some((n + 1, line.to_vec())),
            }
        }
    }
    out.extend(current);
    out
}

fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

fn is_title_like(s: &str) -> bool {
    let words = word_count(s);
    words > 0 && words < MAX_TITLE_WORDS && s.len() <= 4 * crate::paper::MAX_TITLE_CHARS
}

/// Judged on bytes so a paragraph with a stray invalid byte is still seen as
/// an abstract (and reported), not silently taken for a header.
fn looks_like_abstract_bytes(b: &[u8]) -> bool {
    b.split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
        .take(MIN_ABSTRACT_WORDS)
        .count()
        >= MIN_ABSTRACT_WORDS
}

pub(crate) fn short(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABSTRACT: &str = "We study a problem in depth and we show that a simple method works \
                            better than complex ones across many benchmarks and settings today.";

    #[test]
    fn skips_header_and_reads_pairs() {
        let text =
            format!("new\n\nSubscribe\n\nMar 11\n\nFirst Paper\n\n{ABSTRACT}\n\nSecond: A Paper\n\n{ABSTRACT} More.\n");
        let out = parse(text.as_bytes());
        let titles: Vec<_> = out.papers.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["First Paper", "Second: A Paper"]);
        assert!(out.problems.is_empty());
    }

    #[test]
    fn invalid_utf8_costs_only_its_record() {
        let mut bytes = format!("Good Paper\n\n{ABSTRACT}\n\nBad Paper\n\n").into_bytes();
        bytes.extend_from_slice(b"Broken \xff\xfe bytes ");
        bytes.extend_from_slice(ABSTRACT.as_bytes());
        bytes.extend_from_slice(format!("\n\nLast Paper\n\n{ABSTRACT}\n").as_bytes());
        let out = parse(&bytes);
        let titles: Vec<_> = out.papers.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["Good Paper", "Last Paper"]);
        assert_eq!(out.problems.len(), 1);
        assert!(out.problems[0].record.contains("Bad Paper"), "{:?}", out.problems);
        assert!(out.problems[0].reason.contains("UTF-8"));
    }

    #[test]
    fn title_without_abstract_is_not_a_paper() {
        let text = format!("Lonely Title\n\nReal Paper\n\n{ABSTRACT}\n");
        let out = parse(text.as_bytes());
        assert_eq!(out.papers.len(), 1);
        assert_eq!(out.papers[0].title, "Real Paper");
    }
}
