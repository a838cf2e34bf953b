//! Answers with validated citations: retrieve → choose sources within a
//! token budget → generate (LLM, streaming) or extract (offline) → check
//! every citation → [`Answer`].
//!
//! The invariant: every `[n]` in an answer's text, streamed or final, is a
//! [`Cited`] entry that points at a paper the answer was built from.

pub mod budget;
pub mod citations;
pub mod excerpt;
pub mod extractive;
pub mod llm;
pub mod prompts;
pub mod reasoning;
pub mod screen;
pub mod support;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::library::{Library, LibraryError};
use crate::paper::{Paper, PaperId};
use crate::retrieve::{self, SearchConfig};
use crate::store::{AnyStore, PaperStore, SearchFilter};
use citations::CitationGate;
use llm::{Delta, LlmClient, LlmError};
use prompts::{NOT_COVERED, PromptError, Prompts, SourceDoc, TurnDoc};
use screen::{ScreenMode, Screened};
use support::{SupportCheck, SupportConfig, SupportGate, SupportStats};

use crate::retrieve::relevance::CANDIDATES;

/// First line of an offline answer the relevance model is unsure of.
pub const HEDGE: &str = "The library may not answer this exactly; the nearest papers say:\n";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerConfig {
    /// Most abstracts offered to the model: as many as are likely relevant,
    /// up to this (shortened, not dropped, when the budget is tight).
    pub sources: usize,
    /// Token budget for the whole prompt (system + sources + question).
    pub context_tokens: usize,
    /// One abstract never takes more than this (cut at a sentence).
    pub max_source_tokens: usize,
    /// Length the system prompt asks for.
    pub max_sentences: usize,
    /// Longest question accepted, in characters.
    pub max_question_chars: usize,
    /// Replaces any of the built-in `prompts/*.j2` with a file of the same name.
    pub prompts_dir: Option<PathBuf>,
    /// The same first question against the same library is answered from
    /// memory for this long (0: never), so it is not paid for twice.
    pub cache_minutes: u64,
    /// Sentence-level support of generated answers (`[answer.support]`).
    pub support: SupportConfig,
    /// When the LLM first checks which sources address the question
    /// (`off`, `unsure`, `always`; see [`screen`]).
    pub screen: ScreenMode,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        AnswerConfig {
            sources: 15,
            context_tokens: 3_000,
            max_source_tokens: 600,
            max_sentences: 8,
            max_question_chars: 1_000,
            prompts_dir: None,
            cache_minutes: 60,
            support: SupportConfig::default(),
            screen: ScreenMode::default(),
        }
    }
}

/// How an answer was made; callers label it accordingly.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnswerKind {
    /// Written by the LLM from the sources.
    Generated { model: String },
    /// Offline: sentences quoted from the abstracts.
    Extractive,
    /// Nothing in the library answers it; `related` holds the nearest papers.
    NotCovered,
}

/// A paper an answer cites, under the number the text uses.
#[derive(Debug, Clone, Serialize)]
pub struct Cited {
    pub n: u32,
    pub paper: Paper,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub kind: AnswerKind,
    /// Every `[n]` in it is in `citations`.
    pub text: String,
    /// Ordered by `n` (= order of first use), `n` = 1, 2, ….
    pub citations: Vec<Cited>,
    /// Papers shown without a citation: those the answer was built from
    /// when it cites none, or the nearest ones when nothing covers the question.
    pub related: Vec<Paper>,
    /// Citation numbers the model made up (removed from the text).
    pub dropped_citations: Vec<u32>,
    /// The model hit its token limit.
    pub truncated: bool,
    /// LLM tokens this answer cost (prompt + completion, cl100k estimate; 0 offline or cached).
    #[serde(default)]
    pub llm_tokens: usize,
    /// What the sentence-level support check found and changed.
    #[serde(default)]
    pub support: SupportStats,
    /// The relevance model was unsure the library answers the question: an
    /// offline answer says so first ([`HEDGE`]); an LLM was told so.
    #[serde(default)]
    pub hedged: bool,
    /// What the LLM's relevance check said, if it ran.
    #[serde(default)]
    pub screen: Screened,
}

