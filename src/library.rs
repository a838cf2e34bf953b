//! [`Library`]: the store plus the embedders that fill and query it. The one
//! handle the CLI (and later the bot) holds.

use std::sync::Arc;

use crate::config::{Config, Secrets};
use crate::embed::{Bm25, DenseEmbedder, EmbedError};
use crate::store::edge::EdgeStore;
use crate::store::server::{ServerConfig, ServerStore};
use crate::store::{AnyStore, CollectionMeta, PaperStore, StoreError};

pub struct Library<S: PaperStore = AnyStore> {
    pub store: S,
    pub dense: DenseEmbedder,
    pub bm25: Arc<Bm25>,
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

/// Opens the configured backend (server when `store.qdrant_url` is set).
pub fn open_store(config: &Config, secrets: &Secrets) -> Result<AnyStore, StoreError> {
    match &config.store.qdrant_url {
        Some(url) => Ok(AnyStore::Server(ServerStore::connect(ServerConfig {
            url: url.clone(),
            api_key: secrets.qdrant_api_key.as_ref().map(|s| s.expose().to_string()),
            collection: config.store.collection.clone(),
            shard_number: config.store.shard_number,
            replication_factor: config.store.replication_factor,
            timeout: std::time::Duration::from_secs(config.store.timeout_secs),
        })?)),
        None => Ok(AnyStore::Edge(EdgeStore::open(&config.data_dir)?)),
    }
}

impl Library<AnyStore> {
    /// Opens store and embedders from configuration and checks that the
    /// library (if it exists) was built by the same embedder.
    pub async fn open(config: &Config, secrets: &Secrets) -> Result<Library, LibraryError> {
        let store = open_store(config, secrets)?;
        let dense =
            DenseEmbedder::from_config(&config.embed, secrets.embed_api_key.as_ref().map(|s| s.expose())).await?;
        let bm25 = Bm25::new(config.embed.bm25_avg_len).map_err(LibraryError::Bm25)?;
        Library::new(store, dense, Arc::new(bm25)).await
    }
}

impl<S: PaperStore> Library<S> {
    pub async fn new(store: S, dense: DenseEmbedder, bm25: Arc<Bm25>) -> Result<Library<S>, LibraryError> {
        let lib = Library { store, dense, bm25 };
        if let Some(found) = lib.store.meta().await? {
            found.check(&lib.wanted_meta(), &lib.store.describe())?;
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
