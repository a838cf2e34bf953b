//! A Qdrant server or cluster over gRPC (`qdrant-client`), for libraries that
//! outgrow one machine or are shared by several bot processes. Selected by
//! `PAPERBOT_QDRANT_URL`; same schema and behaviour as the edge backend.

use std::collections::HashMap;
use std::time::Duration;

use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DatetimeRange,
    DeleteCollectionBuilder, DeletePointsBuilder, Direction, Distance, FieldType, Filter, GetPointsBuilder, Modifier,
    NamedVectors, OrderByBuilder, PointId, PointStruct, PointVectors, PrefetchQueryBuilder,
    QuantizationSearchParamsBuilder, QuantizationType, Query, QueryPointsBuilder, Rrf, ScalarQuantizationBuilder,
    ScrollPointsBuilder, SearchParamsBuilder, SparseIndexConfigBuilder, SparseVectorParamsBuilder,
    SparseVectorsConfigBuilder, TextIndexParams, TokenizerType, UpdateCollectionBuilder, UpdatePointVectorsBuilder,
    UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder, VectorsConfigBuilder, point_id::PointIdOptions,
    vector_output::Vector as OutVector, vectors_output::VectorsOptions,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use tracing::Instrument;

use super::schema::{self, CollectionMeta, DENSE, HNSW_EF, SPARSE};
use super::state::{self, STATE_VECTOR, StateStore};
use super::{
    KeywordVector, Page, PaperPoint, PaperStore, PaperVectors, ScoredPaper, SearchFilter, SearchMode, SearchRequest,
    SparseVec, StoreError, StoreResult, StoredPaper,
};
use crate::paper::PaperId;
use crate::secret::Secret;

/// How to reach the server and lay out the collection.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub url: String,
    /// Redacted in `Debug` (it is a [`Secret`]).
    pub api_key: Option<Secret>,
    pub collection: String,
    pub shard_number: Option<u32>,
    pub replication_factor: Option<u32>,
    pub timeout: Duration,
}

pub struct ServerStore {
    client: Qdrant,
    config: ServerConfig,
    /// Serialises `increment` within this process.
    increments: tokio::sync::Mutex<()>,
}

impl ServerStore {
    /// One page in point-id order, of the points `filter` keeps.
    async fn scroll_where(&self, filter: Option<Filter>, from: Option<uuid::Uuid>, limit: usize) -> StoreResult<Page> {
        if !self
            .client
            .collection_exists(self.name())
            .await
            .map_err(|e| self.err("collection_exists", e))?
        {
            return Ok(Page {
                papers: vec![],
                next: None,
            });
        }
        let mut req = ScrollPointsBuilder::new(self.name())
            .limit(limit.max(1) as u32)
            .with_payload(true)
            .with_vectors(false);
        if let Some(u) = from {
            req = req.offset(PointId::from(u.to_string()));
        }
        if let Some(f) = filter {
            req = req.filter(f);
        }
        let resp = self.client.scroll(req).await.map_err(|e| self.err("scroll", e))?;
        let papers = resp
            .result
            .into_iter()
            .map(|p| stored_of(p.payload))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page {
            papers,
            next: uuid_of(resp.next_page_offset),
        })
    }

    /// Connects lazily; the first call reports an unreachable server.
    pub fn connect(config: ServerConfig) -> StoreResult<ServerStore> {
        let mut builder = Qdrant::from_url(&config.url)
            .timeout(config.timeout)
            .skip_compatibility_check();
        if let Some(key) = &config.api_key {
            builder = builder.api_key(key.expose().to_string());
        }
        let client = builder.build().map_err(|e| StoreError::Unreachable {
            url: config.url.clone(),
            message: e.to_string(),
        })?;
        Ok(ServerStore {
            client,
            config,
            increments: tokio::sync::Mutex::new(()),
        })
    }

    fn name(&self) -> &str {
        &self.config.collection
    }

    fn err(&self, context: &str, e: QdrantError) -> StoreError {
        let msg = e.to_string();
        let transport = matches!(&e, QdrantError::ResponseError { status } if matches!(status.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded))
            || msg.contains("transport error")
            || msg.contains("Connection refused");
        if transport {
            StoreError::Unreachable {
                url: self.config.url.clone(),
                message: msg,
            }
        } else {
            StoreError::backend(format!("Qdrant {context} on `{}`", self.config.collection), msg)
        }
    }
}

