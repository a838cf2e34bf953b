//! The bot end to end: the real serenity client (gateway + REST with its
//! real ratelimiter) against a local fake Discord, answering from the sample
//! corpus in embedded Qdrant through a scripted local OpenAI-compatible LLM.

use std::sync::Arc;
use std::time::Duration;

use crate::support::fake_discord::{self as fd, FakeDiscord, RestCall};
use crate::support::fake_llm::{FakeLlm, Reply};
use paperbot::answer::llm::{LlmClient, LlmConfig};
use paperbot::answer::prompts::Prompts;
use paperbot::answer::{AnswerConfig, Answerer};
use paperbot::discord::{Bot, DiscordConfig};
use paperbot::library::Library;
use paperbot::retrieve::SearchConfig;
use paperbot::store::AnyStore;
use paperbot::store::edge::EdgeStore;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// The bot's answer settings here: the fake LLM's scripted answers are
/// about streaming and rendering, and no paper supports them, so the
/// sentence support check (tested in `answer.rs`) is off.
fn answer_config() -> AnswerConfig {
    let mut c = AnswerConfig::default();
    c.support.mode = paperbot::answer::support::SupportMode::Off;
    c
}

const T: Duration = Duration::from_secs(20);
const REWARD: &str = "which papers study reward hacking?";

async fn library() -> Arc<Library<AnyStore>> {
    static LIB: OnceCell<(tempfile::TempDir, Arc<Library<AnyStore>>)> = OnceCell::const_new();
    LIB.get_or_init(|| async {
        let tmp = tempfile::tempdir().unwrap();
        let store = AnyStore::Edge(EdgeStore::open(tmp.path()).unwrap());
        (tmp, Arc::new(crate::support::sample_library(store, None).await))
    })
    .await
    .1
    .clone()
}

struct Running {
    fake: FakeDiscord,
    llm: FakeLlm,
    bot: Arc<Bot>,
    /// A second client on the fake, for calling the bot's functions directly.
    http: serenity::all::Http,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _feedback: tempfile::TempDir,
}

impl Running {
    /// Stops the bot; fails the test if the bot made a request Discord
    /// would have refused (an error the test did not declare).
    async fn stop(self) -> FakeDiscord {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        self.fake.assert_no_unexpected_errors();
        self.fake
    }
}

async fn start(script: Vec<Reply>, tweak: impl FnOnce(&mut DiscordConfig)) -> Running {
    start_with(library().await, script, tweak).await
}

/// A library of its own (the first `n` sample papers) for tests that write
/// digest state, so they cannot see each other's subscriptions.
async fn own_library(n: usize) -> (std::path::PathBuf, Arc<Library<AnyStore>>) {
    let tmp = tempfile::tempdir().unwrap();
    let store = AnyStore::Edge(EdgeStore::open(tmp.path()).unwrap());
    let lib = crate::support::sample_library(store, Some(n)).await;
    // Kept on disk: the store flushes when its last handle drops, which can
    // be after the test (tasks end with the runtime).
    (tmp.keep(), Arc::new(lib))
}

async fn start_with(
    lib: Arc<Library<AnyStore>>,
    script: Vec<Reply>,
    tweak: impl FnOnce(&mut DiscordConfig),
) -> Running {
    start_full(lib, script, tweak, None).await
}

/// With `fetcher`, papers named by id or link are fetched when missing.
async fn start_full(
    lib: Arc<Library<AnyStore>>,
    script: Vec<Reply>,
    tweak: impl FnOnce(&mut DiscordConfig),
    fetcher: Option<Arc<paperbot::sources::Fetcher>>,
) -> Running {
    let fake = FakeDiscord::start().await;
    let llm = FakeLlm::start(script).await;
    let lc = LlmConfig {
        base_url: Some(llm.base_url()),
        model: "fake-model".into(),
        first_token_timeout_secs: 5.0,
        max_attempts: 2,
        retry_base_ms: 20,
        ..Default::default()
    };
    let answerer = Answerer::new(
        lib,
        Prompts::builtin().unwrap(),
        LlmClient::from_config(&lc, None).unwrap(),
        answer_config(),
        SearchConfig::default(),
    );
    let mut dc = DiscordConfig {
        edit_interval_ms: 200,
        ..Default::default()
    };
    tweak(&mut dc);
    let feedback = tempfile::tempdir().unwrap();
    let mut bot = Bot::new(Arc::new(answerer), dc, feedback.path().join("feedback.jsonl"));
    bot.fetcher = fetcher;
    let bot = Arc::new(bot);
    let http = serenity::all::HttpBuilder::new(fd::TOKEN)
        .client(fake.http_client())
        .build();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (stop, bot) = (stop.clone(), bot.clone());
        async move { paperbot::discord::run(bot, http, stop).await.unwrap() }
    });
    fake.wait_ready(T).await;
    fake.wait_for("command registration", T, |c| {
        c.method == "PUT" && c.path.ends_with("/commands")
    })
    .await;
    let direct = serenity::all::HttpBuilder::new(fd::TOKEN)
        .client(fake.http_client())
        .build();
    Running {
        fake,
        llm,
        bot,
        http: direct,
        stop,
        task,
        _feedback: feedback,
    }
}

fn ask_options(q: &str) -> Value {
    json!([{"name": "question", "type": 3, "value": q}])
}

/// Every body the bot sent that can carry text also carries allowed
/// mentions that allow nothing.
fn assert_no_pings(calls: &[RestCall]) {
    for c in calls {
        let b = &c.body;
        let speaks = b.get("content").is_some()
            || b.get("embeds").is_some()
            || b["data"].get("content").is_some()
            || b["data"].get("embeds").is_some();
        if !speaks || b["type"] == 8 {
            continue;
        }
        let am = if b.get("data").is_some() && b.get("type").is_some() {
            &b["data"]["allowed_mentions"]
        } else {
            &b["allowed_mentions"]
        };
        assert_eq!(am["parse"], json!([]), "{} {} sends {b}", c.method, c.path);
        assert!(
            am["users"].as_array().is_none_or(|u| u.is_empty()),
            "{} {}",
            c.method,
            c.path
        );
        assert!(
            am["roles"].as_array().is_none_or(|r| r.is_empty()),
            "{} {}",
            c.method,
            c.path
        );
        assert_ne!(am["replied_user"], json!(true), "{} {}", c.method, c.path);
    }
}

