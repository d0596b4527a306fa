//! AVX-512 VNNI versions of the Q4_K and Q6_K products of [`super::exact`], bit-identical to its
//! scalar references.
//!
//! One 512-bit lane per weight row: a tile of 16 rows is first unpacked ("repacked", as
//! llama.cpp's `block_q4_Kx8` does for 8 rows) into one vector per quad of elements, lane `i`
//! holding the four levels `4k..4k+4` of row `i`. A `vpdpbusd` of such a vector against the
//! four matching activation bytes broadcast to every lane then adds one 4-element dot product
//! to each of the 16 rows, so the integer sums per group come out one row per lane without any
//! horizontal reduction, and every float operation of ggml's order is one vector instruction
//! over 16 outputs, in exactly the scalar reference's sequence for each of them. The unpacked
//! tile is reused for every token of the panel, several tokens at a time.
//!
//! Integer arithmetic is exact in any order; the only float steps (conversions of exact
//! integers, products of the f16 scales with the activation's `d`, FMAs, the final sums) are
//! done per lane in the reference's order, with the same roundings (`vcvtdq2ps` and the FMAs
//! round to nearest even, as Rust's `as f32` and `mul_add`).

use super::exact::{Q4kOrder, Q6kOrder};
use super::{q4_k, q6_k, q8_k, QK_K};
use crate::quant::BatchPos;
use std::arch::x86_64::*;

/// Rows per tile (one per 32-bit lane).
const ROWS: usize = 16;
/// Tokens per pass over an unpacked tile.
const TOKENS: usize = 4;
/// Up to this many tokens, unpacking a tile (gathers across 16 rows) costs more than it saves:
/// such panels (matrix-vector products above all) go row at a time ([`q4_row_gemv`],
/// [`q6_row_lanes`]; the AVX2 kernels for the rare other orders).
const FEW_TOKENS: usize = 2;
/// Quads of 4 elements per super-block.
const QUADS: usize = QK_K / 4;

/// One super-block of a Q4_K tile: levels per quad, 6-bit scales and mins per group of 32,
/// `d` and `dmin`, all one lane per row.
#[derive(Clone, Copy)]
#[repr(C)]
struct Q4Tile {
    q: [__m512i; QUADS],
    sc: [__m512i; 8],
    mn: [__m512i; 8],
    d: __m512,
    dmin: __m512,
}

/// One super-block of a Q6_K tile: unsigned 6-bit levels per quad, scales per group of 16, `d`.
#[derive(Clone, Copy)]
#[repr(C)]
struct Q6Tile {
    q: [__m512i; QUADS],
    sc: [__m512i; 16],
    d: __m512,
}

/// Dword `off` bytes into each of the 16 rows at `base + idx[i]`.
#[inline(always)]
unsafe fn gather(base: *const u8, idx: __m512i, off: usize) -> __m512i {
    _mm512_i32gather_epi32::<1>(idx, base.add(off) as *const _)
}

/// Lanes shifted right by `n` bits (logical), then masked with `m`.
#[inline(always)]
unsafe fn bits(v: __m512i, n: u32, m: i32) -> __m512i {
    _mm512_and_si512(
        _mm512_srlv_epi32(v, _mm512_set1_epi32(n as i32)),
        _mm512_set1_epi32(m),
    )
}

/// The low 16 bits of each lane as an f16, to f32 (exact).
#[inline(always)]
unsafe fn f16_lo(v: __m512i) -> __m512 {
    _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v))
}

/// Four activation bytes `y[off..off + 4]` in every lane.
#[inline(always)]
unsafe fn bcast(y: *const u8, off: usize) -> __m512i {
    _mm512_set1_epi32((y.add(off) as *const i32).read_unaligned())
}

#[inline(always)]
unsafe fn act_d(y: *const u8) -> f32 {
    (y as *const f32).read_unaligned()
}

#[inline(always)]
unsafe fn act_bsum(y: *const u8, j: usize) -> i32 {
    (y.add(q8_k::OFF_BSUMS + 2 * j) as *const i16).read_unaligned() as i32
}