impl ServerStore {
    /// The title index: every prefix of every (lowercased) title word, no
    /// extra HNSW links (short prefixes cover huge numbers of papers).
    async fn create_title_index(&self) -> StoreResult<()> {
        let params = TextIndexParams {
            tokenizer: TokenizerType::Prefix as i32,
            lowercase: Some(true),
            max_token_len: Some(schema::TITLE_MAX_TOKEN as u64),
            enable_hnsw: Some(false),
            ..Default::default()
        };
        self.client
            .create_field_index(
                CreateFieldIndexCollectionBuilder::new(self.name(), schema::TITLE, FieldType::Text)
                    .field_index_params(params)
                    .wait(true),
            )
            .await
            .map_err(|e| self.err("create_field_index", e))?;
        Ok(())
    }
}

fn point_id(id: &PaperId) -> PointId {
    PointId::from(id.point_uuid().to_string())
}

fn uuid_of(id: Option<PointId>) -> Option<uuid::Uuid> {
    match id?.point_id_options? {
        PointIdOptions::Uuid(s) => uuid::Uuid::parse_str(&s).ok(),
        PointIdOptions::Num(_) => None,
    }
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Through the int8 vectors, the best rescored with the originals (as on the
/// embedded store).
fn search_params() -> SearchParamsBuilder {
    SearchParamsBuilder::default().hnsw_ef(HNSW_EF as u64).quantization(
        QuantizationSearchParamsBuilder::default()
            .rescore(true)
            .oversampling(schema::OVERSAMPLING),
    )
}

fn build_filter(f: &SearchFilter) -> Option<Filter> {
    let mut must = Vec::new();
    if !f.title_words.is_empty() {
        must.push(Condition::matches_text(schema::TITLE, f.title_words.join(" ")));
    }
    if f.published_since.is_some() || f.published_until.is_some() {
        must.push(Condition::datetime_range(
            schema::INDEXED_DATETIME,
            DatetimeRange {
                gte: f.published_since.map(timestamp),
                lte: f.published_until.map(timestamp),
                lt: None,
                gt: None,
            },
        ));
    }
    if !f.sources.is_empty() {
        let any: Vec<String> = f.sources.iter().map(|s| s.as_str().to_string()).collect();
        must.push(Condition::matches(schema::INDEXED_KEYWORD, any));
    }
    if let Some(only) = &f.only {
        must.push(Condition::has_id(only.iter().map(point_id)));
    }
    let must_not = if f.exclude.is_empty() {
        vec![]
    } else {
        vec![Condition::has_id(f.exclude.iter().map(point_id))]
    };
    if must.is_empty() && must_not.is_empty() {
        return None;
    }
    Some(Filter {
        must,
        must_not,
        ..Default::default()
    })
}

fn stored_of(payload: HashMap<String, qdrant_client::qdrant::Value>) -> StoreResult<StoredPaper> {
    let map: serde_json::Map<String, serde_json::Value> = Payload::from(payload).into();
    schema::from_payload(map)
}

impl PaperStore for ServerStore {
    fn describe(&self) -> String {
        format!(
            "Qdrant server at {} (collection `{}`)",
            self.config.url, self.config.collection
        )
    }

    async fn meta(&self) -> StoreResult<Option<CollectionMeta>> {
        let exists = self
            .client
            .collection_exists(self.name())
            .await
            .map_err(|e| self.err("collection_exists", e))?;
        if !exists {
            return Ok(None);
        }
        let info = self
            .client
            .collection_info(self.name())
            .await
            .map_err(|e| self.err("collection_info", e))?;
        let metadata = info
            .result
            .and_then(|r| r.config)
            .map(|c| c.metadata)
            .unwrap_or_default();
        let json: serde_json::Value = Payload::from(metadata).into();
        let meta = json.get("paperbot").cloned().ok_or_else(|| StoreError::Backend {
            context: self.describe(),
            message: "collection exists but was not created by paperbot (no `paperbot` metadata); choose another collection name".into(),
        })?;
        serde_json::from_value(meta)
            .map(Some)
            .map_err(|e| StoreError::backend("reading collection metadata", e))
    }

    async fn create(&self, meta: &CollectionMeta) -> StoreResult<()> {
        let mut vectors = VectorsConfigBuilder::default();
        // As on the embedded store: int8 dense vectors in RAM, originals and
        // sparse index memory-mapped, payload on disk.
        vectors.add_named_vector_params(
            DENSE,
            VectorParamsBuilder::new(meta.dim as u64, Distance::Cosine)
                .on_disk(schema::VECTORS_ON_DISK)
                .quantization_config(
                    ScalarQuantizationBuilder::default()
                        .r#type(QuantizationType::Int8.into())
                        .quantile(schema::INT8_QUANTILE)
                        .always_ram(true),
                ),
        );
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(
            SPARSE,
            SparseVectorParamsBuilder::default()
                .modifier(Modifier::Idf)
                .index(SparseIndexConfigBuilder::default().on_disk(schema::VECTORS_ON_DISK)),
        );
        let metadata: HashMap<String, serde_json::Value> = HashMap::from([(
            "paperbot".to_string(),
            serde_json::to_value(meta).map_err(|e| StoreError::backend("meta", e))?,
        )]);
        let mut create = CreateCollectionBuilder::new(self.name())
            .on_disk_payload(true)
            .vectors_config(vectors)
            .sparse_vectors_config(sparse)
            .metadata(metadata);
        if let Some(n) = self.config.shard_number {
            create = create.shard_number(n);
        }
        if let Some(r) = self.config.replication_factor {
            create = create.replication_factor(r);
        }
        self.client
            .create_collection(create)
            .await
            .map_err(|e| self.err("create_collection", e))?;
        for (field, kind) in [
            (schema::INDEXED_DATETIME, FieldType::Datetime),
            (schema::INDEXED_KEYWORD, FieldType::Keyword),
            (schema::FIRST_SEEN, FieldType::Datetime),
        ] {
            self.client
                .create_field_index(CreateFieldIndexCollectionBuilder::new(self.name(), field, kind).wait(true))
                .await
                .map_err(|e| self.err("create_field_index", e))?;
        }
        self.create_title_index().await
    }

    async fn drop_collection(&self) -> StoreResult<()> {
        if self
            .client
            .collection_exists(self.name())
            .await
            .map_err(|e| self.err("collection_exists", e))?
        {
            self.client
                .delete_collection(DeleteCollectionBuilder::new(self.name()))
                .await
                .map_err(|e| self.err("delete_collection", e))?;
        }
        Ok(())
    }

    async fn upsert(&self, points: Vec<PaperPoint>) -> StoreResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let points: Vec<PointStruct> = points
            .into_iter()
            .map(|p| {
                let vectors = NamedVectors::default()
                    .add_vector(DENSE, Vector::new_dense(p.vectors.dense))
                    .add_vector(
                        SPARSE,
                        Vector::new_sparse(p.vectors.sparse.indices, p.vectors.sparse.values),
                    );
                PointStruct::new(
                    point_id(&p.stored.paper.id),
                    vectors,
                    Payload::from(schema::to_payload(&p.stored)),
                )
            })
            .collect();
        let n = points.len();
        self.client
            .upsert_points(UpsertPointsBuilder::new(self.name(), points).wait(true))
            .instrument(tracing::debug_span!("qdrant_upsert", n))
            .await
            .map_err(|e| self.err("upsert", e))?;
        Ok(())
    }

    async fn get(&self, ids: &[PaperId]) -> StoreResult<Vec<StoredPaper>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let resp = self
            .client
            .get_points(
                GetPointsBuilder::new(self.name(), ids.iter().map(point_id).collect::<Vec<_>>()).with_payload(true),
            )
            .await
            .map_err(|e| self.err("get_points", e))?;
        resp.result.into_iter().map(|p| stored_of(p.payload)).collect()
    }

    async fn vectors(&self, id: &PaperId) -> StoreResult<Option<PaperVectors>> {
        let resp = self
            .client
            .get_points(
                GetPointsBuilder::new(self.name(), vec![point_id(id)])
                    .with_vectors(true)
                    .with_payload(false),
            )
            .await
            .map_err(|e| self.err("get_points", e))?;
        let Some(point) = resp.result.into_iter().next() else {
            return Ok(None);
        };
        let Some(VectorsOptions::Vectors(named)) = point.vectors.and_then(|v| v.vectors_options) else {
            return Ok(None);
        };
        let mut dense = None;
        let mut sparse = SparseVec::default();
        for (name, v) in named.vectors {
            match (name.as_str(), v.into_vector()) {
                (DENSE, OutVector::Dense(d)) => dense = Some(d.data),
                (SPARSE, OutVector::Sparse(s)) => {
                    sparse = SparseVec {
                        indices: s.indices,
                        values: s.values,
                    }
                }
                _ => {}
            }
        }
        Ok(dense.map(|dense| PaperVectors { dense, sparse }))
    }

    async fn update_keywords(&self, points: Vec<KeywordVector>) -> StoreResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let n = points.len();
        let hashes: Vec<String> = points.iter().map(|p| p.text_hash.clone()).collect();
        let points: Vec<PointVectors> = points
            .into_iter()
            .map(|p| PointVectors {
                id: Some(point_id(&p.id)),
                vectors: Some(
                    NamedVectors::default()
                        .add_vector(SPARSE, Vector::new_sparse(p.sparse.indices, p.sparse.values))
                        .into(),
                ),
            })
            .collect();
        self.client
            .update_vectors(
                UpdatePointVectorsBuilder::new(self.name(), points)
                    .update_filter(Filter::must([Condition::matches(schema::TEXT_HASH, hashes)]))
                    .wait(true),
            )
            .instrument(tracing::debug_span!("qdrant_update_vectors", n))
            .await
            .map_err(|e| self.err("update_vectors", e))?;
        Ok(())
    }

    async fn set_meta(&self, meta: &CollectionMeta) -> StoreResult<()> {
        let metadata: HashMap<String, serde_json::Value> = HashMap::from([(
            "paperbot".to_string(),
            serde_json::to_value(meta).map_err(|e| StoreError::backend("meta", e))?,
        )]);
        self.client
            .update_collection(UpdateCollectionBuilder::new(self.name()).metadata(metadata))
            .await
            .map_err(|e| self.err("update_collection", e))?;
        Ok(())
    }

    async fn count(&self) -> StoreResult<u64> {
        if !self
            .client
            .collection_exists(self.name())
            .await
            .map_err(|e| self.err("collection_exists", e))?
        {
            return Ok(0);
        }
        let resp = self
            .client
            .count(CountPointsBuilder::new(self.name()).exact(true))
            .await
            .map_err(|e| self.err("count", e))?;
        Ok(resp.result.map(|r| r.count).unwrap_or(0))
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
        let filter = Filter::must([Condition::datetime_range(
            schema::FIRST_SEEN,
            DatetimeRange {
                gte: Some(timestamp(since)),
                lte: None,
                lt: None,
                gt: None,
            },
        )]);
        self.scroll_where(Some(filter), from, limit).await
    }

    async fn title_matches(&self, words: &[String], limit: usize) -> StoreResult<Vec<StoredPaper>> {
        let filter = build_filter(&SearchFilter {
            title_words: words.to_vec(),
            ..Default::default()
        });
        let Some(filter) = filter.filter(|_| !words.is_empty()) else {
            return Ok(vec![]);
        };
        let req = ScrollPointsBuilder::new(self.name())
            .limit(limit.max(1) as u32)
            .filter(filter)
            .with_payload(true)
            .with_vectors(false);
        let resp = self.client.scroll(req).await.map_err(|e| self.err("title lookup", e))?;
        resp.result.into_iter().map(|p| stored_of(p.payload)).collect()
    }

    async fn ensure_indexes(&self) -> StoreResult<()> {
        let info = self
            .client
            .collection_info(self.name())
            .await
            .map_err(|e| self.err("collection_info", e))?;
        let has = |field: &str| {
            info.result
                .as_ref()
                .is_some_and(|r| r.payload_schema.contains_key(field))
        };
        if !has(schema::FIRST_SEEN) {
            tracing::info!(
                collection = self.name(),
                "indexing entry times (once, for a library made by an older paperbot)"
            );
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(self.name(), schema::FIRST_SEEN, FieldType::Datetime)
                        .wait(true),
                )
                .await
                .map_err(|e| self.err("create_field_index", e))?;
        }
        if has(schema::TITLE) {
            return Ok(());
        }
        tracing::info!(
            collection = self.name(),
            "indexing titles (once, for a library made by an older paperbot)"
        );
        self.create_title_index().await
    }

    async fn summary(&self) -> StoreResult<super::LibraryStats> {
        let info = match self.client.collection_info(self.name()).await {
            Ok(i) => i,
            Err(_) if !self.client.collection_exists(self.name()).await.unwrap_or(true) => {
                return Ok(super::LibraryStats::default());
            }
            Err(e) => return Err(self.err("collection_info", e)),
        };
        if !info
            .result
            .is_some_and(|r| r.payload_schema.contains_key(schema::FIRST_SEEN))
        {
            return super::stats_by_scan(self).await;
        }
        let mut stats = super::LibraryStats {
            count: self.count().await?,
            ..Default::default()
        };
        for kind in crate::paper::SourceKind::ALL {
            let filter = Filter::must([Condition::matches(schema::INDEXED_KEYWORD, kind.as_str().to_string())]);
            let n = self
                .client
                .count(CountPointsBuilder::new(self.name()).filter(filter).exact(true))
                .await
                .map_err(|e| self.err("count", e))?
                .result
                .map_or(0, |r| r.count);
            if n > 0 {
                stats.by_source.push((kind, n));
            }
        }
        // The first point in each order of an indexed time.
        let first = |field: &'static str, direction: Direction| async move {
            let req = ScrollPointsBuilder::new(self.name())
                .limit(1)
                .with_payload(true)
                .order_by(OrderByBuilder::new(field).direction(direction as i32));
            let resp = self.client.scroll(req).await.map_err(|e| self.err("scroll", e))?;
            resp.result.into_iter().next().map(|p| stored_of(p.payload)).transpose()
        };
        stats.oldest_published = first(schema::INDEXED_DATETIME, Direction::Asc)
            .await?
            .and_then(|p| p.paper.published);
        stats.newest_published = first(schema::INDEXED_DATETIME, Direction::Desc)
            .await?
            .and_then(|p| p.paper.published);
        stats.newest_first_seen = first(schema::FIRST_SEEN, Direction::Desc).await?.map(|p| p.first_seen);
        Ok(stats)
    }

    async fn search(&self, req: SearchRequest) -> StoreResult<Vec<ScoredPaper>> {
        let filter = build_filter(&req.filter);
        let prefetch_limit = req.prefetch.max(req.limit) as u64;
        let dense_q = Query::new_nearest(VectorInput::new_dense(req.dense));
        let sparse_q = Query::new_nearest(VectorInput::new_sparse(req.sparse.indices, req.sparse.values));
        let mut q = QueryPointsBuilder::new(self.name())
            .limit(req.limit as u64)
            .with_payload(true);
        match req.mode {
            SearchMode::Hybrid => {
                for (query, using) in [(dense_q, DENSE), (sparse_q, SPARSE)] {
                    let mut p = PrefetchQueryBuilder::default()
                        .query(query)
                        .using(using)
                        .limit(prefetch_limit)
                        .params(search_params());
                    if let Some(f) = &filter {
                        p = p.filter(f.clone());
                    }
                    q = q.add_prefetch(p);
                }
                // Same RRF constant as the edge backend (the server's default is 2), so
                // both rank alike.
                q = q.query(Query::new_rrf(Rrf {
                    k: Some(schema::RRF_K as u32),
                    weights: schema::RRF_WEIGHTS.to_vec(),
                }));
            }
            SearchMode::Dense => q = q.query(dense_q).using(DENSE).params(search_params()),
            SearchMode::Sparse => q = q.query(sparse_q).using(SPARSE),
        }
        if let Some(f) = filter {
            q = q.filter(f);
        }
        let resp = self
            .client
            .query(q)
            .instrument(tracing::debug_span!("qdrant_query", mode = ?req.mode))
            .await
            .map_err(|e| self.err("query", e))?;
        resp.result
            .into_iter()
            .map(|p| {
                Ok(ScoredPaper {
                    score: p.score,
                    stored: stored_of(p.payload)?,
                })
            })
            .collect()
    }

    async fn optimize(&self) -> StoreResult<()> {
        // The server runs its own optimiser in the background.
        Ok(())
    }

    async fn flush(&self) -> StoreResult<()> {
        // `wait(true)` upserts are durable on the server once acknowledged.
        Ok(())
    }
}

