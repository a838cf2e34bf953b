//! Finding one paper from what a person types or pastes: an arXiv id in any
//! spelling (`2401.01234v2`, `arXiv:2401.01234`, abs/pdf/html URLs, Hugging
//! Face paper URLs), a `title-…` id, or (part of) a title. The CLI's
//! `related`, Discord's `/paper` and `/related` and their autocomplete all
//! come here, so they agree on what a title matches.
//!
//! Titles are matched word by word ([`title_words`]): every typed word must
//! start a word of the title, so `processb` finds "ProcessBench: …" and `why
//! language mod` finds "Why Language Models Hallucinate". The store answers
//! that from its title index ([`PaperStore::title_matches`], a filtered
//! lookup, not a scan), and a BM25 search restricted to the same titles
//! brings the best-matching ones even when thousands share the words;
//! ranking happens here: the exact title, then titles starting with what was
//! typed, then by BM25 score, then shorter titles.

use std::collections::HashMap;

use tracing::Instrument;

use crate::library::{Library, LibraryError};
use crate::paper::{Paper, PaperId, normalise_title, title_has_words, title_words};
use crate::store::{PaperStore, SearchFilter, SearchMode, SearchRequest, StoredPaper};

/// Candidates taken from the title index, and from the BM25 search over it.
const FROM_INDEX: usize = 100;
const FROM_BM25: usize = 50;

/// The paper `needle` names: by id or link first, then the best title match.
/// `Ok(None)` when nothing matches; store failures are errors.
pub async fn find<S: PaperStore>(lib: &Library<S>, needle: &str) -> Result<Option<StoredPaper>, LibraryError> {
    let needle = needle.trim();
    let span = tracing::debug_span!("lookup", chars = needle.chars().count());
    async {
        if let Some(id) = PaperId::parse(needle)
            && let Some(p) = lib.store.get(&[id]).await?.pop()
        {
            return Ok(Some(p));
        }
        Ok(ranked(lib, needle, 1).await?.into_iter().next())
    }
    .instrument(span)
    .await
}

/// Up to `limit` papers whose titles match what was typed so far, best
/// first: for autocomplete.
pub async fn suggest<S: PaperStore>(lib: &Library<S>, typed: &str, limit: usize) -> Result<Vec<Paper>, LibraryError> {
    Ok(ranked(lib, typed, limit).await?.into_iter().map(|s| s.paper).collect())
}

async fn ranked<S: PaperStore>(lib: &Library<S>, typed: &str, limit: usize) -> Result<Vec<StoredPaper>, LibraryError> {
    let words = title_words(typed);
    if words.is_empty() || limit == 0 {
        return Ok(vec![]);
    }
    let mut found: HashMap<PaperId, (StoredPaper, f32)> = HashMap::new();
    for s in lib.store.title_matches(&words, FROM_INDEX.max(limit)).await? {
        found.insert(s.paper.id.clone(), (s, 0.0));
    }
    // The same titles by BM25 relevance to what was typed: the exact title
    // scores highest even when more papers share its words than were taken.
    let sparse = lib.bm25.query(typed);
    if !sparse.indices.is_empty() {
        let hits = lib
            .store
            .search(SearchRequest {
                dense: vec![],
                sparse,
                mode: SearchMode::Sparse,
                limit: FROM_BM25,
                prefetch: FROM_BM25,
                filter: SearchFilter {
                    title_words: words.clone(),
                    ..Default::default()
                },
            })
            .await?;
        for h in hits {
            found.insert(h.stored.paper.id.clone(), (h.stored, h.score));
        }
    }
    let want = normalise_title(typed);
    let mut ranked: Vec<(String, StoredPaper, f32)> = found
        .into_values()
        .filter(|(s, _)| title_has_words(&s.paper.title, &words))
        .map(|(s, score)| (normalise_title(&s.paper.title), s, score))
        .collect();
    ranked.sort_by(|(a, pa, sa), (b, pb, sb)| {
        let key = |t: &str| (t != want, !t.starts_with(&want));
        key(a)
            .cmp(&key(b))
            .then(sb.total_cmp(sa))
            .then(pa.paper.title.len().cmp(&pb.paper.title.len()))
            .then_with(|| pa.paper.title.cmp(&pb.paper.title))
    });
    ranked.truncate(limit);
    Ok(ranked.into_iter().map(|(_, s, _)| s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_words_must_start_title_words() {
        let t = "ProcessBench: Identifying Process Errors in Mathematical Reasoning";
        assert!(title_has_words(t, &title_words("processb")));
        assert!(title_has_words(t, &title_words("Process errors MATH")));
        assert!(
            !title_has_words(t, &title_words("bench")),
            "inside a word is not a match"
        );
        assert!(!title_has_words(t, &title_words("process physics")));
        assert!(title_has_words("LLM-as-a-Judge for Papers", &title_words("llm-as jud")));
    }
}
