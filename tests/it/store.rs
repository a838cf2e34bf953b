//! One behaviour suite for every `PaperStore` backend: the embedded Qdrant
//! Edge store always, a Qdrant server when `QDRANT_URL` is set (e.g.
//! `QDRANT_URL=http://127.0.0.1:6334 cargo test --test store_suite`).

use chrono::{TimeZone, Utc};
use paperbot::paper::{Paper, PaperId, SourceKind};
use paperbot::store::edge::EdgeStore;
use paperbot::store::server::{ServerConfig, ServerStore};
use paperbot::store::state::StateStore;
use paperbot::store::{
    CollectionMeta, KeywordVector, PaperPoint, PaperStore, PaperVectors, SearchFilter, SearchMode, SearchRequest,
    SparseVec, StoreError, StoredPaper,
};
use serde_json::json;

const DIM: usize = 8;

fn unit(i: usize) -> Vec<f32> {
    let mut v = vec![0.01; DIM];
    v[i % DIM] = 1.0;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn paper(n: usize, source: SourceKind, year: i32) -> StoredPaper {
    let paper = Paper {
        id: PaperId::arxiv(&format!("2401.{:05}", n)).unwrap(),
        title: format!("Paper number {n}"),
        abstract_text: format!("Abstract of paper {n}."),
        authors: vec![format!("Author {n}"), "Shared Author".into()],
        published: Some(Utc.with_ymd_and_hms(year, 1, 2, 3, 4, 5).unwrap()),
        source,
        url: Some(format!("https://arxiv.org/abs/2401.{:05}", n)),
        upvotes: Some(n as u32),
        keywords: vec!["k1".into()],
        summary: Some(format!("Summary {n}")),
        code_url: None,
    };
    StoredPaper {
        first_seen: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        content_hash: format!("c{n}"),
        text_hash: format!("t{n}"),
        paper,
    }
}

fn point(n: usize, source: SourceKind, year: i32) -> PaperPoint {
    PaperPoint {
        stored: paper(n, source, year),
        vectors: PaperVectors {
            dense: unit(n),
            sparse: SparseVec {
                indices: vec![100 + n as u32, 7],
                values: vec![1.0, 0.5],
            },
        },
    }
}

fn request(dense: Vec<f32>, sparse: SparseVec, mode: SearchMode) -> SearchRequest {
    SearchRequest {
        dense,
        sparse,
        mode,
        limit: 10,
        prefetch: 20,
        filter: SearchFilter::default(),
    }
}

async fn suite<S: PaperStore>(store: &S) {
    let meta = CollectionMeta::new("test-embedder", DIM);
    assert_eq!(store.meta().await.unwrap(), None);
    assert_eq!(store.count().await.unwrap(), 0);
    store.create(&meta).await.unwrap();
    assert_eq!(store.meta().await.unwrap(), Some(meta.clone()));

    // Write and read back every field.
    let points = vec![
        point(1, SourceKind::HfDaily, 2024),
        point(2, SourceKind::Arxiv, 2025),
        point(3, SourceKind::PageText, 2026),
    ];
    store.upsert(points.clone()).await.unwrap();
    store.optimize().await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.count().await.unwrap(), 3);
    let ids: Vec<PaperId> = points.iter().map(|p| p.stored.paper.id.clone()).collect();
    let got = store.get(&ids).await.unwrap();
    assert_eq!(got.len(), 3);
    for p in &points {
        assert!(got.contains(&p.stored), "round trip of {}", p.stored.paper.id);
    }
    assert!(
        store
            .get(&[PaperId::arxiv("2401.99999").unwrap()])
            .await
            .unwrap()
            .is_empty()
    );

    // Idempotent upsert: same id replaces, count unchanged.
    let mut changed = point(2, SourceKind::Arxiv, 2025);
    changed.stored.paper.upvotes = Some(99);
    store.upsert(vec![changed.clone()]).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 3);
    assert_eq!(store.get(&[ids[1].clone()]).await.unwrap()[0].paper.upvotes, Some(99));

    // Vectors come back.
    let v = store.vectors(&ids[0]).await.unwrap().expect("vectors");
    let cos: f32 = v.dense.iter().zip(unit(1)).map(|(a, b)| a * b).sum();
    assert!(cos > 0.999, "dense vector round trip, cos {cos}");
    assert_eq!(v.sparse.indices.len(), 2);

    // Scroll visits each paper once across pages.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.scroll(cursor, 2).await.unwrap();
        assert!(page.papers.len() <= 2);
        seen.extend(page.papers.into_iter().map(|p| p.paper.id));
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want);

    // Dense, sparse and hybrid each find the right paper first.
    let dense_hits = store
        .search(request(unit(3), SparseVec::default(), SearchMode::Dense))
        .await
        .unwrap();
    assert_eq!(dense_hits[0].stored.paper.id, ids[2]);
    let sparse_q = SparseVec {
        indices: vec![102],
        values: vec![1.0],
    };
    let sparse_hits = store
        .search(request(unit(1), sparse_q.clone(), SearchMode::Sparse))
        .await
        .unwrap();
    assert_eq!(sparse_hits.len(), 1, "only paper 2 has term 102");
    assert_eq!(sparse_hits[0].stored.paper.id, ids[1]);
    // Hybrid: paper 2 is first by BM25 and second-best by dense → fused first.
    let mut q = unit(2);
    q.iter_mut().zip(unit(1)).for_each(|(a, b)| *a += 0.5 * b);
    let hybrid = store.search(request(q, sparse_q, SearchMode::Hybrid)).await.unwrap();
    assert_eq!(hybrid[0].stored.paper.id, ids[1]);
    assert_eq!(hybrid.len(), 3);

    // Filters: date range, source, excluded ids.
    let mut r = request(unit(1), SparseVec::default(), SearchMode::Dense);
    r.filter.published_since = Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
    let hits = store.search(r.clone()).await.unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.stored.paper.id != ids[0]));
    r.filter.published_since = None;
    r.filter.sources = vec![SourceKind::PageText, SourceKind::HfDaily];
    let hits = store.search(r.clone()).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.stored.paper.id.clone()).collect::<Vec<_>>(),
        vec![ids[0].clone(), ids[2].clone()]
    );
    r.filter.sources.clear();
    r.filter.exclude = vec![ids[0].clone()];
    let hits = store.search(r.clone()).await.unwrap();
    assert!(hits.iter().all(|h| h.stored.paper.id != ids[0]));
    assert_eq!(hits.len(), 2);
    // Only named papers (those shared in a server); none named, none found.
    r.filter.exclude.clear();
    r.filter.only = Some(vec![ids[2].clone(), ids[0].clone()]);
    let mut only: Vec<_> = store
        .search(r.clone())
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.stored.paper.id)
        .collect();
    only.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut want = vec![ids[0].clone(), ids[2].clone()];
    want.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(only, want);
    r.filter.only = Some(vec![]);
    assert!(
        store.search(r).await.unwrap().is_empty(),
        "an empty list matches nothing"
    );

    // Stats from the backend's counts and indexes equal a full scan's.
    store.ensure_indexes().await.unwrap();
    let summary = store.summary().await.unwrap();
    assert_eq!(summary, paperbot::store::stats_by_scan(store).await.unwrap());
    assert_eq!(summary.count, 3);
    assert!(summary.newest_first_seen.is_some() && summary.oldest_published.is_some());

    // Papers by entry time, from the first_seen index, equal a filtered scan.
    let entered = |since| async move {
        let mut ids: Vec<String> = store
            .scroll_entered_since(since, None, 100)
            .await
            .unwrap()
            .papers
            .into_iter()
            .map(|s| s.paper.id.to_string())
            .collect();
        ids.sort();
        ids
    };
    let everything = paperbot::store::all(store).await.unwrap();
    let mut times: Vec<_> = everything.iter().map(|s| s.first_seen).collect();
    times.sort();
    for since in [times[0], times[times.len() - 1], times[0] - chrono::Duration::days(1)] {
        let mut want: Vec<String> = everything
            .iter()
            .filter(|s| s.first_seen >= since)
            .map(|s| s.paper.id.to_string())
            .collect();
        want.sort();
        assert_eq!(entered(since).await, want, "entered since {since}");
    }
    assert!(
        entered(times[times.len() - 1] + chrono::Duration::seconds(1))
            .await
            .is_empty()
    );

    // Titles by word prefixes, from the title index: "Paper number 2" for
    // "numb 2"; all three for "pap"; none for a word inside a word.
    let words = |t: &str| paperbot::paper::title_words(t);
    let by_title = store.title_matches(&words("numb 2"), 10).await.unwrap();
    assert_eq!(
        by_title.iter().map(|s| s.paper.id.clone()).collect::<Vec<_>>(),
        vec![ids[1].clone()]
    );
    assert_eq!(store.title_matches(&words("PAP"), 10).await.unwrap().len(), 3);
    assert_eq!(
        store.title_matches(&words("pap"), 2).await.unwrap().len(),
        2,
        "the limit holds"
    );
    assert!(store.title_matches(&words("umber"), 10).await.unwrap().is_empty());
    assert!(store.title_matches(&words("number 7"), 10).await.unwrap().is_empty());
    // The same restriction as a search filter.
    let mut r = request(unit(1), SparseVec::default(), SearchMode::Dense);
    r.filter.title_words = words("paper number 3");
    let hits = store.search(r).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.stored.paper.id.clone()).collect::<Vec<_>>(),
        vec![ids[2].clone()]
    );
    store.ensure_indexes().await.unwrap();

    // Keyword vectors are replaced in place; dense vectors and payload stay.
    let before = store.get(&ids).await.unwrap();
    let keywords = |i: usize, text_hash: &str, term: u32| KeywordVector {
        id: ids[i].clone(),
        text_hash: text_hash.into(),
        sparse: SparseVec {
            indices: vec![term],
            values: vec![2.0],
        },
    };
    // Paper 3's text changed since its hash was read ("t9"): left alone.
    store
        .update_keywords(vec![keywords(0, "t1", 555), keywords(2, "t9", 556)])
        .await
        .unwrap();
    store.flush().await.unwrap();
    let v = store.vectors(&ids[0]).await.unwrap().expect("vectors");
    assert_eq!((v.sparse.indices, v.sparse.values), (vec![555], vec![2.0]));
    let cos: f32 = v.dense.iter().zip(unit(1)).map(|(a, b)| a * b).sum();
    assert!(cos > 0.999, "the dense vector is kept, cos {cos}");
    assert_eq!(store.get(&ids).await.unwrap(), before, "payload untouched");
    let term = |t: u32| SparseVec {
        indices: vec![t],
        values: vec![1.0],
    };
    let hits = store
        .search(request(unit(1), term(555), SearchMode::Sparse))
        .await
        .unwrap();
    assert_eq!(
        hits.iter().map(|h| &h.stored.paper.id).collect::<Vec<_>>(),
        vec![&ids[0]]
    );
    let hits = store
        .search(request(unit(1), term(101), SearchMode::Sparse))
        .await
        .unwrap();
    assert!(hits.is_empty(), "the old keywords are gone");
    let v = store.vectors(&ids[2]).await.unwrap().expect("vectors");
    assert_eq!(v.sparse.indices, vec![7, 103], "a re-worded paper keeps its keywords");
    // The meta is rewritten whole.
    let mut older = meta.clone();
    older.keyword_forms = 0;
    store.set_meta(&older).await.unwrap();
    assert_eq!(store.meta().await.unwrap(), Some(older));
    store.set_meta(&meta).await.unwrap();
    assert_eq!(store.meta().await.unwrap(), Some(meta.clone()));

    // A library built by another embedder is refused with the fix named.
    let other = CollectionMeta::new("other-embedder", 16);
    let err = store
        .meta()
        .await
        .unwrap()
        .unwrap()
        .check(&other, &store.describe())
        .unwrap_err();
    assert!(matches!(err, StoreError::EmbedderMismatch { .. }));
    assert!(err.to_string().contains("paperbot reindex"), "{err}");

    store.drop_collection().await.unwrap();
    assert_eq!(store.meta().await.unwrap(), None);
    assert_eq!(store.count().await.unwrap(), 0);
}

