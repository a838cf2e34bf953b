//! Finding one paper from what a person types or pastes: an arXiv id in any
//! spelling (`2401.01234v2`, `arXiv:2401.01234`, abs/pdf/html URLs, Hugging
//! Face paper URLs), a `title-…` id, or (part of) a title. The CLI's
//! `related`, Discord's `/paper` and `/related` and their autocomplete all
//! come here, so they agree on what a title matches.
//!
//! Titles are matched on their normalised words ([`normalise_title`]): every
//! typed word must start a word of the title, so `processb` finds
//! "ProcessBench: …" and `why language mod` finds "Why Language Models
//! Hallucinate". The store answers that from its title index
//! ([`PaperStore::title_matches`]); ranking happens here.

use crate::paper::{Paper, PaperId, normalise_title, title_has_words};
use crate::store::{PaperStore, StoreResult, StoredPaper};

/// Candidates fetched from the title index before ranking.
const CANDIDATES: usize = 100;

/// The paper `needle` names: by id or URL first, then the best title match
/// (exact, then starting with it, then the shortest title containing its
/// words). `Ok(None)` when nothing matches; store failures are errors.
pub async fn find<S: PaperStore>(store: &S, needle: &str) -> StoreResult<Option<StoredPaper>> {
    let needle = needle.trim();
    if let Some(id) = PaperId::parse(needle)
        && let Some(p) = store.get(&[id]).await?.pop()
    {
        return Ok(Some(p));
    }
    Ok(ranked(store, needle, 1).await?.into_iter().next())
}

/// Up to `limit` papers whose titles match what was typed so far, best
/// first: for autocomplete.
pub async fn suggest<S: PaperStore>(store: &S, typed: &str, limit: usize) -> StoreResult<Vec<Paper>> {
    Ok(ranked(store, typed, limit)
        .await?
        .into_iter()
        .map(|s| s.paper)
        .collect())
}

async fn ranked<S: PaperStore>(store: &S, typed: &str, limit: usize) -> StoreResult<Vec<StoredPaper>> {
    let want = normalise_title(typed);
    let words: Vec<String> = want.split_whitespace().map(str::to_string).collect();
    if words.is_empty() || limit == 0 {
        return Ok(vec![]);
    }
    let mut found: Vec<(String, StoredPaper)> = store
        .title_matches(&words, CANDIDATES.max(limit))
        .await?
        .into_iter()
        .map(|s| (normalise_title(&s.paper.title), s))
        .filter(|(t, _)| title_has_words(t, &words))
        .collect();
    found.sort_by(|(a, pa), (b, pb)| {
        let key = |t: &str, p: &StoredPaper| (t != want, !t.starts_with(&want), p.paper.title.len());
        key(a, pa)
            .cmp(&key(b, pb))
            .then_with(|| pa.paper.title.cmp(&pb.paper.title))
    });
    found.truncate(limit);
    Ok(found.into_iter().map(|(_, s)| s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_words_must_start_title_words() {
        let t = normalise_title("ProcessBench: Identifying Process Errors in Mathematical Reasoning");
        let w = |s: &str| {
            normalise_title(s)
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert!(title_has_words(&t, &w("processb")));
        assert!(title_has_words(&t, &w("Process errors MATH")));
        assert!(!title_has_words(&t, &w("bench")), "inside a word is not a match");
        assert!(!title_has_words(&t, &w("process physics")));
    }
}
