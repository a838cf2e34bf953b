//! `paperbot ask`: a cited answer in the terminal, streamed as it is written.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use chrono::Utc;
use paperbot::answer::{Answer, AnswerKind, Answerer, AskRequest, Progress};
use paperbot::app::App;
use paperbot::store::PaperStore;

#[derive(clap::Args, Debug)]
pub struct AskArgs {
    question: String,
    /// Abstracts to give the model [default: answer.sources]
    #[arg(long)]
    sources: Option<usize>,
    /// Only papers published on or after DATE (YYYY-MM-DD) or within a span (7d, 24h)
    #[arg(long, value_name = "DATE|SPAN")]
    since: Option<String>,
    /// Print the answer, citations and sources as JSON (no streaming)
    #[arg(long)]
    pub json: bool,
}

impl AskArgs {
    /// A plain question with no options, as quickstart asks it.
    pub fn question(question: &str) -> AskArgs {
        AskArgs {
            question: question.to_string(),
            sources: None,
            since: None,
            json: false,
        }
    }
}

pub async fn run(app: &App, args: AskArgs) -> anyhow::Result<ExitCode> {
    let answerer = app.answerer().await?;
    answer(&answerer, &args).await
}

/// Asks `answerer` and prints the answer as it streams, then its sources.
pub async fn answer<S: PaperStore>(answerer: &Answerer<S>, args: &AskArgs) -> anyhow::Result<ExitCode> {
    let mut req = AskRequest {
        question: args.question.clone(),
        sources: args.sources,
        ..Default::default()
    };
    if let Some(s) = &args.since {
        req.filter.published_since = Some(paperbot::retrieve::parse_since(s, Utc::now()).map_err(anyhow::Error::msg)?);
    }
    let json = args.json;
    let mut stdout = std::io::stdout();
    let mut on_progress = |p: Progress<'_>| match p {
        Progress::Text(piece) if !json => {
            // A closed pipe (`| head`) is not an error worth dying for.
            let _ = stdout.write_all(piece.as_bytes());
            let _ = stdout.flush();
        }
        // Reasoning models think first; say so on the terminal only.
        Progress::Thinking if !json && std::io::stderr().is_terminal() => eprintln!("(thinking…)"),
        _ => {}
    };
    match answerer.ask(&req, &mut on_progress).await {
        Ok(answer) if json => {
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(ExitCode::SUCCESS)
        }
        Ok(answer) => {
            print_footer(&answer);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            tracing::error!(error = %e, "ask failed");
            if !json {
                println!();
            }
            eprintln!("error: {}", e.user_message());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_footer(answer: &Answer) {
    if !answer.text.ends_with('\n') {
        println!();
    }
    if answer.truncated {
        println!("(the answer reached the length limit and may be cut short)");
    }
    match &answer.kind {
        AnswerKind::Extractive => println!(
            "\n(extractive answer: sentences quoted from the best-matching abstracts; \
             set llm.base_url for a written answer)"
        ),
        AnswerKind::Generated { model } => println!("\n(answer by {model}; every [n] is checked against the sources)"),
        AnswerKind::NotCovered => {}
    }
    println!("\n{}", answer.sources_block().trim_end());
}