/// Subscriptions and digest state: put, get, overwrite, list by kind, delete.
async fn state_suite<S: StateStore>(store: &S) {
    assert_eq!(
        store.get_doc("sub", "a").await.unwrap(),
        None,
        "nothing before the first write"
    );
    assert!(store.list_docs("sub").await.unwrap().is_empty());
    store.put_doc("sub", "a", &json!({"time": "09:00"})).await.unwrap();
    store.put_doc("sub", "b", &json!({"time": "10:00"})).await.unwrap();
    store
        .put_doc("state", "a", &json!({"last": "2026-01-01"}))
        .await
        .unwrap();
    store.put_doc("sub", "a", &json!({"time": "08:00"})).await.unwrap();
    assert_eq!(store.get_doc("sub", "a").await.unwrap(), Some(json!({"time": "08:00"})));
    let mut subs = store.list_docs("sub").await.unwrap();
    subs.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        subs,
        vec![
            ("a".to_string(), json!({"time": "08:00"})),
            ("b".to_string(), json!({"time": "10:00"}))
        ]
    );
    store.delete_doc("sub", "a").await.unwrap();
    assert_eq!(store.get_doc("sub", "a").await.unwrap(), None);
    assert_eq!(store.list_docs("sub").await.unwrap().len(), 1);
    assert_eq!(
        store.get_doc("state", "a").await.unwrap(),
        Some(json!({"last": "2026-01-01"}))
    );
    let all = store.all_docs().await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");

    // Ten concurrent increments add up exactly.
    let charges: Vec<u64> = (1..=10).map(|i| i * 100).collect();
    let totals =
        futures_util::future::join_all(charges.iter().map(|&c| store.increment("budget", "g/day", "tokens", c))).await;
    assert!(totals.iter().all(Result::is_ok));
    assert_eq!(
        store.get_doc("budget", "g/day").await.unwrap().unwrap()["tokens"],
        charges.iter().sum::<u64>()
    );
}

