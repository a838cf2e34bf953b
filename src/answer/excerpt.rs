//! A source cut to fit the prompt. When the sources an answer is built from
//! do not all fit `answer.context_tokens` whole, each long abstract is cut
//! to the sentences that share the most distinctive words with the question
//! (in their order, gaps marked `…`) instead of dropping whole sources from
//! the end: a "which papers…" question needs every paper more than every
//! sentence of each (with 3,000 tokens, dropping whole abstracts cost a
//! gold paper of 16 of the 336 many-paper questions of the fresh sets).

use std::collections::HashSet;

use super::budget::{count_tokens, truncate_to_tokens};
use crate::embed::Bm25;
use crate::retrieve::{field_idf, relevance};

/// Fewer tokens than this per source says too little to judge or cite it:
/// below it, sources are dropped from the end instead.
pub const MIN_TOKENS: usize = 120;

/// One abstract's sentences, each with its tokens and how much of what is
/// distinctive about the question it has (field IDF of the shared terms).
pub struct Excerpter {
    text: String,
    tokens: usize,
    sentences: Vec<(String, usize, f32)>,
}

impl Excerpter {
    pub fn new(bm25: &Bm25, question_terms: &HashSet<u32>, text: &str) -> Excerpter {
        let sentences = crate::text::sentences(text)
            .into_iter()
            .map(|s| {
                let score = bm25
                    .document(&s)
                    .indices
                    .iter()
                    .filter(|t| question_terms.contains(t))
                    .map(|&t| field_idf::idf(t))
                    .sum();
                let tokens = count_tokens(&s);
                (s, tokens, score)
            })
            .collect();
        Excerpter {
            text: text.to_string(),
            tokens: count_tokens(text),
            sentences,
        }
    }

    /// The question's subject terms, as the relevance evidence sees them.
    pub fn question_terms(bm25: &Bm25, question: &str) -> HashSet<u32> {
        relevance::subject_terms(bm25, &bm25.query(question))
    }

    /// The abstract in at most `max_tokens`: whole when it fits; else its
    /// best sentences (most distinctive question words, then earliest) that
    /// fit, in their order; else its head.
    pub fn cut(&self, max_tokens: usize) -> String {
        if self.tokens <= max_tokens {
            return self.text.clone();
        }
        let mut order: Vec<usize> = (0..self.sentences.len()).collect();
        order.sort_by(|&a, &b| self.sentences[b].2.total_cmp(&self.sentences[a].2).then(a.cmp(&b)));
        // Room for the gap marks between kept sentences.
        let mut room = max_tokens.saturating_sub(2);
        let mut kept = vec![false; self.sentences.len()];
        for i in order {
            let tokens = self.sentences[i].1 + 1;
            if tokens <= room {
                kept[i] = true;
                room -= tokens;
            }
        }
        if !kept.iter().any(|&k| k) {
            return truncate_to_tokens(&self.text, max_tokens);
        }
        let mut out = String::new();
        let mut last: Option<usize> = None;
        for (i, (s, _, _)) in self.sentences.iter().enumerate().filter(|(i, _)| kept[*i]) {
            let gap = match last {
                None => i > 0,
                Some(l) => i > l + 1,
            };
            if gap {
                out.push_str(if out.is_empty() { "… " } else { " … " });
            } else if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s.trim());
            last = Some(i);
        }
        if last.is_some_and(|l| l + 1 < self.sentences.len()) {
            out.push_str(" …");
        }
        out
    }
}

/// The largest allowance per source in `MIN_TOKENS..=max` at which
/// `fits(allowance)` holds, or `None` when even the smallest does not. `fits`
/// must be monotone (a smaller allowance never makes the prompt longer).
pub fn largest_fitting<E>(max: usize, mut fits: impl FnMut(usize) -> Result<bool, E>) -> Result<Option<usize>, E> {
    if fits(max)? {
        return Ok(Some(max));
    }
    let (mut lo, mut hi) = (MIN_TOKENS.min(max), max);
    if !fits(lo)? {
        return Ok(None);
    }
    // fits(lo), !fits(hi)
    while hi - lo > 8 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(Some(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real abstract (the sample corpus), a question about its last result.
    const ABSTRACT: &str = "Test-Time Scaling (TTS) is an important method for improving the performance of Large Language Models (LLMs) by using additional computation during the inference phase. However, current studies do not systematically analyze how policy models, Process Reward Models (PRMs), and problem difficulty influence TTS. This lack of analysis limits the understanding and practical use of TTS methods. In this paper, we focus on two core questions: (1) What is the optimal approach to scale test-time computation across different policy models, PRMs, and problem difficulty levels? (2) To what extent can extended computation improve the performance of LLMs on complex tasks, and can smaller language models outperform larger ones through this approach? Through comprehensive experiments on MATH-500 and challenging AIME24 tasks, we have the following observations: (1) The compute-optimal TTS strategy is highly dependent on the choice of policy model, PRM, and problem difficulty. (2) With our compute-optimal TTS strategy, extremely small policy models can outperform larger models.";

    #[test]
    fn a_long_abstract_keeps_the_sentences_about_the_question() {
        let bm25 = Bm25::default();
        let terms = Excerpter::question_terms(&bm25, "which papers report results on AIME?");
        let e = Excerpter::new(&bm25, &terms, ABSTRACT);
        assert_eq!(e.cut(10_000), ABSTRACT, "whole when it fits");
        let cut = e.cut(80);
        assert!(count_tokens(&cut) <= 80, "{cut}");
        assert!(
            cut.contains("AIME24"),
            "the sentence naming the benchmark is kept: {cut}"
        );
        assert!(cut.starts_with("… "), "{cut}");
        assert!(!cut.contains("This lack of analysis"), "{cut}");
        // Too small for any sentence: the head, cut at a word.
        let head = e.cut(12);
        assert!(head.starts_with("Test-Time Scaling") && head.ends_with('…'), "{head}");
    }

    #[test]
    fn the_largest_allowance_that_fits_is_found() {
        let found = largest_fitting::<()>(600, |a| Ok(a * 10 <= 3_000)).unwrap();
        assert!(matches!(found, Some(a) if (292..=300).contains(&a)), "{found:?}");
        assert_eq!(largest_fitting::<()>(600, |_| Ok(true)).unwrap(), Some(600));
        assert_eq!(largest_fitting::<()>(600, |a| Ok(a < MIN_TOKENS)).unwrap(), None);
    }
}
