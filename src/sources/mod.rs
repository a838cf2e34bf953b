//! Sources: where papers come from. Each parser turns bytes into
//! [`ParseOutcome`] — the papers it could read and a [`RecordProblem`] for
//! each record it could not — so one bad record never costs its neighbours.
//!
//! Invariant: nothing here touches the store or the embedder; sources only
//! produce validated [`Paper`] records.

pub mod arxiv;
pub mod chat_links;
pub mod fetch;
pub mod hf;
pub mod jsonl;
pub mod oai_pmh;
pub mod page_text;
pub mod snapshot;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::paper::{InvalidPaper, Paper};

pub use fetch::{Fetcher, HttpConfig, OaiQuery};

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
    /// The format as a person would name it, with what it expects.
    pub fn describe(self) -> &'static str {
        match self {
            Format::PageText => "page text (a title line, a blank line, the abstract, a blank line, …)",
            Format::HfJson => "Hugging Face daily-papers JSON",
            Format::ArxivAtom => "arXiv Atom XML",
            Format::Jsonl => "paperbot JSONL (one paper per line)",
        }
    }

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
    /// Papers by arXiv id (without version), fetched in one request per 100.
    ArxivIds(Vec<String>),
}

/// What `paperbot ingest` accepts, for the message when an argument is none of it.
pub const SOURCE_FORMS: &str = "a file (page text, Hugging Face JSON, arXiv Atom XML or paperbot JSONL); \
an arXiv id or link (2401.01234, arXiv:2401.01234, https://arxiv.org/abs/2401.01234v2, …/pdf/…, …/html/…, \
https://huggingface.co/papers/2401.01234); hf:YYYY-MM-DD, hf:today or hf:yesterday; arxiv:<search query>";

impl SourceSpec {
    /// An existing file | an arXiv id or link | `hf:YYYY-MM-DD` | `hf:today`
    /// | `hf:yesterday` | `arxiv:<query>`. Anything else is an error naming
    /// the forms accepted.
    pub fn parse(s: &str, today: NaiveDate) -> Result<SourceSpec, String> {
        if Path::new(s).is_file() {
            return Ok(SourceSpec::File(PathBuf::from(s)));
        }
        if let Some(id) = crate::paper::PaperId::arxiv(s) {
            return Ok(SourceSpec::ArxivIds(vec![id.to_string()]));
        }
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
        let looks_like_link = s.starts_with("http://") || s.starts_with("https://");
        Err(if looks_like_link {
            format!("`{s}`: not an arXiv or Hugging Face paper link. A source is {SOURCE_FORMS}")
        } else {
            format!("`{s}`: no such file, and not an id, link or query. A source is {SOURCE_FORMS}")
        })
    }

    /// The same sources with every id list merged into one (first place), so
    /// twenty ids cost one arXiv request, not twenty.
    pub fn merge_ids(specs: Vec<SourceSpec>) -> Vec<SourceSpec> {
        let mut out: Vec<SourceSpec> = Vec::new();
        let mut at: Option<usize> = None;
        for spec in specs {
            match (spec, at) {
                (SourceSpec::ArxivIds(ids), Some(i)) => {
                    if let SourceSpec::ArxivIds(all) = &mut out[i] {
                        for id in ids {
                            if !all.contains(&id) {
                                all.push(id);
                            }
                        }
                    }
                }
                (spec @ SourceSpec::ArxivIds(_), None) => {
                    at = Some(out.len());
                    out.push(spec);
                }
                (spec, _) => out.push(spec),
            }
        }
        out
    }

    /// How the source is named in logs and warnings.
    pub fn label(&self) -> String {
        match self {
            SourceSpec::File(p) => p.display().to_string(),
            SourceSpec::HfDaily(d) => format!("hf:{d}"),
            SourceSpec::ArxivQuery(q) => format!("arxiv:{q}"),
            SourceSpec::ArxivIds(ids) if ids.len() <= 3 => format!("arXiv {}", ids.join(", ")),
            SourceSpec::ArxivIds(ids) => format!("arXiv {}, … ({} ids)", ids[..3].join(", "), ids.len()),
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
    let size = bytes.len();
    // Parsing a large file is CPU work; keep it off the async workers.
    let mut outcome = tokio::task::spawn_blocking(move || format.parse(&bytes))
        .await
        .unwrap_or_else(|e| {
            let mut o = ParseOutcome::default();
            o.problems
                .push(RecordProblem::new("document", format!("parser failed: {e}")));
            o
        });
    if outcome.papers.is_empty() && outcome.problems.is_empty() && outcome.state.is_empty() {
        // Say why nothing came out rather than "0 papers".
        let why = if size == 0 {
            "the file is empty".to_string()
        } else {
            format!("read as {} and found no paper in it", format.describe())
        };
        outcome.problems.push(RecordProblem::new(
            path.display().to_string(),
            format!("{why}; a source is {SOURCE_FORMS}"),
        ));
    }
    Ok(outcome)
}

/// Loads any source: files from disk, APIs through the [`Fetcher`].
pub async fn load(spec: &SourceSpec, fetcher: &Fetcher) -> Result<ParseOutcome, SourceError> {
    match spec {
        SourceSpec::File(path) => load_file(path).await,
        SourceSpec::HfDaily(date) => fetcher.hf_daily(*date).await,
        SourceSpec::ArxivQuery(q) => fetcher.arxiv_query(q).await,
        SourceSpec::ArxivIds(ids) => fetcher.arxiv_ids(ids).await,
    }
}

/// An XML entity in a feed (Atom, OAI-PMH): `&amp;`, `&#233;` and the other predefined entities; unknown ones are dropped.
pub(crate) fn xml_entity(r: &quick_xml::events::BytesRef) -> Option<String> {
    match r.resolve_char_ref() {
        Ok(Some(c)) => Some(c.to_string()),
        _ => match r.decode().ok().as_deref() {
            Some("amp") => Some("&".into()),
            Some("lt") => Some("<".into()),
            Some("gt") => Some(">".into()),
            Some("quot") => Some("\"".into()),
            Some("apos") => Some("'".into()),
            _ => None,
        },
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
            SourceSpec::parse("Cargo.toml", today),
            Ok(SourceSpec::File("Cargo.toml".into()))
        );
        let ids = |s: &str| SourceSpec::parse(s, today);
        for form in [
            "2511.01234",
            "arXiv:2511.01234",
            "arxiv:2511.01234v3",
            "https://arxiv.org/abs/2511.01234v2",
            "https://arxiv.org/pdf/2511.01234",
            "https://arxiv.org/html/2511.01234v1",
            "https://huggingface.co/papers/2511.01234",
        ] {
            assert_eq!(ids(form), Ok(SourceSpec::ArxivIds(vec!["2511.01234".into()])), "{form}");
        }
        let err = SourceSpec::parse("a/missing.txt", today).unwrap_err();
        assert!(err.contains("no such file") && err.contains("hf:YYYY-MM-DD"), "{err}");
        let err = SourceSpec::parse("https://example.com/paper", today).unwrap_err();
        assert!(err.contains("not an arXiv or Hugging Face paper link"), "{err}");
        let merged = SourceSpec::merge_ids(vec![
            SourceSpec::ArxivIds(vec!["1".into()]),
            SourceSpec::HfDaily(today),
            SourceSpec::ArxivIds(vec!["2".into(), "1".into()]),
        ]);
        assert_eq!(
            merged,
            vec![
                SourceSpec::ArxivIds(vec!["1".into(), "2".into()]),
                SourceSpec::HfDaily(today)
            ]
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
