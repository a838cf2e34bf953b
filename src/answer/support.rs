//! Sentence-level support: every sentence of a generated answer is checked
//! against the abstracts it was built from before anyone sees it.
//!
//! A sentence is supported by a source when the source has a sentence that
//! says much the same (cosine of their embeddings), shares the sentence's
//! terms, and states every number the sentence states; a logistic model
//! over the first two (fitted by `paperbot eval --claims FILE --calibrate`)
//! decides. Then: a citation whose source does not support its sentence is
//! dropped; a supported sentence without a citation gets one; a sentence no
//! source supports is marked (or, in strict mode, removed). Coined names
//! (`ProcessBench`) that no source contains are corrected to the source's
//! spelling when one is close, else marked; so are titles in quotes.
//!
//! Streaming stays: [`SupportGate`] holds back only the sentence being
//! written, and releases it checked when the next one starts.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::citations::{is_placeholder, parse_group};
use crate::embed::{Bm25, DenseEmbedder, EmbedError, PaperSentences, SentenceVectors};
use crate::paper::Paper;
use crate::text::{coined_names, edit_distance, numbers};

/// What to do with a sentence no source supports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupportMode {
    /// Do not check.
    Off,
    /// Show it, marked as not supported.
    #[default]
    Mark,
    /// Leave it out.
    Strict,
}

/// `[answer.support]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupportConfig {
    pub mode: SupportMode,
    /// The fitted check: p = σ(bias + cosine · best sentence cosine +
    /// overlap · share of the sentence's terms in the source).
    pub bias: f32,
    pub cosine: f32,
    pub overlap: f32,
    /// A source supports a sentence at this probability (set so that 95%
    /// of the supported calibration claims pass: marking a good sentence
    /// costs the reader trust in the marks).
    pub supported_at: f32,
    /// Sentences shorter than this (in words) are connective, not claims.
    pub min_words: usize,
}

impl Default for SupportConfig {
    /// Fitted with `paperbot eval --claims tests/eval/claims.jsonl --split
    /// calib --calibrate` on all-MiniLM-L6-v2.
    fn default() -> Self {
        SupportConfig {
            mode: SupportMode::Mark,
            bias: -12.432,
            cosine: 13.273,
            overlap: 5.525,
            supported_at: 0.220,
            min_words: 5,
        }
    }
}

impl SupportConfig {
    pub fn probability(&self, cosine: f32, overlap: f32) -> f32 {
        crate::logistic::sigmoid(f64::from(self.bias + self.cosine * cosine + self.overlap * overlap)) as f32
    }

    pub fn to_toml(&self) -> String {
        format!(
            "[answer.support]\nbias = {:.3}\ncosine = {:.3}\noverlap = {:.3}\nsupported_at = {:.3}\n",
            self.bias, self.cosine, self.overlap, self.supported_at
        )
    }
}

/// What the check did to one answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SupportStats {
    /// Sentences checked (claims; short connective lines are not).
    pub sentences: usize,
    pub supported: usize,
    /// Shown marked as not supported.
    pub marked: usize,
    /// Left out (strict mode).
    pub removed: usize,
    /// Citations the model gave whose source supports the sentence.
    pub citations_kept: usize,
    /// Citations the model gave whose source does not support the sentence.
    pub citations_dropped: usize,
    /// Citations added to supported sentences the model left uncited.
    pub citations_added: usize,
    /// Placeholders (`[n]`, `[source]`) removed.
    pub placeholders: usize,
    /// Names and quoted titles corrected to a source's spelling.
    pub titles_corrected: usize,
    /// Names and quoted titles no source has, marked.
    pub titles_marked: usize,
}

impl SupportStats {
    pub fn add(&mut self, o: &SupportStats) {
        self.sentences += o.sentences;
        self.supported += o.supported;
        self.marked += o.marked;
        self.removed += o.removed;
        self.citations_kept += o.citations_kept;
        self.citations_dropped += o.citations_dropped;
        self.citations_added += o.citations_added;
        self.placeholders += o.placeholders;
        self.titles_corrected += o.titles_corrected;
        self.titles_marked += o.titles_marked;
    }
}

