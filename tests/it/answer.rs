//! Answers end to end: the sample corpus in embedded Qdrant, real retrieval,
//! and the real async-openai client streaming from a local
//! OpenAI-compatible server scripted per test (good answers, invented
//! citations, 429/5xx, cut and malformed streams, slow first tokens).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::fake_llm::{FakeLlm, Reply, Seen};
use paperbot::answer::llm::{LlmClient, LlmConfig, LlmError};
use paperbot::answer::prompts::Prompts;
use paperbot::answer::screen::{self, ScreenMode, Screened};
use paperbot::answer::support::SupportMode;
use paperbot::answer::{Answer, AnswerConfig, AnswerKind, Answerer, AskError, AskRequest, Progress, Turn};
use paperbot::library::Library;
use paperbot::retrieve::SearchConfig;
use paperbot::secret::Secret;
use paperbot::store::edge::EdgeStore;
use tokio::sync::OnceCell;

/// The sample corpus, embedded once for every test in this file.
async fn library() -> Arc<Library<EdgeStore>> {
    static LIB: OnceCell<(tempfile::TempDir, Arc<Library<EdgeStore>>)> = OnceCell::const_new();
    LIB.get_or_init(|| async {
        let tmp = tempfile::tempdir().unwrap();
        let lib = crate::support::sample_library(EdgeStore::open(tmp.path()).unwrap(), None).await;
        (tmp, Arc::new(lib))
    })
    .await
    .1
    .clone()
}

fn llm_config(base_url: Option<String>) -> LlmConfig {
    LlmConfig {
        base_url,
        model: "fake-model".into(),
        first_token_timeout_secs: 5.0,
        idle_timeout_secs: 2.0,
        deadline_secs: 20.0,
        max_attempts: 3,
        retry_base_ms: 50,
        ..Default::default()
    }
}

async fn answerer(llm: Option<&FakeLlm>, tweak: impl FnOnce(&mut LlmConfig, &mut AnswerConfig)) -> Answerer<EdgeStore> {
    let mut lc = llm_config(llm.map(FakeLlm::base_url));
    let mut ac = AnswerConfig::default();
    tweak(&mut lc, &mut ac);
    let key = Secret::from("sk-test-key".to_string());
    let client = LlmClient::from_config(&lc, Some(&key)).unwrap();
    Answerer::new(
        library().await,
        Prompts::builtin().unwrap(),
        client,
        ac,
        SearchConfig::default(),
    )
}

/// Asks and returns the answer plus everything streamed.
async fn ask(a: &Answerer<EdgeStore>, req: AskRequest) -> (Result<Answer, AskError>, String) {
    let (result, streamed, _) = ask_watching(a, req).await;
    (result, streamed)
}

/// Like [`ask`], also saying whether "thinking" was reported before any text.
async fn ask_watching(a: &Answerer<EdgeStore>, req: AskRequest) -> (Result<Answer, AskError>, String, bool) {
    let mut streamed = String::new();
    let mut thinking_first = false;
    let result = a
        .ask(&req, &mut |p| match p {
            Progress::Text(t) => streamed.push_str(t),
            Progress::Thinking => thinking_first |= streamed.is_empty(),
        })
        .await;
    (result, streamed, thinking_first)
}

fn question(q: &str) -> AskRequest {
    AskRequest {
        question: q.into(),
        ..Default::default()
    }
}

/// The LLM error inside an ask error (panics on any other kind).
fn llm_error(err: &AskError) -> &LlmError {
    match err {
        AskError::Llm { error, .. } => error,
        other => panic!("expected an LLM error, got {other:?}"),
    }
}

const REWARD: &str = "which papers study reward hacking?";

