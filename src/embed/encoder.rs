//! A packed BERT encoder forward pass for CPU inference — the default engine
//! behind [`super::minilm::MiniLm`].
//!
//! candle-transformers' `BertModel` (kept as the reference engine) spends
//! most of its time outside matrix products on 2 cores: every op allocates
//! fresh zeroed buffers, element-wise ops go through a spinning barrier pool
//! that competes with the matmul threads, GELU calls a scalar `erf`, and
//! padded batches do attention over padding. This pass:
//! - packs a batch without padding (`[total_tokens, hidden]`): linear layers
//!   are per token, attention runs per (sequence, head) over real tokens only,
//!   so no mask is needed and no work goes to padding;
//! - fuses Q, K and V into one product, folds the 1/√d attention scale into
//!   the query weights, and folds bias and residual into the product's
//!   accumulator (`dst = bias + residual + x·Wᵀ`);
//! - runs the products on the same `gemm` crate candle uses, and the
//!   element-wise work (layer norm, softmax, GELU with a polynomial `erf`)
//!   in AVX2-compiled loops on rayon, with a handful of buffers per batch.
//!
//! Numerically it matches candle's engine to cosine > 0.99999 and
//! sentence-transformers to ≥ 0.999 (tests/embed_reference.rs).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_transformers::models::bert::{Config, HiddenAct, PositionEmbeddingType};
use gemm::Parallelism;
use rayon::prelude::*;

/// Rows per rayon task for element-wise work (keeps tasks ~100 KB).
const ROWS_PER_TASK: usize = 64;

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// A linear layer with its weight stored transposed (`[in, out]`, row-major)
/// so the product reads it as a plain row-major right-hand side.
struct Linear {
    weight_t: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct Layer {
    /// Q, K and V side by side: `[hidden, 3 × hidden]`; Q pre-scaled by 1/√d.
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

pub struct Encoder {
    hidden: usize,
    heads: usize,
    head_dim: usize,
    intermediate: usize,
    eps: f32,
    vocab: usize,
    max_positions: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    /// Token type 0's embedding (sentence embeddings use one segment).
    token_type: Vec<f32>,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
}

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

    /// Loads linear layers sharing an input and stacks them output-wise,
    /// transposed; `scale[i]` multiplies part `i` (weights and bias).
    fn linear(&self, prefixes: &[&str], inputs: usize, outputs: usize, scale: &[f32]) -> Result<Linear, String> {
        let total = outputs * prefixes.len();
        let mut weight_t = vec![0f32; inputs * total];
        let mut bias = Vec::with_capacity(total);
        for (part, prefix) in prefixes.iter().enumerate() {
            let s = scale.get(part).copied().unwrap_or(1.0);
            let w = self.get(&format!("{prefix}.weight"), &[outputs, inputs])?;
            for o in 0..outputs {
                for i in 0..inputs {
                    weight_t[i * total + part * outputs + o] = w[o * inputs + i] * s;
                }
            }
            bias.extend(self.get(&format!("{prefix}.bias"), &[outputs])?.iter().map(|b| b * s));
        }
        Ok(Linear {
            weight_t,
            bias,
            inputs,
            outputs: total,
        })
    }
}

impl Encoder {
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
        let head_dim = h / heads;
        let inter = config.intermediate_size;
        let w = Weights(candle_core::safetensors::load(weights, &Device::Cpu).map_err(|e| e.to_string())?);
        let token_types = w.get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?;
        let q_scale = 1.0 / (head_dim as f32).sqrt();
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
        Ok(Encoder {
            hidden: h,
            heads,
            head_dim,
            intermediate: inter,
            eps: config.layer_norm_eps as f32,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            word: w.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position: w.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type: token_types[..h].to_vec(),
            embed_norm: w.norm("embeddings.LayerNorm", h)?,
            layers,
        })
    }

