//! int8 products for the linear layers on AVX-512 VNNI (`vpdpbusd`: 64
//! u8×i8 multiply-adds per instruction against 16 f32 FMAs), about 4x the
//! arithmetic of the f32 path per instruction.
//!
//! - Weights are quantized once, per output column, symmetrically to i8
//!   (`w ≈ scale_c · q`), and packed for `vpdpbusd`: for each block of 16
//!   columns, each group of 4 consecutive inputs is one 64-byte vector
//!   (16 columns × 4 inputs).
//! - Activations are quantized per row when the product runs, asymmetrically
//!   to u8 over the row's own range (`x ≈ min_r + scale_r · a`): GELU outputs
//!   are nearly one-signed, so this keeps all 8 bits where a symmetric code
//!   would waste one.
//! - `Σ x·w ≈ scale_c · (scale_r · Σ a·q + min_r · Σ q)`: the i32 sum of
//!   `a·q` comes from the kernel, `Σ q` (the column sum) is precomputed, and
//!   bias and residual are added in the same epilogue.
//!
//! Everything unsafe here is only reached through [`Int8Weight::forward`],
//! which the caller may only use once [`available`] says the CPU has the
//! instructions.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

/// Columns per `vpdpbusd` vector (16 i32 lanes).
const BLOCK: usize = 16;
/// Rows per microkernel tile: 6 rows × 4 column vectors = 24 accumulators,
/// plus 4 weight vectors and a broadcast, of 32 zmm registers.
const MR: usize = 6;
/// Column vectors per microkernel tile.
const NR: usize = 4;
/// Rows per rayon task: the task's quantized rows (≤ 48 × 1536 bytes) stay
/// in L2 while it sweeps its column panel.
const ROWS_PER_TASK: usize = 8 * MR;

/// Whether this CPU can run the int8 path (AVX-512 F/BW and VNNI).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A linear layer's weight quantized to i8 per output column and packed for
/// `vpdpbusd`.
pub struct Int8Weight {
    /// `[column block][input group][16 columns][4 inputs]`, zero-padded to
    /// whole blocks and groups.
    packed: Vec<i8>,
    /// Per column (padded to whole blocks): `w ≈ scale · q`.
    scale: Vec<f32>,
    /// Per column (padded): `Σ_k q[k]`, exact in f32 (|Σ| < 2^24).
    colsum: Vec<f32>,
    inputs: usize,
    outputs: usize,
    /// Input groups of 4.
    groups: usize,
    /// Column blocks of 16.
    blocks: usize,
}

impl Int8Weight {
    /// Quantizes `weight_t` (`[inputs, outputs]`, row-major).
    pub fn new(weight_t: &[f32], inputs: usize, outputs: usize) -> Int8Weight {
        debug_assert_eq!(weight_t.len(), inputs * outputs);
        let groups = inputs.div_ceil(4);
        let blocks = outputs.div_ceil(BLOCK);
        let mut scale = vec![0f32; blocks * BLOCK];
        let mut colsum = vec![0f32; blocks * BLOCK];
        let mut packed = vec![0i8; blocks * groups * BLOCK * 4];
        for c in 0..outputs {
            let column = || (0..inputs).map(|k| weight_t[k * outputs + c]);
            let max = column().fold(0f32, |m, w| m.max(w.abs()));
            let s = if max > 0.0 && max.is_finite() { max / 127.0 } else { 1.0 };
            scale[c] = s;
            let (block, lane) = (c / BLOCK, c % BLOCK);
            let mut sum = 0i32;
            for (k, w) in column().enumerate() {
                let q = (w / s).round().clamp(-127.0, 127.0) as i8;
                sum += q as i32;
                packed[((block * groups + k / 4) * BLOCK + lane) * 4 + k % 4] = q;
            }
            colsum[c] = sum as f32;
        }
        Int8Weight {
            packed,
            scale,
            colsum,
            inputs,
            outputs,
            groups,
            blocks,
        }
    }

