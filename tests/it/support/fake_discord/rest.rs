//! The REST API (v10): routing, Discord-style error responses, rate-limit
//! buckets, and the handlers for messages, threads, interactions and commands.

#[allow(unused_imports)]
use super::*;

pub(super) fn json_reply(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

pub(super) fn no_content() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

pub(super) fn error(status: StatusCode, code: u64, message: &str) -> Response {
    json_reply(status, &json!({"message": message, "code": code}))
}

pub(super) fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, 0, "404: Not Found")
}

/// 400 "Invalid Form Body" with Discord's nested `errors` at `path` (dot separated).
pub(super) fn form_error(path: &str, code: &str, message: &str) -> Response {
    let mut errors = json!({"_errors": [{"code": code, "message": message}]});
    for key in path.rsplit('.').filter(|k| !k.is_empty()) {
        let mut outer = Map::new();
        outer.insert(key.to_string(), errors);
        errors = Value::Object(outer);
    }
    json_reply(
        StatusCode::BAD_REQUEST,
        &json!({"message": "Invalid Form Body", "code": 50035, "errors": errors}),
    )
}

/// A 429 as Discord sends it (docs: topics/rate-limits.mdx, the three
/// examples): `Retry-After` in whole seconds (rounded up) beside the exact
/// float in the body; a route's or shared resource's bucket headers; for the
/// global limit only `X-RateLimit-Global` and the scope.
pub(super) fn rate_limited(secs: f64, bucket: &str, limit: Limit) -> Response {
    let (message, global, scope, remaining) = match limit {
        Limit::Route => ("You are being rate limited.", false, "user", "0"),
        Limit::Shared => ("The resource is being rate limited.", false, "shared", "9"),
        Limit::Global => ("You are being rate limited.", true, "global", ""),
    };
    let mut r = json_reply(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"message": message, "retry_after": secs, "global": global}),
    );
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        + secs;
    let mut headers = vec![
        ("retry-after", format!("{}", secs.ceil() as u64)),
        ("x-ratelimit-scope", scope.to_string()),
    ];
    if global {
        headers.push(("x-ratelimit-global", "true".to_string()));
    } else {
        headers.extend([
            ("x-ratelimit-limit", "10".to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset", format!("{reset:.3}")),
            ("x-ratelimit-reset-after", format!("{secs:.3}")),
            ("x-ratelimit-bucket", bucket.to_string()),
        ]);
    }
    let h = r.headers_mut();
    for (name, value) in headers {
        h.insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    r
}

/// Successful replies carry bucket headers that never run out.
pub(super) fn with_bucket(mut r: Response, bucket: &str) -> Response {
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        + 1.0;
    let h = r.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", "50".to_string()),
        ("x-ratelimit-remaining", "49".to_string()),
        ("x-ratelimit-reset", format!("{reset:.3}")),
        ("x-ratelimit-reset-after", "1.000".to_string()),
        ("x-ratelimit-bucket", bucket.to_string()),
    ] {
        h.insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    r
}

/// A bucket name per route shape (ids replaced), like Discord's opaque hashes.
pub(super) fn bucket_of(method: &Method, path: &str) -> String {
    let shape: Vec<&str> = path
        .split('/')
        .map(|s| {
            if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
                "id"
            } else {
                s
            }
        })
        .collect();
    let key = format!("{method} {}", shape.join("/"));
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

pub(super) fn parse_body(headers: &HeaderMap, body: &Bytes) -> (Value, Vec<(String, Vec<u8>)>) {
    if body.is_empty() {
        return (Value::Null, vec![]);
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ct.starts_with("multipart/form-data") {
        let mut payload = Value::Null;
        let mut files = vec![];
        for part in multipart_parts(ct, body) {
            if part.name == "payload_json" {
                payload = serde_json::from_slice(&part.data).unwrap_or(Value::Null);
            } else {
                files.push((part.filename.unwrap_or(part.name), part.data));
            }
        }
        return (payload, files);
    }
    let value = serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()));
    (value, vec![])
}

