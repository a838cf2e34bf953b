//! Plain-text helpers shared by retrieval, answers and digests: sentences,
//! coined names, numbers, edit distance.

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

/// Common field acronyms: in a question they name a topic, not a paper.
const GENERIC_ACRONYMS: &[&str] = &[
    "AI", "API", "APIS", "COT", "DPO", "GPT", "LLM", "LLMS", "MLLM", "MLLMS", "NLP", "PPO", "QA", "RAG", "RL", "RLHF",
    "SFT", "VLM", "VLMS", "ML", "LM", "LMS", "SOTA",
];

/// Words that look coined: an inner capital (`ProcessBench`, `TMGBench`) or
/// an all-caps run of three or more letters (`GUARD`), minus field acronyms.
pub fn coined_names(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .filter(|w| {
            let inner_cap = w.chars().skip(1).any(char::is_uppercase) && w.chars().any(char::is_lowercase);
            let all_caps = w.chars().filter(|c| c.is_alphabetic()).count() >= 3 && !w.chars().any(char::is_lowercase);
            (inner_cap || all_caps) && !GENERIC_ACRONYMS.contains(&w.to_uppercase().as_str())
        })
        .map(str::to_string)
        .collect()
}

/// The numbers written in `text` (`7`, `3.5`, `1,000` as `1000`), as
/// digit strings: "every number an answer states is in its source".
pub fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let digit = |k: usize| chars.get(k).is_some_and(|n| n.is_ascii_digit());
        // `3.5` is one number; `1,000` is one number, `12,34` two.
        let joins = |c: char| {
            !cur.is_empty()
                && match c {
                    '.' => digit(i + 1),
                    ',' => digit(i + 1) && digit(i + 2) && digit(i + 3) && !digit(i + 4),
                    _ => false,
                }
        };
        if c.is_ascii_digit() {
            cur.push(c);
        } else if joins(c) {
            if c == '.' {
                cur.push('.');
            }
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Levenshtein distance in characters (for names a model misspelt).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j])).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coined_names_ignore_field_acronyms() {
        assert_eq!(coined_names("How well does o1-mini do on TMGBench?"), ["TMGBench"]);
        assert!(coined_names("a DPO-style objective, LLM-as-a-judge").is_empty());
        assert_eq!(coined_names("what does GUARD find about LLMs and RAG?"), ["GUARD"]);
        assert!(coined_names("which papers study reward hacking in RLHF with DPO?").is_empty());
    }

    #[test]
    fn numbers_and_edit_distance() {
        assert_eq!(
            numbers("from 3.5 to 72% on 1,000 problems, v2."),
            ["3.5", "72", "1000", "2"]
        );
        assert_eq!(numbers("a 7B model, 12,34 and end 4."), ["7", "12", "34", "4"]);
        assert_eq!(edit_distance("ProcesBench", "ProcessBench"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

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