/// Where a collection's data lives in a cluster, as the node we talk to
/// sees it: shard count, replication factor and every replica.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placement {
    pub collection: String,
    pub shard_number: u32,
    pub replication_factor: u32,
    /// (shard id, peer id, state) for every replica, sorted.
    pub replicas: Vec<(u32, u64, String)>,
}

impl Placement {
    /// Peers holding at least one replica.
    pub fn peers(&self) -> std::collections::BTreeSet<u64> {
        self.replicas.iter().map(|r| r.1).collect()
    }

    /// Replicas of each shard, by shard id.
    pub fn replicas_per_shard(&self) -> std::collections::BTreeMap<u32, usize> {
        let mut out = std::collections::BTreeMap::new();
        for (shard, _, _) in &self.replicas {
            *out.entry(*shard).or_insert(0) += 1;
        }
        out
    }

    /// One line for `paperbot stats`.
    pub fn summary(&self) -> String {
        let inactive = self.replicas.iter().filter(|r| r.2 != "Active").count();
        format!(
            "{} shard(s) x replication {} = {} replicas on {} peer(s){}",
            self.shard_number,
            self.replication_factor,
            self.replicas.len(),
            self.peers().len(),
            if inactive == 0 {
                ", all active".to_string()
            } else {
                format!(", {inactive} not active")
            }
        )
    }
}

