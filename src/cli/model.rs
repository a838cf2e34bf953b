//! `paperbot model fetch` (and the hidden `model field-stats`).

use std::process::ExitCode;

use anyhow::Context;
use paperbot::app::App;
use paperbot::embed::model;

#[derive(clap::Subcommand, Debug)]
pub enum ModelAction {
    /// Download all-MiniLM-L6-v2 into embed.model_dir (no-op when present)
    Fetch,
    /// Build the field's term statistics (src/retrieve/field_df.bin) from
    /// papers in JSONL ({"title", "abstract"} per line)
    #[command(hide = true)]
    FieldStats {
        from: std::path::PathBuf,
        out: std::path::PathBuf,
    },
    /// Build the acronym table (`embed/acronyms.tsv`) from the same papers
    #[command(hide = true)]
    Acronyms {
        from: std::path::PathBuf,
        out: std::path::PathBuf,
    },
}

pub async fn run(app: &App, action: ModelAction) -> anyhow::Result<ExitCode> {
    match action {
        ModelAction::Fetch => fetch(app).await,
        ModelAction::FieldStats { from, out } => field_stats(&from, &out),
        ModelAction::Acronyms { from, out } => acronyms(&from, &out),
    }
}

fn field_stats(from: &std::path::Path, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let bm25 = paperbot::embed::Bm25::default();
    let docs: Vec<Vec<u32>> = field_rows(from)?
        .into_iter()
        .map(|row| bm25.document(&format!("{}. {}", row.title, row.abstract_text)).indices)
        .collect();
    let n = docs.len();
    let bytes = paperbot::retrieve::field_idf::build(docs.into_iter());
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{n} documents, {} terms kept, {} bytes",
        (bytes.len() - 8) / 8,
        bytes.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Papers of a field, one JSON object a line.
#[derive(serde::Deserialize)]
struct FieldRow {
    title: String,
    #[serde(rename = "abstract")]
    abstract_text: String,
}

fn field_rows(from: &std::path::Path) -> anyhow::Result<Vec<FieldRow>> {
    use std::io::BufRead;
    let file = std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| serde_json::from_str(&line?).with_context(|| format!("{} line {}", from.display(), i + 1)))
        .collect()
}

fn acronyms(from: &std::path::Path, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let texts: Vec<String> = field_rows(from)?
        .into_iter()
        .map(|r| format!("{}. {}", r.title, r.abstract_text))
        .collect();
    let table = paperbot::embed::acronyms::build(texts.iter().map(String::as_str));
    let header = format!(
        "# acronym<TAB>long form: `paperbot model acronyms` over {} papers ({})\n",
        texts.len(),
        from.file_name()
            .map_or(String::new(), |f| f.to_string_lossy().into_owned())
    );
    std::fs::write(out, header + &table).with_context(|| format!("writing {}", out.display()))?;
    println!("{} papers, {} acronyms", texts.len(), table.lines().count());
    Ok(ExitCode::SUCCESS)
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
