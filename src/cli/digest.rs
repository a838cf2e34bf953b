//! `paperbot digest`: what a subscribed channel would get, in a terminal.

use std::process::ExitCode;

use chrono::Utc;
use paperbot::app::App;
use paperbot::digest::{self, DigestRequest};

#[derive(clap::Args, Debug)]
pub struct DigestArgs {
    /// Topics to rank by (free text); without, upvotes and recency
    #[arg(long)]
    topics: Option<String>,
    /// Papers that entered the library since DATE or within a span
    #[arg(long, default_value = "24h", value_name = "DATE|SPAN")]
    since: String,
    #[arg(long, default_value_t = 10)]
    max: usize,
    #[arg(long, default_value_t = 0)]
    min_upvotes: u32,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(app: &App, args: DigestArgs) -> anyhow::Result<ExitCode> {
    let (prompts, llm) = (app.prompts()?, app.llm()?);
    let lib = app.library().await?;
    let req = DigestRequest {
        topics: args.topics,
        since: paperbot::retrieve::parse_since(&args.since, Utc::now()).map_err(anyhow::Error::msg)?,
        max: args.max,
        min_upvotes: args.min_upvotes,
        min_relevance: app.config.search.min_relevance,
    };
    let d = digest::build(&lib, &prompts, llm.as_ref(), &req).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", digest::to_text(&d));
    }
    Ok(ExitCode::SUCCESS)
}
