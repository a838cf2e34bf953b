//! One embedded library, many processes. Qdrant Edge lets one process open
//! a shard (it locks its WAL), so the first paperbot process to open a data
//! directory owns it and serves the store to the others over a Unix socket
//! in that directory. A second `paperbot` — `stats`, `ingest`, `search`,
//! `ask` or `export` while `serve` runs, or while another command works —
//! becomes a client: the same [`PaperStore`] and [`StateStore`] calls,
//! carried to the owner, which does all the writing. When the owner exits,
//! a client takes the library over.
//!
//! Only the data directory's owner can connect: the socket is created with
//! mode 0600 and the peer's uid is checked on every connection. One request
//! per connection: a JSON line each way.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::edge::EdgeStore;
use super::state::StateStore;
use super::{
    CollectionMeta, KeywordVector, Page, PaperPoint, PaperStore, PaperVectors, ScoredPaper, SearchRequest, StoreError,
    StoreResult, StoredPaper,
};
use crate::paper::PaperId;

/// How long a process waits for a library another process is opening or
/// closing before giving up.
const WAIT: Duration = Duration::from_secs(30);

/// A store call, as it travels to the owner.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
enum Request {
    Ping,
    Meta,
    Create(CollectionMeta),
    DropCollection,
    Upsert(Vec<PaperPoint>),
    Get(Vec<PaperId>),
    Vectors(PaperId),
    UpdateKeywords(Vec<KeywordVector>),
    SetMeta(CollectionMeta),
    Count,
    Summary,
    ScrollEnteredSince {
        since: chrono::DateTime<chrono::Utc>,
        from: Option<uuid::Uuid>,
        limit: usize,
    },
    Scroll {
        from: Option<uuid::Uuid>,
        limit: usize,
    },
    Search(SearchRequest),
    TitleMatches {
        words: Vec<String>,
        limit: usize,
    },
    EnsureIndexes,
    Optimize,
    Flush,
    PutDoc {
        kind: String,
        key: String,
        doc: Value,
    },
    GetDoc {
        kind: String,
        key: String,
    },
    DeleteDoc {
        kind: String,
        key: String,
    },
    AllDocs,
    Increment {
        kind: String,
        key: String,
        field: String,
        delta: u64,
    },
}

/// The embedded store, owned here or shared by another process.
pub struct SharedEdge {
    data_dir: PathBuf,
    mode: RwLock<Mode>,
}

#[derive(Clone)]
enum Mode {
    Owner(Arc<Owned>),
    Client { socket: PathBuf },
}

/// The store this process owns, and the socket it serves it on.
struct Owned {
    store: Arc<EdgeStore>,
    socket: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Where the owner of `data_dir` listens. Inside the directory, unless the
/// path is too long for a socket address (108 bytes on Linux): then in the
/// temp directory, named after the data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    let inside = data_dir.join("paperbot.sock");
    if inside.as_os_str().len() < 100 {
        return inside;
    }
    let canonical = data_dir.canonicalize().unwrap_or_else(|_| data_dir.to_path_buf());
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, canonical.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("paperbot-{}.sock", &id.simple().to_string()[..16]))
}

impl SharedEdge {
    /// Opens the library under `data_dir`: as its owner when no other
    /// process holds it, else as a client of the process that does (waiting
    /// up to 30 s for one that is starting or stopping).
    pub async fn open(data_dir: &Path) -> StoreResult<SharedEdge> {
        let mode = connect_or_own(data_dir).await?;
        Ok(SharedEdge {
            data_dir: data_dir.to_path_buf(),
            mode: RwLock::new(mode),
        })
    }

    /// Whether this process owns the library (else it is a client).
    pub fn is_owner(&self) -> bool {
        matches!(self.mode(), Mode::Owner(_))
    }