pub(super) struct Part {
    name: String,
    filename: Option<String>,
    data: Vec<u8>,
}

pub(super) fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// A minimal multipart/form-data reader (what reqwest sends).
pub(super) fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<Part> {
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
    else {
        return vec![];
    };
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = vec![];
    let Some(mut pos) = find(body, &delim, 0) else {
        return parts;
    };
    loop {
        let start = pos + delim.len();
        if body[start..].starts_with(b"--") {
            break;
        }
        let Some(next) = find(body, &delim, start) else { break };
        let mut chunk = &body[start..next];
        chunk = chunk.strip_prefix(b"\r\n").unwrap_or(chunk);
        chunk = chunk.strip_suffix(b"\r\n").unwrap_or(chunk);
        if let Some(split) = find(chunk, b"\r\n\r\n", 0) {
            let head = String::from_utf8_lossy(&chunk[..split]).to_string();
            let data = chunk[split + 4..].to_vec();
            let param = |key: &str| {
                let pat = format!("{key}=\"");
                let at = head.find(&pat)? + pat.len();
                let end = head[at..].find('"')? + at;
                Some(head[at..end].to_string())
            };
            parts.push(Part {
                name: param("name").unwrap_or_default(),
                filename: param("filename"),
                data,
            });
        }
        pos = next;
    }
    parts
}

pub(super) async fn handle_rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let (json_body, files) = parse_body(&headers, &body);
    let mut call = RestCall {
        method: method.to_string(),
        path: path.clone(),
        headers: headers.clone(),
        body: json_body.clone(),
        files: files.clone(),
        at: Instant::now(),
        status: 0,
        response_headers: HeaderMap::new(),
        injected: false,
    };
    let bucket = bucket_of(&method, &path);
    let fail = {
        let mut st = shared.lock();
        let hit = st
            .failures
            .iter()
            .position(|f| f.method == method.as_str() && path.contains(&f.path_contains));
        hit.map(|i| st.failures.remove(i))
    };
    let reply = match &fail {
        Some(f) => rate_limited(f.retry_after, &bucket, f.limit),
        None => with_bucket(
            route(&shared, &method, &path, &query, &headers, &json_body, &files).unwrap_or_else(|e| e),
            &bucket,
        ),
    };
    call.status = reply.status().as_u16();
    call.response_headers = reply.headers().clone();
    call.injected = fail.is_some();
    // Recorded once handled: a call seen by `wait_for` has had its effect on the fake's state.
    shared.lock().calls.push(call);
    reply
}

