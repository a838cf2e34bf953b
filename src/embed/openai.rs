//! Dense embeddings from any OpenAI-compatible `/v1/embeddings` endpoint
//! (OpenAI, Ollama, vLLM, text-embeddings-inference) through `async-openai`.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use tracing::Instrument;

use super::EmbedError;
use crate::secret::Secret;

pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    dimensions: Option<u32>,
    batch_size: usize,
    concurrency: usize,
}

impl OpenAiEmbedder {
    pub fn new(
        base_url: &str,
        api_key: Option<&Secret>,
        model: &str,
        dimensions: Option<u32>,
        batch_size: usize,
        concurrency: usize,
        http: reqwest::Client,
    ) -> Self {
        let mut config = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/'));
        // Local servers (Ollama, vLLM) accept any key; never log it.
        config = config.with_api_key(api_key.map_or("unused", Secret::expose));
        OpenAiEmbedder {
            client: Client::build(http, config),
            model: model.to_string(),
            dimensions,
            batch_size: batch_size.clamp(1, 2048),
            concurrency: concurrency.clamp(1, 64),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Embeds `texts` in requests of `batch_size`, up to `concurrency` of
    /// them in flight; the vectors come back in the order of `texts`.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        use futures_util::{StreamExt, TryStreamExt};
        let requests: Vec<_> = texts
            .chunks(self.batch_size)
            .map(|chunk| self.embed_chunk(chunk.to_vec()))
            .collect();
        let chunks: Vec<Vec<Vec<f32>>> = futures_util::stream::iter(requests)
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    async fn embed_chunk(&self, chunk: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let n = chunk.len();
        let mut args = CreateEmbeddingRequestArgs::default();
        args.model(self.model.clone()).input(chunk);
        if let Some(d) = self.dimensions {
            args.dimensions(d);
        }
        let request = args.build().map_err(|e| EmbedError::Remote(e.to_string()))?;
        let mut resp = self
            .client
            .embeddings()
            .create(request)
            .instrument(tracing::info_span!("openai_embed", model = %self.model, n))
            .await
            .map_err(|e| EmbedError::Remote(format!("embedding request to model `{}` failed: {e}", self.model)))?;
        if resp.data.len() != n {
            return Err(EmbedError::Remote(format!(
                "asked for {n} embeddings, got {}",
                resp.data.len()
            )));
        }
        resp.data.sort_by_key(|e| e.index);
        Ok(resp.data.into_iter().map(|e| normalise(e.embedding)).collect())
    }
}

/// Cosine in Qdrant normalises anyway; doing it here keeps dot products
/// comparable in benchmarks and tests.
fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}