impl ServerStore {
    /// The papers collection's shards and replicas (`state` = false) or the
    /// state collection's (`state` = true).
    #[tracing::instrument(skip(self), fields(url = %self.config.url))]
    pub async fn placement(&self, state: bool) -> StoreResult<Placement> {
        use qdrant_client::qdrant::ReplicaState;
        let name = if state {
            self.state_name()
        } else {
            self.name().to_string()
        };
        let info = self
            .client
            .collection_info(&name)
            .await
            .map_err(|e| self.err("collection_info", e))?;
        let params = info
            .result
            .and_then(|r| r.config)
            .and_then(|c| c.params)
            .unwrap_or_default();
        let cluster = self
            .client
            .collection_cluster_info(&name)
            .await
            .map_err(|e| self.err("collection_cluster_info", e))?;
        let state_name = |s: i32| ReplicaState::try_from(s).map_or_else(|_| format!("state {s}"), |s| format!("{s:?}"));
        let mut replicas: Vec<(u32, u64, String)> = cluster
            .local_shards
            .iter()
            .map(|l| (l.shard_id, cluster.peer_id, state_name(l.state)))
            .chain(
                cluster
                    .remote_shards
                    .iter()
                    .map(|r| (r.shard_id, r.peer_id, state_name(r.state))),
            )
            .collect();
        replicas.sort();
        Ok(Placement {
            collection: name,
            shard_number: params.shard_number,
            replication_factor: params.replication_factor.unwrap_or(1),
            replicas,
        })
    }

