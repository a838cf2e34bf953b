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
}

impl OpenAiEmbedder {
    pub fn new(
        base_url: &str,
        api_key: Option<&Secret>,
        model: &str,
        dimensions: Option<u32>,
        batch_size: usize,
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
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size) {
            let mut args = CreateEmbeddingRequestArgs::default();
            args.model(self.model.clone()).input(chunk.to_vec());
            if let Some(d) = self.dimensions {
                args.dimensions(d);
            }
            let request = args.build().map_err(|e| EmbedError::Remote(e.to_string()))?;
            let mut resp = self
                .client
                .embeddings()
                .create(request)
                .instrument(tracing::info_span!("openai_embed", model = %self.model, n = chunk.len()))
                .await
                .map_err(|e| EmbedError::Remote(format!("embedding request to model `{}` failed: {e}", self.model)))?;
            if resp.data.len() != chunk.len() {
                return Err(EmbedError::Remote(format!(
                    "asked for {} embeddings, got {}",
                    chunk.len(),
                    resp.data.len()
                )));
            }
            resp.data.sort_by_key(|e| e.index);
            out.extend(resp.data.into_iter().map(|e| normalise(e.embedding)));
        }
        Ok(out)
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
