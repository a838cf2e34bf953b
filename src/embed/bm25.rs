//! BM25 sparse vectors, computed in-process with Qdrant's own tokenizer
//! pipeline (word tokenizer, lowercase, English stop words, Snowball stemmer),
//! the same code for documents and queries. Documents carry BM25 term
//! weights; queries carry term presence; Qdrant multiplies in IDF through the
//! collection's `Idf` modifier, so the statistics stay right as papers arrive.

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};

use crate::store::SparseVec;

pub struct Bm25 {
    inner: EdgeBm25,
}

impl Bm25 {
    /// `avg_len` is the expected document length in tokens after stop words.
    pub fn new(avg_len: f64) -> Result<Bm25, String> {
        let config = EdgeBm25Config {
            language: Some("english".into()),
            avg_len: qdrant_edge::external::ordered_float::NotNan::new(avg_len).map_err(|e| e.to_string())?,
            ..Default::default()
        };
        EdgeBm25::new(config)
            .map(|inner| Bm25 { inner })
            .map_err(|e| e.to_string())
    }

    /// A document's vector: its own words, plus the forms a question may
    /// use for a few of them ([`spellings`]).
    pub fn document(&self, text: &str) -> SparseVec {
        let v = self.inner.embed_document(&spellings(text));
        SparseVec {
            indices: v.indices,
            values: v.values,
        }
    }

    /// A question's vector: its words, and the kept form of an acronym the
    /// stemmer would fold into a word ([`kept_acronyms`]).
    pub fn query(&self, text: &str) -> SparseVec {
        let kept = kept_acronyms(text);
        let v = if kept.is_empty() {
            self.inner.embed_query(text)
        } else {
            self.inner.embed_query(&format!("{text}{kept}"))
        };
        SparseVec {
            indices: v.indices,
            values: v.values,
        }
    }
}

/// `text` with other spellings of some words appended, so a question's
/// spelling finds a document's: a hyphenated compound also joined
/// ("multi-modal" → "multimodal", "GPT-2" → "GPT2"), and a name with a
/// version or year also bare ("AIME24", "AIME2024" → "AIME"; "Qwen2.5" →
/// "Qwen"), and the other form of a known acronym ("MCTS" ↔ "Monte Carlo
/// tree search", [`super::acronyms`]). Questions are left as they are, so a question's terms are what
/// it says; only documents gain spellings, which a question either uses or
/// does not.
pub fn spellings(text: &str) -> String {
    let mut extra = String::new();
    for word in text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"' | '/' | ':')) {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        if word.is_empty() || word.len() > 40 {
            continue;
        }
        if word.contains('-') {
            let parts: Vec<&str> = word.split('-').collect();
            if parts.len() <= 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(char::is_alphanumeric))
            {
                extra.push(' ');
                extra.push_str(&parts.concat());
            }
        }
        for part in word.split('-') {
            let letters: String = part.chars().take_while(|c| c.is_alphabetic()).collect();
            let rest = &part[letters.len()..];
            if letters.chars().count() >= 3 && rest.starts_with(|c: char| c.is_ascii_digit()) {
                extra.push(' ');
                extra.push_str(&letters);
            }
        }
    }
    for form in super::acronyms::other_forms(text) {
        extra.push(' ');
        extra.push_str(&form);
    }
    let kept = kept_acronyms(&extra);
    extra.push_str(&kept);
    extra.push_str(&kept_acronyms(text));
    if extra.is_empty() {
        text.to_string()
    } else {
        format!("{text}{extra}")
    }
}

/// The Snowball stemmer folds some acronyms into everyday words ("AIME" →
/// "aim", "ARES" → "are", a stop word), so a search for the benchmark finds
/// every paper that "aims to". Such an acronym — all capitals, at least
/// three, that the stemmer changes — also gets a form the stemmer leaves
/// alone (its lowercase with a `0` appended, a token no text has), in
/// documents and questions alike: a question naming AIME still matches
/// "aim", but the papers that name AIME match more. Returns the forms,
/// each after a space.
pub fn kept_acronyms(text: &str) -> String {
    use rust_stemmers::{Algorithm, Stemmer};
    static STEMMER: std::sync::OnceLock<Stemmer> = std::sync::OnceLock::new();
    let mut out = String::new();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let capitals = word.chars().filter(char::is_ascii_uppercase).count();
        if capitals < 3 || capitals != word.len() {
            continue;
        }
        let lower = word.to_ascii_lowercase();
        let stemmer = STEMMER.get_or_init(|| Stemmer::create(Algorithm::English));
        if stemmer.stem(&lower) != lower.as_str() {
            out.push(' ');
            out.push_str(&lower);
            out.push('0');
        }
    }
    out
}

impl Default for Bm25 {
    fn default() -> Self {
        Bm25::new(150.0).expect("static BM25 config is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_drops_stop_words_same_for_query_and_document() {
        let bm25 = Bm25::default();
        let d = bm25.document("The models are hallucinating");
        let q = bm25.query("model hallucinates");
        assert_eq!(d.indices.len(), 2, "stop words dropped: {d:?}");
        let mut di = d.indices.clone();
        let mut qi = q.indices.clone();
        di.sort();
        qi.sort();
        assert_eq!(di, qi, "stemming maps both to the same terms");
        assert!(bm25.query("the of and").indices.is_empty());
    }

    #[test]
    fn a_question_finds_a_documents_other_spelling() {
        let bm25 = Bm25::default();
        let has = |doc: &str, q: &str| {
            let d = bm25.document(doc).indices;
            bm25.query(q).indices.iter().all(|t| d.contains(t))
        };
        assert!(has("diverse levels and multi-modal content", "multimodal"));
        assert!(has("diverse levels and multi-modal content", "multi-modal"));
        assert!(has("on MATH-500 and challenging AIME24 tasks", "AIME"));
        assert!(has("outperforms it on MATH500, AIME2024, and Omni-math-500", "aime"));
        assert!(has("we red team GPT-2 and GPT-3 models", "GPT2"));
        assert!(has("the Qwen2.5 family", "Qwen"));
        assert!(has("Agent-R leverages MCTS to build data", "Monte Carlo tree search"));
        // An acronym the stemmer would make a word keeps its own term too.
        let score = |doc: &str, q: &str| {
            let d = bm25.document(doc).indices;
            bm25.query(q).indices.iter().filter(|t| d.contains(t)).count()
        };
        assert!(score("results on AIME problems", "AIME") > score("we aim to solve problems", "AIME"));
        assert!(has("we aim to solve problems", "we aim"));
        assert!(has("results on AIME problems", "aime"));
        assert_eq!(kept_acronyms("AIME, ARES and PPO; MCTS. Aime"), " aime0 ares0");
        // Nothing is invented from short names or plain words.
        assert_eq!(spellings("T5 and o1 on plain text."), "T5 and o1 on plain text.");
    }
}
