//! How rare each term is in the field: document frequencies of BM25 terms
//! (Qdrant's tokenizer: lowercased, English stop words out, Snowball
//! stems) over 100,000 recent arXiv abstracts in computer science (2025–26),
//! shipped with the binary (`field_df.bin`, built by the hidden `paperbot
//! model field-stats` command).
//!
//! Why a fixed table and not the library's own counts: relevance asks
//! whether a paper covers what is *distinctive* about a question
//! ("speculative decoding", not "model"), and that is a property of the
//! field's language, not of how many papers this library happens to hold;
//! at 85 papers the library's counts are noise, and they would drift as it
//! grows. Terms the table has not seen count as the rarest.

use std::collections::HashMap;
use std::sync::OnceLock;

static TABLE: &[u8] = include_bytes!("field_df.bin");

/// Terms in fewer documents than this are left out of the table.
pub const MIN_DF: u32 = 3;

struct Table {
    docs: f32,
    df: HashMap<u32, u32>,
}

fn table() -> &'static Table {
    static PARSED: OnceLock<Table> = OnceLock::new();
    PARSED.get_or_init(|| {
        parse(TABLE).unwrap_or(Table {
            docs: 1.0,
            df: HashMap::new(),
        })
    })
}

fn parse(bytes: &[u8]) -> Option<Table> {
    let word = |i: usize| {
        bytes
            .get(i * 4..i * 4 + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let docs = word(0)?;
    let n = word(1)? as usize;
    let mut df = HashMap::with_capacity(n);
    for k in 0..n {
        df.insert(word(2 + 2 * k)?, word(3 + 2 * k)?);
    }
    Some(Table { docs: docs as f32, df })
}

/// BM25's inverse document frequency of `term` in the field.
pub fn idf(term: u32) -> f32 {
    let t = table();
    let df = t.df.get(&term).map_or(0.5, |&d| d as f32);
    (1.0 + (t.docs - df + 0.5) / (df + 0.5)).ln()
}

/// Whether the field uses `term` at all (it is in the table): a word no
/// abstract uses — a typo, chat ("hey"), a coined name — says nothing about
/// what a paper lacks.
pub fn known(term: u32) -> bool {
    table().df.contains_key(&term)
}

/// The largest IDF any term can have (one never seen), for scaling to 0..1.
pub fn max_idf() -> f32 {
    let t = table();
    (1.0 + t.docs / 1.0).ln()
}

/// Builds the table from the term sets of many documents.
pub fn build(docs: impl Iterator<Item = Vec<u32>>) -> Vec<u8> {
    let mut counts: HashMap<u32, u32> = HashMap::new();
    let mut n = 0u32;
    for mut terms in docs {
        terms.sort_unstable();
        terms.dedup();
        for t in terms {
            *counts.entry(t).or_default() += 1;
        }
        n += 1;
    }
    let mut kept: Vec<(u32, u32)> = counts.into_iter().filter(|&(_, d)| d >= MIN_DF).collect();
    kept.sort_unstable();
    let mut out = Vec::with_capacity(8 + kept.len() * 8);
    out.extend(n.to_le_bytes());
    out.extend((kept.len() as u32).to_le_bytes());
    for (t, d) in kept {
        out.extend(t.to_le_bytes());
        out.extend(d.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::Bm25;

    #[test]
    fn built_tables_round_trip_and_rare_terms_weigh_more() {
        let bm25 = Bm25::default();
        let docs = [
            "language models reason",
            "language models plan",
            "language models draft",
        ]
        .repeat(3);
        let bytes = build(docs.iter().map(|d| bm25.document(d).indices));
        let t = parse(&bytes).unwrap();
        assert_eq!(t.docs, 9.0);
        let model = bm25.query("models").indices[0];
        assert_eq!(t.df[&model], 9);
        assert_eq!(t.df.get(&bm25.query("draft").indices[0]), Some(&3));
    }

    #[test]
    fn the_shipped_table_knows_the_field() {
        let bm25 = Bm25::default();
        let term = |w: &str| bm25.query(w).indices[0];
        assert!(table().docs >= 50_000.0, "{}", table().docs);
        assert!(idf(term("model")) < idf(term("speculative")));
        assert!(idf(term("speculative")) < idf(term("zyzzyvaqx")));
        // A term of art is known; a typo or made-up word is not.
        assert!(known(term("federated")) && known(term("lidar")));
        assert!(!known(term("zyzzyvaqx")) && !known(term("rewrting")));
    }
}