/// Lane `i`: the byte offset of row `min(i, rows - 1)` from the tile's first row.
#[inline(always)]
unsafe fn row_offsets(rows: usize, row_bytes: usize) -> __m512i {
    let mut o = [0i32; ROWS];
    for (i, v) in o.iter_mut().enumerate() {
        *v = (i.min(rows - 1) * row_bytes) as i32;
    }
    _mm512_loadu_si512(o.as_ptr() as *const _)
}

/// Prefetch `len` bytes at `p` (the next tile's `b`-th slice while block `b` is unpacked): the
/// 16 rows are read across, lanes of one gather hitting 16 different lines, which the hardware
/// prefetcher does not anticipate (matrix-vector products stream the weights from memory).
#[inline(always)]
unsafe fn prefetch(p: *const u8, len: usize) {
    if !p.is_null() {
        for l in 0..len.div_ceil(64) {
            _mm_prefetch::<_MM_HINT_T0>(p.add(64 * l) as *const i8);
        }
    }
}

/// Unpack `nb` Q4_K super-blocks of the rows at `base + idx[i]` (row-contiguous blocks).
#[inline(always)]
unsafe fn repack_q4(base: *const u8, idx: __m512i, nb: usize, tiles: &mut [Q4Tile], next: Next) {
    let m4 = _mm512_set1_epi8(0x0F);
    for (b, t) in tiles.iter_mut().enumerate().take(nb) {
        prefetch(next.at(b), next.len);
        let x = base.add(b * q4_k::BLOCK);
        for c in 0..4 {
            for q in 0..8 {
                let v = gather(x, idx, q4_k::QS + 32 * c + 4 * q);
                // Elements 64c + 4q (low nibbles) and 64c + 32 + 4q (high nibbles).
                t.q[16 * c + q] = _mm512_and_si512(v, m4);
                t.q[16 * c + 8 + q] = _mm512_and_si512(_mm512_srli_epi32::<4>(v), m4);
            }
        }
        let h = gather(x, idx, q4_k::D);
        t.d = f16_lo(h);
        t.dmin = f16_lo(_mm512_srli_epi32::<16>(h));
        let s0 = gather(x, idx, q4_k::SCALES);
        let s1 = gather(x, idx, q4_k::SCALES + 4);
        let s2 = gather(x, idx, q4_k::SCALES + 8);
        // ggml's get_scale_min_k4, one row per lane.
        for j in 0..4u32 {
            t.sc[j as usize] = bits(s0, 8 * j, 63);
            t.mn[j as usize] = bits(s1, 8 * j, 63);
            t.sc[j as usize + 4] = _mm512_or_si512(
                bits(s2, 8 * j, 0xF),
                _mm512_slli_epi32::<4>(bits(s0, 8 * j + 6, 3)),
            );
            t.mn[j as usize + 4] = _mm512_or_si512(
                bits(s2, 8 * j + 4, 0xF),
                _mm512_slli_epi32::<4>(bits(s1, 8 * j + 6, 3)),
            );
        }
    }
}

