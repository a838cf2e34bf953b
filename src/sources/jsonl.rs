//! paperbot's own export format: one [`Paper`] JSON object per line.
//! Each line stands alone, so one bad line costs only itself.

use super::{ParseOutcome, RecordProblem};
use crate::paper::Paper;

pub fn parse(bytes: &[u8]) -> ParseOutcome {
    let mut outcome = ParseOutcome::default();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = format!("line {}", n + 1);
        match serde_json::from_slice::<Paper>(line) {
            Ok(paper) => {
                let record = format!("{record} ({})", paper.id);
                outcome.push(record, paper.validate());
            }
            Err(e) => outcome
                .problems
                .push(RecordProblem::new(record, format!("not a paper record: {e}"))),
        }
    }
    outcome
}

/// One line of the export format, newline included.
pub fn to_line(paper: &Paper) -> String {
    let mut s = serde_json::to_string(paper).expect("a Paper always serialises");
    s.push('\n');
    s
}