impl Answer {
    /// The heading for `related` papers.
    pub fn related_label(&self) -> &'static str {
        match self.kind {
            AnswerKind::NotCovered => "Nearest papers in the library",
            _ => "Related papers (used to answer, not cited)",
        }
    }

    /// A plain-text "Sources" block: `[n] Title — link` per citation, then
    /// the related papers under their label.
    pub fn sources_block(&self) -> String {
        let line = |prefix: String, p: &Paper| match p.link() {
            Some(link) => format!("{prefix}{} — {link}\n", p.title),
            None => format!("{prefix}{}\n", p.title),
        };
        let mut out = String::new();
        if !self.citations.is_empty() {
            out.push_str("Sources:\n");
            for c in &self.citations {
                out.push_str(&line(format!("[{}] ", c.n), &c.paper));
            }
        }
        if !self.related.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(self.related_label());
            out.push_str(":\n");
            for p in &self.related {
                out.push_str(&line("- ".into(), p));
            }
        }
        out
    }
}

/// What an answer in progress reports to whoever shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// Validated text to append (citations checked and renumbered).
    Text(&'a str),
    /// The model is reasoning before it answers: nothing to show yet.
    Thinking,
}

/// An earlier exchange in a conversation (a Discord thread).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Turn {
    pub question: String,
    pub answer: String,
    /// Papers that answer cited, most important first.
    pub cited: Vec<PaperId>,
}

/// What to ask.
#[derive(Debug, Clone, Default)]
pub struct AskRequest {
    pub question: String,
    pub history: Vec<Turn>,
    pub filter: SearchFilter,
    /// Overrides `answer.sources`.
    pub sources: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("the question is empty")]
    EmptyQuestion,
    #[error("the question is {chars} characters long; the limit is {max}")]
    QuestionTooLong { chars: usize, max: usize },
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error("LLM: {error}")]
    Llm {
        #[source]
        error: LlmError,
        /// Text already shown to the user before the failure.
        partial: String,
    },
}

impl AskError {
    /// One line for the person who asked; the cause goes to the log.
    pub fn user_message(&self) -> String {
        match self {
            AskError::EmptyQuestion => "Please ask a question.".into(),
            AskError::QuestionTooLong { max, .. } => format!("Please keep questions under {max} characters."),
            AskError::Library(_) => {
                "The paper library is unavailable right now; an operator should check the logs.".into()
            }
            AskError::Prompt(_) => "The prompt templates are broken; an operator should check the logs.".into(),
            AskError::Llm { error, .. } => error.user_message(),
        }
    }
}

/// Turns questions into cited answers. One per process; share by reference.
pub struct Answerer<S: PaperStore = AnyStore> {
    lib: Arc<Library<S>>,
    prompts: Prompts,
    llm: Option<LlmClient>,
    config: AnswerConfig,
    search: SearchConfig,
    /// Recent first-turn answers by question and library version.
    cache: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Answer)>>,
}

impl<S: PaperStore> Answerer<S> {
    /// Template errors and a bad LLM configuration fail before this, when
    /// `prompts` and `llm` are built.
    pub fn new(
        lib: Arc<Library<S>>,
        prompts: Prompts,
        llm: Option<LlmClient>,
        config: AnswerConfig,
        search: SearchConfig,
    ) -> Answerer<S> {
        Answerer {
            lib,
            prompts,
            llm,
            config,
            search,
            cache: Default::default(),
        }
    }

    pub fn library(&self) -> &Arc<Library<S>> {
        &self.lib
    }

    pub fn llm(&self) -> Option<&LlmClient> {
        self.llm.as_ref()
    }

    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    pub fn config(&self) -> &AnswerConfig {
        &self.config
    }

    /// How every search this answerer (and its callers) makes is done.
    pub fn search_config(&self) -> &SearchConfig {
        &self.search
    }