/// Unpack `nb` Q6_K super-blocks of the rows at `base + idx[i]`.
#[inline(always)]
unsafe fn repack_q6(base: *const u8, idx: __m512i, nb: usize, tiles: &mut [Q6Tile], next: Next) {
    let b8 = |v: u8| _mm512_set1_epi8(v as i8);
    for (b, t) in tiles.iter_mut().enumerate().take(nb) {
        prefetch(next.at(b), next.len);
        let x = base.add(b * q6_k::BLOCK);
        for n in 0..2 {
            for l4 in 0..8 {
                let l = 4 * l4;
                let lo1 = gather(x, idx, q6_k::QL + 64 * n + l);
                let lo2 = gather(x, idx, q6_k::QL + 64 * n + 32 + l);
                let hi = gather(x, idx, q6_k::QH + 32 * n + l);
                // Element 128n + 32k + l lands in quad 32n + 8k + l/4.
                let k0 = 32 * n + l4;
                t.q[k0] = _mm512_or_si512(
                    _mm512_and_si512(lo1, b8(0x0F)),
                    _mm512_slli_epi32::<4>(_mm512_and_si512(hi, b8(0x03))),
                );
                t.q[k0 + 8] = _mm512_or_si512(
                    _mm512_and_si512(lo2, b8(0x0F)),
                    _mm512_slli_epi32::<2>(_mm512_and_si512(hi, b8(0x0C))),
                );
                t.q[k0 + 16] = _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi32::<4>(lo1), b8(0x0F)),
                    _mm512_and_si512(hi, b8(0x30)),
                );
                t.q[k0 + 24] = _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi32::<4>(lo2), b8(0x0F)),
                    _mm512_srli_epi32::<2>(_mm512_and_si512(hi, b8(0xC0))),
                );
            }
        }
        for i in 0..4 {
            let s = gather(x, idx, q6_k::SCALES + 4 * i);
            for j in 0..4u32 {
                // Signed byte j of the dword.
                let v = _mm512_sllv_epi32(s, _mm512_set1_epi32(24 - 8 * j as i32));
                t.sc[4 * i + j as usize] = _mm512_srai_epi32::<24>(v);
            }
        }
        // The two bytes before `d` are scales (the block ends with `d`).
        let h = gather(x, idx, q6_k::D - 2);
        t.d = f16_lo(_mm512_srli_epi32::<16>(h));
    }
}

/// `T` tokens (activation rows `a + t * arow`) against an unpacked Q4_K tile, in ggml's gemm
/// (`GEMM`) or gemv order; lane `i` of token `t` goes to `out[t * ldo + i]` where `mask` has
/// bit `i`.
#[inline(always)]
unsafe fn q4_tokens<const T: usize, const GEMM: bool>(
    tiles: &[Q4Tile],
    a: *const u8,
    arow: usize,
    out: *mut f32,
    ldo: usize,
    mask: u16,
) {
    let z = _mm512_setzero_si512();
    let mut acc = [_mm512_setzero_ps(); T];
    let mut acc_min = [_mm512_setzero_ps(); T];
    for (b, tile) in tiles.iter().enumerate() {
        let y: [*const u8; T] = std::array::from_fn(|t| a.add(t * arow + b * q8_k::BLOCK));
        let mut scale = [_mm512_setzero_ps(); T];
        let mut scale_min = [_mm512_setzero_ps(); T];
        for t in 0..T {
            let dy = _mm512_set1_ps(act_d(y[t]));
            scale[t] = _mm512_mul_ps(tile.d, dy);
            scale_min[t] = _mm512_mul_ps(tile.dmin, dy);
        }
        let mut s_all = [z; T];
        let mut m_all = [z; T];
        for c in 0..4 {
            let mut lo = [z; T];
            let mut hi = [z; T];
            for q in 0..8 {
                let (wl, wh) = (tile.q[16 * c + q], tile.q[16 * c + 8 + q]);
                for t in 0..T {
                    let qs = y[t].add(q8_k::OFF_QS);
                    lo[t] = _mm512_dpbusd_epi32(lo[t], wl, bcast(qs, 64 * c + 4 * q));
                    hi[t] = _mm512_dpbusd_epi32(hi[t], wh, bcast(qs, 64 * c + 32 + 4 * q));
                }
            }
            for t in 0..T {
                let s = _mm512_add_epi32(
                    _mm512_mullo_epi32(tile.sc[2 * c], lo[t]),
                    _mm512_mullo_epi32(tile.sc[2 * c + 1], hi[t]),
                );
                let b0 = act_bsum(y[t], 4 * c) + act_bsum(y[t], 4 * c + 1);
                let b1 = act_bsum(y[t], 4 * c + 2) + act_bsum(y[t], 4 * c + 3);
                let m = _mm512_add_epi32(
                    _mm512_mullo_epi32(tile.mn[2 * c], _mm512_set1_epi32(b0)),
                    _mm512_mullo_epi32(tile.mn[2 * c + 1], _mm512_set1_epi32(b1)),
                );
                if GEMM {
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale[t], acc[t]);
                    acc_min[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), scale_min[t], acc_min[t]);
                } else {
                    s_all[t] = _mm512_add_epi32(s_all[t], s);
                    m_all[t] = _mm512_add_epi32(m_all[t], m);
                }
            }
        }
        if !GEMM {
            for t in 0..T {
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s_all[t]), scale[t], acc[t]);
                acc_min[t] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(m_all[t]), scale_min[t], acc_min[t]);
            }
        }
    }
    for t in 0..T {
        _mm512_mask_storeu_ps(out.add(t * ldo), mask, _mm512_sub_ps(acc[t], acc_min[t]));
    }
}

