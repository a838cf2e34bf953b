//! A killed or interrupted `paperbot ingest` keeps what it wrote: the child
//! process ingests 2,000 papers through a local embedding server that counts
//! requests and answers slowly, is killed with SIGKILL (or asked to stop with
//! SIGINT) part-way, and the library is reopened.

use crate::support::stand_in_embedder::StandInEmbedder;

/// 2,000 distinct papers in the export format.
async fn big_file(dir: &std::path::Path) -> std::path::PathBuf {
    let papers = crate::support::sample_papers().await;
    let body: String = (0..2_000)
        .map(|i| {
            let mut p = papers[i % papers.len()].clone();
            p.title = format!("{} (copy {i})", p.title);
            p.id = paperbot::paper::PaperId::from_title(&p.title);
            paperbot::sources::jsonl::to_line(&p)
        })
        .collect();
    let file = dir.join("big.jsonl");
    std::fs::write(&file, body).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_ingest_keeps_every_batch_it_finished_and_ctrl_c_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let emb = StandInEmbedder::start().await;
    let file = big_file(tmp.path()).await;
    let file = file.to_str().unwrap();

    // SIGKILL after ten batches were embedded.
    let data = tmp.path().join("killed");
    let mut child = emb
        .paperbot(&data, &["ingest", file])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    emb.until_served(12).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = emb.count(&data);
    assert!(
        (64 * 8..2_000).contains(&kept),
        "{kept} papers after a kill during batch ~11 (each batch is 64)"
    );

    // SIGINT: the current batch finishes, the run says how to go on.
    let data = tmp.path().join("interrupted");
    emb.reset();
    let child = emb
        .paperbot(&data, &["ingest", file])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    emb.until_served(6).await;
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert!(said.contains("run the same command again"), "{said}");
    let kept = emb.count(&data);
    assert!(kept >= 64 * 5 && kept % 64 == 0, "{kept} papers: whole batches only");

    // Running it again finishes the job without re-embedding what is stored.
    emb.reset();
    let out = emb.paperbot(&data, &["ingest", file]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("{} new, 0 updated, {kept} unchanged", 2_000 - kept)),
        "{said}"
    );
    assert_eq!(emb.count(&data), 2_000);
}