/// The title the prompt gave under number `n`.
fn source_title(seen: &Seen, n: u32) -> String {
    seen.sources()
        .into_iter()
        .find(|(k, _)| *k == n)
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("no source [{n}] in the prompt:\n{}", seen.user_prompt()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_answer_streams_and_every_citation_maps_to_a_given_paper() {
    let llm = FakeLlm::start(vec![Reply::text(&[
        "Reward hacking appears when a policy over-optimises the reward model [",
        "2]. Distillation has a teacher-hacking analogue [1",
        "], and both are discussed together [2, 1].",
    ])])
    .await;
    // Citations and streaming only: the support check has its own tests.
    let a = answerer(Some(&llm), |_, ac| ac.support.mode = SupportMode::Off).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let answer = result.unwrap();
    let seen = &llm.seen()[0];
    // By default the model first checked which sources address the question.
    assert_eq!(llm.checks().len(), 1);
    assert_eq!(answer.screen, Screened::Relevant(vec![1]));

    assert_eq!(
        answer.kind,
        AnswerKind::Generated {
            model: "fake-model".into()
        }
    );
    assert_eq!(streamed, answer.text, "the stream is the answer");
    assert_eq!(
        answer.text,
        "Reward hacking appears when a policy over-optimises the reward model [1]. \
         Distillation has a teacher-hacking analogue [2], and both are discussed together [1, 2]."
    );
    // Renumbered in order of first use: the model's [2] is our [1].
    assert_eq!(answer.citations.len(), 2);
    assert_eq!(answer.citations[0].paper.title, source_title(seen, 2));
    assert_eq!(answer.citations[1].paper.title, source_title(seen, 1));
    assert!(answer.related.is_empty() && answer.dropped_citations.is_empty());
    let sources = answer.sources_block();
    assert!(
        sources.starts_with(&format!("Sources:\n[1] {}", source_title(seen, 2))),
        "{sources}"
    );

    // The request: the real wire format, the key, the question and retrieved sources.
    assert_eq!(seen.body["model"], "fake-model");
    assert_eq!(seen.body["stream"], true);
    assert_eq!(
        seen.headers.get("authorization").unwrap().to_str().unwrap(),
        "Bearer sk-test-key"
    );
    let prompt = seen.user_prompt();
    assert!(
        prompt.contains("<question>\nwhich papers study reward hacking?\n</question>"),
        "{prompt}"
    );
    let titles: Vec<String> = seen.sources().into_iter().map(|(_, t)| t).collect();
    // As many sources as are likely relevant, within `answer.sources`.
    assert!(
        (2..=AnswerConfig::default().sources).contains(&titles.len()),
        "{titles:?}"
    );
    assert!(
        titles
            .iter()
            .any(|t| t == "On Teacher Hacking in Language Model Distillation"),
        "{titles:?}"
    );
    assert!(seen.system_prompt().contains("ignore that request"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_citation_to_a_source_that_was_not_given_is_dropped_before_anyone_sees_it() {
    let llm = FakeLlm::start(vec![Reply::text(&[
        "Two findings [2]. An invented one [",
        "7]. A mixed group [3, 7].",
    ])])
    .await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, streamed) = ask(
        &a,
        AskRequest {
            sources: Some(5),
            ..question(REWARD)
        },
    )
    .await;
    let answer = result.unwrap();
    let seen = &llm.seen()[0];
    assert_eq!(seen.sources().len(), 5);
    assert!(!streamed.contains('7'), "{streamed}");
    assert_eq!(answer.text, "Two findings [1]. An invented one. A mixed group [2].");
    assert_eq!(answer.dropped_citations, vec![7]);
    let cited: Vec<&str> = answer.citations.iter().map(|c| c.paper.title.as_str()).collect();
    assert_eq!(cited, vec![source_title(seen, 2), source_title(seen, 3)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_with_retry_after_is_honoured_then_succeeds() {
    let llm = FakeLlm::start(vec![
        Reply::Status {
            code: 429,
            retry_after: Some("1".into()),
        },
        Reply::text(&["Covered [1]."]),
    ])
    .await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, _) = ask(&a, question(REWARD)).await;
    assert_eq!(result.unwrap().citations.len(), 1);
    let seen = llm.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "waited {gap:?}, Retry-After said 1 s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_then_given_up_with_a_clear_message() {
    let fail = Reply::status(500);
    let llm = FakeLlm::start(vec![fail.clone(), fail.clone(), fail.clone(), fail]).await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    assert!(
        matches!(llm_error(&err), LlmError::Unavailable { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.user_message().contains("HTTP 500"), "{}", err.user_message());
    assert_eq!(llm.seen().len(), 3, "max_attempts = 3");
    assert!(streamed.is_empty());
    // Backoff grows: the second gap is longer than the first (50 ms, then 100 ms, jittered).
    let s = llm.seen();
    assert!(s[1].at - s[0].at >= Duration::from_millis(50));
    assert!(s[2].at - s[1].at >= Duration::from_millis(100));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_beyond_the_deadline_fails_at_once() {
    let llm = FakeLlm::start(vec![Reply::Status {
        code: 429,
        retry_after: Some("3600".into()),
    }])
    .await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let started = Instant::now();
    let (result, _) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    assert!(matches!(llm_error(&err), LlmError::RateLimited { .. }), "{err:?}");
    assert!(err.user_message().contains("rate-limiting"));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_request_is_not_retried() {
    let llm = FakeLlm::start(vec![Reply::status(401)]).await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, _) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    assert!(
        matches!(llm_error(&err), LlmError::Rejected { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.user_message().contains("API key"));
    assert_eq!(llm.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_cut_mid_way_is_an_error_and_only_valid_text_was_shown() {
    let llm = FakeLlm::start(vec![Reply::Cut {
        pieces: vec!["Partial answer [1]. More [9".into(), "]".into(), " and then".into()],
    }])
    .await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    let AskError::Llm { error, partial } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(error, LlmError::StreamBroken { .. }), "{error:?}");
    assert_eq!(partial, &streamed);
    // The sentence being written when the stream broke is held back.
    assert_eq!(streamed, "Partial answer [1].");
    assert_eq!(err.user_message(), "The answer broke off mid-way. Please ask again.");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_chunk_is_a_clear_error() {
    let llm = FakeLlm::start(vec![Reply::Malformed {
        pieces: vec!["Fine so far [1].".into()],
    }])
    .await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, _) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    assert!(matches!(llm_error(&err), LlmError::Malformed { .. }), "{err:?}");
    assert!(err.user_message().contains("garbled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_token_slower_than_the_timeout_times_out() {
    let llm = FakeLlm::start(vec![Reply::Stream {
        pieces: vec!["too late [1].".into()],
        finish: "stop",
        first_delay: Duration::from_secs(30),
        gap: Duration::ZERO,
    }])
    .await;
    let a = answerer(Some(&llm), |l, _| l.first_token_timeout_secs = 0.5).await;
    let started = Instant::now();
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    assert!(matches!(llm_error(&err), LlmError::Timeout { .. }), "{err:?}");
    // Far sooner than the first token (retrieval comes first and is slower on a busy machine).
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    assert!(streamed.is_empty());
    assert!(err.user_message().contains("did not answer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_answer_is_an_error_not_a_silent_reply() {
    let llm = FakeLlm::start(vec![
        Reply::text(&["   "]),
        Reply::text(&["[40]"]), // only an invalid citation: nothing left to show
    ])
    .await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    for _ in 0..2 {
        let (result, _) = ask(&a, question(REWARD)).await;
        let err = result.unwrap_err();
        assert!(
            matches!(
                &err,
                AskError::Llm {
                    error: LlmError::Empty { .. },
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_endpoint_says_so() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lc = llm_config(Some(format!("http://127.0.0.1:{port}/v1")));
    let client = LlmClient::from_config(&lc, None).unwrap();
    let a = Answerer::new(
        library().await,
        Prompts::builtin().unwrap(),
        client,
        AnswerConfig::default(),
        SearchConfig::default(),
    );
    let (result, _) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    assert!(matches!(llm_error(&err), LlmError::Unreachable { .. }), "{err:?}");
    assert!(err.user_message().contains("llm.base_url"));
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_model_says_the_sources_do_not_cover_it_we_say_so_and_list_the_nearest() {
    let llm = FakeLlm::start(vec![Reply::text(&["NOT_IN", "_SOURCES"])]).await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let answer = result.unwrap();
    assert_eq!(answer.kind, AnswerKind::NotCovered);
    assert!(!streamed.contains("NOT_IN"), "{streamed}");
    assert!(answer.citations.is_empty() && !answer.related.is_empty());
    assert!(answer.sources_block().contains("Nearest papers"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_that_cites_nothing_lists_its_papers_as_related() {
    let llm = FakeLlm::start(vec![Reply::text(&["Several papers touch on this."])]).await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, _) = ask(&a, question(REWARD)).await;
    let answer = result.unwrap();
    assert!(answer.citations.is_empty());
    assert_eq!(answer.related.len(), llm.seen()[0].sources().len());
    assert!(
        answer
            .sources_block()
            .starts_with("Related papers (used to answer, not cited):\n- ")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unanswerable_question_never_reaches_the_model() {
    let llm = FakeLlm::start(vec![]).await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, streamed) = ask(&a, question("what is a good recipe for sourdough bread?")).await;
    let answer = result.unwrap();
    assert_eq!(answer.kind, AnswerKind::NotCovered);
    assert!(llm.seen().is_empty());
    assert!(streamed.contains("could not find"), "{streamed}");
    assert!(!answer.related.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_carries_the_earlier_turn_and_its_papers() {
    let lib = library().await;
    let all = crate::support::sample_papers().await;
    let earlier = all
        .iter()
        .find(|p| p.title == "On Teacher Hacking in Language Model Distillation")
        .unwrap();
    let llm = FakeLlm::start(vec![Reply::text(&["It uses online data generation [1]."])]).await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let req = AskRequest {
        question: "what mitigates it?".into(),
        history: vec![Turn {
            question: "what is teacher hacking?".into(),
            answer: "Teacher hacking is when a student over-fits an imperfect teacher [1].".into(),
            cited: vec![earlier.id.clone()],
        }],
        ..Default::default()
    };
    let (result, _) = ask(&a, req).await;
    let answer = result.unwrap();
    let seen = &llm.seen()[0];
    let prompt = seen.user_prompt();
    assert!(
        prompt.contains("<previous_turns>") && prompt.contains("User: what is teacher hacking?"),
        "{prompt}"
    );
    assert_eq!(
        source_title(seen, 1),
        earlier.title,
        "the paper already cited comes first"
    );
    assert_eq!(answer.citations[0].paper.id, earlier.id);
    drop(lib);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_context_budget_drops_whole_sources_by_rank() {
    let llm = FakeLlm::start(vec![Reply::text(&["A [1]."]), Reply::text(&["B [1]."])]).await;
    let wide = answerer(Some(&llm), |_, _| {}).await;
    let narrow = answerer(Some(&llm), |_, a| a.context_tokens = 1_200).await;
    ask(&wide, question(REWARD)).await.0.unwrap();
    ask(&narrow, question(REWARD)).await.0.unwrap();
    let seen = llm.seen();
    let (all, few) = (seen[0].sources(), seen[1].sources());
    assert!(
        few.len() < all.len() && !few.is_empty(),
        "{} vs {}",
        few.len(),
        all.len()
    );
    assert_eq!(
        &all[..few.len()],
        &few[..],
        "the best-ranked sources are kept, in order"
    );
    let prompt = seen[1].user_prompt();
    assert_eq!(
        prompt.matches("<source n=").count(),
        prompt.matches("</source>").count()
    );
    let tokens = paperbot::answer::budget::count_tokens(&prompt)
        + paperbot::answer::budget::count_tokens(&seen[1].system_prompt());
    assert!(tokens <= 1_200, "{tokens} tokens");
}

/// Between the two: every source still reaches the model, each abstract
/// cut to the sentences about the question rather than a source dropped.
#[tokio::test(flavor = "multi_thread")]
async fn a_tight_budget_cuts_abstracts_before_it_drops_a_source() {
    let llm = FakeLlm::start(vec![Reply::text(&["A [1]."]), Reply::text(&["B [1]."])]).await;
    let wide = answerer(Some(&llm), |_, a| a.context_tokens = 100_000).await;
    ask(&wide, question(REWARD)).await.0.unwrap();
    let whole = llm.seen()[0].user_prompt();
    assert!(!whole.contains("… "), "whole abstracts: {whole}");
    let whole_tokens = paperbot::answer::budget::count_tokens(&whole);
    let budget = whole_tokens * 3 / 4 + paperbot::answer::budget::count_tokens(&llm.seen()[0].system_prompt());
    let tight = answerer(Some(&llm), |_, a| a.context_tokens = budget).await;
    ask(&tight, question(REWARD)).await.0.unwrap();
    let seen = llm.seen();
    assert!(seen[0].sources().len() >= 4, "{:?}", seen[0].sources());
    assert_eq!(
        seen[1].sources(),
        seen[0].sources(),
        "the same sources, in the same order"
    );
    let cut = seen[1].user_prompt();
    assert!(cut.contains("… "), "abstracts cut, the cut marked: {cut}");
    assert!(
        paperbot::answer::budget::count_tokens(&cut) + paperbot::answer::budget::count_tokens(&seen[1].system_prompt())
            <= budget
    );
    // What is kept is what the question is about.
    assert_eq!(
        cut.matches("reward hacking").count(),
        whole.matches("reward hacking").count(),
        "{cut}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_mode_quotes_abstract_sentences_each_cited() {
    let a = answerer(None, |_, _| {}).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let answer = result.unwrap();
    assert_eq!(answer.kind, AnswerKind::Extractive);
    assert_eq!(streamed, answer.text);
    let lines: Vec<&str> = answer.text.lines().collect();
    assert!(!lines.is_empty() && lines.len() <= 8, "{lines:?}");
    for line in &lines {
        let (sentence, n) = line.strip_prefix("- ").unwrap().rsplit_once(" [").unwrap();
        let n: u32 = n.trim_end_matches(']').parse().unwrap();
        let cited = answer.citations.iter().find(|c| c.n == n).expect("cited");
        assert!(
            cited.paper.abstract_text.contains(sentence),
            "`{sentence}` is quoted from [{n}]"
        );
    }
    assert!(answer.text.to_lowercase().contains("reward hacking"), "{}", answer.text);
    // Only sentences about the question are quoted, one per source when
    // there are many sources.
    assert!(lines.iter().all(|l| l.to_lowercase().contains("reward")), "{lines:?}");
}

/// Offline, a "which papers…" question quotes every source the paper model
/// finds likely relevant (here more than the eight quotes an answer used to
/// stop at), and a question about one paper quotes no unlikely one.
#[tokio::test(flavor = "multi_thread")]
async fn offline_answers_quote_every_likely_source_and_no_unlikely_one() {
    use paperbot::answer::extractive::LIST_AT;
    let a = answerer(None, |_, _| {}).await;
    let likely = |q: &'static str| {
        let a = &a;
        async move {
            let opts = a.search_config().options(paperbot::retrieve::relevance::CANDIDATES);
            let found = paperbot::retrieve::search_with_relevance(a.library(), q, &opts)
                .await
                .unwrap();
            let mut titles: Vec<String> = found
                .hits
                .iter()
                .zip(&found.judged)
                .enumerate()
                .filter(|(i, (_, j))| *i == 0 || j.probability >= LIST_AT)
                .map(|(_, (h, _))| h.stored.paper.title.clone())
                .collect();
            titles.sort();
            titles
        }
    };
    let cited = |answer: &Answer| {
        let mut t: Vec<String> = answer.citations.iter().map(|c| c.paper.title.clone()).collect();
        t.sort();
        t
    };

    let many = "which papers study process reward models or step-level verification of reasoning?";
    let answer = ask(&a, question(many)).await.0.unwrap();
    let want = likely(many).await;
    assert!(want.len() > 8, "{want:?}");
    assert_eq!(cited(&answer), want);
    for line in answer.text.lines() {
        let (sentence, n) = line.strip_prefix("- ").unwrap().rsplit_once(" [").unwrap();
        let n: u32 = n.trim_end_matches(']').parse().unwrap();
        let paper = &answer.citations.iter().find(|c| c.n == n).unwrap().paper;
        assert!(
            paper.abstract_text.contains(sentence),
            "`{sentence}` is quoted from [{n}]"
        );
    }

    let one = "how can you brighten underexposed photos without collecting paired dark/normal images?";
    let answer = ask(&a, question(one)).await.0.unwrap();
    assert_eq!(
        cited(&answer),
        vec!["Troublemaker Learning for Low-Light Image Enhancement".to_string()]
    );
    assert_eq!(cited(&answer), likely(one).await);
}

/// A `--since` span past the newest paper leaves nothing to show: the
/// answer says the span, not that the library has nothing on the topic.
#[tokio::test(flavor = "multi_thread")]
async fn a_span_with_no_papers_is_named_in_the_answer() {
    let a = answerer(None, |_, _| {}).await;
    let mut req = question(REWARD);
    let now = chrono::Utc::now();
    req.filter.published_since = Some(now);
    let answer = ask(&a, req).await.0.unwrap();
    assert_eq!(answer.kind, AnswerKind::NotCovered);
    assert!(answer.related.is_empty() && answer.citations.is_empty());
    let day = now.format("%Y-%m-%d").to_string();
    assert!(
        answer.text.contains(&format!("published since {day}")),
        "{}",
        answer.text
    );
    // Without the span the same question is answered.
    let answer = ask(&a, question(REWARD)).await.0.unwrap();
    assert_eq!(answer.kind, AnswerKind::Extractive);
}

#[tokio::test(flavor = "multi_thread")]
async fn questions_are_checked_before_anything_runs() {
    let a = answerer(None, |_, _| {}).await;
    assert!(matches!(ask(&a, question("  ")).await.0, Err(AskError::EmptyQuestion)));
    let long = "why ".repeat(400);
    let err = ask(&a, question(&long)).await.0.unwrap_err();
    assert!(matches!(err, AskError::QuestionTooLong { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_first_question_is_answered_from_the_cache() {
    let llm = FakeLlm::start(vec![Reply::text(&["Cached answer [1]."]), Reply::text(&["Fresh [1]."])]).await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (first, _) = ask(&a, question(REWARD)).await;
    let first = first.unwrap();
    assert!(first.llm_tokens > 500, "{} tokens", first.llm_tokens);
    // Different spelling, same words: served from memory, streamed at once, free.
    let (second, streamed) = ask(&a, question("Which papers study REWARD hacking")).await;
    let second = second.unwrap();
    assert_eq!(second.text, first.text);
    assert_eq!(streamed, first.text);
    assert_eq!(second.llm_tokens, 0);
    assert_eq!(llm.seen().len(), 1, "the model was asked once");
    // A follow-up is never served from the cache.
    let follow = AskRequest {
        history: vec![Turn {
            question: REWARD.into(),
            answer: first.text.clone(),
            cited: vec![first.citations[0].paper.id.clone()],
        }],
        ..question(REWARD)
    };
    assert_eq!(ask(&a, follow).await.0.unwrap().text, "Fresh [1].");
    assert_eq!(llm.seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_think_blocks_never_reach_the_answer_the_gate_or_the_history() {
    // The block cites a source the answer does not, is cut across pieces at
    // awkward places, and the answer's own citation is renumbered as usual.
    let llm = FakeLlm::start(vec![
        Reply::text(&[
            "<thi",
            "nk>Source [3] looks relevant; maybe [2] ",
            "too.</th",
            "ink>\n\nReward models get over-optimised [2].",
        ]),
        Reply::text(&["A follow-up answer [1]."]),
    ])
    .await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, streamed, thinking_first) = ask_watching(&a, question(REWARD)).await;
    let answer = result.unwrap();
    assert!(thinking_first, "the model is said to be thinking before any text");
    assert_eq!(streamed, "Reward models get over-optimised [1].");
    assert_eq!(answer.text, streamed);
    assert_eq!(answer.citations.len(), 1, "only the answer's citation counts");
    assert_eq!(answer.citations[0].paper.title, source_title(&llm.seen()[0], 2));
    assert!(answer.dropped_citations.is_empty());
    let without_reasoning = answer.llm_tokens;

    // The follow-up prompt carries the answer, not the reasoning.
    let turn = Turn {
        question: REWARD.into(),
        answer: answer.text.clone(),
        cited: answer.citations.iter().map(|c| c.paper.id.clone()).collect(),
    };
    let (follow, _) = ask(
        &a,
        AskRequest {
            question: "and how is it measured?".into(),
            history: vec![turn],
            ..Default::default()
        },
    )
    .await;
    follow.unwrap();
    assert!(!llm.seen()[1].user_prompt().contains("looks relevant"));
    assert!(without_reasoning > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn reasoning_fields_are_set_aside_and_counted() {
    for field in ["reasoning_content", "reasoning"] {
        let llm = FakeLlm::start(vec![
            Reply::reasoning(
                field,
                &["Let me weigh [1] against [4]. ", "[4] is off topic."],
                &["Covered by [1]."],
            ),
            Reply::text(&["Covered by [1]."]),
        ])
        .await;
        let a = answerer(Some(&llm), |_, ac| ac.cache_minutes = 0).await;
        let (with, streamed, thinking_first) = ask_watching(&a, question(REWARD)).await;
        let with = with.unwrap();
        assert!(thinking_first, "{field}: thinking reported first");
        assert_eq!(streamed, "Covered by [1].", "{field}");
        assert_eq!(with.citations.len(), 1);
        let (without, _, _) = ask_watching(&a, question(REWARD)).await;
        assert!(
            with.llm_tokens > without.unwrap().llm_tokens,
            "{field}: reasoning tokens are counted"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_sent_mid_stream_is_a_clear_message() {
    let llm = FakeLlm::start(vec![Reply::ErrorMidStream {
        pieces: vec!["Partial text [1]".into()],
        message: "CUDA out of memory".into(),
    }])
    .await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, _) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    assert!(matches!(llm_error(&err), LlmError::ServerFailed { .. }), "{err:?}");
    let says = err.user_message();
    assert!(
        says.contains("failed while answering") && says.contains("CUDA out of memory"),
        "{says}"
    );
    assert!(!says.contains("garbled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_with_an_integer_code_is_reported_with_its_reason() {
    let llm = FakeLlm::start(vec![Reply::Refused {
        code: 400,
        message: "the request exceeds the available context size".into(),
    }])
    .await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, _) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    match llm_error(&err) {
        LlmError::Rejected { status, detail } => {
            assert_eq!(*status, 400);
            assert!(detail.contains("context size"), "{detail}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(llm.seen().len(), 1, "a 400 is not retried");
}

/// A reasoning model that thinks until its token limit and never answers.
fn only_thinking() -> Reply {
    Reply::Stream {
        pieces: vec!["<think>on and on".into()],
        finish: "length",
        first_delay: Duration::ZERO,
        gap: Duration::from_millis(5),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_only_thinks_says_so() {
    let llm = FakeLlm::start(vec![only_thinking()]).await;
    let a = answerer(Some(&llm), |_, _| {}).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    assert_eq!(streamed, "");
    let err = result.unwrap_err();
    assert!(matches!(llm_error(&err), LlmError::OnlyReasoned { .. }), "{err:?}");
    assert!(err.user_message().contains("llm.max_tokens"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_question_the_relevance_model_is_unsure_of_reminds_the_model_it_may_decline() {
    for (hedge_at, unsure) in [(1.0, true), (0.0, false)] {
        let llm = FakeLlm::start(vec![Reply::text(&["Reward hacking is studied in [1]."])]).await;
        let mut search = SearchConfig::default();
        search.relevance.hedge_at = hedge_at;
        let key = Secret::from("sk-test-key".to_string());
        // The reminder itself; the relevance check has its own tests.
        let config = AnswerConfig {
            screen: ScreenMode::Off,
            ..AnswerConfig::default()
        };
        let a = Answerer::new(
            library().await,
            Prompts::builtin().unwrap(),
            LlmClient::from_config(&llm_config(Some(llm.base_url())), Some(&key)).unwrap(),
            config,
            search,
        );
        let (result, _) = ask(&a, question(REWARD)).await;
        let answer = result.unwrap();
        assert_eq!(answer.hedged, unsure);
        let prompt = llm.seen()[0].user_prompt();
        assert_eq!(prompt.contains("reply only NOT_IN_SOURCES"), unsure, "{prompt}");
    }
}

/// An answerer whose relevance check runs before every first-turn answer.
async fn screening(llm: &FakeLlm) -> Answerer<EdgeStore> {
    answerer(Some(llm), |_, ac| ac.screen = ScreenMode::Always).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_models_relevance_check_can_decline_before_anything_is_streamed() {
    let llm = FakeLlm::start_scripting_checks(vec![Reply::text(&["NO", "NE"])]).await;
    let a = screening(&llm).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let answer = result.unwrap();
    assert_eq!(answer.kind, AnswerKind::NotCovered);
    assert_eq!(answer.screen, Screened::NoneRelevant);
    assert!(streamed.starts_with("I could not find"), "{streamed}");
    assert!(!answer.related.is_empty() && answer.citations.is_empty());
    assert!(answer.llm_tokens > 0);
    // One call only, and it was the check: its own system message, the
    // question, and numbered sources cut short.
    let seen = llm.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].system_prompt(), screen::SYSTEM);
    let prompt = seen[0].user_prompt();
    assert!(prompt.contains(REWARD) && prompt.contains("or with NONE"), "{prompt}");
    assert!(seen[0].sources().len() >= 2, "{prompt}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sources_the_check_names_come_first_and_the_answer_is_not_labelled_unsure() {
    let llm = FakeLlm::start_scripting_checks(vec![
        Reply::text(&["3"]),
        Reply::text(&["Reward hacking is studied in [1]."]),
    ])
    .await;
    let mut search = SearchConfig::default();
    search.relevance.hedge_at = 1.0; // unsure of everything
    let key = Secret::from("sk-test-key".to_string());
    let a = Answerer::new(
        library().await,
        Prompts::builtin().unwrap(),
        LlmClient::from_config(&llm_config(Some(llm.base_url())), Some(&key)).unwrap(),
        AnswerConfig {
            screen: ScreenMode::Unsure,
            ..AnswerConfig::default()
        },
        search,
    );
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let answer = result.unwrap();
    assert_eq!(answer.screen, Screened::Relevant(vec![3]));
    assert!(!answer.hedged);
    let seen = llm.seen();
    assert_eq!(seen.len(), 2);
    let named = source_title(&seen[0], 3);
    assert_eq!(source_title(&seen[1], 1), named);
    // The other sources are still offered after the named one, in their
    // order, as many as the answer's budget takes (abstracts are longer there).
    let titles = |s: &Seen| s.sources().into_iter().map(|(_, t)| t).collect::<Vec<_>>();
    let (checked, offered) = (titles(&seen[0]), titles(&seen[1]));
    let rest: Vec<&String> = checked.iter().filter(|t| **t != named).collect();
    assert!(offered.len() > 3, "{offered:?}");
    assert_eq!(offered[1..].iter().collect::<Vec<_>>(), rest[..offered.len() - 1]);
    // The model was told nothing about doubts: the check settled them.
    assert!(!seen[1].user_prompt().contains("reply only NOT_IN_SOURCES"));
    assert!(streamed.contains("[1]"), "{streamed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_reply_we_cannot_read_changes_nothing() {
    // Numbers that were never offered, then prose: both unreadable.
    for reply in ["4, 31", "The answer can be found in the sources."] {
        let llm =
            FakeLlm::start_scripting_checks(vec![Reply::text(&[reply]), Reply::text(&["It is studied in [1]."])]).await;
        let a = screening(&llm).await;
        let (result, _) = ask(&a, question(REWARD)).await;
        let answer = result.unwrap();
        assert_eq!(answer.screen, Screened::Unclear, "{reply}");
        assert!(matches!(answer.kind, AnswerKind::Generated { .. }));
        let seen = llm.seen();
        assert_eq!(seen.len(), 2);
        let order = |s: &Seen| s.sources().into_iter().map(|(_, t)| t).collect::<Vec<_>>();
        assert_eq!(order(&seen[1])[..3], order(&seen[0])[..3]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_check_is_an_llm_error_and_nothing_is_shown() {
    let llm = FakeLlm::start_scripting_checks(vec![Reply::status(400)]).await;
    let a = screening(&llm).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let err = result.unwrap_err();
    assert!(matches!(llm_error(&err), LlmError::Rejected { .. }), "{err:?}");
    assert_eq!(streamed, "");
    assert_eq!(
        llm.seen().len(),
        1,
        "a rejected check is not retried and no answer is asked for"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_that_goes_wrong_in_itself_is_skipped_but_a_refusing_service_fails_the_answer() {
    // A reasoning model that thinks past its token limit on the check.
    let llm = FakeLlm::start_scripting_checks(vec![
        only_thinking(),
        Reply::text(&["Reward hacking is studied in [1]."]),
    ])
    .await;
    let a = screening(&llm).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let answer = result.unwrap();
    assert_eq!(answer.screen, Screened::Unclear);
    assert!(matches!(answer.kind, AnswerKind::Generated { .. }));
    assert!(streamed.contains("[1]"), "{streamed}");

    // A check cut off mid-stream: the same.
    let llm = FakeLlm::start_scripting_checks(vec![
        Reply::Cut {
            pieces: vec!["2, ".into()],
        },
        Reply::text(&["Reward hacking is studied in [1]."]),
    ])
    .await;
    let a = screening(&llm).await;
    let (result, _) = ask(&a, question(REWARD)).await;
    assert_eq!(result.unwrap().screen, Screened::Unclear);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_is_not_checked_again() {
    let llm = FakeLlm::start_scripting_checks(vec![Reply::text(&["Its limits are discussed in [1]."])]).await;
    let a = screening(&llm).await;
    let req = AskRequest {
        question: "and its limitations?".into(),
        history: vec![Turn {
            question: REWARD.into(),
            answer: "Reward hacking is studied in [1].".into(),
            cited: vec![],
        }],
        ..Default::default()
    };
    let (result, _) = ask(&a, req).await;
    assert_eq!(result.unwrap().screen, Screened::NotRun);
    assert_eq!(llm.seen().len(), 1);
    assert_ne!(llm.seen()[0].system_prompt(), screen::SYSTEM);
}

/// A question just under `answer_at` (at least `check_at`) is left to the
/// LLM's relevance check when it runs: a relevant verdict answers it, NONE
/// or a reply it cannot read declines it as the cut would have, and without
/// the check (or under `check_at`) nothing is asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_question_just_under_the_cut_is_left_to_the_models_check() {
    let answerer_with = |llm: &FakeLlm, screen: ScreenMode, check_at: f32| {
        let mut search = SearchConfig::default();
        search.relevance.answer_at = 1.0; // under the cut, whatever it is
        search.relevance.check_at = check_at;
        let key = Secret::from("sk-test-key".to_string());
        let client = LlmClient::from_config(&llm_config(Some(llm.base_url())), Some(&key)).unwrap();
        async move {
            Answerer::new(
                library().await,
                Prompts::builtin().unwrap(),
                client,
                AnswerConfig {
                    screen,
                    ..AnswerConfig::default()
                },
                search,
            )
        }
    };
    // The check names a paper: answered, from the named paper first.
    let llm = FakeLlm::start_scripting_checks(vec![
        Reply::text(&["2"]),
        Reply::text(&["Reward hacking is studied in [1]."]),
    ])
    .await;
    let a = answerer_with(&llm, ScreenMode::Unsure, 0.0).await;
    let (result, streamed) = ask(&a, question(REWARD)).await;
    let answer = result.unwrap();
    assert!(matches!(answer.kind, AnswerKind::Generated { .. }), "{streamed}");
    assert_eq!(answer.screen, Screened::Relevant(vec![2]));
    assert_eq!(llm.seen().len(), 2);

    // NONE, or a reply it cannot read: declined, nothing generated.
    for reply in ["NONE", "I think the second one, maybe."] {
        let llm = FakeLlm::start_scripting_checks(vec![Reply::text(&[reply])]).await;
        let a = answerer_with(&llm, ScreenMode::Always, 0.0).await;
        let (result, streamed) = ask(&a, question(REWARD)).await;
        let answer = result.unwrap();
        assert_eq!(answer.kind, AnswerKind::NotCovered, "{reply}: {streamed}");
        assert!(streamed.starts_with("I could not find"), "{streamed}");
        assert_eq!(llm.seen().len(), 1, "only the check was asked");
        assert!(answer.llm_tokens > 0);
    }

    // No check configured, or far under the cut: declined without a call.
    for (screen, check_at) in [(ScreenMode::Off, 0.0), (ScreenMode::Always, 1.0)] {
        let llm = FakeLlm::start(vec![]).await;
        let a = answerer_with(&llm, screen, check_at).await;
        let (result, _) = ask(&a, question(REWARD)).await;
        assert_eq!(result.unwrap().kind, AnswerKind::NotCovered, "{screen:?}");
        assert!(llm.seen().is_empty(), "{screen:?}");
    }
}