#[tokio::test]
async fn edge_backend_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeStore::open(dir.path()).unwrap();
    suite(&store).await;
    state_suite(&store).await;
}

/// `stats` answers from the summary file without reading the library, and
/// the file is never behind it: removed by the first write, rewritten at
/// flush; a library closed after unflushed writes is counted afresh.
#[tokio::test]
async fn edge_summary_is_read_without_loading_and_never_stale() {
    let dir = tempfile::tempdir().unwrap();
    let summary_file = dir.path().join("papers/paperbot-summary.json");
    {
        let store = EdgeStore::open(dir.path()).unwrap();
        store.create(&CollectionMeta::new("test-embedder", DIM)).await.unwrap();
        store
            .upsert((1..=3).map(|n| point(n, SourceKind::Arxiv, 2020 + n as i32)).collect())
            .await
            .unwrap();
        store.flush().await.unwrap();
        assert!(summary_file.exists(), "written at flush");
        store.upsert(vec![point(4, SourceKind::HfDaily, 2025)]).await.unwrap();
        assert!(!summary_file.exists(), "removed by the first write after it");
        assert_eq!(store.summary().await.unwrap().count, 4);
        assert!(!summary_file.exists(), "not saved while writes are unflushed");
    }
    // Closed without a flush (the shard flushes on drop): counted afresh.
    let store = EdgeStore::open(dir.path()).unwrap();
    assert!(!store.is_loaded(), "opening reads no segments");
    let fresh = store.summary().await.unwrap();
    assert!(store.is_loaded());
    assert_eq!(fresh, paperbot::store::stats_by_scan(&store).await.unwrap());
    assert_eq!(fresh.count, 4);
    assert!(summary_file.exists(), "saved for the next process");
    drop(store);
    let store = EdgeStore::open(dir.path()).unwrap();
    assert_eq!(store.summary().await.unwrap(), fresh);
    assert!(!store.is_loaded(), "answered from the file alone");
    store.ensure_indexes().await.unwrap();
    assert!(!store.is_loaded(), "a library with a summary has its indexes");
    drop(store);
    // A damaged file is ignored, not believed.
    std::fs::write(&summary_file, b"{\"version\": 1, \"stats\": 7").unwrap();
    let store = EdgeStore::open(dir.path()).unwrap();
    assert_eq!(store.summary().await.unwrap(), fresh);
}

