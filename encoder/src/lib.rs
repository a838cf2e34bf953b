//! A packed BERT encoder forward pass for CPU inference: paperbot's default
//! MiniLM engine. Loading weights (safetensors, checkpoint names) is the
//! caller's job; this crate takes the tensors as plain row-major `f32`s.
//!
//! What makes it fast on a few cores, where candle-transformers' `BertModel`
//! spends most of its time outside matrix products:
//! - a batch is packed without padding (`[total_tokens, hidden]`): linear
//!   layers are per token, attention runs per (sequence, head) over real
//!   tokens only, so no mask is needed and no work goes to padding;
//! - Q, K and V are one product, the 1/√d attention scale is folded into the
//!   query weights (by the caller, see [`Linear::stacked`]), and bias and
//!   residual are folded into each product's accumulator
//!   (`dst = bias + residual + x·W`);
//! - products run on the `gemm` crate candle uses, through one [`matmul`]
//!   helper, and the element-wise work (layer norm, softmax, GELU with a
//!   polynomial `erf`) in AVX2-compiled loops on rayon, with a handful of
//!   buffers per batch;
//! - optionally ([`Precision::Int8`]), the linear layers — ~90% of the
//!   arithmetic — as int8 products on AVX-512 VNNI (see `int8.rs`),
//!   dispatched at run time with the f32 path as fallback and reference.
//!
//! It lives in its own crate so it is compiled optimised in every profile:
//! those loops are 2-3x slower unoptimised.

use gemm::Parallelism;
use rayon::prelude::*;

mod int8;

/// The arithmetic of the linear layers (attention and the element-wise work
/// always run in f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 products on `gemm`: the reference.
    F32,
    /// int8 products on AVX-512 VNNI (weights per column, activations per
    /// row); an error where the CPU lacks them.
    Int8,
    /// int8 where the CPU has AVX-512 VNNI, else f32.
    #[default]
    Auto,
}

impl Precision {
    /// What `self` means on a CPU that has (or lacks) the int8 path.
    fn resolve(self, int8_available: bool) -> Result<Precision, String> {
        match (self, int8_available) {
            (Precision::F32, _) | (Precision::Auto, false) => Ok(Precision::F32),
            (Precision::Int8 | Precision::Auto, true) => Ok(Precision::Int8),
            (Precision::Int8, false) => Err("int8 precision needs AVX-512 F/BW and VNNI, which this CPU lacks".into()),
        }
    }
}

/// Whether this CPU can run [`Precision::Int8`].
pub fn int8_available() -> bool {
    int8::available()
}

/// Sizes of an encoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dims {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub eps: f32,
}

/// Rows per rayon task for element-wise work (keeps tasks ~100 KB).
const ROWS_PER_TASK: usize = 64;

/// Tokens per packed pass on the int8 path: once the products are ~3x
/// faster, the element-wise passes over the activations weigh more, and at
/// 2048 tokens MiniLM's largest buffer (`[tokens, 1536]` f32, 12 MB) still
/// fits in L3. Results do not depend on it (quantization is per row,
/// attention per sequence).
const INT8_TOKENS_PER_PASS: usize = 2048;

pub struct LayerNorm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A linear layer with its weight stored transposed (`[in, out]`, row-major)
/// so the product reads it as a plain row-major right-hand side.
pub struct Linear {
    weight_t: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    /// The int8 copy, made when [`Precision::Int8`] is first chosen.
    int8: Option<int8::Int8Weight>,
}

pub struct Layer {
    /// Q, K and V side by side: `[hidden, 3 × hidden]`; Q pre-scaled by 1/√d.
    pub qkv: Linear,
    pub attn_out: Linear,
    pub attn_norm: LayerNorm,
    pub up: Linear,
    pub down: Linear,
    pub out_norm: LayerNorm,
}

pub struct Encoder {
    hidden: usize,
    heads: usize,
    head_dim: usize,
    intermediate: usize,
    eps: f32,
    vocab: usize,
    max_positions: usize,
    /// `[vocab, hidden]`
    word: Vec<f32>,
    /// `[max_positions, hidden]`
    position: Vec<f32>,
    /// Token type 0's embedding (sentence embeddings use one segment).
    token_type: Vec<f32>,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    /// Resolved: `F32` or `Int8`, never `Auto`.
    precision: Precision,
}

