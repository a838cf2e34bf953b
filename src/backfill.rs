//! Bulk backfill: months or years of arXiv, from its OAI-PMH interface or
//! from the arXiv metadata snapshot (a JSON-lines file of every paper),
//! filtered by category and date, and resumable: after every page (OAI) or
//! batch of lines (snapshot) is ingested and flushed, where it got to is
//! saved in the store (`backfill` state documents), so a run killed or
//! stopped with Ctrl-C goes on from there when started again with the same
//! arguments.

use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::ingest::{self, IngestCounts};
use crate::library::{Library, LibraryError};
use crate::sources::snapshot::{self, LineOutcome, SnapshotFilter};
use crate::sources::{Fetcher, OaiQuery, SourceError};
use crate::store::PaperStore;
use crate::store::state::StateStore;

/// State documents of this kind hold each backfill's progress.
pub const STATE_KIND: &str = "backfill";
/// Snapshot lines read per batch by default (one flush and one progress
/// save each): about 500 papers when a quarter of arXiv is kept.
pub const SNAPSHOT_BATCH_LINES: usize = 2_000;
/// After a stop request, how long the batch in flight may take to finish.
/// Past it the batch is dropped and its progress not saved, so the next run
/// reads it again (ingest is idempotent): an embedding endpoint that has
/// gone away would otherwise hold Ctrl-C for its whole retry schedule.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// `work`'s result, or `None` when a stop was asked for and `work` did not
/// finish within [`STOP_GRACE`] of it.
async fn unless_stopped<F: std::future::Future>(work: F, stop: &CancellationToken) -> Option<F::Output> {
    tokio::select! {
        out = work => Some(out),
        () = async {
            stop.cancelled().await;
            tokio::time::sleep(STOP_GRACE).await;
        } => {
            tracing::warn!(grace = ?STOP_GRACE, "stopped: the batch in flight is dropped and read again next time");
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("arXiv OAI-PMH: {code}: {message}")]
    Oai { code: String, message: String },
    #[error("reading {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
}

impl From<crate::store::StoreError> for BackfillError {
    fn from(e: crate::store::StoreError) -> Self {
        BackfillError::Library(e.into())
    }
}

/// Where a backfill got to (saved after every page or batch).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// OAI: the token for the next page; snapshot: unused.
    pub token: Option<String>,
    /// Snapshot: the byte offset of the next line to read.
    pub offset: u64,
    /// Records (OAI) or lines (snapshot) handled so far.
    pub done: u64,
    /// OAI: the list's size as arXiv reports it; snapshot: the file's size in bytes.
    pub total: Option<u64>,
    pub counts: Counts,
    pub finished: bool,
    pub updated: Option<chrono::DateTime<Utc>>,
}

/// What a backfill wrote and passed over, in all its runs.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Records that were not papers (bad or unreadable).
    pub skipped: u64,
    /// Papers outside the categories or dates asked for.
    pub filtered: u64,
    /// Records arXiv has withdrawn (OAI `deleted`); left in the library.
    pub deleted: u64,
}

