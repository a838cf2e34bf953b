//! The one record every source produces: [`Paper`], keyed by a [`PaperId`].
//!
//! Text arriving here is untrusted. [`clean_text`] strips markup and control
//! characters and folds whitespace, and [`Paper::validate`] rejects records a
//! user could not meaningfully search (no title, no abstract, hostile sizes),
//! so nothing downstream has to re-check.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest title kept. Real titles are < 300 characters.
pub const MAX_TITLE_CHARS: usize = 1_000;
/// Longest abstract kept. arXiv caps abstracts at 1,920 characters; anything
/// far beyond that is not an abstract and would only bloat prompts.
pub const MAX_ABSTRACT_CHARS: usize = 20_000;
/// Most authors kept per paper (collaboration papers list thousands).
pub const MAX_AUTHORS: usize = 200;

/// A paper's identity: its arXiv id when known, else a stable hash of the
/// normalised title (so the same page ingested twice maps to the same id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PaperId {
    /// Version-less arXiv id, e.g. `2401.01234` or `cond-mat/0102536`.
    Arxiv(String),
    /// `title-` + 16 hex digits of a UUIDv5 over the normalised title.
    Title(String),
}

impl PaperId {
    /// Parses an arXiv id in any common spelling and drops the version, so
    /// every version maps to one paper: `2401.01234v2`, `arXiv:2401.01234`,
    /// `cond-mat/0102536v1`, and links to it on arxiv.org (`/abs/`, `/pdf/`,
    /// `/html/`, with or without `www.`/`export.`, a `.pdf` suffix, a query
    /// or fragment) or huggingface.co (`/papers/`).
    pub fn arxiv(raw: &str) -> Option<PaperId> {
        let mut s = raw.trim();
        if let Some(rest) = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")) {
            let rest = rest.split(['?', '#']).next().unwrap_or_default();
            let (host, path) = rest.split_once('/')?;
            let host = host.trim_start_matches("www.").trim_start_matches("export.");
            s = match host {
                "arxiv.org" => ["abs/", "pdf/", "html/"].iter().find_map(|p| path.strip_prefix(p))?,
                "huggingface.co" => path.strip_prefix("papers/")?,
                _ => return None,
            };
        } else if let Some(rest) = s.strip_prefix("arXiv:").or_else(|| s.strip_prefix("arxiv:")) {
            s = rest.trim();
        }
        let s = s.trim_end_matches('/').trim_end_matches(".pdf");
        let base = strip_version(s);
        is_arxiv_id(base).then(|| PaperId::Arxiv(base.to_string()))
    }

    /// The stable id for a paper without an arXiv id.
    pub fn from_title(title: &str) -> PaperId {
        let key = normalise_title(title);
        let uuid = uuid::Uuid::new_v5(&TITLE_NAMESPACE, key.as_bytes());
        PaperId::Title(format!("title-{}", &uuid.simple().to_string()[..16]))
    }

    /// Parses the string form produced by `Display`.
    pub fn parse(s: &str) -> Option<PaperId> {
        let s = s.trim();
        if let Some(hex) = s.strip_prefix("title-") {
            return (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| PaperId::Title(s.to_ascii_lowercase()));
        }
        PaperId::arxiv(s)
    }

    pub fn as_str(&self) -> &str {
        match self {
            PaperId::Arxiv(s) | PaperId::Title(s) => s,
        }
    }

    pub fn arxiv_id(&self) -> Option<&str> {
        match self {
            PaperId::Arxiv(s) => Some(s),
            PaperId::Title(_) => None,
        }
    }

    /// The store's point id: UUIDv5 of the paper id, so re-ingesting is idempotent.
    pub fn point_uuid(&self) -> uuid::Uuid {
        uuid::Uuid::new_v5(&POINT_NAMESPACE, self.as_str().as_bytes())
    }
}

const TITLE_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2b7e_9a41_4d0b_8e2f_5c3a_1d9e_7b01);
const POINT_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x3a9d_5e10_c7b2_4f68_a1e4_0b6d_92f3_5c02);

impl fmt::Display for PaperId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PaperId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PaperId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PaperId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a paper id: {s:?}")))
    }
}

fn strip_version(s: &str) -> &str {
    if let Some(pos) = s.rfind('v') {
        let (base, ver) = s.split_at(pos);
        if ver.len() > 1 && ver[1..].bytes().all(|b| b.is_ascii_digit()) && !base.is_empty() {
            return base;
        }
    }
    s
}

/// New style `YYMM.NNNN(N)` or old style `archive(.SUBJ)/YYMMNNN`.
fn is_arxiv_id(s: &str) -> bool {
    let new_style = |s: &str| {
        let Some((a, b)) = s.split_once('.') else {
            return false;
        };
        a.len() == 4
            && a.bytes().all(|c| c.is_ascii_digit())
            && (4..=5).contains(&b.len())
            && b.bytes().all(|c| c.is_ascii_digit())
    };
    let old_style = |s: &str| {
        let Some((archive, num)) = s.split_once('/') else {
            return false;
        };
        !archive.is_empty()
            && archive.len() <= 20
            && archive
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c == b'-' || c == b'.' || c.is_ascii_uppercase())
            && num.len() == 7
            && num.bytes().all(|c| c.is_ascii_digit())
    };
    new_style(s) || old_style(s)
}

