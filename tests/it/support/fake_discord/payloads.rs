//! Discord's JSON objects as the fake sends them (users, members, channels,
//! messages, interactions, the application).

#[allow(unused_imports)]
use super::*;

pub(super) fn user(id: u64, bot: bool) -> Value {
    let name = match id {
        BOT_USER_ID => BOT_NAME.to_string(),
        USER_ID => USER_NAME.to_string(),
        _ => format!("user{}", id % 100_000),
    };
    let mut u = json!({
        "id": id.to_string(),
        "username": name,
        "discriminator": "0",
        "global_name": if bot { Value::Null } else { json!(name.to_uppercase()) },
        "avatar": null,
        "public_flags": 0,
        "flags": 0,
        "banner": null,
        "accent_color": null,
        "avatar_decoration_data": null,
        "primary_guild": null,
        "collectibles": null,
    });
    if bot {
        u["bot"] = json!(true);
    }
    u
}

pub(super) fn bot_user() -> Value {
    user(BOT_USER_ID, true)
}

/// `GET /users/@me` / READY's user: the bot with its private fields.
pub(super) fn current_user() -> Value {
    let mut u = bot_user();
    u["verified"] = json!(true);
    u["mfa_enabled"] = json!(false);
    u["email"] = Value::Null;
    u["locale"] = json!(GUILD_LOCALE);
    u["premium_type"] = json!(0);
    u
}

pub(super) fn partial_member() -> Value {
    json!({
        "roles": [],
        "nick": null,
        "avatar": null,
        "banner": null,
        "premium_since": null,
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": null,
        "unusual_dm_activity_until": null,
    })
}

pub(super) fn member(user_id: u64) -> Value {
    let mut m = partial_member();
    m["user"] = user(user_id, false);
    m["permissions"] = json!(PERMISSIONS);
    m
}

pub(super) fn text_channel(id: u64) -> Value {
    channel_object(id, kind::GUILD_TEXT)
}

/// A guild channel of Discord type `kind` (voice channels have a text chat).
pub(super) fn channel_object(id: u64, kind: u8) -> Value {
    json!({
        "id": id.to_string(),
        "type": kind,
        "guild_id": GUILD_ID.to_string(),
        "name": if id == CHANNEL_ID { "papers".to_string() } else { format!("channel-{}", id % 100_000) },
        "position": 0,
        "permission_overwrites": [],
        "parent_id": null,
        "topic": null,
        "nsfw": false,
        "last_message_id": null,
        "rate_limit_per_user": 0,
        "flags": 0,
    })
}

pub(super) fn message_object(id: u64, channel_id: u64, author: Value, content: &str, kind: u8) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": author,
        "content": content,
        "timestamp": now(),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "pinned": false,
        "type": kind,
        "flags": 0,
    })
}

pub(super) fn interaction(id: u64, kind: u8, data: Value) -> Value {
    let mut channel = text_channel(CHANNEL_ID);
    channel["permissions"] = json!(PERMISSIONS);
    json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": kind,
        "data": data,
        "guild_id": GUILD_ID.to_string(),
        "guild": {"id": GUILD_ID.to_string(), "locale": GUILD_LOCALE, "features": []},
        "channel_id": CHANNEL_ID.to_string(),
        "channel": channel,
        "member": member(USER_ID),
        "token": format!("itoken-{id}"),
        "version": 1,
        "app_permissions": PERMISSIONS,
        "locale": "en-US",
        "guild_locale": GUILD_LOCALE,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    })
}

pub(super) fn application() -> Value {
    json!({
        "id": APP_ID.to_string(),
        "name": BOT_NAME,
        "icon": null,
        "description": "",
        "summary": "",
        "type": null,
        "hook": true,
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "owner": user(USER_ID, false),
        "team": null,
        "flags": 0,
        "tags": [],
        "rpc_origins": [],
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "approximate_guild_count": 1,
        "bot": bot_user(),
    })
}

// ---- dispatch payloads (the `d` of an event a test sends) ----------------

/// INTERACTION_CREATE, type 2 (slash command), in GUILD_ID/CHANNEL_ID from
/// USER_ID; `options` is an array of `{name, type, value}`.
pub fn slash_command(interaction_id: u64, name: &str, options: Value) -> Value {
    let options = if options.is_null() { json!([]) } else { options };
    interaction(
        interaction_id,
        2,
        json!({
            "id": command_id(name).to_string(),
            "name": name,
            "type": 1,
            "options": options,
        }),
    )
}

/// INTERACTION_CREATE, type 4 (autocomplete): `option` focused with `partial`.
pub fn autocomplete(interaction_id: u64, name: &str, option: &str, partial: &str) -> Value {
    interaction(
        interaction_id,
        4,
        json!({
            "id": command_id(name).to_string(),
            "name": name,
            "type": 1,
            "options": [{"name": option, "type": 3, "value": partial, "focused": true}],
        }),
    )
}

/// INTERACTION_CREATE, type 3: a click on button `custom_id` of the bot's
/// message `message_id` in CHANNEL_ID.
pub fn component_click(interaction_id: u64, custom_id: &str, message_id: u64) -> Value {
    let mut v = interaction(interaction_id, 3, json!({"custom_id": custom_id, "component_type": 2}));
    let mut msg = message_object(message_id, CHANNEL_ID, bot_user(), "", 0);
    msg["components"] = json!([{
        "type": 1,
        "id": 1,
        "components": [{"type": 2, "id": 2, "style": 2, "label": "button", "custom_id": custom_id}],
    }]);
    msg["application_id"] = json!(APP_ID.to_string());
    msg["webhook_id"] = json!(APP_ID.to_string());
    v["message"] = msg;
    v
}

/// MESSAGE_CREATE in GUILD_ID; `mentions` become user objects (with `member`).
pub fn message(
    message_id: u64,
    channel_id: u64,
    author_id: u64,
    author_is_bot: bool,
    content: &str,
    mentions: &[u64],
) -> Value {
    let mut m = message_object(message_id, channel_id, user(author_id, author_is_bot), content, 0);
    m["guild_id"] = json!(GUILD_ID.to_string());
    m["member"] = partial_member();
    m["mentions"] = mentions
        .iter()
        .map(|&id| {
            let mut u = user(id, id == BOT_USER_ID);
            u["member"] = partial_member();
            u
        })
        .collect();
    m["nonce"] = json!(message_id.to_string());
    m
}

/// A payload from the builders above, moved to another guild (so it goes to
/// that guild's shard).
pub fn in_guild(mut payload: Value, guild: u64) -> Value {
    payload["guild_id"] = json!(guild.to_string());
    if payload["guild"].is_object() {
        payload["guild"]["id"] = json!(guild.to_string());
    }
    if payload["channel"].is_object() {
        payload["channel"]["guild_id"] = json!(guild.to_string());
    }
    payload
}

/// A message payload as a direct message: no guild, no member.
pub fn as_dm(mut payload: Value) -> Value {
    if let Some(o) = payload.as_object_mut() {
        for k in ["guild_id", "member"] {
            o.remove(k);
        }
    }
    payload
}
