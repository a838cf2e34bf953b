//! Ingest: validated papers in, points out — idempotently. A paper seen
//! again is compared by content hash: unchanged papers are not rewritten,
//! changed metadata (upvotes) is rewritten with the stored vectors, and only
//! new or re-worded papers are embedded.
//!
//! Nothing written is lost: every batch is flushed before the next one is
//! embedded (the embedded store keeps only what was flushed across a kill),
//! and a stop request ends the run between batches, so an interrupted ingest
//! resumes by running it again (stored papers are skipped).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::library::{Library, LibraryError};
use crate::paper::{Paper, PaperId};
use crate::store::schema::{content_hash, text_hash};
use crate::store::{PaperPoint, PaperStore, PaperVectors, StoredPaper};

/// Papers written per store round trip (and embedded per call).
pub const BATCH: usize = 64;
/// Papers written between index rebuilds in one run. Qdrant keeps new points
/// in an appendable segment whose sparse posting lists cost O(length) per
/// insert (qdrant-edge 0.7 rewalks the list's prefix on every append), so one
/// segment of 100k papers makes ingest quadratic; optimizing every so often
/// turns it into indexed segments and starts a fresh one.
pub(crate) const OPTIMIZE_EVERY: usize = 20_000;

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

/// A paper to ingest, with when it first entered a library if that is
/// known (a restored backup or a reindex keeps it, so digests do not present
/// old papers as new).
#[derive(Debug, Clone)]
pub struct Incoming {
    pub paper: Paper,
    pub first_seen: Option<DateTime<Utc>>,
}

