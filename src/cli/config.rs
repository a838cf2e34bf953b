//! `paperbot config [--check]`: the effective configuration (secrets only
//! said to be set or not), and a check that fails with a precise message.

use std::process::ExitCode;

use paperbot::app::App;

#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// Exit 2 with a precise message when something is wrong
    #[arg(long)]
    check: bool,
}

pub fn run(app: &App, args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let found = app.problems();
    if args.check {
        if found.is_empty() {
            println!("configuration OK");
            return Ok(ExitCode::SUCCESS);
        }
        for p in &found {
            eprintln!("error: {p}");
        }
        return Ok(ExitCode::from(2));
    }
    println!("{}", toml::to_string_pretty(&app.config)?);
    let said = |s: bool| if s { "set" } else { "not set" };
    let secrets = &app.secrets;
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