/// Field vocabulary that looks coined but names no paper: never marked
/// as a name missing from the sources.
const COMMON_TERMS: &[&str] = &[
    "CNN", "CNNs", "RNN", "RNNs", "DNN", "DNNs", "LSTM", "LSTMs", "GAN", "GANs", "MLP", "MLPs", "GPU", "GPUs", "CPU",
    "CPUs", "NLU", "NLG", "ASR", "OCR", "URL", "JSON", "SQL", "BERT", "ReLU", "AdamW", "PyTorch", "GitHub", "ImageNet",
];

pub const UNSUPPORTED_MARK: &str = "*(not supported by the sources)*";
pub const UNKNOWN_NAME_MARK: &str = "*(not in the sources)*";

/// One source as the check sees it.
struct Source {
    sentences: Arc<PaperSentences>,
    terms: HashSet<u32>,
    numbers: HashSet<String>,
    /// Every word of the title and abstract, as written.
    words: HashSet<String>,
    title: String,
}

/// How well one source supports one claim.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Support {
    pub cosine: f32,
    pub overlap: f32,
    pub numbers_ok: bool,
    pub probability: f32,
    /// The configured `supported_at`.
    pub threshold: f32,
}

impl Support {
    pub fn supports(&self) -> bool {
        self.numbers_ok && self.probability >= self.threshold
    }
}

/// The check for one answer's sources (numbered 1..=n as in the prompt).
pub struct SupportCheck<'a> {
    config: SupportConfig,
    embedder: &'a DenseEmbedder,
    bm25: &'a Bm25,
    sources: Vec<Source>,
}

