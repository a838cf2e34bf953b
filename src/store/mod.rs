//! The paper library's storage: one [`PaperStore`] trait, two Qdrant
//! backends behind it — [`edge::EdgeStore`] (in-process, the zero-setup
//! default) and [`server::ServerStore`] (a Qdrant server or cluster over gRPC).
//!
//! Invariant: both backends hold the same collection schema
//! ([`schema`]), and everything above this module sees only the trait, so a
//! user can move from one to the other with `export`/`ingest`.

pub mod edge;
pub mod schema;
pub mod server;
pub mod shared;
pub mod state;

use std::future::Future;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::paper::{Paper, PaperId, SourceKind};
use crate::secret::Secret;

pub use schema::{CollectionMeta, DENSE, SPARSE};

/// Where the library lives: `[store]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// A Qdrant server's gRPC URL (e.g. `http://localhost:6334`). Unset: the
    /// embedded Qdrant Edge store under the data directory.
    pub qdrant_url: Option<String>,
    pub collection: String,
    /// Server only: shards and replicas for a cluster.
    pub shard_number: Option<u32>,
    pub replication_factor: Option<u32>,
    pub timeout_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            qdrant_url: None,
            collection: "papers".into(),
            shard_number: None,
            replication_factor: None,
            timeout_secs: 30,
        }
    }
}

/// Opens the configured backend: the server when `qdrant_url` is set, else
/// the embedded store under `data_dir` — owned, or shared with the paperbot
/// process that already holds it ([`shared`]).
pub async fn open(config: &StoreConfig, data_dir: &Path, api_key: Option<&Secret>) -> StoreResult<AnyStore> {
    match &config.qdrant_url {
        Some(url) => Ok(AnyStore::Server(server::ServerStore::connect(server::ServerConfig {
            url: url.clone(),
            api_key: api_key.cloned(),
            collection: config.collection.clone(),
            shard_number: config.shard_number,
            replication_factor: config.replication_factor,
            timeout: std::time::Duration::from_secs(config.timeout_secs),
        })?)),
        None => Ok(AnyStore::Shared(shared::SharedEdge::open(data_dir).await?)),
    }
}

/// A sparse vector (BM25 term weights), backend-neutral.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

/// A paper as stored, with the bookkeeping ingest needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPaper {
    #[serde(flatten)]
    pub paper: Paper,
    /// When this paper first entered the index (kept across updates).
    pub first_seen: DateTime<Utc>,
    /// Hash of every paper field: equal means "unchanged".
    pub content_hash: String,
    /// Hash of the embedded text: equal means the vectors can be reused.
    pub text_hash: String,
}

/// A paper's new keyword (BM25) vector, derived from the text whose
/// [`StoredPaper::text_hash`] it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordVector {
    pub id: PaperId,
    pub text_hash: String,
    pub sparse: SparseVec,
}

/// Vectors stored with a paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperVectors {
    pub dense: Vec<f32>,
    pub sparse: SparseVec,
}

/// One point to write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaperPoint {
    pub stored: StoredPaper,
    pub vectors: PaperVectors,
}

/// Which retrievers take part in a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Dense and BM25 prefetches fused with reciprocal rank fusion.
    #[default]
    Hybrid,
    Dense,
    Sparse,
}

/// Restricts a search to part of the library.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchFilter {
    pub published_since: Option<DateTime<Utc>>,
    pub published_until: Option<DateTime<Utc>>,
    pub sources: Vec<SourceKind>,
    /// Papers that must not be returned (e.g. the paper itself in "related").
    pub exclude: Vec<PaperId>,
    /// Only papers whose title has, for each of these (lowercase) words, a
    /// word starting with it ([`crate::paper::title_words`]).
    pub title_words: Vec<String>,
    /// Only these papers (e.g. those shared in a server); `Some(empty)`
    /// matches nothing.
    pub only: Option<Vec<PaperId>>,
}

