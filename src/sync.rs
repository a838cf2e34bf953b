//! Keeping the library fresh on its own: the Hugging Face daily papers for
//! today and the last few days, plus configured arXiv queries, ingested
//! idempotently on an interval. A source outage is logged and tried again
//! on the next round; it never stops the bot.

use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::ingest::{self, Incoming, IngestCounts};
use crate::library::{Library, LibraryError};
use crate::sources::{self, Fetcher, SourceSpec};
use crate::store::PaperStore;
use crate::store::state::StateDoc;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// `paperbot serve` syncs in the background.
    pub enabled: bool,
    pub interval_minutes: u64,
    /// Hugging Face days to (re)read each round: today and the days before
    /// (upvotes keep changing for a few days).
    pub hf_days: u32,
    /// arXiv API queries read each round (one request per 3 s), e.g.
    /// `cat:cs.CL AND abs:retrieval`.
    pub arxiv_queries: Vec<String>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            enabled: true,
            interval_minutes: 60,
            hf_days: 3,
            arxiv_queries: vec![],
        }
    }
}

/// What one round did.
#[derive(Debug, Default)]
pub struct SyncReport {
    pub counts: IngestCounts,
    /// Sources that could not be read, with the reason.
    pub failed: Vec<String>,
}

/// The sources of one round, newest day first.
pub fn specs(config: &SyncConfig, today: NaiveDate) -> Vec<SourceSpec> {
    let mut out: Vec<SourceSpec> = (0..config.hf_days.max(1))
        .filter_map(|back| today.checked_sub_days(chrono::Days::new(u64::from(back))))
        .map(SourceSpec::HfDaily)
        .collect();
    out.extend(config.arxiv_queries.iter().map(|q| SourceSpec::ArxivQuery(q.clone())));
    out
}

/// What reading the sources gave.
#[derive(Debug, Default)]
pub struct Read {
    /// Papers, with when they entered a library where a backup says so.
    pub records: Vec<Incoming>,
    /// Subscriptions, digest state and budgets from a backup.
    pub state: Vec<StateDoc>,
    /// Records skipped as unreadable.
    pub skipped: usize,
    /// Sources that could not be read at all, with the reason.
    pub failed: Vec<String>,
}

/// Reads every source (a failing one is reported, the rest go on).
pub async fn read_all(specs: &[SourceSpec], fetcher: &Fetcher) -> Read {
    let mut read = Read::default();
    for spec in specs {
        let label = spec.label();
        let outcome = sources::load(spec, fetcher)
            .instrument(tracing::info_span!("source", source = %label))
            .await;
        match outcome {
            Ok(outcome) => {
                for p in &outcome.problems {
                    tracing::warn!(source = %label, record = %p.record, "skipped: {}", p.reason);
                }
                tracing::info!(source = %label, papers = outcome.papers.len(), skipped = outcome.problems.len(), "read");
                read.skipped += outcome.problems.len();
                let first_seen = outcome.first_seen;
                read.records.extend(outcome.papers.into_iter().map(|paper| Incoming {
                    first_seen: first_seen.get(&paper.id).copied(),
                    paper,
                }));
                read.state.extend(outcome.state);
            }
            Err(e) => {
                tracing::error!(source = %label, "source failed: {e}");
                read.failed.push(format!("{label}: {e}"));
            }
        }
    }
    read
}

/// One round: read, then ingest what was read.
pub async fn sync_once<S: PaperStore>(
    lib: &Library<S>,
    fetcher: &Fetcher,
    config: &SyncConfig,
    today: NaiveDate,
) -> Result<SyncReport, LibraryError> {
    let specs = specs(config, today);
    let read = read_all(&specs, fetcher).await;
    let mut counts = ingest::ingest_until(
        lib,
        read.records,
        &indicatif::ProgressBar::hidden(),
        &CancellationToken::new(),
    )
    .await?
    .counts;
    counts.skipped += read.skipped;
    Ok(SyncReport {
        counts,
        failed: read.failed,
    })
}

/// Rounds every `interval_minutes` until `stop`.
pub async fn run_loop<S: PaperStore>(
    lib: &Library<S>,
    fetcher: &Fetcher,
    config: &SyncConfig,
    stop: CancellationToken,
) {
    let interval = Duration::from_secs(config.interval_minutes.max(1) * 60);
    loop {
        let today = chrono::Utc::now().date_naive();
        let round = sync_once(lib, fetcher, config, today).instrument(tracing::info_span!("sync"));
        tokio::select! {
            _ = stop.cancelled() => return,
            result = round => match result {
                Ok(r) => {
                    tracing::info!(
                        new = r.counts.new, updated = r.counts.updated, unchanged = r.counts.unchanged,
                        failed = r.failed.len(), "sync round done"
                    );
                }
                Err(e) => tracing::error!(error = %e, "sync round failed; will retry"),
            },
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_reads_recent_days_then_queries() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let c = SyncConfig {
            hf_days: 3,
            arxiv_queries: vec!["cat:cs.CL".into()],
            ..Default::default()
        };
        let labels: Vec<String> = specs(&c, today).iter().map(SourceSpec::label).collect();
        assert_eq!(
            labels,
            ["hf:2026-03-01", "hf:2026-02-28", "hf:2026-02-27", "arxiv:cat:cs.CL"]
        );
    }
}