    fn mode(&self) -> Mode {
        self.mode.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The owner went away: own the library, or follow whoever took it.
    async fn take_over(&self) -> StoreResult<()> {
        let mode = connect_or_own(&self.data_dir).await?;
        if matches!(mode, Mode::Owner(_)) {
            tracing::info!(dir = %self.data_dir.display(), "took the library over from a process that stopped");
        }
        *self.mode.write().unwrap_or_else(|p| p.into_inner()) = mode;
        Ok(())
    }

    /// `local` on the owned store, or `req` through the owner; a client
    /// whose owner is gone takes over and tries once more.
    async fn run<T, F, Fut>(&self, req: Request, local: F) -> StoreResult<T>
    where
        T: DeserializeOwned,
        F: Fn(Arc<EdgeStore>) -> Fut,
        Fut: std::future::Future<Output = StoreResult<T>>,
    {
        let body = serde_json::to_vec(&req).map_err(|e| StoreError::backend("encoding a store request", e))?;
        for attempt in 0..2 {
            match self.mode() {
                Mode::Owner(owned) => return local(owned.store.clone()).await,
                Mode::Client { socket } => match call(&socket, &body).await {
                    Ok(reply) => {
                        let reply: Result<T, StoreError> = serde_json::from_slice(&reply)
                            .map_err(|e| StoreError::backend("reading the owner's answer", e))?;
                        return reply;
                    }
                    Err(e) if attempt == 0 => {
                        tracing::info!(error = %e, "the process sharing the library is gone");
                        self.take_over().await?;
                    }
                    Err(e) => return Err(gone(&self.data_dir, &e)),
                },
            }
        }
        unreachable!("the loop returns on its second pass")
    }
}

fn gone(data_dir: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Backend {
        context: format!("the library at {}", data_dir.display()),
        message: format!("the paperbot process sharing it stopped answering ({e}); run the command again"),
    }
}

/// The pid written in the lock file by the process that holds it.
fn holder(data_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(data_dir.join("paperbot.lock"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn connect_or_own(data_dir: &Path) -> StoreResult<Mode> {
    let started = Instant::now();
    let socket = socket_path(data_dir);
    let mut said = false;
    loop {
        match EdgeStore::open(data_dir) {
            Ok(store) => return own(Arc::new(store), socket),
            Err(StoreError::Locked { .. }) => {
                if call(&socket, &serde_json::to_vec(&Request::Ping).unwrap_or_default())
                    .await
                    .is_ok()
                {
                    tracing::debug!(socket = %socket.display(), "using the library through the process that holds it");
                    return Ok(Mode::Client { socket });
                }
            }
            Err(e) => return Err(e),
        }
        // The holder is starting (not serving yet) or stopping.
        if started.elapsed() > WAIT {
            return Err(StoreError::Locked {
                location: data_dir.display().to_string(),
                lock: format!(
                    "{} (held by process {}, which does not answer on {})",
                    data_dir.join("paperbot.lock").display(),
                    holder(data_dir).map_or("?".into(), |p| p.to_string()),
                    socket.display()
                ),
            });
        }
        if !said {
            said = true;
            eprintln!(
                "waiting for paperbot process {} to share or release the library at {}…",
                holder(data_dir).map_or("?".into(), |p| p.to_string()),
                data_dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Serves the freshly opened `store` on `socket` (a stale socket file left by
/// a killed owner is replaced: the lock proves nobody serves on it).
fn own(store: Arc<EdgeStore>, socket: PathBuf) -> StoreResult<Mode> {
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .map_err(|e| StoreError::backend(format!("serving the library on {}", socket.display()), e))?;
    set_private(&socket)?;
    let server = tokio::spawn(serve(listener, store.clone()));
    Ok(Mode::Owner(Arc::new(Owned { store, socket, server })))
}

#[cfg(unix)]
fn set_private(socket: &Path) -> StoreResult<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| StoreError::backend(format!("restricting {}", socket.display()), e))
}

#[cfg(not(unix))]
fn set_private(_socket: &Path) -> StoreResult<()> {
    Ok(())
}

/// The uid this process runs as.
fn my_uid() -> u32 {
    // SAFETY: getuid(2) cannot fail and has no preconditions.
    unsafe { libc::getuid() }
}

async fn serve(listener: UnixListener, store: Arc<EdgeStore>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // The socket's mode already keeps others out; the uid check holds
        // even if the directory's permissions do not.
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == my_uid() => {}
            other => {
                tracing::warn!(peer = ?other.map(|c| c.uid()), "refused a store connection from another user");
                continue;
            }
        }
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &store).await {
                tracing::debug!(error = %e, "store connection ended early");
            }
        });
    }
}

async fn answer(mut stream: UnixStream, store: &EdgeStore) -> std::io::Result<()> {
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await?;
    let reply = match serde_json::from_slice::<Request>(&body) {
        Ok(req) => handle(store, req).await,
        Err(e) => serde_json::to_vec(&Err::<(), _>(StoreError::backend("a store request", e))),
    }
    .unwrap_or_default();
    stream.write_all(&reply).await?;
    stream.shutdown().await
}

/// Runs one request; the reply is `{"Ok": …}` or `{"Err": …}`.
async fn handle(s: &EdgeStore, req: Request) -> serde_json::Result<Vec<u8>> {
    fn reply<T: Serialize>(r: StoreResult<T>) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&r)
    }
    match req {
        Request::Ping => reply(Ok(())),
        Request::Meta => reply(s.meta().await),
        Request::Create(meta) => reply(s.create(&meta).await),
        Request::DropCollection => reply(s.drop_collection().await),
        Request::Upsert(points) => reply(s.upsert(points).await),
        Request::Get(ids) => reply(s.get(&ids).await),
        Request::Vectors(id) => reply(s.vectors(&id).await),
        Request::UpdateKeywords(points) => reply(s.update_keywords(points).await),
        Request::SetMeta(meta) => reply(s.set_meta(&meta).await),
        Request::Count => reply(s.count().await),
        Request::Summary => reply(s.summary().await),
        Request::ScrollEnteredSince { since, from, limit } => reply(s.scroll_entered_since(since, from, limit).await),
        Request::Scroll { from, limit } => reply(s.scroll(from, limit).await),
        Request::Search(r) => reply(s.search(r).await),
        Request::TitleMatches { words, limit } => reply(s.title_matches(&words, limit).await),
        Request::EnsureIndexes => reply(s.ensure_indexes().await),
        Request::Optimize => reply(s.optimize().await),
        Request::Flush => reply(s.flush().await),
        Request::PutDoc { kind, key, doc } => reply(s.put_doc(&kind, &key, &doc).await),
        Request::GetDoc { kind, key } => reply(s.get_doc(&kind, &key).await),
        Request::DeleteDoc { kind, key } => reply(s.delete_doc(&kind, &key).await),
        Request::AllDocs => reply(s.all_docs().await),
        Request::Increment {
            kind,
            key,
            field,
            delta,
        } => reply(s.increment(&kind, &key, &field, delta).await),
    }
}