/// A search, with the query already embedded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchRequest {
    pub dense: Vec<f32>,
    pub sparse: SparseVec,
    pub mode: SearchMode,
    pub limit: usize,
    /// Candidates each retriever contributes before fusion.
    pub prefetch: usize,
    pub filter: SearchFilter,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPaper {
    pub score: f32,
    pub stored: StoredPaper,
}

/// Summary numbers for `paperbot stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LibraryStats {
    pub count: u64,
    pub oldest_published: Option<DateTime<Utc>>,
    pub newest_published: Option<DateTime<Utc>>,
    pub newest_first_seen: Option<DateTime<Utc>>,
    pub by_source: Vec<(SourceKind, u64)>,
}

/// A page of a full scan; pass `next` back to continue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    pub papers: Vec<StoredPaper>,
    pub next: Option<uuid::Uuid>,
}

#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum StoreError {
    #[error(
        "the library at {location} was built with embedder `{found}` ({found_dim} dims), but paperbot is configured for `{wanted}` ({wanted_dim} dims); run `paperbot reindex` to rebuild it with the configured embedder, or switch the embedder back"
    )]
    EmbedderMismatch {
        location: String,
        found: String,
        found_dim: usize,
        wanted: String,
        wanted_dim: usize,
    },
    #[error("{location} is in use by another paperbot process (lock {lock}); stop it or use another --data-dir")]
    Locked { location: String, lock: String },
    #[error(
        "Qdrant at {url} is unreachable: {message}. Is the server running (`docker compose up qdrant`)? Is PAPERBOT_QDRANT_URL right (gRPC port, usually 6334)?"
    )]
    Unreachable { url: String, message: String },
    #[error("{context}: {message}")]
    Backend { context: String, message: String },
    #[error("stored record {id} is unreadable: {message}")]
    Corrupt { id: String, message: String },
}

