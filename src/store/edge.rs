//! The embedded default: Qdrant Edge, the Qdrant engine in-process, persisted
//! under `<data-dir>/papers`. No server, no setup.
//!
//! `EdgeShard` is synchronous, so every call runs on the blocking pool. Writes
//! and `flush` are serialised by `write_lock` (flush panics if it meets a
//! write in flight), and a lock file keeps a second process out of the
//! directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use qdrant_edge::{
    AnyVariants, Condition, CountRequest, CreateIndex, DateTimeWrapper, Direction, Distance, EdgeConfigBuilder,
    EdgeOptimizersConfig, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder, FieldCondition,
    FieldIndexOperations, Filter, Fusion, HasIdCondition, JsonPath, Match, MatchAny, MatchText, Modifier, NamedQuery,
    OrderBy, OrderByInterface, PayloadFieldSchema, PayloadSchemaParams, PayloadSchemaType, PointId,
    PointInsertOperations, PointOperations, PointStruct, PointVectorsPersisted, Prefetch, QuantizationConfig,
    QuantizationSearchParams, QueryEnum, QueryRequest, Range, ScoringQuery, ScrollRequest, SearchParams, SparseVector,
    TextIndexParams, TokenizerType, UpdateOperation, UpdateVectorsOp, VectorInternal, VectorOperations,
    VectorPersisted, VectorStructInternal, VectorStructPersisted, Vectors, WithPayloadInterface, WithVector,
};

use super::schema::{self, CollectionMeta, DENSE, HNSW_EF, SPARSE, TEXT_HASH};
use super::state::{self, STATE_VECTOR, StateStore};
use super::{
    KeywordVector, Page, PaperPoint, PaperStore, PaperVectors, ScoredPaper, SearchFilter, SearchMode, SearchRequest,
    SparseVec, StoreError, StoreResult, StoredPaper,
};
use crate::paper::PaperId;

const META_FILE: &str = "paperbot-collection.json";
/// The library's [`LibraryStats`](super::LibraryStats) as of its last
/// flush; removed before any write, so present means current.
const SUMMARY_FILE: &str = "paperbot-summary.json";
/// Written once the state shard exists completely.
const STATE_MARK: &str = "paperbot-state";

pub struct EdgeStore {
    dir: PathBuf,
    /// The library's shard once loaded (`None`: not loaded or no library).
    shard: RwLock<Option<Arc<EdgeShard>>>,
    /// The library exists on disk but is not loaded yet. Loading reads every
    /// segment (0.1–0.5 s at 100k papers), so it waits for the first call
    /// that needs the shard: `stats` answers from the summary file alone.
    unloaded: Mutex<bool>,
    /// The summary file and whether the library has changed since it was true.
    summary: Arc<SummaryFile>,
    /// Subscriptions and digest state (`<data-dir>/state`), made on first write.
    state: Mutex<Option<Arc<EdgeShard>>>,
    state_dir: PathBuf,
    write_lock: Arc<Mutex<()>>,
    /// Held open for the store's lifetime: the OS lock is the guard.
    _lock: File,
}

/// qdrant-edge flushes a shard when it is dropped and panics if that fails
/// (its directory was removed, the disk is full). A panic while a task is
/// being torn down aborts the process, so the shards are dropped here, the
/// panic caught and logged; a shard whose directory is gone is leaked
/// instead (there is nothing left to flush it to).
impl Drop for EdgeStore {
    fn drop(&mut self) {
        let shards = [
            (self.dir.clone(), self.shard.get_mut().ok().and_then(Option::take)),
            (self.state_dir.clone(), self.state.get_mut().ok().and_then(Option::take)),
        ];
        for (dir, shard) in shards {
            let Some(shard) = shard else { continue };
            if !dir.exists() {
                tracing::warn!(dir = %dir.display(), "the store's directory is gone; its last writes are lost");
                std::mem::forget(shard);
                continue;
            }
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(shard))).is_err() {
                tracing::error!(dir = %dir.display(), "flushing the store on close failed");
            }
        }
    }
}