impl<'a> SupportCheck<'a> {
    pub async fn new(
        config: SupportConfig,
        embedder: &'a DenseEmbedder,
        bm25: &'a Bm25,
        cache: &SentenceVectors,
        papers: &[Paper],
    ) -> Result<SupportCheck<'a>, EmbedError> {
        let refs: Vec<&Paper> = papers.iter().collect();
        let split = cache.of(embedder, &refs).await?;
        let sources = papers
            .iter()
            .zip(split)
            .map(|(p, sentences)| {
                let text = p.embedding_text();
                Source {
                    sentences,
                    terms: bm25.document(&text).indices.into_iter().collect(),
                    numbers: numbers(&text).into_iter().collect(),
                    words: words(&text).map(str::to_string).collect(),
                    title: p.title.clone(),
                }
            })
            .collect();
        Ok(SupportCheck {
            config,
            embedder,
            bm25,
            sources,
        })
    }

    /// How well each source supports `claim` (plain text, no citations).
    pub async fn judge(&self, claim: &str) -> Result<Vec<Support>, EmbedError> {
        let v = self.embedder.embed_query(claim).await?;
        let terms: HashSet<u32> = self.bm25.query(claim).indices.into_iter().collect();
        let nums = numbers(claim);
        Ok(self
            .sources
            .iter()
            .map(|s| {
                let cosine = s.sentences.best(&v).map_or(0.0, |(_, c)| c);
                let overlap = if terms.is_empty() {
                    0.0
                } else {
                    terms.iter().filter(|t| s.terms.contains(t)).count() as f32 / terms.len() as f32
                };
                Support {
                    cosine,
                    overlap,
                    numbers_ok: nums.iter().all(|n| s.numbers.contains(n)),
                    probability: self.config.probability(cosine, overlap),
                    threshold: self.config.supported_at,
                }
            })
            .collect())
    }

    /// Checks one complete sentence (with its citations, as the model wrote
    /// them, numbered as in the prompt) and returns what to show instead.
    pub async fn check(&self, unit: &str, stats: &mut SupportStats) -> Result<String, EmbedError> {
        let first = Parsed::new(unit);
        stats.placeholders += first.placeholders;
        let body = first.text.trim();
        let is_claim =
            body.split_whitespace().count() >= self.config.min_words && !body.ends_with(':') && !body.starts_with('#');
        if self.config.mode == SupportMode::Off || !is_claim {
            return Ok(first.rebuild(&first.cited, unit));
        }
        stats.sentences += 1;
        // Names first, on the sentence as written (citations stay in place).
        let (named, corrected, marked) = self.fix_names(unit);
        stats.titles_corrected += corrected;
        stats.titles_marked += marked;
        let parsed = Parsed::new(&named);
        let support = self.judge(parsed.text.trim()).await?;
        let given = self.sources.len() as u32;
        let supports = |n: u32| support[n as usize - 1].supports();
        let mut keep: Vec<u32> = Vec::new();
        for &n in &parsed.cited {
            if n == 0 || n > given {
                keep.push(n); // not a source: the citation gate drops and counts it
            } else if supports(n) {
                stats.citations_kept += 1;
                keep.push(n);
            } else {
                stats.citations_dropped += 1;
            }
        }
        let best = (1..=given).filter(|&n| supports(n)).max_by(|&a, &b| {
            support[a as usize - 1]
                .probability
                .total_cmp(&support[b as usize - 1].probability)
        });
        let valid_kept = keep.iter().any(|&n| n >= 1 && n <= given);
        match best {
            Some(b) => {
                stats.supported += 1;
                if !valid_kept {
                    stats.citations_added += 1;
                    keep.push(b);
                }
            }
            None => match self.config.mode {
                SupportMode::Strict => {
                    stats.removed += 1;
                    return Ok(String::new());
                }
                _ => stats.marked += 1,
            },
        }
        let rebuilt = parsed.rebuild(&keep, &named);
        Ok(match best {
            Some(_) => rebuilt,
            None => append_mark(&rebuilt, UNSUPPORTED_MARK),
        })
    }

    /// Coined names and quoted titles no source has: corrected to a
    /// source's spelling when one is close, else marked.
    fn fix_names(&self, text: &str) -> (String, usize, usize) {
        let mut out = text.to_string();
        let (mut corrected, mut marked) = (0, 0);
        let mut seen = HashSet::new();
        for name in coined_names(text) {
            if !seen.insert(name.clone())
                || COMMON_TERMS.contains(&name.as_str())
                || self.sources.iter().any(|s| s.words.contains(&name))
            {
                continue;
            }
            let limit = (name.chars().count() / 6).max(1);
            let close = self
                .sources
                .iter()
                .flat_map(|s| words(&s.title))
                .filter(|w| w.chars().count() >= 3)
                .map(|w| (edit_distance(&w.to_lowercase(), &name.to_lowercase()), w))
                .filter(|(d, _)| *d <= limit)
                .min_by_key(|(d, _)| *d);
            out = match close {
                Some((_, w)) => {
                    corrected += 1;
                    replace_word(&out, &name, w)
                }
                None => {
                    marked += 1;
                    replace_word(&out, &name, &format!("{name} {UNKNOWN_NAME_MARK}"))
                }
            };
        }
        // Back to front, so earlier offsets stay valid.
        for (inner, close_end) in quoted_spans(&out).into_iter().rev() {
            let quoted = out[inner.clone()].to_string();
            let q_words: Vec<String> = words(&quoted).map(str::to_lowercase).collect();
            if q_words.len() < 3 {
                continue;
            }
            let best = self
                .sources
                .iter()
                .map(|s| (title_similarity(&q_words, &s.title), &s.title))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let capitalised = words(&quoted).filter(|w| w.starts_with(char::is_uppercase)).count() * 2 >= q_words.len();
            match best {
                Some((sim, _)) if sim >= 0.999 => {}
                Some((sim, title)) if sim >= 0.5 => {
                    corrected += 1;
                    out.replace_range(inner, title);
                }
                _ if capitalised => {
                    marked += 1;
                    out.insert_str(close_end, &format!(" {UNKNOWN_NAME_MARK}"));
                }
                _ => {}
            }
        }
        (out, corrected, marked)
    }
}

/// Word-set overlap of a quoted title with a real one (its part before a
/// colon counts as the whole title too).
fn title_similarity(quoted: &[String], title: &str) -> f32 {
    let jaccard = |t: &str| {
        let t: HashSet<String> = words(t).map(str::to_lowercase).collect();
        let q: HashSet<&String> = quoted.iter().collect();
        let inter = q.iter().filter(|w| t.contains(w.as_str())).count();
        let union = q.len() + t.len() - inter;
        inter as f32 / union.max(1) as f32
    };
    let head = title.split(':').next().unwrap_or(title);
    jaccard(title).max(jaccard(head))
}