pub(super) fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Value,
    files: &[(String, Vec<u8>)],
) -> Reply {
    let Some(rest) = path.strip_prefix("/api/v10/") else {
        return Err(not_found());
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let m = method.as_str();

    // Interaction callbacks and webhooks are authorised by their token, the rest by the bot token.
    let token_auth = matches!(segs.first(), Some(&"interactions" | &"webhooks")) || segs == ["gateway"];
    if !token_auth {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if auth != format!("Bot {TOKEN}") {
            return Err(error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized"));
        }
    }

    match (m, segs.as_slice()) {
        ("GET", ["gateway"]) => Ok(json_reply(StatusCode::OK, &json!({"url": shared.gateway_url}))),
        ("GET", ["gateway", "bot"]) => Ok(json_reply(
            StatusCode::OK,
            &json!({
                "url": shared.gateway_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
            }),
        )),
        ("GET", ["users", "@me"]) => Ok(json_reply(StatusCode::OK, &current_user())),
        ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => {
            Ok(json_reply(StatusCode::OK, &application()))
        }
        ("PUT", ["applications", app, "commands"]) => put_commands(shared, app, None, body),
        ("PUT", ["applications", app, "guilds", g, "commands"]) => put_commands(shared, app, Some(*g), body),
        ("GET", ["applications", app, "commands"]) => get_commands(shared, app, None),
        ("GET", ["applications", app, "guilds", g, "commands"]) => get_commands(shared, app, Some(*g)),
        ("POST", ["interactions", id, token, "callback"]) => callback(shared, id, token, body, files),
        (_, ["webhooks", app, token, "messages", which]) => webhook_message(shared, m, app, token, which, body, files),
        ("POST", ["webhooks", app, token]) => followup(shared, app, token, body, files),
        ("POST", ["channels", ch, "messages"]) => create_message(shared, ch, body, files),
        ("GET", ["channels", ch, "messages"]) => list_messages(shared, ch, query),
        (_, ["channels", ch, "messages", mid]) => channel_message(shared, m, ch, mid, body, files),
        ("POST", ["channels", ch, "messages", mid, "threads"]) => create_thread(shared, ch, mid, body),
        ("POST", ["channels", _, "typing"]) => Ok(no_content()),
        ("GET", ["channels", ch]) => {
            let id = snowflake(ch)?;
            let st = shared.lock();
            check_view(&st.channel(id))?;
            Ok(json_reply(
                StatusCode::OK,
                &st.threads
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| channel_object(id, st.channel(id).kind)),
            ))
        }
        _ => Err(not_found()),
    }
}

pub(super) fn snowflake(s: &str) -> Result<u64, Response> {
    s.parse::<u64>()
        .ok()
        .filter(|&id| id > 0)
        .ok_or_else(|| form_error("", "NUMBER_TYPE_COERCE", &format!("Value \"{s}\" is not snowflake.")))
}

pub(super) fn check_app(app: &str) -> Result<(), Response> {
    if app.parse::<u64>().ok() == Some(APP_ID) {
        Ok(())
    } else {
        Err(error(StatusCode::NOT_FOUND, 10002, "Unknown Application"))
    }
}

/// An interaction's webhook: it exists once the interaction is acknowledged
/// (else 404 10015) and its token lives 15 minutes (then 401 50027; docs:
/// interactions/receiving-and-responding.mdx).
pub(super) fn check_webhook(st: &FakeState, app: &str, token: &str) -> Result<(), Response> {
    let id = token.strip_prefix("itoken-").and_then(|id| id.parse::<u64>().ok());
    let acked = id.is_some_and(|id| st.acknowledged.contains(&id));
    if app.parse::<u64>().ok() != Some(APP_ID) || !acked {
        return Err(error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook"));
    }
    let age = id
        .and_then(|id| st.interaction_times.get(&id))
        .map(|t| st.now().duration_since(*t));
    if age.is_some_and(|a| a > TOKEN_LIFETIME) {
        return Err(error(StatusCode::UNAUTHORIZED, 50027, "Invalid Webhook Token"));
    }
    Ok(())
}

// ---- messages ----------------------------------------------------------------------

pub(super) fn attachments(shared: &Shared, channel_id: u64, files: &[(String, Vec<u8>)]) -> Vec<Value> {
    files
        .iter()
        .map(|(name, data)| {
            let id = shared.new_id();
            let url = format!("https://cdn.discordapp.com/attachments/{channel_id}/{id}/{name}");
            json!({
                "id": id.to_string(),
                "filename": name,
                "size": data.len(),
                "url": url,
                "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
                "content_type": if name.ends_with(".txt") { "text/plain; charset=utf-8" } else { "application/octet-stream" },
            })
        })
        .collect()
}

pub(super) fn normalized_embeds(embeds: &Value) -> Value {
    let mut out = embeds.as_array().cloned().unwrap_or_default();
    for e in &mut out {
        if e.get("type").is_none_or(Value::is_null) {
            e["type"] = json!("rich");
        }
    }
    Value::Array(out)
}

/// Applies a create/edit body to a message object (content, embeds, components, flags, files).
pub(super) fn apply_body(shared: &Shared, msg: &mut Value, body: &Value, files: &[(String, Vec<u8>)], edit: bool) {
    let obj = body.as_object().cloned().unwrap_or_default();
    if let Some(c) = obj.get("content") {
        msg["content"] = if c.is_null() { json!("") } else { c.clone() };
    }
    if let Some(e) = obj.get("embeds") {
        msg["embeds"] = normalized_embeds(e);
    }
    if let Some(c) = obj.get("components") {
        msg["components"] = if c.is_null() { json!([]) } else { c.clone() };
    }
    if let Some(f) = obj.get("flags").and_then(Value::as_u64) {
        msg["flags"] = json!(f);
    }
    if obj.get("tts").and_then(Value::as_bool) == Some(true) {
        msg["tts"] = json!(true);
    }
    let channel_id = id_of(&msg["channel_id"]).unwrap_or(CHANNEL_ID);
    let new = attachments(shared, channel_id, files);
    if edit {
        // On edit, `attachments` lists the old ones to keep (by id); new files are added.
        if let Some(keep) = obj.get("attachments").and_then(Value::as_array) {
            let ids: HashSet<u64> = keep.iter().filter_map(|a| id_of(&a["id"])).collect();
            let kept: Vec<Value> = msg["attachments"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|a| id_of(&a["id"]).is_some_and(|id| ids.contains(&id)))
                .collect();
            msg["attachments"] = Value::Array(kept);
        }
        if let Some(list) = msg["attachments"].as_array_mut() {
            list.extend(new);
        }
        msg["edited_timestamp"] = json!(now());
    } else {
        msg["attachments"] = Value::Array(new);
    }
    // Mentions of users written as <@id> in the content.
    let content = msg["content"].as_str().unwrap_or_default().to_string();
    let mut mentions = vec![];
    for piece in content.split("<@").skip(1) {
        let digits: String = piece
            .trim_start_matches('!')
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(id) = digits.parse::<u64>()
            && !mentions.iter().any(|u: &Value| id_of(&u["id"]) == Some(id))
        {
            mentions.push(user(id, id == BOT_USER_ID));
        }
    }
    msg["mentions"] = Value::Array(mentions);
}

/// `GET /channels/{id}/messages` (docs: resources/message.mdx "Get Channel
/// Messages"): newest first; `limit` 1-100 (default 50); one of `before`,
/// `after`, `around`; 403 50001 without VIEW_CHANNEL, and an empty list
/// without READ_MESSAGE_HISTORY.
pub(super) fn list_messages(shared: &Shared, ch: &str, query: &str) -> Reply {
    let channel_id = snowflake(ch)?;
    let param = |k: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
    };
    let limit = match param("limit") {
        None => 50,
        Some(l) => match l.parse::<u64>() {
            Ok(n @ 1..=100) => n as usize,
            Ok(0) => {
                return Err(form_error(
                    "limit",
                    "NUMBER_TYPE_MIN",
                    "int value should be greater than or equal to 1.",
                ));
            }
            _ => {
                return Err(form_error(
                    "limit",
                    "NUMBER_TYPE_MAX",
                    "int value should be less than or equal to 100.",
                ));
            }
        },
    };
    let anchors: Vec<(&str, u64)> = ["before", "after", "around"]
        .into_iter()
        .filter_map(|k| param(k).map(|v| (k, v)))
        .map(|(k, v)| snowflake(&v).map(|id| (k, id)))
        .collect::<Result<_, _>>()?;
    if anchors.len() > 1 {
        return Err(form_error(
            "",
            "BASE_TYPE_BAD_PARAMS",
            "Only one of before, after or around may be given.",
        ));
    }
    let st = shared.lock();
    let spec = st.channel(channel_id);
    check_view(&spec)?;
    if spec.permissions & perm::READ_MESSAGE_HISTORY == 0 {
        return Ok(json_reply(StatusCode::OK, &json!([])));
    }
    let mut ids: Vec<u64> = st
        .messages
        .iter()
        .filter(|(_, m)| id_of(&m["channel_id"]) == Some(channel_id))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    let picked: Vec<u64> = match anchors.first() {
        Some(("before", a)) => ids.iter().rev().filter(|&&i| i < *a).take(limit).copied().collect(),
        Some(("after", a)) => {
            let mut v: Vec<u64> = ids.iter().filter(|&&i| i > *a).take(limit).copied().collect();
            v.reverse();
            v
        }
        Some((_, a)) => {
            let mut v: Vec<u64> = ids
                .iter()
                .rev()
                .filter(|&&i| i <= *a)
                .take(limit.div_ceil(2))
                .copied()
                .collect();
            let newer: Vec<u64> = ids.iter().filter(|&&i| i > *a).take(limit / 2).copied().collect();
            v.extend(newer);
            v.sort_unstable_by(|x, y| y.cmp(x));
            v
        }
        None => ids.iter().rev().take(limit).copied().collect(),
    };
    let list: Vec<Value> = picked.iter().map(|i| st.messages[i].clone()).collect();
    Ok(json_reply(StatusCode::OK, &Value::Array(list)))
}

/// `POST /channels/{id}/messages` (docs: resources/message.mdx "Create
/// Message"): with `enforce_nonce`, a second message from the bot with the
/// same nonce within a few minutes is not created; the first is returned.
pub(super) fn create_message(shared: &Shared, ch: &str, body: &Value, files: &[(String, Vec<u8>)]) -> Reply {
    let channel_id = snowflake(ch)?;
    check_limits(body, "")?;
    check_not_empty(body, files)?;
    check_can_send(&shared.lock().channel(channel_id), body)?;
    let nonce = check_nonce(&body["nonce"])?;
    let enforced = nonce.as_ref().filter(|_| body["enforce_nonce"] == json!(true));
    if let Some(n) = enforced {
        let st = shared.lock();
        if let Some((id, at)) = st.nonces.get(n)
            && st.now().duration_since(*at) <= NONCE_WINDOW
        {
            return match st.messages.get(id) {
                Some(m) => Ok(json_reply(StatusCode::OK, m)),
                None => Err(error(StatusCode::NOT_FOUND, 10008, "Unknown Message")),
            };
        }
    }
    let id = shared.new_id();
    let reference = &body["message_reference"];
    let kind = if reference.is_object() { 19 } else { 0 };
    let mut msg = message_object(id, channel_id, bot_user(), "", kind);
    apply_body(shared, &mut msg, body, files, false);
    let mut st = shared.lock();
    if reference.is_object() {
        let ref_id = id_of(&reference["message_id"]);
        msg["message_reference"] = json!({
            "type": reference["type"].as_u64().unwrap_or(0),
            "message_id": ref_id.map(|i| i.to_string()),
            "channel_id": id_of(&reference["channel_id"]).unwrap_or(channel_id).to_string(),
            "guild_id": id_of(&reference["guild_id"]).unwrap_or(GUILD_ID).to_string(),
        });
        msg["referenced_message"] = ref_id
            .and_then(|i| st.messages.get(&i))
            .cloned()
            .map(|mut m| {
                // A referenced message carries no nested reference or guild fields.
                if let Some(o) = m.as_object_mut() {
                    for k in ["referenced_message", "guild_id", "member", "nonce"] {
                        o.remove(k);
                    }
                }
                m
            })
            .unwrap_or(Value::Null);
    }
    if let Some(nonce) = body.get("nonce").filter(|n| !n.is_null()) {
        msg["nonce"] = nonce.clone();
    }
    st.messages.insert(id, msg.clone());
    if let Some(n) = enforced {
        let now = st.now();
        st.nonces.insert(n.clone(), (id, now));
    }
    if st.echo_bot_messages && st.channel(channel_id).kind != kind::DM {
        let mut event = msg.clone();
        event["guild_id"] = json!(GUILD_ID.to_string());
        event["member"] = partial_member();
        send_dispatch(&mut st, "MESSAGE_CREATE", Some(GUILD_ID), event);
    }
    Ok(json_reply(StatusCode::OK, &msg))
}

pub(super) fn channel_message(
    shared: &Shared,
    m: &str,
    ch: &str,
    mid: &str,
    body: &Value,
    files: &[(String, Vec<u8>)],
) -> Reply {
    let channel_id = snowflake(ch)?;
    let id = snowflake(mid)?;
    let mut st = shared.lock();
    let unknown = || error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    let known = st
        .messages
        .get(&id)
        .filter(|msg| id_of(&msg["channel_id"]) == Some(channel_id))
        .cloned();
    match m {
        "GET" => known.map(|msg| json_reply(StatusCode::OK, &msg)).ok_or_else(unknown),
        "DELETE" => {
            st.messages.remove(&id);
            Ok(no_content())
        }
        "PATCH" => {
            check_limits(body, "")?;
            // Editing a message the fake never saw still works (it may predate the test).
            let mut msg = known.unwrap_or_else(|| message_object(id, channel_id, bot_user(), "", 0));
            if id_of(&msg["author"]["id"]) != Some(BOT_USER_ID) && body.get("content").is_some() {
                return Err(error(
                    StatusCode::FORBIDDEN,
                    50005,
                    "Cannot edit a message authored by another user",
                ));
            }
            apply_body(shared, &mut msg, body, files, true);
            st.messages.insert(id, msg.clone());
            Ok(json_reply(StatusCode::OK, &msg))
        }
        _ => Err(error(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed")),
    }
}

pub(super) fn create_thread(shared: &Shared, ch: &str, mid: &str, body: &Value) -> Reply {
    let parent = snowflake(ch)?;
    let id = snowflake(mid)?;
    let name = body["name"].as_str().unwrap_or_default();
    let n = name.chars().count();
    if n == 0 || n > 100 {
        return Err(form_error(
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        ));
    }
    let mut st = shared.lock();
    let spec = st.channel(parent);
    check_can_start_thread(&spec)?;
    if st
        .messages
        .get(&id)
        .is_none_or(|m| id_of(&m["channel_id"]) != Some(parent))
    {
        return Err(error(StatusCode::NOT_FOUND, 10008, "Unknown Message"));
    }
    if st.threads.contains_key(&id) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            160004,
            "A thread has already been created for this message",
        ));
    }
    let ts = now();
    // An announcement channel's threads are announcement threads.
    let thread_kind = if spec.kind == kind::GUILD_ANNOUNCEMENT {
        kind::ANNOUNCEMENT_THREAD
    } else {
        kind::PUBLIC_THREAD
    };
    let thread = json!({
        "id": id.to_string(),
        "type": thread_kind,
        "guild_id": GUILD_ID.to_string(),
        "parent_id": parent.to_string(),
        "owner_id": BOT_USER_ID.to_string(),
        "name": name,
        "last_message_id": null,
        "rate_limit_per_user": body["rate_limit_per_user"].as_u64().unwrap_or(0),
        "flags": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "thread_metadata": {
            "archived": false,
            "auto_archive_duration": body["auto_archive_duration"].as_u64().unwrap_or(4320),
            "archive_timestamp": ts,
            "locked": false,
            "create_timestamp": ts,
        },
        "member": {"id": id.to_string(), "user_id": BOT_USER_ID.to_string(), "join_timestamp": ts, "flags": 1, "muted": false, "mute_config": null},
    });
    st.threads.insert(id, thread.clone());
    if let Some(msg) = st.messages.get_mut(&id) {
        let mut t = thread.clone();
        if let Some(o) = t.as_object_mut() {
            o.remove("member");
        }
        msg["thread"] = t;
        msg["flags"] = json!(msg["flags"].as_u64().unwrap_or(0) | 32); // HAS_THREAD
    }
    Ok(json_reply(StatusCode::CREATED, &thread))
}

