//! Retrieval: a question in, ranked papers out. Embeds the query both ways
//! and lets the store fuse dense and BM25 candidates (reciprocal rank
//! fusion); [`relevance`] judges whether each hit is relevant at all;
//! [`lookup`] finds one paper by id, URL or title.

pub mod field_idf;
pub mod lookup;
pub mod relevance;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::library::{Library, LibraryError};
use crate::paper::PaperId;
use crate::store::{PaperStore, ScoredPaper, SearchFilter, SearchMode, SearchRequest};
use relevance::{Evidence, Judged, QuestionEvidence, RelevanceModel};

/// `[search]` in the configuration: how every path that searches searches.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Results shown by `paperbot search` and `/search`.
    pub k: usize,
    pub mode: SearchMode,
    /// Candidates each retriever contributes to fusion.
    pub prefetch: usize,
    /// Digest topics: a paper whose cosine with the topic is below this is
    /// off topic. (Questions are judged by `relevance`.)
    pub min_relevance: f32,
    /// Whether a question's hits are relevant at all (`[search.relevance]`).
    pub relevance: RelevanceModel,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            k: 10,
            mode: SearchMode::Hybrid,
            prefetch: 50,
            min_relevance: 0.35,
            relevance: RelevanceModel::default(),
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
            relevance: self.relevance.clone(),
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
    pub relevance: RelevanceModel,
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

/// Ranked papers for a free-text question: hybrid hits in the order of
/// [`search_with_relevance`] (most likely relevant first), a single
/// retriever's in its own order.
pub async fn search<S: PaperStore>(
    lib: &Library<S>,
    query: &str,
    opts: &SearchOptions,
) -> Result<Vec<ScoredPaper>, LibraryError> {
    if opts.mode == SearchMode::Hybrid {
        return Ok(search_with_relevance(lib, query, opts).await?.hits);
    }
    let span = tracing::info_span!("search", mode = ?opts.mode, k = opts.k);
    async {
        let dense = lib.dense.embed_query(query).await?;
        let sparse = lib.bm25.query(&with_name_parts(query));
        ranked(lib, query, &dense, &sparse, opts, opts.mode, opts.k.max(1)).await
    }
    .instrument(span)
    .await
}

/// One store search (`mode`, `limit`) with the options' filter and
/// prefetch; hybrid results put a paper the question names first.
async fn ranked<S: PaperStore>(
    lib: &Library<S>,
    query: &str,
    dense: &[f32],
    sparse: &crate::store::SparseVec,
    opts: &SearchOptions,
    mode: SearchMode,
    limit: usize,
) -> Result<Vec<ScoredPaper>, LibraryError> {
    let mut hits = lib
        .store
        .search(SearchRequest {
            dense: dense.to_vec(),
            sparse: sparse.clone(),
            mode,
            limit,
            prefetch: opts.prefetch.max(opts.k),
            filter: opts.filter.clone(),
        })
        .await?;
    if mode == SearchMode::Hybrid {
        promote_named_papers(query, &mut hits);
    }
    Ok(hits)
}

/// Hits, each judged for relevance.
#[derive(Debug, Clone)]
pub struct SearchResult {
    pub hits: Vec<ScoredPaper>,
    /// One per hit, in the same order, for the first [`JUDGED`] fused hits
    /// and BM25's best; hits after those have none.
    pub judged: Vec<Judged>,
    /// The best evidence among the hits.
    pub question: QuestionEvidence,
    /// How likely the library answers the question (the question model).
    pub relevance: f32,
    /// Cosine of the best dense match (−1..1), for reports.
    pub top_cosine: f32,
}

impl SearchResult {
    /// Whether anything found is relevant enough to answer from.
    pub fn answerable(&self, model: &RelevanceModel) -> bool {
        self.relevance >= model.answer_at
    }
}