    /// Digest topics' cosine cut.
    pub fn min_relevance(&self) -> f32 {
        self.search.min_relevance
    }

    /// Answers `req`. `on_progress` receives the answer text as it becomes
    /// safe to show (citations already validated and renumbered) and a
    /// [`Progress::Thinking`] when a reasoning model starts thinking; the
    /// returned [`Answer::text`] is exactly the concatenation of the text it
    /// received.
    pub async fn ask(
        &self,
        req: &AskRequest,
        on_progress: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<Answer, AskError> {
        let on_text = &mut Sink {
            f: on_progress,
            thinking: false,
        };
        let question = req.question.trim();
        if question.is_empty() {
            return Err(AskError::EmptyQuestion);
        }
        let chars = question.chars().count();
        if chars > self.config.max_question_chars {
            return Err(AskError::QuestionTooLong {
                chars,
                max: self.config.max_question_chars,
            });
        }
        let span = tracing::info_span!("ask", chars, turns = req.history.len(), llm = self.llm.is_some());
        let m = crate::metrics::metrics();
        m.questions.inc();
        let started = std::time::Instant::now();
        let key = self.cache_key(req, question).await;
        if let Some(hit) = key.as_deref().and_then(|k| self.cached(k)) {
            m.answer_cache_hits.inc();
            on_text.text(&hit.text);
            return Ok(hit);
        }
        let result = self.ask_inner(req, question, on_text).instrument(span).await;
        if let (Some(k), Ok(a)) = (key, &result) {
            self.remember(k, a);
        }
        m.answer_seconds.observe(started.elapsed().as_secs_f64());
        m.answer(match &result {
            Ok(a) => match a.kind {
                AnswerKind::Generated { .. } => "answered",
                AnswerKind::Extractive => "extractive",
                AnswerKind::NotCovered => "no_source",
            },
            Err(_) => "error",
        });
        result
    }

    /// First-turn questions only: normalised question, options and the
    /// library's size (new papers make a new answer).
    async fn cache_key(&self, req: &AskRequest, question: &str) -> Option<String> {
        if self.config.cache_minutes == 0 || !req.history.is_empty() {
            return None;
        }
        let version = self.lib.store.count().await.ok()?;
        let words: Vec<String> = question
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        Some(format!(
            "{}|{version}|{:?}|{:?}",
            words.join(" "),
            req.sources,
            req.filter
        ))
    }

    fn cached(&self, key: &str) -> Option<Answer> {
        let ttl = std::time::Duration::from_secs(self.config.cache_minutes * 60);
        let cache = self.cache.lock().ok()?;
        let (at, answer) = cache.get(key)?;
        (at.elapsed() < ttl).then(|| Answer {
            llm_tokens: 0,
            ..answer.clone()
        })
    }

    fn remember(&self, key: String, answer: &Answer) {
        let ttl = std::time::Duration::from_secs(self.config.cache_minutes * 60);
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= 1_000 {
                cache.clear();
            }
            cache.insert(key, (std::time::Instant::now(), answer.clone()));
        }
    }

