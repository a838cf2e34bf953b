//! Papers by id or link, fetched from a local arXiv that speaks the real
//! Atom format and refuses what arXiv refuses (`support::fake_arxiv`).

use std::process::Output;
use std::time::Duration;

use crate::support::fake_arxiv::FakeArxiv;

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

struct Cli {
    data: tempfile::TempDir,
    arxiv: FakeArxiv,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        crate::support::paperbot()
            .arg("--data-dir")
            .arg(self.data.path())
            .args(args)
            .env("PAPERBOT_HTTP__ARXIV_BASE_URL", self.arxiv.base_url())
            .env("PAPERBOT_HTTP__ARXIV_INTERVAL_SECS", "0.5")
            .output()
            .unwrap()
    }
}

async fn cli(papers: usize) -> Cli {
    Cli {
        data: tempfile::tempdir().unwrap(),
        arxiv: FakeArxiv::start(FakeArxiv::sample(papers).await, Duration::from_millis(400)).await,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_and_links_in_every_spelling_are_fetched_in_one_request() {
    let c = cli(8).await;
    let args = [
        "ingest",
        "2511.00001",
        "arXiv:2511.00002",
        "https://arxiv.org/abs/2511.00003v2",
        "https://arxiv.org/pdf/2511.00004v1",
        "https://arxiv.org/html/2511.00005v1",
        "https://huggingface.co/papers/2511.00006",
        "2511.09999",
    ];
    let out = c.run(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("6 new"), "{stdout}");
    assert!(
        stderr.contains("2511.09999") && stderr.contains("arXiv has no paper"),
        "{stderr}"
    );
    let requests = c.arxiv.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].contains("id_list=2511.00001,2511.00002,2511.00003,2511.00004,2511.00005,2511.00006,2511.09999"),
        "{requests:?}"
    );

    // Searchable under its arXiv id, with its arXiv link.
    let title = FakeArxiv::sample(3).await[2].title.clone();
    let out = c.run(&["search", "--json", "--k", "1", &title]);
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits[0]["id"], "2511.00003", "{hits}");
    assert_eq!(hits[0]["url"], "https://arxiv.org/abs/2511.00003", "{hits}");

    // Again: nothing new, and the politeness interval was kept.
    let out = c.run(&args);
    assert!(
        text(&out).0.contains("0 new, 0 updated, 6 unchanged"),
        "{}",
        text(&out).0
    );
    assert_eq!(c.arxiv.too_soon(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn many_ids_are_not_cut_to_arxivs_default_of_ten() {
    let c = cli(30).await;
    let ids: Vec<String> = (1..=25).map(|i| format!("2511.{i:05}")).collect();
    let mut args = vec!["ingest"];
    args.extend(ids.iter().map(String::as_str));
    let out = c.run(&args);
    assert!(text(&out).0.contains("25 new"), "{:?}", text(&out));
    assert_eq!(c.arxiv.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn related_fetches_a_paper_the_library_does_not_have() {
    let c = cli(8).await;
    let out = c.run(&["ingest", "2511.00001", "2511.00002", "2511.00003"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = c.run(&["related", "https://arxiv.org/abs/2511.00007v3"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let title = FakeArxiv::sample(7).await[6].title.clone();
    assert!(stdout.starts_with(&format!("papers like: {title}")), "{stdout}");
    assert!(stdout.contains(" 1. "), "the library's papers are listed: {stdout}");
    // An id arXiv does not have is a clear error.
    let out = c.run(&["related", "2511.09998"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("or on arXiv"), "{}", text(&out).1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_arxiv_does_not_have_yield_nothing_and_say_so() {
    let c = cli(2).await;
    let out = c.run(&["ingest", "2511.09990", "2511.09991"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing to ingest"), "{stderr}");
    // Not an id at all: refused before any request.
    let before = c.arxiv.requests().len();
    let out = c.run(&["ingest", "2511.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("A source is"), "{}", text(&out).1);
    assert_eq!(c.arxiv.requests().len(), before);
}
