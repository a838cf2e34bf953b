//! The LLM's relevance check ("screen"): before an answer is written, one
//! short call asks the model which candidate papers address the question.
//!
//! The offline relevance model (`retrieve::relevance`) decides from cosines
//! and term coverage; it cannot tell "low-light *image* enhancement" from a
//! question about low-light *video*. A model that reads question and
//! abstracts together can, so when an LLM is configured it gets the last
//! word: NONE declines before anything is streamed, and the papers it names
//! go first in the answer's sources. A reply we cannot read changes nothing.

use serde::{Deserialize, Serialize};

/// When the screen runs (`answer.screen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreenMode {
    /// Never: the offline decision and the answer prompt's own
    /// `NOT_IN_SOURCES` rule are all there is.
    Off,
    /// Only when the offline model is unsure (`search.relevance.hedge_at`):
    /// one extra call for the questions most likely to be near misses, but
    /// confident near misses get through.
    Unsure,
    /// Before every first-turn answer: one more call (a prompt as long as
    /// the answer's, a few tokens out) for the most honest answers.
    #[default]
    Always,
}

impl ScreenMode {
    pub fn applies(self, unsure: bool) -> bool {
        match self {
            ScreenMode::Off => false,
            ScreenMode::Unsure => unsure,
            ScreenMode::Always => true,
        }
    }
}

/// What the screen said.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "verdict", content = "sources", rename_all = "snake_case")]
pub enum Screened {
    /// Not asked (no LLM, a follow-up, or the mode says no).
    #[default]
    NotRun,
    /// These sources (1-based, as numbered in the screen prompt) address it.
    Relevant(Vec<u32>),
    /// No source addresses it: the question is declined.
    NoneRelevant,
    /// The reply was not in the asked-for format, or went wrong in itself
    /// (reasoning past the token limit, a broken stream); the answer goes on
    /// as if the screen had not run.
    Unclear,
}

/// The screen's system message.
pub const SYSTEM: &str = "You check whether research papers address a question. \
Judge only from the titles and abstracts given. Reply in exactly the format asked for.";

/// Reads the screen's reply for `offered` sources. Only the first non-empty
/// line counts: `NONE` (any case, optional punctuation) or numbers; a number
/// outside 1..=offered means the model is not following, so the reply is
/// [`Screened::Unclear`], as is anything without a number.
pub fn parse_reply(reply: &str, offered: usize) -> Screened {
    let Some(line) = reply.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Screened::Unclear;
    };
    let first_word: String = line
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if first_word.eq_ignore_ascii_case("none") || first_word == super::prompts::NOT_COVERED {
        return Screened::NoneRelevant;
    }
    let mut found = Vec::new();
    for token in line.split(|c: char| !c.is_ascii_digit()).filter(|t| !t.is_empty()) {
        match token.parse::<u32>() {
            Ok(n) if n >= 1 && (n as usize) <= offered => {
                if !found.contains(&n) {
                    found.push(n);
                }
            }
            _ => return Screened::Unclear,
        }
    }
    if found.is_empty() {
        Screened::Unclear
    } else {
        found.sort_unstable();
        Screened::Relevant(found)
    }
}

/// `papers` with the ones the screen named first (in their order), then
/// the rest, so a tight token budget drops the unnamed ones first.
pub fn named_first<T>(papers: Vec<T>, named: &[u32]) -> Vec<T> {
    let (first, rest): (Vec<_>, Vec<_>) = papers
        .into_iter()
        .enumerate()
        .partition(|(i, _)| named.contains(&(*i as u32 + 1)));
    first.into_iter().chain(rest).map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_strictly() {
        assert_eq!(parse_reply("2, 5", 6), Screened::Relevant(vec![2, 5]));
        assert_eq!(
            parse_reply("[5] and [2], [5]\nbecause …", 6),
            Screened::Relevant(vec![2, 5])
        );
        assert_eq!(parse_reply("\n  NONE.", 6), Screened::NoneRelevant);
        assert_eq!(
            parse_reply("None of them: 1 is about images", 6),
            Screened::NoneRelevant
        );
        assert_eq!(parse_reply("NOT_IN_SOURCES", 6), Screened::NoneRelevant);
        // A number the prompt never offered: the model is not following.
        assert_eq!(parse_reply("3, 7", 6), Screened::Unclear);
        assert_eq!(
            parse_reply("The answer can be found in the sources.", 6),
            Screened::Unclear
        );
        assert_eq!(parse_reply("", 6), Screened::Unclear);
        assert_eq!(parse_reply("99999999999999999999", 6), Screened::Unclear);
        assert_eq!(parse_reply("Nonetheless 2", 6), Screened::Relevant(vec![2]));
    }

    #[test]
    fn named_sources_go_first_and_none_is_lost() {
        assert_eq!(named_first(vec!['a', 'b', 'c', 'd'], &[3, 4]), vec!['c', 'd', 'a', 'b']);
        assert_eq!(named_first(vec!['a', 'b'], &[]), vec!['a', 'b']);
    }

    #[test]
    fn modes() {
        assert!(!ScreenMode::Off.applies(true));
        assert!(ScreenMode::Unsure.applies(true) && !ScreenMode::Unsure.applies(false));
        assert!(ScreenMode::Always.applies(false));
    }
}
