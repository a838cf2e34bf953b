//! Where papers were shared: each paper a chat message linked to is
//! remembered per place (a Discord server, or one DM channel) with the
//! first and latest message that shared it, so a search can be limited to
//! "papers shared here". Kept as state documents (kind [`KIND`], one per
//! place and paper), so re-ingesting a paper keeps them and backups carry
//! them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::paper::PaperId;
use crate::store::StoreResult;
use crate::store::state::StateStore;

pub const KIND: &str = "shared";

/// A place papers are shared in: a server, or a direct-message channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Guild(u64),
    Direct(u64),
}

impl Place {
    fn key(self) -> String {
        match self {
            Place::Guild(g) => format!("guild:{g}"),
            Place::Direct(c) => format!("dm:{c}"),
        }
    }
}

/// One message that shared a paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub channel: u64,
    pub message: u64,
    pub at: DateTime<Utc>,
}

/// A paper as shared in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shared {
    pub place: String,
    pub paper: PaperId,
    pub first: Message,
    pub last: Message,
    /// Messages that shared it (a message counts once per paper).
    pub count: u64,
}

fn doc_key(place: Place, paper: &PaperId) -> String {
    format!("{}|{}", place.key(), paper)
}

/// Records that `message` in `place` shared `papers`.
pub async fn record<S: StateStore>(store: &S, place: Place, papers: &[PaperId], message: Message) -> StoreResult<()> {
    for paper in papers {
        let key = doc_key(place, paper);
        let old: Option<Shared> = store
            .get_doc(KIND, &key)
            .await?
            .and_then(|d| serde_json::from_value(d).ok());
        let shared = match old {
            // The same message again (an edit, a redelivered event).
            Some(s) if s.last.message == message.message || s.first.message == message.message => continue,
            Some(s) => Shared {
                last: message,
                count: s.count + 1,
                ..s
            },
            None => Shared {
                place: place.key(),
                paper: paper.clone(),
                first: message,
                last: message,
                count: 1,
            },
        };
        let doc = serde_json::to_value(&shared).unwrap_or_default();
        store.put_doc(KIND, &key, &doc).await?;
    }
    Ok(())
}

/// Every paper shared in `place`, most recently shared first.
pub async fn in_place<S: StateStore>(store: &S, place: Place) -> StoreResult<Vec<Shared>> {
    let prefix = format!("{}|", place.key());
    let mut out: Vec<Shared> = store
        .list_docs(KIND)
        .await?
        .into_iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .filter_map(|(_, doc)| serde_json::from_value(doc).ok())
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.last.at));
    Ok(out)
}

/// The papers most discussed in `place` since `since`: shared again (or for
/// the first time) since then, most messages first, at most `n`.
pub async fn discussed_since<S: StateStore>(
    store: &S,
    place: Place,
    since: DateTime<Utc>,
    n: usize,
) -> StoreResult<Vec<Shared>> {
    let mut recent: Vec<Shared> = in_place(store, place)
        .await?
        .into_iter()
        .filter(|s| s.last.at >= since)
        .collect();
    recent.sort_by(|a, b| b.count.cmp(&a.count).then(b.last.at.cmp(&a.last.at)));
    recent.truncate(n);
    Ok(recent)
}
