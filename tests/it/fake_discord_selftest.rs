//! The fake Discord (tests/common/fake_discord.rs) against the real serenity
//! client: its payloads deserialize with serenity's own types, serenity's
//! `Http` (real ratelimiter) reaches it over TLS, and a real `Client` gets
//! READY and dispatched events through its gateway.

use std::time::{Duration, Instant};

use crate::support::fake_discord::{APP_ID, BOT_USER_ID, CHANNEL_ID, FakeDiscord, GUILD_ID, RestCall, TOKEN, USER_ID};
use serde_json::{Value, json};
use serenity::all::{
    ApplicationId, Channel, ChannelId, ChannelType, Command, CommandDataOptionValue, CommandOptionType, Context,
    CreateActionRow, CreateAttachment, CreateAutocompleteResponse, CreateButton, CreateCommand, CreateCommandOption,
    CreateEmbed, CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    CreateMessage, CreateThread, EditInteractionResponse, EditMessage, EventHandler, GatewayIntents, GuildId,
    Interaction, Message, MessageId, Ready,
};
use serenity::http::{Http, HttpBuilder};
use serenity::model::event::GatewayEvent;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// serenity's warnings (dropped payloads, bad statuses) in the test output; RUST_LOG overrides.
fn logs() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "serenity=warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

fn http(fake: &FakeDiscord) -> Http {
    HttpBuilder::new(TOKEN).client(fake.http_client()).build()
}

fn calls(fake: &FakeDiscord, method: &str, path: &str) -> Vec<RestCall> {
    fake.requests()
        .into_iter()
        .filter(|c| c.method == method && c.path == path)
        .collect()
}

/// Wraps `d` as the gateway frame serenity reads and deserializes it the way the shard does.
fn as_dispatch(event: &str, d: &Value) -> serenity::model::event::Event {
    let frame = json!({"op": 0, "s": 7, "t": event, "d": d});
    match serde_json::from_value::<GatewayEvent>(frame) {
        Ok(GatewayEvent::Dispatch(7, ev)) => ev,
        Ok(other) => panic!("{event} parsed as {other:?}"),
        Err(e) => panic!("serenity rejects the {event} payload: {e}\n{d:#}"),
    }
}