/// The embedding tables of an encoder.
pub struct Embeddings {
    /// `[vocab, hidden]`
    pub word: Vec<f32>,
    /// `[max_positions, hidden]`
    pub position: Vec<f32>,
    /// Token type 0's row, `[hidden]`.
    pub token_type: Vec<f32>,
    pub norm: LayerNorm,
}

impl Encoder {
    /// Checks every tensor's size against `dims`.
    pub fn new(dims: Dims, embeddings: Embeddings, layers: Vec<Layer>) -> Result<Encoder, String> {
        let (h, inter) = (dims.hidden, dims.intermediate);
        if h == 0 || inter == 0 {
            return Err("hidden and intermediate sizes must be positive".into());
        }
        if dims.heads == 0 || h % dims.heads != 0 {
            return Err(format!("hidden size {h} is not a multiple of {} heads", dims.heads));
        }
        let check = |what: &str, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(format!("{what} has {got} values, expected {want}"))
            }
        };
        check("word embeddings", embeddings.word.len(), dims.vocab * h)?;
        check("position embeddings", embeddings.position.len(), dims.max_positions * h)?;
        check("token type embedding", embeddings.token_type.len(), h)?;
        let norm = |what: &str, n: &LayerNorm| {
            check(&format!("{what} weight"), n.weight.len(), h)?;
            check(&format!("{what} bias"), n.bias.len(), h)
        };
        norm("embedding layer norm", &embeddings.norm)?;
        for (i, l) in layers.iter().enumerate() {
            for (name, lin, inputs, outputs) in [
                ("qkv", &l.qkv, h, 3 * h),
                ("attention output", &l.attn_out, h, h),
                ("intermediate", &l.up, h, inter),
                ("output", &l.down, inter, h),
            ] {
                if (lin.inputs, lin.outputs) != (inputs, outputs) {
                    return Err(format!(
                        "layer {i} {name} is {}x{}, expected {inputs}x{outputs}",
                        lin.inputs, lin.outputs
                    ));
                }
            }
            norm(&format!("layer {i} attention norm"), &l.attn_norm)?;
            norm(&format!("layer {i} output norm"), &l.out_norm)?;
        }
        Ok(Encoder {
            hidden: h,
            heads: dims.heads,
            head_dim: h / dims.heads,
            intermediate: inter,
            eps: dims.eps,
            vocab: dims.vocab,
            max_positions: dims.max_positions,
            word: embeddings.word,
            position: embeddings.position,
            token_type: embeddings.token_type,
            embed_norm: embeddings.norm,
            layers,
            precision: Precision::F32,
        })
    }

    /// Chooses the linear layers' arithmetic (f32 until this is called);
    /// returns what `Auto` resolved to. int8 weights are quantized on the
    /// first switch to int8 (tens of ms for MiniLM) and kept.
    pub fn set_precision(&mut self, precision: Precision) -> Result<Precision, String> {
        let resolved = precision.resolve(int8::available())?;
        if resolved == Precision::Int8 {
            for layer in &mut self.layers {
                for lin in [&mut layer.qkv, &mut layer.attn_out, &mut layer.up, &mut layer.down] {
                    lin.quantize();
                }
            }
        }
        self.precision = resolved;
        Ok(resolved)
    }

    /// The linear layers' arithmetic in use: `F32` or `Int8`.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Floating-point operations of one forward pass over a sequence of
    /// `len` tokens, counting a multiply-add as 2: the linear layers
    /// `2·len·(h·3h + h·h + h·i + i·h)` plus attention's two products
    /// `2·2·len²·h`, per layer; element-wise work is not counted.
    pub fn forward_flops(&self, len: usize) -> f64 {
        let (len, h, i) = (len as f64, self.hidden as f64, self.intermediate as f64);
        let linear = 2.0 * len * (3.0 * h * h + h * h + 2.0 * h * i);
        let attention = 4.0 * len * len * h;
        self.layers.len() as f64 * (linear + attention)
    }

    /// Mean-pooled, L2-normalised embeddings of token id sequences (each
    /// already truncated, special tokens included, no padding).
    pub fn embed(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, String> {
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
        }
        let cap = match self.precision {
            Precision::Int8 => INT8_TOKENS_PER_PASS,
            _ => usize::MAX,
        };
        let mut out = Vec::with_capacity(sequences.len());
        let (mut begin, mut tokens) = (0, 0);
        for (i, s) in sequences.iter().enumerate() {
            if i > begin && tokens + s.len() > cap {
                out.extend(self.forward(&sequences[begin..i]));
                (begin, tokens) = (i, 0);
            }
            tokens += s.len();
        }
        out.extend(self.forward(&sequences[begin..]));
        Ok(out)
    }

    /// [`Self::embed`] in one packed pass, on validated sequences.
    fn forward(&self, sequences: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let h = self.hidden;
        let mut starts = Vec::with_capacity(sequences.len() + 1);
        let mut total = 0;
        for s in sequences {
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
        let narrow = self.precision == Precision::Int8;
        for layer in &self.layers {
            layer.qkv.forward(&x, None, total, &mut qkv, par, narrow);
            self.attention(&qkv, &starts, &mut ctx);
            // tmp = x + bias + ctx·Wo, then x = LayerNorm(tmp)
            layer.attn_out.forward(&ctx, Some(&x), total, &mut tmp, par, narrow);
            rows_par(&mut tmp, h, |row| layer_norm(row, &layer.attn_norm, self.eps));
            std::mem::swap(&mut x, &mut tmp);
            layer.up.forward(&x, None, total, &mut inter, par, narrow);
            rows_par(&mut inter, self.intermediate, gelu);
            layer.down.forward(&inter, Some(&x), total, &mut tmp, par, narrow);
            rows_par(&mut tmp, h, |row| layer_norm(row, &layer.out_norm, self.eps));
            std::mem::swap(&mut x, &mut tmp);
        }

        starts
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
            .collect()
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
                let q = Strided::rows(qkv[base..].as_ptr(), stride);
                let k = Strided::rows(qkv[base + h..].as_ptr(), stride);
                // SAFETY (see `matmul`): q and k are `len × d` views inside
                // `qkv` (`len` token rows of `stride`, from the head's column);
                // `scores` is this task's own `len × len` buffer.
                unsafe {
                    // scores = q · kᵀ (q is pre-scaled by 1/√d)
                    matmul(
                        Shape { m: len, n: len, k: d },
                        Strided::rows(scores.as_mut_ptr(), len),
                        q,
                        k.transposed(),
                        Accumulate::No,
                        Parallelism::None,
                    );
                }
                for row in scores.chunks_exact_mut(len) {
                    softmax(row);
                }
                let out = &out;
                let v = Strided::rows(qkv[base + 2 * h..].as_ptr(), stride);
                // SAFETY (see `matmul`): `v` is `len × d` inside `qkv`; the
                // destination is this task's own (sequence rows × head
                // columns) block of `ctx` (`[total, hidden]`), which no other
                // task writes.
                unsafe {
                    matmul(
                        Shape { m: len, n: d, k: len },
                        Strided::rows(out.0.add(start * h + head * d), h),
                        Strided::rows(scores.as_ptr(), len),
                        v,
                        Accumulate::No,
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
    /// Linear layers that share an input, stacked output-wise: `weights[p]`
    /// is part `p`'s `[outputs, inputs]` row-major weight (PyTorch's layout)
    /// and `biases[p]` its bias; `scale[p]` multiplies both (1 when absent).
    pub fn stacked(
        weights: &[&[f32]],
        biases: &[&[f32]],
        inputs: usize,
        outputs: usize,
        scale: &[f32],
    ) -> Result<Linear, String> {
        if weights.len() != biases.len() {
            return Err("one bias per weight".into());
        }
        let total = outputs * weights.len();
        let mut weight_t = vec![0f32; inputs * total];
        let mut bias = Vec::with_capacity(total);
        for (part, (w, b)) in weights.iter().zip(biases).enumerate() {
            if w.len() != outputs * inputs || b.len() != outputs {
                return Err(format!(
                    "part {part}: {} weights and {} biases for {outputs}x{inputs}",
                    w.len(),
                    b.len()
                ));
            }
            let s = scale.get(part).copied().unwrap_or(1.0);
            for o in 0..outputs {
                for i in 0..inputs {
                    weight_t[i * total + part * outputs + o] = w[o * inputs + i] * s;
                }
            }
            bias.extend(b.iter().map(|b| b * s));
        }
        Ok(Linear {
            weight_t,
            bias,
            inputs,
            outputs: total,
            int8: None,
        })
    }

    fn quantize(&mut self) {
        if self.int8.is_none() {
            self.int8 = Some(int8::Int8Weight::new(&self.weight_t, self.inputs, self.outputs));
        }
    }

    /// `dst[rows × out] = bias (+ residual) + x[rows × in] · W`, in int8 when
    /// `narrow` (and the int8 weights exist), else f32.
    fn forward(
        &self,
        x: &[f32],
        residual: Option<&[f32]>,
        rows: usize,
        dst: &mut [f32],
        par: Parallelism,
        narrow: bool,
    ) {
        let (i, o) = (self.inputs, self.outputs);
        debug_assert_eq!(x.len(), rows * i);
        let dst = &mut dst[..rows * o];
        #[cfg(target_arch = "x86_64")]
        if narrow && let Some(q) = &self.int8 {
            // SAFETY: int8 weights exist only after `set_precision` resolved
            // to Int8, which it does only when `int8::available()`.
            unsafe { q.forward(x, &self.bias, residual, rows, dst) };
            return;
        }
        let _ = narrow;
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
        // SAFETY (see `matmul`): dst is rows×o, x rows×i and weight_t i×o,
        // each a whole row-major slice of exactly that size.
        unsafe {
            matmul(
                Shape { m: rows, n: o, k: i },
                Strided::rows(dst.as_mut_ptr(), o),
                Strided::rows(x.as_ptr(), i),
                Strided::rows(self.weight_t.as_ptr(), o),
                Accumulate::Yes,
                par,
            );
        }
    }
}

/// The sizes of one product: `dst[m × n] = a[m × k] · b[k × n]`.
#[derive(Clone, Copy, Debug)]
struct Shape {
    m: usize,
    n: usize,
    k: usize,
}

/// A matrix in memory: element (r, c) is at `ptr + r·row_stride + c·col_stride`.
#[derive(Clone, Copy)]
struct Strided<P> {
    ptr: P,
    row_stride: isize,
    col_stride: isize,
}

impl<P> Strided<P> {
    /// Row-major rows `row_stride` elements apart.
    fn rows(ptr: P, row_stride: usize) -> Strided<P> {
        Strided {
            ptr,
            row_stride: row_stride as isize,
            col_stride: 1,
        }
    }

    /// The same memory read as the transposed matrix.
    fn transposed(self) -> Strided<P> {
        Strided {
            ptr: self.ptr,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
}

/// Whether a product overwrites its destination or adds to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accumulate {
    No,
    Yes,
}

/// `dst = a · b`, or `dst += a · b` with [`Accumulate::Yes`], on `gemm`.
///
/// # Safety
/// For each operand, every element (r, c) inside its shape (`dst`: m × n,
/// `a`: m × k, `b`: k × n) must lie in one live allocation; `dst` must not
/// overlap `a` or `b`, and no other thread may read or write `dst`'s
/// elements during the call.
unsafe fn matmul(
    shape: Shape,
    dst: Strided<*mut f32>,
    a: Strided<*const f32>,
    b: Strided<*const f32>,
    acc: Accumulate,
    parallelism: Parallelism,
) {
    let accumulate = acc == Accumulate::Yes;
    // gemm computes dst = alpha·dst + beta·(a·b), reading dst only when asked.
    let (alpha, beta) = (if accumulate { 1.0 } else { 0.0 }, 1.0);
    // SAFETY: the caller's contract above is exactly gemm's.
    unsafe {
        gemm::gemm(
            shape.m,
            shape.n,
            shape.k,
            dst.ptr,
            dst.col_stride,
            dst.row_stride,
            accumulate,
            a.ptr,
            a.col_stride,
            a.row_stride,
            b.ptr,
            b.col_stride,
            b.row_stride,
            alpha,
            beta,
            false,
            false,
            false,
            parallelism,
        );
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
pub fn exp(x: f32) -> f32 {
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
        + 5e-1;
    let e = p * r2 + r + 1.0;
    let bits = (n_int.wrapping_add(127) << 23) as u32;
    e * f32::from_bits(bits)
}

/// erf for f32 (Abramowitz & Stegun 7.1.26, absolute error ≤ 1.5e-7).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
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
    fn precision_falls_back_to_f32_without_vnni() {
        assert_eq!(Precision::Auto.resolve(false), Ok(Precision::F32));
        assert_eq!(Precision::Auto.resolve(true), Ok(Precision::Int8));
        assert_eq!(Precision::F32.resolve(true), Ok(Precision::F32));
        assert!(Precision::Int8.resolve(false).is_err());
        assert_eq!(Precision::Int8.resolve(true), Ok(Precision::Int8));
    }

    /// A small random encoder: int8 and f32 give nearly the same vectors,
    /// and switching back to f32 gives exactly the f32 ones again.
    #[test]
    fn int8_encoder_tracks_f32_and_switches_back() {
        let dims = Dims {
            hidden: 48,
            heads: 4,
            intermediate: 100,
            vocab: 50,
            max_positions: 40,
            eps: 1e-12,
        };
        let mut seed = 7u64;
        let mut rand = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ((seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * scale
                })
                .collect()
        };
        let (h, i) = (dims.hidden, dims.intermediate);
        let norm = || LayerNorm {
            weight: vec![1.0; h],
            bias: vec![0.0; h],
        };
        let embeddings = Embeddings {
            word: rand(dims.vocab * h, 1.0),
            position: rand(dims.max_positions * h, 0.1),
            token_type: rand(h, 0.1),
            norm: norm(),
        };
        let mut layers = Vec::new();
        for _ in 0..2 {
            let mut lin = |inp: usize, out: usize, parts: usize| {
                let w: Vec<Vec<f32>> = (0..parts).map(|_| rand(inp * out, 0.2)).collect();
                let b: Vec<Vec<f32>> = (0..parts).map(|_| rand(out, 0.1)).collect();
                let w: Vec<&[f32]> = w.iter().map(Vec::as_slice).collect();
                let b: Vec<&[f32]> = b.iter().map(Vec::as_slice).collect();
                Linear::stacked(&w, &b, inp, out, &[]).unwrap()
            };
            layers.push(Layer {
                qkv: lin(h, h, 3),
                attn_out: lin(h, h, 1),
                attn_norm: norm(),
                up: lin(h, i, 1),
                down: lin(i, h, 1),
                out_norm: norm(),
            });
        }
        let mut enc = Encoder::new(dims, embeddings, layers).unwrap();
        let seqs: Vec<Vec<u32>> = vec![(0..37).map(|t| t * 7 % 50).collect(), vec![3], (0..9).collect()];
        assert_eq!(enc.precision(), Precision::F32);
        let reference = enc.embed(&seqs).unwrap();
        match enc.set_precision(Precision::Auto).unwrap() {
            Precision::Int8 => {
                let narrow = enc.embed(&seqs).unwrap();
                for (a, b) in reference.iter().zip(&narrow) {
                    let cos: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                    assert!(cos > 0.99, "cosine {cos}");
                }
            }
            other => {
                assert_eq!(other, Precision::F32);
                println!("int8 not available here: Auto fell back to f32");
            }
        }
        enc.set_precision(Precision::F32).unwrap();
        assert_eq!(enc.embed(&seqs).unwrap(), reference);
    }

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
        assert!(exp(-1000.0) < 1e-37);
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
