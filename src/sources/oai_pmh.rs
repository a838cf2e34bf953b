//! arXiv OAI-PMH responses (`https://oaipmh.arxiv.org/oai`, formerly
//! `export.arxiv.org/oai2`): one `ListRecords` (or `GetRecord`) page in
//! either metadata format arXiv serves, `oai_dc` (Dublin Core) or `arXiv`.
//!
//! Read with a streaming parser, like the Atom feed: records before a
//! malformed or truncated spot are kept and the spot is reported. Besides
//! the papers, a page carries what a harvester needs to go on: the
//! resumption token (none when the list is complete), records deleted
//! upstream, an OAI-PMH `<error>` (e.g. `noRecordsMatch` for an empty
//! window), and each paper's arXiv categories (`arXiv` format only).

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{ParseOutcome, RecordProblem};
use crate::paper::{Paper, PaperId, SourceKind, clean_text};

/// One OAI-PMH response page.
#[derive(Debug, Default)]
pub struct OaiPage {
    pub outcome: ParseOutcome,
    /// The token for the next page; `None` when the list is complete (an
    /// empty `<resumptionToken/>` or none at all). Opaque: arXiv's contain
    /// `|`, so URL-encode it when asking for the next page.
    pub resumption_token: Option<String>,
    pub complete_list_size: Option<u64>,
    pub cursor: Option<u64>,
    /// Records whose header says `status="deleted"`.
    pub deleted: Vec<PaperId>,
    /// The first OAI-PMH `<error>` (any further ones are in `outcome.problems`).
    pub error: Option<OaiError>,
    /// Each paper's arXiv categories (`cs.CL`, …), primary first, for the
    /// `arXiv` format. `oai_dc` has no category codes (its `dc:subject` is
    /// prose such as "Computer Science - Computation and Language"), so its
    /// papers have no entry here.
    pub categories: HashMap<PaperId, Vec<String>>,
}

/// An OAI-PMH protocol error, e.g. `noRecordsMatch`, `badResumptionToken`,
/// `badArgument`, `cannotDisseminateFormat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OaiError {
    pub code: String,
    pub message: String,
}

impl fmt::Display for OaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "OAI-PMH error {}", self.code)
        } else {
            write!(f, "OAI-PMH error {}: {}", self.code, self.message)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    Dc,
    Arxiv,
}

#[derive(Default)]
struct ArxivAuthor {
    keyname: String,
    forenames: String,
    suffix: String,
}