#[tokio::test]
async fn edge_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EdgeStore::open(dir.path()).unwrap();
        store.put_doc("sub", "x", &json!({"n": 1})).await.unwrap();
    }
    let store = EdgeStore::open(dir.path()).unwrap();
    assert_eq!(store.get_doc("sub", "x").await.unwrap(), Some(json!({"n": 1})));
}

#[tokio::test]
async fn edge_persists_across_reopen_and_locks_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EdgeStore::open(dir.path()).unwrap();
        store.create(&CollectionMeta::new("test-embedder", DIM)).await.unwrap();
        store
            .upsert(vec![
                point(1, SourceKind::Arxiv, 2024),
                point(2, SourceKind::Arxiv, 2024),
            ])
            .await
            .unwrap();
        store.flush().await.unwrap();
        let second = EdgeStore::open(dir.path());
        assert!(
            matches!(second, Err(StoreError::Locked { .. })),
            "a second process is kept out"
        );
    }
    let store = EdgeStore::open(dir.path()).unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    assert_eq!(
        store.meta().await.unwrap(),
        Some(CollectionMeta::new("test-embedder", DIM))
    );
    let hits = store
        .search(request(unit(2), SparseVec::default(), SearchMode::Dense))
        .await
        .unwrap();
    assert_eq!(hits[0].stored.paper.id.as_str(), "2401.00002");
}

