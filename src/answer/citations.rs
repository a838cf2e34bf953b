//! Citations: the model cites sources as `[n]` (also `[1, 3]`, `[1][2]`,
//! `[1-3]`, `[Source 2]`). Every group is checked against the numbers that
//! were actually given, invalid numbers are dropped (and reported), and the
//! valid ones are renumbered in order of first use. Placeholders a model
//! copies from an instruction (`[n]`, `[source]`, `[citation needed]`)
//! are removed.
//!
//! [`CitationGate`] does this on a stream: text goes in chunk by chunk and
//! only text whose citations are known good comes out, so a user watching
//! the stream never sees an invalid citation. The final text is exactly the
//! concatenation of what was streamed, whatever the chunking.

use std::collections::BTreeSet;

/// Longest bracket group we wait for before deciding it is plain text.
const MAX_GROUP_CHARS: usize = 48;
/// A range like `[1-500]` expands to at most this many numbers.
const MAX_RANGE: u32 = 50;

/// Streaming citation validator and renumberer.
#[derive(Debug, Clone)]
pub struct CitationGate {
    /// Sources are numbered `1..=given`.
    given: u32,
    /// Source numbers in order of first use; display number = index + 1.
    order: Vec<u32>,
    /// Invalid numbers the model used, in order, without repeats.
    dropped: Vec<u32>,
    /// Placeholder groups removed.
    placeholders: usize,
    /// Text held back: whitespace that may precede a dropped group, and an
    /// open `[` group not yet closed.
    held_space: String,
    group: Option<String>,
}

impl CitationGate {
    /// A gate for `given` numbered sources (`[1]..=[given]`).
    pub fn new(given: usize) -> CitationGate {
        CitationGate {
            given: u32::try_from(given).unwrap_or(u32::MAX),
            order: Vec::new(),
            dropped: Vec::new(),
            placeholders: 0,
            held_space: String::new(),
            group: None,
        }
    }

    /// Feeds a chunk; returns the text that is now safe to show.
    pub fn push(&mut self, chunk: &str) -> String {
        let mut out = String::new();
        for c in chunk.chars() {
            self.push_char(c, &mut out);
        }
        out
    }

    /// Ends the stream: flushes what was held. An unclosed group that still
    /// looks like a citation (`[3`) is dropped rather than shown half-made.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.held_space);
        if let Some(g) = self.group.take() {
            if parse_group(&format!("{g}]")).is_none() {
                out.push_str(&g);
            } else {
                out.clear();
            }
        }
        out
    }

    /// Source numbers (1-based, as given) in order of first citation.
    pub fn cited_sources(&self) -> &[u32] {
        &self.order
    }

    /// Numbers cited that were never given.
    pub fn dropped(&self) -> &[u32] {
        &self.dropped
    }

    /// Placeholder groups (`[n]`, `[source]`) removed.
    pub fn placeholders(&self) -> usize {
        self.placeholders
    }

    fn push_char(&mut self, c: char, out: &mut String) {
        if let Some(group) = &mut self.group {
            group.push(c);
            if c == ']' {
                let g = self.group.take().unwrap_or_default();
                self.close_group(&g, out);
            } else if !could_be_group(group) {
                // Not a citation after all: show it as text. Its last char
                // may open a new group (`[[1]`), so re-feed that one.
                let g = self.group.take().unwrap_or_default();
                let (text, last) = g.split_at(g.len() - c.len_utf8());
                out.push_str(&std::mem::take(&mut self.held_space));
                out.push_str(text);
                let last = last.chars().next().unwrap_or(c);
                self.push_char(last, out);
            }
            return;
        }
        match c {
            '[' => self.group = Some("[".into()),
            c if c.is_whitespace() => self.held_space.push(c),
            c => {
                out.push_str(&std::mem::take(&mut self.held_space));
                out.push(c);
            }
        }
    }

    fn close_group(&mut self, group: &str, out: &mut String) {
        if is_placeholder(group) {
            self.placeholders += 1;
            self.held_space.clear();
            return;
        }
        let Some(numbers) = parse_group(group) else {
            out.push_str(&std::mem::take(&mut self.held_space));
            out.push_str(group);
            return;
        };
        let mut shown = BTreeSet::new();
        for n in numbers {
            if n == 0 || n > self.given {
                if !self.dropped.contains(&n) {
                    self.dropped.push(n);
                }
                continue;
            }
            let pos = match self.order.iter().position(|&o| o == n) {
                Some(p) => p,
                None => {
                    self.order.push(n);
                    self.order.len() - 1
                }
            };
            shown.insert(pos as u32 + 1);
        }
        if shown.is_empty() {
            // The whole group was invalid: drop it and the space before it.
            self.held_space.clear();
            return;
        }
        out.push_str(&std::mem::take(&mut self.held_space));
        out.push('[');
        let parts: Vec<String> = shown.iter().map(u32::to_string).collect();
        out.push_str(&parts.join(", "));
        out.push(']');
    }
}

