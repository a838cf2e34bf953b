//! [`Library`]: a store plus the embedders that fill and query it, checked
//! to match (a library is only ever queried with vectors from the embedder
//! that built it). The one handle ingest, retrieval and answers share.

use std::sync::Arc;

use crate::embed::{Bm25, DenseEmbedder, EmbedConfig, EmbedError, SentenceVectors};
use crate::secret::Secret;
use crate::store::{AnyStore, CollectionMeta, PaperStore, StoreError};

pub struct Library<S: PaperStore = AnyStore> {
    pub store: S,
    pub dense: DenseEmbedder,
    pub bm25: Arc<Bm25>,
    /// Sentence vectors of recently retrieved papers (relevance, support).
    pub sentences: SentenceVectors,
}

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("invalid BM25 settings: {0}")]
    Bm25(String),
}

impl<S: PaperStore> Library<S> {
    /// Loads the configured embedders over `store` and checks that the
    /// library (if it exists) was built by the same dense embedder.
    pub async fn open(store: S, embed: &EmbedConfig, api_key: Option<&Secret>) -> Result<Library<S>, LibraryError> {
        let dense = DenseEmbedder::from_config(embed, api_key).await?;
        let bm25 = Bm25::new(embed.bm25_avg_len).map_err(LibraryError::Bm25)?;
        Library::new(store, dense, Arc::new(bm25)).await
    }

    /// The configured embedders over `store`, whatever built the library:
    /// for `reindex`, which rebuilds what does not match.
    pub async fn open_to_rebuild(
        store: S,
        embed: &EmbedConfig,
        api_key: Option<&Secret>,
    ) -> Result<Library<S>, LibraryError> {
        let dense = DenseEmbedder::from_config(embed, api_key).await?;
        let bm25 = Bm25::new(embed.bm25_avg_len).map_err(LibraryError::Bm25)?;
        Ok(Library {
            store,
            dense,
            bm25: Arc::new(bm25),
            sentences: SentenceVectors::default(),
        })
    }

    pub async fn new(store: S, dense: DenseEmbedder, bm25: Arc<Bm25>) -> Result<Library<S>, LibraryError> {
        let lib = Library {
            store,
            dense,
            bm25,
            sentences: SentenceVectors::default(),
        };
        if let Some(found) = lib.store.meta().await? {
            found.check(&lib.wanted_meta(), &lib.store.describe())?;
            if found.older_keywords() {
                tracing::warn!(
                    library = %lib.store.describe(),
                    "this library was indexed before the keyword forms paperbot now adds (other spellings, acronyms such as MCTS for Monte Carlo tree search, AIME kept apart from \"aim\"); `paperbot reindex` adds them (in place, without re-embedding; `paperbot serve` does it by itself) so keyword search finds them"
                );
            }
            lib.store.ensure_indexes().await?;
        }
        Ok(lib)
    }

    pub fn wanted_meta(&self) -> CollectionMeta {
        CollectionMeta::new(self.dense.name(), self.dense.dim())
    }

    /// Creates the collection on first write.
    pub async fn ensure_collection(&self) -> Result<(), StoreError> {
        match self.store.meta().await? {
            Some(found) => found.check(&self.wanted_meta(), &self.store.describe()),
            None => self.store.create(&self.wanted_meta()).await,
        }
    }
}