/// One request to the owner: the body, then its reply.
async fn call(socket: &Path, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = UnixStream::connect(socket).await?;
    stream.write_all(body).await?;
    stream.shutdown().await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    if reply.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no answer"));
    }
    Ok(reply)
}

impl PaperStore for SharedEdge {
    fn describe(&self) -> String {
        match self.mode() {
            Mode::Owner(o) => o.store.describe(),
            Mode::Client { .. } => format!(
                "embedded Qdrant Edge at {} (shared by paperbot process {})",
                self.data_dir.join("papers").display(),
                holder(&self.data_dir).map_or("?".into(), |p| p.to_string())
            ),
        }
    }

    async fn meta(&self) -> StoreResult<Option<CollectionMeta>> {
        self.run(Request::Meta, |s| async move { s.meta().await }).await
    }

    async fn create(&self, meta: &CollectionMeta) -> StoreResult<()> {
        self.run(Request::Create(meta.clone()), |s| async move { s.create(meta).await })
            .await
    }

    async fn drop_collection(&self) -> StoreResult<()> {
        self.run(Request::DropCollection, |s| async move { s.drop_collection().await })
            .await
    }

    async fn upsert(&self, points: Vec<PaperPoint>) -> StoreResult<()> {
        let local = points.clone();
        self.run(Request::Upsert(points), |s| {
            let points = local.clone();
            async move { s.upsert(points).await }
        })
        .await
    }

