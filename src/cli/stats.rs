//! `paperbot stats`: what is in the library.

use std::process::ExitCode;

use paperbot::app::App;
use paperbot::store::{self, PaperStore};

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    #[arg(long)]
    pub json: bool,
}

pub async fn run(app: &App, args: StatsArgs) -> anyhow::Result<ExitCode> {
    let s = app.store().await?;
    // Once for a library made by an older paperbot: the indexes stats reads.
    s.ensure_indexes().await?;
    let stats = store::stats(&s).await?;
    // On a server or cluster, where the papers live (shards × replicas).
    let placement = match &s {
        store::AnyStore::Server(server) if stats.count > 0 => Some(server.placement(false).await?),
        _ => None,
    };
    if args.json {
        let mut v = serde_json::to_value(&stats)?;
        v["backend"] = s.describe().into();
        if let Some(p) = &placement {
            v["placement"] = serde_json::to_value(p)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let date =
        |d: Option<chrono::DateTime<chrono::Utc>>| d.map_or("-".to_string(), |d| d.format("%Y-%m-%d").to_string());
    println!("backend:    {}", s.describe());
    if let Some(p) = &placement {
        println!("placement:  {}", p.summary());
    }
    println!("papers:     {}", stats.count);
    println!(
        "published:  {} .. {}",
        date(stats.oldest_published),
        date(stats.newest_published)
    );
    println!(
        "last added: {}",
        stats.newest_first_seen.map_or("-".into(), |d| d.to_rfc3339())
    );
    let sources: Vec<String> = stats.by_source.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "sources:    {}",
        if sources.is_empty() {
            "-".into()
        } else {
            sources.join(", ")
        }
    );
    Ok(ExitCode::SUCCESS)
}