impl EdgeStore {
    /// Opens (without creating) the library under `data_dir`.
    pub fn open(data_dir: &Path) -> StoreResult<EdgeStore> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::backend(format!("creating data dir {}", data_dir.display()), e))?;
        let lock_path = data_dir.join("paperbot.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::backend(format!("opening {}", lock_path.display()), e))?;
        lock.try_lock().map_err(|_| StoreError::Locked {
            location: data_dir.display().to_string(),
            lock: lock_path.display().to_string(),
        })?;
        // Who holds it, for the messages of processes that find it locked.
        {
            use std::io::Write;
            let mut f = &lock;
            let _ = f.set_len(0).and_then(|()| write!(f, "{}", std::process::id()));
        }
        let dir = data_dir.join("papers");
        let state_dir = data_dir.join("state");
        for d in [&dir, &state_dir] {
            trim_wal(d);
        }
        let exists = dir.join(META_FILE).exists();
        Ok(EdgeStore {
            dir,
            shard: RwLock::new(None),
            unloaded: Mutex::new(exists),
            summary: Arc::new(SummaryFile {
                path: data_dir.join("papers").join(SUMMARY_FILE),
                dirty: AtomicBool::new(false),
            }),
            state: Mutex::new(None),
            state_dir,
            write_lock: Arc::new(Mutex::new(())),
            _lock: lock,
        })
    }

    /// The library's shard, loaded on first use; `None` when there is no library.
    fn loaded(&self) -> StoreResult<Option<Arc<EdgeShard>>> {
        {
            let mut unloaded = self.unloaded.lock().unwrap_or_else(|p| p.into_inner());
            if *unloaded {
                let _span = tracing::debug_span!("edge", op = "load").entered();
                let shard = EdgeShard::load(&self.dir, None)
                    .map_err(|e| StoreError::backend(format!("loading the library at {}", self.dir.display()), e))?;
                // A library made before `schema::SEGMENTS`: merge as new ones do.
                if shard.config().optimizers.default_segment_number.is_none() {
                    let optimizers = EdgeOptimizersConfig {
                        default_segment_number: Some(schema::SEGMENTS),
                        ..shard.config().optimizers.clone()
                    };
                    if let Err(e) = shard.set_optimizers_config(optimizers) {
                        tracing::warn!(error = %e, "could not update the library's segment settings");
                    }
                }
                *self.shard.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(shard));
                *unloaded = false;
            }
        }
        Ok(self.shard.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Whether the library's segments have been read by this process.
    pub fn is_loaded(&self) -> bool {
        self.shard.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Whether a library exists (loaded or not).
    fn exists(&self) -> StoreResult<bool> {
        Ok(self.loaded()?.is_some())
    }

    fn shard(&self) -> StoreResult<Arc<EdgeShard>> {
        self.loaded()?.ok_or_else(|| StoreError::Backend {
            context: self.describe(),
            message: "the library is empty: run `paperbot ingest` first".into(),
        })
    }

    /// One page in point-id order, of the points `filter` keeps.
    async fn scroll_where(&self, filter: Option<Filter>, from: Option<uuid::Uuid>, limit: usize) -> StoreResult<Page> {
        if !self.exists()? {
            return Ok(Page {
                papers: vec![],
                next: None,
            });
        }
        let (records, next) = self
            .with_shard("scroll", Access::Read, move |s| {
                s.scroll(ScrollRequest {
                    offset: from.map(PointId::Uuid),
                    limit: Some(limit.max(1)),
                    filter,
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                })
            })
            .await?;
        let papers = records
            .into_iter()
            .map(|r| payload_of(r.payload))
            .collect::<StoreResult<Vec<_>>>()?;
        let next = match next {
            Some(PointId::Uuid(u)) => Some(u),
            Some(other) => {
                return Err(StoreError::backend("scroll", format!("unexpected point id {other:?}")));
            }
            None => None,
        };
        Ok(Page { papers, next })
    }

    /// Runs `f` with the shard on the blocking pool.
    async fn with_shard<T: Send + 'static>(
        &self,
        what: &'static str,
        access: Access,
        f: impl FnOnce(&EdgeShard) -> Result<T, qdrant_edge::OperationError> + Send + 'static,
    ) -> StoreResult<T> {
        let shard = self.shard()?;
        let lock = (access != Access::Read).then(|| self.write_lock.clone());
        let summary = (access == Access::Change).then(|| self.summary.clone());
        let span = tracing::debug_span!("edge", op = what);
        tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let _guard = lock.as_ref().map(|l| l.lock().unwrap_or_else(|p| p.into_inner()));
            // Under the write lock, so no flush can save a summary between
            // this and the change.
            if let Some(summary) = summary {
                summary.invalidate();
            }
            f(&shard)
        })
        .await
        .map_err(|e| StoreError::backend(what, e))?
        .map_err(|e| StoreError::backend(what, e))
    }
}

fn point_id(id: &PaperId) -> PointId {
    PointId::Uuid(id.point_uuid())
}

fn sparse(v: &SparseVec) -> SparseVector {
    SparseVector {
        indices: v.indices.clone(),
        values: v.values.clone(),
    }
}

/// The title index: every prefix of every (lowercased) title word, no extra
/// HNSW links (short prefixes cover huge numbers of papers).
fn title_index() -> UpdateOperation {
    UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(CreateIndex {
        field_name: JsonPath::try_from(schema::TITLE).expect("static path"),
        field_schema: Some(PayloadFieldSchema::FieldParams(PayloadSchemaParams::Text(
            TextIndexParams {
                tokenizer: TokenizerType::Prefix,
                lowercase: Some(true),
                max_token_len: Some(schema::TITLE_MAX_TOKEN),
                enable_hnsw: Some(false),
                ..Default::default()
            },
        ))),
    }))
}