/// As [`q4_tokens`] for Q6_K in the tiled order.
#[inline(always)]
unsafe fn q6_tiled_tokens<const T: usize>(
    tiles: &[Q6Tile],
    a: *const u8,
    arow: usize,
    out: *mut f32,
    ldo: usize,
    mask: u16,
) {
    let z = _mm512_setzero_si512();
    let mut acc = [_mm512_setzero_ps(); T];
    for (b, tile) in tiles.iter().enumerate() {
        let y: [*const u8; T] = std::array::from_fn(|t| a.add(t * arow + b * q8_k::BLOCK));
        let mut s1 = [z; T];
        for s in 0..16 {
            let mut g = [z; T];
            for q in 0..4 {
                let w = tile.q[4 * s + q];
                for t in 0..T {
                    let qs = y[t].add(q8_k::OFF_QS);
                    g[t] = _mm512_dpbusd_epi32(g[t], w, bcast(qs, 16 * s + 4 * q));
                }
            }
            for t in 0..T {
                let off = _mm512_set1_epi32(32 * act_bsum(y[t], s));
                let v = _mm512_mullo_epi32(tile.sc[s], _mm512_sub_epi32(g[t], off));
                s1[t] = _mm512_add_epi32(s1[t], v);
            }
        }
        for t in 0..T {
            let res = _mm512_mul_ps(_mm512_cvtepi32_ps(s1[t]), tile.d);
            acc[t] = _mm512_fmadd_ps(res, _mm512_set1_ps(act_d(y[t])), acc[t]);
        }
    }
    for (t, &v) in acc.iter().enumerate() {
        _mm512_mask_storeu_ps(out.add(t * ldo), mask, v);
    }
}

/// As [`q4_tokens`] for Q6_K in the eight-lane order of `ggml_vec_dot_q6_K_q8_K`, one token.
#[inline(always)]
unsafe fn q6_lanes_token(tiles: &[Q6Tile], y0: *const u8, out: *mut f32, mask: u16) {
    let z = _mm512_setzero_si512();
    let mut lanes = [_mm512_setzero_ps(); 8];
    for (b, tile) in tiles.iter().enumerate() {
        let y = y0.add(b * q8_k::BLOCK);
        let qs = y.add(q8_k::OFF_QS);
        let d = _mm512_mul_ps(_mm512_set1_ps(act_d(y)), tile.d);
        let mut v = [z; 8];
        for c in 0..2 {
            for t in 0..4 {
                for (l, vl) in v.iter_mut().enumerate() {
                    let k = 32 * c + 8 * t + l;
                    let g = _mm512_dpbusd_epi32(z, tile.q[k], bcast(qs, 4 * k));
                    let p = _mm512_mullo_epi32(tile.sc[8 * c + 2 * t + l / 4], g);
                    *vl = _mm512_add_epi32(*vl, p);
                }
            }
        }
        for (l, vl) in v.iter_mut().enumerate() {
            let bias = _mm512_add_epi32(
                _mm512_mullo_epi32(tile.sc[2 * l], _mm512_set1_epi32(act_bsum(y, 2 * l))),
                _mm512_mullo_epi32(
                    tile.sc[2 * l + 1],
                    _mm512_set1_epi32(act_bsum(y, 2 * l + 1)),
                ),
            );
            *vl = _mm512_sub_epi32(*vl, _mm512_slli_epi32::<5>(bias));
            lanes[l] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(*vl), lanes[l]);
        }
    }
    let r: [__m512; 4] = std::array::from_fn(|i| _mm512_add_ps(lanes[i + 4], lanes[i]));
    let sum = _mm512_add_ps(_mm512_add_ps(r[0], r[2]), _mm512_add_ps(r[1], r[3]));
    _mm512_mask_storeu_ps(out, mask, sum);
}