/// Spans inside "…", “…” or *…* (not our own marks): the inner byte
/// range and where the closing quote ends, in text order.
fn quoted_spans(text: &str) -> Vec<(std::ops::Range<usize>, usize)> {
    let mut out = Vec::new();
    for (open, close) in [('"', '"'), ('\u{201c}', '\u{201d}'), ('*', '*')] {
        let mut from = 0;
        while let Some(a) = text[from..].find(open).map(|a| from + a) {
            let start = a + open.len_utf8();
            let Some(b) = text[start..].find(close).map(|b| start + b) else {
                break;
            };
            let inner = &text[start..b];
            if !inner.starts_with('(') && !inner.is_empty() && inner.len() < 300 {
                out.push((start..b, b + close.len_utf8()));
            }
            from = b + close.len_utf8();
        }
    }
    out.sort_by_key(|(r, _)| r.start);
    let mut last_end = 0;
    out.retain(|(r, end)| {
        let keep = r.start >= last_end;
        if keep {
            last_end = *end;
        }
        keep
    });
    out
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// Replaces the first whole-word occurrence of `word`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut start = 0;
    while let Some(i) = text[start..].find(word) {
        let at = start + i;
        let end = at + word.len();
        let before_ok = text[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after_ok = text[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok {
            return format!("{}{with}{}", &text[..at], &text[end..]);
        }
        start = end;
    }
    text.to_string()
}

/// Puts `mark` after the sentence, before its trailing whitespace.
fn append_mark(unit: &str, mark: &str) -> String {
    let body = unit.trim_end();
    format!("{body} {mark}{}", &unit[body.len()..])
}

/// A sentence taken apart: its text without citation groups, the source
/// numbers it cites, where its first group was.
struct Parsed {
    /// The unit with citation groups and placeholders (and the space before
    /// them) removed.
    text: String,
    cited: Vec<u32>,
    /// Byte offset in `text` where the first group stood.
    first_group: Option<usize>,
    placeholders: usize,
}

impl Parsed {
    fn new(unit: &str) -> Parsed {
        let mut text = String::new();
        let mut cited: Vec<u32> = Vec::new();
        let mut first_group = None;
        let mut placeholders = 0;
        let mut rest = unit;
        while let Some(a) = rest.find('[') {
            let Some(b) = rest[a..].find(']') else { break };
            let group = &rest[a..=a + b];
            let before = &rest[..a];
            let numbers = parse_group(group);
            if numbers.is_some() || is_placeholder(group) {
                text.push_str(before.trim_end());
                if let Some(ns) = numbers {
                    first_group.get_or_insert(text.len());
                    for n in ns {
                        if !cited.contains(&n) {
                            cited.push(n);
                        }
                    }
                } else {
                    placeholders += 1;
                }
            } else {
                text.push_str(before);
                text.push_str(group);
            }
            rest = &rest[a + b + 1..];
        }
        text.push_str(rest);
        Parsed {
            text,
            cited,
            first_group,
            placeholders,
        }
    }

    /// The sentence with one citation group of `cite` where the first group
    /// was, or before the final punctuation. `original` is returned as it
    /// was when it had no groups or placeholders to change.
    fn rebuild(&self, cite: &[u32], original: &str) -> String {
        if cite == self.cited.as_slice() && self.placeholders == 0 {
            return original.to_string();
        }
        if cite.is_empty() {
            return self.text.clone();
        }
        let group = format!(" [{}]", cite.iter().map(u32::to_string).collect::<Vec<_>>().join(", "));
        let at = self.first_group.unwrap_or_else(|| {
            let body = self.text.trim_end();
            let body = body.strip_suffix(['.', '!', '?', ':', ';']).unwrap_or(body);
            body.trim_end().len()
        });
        let at = at.min(self.text.len());
        format!("{}{group}{}", &self.text[..at], &self.text[at..])
    }
}

/// Splits a stream into sentences and checks each as it completes.
pub struct SupportGate<'a> {
    check: SupportCheck<'a>,
    buf: String,
    pub stats: SupportStats,
}

/// A sentence running longer than this is checked where it stands.
const MAX_UNIT_CHARS: usize = 2_000;

impl<'a> SupportGate<'a> {
    pub fn new(check: SupportCheck<'a>) -> SupportGate<'a> {
        SupportGate {
            check,
            buf: String::new(),
            stats: SupportStats::default(),
        }
    }

    /// Feeds model text; returns the checked sentences it completed.
    pub async fn push(&mut self, delta: &str) -> Result<String, EmbedError> {
        self.buf.push_str(delta);
        let mut out = String::new();
        while let Some(end) = unit_end(&self.buf).or_else(|| {
            (self.buf.len() > MAX_UNIT_CHARS).then(|| {
                self.buf
                    .rfind(char::is_whitespace)
                    .filter(|&i| i > 0)
                    .unwrap_or(self.buf.len())
            })
        }) {
            let unit: String = self.buf.drain(..end).collect();
            out.push_str(&self.check.check(&unit, &mut self.stats).await?);
        }
        Ok(out)
    }

    /// Ends the stream: checks what is left.
    pub async fn finish(&mut self) -> Result<String, EmbedError> {
        let unit = std::mem::take(&mut self.buf);
        if unit.is_empty() {
            return Ok(unit);
        }
        self.check.check(&unit, &mut self.stats).await
    }
}

/// Abbreviations after which a period does not end a sentence.
const ABBREVIATIONS: [&str; 10] = ["e.g", "i.e", "et al", "etc", "vs", "cf", "Fig", "Eq", "approx", "resp"];

/// Where the first complete sentence of `buf` ends (exclusive), if it is
/// complete yet: at a newline, or where the next sentence visibly starts
/// after `.`/`!`/`?` and whitespace. Citations after the full stop
/// (`… shows X. [2]`) stay with their sentence.
pub fn unit_end(buf: &str) -> Option<usize> {
    let mut ended = false;
    let mut spaced = false;
    let mut in_group = false;
    for (i, c) in buf.char_indices() {
        if in_group {
            in_group = c != ']';
            continue;
        }
        match c {
            '\n' => return Some(i + 1),
            '[' => in_group = true,
            c if c.is_whitespace() => spaced |= ended,
            '.' | '!' | '?' => {
                let head = &buf[..i];
                if !(c == '.' && ABBREVIATIONS.iter().any(|a| head.ends_with(a))) {
                    ended = true;
                    spaced = false;
                }
            }
            c => {
                if ended
                    && spaced
                    && (c.is_uppercase() || c.is_ascii_digit() || matches!(c, '"' | '\u{201c}' | '(' | '*' | '-'))
                {
                    return Some(i);
                }
                ended = false;
                spaced = false;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_end_where_the_next_one_starts() {
        assert_eq!(unit_end("It works. It"), Some(10));
        assert_eq!(unit_end("It works [1]. Next"), Some(14));
        assert_eq!(unit_end("It works. [1] Next"), Some(14));
        assert_eq!(unit_end("It works.[2] Next"), Some(13));
        assert_eq!(unit_end("It works. "), None, "the next sentence has not started");
        assert_eq!(unit_end("e.g. this and 3.5 points"), None);
        assert_eq!(unit_end("- item one\n- item"), Some(11));
    }

    #[test]
    fn a_sentence_is_taken_apart_and_rebuilt() {
        let p = Parsed::new("Reward models help [2][3]. ");
        assert_eq!(p.text, "Reward models help. ");
        assert_eq!(p.cited, vec![2, 3]);
        assert_eq!(p.rebuild(&[3], ""), "Reward models help [3]. ");
        let p = Parsed::new("No citation here.\n");
        assert_eq!(p.rebuild(&[1], ""), "No citation here [1].\n");
        let p = Parsed::new("Placeholder [n] and [source] go [1].");
        assert_eq!(p.placeholders, 2);
        assert_eq!(p.text, "Placeholder and go.");
        let p = Parsed::new("Untouched [see above] text.");
        assert_eq!(
            p.rebuild(&[], "Untouched [see above] text."),
            "Untouched [see above] text."
        );
    }

    #[test]
    fn marks_and_names() {
        assert_eq!(append_mark("Claim.\n", "M"), "Claim. M\n");
        assert_eq!(
            replace_word("ProcessBench and Bench", "Bench", "X"),
            "ProcessBench and X"
        );
        let text = "the paper \u{201c}Thought Propagation\u{201d} and *(x)*";
        let spans = quoted_spans(text);
        assert_eq!(spans.len(), 1);
        assert_eq!(&text[spans[0].0.clone()], "Thought Propagation");
    }
}
