//! Daily digests: the papers that entered the library since a point in
//! time, ranked by topic relevance (when topics are given), community
//! signal (upvotes) and recency, each with a one-line TL;DR and why it is
//! there, introduced by a short overview (LLM with `prompts/digest.j2`, or
//! an extractive line offline) whose citations are validated like answers.

pub mod schedule;

use chrono::{DateTime, Utc};

use crate::answer::citations::CitationGate;
use crate::answer::llm::{LlmClient, LlmError};
use crate::answer::prompts::{PromptError, Prompts, SourceDoc};
use crate::library::{Library, LibraryError};
use crate::paper::Paper;
use crate::store::{PaperStore, StoredPaper};

/// What a digest is for.
#[derive(Debug, Clone)]
pub struct DigestRequest {
    /// Free text ("LLM reasoning, retrieval"); None: everything, by upvotes.
    pub topics: Option<String>,
    /// Papers that entered the library at or after this time.
    pub since: DateTime<Utc>,
    pub max: usize,
    pub min_upvotes: u32,
    /// With topics: the least cosine similarity that counts as on-topic.
    pub min_relevance: f32,
}

/// One paper in a digest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DigestItem {
    pub paper: Paper,
    /// The source's AI summary when present, else the abstract's first sentence.
    pub tldr: String,
    /// Why it was picked: topic match, upvotes, newness.
    pub why: String,
    pub score: f32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Digest {
    pub since: DateTime<Utc>,
    pub topics: Option<String>,
    /// Citations `[n]` refer to `items[n-1]`; invalid ones were removed.
    pub overview: String,
    /// The overview came from the LLM (else it is an extractive line).
    pub generated: bool,
    pub items: Vec<DigestItem>,
}

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
}

/// Papers with `first_seen >= since`, from the store's `first_seen` index
/// (a day's papers are few; the library may hold millions).
async fn entered_since<S: PaperStore>(store: &S, since: DateTime<Utc>) -> Result<Vec<StoredPaper>, LibraryError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.scroll_entered_since(since, cursor, 1_000).await?;
        out.extend(page.papers);
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
}

/// Selects and ranks the digest's papers.
pub async fn select<S: PaperStore>(lib: &Library<S>, req: &DigestRequest) -> Result<Vec<DigestItem>, LibraryError> {
    let candidates: Vec<StoredPaper> = entered_since(&lib.store, req.since)
        .await?
        .into_iter()
        .filter(|s| s.paper.upvotes.unwrap_or(0) >= req.min_upvotes)
        .collect();
    if candidates.is_empty() {
        return Ok(vec![]);
    }
    let topic = match req.topics.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(lib.dense.embed_query(t).await?),
        None => None,
    };
    let max_up = candidates.iter().filter_map(|s| s.paper.upvotes).max().unwrap_or(0);
    let now = Utc::now();
    let window = (now - req.since).num_seconds().max(1) as f32;
    let mut items = Vec::new();
    for s in candidates {
        let up = s.paper.upvotes.unwrap_or(0);
        let up_score = if max_up == 0 {
            0.0
        } else {
            ((1.0 + up as f32).ln() / (1.0 + max_up as f32).ln()).clamp(0.0, 1.0)
        };
        let fresh = s.paper.published.unwrap_or(s.first_seen);
        let recency = (1.0 - (now - fresh).num_seconds().max(0) as f32 / window).clamp(0.0, 1.0);
        let mut why = Vec::new();
        let score = match &topic {
            Some(q) => {
                let Some(v) = lib.store.vectors(&s.paper.id).await? else {
                    continue;
                };
                let sim: f32 = q.iter().zip(&v.dense).map(|(a, b)| a * b).sum();
                if sim < req.min_relevance {
                    continue;
                }
                why.push(format!("on topic ({sim:.2})"));
                0.6 * sim + 0.3 * up_score + 0.1 * recency
            }
            None => 0.75 * up_score + 0.25 * recency,
        };
        if up > 0 {
            why.push(format!("{up} upvotes"));
        }
        if why.is_empty() {
            why.push("new".into());
        }
        items.push(DigestItem {
            tldr: tldr(&s.paper),
            why: why.join(" · "),
            score,
            paper: s.paper,
        });
    }
    items.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.paper.title.cmp(&b.paper.title))
    });
    items.truncate(req.max.clamp(1, 25));
    Ok(items)
}