    async fn ask_inner(&self, req: &AskRequest, question: &str, on_text: &mut Sink<'_>) -> Result<Answer, AskError> {
        let most = req.sources.unwrap_or(self.config.sources).clamp(1, 20);
        // A follow-up ("and its limitations?") is retrieved together with
        // the question before it, and keeps the papers already cited.
        let query = match req.history.last() {
            Some(prev) => format!("{} {question}", prev.question),
            None => question.to_string(),
        };
        let mut opts = self.search.options(CANDIDATES.max(most));
        opts.filter = req.filter.clone();
        let retrieval = std::time::Instant::now();
        let found = retrieve::search_with_relevance(&self.lib, &query, &opts).await?;
        crate::metrics::metrics()
            .retrieval_seconds
            .observe(retrieval.elapsed().as_secs_f64());

        let carried: Vec<PaperId> =
            req.history
                .iter()
                .rev()
                .flat_map(|t| t.cited.iter().cloned())
                .fold(Vec::new(), |mut acc, id| {
                    if !acc.contains(&id) && acc.len() < 3 {
                        acc.push(id);
                    }
                    acc
                });
        let mut papers: Vec<Paper> = if carried.is_empty() {
            vec![]
        } else {
            let mut got = self.lib.store.get(&carried).await.map_err(LibraryError::from)?;
            got.sort_by_key(|s| carried.iter().position(|c| *c == s.paper.id));
            got.into_iter().map(|s| s.paper).collect()
        };
        let model = &self.search.relevance;
        let answerable = found.answerable(model) || !carried.is_empty();
        // Under `answer_at` but at least `check_at`: when the LLM checks
        // relevance anyway, its verdict decides rather than the cut (a broad
        // "which papers…" question often lands here); a verdict it cannot
        // give declines, as without it.
        let left_to_check = !answerable
            && self.llm.is_some()
            && req.history.is_empty()
            && self.config.screen != screen::ScreenMode::Off
            && found.relevance >= model.check_at;
        tracing::debug!(
            relevance = found.relevance,
            answer_at = model.answer_at,
            left_to_check,
            top_cosine = found.top_cosine,
            candidates = found.hits.len(),
            "retrieved"
        );
        if (!answerable && !left_to_check) || (papers.is_empty() && found.hits.is_empty()) {
            let nearest = found.hits.into_iter().map(|h| h.stored.paper).collect();
            return Ok(self.not_covered(nearest, &req.filter, on_text));
        }
        // The sources: the candidates most likely relevant (the first hit
        // always), most likely first, so a question about many papers gets
        // them all and a wide net does not crowd them out.
        let mut ranked: Vec<(f32, Paper)> = found
            .hits
            .into_iter()
            .zip(&found.judged)
            .enumerate()
            .filter(|(i, (_, j))| *i == 0 || j.probability >= model.include_at)
            .map(|(i, (hit, j))| (if i == 0 { f32::INFINITY } else { j.probability }, hit.stored.paper))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        // Which sources an offline answer quotes: the papers carried from
        // earlier turns and those likely relevant (`extractive::LIST_AT`).
        let mut likely = vec![true; papers.len()];
        for (p, paper) in ranked {
            if papers.len() < most && !papers.iter().any(|p| p.id == paper.id) {
                papers.push(paper);
                likely.push(p >= extractive::LIST_AT);
            }
        }

        let mut hedged = carried.is_empty() && found.relevance < model.hedge_at;
        let Some(llm) = &self.llm else {
            return self.extract(question, papers, &likely, hedged, on_text).await;
        };
        let (mut screened, mut screen_tokens) = (Screened::NotRun, 0);
        if req.history.is_empty() && (self.config.screen.applies(hedged) || left_to_check) {
            (screened, screen_tokens) = self.screen(llm, question, &papers).await?;
            crate::metrics::metrics().screen(match &screened {
                Screened::Relevant(_) => "relevant",
                Screened::NoneRelevant => "none",
                Screened::NotRun | Screened::Unclear => "unclear",
            });
            match &screened {
                Screened::NoneRelevant => {
                    tracing::info!("the model's relevance check found no source that addresses the question");
                    let mut declined = self.not_covered(papers, &req.filter, on_text);
                    declined.screen = screened;
                    declined.llm_tokens = screen_tokens;
                    return Ok(declined);
                }
                Screened::Relevant(named) => {
                    papers = screen::named_first(papers, named);
                    hedged = false;
                }
                Screened::NotRun | Screened::Unclear if left_to_check => {
                    tracing::info!("no relevance verdict for a question the library may not answer: declined");
                    let mut declined = self.not_covered(papers, &req.filter, on_text);
                    declined.screen = screened;
                    declined.llm_tokens = screen_tokens;
                    return Ok(declined);
                }
                Screened::NotRun | Screened::Unclear => {}
            }
        }
        let mut answer = self.generate(llm, req, question, papers, hedged, on_text).await?;
        answer.llm_tokens += screen_tokens;
        answer.screen = screened;
        Ok(answer)
    }