/// The next tile's rows (contiguous, `nb * len` bytes from `p`; null at the last tile),
/// fetched `len` bytes per unpacked block.
#[derive(Clone, Copy)]
struct Next {
    p: *const u8,
    len: usize,
}

impl Next {
    /// For the tile at row `r0` of `nr` rows of `wrow` bytes (`nb` blocks).
    fn new(w: &[u8], r0: usize, nr: usize, wrow: usize, nb: usize) -> Next {
        let (s, e) = ((r0 + ROWS).min(nr), (r0 + 2 * ROWS).min(nr));
        if s == e {
            return Next {
                p: std::ptr::null(),
                len: 0,
            };
        }
        Next {
            p: w[s * wrow..].as_ptr(),
            len: ((e - s) * wrow).div_ceil(nb),
        }
    }

    /// Where block `b`'s share starts (null when there is nothing to fetch).
    #[inline(always)]
    fn at(self, b: usize) -> *const u8 {
        if self.p.is_null() {
            self.p
        } else {
            self.p.wrapping_add(b * self.len)
        }
    }
}

/// One Q4_K row against one Q8_K row in the gemv order, row at a time (no unpacked tile).
#[inline(always)]
unsafe fn q4_row_gemv(nb: usize, x0: *const u8, y0: *const u8) -> f32 {
    let m4 = _mm512_set1_epi8(0x0F);
    let shifts = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    let mut acc = 0.0f32;
    let mut acc_min = 0.0f32;
    for b in 0..nb {
        let x = x0.add(b * q4_k::BLOCK);
        let y = y0.add(b * q8_k::BLOCK);
        // ggml's get_scale_min_k4 for all eight pairs: bytes of `sc` and `mn`.
        let u = |i: usize| (x.add(q4_k::SCALES + 4 * i) as *const u32).read_unaligned();
        let (u0, u1, u2) = (u(0), u(1), u(2));
        let sc = (u0 & 0x3f3f_3f3f) as u64
            | (((u2 & 0x0f0f_0f0f) | ((u0 >> 2) & 0x3030_3030)) as u64) << 32;
        let mn = (u1 & 0x3f3f_3f3f) as u64
            | ((((u2 >> 4) & 0x0f0f_0f0f) | ((u1 >> 2) & 0x3030_3030)) as u64) << 32;
        let scv = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128(sc as i64));
        let mut s = _mm512_setzero_si512();
        for c in 0..4 {
            let bits = _mm256_loadu_si256(x.add(q4_k::QS + 32 * c) as *const __m256i);
            let v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(bits), bits);
            let w = _mm512_and_si512(_mm512_srlv_epi64(v, shifts), m4);
            let ya = _mm512_loadu_si512(y.add(q8_k::OFF_QS + 64 * c) as *const _);
            let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, ya);
            // Lanes 0..7: group 2c, lanes 8..15: group 2c + 1.
            let c2 = 2 * c as i32;
            let sel = _mm512_setr_epi32(
                c2,
                c2,
                c2,
                c2,
                c2,
                c2,
                c2,
                c2,
                c2 + 1,
                c2 + 1,
                c2 + 1,
                c2 + 1,
                c2 + 1,
                c2 + 1,
                c2 + 1,
                c2 + 1,
            );
            let sv = _mm512_permutexvar_epi32(sel, scv);
            s = _mm512_add_epi32(s, _mm512_mullo_epi32(sv, dot));
        }
        // Σ mn_j (bsum_2j + bsum_2j+1): pairs of i16 bsums times the mins, with vpmaddwd.
        let bs = _mm256_loadu_si256(y.add(q8_k::OFF_BSUMS) as *const __m256i);
        let mn16 = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(
            _mm_cvtsi64_si128(mn as i64),
            _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
        ));
        let m = _mm256_madd_epi16(bs, mn16);
        let si = _mm512_reduce_add_epi32(s);
        let mi = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(m));
        let dy = act_d(y);
        let scale = super::f16_at(std::slice::from_raw_parts(x, 4), q4_k::D) * dy;
        let scale_min = super::f16_at(std::slice::from_raw_parts(x, 4), q4_k::DMIN) * dy;
        acc = (si as f32).mul_add(scale, acc);
        acc_min = (mi as f32).mul_add(scale_min, acc_min);
    }
    acc - acc_min
}

