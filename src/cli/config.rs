//! `paperbot config [--check]`: the effective configuration (secrets only
//! said to be set or not), and a check that fails with a precise message.

use std::process::ExitCode;

use paperbot::answer::llm::LlmClient;
use paperbot::answer::prompts::Prompts;
use paperbot::config::{Config, Secrets};

/// Problems beyond what parsing catches, each naming its key.
pub fn problems(config: &Config, secrets: &Secrets) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = LlmClient::from_config(&config.llm, secrets.llm_api_key.as_ref()) {
        out.push(e.to_string());
    }
    if let Err(e) = Prompts::load(config.answer.prompts_dir.as_deref()) {
        out.push(format!("answer.prompts_dir: {e}"));
    }
    if let Some(url) = &config.store.qdrant_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            out.push(format!(
                "store.qdrant_url `{url}` must start with http:// or https:// (gRPC port, e.g. 6334)"
            ));
        }
    }
    if !(0.0..=1.0).contains(&config.search.min_relevance) {
        out.push("search.min_relevance must be between 0 and 1".into());
    }
    let d = &config.discord;
    if d.shard_total == 0 || d.shard_first > d.shard_last || d.shard_last >= d.shard_total {
        out.push(format!(
            "discord.shard_first..=shard_last ({}..={}) must lie within 0..shard_total ({})",
            d.shard_first, d.shard_last, d.shard_total
        ));
    }
    if d.limits.user_per_minute == 0 || d.limits.guild_per_minute == 0 {
        out.push("discord.limits.* must be at least 1 per minute".into());
    }
    if config.sync.interval_minutes == 0 {
        out.push("sync.interval_minutes must be at least 1".into());
    }
    if let Some(addr) = &config.ops.listen {
        if addr.parse::<std::net::SocketAddr>().is_err() {
            out.push(format!("ops.listen `{addr}` is not an address like 127.0.0.1:9184"));
        }
    }
    out
}

pub fn run(config: &Config, secrets: &Secrets, check: bool) -> anyhow::Result<ExitCode> {
    let found = problems(config, secrets);
    if check {
        if found.is_empty() {
            println!("configuration OK");
            return Ok(ExitCode::SUCCESS);
        }
        for p in &found {
            eprintln!("error: {p}");
        }
        return Ok(ExitCode::from(2));
    }
    println!("{}", toml::to_string_pretty(config)?);
    let said = |s: bool| if s { "set" } else { "not set" };
    println!("# Secrets (environment only, never printed):");
    println!(
        "#   PAPERBOT_LLM_API_KEY / OPENAI_API_KEY: {}",
        said(secrets.llm_api_key.is_some())
    );
    println!(
        "#   PAPERBOT_EMBED_API_KEY / OPENAI_API_KEY: {}",
        said(secrets.embed_api_key.is_some())
    );
    println!(
        "#   PAPERBOT_QDRANT_API_KEY: {}",
        said(secrets.qdrant_api_key.is_some())
    );
    println!("#   DISCORD_TOKEN: {}", said(secrets.discord_token.is_some()));
    for p in &found {
        println!("# problem: {p}");
    }
    Ok(ExitCode::SUCCESS)
}
