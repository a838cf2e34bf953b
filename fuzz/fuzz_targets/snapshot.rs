#![no_main]
//! No input makes the arXiv snapshot line parser panic, with or without a
//! filter; every paper it returns is valid and has an arXiv id.

use libfuzzer_sys::fuzz_target;
use paperbot::sources::snapshot::{LineOutcome, SnapshotFilter, parse_line};

fuzz_target!(|data: &[u8]| {
    let filtered = SnapshotFilter {
        categories: vec!["cs.".into(), "hep-th".into(), "math.CO".into()],
        // (chrono is not a dependency here: the dates parse into its NaiveDate.)
        from: "2007-01-01".parse().ok(),
        until: "2024-12-31".parse().ok(),
    };
    for filter in [SnapshotFilter::default(), filtered] {
        if let LineOutcome::Paper(p) = parse_line(data, &filter) {
            assert!(!p.title.is_empty() && !p.abstract_text.is_empty());
            assert!(p.id.arxiv_id().is_some());
        }
    }
});