/// Where a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// Hugging Face daily papers API.
    HfDaily,
    /// arXiv export API (Atom).
    Arxiv,
    /// A paper-listing page saved as text.
    PageText,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::HfDaily => "hf-daily",
            SourceKind::Arxiv => "arxiv",
            SourceKind::PageText => "page-text",
        }
    }
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [SourceKind::HfDaily, SourceKind::Arxiv, SourceKind::PageText];
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A research paper as paperbot knows it. Every source yields this record,
/// and `paperbot export` writes it as one JSON object per line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paper {
    pub id: PaperId,
    pub title: String,
    #[serde(rename = "abstract")]
    pub abstract_text: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub published: Option<DateTime<Utc>>,
    pub source: SourceKind,
    /// The page the record came from (HF paper page, arXiv abstract page).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub upvotes: Option<u32>,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A short summary supplied by the source (HF's `ai_summary`), never generated here.
    #[serde(default)]
    pub summary: Option<String>,
    /// Code repository, when the source names one.
    #[serde(default)]
    pub code_url: Option<String>,
}

/// Why a record was rejected. Carries enough to name the record in a warning.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidPaper {
    #[error("empty title")]
    EmptyTitle,
    #[error("empty abstract")]
    EmptyAbstract,
    #[error("title is {0} characters (limit {MAX_TITLE_CHARS})")]
    TitleTooLong(usize),
    #[error("abstract is {0} characters (limit {MAX_ABSTRACT_CHARS})")]
    AbstractTooLong(usize),
}

impl Paper {
    /// A paper known only by title and abstract (listing pages, tests); its
    /// id is the title hash. Not yet validated.
    pub fn from_title_and_abstract(title: &str, abstract_text: &str, source: SourceKind) -> Paper {
        Paper {
            id: PaperId::from_title(title),
            title: title.to_string(),
            abstract_text: abstract_text.to_string(),
            authors: vec![],
            published: None,
            source,
            url: None,
            upvotes: None,
            keywords: vec![],
            summary: None,
            code_url: None,
        }
    }

    /// Cleans every text field in place and rejects what cannot be a paper.
    pub fn validate(mut self) -> Result<Paper, InvalidPaper> {
        // Size checks come first, on the raw text, so hostile input is not
        // copied around by the cleaner.
        if self.title.len() > MAX_TITLE_CHARS * 4 {
            return Err(InvalidPaper::TitleTooLong(self.title.chars().count()));
        }
        if self.abstract_text.len() > MAX_ABSTRACT_CHARS * 4 {
            return Err(InvalidPaper::AbstractTooLong(self.abstract_text.chars().count()));
        }
        self.title = clean_text(&self.title);
        self.abstract_text = clean_text(&self.abstract_text);
        let title_chars = self.title.chars().count();
        let abstract_chars = self.abstract_text.chars().count();
        if self.title.is_empty() {
            return Err(InvalidPaper::EmptyTitle);
        }
        if title_chars > MAX_TITLE_CHARS {
            return Err(InvalidPaper::TitleTooLong(title_chars));
        }
        if self.abstract_text.is_empty() {
            return Err(InvalidPaper::EmptyAbstract);
        }
        if abstract_chars > MAX_ABSTRACT_CHARS {
            return Err(InvalidPaper::AbstractTooLong(abstract_chars));
        }
        self.authors = self
            .authors
            .iter()
            .map(|a| clean_text(a))
            .filter(|a| !a.is_empty())
            .take(MAX_AUTHORS)
            .collect();
        self.keywords = self
            .keywords
            .iter()
            .map(|k| clean_text(k))
            .filter(|k| !k.is_empty())
            .take(50)
            .collect();
        self.summary = self.summary.as_deref().map(clean_text).filter(|s| !s.is_empty());
        self.url = self.url.as_deref().and_then(clean_url);
        self.code_url = self.code_url.as_deref().and_then(clean_url);
        Ok(self)
    }

    /// The arXiv abstract page, when the id is an arXiv id.
    pub fn arxiv_url(&self) -> Option<String> {
        self.id.arxiv_id().map(|id| format!("https://arxiv.org/abs/{id}"))
    }

    /// The best link to show a reader: the source page, else arXiv.
    pub fn link(&self) -> Option<String> {
        self.url.clone().or_else(|| self.arxiv_url())
    }

    /// The text the dense and sparse embedders see. The title goes first so a
    /// truncating model never loses it.
    pub fn embedding_text(&self) -> String {
        format!("{}. {}", self.title, self.abstract_text)
    }
}

/// Only http(s) links survive; anything else (javascript:, data:) is dropped.
fn clean_url(raw: &str) -> Option<String> {
    let s = raw.trim();
    let lower = s.to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && s.len() <= 2_000
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then(|| s.to_string())
}