fn embed_text(body: &Value) -> String {
    body["embeds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let fields: Vec<String> = e["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    format!(
                        "{}\n{}",
                        f["name"].as_str().unwrap_or(""),
                        f["value"].as_str().unwrap_or("")
                    )
                })
                .collect();
            format!(
                "{}\n{}\n{}",
                e["description"].as_str().unwrap_or(""),
                fields.join("\n"),
                e["footer"]["text"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_original_edit(c: &RestCall) -> bool {
    c.method == "PATCH" && c.path.ends_with("/messages/@original")
}

/// The deferral of interaction `id`, checked to be one (type 5).
async fn deferral(fake: &FakeDiscord, id: u64) -> RestCall {
    let ack = fake
        .wait_for("the deferral", T, |c| c.path.contains(&format!("/interactions/{id}/")))
        .await;
    assert_eq!(ack.body["type"], 5, "deferred first: {ack}");
    ack
}

/// The first edit of interaction `id`'s deferred response.
async fn edit_of(fake: &FakeDiscord, what: &str, id: u64) -> RestCall {
    fake.wait_for(what, T, |c| {
        c.method == "PATCH" && c.path.contains(&format!("/itoken-{id}/messages/@original"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn slash_ask_defers_at_once_then_edits_in_the_cited_answer() {
    // Typed slowly, so previews are edited in while it streams.
    let run = start(
        vec![Reply::slow(
            &[
                "Reward hacking is studied in [2",
                "] and [1]. ",
                "Ping @everyone <@&123> <@456>.",
            ],
            Duration::from_millis(300),
        )],
        |_| {},
    )
    .await;
    let sent = std::time::Instant::now();
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(1001, "ask", ask_options(REWARD)),
        )
        .await;
    let defer = run
        .fake
        .wait_for("the deferral", T, |c| {
            c.method == "POST" && c.path.contains("/interactions/1001/")
        })
        .await;
    assert_eq!(defer.body["type"], 5, "deferred channel message");
    assert!(
        defer.at.duration_since(sent) < Duration::from_secs(3),
        "deferred in {:?}",
        defer.at.duration_since(sent)
    );

    let fin = run
        .fake
        .wait_for("the final answer", T, |c| {
            is_original_edit(c)
                && c.body
                    .get("embeds")
                    .is_some_and(|e| e.as_array().is_some_and(|a| !a.is_empty()))
        })
        .await;
    let text = embed_text(&fin.body);
    let seen = &run.llm.seen()[0];
    let titles = seen.sources();
    assert!(text.contains("Reward hacking is studied in [1] and [2]."), "{text}");
    assert!(
        text.contains(&format!("[1] {}", titles[1].1)) || text.contains(&format!("[1] [{}]", titles[1].1)),
        "{text}"
    );
    assert!(text.contains("papers indexed"), "footer with freshness: {text}");
    assert!(
        fin.body["components"][0]["components"].as_array().unwrap().len() == 3,
        "buttons"
    );
    let previews: Vec<RestCall> = run
        .fake
        .requests()
        .into_iter()
        .filter(|c| is_original_edit(c) && c.body.get("content").is_some_and(|t| t != ""))
        .collect();
    assert!(!previews.is_empty(), "the answer streamed into the response");
    let description = fin.body["embeds"][0]["description"].as_str().unwrap();
    for p in &previews {
        let shown = p.body["content"].as_str().unwrap().trim_end();
        assert!(
            description.starts_with(shown),
            "a preview showed `{shown}`, not a prefix of the answer"
        );
    }

    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_is_answered_in_a_thread_and_a_follow_up_uses_the_earlier_turn() {
    let run = start(
        vec![
            Reply::slow(
                &["Teacher hacking is one form [1]. ", "@here look"],
                Duration::from_millis(300),
            ),
            Reply::text(&["Online data generation mitigates it [1]."]),
        ],
        |_| {},
    )
    .await;
    let content = format!("<@{}> what is teacher hacking in distillation?", fd::BOT_USER_ID);
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(2001, fd::CHANNEL_ID, fd::USER_ID, false, &content, &[fd::BOT_USER_ID]),
        )
        .await;
    let thread_call = run
        .fake
        .wait_for("a thread from the message", T, |c| {
            c.method == "POST"
                && c.path
                    .ends_with(&format!("/channels/{}/messages/2001/threads", fd::CHANNEL_ID))
        })
        .await;
    assert!(thread_call.body["name"].as_str().unwrap().contains("teacher hacking"));
    let in_thread =
        |c: &RestCall| c.path.contains("/channels/") && !c.path.contains(&format!("/channels/{}/", fd::CHANNEL_ID));
    let fin = run
        .fake
        .wait_for("the answer in the thread", T, |c| {
            in_thread(c) && c.body["content"].as_str().is_some_and(|t| t.contains("**Sources**"))
        })
        .await;
    let thread_id: u64 = fin.path.split('/').nth(4).unwrap().parse().unwrap();
    assert!(
        fin.body["content"]
            .as_str()
            .unwrap()
            .starts_with("Teacher hacking is one form [1].")
    );

    // A follow-up in the thread, without a mention.
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(2002, thread_id, fd::USER_ID, false, "what mitigates it?", &[]),
        )
        .await;
    run.fake
        .wait_for("the follow-up answer", T, |c| {
            c.path.contains(&format!("/channels/{thread_id}/"))
                && c.body["content"]
                    .as_str()
                    .is_some_and(|t| t.contains("mitigates it [1]") && t.contains("**Sources**"))
        })
        .await;
    let prompts = run.llm.seen();
    let follow = prompts[1].user_prompt();
    assert!(
        follow.contains("<previous_turns>") && follow.contains("what is teacher hacking in distillation?"),
        "{follow}"
    );
    assert!(follow.contains("Teacher hacking is one form [1]."), "{follow}");

    // Messages from bots, the bot itself, or not addressed to it: ignored.
    let before = run.fake.requests().len();
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(
                2003,
                fd::CHANNEL_ID,
                fd::BOT_USER_ID,
                true,
                "<@42> hi",
                &[fd::BOT_USER_ID],
            ),
        )
        .await;
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(2004, fd::CHANNEL_ID, 777, true, "a bot asks", &[fd::BOT_USER_ID]),
        )
        .await;
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(2005, fd::CHANNEL_ID, fd::USER_ID, false, "just chatting", &[]),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(run.fake.requests().len(), before, "nothing answered");
    assert_eq!(run.llm.seen().len(), 2);

    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_edit_is_retried_by_serenitys_ratelimiter() {
    let run = start(vec![Reply::text(&["Covered [1]."])], |_| {}).await;
    let waits = || paperbot::metrics::metrics().discord_ratelimited.get();
    let before = waits();
    run.fake.fail_next("PATCH", "/messages/@original", 1.0);
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(1101, "ask", ask_options(REWARD)),
        )
        .await;
    run.fake
        .wait_for("the final answer", T, |c| {
            // Delivered: the 429 carries the same body.
            is_original_edit(c) && c.status == 200 && embed_text(&c.body).contains("Covered [1].")
        })
        .await;
    let edits: Vec<RestCall> = run.fake.requests().into_iter().filter(is_original_edit).collect();
    assert!(edits.len() >= 2, "{} edits", edits.len());
    let gap = edits[1].at.duration_since(edits[0].at);
    assert!(
        gap >= Duration::from_millis(900),
        "retried after {gap:?}, retry_after was 1 s"
    );
    assert!(waits() > before, "the wait shows in /metrics");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_answer_is_split_cleanly_across_messages() {
    let sentence = "This long answer keeps citing its source carefully [1] and goes on. ";
    let long = sentence.repeat(2500 / sentence.len() + 1);
    let run = start(vec![Reply::text(&[&long])], |_| {}).await;
    let content = format!("<@{}> {REWARD}", fd::BOT_USER_ID);
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(3001, fd::CHANNEL_ID, fd::USER_ID, false, &content, &[fd::BOT_USER_ID]),
        )
        .await;
    let last = run
        .fake
        .wait_for("the last piece", T, |c| {
            c.method == "POST" && c.body["content"].as_str().is_some_and(|t| t.contains("**Sources**"))
        })
        .await;
    let thread = last.path.split('/').nth(4).unwrap().to_string();
    let pieces: Vec<String> = run
        .fake
        .requests()
        .into_iter()
        .filter(|c| c.path.contains(&format!("/channels/{thread}/messages")))
        .filter_map(|c| c.body["content"].as_str().map(String::from))
        .filter(|t| !t.starts_with("Reading the papers"))
        .collect();
    // Previews were edits too; the final two are the answer.
    let final_first = pieces[pieces.len() - 2].clone();
    let final_second = pieces[pieces.len() - 1].clone();
    for p in [&final_first, &final_second] {
        assert!(p.chars().count() <= 2000, "{} chars", p.chars().count());
        assert_eq!(
            p.matches('[').count(),
            p.matches(']').count(),
            "a citation was cut: {p}"
        );
    }
    let joined = format!("{final_first} {final_second}");
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(norm(&joined).contains(&norm(long.trim())), "the whole answer arrives");
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_llm_failure_is_one_short_ephemeral_line() {
    let run = start(vec![Reply::status(500), Reply::status(500)], |_| {}).await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(1201, "ask", ask_options(REWARD)),
        )
        .await;
    let followup = run
        .fake
        .wait_for("the error followup", T, |c| {
            c.method == "POST" && c.path.contains("/webhooks/") && c.body.get("content").is_some()
        })
        .await;
    assert_eq!(
        followup.body["content"],
        "The language model service is failing (HTTP 500). Please try again later."
    );
    assert_eq!(followup.body["flags"].as_u64().unwrap() & 64, 64, "ephemeral");
    assert!(
        run.fake
            .requests()
            .iter()
            .any(|c| c.method == "DELETE" && c.path.ends_with("/messages/@original"))
    );
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn paper_autocomplete_offers_matching_titles_and_the_card_follows() {
    let run = start(vec![], |_| {}).await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::autocomplete(1301, "paper", "title", "processb"),
        )
        .await;
    let ac = run
        .fake
        .wait_for("autocomplete choices", T, |c| c.path.contains("/interactions/1301/"))
        .await;
    assert_eq!(ac.body["type"], 8);
    let choices = ac.body["data"]["choices"].as_array().unwrap();
    assert_eq!(
        choices[0]["name"],
        "ProcessBench: Identifying Process Errors in Mathematical Reasoning"
    );
    let id = choices[0]["value"].as_str().unwrap().to_string();

    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(1302, "paper", json!([{"name": "title", "type": 3, "value": id}])),
        )
        .await;
    deferral(&run.fake, 1302).await;
    let card = edit_of(&run.fake, "the paper card", 1302).await;
    assert_eq!(
        card.body["embeds"][0]["title"],
        "ProcessBench: Identifying Process Errors in Mathematical Reasoning"
    );
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

/// A fetcher for the local arXiv, polite at 0.3 s.
fn arxiv_fetcher(arxiv: &crate::support::fake_arxiv::FakeArxiv) -> Arc<paperbot::sources::Fetcher> {
    let config = paperbot::sources::HttpConfig {
        arxiv_base_url: arxiv.base_url(),
        arxiv_interval_secs: 0.3,
        ..Default::default()
    };
    Arc::new(paperbot::sources::Fetcher::new(config).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn paper_fetches_an_arxiv_link_the_library_lacks_then_finds_it_by_title() {
    use crate::support::fake_arxiv::FakeArxiv;
    let arxiv = FakeArxiv::start(FakeArxiv::sample(10).await, Duration::from_millis(200)).await;
    let wanted = FakeArxiv::sample(10).await[8].clone();
    let (_dir, lib) = own_library(3).await;
    let run = start_full(lib.clone(), vec![], |_| {}, Some(arxiv_fetcher(&arxiv))).await;
    let paper =
        |id: u64, value: &str| fd::slash_command(id, "paper", json!([{"name": "title", "type": 3, "value": value}]));
    run.fake
        .dispatch("INTERACTION_CREATE", paper(1311, "https://arxiv.org/abs/2511.00009v2"))
        .await;
    deferral(&run.fake, 1311).await;
    let card = edit_of(&run.fake, "the fetched paper's card", 1311).await;
    assert_eq!(card.body["embeds"][0]["title"], wanted.title.as_str());
    assert_eq!(arxiv.requests().len(), 1);
    // Now in the library: found by title, no second request.
    run.fake
        .dispatch("INTERACTION_CREATE", paper(1312, &wanted.title))
        .await;
    deferral(&run.fake, 1312).await;
    let card = edit_of(&run.fake, "the card by title", 1312).await;
    assert_eq!(card.body["embeds"][0]["title"], wanted.title.as_str());
    assert_eq!(arxiv.requests().len(), 1);
    // An id arXiv does not have: a private line, not a public card.
    run.fake.dispatch("INTERACTION_CREATE", paper(1313, "2511.09999")).await;
    let reply = run
        .fake
        .wait_for("the private reply", T, |c| {
            c.method == "POST"
                && c.path.contains("itoken-1313")
                && c.body["content"]
                    .as_str()
                    .is_some_and(|t| t.contains("arXiv has no paper"))
        })
        .await;
    assert_eq!(reply.body["flags"].as_u64().unwrap_or(0) & 64, 64);
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn paper_links_in_chat_get_one_reply_with_cards_and_shared_here_keeps_to_them() {
    use crate::support::fake_arxiv::FakeArxiv;
    let arxiv = FakeArxiv::start(FakeArxiv::sample(12).await, Duration::from_millis(200)).await;
    let sample = FakeArxiv::sample(12).await;
    let (_dir, lib) = own_library(3).await;
    let run = start_full(lib.clone(), vec![], |_| {}, Some(arxiv_fetcher(&arxiv))).await;
    let posted_in = |channel: u64| {
        move |c: &RestCall| c.method == "POST" && c.path.ends_with(&format!("/channels/{channel}/messages"))
    };

    // Two links (and one the writer kept from unfurling): one reply, two cards.
    let content = "two good ones: https://arxiv.org/abs/2511.00009v2 and https://huggingface.co/papers/2511.00010 \
                   (not this: <https://arxiv.org/abs/2511.00011>) @everyone";
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(3001, fd::CHANNEL_ID, fd::USER_ID, false, content, &[]),
        )
        .await;
    let reply = run.fake.wait_for("the cards", T, posted_in(fd::CHANNEL_ID)).await;
    assert_eq!(reply.body["message_reference"]["message_id"], "3001", "{}", reply.body);
    let cards = reply.body["embeds"].as_array().unwrap();
    assert_eq!(cards.len(), 2, "{}", reply.body);
    assert_eq!(cards[0]["title"], sample[8].title.as_str());
    assert_eq!(cards[1]["title"], sample[9].title.as_str());
    let first = cards[0]["description"].as_str().unwrap();
    assert!(
        first.contains("Ada Lovelace, Alan Turing")
            && first.contains("2025-11-09")
            && first.contains("https://arxiv.org/pdf/2511.00009"),
        "{first}"
    );
    let requests = arxiv.requests();
    assert_eq!(requests.len(), 1, "one arXiv request for both: {requests:?}");
    assert!(requests[0].contains("id_list=2511.00009,2511.00010"), "{requests:?}");

    // Searchable; "shared here" keeps to the two shared papers.
    let search = |id: u64, query: &str, shared: bool| {
        fd::slash_command(
            id,
            "search",
            json!([{"name": "query", "type": 3, "value": query}, {"name": "shared", "type": 5, "value": shared}]),
        )
    };
    run.fake
        .dispatch("INTERACTION_CREATE", search(3002, "language models", true))
        .await;
    deferral(&run.fake, 3002).await;
    let hits = embed_text(&edit_of(&run.fake, "shared-only results", 3002).await.body);
    // The library's own three papers (the sample's first three titles).
    let library_titles: Vec<&str> = sample[..3].iter().map(|p| p.title.as_str()).collect();
    assert!(
        hits.contains(&sample[8].title) || hits.contains(&sample[9].title),
        "{hits}"
    );
    for t in &library_titles {
        assert!(!hits.contains(t), "{t} was never shared: {hits}");
    }
    run.fake
        .dispatch("INTERACTION_CREATE", search(3003, &sample[9].title, false))
        .await;
    deferral(&run.fake, 3003).await;
    let hits = embed_text(&edit_of(&run.fake, "all results", 3003).await.body);
    assert!(hits.contains(&sample[9].title), "{hits}");

    // Cards off in this channel: only with Manage Channels.
    let off = |id: u64| {
        fd::slash_command(
            id,
            "linkcards",
            json!([{"name": "cards", "type": 3, "value": "off"}, {"name": "where", "type": 3, "value": "channel"}]),
        )
    };
    run.fake.dispatch("INTERACTION_CREATE", off(3004)).await;
    let refused = run
        .fake
        .wait_for("the refusal", T, |c| c.path.contains("/interactions/3004/"))
        .await;
    assert!(
        refused.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Manage Channels")
    );
    assert_eq!(refused.body["data"]["flags"].as_u64().unwrap() & 64, 64);
    let mut allowed = off(3005);
    allowed["member"]["permissions"] = json!("16");
    run.fake.dispatch("INTERACTION_CREATE", allowed).await;
    let done = run
        .fake
        .wait_for("the confirmation", T, |c| c.path.contains("/interactions/3005/"))
        .await;
    assert!(
        done.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("off in this channel")
    );

    // The opted-out channel gets nothing (and arXiv is not asked); another
    // channel of the server still gets its card.
    let before = run
        .fake
        .requests()
        .iter()
        .filter(|c| posted_in(fd::CHANNEL_ID)(c))
        .count();
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(3006, fd::CHANNEL_ID, fd::USER_ID, false, "arXiv:2511.00011", &[]),
        )
        .await;
    let other = fd::CHANNEL_ID + 77;
    run.fake.add_channel(other, fd::ChannelSpec::default());
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(3007, other, fd::USER_ID, false, "https://arxiv.org/abs/2511.00012", &[]),
        )
        .await;
    let card = run.fake.wait_for("the other channel's card", T, posted_in(other)).await;
    assert_eq!(card.body["embeds"][0]["title"], sample[11].title.as_str());
    // Without Embed Links, Discord refuses an embed-only message: the card comes as text.
    let plain = fd::CHANNEL_ID + 78;
    run.fake.add_channel(
        plain,
        fd::ChannelSpec {
            permissions: fd::perm::ALL & !fd::perm::EMBED_LINKS,
            ..Default::default()
        },
    );
    run.fake
        .expect_error("POST", &format!("/channels/{plain}/messages"), 403);
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(
                3008,
                plain,
                fd::USER_ID,
                false,
                "see arxiv.org/abs/2511.00009 https://arxiv.org/abs/2511.00009",
                &[],
            ),
        )
        .await;
    let text = run
        .fake
        .wait_for("the card as text", T, |c| {
            posted_in(plain)(c) && c.body["content"].as_str().is_some_and(|t| t.contains(&sample[8].title))
        })
        .await;
    assert!(
        text.body["content"]
            .as_str()
            .unwrap()
            .contains("https://arxiv.org/pdf/2511.00009")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = run
        .fake
        .requests()
        .iter()
        .filter(|c| posted_in(fd::CHANNEL_ID)(c))
        .count();
    assert_eq!(after, before, "nothing in the opted-out channel");
    assert!(
        arxiv.requests().iter().all(|r| !r.contains("2511.00011")),
        "{:?}",
        arxiv.requests()
    );
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_dm_a_message_is_a_question_and_a_bare_link_gets_its_card() {
    use crate::support::fake_arxiv::FakeArxiv;
    let arxiv = FakeArxiv::start(FakeArxiv::sample(12).await, Duration::from_millis(200)).await;
    let (_dir, lib) = own_library(3).await;
    let run = start_full(lib, vec![], |_| {}, Some(arxiv_fetcher(&arxiv))).await;
    let dm = 1_300_000_000_000_000_777u64;
    run.fake.add_channel(
        dm,
        fd::ChannelSpec {
            kind: fd::kind::DM,
            ..Default::default()
        },
    );
    let direct = |id: u64, content: &str| {
        let mut m = fd::message(id, dm, fd::USER_ID, false, content, &[]);
        let o = m.as_object_mut().unwrap();
        o.remove("guild_id");
        o.remove("member");
        m
    };
    let in_dm = move |c: &RestCall| c.path.contains(&format!("/channels/{dm}/messages"));
    // No mention needed in a DM: answered (here, honestly declined: the
    // library holds three unrelated papers).
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            direct(4001, "what is teacher hacking in distillation?"),
        )
        .await;
    run.fake
        .wait_for("the answer in the DM", T, |c| in_dm(c) && c.method == "PATCH")
        .await;
    // Only a link: its card, not an answer.
    run.fake
        .dispatch("MESSAGE_CREATE", direct(4002, "https://arxiv.org/abs/2511.00010"))
        .await;
    let card = run
        .fake
        .wait_for("the card in the DM", T, |c| {
            in_dm(c) && c.body["embeds"][0]["title"].is_string()
        })
        .await;
    assert_eq!(
        card.body["embeds"][0]["title"],
        FakeArxiv::sample(10).await[9].title.as_str()
    );
    let questions = run
        .fake
        .requests()
        .iter()
        .filter(|c| in_dm(c) && c.body["content"] == "Reading the papers…")
        .count();
    assert_eq!(questions, 1, "the link was not taken as a question");
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_questions_get_a_short_ephemeral_explanation() {
    let run = start(vec![Reply::text(&["One [1]."])], |c| c.limits.user_per_minute = 1).await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(1401, "ask", ask_options(REWARD)),
        )
        .await;
    run.fake
        .wait_for("the first deferral", T, |c| c.path.contains("/interactions/1401/"))
        .await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(1402, "ask", ask_options(REWARD)),
        )
        .await;
    let limited = run
        .fake
        .wait_for("the limit reply", T, |c| c.path.contains("/interactions/1402/"))
        .await;
    assert_eq!(limited.body["type"], 4);
    assert_eq!(limited.body["data"]["flags"].as_u64().unwrap() & 64, 64);
    assert!(
        limited.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("wait a minute")
    );
    let long = "why ".repeat(400);
    run.fake
        .dispatch("INTERACTION_CREATE", fd::slash_command(1403, "ask", ask_options(&long)))
        .await;
    let too_long = run
        .fake
        .wait_for("the length reply", T, |c| c.path.contains("/interactions/1403/"))
        .await;
    assert!(
        too_long.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("under 1000 characters")
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn buttons_show_the_abstracts_and_record_feedback() {
    let run = start(vec![Reply::text(&["Covered by one paper [1]."])], |_| {}).await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(1501, "ask", ask_options(REWARD)),
        )
        .await;
    let fin = run
        .fake
        .wait_for("the final answer", T, |c| {
            is_original_edit(c) && c.body.get("embeds").is_some()
        })
        .await;
    let cited = run.llm.seen()[0].sources()[0].1.clone();
    assert!(embed_text(&fin.body).contains(&cited));

    run.fake
        .dispatch("INTERACTION_CREATE", fd::component_click(1502, "abs:1501", 9001))
        .await;
    let abs = run
        .fake
        .wait_for("the abstracts", T, |c| c.path.contains("/interactions/1502/"))
        .await;
    assert_eq!(abs.body["data"]["flags"].as_u64().unwrap() & 64, 64, "ephemeral");
    let shown = abs.body["data"]["content"].as_str().unwrap();
    assert!(
        shown.starts_with(&format!("**{}**", paperbot::discord::render::escape_markdown(&cited))),
        "{shown}"
    );

    run.fake
        .dispatch("INTERACTION_CREATE", fd::component_click(1503, "fb:1501:0", 9001))
        .await;
    let thanks = run
        .fake
        .wait_for("the thanks", T, |c| c.path.contains("/interactions/1503/"))
        .await;
    assert_eq!(thanks.body["data"]["content"], "Thanks, noted.");
    let log = std::fs::read_to_string(run._feedback.path().join("feedback.jsonl")).unwrap();
    let vote: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(vote["helpful"], false);
    assert_eq!(vote["question"], REWARD);
    assert_eq!(vote["user_id"], fd::USER_ID);

    // An answer the bot no longer remembers: a clear line, not a crash.
    run.fake
        .dispatch("INTERACTION_CREATE", fd::component_click(1504, "abs:42", 9001))
        .await;
    let old = run
        .fake
        .wait_for("the stale reply", T, |c| c.path.contains("/interactions/1504/"))
        .await;
    assert!(old.body["data"]["content"].as_str().unwrap().contains("too old"));
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_very_long_answer_fits_discords_embed_limits() {
    let sentence = "Each sentence of this very long answer cites its paper [1] and continues a little further. ";
    let long = sentence.repeat(9_000 / sentence.len() + 1);
    let run = start(vec![Reply::text(&[&long])], |_| {}).await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(1601, "ask", ask_options(REWARD)),
        )
        .await;
    run.fake
        .wait_for("the final answer", T, |c| {
            is_original_edit(c) && c.body.get("embeds").is_some()
        })
        .await;
    // The rest follows as followups; wait until the Sources field arrived.
    run.fake
        .wait_for("the last part", T, |c| embed_text(&c.body).contains("Sources"))
        .await;
    let messages: Vec<RestCall> = run
        .fake
        .requests()
        .into_iter()
        .filter(|c| {
            c.body
                .get("embeds")
                .is_some_and(|e| e.as_array().is_some_and(|a| !a.is_empty()))
        })
        .collect();
    assert!(messages.len() >= 2, "split over {} messages", messages.len());
    let mut descriptions = String::new();
    for m in &messages {
        let embeds = m.body["embeds"].as_array().unwrap();
        assert!(embeds.len() <= 10);
        let total: usize = embeds
            .iter()
            .map(|e| embed_text(&json!({"embeds": [e]})).chars().count())
            .sum();
        assert!(total <= 6_000 + 10, "{total} chars in one message");
        for e in embeds {
            let d = e["description"].as_str().unwrap_or("");
            assert!(d.chars().count() <= 4_096);
            descriptions.push_str(d);
            descriptions.push(' ');
        }
    }
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(norm(&descriptions), norm(long.trim()));
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_an_answer_in_flight_finish() {
    let run = start(
        vec![Reply::slow(
            &["Slow ", "but ", "complete ", "[1]."],
            Duration::from_millis(400),
        )],
        |_| {},
    )
    .await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(1701, "ask", ask_options(REWARD)),
        )
        .await;
    run.fake
        .wait_for("the deferral", T, |c| c.path.contains("/interactions/1701/"))
        .await;
    // SIGTERM arrives while the model is still typing.
    let fake = run.stop().await;
    let finals: Vec<RestCall> = fake
        .requests()
        .into_iter()
        .filter(|c| is_original_edit(c) && embed_text(&c.body).contains("Slow but complete [1]."))
        .collect();
    assert_eq!(
        finals.len(),
        1,
        "the answer in flight was delivered before the gateway closed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn search_and_about_answer_without_the_llm() {
    let run = start(vec![], |_| {}).await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(
                1801,
                "search",
                json!([{"name": "query", "type": 3, "value": "process errors in math reasoning"}]),
            ),
        )
        .await;
    let found = run
        .fake
        .wait_for("search results", T, |c| {
            is_original_edit(c) && c.body.get("embeds").is_some()
        })
        .await;
    assert!(
        embed_text(&found.body).contains("ProcessBench"),
        "{}",
        embed_text(&found.body)
    );
    run.fake
        .dispatch("INTERACTION_CREATE", fd::slash_command(1802, "about", json!([])))
        .await;
    let about = run
        .fake
        .wait_for("about", T, |c| c.path.contains("/interactions/1802/"))
        .await;
    let text = about.body["data"]["embeds"][0]["description"].as_str().unwrap();
    assert!(
        text.contains("85 papers indexed") && text.contains("answers by fake-model"),
        "{text}"
    );
    assert!(run.llm.seen().is_empty());
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscribed_channel_gets_its_digest_exactly_once() {
    use paperbot::digest::schedule::Tick;
    use paperbot::discord::digests;
    use paperbot::store::state::StateStore;

    let (_dir, lib) = own_library(8).await;
    let run = start_with(lib, vec![], |_| {}).await;
    let now = chrono::Utc::now();
    // The digest date is the local (UTC) date of its due time, a minute ago.
    let today = (now - chrono::Duration::minutes(1)).date_naive();
    let time = (now - chrono::Duration::minutes(1)).format("%H:%M").to_string();
    let opts = json!([{"name": "subscribe", "type": 1, "options": [
        {"name": "time", "type": 3, "value": time},
        {"name": "timezone", "type": 3, "value": "UTC"},
        {"name": "max", "type": 4, "value": 3},
    ]}]);
    // Without Manage Channels: refused.
    run.fake
        .dispatch("INTERACTION_CREATE", fd::slash_command(2101, "digest", opts.clone()))
        .await;
    deferral(&run.fake, 2101).await;
    let refused = edit_of(&run.fake, "the refusal", 2101).await;
    assert!(refused.body["content"].as_str().unwrap().contains("Manage Channels"));
    let mut with_perm = fd::slash_command(2102, "digest", opts);
    with_perm["member"]["permissions"] = json!("16");
    run.fake.dispatch("INTERACTION_CREATE", with_perm).await;
    let ok = edit_of(&run.fake, "the confirmation", 2102).await;
    let said = ok.body["content"].as_str().unwrap();
    assert!(
        said.contains(&format!("up to 3 new papers daily at {time} (UTC)")),
        "{said}"
    );

    // Papers linked in the server since the last digest: "Discussed here".
    let store = &run.bot.answerer.library().store;
    let held = paperbot::store::all(store).await.unwrap();
    let (first, second) = (held[0].paper.clone(), held[1].paper.clone());
    let at = |m: u64| paperbot::shares::Message {
        channel: fd::CHANNEL_ID,
        message: m,
        at: now - chrono::Duration::minutes(30),
    };
    let place = paperbot::shares::Place::Guild(fd::GUILD_ID);
    for (m, ids) in [
        (91, vec![first.id.clone()]),
        (92, vec![first.id.clone(), second.id.clone()]),
    ] {
        paperbot::shares::record(store, place, &ids, at(m)).await.unwrap();
    }
    // The same message again (an edit, a replayed event) counts once.
    paperbot::shares::record(store, place, std::slice::from_ref(&first.id), at(92))
        .await
        .unwrap();

    // Due a minute ago: posted once.
    let ticks = digests::run_due(&run.bot, &run.http, now).await;
    assert_eq!(ticks, vec![(fd::CHANNEL_ID, Tick::Posted(today))]);
    let is_digest = |c: &RestCall| {
        c.method == "POST"
            && c.path.ends_with(&format!("/channels/{}/messages", fd::CHANNEL_ID))
            && embed_text(&c.body).contains("paperbot digest dg-")
    };
    let post = run.fake.wait_for("the digest", T, is_digest).await;
    let text = embed_text(&post.body);
    assert!(
        text.contains("**[1]**") && text.contains("**[3]**") && !text.contains("**[4]**"),
        "{text}"
    );
    assert_no_pings(std::slice::from_ref(&post));
    assert_eq!(post.body["allowed_mentions"]["parse"], json!([]));
    let field = &post.body["embeds"][0]["fields"][0];
    assert_eq!(field["name"], "Discussed here", "{}", post.body);
    let discussed = field["value"].as_str().unwrap();
    let (a, b) = (
        discussed.find(first.title.as_str()).expect(discussed),
        discussed.find(second.title.as_str()).expect(discussed),
    );
    assert!(a < b, "most shared first: {discussed}");
    assert!(
        discussed.contains("shared 2 times") && discussed.contains("shared once"),
        "{discussed}"
    );

    // A restart or the next tick: nothing more.
    assert!(
        digests::run_due(&run.bot, &run.http, now + chrono::Duration::minutes(1))
            .await
            .is_empty()
    );

    // A crash between posting and recording leaves it pending: recovery finds the post.
    let footer = post.body["embeds"][0]["footer"]["text"].as_str().unwrap();
    let id = footer.split_whitespace().find(|w| w.starts_with("dg-")).unwrap();
    let pending = json!({"last_posted": null, "cutoff": null,
        "pending": {"date": today, "digest_id": id, "cutoff": now}});
    store
        .put_doc("digest_state", &fd::CHANNEL_ID.to_string(), &pending)
        .await
        .unwrap();
    let ticks = digests::run_due(&run.bot, &run.http, now + chrono::Duration::minutes(2)).await;
    assert_eq!(ticks, vec![(fd::CHANNEL_ID, Tick::Recovered(today))]);
    assert!(
        digests::run_due(&run.bot, &run.http, now + chrono::Duration::minutes(3))
            .await
            .is_empty()
    );
    let posts = run.fake.requests().into_iter().filter(is_digest).count();
    assert_eq!(posts, 1, "posted exactly once");
    run.stop().await;
}

/// A subscription due a minute ago in UTC, for `guild`.
/// Tests share one library (and so one state store): each digest test uses
/// its own channel (and guild where it lists them).
async fn subscribe_directly(bot: &Bot, guild: u64, channel: u64, max: usize) -> chrono::DateTime<chrono::Utc> {
    use paperbot::store::state::StateStore;
    let now = chrono::Utc::now();
    let sub = paperbot::discord::digests::Subscription {
        guild_id: Some(guild),
        channel_id: channel,
        time: (now - chrono::Duration::minutes(1)).format("%H:%M").to_string(),
        timezone: "UTC".into(),
        topics: None,
        max,
        min_upvotes: 0,
    };
    bot.answerer
        .library()
        .store
        .put_doc("digest_subscription", &sub.key(), &serde_json::to_value(&sub).unwrap())
        .await
        .unwrap();
    now
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_process_owning_the_guilds_shard_posts_and_the_overview_is_cited() {
    use paperbot::digest::schedule::{Tick, shard_of};
    use paperbot::discord::digests;

    let run = start(
        vec![Reply::text(&[
            "Two themes today: agents [2] and reasoning [1]; see also [9].",
        ])],
        |_| {},
    )
    .await;
    let now = subscribe_directly(&run.bot, fd::GUILD_ID, 7001, 4).await;
    // Two processes over the same store, each running one of two shards.
    let process = |shard: u32| {
        let lc = LlmConfig {
            base_url: Some(run.llm.base_url()),
            model: "fake-model".into(),
            max_attempts: 1,
            ..Default::default()
        };
        let answerer = Answerer::new(
            run.bot.answerer.library().clone(),
            Prompts::builtin().unwrap(),
            LlmClient::from_config(&lc, None).unwrap(),
            answer_config(),
            SearchConfig::default(),
        );
        let config = DiscordConfig {
            shard_total: 2,
            shard_first: shard,
            shard_last: shard,
            ..Default::default()
        };
        let bot = Bot::new(
            Arc::new(answerer),
            config,
            run._feedback.path().join(format!("fb{shard}.jsonl")),
        );
        bot.me.store(fd::BOT_USER_ID, std::sync::atomic::Ordering::Relaxed);
        bot
    };
    let (p0, p1) = (process(0), process(1));
    let (t0, t1) = tokio::join!(
        digests::run_due(&p0, &run.http, now),
        digests::run_due(&p1, &run.http, now)
    );
    let owner = shard_of(fd::GUILD_ID, 2);
    let (posted, idle) = if owner == 0 { (t0, t1) } else { (t1, t0) };
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(matches!(posted[0].1, Tick::Posted(_)));
    assert!(idle.is_empty(), "the other shard's process stays out: {idle:?}");

    let post = run
        .fake
        .wait_for("the digest", T, |c| embed_text(&c.body).contains("paperbot digest dg-"))
        .await;
    let description = post.body["embeds"][0]["description"].as_str().unwrap();
    assert!(
        description.starts_with("Two themes today: agents [1] and reasoning [2]; see also."),
        "the overview's citations are checked and renumbered: {description}"
    );
    assert!(
        run.llm.seen()[0]
            .user_prompt()
            .contains("Write a digest of these papers")
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn digest_list_preview_and_unsubscribe() {
    let (_dir, lib) = own_library(8).await;
    let run = start_with(lib, vec![], |_| {}).await;
    let (guild, channel) = (8002u64 << 22, 7002u64);
    subscribe_directly(&run.bot, guild, channel, 2).await;
    let with_perm = |id: u64, sub: &str| {
        let mut p = fd::slash_command(id, "digest", json!([{"name": sub, "type": 1, "options": []}]));
        p["member"]["permissions"] = json!("16");
        p["guild_id"] = json!(guild.to_string());
        p["guild"]["id"] = json!(guild.to_string());
        p["channel_id"] = json!(channel.to_string());
        p["channel"]["id"] = json!(channel.to_string());
        p
    };
    run.fake.dispatch("INTERACTION_CREATE", with_perm(2201, "list")).await;
    let ack = deferral(&run.fake, 2201).await;
    assert_eq!(ack.body["data"]["flags"], 64, "only the asker sees it");
    let list = edit_of(&run.fake, "the list", 2201).await;
    let text = list.body["content"].as_str().unwrap();
    assert_eq!(text.lines().count(), 1, "only this guild's: {text}");
    assert!(
        text.contains(&format!("<#{channel}>")) && text.contains("UTC"),
        "{text}"
    );

    run.fake
        .dispatch("INTERACTION_CREATE", with_perm(2202, "preview"))
        .await;
    assert_eq!(deferral(&run.fake, 2202).await.body["data"]["flags"], 64);
    let preview = edit_of(&run.fake, "the preview", 2202).await;
    let embed = &preview.body["embeds"][0];
    assert!(embed["description"].as_str().unwrap().contains("**[2]**"), "{embed}");

    run.fake
        .dispatch("INTERACTION_CREATE", with_perm(2203, "unsubscribe"))
        .await;
    edit_of(&run.fake, "unsubscribed", 2203).await;
    run.fake.dispatch("INTERACTION_CREATE", with_perm(2204, "list")).await;
    let empty = edit_of(&run.fake, "the empty list", 2204).await;
    assert!(empty.body["content"].as_str().unwrap().contains("No digests"));
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

/// The value of one sample in Prometheus text (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_move_when_a_question_is_answered() {
    let run = start(vec![Reply::text(&["Counted [1]."])], |_| {}).await;
    let addr = crate::support::serve(paperbot::ops::router(paperbot::app::health_probe(run.bot.clone()))).await;
    let client = paperbot::http_client_builder().build().unwrap();
    let get = |path: &'static str| {
        let client = client.clone();
        async move { client.get(format!("http://{addr}{path}")).send().await.unwrap() }
    };
    let health = get("/healthz").await;
    assert_eq!(health.status(), 200);
    let h: Value = health.json().await.unwrap();
    assert_eq!(h["gateway"], "connected");
    assert!(h["store"].as_str().unwrap().starts_with("ok ("), "{h}");

    let before = get("/metrics").await.text().await.unwrap();
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(2301, "ask", ask_options(REWARD)),
        )
        .await;
    run.fake
        .wait_for("the final answer", T, |c| {
            is_original_edit(c) && embed_text(&c.body).contains("Counted [1].")
        })
        .await;
    let after = get("/metrics").await.text().await.unwrap();
    // Other tests in this binary count too: each series moves by at least one.
    for series in [
        "paperbot_questions_total",
        "paperbot_answers_total{outcome=\"answered\"}",
        "paperbot_answer_seconds_count",
        "paperbot_retrieval_seconds_count",
        "paperbot_llm_first_token_seconds_count",
        // The stand-in model's check names source 1.
        "paperbot_relevance_checks_total{verdict=\"relevant\"}",
    ] {
        assert!(
            sample(&after, series) >= sample(&before, series) + 1.0,
            "{series} did not move:\n{after}"
        );
    }
    assert!(
        sample(&after, "paperbot_llm_tokens_total{direction=\"prompt\"}")
            >= sample(&before, "paperbot_llm_tokens_total{direction=\"prompt\"}") + 500.0,
        "prompt tokens counted"
    );
    assert!(after.contains("# TYPE paperbot_answer_seconds histogram"), "{after}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_identifies_only_for_its_shard_range() {
    let run = start(vec![], |c| {
        c.shard_total = 2;
        c.shard_first = 1;
        c.shard_last = 1;
    })
    .await;
    let identify = run.fake.identify().expect("identified");
    assert_eq!(identify["shard"], json!([1, 2]), "{identify}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guild_that_spent_its_daily_llm_budget_is_told_so() {
    let (_dir, lib) = own_library(8).await;
    let run = start_with(lib, vec![Reply::text(&["Within budget [1]."])], |c| {
        c.guild_daily_llm_tokens = Some(100)
    })
    .await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(
                2401,
                "ask",
                ask_options("which papers find errors in math reasoning steps?"),
            ),
        )
        .await;
    run.fake
        .wait_for("the answer", T, |c| {
            is_original_edit(c) && embed_text(&c.body).contains("Within budget [1].")
        })
        .await;
    let used = paperbot::discord::limits::budget::used(&run.bot.answerer.library().store, fd::GUILD_ID).await;
    assert!(used > 100, "the answer was counted: {used}");
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(2402, "ask", ask_options("another question about agents")),
        )
        .await;
    let refused = run
        .fake
        .wait_for("the refusal", T, |c| c.path.contains("/interactions/2402/"))
        .await;
    assert_eq!(refused.body["data"]["flags"].as_u64().unwrap() & 64, 64);
    assert!(refused.body["data"]["content"].as_str().unwrap().contains("budget"));
    assert_eq!(run.llm.seen().len(), 1);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn digest_preview_defers_before_a_slow_overview() {
    // The overview's first token takes 4 s: past Discord's 3 s for a first
    // response, so the preview must defer before building the digest.
    let (_dir, lib) = own_library(6).await;
    let run = start_with(
        lib,
        vec![Reply::delayed(
            &["A slow but cited overview [1]."],
            Duration::from_secs(4),
        )],
        |_| {},
    )
    .await;
    let preview = fd::slash_command(2501, "digest", json!([{"name": "preview", "type": 1, "options": []}]));
    run.fake.dispatch("INTERACTION_CREATE", preview).await;
    assert_eq!(deferral(&run.fake, 2501).await.body["data"]["flags"], 64);
    let shown = edit_of(&run.fake, "the preview", 2501).await;
    let embed = &shown.body["embeds"][0];
    assert!(
        embed["description"]
            .as_str()
            .unwrap()
            .starts_with("A slow but cited overview [1]."),
        "{embed}"
    );
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_where_no_thread_can_be_made_is_answered_in_place_and_nothing_else() {
    use crate::support::fake_discord::{ChannelSpec, kind, perm};
    let run = start(
        vec![
            Reply::text(&["Over-optimised reward models [1]."]),
            Reply::text(&["It is measured against gold rewards [1]."]),
            Reply::text(&["Inside a thread [1]."]),
        ],
        |_| {},
    )
    .await;
    let (no_threads, their_thread) = (9_901u64, 9_902u64);
    run.fake.add_channel(
        no_threads,
        ChannelSpec {
            kind: kind::GUILD_TEXT,
            permissions: perm::ALL & !perm::CREATE_PUBLIC_THREADS,
        },
    );
    run.fake.add_channel(
        their_thread,
        ChannelSpec {
            kind: kind::PUBLIC_THREAD,
            permissions: perm::ALL,
        },
    );
    // Discord refuses these threads; the bot may try, and must cope.
    run.fake.expect_error("POST", "/threads", 403);
    run.fake.expect_error("POST", "/threads", 400);
    let asked = format!("<@{}> {REWARD}", fd::BOT_USER_ID);
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(2601, no_threads, fd::USER_ID, false, &asked, &[fd::BOT_USER_ID]),
        )
        .await;
    let answer = run
        .fake
        .wait_for("the answer in place", T, |c| {
            c.method == "PATCH"
                && c.path.contains(&format!("/channels/{no_threads}/messages/"))
                && c.body["content"].as_str().is_some_and(|t| t.contains("**Sources**"))
        })
        .await;
    let answer_id: u64 = answer.path.rsplit('/').next().unwrap().parse().unwrap();
    let placeholder = run
        .fake
        .requests()
        .into_iter()
        .find(|c| c.method == "POST" && c.path.ends_with(&format!("/channels/{no_threads}/messages")))
        .unwrap();
    assert_eq!(
        placeholder.body["message_reference"]["message_id"], "2601",
        "answered as a reply"
    );

    // Someone else talks in the channel, not to the bot: no answer.
    let before = run.fake.requests().len();
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(2602, no_threads, 777, false, "lunch anyone?", &[]),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(run.fake.requests().len(), before, "nothing answered");
    assert_eq!(run.llm.seen().len(), 1);

    // A reply to the bot's answer is a follow-up, answered in place.
    let mut follow = fd::message(2603, no_threads, fd::USER_ID, false, "how is it measured?", &[]);
    follow["message_reference"] = json!({"type": 0, "message_id": answer_id.to_string(), "channel_id": no_threads.to_string(), "guild_id": fd::GUILD_ID.to_string()});
    follow["type"] = json!(19);
    run.fake.dispatch("MESSAGE_CREATE", follow).await;
    run.fake
        .wait_for("the follow-up", T, |c| {
            c.method == "PATCH"
                && c.path.contains(&format!("/channels/{no_threads}/messages/"))
                && c.body["content"].as_str().is_some_and(|t| t.contains("gold rewards"))
        })
        .await;
    assert!(
        run.llm.seen()[1].user_prompt().contains("<previous_turns>"),
        "the follow-up sees the earlier turn"
    );

    // A mention inside a thread someone else started: no thread in a thread,
    // so the answer is a reply there, and the thread does not become ours.
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(
                2604,
                their_thread,
                fd::USER_ID,
                false,
                &format!(
                    "<@{}> which papers find errors in math reasoning steps?",
                    fd::BOT_USER_ID
                ),
                &[fd::BOT_USER_ID],
            ),
        )
        .await;
    run.fake
        .wait_for("the answer in their thread", T, |c| {
            c.method == "PATCH"
                && c.path.contains(&format!("/channels/{their_thread}/messages/"))
                && c.body["content"]
                    .as_str()
                    .is_some_and(|t| t.contains("Inside a thread") && t.contains("**Sources**"))
        })
        .await;
    let before = run.fake.requests().len();
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(2605, their_thread, 777, false, "unrelated chatter", &[]),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        run.fake.requests().len(),
        before,
        "their thread is not a conversation with the bot"
    );
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_running_two_shards_answers_guilds_on_both() {
    let run = start(
        vec![
            Reply::text(&["From shard zero [1]."]),
            Reply::text(&["From shard one [1]."]),
        ],
        |c| {
            c.shard_total = 2;
            c.shard_first = 0;
            c.shard_last = 1;
        },
    )
    .await;
    // serenity starts one shard every 5 s.
    run.fake.wait_shards(2, Duration::from_secs(30)).await;
    assert_eq!(run.fake.shards(), vec![(0, 2), (1, 2)]);
    let on_shard = |s: u64| {
        (0..)
            .map(|i| fd::GUILD_ID + (i << 22))
            .find(|g| (g >> 22) % 2 == s)
            .unwrap()
    };
    for (shard, id, text, q) in [
        (0u64, 2701u64, "From shard zero", REWARD),
        (
            1,
            2702,
            "From shard one",
            "which papers find errors in math reasoning steps?",
        ),
    ] {
        let ask = fd::in_guild(fd::slash_command(id, "ask", ask_options(q)), on_shard(shard));
        run.fake.dispatch("INTERACTION_CREATE", ask).await;
        run.fake
            .wait_for("the answer", T, |c| {
                c.path.contains(&format!("/itoken-{id}/")) && is_original_edit(c) && embed_text(&c.body).contains(text)
            })
            .await;
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thinking_model_shows_thinking_then_only_the_answer() {
    let run = start(
        vec![Reply::slow(
            &[
                "<think>I could cite [2] ",
                "or maybe [3]; ",
                "let me weigh them.</think>",
                "The answer cites one paper [1].",
            ],
            Duration::from_millis(300),
        )],
        |_| {},
    )
    .await;
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(2801, "ask", ask_options(REWARD)),
        )
        .await;
    let fin = run
        .fake
        .wait_for("the final answer", T, |c| {
            is_original_edit(c) && embed_text(&c.body).contains("The answer cites one paper [1].")
        })
        .await;
    let edits: Vec<RestCall> = run.fake.requests().into_iter().filter(is_original_edit).collect();
    assert!(
        edits.iter().any(|c| c.body["content"] == "*Thinking…*"),
        "the preview says the model is thinking: {:?}",
        edits.iter().map(|c| c.body["content"].clone()).collect::<Vec<_>>()
    );
    for c in &edits {
        let shown = format!("{}{}", c.body["content"], embed_text(&c.body));
        assert!(
            !shown.contains("weigh") && !shown.contains("<think>"),
            "reasoning shown: {shown}"
        );
    }
    assert!(embed_text(&fin.body).contains("[1]"));
    let fake = run.stop().await;
    assert_no_pings(&fake.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_global_rate_limit_on_the_answer_is_waited_out() {
    use crate::support::fake_discord::Limit;
    let run = start(vec![Reply::text(&["Despite the limit [1]."])], |_| {}).await;
    run.fake
        .fail_next_with("PATCH", "/messages/@original", Limit::Global, 1.0);
    run.fake
        .dispatch(
            "INTERACTION_CREATE",
            fd::slash_command(2901, "ask", ask_options(REWARD)),
        )
        .await;
    run.fake
        .wait_for("the answer", T, |c| {
            is_original_edit(c) && embed_text(&c.body).contains("Despite the limit [1].")
        })
        .await;
    let limited: Vec<RestCall> = run.fake.requests().into_iter().filter(|c| c.status == 429).collect();
    assert_eq!(limited.len(), 1);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_read_message_history_the_answer_is_posted_without_the_reply_link() {
    use crate::support::fake_discord::{ChannelSpec, kind, perm};
    let run = start(vec![Reply::text(&["Posted plainly [1]."])], |_| {}).await;
    let channel = 9_903u64;
    run.fake.add_channel(
        channel,
        ChannelSpec {
            kind: kind::GUILD_TEXT,
            permissions: perm::ALL & !perm::CREATE_PUBLIC_THREADS & !perm::READ_MESSAGE_HISTORY,
        },
    );
    run.fake.expect_error("POST", "/threads", 403);
    run.fake
        .expect_error("POST", &format!("/channels/{channel}/messages"), 400);
    let asked = format!("<@{}> {REWARD}", fd::BOT_USER_ID);
    run.fake
        .dispatch(
            "MESSAGE_CREATE",
            fd::message(3001, channel, fd::USER_ID, false, &asked, &[fd::BOT_USER_ID]),
        )
        .await;
    run.fake
        .wait_for("the answer", T, |c| {
            c.method == "PATCH"
                && c.path.contains(&format!("/channels/{channel}/messages/"))
                && c.body["content"].as_str().is_some_and(|t| t.contains("Posted plainly"))
        })
        .await;
    let posts: Vec<RestCall> = run
        .fake
        .requests()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with(&format!("/channels/{channel}/messages")))
        .collect();
    assert_eq!(posts.len(), 2, "a refused reply, then the plain message");
    assert_eq!(posts[0].status, 400);
    assert!(posts[1].body["message_reference"].is_null() && posts[1].status == 200);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_library_restored_from_its_backup_keeps_subscriptions_and_posts_nothing_old() {
    use paperbot::digest::schedule::Tick;
    use paperbot::discord::digests;
    use paperbot::ingest::{Incoming, ingest_until};

    // A library with a subscription, whose digest is posted.
    let (_dir, lib) = own_library(6).await;
    let run = start_with(lib, vec![], |_| {}).await;
    let channel = 7_501u64;
    let now = subscribe_directly(&run.bot, fd::GUILD_ID, channel, 4).await;
    let ticks = digests::run_due(&run.bot, &run.http, now).await;
    assert!(
        matches!(ticks.as_slice(), [(c, Tick::Posted(_))] if *c == channel),
        "{ticks:?}"
    );

    // Export, and restore into a new store (and a Qdrant server when QDRANT_URL is set).
    let mut backup = Vec::new();
    let store = &run.bot.answerer.library().store;
    let exported = paperbot::backup::export(store, &mut backup).await.unwrap();
    assert_eq!(exported.papers, 6);
    assert!(exported.state >= 2, "the subscription and its state: {exported:?}");
    let parsed = paperbot::sources::jsonl::parse(&backup);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.first_seen.len(), 6);
    let mut targets: Vec<AnyStore> = vec![AnyStore::Edge(
        EdgeStore::open(&tempfile::tempdir().unwrap().keep()).unwrap(),
    )];
    if let Ok(url) = std::env::var("QDRANT_URL") {
        let server = paperbot::store::server::ServerStore::connect(paperbot::store::server::ServerConfig {
            url,
            api_key: None,
            collection: format!("paperbot_restore_{}", std::process::id()),
            shard_number: None,
            replication_factor: None,
            timeout: Duration::from_secs(10),
        })
        .unwrap();
        server.drop_all().await.unwrap();
        targets.push(AnyStore::Server(server));
    }
    for store in targets {
        let dense = run.bot.answerer.library().dense.clone();
        let bm25 = run.bot.answerer.library().bm25.clone();
        let restored = Library::new(store, dense, bm25).await.unwrap();
        let records: Vec<Incoming> = parsed
            .papers
            .iter()
            .map(|p| Incoming {
                paper: p.clone(),
                first_seen: parsed.first_seen.get(&p.id).copied(),
            })
            .collect();
        let outcome = ingest_until(
            &restored,
            records,
            &indicatif::ProgressBar::hidden(),
            &Default::default(),
        )
        .await
        .unwrap();
        assert_eq!(outcome.counts.new, 6);
        paperbot::backup::restore_state(&restored.store, &parsed.state)
            .await
            .unwrap();

        // The next day's digest in the restored library: the subscription is
        // there, and nothing entered since the last digest, so nothing is posted.
        let again = start_with(Arc::new(restored), vec![], |_| {}).await;
        let tomorrow = now + chrono::Duration::days(1);
        let ticks = digests::run_due(&again.bot, &again.http, tomorrow).await;
        assert!(
            matches!(ticks.as_slice(), [(c, Tick::Posted(_))] if *c == channel),
            "{ticks:?}"
        );
        let posted = again
            .fake
            .requests()
            .into_iter()
            .filter(|c| c.method == "POST" && c.path.ends_with(&format!("/channels/{channel}/messages")))
            .count();
        assert_eq!(posted, 0, "old papers are not presented as new");
        if let AnyStore::Server(s) = &again.bot.answerer.library().store {
            s.drop_all().await.unwrap();
        }
        again.stop().await;
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_that_both_own_a_subscription_post_its_digest_once() {
    use paperbot::discord::digests;
    let (_dir, lib) = own_library(6).await;
    let run = start_with(lib, vec![], |_| {}).await;
    let channel = 7_601u64;
    let now = subscribe_directly(&run.bot, fd::GUILD_ID, channel, 3).await;
    // A rolling deploy: two processes whose shard ranges both include the guild.
    let process = |n: u32| {
        let answerer = Answerer::new(
            run.bot.answerer.library().clone(),
            Prompts::builtin().unwrap(),
            None,
            answer_config(),
            SearchConfig::default(),
        );
        let bot = Bot::new(
            Arc::new(answerer),
            DiscordConfig::default(),
            run._feedback.path().join(format!("fb{n}.jsonl")),
        );
        bot.me.store(fd::BOT_USER_ID, std::sync::atomic::Ordering::Relaxed);
        bot
    };
    let (p0, p1) = (process(0), process(1));
    let (t0, t1) = tokio::join!(
        digests::run_due(&p0, &run.http, now),
        digests::run_due(&p1, &run.http, now)
    );
    let posts: Vec<RestCall> = run
        .fake
        .requests()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with(&format!("/channels/{channel}/messages")))
        .collect();
    let ids: std::collections::HashSet<String> = posts
        .iter()
        .filter_map(|c| c.body["nonce"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 1, "one digest id: {t0:?} {t1:?}");
    let messages = run
        .http
        .get_messages(serenity::all::ChannelId::new(channel), None, Some(100))
        .await
        .unwrap();
    assert_eq!(
        messages.len(),
        1,
        "one message in the channel ({} posts tried: {t0:?} {t1:?})",
        posts.len()
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_digest_is_found_under_many_newer_messages() {
    use paperbot::digest::schedule::Tick;
    use paperbot::discord::digests;
    use paperbot::store::state::StateStore;
    let (_dir, lib) = own_library(6).await;
    let run = start_with(lib, vec![], |_| {}).await;
    let channel = 7_602u64;
    let now = subscribe_directly(&run.bot, fd::GUILD_ID, channel, 3).await;
    let today = (now - chrono::Duration::minutes(1)).date_naive();
    assert!(matches!(
        digests::run_due(&run.bot, &run.http, now).await.as_slice(),
        [(_, Tick::Posted(_))]
    ));
    // The record of the post is lost (a crash before it was written)…
    let store = &run.bot.answerer.library().store;
    let key = channel.to_string();
    let mut state = store.get_doc("digest_state", &key).await.unwrap().unwrap();
    let posted = run
        .fake
        .requests()
        .into_iter()
        .find(|c| c.method == "POST" && c.path.ends_with(&format!("/channels/{channel}/messages")))
        .unwrap();
    let id = posted.body["nonce"].as_str().unwrap().to_string();
    state["pending"] =
        json!({"date": today, "digest_id": id, "cutoff": now, "started": now - chrono::Duration::minutes(1)});
    state["last_posted"] = Value::Null;
    store.put_doc("digest_state", &key, &state).await.unwrap();
    // …and 150 messages came after the digest.
    for i in 0..150u64 {
        let m = fd::message(
            1_600_000_000_000_000_000 + i,
            channel,
            fd::USER_ID,
            false,
            "chatter",
            &[],
        );
        run.fake.dispatch("MESSAGE_CREATE", m).await;
    }
    let ticks = digests::run_due(&run.bot, &run.http, now + chrono::Duration::minutes(2)).await;
    assert_eq!(ticks, vec![(channel, Tick::Recovered(today))]);
    let posts = run
        .fake
        .requests()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with(&format!("/channels/{channel}/messages")))
        .count();
    assert_eq!(posts, 1, "not posted again");
    run.stop().await;
}
