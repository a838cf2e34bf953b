//! `paperbot search` and `paperbot related`.

use std::process::ExitCode;

use chrono::Utc;
use paperbot::app::App;
use paperbot::retrieve;
use paperbot::retrieve::relevance::Judged;
use paperbot::store::{ScoredPaper, SearchMode};

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The question or keywords
    query: String,
    /// Number of results [config: search.k]
    #[arg(long)]
    k: Option<usize>,
    /// Retrievers to use [config: search.mode]
    #[arg(long, value_enum)]
    mode: Option<SearchMode>,
    /// Only papers published on or after DATE (YYYY-MM-DD) or within a span (7d, 24h)
    #[arg(long, value_name = "DATE|SPAN")]
    since: Option<String>,
    /// Print a JSON array instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RelatedArgs {
    /// An arXiv id or link (fetched from arXiv if the library lacks it), a
    /// title- id, or (the start of) a title
    paper: String,
    /// Number of results [config: search.k]
    #[arg(long)]
    k: Option<usize>,
    #[arg(long)]
    json: bool,
}

pub async fn run(app: &App, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let search = &app.config.search;
    let mut opts = search.options(args.k.unwrap_or(search.k));
    if let Some(mode) = args.mode {
        opts.mode = mode;
    }
    if let Some(s) = &args.since {
        opts.filter.published_since = Some(retrieve::parse_since(s, Utc::now()).map_err(anyhow::Error::msg)?);
    }
    let lib = app.library().await?;
    let found = retrieve::search_with_relevance(&lib, &args.query, &opts).await?;
    print_hits(&found.hits, Some((&found.judged, found.relevance)), args.json)?;
    if !args.json && !found.hits.is_empty() {
        let verdict = if found.answerable(&opts.relevance) {
            "the library likely answers this"
        } else {
            "none of these looks relevant to the question"
        };
        println!(
            "\n{verdict} (relevance {:.2}; answers need {:.2})",
            found.relevance, opts.relevance.answer_at
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints hits; with `judged`, each hit's relevance (the probability that
/// it is relevant to the question) beside its fused score, and in JSON the
/// question's (the probability that the library answers it).
pub fn print_hits(hits: &[ScoredPaper], judged: Option<(&[Judged], f32)>, json: bool) -> anyhow::Result<()> {
    let judged_at = |i: usize| judged.and_then(|(j, _)| j.get(i));
    if json {
        let rows: Vec<serde_json::Value> = hits
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let p = &h.stored.paper;
                let mut row = serde_json::json!({
                    "id": p.id, "title": p.title, "score": h.score,
                    "published": p.published, "url": p.link(), "source": p.source,
                    "authors": p.authors, "upvotes": p.upvotes,
                });
                if let Some(j) = judged_at(i) {
                    row["relevance"] = serde_json::json!(j.probability);
                    row["question_relevance"] = serde_json::json!(judged.map(|(_, q)| q));
                    row["evidence"] = serde_json::to_value(j.evidence).unwrap_or_default();
                }
                row
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
        match judged_at(i) {
            Some(j) => println!(
                "{:>2}. {}{date}  [relevance {:.2}, fused score {:.4}]",
                i + 1,
                p.title,
                j.probability,
                h.score
            ),
            None => println!("{:>2}. {}{date}  [score {:.4}]", i + 1, p.title, h.score),
        }
        if let Some(link) = p.link() {
            println!("    {link}");
        }
    }
    Ok(())
}

pub async fn related(app: &App, args: RelatedArgs) -> anyhow::Result<ExitCode> {
    let lib = app.library().await?;
    let fetcher = app.fetcher()?;
    // An arXiv id or link the library lacks is fetched and ingested first.
    let Some(paper) = paperbot::on_demand::find(&lib, Some(&fetcher), &args.paper).await? else {
        anyhow::bail!(
            "no paper with id or title `{}` in the library or on arXiv (try `paperbot search`)",
            args.paper
        );
    };
    if !args.json {
        println!("papers like: {}\n", paper.paper.title);
    }
    let opts = app.config.search.options(args.k.unwrap_or(app.config.search.k));
    let hits = retrieve::related(&lib, &paper.paper.id, &opts).await?;
    print_hits(&hits, None, args.json)?;
    Ok(ExitCode::SUCCESS)
}