/// Could `partial` (starting with `[`, not yet closed) still become a
/// citation group?
fn could_be_group(partial: &str) -> bool {
    if partial.chars().count() > MAX_GROUP_CHARS {
        return false;
    }
    let body = &partial[1..];
    if could_be_placeholder(body) {
        return true;
    }
    let rest = strip_label_prefix(body);
    let Some(rest) = rest else {
        // Maybe a label still being typed: `[Sou`.
        let lower = body.to_ascii_lowercase();
        return LABELS
            .iter()
            .any(|l| l.starts_with(lower.trim_start()) || lower.starts_with(l));
    };
    rest.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ',' | ';' | '-' | '–' | ' '))
}

/// What a model writes when it copies "cite as [n]" instead of citing:
/// every word of the group is one of these (`[n]`, `[source]`,
/// `[Source N]`, `[citation needed]`, `[ref #]`, `[...]`).
const PLACEHOLDER_WORDS: [&str; 20] = [
    "n",
    "m",
    "k",
    "#",
    "?",
    "...",
    "…",
    "number",
    "num",
    "source",
    "sources",
    "citation",
    "citations",
    "cite",
    "needed",
    "ref",
    "refs",
    "reference",
    "references",
    "paper",
];

fn placeholder_words(body: &str) -> impl Iterator<Item = &str> {
    body.split(|c: char| c.is_whitespace() || matches!(c, ',' | ':' | ';'))
        .filter(|w| !w.is_empty())
}

/// Is `group` (`[...]`, closed) a placeholder rather than a citation or text?
pub fn is_placeholder(group: &str) -> bool {
    let Some(body) = group.strip_prefix('[').and_then(|g| g.strip_suffix(']')) else {
        return false;
    };
    let lower = body.to_lowercase();
    let mut n = 0;
    placeholder_words(&lower).all(|w| {
        n += 1;
        PLACEHOLDER_WORDS.contains(&w)
    }) && n > 0
}

/// Could the unclosed `body` still become a placeholder?
fn could_be_placeholder(body: &str) -> bool {
    let lower = body.to_lowercase();
    let words: Vec<&str> = placeholder_words(&lower).collect();
    let Some((last, done)) = words.split_last() else {
        return false;
    };
    let trailing_space = lower.ends_with(|c: char| c.is_whitespace() || matches!(c, ',' | ':' | ';'));
    done.iter().all(|w| PLACEHOLDER_WORDS.contains(w))
        && if trailing_space {
            PLACEHOLDER_WORDS.contains(last)
        } else {
            PLACEHOLDER_WORDS.iter().any(|p| p.starts_with(last))
        }
}

/// Words some models put before the number: `[Source 2]`, `[Paper 1]`.
const LABELS: [&str; 4] = ["source", "paper", "ref", "doc"];

/// The body after an optional label word (`Source `, `source:`). None when
/// the body starts with letters that are not a full label.
fn strip_label_prefix(body: &str) -> Option<&str> {
    let trimmed = body.trim_start();
    if trimmed.is_empty() || trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        return Some(body);
    }
    let lower = trimmed.to_ascii_lowercase();
    for l in LABELS {
        if let Some(after) = lower.strip_prefix(l) {
            let after = after.strip_prefix('s').unwrap_or(after).trim_start();
            let after = after.strip_prefix(['#', ':']).unwrap_or(after).trim_start();
            if after.starts_with(|c: char| c.is_ascii_digit()) {
                // `lower` is ASCII-lowercased, so byte offsets match `trimmed`.
                return Some(&trimmed[trimmed.len() - after.len()..]);
            }
        }
    }
    None
}

/// Parses a whole `[...]` group into the numbers it cites; None when it is
/// not a citation (`[see above]`, `[]`, `[a-b]`).
pub fn parse_group(group: &str) -> Option<Vec<u32>> {
    let body = group.strip_prefix('[')?.strip_suffix(']')?;
    let body = strip_label_prefix(body)?;
    let mut out = Vec::new();
    for item in body.split([',', ';']) {
        let item = item.trim();
        if item.is_empty() {
            return None;
        }
        if let Some((a, b)) = item.split_once(['-', '–']) {
            let (a, b) = (number(a.trim())?, number(b.trim())?);
            if b < a {
                return None;
            }
            // A huge range is a typo or an attack: keep its ends only.
            if b - a > MAX_RANGE {
                out.extend([a, b]);
            } else {
                out.extend(a..=b);
            }
        } else {
            out.push(number(item)?);
        }
    }
    Some(out)
}

/// A run of digits; too large for u32 saturates (and is then invalid).
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

