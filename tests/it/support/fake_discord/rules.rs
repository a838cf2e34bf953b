//! What Discord refuses, as it refuses it: message, embed and component
//! limits, empty messages, callback types, autocomplete choices, command
//! names and options, channel kinds and permissions. Each rule answers with
//! Discord's status, code and message (checked in `fake_discord_selftest`;
//! sources in the docs of discord/discord-api-docs, noted per rule).

#[allow(unused_imports)]
use super::*;

/// Discord's length limits on a message body (create or edit). `prefix` is
/// where the message sits in the request: `""` for messages and webhooks,
/// `"data."` for interaction callbacks (Discord reports `data.embeds.0…`).
/// Embed text is trimmed before it is counted, as Discord does.
pub(super) fn check_limits(body: &Value, prefix: &str) -> Result<(), Response> {
    let form_error = |path: &str, code: &str, message: &str| form_error(&format!("{prefix}{path}"), code, message);
    let len = |v: &Value| v.as_str().map_or(0, |s| s.trim().chars().count());
    if len(&body["content"]) > 2000 {
        return Err(form_error(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    if let Some(embeds) = body["embeds"].as_array() {
        if embeds.len() > 10 {
            return Err(form_error(
                "embeds",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 10 or fewer in length.",
            ));
        }
        let mut total = 0;
        for (i, e) in embeds.iter().enumerate() {
            for (key, max) in [("title", 256), ("description", 4096)] {
                if len(&e[key]) > max {
                    return Err(form_error(
                        &format!("embeds.{i}.{key}"),
                        "BASE_TYPE_MAX_LENGTH",
                        &format!("Must be {max} or fewer in length."),
                    ));
                }
                total += len(&e[key]);
            }
            for (key, inner, max) in [("footer", "text", 2048), ("author", "name", 256)] {
                if len(&e[key][inner]) > max {
                    return Err(form_error(
                        &format!("embeds.{i}.{key}.{inner}"),
                        "BASE_TYPE_MAX_LENGTH",
                        &format!("Must be {max} or fewer in length."),
                    ));
                }
                total += len(&e[key][inner]);
            }
            let fields = e["fields"].as_array().map(Vec::as_slice).unwrap_or_default();
            if fields.len() > 25 {
                return Err(form_error(
                    &format!("embeds.{i}.fields"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                ));
            }
            for (j, f) in fields.iter().enumerate() {
                for (key, max) in [("name", 256), ("value", 1024)] {
                    let n = len(&f[key]);
                    if n == 0 || n > max {
                        return Err(form_error(
                            &format!("embeds.{i}.fields.{j}.{key}"),
                            if n == 0 {
                                "BASE_TYPE_REQUIRED"
                            } else {
                                "BASE_TYPE_MAX_LENGTH"
                            },
                            &if n == 0 {
                                "This field is required".to_string()
                            } else {
                                format!("Must be {max} or fewer in length.")
                            },
                        ));
                    }
                    total += n;
                }
            }
        }
        if total > 6000 {
            return Err(form_error(
                "embeds",
                "MAX_EMBED_SIZE_EXCEEDED",
                "Embed size exceeds maximum size of 6000",
            ));
        }
    }
    check_components(&body["components"], prefix)
}

/// Legacy components (docs: components/reference.mdx): at most 5 action
/// rows of 1-5 buttons; `custom_id` 1-100 characters and unique in the
/// message; a label at most 80.
pub(super) fn check_components(components: &Value, prefix: &str) -> Result<(), Response> {
    let form_error = |path: &str, code: &str, message: &str| form_error(&format!("{prefix}{path}"), code, message);
    let Some(rows) = components.as_array() else {
        return Ok(());
    };
    if rows.len() > 5 {
        return Err(form_error(
            "components",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 5 or fewer in length.",
        ));
    }
    let mut ids = HashSet::new();
    for (r, row) in rows.iter().enumerate() {
        let items = row["components"].as_array().map(Vec::as_slice).unwrap_or_default();
        if !(1..=5).contains(&items.len()) {
            return Err(form_error(
                &format!("components.{r}.components"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 5 in length.",
            ));
        }
        for (c, item) in items.iter().enumerate() {
            let at = format!("components.{r}.components.{c}");
            if let Some(label) = item["label"].as_str()
                && label.chars().count() > 80
            {
                return Err(form_error(
                    &format!("{at}.label"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 80 or fewer in length.",
                ));
            }
            // Link buttons (style 5) have a url instead of a custom_id.
            if item["style"].as_u64() == Some(5) {
                continue;
            }
            let id = item["custom_id"].as_str().unwrap_or_default();
            if !(1..=100).contains(&id.chars().count()) {
                return Err(form_error(
                    &format!("{at}.custom_id"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                ));
            }
            if !ids.insert(id.to_string()) {
                return Err(form_error(
                    &format!("{at}.custom_id"),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                ));
            }
        }
    }
    Ok(())
}

/// The callback types an interaction type accepts (docs:
/// interactions/receiving-and-responding.mdx, the callback type table and its
/// footnotes): autocomplete answers only with choices (8); a command with a
/// message (4), a deferral (5) or a modal (9); a component also by updating
/// its message (6, 7); a modal submit with 4-7.
pub(super) fn callback_types(interaction_type: u64) -> &'static [u64] {
    match interaction_type {
        1 => &[1],
        2 => &[4, 5, 9],
        3 => &[4, 5, 6, 7, 9],
        4 => &[8],
        5 => &[4, 5, 6, 7],
        _ => &[],
    }
}

/// 400 50035 at `type` unless `kind` fits the interaction (Discord writes
/// the set in braces).
pub(super) fn check_callback_type(interaction_type: u64, kind: u64) -> Result<(), Response> {
    let allowed = callback_types(interaction_type);
    if allowed.contains(&kind) {
        return Ok(());
    }
    let list: Vec<String> = allowed.iter().map(u64::to_string).collect();
    Err(form_error(
        "type",
        "BASE_TYPE_CHOICES",
        &format!("Value must be one of {{{}}}.", list.join(", ")),
    ))
}

/// Autocomplete results (docs: interactions/application-commands.mdx): at
/// most 25 choices; each name 1-100 characters, a string value 1-100.
pub(super) fn check_choices(data: &Value) -> Result<(), Response> {
    let choices = data["choices"].as_array().map(Vec::as_slice).unwrap_or_default();
    if choices.len() > 25 {
        return Err(form_error(
            "data.choices",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        ));
    }
    for (i, c) in choices.iter().enumerate() {
        let name = c["name"].as_str().map_or(0, |s| s.chars().count());
        if !(1..=100).contains(&name) {
            return Err(form_error(
                &format!("data.choices.{i}.name"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        if let Some(v) = c["value"].as_str()
            && !(1..=100).contains(&v.chars().count())
        {
            return Err(form_error(
                &format!("data.choices.{i}.value"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
    }
    Ok(())
}

/// A message `nonce` (docs: resources/message.mdx): an integer or a string
/// of at most 25 characters; returned as a string key when present.
pub(super) fn check_nonce(nonce: &Value) -> Result<Option<String>, Response> {
    match nonce {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::String(s) if s.chars().count() <= 25 => Ok(Some(s.clone())),
        Value::String(_) => Err(form_error(
            "nonce",
            "NONCE_TYPE_TOO_LONG",
            "Must be 25 or fewer characters long.",
        )),
        _ => Err(form_error(
            "nonce",
            "NONCE_TYPE_INVALID_TYPE",
            "This field must be a string or integer.",
        )),
    }
}

/// Channel kinds (docs: resources/channel.mdx).
pub mod kind {
    pub const GUILD_TEXT: u8 = 0;
    pub const DM: u8 = 1;
    pub const GUILD_VOICE: u8 = 2;
    pub const GUILD_ANNOUNCEMENT: u8 = 5;
    pub const ANNOUNCEMENT_THREAD: u8 = 10;
    pub const PUBLIC_THREAD: u8 = 11;
    pub const PRIVATE_THREAD: u8 = 12;
    pub const GUILD_STAGE_VOICE: u8 = 13;
    pub const GUILD_FORUM: u8 = 15;
    pub const GUILD_MEDIA: u8 = 16;
}

/// Permission bits (docs: topics/permissions.mdx).
pub mod perm {
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const EMBED_LINKS: u64 = 1 << 14;
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
    /// What the test guild's bot role has (every bit above among them).
    pub const ALL: u64 = 2_248_473_465_835_073;
}

pub(super) fn is_thread(k: u8) -> bool {
    matches!(
        k,
        kind::ANNOUNCEMENT_THREAD | kind::PUBLIC_THREAD | kind::PRIVATE_THREAD
    )
}

/// 403 50001 without VIEW_CHANNEL (denying it denies everything else).
pub(super) fn check_view(ch: &ChannelSpec) -> Result<(), Response> {
    if ch.permissions & perm::VIEW_CHANNEL == 0 {
        return Err(error(StatusCode::FORBIDDEN, 50001, "Missing Access"));
    }
    Ok(())
}

/// Posting a message: VIEW_CHANNEL, then SEND_MESSAGES (in a thread:
/// SEND_MESSAGES_IN_THREADS; "SEND_MESSAGES has no effect in threads"), an
/// embed-only message also EMBED_LINKS, a reply READ_MESSAGE_HISTORY (400
/// 160002), and no messages in a forum (400 40058).
pub(super) fn check_can_send(ch: &ChannelSpec, body: &Value) -> Result<(), Response> {
    check_view(ch)?;
    if matches!(ch.kind, kind::GUILD_FORUM | kind::GUILD_MEDIA) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            40058,
            "Cannot send a message in a forum channel",
        ));
    }
    let send = if is_thread(ch.kind) {
        perm::SEND_MESSAGES_IN_THREADS
    } else {
        perm::SEND_MESSAGES
    };
    let embed_only =
        body["embeds"].as_array().is_some_and(|e| !e.is_empty()) && body["content"].as_str().is_none_or(str::is_empty);
    if ch.permissions & send == 0 || (embed_only && ch.permissions & perm::EMBED_LINKS == 0) {
        return Err(error(StatusCode::FORBIDDEN, 50013, "Missing Permissions"));
    }
    if body["message_reference"].is_object() && ch.permissions & perm::READ_MESSAGE_HISTORY == 0 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            160002,
            "Cannot reply without permission to read message history",
        ));
    }
    Ok(())
}

/// Starting a thread from a message (docs: resources/channel.mdx "Start
/// Thread from Message"): not in a thread, a voice or stage channel's chat
/// or a forum (400 50024), not in a DM (403 50003, unverified: the docs are
/// silent), and it needs CREATE_PUBLIC_THREADS (403 50013).
pub(super) fn check_can_start_thread(ch: &ChannelSpec) -> Result<(), Response> {
    if ch.kind == kind::DM {
        return Err(error(
            StatusCode::FORBIDDEN,
            50003,
            "Cannot execute action on a DM channel",
        ));
    }
    check_view(ch)?;
    if is_thread(ch.kind)
        || matches!(
            ch.kind,
            kind::GUILD_VOICE | kind::GUILD_STAGE_VOICE | kind::GUILD_FORUM | kind::GUILD_MEDIA
        )
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            50024,
            "Cannot execute action on this channel type",
        ));
    }
    if ch.permissions & perm::CREATE_PUBLIC_THREADS == 0 {
        return Err(error(StatusCode::FORBIDDEN, 50013, "Missing Permissions"));
    }
    Ok(())
}

pub(super) fn check_not_empty(body: &Value, files: &[(String, Vec<u8>)]) -> Result<(), Response> {
    let non_empty = |k: &str| match &body[k] {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Null => false,
        _ => true,
    };
    let has_poll = !body["poll"].is_null();
    if files.is_empty()
        && !has_poll
        && !["content", "embeds", "components", "sticker_ids"]
            .iter()
            .any(|k| non_empty(k))
    {
        return Err(error(StatusCode::BAD_REQUEST, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

pub(super) fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name
            .chars()
            .all(|c| c == '-' || c == '_' || (c.is_alphanumeric() && !c.is_uppercase()))
}

pub(super) fn check_options(options: &Value, path: &str) -> Result<(), Response> {
    let Some(options) = options.as_array() else {
        return Ok(());
    };
    if options.len() > 25 {
        return Err(form_error(
            path,
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        ));
    }
    let mut optional_seen = false;
    for (i, o) in options.iter().enumerate() {
        let p = format!("{path}.{i}");
        let name = o["name"].as_str().unwrap_or_default();
        if !valid_name(name) {
            return Err(form_error(
                &format!("{p}.name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            ));
        }
        let d = o["description"].as_str().map_or(0, |s| s.chars().count());
        if !(1..=100).contains(&d) {
            return Err(form_error(
                &format!("{p}.description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        let kind = o["type"].as_u64().unwrap_or(0);
        if matches!(kind, 1 | 2) {
            check_options(&o["options"], &format!("{p}.options"))?;
            continue;
        }
        let required = o["required"].as_bool().unwrap_or(false);
        if required && optional_seen {
            return Err(form_error(
                &p,
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            ));
        }
        optional_seen |= !required;
        let choices = o["choices"].as_array().map_or(0, Vec::len);
        if choices > 25 {
            return Err(form_error(
                &format!("{p}.choices"),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            ));
        }
        if choices > 0 && o["autocomplete"].as_bool() == Some(true) {
            return Err(form_error(
                &format!("{p}.autocomplete"),
                "AUTOCOMPLETE_CHOICES_INVALID",
                "Autocomplete cannot be set with choices",
            ));
        }
    }
    Ok(())
}