    /// `dst[rows × out] = bias (+ residual) + x[rows × in] · W`, with `x`
    /// quantized per row.
    ///
    /// # Safety
    /// The CPU must have the features [`available`] checks.
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn forward(&self, x: &[f32], bias: &[f32], residual: Option<&[f32]>, rows: usize, dst: &mut [f32]) {
        let (k, n) = (self.inputs, self.outputs);
        if rows == 0 || n == 0 || k == 0 {
            return;
        }
        assert!(x.len() >= rows * k && dst.len() >= rows * n && bias.len() >= n);
        if let Some(r) = residual {
            assert!(r.len() >= rows * n);
        }
        let stride = self.groups * 4;
        let mut quant = vec![0u8; rows * stride];
        let mut offsets = vec![(0f32, 0f32); rows];
        quant
            .par_chunks_mut(stride * ROWS_PER_TASK)
            .zip(offsets.par_chunks_mut(ROWS_PER_TASK))
            .zip(x[..rows * k].par_chunks(k * ROWS_PER_TASK))
            .for_each(|((q, o), x)| {
                for ((q, o), x) in q.chunks_exact_mut(stride).zip(o).zip(x.chunks_exact(k)) {
                    // SAFETY: the caller vouches for the CPU features.
                    *o = unsafe { quantize_row(x, q) };
                }
            });
        let row_tasks = rows.div_ceil(ROWS_PER_TASK);
        let col_tasks = self.blocks.div_ceil(NR);
        let out = SharedMut(dst.as_mut_ptr());
        (0..row_tasks * col_tasks).into_par_iter().for_each(|task| {
            let (rt, ct) = (task / col_tasks, task % col_tasks);
            let row_end = ((rt + 1) * ROWS_PER_TASK).min(rows);
            let block0 = ct * NR;
            let nr = NR.min(self.blocks - block0);
            let out = &out;
            let mut r0 = rt * ROWS_PER_TASK;
            while r0 < row_end {
                let mr = MR.min(row_end - r0);
                let tile = Tile {
                    row0: r0,
                    block0,
                    quant: &quant,
                    offsets: &offsets,
                    stride,
                    bias,
                    residual,
                    dst: out.0,
                };
                // SAFETY: the caller vouches for the CPU features; the tile
                // (rows r0..r0+mr, blocks block0..block0+nr) lies inside
                // every buffer (checked above), and tasks write disjoint
                // tiles of `dst`.
                unsafe { tile_dispatch(self, &tile, mr, nr) };
                r0 += mr;
            }
        });
    }
}

/// One microkernel tile's inputs and output.
struct Tile<'a> {
    row0: usize,
    block0: usize,
    /// Quantized rows, `stride` bytes apart.
    quant: &'a [u8],
    /// Per row `(scale, min)`.
    offsets: &'a [(f32, f32)],
    stride: usize,
    bias: &'a [f32],
    residual: Option<&'a [f32]>,
    dst: *mut f32,
}

/// A raw pointer rayon tasks may share; they write disjoint tiles.
struct SharedMut(*mut f32);
// SAFETY: used only for disjoint writes (see `Int8Weight::forward`).
unsafe impl Sync for SharedMut {}
unsafe impl Send for SharedMut {}

