//! Offline answers: with no LLM configured, quote the sentences of the top
//! abstracts that best match the question, each cited with its paper. Not
//! a summary — every sentence is the authors' own words — so it can never
//! misstate a paper; the caller labels it as extractive.

use crate::embed::{DenseEmbedder, EmbedError};
use crate::paper::Paper;

/// Sentences in an extractive answer.
pub const MAX_SENTENCES: usize = 4;
/// At most this many from one paper, so several papers get a voice.
const PER_PAPER: usize = 2;
/// Best-ranked papers pay a little less for a lower sentence score.
const RANK_PRIOR: f32 = 0.03;

/// One quoted sentence and the source (index into the given papers) it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub source: usize,
    pub sentence: String,
    pub score: f32,
}

/// Picks the quotes for `question` from `papers` (in retrieval order),
/// ordered by paper rank, then by position in the abstract.
pub async fn select(embedder: &DenseEmbedder, question: &str, papers: &[&Paper]) -> Result<Vec<Quote>, EmbedError> {
    let mut candidates: Vec<(usize, usize, String)> = Vec::new();
    for (i, p) in papers.iter().enumerate() {
        for (pos, s) in sentences(&p.abstract_text).into_iter().enumerate() {
            candidates.push((i, pos, s));
        }
    }
    if candidates.is_empty() {
        return Ok(vec![]);
    }
    let q = embedder.embed_query(question).await?;
    let vectors = embedder
        .embed_documents(candidates.iter().map(|(_, _, s)| s.clone()).collect())
        .await?;
    let mut scored: Vec<(f32, usize, usize, String)> = candidates
        .into_iter()
        .zip(vectors)
        .map(|((i, pos, s), v)| (dot(&q, &v) - RANK_PRIOR * i as f32, i, pos, s))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut chosen: Vec<(f32, usize, usize, String)> = Vec::new();
    for cand in scored {
        if chosen.len() == MAX_SENTENCES {
            break;
        }
        if chosen.iter().filter(|c| c.1 == cand.1).count() < PER_PAPER {
            chosen.push(cand);
        }
    }
    chosen.sort_by_key(|c| (c.1, c.2));
    Ok(chosen
        .into_iter()
        .map(|(score, source, _, sentence)| Quote {
            source,
            sentence,
            score,
        })
        .collect())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Abbreviations after which a period does not end a sentence.
const ABBREVIATIONS: [&str; 10] = ["e.g", "i.e", "et al", "etc", "vs", "cf", "Fig", "Eq", "approx", "resp"];

/// Splits an abstract into sentences: `.`, `!` or `?` followed by a space
/// and an uppercase letter, digit or quote, except after an abbreviation
/// or inside a decimal number. Very short fragments join the previous one.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for w in 0..chars.len() {
        let (i, c) = chars[w];
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let Some(&(_, next)) = chars.get(w + 1) else { continue };
        if !next.is_whitespace() {
            continue;
        }
        let Some(&(_, after)) = chars[w + 1..].iter().find(|(_, ch)| !ch.is_whitespace()) else {
            continue;
        };
        if !(after.is_uppercase() || after.is_ascii_digit() || matches!(after, '"' | '“' | '(' | '[')) {
            continue;
        }
        let head = &text[start..i];
        if c == '.' && ABBREVIATIONS.iter().any(|a| head.ends_with(a)) {
            continue;
        }
        let end = i + c.len_utf8();
        push_sentence(&mut out, &text[start..end]);
        start = end;
    }
    push_sentence(&mut out, &text[start..]);
    out
}

fn push_sentence(out: &mut Vec<String>, s: &str) {
    let s = s.trim();
    if s.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(prev) if s.chars().count() < 20 => {
            prev.push(' ');
            prev.push_str(s);
        }
        _ => out.push(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences_but_not_abbreviations_or_decimals() {
        let s = sentences(
            "We study X, e.g. Y and Z. Accuracy rises from 3.5 to 7.2 points! Does the gain hold across tasks? Yes. \
             Results follow Smith et al. Further work remains.",
        );
        assert_eq!(
            s,
            vec![
                "We study X, e.g. Y and Z.",
                "Accuracy rises from 3.5 to 7.2 points!",
                "Does the gain hold across tasks? Yes.",
                "Results follow Smith et al. Further work remains.",
            ]
        );
        assert!(sentences("").is_empty());
        assert_eq!(sentences("no final period"), vec!["no final period"]);
    }
}
