//! Retrieval: a question in, ranked papers out. Embeds the query both ways
//! and lets the store fuse dense and BM25 candidates (reciprocal rank
//! fusion); [`lookup`] finds one paper by id, URL or title.

pub mod lookup;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::library::{Library, LibraryError};
use crate::paper::PaperId;
use crate::store::{PaperStore, ScoredPaper, SearchFilter, SearchMode, SearchRequest};

/// `[search]` in the configuration: how every path that searches searches.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Results shown by `paperbot search` and `/search`.
    pub k: usize,
    pub mode: SearchMode,
    /// Candidates each retriever contributes to fusion.
    pub prefetch: usize,
    /// Below this cosine for the best dense match, nothing in the library is
    /// relevant (calibrated with `paperbot eval`).
    pub min_relevance: f32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            k: 10,
            mode: SearchMode::Hybrid,
            prefetch: 50,
            min_relevance: 0.35,
        }
    }
}

impl SearchConfig {
    /// Options for a search with these settings, returning `search.k` papers.
    pub fn default_options(&self) -> SearchOptions {
        self.options(self.k)
    }

    /// Options for one search with these settings, returning `k` papers.
    pub fn options(&self, k: usize) -> SearchOptions {
        SearchOptions {
            k,
            mode: self.mode,
            prefetch: self.prefetch,
            filter: SearchFilter::default(),
        }
    }
}

/// One search: how many, which retrievers, which part of the library.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub k: usize,
    pub mode: SearchMode,
    pub prefetch: usize,
    pub filter: SearchFilter,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchConfig::default().options(10)
    }
}

/// `2025-01-31`, or a span back from now: `7d`, `24h`. The error says what
/// is expected (it is shown to users).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    let expected = || format!("`{s}`: expected a date like 2025-01-31 or a span like 7d or 24h");
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(expected);
    }
    let (num, unit) = s.split_at(s.len() - s.chars().last().map_or(0, char::len_utf8));
    let n: i64 = num.parse().map_err(|_| expected())?;
    let span = match unit {
        "d" => chrono::Duration::try_days(n),
        "h" => chrono::Duration::try_hours(n),
        _ => None,
    }
    .ok_or_else(expected)?;
    now.checked_sub_signed(span).ok_or_else(expected)
}

/// Ranked papers for a free-text question.
pub async fn search<S: PaperStore>(
    lib: &Library<S>,
    query: &str,
    opts: &SearchOptions,
) -> Result<Vec<ScoredPaper>, LibraryError> {
    Ok(search_with_relevance(lib, query, opts).await?.hits)
}

/// Hits plus how relevant the best paper is at all.
#[derive(Debug, Clone)]
pub struct SearchResult {
    pub hits: Vec<ScoredPaper>,
    /// Cosine similarity of the best dense match (−1..1). Fusion scores are
    /// rank-based and say nothing about relevance; this does, so callers
    /// compare it with a calibrated threshold to say "nothing relevant".
    pub top_relevance: f32,
}

pub async fn search_with_relevance<S: PaperStore>(
    lib: &Library<S>,
    query: &str,
    opts: &SearchOptions,
) -> Result<SearchResult, LibraryError> {
    let span = tracing::info_span!("search", mode = ?opts.mode, k = opts.k);
    async {
        let dense = lib.dense.embed_query(query).await?;
        let sparse = lib.bm25.query(query);
        let request = |mode, limit| SearchRequest {
            dense: dense.clone(),
            sparse: sparse.clone(),
            mode,
            limit,
            prefetch: opts.prefetch.max(opts.k),
            filter: opts.filter.clone(),
        };
        let mut hits = lib.store.search(request(opts.mode, opts.k.max(1))).await?;
        if opts.mode == SearchMode::Hybrid {
            promote_named_papers(query, &mut hits);
        }
        let top_relevance = match (opts.mode, hits.first()) {
            (SearchMode::Dense, Some(h)) => h.score,
            _ => lib
                .store
                .search(request(SearchMode::Dense, 1))
                .await?
                .first()
                .map_or(-1.0, |h| h.score),
        };
        Ok(SearchResult { hits, top_relevance })
    }
    .instrument(span)
    .await
}

