//! The papers a chat message points at: arxiv.org (`/abs/`, `/pdf/`,
//! `/html/`) and huggingface.co/papers links, and `arXiv:` ids, in the order
//! written, each once. What a writer marked as not for unfurling is left
//! alone: a link in `<…>` (Discord's own "no preview" syntax) and anything
//! in code (`` `…` `` or a fenced block). Bare numbers are not taken: in
//! chat `2401.01234` may be a version or a price.

use crate::paper::PaperId;

/// The papers `text` links to, at most `max` (the rest are not read).
pub fn linked_papers(text: &str, max: usize) -> Vec<PaperId> {
    let visible = strip_unfurl_free(text);
    let mut out: Vec<PaperId> = Vec::new();
    let separators = |c: char| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '|' | '"' | '\'' | ',');
    for token in visible.split(separators) {
        if out.len() >= max {
            break;
        }
        let token = token
            .trim_start_matches(['*', '_', '~', '>'])
            .trim_end_matches(['.', ';', ':', '!', '?', '*', '_', '~']);
        let lower = token.get(..6).map(str::to_ascii_lowercase).unwrap_or_default();
        let candidate = lower.starts_with("http") || lower.starts_with("arxiv:");
        if !candidate {
            continue;
        }
        if let Some(id) = PaperId::arxiv(token)
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

/// Whether `text` is nothing but paper links (and punctuation): in a DM,
/// such a message asks for the cards, anything else is a question.
pub fn only_links(text: &str) -> bool {
    let mut any = false;
    for token in text.split_whitespace() {
        let token = token.trim_matches(|c: char| !c.is_alphanumeric() && c != '/' && c != ':' && c != '.');
        if token.is_empty() {
            continue;
        }
        if linked_papers(token, 1).is_empty() {
            return false;
        }
        any = true;
    }
    any
}

/// `text` without code (fenced blocks and inline spans) and without links
/// in angle brackets.
fn strip_unfurl_free(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("```") {
            // A fenced block runs to the next fence (or the end).
            rest = after.find("```").map_or("", |end| &after[end + 3..]);
            out.push(' ');
        } else if let Some(after) = rest.strip_prefix('`') {
            rest = after.find('`').map_or("", |end| &after[end + 1..]);
            out.push(' ');
        } else if rest.starts_with("<http") {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
            out.push(' ');
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<String> {
        linked_papers(text, 20).iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn links_in_every_spelling_once_each_in_order() {
        let text = "look: https://arxiv.org/abs/2401.01234v2, and (https://arxiv.org/pdf/2402.00001.pdf) \
                    also https://huggingface.co/papers/2403.00002! arXiv:2404.00003; \
                    [the html](https://arxiv.org/html/2405.00004v1) again https://www.arxiv.org/abs/2401.01234 \
                    ||https://arxiv.org/abs/hep-th/9901001||";
        assert_eq!(
            ids(text),
            [
                "2401.01234",
                "2402.00001",
                "2403.00002",
                "2404.00003",
                "2405.00004",
                "hep-th/9901001"
            ]
        );
    }

    #[test]
    fn suppressed_code_bare_and_foreign_links_are_left_alone() {
        let text = "<https://arxiv.org/abs/2401.01234> `https://arxiv.org/abs/2402.00001` \
                    ```\nhttps://arxiv.org/abs/2403.00002\n``` version 2404.00003 \
                    https://example.com/abs/2405.00004 https://arxiv.org/list/cs.CL/new";
        assert!(ids(text).is_empty(), "{:?}", ids(text));
        // An unclosed fence hides the rest; an unclosed `<` hides its link.
        assert!(ids("``` https://arxiv.org/abs/2401.01234").is_empty());
        assert_eq!(
            ids("<https://arxiv.org/abs/2401.01234 https://arxiv.org/abs/2402.00001>"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn only_links_means_nothing_but_links() {
        assert!(only_links("https://arxiv.org/abs/2401.01234 arXiv:2402.00001,"));
        assert!(!only_links("what does https://arxiv.org/abs/2401.01234 claim?"));
        assert!(!only_links(""));
        assert!(!only_links("2401.01234"));
    }

    #[test]
    fn at_most_max_are_read_and_hostile_text_is_harmless() {
        let many: String = (1..=30)
            .map(|i| format!("https://arxiv.org/abs/2401.{i:05} "))
            .collect();
        assert_eq!(linked_papers(&many, 20).len(), 20);
        assert!(linked_papers("`````<<<<>>>>``` ` \u{0}\u{202e} https://arxiv.org/abs/", 5).is_empty());
        assert!(linked_papers(&"(".repeat(100_000), 5).is_empty());
    }
}
