//! Reindex in place: when only the words BM25 indexes for a document have
//! changed ([`KEYWORD_FORMS`](crate::store::schema::KEYWORD_FORMS)), every
//! stored paper's keyword vector is re-derived from its stored text and
//! replaced, page by page; dense vectors and payload are left as they are.
//! Re-embedding 100k papers on a CPU takes hours; this takes minutes.
//!
//! The library's meta records the new keyword forms only once every paper
//! is done, so an interrupted run leaves the library flagged (and fully
//! usable: a paper has either its old keyword vector or its new one), and
//! running it again redoes it.

use indicatif::ProgressBar;
use tokio_util::sync::CancellationToken;

use crate::ingest::OPTIMIZE_EVERY;
use crate::library::{Library, LibraryError};
use crate::store::{KeywordVector, PaperStore};

/// Papers read and rewritten per store round trip.
const PAGE: usize = 256;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KeywordsOutcome {
    /// Papers whose keyword vectors were rewritten.
    pub done: usize,
    /// A stop request ended the run early (the library keeps its old meta).
    pub interrupted: bool,
}

/// Re-derives the keyword (BM25) vector of every paper in `lib` and then
/// records the current keyword forms in the library's meta. `stop` is
/// checked between pages.
pub async fn keywords<S: PaperStore>(
    lib: &Library<S>,
    progress: &ProgressBar,
    stop: &CancellationToken,
) -> Result<KeywordsOutcome, LibraryError> {
    let mut outcome = KeywordsOutcome::default();
    let Some(meta) = lib.store.meta().await? else {
        return Ok(outcome);
    };
    meta.check(&lib.wanted_meta(), &lib.store.describe())?;
    let mut from = None;
    let mut since_optimize = 0;
    loop {
        if stop.is_cancelled() {
            outcome.interrupted = true;
            break;
        }
        let page = lib.store.scroll(from, PAGE).await?;
        let (n, next) = (page.papers.len(), page.next);
        let bm25 = lib.bm25.clone();
        let points: Vec<KeywordVector> = tokio::task::spawn_blocking(move || {
            page.papers
                .into_iter()
                .map(|s| KeywordVector {
                    sparse: bm25.document(&s.paper.embedding_text()),
                    id: s.paper.id,
                    text_hash: s.text_hash,
                })
                .collect()
        })
        .await
        .map_err(|e| crate::embed::EmbedError::Inference(e.to_string()))?;
        lib.store.update_keywords(points).await?;
        outcome.done += n;
        progress.inc(n as u64);
        since_optimize += n;
        if since_optimize >= OPTIMIZE_EVERY {
            lib.store.flush().await?;
            lib.store.optimize().await?;
            since_optimize = 0;
        }
        from = next;
        if from.is_none() {
            break;
        }
    }
    lib.store.flush().await?;
    lib.store.optimize().await?;
    lib.store.flush().await?;
    if !outcome.interrupted {
        lib.store.set_meta(&lib.wanted_meta()).await?;
    }
    Ok(outcome)
}

/// [`keywords`] for a library indexed before the current keyword forms, and
/// nothing for one that is not: `serve` runs it in the background at start,
/// so a bot upgraded in place needs no `paperbot reindex` (it answers
/// meanwhile, each paper with its old keyword vector or its new one).
pub async fn upgrade<S: PaperStore>(
    lib: &Library<S>,
    stop: &CancellationToken,
) -> Result<Option<KeywordsOutcome>, LibraryError> {
    match lib.store.meta().await? {
        Some(meta) if meta.older_keywords() && meta.check(&lib.wanted_meta(), "").is_ok() => {}
        _ => return Ok(None),
    }
    let started = std::time::Instant::now();
    tracing::info!("re-deriving the library's keyword vectors for this paperbot's keyword forms, in the background");
    let outcome = keywords(lib, &ProgressBar::hidden(), stop).await?;
    tracing::info!(
        papers = outcome.done,
        interrupted = outcome.interrupted,
        seconds = started.elapsed().as_secs(),
        "keyword vectors re-derived"
    );
    Ok(Some(outcome))
}
