//! Loads a BERT checkpoint (safetensors, candle's config) into the packed
//! encoder of the `paperbot-encoder` crate — the default engine behind
//! [`super::minilm::MiniLm`]. Numerically it matches candle's engine to
//! cosine > 0.99999 and sentence-transformers to ≥ 0.999
//! (tests/it/embed_reference.rs).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_transformers::models::bert::{Config, HiddenAct, PositionEmbeddingType};
use paperbot_encoder::{Dims, Embeddings, Layer, LayerNorm, Linear};

pub use paperbot_encoder::Encoder;

/// Weights by name, with or without the `bert.` prefix some exports carry.
struct Weights(HashMap<String, Tensor>);

impl Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let t = self
            .0
            .get(name)
            .or_else(|| self.0.get(&format!("bert.{name}")))
            .ok_or_else(|| format!("missing tensor {name}"))?;
        if t.dims() != shape {
            return Err(format!("tensor {name} has shape {:?}, expected {shape:?}", t.dims()));
        }
        t.flatten_all()
            .and_then(|t| t.to_dtype(candle_core::DType::F32))
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| format!("tensor {name}: {e}"))
    }

    fn norm(&self, prefix: &str, size: usize) -> Result<LayerNorm, String> {
        Ok(LayerNorm {
            weight: self.get(&format!("{prefix}.weight"), &[size])?,
            bias: self.get(&format!("{prefix}.bias"), &[size])?,
        })
    }

    /// Linear layers sharing an input, stacked output-wise; `scale[i]`
    /// multiplies part `i` (weights and bias).
    fn linear(&self, prefixes: &[&str], inputs: usize, outputs: usize, scale: &[f32]) -> Result<Linear, String> {
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for prefix in prefixes {
            weights.push(self.get(&format!("{prefix}.weight"), &[outputs, inputs])?);
            biases.push(self.get(&format!("{prefix}.bias"), &[outputs])?);
        }
        let w: Vec<&[f32]> = weights.iter().map(Vec::as_slice).collect();
        let b: Vec<&[f32]> = biases.iter().map(Vec::as_slice).collect();
        Linear::stacked(&w, &b, inputs, outputs, scale)
    }
}

/// Loads a BERT checkpoint; only what sentence embedding models use is
/// supported (absolute positions, exact GELU), anything else is refused.
pub fn load(weights: &Path, config: &Config) -> Result<Encoder, String> {
    if config.hidden_act != HiddenAct::Gelu {
        return Err(format!("unsupported activation {:?}", config.hidden_act));
    }
    if config.position_embedding_type != PositionEmbeddingType::Absolute {
        return Err("only absolute position embeddings are supported".into());
    }
    let (h, heads) = (config.hidden_size, config.num_attention_heads);
    if heads == 0 || h % heads != 0 {
        return Err(format!("hidden size {h} is not a multiple of {heads} heads"));
    }
    let inter = config.intermediate_size;
    let w = Weights(candle_core::safetensors::load(weights, &Device::Cpu).map_err(|e| e.to_string())?);
    let token_types = w.get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?;
    // The attention scale 1/√d is folded into the query weights.
    let q_scale = 1.0 / ((h / heads) as f32).sqrt();
    let layers = (0..config.num_hidden_layers)
        .map(|l| {
            let p = format!("encoder.layer.{l}");
            Ok(Layer {
                qkv: w.linear(
                    &[
                        &format!("{p}.attention.self.query"),
                        &format!("{p}.attention.self.key"),
                        &format!("{p}.attention.self.value"),
                    ],
                    h,
                    h,
                    &[q_scale, 1.0, 1.0],
                )?,
                attn_out: w.linear(&[&format!("{p}.attention.output.dense")], h, h, &[])?,
                attn_norm: w.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                up: w.linear(&[&format!("{p}.intermediate.dense")], h, inter, &[])?,
                down: w.linear(&[&format!("{p}.output.dense")], inter, h, &[])?,
                out_norm: w.norm(&format!("{p}.output.LayerNorm"), h)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let dims = Dims {
        hidden: h,
        heads,
        intermediate: inter,
        vocab: config.vocab_size,
        max_positions: config.max_position_embeddings,
        eps: config.layer_norm_eps as f32,
    };
    let embeddings = Embeddings {
        word: w.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
        position: w.get(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?,
        token_type: token_types[..h].to_vec(),
        norm: w.norm("embeddings.LayerNorm", h)?,
    };
    Encoder::new(dims, embeddings, layers)
}