/// Papers most like `id`, by its own stored vectors.
pub async fn related<S: PaperStore>(
    lib: &Library<S>,
    id: &PaperId,
    opts: &SearchOptions,
) -> Result<Vec<ScoredPaper>, LibraryError> {
    let Some(vectors) = lib.store.vectors(id).await? else {
        return Ok(vec![]);
    };
    let mut filter = opts.filter.clone();
    filter.exclude.push(id.clone());
    let request = SearchRequest {
        dense: vectors.dense,
        sparse: vectors.sparse,
        mode: opts.mode,
        limit: opts.k.max(1),
        prefetch: opts.prefetch.max(opts.k),
        filter,
    };
    Ok(lib.store.search(request).await?)
}

/// Common field acronyms: in a question they name a topic, not a paper.
const GENERIC_ACRONYMS: &[&str] = &[
    "AI", "API", "APIS", "COT", "DPO", "GPT", "LLM", "LLMS", "MLLM", "MLLMS", "NLP", "PPO", "QA", "RAG", "RL", "RLHF",
    "SFT", "VLM", "VLMS", "ML", "LM", "LMS", "SOTA",
];

/// Words that look coined: an inner capital (`ProcessBench`, `TMGBench`) or
/// an all-caps run of three or more letters (`GUARD`), minus field acronyms.
fn coined_names(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .filter(|w| {
            let inner_cap = w.chars().skip(1).any(char::is_uppercase) && w.chars().any(char::is_lowercase);
            let all_caps = w.chars().filter(|c| c.is_alphabetic()).count() >= 3 && !w.chars().any(char::is_lowercase);
            (inner_cap || all_caps) && !GENERIC_ACRONYMS.contains(&w.to_uppercase().as_str())
        })
        .map(str::to_string)
        .collect()
}

/// Title-aware ranking: a question that names a paper ("what does the
/// TMGBench paper find?") gets that paper first. Rank fusion alone can bury
/// it when the abstract-level retrievers disagree; a coined name matching a
/// title word is a precise signal, so matching hits move to the front in
/// their fused order. Nothing moves when no coined name matches a title.
/// Matching is case-sensitive: a question about the MATH dataset does not
/// name a paper whose title says "Math".
pub fn promote_named_papers(query: &str, hits: &mut Vec<ScoredPaper>) {
    let names = coined_names(query);
    if names.is_empty() {
        return;
    }
    let names_title = |h: &ScoredPaper| {
        let words: Vec<&str> = h
            .stored
            .paper
            .title
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        names.iter().any(|n| words.contains(&n.as_str()))
    };
    let (mut named, rest): (Vec<_>, Vec<_>) = hits.drain(..).partition(|h| names_title(h));
    named.extend(rest);
    *hits = named;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::{Paper, SourceKind};
    use crate::store::StoredPaper;

    fn hit(title: &str) -> ScoredPaper {
        ScoredPaper {
            score: 0.0,
            stored: StoredPaper {
                paper: Paper::from_title_and_abstract(title, "a", SourceKind::PageText),
                first_seen: chrono::Utc::now(),
                content_hash: String::new(),
                text_hash: String::new(),
            },
        }
    }

    #[test]
    fn coined_names_ignore_field_acronyms() {
        assert_eq!(coined_names("How well does o1-mini do on TMGBench?"), ["TMGBench"]);
        assert!(coined_names("a DPO-style objective, LLM-as-a-judge").is_empty());
        let mut hits = vec![hit("Other"), hit("Tabular Math Word Problems")];
        promote_named_papers("gains on MATH and GSM8K", &mut hits);
        assert_eq!(hits[0].stored.paper.title, "Other", "case-sensitive: MATH is not Math");
        assert_eq!(coined_names("what does GUARD find about LLMs and RAG?"), ["GUARD"]);
        assert!(coined_names("which papers study reward hacking in RLHF with DPO?").is_empty());
    }

    #[test]
    fn a_named_paper_moves_first_and_nothing_else_moves() {
        let mut hits = vec![
            hit("Can 1B LLM Surpass 405B LLM?"),
            hit("Other"),
            hit("TMGBench: A Game Benchmark"),
        ];
        promote_named_papers("How well does o1-mini do on TMGBench?", &mut hits);
        let titles: Vec<_> = hits.iter().map(|h| h.stored.paper.title.as_str()).collect();
        assert_eq!(
            titles,
            ["TMGBench: A Game Benchmark", "Can 1B LLM Surpass 405B LLM?", "Other"]
        );
        let before: Vec<_> = hits.iter().map(|h| h.stored.paper.title.clone()).collect();
        promote_named_papers("which paper brightens dark photos?", &mut hits);
        let after: Vec<_> = hits.iter().map(|h| h.stored.paper.title.clone()).collect();
        assert_eq!(before, after);
    }
}