    /// Mean-pooled, L2-normalised embeddings of token id sequences (each
    /// already truncated, special tokens included, no padding).
    pub fn embed(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, String> {
        let h = self.hidden;
        let mut starts = Vec::with_capacity(sequences.len() + 1);
        let mut total = 0;
        for s in sequences {
            if s.is_empty() || s.len() > self.max_positions {
                return Err(format!(
                    "sequence of {} tokens (1..={} allowed)",
                    s.len(),
                    self.max_positions
                ));
            }
            if let Some(&bad) = s.iter().find(|&&id| id as usize >= self.vocab) {
                return Err(format!("token id {bad} outside the vocabulary"));
            }
            starts.push(total);
            total += s.len();
        }
        starts.push(total);
        let threads = rayon::current_num_threads();
        let par = if threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };

        let mut x = vec![0f32; total * h];
        for (s, ids) in sequences.iter().enumerate() {
            for (pos, &id) in ids.iter().enumerate() {
                let row = &mut x[(starts[s] + pos) * h..][..h];
                let word = &self.word[id as usize * h..][..h];
                let position = &self.position[pos * h..][..h];
                for (((o, w), p), t) in row.iter_mut().zip(word).zip(position).zip(&self.token_type) {
                    *o = w + p + t;
                }
            }
        }
        rows_par(&mut x, h, |row| layer_norm(row, &self.embed_norm, self.eps));

        let mut qkv = vec![0f32; total * 3 * h];
        let mut ctx = vec![0f32; total * h];
        let mut tmp = vec![0f32; total * h];
        let mut inter = vec![0f32; total * self.intermediate];
        for layer in &self.layers {
            layer.qkv.forward(&x, None, total, &mut qkv, par);
            self.attention(&qkv, &starts, &mut ctx);
            // tmp = x + bias + ctx·Wo, then x = LayerNorm(tmp)
            layer.attn_out.forward(&ctx, Some(&x), total, &mut tmp, par);
            rows_par(&mut tmp, h, |row| layer_norm(row, &layer.attn_norm, self.eps));
            std::mem::swap(&mut x, &mut tmp);
            layer.up.forward(&x, None, total, &mut inter, par);
            rows_par(&mut inter, self.intermediate, gelu);
            layer.down.forward(&inter, Some(&x), total, &mut tmp, par);
            rows_par(&mut tmp, h, |row| layer_norm(row, &layer.out_norm, self.eps));
            std::mem::swap(&mut x, &mut tmp);
        }

        Ok(starts
            .windows(2)
            .map(|w| {
                let mut mean = vec![0f32; h];
                for row in x[w[0] * h..w[1] * h].chunks_exact(h) {
                    for (m, v) in mean.iter_mut().zip(row) {
                        *m += v;
                    }
                }
                let n = (w[1] - w[0]) as f32;
                mean.iter_mut().for_each(|m| *m /= n);
                let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                mean.iter_mut().for_each(|m| *m /= norm);
                mean
            })
            .collect())
    }

