//! `paperbot eval --claims FILE`: the sentence support check on labelled
//! claims (one sentence, one paper, supported or not), by style of claim;
//! `--calibrate` fits the check's weights on one split.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use paperbot::answer::support::{Support, SupportCheck};
use paperbot::app::App;
use paperbot::retrieve::lookup;

use super::EvalArgs;

#[derive(Debug, serde::Deserialize)]
struct Claim {
    paper: String,
    claim: String,
    label: String,
    #[serde(default)]
    style: Option<String>,
    #[serde(default)]
    split: Option<String>,
}

/// Supported calibration claims the fitted check must pass.
const SUPPORTED_PASS: f64 = 0.95;

pub async fn run(app: &App, file: &Path, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut claims: Vec<Claim> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{} line {}", file.display(), i + 1)))
        .collect::<anyhow::Result<_>>()?;
    if let Some(split) = &args.split {
        claims.retain(|c| c.split.as_deref() == Some(split.as_str()));
    }
    anyhow::ensure!(!claims.is_empty(), "no claims to check in {}", file.display());
    let lib = app.library().await?;
    let mut config = app.config.answer.support.clone();
    let mut judged: Vec<(&Claim, Support)> = Vec::new();
    for c in &claims {
        let paper = lookup::find(&lib, &c.paper)
            .await?
            .filter(|p| paperbot::paper::normalise_title(&p.paper.title) == paperbot::paper::normalise_title(&c.paper))
            .with_context(|| format!("`{}` is not in the library", c.paper))?;
        let check = SupportCheck::new(config.clone(), &lib.dense, &lib.bm25, &lib.sentences, &[paper.paper]).await?;
        let support = check.judge(&c.claim).await?.remove(0);
        judged.push((c, support));
    }
    if args.calibrate {
        let rows: Vec<(Vec<f64>, bool)> = judged
            .iter()
            .filter(|(_, s)| s.numbers_ok)
            .map(|(c, s)| (vec![f64::from(s.cosine), f64::from(s.overlap)], c.label == "supported"))
            .collect();
        let fit = paperbot::logistic::fit(&rows);
        config.bias = fit.bias as f32;
        config.cosine = fit.weights[0] as f32;
        config.overlap = fit.weights[1] as f32;
        let mut supported: Vec<f32> = Vec::new();
        for (c, s) in judged.iter_mut() {
            s.probability = config.probability(s.cosine, s.overlap);
            if c.label == "supported" && s.numbers_ok {
                supported.push(s.probability);
            }
        }
        supported.sort_by(f32::total_cmp);
        if !supported.is_empty() {
            let at = ((supported.len() as f64 * (1.0 - SUPPORTED_PASS)).floor() as usize).min(supported.len() - 1);
            config.supported_at = supported[at] * 0.999;
        }
        for (_, s) in judged.iter_mut() {
            s.threshold = config.supported_at;
        }
    }
    // Per style: how often the check agrees with the label.
    let mut by_style: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (c, s) in &judged {
        let right = s.supports() == (c.label == "supported");
        let style = c.style.clone().unwrap_or_else(|| c.label.clone());
        for key in [format!("{} ({})", style, c.label), format!("all {}", c.label)] {
            let e = by_style.entry(key).or_default();
            e.0 += usize::from(right);
            e.1 += 1;
        }
    }
    if args.json {
        let styles: BTreeMap<_, _> = by_style
            .iter()
            .map(|(k, (r, n))| (k.clone(), serde_json::json!({"right": r, "of": n})))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"support": &config, "by_style": styles, "calibrated_here": args.calibrate})
            )?
        );
    } else {
        println!(
            "{} claims from {}{}{}\n",
            claims.len(),
            file.display(),
            args.split
                .as_deref()
                .map(|s| format!(", split {s}"))
                .unwrap_or_default(),
            if args.calibrate {
                " — check fitted on these claims, so these numbers are not a result"
            } else {
                ""
            }
        );
        println!("| claims (label) | judged right |\n|---|---:|");
        for (k, (r, n)) in &by_style {
            println!("| {k} | {r}/{n} ({:.1}%) |", 100.0 * *r as f64 / *n as f64);
        }
        if args.calibrate {
            println!("\n{}", config.to_toml());
        }
    }
    Ok(ExitCode::SUCCESS)
}