pub async fn search_with_relevance<S: PaperStore>(
    lib: &Library<S>,
    query: &str,
    opts: &SearchOptions,
) -> Result<SearchResult, LibraryError> {
    let span = tracing::info_span!("search_judged", mode = ?opts.mode, k = opts.k);
    async {
        let dense = lib.dense.embed_query(query).await?;
        let sparse = lib.bm25.query(&with_name_parts(query));
        let prefetch = opts.prefetch.max(opts.k);
        // The question is judged on the same number of candidates however
        // many hits are shown, so `search --k 3` and `ask` agree.
        let judged_k = opts.k.max(relevance::CANDIDATES);
        let mut hits = ranked(lib, query, &dense, &sparse, opts, opts.mode, judged_k).await?;
        // Each retriever's own ranking, for the evidence.
        let dense_ranked = ranked(lib, query, &dense, &sparse, opts, SearchMode::Dense, prefetch).await?;
        let sparse_ranked = ranked(lib, query, &dense, &sparse, opts, SearchMode::Sparse, prefetch).await?;
        // BM25's best are candidates too, fused high or not: a question
        // about every paper that mentions a term needs them all (on the
        // calibration questions, all gold papers of 21 of 23 many-paper
        // questions are among these candidates; 18 with fusion alone).
        // The question itself is judged on the fused candidates only.
        // Hits past the first JUDGED are shown in fused order, unjudged:
        // judging reads every sentence of every abstract (`--k 100000` on
        // 10k papers took 91 s).
        let unjudged = hits.split_off(hits.len().min(JUDGED));
        let fused = hits.len();
        if opts.mode == SearchMode::Hybrid {
            // Scored as fusion would have scored them (not with BM25's own
            // scale, which a user would read as a fused score).
            let position = |list: &[ScoredPaper], id: &PaperId| list.iter().position(|h| h.stored.paper.id == *id);
            let from_bm25: Vec<ScoredPaper> = sparse_ranked
                .iter()
                .take(relevance::BM25_CANDIDATES)
                .filter(|s| {
                    !hits
                        .iter()
                        .chain(&unjudged)
                        .any(|h| h.stored.paper.id == s.stored.paper.id)
                })
                .map(|s| ScoredPaper {
                    score: fused_score([
                        position(&dense_ranked, &s.stored.paper.id),
                        position(&sparse_ranked, &s.stored.paper.id),
                    ]),
                    ..s.clone()
                })
                .collect();
            hits.extend(from_bm25);
        }
        let (judged, absent) = judge(
            lib,
            query,
            &dense,
            &sparse,
            &hits,
            &dense_ranked,
            &sparse_ranked,
            &opts.relevance,
        )
        .await?;
        // The question's evidence: the first CANDIDATES fused hits, however
        // many are shown (what it was fitted on, and what `ask` reads).
        let evidence: Vec<Evidence> = judged
            .iter()
            .take(fused.min(relevance::CANDIDATES))
            .map(|j| j.evidence)
            .collect();
        let question = QuestionEvidence::of(&evidence, absent);
        let (mut hits, mut judged) = (hits, judged);
        if opts.mode == SearchMode::Hybrid {
            most_likely_first(query, &mut hits, &mut judged);
        }
        hits.extend(unjudged);
        // Asked for at least the candidates (answers, eval): all of them.
        let shown = if opts.k >= relevance::CANDIDATES {
            hits.len()
        } else {
            opts.k.max(1)
        };
        hits.truncate(shown);
        judged.truncate(shown);
        Ok(SearchResult {
            hits,
            judged,
            relevance: opts.relevance.question_probability(&question),
            question,
            top_cosine: dense_ranked.first().map_or(-1.0, |h| h.score),
        })
    }
    .instrument(span)
    .await
}

/// Hits judged at most per search (the rest are shown unjudged, in fused
/// order); far more than an answer reads (`CANDIDATES` plus BM25's best).
pub const JUDGED: usize = 50;