    async fn get(&self, ids: &[PaperId]) -> StoreResult<Vec<StoredPaper>> {
        self.run(Request::Get(ids.to_vec()), |s| async move { s.get(ids).await })
            .await
    }

    async fn vectors(&self, id: &PaperId) -> StoreResult<Option<PaperVectors>> {
        self.run(Request::Vectors(id.clone()), |s| async move { s.vectors(id).await })
            .await
    }

    async fn update_keywords(&self, points: Vec<KeywordVector>) -> StoreResult<()> {
        let local = points.clone();
        self.run(Request::UpdateKeywords(points), |s| {
            let points = local.clone();
            async move { s.update_keywords(points).await }
        })
        .await
    }

    async fn set_meta(&self, meta: &CollectionMeta) -> StoreResult<()> {
        self.run(
            Request::SetMeta(meta.clone()),
            |s| async move { s.set_meta(meta).await },
        )
        .await
    }

    async fn count(&self) -> StoreResult<u64> {
        self.run(Request::Count, |s| async move { s.count().await }).await
    }

    async fn summary(&self) -> StoreResult<super::LibraryStats> {
        self.run(Request::Summary, |s| async move { s.summary().await }).await
    }

    async fn scroll_entered_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        from: Option<uuid::Uuid>,
        limit: usize,
    ) -> StoreResult<Page> {
        self.run(Request::ScrollEnteredSince { since, from, limit }, |s| async move {
            s.scroll_entered_since(since, from, limit).await
        })
        .await
    }

    async fn scroll(&self, from: Option<uuid::Uuid>, limit: usize) -> StoreResult<Page> {
        self.run(Request::Scroll { from, limit }, |s| async move {
            s.scroll(from, limit).await
        })
        .await
    }

    async fn search(&self, request: SearchRequest) -> StoreResult<Vec<ScoredPaper>> {
        let local = request.clone();
        self.run(Request::Search(request), |s| {
            let r = local.clone();
            async move { s.search(r).await }
        })
        .await
    }

    async fn title_matches(&self, words: &[String], limit: usize) -> StoreResult<Vec<StoredPaper>> {
        let req = Request::TitleMatches {
            words: words.to_vec(),
            limit,
        };
        self.run(req, |s| async move { s.title_matches(words, limit).await })
            .await
    }

    async fn ensure_indexes(&self) -> StoreResult<()> {
        self.run(Request::EnsureIndexes, |s| async move { s.ensure_indexes().await })
            .await
    }

    async fn optimize(&self) -> StoreResult<()> {
        self.run(Request::Optimize, |s| async move { s.optimize().await }).await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.run(Request::Flush, |s| async move { s.flush().await }).await
    }
}

impl StateStore for SharedEdge {
    async fn put_doc(&self, kind: &str, key: &str, doc: &Value) -> StoreResult<()> {
        let req = Request::PutDoc {
            kind: kind.into(),
            key: key.into(),
            doc: doc.clone(),
        };
        self.run(req, |s| async move { s.put_doc(kind, key, doc).await }).await
    }

    async fn get_doc(&self, kind: &str, key: &str) -> StoreResult<Option<Value>> {
        let req = Request::GetDoc {
            kind: kind.into(),
            key: key.into(),
        };
        self.run(req, |s| async move { s.get_doc(kind, key).await }).await
    }

    async fn delete_doc(&self, kind: &str, key: &str) -> StoreResult<()> {
        let req = Request::DeleteDoc {
            kind: kind.into(),
            key: key.into(),
        };
        self.run(req, |s| async move { s.delete_doc(kind, key).await }).await
    }

    async fn all_docs(&self) -> StoreResult<Vec<(String, String, Value)>> {
        self.run(Request::AllDocs, |s| async move { s.all_docs().await }).await
    }

    async fn increment(&self, kind: &str, key: &str, field: &str, delta: u64) -> StoreResult<u64> {
        let req = Request::Increment {
            kind: kind.into(),
            key: key.into(),
            field: field.into(),
            delta,
        };
        self.run(req, |s| async move { s.increment(kind, key, field, delta).await })
            .await
    }
}