// ---- interactions ------------------------------------------------------------------

/// `POST /interactions/{id}/{token}/callback` (docs:
/// interactions/receiving-and-responding.mdx): the first response within 3
/// seconds of the event (else 404 10062, the token is dead), once (400
/// 40060), of a callback type the interaction accepts, with a body within
/// the limits (errors under `data.`).
pub(super) fn callback(shared: &Shared, id: &str, token: &str, body: &Value, files: &[(String, Vec<u8>)]) -> Reply {
    let id = snowflake(id)?;
    let unknown = || error(StatusCode::NOT_FOUND, 10062, "Unknown interaction");
    if token != format!("itoken-{id}") {
        return Err(unknown());
    }
    let (interaction, created, now) = {
        let st = shared.lock();
        (
            st.interactions.get(&id).cloned(),
            st.interaction_times.get(&id).copied(),
            st.now(),
        )
    };
    let Some(created) = created else {
        return Err(unknown());
    };
    if now.duration_since(created) > RESPONSE_DEADLINE {
        return Err(unknown());
    }
    let kind = body["type"].as_u64().unwrap_or(0);
    let data = &body["data"];
    let interaction_type = interaction.as_ref().and_then(|i| i["type"].as_u64()).unwrap_or(2);
    check_callback_type(interaction_type, kind)?;
    if matches!(kind, 4 | 7) {
        check_limits(data, "data.")?;
    }
    if kind == 4 {
        check_not_empty(data, files)?;
    }
    if kind == 8 {
        check_choices(data)?;
    }
    let mut st = shared.lock();
    if st.acknowledged.contains(&id) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            40060,
            "Interaction has already been acknowledged.",
        ));
    }
    let channel_id = interaction
        .as_ref()
        .and_then(|i| id_of(&i["channel_id"]))
        .unwrap_or(CHANNEL_ID);
    let clicked = interaction
        .as_ref()
        .map(|i| i["message"].clone())
        .filter(Value::is_object);
    st.acknowledged.insert(id);
    let original = match kind {
        // A new response message (5 = "thinking..." until edited).
        4 | 5 => {
            let mid = shared.new_id();
            let mut msg = message_object(mid, channel_id, bot_user(), "", 20);
            msg["application_id"] = json!(APP_ID.to_string());
            msg["webhook_id"] = json!(APP_ID.to_string());
            msg["interaction_metadata"] = json!({
                "id": id.to_string(),
                "type": interaction.as_ref().map_or(2, |i| i["type"].as_u64().unwrap_or(2)),
                "user": user(USER_ID, false),
                "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
            });
            if kind == 4 {
                apply_body(shared, &mut msg, data, files, false);
            } else {
                msg["flags"] = json!(data["flags"].as_u64().unwrap_or(0) | 128); // LOADING
            }
            Some(msg)
        }
        // The message the component was on (6 = deferred update, 7 = update now).
        6 | 7 => clicked.map(|mut msg| {
            if kind == 7 {
                apply_body(shared, &mut msg, data, files, true);
            }
            msg
        }),
        _ => None,
    };
    if let Some(msg) = original {
        let mid = id_of(&msg["id"]).expect("message id");
        st.originals.insert(token.to_string(), mid);
        st.messages.insert(mid, msg);
    }
    Ok(no_content())
}

