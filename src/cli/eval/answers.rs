//! `paperbot eval --answers FILE`: the whole answer path (the configured
//! LLM, or offline) on questions with gold papers: declines, gold papers
//! cited, what the citation and support gates changed, latency and tokens.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use paperbot::answer::screen::Screened;
use paperbot::answer::support::SupportStats;
use paperbot::answer::{Answer, AnswerKind, AskRequest};
use paperbot::app::App;
use paperbot::eval::first_gold_rank;

use super::{EvalArgs, quantile};

#[derive(Debug, Default, serde::Serialize)]
struct Tally {
    questions: usize,
    offcorpus: usize,
    offcorpus_declined: usize,
    answerable: usize,
    answerable_declined: usize,
    /// Off-corpus questions answered, but labelled as unsure ([`Answer::hedged`]).
    offcorpus_hedged: usize,
    /// Answerable questions answered and labelled as unsure.
    answerable_hedged: usize,
    /// Questions the LLM's relevance check ran on, and those it declined
    /// (off-corpus / answerable).
    screened: usize,
    screen_declined_offcorpus: usize,
    screen_declined_answerable: usize,
    /// Screen replies that were not in the asked-for format.
    screen_unclear: usize,
    /// Answered answerable questions that cite a gold paper.
    gold_cited: usize,
    answered: usize,
    /// Multi-paper questions whose answer cites every gold paper.
    multi: usize,
    multi_all_gold_cited: usize,
    errors: usize,
    /// `[n]` in a shown answer that is not one of its citations (must be 0).
    invalid_citations_shown: usize,
    /// Citations removed: numbers not given, unsupported by their source, placeholders.
    citations_removed: usize,
    support: SupportStats,
    latency_p50_ms: f64,
    latency_p95_ms: f64,
    tokens_per_question: f64,
}

pub async fn run(app: &App, file: &Path, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let questions = super::questions(file, args.split.as_deref())?;
    let answerer = app.answerer().await?;
    let mut out = match &args.out {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let mut t = Tally::default();
    let mut latencies = Vec::new();
    let mut tokens = 0usize;
    for q in &questions {
        let started = std::time::Instant::now();
        let result = answerer
            .ask(
                &AskRequest {
                    question: q.question.clone(),
                    ..AskRequest::default()
                },
                &mut |_| {},
            )
            .await;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        latencies.push(ms);
        t.questions += 1;
        let answerable = !q.gold.is_empty();
        if answerable {
            t.answerable += 1;
        } else {
            t.offcorpus += 1;
        }
        let kind = q
            .kind
            .as_deref()
            .unwrap_or(if answerable { "answerable" } else { "offcorpus" });
        match &result {
            Ok(a) => {
                tokens += a.llm_tokens;
                tally(&mut t, a, &q.gold, kind == "multi");
            }
            Err(e) => {
                t.errors += 1;
                tracing::warn!(error = %e, question = %q.question, "answer failed");
            }
        }
        if let Some(w) = out.as_mut() {
            let line = serde_json::json!({
                "question": q.question, "kind": kind, "split": q.split, "gold": q.gold,
                "latency_ms": ms.round(),
                "answer": result.as_ref().ok(),
                "error": result.as_ref().err().map(|e| e.to_string()),
            });
            writeln!(w, "{line}")?;
        }
    }
    if let Some(mut w) = out {
        w.flush()?;
    }
    t.latency_p50_ms = quantile(&mut latencies, 0.5);
    t.latency_p95_ms = quantile(&mut latencies, 0.95);
    t.tokens_per_question = tokens as f64 / t.questions.max(1) as f64;
    let how = match answerer.llm() {
        Some(llm) => format!("LLM {}", llm.model()),
        None => "offline (extractive)".into(),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "answers": how, "tally": t }))?
        );
    } else {
        print_table(&t, &how, file, args.split.as_deref());
    }
    Ok(if t.invalid_citations_shown == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {} invalid citations were shown", t.invalid_citations_shown);
        ExitCode::FAILURE
    })
}