/// Calls the microkernel monomorphised for an `mr × nr` tile.
///
/// # Safety
/// As [`tile_kernel`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile_dispatch(w: &Int8Weight, t: &Tile, mr: usize, nr: usize) {
    macro_rules! by_rows {
        ($nr:literal) => {
            match mr {
                1 => tile_kernel::<1, $nr>(w, t),
                2 => tile_kernel::<2, $nr>(w, t),
                3 => tile_kernel::<3, $nr>(w, t),
                4 => tile_kernel::<4, $nr>(w, t),
                5 => tile_kernel::<5, $nr>(w, t),
                _ => tile_kernel::<6, $nr>(w, t),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match nr {
            1 => by_rows!(1),
            2 => by_rows!(2),
            3 => by_rows!(3),
            _ => by_rows!(4),
        }
    }
}

/// `M` rows × `N` column blocks of the product, with the epilogue.
///
/// # Safety
/// The CPU must have AVX-512 F/BW and VNNI; rows `row0..row0+M` must exist
/// in `quant`, `offsets`, `residual` and `dst`, and column blocks
/// `block0..block0+N` in the weight; no other thread may touch that part of
/// `dst`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_kernel<const M: usize, const N: usize>(w: &Int8Weight, t: &Tile) {
    let groups = w.groups;
    let mut acc = [[_mm512_setzero_si512(); N]; M];
    let a_rows: [*const u8; M] = std::array::from_fn(|r| t.quant[(t.row0 + r) * t.stride..].as_ptr());
    let b_base: [*const i8; N] = std::array::from_fn(|j| w.packed[(t.block0 + j) * groups * BLOCK * 4..].as_ptr());
    for g in 0..groups {
        // SAFETY: group g of block block0+j is inside `packed`, bytes
        // 4g..4g+4 of each row inside `quant` (rows are `groups·4` long).
        unsafe {
            let mut b = [_mm512_setzero_si512(); N];
            for j in 0..N {
                b[j] = _mm512_loadu_si512(b_base[j].add(g * 64).cast());
            }
            for r in 0..M {
                let a = _mm512_set1_epi32(a_rows[r].add(g * 4).cast::<i32>().read_unaligned());
                for j in 0..N {
                    acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], a, b[j]);
                }
            }
        }
    }
    let n = w.outputs;
    for (r, acc_row) in acc.iter().enumerate() {
        let row = t.row0 + r;
        let (rs, rmin) = t.offsets[row];
        let (rs, rmin) = (_mm512_set1_ps(rs), _mm512_set1_ps(rmin));
        for (j, &acc) in acc_row.iter().enumerate() {
            let c0 = (t.block0 + j) * BLOCK;
            let valid = (n - c0).min(BLOCK);
            let mask: __mmask16 = if valid == BLOCK { !0 } else { (1u16 << valid) - 1 };
            // SAFETY: columns c0..c0+16 of the padded per-column vectors
            // exist; bias, residual and dst are read/written under `mask`
            // (columns < n) in row `row`, which the caller guarantees.
            unsafe {
                let scale = _mm512_loadu_ps(w.scale[c0..].as_ptr());
                let colsum = _mm512_loadu_ps(w.colsum[c0..].as_ptr());
                let bias = _mm512_maskz_loadu_ps(mask, t.bias[c0..].as_ptr());
                let dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), rs, _mm512_mul_ps(rmin, colsum));
                let mut v = _mm512_fmadd_ps(dot, scale, bias);
                if let Some(res) = t.residual {
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, res[row * n + c0..].as_ptr()));
                }
                _mm512_mask_storeu_ps(t.dst.add(row * n + c0), mask, v);
            }
        }
    }
}