    /// Deletes the papers and the state collection: everything this store
    /// holds (a full reset; the test suites clean up with it).
    pub async fn drop_all(&self) -> StoreResult<()> {
        self.drop_collection().await?;
        let state = self.state_name();
        if self
            .client
            .collection_exists(&state)
            .await
            .map_err(|e| self.err("collection_exists", e))?
        {
            self.client
                .delete_collection(DeleteCollectionBuilder::new(state))
                .await
                .map_err(|e| self.err("delete_collection", e))?;
        }
        Ok(())
    }

    fn state_name(&self) -> String {
        format!("{}_state", self.config.collection)
    }

    /// Creates the state collection on first use (same shards and replicas
    /// as the papers, so a cluster keeps it as safe).
    async fn ensure_state(&self) -> StoreResult<()> {
        let name = self.state_name();
        if self
            .client
            .collection_exists(&name)
            .await
            .map_err(|e| self.err("collection_exists", e))?
        {
            return Ok(());
        }
        let mut vectors = VectorsConfigBuilder::default();
        vectors.add_named_vector_params(STATE_VECTOR, VectorParamsBuilder::new(1, Distance::Dot));
        let mut create = CreateCollectionBuilder::new(&name).vectors_config(vectors);
        if let Some(n) = self.config.shard_number {
            create = create.shard_number(n);
        }
        if let Some(r) = self.config.replication_factor {
            create = create.replication_factor(r);
        }
        match self.client.create_collection(create).await {
            Ok(_) => Ok(()),
            // Another process created it first.
            Err(e) if e.to_string().contains("already exists") => Ok(()),
            Err(e) => Err(self.err("create state collection", e)),
        }
    }