    /// Self-attention per (sequence, head), each over its own tokens only.
    fn attention(&self, qkv: &[f32], starts: &[usize], ctx: &mut [f32]) {
        let (h, d) = (self.hidden, self.head_dim);
        let stride = 3 * h;
        let tasks: Vec<(usize, usize)> = (0..starts.len() - 1)
            .flat_map(|s| (0..self.heads).map(move |head| (s, head)))
            .collect();
        let out = SharedMut(ctx.as_mut_ptr());
        tasks
            .par_iter()
            .for_each_init(Vec::new, |scores: &mut Vec<f32>, &(s, head)| {
                let (start, len) = (starts[s], starts[s + 1] - starts[s]);
                scores.clear();
                scores.resize(len * len, 0.0);
                let base = start * stride + head * d;
                // SAFETY: all pointers stay inside `qkv`, `scores` and `ctx` for
                // the given sizes and strides; each task writes only its own
                // (sequence rows × head columns) block of `ctx`.
                unsafe {
                    // scores = q · kᵀ (q is pre-scaled by 1/√d)
                    gemm::gemm(
                        len,
                        len,
                        d,
                        scores.as_mut_ptr(),
                        1,
                        len as isize,
                        false,
                        qkv.as_ptr().add(base),
                        1,
                        stride as isize,
                        qkv.as_ptr().add(base + h),
                        stride as isize,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
                for row in scores.chunks_exact_mut(len) {
                    softmax(row);
                }
                let out = &out;
                // SAFETY: as above; ctx is `[total, hidden]`.
                unsafe {
                    gemm::gemm(
                        len,
                        d,
                        len,
                        out.0.add(start * h + head * d),
                        1,
                        h as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        len as isize,
                        qkv.as_ptr().add(base + 2 * h),
                        1,
                        stride as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
            });
    }
}

/// A raw pointer rayon tasks may share; they write disjoint blocks.
struct SharedMut(*mut f32);
// SAFETY: used only for disjoint writes (see `Encoder::attention`).
unsafe impl Sync for SharedMut {}
unsafe impl Send for SharedMut {}

impl Linear {
    /// `dst[rows × out] = bias (+ residual) + x[rows × in] · W`.
    fn forward(&self, x: &[f32], residual: Option<&[f32]>, rows: usize, dst: &mut [f32], par: Parallelism) {
        let (i, o) = (self.inputs, self.outputs);
        debug_assert_eq!(x.len(), rows * i);
        let dst = &mut dst[..rows * o];
        match residual {
            Some(r) => dst
                .par_chunks_mut(o * ROWS_PER_TASK)
                .zip(r.par_chunks(o * ROWS_PER_TASK))
                .for_each(|(d, r)| {
                    for (drow, rrow) in d.chunks_exact_mut(o).zip(r.chunks_exact(o)) {
                        for ((dv, rv), b) in drow.iter_mut().zip(rrow).zip(&self.bias) {
                            *dv = rv + b;
                        }
                    }
                }),
            None => dst.par_chunks_mut(o * ROWS_PER_TASK).for_each(|d| {
                for drow in d.chunks_exact_mut(o) {
                    drow.copy_from_slice(&self.bias);
                }
            }),
        }
        // SAFETY: dst is rows×o, x rows×i, weight_t i×o, all row-major.
        unsafe {
            gemm::gemm(
                rows,
                o,
                i,
                dst.as_mut_ptr(),
                1,
                o as isize,
                true,
                x.as_ptr(),
                1,
                i as isize,
                self.weight_t.as_ptr(),
                1,
                o as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
    }
}

/// Applies `f` to every `width`-wide row, in parallel blocks of rows.
fn rows_par(data: &mut [f32], width: usize, f: impl Fn(&mut [f32]) + Sync) {
    data.par_chunks_mut(width * ROWS_PER_TASK).for_each(|block| {
        for row in block.chunks_exact_mut(width) {
            f(row);
        }
    });
}

/// Runs `$body` compiled for AVX2+FMA when the CPU has them, else generic.
macro_rules! simd_dispatch {
    ($name:ident, $generic:ident, ($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    $generic($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the features were just detected on this CPU.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic($($arg),*)
        }
    };
}

simd_dispatch!(softmax, softmax_generic, (row: &mut [f32]));
simd_dispatch!(gelu, gelu_generic, (row: &mut [f32]));
simd_dispatch!(layer_norm, layer_norm_generic, (row: &mut [f32], norm: &LayerNorm, eps: f32));

/// Sum with 8 independent lanes, so it vectorises.
#[inline(always)]
fn sum8(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (chunks, rest) = xs.as_chunks::<8>();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

#[inline(always)]
fn max8(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let (chunks, rest) = xs.as_chunks::<8>();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    acc.iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

#[inline(always)]
fn softmax_generic(row: &mut [f32]) {
    let max = max8(row);
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = 1.0 / sum8(row);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

#[inline(always)]
fn layer_norm_generic(row: &mut [f32], norm: &LayerNorm, eps: f32) {
    let n = row.len() as f32;
    let mean = sum8(row) / n;
    for v in row.iter_mut() {
        *v -= mean;
    }
    let mut sq = [0f32; 8];
    let (chunks, rest) = row.as_chunks::<8>();
    for c in chunks {
        for (a, v) in sq.iter_mut().zip(c) {
            *a += v * v;
        }
    }
    let rest: f32 = rest.iter().map(|v| v * v).sum();
    let var = (sq.iter().sum::<f32>() + rest) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
        *v = *v * inv * w + b;
    }
}

/// Exact (erf) GELU, as BERT and PyTorch define it.
#[inline(always)]
fn gelu_generic(row: &mut [f32]) {
    for v in row.iter_mut() {
        let x = *v;
        *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// e^x for f32, branch-free so loops over it vectorise (Cephes `expf`:
/// range reduction by ln 2 and a degree-5 polynomial; relative error ~1e-7).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // n = round(x / ln 2) via the 1.5·2^23 trick: integer ops only, no
    // saturating float→int cast, so the loop vectorises (even without SSE4.1).
    const MAGIC: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    let n_int = shifted.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let e = p * r2 + r + 1.0;
    let bits = (n_int.wrapping_add(127) << 23) as u32;
    e * f32::from_bits(bits)
}

/// erf for f32 (Abramowitz & Stegun 7.1.26, absolute error ≤ 1.5e-7).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t + 0.254_829_6) * t;
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_softmax_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 10.0 {
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp(-1000.0) < 1e-37, true);
    }

    #[test]
    fn erf_is_accurate() {
        let mut worst = 0f64;
        let mut x = -6.0f32;
        while x <= 6.0 {
            let want = libm_erf(x as f64);
            worst = worst.max((erf(x) as f64 - want).abs());
            x += 0.001;
        }
        // A&S bound 1.5e-7 plus f32 rounding of the polynomial.
        assert!(worst < 1e-6, "worst absolute error {worst}");
    }

    /// High-precision erf by its Taylor series (|x| ≤ 3) or continued
    /// fraction, for checking the f32 approximation.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let v = if a < 3.0 {
            let mut sum = 0.0;
            let mut term = a;
            let mut n = 0.0;
            while term.abs() > 1e-17 {
                sum += term / (2.0 * n + 1.0);
                n += 1.0;
                term *= -a * a / n;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc continued fraction (Lentz), converges fast for a ≥ 3.
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            1.0 - (-a * a).exp() / (f * std::f64::consts::PI.sqrt())
        };
        v.copysign(x)
    }

    #[test]
    fn softmax_and_layer_norm_match_their_definitions() {
        let mut row: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin() * 5.0).collect();
        let orig = row.clone();
        softmax(&mut row);
        let max = orig.iter().cloned().fold(f32::MIN, f32::max);
        let sum: f32 = orig.iter().map(|v| (v - max).exp()).sum();
        for (got, v) in row.iter().zip(&orig) {
            assert!((got - (v - max).exp() / sum).abs() < 1e-6);
        }
        let norm = LayerNorm {
            weight: vec![2.0; 37],
            bias: vec![0.5; 37],
        };
        let mut row = orig.clone();
        layer_norm(&mut row, &norm, 1e-12);
        let mean = orig.iter().sum::<f32>() / 37.0;
        let var = orig.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 37.0;
        for (got, v) in row.iter().zip(&orig) {
            assert!((got - ((v - mean) / var.sqrt() * 2.0 + 0.5)).abs() < 1e-4);
        }
    }
}
