//! Acronyms and their long forms, so BM25 finds "Monte Carlo tree search"
//! in an abstract that only says "MCTS", and "MCTS" in one that only spells
//! it out. Abstracts define an acronym once and then use it, or use a common
//! one without defining it at all; questions use either form.
//!
//! The table (`acronyms.tsv`, shipped with the binary) is harvested from the
//! same 100,000 arXiv CS abstracts as the field's term frequencies (hidden
//! `paperbot model acronyms`): every "long form (ACRO)" definition, keeping
//! acronyms defined at least [`MIN_DEFINITIONS`] times whose commonest long
//! form is most of them ([`MIN_SHARE`]), so an ambiguous one ("TTS":
//! text-to-speech or test-time scaling) is left out unless one meaning
//! dominates the field ("SAM": segment anything model). A text that defines an
//! acronym itself is taken at its word: the table never adds another
//! meaning for it.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

static TABLE: &str = include_str!("acronyms.tsv");

/// Definitions an acronym needs across the field to be in the table.
pub const MIN_DEFINITIONS: usize = 8;
/// Share of its definitions its commonest long form needs (two-letter
/// acronyms are more often ambiguous: [`MIN_SHARE_SHORT`]).
pub const MIN_SHARE: f64 = 0.7;
pub const MIN_SHARE_SHORT: f64 = 0.85;

/// Words skipped when matching initials: "Reinforcement Learning from Human
/// Feedback (RLHF)".
const SKIPPED: &[&str] = &[
    "of", "for", "from", "and", "the", "to", "in", "on", "with", "a", "an", "via", "by", "as", "at", "or",
];

struct Table {
    /// Acronym → its long form's words (lowercase).
    long: HashMap<String, Vec<String>>,
    /// First word of a long form → (the long form's words, its acronym).
    by_first: HashMap<String, Vec<(Vec<String>, String)>>,
}

fn table() -> &'static Table {
    static PARSED: OnceLock<Table> = OnceLock::new();
    PARSED.get_or_init(|| {
        let mut long = HashMap::new();
        let mut by_first: HashMap<String, Vec<(Vec<String>, String)>> = HashMap::new();
        for line in TABLE.lines().filter(|l| !l.starts_with('#')) {
            let Some((acro, form)) = line.split_once('\t') else {
                continue;
            };
            let words: Vec<String> = form.split(' ').map(str::to_string).collect();
            if let Some(first) = words.first() {
                by_first
                    .entry(first.clone())
                    .or_default()
                    .push((words.clone(), acro.to_string()));
            }
            long.insert(acro.to_string(), words);
        }
        Table { long, by_first }
    })
}

/// The words of `text`, split at anything not a letter or digit (so
/// "multi-agent" is two words, as in a long form).
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// An acronym-looking token: two to eight capitals, other letters allowed
/// ("MoE", "LoRA"), no digits. Returns it without a plural `s` and whether
/// it had one.
fn acronym(token: &str) -> Option<(&str, bool)> {
    let (stem, plural) = match token.strip_suffix('s') {
        Some(s) if s.chars().last().is_some_and(char::is_uppercase) => (s, true),
        _ => (token, false),
    };
    let capitals = stem.chars().filter(char::is_ascii_uppercase).count();
    let ok = stem.starts_with(|c: char| c.is_ascii_uppercase())
        && stem.chars().all(|c| c.is_ascii_alphabetic())
        && (2..=8).contains(&capitals)
        && capitals * 2 >= stem.chars().count();
    ok.then_some((stem, plural))
}

/// Every "long form (ACRO)" definition in `text`, as (acronym, long form in
/// lowercase words, a plural `s` dropped from its last word when the
/// acronym was plural).
pub fn definitions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('(') {
        let before = &rest[..open];
        let after = &rest[open + 1..];
        rest = after;
        let Some(close) = after.find(')') else { break };
        let Some((acro, plural)) = acronym(&after[..close]) else {
            continue;
        };
        let letters: String = acro.chars().filter(char::is_ascii_uppercase).collect();
        let prior: Vec<&str> = before
            .trim_end()
            .split(|c: char| c.is_whitespace() || c == '-')
            .rev()
            .take_while(|w| !w.is_empty() && w.chars().all(char::is_alphabetic))
            .take(9)
            .collect();
        for k in 1..=prior.len() {
            let cand: Vec<&str> = prior[..k].iter().rev().copied().collect();
            let initials = |skip: bool| -> String {
                cand.iter()
                    .filter(|w| !skip || !SKIPPED.contains(&w.to_lowercase().as_str()))
                    .filter_map(|w| w.chars().next())
                    .flat_map(char::to_uppercase)
                    .collect()
            };
            let starts_skipped = SKIPPED.contains(&cand[0].to_lowercase().as_str());
            if initials(false) == letters || (!starts_skipped && initials(true) == letters) {
                let mut form: Vec<String> = cand.iter().map(|w| w.to_lowercase()).collect();
                if let Some(last) = form.last_mut().filter(|w| plural && w.ends_with('s')) {
                    last.pop();
                }
                out.push((acro.to_string(), form.join(" ")));
                break;
            }
        }
    }
    out
}