    async fn state_exists(&self) -> StoreResult<bool> {
        self.client
            .collection_exists(self.state_name())
            .await
            .map_err(|e| self.err("collection_exists", e))
    }
}

impl StateStore for ServerStore {
    async fn put_doc(&self, kind: &str, key: &str, doc: &serde_json::Value) -> StoreResult<()> {
        self.ensure_state().await?;
        let payload = Payload::try_from(serde_json::Value::Object(state::doc_payload(kind, key, doc)))
            .map_err(|e| StoreError::backend("state payload", e))?;
        let point = PointStruct::new(
            state::doc_uuid(kind, key).to_string(),
            NamedVectors::default().add_vector(STATE_VECTOR, Vector::from(vec![1.0f32])),
            payload,
        );
        self.client
            .upsert_points(UpsertPointsBuilder::new(self.state_name(), vec![point]).wait(true))
            .await
            .map_err(|e| self.err("state put", e))?;
        Ok(())
    }

    async fn get_doc(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        if !self.state_exists().await? {
            return Ok(None);
        }
        let resp = self
            .client
            .get_points(
                GetPointsBuilder::new(
                    self.state_name(),
                    vec![PointId::from(state::doc_uuid(kind, key).to_string())],
                )
                .with_payload(true),
            )
            .await
            .map_err(|e| self.err("state get", e))?;
        Ok(resp.result.into_iter().find_map(|p| {
            let m: serde_json::Map<String, serde_json::Value> = Payload::from(p.payload).into();
            state::from_payload(&m).map(|(_, _, doc)| doc)
        }))
    }

