//! `paperbot digest`: what a subscribed channel would get, in a terminal.

use std::process::ExitCode;

use chrono::Utc;
use paperbot::answer::llm::LlmClient;
use paperbot::answer::prompts::Prompts;
use paperbot::config::{Config, Secrets};
use paperbot::digest::{self, DigestRequest};
use paperbot::library::Library;

pub async fn run(
    config: &Config,
    secrets: &Secrets,
    topics: Option<String>,
    since: &str,
    max: usize,
    min_upvotes: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let prompts = Prompts::load(config.answer.prompts_dir.as_deref())?;
    let llm = LlmClient::from_config(&config.llm, secrets.llm_api_key.as_ref())?;
    let lib = Library::open(config, secrets).await?;
    let req = DigestRequest {
        topics,
        since: paperbot::retrieve::parse_since(since, Utc::now()).map_err(anyhow::Error::msg)?,
        max,
        min_upvotes,
        min_relevance: config.search.min_relevance,
    };
    let d = digest::build(&lib, &prompts, llm.as_ref(), &req).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", digest::to_text(&d));
    }
    Ok(ExitCode::SUCCESS)
}
