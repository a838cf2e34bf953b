//! `paperbot model fetch`.

use std::process::ExitCode;

use anyhow::Context;
use paperbot::app::App;
use paperbot::embed::model;

#[derive(clap::Subcommand, Debug)]
pub enum ModelAction {
    /// Download all-MiniLM-L6-v2 into embed.model_dir (no-op when present)
    Fetch,
}

pub async fn run(app: &App, action: ModelAction) -> anyhow::Result<ExitCode> {
    match action {
        ModelAction::Fetch => fetch(app).await,
    }
}

pub async fn fetch(app: &App) -> anyhow::Result<ExitCode> {
    let embed = &app.config.embed;
    let dir = &embed.model_dir;
    let client = paperbot::http_client_builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .context("building the HTTP client")?;
    let fetched = model::fetch(dir, &embed.model_index_url, &client)
        .await
        .with_context(|| format!("fetching the embedding model into {}", dir.display()))?;
    if fetched {
        println!("model ready in {}", dir.display());
    } else {
        println!("model already present in {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
