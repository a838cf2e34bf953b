//! Sentence vectors of papers, computed on demand and kept for a while.
//! Relevance asks how well a paper's best sentence matches a question, and
//! the answer gate asks which source sentence supports an answer's sentence;
//! both need the same vectors, and the same few papers come back question
//! after question, so they are embedded once per process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{DenseEmbedder, EmbedError};
use crate::paper::Paper;
use crate::text::sentences;

/// Papers whose sentence vectors are kept (~8 sentences × 384 floats each:
/// about 12 KB a paper, 25 MB in all).
const CAPACITY: usize = 2_000;

/// One paper's sentences — the title first, then the abstract's — with
/// their unit vectors.
#[derive(Debug)]
pub struct PaperSentences {
    pub sentences: Vec<String>,
    pub vectors: Vec<Vec<f32>>,
}

impl PaperSentences {
    /// The sentence most like `v` (a unit vector): its index and cosine.
    pub fn best(&self, v: &[f32]) -> Option<(usize, f32)> {
        self.vectors
            .iter()
            .map(|s| dot(s, v))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The cache. Keyed by paper id and the text it was split from, so an
/// updated abstract is split and embedded again.
#[derive(Default)]
pub struct SentenceVectors {
    kept: Mutex<HashMap<(String, u64), Arc<PaperSentences>>>,
}

impl SentenceVectors {
    /// Sentence vectors for each of `papers`, in order; the missing ones are
    /// embedded in one batch.
    pub async fn of(
        &self,
        embedder: &DenseEmbedder,
        papers: &[&Paper],
    ) -> Result<Vec<Arc<PaperSentences>>, EmbedError> {
        let keys: Vec<(String, u64)> = papers.iter().map(|p| key(p)).collect();
        let mut found: Vec<Option<Arc<PaperSentences>>> = {
            let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            keys.iter().map(|k| kept.get(k).cloned()).collect()
        };
        let missing: Vec<usize> = (0..papers.len()).filter(|&i| found[i].is_none()).collect();
        if !missing.is_empty() {
            let split: Vec<Vec<String>> = missing.iter().map(|&i| split(papers[i])).collect();
            let flat: Vec<String> = split.iter().flatten().cloned().collect();
            let mut vectors = embedder.embed_documents(flat).await?.into_iter();
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            if kept.len() + missing.len() > CAPACITY {
                kept.clear();
            }
            for (&i, sentences) in missing.iter().zip(split) {
                let vectors: Vec<Vec<f32>> = vectors.by_ref().take(sentences.len()).collect();
                let entry = Arc::new(PaperSentences { sentences, vectors });
                kept.insert(keys[i].clone(), entry.clone());
                found[i] = Some(entry);
            }
        }
        Ok(found.into_iter().flatten().collect())
    }
}

fn key(p: &Paper) -> (String, u64) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.title.hash(&mut h);
    p.abstract_text.hash(&mut h);
    (p.id.to_string(), h.finish())
}

/// The title, then the abstract's sentences (at most 40: a hostile
/// "abstract" of a thousand one-line sentences costs no more than a real one).
fn split(p: &Paper) -> Vec<String> {
    std::iter::once(p.title.clone())
        .chain(sentences(&p.abstract_text).into_iter().take(40))
        .collect()
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