/// Dense vectors as int8 kept in RAM (a quarter of f32), the originals
/// memory-mapped for rescoring ([`schema::QUANTIZATION`]).
fn int8() -> QuantizationConfig {
    serde_json::from_value(serde_json::json!({"scalar": {
        "type": "int8",
        "quantile": schema::INT8_QUANTILE,
        "always_ram": true,
    }}))
    .expect("a valid scalar quantization config")
}

/// Search through the int8 vectors, rescoring the best with the originals.
fn search_params() -> SearchParams {
    SearchParams {
        hnsw_ef: Some(HNSW_EF),
        quantization: Some(QuantizationSearchParams {
            ignore: false,
            rescore: Some(true),
            oversampling: Some(schema::OVERSAMPLING),
        }),
        ..Default::default()
    }
}

fn build_filter(f: &SearchFilter) -> Option<Filter> {
    let mut must = Vec::new();
    if !f.title_words.is_empty() {
        let key = JsonPath::try_from(schema::TITLE).expect("static path");
        must.push(Condition::Field(FieldCondition::new_match(
            key,
            Match::Text(MatchText {
                text: f.title_words.join(" "),
            }),
        )));
    }
    if f.published_since.is_some() || f.published_until.is_some() {
        let range = Range {
            gte: f.published_since.map(DateTimeWrapper),
            lte: f.published_until.map(DateTimeWrapper),
            lt: None,
            gt: None,
        };
        let key = JsonPath::try_from(schema::INDEXED_DATETIME).expect("static path");
        must.push(Condition::Field(FieldCondition::new_datetime_range(key, range)));
    }
    if !f.sources.is_empty() {
        let key = JsonPath::try_from(schema::INDEXED_KEYWORD).expect("static path");
        let any = AnyVariants::Strings(f.sources.iter().map(|s| s.as_str().into()).collect());
        must.push(Condition::Field(FieldCondition::new_match(
            key,
            Match::Any(MatchAny { any }),
        )));
    }
    if let Some(only) = &f.only {
        must.push(Condition::HasId(HasIdCondition::from_iter(only.iter().map(point_id))));
    }
    let must_not: Vec<Condition> = if f.exclude.is_empty() {
        vec![]
    } else {
        vec![Condition::HasId(HasIdCondition::from_iter(
            f.exclude.iter().map(point_id),
        ))]
    };
    if must.is_empty() && must_not.is_empty() {
        return None;
    }
    Some(Filter {
        should: None,
        min_should: None,
        must: (!must.is_empty()).then_some(must),
        must_not: (!must_not.is_empty()).then_some(must_not),
    })
}

fn nearest(query: VectorInternal, using: &str) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
        query,
        using: Some(using.to_string()),
    }))
}

fn payload_of(p: Option<qdrant_edge::Payload>) -> StoreResult<StoredPaper> {
    let map = p.map(|p| p.0.into_iter().collect()).unwrap_or_default();
    schema::from_payload(map)
}

/// Replaces the meta file whole (written aside, then renamed over it).
fn write_meta(dir: &Path, json: &[u8]) -> StoreResult<()> {
    let tmp = dir.join(format!("{META_FILE}.tmp"));
    std::fs::write(&tmp, json).map_err(|e| StoreError::backend("writing meta", e))?;
    std::fs::rename(&tmp, dir.join(META_FILE)).map_err(|e| StoreError::backend("writing meta", e))
}

fn vectors_of(v: Option<VectorStructInternal>) -> Option<PaperVectors> {
    let VectorStructInternal::Named(mut named) = v? else {
        return None;
    };
    let dense = match named.remove(DENSE)? {
        VectorInternal::Dense(d) => d,
        _ => return None,
    };
    let sparse = match named.remove(SPARSE) {
        Some(VectorInternal::Sparse(s)) => SparseVec {
            indices: s.indices,
            values: s.values,
        },
        _ => SparseVec::default(),
    };
    Some(PaperVectors { dense, sparse })
}

impl PaperStore for EdgeStore {
    fn describe(&self) -> String {
        format!("embedded Qdrant Edge at {}", self.dir.display())
    }

    async fn meta(&self) -> StoreResult<Option<CollectionMeta>> {
        let path = self.dir.join(META_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::backend(format!("reading {}", path.display()), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::backend(format!("reading {}", path.display()), e)),
        }
    }