/// Normalises untrusted text: drops HTML tags, decodes entities, removes
/// control characters and folds all whitespace runs into one space.
pub fn clean_text(raw: &str) -> String {
    let without_tags = strip_tags(raw);
    let decoded = html_escape::decode_html_entities(&without_tags);
    let mut out = String::with_capacity(decoded.len());
    let mut pending_space = false;
    for c in decoded.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if c.is_control() || is_invisible(c) {
            continue;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Zero-width and bidi-override characters hide text from readers.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Removes `<tag ...>` runs. A `<` not followed by a letter, `/` or `!` is
/// text ("x < y"), not markup, and is kept.
fn strip_tags(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '<' {
            let next = raw[i + 1..].chars().next();
            if next.is_some_and(|n| n.is_ascii_alphabetic() || n == '/' || n == '!')
                && let Some(end) = raw[i..].find('>')
            {
                // Skip to after the closing '>'.
                let stop = i + end;
                while chars.peek().is_some_and(|&(j, _)| j <= stop) {
                    chars.next();
                }
                out.push(' ');
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The key two spellings of one title share: lowercase alphanumerics only.
pub fn normalise_title(title: &str) -> String {
    clean_text(title)
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of a title or of what someone typed, as the title index splits
/// them: runs of letters and digits, lowercased (`LLM-as-a-Judge` gives
/// `llm`, `as`, `a`, `judge`).
pub fn title_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether every one of `words` starts some word of `title`: how typed words
/// match a stored title.
pub fn title_has_words(title: &str, words: &[String]) -> bool {
    let have = title_words(title);
    words.iter().all(|w| have.iter().any(|t| t.starts_with(w.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arxiv_versions_map_to_one_id() {
        let a = PaperId::arxiv("2401.01234v2").unwrap();
        let b = PaperId::arxiv("http://arxiv.org/abs/2401.01234v1").unwrap();
        let c = PaperId::arxiv("arXiv:2401.01234").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.as_str(), "2401.01234");
        assert_eq!(
            PaperId::arxiv("http://arxiv.org/abs/cond-mat/0102536v1")
                .unwrap()
                .as_str(),
            "cond-mat/0102536"
        );
        for link in [
            "https://arxiv.org/pdf/2401.01234v3",
            "https://arxiv.org/pdf/2401.01234v3.pdf",
            "https://arxiv.org/html/2401.01234v1/",
            "https://www.arxiv.org/abs/2401.01234?context=cs",
            "http://export.arxiv.org/abs/2401.01234#x",
            "https://huggingface.co/papers/2401.01234",
            " arXiv: 2401.01234 ",
        ] {
            assert_eq!(PaperId::arxiv(link), Some(a.clone()), "{link}");
        }
        assert!(PaperId::arxiv("https://example.com/abs/2401.01234").is_none());
        assert!(PaperId::arxiv("https://arxiv.org/list/cs.CL/recent").is_none());
        assert!(PaperId::arxiv("not an id").is_none());
        assert!(PaperId::arxiv("12345.6789").is_none());
    }

    #[test]
    fn title_ids_are_stable_across_spellings() {
        let a = PaperId::from_title("ProcessBench: Identifying  Process Errors");
        let b = PaperId::from_title("processbench identifying process errors");
        assert_eq!(a, b);
        assert_ne!(a, PaperId::from_title("Another paper"));
        assert_eq!(PaperId::parse(a.as_str()), Some(a.clone()));
        assert_ne!(a.point_uuid(), PaperId::arxiv("2401.01234").unwrap().point_uuid());
    }

    #[test]
    fn clean_text_strips_markup_and_folds_whitespace() {
        assert_eq!(
            clean_text("  <b>Bold</b>\n\ttitle &amp; more\u{200B} "),
            "Bold title & more"
        );
        assert_eq!(clean_text("x < y and a<b"), "x < y and a<b");
        assert_eq!(clean_text("<script>alert(1)</script>Hi"), "alert(1) Hi");
        assert_eq!(clean_text("\u{0007}bell"), "bell");
    }

    #[test]
    fn validate_rejects_empty_and_oversized() {
        let p = |t: &str, a: &str| Paper {
            id: PaperId::from_title(t),
            title: t.into(),
            abstract_text: a.into(),
            authors: vec![],
            published: None,
            source: SourceKind::PageText,
            url: Some("javascript:alert(1)".into()),
            upvotes: None,
            keywords: vec![],
            summary: None,
            code_url: None,
        };
        assert_eq!(p("T", " ").validate(), Err(InvalidPaper::EmptyAbstract));
        assert_eq!(p("<i></i>", "abs").validate(), Err(InvalidPaper::EmptyTitle));
        let huge = "a".repeat(5 * 1024 * 1024);
        assert!(matches!(
            p("T", &huge).validate(),
            Err(InvalidPaper::AbstractTooLong(_))
        ));
        let ok = p("T", "An abstract.").validate().unwrap();
        assert_eq!(ok.url, None, "non-http links are dropped");
    }
}
