//! Sources: where papers come from. Each parser turns bytes into
//! [`ParseOutcome`] — the papers it could read and a [`RecordProblem`] for
//! each record it could not — so one bad record never costs its neighbours.
//!
//! Invariant: nothing here touches the store or the embedder; sources only
//! produce validated [`Paper`] records.

pub mod arxiv;
pub mod fetch;
pub mod hf;
pub mod jsonl;
pub mod page_text;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::paper::{InvalidPaper, Paper};

pub use fetch::{Fetcher, HttpConfig};

/// A record a parser skipped, and why. `record` names it for the user
/// ("line 12 (Some Title…)", "item 3 (2401.01234)").
#[derive(Debug, Clone, PartialEq)]
pub struct RecordProblem {
    pub record: String,
    pub reason: String,
}

impl RecordProblem {
    pub fn new(record: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            record: record.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.record, self.reason)
    }
}

/// What a parser made of one document.
#[derive(Debug, Default)]
pub struct ParseOutcome {
    pub papers: Vec<Paper>,
    pub problems: Vec<RecordProblem>,
    /// When papers first entered the library they were exported from
    /// (paperbot's own export format only).
    pub first_seen: std::collections::HashMap<crate::paper::PaperId, chrono::DateTime<chrono::Utc>>,
    /// Subscriptions, digest state and budgets (paperbot's export format only).
    pub state: Vec<crate::store::state::StateDoc>,
}

impl ParseOutcome {
    pub(crate) fn push(&mut self, record: String, paper: Result<Paper, InvalidPaper>) {
        match paper {
            Ok(p) => self.papers.push(p),
            Err(e) => self
                .problems
                .push(RecordProblem::new(record, format!("{e}; record skipped"))),
        }
    }

    pub(crate) fn extend(&mut self, other: ParseOutcome) {
        self.papers.extend(other.papers);
        self.problems.extend(other.problems);
        self.first_seen.extend(other.first_seen);
        self.state.extend(other.state);
    }
}

/// The formats paperbot reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    PageText,
    HfJson,
    ArxivAtom,
    Jsonl,
}

impl Format {
    /// By extension first, then by the first meaningful byte.
    pub fn detect(path: &Path, bytes: &[u8]) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson") => return Format::Jsonl,
            Some("json") => return Format::HfJson,
            Some("xml" | "atom") => return Format::ArxivAtom,
            _ => {}
        }
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => Format::HfJson,
            Some(b'{') => {
                // One object spanning the document is an HF paper object; one
                // object per line is our JSONL.
                let first_line = body
                    .split(|&b| b == b'\n')
                    .find(|l| !l.iter().all(u8::is_ascii_whitespace));
                if first_line.is_some_and(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok()) {
                    Format::Jsonl
                } else {
                    Format::HfJson
                }
            }
            Some(b'<') => Format::ArxivAtom,
            _ => Format::PageText,
        }
    }

    pub fn parse(self, bytes: &[u8]) -> ParseOutcome {
        match self {
            Format::PageText => page_text::parse(bytes),
            Format::HfJson => hf::parse(bytes),
            Format::ArxivAtom => arxiv::parse(bytes),
            Format::Jsonl => jsonl::parse(bytes),
        }
    }
}

/// A source named on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// A local file in any supported format.
    File(PathBuf),
    /// One day of the Hugging Face daily papers API.
    HfDaily(NaiveDate),
    /// An arXiv API search query, e.g. `cat:cs.CL AND abs:retrieval`.
    ArxivQuery(String),
}

impl SourceSpec {
    /// `hf:YYYY-MM-DD` | `hf:today` | `hf:yesterday` | `arxiv:<query>` | a path.
    pub fn parse(s: &str, today: NaiveDate) -> Result<SourceSpec, String> {
        if let Some(rest) = s.strip_prefix("hf:") {
            let date = match rest {
                "today" | "" => today,
                "yesterday" => today.pred_opt().ok_or("date out of range")?,
                d => NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| format!("`{s}`: expected hf:YYYY-MM-DD, hf:today or hf:yesterday"))?,
            };
            return Ok(SourceSpec::HfDaily(date));
        }
        if let Some(q) = s.strip_prefix("arxiv:") {
            if q.trim().is_empty() {
                return Err(format!("`{s}`: give a search query, e.g. arxiv:cat:cs.CL"));
            }
            return Ok(SourceSpec::ArxivQuery(q.trim().to_string()));
        }
        Ok(SourceSpec::File(PathBuf::from(s)))
    }

    /// How the source is named in logs and warnings.
    pub fn label(&self) -> String {
        match self {
            SourceSpec::File(p) => p.display().to_string(),
            SourceSpec::HfDaily(d) => format!("hf:{d}"),
            SourceSpec::ArxivQuery(q) => format!("arxiv:{q}"),
        }
    }
}

/// A source that could not be read at all (as opposed to a bad record in it).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{url}: HTTP {status} after {attempts} attempt(s){hint}")]
    Status {
        url: String,
        status: u16,
        attempts: u32,
        hint: String,
    },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
}

/// Reads a local file and parses it in its detected format.
pub async fn load_file(path: &Path) -> Result<ParseOutcome, SourceError> {
    let bytes = tokio::fs::read(path).await.map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let format = Format::detect(path, &bytes);
    tracing::debug!(path = %path.display(), ?format, bytes = bytes.len(), "parsing file");
    // Parsing a large file is CPU work; keep it off the async workers.
    Ok(tokio::task::spawn_blocking(move || format.parse(&bytes))
        .await
        .unwrap_or_else(|e| {
            let mut o = ParseOutcome::default();
            o.problems
                .push(RecordProblem::new("document", format!("parser failed: {e}")));
            o
        }))
}

/// Loads any source: files from disk, APIs through the [`Fetcher`].
pub async fn load(spec: &SourceSpec, fetcher: &Fetcher) -> Result<ParseOutcome, SourceError> {
    match spec {
        SourceSpec::File(path) => load_file(path).await,
        SourceSpec::HfDaily(date) => fetcher.hf_daily(*date).await,
        SourceSpec::ArxivQuery(q) => fetcher.arxiv_query(q).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(SourceSpec::parse("hf:today", today), Ok(SourceSpec::HfDaily(today)));
        assert_eq!(
            SourceSpec::parse("hf:2025-01-02", today),
            Ok(SourceSpec::HfDaily(NaiveDate::from_ymd_opt(2025, 1, 2).unwrap()))
        );
        assert!(SourceSpec::parse("hf:2025-13-02", today).is_err());
        assert_eq!(
            SourceSpec::parse("arxiv:cat:cs.CL", today),
            Ok(SourceSpec::ArxivQuery("cat:cs.CL".into()))
        );
        assert_eq!(
            SourceSpec::parse("a/b.txt", today),
            Ok(SourceSpec::File("a/b.txt".into()))
        );
    }

    #[test]
    fn format_detection() {
        let p = Path::new("x");
        assert_eq!(Format::detect(p, b"  [1]"), Format::HfJson);
        assert_eq!(Format::detect(p, b"{\"a\":1}\n{\"a\":2}\n"), Format::Jsonl);
        assert_eq!(Format::detect(p, b"{\n \"id\": \"1\"\n}"), Format::HfJson);
        assert_eq!(Format::detect(p, b"<?xml"), Format::ArxivAtom);
        assert_eq!(Format::detect(p, b"new\n\nTitle"), Format::PageText);
        assert_eq!(Format::detect(Path::new("a.jsonl"), b"["), Format::Jsonl);
    }
}
