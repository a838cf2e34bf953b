//! Counters and latency histograms for `/metrics` (Prometheus text format).
//! One process-wide set, like a default registry: every layer records into
//! it without threading a handle through.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `answered`, `extractive`, `no_source` or `error`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    /// `prompt` or `completion`.
    pub direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Verdict {
    /// `relevant`, `none` or `unclear` (a reply that could not be read: a
    /// model too small for the check shows here).
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IngestKind {
    /// `new`, `updated`, `unchanged` or `skipped`.
    pub kind: String,
}

pub struct Metrics {
    registry: Registry,
    pub questions: Counter,
    pub answers: Family<Outcome, Counter>,
    pub retrieval_seconds: Histogram,
    pub llm_first_token_seconds: Histogram,
    pub answer_seconds: Histogram,
    /// Estimated with cl100k (streams do not report usage everywhere).
    pub llm_tokens: Family<Direction, Counter>,
    /// The LLM's relevance checks by verdict.
    pub screens: Family<Verdict, Counter>,
    pub ingested: Family<IngestKind, Counter>,
    pub digest_posts: Counter,
    pub answer_cache_hits: Counter,
    /// Times Discord's rate limits made the bot wait (429s and pre-emptive waits).
    pub discord_ratelimited: Counter,
}

fn latency() -> Histogram {
    Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0])
}

pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let mut registry = Registry::with_prefix("paperbot");
        let m = Metrics {
            questions: Counter::default(),
            answers: Family::default(),
            retrieval_seconds: latency(),
            llm_first_token_seconds: latency(),
            answer_seconds: latency(),
            llm_tokens: Family::default(),
            screens: Family::default(),
            ingested: Family::default(),
            digest_posts: Counter::default(),
            answer_cache_hits: Counter::default(),
            discord_ratelimited: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("questions", "Questions asked", m.questions.clone());
        registry.register("answers", "Answers by outcome", m.answers.clone());
        registry.register("retrieval_seconds", "Retrieval latency", m.retrieval_seconds.clone());
        registry.register(
            "llm_first_token_seconds",
            "Time to the LLM's first text",
            m.llm_first_token_seconds.clone(),
        );
        registry.register("answer_seconds", "Whole answer latency", m.answer_seconds.clone());
        registry.register("llm_tokens", "LLM tokens (cl100k estimate)", m.llm_tokens.clone());
        registry.register(
            "relevance_checks",
            "The LLM's relevance checks before answering, by verdict",
            m.screens.clone(),
        );
        registry.register("ingested_papers", "Papers written by ingest", m.ingested.clone());
        registry.register("digest_posts", "Digests posted", m.digest_posts.clone());
        registry.register(
            "discord_ratelimited",
            "Waits imposed by Discord rate limits (429s and pre-emptive)",
            m.discord_ratelimited.clone(),
        );
        registry.register(
            "answer_cache_hits",
            "Answers served from the cache",
            m.answer_cache_hits.clone(),
        );
        Metrics { registry, ..m }
    })
}

impl Metrics {
    pub fn answer(&self, outcome: &str) {
        self.answers
            .get_or_create(&Outcome {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn screen(&self, verdict: &str) {
        self.screens
            .get_or_create(&Verdict {
                verdict: verdict.to_string(),
            })
            .inc();
    }

    pub fn tokens(&self, direction: &str, n: usize) {
        self.llm_tokens
            .get_or_create(&Direction {
                direction: direction.to_string(),
            })
            .inc_by(n as u64);
    }

    /// Papers ingest wrote or passed over, by kind (`new`, `updated`, …).
    pub fn ingested(&self, kind: &str, n: usize) {
        self.ingested
            .get_or_create(&IngestKind { kind: kind.into() })
            .inc_by(n as u64);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