/// Validates a complete text at once (the same rules as streaming).
pub fn validate(text: &str, given: usize) -> (String, CitationGate) {
    let mut gate = CitationGate::new(given);
    let mut out = gate.push(text);
    out.push_str(&gate.finish());
    (out, gate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, given: usize) -> (String, Vec<u32>, Vec<u32>) {
        let (out, gate) = validate(text, given);
        (out, gate.cited_sources().to_vec(), gate.dropped().to_vec())
    }

    #[test]
    fn renumbers_in_order_of_first_use() {
        let (out, order, dropped) = check("A [3]. B [1]. C [3].", 5);
        assert_eq!(out, "A [1]. B [2]. C [1].");
        assert_eq!(order, vec![3, 1]);
        assert!(dropped.is_empty());
    }

    #[test]
    fn lists_ranges_and_adjacent_groups() {
        let (out, order, _) = check("X [2, 4]. Y [1-3]. Z [5][2].", 5);
        assert_eq!(out, "X [1, 2]. Y [1, 3, 4]. Z [5][1].");
        assert_eq!(order, vec![2, 4, 1, 3, 5]);
        let (out, _, _) = check("semi [1; 2] and dash [1–2]", 2);
        assert_eq!(out, "semi [1, 2] and dash [1, 2]");
    }

    #[test]
    fn drops_numbers_that_were_not_given() {
        let (out, order, dropped) = check("Good [1]. Made up [7]. Mixed [2, 9].", 5);
        assert_eq!(out, "Good [1]. Made up. Mixed [2].");
        assert_eq!(order, vec![1, 2]);
        assert_eq!(dropped, vec![7, 9]);
        let (out, _, dropped) = check("zero [0] and range [4-6]", 5);
        assert_eq!(out, "zero and range [1, 2]");
        assert_eq!(dropped, vec![0, 6]);
    }

    #[test]
    fn leaves_other_brackets_alone() {
        for text in [
            "see [the appendix] and [a-b] and [] and [1a]",
            "a markdown [link](https://x.org) stays",
            "nested [[not]] ok",
        ] {
            assert_eq!(check(text, 5).0, text);
        }
        assert_eq!(check("nested [[1]]", 5).0, "nested [[1]]");
    }

    #[test]
    fn placeholders_never_reach_the_user() {
        let (out, gate) = validate(
            "Shown [n]. Also [source] and [Source N] or [citation needed]. Real [2].",
            3,
        );
        assert_eq!(out, "Shown. Also and or. Real [1].");
        assert_eq!(gate.placeholders(), 4);
        for text in ["a [x] checkbox", "see [notes] here", "[new] results", "[Sourcery 2]"] {
            assert_eq!(check(text, 3).0, text, "not a placeholder");
        }
        // Streamed one character at a time, a placeholder never shows half-made.
        let mut gate = CitationGate::new(3);
        let mut shown = String::new();
        for c in "See [source] now".chars() {
            shown.push_str(&gate.push(&c.to_string()));
            assert!(!shown.contains('['), "{shown}");
        }
        shown.push_str(&gate.finish());
        assert_eq!(shown, "See now");
    }

    #[test]
    fn accepts_labels_small_models_write() {
        let (out, order, _) = check("A [Source 2]. B [source: 1]. C [Sources 1, 2]. D [Paper #3].", 3);
        assert_eq!(out, "A [1]. B [2]. C [1, 2]. D [3].");
        assert_eq!(order, vec![2, 1, 3]);
        assert_eq!(check("[Sourcery 2]", 3).0, "[Sourcery 2]");
    }

    #[test]
    fn huge_ranges_and_numbers_do_not_explode() {
        let (out, _, dropped) = check("[1-4000000000] [99999999999999]", 3);
        assert_eq!(out, "[1]");
        assert_eq!(dropped, vec![4_000_000_000, u32::MAX]);
    }

    #[test]
    fn unclosed_citation_at_the_end_is_not_shown_half_made() {
        assert_eq!(check("ends with [3", 5).0, "ends with");
        assert_eq!(check("ends with [note", 5).0, "ends with [note");
        assert_eq!(check("trailing space  ", 5).0, "trailing space  ");
    }

    #[test]
    fn any_chunking_streams_exactly_the_final_text() {
        let text = "Reward hacking is studied [2][5]. Others [1, 9] and [3-4]; see [Source 2] [x] [7].\n\nDone [1].";
        let (whole, _) = validate(text, 5);
        for size in 1..text.len() {
            let mut gate = CitationGate::new(5);
            let mut streamed = String::new();
            let mut rest = text;
            while !rest.is_empty() {
                let mut cut = size.min(rest.len());
                while !rest.is_char_boundary(cut) {
                    cut += 1;
                }
                let (a, b) = rest.split_at(cut);
                streamed.push_str(&gate.push(a));
                // Nothing shown so far may contain an invalid citation.
                assert!(!streamed.contains("[7]") && !streamed.contains('9'), "{streamed}");
                rest = b;
            }
            streamed.push_str(&gate.finish());
            assert_eq!(streamed, whole, "chunk size {size}");
        }
        assert_eq!(
            whole,
            "Reward hacking is studied [1][2]. Others [3] and [4, 5]; see [1] [x].\n\nDone [3]."
        );
    }
}