    async fn create(&self, meta: &CollectionMeta) -> StoreResult<()> {
        self.summary.invalidate();
        let dir = self.dir.clone();
        let dim = meta.dim;
        let meta_json = serde_json::to_vec_pretty(meta).map_err(|e| StoreError::backend("meta", e))?;
        let shard = tokio::task::spawn_blocking(move || -> Result<EdgeShard, StoreError> {
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::backend(format!("creating {}", dir.display()), e))?;
            let config = EdgeConfigBuilder::new()
                .vector(
                    DENSE,
                    EdgeVectorParamsBuilder::new(dim, Distance::Cosine)
                        .on_disk(schema::VECTORS_ON_DISK)
                        .quantization_config(int8())
                        .build(),
                )
                .sparse_vector(
                    SPARSE,
                    EdgeSparseVectorParamsBuilder::new()
                        .modifier(Modifier::Idf)
                        .on_disk(schema::VECTORS_ON_DISK)
                        .build(),
                )
                .on_disk_payload(true)
                .optimizers(EdgeOptimizersConfig {
                    default_segment_number: Some(schema::SEGMENTS),
                    ..Default::default()
                })
                .build();
            let shard = EdgeShard::new(&dir, config).map_err(|e| StoreError::backend("creating the library", e))?;
            for (field, kind) in [
                (schema::INDEXED_DATETIME, PayloadSchemaType::Datetime),
                (schema::INDEXED_KEYWORD, PayloadSchemaType::Keyword),
                (schema::FIRST_SEEN, PayloadSchemaType::Datetime),
            ] {
                shard
                    .update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(
                        CreateIndex {
                            field_name: JsonPath::try_from(field).expect("static path"),
                            field_schema: Some(PayloadFieldSchema::FieldType(kind)),
                        },
                    )))
                    .map_err(|e| StoreError::backend(format!("indexing `{field}`"), e))?;
            }
            shard
                .update(title_index())
                .map_err(|e| StoreError::backend("indexing titles", e))?;
            // The meta file is written last: its presence means "complete".
            write_meta(&dir, &meta_json)?;
            Ok(shard)
        })
        .await
        .map_err(|e| StoreError::backend("creating the library", e))??;
        *self.shard.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(shard));
        *self.unloaded.lock().unwrap_or_else(|p| p.into_inner()) = false;
        Ok(())
    }

    async fn drop_collection(&self) -> StoreResult<()> {
        self.summary.invalidate();
        *self.unloaded.lock().unwrap_or_else(|p| p.into_inner()) = false;
        let old = self.shard.write().unwrap_or_else(|p| p.into_inner()).take();
        let dir = self.dir.clone();
        let lock = self.write_lock.clone();
        tokio::task::spawn_blocking(move || {
            let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
            drop(old);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StoreError::backend(format!("removing {}", dir.display()), e)),
            }
        })
        .await
        .map_err(|e| StoreError::backend("drop", e))?
    }

    async fn upsert(&self, points: Vec<PaperPoint>) -> StoreResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let points = points
            .into_iter()
            .map(|p| {
                let vectors = Vectors::new_named([
                    (DENSE, VectorInternal::from(p.vectors.dense)),
                    (SPARSE, VectorInternal::from(sparse(&p.vectors.sparse))),
                ]);
                let payload = serde_json::Value::Object(schema::to_payload(&p.stored));
                PointStruct::new(point_id(&p.stored.paper.id), vectors, payload).into()
            })
            .collect();
        self.with_shard("upsert", Access::Change, move |s| {
            s.update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                PointInsertOperations::PointsList(points),
            )))
        })
        .await
    }

    async fn get(&self, ids: &[PaperId]) -> StoreResult<Vec<StoredPaper>> {
        if !self.exists()? {
            return Ok(vec![]);
        }
        let pids: Vec<PointId> = ids.iter().map(point_id).collect();
        let records = self
            .with_shard("retrieve", Access::Read, move |s| {
                s.retrieve(
                    &pids,
                    Some(WithPayloadInterface::Bool(true)),
                    Some(WithVector::Bool(false)),
                )
            })
            .await?;
        records.into_iter().map(|r| payload_of(r.payload)).collect()
    }

    async fn vectors(&self, id: &PaperId) -> StoreResult<Option<PaperVectors>> {
        let pid = [point_id(id)];
        let mut records = self
            .with_shard("retrieve", Access::Read, move |s| {
                s.retrieve(
                    &pid,
                    Some(WithPayloadInterface::Bool(false)),
                    Some(WithVector::Bool(true)),
                )
            })
            .await?;
        Ok(records.pop().and_then(|r| vectors_of(r.vector)))
    }

    async fn update_keywords(&self, points: Vec<KeywordVector>) -> StoreResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let hashes = AnyVariants::Strings(points.iter().map(|p| p.text_hash.as_str().into()).collect());
        let unchanged = Filter::new_must(Condition::Field(FieldCondition::new_match(
            JsonPath::try_from(TEXT_HASH).expect("static path"),
            Match::Any(MatchAny { any: hashes }),
        )));
        let points = points
            .into_iter()
            .map(|p| PointVectorsPersisted {
                id: point_id(&p.id),
                vector: VectorStructPersisted::Named(
                    [(SPARSE.to_string(), VectorPersisted::Sparse(sparse(&p.sparse)))].into(),
                ),
            })
            .collect();
        self.with_shard("update keywords", Access::Change, move |s| {
            s.update(UpdateOperation::VectorOperation(VectorOperations::UpdateVectors(
                UpdateVectorsOp {
                    points,
                    update_filter: Some(unchanged),
                },
            )))
        })
        .await
    }

    async fn set_meta(&self, meta: &CollectionMeta) -> StoreResult<()> {
        if self.meta().await?.is_none() {
            return Err(StoreError::backend(
                "recording the library's meta",
                "no library to record it on",
            ));
        }
        let json = serde_json::to_vec_pretty(meta).map_err(|e| StoreError::backend("meta", e))?;
        let dir = self.dir.clone();
        let lock = self.write_lock.clone();
        tokio::task::spawn_blocking(move || {
            let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
            write_meta(&dir, &json)
        })
        .await
        .map_err(|e| StoreError::backend("writing meta", e))?
    }

    async fn count(&self) -> StoreResult<u64> {
        if !self.exists()? {
            return Ok(0);
        }
        self.with_shard("count", Access::Read, |s| {
            s.count(CountRequest {
                filter: None,
                exact: true,
            })
        })
        .await
        .map(|n| n as u64)
    }

    async fn scroll(&self, from: Option<uuid::Uuid>, limit: usize) -> StoreResult<Page> {
        self.scroll_where(None, from, limit).await
    }

    async fn scroll_entered_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        from: Option<uuid::Uuid>,
        limit: usize,
    ) -> StoreResult<Page> {
        let range = Range {
            gte: Some(DateTimeWrapper(since)),
            lte: None,
            lt: None,
            gt: None,
        };
        let key = JsonPath::try_from(schema::FIRST_SEEN).expect("static path");
        let filter = Filter {
            should: None,
            min_should: None,
            must: Some(vec![Condition::Field(FieldCondition::new_datetime_range(key, range))]),
            must_not: None,
        };
        self.scroll_where(Some(filter), from, limit).await
    }

    async fn search(&self, req: SearchRequest) -> StoreResult<Vec<ScoredPaper>> {
        let filter = build_filter(&req.filter);
        let dense = nearest(VectorInternal::from(req.dense), DENSE);
        let sparse = nearest(VectorInternal::from(sparse(&req.sparse)), SPARSE);
        let prefetch = |query| Prefetch {
            prefetches: vec![],
            query: Some(query),
            limit: req.prefetch.max(req.limit),
            params: Some(search_params()),
            filter: filter.clone(),
            score_threshold: None,
        };
        let (prefetches, query) = match req.mode {
            SearchMode::Hybrid => (
                vec![prefetch(dense), prefetch(sparse)],
                ScoringQuery::Fusion(Fusion::Rrf {
                    k: schema::RRF_K,
                    weights: Some(schema::RRF_WEIGHTS.iter().map(|&w| w.into()).collect()),
                }),
            ),
            SearchMode::Dense => (vec![], dense),
            SearchMode::Sparse => (vec![], sparse),
        };
        let request = QueryRequest {
            prefetches,
            query: Some(query),
            filter: filter.clone(),
            score_threshold: None,
            limit: req.limit,
            offset: 0,
            params: Some(search_params()),
            with_vector: WithVector::Bool(false),
            with_payload: WithPayloadInterface::Bool(true),
        };
        let points = self
            .with_shard("query", Access::Read, move |s| s.query(request))
            .await?;
        points
            .into_iter()
            .map(|p| {
                Ok(ScoredPaper {
                    score: p.score,
                    stored: payload_of(p.payload)?,
                })
            })
            .collect()
    }

    async fn title_matches(&self, words: &[String], limit: usize) -> StoreResult<Vec<StoredPaper>> {
        if words.is_empty() || !self.exists()? {
            return Ok(vec![]);
        }
        let filter = build_filter(&SearchFilter {
            title_words: words.to_vec(),
            ..Default::default()
        });
        Ok(self.scroll_where(filter, None, limit).await?.papers)
    }

    async fn ensure_indexes(&self) -> StoreResult<()> {
        // Written only for a library that has the indexes (see `flush`).
        if self.summary.read().is_some() {
            return Ok(());
        }
        let Some(shard) = self.loaded()? else {
            return Ok(());
        };
        let title = JsonPath::try_from(schema::TITLE).expect("static path");
        let first_seen = JsonPath::try_from(schema::FIRST_SEEN).expect("static path");
        let schema = shard.info().payload_schema;
        let (has_title, has_first_seen) = (schema.contains_key(&title), schema.contains_key(&first_seen));
        if has_title && has_first_seen {
            return Ok(());
        }
        tracing::info!(library = %self.describe(), "indexing titles and entry times (once, for a library made by an older paperbot)");
        self.with_shard("indexing", Access::Change, move |s| {
            if !has_title {
                s.update(title_index())?;
            }
            if !has_first_seen {
                s.update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(
                    CreateIndex {
                        field_name: first_seen,
                        field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Datetime)),
                    },
                )))?;
            }
            s.flush();
            Ok(())
        })
        .await
    }

    /// From the summary file when it is current (without loading the
    /// library), else from counts and ordered indexes, saved for next time.
    async fn summary(&self) -> StoreResult<super::LibraryStats> {
        if let Some(stats) = self.summary.read() {
            return Ok(stats);
        }
        let Some(shard) = self.loaded()? else {
            return Ok(super::LibraryStats::default());
        };
        if !has_summary_indexes(&shard) {
            return super::stats_by_scan(self).await;
        }
        // Exclusive: saved only if no change comes between counting and saving.
        let summary = self.summary.clone();
        self.with_shard("summary", Access::Exclusive, move |s| {
            let stats = summarize(s)?;
            summary.save(&stats);
            Ok(stats)
        })
        .await
    }

    async fn optimize(&self) -> StoreResult<()> {
        if !self.exists()? {
            return Ok(());
        }
        self.with_shard("optimize", Access::Exclusive, |s| s.optimize().map(|_| ()))
            .await?;
        if wal_bytes(&self.dir) > WAL_TRIM_BYTES {
            self.reopen_trimmed().await?;
        }
        Ok(())
    }

    async fn flush(&self) -> StoreResult<()> {
        if !self.exists()? {
            return Ok(());
        }
        let summary = self.summary.clone();
        self.with_shard("flush", Access::Exclusive, move |s| {
            s.flush();
            // Everything written is on disk: the summary is true again.
            let was_changed = summary.dirty.swap(false, Ordering::SeqCst);
            if (was_changed || summary.read().is_none()) && has_summary_indexes(s) {
                summary.save(&summarize(s)?);
            }
            Ok(())
        })
        .await
    }
}

