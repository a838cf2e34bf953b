//! paperbot's own export format, one JSON object per line: a [`Paper`]
//! (with `first_seen`, when it entered the library, in a backup), or
//! `{"state": {"kind", "key", "doc"}}` for a subscription, a digest's state
//! or a budget. Each line stands alone, so one bad line costs only itself;
//! plain paper lines (older exports, hand-written files) still read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ParseOutcome, RecordProblem};
use crate::paper::Paper;
use crate::store::state::StateDoc;

/// A line, as read.
#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    State { state: StateDoc },
    Paper(PaperLine),
}

#[derive(Serialize, Deserialize)]
struct PaperLine {
    #[serde(flatten)]
    paper: Paper,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_seen: Option<DateTime<Utc>>,
}

pub fn parse(bytes: &[u8]) -> ParseOutcome {
    let mut outcome = ParseOutcome::default();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = format!("line {}", n + 1);
        match serde_json::from_slice::<Line>(line) {
            Ok(Line::State { state }) => outcome.state.push(state),
            Ok(Line::Paper(PaperLine { paper, first_seen })) => {
                let record = format!("{record} ({})", paper.id);
                if let Some(t) = first_seen {
                    outcome.first_seen.insert(paper.id.clone(), t);
                }
                outcome.push(record, paper.validate());
            }
            Err(_) => {
                // Say why it is not a paper (the most likely intent).
                let why = serde_json::from_slice::<Paper>(line)
                    .err()
                    .map_or_else(String::new, |e| e.to_string());
                outcome
                    .problems
                    .push(RecordProblem::new(record, format!("not a paper record: {why}")));
            }
        }
    }
    outcome
}

/// One paper line of the export format, newline included.
pub fn to_line(paper: &Paper) -> String {
    paper_line(paper, None)
}

/// A paper line with when it entered the library (backups).
pub fn paper_line(paper: &Paper, first_seen: Option<DateTime<Utc>>) -> String {
    let line = PaperLine {
        paper: paper.clone(),
        first_seen,
    };
    let mut s = serde_json::to_string(&line).expect("a Paper always serialises");
    s.push('\n');
    s
}

/// A state line (a subscription, a digest's state, a budget), newline included.
pub fn state_line(doc: &StateDoc) -> String {
    let mut s = serde_json::json!({ "state": doc }).to_string();
    s.push('\n');
    s
}
