#![no_main]
//! No input makes the jsonl parser panic; every record it returns is valid.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let out = paperbot::sources::jsonl::parse(data);
    for p in out.papers {
        assert!(!p.title.is_empty() && !p.abstract_text.is_empty());
    }
});
