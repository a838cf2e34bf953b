//! Retrieval: a question in, ranked papers out. Embeds the query both ways
//! and lets the store fuse dense and BM25 candidates (reciprocal rank fusion).

use tracing::Instrument;

use crate::library::{Library, LibraryError};
use crate::paper::PaperId;
use crate::store::{PaperStore, ScoredPaper, SearchFilter, SearchMode, SearchRequest};

#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub k: usize,
    pub mode: SearchMode,
    pub prefetch: usize,
    pub filter: SearchFilter,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 10,
            mode: SearchMode::Hybrid,
            prefetch: 50,
            filter: SearchFilter::default(),
        }
    }
}

/// Ranked papers for a free-text question.
pub async fn search<S: PaperStore>(
    lib: &Library<S>,
    query: &str,
    opts: &SearchOptions,
) -> Result<Vec<ScoredPaper>, LibraryError> {
    Ok(search_with_relevance(lib, query, opts).await?.hits)
}

/// Hits plus how relevant the best paper is at all.
#[derive(Debug, Clone)]
pub struct SearchResult {
    pub hits: Vec<ScoredPaper>,
    /// Cosine similarity of the best dense match (−1..1). Fusion scores are
    /// rank-based and say nothing about relevance; this does, so callers
    /// compare it with a calibrated threshold to say "nothing relevant".
    pub top_relevance: f32,
}

pub async fn search_with_relevance<S: PaperStore>(
    lib: &Library<S>,
    query: &str,
    opts: &SearchOptions,
) -> Result<SearchResult, LibraryError> {
    let span = tracing::info_span!("search", mode = ?opts.mode, k = opts.k);
    async {
        let dense = lib.dense.embed_query(query).await?;
        let sparse = lib.bm25.query(query);
        let request = |mode, limit| SearchRequest {
            dense: dense.clone(),
            sparse: sparse.clone(),
            mode,
            limit,
            prefetch: opts.prefetch.max(opts.k),
            filter: opts.filter.clone(),
        };
        let hits = lib.store.search(request(opts.mode, opts.k.max(1))).await?;
        let top_relevance = match (opts.mode, hits.first()) {
            (SearchMode::Dense, Some(h)) => h.score,
            _ => lib
                .store
                .search(request(SearchMode::Dense, 1))
                .await?
                .first()
                .map_or(-1.0, |h| h.score),
        };
        Ok(SearchResult { hits, top_relevance })
    }
    .instrument(span)
    .await
}

/// Papers most like `id`, by its own stored vectors.
pub async fn related<S: PaperStore>(
    lib: &Library<S>,
    id: &PaperId,
    opts: &SearchOptions,
) -> Result<Vec<ScoredPaper>, LibraryError> {
    let Some(vectors) = lib.store.vectors(id).await? else {
        return Ok(vec![]);
    };
    let mut filter = opts.filter.clone();
    filter.exclude.push(id.clone());
    let request = SearchRequest {
        dense: vectors.dense,
        sparse: vectors.sparse,
        mode: opts.mode,
        limit: opts.k.max(1),
        prefetch: opts.prefetch.max(opts.k),
        filter,
    };
    Ok(lib.store.search(request).await?)
}