    /// `papers` numbered from 1 as a prompt shows them, and that prompt's
    /// tokens (`render`): each abstract whole up to `answer.max_source_tokens`
    /// when they all fit `room`; else each cut to an excerpt of the largest
    /// allowance that lets every source in ([`excerpt`]); only when even
    /// [`excerpt::MIN_TOKENS`] each is too much are sources dropped, by rank,
    /// from the end.
    fn fit_sources(
        &self,
        question: &str,
        papers: &[Paper],
        room: usize,
        render: impl Fn(&[SourceDoc]) -> Result<String, PromptError>,
    ) -> Result<(Vec<SourceDoc>, usize), PromptError> {
        let max = self.config.max_source_tokens;
        let whole: Vec<SourceDoc> = papers
            .iter()
            .enumerate()
            .map(|(i, p)| SourceDoc::new(i + 1, p, &budget::truncate_to_tokens(&p.abstract_text, max)))
            .collect();
        let tokens = budget::count_tokens(&render(&whole)?);
        if tokens <= room {
            return Ok((whole, tokens));
        }
        let terms = excerpt::Excerpter::question_terms(&self.lib.bm25, question);
        let cutters: Vec<excerpt::Excerpter> = papers
            .iter()
            .map(|p| excerpt::Excerpter::new(&self.lib.bm25, &terms, &p.abstract_text))
            .collect();
        let docs = |allowance: usize| -> Vec<SourceDoc> {
            papers
                .iter()
                .zip(&cutters)
                .enumerate()
                .map(|(i, (p, c))| SourceDoc::new(i + 1, p, &c.cut(allowance)))
                .collect()
        };
        let allowance = excerpt::largest_fitting(max, |a| Ok(budget::count_tokens(&render(&docs(a))?) <= room))?;
        let mut docs = docs(allowance.unwrap_or(excerpt::MIN_TOKENS.min(max)));
        let (n, tokens) = budget::fit(docs.len(), room, |n| render(&docs[..n]))?;
        docs.truncate(n);
        tracing::debug!(
            offered = papers.len(),
            given = n,
            allowance,
            "sources cut to fit the context budget"
        );
        Ok((docs, tokens))
    }

    /// The LLM's relevance check over `papers` (see [`screen`]); returns its
    /// verdict and the tokens it cost. It reads the sources the answer would
    /// be built from, as the answer prompt shows them ([`Self::fit_sources`]):
    /// a benchmark named only in an abstract's last sentence still counts.
    async fn screen(&self, llm: &LlmClient, question: &str, papers: &[Paper]) -> Result<(Screened, usize), AskError> {
        let system_tokens = budget::count_tokens(screen::SYSTEM);
        let room = self.config.context_tokens.saturating_sub(system_tokens);
        let (docs, tokens) = self.fit_sources(question, papers, room, |d| self.prompts.screen(question, d))?;
        let n = docs.len();
        let user = self.prompts.screen(question, &docs)?;
        let span = tracing::info_span!("screen", offered = n);
        let completion = match llm
            .stream_chat(screen::SYSTEM, &user, &mut |_| {})
            .instrument(span)
            .await
        {
            Ok(c) => c,
            // The check is advice: a reply that went wrong in itself (a
            // reasoning model that thought past `llm.max_tokens`, a broken
            // stream) leaves the answer to go on without it. A service that
            // refuses or cannot be reached fails the answer now, as the
            // answer call would.
            Err(
                error @ (LlmError::OnlyReasoned { .. }
                | LlmError::Empty { .. }
                | LlmError::Malformed { .. }
                | LlmError::StreamBroken { .. }
                | LlmError::ServerFailed { .. }),
            ) => {
                tracing::warn!(error = %error, "the model's relevance check failed; going on without it");
                return Ok((Screened::Unclear, tokens + system_tokens));
            }
            Err(error) => {
                return Err(AskError::Llm {
                    error,
                    partial: String::new(),
                });
            }
        };
        let completion_tokens = budget::count_tokens(&completion.text) + budget::count_tokens(&completion.reasoning);
        let m = crate::metrics::metrics();
        m.tokens("prompt", tokens + system_tokens);
        m.tokens("completion", completion_tokens);
        let verdict = screen::parse_reply(&completion.text, n);
        if verdict == Screened::Unclear {
            tracing::warn!(
                reply = %completion.text.chars().take(80).collect::<String>(),
                "the model's relevance check replied in a form we cannot read; going on without it"
            );
        }
        Ok((verdict, tokens + system_tokens + completion_tokens))
    }

