//! Ingest: validated papers in, points out — idempotently. A paper seen
//! again is compared by content hash: unchanged papers are not rewritten,
//! changed metadata (upvotes) is rewritten with the stored vectors, and only
//! new or re-worded papers are embedded.

use std::collections::HashMap;

use chrono::Utc;
use indicatif::ProgressBar;
use serde::Serialize;

use crate::library::{Library, LibraryError};
use crate::paper::{Paper, PaperId};
use crate::store::schema::{content_hash, text_hash};
use crate::store::{PaperPoint, PaperStore, PaperVectors, StoredPaper};

/// Papers written per store round trip (and embedded per call).
pub const BATCH: usize = 64;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IngestCounts {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: usize,
}

impl IngestCounts {
    pub fn add(&mut self, o: IngestCounts) {
        self.new += o.new;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.skipped += o.skipped;
    }
}

/// Keeps the last record per id, in first-seen order.
pub fn dedupe(papers: Vec<Paper>) -> Vec<Paper> {
    let mut index: HashMap<PaperId, usize> = HashMap::new();
    let mut out: Vec<Paper> = Vec::with_capacity(papers.len());
    for p in papers {
        match index.get(&p.id) {
            Some(&i) => out[i] = p,
            None => {
                index.insert(p.id.clone(), out.len());
                out.push(p);
            }
        }
    }
    out
}

/// Writes `papers` into the library. Each batch is written before the next
/// is embedded, so an error part-way loses nothing already written.
pub async fn ingest<S: PaperStore>(
    lib: &Library<S>,
    papers: Vec<Paper>,
    progress: &ProgressBar,
) -> Result<IngestCounts, LibraryError> {
    let papers = dedupe(papers);
    let mut counts = IngestCounts::default();
    if papers.is_empty() {
        return Ok(counts);
    }
    lib.ensure_collection().await?;
    let embedder = lib.dense.name();
    for batch in papers.chunks(BATCH) {
        let ids: Vec<PaperId> = batch.iter().map(|p| p.id.clone()).collect();
        let existing: HashMap<PaperId, StoredPaper> = lib
            .store
            .get(&ids)
            .await?
            .into_iter()
            .map(|s| (s.paper.id.clone(), s))
            .collect();
        let now = Utc::now();
        let mut to_embed: Vec<StoredPaper> = Vec::new();
        let mut to_write: Vec<PaperPoint> = Vec::new();
        for paper in batch {
            let stored = StoredPaper {
                first_seen: existing.get(&paper.id).map_or(now, |e| e.first_seen),
                content_hash: content_hash(paper),
                text_hash: text_hash(paper, &embedder),
                paper: paper.clone(),
            };
            match existing.get(&paper.id) {
                Some(old) if old.content_hash == stored.content_hash && old.text_hash == stored.text_hash => {
                    counts.unchanged += 1;
                }
                Some(old) if old.text_hash == stored.text_hash => {
                    // Metadata changed (e.g. upvotes): reuse the vectors.
                    match lib.store.vectors(&paper.id).await? {
                        Some(vectors) => to_write.push(PaperPoint { stored, vectors }),
                        None => to_embed.push(stored),
                    }
                    counts.updated += 1;
                }
                Some(_) => {
                    to_embed.push(stored);
                    counts.updated += 1;
                }
                None => {
                    to_embed.push(stored);
                    counts.new += 1;
                }
            }
        }
        if !to_embed.is_empty() {
            let texts: Vec<String> = to_embed.iter().map(|s| s.paper.embedding_text()).collect();
            let bm25 = lib.bm25.clone();
            let sparse_texts = texts.clone();
            let (dense, sparse) = tokio::join!(
                lib.dense.embed_documents(texts),
                tokio::task::spawn_blocking(move || sparse_texts.iter().map(|t| bm25.document(t)).collect::<Vec<_>>())
            );
            let dense = dense?;
            let sparse = sparse.map_err(|e| crate::embed::EmbedError::Inference(e.to_string()))?;
            for ((stored, dense), sparse) in to_embed.into_iter().zip(dense).zip(sparse) {
                to_write.push(PaperPoint {
                    stored,
                    vectors: PaperVectors { dense, sparse },
                });
            }
        }
        lib.store.upsert(to_write).await?;
        progress.inc(batch.len() as u64);
        tracing::debug!(done = progress.position(), total = papers.len(), "ingest batch written");
    }
    lib.store.optimize().await?;
    lib.store.flush().await?;
    let m = crate::metrics::metrics();
    for (kind, n) in [
        ("new", counts.new),
        ("updated", counts.updated),
        ("unchanged", counts.unchanged),
        ("skipped", counts.skipped),
    ] {
        m.ingested(kind, n);
    }
    Ok(counts)
}
