//! What Discord refuses, as it refuses it: message and embed limits, empty
//! messages, command names and options. Each rule answers with Discord's
//! status, code and message (checked in `fake_discord_selftest`).

#[allow(unused_imports)]
use super::*;

/// Discord's length limits on a message body (create or edit).
pub(super) fn check_limits(body: &Value) -> Result<(), Response> {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
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
    if body["components"].as_array().is_some_and(|c| c.len() > 5) {
        return Err(form_error(
            "components",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 5 or fewer in length.",
        ));
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