#[derive(Default)]
struct Record {
    header_id: String,
    deleted: bool,
    has_metadata: bool,
    format: Option<Format>,
    /// The element under `<metadata>` when it is neither format.
    other_format: Option<String>,
    title: String,
    abstract_text: String,
    // oai_dc
    creators: Vec<String>,
    descriptions: Vec<String>,
    dates: Vec<String>,
    identifiers: Vec<String>,
    // arXiv
    arxiv_id: String,
    created: String,
    authors: Vec<ArxivAuthor>,
    categories: String,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Field {
    HeaderId,
    Title,
    Abstract,
    Creator,
    Description,
    Date,
    Identifier,
    ArxivId,
    Created,
    Categories,
    Keyname,
    Forenames,
    Suffix,
    Token,
    Error,
}

/// Text being collected for one element, committed at its end tag.
struct Capture {
    field: Field,
    depth: usize,
    text: String,
}

#[derive(Default)]
struct Parser {
    page: OaiPage,
    /// Local names of the open elements.
    stack: Vec<String>,
    /// The open `<record>`, and the stack depth just inside it.
    record: Option<(Record, usize)>,
    records: usize,
    capture: Option<Capture>,
    /// The `code` of the open `<error>`.
    error_code: String,
    saw_root: bool,
    root_closed: bool,
}

pub fn parse(bytes: &[u8]) -> OaiPage {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(false);
    let mut p = Parser::default();
    loop {
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = reader.buffer_position();
                // An error at the very end is a cut-off page, not bad markup.
                let what = if at >= bytes.len() as u64 {
                    format!("page ends mid-markup (truncated: {e})")
                } else {
                    format!("malformed XML at byte {at} ({e})")
                };
                let problem = match &p.record {
                    Some(_) => RecordProblem::new(
                        format!("record {}", p.records),
                        format!("{what}; this record and the rest of the page were skipped"),
                    ),
                    None => RecordProblem::new(
                        format!("document after record {}", p.records),
                        format!("{what}; the rest of the page was skipped"),
                    ),
                };
                p.page.outcome.problems.push(problem);
                return p.page;
            }
        };
        match event {
            Event::Start(e) => p.start(&e),
            Event::Empty(e) => {
                p.start(&e);
                p.end();
            }
            Event::End(_) => p.end(),
            Event::Text(t) => {
                if let Ok(s) = t.decode() {
                    p.text(&s);
                }
            }
            Event::CData(t) => {
                if let Ok(s) = t.decode() {
                    p.text(&s);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(s) = super::xml_entity(&r) {
                    p.text(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    p.eof();
    p.page
}

impl Parser {
    fn start(&mut self, e: &BytesStart) {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        self.stack.push(name);
        let depth = self.stack.len();
        let name = self.stack[depth - 1].as_str();

        if name == "record" {
            if self.record.is_some() {
                // A record inside a record: not OAI-PMH; keep reading the outer one.
                return;
            }
            self.records += 1;
            self.record = Some((Record::default(), depth));
            return;
        }
        let Some((rec, rdepth)) = self.record.as_mut() else {
            match name {
                "OAI-PMH" if depth == 1 => self.saw_root = true,
                "error" => {
                    self.error_code = attr(e, "code").unwrap_or_default();
                    self.capture_as(Field::Error, depth);
                }
                "resumptionToken" => {
                    self.page.complete_list_size = attr(e, "completeListSize").and_then(|v| v.trim().parse().ok());
                    self.page.cursor = attr(e, "cursor").and_then(|v| v.trim().parse().ok());
                    self.capture_as(Field::Token, depth);
                }
                _ => {}
            }
            return;
        };
        let rel: Vec<&str> = self.stack[*rdepth..].iter().map(String::as_str).collect();
        let field = match rel.as_slice() {
            ["header"] => {
                rec.deleted = attr(e, "status").is_some_and(|s| s.trim() == "deleted");
                None
            }
            ["header", "identifier"] => Some(Field::HeaderId),
            ["metadata"] => {
                rec.has_metadata = true;
                None
            }
            ["metadata", root] => {
                if rec.format.is_none() && rec.other_format.is_none() {
                    match *root {
                        "dc" => rec.format = Some(Format::Dc),
                        "arXiv" => rec.format = Some(Format::Arxiv),
                        other => rec.other_format = Some(other.to_string()),
                    }
                }
                None
            }
            ["metadata", "dc", f] if rec.format == Some(Format::Dc) => match *f {
                "title" => Some(Field::Title),
                "creator" => Some(Field::Creator),
                "description" => Some(Field::Description),
                "date" => Some(Field::Date),
                "identifier" => Some(Field::Identifier),
                _ => None,
            },
            ["metadata", "arXiv", f] if rec.format == Some(Format::Arxiv) => match *f {
                "id" => Some(Field::ArxivId),
                "created" => Some(Field::Created),
                "title" => Some(Field::Title),
                "abstract" => Some(Field::Abstract),
                "categories" => Some(Field::Categories),
                _ => None,
            },
            ["metadata", "arXiv", "authors", "author"] if rec.format == Some(Format::Arxiv) => {
                rec.authors.push(ArxivAuthor::default());
                None
            }
            ["metadata", "arXiv", "authors", "author", f] if rec.format == Some(Format::Arxiv) => match *f {
                "keyname" => Some(Field::Keyname),
                "forenames" => Some(Field::Forenames),
                "suffix" => Some(Field::Suffix),
                _ => None,
            },
            _ => None,
        };
        if let Some(f) = field {
            self.capture_as(f, depth);
        }
    }

    fn capture_as(&mut self, field: Field, depth: usize) {
        // Fields do not nest; a field inside another (not in either schema)
        // leaves the outer one collecting the inner text.
        if self.capture.is_none() {
            self.capture = Some(Capture {
                field,
                depth,
                text: String::new(),
            });
        }
    }

    fn text(&mut self, s: &str) {
        if let Some(c) = self.capture.as_mut() {
            c.text.push_str(s);
        }
    }

    fn end(&mut self) {
        let depth = self.stack.len();
        if self.capture.as_ref().is_some_and(|c| c.depth == depth)
            && let Some(c) = self.capture.take()
        {
            self.commit(c.field, c.text);
        }
        if let Some((_, rdepth)) = &self.record
            && *rdepth == depth
            && let Some((rec, _)) = self.record.take()
        {
            let n = self.records;
            self.finish(rec, n);
        }
        if depth == 1 && self.stack.first().is_some_and(|n| n == "OAI-PMH") {
            self.root_closed = true;
        }
        self.stack.pop();
    }

    fn commit(&mut self, field: Field, text: String) {
        match field {
            Field::Token => {
                let t = text.trim();
                self.page.resumption_token = (!t.is_empty()).then(|| t.to_string());
                return;
            }
            Field::Error => {
                let err = OaiError {
                    code: std::mem::take(&mut self.error_code).trim().to_string(),
                    message: clean_text(&text),
                };
                if self.page.error.is_none() {
                    self.page.error = Some(err);
                } else {
                    self.page
                        .outcome
                        .problems
                        .push(RecordProblem::new("document", err.to_string()));
                }
                return;
            }
            _ => {}
        }
        let Some((rec, _)) = self.record.as_mut() else { return };
        match field {
            Field::HeaderId => rec.header_id = text,
            Field::Title => {
                if rec.title.trim().is_empty() {
                    rec.title = text;
                }
            }
            Field::Abstract => rec.abstract_text = text,
            Field::Creator => rec.creators.push(text),
            Field::Description => rec.descriptions.push(text),
            Field::Date => rec.dates.push(text),
            Field::Identifier => rec.identifiers.push(text),
            Field::ArxivId => rec.arxiv_id = text,
            Field::Created => rec.created = text,
            Field::Categories => rec.categories = text,
            Field::Keyname | Field::Forenames | Field::Suffix => {
                if let Some(a) = rec.authors.last_mut() {
                    match field {
                        Field::Keyname => a.keyname = text,
                        Field::Forenames => a.forenames = text,
                        _ => a.suffix = text,
                    }
                }
            }
            Field::Token | Field::Error => {}
        }
    }

    fn eof(&mut self) {
        let problems = &mut self.page.outcome.problems;
        if let Some((_, _)) = self.record.take() {
            problems.push(RecordProblem::new(
                format!("record {}", self.records),
                "page ends inside a record (truncated); record skipped",
            ));
        }
        if !self.saw_root {
            problems.push(RecordProblem::new(
                "document",
                "not an OAI-PMH response (no <OAI-PMH> element)",
            ));
        } else if !self.root_closed {
            problems.push(RecordProblem::new(
                format!("document after record {}", self.records),
                "page ends before </OAI-PMH> (truncated); its resumption token may be missing",
            ));
        }
    }

    fn finish(&mut self, rec: Record, n: usize) {
        let id = record_id(&rec);
        let name = match &id {
            Some(id) => format!("record {n} ({id})"),
            None => format!("record {n}"),
        };
        let out = &mut self.page.outcome;
        let Some(id) = id else {
            let shown = if rec.header_id.trim().is_empty() {
                rec.arxiv_id.trim()
            } else {
                rec.header_id.trim()
            };
            out.problems.push(RecordProblem::new(
                name,
                format!(
                    "no arXiv id in the record's identifier ({:?}); record skipped",
                    super::page_text::short(shown)
                ),
            ));
            return;
        };
        if rec.deleted {
            self.page.deleted.push(id);
            return;
        }
        let format = match (rec.format, &rec.other_format) {
            (Some(f), _) => f,
            (None, Some(other)) => {
                out.problems.push(RecordProblem::new(
                    name,
                    format!("unsupported metadata format <{other}> (expected oai_dc or arXiv); record skipped"),
                ));
                return;
            }
            (None, None) => {
                let why = if rec.has_metadata {
                    "empty <metadata>"
                } else {
                    "no <metadata>"
                };
                out.problems
                    .push(RecordProblem::new(name, format!("{why}; record skipped")));
                return;
            }
        };
        let (authors, abstract_text, published, categories) = match format {
            Format::Dc => {
                // arXiv's oai_dc: the abstract is the first description; the
                // author's comment ("Comment: 32 pages, 9 figures") follows.
                let abstract_text = rec
                    .descriptions
                    .iter()
                    .find(|d| !d.trim_start().starts_with("Comment:"))
                    .cloned()
                    .unwrap_or_default();
                let published = rec.dates.iter().filter_map(|d| parse_day(d)).min();
                let authors = rec.creators.iter().map(|c| dc_name(c)).collect();
                (authors, abstract_text, published, None)
            }
            Format::Arxiv => {
                let authors = rec
                    .authors
                    .iter()
                    .map(|a| join_name(&[&a.forenames, &a.keyname, &a.suffix]))
                    .collect();
                let cats: Vec<String> = rec.categories.split_whitespace().map(str::to_string).collect();
                (authors, rec.abstract_text, parse_day(&rec.created), Some(cats))
            }
        };
        let paper = Paper {
            url: Some(format!("https://arxiv.org/abs/{id}")),
            id,
            title: rec.title,
            abstract_text,
            authors,
            published,
            source: SourceKind::Arxiv,
            upvotes: None,
            keywords: categories.clone().unwrap_or_default(),
            summary: None,
            code_url: None,
        };
        let checked = paper.validate();
        if let (Ok(p), Some(cats)) = (&checked, categories) {
            self.page.categories.insert(p.id.clone(), cats);
        }
        self.page.outcome.push(name, checked);
    }
}

/// The arXiv id: from the header (`oai:arXiv.org:2401.01234`), else the
/// metadata (`<id>`, or a `dc:identifier` link to the abstract page).
fn record_id(rec: &Record) -> Option<PaperId> {
    let header = rec.header_id.trim();
    let from_header = header
        .strip_prefix("oai:arXiv.org:")
        .or_else(|| header.rsplit_once(':').map(|(_, id)| id))
        .and_then(PaperId::arxiv);
    from_header
        .or_else(|| PaperId::arxiv(&rec.arxiv_id))
        .or_else(|| rec.identifiers.iter().find_map(|i| PaperId::arxiv(i)))
}

/// `YYYY-MM-DD` (or an RFC 3339 time) as midnight UTC of that day.
fn parse_day(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(t) = super::hf::parse_date(s) {
        return Some(t);
    }
    let day = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    Some(day.and_time(NaiveTime::MIN).and_utc())
}

/// Dublin Core creators are "Last, First" (arXiv: "Liepins, Vilnis"); papers
/// elsewhere say "First Last". A name with no comma is kept as is.
fn dc_name(raw: &str) -> String {
    let raw = raw.trim();
    match raw.split_once(',') {
        Some((last, rest)) => {
            let (first, suffix) = rest.split_once(',').unwrap_or((rest, ""));
            join_name(&[first, last, suffix])
        }
        None => raw.to_string(),
    }
}

fn join_name(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    let a = e.try_get_attribute(name).ok()??;
    a.unescape_value().ok().map(|v| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OAI_DC: &[u8] = include_bytes!("../../tests/data/oai-listrecords-oai_dc.xml");
    const ARXIV: &[u8] = include_bytes!("../../tests/data/oai-listrecords-arxiv.xml");
    const NO_RECORDS: &[u8] = include_bytes!("../../tests/data/oai-error-norecords.xml");

    fn day(s: &str) -> Option<DateTime<Utc>> {
        parse_day(s)
    }

    #[test]
    fn real_oai_dc_page() {
        let page = parse(OAI_DC);
        let out = &page.outcome;
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert!(page.error.is_none());
        assert!(page.deleted.is_empty());
        let ids: Vec<&str> = out.papers.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            ["1303.2033", "2401.14034", "2401.14036", "2401.14038", "2401.14040"]
        );
        for p in &out.papers {
            assert_eq!(p.source, SourceKind::Arxiv);
            assert_eq!(
                p.url.as_deref(),
                Some(format!("https://arxiv.org/abs/{}", p.id).as_str())
            );
            assert!(!p.abstract_text.contains("Comment:"), "{}", p.id);
            assert!(!p.abstract_text.starts_with(' ') && !p.abstract_text.ends_with(' '));
            assert!(p.keywords.is_empty());
        }
        let first = &out.papers[0];
        assert_eq!(first.title, "Extended Fourier analysis of signals");
        assert_eq!(first.authors, ["Vilnis Liepins"]);
        assert!(first.abstract_text.starts_with("This summary of the doctoral thesis"));
        assert!(first.abstract_text.ends_with("considered as a real alternative."));
        // Two dates (v1 2013, a 2024 replacement): the earliest is publication.
        assert_eq!(first.published, day("2013-03-08"));
        let last = &out.papers[4];
        assert_eq!(
            last.title,
            "(Chat)GPT v BERT: Dawn of Justice for Semantic Change Detection"
        );
        assert_eq!(last.authors, ["Francesco Periti", "Haim Dubossarsky", "Nina Tahmasebi"]);
        assert_eq!(last.published, day("2024-01-25"));
        assert_eq!(out.papers[1].authors.len(), 6);
        assert_eq!(out.papers[1].authors[0], "Chuankun Li");
        // oai_dc carries no category codes.
        assert!(page.categories.is_empty());
        assert_eq!(page.resumption_token.as_deref(), Some("6960524|1001"));
        assert_eq!(page.complete_list_size, Some(1162));
        assert_eq!(page.cursor, Some(0));
    }

    #[test]
    fn arxiv_format_page() {
        let page = parse(ARXIV);
        let out = &page.outcome;
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert_eq!(out.papers.len(), 2);
        assert_eq!(page.deleted, [PaperId::arxiv("2401.00123").unwrap()]);
        assert_eq!(page.resumption_token.as_deref(), Some("7041562|2001"));
        assert_eq!(page.complete_list_size, Some(2841));
        assert_eq!(page.cursor, Some(1000));

        let a = &out.papers[0];
        assert_eq!(a.id.as_str(), "1706.03762");
        assert_eq!(a.title, "Attention Is All You Need");
        assert_eq!(a.authors.len(), 8);
        assert_eq!(a.authors[0], "Ashish Vaswani");
        assert_eq!(a.authors[7], "Illia Polosukhin");
        assert_eq!(a.published, day("2017-06-12"));
        assert!(a.abstract_text.starts_with("The dominant sequence transduction models"));
        assert_eq!(a.keywords, ["cs.CL", "cs.LG"]);
        assert_eq!(page.categories[&a.id], ["cs.CL", "cs.LG"]);

        let m = &out.papers[1];
        assert_eq!(m.id.as_str(), "hep-th/9711200");
        assert_eq!(m.url.as_deref(), Some("https://arxiv.org/abs/hep-th/9711200"));
        // The title spans two lines in the source.
        assert_eq!(
            m.title,
            "The Large N Limit of Superconformal Field Theories and Supergravity"
        );
        assert_eq!(m.authors, ["Juan M. Maldacena"]);
        assert_eq!(m.published, day("1997-11-27"));
        assert!(
            m.abstract_text
                .contains("'t Hooft limit of 4-d ${\\cal N} = 4$ super-Yang-Mills")
        );
        assert!(
            m.abstract_text.contains("super-Poincar\u{e9} group"),
            "{}",
            m.abstract_text
        );
        assert_eq!(page.categories[&m.id], ["hep-th"]);
    }

    #[test]
    fn error_page() {
        let page = parse(NO_RECORDS);
        assert!(page.outcome.papers.is_empty());
        assert!(page.outcome.problems.is_empty(), "{:?}", page.outcome.problems);
        let err = page.error.expect("an error");
        assert_eq!(err.code, "noRecordsMatch");
        assert!(
            err.message.starts_with("The combination of the values"),
            "{}",
            err.message
        );
        assert_eq!(page.resumption_token, None);
    }

    #[test]
    fn bad_resumption_token_and_second_error() {
        let doc = r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><request>x</request>
            <error code="badResumptionToken">The value of the resumptionToken argument is invalid or expired.</error>
            <error code="badArgument"/></OAI-PMH>"#;
        let page = parse(doc.as_bytes());
        assert_eq!(page.error.as_ref().unwrap().code, "badResumptionToken");
        assert_eq!(page.outcome.problems.len(), 1);
        assert!(page.outcome.problems[0].reason.contains("badArgument"));
    }

    #[test]
    fn empty_token_means_complete() {
        for token in [
            r#"<resumptionToken completeListSize="1162" cursor="1001"/>"#,
            r#"<resumptionToken completeListSize="1162" cursor="1001">  </resumptionToken>"#,
        ] {
            let doc = format!(r#"<OAI-PMH><ListRecords>{token}</ListRecords></OAI-PMH>"#);
            let page = parse(doc.as_bytes());
            assert!(page.outcome.problems.is_empty(), "{:?}", page.outcome.problems);
            assert_eq!(page.resumption_token, None);
            assert_eq!(page.complete_list_size, Some(1162));
            assert_eq!(page.cursor, Some(1001));
        }
    }

    #[test]
    fn invalid_record_is_named() {
        let doc =
            String::from_utf8_lossy(ARXIV).replacen("<title>Attention Is All You Need</title>", "<title>  </title>", 1);
        let page = parse(doc.as_bytes());
        assert_eq!(page.outcome.papers.len(), 1);
        assert_eq!(page.outcome.problems.len(), 1);
        assert_eq!(page.outcome.problems[0].record, "record 1 (1706.03762)");
        assert!(page.outcome.problems[0].reason.contains("empty title"));
        assert!(!page.categories.contains_key(&PaperId::arxiv("1706.03762").unwrap()));
    }

    #[test]
    fn truncated_page_keeps_complete_records() {
        // Cut inside the third record of the real page.
        let cut = OAI_DC
            .windows(8)
            .enumerate()
            .filter(|(_, w)| w == b"<record>")
            .nth(2)
            .unwrap()
            .0
            + 200;
        let page = parse(&OAI_DC[..cut]);
        assert_eq!(page.outcome.papers.len(), 2);
        assert_eq!(page.resumption_token, None);
        let reasons: Vec<&str> = page.outcome.problems.iter().map(|p| p.reason.as_str()).collect();
        assert!(reasons.iter().any(|r| r.contains("truncated")), "{reasons:?}");
        assert_eq!(page.outcome.problems[0].record, "record 3");
        // Cut between the last record and the token: the page must not look complete.
        let at = OAI_DC.windows(16).position(|w| w == b"<resumptionToken").unwrap();
        let page = parse(&OAI_DC[..at]);
        assert_eq!(page.outcome.papers.len(), 5);
        assert!(
            page.outcome
                .problems
                .iter()
                .any(|p| p.reason.contains("resumption token"))
        );
    }

    #[test]
    fn garbage_gives_problems_not_panics() {
        let inputs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"not xml at all".to_vec(),
            b"<OAI-PMH><ListRecords><record><header></record></OAI-PMH>".to_vec(),
            b"<OAI-PMH><ListRecords><record><header><identifier>oai:arXiv.org:2401.01234".to_vec(),
            b"<OAI-PMH><<<>>>&&&;</OAI-PMH>".to_vec(),
            b"\xff\xfe<\x00O\x00".to_vec(),
            b"<OAI-PMH><ListRecords><record><metadata><oai_dc:dc><dc:title>T</dc:title></oai_dc:dc></metadata></record></ListRecords></OAI-PMH>".to_vec(),
            OAI_DC[..OAI_DC.len() / 2].to_vec(),
            ARXIV.iter().map(|&b| if b == b'>' { b'<' } else { b }).collect(),
        ];
        for input in &inputs {
            let page = parse(input);
            assert!(
                !page.outcome.problems.is_empty(),
                "no problem for {:?}",
                String::from_utf8_lossy(input)
            );
            for p in &page.outcome.papers {
                assert!(!p.title.is_empty() && !p.abstract_text.is_empty());
            }
        }
        // Every prefix of both pages.
        for doc in [OAI_DC, ARXIV] {
            for end in (0..doc.len()).step_by(97) {
                let page = parse(&doc[..end]);
                assert!(!page.outcome.problems.is_empty() || end == 0);
            }
        }
    }

    #[test]
    fn unsupported_format_and_bad_id_are_problems() {
        let doc = r#"<OAI-PMH><ListRecords>
            <record><header><identifier>oai:arXiv.org:2401.01234</identifier></header>
              <metadata><arXivRaw><id>2401.01234</id></arXivRaw></metadata></record>
            <record><header><identifier>oai:example.org:abc</identifier></header>
              <metadata><arXiv><title>T</title><abstract>A</abstract></arXiv></metadata></record>
            <record><header status="deleted"><identifier>oai:arXiv.org:cs/0112017</identifier></header></record>
            </ListRecords></OAI-PMH>"#;
        let page = parse(doc.as_bytes());
        assert!(page.outcome.papers.is_empty());
        assert_eq!(page.deleted, [PaperId::arxiv("cs/0112017").unwrap()]);
        let p = &page.outcome.problems;
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].record, "record 1 (2401.01234)");
        assert!(p[0].reason.contains("arXivRaw"));
        assert_eq!(p[1].record, "record 2");
        assert!(p[1].reason.contains("no arXiv id"));
    }

    #[test]
    fn dc_names() {
        assert_eq!(dc_name("Liepins, Vilnis"), "Vilnis Liepins");
        assert_eq!(dc_name("da Rocha, Roldao, Jr"), "Roldao da Rocha Jr");
        assert_eq!(dc_name("ATLAS Collaboration"), "ATLAS Collaboration");
    }
}
