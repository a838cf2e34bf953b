//! Every source format, on real response shapes and on hostile input.

use paperbot::paper::SourceKind;
use paperbot::sources::{self, Format};

#[test]
fn sample_corpus_yields_85_papers_with_exact_titles() {
    let bytes = std::fs::read(crate::support::corpus()).unwrap();
    let out = Format::detect(&crate::support::corpus(), &bytes).parse(&bytes);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_eq!(out.papers.len(), 85);
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for p in &out.papers {
        // Each title is a whole line of the page, and its abstract is the
        // paragraph two lines below it.
        let at = lines
            .iter()
            .position(|l| l.trim() == p.title)
            .unwrap_or_else(|| panic!("title not a line: {}", p.title));
        assert_eq!(lines[at + 1].trim(), "");
        assert_eq!(
            lines[at + 2].split_whitespace().collect::<Vec<_>>().join(" "),
            p.abstract_text
        );
        assert_eq!(p.source, SourceKind::PageText);
    }
    assert_eq!(
        out.papers[0].title,
        "Troublemaker Learning for Low-Light Image Enhancement"
    );
    assert_eq!(
        out.papers[84].title,
        "Item-Language Model for Conversational Recommendation"
    );
    assert!(
        out.papers
            .iter()
            .any(|p| p.title == "ProcessBench: Identifying Process Errors in Mathematical Reasoning")
    );
    let ids: std::collections::HashSet<_> = out.papers.iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids.len(), 85, "ids are unique");
}

#[test]
fn hf_daily_fixture() {
    let bytes = std::fs::read(crate::support::data("daily_papers-trimmed.json")).unwrap();
    let out = sources::hf::parse(&bytes);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let p = &out.papers[0];
    assert_eq!(p.id.as_str(), "2603.21489");
    assert_eq!(
        p.title,
        "Effective Strategies for Asynchronous Software Engineering Agents"
    );
    assert_eq!(p.authors, ["Jiayi Geng", "Graham Neubig"]);
    assert_eq!(p.keywords.len(), 5);
    assert!(p.summary.as_deref().unwrap().starts_with("Multi-agent collaboration"));
    assert_eq!(p.published.unwrap().to_rfc3339(), "2026-03-23T02:26:35+00:00");
}

#[test]
fn hf_single_paper_object_fixture() {
    let bytes = std::fs::read(crate::support::data("paper-object.json")).unwrap();
    let out = Format::detect(&crate::support::data("paper-object.json"), &bytes).parse(&bytes);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let p = &out.papers[0];
    assert_eq!(p.id.as_str(), "2509.04664");
    assert_eq!(p.title, "Why Language Models Hallucinate");
    assert_eq!(p.upvotes, Some(26));
    assert_eq!(p.authors.len(), 4);
    assert!(!p.abstract_text.contains('\n'), "whitespace folded");
}

#[test]
fn arxiv_fixture() {
    let bytes = std::fs::read(crate::support::data("arxiv-query-response.xml")).unwrap();
    let out = sources::arxiv::parse(&bytes);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_eq!(out.papers.len(), 1);
    let p = &out.papers[0];
    assert_eq!(p.id.as_str(), "cond-mat/0102536");
    assert_eq!(
        p.title,
        "Impact of Electron-Electron Cusp on Configuration Interaction Energies"
    );
    assert!(p.abstract_text.starts_with("The effect of the electron-electron cusp"));
    assert!(p.authors.contains(&"David Prendergast".to_string()));
    assert_eq!(p.url.as_deref(), Some("https://arxiv.org/abs/cond-mat/0102536"));
}

#[test]
fn hostile_records_are_skipped_and_named() {
    let huge = "word ".repeat(1_100_000); // ~5.5 MB abstract
    let doc = serde_json::json!([
        {"paper": {"id": "2501.00001", "title": "<b>Bold</b> &amp; <script>x</script>Fine", "summary": "A real abstract."}},
        {"paper": {"id": "2501.00002", "title": "Empty abstract", "summary": "   "}},
        {"paper": {"id": "2501.00003", "title": "Huge", "summary": huge}},
        {"paper": {"id": "2501.00004", "title": "Last one", "summary": "Still read."}},
    ]);
    let out = sources::hf::parse(serde_json::to_string(&doc).unwrap().as_bytes());
    let titles: Vec<_> = out.papers.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(titles, ["Bold & x Fine", "Last one"]);
    assert_eq!(out.problems.len(), 2);
    assert!(out.problems[0].record.contains("2501.00002") && out.problems[0].reason.contains("empty abstract"));
    assert!(out.problems[1].record.contains("2501.00003") && out.problems[1].reason.contains("abstract is"));
}

/// No input makes a parser panic: mutated real documents and random bytes.
#[test]
fn parsers_never_panic() {
    let seeds: Vec<Vec<u8>> = [
        crate::support::corpus(),
        crate::support::data("daily_papers-trimmed.json"),
        crate::support::data("paper-object.json"),
        crate::support::data("arxiv-query-response.xml"),
    ]
    .iter()
    .map(|p| std::fs::read(p).unwrap())
    .collect();
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..400 {
        let seed = &seeds[round % seeds.len()];
        let mut bytes = seed[..seed.len().min(4096)].to_vec();
        for _ in 0..rng.usize(1..20) {
            let i = rng.usize(..bytes.len());
            match rng.u8(..4) {
                0 => bytes[i] = rng.u8(..),
                1 => bytes.truncate(i),
                2 => bytes.insert(i, *b"<>{}[]\"&;\n\xff".get(rng.usize(..12)).unwrap_or(&b'x')),
                _ => {
                    bytes.remove(i);
                }
            }
            if bytes.is_empty() {
                bytes.push(b'[');
            }
        }
        for f in [Format::PageText, Format::HfJson, Format::ArxivAtom, Format::Jsonl] {
            let _ = f.parse(&bytes);
        }
    }
}
