//! The collection schema both backends share: a named dense vector
//! [`DENSE`] (cosine), a named sparse vector [`SPARSE`] (BM25 weights, IDF
//! applied by Qdrant), the [`StoredPaper`] fields as payload, and payload
//! indexes on `published` and `source`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{StoreError, StoredPaper};
use crate::paper::Paper;

pub const DENSE: &str = "dense";
pub const SPARSE: &str = "bm25";
/// Payload fields with an index (filters on them stay fast at scale).
pub const INDEXED_DATETIME: &str = "published";
pub const INDEXED_KEYWORD: &str = "source";
/// When a paper entered the library (indexed: digests and `stats` read it
/// by range and order).
pub const FIRST_SEEN: &str = "first_seen";
/// The title, with a full-text index of every word's prefixes (Qdrant's
/// prefix tokenizer, lowercased): finding a paper by title and title
/// autocomplete answer from it, not from a scan.
pub const TITLE: &str = "title";
/// The hash of what the embedders saw ([`text_hash`]): a keyword vector
/// replaced in place is written only while the paper still has it.
pub const TEXT_HASH: &str = "text_hash";
/// Longest word prefix the title index holds (query words are cut to it).
pub const TITLE_MAX_TOKEN: usize = 20;
/// Reciprocal rank fusion constant, the same on both backends.
pub const RRF_K: usize = 60;
/// Fusion weights (dense, BM25): equal but for a hair, so that a paper
/// first in one ranking and second in the other, against its mirror image,
/// is not a tie broken by each backend its own way (the embedded store and
/// a server disagreed on 8 of 328 held-out questions' first paper); the
/// dense retriever's pick wins (on the calibration questions hybrid MRR 0.967 that way,
/// 0.958 the other). Small enough to change nothing but exact ties in the top 30.
pub const RRF_WEIGHTS: [f32; 2] = [1.0001, 1.0];
/// Dense and sparse vectors memory-mapped rather than read into RAM: a
/// process opening a big library maps it instead of loading it
/// (`paperbot bench scale`).
pub const VECTORS_ON_DISK: bool = true;
/// int8 scalar quantization of the dense vectors: values beyond this
/// quantile are clipped.
pub const INT8_QUANTILE: f32 = 0.99;
/// Candidates scored on int8 per result, then rescored with the originals.
pub const OVERSAMPLING: f64 = 2.0;
/// Segments the embedded store keeps before merging (qdrant-edge's default
/// on 2 cores is 2: every new indexed segment was merged into the big one,
/// rebuilding its HNSW graph, so a long ingest was quadratic). With 8 the
/// merges pick the smallest segments and sizes grow geometrically; a search
/// visits each segment.
pub const SEGMENTS: usize = 8;
/// HNSW beam width at query time: recall over latency (the default, 64,
/// loses neighbours on large libraries).
pub const HNSW_EF: usize = 128;
/// Bumped when the payload or vector layout changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;
/// Bumped when the words BM25 indexes for a document gain forms (other
/// spellings, acronyms: `embed::bm25::spellings`; 2: acronyms kept from
/// the stemmer, `embed::bm25::kept_acronyms`). A library indexed before
/// still works, with fewer keyword matches, until `reindex`.
pub const KEYWORD_FORMS: u32 = 2;

/// Recorded with the collection so a library is never queried with vectors
/// from a different embedder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionMeta {
    pub embedder: String,
    pub dim: usize,
    pub schema_version: u32,
    /// [`KEYWORD_FORMS`] when the library was indexed (0: before it existed).
    #[serde(default)]
    pub keyword_forms: u32,
}

impl CollectionMeta {
    pub fn new(embedder: impl Into<String>, dim: usize) -> Self {
        Self {
            embedder: embedder.into(),
            dim,
            schema_version: SCHEMA_VERSION,
            keyword_forms: KEYWORD_FORMS,
        }
    }

    /// Whether the library's documents lack keyword forms this paperbot
    /// indexes (worth a `reindex`, not an error).
    pub fn older_keywords(&self) -> bool {
        self.keyword_forms < KEYWORD_FORMS
    }

    /// Errors unless `wanted` can read and write this collection.
    pub fn check(&self, wanted: &CollectionMeta, location: &str) -> Result<(), StoreError> {
        if self.embedder != wanted.embedder || self.dim != wanted.dim {
            return Err(StoreError::EmbedderMismatch {
                location: location.to_string(),
                found: self.embedder.clone(),
                found_dim: self.dim,
                wanted: wanted.embedder.clone(),
                wanted_dim: wanted.dim,
            });
        }
        if self.schema_version != wanted.schema_version {
            return Err(StoreError::Backend {
                context: location.to_string(),
                message: format!(
                    "library schema v{} but this paperbot uses v{}; run `paperbot reindex`",
                    self.schema_version, wanted.schema_version
                ),
            });
        }
        Ok(())
    }
}

pub fn to_payload(stored: &StoredPaper) -> Map<String, Value> {
    match serde_json::to_value(stored) {
        Ok(Value::Object(map)) => map,
        // A struct with named fields always serialises to an object.
        _ => unreachable!("StoredPaper serialises to a JSON object"),
    }
}

pub fn from_payload(payload: Map<String, Value>) -> Result<StoredPaper, StoreError> {
    let id = payload.get("id").and_then(Value::as_str).unwrap_or("?").to_string();
    serde_json::from_value(Value::Object(payload)).map_err(|e| StoreError::Corrupt {
        id,
        message: e.to_string(),
    })
}

/// Hash of everything a user could see change.
pub fn content_hash(paper: &Paper) -> String {
    let json = serde_json::to_vec(paper).unwrap_or_default();
    hex::encode(&Sha256::digest(&json)[..16])
}

/// Hash of what the embedders see, salted with the embedder's name.
pub fn text_hash(paper: &Paper, embedder: &str) -> String {
    let mut h = Sha256::new();
    h.update(embedder.as_bytes());
    h.update([0]);
    h.update(paper.embedding_text().as_bytes());
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_indexed_before_the_keyword_forms_still_opens_and_is_flagged() {
        let old: CollectionMeta =
            serde_json::from_str(r#"{"embedder": "minilm", "dim": 384, "schema_version": 1}"#).unwrap();
        let wanted = CollectionMeta::new("minilm", 384);
        assert!(old.check(&wanted, "here").is_ok());
        assert!(old.older_keywords());
        assert!(!wanted.older_keywords());
        let written: CollectionMeta = serde_json::from_slice(&serde_json::to_vec(&wanted).unwrap()).unwrap();
        assert_eq!(written, wanted);
    }
}