    async fn delete_doc(&self, kind: &str, key: &str) -> StoreResult<()> {
        if !self.state_exists().await? {
            return Ok(());
        }
        let ids = vec![PointId::from(state::doc_uuid(kind, key).to_string())];
        self.client
            .delete_points(DeletePointsBuilder::new(self.state_name()).points(ids).wait(true))
            .await
            .map_err(|e| self.err("state delete", e))?;
        Ok(())
    }

    async fn all_docs(&self) -> StoreResult<Vec<(String, String, serde_json::Value)>> {
        if !self.state_exists().await? {
            return Ok(vec![]);
        }
        let mut out = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut req = ScrollPointsBuilder::new(self.state_name())
                .limit(256)
                .with_payload(true)
                .with_vectors(false);
            if let Some(o) = offset.take() {
                req = req.offset(o);
            }
            let resp = self.client.scroll(req).await.map_err(|e| self.err("state list", e))?;
            for p in resp.result {
                let m: serde_json::Map<String, serde_json::Value> = Payload::from(p.payload).into();
                out.extend(state::from_payload(&m));
            }
            match resp.next_page_offset {
                Some(n) => offset = Some(n),
                None => return Ok(out),
            }
        }
    }

    async fn increment(&self, kind: &str, key: &str, field: &str, delta: u64) -> StoreResult<u64> {
        // The server has no increment: serialise this process's calls.
        let _one_at_a_time = self.increments.lock().await;
        let mut doc = self.get_doc(kind, key).await?.unwrap_or_else(|| serde_json::json!({}));
        let total = state::add_to(&mut doc, field, delta);
        self.put_doc(kind, key, &doc).await?;
        Ok(total)
    }
}