pub(super) fn webhook_message(
    shared: &Shared,
    m: &str,
    app: &str,
    token: &str,
    which: &str,
    body: &Value,
    files: &[(String, Vec<u8>)],
) -> Reply {
    let mut st = shared.lock();
    check_webhook(&st, app, token)?;
    let unknown = || error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    let id = if which == "@original" {
        st.originals.get(token).copied()
    } else {
        Some(snowflake(which)?)
    };
    let Some(id) = id.filter(|id| st.messages.contains_key(id)) else {
        return Err(unknown());
    };
    match m {
        "GET" => Ok(json_reply(StatusCode::OK, &st.messages[&id])),
        "DELETE" => {
            st.messages.remove(&id);
            Ok(no_content())
        }
        "PATCH" => {
            check_limits(body, "")?;
            let mut msg = st.messages[&id].clone();
            apply_body(shared, &mut msg, body, files, true);
            // The "thinking..." state ends with the first edit.
            let flags = msg["flags"].as_u64().unwrap_or(0) & !128;
            msg["flags"] = json!(flags);
            st.messages.insert(id, msg.clone());
            Ok(json_reply(StatusCode::OK, &msg))
        }
        _ => Err(error(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed")),
    }
}

pub(super) fn followup(shared: &Shared, app: &str, token: &str, body: &Value, files: &[(String, Vec<u8>)]) -> Reply {
    {
        let st = shared.lock();
        check_webhook(&st, app, token)?;
    }
    check_limits(body, "")?;
    check_not_empty(body, files)?;
    let id = shared.new_id();
    let mut msg = message_object(id, CHANNEL_ID, bot_user(), "", 0);
    msg["application_id"] = json!(APP_ID.to_string());
    msg["webhook_id"] = json!(APP_ID.to_string());
    apply_body(shared, &mut msg, body, files, false);
    let mut st = shared.lock();
    let interaction_id = token.strip_prefix("itoken-").and_then(|i| i.parse::<u64>().ok());
    if let Some(ch) = interaction_id
        .and_then(|i| st.interactions.get(&i))
        .and_then(|i| id_of(&i["channel_id"]))
    {
        msg["channel_id"] = json!(ch.to_string());
    }
    st.messages.insert(id, msg.clone());
    Ok(json_reply(StatusCode::OK, &msg))
}

// ---- commands --------------------------------------------------------------------

pub(super) fn put_commands(shared: &Shared, app: &str, guild: Option<&str>, body: &Value) -> Reply {
    check_app(app)?;
    let guild = guild.map(snowflake).transpose()?;
    let Some(list) = body.as_array() else {
        return Err(form_error("", "BASE_TYPE_ARRAY", "Must be an array."));
    };
    let mut out = vec![];
    for (i, c) in list.iter().enumerate() {
        let kind = c["type"].as_u64().unwrap_or(1);
        let name = c["name"].as_str().unwrap_or_default();
        if kind == 1 {
            if !valid_name(name) {
                return Err(form_error(
                    &format!("{i}.name"),
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid",
                ));
            }
            let d = c["description"].as_str().map_or(0, |s| s.chars().count());
            if !(1..=100).contains(&d) {
                return Err(form_error(
                    &format!("{i}.description"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                ));
            }
            check_options(&c["options"], &format!("{i}.options"))?;
        } else if name.is_empty() || name.chars().count() > 32 {
            return Err(form_error(
                &format!("{i}.name"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 32 in length.",
            ));
        }
        let mut cmd: Map<String, Value> = c.as_object().cloned().unwrap_or_default();
        cmd.insert("id".into(), json!(command_id(name).to_string()));
        cmd.insert("application_id".into(), json!(APP_ID.to_string()));
        cmd.insert("version".into(), json!(shared.new_id().to_string()));
        cmd.insert("type".into(), json!(kind));
        cmd.entry("description").or_insert(json!(""));
        cmd.entry("default_member_permissions").or_insert(Value::Null);
        cmd.entry("nsfw").or_insert(json!(false));
        cmd.entry("integration_types").or_insert(json!([0]));
        cmd.entry("contexts").or_insert(Value::Null);
        if let Some(g) = guild {
            cmd.insert("guild_id".into(), json!(g.to_string()));
        }
        out.push(Value::Object(cmd));
    }
    shared.lock().commands.insert(guild, out.clone());
    Ok(json_reply(StatusCode::OK, &Value::Array(out)))
}

pub(super) fn get_commands(shared: &Shared, app: &str, guild: Option<&str>) -> Reply {
    check_app(app)?;
    let guild = guild.map(snowflake).transpose()?;
    let list = shared.lock().commands.get(&guild).cloned().unwrap_or_default();
    Ok(json_reply(StatusCode::OK, &Value::Array(list)))
}