    /// The answer that declines; with no papers at all to show, it says
    /// which filter left none (a `--since` span past the newest paper).
    fn not_covered(&self, mut nearest: Vec<Paper>, filter: &SearchFilter, on_text: &mut Sink<'_>) -> Answer {
        nearest.truncate(3);
        let text = if nearest.is_empty() {
            match (filter.published_since, filter.published_until, &filter.only) {
                (Some(since), None, _) => format!(
                    "No paper in the library published since {} matches this question; a longer span may find some.",
                    since.format("%Y-%m-%d")
                ),
                (since, Some(until), _) => format!(
                    "No paper in the library published {}until {} matches this question.",
                    since.map_or(String::new(), |s| format!("from {} ", s.format("%Y-%m-%d"))),
                    until.format("%Y-%m-%d")
                ),
                (None, None, Some(_)) => "None of the papers shared here matches this question.".to_string(),
                (None, None, None) => "The library has no papers that match this question.".to_string(),
            }
        } else {
            "I could not find a paper in the library that answers this, so I will not guess. \
             These are the nearest matches."
                .to_string()
        };
        on_text.text(&text);
        Answer {
            kind: AnswerKind::NotCovered,
            text,
            citations: vec![],
            related: nearest,
            dropped_citations: vec![],
            truncated: false,
            llm_tokens: 0,
            support: SupportStats::default(),
            hedged: false,
            screen: Screened::NotRun,
        }
    }