/// What a call does with the shard: reads run alongside each other; the
/// rest hold the write lock (qdrant-edge's flush panics if it meets a write
/// in flight); only a change makes the summary file untrue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    /// Changes what the library holds (points, indexes).
    Change,
    /// Needs the shard to itself but changes no paper (flush, optimize).
    Exclusive,
}

/// `papers/paperbot-summary.json`: the library's [`LibraryStats`](super::LibraryStats)
/// as of its last flush. Removed (under the write lock) by the first change
/// after it and saved again at the next flush, so present means true.
struct SummaryFile {
    path: PathBuf,
    /// Changed since the last flush: the file is gone and must not be saved.
    dirty: AtomicBool,
}

impl SummaryFile {
    /// The saved numbers, when the file is there and readable.
    fn read(&self) -> Option<super::LibraryStats> {
        let bytes = std::fs::read(&self.path).ok()?;
        match serde_json::from_slice::<SavedSummary>(&bytes) {
            Ok(s) if s.version == SavedSummary::VERSION => Some(s.stats),
            _ => None,
        }
    }

    /// Before a change: the file stops being true.
    fn invalidate(&self) {
        if !self.dirty.swap(true, Ordering::SeqCst) {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(error = %e, "could not remove the library's summary file"),
            }
        }
    }

    /// Saves `stats` (write, then rename) unless the library changed since
    /// its last flush.
    fn save(&self, stats: &super::LibraryStats) {
        if self.dirty.load(Ordering::SeqCst) {
            return;
        }
        let doc = SavedSummary {
            version: SavedSummary::VERSION,
            stats: stats.clone(),
        };
        let tmp = self.path.with_extension("json.tmp");
        let written = serde_json::to_vec(&doc)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not save the library's summary file");
        }
    }
}

