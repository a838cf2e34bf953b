//! `paperbot model fetch`.

use std::process::ExitCode;

use anyhow::Context;
use paperbot::config::Config;
use paperbot::embed::model;

pub async fn fetch(config: &Config) -> anyhow::Result<ExitCode> {
    let dir = &config.embed.model_dir;
    let client = paperbot::http_client_builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .context("building the HTTP client")?;
    let fetched = model::fetch(dir, &config.embed.model_index_url, &client)
        .await
        .with_context(|| format!("fetching the embedding model into {}", dir.display()))?;
    if fetched {
        println!("model ready in {}", dir.display());
    } else {
        println!("model already present in {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