/// The score reciprocal rank fusion gives a paper at these 0-based
/// positions in the dense and BM25 rankings (Qdrant's `position_score`,
/// with [`RRF_K`](crate::store::schema::RRF_K) and the fusion weights).
fn fused_score(positions: [Option<usize>; 2]) -> f32 {
    use crate::store::schema::{RRF_K, RRF_WEIGHTS};
    positions
        .iter()
        .zip(RRF_WEIGHTS)
        .filter_map(|(p, w)| p.map(|p| 1.0 / ((p + 1) as f32 / w + RRF_K as f32 - 1.0)))
        .sum()
}

/// The evidence for each hit and the model's verdict on it, and the rarest
/// question term no hit has ([`QuestionEvidence::absent`]). Each argument is
/// something search already computed; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn judge<S: PaperStore>(
    lib: &Library<S>,
    query: &str,
    dense: &[f32],
    sparse: &crate::store::SparseVec,
    hits: &[ScoredPaper],
    dense_ranked: &[ScoredPaper],
    sparse_ranked: &[ScoredPaper],
    model: &RelevanceModel,
) -> Result<(Vec<Judged>, f32), LibraryError> {
    let rank_of = |list: &[ScoredPaper], id: &PaperId| list.iter().position(|h| h.stored.paper.id == *id);
    let best_cosine = dense_ranked.first().map_or(0.0, |h| h.score);
    let floor_cosine = dense_ranked.last().map_or(0.0, |h| h.score);
    let terms = relevance::subject_terms(&lib.bm25, sparse);
    let rarity: f32 = terms.iter().map(|&t| field_idf::idf(t)).sum();
    let names = crate::text::coined_names(query);
    let papers: Vec<&crate::paper::Paper> = hits.iter().map(|h| &h.stored.paper).collect();
    let sentences = lib.sentences.of(&lib.dense, &papers).await?;
    // Scaled field IDF of a question term, 0 for words the field never uses.
    let weight = |t: u32| {
        if field_idf::known(t) {
            field_idf::idf(t) / field_idf::max_idf()
        } else {
            0.0
        }
    };
    let mut found = std::collections::HashSet::new();
    let judged = hits
        .iter()
        .zip(sentences)
        .map(|(h, sents)| {
            let id = &h.stored.paper.id;
            let dense_rank = rank_of(dense_ranked, id);
            // Beyond the dense candidates its cosine is at most the last one's.
            let cosine = dense_rank.map_or(floor_cosine, |r| dense_ranked[r].score);
            let text = h.stored.paper.embedding_text();
            let doc = lib.bm25.document(&text);
            let shared: Vec<u32> = doc.indices.iter().copied().filter(|t| terms.contains(t)).collect();
            let coverage = if terms.is_empty() {
                0.0
            } else {
                shared.len() as f32 / terms.len() as f32
            };
            let rare_coverage = if rarity > 0.0 {
                shared.iter().map(|&t| field_idf::idf(t)).sum::<f32>() / rarity
            } else {
                0.0
            };
            let missing_rare = terms
                .iter()
                .filter(|t| !shared.contains(t))
                .map(|&t| field_idf::idf(t) / field_idf::max_idf())
                .fold(0.0, f32::max);
            let missing_mass = terms.iter().filter(|t| !shared.contains(t)).map(|&t| weight(t)).sum();
            found.extend(shared.iter().copied());
            let named = names
                .iter()
                .any(|n| text.split(|c: char| !c.is_alphanumeric()).any(|w| w == n));
            let evidence = Evidence {
                cosine,
                sentence: sents.best(dense).map_or(cosine, |(_, c)| c),
                coverage,
                dense_rank: dense_rank.map_or(0.0, |r| 1.0 / (r + 1) as f32),
                sparse_rank: rank_of(sparse_ranked, id).map_or(0.0, |r| 1.0 / (r + 1) as f32),
                lead: cosine - best_cosine,
                rare_coverage,
                named: f32::from(u8::from(named)),
                missing_rare,
                missing_mass,
            };
            Judged {
                evidence,
                probability: model.paper_probability(&evidence),
            }
        })
        .collect();
    let absent = terms
        .iter()
        .filter(|t| !found.contains(t))
        .map(|&t| weight(t))
        .fold(0.0, f32::max);
    Ok((judged, absent))
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

/// The question plus the parts of its coined names (`AlpacaEval` →
/// `Alpaca Eval`, `TabMWP` → `Tab MWP`), for BM25: abstracts spell names
/// apart as often as together.
pub fn with_name_parts(query: &str) -> String {
    let mut out = query.to_string();
    for name in crate::text::coined_names(query) {
        let chars: Vec<char> = name.chars().collect();
        let mut parts = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| {
                (p.is_lowercase() && c.is_uppercase())
                    || (p.is_uppercase() && c.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
            if boundary {
                parts.push(' ');
            }
            parts.push(c);
        }
        if parts != name {
            out.push(' ');
            out.push_str(&parts);
        }
    }
    out
}

/// Hybrid hits reordered by the paper model's probability (ties keep the
/// fused order), a paper the question names by title still first. Rank
/// fusion weighs a retriever that has no idea (the dense ranking of the one
/// word "AIME") as much as one that has; the paper model also weighs the
/// best sentence, the question's rare terms and both ranks. Cross-validated
/// by set on the seven fitting sets: MRR 0.966 → 0.979 on paraphrases,
/// 0.922 → 0.947 on many-paper questions, 0.992 → 1.000 on titles. The
/// question's own evidence is taken from the fused order before this.
fn most_likely_first(query: &str, hits: &mut Vec<ScoredPaper>, judged: &mut Vec<Judged>) {
    let names = crate::text::coined_names(query);
    let mut pairs: Vec<(ScoredPaper, Judged)> = hits.drain(..).zip(judged.drain(..)).collect();
    pairs.sort_by(|a, b| b.1.probability.total_cmp(&a.1.probability));
    let (named, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(h, _)| names_a_title(&names, h));
    (*hits, *judged) = named.into_iter().chain(rest).unzip();
}

/// Whether `h`'s title has one of the coined `names` as a word
/// (case-sensitive: the MATH dataset does not name a "Math" title).
fn names_a_title(names: &[String], h: &ScoredPaper) -> bool {
    names.iter().any(|n| {
        h.stored
            .paper
            .title
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == n.as_str())
    })
}

/// Title-aware ranking: a question that names a paper ("what does the
/// TMGBench paper find?") gets that paper first. Rank fusion alone can bury
/// it when the abstract-level retrievers disagree; a coined name matching a
/// title word is a precise signal, so matching hits move to the front in
/// their fused order. Nothing moves when no coined name matches a title.
/// Matching is case-sensitive: a question about the MATH dataset does not
/// name a paper whose title says "Math".
pub fn promote_named_papers(query: &str, hits: &mut Vec<ScoredPaper>) {
    let names = crate::text::coined_names(query);
    if names.is_empty() {
        return;
    }
    let (mut named, rest): (Vec<_>, Vec<_>) = hits.drain(..).partition(|h| names_a_title(&names, h));
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
    fn coined_names_are_also_searched_in_parts() {
        assert_eq!(with_name_parts("AlpacaEval results"), "AlpacaEval results Alpaca Eval");
        assert_eq!(with_name_parts("TabMWP and GSM8K"), "TabMWP and GSM8K Tab MWP");
        assert_eq!(with_name_parts("plain words"), "plain words");
    }

    #[test]
    fn a_field_acronym_is_not_a_name() {
        let mut hits = vec![hit("Other"), hit("Tabular Math Word Problems")];
        promote_named_papers("gains on MATH and GSM8K", &mut hits);
        assert_eq!(hits[0].stored.paper.title, "Other", "case-sensitive: MATH is not Math");
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