/// Quantizes one row to u8 over its own range (`x ≈ min + scale · q`) into
/// `q` (zero-padded past `x.len()`); returns `(scale, min)`.
///
/// # Safety
/// The CPU must have AVX-512 F/BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_row(x: &[f32], q: &mut [u8]) -> (f32, f32) {
    let k = x.len();
    debug_assert!(q.len() >= k);
    let tail_mask = |i: usize| -> __mmask16 {
        let left = k - i;
        if left >= 16 { !0 } else { (1u16 << left) - 1 }
    };
    let mut lo = _mm512_set1_ps(f32::INFINITY);
    let mut hi = _mm512_set1_ps(f32::NEG_INFINITY);
    let mut i = 0;
    while i < k {
        let m = tail_mask(i);
        // SAFETY: lanes under `m` are elements i..min(i+16, k) of `x`.
        let v = unsafe { _mm512_maskz_loadu_ps(m, x.as_ptr().add(i)) };
        lo = _mm512_mask_min_ps(lo, m, lo, v);
        hi = _mm512_mask_max_ps(hi, m, hi, v);
        i += 16;
    }
    let (min, max) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
    let range = max - min;
    // A constant (or non-finite) row: every code is 0 and `min` carries it.
    let scale = if range > 0.0 && range.is_finite() {
        range / 255.0
    } else {
        1.0
    };
    let (vmin, inv) = (_mm512_set1_ps(min), _mm512_set1_ps(1.0 / scale));
    let mut i = 0;
    while i < k {
        let m = tail_mask(i);
        // SAFETY: as above for `x`; `q` has at least k bytes.
        unsafe {
            let v = _mm512_maskz_loadu_ps(m, x.as_ptr().add(i));
            // Rounds to nearest; the unsigned saturating narrow clamps to 0..=255.
            let codes = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(v, vmin), inv));
            _mm512_mask_cvtusepi32_storeu_epi8(q.as_mut_ptr().add(i).cast(), m, codes);
        }
        i += 16;
    }
    q[k..].fill(0);
    (scale, min)
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// Deterministic pseudo-random values in [-1, 1) (xorshift).
    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn reference(x: &[f32], w: &[f32], bias: &[f32], res: Option<&[f32]>, rows: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0f64; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let mut s = bias[c] as f64 + res.map_or(0.0, |res| res[r * n + c] as f64);
                for i in 0..k {
                    s += x[r * k + i] as f64 * w[i * n + c] as f64;
                }
                out[r * n + c] = s;
            }
        }
        out
    }

    #[test]
    fn int8_product_matches_f32_on_odd_sizes() {
        if !available() {
            println!("skipped: this CPU lacks AVX-512 VNNI");
            return;
        }
        // Sizes off every block: rows vs MR (6) and the task (48), columns
        // vs 16 and 64, inputs vs the group of 4.
        for (rows, k, n, seed) in [
            (1, 1, 1, 1),
            (5, 7, 17, 2),
            (7, 33, 65, 3),
            (49, 130, 100, 4),
            (97, 384, 1152, 5),
            (13, 1536, 384, 6),
        ] {
            let x: Vec<f32> = random(rows * k, seed).iter().map(|v| v * 3.0 + 0.5).collect();
            let w = random(k * n, seed + 100);
            let bias = random(n, seed + 200);
            let res = random(rows * n, seed + 300);
            let q = Int8Weight::new(&w, k, n);
            for residual in [None, Some(res.as_slice())] {
                let want = reference(&x, &w, &bias, residual, rows, k, n);
                // Sentinel past the end: must stay untouched.
                let mut got = vec![f32::NAN; rows * n + 3];
                // SAFETY: `available()` was checked above.
                unsafe { q.forward(&x, &bias, residual, rows, &mut got) };
                assert!(got[rows * n..].iter().all(|v| v.is_nan()), "wrote past the end");
                // Error relative to the product's own scale (the norm of x·W
                // per row), as quantization error scales with it.
                let mut worst = 0f64;
                for r in 0..rows {
                    let exact = reference(&x[r * k..][..k], &w, &vec![0.0; n], None, 1, k, n);
                    let norm = (exact.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt().max(1e-6);
                    for c in 0..n {
                        let err = (got[r * n + c] as f64 - want[r * n + c]).abs() / norm;
                        worst = worst.max(err);
                        assert!(
                            err < 0.04,
                            "{rows}x{k}x{n} at ({r},{c}): {} vs {}",
                            got[r * n + c],
                            want[r * n + c]
                        );
                    }
                }
                println!("{rows}x{k}x{n}: worst error {worst:.4} of the row's rms");
            }
        }
    }

    #[test]
    fn constant_and_zero_rows_are_exact_enough() {
        if !available() {
            println!("skipped: this CPU lacks AVX-512 VNNI");
            return;
        }
        let (k, n) = (20, 18);
        let w = random(k * n, 9);
        let q = Int8Weight::new(&w, k, n);
        let bias = vec![0.25f32; n];
        for value in [0.0f32, 1.5] {
            let x = vec![value; 2 * k];
            let mut got = vec![0f32; 2 * n];
            // SAFETY: `available()` was checked above.
            unsafe { q.forward(&x, &bias, None, 2, &mut got) };
            let want = reference(&x, &w, &bias, None, 2, k, n);
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 0.05 * value.max(0.1) as f64, "{g} vs {w}");
            }
        }
    }
}