fn tally(t: &mut Tally, a: &Answer, gold: &[String], multi: bool) {
    let declined = a.kind == AnswerKind::NotCovered;
    match (gold.is_empty(), declined) {
        (true, true) => t.offcorpus_declined += 1,
        (false, true) => t.answerable_declined += 1,
        (true, false) if a.hedged => t.offcorpus_hedged += 1,
        (false, false) if a.hedged => t.answerable_hedged += 1,
        _ => {}
    }
    if a.screen != Screened::NotRun {
        t.screened += 1;
    }
    match (&a.screen, gold.is_empty()) {
        (Screened::NoneRelevant, true) => t.screen_declined_offcorpus += 1,
        (Screened::NoneRelevant, false) => t.screen_declined_answerable += 1,
        (Screened::Unclear, _) => t.screen_unclear += 1,
        _ => {}
    }
    let cited: Vec<String> = a.citations.iter().map(|c| c.paper.title.clone()).collect();
    if !declined && !gold.is_empty() {
        t.answered += 1;
        if first_gold_rank(&cited, gold).is_some() {
            t.gold_cited += 1;
        }
    }
    if multi {
        t.multi += 1;
        if !declined
            && gold
                .iter()
                .all(|g| first_gold_rank(&cited, std::slice::from_ref(g)).is_some())
        {
            t.multi_all_gold_cited += 1;
        }
    }
    t.invalid_citations_shown += invalid_citations(a);
    t.citations_removed += a.dropped_citations.len() + a.support.citations_dropped + a.support.placeholders;
    t.support.add(&a.support);
}

/// Bracketed numbers in the text that are not the answer's citations.
fn invalid_citations(a: &Answer) -> usize {
    let valid = a.citations.len() as u32;
    let mut bad = 0;
    let mut rest = a.text.as_str();
    while let Some(i) = rest.find('[') {
        let Some(j) = rest[i..].find(']') else { break };
        let group = &rest[i..=i + j];
        if let Some(ns) = paperbot::answer::citations::parse_group(group) {
            bad += ns.iter().filter(|&&n| n == 0 || n > valid).count();
        }
        if paperbot::answer::citations::is_placeholder(group) {
            bad += 1;
        }
        rest = &rest[i + j + 1..];
    }
    bad
}

fn print_table(t: &Tally, how: &str, file: &Path, split: Option<&str>) {
    let pct = |a: usize, b: usize| format!("{a}/{b} ({:.1}%)", 100.0 * a as f64 / b.max(1) as f64);
    let s = &t.support;
    println!(
        "{} questions from {}{}, answered by {how}\n",
        t.questions,
        file.display(),
        split.map(|s| format!(", split {s}")).unwrap_or_default()
    );
    println!("| | |\n|---|---:|");
    println!(
        "| off-corpus questions declined | {} |",
        pct(t.offcorpus_declined, t.offcorpus)
    );
    println!(
        "| answerable questions declined | {} |",
        pct(t.answerable_declined, t.answerable)
    );
    println!(
        "| off-corpus questions answered, labelled unsure | {} |",
        pct(t.offcorpus_hedged, t.offcorpus - t.offcorpus_declined)
    );
    println!(
        "| answerable questions answered, labelled unsure | {} |",
        pct(t.answerable_hedged, t.answerable - t.answerable_declined)
    );
    println!(
        "| LLM relevance check: ran / unreadable replies | {} / {} |",
        t.screened, t.screen_unclear
    );
    println!(
        "| LLM relevance check declined: off-corpus / answerable | {} / {} |",
        t.screen_declined_offcorpus, t.screen_declined_answerable
    );
    println!(
        "| answered questions citing a gold paper | {} |",
        pct(t.gold_cited, t.answered)
    );
    println!(
        "| multi-paper questions citing every gold paper | {} |",
        pct(t.multi_all_gold_cited, t.multi)
    );
    println!("| errors | {} |", t.errors);
    println!("| invalid citations shown | {} |", t.invalid_citations_shown);
    println!("| citations the gates removed | {} |", t.citations_removed);
    println!(
        "| citations added to uncited supported sentences | {} |",
        s.citations_added
    );
    println!("| supported sentences | {} |", pct(s.supported, s.sentences));
    println!(
        "| unsupported sentences marked / removed | {} / {} |",
        s.marked, s.removed
    );
    println!(
        "| citation precision (the model's citations whose source supports the sentence) | {} |",
        pct(s.citations_kept, s.citations_kept + s.citations_dropped)
    );
    println!(
        "| names or titles corrected / marked | {} / {} |",
        s.titles_corrected, s.titles_marked
    );
    println!(
        "| latency p50 / p95 | {:.0} / {:.0} ms |",
        t.latency_p50_ms, t.latency_p95_ms
    );
    println!("| LLM tokens per question | {:.0} |", t.tokens_per_question);
}