/// One Q6_K row against one Q8_K row in the eight-lane order, row at a time.
#[inline(always)]
unsafe fn q6_row_lanes(nb: usize, x0: *const u8, y0: *const u8) -> f32 {
    let m15 = _mm256_set1_epi8(15);
    let mut lanes = _mm256_setzero_ps();
    for b in 0..nb {
        let x = x0.add(b * q6_k::BLOCK);
        let y = y0.add(b * q8_k::BLOCK);
        let sc8 = _mm_loadu_si128(x.add(q6_k::SCALES) as *const __m128i);
        let sc32 = _mm512_cvtepi8_epi32(sc8);
        let mut tot = _mm512_setzero_si512();
        for c in 0..2 {
            let ql1 = _mm256_loadu_si256(x.add(q6_k::QL + 64 * c) as *const __m256i);
            let ql2 = _mm256_loadu_si256(x.add(q6_k::QL + 64 * c + 32) as *const __m256i);
            let qh = _mm256_loadu_si256(x.add(q6_k::QH + 32 * c) as *const __m256i);
            let u = [
                _mm256_or_si256(
                    _mm256_and_si256(ql1, m15),
                    _mm256_slli_epi16::<4>(_mm256_and_si256(qh, _mm256_set1_epi8(3))),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql2, m15),
                    _mm256_slli_epi16::<2>(_mm256_and_si256(qh, _mm256_set1_epi8(12))),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m15),
                    _mm256_and_si256(qh, _mm256_set1_epi8(48)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql2), m15),
                    _mm256_srli_epi16::<2>(_mm256_and_si256(qh, _mm256_set1_epi8(-64))),
                ),
            ];
            for h in 0..2 {
                // Elements 64m..64m + 64, m = 2c + h; lane i is the 4-element group 16m + i,
                // whose scale is sc[4m + i/4].
                let m = 2 * c + h;
                let w = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(u[2 * h]), u[2 * h + 1]);
                let ya = _mm512_loadu_si512(y.add(q8_k::OFF_QS + 64 * m) as *const _);
                let g = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, ya);
                let k = 4 * m as i32;
                let sel = _mm512_setr_epi32(
                    k,
                    k,
                    k,
                    k,
                    k + 1,
                    k + 1,
                    k + 1,
                    k + 1,
                    k + 2,
                    k + 2,
                    k + 2,
                    k + 2,
                    k + 3,
                    k + 3,
                    k + 3,
                    k + 3,
                );
                let sv = _mm512_permutexvar_epi32(sel, sc32);
                tot = _mm512_add_epi32(tot, _mm512_mullo_epi32(sv, g));
            }
        }
        // Lane l: lanes l and l + 8 of `tot`, less 32 (bsum_2l sc_2l + bsum_2l+1 sc_2l+1).
        let v = _mm256_add_epi32(
            _mm512_castsi512_si256(tot),
            _mm512_extracti64x4_epi64::<1>(tot),
        );
        let bs = _mm256_loadu_si256(y.add(q8_k::OFF_BSUMS) as *const __m256i);
        let bias = _mm256_madd_epi16(bs, _mm256_cvtepi8_epi16(sc8));
        let v = _mm256_sub_epi32(v, _mm256_slli_epi32::<5>(bias));
        let d = act_d(y) * super::f16_at(std::slice::from_raw_parts(x, q6_k::BLOCK), q6_k::D);
        lanes = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(v), lanes);
    }
    let mut l = [0f32; 8];
    _mm256_storeu_ps(l.as_mut_ptr(), lanes);
    let r: [f32; 4] = std::array::from_fn(|i| l[i + 4] + l[i]);
    (r[0] + r[2]) + (r[1] + r[3])
}