/// The summary file's contents.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedSummary {
    version: u32,
    stats: super::LibraryStats,
}

impl SavedSummary {
    const VERSION: u32 = 1;
}

/// Whether the library has the indexes [`summarize`] reads (libraries made
/// by an older paperbot get them from `ensure_indexes`).
fn has_summary_indexes(s: &EdgeShard) -> bool {
    let schema = s.info().payload_schema;
    [schema::FIRST_SEEN, schema::INDEXED_DATETIME, schema::INDEXED_KEYWORD]
        .iter()
        .all(|f| schema.contains_key(&JsonPath::try_from(*f).expect("static path")))
}

/// Counts per source and the first point in each order of an indexed time:
/// a handful of index reads, whatever the library's size.
fn summarize(s: &EdgeShard) -> Result<super::LibraryStats, qdrant_edge::OperationError> {
    let count = |filter: Option<Filter>| s.count(CountRequest { filter, exact: true }).map(|n| n as u64);
    let mut stats = super::LibraryStats {
        count: count(None)?,
        ..Default::default()
    };
    for kind in crate::paper::SourceKind::ALL {
        let f = build_filter(&SearchFilter {
            sources: vec![kind],
            ..Default::default()
        });
        let n = count(f)?;
        if n > 0 {
            stats.by_source.push((kind, n));
        }
    }
    let edge = |field: &str, direction: Direction| -> Result<Option<StoredPaper>, qdrant_edge::OperationError> {
        let (records, _) = s.scroll(ScrollRequest {
            offset: None,
            limit: Some(1),
            filter: None,
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: WithVector::Bool(false),
            order_by: Some(OrderByInterface::Struct(OrderBy {
                key: JsonPath::try_from(field).expect("static path"),
                direction: Some(direction),
                start_from: None,
            })),
        })?;
        Ok(records.into_iter().next().and_then(|r| payload_of(r.payload).ok()))
    };
    stats.oldest_published = edge(schema::INDEXED_DATETIME, Direction::Asc)?.and_then(|p| p.paper.published);
    stats.newest_published = edge(schema::INDEXED_DATETIME, Direction::Desc)?.and_then(|p| p.paper.published);
    stats.newest_first_seen = edge(schema::FIRST_SEEN, Direction::Desc)?.map(|p| p.first_seen);
    Ok(stats)
}

