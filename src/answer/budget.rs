//! Token counting for the context budget, with a real BPE tokenizer
//! (tiktoken's `cl100k_base`). Local models use other vocabularies; cl100k
//! is within ~10-15% of them on English prose, which the budget's headroom
//! absorbs. Characters would be off by 4x on code or non-Latin text.

use tiktoken_rs::CoreBPE;

fn bpe() -> &'static CoreBPE {
    tiktoken_rs::cl100k_base_singleton()
}

/// Tokens in `text`.
pub fn count_tokens(text: &str) -> usize {
    bpe().encode_ordinary(text).len()
}

/// `text` cut to at most `max_tokens`, at the end of a sentence when one
/// ends in the second half, else at a word, with `…` appended. Unchanged
/// when it fits.
pub fn truncate_to_tokens(text: &str, max_tokens: usize) -> String {
    let tokens = bpe().encode_ordinary(text);
    if tokens.len() <= max_tokens {
        return text.to_string();
    }
    let head = bpe().decode(&tokens[..max_tokens]).unwrap_or_default();
    // A token boundary may split a multi-byte char: decode drops it or fails;
    // fall back to a char-safe prefix of the same byte length.
    let head = if head.is_empty() {
        let mut cut = (text.len() * max_tokens / tokens.len()).min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text[..cut].to_string()
    } else {
        head
    };
    let half = head.len() / 2;
    let cut = head
        .rmatch_indices(". ")
        .map(|(i, _)| i + 1)
        .find(|&i| i >= half)
        .or_else(|| head.rfind(' '))
        .unwrap_or(head.len());
    format!("{}…", head[..cut].trim_end())
}

/// The largest `n <= max` whose rendering fits `budget` tokens (at least 1,
/// so the best source is always given). `render(n)` renders the prompt with
/// the first `n` sources; sources are dropped whole, by rank, from the end.
pub fn fit<E>(
    max: usize,
    budget: usize,
    mut render: impl FnMut(usize) -> Result<String, E>,
) -> Result<(usize, usize), E> {
    let mut n = max;
    loop {
        let tokens = count_tokens(&render(n)?);
        if tokens <= budget || n <= 1 {
            return Ok((n, tokens));
        }
        n -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_real_tokens_not_characters() {
        assert_eq!(count_tokens("hello world"), 2);
        // 1000 CJK characters are far more than 250 tokens.
        assert!(count_tokens(&"模型".repeat(500)) > 500);
    }

    #[test]
    fn truncation_ends_at_a_sentence_and_fits() {
        let text =
            "First sentence is here. Second sentence follows it. Third one is quite a bit longer than the others.";
        let cut = truncate_to_tokens(text, 14);
        assert_eq!(cut, "First sentence is here. Second sentence follows it.…");
        assert!(count_tokens(&cut) <= 16);
        assert_eq!(truncate_to_tokens("short", 10), "short");
        let cjk = truncate_to_tokens(&"模型".repeat(500), 50);
        assert!(cjk.ends_with('…') && count_tokens(&cjk) <= 60, "{cjk}");
    }

    #[test]
    fn fit_drops_whole_sources_from_the_end() {
        let docs = ["a ".repeat(100), "b ".repeat(100), "c ".repeat(100)];
        let render = |n: usize| Ok::<_, ()>(docs[..n].concat());
        assert_eq!(fit(3, 1000, render).unwrap().0, 3);
        assert_eq!(fit(3, 250, render).unwrap().0, 2);
        assert_eq!(fit(3, 10, render).unwrap().0, 1);
    }
}