#[tokio::test]
async fn server_backend_passes_the_suite() {
    let Ok(url) = std::env::var("QDRANT_URL") else {
        eprintln!(
            "SKIPPED server_backend_passes_the_suite: set QDRANT_URL (gRPC, e.g. http://127.0.0.1:6334) to run it"
        );
        return;
    };
    let store = ServerStore::connect(ServerConfig {
        url,
        api_key: std::env::var("QDRANT_API_KEY").ok().map(paperbot::secret::Secret::from),
        collection: format!("paperbot_test_{}", std::process::id()),
        shard_number: Some(2),
        replication_factor: None,
        timeout: std::time::Duration::from_secs(10),
    })
    .unwrap();
    store.drop_all().await.unwrap();
    suite(&store).await;
    state_suite(&store).await;
    // Nothing left behind on the server.
    store.drop_all().await.unwrap();
}

/// The cluster topology of docker-compose.cluster.yml (3 shards, replication
/// factor 2) on a real multi-node Qdrant cluster: the suite passes, and every
/// shard of both collections has two active replicas on different peers.
#[tokio::test]
async fn cluster_backend_replicates_every_shard() {
    let Ok(url) = std::env::var("QDRANT_CLUSTER_URL") else {
        eprintln!(
            "SKIPPED cluster_backend_replicates_every_shard: set QDRANT_CLUSTER_URL (gRPC of one node of a 3-node cluster) to run it"
        );
        return;
    };
    let store = ServerStore::connect(ServerConfig {
        url,
        api_key: std::env::var("QDRANT_API_KEY").ok().map(paperbot::secret::Secret::from),
        collection: format!("paperbot_cluster_{}", std::process::id()),
        shard_number: Some(3),
        replication_factor: Some(2),
        timeout: std::time::Duration::from_secs(20),
    })
    .unwrap();
    store.drop_all().await.unwrap();
    suite(&store).await;
    state_suite(&store).await;
    // The suite ends by dropping the papers; lay them out again, and check
    // that every paper is readable from the node we talk to.
    store.create(&CollectionMeta::new("test-embedder", DIM)).await.unwrap();
    let points: Vec<PaperPoint> = (1..=12).map(|n| point(n, SourceKind::Arxiv, 2025)).collect();
    store.upsert(points.clone()).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 12);
    let ids: Vec<PaperId> = points.iter().map(|p| p.stored.paper.id.clone()).collect();
    assert_eq!(store.get(&ids).await.unwrap().len(), 12);
    for state in [false, true] {
        let p = store.placement(state).await.unwrap();
        assert_eq!((p.shard_number, p.replication_factor), (3, 2), "{p:?}");
        assert_eq!(
            p.replicas_per_shard().into_values().collect::<Vec<_>>(),
            vec![2, 2, 2],
            "{p:?}"
        );
        for shard in 0..3 {
            let peers: std::collections::BTreeSet<u64> =
                p.replicas.iter().filter(|r| r.0 == shard).map(|r| r.1).collect();
            assert_eq!(peers.len(), 2, "shard {shard}'s replicas share a peer: {p:?}");
        }
        assert!(p.replicas.iter().all(|r| r.2 == "Active"), "{p:?}");
        assert!(p.peers().len() >= 2, "{p:?}");
        eprintln!("{}: {}", p.collection, p.summary());
    }
    store.drop_all().await.unwrap();
}