/// The source's one-line summary, else the abstract's first sentence.
pub fn tldr(p: &Paper) -> String {
    if let Some(s) = p.summary.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        return s.to_string();
    }
    crate::text::sentences(&p.abstract_text)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// Builds the digest; with an LLM the overview is generated and its
/// citations checked, without one (or when the LLM fails) it is a plain line.
pub async fn build<S: PaperStore>(
    lib: &Library<S>,
    prompts: &Prompts,
    llm: Option<&LlmClient>,
    req: &DigestRequest,
) -> Result<Digest, DigestError> {
    let items = select(lib, req).await?;
    let fallback = extractive_overview(&items, req);
    let (overview, generated) = match (llm, items.is_empty()) {
        (Some(llm), false) => match generate_overview(prompts, llm, &items, req).await {
            Ok(Some(text)) => (text, true),
            Ok(None) => (fallback, false),
            Err(e) => {
                tracing::warn!(error = %e, "digest overview from the LLM failed; using the extractive line");
                (fallback, false)
            }
        },
        _ => (fallback, false),
    };
    Ok(Digest {
        since: req.since,
        topics: req.topics.clone(),
        overview,
        generated,
        items,
    })
}

fn extractive_overview(items: &[DigestItem], req: &DigestRequest) -> String {
    match items.first() {
        None => "No new papers since the last digest.".into(),
        Some(top) => {
            let about = req.topics.as_deref().map(|t| format!(" on {t}")).unwrap_or_default();
            format!(
                "{} new paper{}{about}; first: {} [1].",
                items.len(),
                if items.len() == 1 { "" } else { "s" },
                top.paper.title
            )
        }
    }
}

async fn generate_overview(
    prompts: &Prompts,
    llm: &LlmClient,
    items: &[DigestItem],
    req: &DigestRequest,
) -> Result<Option<String>, DigestError> {
    let docs: Vec<SourceDoc> = items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            SourceDoc::new(
                i + 1,
                &it.paper,
                &crate::answer::budget::truncate_to_tokens(&it.paper.abstract_text, 250),
            )
        })
        .collect();
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let system = prompts.system(&today, 4)?;
    let user = prompts.digest(req.topics.as_deref(), &docs, 4)?;
    let mut gate = CitationGate::new(items.len());
    let text = match llm.stream_chat(&system, &user, &mut |_| {}).await {
        Ok(c) => c.text,
        Err(e) => {
            log_llm(&e);
            return Ok(None);
        }
    };
    let mut out = gate.push(&text);
    out.push_str(&gate.finish());
    let out = out.trim().to_string();
    if out.is_empty() || out.starts_with(crate::answer::prompts::NOT_COVERED) {
        return Ok(None);
    }
    Ok(Some(out))
}

fn log_llm(e: &LlmError) {
    tracing::warn!(error = %e, "digest overview: LLM failed");
}

/// The digest as plain text for a terminal.
pub fn to_text(d: &Digest) -> String {
    let mut out = format!(
        "Digest of papers since {}{}\n\n{}\n",
        d.since.format("%Y-%m-%d %H:%M UTC"),
        d.topics
            .as_deref()
            .map(|t| format!(" — topics: {t}"))
            .unwrap_or_default(),
        d.overview
    );
    for (i, it) in d.items.iter().enumerate() {
        out.push_str(&format!("\n[{}] {}\n", i + 1, it.paper.title));
        if let Some(link) = it.paper.link() {
            out.push_str(&format!("    {link}\n"));
        }
        out.push_str(&format!("    {}\n    ({})\n", it.tldr, it.why));
    }
    out
}
