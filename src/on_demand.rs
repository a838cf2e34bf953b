//! Papers someone names that the library does not hold yet: an arXiv id or
//! link typed into `/paper`, `paperbot related`, or pasted into a channel
//! is fetched from arXiv (one `id_list` request for all of them, within the
//! process's arXiv rate), ingested, and then found like any other paper.

use tracing::Instrument;

use crate::ingest;
use crate::library::{Library, LibraryError};
use crate::paper::PaperId;
use crate::retrieve::lookup;
use crate::sources::{Fetcher, SourceError};
use crate::store::{PaperStore, StoredPaper};

#[derive(Debug, thiserror::Error)]
pub enum OnDemandError {
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error("fetching from arXiv: {0}")]
    Source(#[from] SourceError),
}

/// The papers with these ids, in the order given: from the library, and
/// from arXiv (then ingested) for arXiv ids it does not hold. Ids arXiv does
/// not know are left out.
pub async fn papers<S: PaperStore>(
    lib: &Library<S>,
    fetcher: &Fetcher,
    ids: &[PaperId],
) -> Result<Vec<StoredPaper>, OnDemandError> {
    let span = tracing::info_span!("on_demand", n = ids.len());
    async {
        let mut held = lib.store.get(ids).await.map_err(LibraryError::from)?;
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !held.iter().any(|s| s.paper.id == **id))
            .filter_map(|id| id.arxiv_id().map(str::to_string))
            .collect();
        if !missing.is_empty() {
            let fetched = fetcher.arxiv_ids(&missing).await?;
            for p in &fetched.problems {
                tracing::info!(record = %p.record, "not fetched: {}", p.reason);
            }
            if !fetched.papers.is_empty() {
                let new_ids: Vec<PaperId> = fetched.papers.iter().map(|p| p.id.clone()).collect();
                ingest::ingest_until(
                    lib,
                    fetched.papers,
                    &indicatif::ProgressBar::hidden(),
                    &tokio_util::sync::CancellationToken::new(),
                )
                .await?;
                held.extend(lib.store.get(&new_ids).await.map_err(LibraryError::from)?);
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(i) = held.iter().position(|s| s.paper.id == *id) {
                out.push(held.swap_remove(i));
            }
        }
        Ok(out)
    }
    .instrument(span)
    .await
}

/// The paper `needle` names (id, link or title, as [`lookup::find`]); an
/// arXiv id or link the library lacks is fetched first.
pub async fn find<S: PaperStore>(
    lib: &Library<S>,
    fetcher: Option<&Fetcher>,
    needle: &str,
) -> Result<Option<StoredPaper>, OnDemandError> {
    if let Some(found) = lookup::find(lib, needle).await? {
        return Ok(Some(found));
    }
    match (fetcher, PaperId::arxiv(needle)) {
        (Some(fetcher), Some(id)) => Ok(papers(lib, fetcher, &[id]).await?.pop()),
        _ => Ok(None),
    }
}