impl StoreError {
    pub(crate) fn backend(context: impl Into<String>, e: impl std::fmt::Display) -> Self {
        StoreError::Backend {
            context: context.into(),
            message: e.to_string(),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What paperbot needs from a vector store. Both backends pass the same test
/// suite (`tests/store_suite.rs`).
pub trait PaperStore: Send + Sync {
    /// Human-readable backend and location, for `stats` and errors.
    fn describe(&self) -> String;

    /// The collection's recorded metadata, `None` when it does not exist yet.
    fn meta(&self) -> impl Future<Output = StoreResult<Option<CollectionMeta>>> + Send;

    /// Creates the collection (vectors, payload indexes, metadata).
    fn create(&self, meta: &CollectionMeta) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes the collection and everything in it.
    fn drop_collection(&self) -> impl Future<Output = StoreResult<()>> + Send;

    /// Inserts or replaces points by paper id.
    fn upsert(&self, points: Vec<PaperPoint>) -> impl Future<Output = StoreResult<()>> + Send;

    /// Fetches papers by id; missing ids are absent from the result.
    fn get(&self, ids: &[PaperId]) -> impl Future<Output = StoreResult<Vec<StoredPaper>>> + Send;

    /// The stored vectors of one paper.
    fn vectors(&self, id: &PaperId) -> impl Future<Output = StoreResult<Option<PaperVectors>>> + Send;

    /// Replaces the BM25 vectors of stored papers and nothing else (their
    /// dense vectors and payload stay): `reindex` after the keyword forms
    /// change re-derives these without re-embedding anything. A paper whose
    /// stored `text_hash` is none of the batch's (re-worded by an ingest
    /// since its text was read) is left as it is.
    fn update_keywords(&self, points: Vec<KeywordVector>) -> impl Future<Output = StoreResult<()>> + Send;

    /// Records `meta` on the existing collection (after an in-place reindex).
    fn set_meta(&self, meta: &CollectionMeta) -> impl Future<Output = StoreResult<()>> + Send;

    fn count(&self) -> impl Future<Output = StoreResult<u64>> + Send;

    /// One page of a full scan in point-id order.
    fn scroll(&self, from: Option<uuid::Uuid>, limit: usize) -> impl Future<Output = StoreResult<Page>> + Send;

    /// One page of the papers that entered the library at or after `since`
    /// (digests), in point-id order; pages may hold fewer than `limit`.
    /// Both backends filter by the `first_seen` index; this default filters
    /// a full scan.
    fn scroll_entered_since(
        &self,
        since: DateTime<Utc>,
        from: Option<uuid::Uuid>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Page>> + Send {
        async move {
            let mut page = self.scroll(from, limit).await?;
            page.papers.retain(|s| s.first_seen >= since);
            Ok(page)
        }
    }

    fn search(&self, request: SearchRequest) -> impl Future<Output = StoreResult<Vec<ScoredPaper>>> + Send;

    /// Up to `limit` papers whose title has, for each of `words` (from
    /// [`crate::paper::title_words`]), a word starting with it; in no
    /// particular order (`retrieve::lookup` ranks them). Both backends answer
    /// from the title index; this default scans.
    fn title_matches(
        &self,
        words: &[String],
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<StoredPaper>>> + Send {
        async move {
            let mut out = Vec::new();
            scan(self, |page| {
                let room = limit.saturating_sub(out.len());
                out.extend(
                    page.into_iter()
                        .filter(|s| crate::paper::title_has_words(&s.paper.title, words))
                        .take(room),
                );
            })
            .await?;
            Ok(out)
        }
    }

    /// Adds payload indexes a library made by an older paperbot lacks (the
    /// title index); cheap when they exist.
    fn ensure_indexes(&self) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }

    /// Builds indexes after a batch of writes (edge: HNSW; server: its own optimiser).
    fn optimize(&self) -> impl Future<Output = StoreResult<()>> + Send;

    /// Makes written data durable.
    fn flush(&self) -> impl Future<Output = StoreResult<()>> + Send;

    /// Counts, date ranges and sources. Both backends answer from their
    /// counts and payload indexes, so the cost does not grow with the
    /// library; this default reads every paper.
    fn summary(&self) -> impl Future<Output = StoreResult<LibraryStats>> + Send {
        async move { stats_by_scan(self).await }
    }
}

/// Visits every stored paper, a page at a time, in point-id order.
pub async fn scan<S: PaperStore + ?Sized>(store: &S, mut visit: impl FnMut(Vec<StoredPaper>)) -> StoreResult<()> {
    let mut cursor = None;
    loop {
        let page = store.scroll(cursor, 1_000).await?;
        visit(page.papers);
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(()),
        }
    }
}

/// Every stored paper (for export and reindex).
pub async fn all<S: PaperStore>(store: &S) -> StoreResult<Vec<StoredPaper>> {
    let mut out = Vec::new();
    scan(store, |page| out.extend(page)).await?;
    Ok(out)
}

/// Library statistics by full scan (fine up to ~10^5 papers).
/// Counts, date ranges and sources of the library (see [`PaperStore::summary`]).
pub async fn stats<S: PaperStore>(store: &S) -> StoreResult<LibraryStats> {
    store.summary().await
}

/// [`LibraryStats`] by reading every paper: the fallback for a library
/// without the indexes the backends answer from.
pub async fn stats_by_scan<S: PaperStore + ?Sized>(store: &S) -> StoreResult<LibraryStats> {
    let mut stats = LibraryStats::default();
    let mut by_source = std::collections::BTreeMap::new();
    scan(store, |page| {
        for s in &page {
            stats.count += 1;
            *by_source.entry(s.paper.source).or_insert(0u64) += 1;
            if let Some(p) = s.paper.published {
                stats.oldest_published = Some(stats.oldest_published.map_or(p, |o: DateTime<Utc>| o.min(p)));
                stats.newest_published = Some(stats.newest_published.map_or(p, |o: DateTime<Utc>| o.max(p)));
            }
            stats.newest_first_seen = Some(
                stats
                    .newest_first_seen
                    .map_or(s.first_seen, |o: DateTime<Utc>| o.max(s.first_seen)),
            );
        }
    })
    .await?;
    stats.by_source = by_source.into_iter().collect();
    Ok(stats)
}

/// Any configured backend, chosen at run time.
pub enum AnyStore {
    /// The embedded store, this process's alone.
    Edge(edge::EdgeStore),
    /// The embedded store, owned or shared with another paperbot process.
    Shared(shared::SharedEdge),
    Server(server::ServerStore),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Edge($s) => $e,
            AnyStore::Shared($s) => $e,
            AnyStore::Server($s) => $e,
        }
    };
}

impl PaperStore for AnyStore {
    fn describe(&self) -> String {
        delegate!(self, s => s.describe())
    }
    async fn meta(&self) -> StoreResult<Option<CollectionMeta>> {
        delegate!(self, s => s.meta().await)
    }
    async fn create(&self, meta: &CollectionMeta) -> StoreResult<()> {
        delegate!(self, s => s.create(meta).await)
    }
    async fn drop_collection(&self) -> StoreResult<()> {
        delegate!(self, s => s.drop_collection().await)
    }
    async fn upsert(&self, points: Vec<PaperPoint>) -> StoreResult<()> {
        delegate!(self, s => s.upsert(points).await)
    }
    async fn get(&self, ids: &[PaperId]) -> StoreResult<Vec<StoredPaper>> {
        delegate!(self, s => s.get(ids).await)
    }
    async fn vectors(&self, id: &PaperId) -> StoreResult<Option<PaperVectors>> {
        delegate!(self, s => s.vectors(id).await)
    }
    async fn update_keywords(&self, points: Vec<KeywordVector>) -> StoreResult<()> {
        delegate!(self, s => s.update_keywords(points).await)
    }
    async fn set_meta(&self, meta: &CollectionMeta) -> StoreResult<()> {
        delegate!(self, s => s.set_meta(meta).await)
    }
    async fn count(&self) -> StoreResult<u64> {
        delegate!(self, s => s.count().await)
    }
    async fn scroll(&self, from: Option<uuid::Uuid>, limit: usize) -> StoreResult<Page> {
        delegate!(self, s => s.scroll(from, limit).await)
    }
    async fn search(&self, request: SearchRequest) -> StoreResult<Vec<ScoredPaper>> {
        delegate!(self, s => s.search(request).await)
    }
    async fn title_matches(&self, words: &[String], limit: usize) -> StoreResult<Vec<StoredPaper>> {
        delegate!(self, s => s.title_matches(words, limit).await)
    }
    async fn ensure_indexes(&self) -> StoreResult<()> {
        delegate!(self, s => s.ensure_indexes().await)
    }
    async fn optimize(&self) -> StoreResult<()> {
        delegate!(self, s => s.optimize().await)
    }
    async fn flush(&self) -> StoreResult<()> {
        delegate!(self, s => s.flush().await)
    }
    async fn summary(&self) -> StoreResult<LibraryStats> {
        delegate!(self, s => s.summary().await)
    }
    async fn scroll_entered_since(
        &self,
        since: DateTime<Utc>,
        from: Option<uuid::Uuid>,
        limit: usize,
    ) -> StoreResult<Page> {
        delegate!(self, s => s.scroll_entered_since(since, from, limit).await)
    }
}

impl state::StateStore for AnyStore {
    async fn put_doc(&self, kind: &str, key: &str, doc: &serde_json::Value) -> StoreResult<()> {
        delegate!(self, s => s.put_doc(kind, key, doc).await)
    }
    async fn get_doc(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        delegate!(self, s => s.get_doc(kind, key).await)
    }
    async fn delete_doc(&self, kind: &str, key: &str) -> StoreResult<()> {
        delegate!(self, s => s.delete_doc(kind, key).await)
    }
    async fn all_docs(&self) -> StoreResult<Vec<(String, String, serde_json::Value)>> {
        delegate!(self, s => s.all_docs().await)
    }
    async fn increment(&self, kind: &str, key: &str, field: &str, delta: u64) -> StoreResult<u64> {
        delegate!(self, s => s.increment(kind, key, field, delta).await)
    }
}