    async fn generate(
        &self,
        llm: &LlmClient,
        req: &AskRequest,
        question: &str,
        papers: Vec<Paper>,
        hedged: bool,
        on_text: &mut Sink<'_>,
    ) -> Result<Answer, AskError> {
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let system = self.prompts.system(&today, self.config.max_sentences)?;
        let history: Vec<TurnDoc> = req
            .history
            .iter()
            .map(|t| TurnDoc {
                question: t.question.clone(),
                answer: t.answer.clone(),
            })
            .collect();
        let system_tokens = budget::count_tokens(&system);
        let room = self.config.context_tokens.saturating_sub(system_tokens);
        let render = |d: &[SourceDoc]| {
            if history.is_empty() {
                self.prompts.answer(question, d, hedged)
            } else {
                self.prompts.followup(&history, question, d)
            }
        };
        let (docs, tokens) = self.fit_sources(question, &papers, room, render)?;
        let n = docs.len();
        let user = render(&docs)?;
        tracing::debug!(
            sources = n,
            offered = docs.len(),
            prompt_tokens = tokens + system_tokens,
            "prompt built"
        );

        let mut out = Validated {
            gate: CitationGate::new(n),
            shown: String::new(),
        };
        let check = SupportCheck::new(
            self.config.support.clone(),
            &self.lib.dense,
            &self.lib.bm25,
            &self.lib.sentences,
            &papers[..n],
        )
        .await
        .map_err(LibraryError::from)?;
        let mut support = SupportGate::new(check);
        let mut opening = Opening::default();
        // The model streams into a channel; sentences are checked (which
        // embeds them) as they complete, while the model keeps writing.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
        let (system_ref, user_ref) = (&system, &user);
        let produce = async move {
            llm.stream_chat(system_ref, user_ref, &mut |delta| {
                let _ = tx.send(match delta {
                    Delta::Text(t) => Some(t.to_string()),
                    Delta::Reasoning(_) => None,
                });
            })
            .await
        };
        let consume = async {
            while let Some(event) = rx.recv().await {
                match event {
                    Some(t) => {
                        if let Some(released) = opening.feed(&t) {
                            let checked = support.push(&released).await?;
                            out.push(&checked, on_text);
                        }
                    }
                    None => on_text.thinking(),
                }
            }
            Ok::<_, crate::embed::EmbedError>(())
        };
        let (result, consumed) = tokio::join!(produce, consume);
        consumed.map_err(LibraryError::from)?;
        crate::metrics::metrics().tokens("prompt", tokens + system_tokens);
        let completion = match result {
            Ok(c) => {
                // Reasoning costs tokens too, shown or not.
                let completion_tokens = budget::count_tokens(&c.text) + budget::count_tokens(&c.reasoning);
                crate::metrics::metrics().tokens("completion", completion_tokens);
                c
            }
            Err(error) => {
                tracing::warn!(error = %error, "LLM answer failed");
                return Err(AskError::Llm {
                    error,
                    partial: out.shown,
                });
            }
        };
        if opening.is_not_covered() {
            tracing::info!("the model says the sources do not cover the question");
            return Ok(self.not_covered(papers, &req.filter, on_text));
        }
        if let Some(rest) = opening.finish() {
            let checked = support.push(&rest).await.map_err(LibraryError::from)?;
            out.push(&checked, on_text);
        }
        let tail = support.finish().await.map_err(LibraryError::from)?;
        out.push(&tail, on_text);
        out.finish(on_text);
        let mut support = support.stats;
        support.placeholders += out.gate.placeholders();
        let Validated { gate, shown } = out;
        if !gate.dropped().is_empty() {
            tracing::warn!(
                dropped = ?gate.dropped(),
                given = n,
                "the model cited sources it was not given; removed"
            );
        }
        let used = &papers[..n];
        let citations: Vec<Cited> = gate
            .cited_sources()
            .iter()
            .enumerate()
            .map(|(i, &src)| Cited {
                n: i as u32 + 1,
                paper: used[src as usize - 1].clone(),
            })
            .collect();
        let related = if citations.is_empty() { used.to_vec() } else { vec![] };
        if shown.trim().is_empty() {
            return Err(AskError::Llm {
                error: LlmError::Empty {
                    finish: "only invalid citations".into(),
                },
                partial: shown,
            });
        }
        Ok(Answer {
            kind: AnswerKind::Generated {
                model: llm.model().to_string(),
            },
            text: shown,
            citations,
            related,
            dropped_citations: gate.dropped().to_vec(),
            truncated: completion.truncated,
            support,
            hedged: hedged && req.history.is_empty(),
            screen: Screened::NotRun,
            llm_tokens: tokens
                + system_tokens
                + budget::count_tokens(&completion.text)
                + budget::count_tokens(&completion.reasoning),
        })
    }

    /// Quotes from the sources; `hedged` (the question model is unsure the
    /// library answers it) says first that they are the nearest papers.
    async fn extract(
        &self,
        question: &str,
        papers: Vec<Paper>,
        likely: &[bool],
        hedged: bool,
        on_text: &mut Sink<'_>,
    ) -> Result<Answer, AskError> {
        let top: Vec<&Paper> = papers.iter().collect();
        let quotes = extractive::select(&self.lib.dense, &self.lib.sentences, question, &top, likely)
            .await
            .map_err(LibraryError::from)?;
        let mut order: Vec<usize> = Vec::new();
        let mut text = String::new();
        if hedged && !quotes.is_empty() {
            text.push_str(HEDGE);
            on_text.text(HEDGE);
        }
        for q in &quotes {
            let n = match order.iter().position(|&s| s == q.source) {
                Some(i) => i + 1,
                None => {
                    order.push(q.source);
                    order.len()
                }
            };
            let line = format!("- {} [{n}]\n", q.sentence);
            on_text.text(&line);
            text.push_str(&line);
        }
        let citations = order
            .iter()
            .enumerate()
            .map(|(i, &s)| Cited {
                n: i as u32 + 1,
                paper: top[s].clone(),
            })
            .collect();
        // Quotes are the sources' own sentences: supported by construction.
        let support = SupportStats {
            sentences: quotes.len(),
            supported: quotes.len(),
            citations_kept: quotes.len(),
            ..SupportStats::default()
        };
        Ok(Answer {
            kind: AnswerKind::Extractive,
            text,
            citations,
            related: vec![],
            dropped_citations: vec![],
            truncated: false,
            llm_tokens: 0,
            support,
            hedged: hedged && !quotes.is_empty(),
            screen: Screened::NotRun,
        })
    }
}