/// Row-at-a-time products for panels of few tokens: `dot(w_row, a_row)` per output, with the
/// next row prefetched.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_with(
    nb: usize,
    w: &[u8],
    nr: usize,
    wrow: usize,
    a: &[u8],
    nt: usize,
    out: *mut f32,
    ldo: usize,
    dot: impl Fn(*const u8, *const u8) -> f32,
) {
    let arow = nb * q8_k::BLOCK;
    for r in 0..nr {
        let x = w.as_ptr().add(r * wrow);
        if r + 1 < nr {
            prefetch(x.add(wrow), wrow);
        }
        for t in 0..nt {
            *out.add(t * ldo + r) = dot(x, a.as_ptr().add(t * arow));
        }
    }
}

/// Common checks of a gemm call; the number of super-blocks per row.
fn check(n: usize, w: &[u8], nr: usize, w_block: usize, a: &[u8], nt: usize) -> usize {
    assert!(n.is_multiple_of(QK_K));
    let nb = n / QK_K;
    assert!(w.len() >= nr * nb * w_block && a.len() >= nt * nb * q8_k::BLOCK);
    // Lane offsets within a tile are i32.
    assert!(ROWS * nb * w_block <= i32::MAX as usize);
    nb
}

/// Calls `run(t0, T)` over tokens `from..to`, `TOKENS` at a time then the rest at once.
macro_rules! token_steps {
    ($from:expr, $to:expr, |$t0:ident, $tn:ident| $body:expr) => {{
        let mut $t0 = $from;
        while $t0 < $to {
            let $tn = ($to - $t0).min(TOKENS);
            $body;
            $t0 += $tn;
        }
    }};
}

/// Q4_K gemm in ggml's order (see [`Q4kOrder`]).
///
/// # Safety
/// As [`crate::quant::GemmFn`], with AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C present.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn gemm_q4k(
    n: usize,
    w: &[u8],
    nr: usize,
    a: &[u8],
    nt: usize,
    out: *mut f32,
    ldo: usize,
    batch: BatchPos,
) {
    let nb = check(n, w, nr, q4_k::BLOCK, a, nt);
    if nr == 0 || nt == 0 {
        return;
    }
    if nt <= FEW_TOKENS {
        let (wrow, gemv) = (
            nb * q4_k::BLOCK,
            batch.first >= batch.total - batch.total % 4,
        );
        if gemv {
            rows_with(nb, w, nr, wrow, a, nt, out, ldo, |x, y| {
                q4_row_gemv(nb, x, y)
            });
            return;
        }
        // SAFETY: AVX2 and FMA are present (this function's contract).
        return unsafe { super::exact::avx2::gemm_q4k(n, w, nr, a, nt, out, ldo, batch) };
    }
    let (wrow, arow) = (nb * q4_k::BLOCK, nb * q8_k::BLOCK);
    // Tokens before `gemm_end` are in the gemm order, the others in the gemv order.
    let gemm_end = (batch.total - batch.total % 4)
        .saturating_sub(batch.first)
        .min(nt);
    debug_assert!(
        gemm_end == 0
            || Q4kOrder::for_token(batch.first + gemm_end - 1, batch.total) == Q4kOrder::Gemm
    );
    // SAFETY: every bit pattern is a valid vector.
    let mut tiles: Vec<Q4Tile> = vec![unsafe { std::mem::zeroed() }; nb];
    let ap = a.as_ptr();
    for r0 in (0..nr).step_by(ROWS) {
        let rows = (nr - r0).min(ROWS);
        let mask = if rows == ROWS {
            !0u16
        } else {
            (1u16 << rows) - 1
        };
        let idx = row_offsets(rows, wrow);
        repack_q4(
            w.as_ptr().add(r0 * wrow),
            idx,
            nb,
            &mut tiles,
            Next::new(w, r0, nr, wrow, nb),
        );
        let o = |t0: usize| out.add(t0 * ldo + r0);
        token_steps!(0, gemm_end, |t0, tn| {
            let at = ap.add(t0 * arow);
            match tn {
                4 => q4_tokens::<4, true>(&tiles, at, arow, o(t0), ldo, mask),
                3 => q4_tokens::<3, true>(&tiles, at, arow, o(t0), ldo, mask),
                2 => q4_tokens::<2, true>(&tiles, at, arow, o(t0), ldo, mask),
                _ => q4_tokens::<1, true>(&tiles, at, arow, o(t0), ldo, mask),
            }
        });
        token_steps!(gemm_end, nt, |t0, tn| {
            let at = ap.add(t0 * arow);
            match tn {
                4 => q4_tokens::<4, false>(&tiles, at, arow, o(t0), ldo, mask),
                3 => q4_tokens::<3, false>(&tiles, at, arow, o(t0), ldo, mask),
                2 => q4_tokens::<2, false>(&tiles, at, arow, o(t0), ldo, mask),
                _ => q4_tokens::<1, false>(&tiles, at, arow, o(t0), ldo, mask),
            }
        });
    }
}