#[tokio::test]
async fn unreachable_server_is_a_clear_error() {
    // Nothing listens on this port (bound then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = ServerStore::connect(ServerConfig {
        url: format!("http://127.0.0.1:{port}"),
        api_key: None,
        collection: "papers".into(),
        shard_number: None,
        replication_factor: None,
        timeout: std::time::Duration::from_secs(2),
    })
    .unwrap();
    let err = store.count().await.unwrap_err();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
}

/// The same library on both backends ranks alike: the sample corpus on the
/// embedded store and on a Qdrant server (one shard, as a single-node server
/// is deployed), the held-out questions asked of both. Prints where they
/// differ (before fusion weights broke ties alike, 8 of 328 first papers did).
#[tokio::test(flavor = "multi_thread")]
async fn both_backends_rank_the_same_library_alike() {
    let Ok(url) = std::env::var("QDRANT_URL") else {
        eprintln!("SKIPPED both_backends_rank_the_same_library_alike: set QDRANT_URL to run it");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let edge = crate::support::sample_library(EdgeStore::open(tmp.path()).unwrap(), None).await;
    let server = ServerStore::connect(ServerConfig {
        url,
        api_key: std::env::var("QDRANT_API_KEY").ok().map(paperbot::secret::Secret::from),
        collection: format!("paperbot_rank_{}", std::process::id()),
        shard_number: Some(1),
        replication_factor: None,
        timeout: std::time::Duration::from_secs(10),
    })
    .unwrap();
    server.drop_all().await.unwrap();
    let server = crate::support::sample_library(server, None).await;
    let questions: Vec<String> = std::fs::read_to_string(crate::support::repo().join("tests/eval/heldout.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["question"].as_str().map(str::to_string))
        .collect();
    let opts = paperbot::retrieve::SearchConfig::default().options(10);
    let (mut same_top1, mut same_top10, mut overlap) = (0, 0, 0.0);
    for q in &questions {
        let ids = |hits: Vec<paperbot::store::ScoredPaper>| -> Vec<String> {
            hits.into_iter().map(|h| h.stored.paper.id.to_string()).collect()
        };
        let a = ids(paperbot::retrieve::search(&edge, q, &opts).await.unwrap());
        let b = ids(paperbot::retrieve::search(&server, q, &opts).await.unwrap());
        same_top1 += usize::from(a.first() == b.first());
        same_top10 += usize::from(a == b);
        overlap += a.iter().filter(|id| b.contains(id)).count() as f64 / a.len().max(1) as f64;
        if a.first() != b.first() {
            eprintln!(
                "differs: {q}\n  edge   {:?}\n  server {:?}",
                &a[..a.len().min(3)],
                &b[..b.len().min(3)]
            );
        }
    }
    let n = questions.len();
    eprintln!(
        "{n} questions: same first paper {same_top1}, same top 10 in order {same_top10}, mean top-10 overlap {:.3}",
        overlap / n as f64
    );
    server.store.drop_all().await.unwrap();
    assert_eq!(same_top1, n, "every question's first paper is the same on both");
    assert!(overlap / n as f64 >= 0.99, "top-10 overlap {:.3}", overlap / n as f64);
}