#[test]
fn payload_builders_deserialize_with_serenity() {
    let cmd = crate::support::fake_discord::slash_command(
        11,
        "ask",
        json!([{"name": "question", "type": 3, "value": "what is RAG?"}]),
    );
    let Interaction::Command(c) = serde_json::from_value::<Interaction>(cmd.clone()).expect("slash command") else {
        panic!("not a command")
    };
    assert_eq!(c.data.name, "ask");
    assert_eq!(c.token, "itoken-11");
    assert_eq!(c.application_id.get(), APP_ID);
    assert_eq!(c.guild_id.map(|g| g.get()), Some(GUILD_ID));
    assert_eq!(c.channel_id.get(), CHANNEL_ID);
    assert_eq!(c.user.id.get(), USER_ID, "user is filled from member");
    assert_eq!(
        c.data.options[0].value,
        CommandDataOptionValue::String("what is RAG?".into())
    );
    assert!(matches!(
        as_dispatch("INTERACTION_CREATE", &cmd),
        serenity::model::event::Event::InteractionCreate(_)
    ));
    assert_eq!(
        crate::support::fake_discord::slash_command(11, "ask", json!([])),
        crate::support::fake_discord::slash_command(11, "ask", json!([]))
    );

    let ac = crate::support::fake_discord::autocomplete(12, "ask", "paper", "atten");
    let Interaction::Autocomplete(a) = serde_json::from_value::<Interaction>(ac.clone()).expect("autocomplete") else {
        panic!("not autocomplete")
    };
    assert_eq!(
        a.data.options[0].value,
        CommandDataOptionValue::Autocomplete {
            kind: CommandOptionType::String,
            value: "atten".into()
        }
    );
    as_dispatch("INTERACTION_CREATE", &ac);

    let click = crate::support::fake_discord::component_click(13, "more:42", 99);
    let Interaction::Component(k) = serde_json::from_value::<Interaction>(click.clone()).expect("component") else {
        panic!("not a component")
    };
    assert_eq!(k.data.custom_id, "more:42");
    assert_eq!(k.message.id.get(), 99);
    assert_eq!(k.message.author.id.get(), BOT_USER_ID);
    as_dispatch("INTERACTION_CREATE", &click);

    let msg =
        crate::support::fake_discord::message(21, CHANNEL_ID, USER_ID, false, "hey <@1>", &[BOT_USER_ID, USER_ID]);
    let m: Message = serde_json::from_value(msg.clone()).expect("message");
    assert_eq!(m.content, "hey <@1>");
    assert_eq!(m.guild_id.map(|g| g.get()), Some(GUILD_ID));
    assert!(!m.author.bot);
    assert_eq!(m.mentions.len(), 2);
    assert!(m.mentions[0].bot);
    as_dispatch("MESSAGE_CREATE", &msg);
    let bot_msg = crate::support::fake_discord::message(22, CHANNEL_ID, BOT_USER_ID, true, "", &[]);
    assert!(
        serde_json::from_value::<Message>(bot_msg)
            .expect("bot message")
            .author
            .bot
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_through_serenity_http() {
    logs();
    let fake = FakeDiscord::start().await;
    let http = http(&fake);

    // Plain GETs.
    let me = http.get_current_user().await.expect("GET /users/@me");
    assert_eq!(me.id.get(), BOT_USER_ID);
    assert!(me.bot);
    let app = http
        .get_current_application_info()
        .await
        .expect("GET /oauth2/applications/@me");
    assert_eq!(app.id.get(), APP_ID);
    assert_eq!(http.get_gateway().await.expect("GET /gateway").url, fake.gateway_url());
    let bot_gw = http.get_bot_gateway().await.expect("GET /gateway/bot");
    assert_eq!((bot_gw.url, bot_gw.shards), (fake.gateway_url(), 1));
    let call = &calls(&fake, "GET", "/api/v10/users/@me")[0];
    assert_eq!(call.headers["authorization"], format!("Bot {TOKEN}"));

    // Messages: say, a reply with an embed and a button, an attachment.
    let channel = ChannelId::new(CHANNEL_ID);
    let hi = channel.say(&http, "hi").await.expect("say");
    assert_eq!(hi.content, "hi");
    assert_eq!(hi.author.id.get(), BOT_USER_ID);
    let posted = fake
        .wait_for("POST message hi", WAIT, |c| {
            c.method == "POST" && c.path == format!("/api/v10/channels/{CHANNEL_ID}/messages")
        })
        .await;
    assert_eq!(posted.body["content"], "hi");

    let reply = channel
        .send_message(
            &http,
            CreateMessage::new()
                .content("see <@1300000000000000300>")
                .embed(
                    CreateEmbed::new()
                        .title("Paper")
                        .description("abstract")
                        .field("authors", "A. B.", false),
                )
                .components(vec![CreateActionRow::Buttons(vec![
                    CreateButton::new("more:1").label("More"),
                ])])
                .reference_message((channel, hi.id)),
        )
        .await
        .expect("reply with embed and button");
    assert_eq!(reply.embeds[0].title.as_deref(), Some("Paper"));
    assert_eq!(reply.components.len(), 1);
    assert_eq!(reply.message_reference.as_ref().and_then(|r| r.message_id), Some(hi.id));
    assert_eq!(reply.referenced_message.as_ref().map(|m| m.id), Some(hi.id));
    assert_eq!(reply.mentions[0].id.get(), USER_ID);

    let with_file = channel
        .send_message(
            &http,
            CreateMessage::new()
                .content("file")
                .add_file(CreateAttachment::bytes(b"hello".to_vec(), "a.txt")),
        )
        .await
        .expect("message with attachment");
    assert_eq!(with_file.attachments[0].filename, "a.txt");
    let multipart = calls(&fake, "POST", &format!("/api/v10/channels/{CHANNEL_ID}/messages"))
        .pop()
        .unwrap();
    assert!(
        multipart.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("multipart/form-data")
    );
    assert_eq!(multipart.body["content"], "file", "payload_json parsed");
    assert_eq!(multipart.files, vec![("a.txt".to_string(), b"hello".to_vec())]);

    // Discord's limits come back as errors.
    let too_long = http
        .send_message(channel, vec![], &json!({"content": "x".repeat(2001)}))
        .await;
    match too_long {
        Err(serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(e))) => {
            assert_eq!((e.status_code.as_u16(), e.error.code), (400, 50035));
            assert_eq!(e.error.errors[0].path, "content");
        }
        other => panic!("2001 characters must fail with 400: {other:?}"),
    }

    // A 429 on an edit is retried by serenity's ratelimiter.
    fake.fail_next("PATCH", &format!("/messages/{}", hi.id), 0.6);
    let edited = channel
        .edit_message(&http, hi.id, EditMessage::new().content("edited"))
        .await
        .expect("edit after 429");
    assert_eq!(edited.content, "edited");
    assert!(edited.edited_timestamp.is_some());
    let patches = calls(
        &fake,
        "PATCH",
        &format!("/api/v10/channels/{CHANNEL_ID}/messages/{}", hi.id),
    );
    assert_eq!(patches.len(), 2, "the 429 and the retry");
    let gap = patches[1].at - patches[0].at;
    assert!(
        gap >= Duration::from_millis(600),
        "retried after {gap:?}, before retry_after"
    );

    // Threads, typing, channels.
    let thread = channel
        .create_thread_from_message(&http, hi.id, CreateThread::new("About hi"))
        .await
        .expect("thread");
    assert_eq!(thread.kind, ChannelType::PublicThread);
    assert_eq!(
        thread.id.get(),
        hi.id.get(),
        "a thread from a message has the message's id"
    );
    assert_eq!(thread.parent_id, Some(channel));
    assert_eq!(thread.guild_id.get(), GUILD_ID);
    assert!(
        channel
            .create_thread_from_message(&http, hi.id, CreateThread::new("again"))
            .await
            .is_err()
    );
    let Channel::Guild(t) = thread.id.to_channel(&http).await.expect("GET thread") else {
        panic!("not a guild channel")
    };
    assert_eq!(t.name, "About hi");
    let Channel::Guild(c) = channel.to_channel(&http).await.expect("GET channel") else {
        panic!("not a guild channel")
    };
    assert_eq!(c.kind, ChannelType::Text);
    ChannelId::new(thread.id.get())
        .broadcast_typing(&http)
        .await
        .expect("typing");
    ChannelId::new(thread.id.get())
        .say(&http, "in thread")
        .await
        .expect("post in thread");

    // Commands (needs the application id; a real client learns it from READY).
    http.set_application_id(ApplicationId::new(APP_ID));
    let ask = CreateCommand::new("ask").description("Ask about papers").add_option(
        CreateCommandOption::new(CommandOptionType::String, "question", "Your question")
            .required(true)
            .set_autocomplete(true),
    );
    let global = Command::set_global_commands(&http, vec![ask.clone()])
        .await
        .expect("PUT global commands");
    assert_eq!(global[0].name, "ask");
    assert_eq!(global[0].options[0].name, "question");
    let guild = GuildId::new(GUILD_ID)
        .set_commands(&http, vec![ask])
        .await
        .expect("PUT guild commands");
    assert_eq!(guild[0].guild_id.map(|g| g.get()), Some(GUILD_ID));
    let bad = CreateCommand::new("Ask").description("uppercase names are refused");
    assert!(Command::set_global_commands(&http, vec![bad]).await.is_err());

    // Interactions: defer, edit the original, follow up, read it back; a second ack fails.
    let payload = crate::support::fake_discord::slash_command(500, "ask", json!([]));
    fake.created(&payload);
    let Interaction::Command(cmd) = serde_json::from_value::<Interaction>(payload).unwrap() else {
        panic!()
    };
    assert!(
        cmd.edit_response(&http, EditInteractionResponse::new().content("early"))
            .await
            .is_err(),
        "no webhook before the ack"
    );
    cmd.create_response(
        &http,
        CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new()),
    )
    .await
    .expect("defer");
    let ack = calls(&fake, "POST", "/api/v10/interactions/500/itoken-500/callback")
        .pop()
        .unwrap();
    assert_eq!(ack.body["type"], 5);
    let original = cmd
        .edit_response(&http, EditInteractionResponse::new().content("answer"))
        .await
        .expect("edit original");
    assert_eq!(original.content, "answer");
    let follow = cmd
        .create_followup(
            &http,
            CreateInteractionResponseFollowup::new()
                .content("sources")
                .ephemeral(true),
        )
        .await
        .expect("followup");
    assert_eq!(follow.content, "sources");
    assert_eq!(cmd.get_response(&http).await.expect("GET original").content, "answer");
    let again = cmd.create_response(&http, CreateInteractionResponse::Acknowledge).await;
    assert!(again.is_err(), "an interaction can be acknowledged once");

    // Unknown routes are 404 and recorded; a wrong token is 401.
    assert!(http.get_guild(GuildId::new(GUILD_ID)).await.is_err());
    assert_eq!(calls(&fake, "GET", &format!("/api/v10/guilds/{GUILD_ID}")).len(), 1);
    let intruder = HttpBuilder::new("a.b.c").client(fake.http_client()).build();
    assert!(intruder.get_current_user().await.is_err());
}

