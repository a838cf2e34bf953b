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
}

pub async fn run(app: &App, action: ModelAction) -> anyhow::Result<ExitCode> {
    match action {
        ModelAction::Fetch => fetch(app).await,
        ModelAction::FieldStats { from, out } => field_stats(&from, &out),
    }
}

fn field_stats(from: &std::path::Path, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    use std::io::BufRead;
    #[derive(serde::Deserialize)]
    struct Row {
        title: String,
        #[serde(rename = "abstract")]
        abstract_text: String,
    }
    let bm25 = paperbot::embed::Bm25::default();
    let file = std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let mut docs = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        let row: Row = serde_json::from_str(&line).with_context(|| format!("{} line {}", from.display(), i + 1))?;
        docs.push(bm25.document(&format!("{}. {}", row.title, row.abstract_text)).indices);
    }
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
