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

    pub fn document(&self, text: &str) -> SparseVec {
        let v = self.inner.embed_document(text);
        SparseVec {
            indices: v.indices,
            values: v.values,
        }
    }

    pub fn query(&self, text: &str) -> SparseVec {
        let v = self.inner.embed_query(text);
        SparseVec {
            indices: v.indices,
            values: v.values,
        }
    }
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
}