/// The table's lines ("ACRO\tlong form") from the definitions in `texts`.
pub fn build<'a>(texts: impl Iterator<Item = &'a str>) -> String {
    let mut counts: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for text in texts {
        for (acro, form) in definitions(text) {
            *counts.entry(acro).or_default().entry(form).or_default() += 1;
        }
    }
    let mut rows: Vec<(String, String)> = counts
        .into_iter()
        .filter_map(|(acro, forms)| {
            let total: usize = forms.values().sum();
            let (form, n) = forms.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
            let short = acro.chars().filter(char::is_ascii_uppercase).count() == 2;
            let need = if short { MIN_SHARE_SHORT } else { MIN_SHARE };
            (total >= MIN_DEFINITIONS && n as f64 >= need * total as f64).then_some((acro, form))
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|(a, f)| format!("{a}\t{f}\n")).collect()
}

/// The other form of each known acronym `text` uses in one form only: the
/// long form of an acronym it uses bare, the acronym of a long form it
/// spells out. Acronyms `text` defines itself are left alone.
pub fn other_forms(text: &str) -> Vec<String> {
    let t = table();
    let tokens = words(text);
    let lower: Vec<String> = tokens.iter().map(|w| w.to_lowercase()).collect();
    let defined: HashSet<String> = definitions(text).into_iter().map(|(a, _)| a).collect();
    let mut used: Vec<&str> = Vec::new();
    let mut spelled: Vec<&str> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if let Some((key, _)) = acronym(token).and_then(|(acro, _)| t.long.get_key_value(acro)) {
            used.push(key);
        }
        for (form, acro) in t.by_first.get(&lower[i]).into_iter().flatten() {
            let n = form.len();
            let matches = lower.get(i..i + n).is_some_and(|ws| {
                ws.iter()
                    .zip(form)
                    .enumerate()
                    .all(|(j, (w, f))| w == f || (j == n - 1 && w.strip_suffix('s').is_some_and(|s| s == f)))
            });
            if matches {
                spelled.push(acro);
            }
        }
    }
    let mut out = Vec::new();
    for acro in &used {
        if !spelled.contains(acro) && !defined.contains(*acro) {
            let form = t.long[*acro].join(" ");
            if !out.contains(&form) {
                out.push(form);
            }
        }
    }
    for acro in &spelled {
        if !used.contains(acro) && !defined.contains(*acro) && !out.iter().any(|o| o == acro) {
            out.push((*acro).to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_definitions_however_the_long_form_is_written() {
        let d = definitions(
            "We use Monte Carlo Tree Search (MCTS) and Reinforcement Learning from Human Feedback (RLHF) \
             with a Mixture-of-Experts (MoE), in-context learning (ICL) and Large Language Models (LLMs). \
             Not definitions: results (see Table 2), GPT-4 (OpenAI).",
        );
        let d: Vec<(&str, &str)> = d.iter().map(|(a, f)| (a.as_str(), f.as_str())).collect();
        assert_eq!(
            d,
            [
                ("MCTS", "monte carlo tree search"),
                ("RLHF", "reinforcement learning from human feedback"),
                ("MoE", "mixture of experts"),
                ("ICL", "in context learning"),
                ("LLM", "large language model"),
            ]
        );
    }

    #[test]
    fn the_table_keeps_acronyms_the_field_agrees_on() {
        let mut texts = Vec::new();
        for _ in 0..9 {
            texts.push("with Monte Carlo Tree Search (MCTS)".to_string());
            texts.push("Sharpness-Aware Minimization (SAM)".to_string());
            texts.push("the Segment Anything Model (SAM)".to_string());
        }
        texts.push("Rare Acronym Thing (RAT)".to_string());
        let table = build(texts.iter().map(String::as_str));
        assert_eq!(table, "MCTS\tmonte carlo tree search\n", "SAM is split, RAT too rare");
    }

    #[test]
    fn a_text_gains_the_other_form_of_what_it_uses() {
        // Agent-R's abstract says only "MCTS"; a question says the long form.
        assert_eq!(
            other_forms("Agent-R leverages MCTS to construct training data."),
            ["monte carlo tree search"]
        );
        assert_eq!(other_forms("guided by Monte Carlo tree search rollouts"), ["MCTS"]);
        // Both forms present, or defined here with another meaning: nothing.
        assert!(other_forms("Monte Carlo Tree Search (MCTS) finds MCTS paths").is_empty());
        assert!(other_forms("Test-Time Scoring (TTS) is new; TTS helps.").is_empty());
        assert!(other_forms("plain words, a GPT-4 judge, MATH500").is_empty());
        // Plurals on either side.
        assert_eq!(other_forms("we train PRMs"), ["process reward model"]);
        assert_eq!(other_forms("process reward models help"), ["PRM"]);
    }

    #[test]
    fn odd_text_is_taken_in_stride() {
        for text in [
            "",
            "(((",
            "()",
            "A (B",
            "(MCTS",
            "MCTS)",
            "é (ÉÉ) ü (Ü)",
            "x ( MCTS ) (MCTSs) (Ss)",
            "MCTS MCTS",
        ] {
            definitions(text);
            other_forms(text);
        }
        assert_eq!(
            other_forms("MCTS MCTS"),
            ["monte carlo tree search"],
            "once, however often used"
        );
    }

    #[test]
    fn the_shipped_table_parses() {
        let t = table();
        assert!(t.long.len() > 300, "{} acronyms", t.long.len());
        assert_eq!(t.long["MCTS"].join(" "), "monte carlo tree search");
    }
}
