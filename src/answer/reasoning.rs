//! Reasoning models think out loud before they answer. Servers send that
//! either in separate delta fields (`reasoning_content`, `reasoning`: the
//! DeepSeek API, llama.cpp's default, vLLM and SGLang with a reasoning
//! parser, Ollama) — the LLM client routes those aside itself — or inline
//! in the answer text as `<think>…</think>` (vLLM without a parser, older
//! llama.cpp, many Ollama models). [`ThinkFilter`] splits the inline form
//! out of a stream of text pieces, whatever way the tags are cut across
//! pieces, so the reasoning never reaches the user, the citation gate or the
//! follow-up history.

use serde::{Deserialize, Serialize};

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// How the answer text treats `<think>` blocks (`llm.reasoning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningMode {
    /// `<think>…</think>` blocks are reasoning; a block left open hides the
    /// rest of the stream.
    #[default]
    Auto,
    /// The stream starts inside a block whose `<think>` was in the prompt
    /// (DeepSeek-R1 distills and Qwen3 thinking templates served without a
    /// reasoning parser): everything up to the first `</think>` is reasoning.
    Open,
    /// Tags are text like any other.
    None,
}

/// One piece of a stream, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Answer(String),
    Reasoning(String),
}

/// Splits `<think>` blocks out of a stream of text pieces.
#[derive(Debug)]
pub struct ThinkFilter {
    mode: ReasoningMode,
    inside: bool,
    /// Text held back because it could be the start of a tag.
    held: String,
    /// Some reasoning went by.
    reasoned: bool,
    /// A block just closed: the blank lines that follow it are not answer.
    after_block: bool,
}

impl ThinkFilter {
    pub fn new(mode: ReasoningMode) -> ThinkFilter {
        ThinkFilter {
            mode,
            inside: mode == ReasoningMode::Open,
            held: String::new(),
            reasoned: false,
            after_block: false,
        }
    }

    /// Whether any reasoning went by.
    pub fn reasoned(&self) -> bool {
        self.reasoned
    }

    /// Sorts `piece` into answer text and reasoning; a tag's start at the
    /// end is held until the next piece decides it.
    pub fn push(&mut self, piece: &str) -> Vec<Piece> {
        if self.mode == ReasoningMode::None {
            return vec![Piece::Answer(piece.to_string())];
        }
        self.held.push_str(piece);
        let mut out = Vec::new();
        loop {
            let tag = if self.inside { CLOSE } else { OPEN };
            match self.held.find(tag) {
                Some(at) => {
                    let before = self.held[..at].to_string();
                    self.emit(&mut out, before);
                    self.held.drain(..at + tag.len());
                    self.inside = !self.inside;
                    // The answer after a block usually starts with blank lines.
                    self.after_block = !self.inside;
                }
                None => {
                    // Keep what could still become `tag`; release the rest.
                    let keep = partial_suffix(&self.held, tag);
                    let release = self.held[..self.held.len() - keep].to_string();
                    self.held.drain(..self.held.len() - keep);
                    self.emit(&mut out, release);
                    return out;
                }
            }
        }
    }

    /// The end of the stream: what is still held.
    pub fn finish(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.held);
        let mut out = Vec::new();
        self.emit(&mut out, rest);
        out
    }

    fn emit(&mut self, out: &mut Vec<Piece>, text: String) {
        if text.is_empty() {
            return;
        }
        if self.inside {
            self.reasoned = true;
            out.push(Piece::Reasoning(text));
        } else {
            let text = if self.after_block {
                text.trim_start().to_string()
            } else {
                text
            };
            if !text.is_empty() {
                self.after_block = false;
                out.push(Piece::Answer(text));
            }
        }
    }
}

/// The length of the longest suffix of `s` that is a proper prefix of `tag`.
fn partial_suffix(s: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&n| s.len() >= n && s.is_char_boundary(s.len() - n) && tag.starts_with(&s[s.len() - n..]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: ReasoningMode, pieces: &[&str]) -> (String, String) {
        let mut f = ThinkFilter::new(mode);
        let mut out: Vec<Piece> = pieces.iter().flat_map(|p| f.push(p)).collect();
        out.extend(f.finish());
        let (mut answer, mut reasoning) = (String::new(), String::new());
        for p in out {
            match p {
                Piece::Answer(t) => answer.push_str(&t),
                Piece::Reasoning(t) => reasoning.push_str(&t),
            }
        }
        (answer, reasoning)
    }

    #[test]
    fn think_blocks_are_split_out_at_every_cut() {
        let text = "<think>Which source covers it? [2] maybe.</think>\n\nThe answer is here [1].";
        for cut in 1..text.len() {
            for cut2 in cut..text.len() {
                let (a, b, c) = (&text[..cut], &text[cut..cut2], &text[cut2..]);
                let (answer, reasoning) = run(ReasoningMode::Auto, &[a, b, c]);
                assert_eq!(answer, "The answer is here [1].", "cut at {cut}/{cut2}");
                assert_eq!(reasoning, "Which source covers it? [2] maybe.");
            }
        }
    }

    #[test]
    fn an_unclosed_block_hides_the_rest_and_text_is_untouched_without_tags() {
        let (answer, reasoning) = run(ReasoningMode::Auto, &["<thi", "nk>still thinking when cut"]);
        assert_eq!(answer, "");
        assert_eq!(reasoning, "still thinking when cut");
        let (answer, _) = run(ReasoningMode::Auto, &["a < b and x<y ", "<th", "e end"]);
        assert_eq!(
            answer, "a < b and x<y <the end",
            "a tag's prefix that is not a tag is released"
        );
    }

    #[test]
    fn open_mode_starts_inside_and_none_mode_keeps_everything() {
        let (answer, reasoning) = run(ReasoningMode::Open, &["Let me look at [3].", "</thi", "nk>Answer [1]."]);
        assert_eq!(
            (answer.as_str(), reasoning.as_str()),
            ("Answer [1].", "Let me look at [3].")
        );
        let (answer, reasoning) = run(ReasoningMode::None, &["<think>x</think>y"]);
        assert_eq!((answer.as_str(), reasoning.as_str()), ("<think>x</think>y", ""));
    }
}