/// Where progress goes: text as it is validated, and "thinking" once.
struct Sink<'a> {
    f: &'a mut (dyn FnMut(Progress<'_>) + Send),
    thinking: bool,
}

impl Sink<'_> {
    fn text(&mut self, t: &str) {
        (self.f)(Progress::Text(t));
    }

    fn thinking(&mut self) {
        if !self.thinking {
            self.thinking = true;
            (self.f)(Progress::Thinking);
        }
    }
}

/// Streamed text after the citation gate: what the user has seen.
struct Validated {
    gate: CitationGate,
    shown: String,
}

impl Validated {
    fn push(&mut self, piece: &str, on_text: &mut Sink<'_>) {
        let safe = self.gate.push(piece);
        self.show(safe, on_text);
    }

    fn finish(&mut self, on_text: &mut Sink<'_>) {
        let tail = self.gate.finish();
        self.show(tail, on_text);
    }

    fn show(&mut self, safe: String, on_text: &mut Sink<'_>) {
        if !safe.is_empty() {
            on_text.text(&safe);
            self.shown.push_str(&safe);
        }
    }
}

/// Holds back the start of a streamed answer until it is clear whether the
/// model replied with the [`NOT_COVERED`] marker, so the marker is never shown.
#[derive(Debug, Default)]
struct Opening {
    held: String,
    decided: Option<bool>,
}

impl Opening {
    /// Text that may now go on, if any.
    fn feed(&mut self, delta: &str) -> Option<String> {
        match self.decided {
            Some(true) => None,
            Some(false) => Some(delta.to_string()),
            None => {
                self.held.push_str(delta);
                let t = self.held.trim_start().trim_start_matches(['`', '"', '*']);
                if t.len() >= NOT_COVERED.len() {
                    let covered = !t.starts_with(NOT_COVERED);
                    self.decided = Some(!covered);
                    covered.then(|| std::mem::take(&mut self.held))
                } else if !NOT_COVERED.starts_with(t) {
                    self.decided = Some(false);
                    Some(std::mem::take(&mut self.held))
                } else {
                    None
                }
            }
        }
    }

    fn is_not_covered(&self) -> bool {
        self.decided == Some(true) || {
            let t = self.held.trim().trim_matches(['`', '"', '*', '.']);
            !t.is_empty() && t == NOT_COVERED
        }
    }

    /// Whatever is still held at the end (a short answer).
    fn finish(&mut self) -> Option<String> {
        (!self.held.is_empty()).then(|| std::mem::take(&mut self.held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_hides_the_not_covered_marker_only() {
        let mut o = Opening::default();
        assert_eq!(o.feed("NOT_"), None);
        assert_eq!(o.feed("IN_SOURCES"), None);
        assert!(o.is_not_covered());

        let mut o = Opening::default();
        assert_eq!(o.feed("NO"), None);
        assert_eq!(o.feed("NE of the"), Some("NONE of the".into()));
        assert_eq!(o.feed(" papers"), Some(" papers".into()));
        assert!(!o.is_not_covered());

        let mut o = Opening::default();
        assert_eq!(o.feed("NOT"), None);
        assert!(!o.is_not_covered());
        assert_eq!(o.finish(), Some("NOT".into()));
    }
}