/// The WAL size above which a writer closes the shard, trims the WAL and
/// reopens it (a long backfill would otherwise grow it without end).
const WAL_TRIM_BYTES: u64 = 128 << 20;

fn wal_bytes(shard_dir: &Path) -> u64 {
    std::fs::read_dir(shard_dir.join("wal"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// qdrant-edge 0.7 writes every operation to its WAL but never reads it back
/// (loading a shard takes the flushed segments as they are) and never
/// truncates it: its `flush` does not acknowledge the WAL, as the server and
/// qdrant-edge 0.9 do (0.9 needs Rust 1.96). So the WAL grew by the size of
/// every paper ever written — 250 MB at 62,000 papers, all read into memory
/// by every process that opened the library. With the shard closed, this
/// does what the WAL's own `prefix_truncate` does after an acknowledgement:
/// it deletes the closed segments but the newest, which carries on the
/// operation numbering. Returns the bytes freed.
fn trim_wal(shard_dir: &Path) -> u64 {
    let wal = shard_dir.join("wal");
    let Ok(entries) = std::fs::read_dir(&wal) else { return 0 };
    let mut closed: Vec<(u64, PathBuf, u64)> = entries
        .flatten()
        .filter_map(|e| {
            let start = e.file_name().to_str()?.strip_prefix("closed-")?.parse::<u64>().ok()?;
            Some((start, e.path(), e.metadata().ok()?.len()))
        })
        .collect();
    closed.sort_by_key(|c| c.0);
    closed.pop();
    let mut freed = 0;
    for (_, path, len) in closed {
        match std::fs::remove_file(&path) {
            Ok(()) => freed += len,
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "could not trim the store's WAL"),
        }
    }
    if freed > 0 {
        tracing::info!(dir = %wal.display(), mb = freed >> 20, "trimmed the store's write-ahead log");
    }
    freed
}

impl EdgeStore {
    /// Closes the shard (flushing it), trims its WAL and loads it again;
    /// skipped while another task holds the shard.
    async fn reopen_trimmed(&self) -> StoreResult<()> {
        let dir = self.dir.clone();
        let write_lock = self.write_lock.clone();
        let _writes = write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut slot = self.shard.write().unwrap_or_else(|p| p.into_inner());
        let Some(shard) = slot.take() else { return Ok(()) };
        let shard = match Arc::try_unwrap(shard) {
            Ok(s) => s,
            Err(shared) => {
                *slot = Some(shared);
                return Ok(());
            }
        };
        drop(shard);
        trim_wal(&dir);
        let reloaded = EdgeShard::load(&dir, None)
            .map_err(|e| StoreError::backend(format!("reloading the library at {}", dir.display()), e))?;
        *slot = Some(Arc::new(reloaded));
        Ok(())
    }

    /// The state shard, created on first use when `create` is set.
    fn state_shard(&self, create: bool) -> StoreResult<Option<Arc<EdgeShard>>> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() && self.state_dir.join(STATE_MARK).exists() {
            let shard = EdgeShard::load(&self.state_dir, None)
                .map_err(|e| StoreError::backend(format!("loading {}", self.state_dir.display()), e))?;
            *guard = Some(Arc::new(shard));
        }
        if guard.is_none() && create {
            let dir = &self.state_dir;
            std::fs::create_dir_all(dir).map_err(|e| StoreError::backend(format!("creating {}", dir.display()), e))?;
            let config = EdgeConfigBuilder::new()
                .vector(STATE_VECTOR, EdgeVectorParamsBuilder::new(1, Distance::Dot).build())
                .build();
            let shard = EdgeShard::new(dir, config).map_err(|e| StoreError::backend("creating the state store", e))?;
            std::fs::write(dir.join(STATE_MARK), b"1").map_err(|e| StoreError::backend("state mark", e))?;
            *guard = Some(Arc::new(shard));
        }
        Ok(guard.clone())
    }

    async fn with_state<T: Send + 'static>(
        &self,
        what: &'static str,
        create: bool,
        f: impl FnOnce(&EdgeShard) -> Result<T, qdrant_edge::OperationError> + Send + 'static,
    ) -> StoreResult<Option<T>> {
        let Some(shard) = self.state_shard(create)? else {
            return Ok(None);
        };
        let lock = self.write_lock.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            f(&shard)
        })
        .await
        .map_err(|e| StoreError::backend(what, e))?
        .map(Some)
        .map_err(|e| StoreError::backend(what, e))
    }
}