impl Counts {
    fn add(&mut self, c: IngestCounts) {
        self.new += c.new as u64;
        self.updated += c.updated as u64;
        self.unchanged += c.unchanged as u64;
        self.skipped += c.skipped as u64;
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Report {
    pub progress: Progress,
    /// The run went on from saved progress: records or lines done before it.
    pub resumed: Option<u64>,
    /// A stop request ended it early (progress saved).
    pub interrupted: bool,
}

async fn load<S: PaperStore + StateStore>(lib: &Library<S>, key: &str) -> Result<Option<Progress>, BackfillError> {
    Ok(lib
        .store
        .get_doc(STATE_KIND, key)
        .await?
        .and_then(|v| serde_json::from_value(v).ok()))
}

async fn save<S: PaperStore + StateStore>(lib: &Library<S>, key: &str, p: &mut Progress) -> Result<(), BackfillError> {
    p.updated = Some(Utc::now());
    let doc = serde_json::to_value(&*p).unwrap_or_default();
    lib.store.put_doc(STATE_KIND, key, &doc).await?;
    Ok(())
}

/// An OAI-PMH harvest: `set` (e.g. `cs`) from `from` to `until`,
/// keeping papers in `categories` (empty: all).
#[derive(Debug, Clone)]
pub struct OaiRequest {
    pub set: Option<String>,
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
    pub categories: Vec<String>,
}

impl OaiRequest {
    /// The progress document's key: the same arguments resume the same harvest.
    pub fn key(&self) -> String {
        format!(
            "oai|{}|{}|{}|{}",
            self.set.as_deref().unwrap_or(""),
            self.from,
            self.until.map(|d| d.to_string()).unwrap_or_default(),
            self.categories.join(",")
        )
    }
}

/// Harvests page after page; each page's papers are ingested (and flushed)
/// before its successor is asked for, and the token saved with them.
pub async fn oai<S: PaperStore + StateStore>(
    lib: &Library<S>,
    fetcher: &Fetcher,
    req: &OaiRequest,
    restart: bool,
    pb: &ProgressBar,
    stop: &CancellationToken,
) -> Result<Report, BackfillError> {
    let key = req.key();
    let saved = if restart { None } else { load(lib, &key).await? };
    let mut progress = match saved {
        Some(p) if !p.finished && p.token.is_some() => p,
        _ => Progress::default(),
    };
    let resumed = progress.token.is_some().then_some(progress.done);
    let filter = SnapshotFilter {
        categories: req.categories.clone(),
        from: None,
        until: None,
    };
    pb.set_position(progress.done);
    // The next page, asked for while this one is embedded (arXiv's interval
    // and the embedding then overlap instead of adding up).
    let mut prefetched = None;
    loop {
        if stop.is_cancelled() {
            return Ok(Report {
                progress,
                resumed,
                interrupted: true,
            });
        }
        let page = match prefetched.take() {
            Some(page) => page,
            None => {
                let query = match &progress.token {
                    Some(t) => OaiQuery::Next(t),
                    None => OaiQuery::First {
                        set: req.set.as_deref(),
                        from: req.from,
                        until: req.until,
                    },
                };
                fetch_page(fetcher, &query, progress.done).await
            }
        }?;
        if let Some(e) = &page.error {
            // An empty window is not a failure.
            if e.code == "noRecordsMatch" {
                progress.finished = true;
                progress.token = None;
                save(lib, &key, &mut progress).await?;
                break;
            }
            return Err(BackfillError::Oai {
                code: e.code.clone(),
                message: e.message.clone(),
            });
        }
        if let Some(total) = page.complete_list_size {
            progress.total = Some(total);
            pb.set_length(total);
        }
        let records = page.outcome.papers.len() + page.outcome.problems.len() + page.deleted.len();
        for p in &page.outcome.problems {
            tracing::warn!(record = %p.record, "skipped: {}", p.reason);
        }
        progress.counts.skipped += page.outcome.problems.len() as u64;
        progress.counts.deleted += page.deleted.len() as u64;
        let (kept, filtered): (Vec<_>, Vec<_>) = page.outcome.papers.into_iter().partition(|p| {
            req.categories.is_empty()
                || page
                    .categories
                    .get(&p.id)
                    .is_some_and(|c| filter.wants_categories(&c.join(" ")))
        });
        progress.counts.filtered += filtered.len() as u64;
        let token = page.resumption_token;
        let (quiet, whole_page) = (ProgressBar::hidden(), CancellationToken::new());
        let ingesting = ingest::ingest_until(lib, kept, &quiet, &whole_page);
        let work = async {
            match &token {
                Some(t) if !stop.is_cancelled() => {
                    let query = OaiQuery::Next(t);
                    let next = fetch_page(fetcher, &query, progress.done + records as u64);
                    let (outcome, next) = tokio::join!(ingesting, next);
                    (outcome, Some(next))
                }
                _ => (ingesting.await, None),
            }
        };
        let Some((outcome, next)) = unless_stopped(work, stop).await else {
            return Ok(Report {
                progress,
                resumed,
                interrupted: true,
            });
        };
        prefetched = next;
        let outcome = outcome?;
        progress.counts.add(outcome.counts);
        progress.done += records as u64;
        progress.finished = token.is_none();
        progress.token = token;
        save(lib, &key, &mut progress).await?;
        pb.set_position(progress.done);
        tracing::info!(done = progress.done, total = ?progress.total, new = progress.counts.new, "backfill page");
        if progress.finished {
            break;
        }
    }
    Ok(Report {
        progress,
        resumed,
        interrupted: false,
    })
}

async fn fetch_page(
    fetcher: &Fetcher,
    query: &OaiQuery<'_>,
    done: u64,
) -> Result<crate::sources::oai_pmh::OaiPage, BackfillError> {
    Ok(fetcher
        .oai_page(query)
        .instrument(tracing::info_span!("oai_page", done))
        .await?)
}

/// The snapshot's progress key: the file (by canonical path) and the filter.
pub fn snapshot_key(path: &Path, filter: &SnapshotFilter) -> String {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    format!(
        "snapshot|{}|{}|{}|{}",
        canonical.display(),
        filter.categories.join(","),
        filter.from.map(|d| d.to_string()).unwrap_or_default(),
        filter.until.map(|d| d.to_string()).unwrap_or_default()
    )
}

/// Reads the snapshot from where the last run stopped, a batch of lines at
/// a time; each batch's papers are ingested (and flushed) before the offset
/// after it is saved.
pub async fn snapshot<S: PaperStore + StateStore>(
    lib: &Library<S>,
    path: &Path,
    filter: &SnapshotFilter,
    batch_lines: usize,
    restart: bool,
    pb: &ProgressBar,
    stop: &CancellationToken,
) -> Result<Report, BackfillError> {
    let io = |error| BackfillError::Io {
        path: path.to_path_buf(),
        error,
    };
    let key = snapshot_key(path, filter);
    let saved = if restart { None } else { load(lib, &key).await? };
    let size = std::fs::metadata(path).map_err(io)?.len();
    let mut progress = match saved {
        Some(p) if !p.finished && p.offset > 0 && p.offset <= size => p,
        _ => Progress::default(),
    };
    let resumed = (progress.offset > 0).then_some(progress.done);
    progress.total = Some(size);
    pb.set_length(size);
    pb.set_position(progress.offset);
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    reader.seek(std::io::SeekFrom::Start(progress.offset)).map_err(io)?;
    let mut line = Vec::new();
    loop {
        if stop.is_cancelled() {
            return Ok(Report {
                progress,
                resumed,
                interrupted: true,
            });
        }
        // One batch, read on the blocking pool (the file may be on a slow disk).
        let filter_owned = filter.clone();
        let (batch, lines, bytes, reader_back, line_back) = tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            let mut line = line;
            let (mut papers, mut problems, mut filtered, mut lines, mut bytes) = (Vec::new(), 0u64, 0u64, 0u64, 0u64);
            while lines < batch_lines.max(1) as u64 {
                line.clear();
                let n = reader.read_until(b'\n', &mut line)?;
                if n == 0 {
                    break;
                }
                bytes += n as u64;
                lines += 1;
                match snapshot::parse_line(&line, &filter_owned) {
                    LineOutcome::Paper(p) => papers.push(p),
                    LineOutcome::Filtered => filtered += 1,
                    LineOutcome::Problem(why) => {
                        tracing::warn!(line = lines, "skipped: {why}");
                        problems += 1;
                    }
                }
            }
            Ok::<_, std::io::Error>(((papers, problems, filtered), lines, bytes, reader, line))
        })
        .await
        .map_err(|e| io(std::io::Error::other(e.to_string())))?
        .map_err(io)?;
        reader = reader_back;
        line = line_back;
        if lines == 0 {
            progress.finished = true;
            save(lib, &key, &mut progress).await?;
            break;
        }
        let (papers, problems, filtered) = batch;
        progress.counts.skipped += problems;
        progress.counts.filtered += filtered;
        let (quiet, whole_batch) = (ProgressBar::hidden(), CancellationToken::new());
        let ingesting = ingest::ingest_until(lib, papers, &quiet, &whole_batch);
        let Some(outcome) = unless_stopped(ingesting, stop).await else {
            return Ok(Report {
                progress,
                resumed,
                interrupted: true,
            });
        };
        let outcome = outcome?;
        progress.counts.add(outcome.counts);
        progress.done += lines;
        progress.offset += bytes;
        save(lib, &key, &mut progress).await?;
        pb.set_position(progress.offset);
        tracing::info!(lines = progress.done, new = progress.counts.new, "backfill batch");
    }
    Ok(Report {
        progress,
        resumed,
        interrupted: false,
    })
}
