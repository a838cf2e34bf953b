#![no_main]
//! No input makes the OAI-PMH parser panic; every record it returns is valid.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let page = paperbot::sources::oai_pmh::parse(data);
    for p in &page.outcome.papers {
        assert!(!p.title.is_empty() && !p.abstract_text.is_empty());
    }
    // Categories are only recorded for papers the page returned.
    for id in page.categories.keys() {
        assert!(page.outcome.papers.iter().any(|p| &p.id == id));
    }
    assert!(page.resumption_token.as_deref().is_none_or(|t| !t.trim().is_empty()));
});