/// Q6_K gemm in ggml's order (see [`Q6kOrder`]).
///
/// # Safety
/// As [`crate::quant::GemmFn`], with AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C present.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn gemm_q6k(
    n: usize,
    w: &[u8],
    nr: usize,
    a: &[u8],
    nt: usize,
    out: *mut f32,
    ldo: usize,
    batch: BatchPos,
) {
    let nb = check(n, w, nr, q6_k::BLOCK, a, nt);
    if nr == 0 || nt == 0 {
        return;
    }
    if nt <= FEW_TOKENS {
        let wrow = nb * q6_k::BLOCK;
        if Q6kOrder::for_batch(batch.total) == Q6kOrder::Lanes {
            rows_with(nb, w, nr, wrow, a, nt, out, ldo, |x, y| {
                q6_row_lanes(nb, x, y)
            });
            return;
        }
        // SAFETY: AVX2 and FMA are present (this function's contract).
        return unsafe { super::exact::avx2::gemm_q6k(n, w, nr, a, nt, out, ldo, batch) };
    }
    let (wrow, arow) = (nb * q6_k::BLOCK, nb * q8_k::BLOCK);
    let order = Q6kOrder::for_batch(batch.total);
    // SAFETY: every bit pattern is a valid vector.
    let mut tiles: Vec<Q6Tile> = vec![unsafe { std::mem::zeroed() }; nb];
    let ap = a.as_ptr();
    for r0 in (0..nr).step_by(ROWS) {
        let rows = (nr - r0).min(ROWS);
        let mask = if rows == ROWS {
            !0u16
        } else {
            (1u16 << rows) - 1
        };
        let idx = row_offsets(rows, wrow);
        repack_q6(
            w.as_ptr().add(r0 * wrow),
            idx,
            nb,
            &mut tiles,
            Next::new(w, r0, nr, wrow, nb),
        );
        let o = |t0: usize| out.add(t0 * ldo + r0);
        match order {
            Q6kOrder::Tiled => token_steps!(0, nt, |t0, tn| {
                let at = ap.add(t0 * arow);
                match tn {
                    4 => q6_tiled_tokens::<4>(&tiles, at, arow, o(t0), ldo, mask),
                    3 => q6_tiled_tokens::<3>(&tiles, at, arow, o(t0), ldo, mask),
                    2 => q6_tiled_tokens::<2>(&tiles, at, arow, o(t0), ldo, mask),
                    _ => q6_tiled_tokens::<1>(&tiles, at, arow, o(t0), ldo, mask),
                }
            }),
            Q6kOrder::Lanes => {
                for t in 0..nt {
                    q6_lanes_token(&tiles, ap.add(t * arow), o(t), mask);
                }
            }
        }
    }
}