impl StateStore for EdgeStore {
    async fn put_doc(&self, kind: &str, key: &str, doc: &serde_json::Value) -> StoreResult<()> {
        let id = PointId::Uuid(state::doc_uuid(kind, key));
        let payload = serde_json::Value::Object(state::doc_payload(kind, key, doc));
        let point = PointStruct::new(
            id,
            Vectors::new_named([(STATE_VECTOR, VectorInternal::from(vec![1.0f32]))]),
            payload,
        );
        self.with_state("state put", true, move |s| {
            s.update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                PointInsertOperations::PointsList(vec![point.into()]),
            )))?;
            // Rare, small writes that must survive a crash: flush each.
            s.flush();
            Ok(())
        })
        .await
        .map(|_| ())
    }

    async fn get_doc(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        let id = [PointId::Uuid(state::doc_uuid(kind, key))];
        let records = self
            .with_state("state get", false, move |s| {
                s.retrieve(
                    &id,
                    Some(WithPayloadInterface::Bool(true)),
                    Some(WithVector::Bool(false)),
                )
            })
            .await?
            .unwrap_or_default();
        Ok(records.into_iter().find_map(|r| {
            let m: serde_json::Map<String, serde_json::Value> = r.payload?.0.into_iter().collect();
            state::from_payload(&m).map(|(_, _, doc)| doc)
        }))
    }

    async fn delete_doc(&self, kind: &str, key: &str) -> StoreResult<()> {
        let id = PointId::Uuid(state::doc_uuid(kind, key));
        self.with_state("state delete", false, move |s| {
            s.update(UpdateOperation::PointOperation(PointOperations::DeletePoints {
                ids: vec![id],
            }))?;
            s.flush();
            Ok(())
        })
        .await
        .map(|_| ())
    }

    async fn all_docs(&self) -> StoreResult<Vec<(String, String, serde_json::Value)>> {
        let mut out = Vec::new();
        let mut offset = None;
        loop {
            let from = offset;
            let page = self
                .with_state("state list", false, move |s| {
                    s.scroll(ScrollRequest {
                        offset: from,
                        limit: Some(256),
                        filter: None,
                        with_payload: Some(WithPayloadInterface::Bool(true)),
                        with_vector: WithVector::Bool(false),
                        order_by: None,
                    })
                })
                .await?;
            let Some((records, next)) = page else { return Ok(out) };
            for r in records {
                let m: serde_json::Map<String, serde_json::Value> =
                    r.payload.map(|p| p.0.into_iter().collect()).unwrap_or_default();
                out.extend(state::from_payload(&m));
            }
            match next {
                Some(n) => offset = Some(n),
                None => return Ok(out),
            }
        }
    }

    async fn increment(&self, kind: &str, key: &str, field: &str, delta: u64) -> StoreResult<u64> {
        let (kind, key, field) = (kind.to_string(), key.to_string(), field.to_string());
        let id = PointId::Uuid(state::doc_uuid(&kind, &key));
        // Read and write under the store's one write lock: no other call
        // (from this process or one sharing the library) comes between.
        let total = self
            .with_state("state increment", true, move |s| {
                let found = s.retrieve(
                    std::slice::from_ref(&id),
                    Some(WithPayloadInterface::Bool(true)),
                    Some(WithVector::Bool(false)),
                )?;
                let mut doc = found
                    .into_iter()
                    .find_map(|r| {
                        let m: serde_json::Map<String, serde_json::Value> = r.payload?.0.into_iter().collect();
                        state::from_payload(&m).map(|(_, _, doc)| doc)
                    })
                    .unwrap_or_else(|| serde_json::json!({}));
                let total = state::add_to(&mut doc, &field, delta);
                let payload = serde_json::Value::Object(state::doc_payload(&kind, &key, &doc));
                let point = PointStruct::new(
                    id,
                    Vectors::new_named([(STATE_VECTOR, VectorInternal::from(vec![1.0f32]))]),
                    payload,
                );
                s.update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                    PointInsertOperations::PointsList(vec![point.into()]),
                )))?;
                s.flush();
                Ok(total)
            })
            .await?;
        Ok(total.unwrap_or(0))
    }
}