#[derive(Debug)]
enum Seen {
    Ready(Ready),
    Message(Message),
    Interaction(Interaction),
}

struct Recorder(mpsc::UnboundedSender<Seen>);

#[serenity::async_trait]
impl EventHandler for Recorder {
    async fn ready(&self, _: Context, ready: Ready) {
        let _ = self.0.send(Seen::Ready(ready));
    }

    async fn message(&self, _: Context, msg: Message) {
        let _ = self.0.send(Seen::Message(msg));
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        // Answer like a bot would, through the client's own Http.
        match &interaction {
            Interaction::Command(c) => {
                let r = CreateInteractionResponse::Message(CreateInteractionResponseMessage::new().content("pong"));
                c.create_response(&ctx.http, r).await.expect("respond to command");
            }
            Interaction::Autocomplete(a) => {
                let r = CreateInteractionResponse::Autocomplete(
                    CreateAutocompleteResponse::new().add_string_choice("Attention", "1706.03762"),
                );
                a.create_response(&ctx.http, r).await.expect("autocomplete");
            }
            Interaction::Component(k) => {
                k.create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
                    .await
                    .expect("ack click");
                k.edit_response(&ctx.http, EditInteractionResponse::new().content("clicked"))
                    .await
                    .expect("edit clicked");
            }
            _ => {}
        }
        let _ = self.0.send(Seen::Interaction(interaction));
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no event reached the handler")
        .expect("handler gone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_client_through_the_gateway() {
    logs();
    let fake = FakeDiscord::start().await;
    let intents = GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut client = serenity::client::ClientBuilder::new_with_http(http(&fake), intents)
        .event_handler(Recorder(tx))
        .await
        .expect("client");
    let shards = client.shard_manager.clone();
    let started = Instant::now();
    tokio::spawn(async move { client.start().await });

    fake.wait_ready(WAIT).await;
    eprintln!("READY after {:?}", started.elapsed());
    let identify = fake.identify().unwrap();
    assert_eq!(identify["intents"].as_u64(), Some(intents.bits()));
    assert_eq!(identify["token"], format!("Bot {TOKEN}"));
    let Seen::Ready(ready) = next(&mut rx).await else {
        panic!("expected ready")
    };
    assert_eq!(ready.user.id.get(), BOT_USER_ID);
    assert_eq!(ready.application.id.get(), APP_ID);

    fake.dispatch(
        "MESSAGE_CREATE",
        crate::support::fake_discord::message(700, CHANNEL_ID, USER_ID, false, "hello bot", &[BOT_USER_ID]),
    )
    .await;
    let Seen::Message(m) = next(&mut rx).await else {
        panic!("expected message")
    };
    assert_eq!((m.id, m.content.as_str()), (MessageId::new(700), "hello bot"));

    fake.dispatch(
        "INTERACTION_CREATE",
        crate::support::fake_discord::slash_command(801, "ask", json!([{"name": "question", "type": 3, "value": "q"}])),
    )
    .await;
    let Seen::Interaction(Interaction::Command(c)) = next(&mut rx).await else {
        panic!("expected command")
    };
    assert_eq!(c.data.name, "ask");
    let ack = fake
        .wait_for("command response", WAIT, |c| c.path.contains("/interactions/801/"))
        .await;
    assert_eq!(
        (ack.body["type"].as_u64(), ack.body["data"]["content"].as_str()),
        (Some(4), Some("pong"))
    );

    fake.dispatch(
        "INTERACTION_CREATE",
        crate::support::fake_discord::autocomplete(802, "ask", "question", "att"),
    )
    .await;
    let Seen::Interaction(Interaction::Autocomplete(_)) = next(&mut rx).await else {
        panic!("expected autocomplete")
    };
    let ac = fake
        .wait_for("autocomplete result", WAIT, |c| c.path.contains("/interactions/802/"))
        .await;
    assert_eq!(ac.body["type"], 8);
    assert_eq!(ac.body["data"]["choices"][0]["value"], "1706.03762");

    // A click on a message the fake knows: the deferred update then edits that message.
    fake.dispatch(
        "INTERACTION_CREATE",
        crate::support::fake_discord::component_click(803, "more:1", 4242),
    )
    .await;
    let Seen::Interaction(Interaction::Component(k)) = next(&mut rx).await else {
        panic!("expected click")
    };
    assert_eq!(k.data.custom_id, "more:1");
    let edit = fake
        .wait_for("edit after click", WAIT, |c| {
            c.method == "PATCH" && c.path.ends_with("/itoken-803/messages/@original")
        })
        .await;
    assert_eq!(edit.body["content"], "clicked");
    assert_eq!(fake.message_state(4242).unwrap()["content"], "clicked");

    // With echo on, the bot's own channel messages come back as MESSAGE_CREATE.
    fake.echo_bot_messages(true);
    ChannelId::new(CHANNEL_ID)
        .say(&http(&fake), "echo me")
        .await
        .expect("say");
    let Seen::Message(own) = next(&mut rx).await else {
        panic!("expected the echo")
    };
    assert_eq!((own.content.as_str(), own.author.id.get()), ("echo me", BOT_USER_ID));
    assert_eq!(own.guild_id.map(|g| g.get()), Some(GUILD_ID));

    shards.shutdown_all().await;
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(fake: &FakeDiscord) -> Ws {
    let url = format!("{}/?v=10", fake.gateway_url());
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect to the fake gateway")
        .0
}

/// The next text frame as JSON, or `{"close": code}`.
async fn recv(ws: &mut Ws) -> Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message as M;
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("gateway frame")
            .expect("open")
            .expect("frame");
        match msg {
            M::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
            M::Close(f) => return json!({"close": f.map(|f| u16::from(f.code))}),
            _ => {}
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(v.to_string()))
        .await
        .expect("send frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_protocol_by_hand() {
    let fake = FakeDiscord::start().await;
    let identify = |token: &str, intents: u64| json!({"op": 2, "d": {"token": token, "intents": intents, "shard": [0, 1], "properties": {"os": "linux"}}});

    let mut ws = connect(&fake).await;
    let hello = recv(&mut ws).await;
    assert_eq!(hello["op"], 10);
    assert!(hello["d"]["heartbeat_interval"].as_u64().unwrap() > 0);
    send(&mut ws, json!({"op": 1, "d": null})).await;
    assert_eq!(recv(&mut ws).await["op"], 11, "heartbeat ack");
    send(&mut ws, identify("Bot a.b.c", 0)).await;
    assert_eq!(recv(&mut ws).await, json!({"close": 4004}), "wrong token");

    // GUILD_MESSAGES without MESSAGE_CONTENT: content only when the bot is mentioned.
    let mut ws = connect(&fake).await;
    recv(&mut ws).await;
    send(&mut ws, identify(TOKEN, 1 << 9)).await;
    let ready = recv(&mut ws).await;
    assert_eq!((ready["t"].as_str(), ready["s"].as_u64()), (Some("READY"), Some(1)));
    assert_eq!(ready["d"]["user"]["id"], BOT_USER_ID.to_string());
    fake.wait_ready(WAIT).await;
    assert_eq!(fake.identify().unwrap()["intents"], 1 << 9);
    fake.dispatch(
        "MESSAGE_CREATE",
        crate::support::fake_discord::message(1, CHANNEL_ID, USER_ID, false, "secret", &[]),
    )
    .await;
    let m = recv(&mut ws).await;
    assert_eq!((m["s"].as_u64(), m["d"]["content"].as_str()), (Some(2), Some("")));
    fake.dispatch(
        "MESSAGE_CREATE",
        crate::support::fake_discord::message(2, CHANNEL_ID, USER_ID, false, "hi bot", &[BOT_USER_ID]),
    )
    .await;
    assert_eq!(recv(&mut ws).await["d"]["content"], "hi bot");

    // RESUME on a new connection continues the session.
    drop(ws);
    let mut ws = connect(&fake).await;
    recv(&mut ws).await;
    let session = ready["d"]["session_id"].clone();
    send(
        &mut ws,
        json!({"op": 6, "d": {"token": format!("Bot {TOKEN}"), "session_id": session, "seq": 3}}),
    )
    .await;
    let resumed = recv(&mut ws).await;
    assert_eq!(
        (resumed["t"].as_str(), resumed["s"].as_u64()),
        (Some("RESUMED"), Some(4))
    );
    fake.dispatch(
        "INTERACTION_CREATE",
        crate::support::fake_discord::slash_command(9, "ask", json!([])),
    )
    .await;
    assert_eq!(recv(&mut ws).await["d"]["token"], "itoken-9");
    let ops: Vec<u64> = fake.gateway_frames().iter().filter_map(|f| f["op"].as_u64()).collect();
    assert_eq!(ops, vec![1, 2, 2, 6]);
}

/// (HTTP status, Discord code, the first form error's path) of a refused request.
fn refusal<T: std::fmt::Debug>(r: serenity::Result<T>) -> (u16, isize, String) {
    match r {
        Err(serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(e))) => (
            e.status_code.as_u16(),
            e.error.code,
            e.error
                .errors
                .first()
                .map(|f| format!("{}:{}", f.path, f.code))
                .unwrap_or_default(),
        ),
        other => panic!("expected Discord to refuse, got {other:?}"),
    }
}

fn refused(status: u16, code: isize) -> (u16, isize, String) {
    (status, code, String::new())
}

fn form(path: &str, code: &str) -> (u16, isize, String) {
    (400, 50035, format!("{path}:{code}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn interactions_are_refused_as_discord_refuses_them() {
    logs();
    let fake = FakeDiscord::start().await;
    let http = http(&fake);
    http.set_application_id(ApplicationId::new(APP_ID));
    let command = |id: u64| {
        let p = crate::support::fake_discord::slash_command(id, "ask", json!([]));
        fake.created(&p);
        match serde_json::from_value::<Interaction>(p).unwrap() {
            Interaction::Command(c) => c,
            _ => unreachable!(),
        }
    };
    let message = || CreateInteractionResponse::Message(CreateInteractionResponseMessage::new().content("hi"));

    // Deadlines: the first response within 3 s; the token lives 15 minutes.
    let late = command(601);
    fake.advance(Duration::from_secs(4));
    assert_eq!(
        refusal(late.create_response(&http, message()).await),
        refused(404, 10062)
    );
    let slow = command(602);
    slow.defer(&http).await.expect("defer in time");
    slow.edit_response(&http, EditInteractionResponse::new().content("ok"))
        .await
        .expect("edit within 15 minutes");
    fake.advance(Duration::from_secs(15 * 60));
    assert_eq!(
        refusal(
            slow.edit_response(&http, EditInteractionResponse::new().content("late"))
                .await
        ),
        refused(401, 50027)
    );
    assert_eq!(
        refusal(
            slow.create_followup(&http, CreateInteractionResponseFollowup::new().content("late"))
                .await
        ),
        refused(401, 50027)
    );
    // A second response, and a callback type the interaction does not take.
    let twice = command(603);
    twice.create_response(&http, message()).await.expect("first");
    assert_eq!(
        refusal(twice.create_response(&http, message()).await),
        refused(400, 40060)
    );
    let choices =
        || CreateInteractionResponse::Autocomplete(CreateAutocompleteResponse::new().add_string_choice("a", "a"));
    assert_eq!(
        refusal(command(604).create_response(&http, choices()).await),
        form("type", "BASE_TYPE_CHOICES")
    );

    // Autocomplete answers only with choices, at most 25, 1-100 characters.
    let ac = |id: u64| {
        let p = crate::support::fake_discord::autocomplete(id, "paper", "title", "x");
        fake.created(&p);
        match serde_json::from_value::<Interaction>(p).unwrap() {
            Interaction::Autocomplete(c) => c,
            _ => unreachable!(),
        }
    };
    assert_eq!(
        refusal(ac(611).create_response(&http, message()).await),
        form("type", "BASE_TYPE_CHOICES")
    );
    let mut many = CreateAutocompleteResponse::new();
    for i in 0..26 {
        many = many.add_string_choice(format!("t{i}"), format!("v{i}"));
    }
    assert_eq!(
        refusal(
            ac(612)
                .create_response(&http, CreateInteractionResponse::Autocomplete(many))
                .await
        ),
        form("data.choices", "BASE_TYPE_MAX_LENGTH")
    );
    let long = CreateAutocompleteResponse::new().add_string_choice("n".repeat(101), "v");
    assert_eq!(
        refusal(
            ac(613)
                .create_response(&http, CreateInteractionResponse::Autocomplete(long))
                .await
        ),
        form("data.choices.0.name", "BASE_TYPE_BAD_LENGTH")
    );
    let fine = CreateAutocompleteResponse::new().add_string_choice("n".repeat(100), "v".repeat(100));
    ac(614)
        .create_response(&http, CreateInteractionResponse::Autocomplete(fine))
        .await
        .expect("choices of 100 characters are fine");

    // Components: 1-5 buttons a row, custom ids 1-100 characters and unique, labels ≤ 80.
    let with = |id: u64, row: Vec<CreateButton>| {
        let c = command(id);
        let http = &http;
        async move {
            c.create_response(
                http,
                CreateInteractionResponse::Message(
                    CreateInteractionResponseMessage::new()
                        .content("x")
                        .components(vec![CreateActionRow::Buttons(row)]),
                ),
            )
            .await
        }
    };
    let button = |id: &str, label: &str| CreateButton::new(id).label(label);
    let six: Vec<CreateButton> = (0..6).map(|i| button(&format!("b{i}"), "l")).collect();
    assert_eq!(
        refusal(with(621, six).await),
        form("data.components.0.components", "BASE_TYPE_BAD_LENGTH")
    );
    assert_eq!(
        refusal(with(622, vec![button(&"c".repeat(101), "l")]).await),
        form("data.components.0.components.0.custom_id", "BASE_TYPE_BAD_LENGTH")
    );
    assert_eq!(
        refusal(with(623, vec![button("a", &"l".repeat(81))]).await),
        form("data.components.0.components.0.label", "BASE_TYPE_MAX_LENGTH")
    );
    assert_eq!(
        refusal(with(624, vec![button("a", "l"), button("a", "m")]).await),
        form(
            "data.components.0.components.1.custom_id",
            "COMPONENT_CUSTOM_ID_DUPLICATED"
        )
    );
    with(625, vec![button(&"c".repeat(100), &"l".repeat(80))])
        .await
        .expect("the limits themselves are fine");

    // Every refusal above counts as unexpected until the test declares it.
    let shown = |calls: Vec<RestCall>| calls.iter().map(|c| format!("\n  {c}")).collect::<String>();
    assert_eq!(
        fake.unexpected_errors().len(),
        12,
        "{}",
        shown(fake.unexpected_errors())
    );
    fake.expect_error("POST", "/interactions/", 400);
    fake.expect_error("POST", "/interactions/", 404);
    fake.expect_error("PATCH", "/webhooks/", 401);
    fake.expect_error("POST", "/webhooks/", 401);
    assert!(
        fake.unexpected_errors().is_empty(),
        "{}",
        shown(fake.unexpected_errors())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn channels_refuse_by_kind_and_permission() {
    use crate::support::fake_discord::{ChannelSpec, kind, perm};
    logs();
    let fake = FakeDiscord::start().await;
    let http = http(&fake);
    let (no_threads, thread, voice, forum, dm, hidden, mute, history) = (901, 902, 903, 904, 905, 906, 907, 908);
    let spec = |kind: u8, permissions: u64| ChannelSpec { kind, permissions };
    fake.add_channel(
        no_threads,
        spec(kind::GUILD_TEXT, perm::ALL & !perm::CREATE_PUBLIC_THREADS),
    );
    fake.add_channel(thread, spec(kind::PUBLIC_THREAD, perm::ALL));
    fake.add_channel(voice, spec(kind::GUILD_VOICE, perm::ALL));
    fake.add_channel(forum, spec(kind::GUILD_FORUM, perm::ALL));
    fake.add_channel(dm, spec(kind::DM, perm::ALL));
    fake.add_channel(hidden, spec(kind::GUILD_TEXT, 0));
    fake.add_channel(mute, spec(kind::GUILD_TEXT, perm::ALL & !perm::SEND_MESSAGES));
    fake.add_channel(history, spec(kind::GUILD_TEXT, perm::ALL & !perm::READ_MESSAGE_HISTORY));

    // Sending: access, permission, forum; replies need the history.
    let say = |ch: u64| ChannelId::new(ch).say(&http, "hi");
    assert_eq!(refusal(say(hidden).await), refused(403, 50001));
    assert_eq!(refusal(say(mute).await), refused(403, 50013));
    assert_eq!(refusal(say(forum).await), refused(400, 40058));
    let embed_only = CreateMessage::new().embed(CreateEmbed::new().description("e"));
    let no_embeds = spec(kind::GUILD_TEXT, perm::ALL & !perm::EMBED_LINKS);
    fake.add_channel(909, no_embeds);
    assert_eq!(
        refusal(ChannelId::new(909).send_message(&http, embed_only).await),
        refused(403, 50013)
    );
    let first = say(history).await.expect("sending needs no history");
    let reply = CreateMessage::new().content("re").reference_message(&first);
    assert_eq!(
        refusal(ChannelId::new(history).send_message(&http, reply).await),
        refused(400, 160002)
    );
    // Without READ_MESSAGE_HISTORY the list is empty, not an error.
    let listed = ChannelId::new(history)
        .messages(&http, serenity::all::GetMessages::new())
        .await
        .expect("list");
    assert!(listed.is_empty());

    // Threads: from a known message, in a text channel, with the permission.
    let thread_from = |ch: u64, mid: u64| {
        ChannelId::new(ch).create_thread_from_message(&http, MessageId::new(mid), CreateThread::new("t"))
    };
    let in_text = say(CHANNEL_ID).await.expect("post");
    assert_eq!(refusal(thread_from(CHANNEL_ID, 123_456).await), refused(404, 10008));
    for (ch, want) in [
        (no_threads, refused(403, 50013)),
        (thread, refused(400, 50024)),
        (voice, refused(400, 50024)),
        (forum, refused(400, 50024)),
        (dm, refused(403, 50003)),
    ] {
        assert_eq!(
            refusal(thread_from(ch, 1_500_000_000_000_000_000 + ch).await),
            want,
            "channel {ch}"
        );
    }
    let t = thread_from(CHANNEL_ID, in_text.id.get())
        .await
        .expect("a thread in a text channel");
    assert_eq!(t.kind, ChannelType::PublicThread);

    // Listing: limit 1-100 and one anchor.
    for i in 0..5 {
        say(CHANNEL_ID).await.unwrap_or_else(|e| panic!("post {i}: {e}"));
    }
    let two = ChannelId::new(CHANNEL_ID)
        .messages(&http, serenity::all::GetMessages::new().limit(2))
        .await
        .expect("limit 2");
    assert_eq!(two.len(), 2);
    assert!(two[0].id > two[1].id, "newest first");
    let before = ChannelId::new(CHANNEL_ID)
        .messages(&http, serenity::all::GetMessages::new().before(two[1].id).limit(100))
        .await
        .expect("before");
    assert!(before.iter().all(|m| m.id < two[1].id) && before.len() == 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_global_and_shared_carry_discords_headers() {
    use crate::support::fake_discord::Limit;
    logs();
    let fake = FakeDiscord::start().await;
    let http = http(&fake);
    fake.fail_next_with("POST", "/channels/", Limit::Global, 0.3);
    fake.fail_next_with("POST", "/channels/", Limit::Shared, 0.3);
    let started = Instant::now();
    ChannelId::new(CHANNEL_ID)
        .say(&http, "after two 429s")
        .await
        .expect("serenity waits out both and retries");
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "Retry-After is whole seconds"
    );
    let limited: Vec<RestCall> = fake.requests().into_iter().filter(|c| c.status == 429).collect();
    assert_eq!(limited.len(), 2);
    assert!(fake.unexpected_errors().is_empty(), "injected 429s are expected");
    let header = |c: &RestCall, h: &str| c.response_headers.get(h).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header(&limited[0], "x-ratelimit-global").as_deref(), Some("true"));
    assert_eq!(header(&limited[0], "x-ratelimit-scope").as_deref(), Some("global"));
    assert_eq!(
        header(&limited[0], "x-ratelimit-bucket"),
        None,
        "a global 429 has no bucket"
    );
    assert_eq!(header(&limited[1], "x-ratelimit-scope").as_deref(), Some("shared"));
    assert_eq!(
        header(&limited[1], "retry-after").as_deref(),
        Some("1"),
        "whole seconds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shard_gets_only_its_guilds_events() {
    use crate::support::fake_discord::{as_dm, in_guild, message};
    let fake = FakeDiscord::start().await;
    let identify = |shard: [u64; 2]| json!({"op": 2, "d": {"token": TOKEN, "intents": (1 << 9) | (1 << 15), "shard": shard, "properties": {"os": "linux"}}});
    let shard_of = |g: u64| (g >> 22) % 2;
    let (g0, g1) = if shard_of(GUILD_ID) == 0 {
        (GUILD_ID, GUILD_ID + (1 << 22))
    } else {
        (GUILD_ID + (1 << 22), GUILD_ID)
    };
    let mut shards = Vec::new();
    for id in 0..2u64 {
        let mut ws = connect(&fake).await;
        recv(&mut ws).await;
        send(&mut ws, identify([id, 2])).await;
        let ready = recv(&mut ws).await;
        assert_eq!(ready["d"]["shard"], json!([id, 2]));
        shards.push(ws);
    }
    fake.wait_shards(2, WAIT).await;
    assert_eq!(fake.shards(), vec![(0, 2), (1, 2)]);
    let text = |m: &Value| m["d"]["content"].as_str().unwrap_or_default().to_string();
    fake.dispatch(
        "MESSAGE_CREATE",
        in_guild(message(11, CHANNEL_ID, USER_ID, false, "to one", &[]), g1),
    )
    .await;
    fake.dispatch(
        "MESSAGE_CREATE",
        in_guild(message(12, CHANNEL_ID, USER_ID, false, "to zero", &[]), g0),
    )
    .await;
    fake.dispatch("MESSAGE_CREATE", as_dm(message(13, 77, USER_ID, false, "a DM", &[])))
        .await;
    assert_eq!(text(&recv(&mut shards[1]).await), "to one");
    assert_eq!(text(&recv(&mut shards[0]).await), "to zero");
    assert_eq!(text(&recv(&mut shards[0]).await), "a DM", "DMs go to shard 0");
    // Shard 1 got nothing else: its next frame is the heartbeat ack.
    send(&mut shards[1], json!({"op": 1, "d": null})).await;
    assert_eq!(recv(&mut shards[1]).await["op"], 11);

    let mut bad = connect(&fake).await;
    recv(&mut bad).await;
    send(&mut bad, identify([2, 2])).await;
    assert_eq!(recv(&mut bad).await, json!({"close": 4010}), "invalid shard");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_enforced_nonce_returns_the_first_message() {
    use serenity::all::Nonce;
    let fake = FakeDiscord::start().await;
    let http = http(&fake);
    let msg = |nonce: &str, enforce: bool| {
        CreateMessage::new()
            .content("digest")
            .nonce(Nonce::String(nonce.into()))
            .enforce_nonce(enforce)
    };
    let channel = ChannelId::new(CHANNEL_ID);
    let first = channel.send_message(&http, msg("dg-0123456789ab", true)).await.unwrap();
    let again = channel.send_message(&http, msg("dg-0123456789ab", true)).await.unwrap();
    assert_eq!(first.id, again.id, "the same message, not a second one");
    let loose = channel
        .send_message(&http, msg("dg-0123456789ab", false))
        .await
        .unwrap();
    assert_ne!(loose.id, first.id, "without enforce_nonce the nonce is only echoed");
    // The window is a few minutes.
    fake.advance(Duration::from_secs(6 * 60));
    let later = channel.send_message(&http, msg("dg-0123456789ab", true)).await.unwrap();
    assert_ne!(later.id, first.id);
    assert_eq!(
        refusal(channel.send_message(&http, msg(&"n".repeat(26), true)).await),
        form("nonce", "NONCE_TYPE_TOO_LONG")
    );
}
