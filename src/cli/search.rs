//! `paperbot search` and `paperbot related`.

use std::process::ExitCode;

use anyhow::bail;
use chrono::{DateTime, Utc};
use paperbot::config::{Config, Secrets};
use paperbot::library::Library;
use paperbot::paper::{PaperId, normalise_title};
use paperbot::retrieve::{self, SearchOptions};
use paperbot::store::{PaperStore, ScoredPaper, SearchMode, StoredPaper};

/// `2025-01-31`, or a span back from now: `7d`, `24h`.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    retrieve::parse_since(s, now).map_err(|e| anyhow::anyhow!(e))
}

pub async fn run(
    config: &Config,
    secrets: &Secrets,
    query: &str,
    k: Option<usize>,
    mode: Option<SearchMode>,
    since: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut opts = SearchOptions {
        k: k.unwrap_or(config.search.k),
        mode: mode.unwrap_or(config.search.mode),
        prefetch: config.search.prefetch,
        ..Default::default()
    };
    if let Some(s) = since {
        opts.filter.published_since = Some(parse_since(s, Utc::now())?);
    }
    let lib = Library::open(config, secrets).await?;
    let hits = retrieve::search(&lib, query, &opts).await?;
    print_hits(&hits, json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn print_hits(hits: &[ScoredPaper], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = hits
            .iter()
            .map(|h| {
                let p = &h.stored.paper;
                serde_json::json!({
                    "id": p.id, "title": p.title, "score": h.score,
                    "published": p.published, "url": p.link(), "source": p.source,
                    "authors": p.authors, "upvotes": p.upvotes,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if hits.is_empty() {
        println!("no matching papers");
    }
    for (i, h) in hits.iter().enumerate() {
        let p = &h.stored.paper;
        let date = p
            .published
            .map(|d| format!(" ({})", d.format("%Y-%m-%d")))
            .unwrap_or_default();
        println!("{:>2}. {}{date}  [score {:.4}]", i + 1, p.title, h.score);
        if let Some(link) = p.link() {
            println!("    {link}");
        }
    }
    Ok(())
}

/// Resolves an id, or else the best title match, to a stored paper.
pub async fn find_paper<S: PaperStore>(lib: &Library<S>, needle: &str) -> anyhow::Result<StoredPaper> {
    if let Some(id) = PaperId::parse(needle) {
        if let Some(p) = lib.store.get(&[id]).await?.pop() {
            return Ok(p);
        }
    }
    let want = normalise_title(needle);
    let all = super::export::all_papers(&lib.store).await?;
    let exact = all.iter().find(|p| normalise_title(&p.title) == want);
    let partial = || all.iter().find(|p| normalise_title(&p.title).contains(&want));
    match exact.or_else(partial) {
        Some(p) => Ok(lib
            .store
            .get(std::slice::from_ref(&p.id))
            .await?
            .pop()
            .expect("just listed")),
        None => {
            bail!("no paper with id or title `{needle}` in the library (try `paperbot search`)")
        }
    }
}

pub async fn related(
    config: &Config,
    secrets: &Secrets,
    needle: &str,
    k: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let lib = Library::open(config, secrets).await?;
    let paper = find_paper(&lib, needle).await?;
    if !json {
        println!("papers like: {}\n", paper.paper.title);
    }
    let opts = SearchOptions {
        k,
        mode: config.search.mode,
        prefetch: config.search.prefetch,
        ..Default::default()
    };
    let hits = retrieve::related(&lib, &paper.paper.id, &opts).await?;
    print_hits(&hits, json)?;
    Ok(ExitCode::SUCCESS)
}
