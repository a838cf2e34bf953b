//! `paperbot backfill`: months of arXiv from a strict local OAI-PMH
//! interface (`support::fake_oai`) and from a snapshot file, killed or
//! interrupted part-way and resumed from where it stopped, embedding through
//! the counting stand-in embedder.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::fake_oai::FakeOai;
use crate::support::stand_in_embedder::StandInEmbedder;

/// The records or lines a resumed run says were done before it.
fn resumed_at(stdout: &str) -> u64 {
    let rest = stdout.split("resumed a backfill saved at ").nth(1).expect(stdout);
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const HARVEST: [&str; 10] = [
    "backfill",
    "oai",
    "--set",
    "cs",
    "--from",
    "2025-11-01",
    "--until",
    "2025-11-30",
    "--categories",
    "cs.CL",
];

#[tokio::test(flavor = "multi_thread")]
async fn an_oai_harvest_killed_mid_way_goes_on_from_its_last_page() {
    let records = FakeOai::sample(60, &[3, 17, 44]).await;
    let oai = FakeOai::start(records.clone(), 10, Duration::from_millis(300)).await;
    // arXiv's flow control on the second page: the harvester waits and asks again.
    oai.refuse_request(2);
    let emb = StandInEmbedder::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        let mut cmd = emb.paperbot(&data, args);
        cmd.env("PAPERBOT_HTTP__ARXIV_OAI_URL", oai.url())
            .env("PAPERBOT_HTTP__ARXIV_INTERVAL_SECS", "0.4");
        cmd
    };
    let in_set: Vec<_> = records.iter().filter(|r| !r.categories.starts_with("math")).collect();
    let wanted = in_set
        .iter()
        .filter(|r| !r.deleted && r.categories.split(' ').any(|c| c == "cs.CL"))
        .count() as u64;
    let withdrawn = in_set.iter().filter(|r| r.deleted).count();

    // Killed once the fourth page was asked for (three pages are stored).
    let mut child = run(&HARVEST)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while oai.requests().len() < 5 {
        assert!(start.elapsed() < Duration::from_secs(60), "{:?}", oai.requests());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let requests = oai.requests();
    assert!(requests[0].contains("metadataPrefix=arXiv") && requests[0].contains("set=cs"));
    assert_eq!(requests[1], requests[2], "the refused page is asked for again");
    let kept = emb.count(&data);
    assert!(kept > 0 && kept < wanted, "{kept} of {wanted} after the kill");
    // Past the interval, so any request the fake refuses as too soon is the harvester's.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The same command goes on with the saved token, not from the start.
    let before = oai.requests().len();
    let out = run(&HARVEST).output().unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    let at = resumed_at(&so);
    assert!(at >= 20 && at < in_set.len() as u64, "resumed at {at}: {so}");
    assert!(so.contains("backfill finished"), "{so}");
    assert!(so.contains(&format!("{withdrawn} withdrawn upstream")), "{so}");
    let resumed = &oai.requests()[before..];
    assert!(
        resumed[0].starts_with("verb=ListRecords&resumptionToken="),
        "{resumed:?}"
    );
    assert!(
        resumed.iter().all(|r| !r.contains("metadataPrefix")),
        "never restarted: {resumed:?}"
    );
    assert_eq!(emb.count(&data), wanted);
    assert_eq!(oai.too_soon(), 0, "the politeness interval was kept");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // An empty window is a finished harvest of nothing; an unknown set is
    // arXiv's error, said as such.
    let out = run(&["backfill", "oai", "--set", "cs", "--from", "2031-01-01"])
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{se}");
    assert!(so.contains("backfill finished: 0 records"), "{so}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = run(&["backfill", "oai", "--set", "nonsense", "--from", "2025-11-01"])
        .output()
        .unwrap();
    let (_, se) = text(&out);
    assert_eq!(oai.too_soon(), 0, "the politeness interval was kept");
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(
        se.contains("badArgument") && se.contains("Unknown set nonsense"),
        "{se}"
    );
    assert_eq!(emb.count(&data), wanted, "nothing changed");
}

/// `lines` as a snapshot file in `dir`; its path.
fn write_snapshot(dir: &std::path::Path, lines: &[String]) -> String {
    let file = dir.join("arxiv-metadata-oai-snapshot.json");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    file.to_str().unwrap().to_string()
}

/// A snapshot line as Kaggle's `arxiv-metadata-oai-snapshot.json` has it.
fn snapshot_line(id: &str, title: &str, abstract_text: &str, categories: &str, day: u32) -> String {
    let created = chrono::NaiveDate::from_ymd_opt(2025, 11, day)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_utc()
        .to_rfc2822()
        .replace("+0000", "GMT");
    serde_json::json!({
        "id": id,
        "submitter": "Ada Lovelace",
        "authors": "Ada Lovelace, Alan Turing",
        "title": title,
        "comments": null,
        "journal-ref": null,
        "doi": null,
        "categories": categories,
        "license": null,
        "abstract": format!("  {abstract_text}\n"),
        "versions": [{"version": "v1", "created": created}],
        "update_date": format!("2025-11-{day:02}"),
        "authors_parsed": [["Lovelace", "Ada", ""], ["Turing", "Alan", ""]]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_backfill_stopped_with_ctrl_c_resumes_at_the_next_line() {
    let papers = crate::support::sample_papers().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    let mut wanted = 0u64;
    for (i, p) in papers.iter().enumerate() {
        let categories = if i % 3 == 2 { "math.ST" } else { "cs.CL cs.LG" };
        wanted += u64::from(i % 3 != 2);
        let day = (i % 28) as u32 + 1;
        lines.push(snapshot_line(
            &format!("2511.{:05}", i + 1),
            &p.title,
            &p.abstract_text,
            categories,
            day,
        ));
        if i == 40 {
            lines.push(r#"{"id": "2511.99999", "title": "Cut"#.to_string());
            lines.push(String::new());
        }
    }
    let file = write_snapshot(tmp.path(), &lines);
    let file = file.as_str();
    let args = ["backfill", "snapshot", file, "--categories", "cs", "--batch-lines", "6"];

    let emb = StandInEmbedder::start().await;
    let data = tmp.path().join("data");
    let child = emb
        .paperbot(&data, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    emb.until_served(4).await;
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{so}{se}");
    assert!(se.contains("run the same command again"), "{se}");
    assert!(so.contains("backfill stopped"), "{so}");
    let kept = emb.count(&data);
    assert!(kept > 0 && kept < wanted, "{kept} of {wanted}");

    // Resumed at the next line: nothing is read (or embedded) twice.
    let out = emb.paperbot(&data, &args).output().unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    let at = resumed_at(&so);
    assert!(
        at > 0 && at.is_multiple_of(6) && at < papers.len() as u64,
        "resumed at {at}: {so}"
    );
    assert!(
        so.contains(&format!(
            "backfill finished: {} records/lines read; {wanted} new, 0 updated, 0 unchanged, {} filtered out, 1 skipped",
            papers.len() + 2,
            papers.len() as u64 - wanted + 1
        )),
        "{so}"
    );
    assert_eq!(emb.count(&data), wanted);

    // Found under its arXiv id, with its first version's date (by words:
    // the stand-in's vectors carry no meaning).
    let out = emb
        .paperbot(
            &data,
            &["search", "--json", "--mode", "sparse", "--k", "1", &papers[0].title],
        )
        .output()
        .unwrap();
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits[0]["id"], "2511.00001", "{hits}");
    assert_eq!(hits[0]["published"], "2025-11-01T10:00:00Z", "{hits}");
}

/// Ctrl-C while the embedding endpoint hangs: the batch in flight gets
/// `backfill::STOP_GRACE`, then is dropped (not waited out through the
/// embedder's retries) and read again by the next run.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_a_hung_embedding_request_stops_within_the_grace_and_loses_nothing() {
    let papers = crate::support::sample_papers().await;
    let tmp = tempfile::tempdir().unwrap();
    let lines: Vec<String> = papers
        .iter()
        .enumerate()
        .map(|(i, p)| snapshot_line(&format!("2511.{:05}", i + 1), &p.title, &p.abstract_text, "cs.CL", 1))
        .collect();
    let file = write_snapshot(tmp.path(), &lines);
    let file = file.as_str();
    let args = ["backfill", "snapshot", file, "--batch-lines", "10"];
    let data = tmp.path().join("data");

    // The dimension probe and three batches are answered; the fourth hangs.
    let hung = StandInEmbedder::start_stalling_after(4).await;
    let child = hung
        .paperbot(&data, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    hung.until_served(4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = std::time::Instant::now();
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let took = asked.elapsed();
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{so}{se}");
    assert!(
        took >= paperbot::backfill::STOP_GRACE && took < paperbot::backfill::STOP_GRACE + Duration::from_secs(10),
        "stopped after {took:?}: {se}"
    );
    let kept = hung.count(&data);
    assert_eq!(kept, 30, "three whole batches were written");

    // The next run reads the dropped batch again and finishes.
    let emb = StandInEmbedder::start().await;
    let out = emb.paperbot(&data, &args).output().unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    assert_eq!(resumed_at(&so), 30, "{so}");
    assert_eq!(emb.count(&data), papers.len() as u64);
}
