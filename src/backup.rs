//! Backups and moves that keep everything: `export` writes every paper with
//! when it entered the library (digests decide what is new by it) and every
//! state document (digest subscriptions and state, LLM budgets), in the JSONL
//! format `ingest` reads back; restoring them on either backend continues
//! where the old library left off.

use std::io::Write;

use crate::sources::jsonl;
use crate::store::state::{StateDoc, StateStore};
use crate::store::{PaperStore, StoreError, StoreResult};

/// What an export wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub papers: usize,
    pub state: usize,
}

/// Writes the library to `out`, a page at a time.
pub async fn export<S: PaperStore + StateStore>(store: &S, mut out: impl Write + Send) -> StoreResult<Exported> {
    let io = |e: std::io::Error| StoreError::backend("writing the export", e);
    let mut done = Exported::default();
    let mut cursor = None;
    loop {
        let page = store.scroll(cursor, 1_000).await?;
        for s in &page.papers {
            out.write_all(jsonl::paper_line(&s.paper, Some(s.first_seen)).as_bytes())
                .map_err(io)?;
        }
        done.papers += page.papers.len();
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    for (kind, key, doc) in store.all_docs().await? {
        out.write_all(jsonl::state_line(&StateDoc { kind, key, doc }).as_bytes())
            .map_err(io)?;
        done.state += 1;
    }
    out.flush().map_err(io)?;
    Ok(done)
}

/// Writes the state documents of a backup into `store`.
pub async fn restore_state<S: StateStore>(store: &S, docs: &[StateDoc]) -> StoreResult<usize> {
    for d in docs {
        store.put_doc(&d.kind, &d.key, &d.doc).await?;
    }
    Ok(docs.len())
}