impl From<Paper> for Incoming {
    fn from(paper: Paper) -> Incoming {
        Incoming {
            paper,
            first_seen: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestOutcome {
    pub counts: IngestCounts,
    /// Records handled before a stop request (all of them when not stopped).
    pub done: usize,
    /// A stop request ended the run early (everything handled is flushed).
    pub interrupted: bool,
}

/// Keeps the last record per id, in first-seen order.
pub fn dedupe<T: Into<Incoming>>(records: Vec<T>) -> Vec<Incoming> {
    let mut index: HashMap<PaperId, usize> = HashMap::new();
    let mut out: Vec<Incoming> = Vec::with_capacity(records.len());
    for r in records {
        let r = r.into();
        match index.get(&r.paper.id) {
            Some(&i) => out[i] = r,
            None => {
                index.insert(r.paper.id.clone(), out.len());
                out.push(r);
            }
        }
    }
    out
}

/// Writes `papers` into the library (see [`ingest_until`]).
pub async fn ingest<S: PaperStore>(
    lib: &Library<S>,
    papers: Vec<Paper>,
    progress: &ProgressBar,
) -> Result<IngestCounts, LibraryError> {
    Ok(ingest_until(lib, papers, progress, &CancellationToken::new())
        .await?
        .counts)
}

/// Writes `records` into the library, batch by batch, in two overlapping
/// stages: while one batch is written and flushed, the next is embedded.
/// Batches are written in order and each is flushed before the next is
/// written, so an error, a kill or `stop` loses at most the two batches in
/// flight (a re-run embeds only those). `stop` is checked between batches.
pub async fn ingest_until<S: PaperStore, T: Into<Incoming>>(
    lib: &Library<S>,
    records: Vec<T>,
    progress: &ProgressBar,
    stop: &CancellationToken,
) -> Result<IngestOutcome, LibraryError> {
    let records = dedupe(records);
    let mut outcome = IngestOutcome::default();
    if records.is_empty() {
        return Ok(outcome);
    }
    lib.ensure_collection().await?;
    let embedder = lib.dense.name();
    // An embedded batch waiting to be written, and how many records it holds.
    let mut ready: Option<(Vec<PaperPoint>, usize)> = None;
    let mut since_optimize = 0;
    for batch in records.chunks(lib.dense.ingest_batch(BATCH)) {
        if stop.is_cancelled() {
            outcome.interrupted = true;
            break;
        }
        let (to_embed, to_write) = classify(lib, batch, &embedder, &mut outcome.counts).await?;
        let (embedded, written) = tokio::join!(embed(lib, to_embed), async {
            match ready.take() {
                Some((points, n)) => write(lib, points).await.map(|()| n),
                None => Ok(0),
            }
        });
        let n = written?;
        outcome.done += n;
        progress.inc(n as u64);
        since_optimize += n;
        if since_optimize >= OPTIMIZE_EVERY {
            // Everything written is flushed (see `write`).
            lib.store.optimize().await?;
            since_optimize = 0;
        }
        let mut points = to_write;
        points.extend(embedded?);
        ready = Some((points, batch.len()));
        tracing::debug!(done = outcome.done, total = records.len(), "ingest batch embedded");
    }
    if let Some((points, n)) = ready {
        write(lib, points).await?;
        outcome.done += n;
        progress.inc(n as u64);
    }
    // Flushed before the index is rebuilt (a crash mid-optimize must not find
    // unflushed points), and after.
    lib.store.flush().await?;
    lib.store.optimize().await?;
    lib.store.flush().await?;
    let counts = outcome.counts;
    let m = crate::metrics::metrics();
    for (kind, n) in [
        ("new", counts.new),
        ("updated", counts.updated),
        ("unchanged", counts.unchanged),
        ("skipped", counts.skipped),
    ] {
        m.ingested(kind, n);
    }
    Ok(outcome)
}

/// Which of `batch` are new or changed (to embed), which only need their
/// metadata rewritten (vectors reused), and which are unchanged (counted).
async fn classify<S: PaperStore>(
    lib: &Library<S>,
    batch: &[Incoming],
    embedder: &str,
    counts: &mut IngestCounts,
) -> Result<(Vec<StoredPaper>, Vec<PaperPoint>), LibraryError> {
    let ids: Vec<PaperId> = batch.iter().map(|r| r.paper.id.clone()).collect();
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
    for Incoming { paper, first_seen } in batch {
        // The earliest known entry time wins: a backup restored into a
        // library that saw the paper later still dates it from the backup.
        let first_seen = match (existing.get(&paper.id).map(|e| e.first_seen), *first_seen) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, b) => b.unwrap_or(now),
        };
        let stored = StoredPaper {
            first_seen,
            content_hash: content_hash(paper),
            text_hash: text_hash(paper, embedder),
            paper: paper.clone(),
        };
        match existing.get(&paper.id) {
            Some(old)
                if old.content_hash == stored.content_hash
                    && old.text_hash == stored.text_hash
                    && old.first_seen == stored.first_seen =>
            {
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
    Ok((to_embed, to_write))
}

/// Dense and sparse vectors for `papers` (the sparse ones on the blocking pool).
async fn embed<S: PaperStore>(lib: &Library<S>, papers: Vec<StoredPaper>) -> Result<Vec<PaperPoint>, LibraryError> {
    if papers.is_empty() {
        return Ok(vec![]);
    }
    let texts: Vec<String> = papers.iter().map(|s| s.paper.embedding_text()).collect();
    let bm25 = lib.bm25.clone();
    let sparse_texts = texts.clone();
    let (dense, sparse) = tokio::join!(
        lib.dense.embed_documents(texts),
        tokio::task::spawn_blocking(move || sparse_texts.iter().map(|t| bm25.document(t)).collect::<Vec<_>>())
    );
    let dense = dense?;
    let sparse = sparse.map_err(|e| crate::embed::EmbedError::Inference(e.to_string()))?;
    Ok(papers
        .into_iter()
        .zip(dense)
        .zip(sparse)
        .map(|((stored, dense), sparse)| PaperPoint {
            stored,
            vectors: PaperVectors { dense, sparse },
        })
        .collect())
}

/// Writes `points` and makes them durable before anything after them.
async fn write<S: PaperStore>(lib: &Library<S>, points: Vec<PaperPoint>) -> Result<(), LibraryError> {
    if points.is_empty() {
        return Ok(());
    }
    lib.store.upsert(points).await?;
    // Durable before the next batch is written: a kill loses only what is in flight.
    lib.store.flush().await?;
    Ok(())
}
