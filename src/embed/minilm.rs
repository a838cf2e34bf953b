//! The default dense embedder: sentence-transformers/all-MiniLM-L6-v2 run
//! in-process with candle — BERT, mean pooling over real tokens, L2
//! normalisation, 384 dimensions — reading `model.safetensors` and
//! `tokenizer.json` from a model directory (`paperbot model fetch`).
//!
//! Matches sentence-transformers to cosine ≥ 0.999 in f32, ≥ 0.99 with the
//! int8 linear layers (tests/it/embed_reference.rs).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use super::EmbedError;
use super::encoder::{self, Encoder};

pub use paperbot_encoder::{Precision, int8_available};

/// sentence-transformers' `max_seq_length` for this model. The shipped
/// tokenizer.json pads/truncates to a fixed 128; that is overridden here.
pub const MAX_TOKENS: usize = 256;
pub const DIM: usize = 384;
pub const NAME: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Files a model directory must hold.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

pub struct MiniLm {
    engine: Engine,
    tokenizer: Tokenizer,
    batch_size: usize,
}

/// Which forward pass runs the model. Both read the same files; `Packed` is
/// the default for speed, `Candle` is candle-transformers' `BertModel`, kept
/// as the reference the packed pass is tested and benchmarked against.
/// `Packed(Precision::F32)` gives candle's vectors (cosine > 0.99999);
/// `Packed(Precision::Int8)` runs the linear layers in int8 on AVX-512 VNNI
/// (cosine ≥ 0.99 to sentence-transformers, tests/it/embed_reference.rs),
/// and `Auto` picks int8 where the CPU has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Packed(Precision),
    Candle,
}

impl Default for EngineKind {
    fn default() -> Self {
        EngineKind::Packed(Precision::Auto)
    }
}

enum Engine {
    Packed(Encoder),
    Candle { model: BertModel, device: Device },
}

/// Raises glibc's mmap and trim thresholds once per process. Each batch
/// allocates and frees activation buffers of several MB; with the defaults
/// glibc hands them back to the kernel every time and the next batch pays
/// for fresh zeroed pages.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only adjusts allocator parameters; called once,
            // before the model allocates its working buffers.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024 * 1024);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 256 * 1024 * 1024);
            }
        });
    }
}

impl MiniLm {
    pub fn load(dir: &Path, batch_size: usize) -> Result<MiniLm, EmbedError> {
        Self::load_engine(dir, batch_size, EngineKind::default())
    }

    /// [`Self::load`] with a chosen forward pass (tests and benchmarks).
    pub fn load_engine(dir: &Path, batch_size: usize, kind: EngineKind) -> Result<MiniLm, EmbedError> {
        tune_allocator();
        for f in REQUIRED_FILES {
            if !dir.join(f).is_file() {
                return Err(EmbedError::ModelMissing {
                    dir: dir.to_path_buf(),
                    file: f.to_string(),
                });
            }
        }
        let load_err = |what: &str, e: &dyn std::fmt::Display| EmbedError::Load {
            dir: dir.to_path_buf(),
            message: format!("{what}: {e}"),
        };
        let config: Config =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).map_err(|e| load_err("config.json", &e))?)
                .map_err(|e| load_err("config.json", &e))?;
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| load_err("tokenizer.json", &e))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| load_err("tokenizer truncation", &e))?;
        // No padding: the packed engine needs none, the candle engine pads
        // its batches itself.
        tokenizer.with_padding(None);
        let weights: PathBuf = dir.join("model.safetensors");
        let engine = match kind {
            EngineKind::Packed(precision) => {
                let mut packed = encoder::load(&weights, &config).map_err(|e| load_err("model.safetensors", &e))?;
                packed
                    .set_precision(precision)
                    .map_err(|e| load_err("embed.precision", &e))?;
                Engine::Packed(packed)
            }
            EngineKind::Candle => {
                let device = Device::Cpu;
                // SAFETY: the file is memory-mapped read-only; paperbot never writes
                // model files while running (fetch writes to a temp dir and renames).
                let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &device) }
                    .map_err(|e| load_err("model.safetensors", &e))?;
                let model = BertModel::load(vb, &config).map_err(|e| load_err("model.safetensors", &e))?;
                Engine::Candle { model, device }
            }
        };
        Ok(MiniLm {
            engine,
            tokenizer,
            batch_size: batch_size.max(1),
        })
    }

    /// Embeds texts; batches are formed from texts of similar length (as
    /// sentence-transformers does) so little compute goes to padding.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_batched(texts, self.batch_size)
    }

    /// [`Self::embed`] with an explicit batch size (benchmarks).
    pub fn embed_batched(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(vec![]);
        }
        let mut order: Vec<usize> = (0..texts.len()).collect();
        // Character length is a cheap, good proxy for token length.
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(batch_size.max(1)) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vectors = self.embed_batch(&batch)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, batch: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inference = |e: &dyn std::fmt::Display| EmbedError::Inference(e.to_string());
        let encodings = self
            .tokenizer
            .encode_batch(batch.to_vec(), true)
            .map_err(|e| inference(&e))?;
        let (model, device) = match &self.engine {
            Engine::Packed(encoder) => {
                let ids: Vec<Vec<u32>> = encodings.iter().map(|e| e.get_ids().to_vec()).collect();
                return encoder.embed(&ids).map_err(|e| inference(&e));
            }
            Engine::Candle { model, device } => (model, device),
        };
        // Right-padded to the batch's longest text, masked.
        let len = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        let n = encodings.len();
        let mut ids = vec![0u32; n * len];
        let mut mask = vec![0u32; n * len];
        for (row, e) in encodings.iter().enumerate() {
            let real = e.get_ids();
            ids[row * len..][..real.len()].copy_from_slice(real);
            mask[row * len..][..real.len()].fill(1);
        }
        let ids = Tensor::from_vec(ids, (n, len), device).map_err(|e| inference(&e))?;
        let mask = Tensor::from_vec(mask, (n, len), device).map_err(|e| inference(&e))?;
        let type_ids = ids.zeros_like().map_err(|e| inference(&e))?;
        let hidden = model.forward(&ids, &type_ids, Some(&mask)).map_err(|e| inference(&e))?;
        // Mean over real tokens only, then L2-normalise.
        let pooled = (|| {
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        })()
        .map_err(|e: candle_core::Error| inference(&e))?;
        Ok(pooled)
    }

    /// The packed engine's linear-layer arithmetic (`F32` or `Int8`); `None`
    /// for the candle engine.
    pub fn precision(&self) -> Option<Precision> {
        match &self.engine {
            Engine::Packed(e) => Some(e.precision()),
            Engine::Candle { .. } => None,
        }
    }

    /// Floating-point operations of embedding `texts` (each as truncated,
    /// without padding), by [`Encoder::forward_flops`]'s count; `None` for
    /// the candle engine.
    pub fn forward_flops(&self, texts: &[&str]) -> Option<f64> {
        match &self.engine {
            Engine::Packed(e) => Some(texts.iter().map(|t| e.forward_flops(self.token_count(t))).sum()),
            Engine::Candle { .. } => None,
        }
    }

    /// Tokens the model would see for `text` (after truncation).
    pub fn token_count(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, true)
            .map(|e| e.get_ids().len())
            .unwrap_or(0)
    }
}
