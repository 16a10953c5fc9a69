/* The CPU MoE path in native code (AVX2 + FMA + F16C, OpenMP): `tessera_moe` runs a whole
 * routed-expert layer — grouping by expert, gathers, both grouped GEMMs, SiLU(gate)·up, the
 * routing weights and the top-k sum — on vLLM's row-major weights, read in place
 * (w13[e] is [2I, H], w2[e] is [H, I]; float32, bfloat16 or float16).
 *
 * Why hand-written: torch's CPU GEMMs with a few rows run about one GEMV per row, so a decode
 * batch streams each expert's weights several times, and without native bf16 units they
 * cannot read bf16 weights at all without a converted copy; around them, ~20 small torch ops
 * cost a large share of a decode step.
 *
 * Three GEMM kernels, "y[r, j] = Σ_k x[r, k] · W_e[j, k] for every row r of expert e's
 * segment", chosen per expert:
 *   - weight streams (few rows: decode): several long sequential weight streams at once;
 *   - packed panels (many rows): float32 panels and an outer-product micro-kernel;
 *   - row blocks (widths that are not whole 64-byte lines): the general fallback.
 * Each output element is computed by one thread in a fixed order, so results do not depend
 * on the thread count.
 *
 * FP8 weights with bfloat16 activations take AVX-512 BF16 dot products in the weight streams
 * where the CPU has them (`cpu_native_dp.h`, chosen at run time); everything else is AVX2.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

enum { W_F32 = 0, W_BF16 = 1, W_F16 = 2, W_FP8 = 3 };
enum { ROWS = 4, COLS_PER_TILE = 24, ROW_BLOCK = 64, SERIAL_BELOW_ROWS = 64 };

static inline __attribute__((always_inline)) __m256 load8(const void *w, long i, int kind) {
    if (kind == W_BF16) {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    if (kind == W_F16) {
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    }
    return _mm256_loadu_ps((const float *)w + i);
}

static inline __attribute__((always_inline)) long elem_size(int kind) {
    return kind == W_F32 ? 4 : kind == W_FP8 ? 1 : 2;
}

/* ---- FP8 E4M3 weights ---------------------------------------------------------------------
 *
 * Widened in registers, never copied: each byte s.eeee.mmm becomes the float16 bit pattern
 * s.0eeee.mmm0000000 (two shifts and a mask on 16 lanes), which F16C widens to float32. That
 * float16 is the E4M3 value × 2^-8 exactly, subnormals included (the F16C unit handles them
 * whatever the denormal mode), so the scale carries the factor 256. E4M3's NaN pattern (0x7f)
 * reads as 480: a checkpoint holds no NaN weights.
 *
 * Scales (`wscale_t`, dequantised = fp8 · scale): weight row j of expert e, k-block kb uses
 * p[e · expert_stride + (j / rows_per) · row_stride + kb]. Per tensor: all strides 0, one
 * k-block; per expert: expert_stride 1; gate/up shards: rows_per = I, row_stride 1; one scale
 * per row (a linear layer's shards, expanded): rows_per 1, row_stride 1; 128×128 blocks:
 * rows_per 128, row_stride = k-blocks, k_block 128. k_block is k when there is one k-block. */
typedef struct { const float *p; long expert_stride; long rows_per; long row_stride; long k_block; } wscale_t;

static const wscale_t NO_SCALE = {0, 0, 1, 0, 1L << 30};

static inline float scale_at(const wscale_t *sc, long e, long j, long kb) {
    if (!sc->p) return 1.0f;
    return sc->p[e * sc->expert_stride + (j / sc->rows_per) * sc->row_stride + kb] * 256.0f;
}

/* 32 E4M3 bytes → four vectors of 8 floats (× 2^-8) in the fp8 order: weights
 * 0,2,..,14 | 16,18,..,30 | 1,3,..,15 | 17,19,..,31. */
static inline __attribute__((always_inline)) void load32_fp8(const void *p, __m256 *q) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)p);
    const __m256i mask = _mm256_set1_epi16((short)0xbf80);
    const __m256i even = _mm256_and_si256(_mm256_srai_epi16(_mm256_slli_epi16(v, 8), 1), mask);
    const __m256i odd = _mm256_and_si256(_mm256_srai_epi16(v, 1), mask);
    q[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(even));
    q[1] = _mm256_cvtph_ps(_mm256_extracti128_si256(even, 1));
    q[2] = _mm256_cvtph_ps(_mm256_castsi256_si128(odd));
    q[3] = _mm256_cvtph_ps(_mm256_extracti128_si256(odd, 1));
}


static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- Row blocks: the fallback for widths that are not whole 64-byte lines -------------
 *
 * Work is split into (segment, block of rows, tile of output columns) items; each weight row
 * is loaded once per group of up to four x rows and widened to float32 in registers. x rows
 * are in natural order. k % 8 == 0. */

/* nr rows (≤ ROWS) × nc output columns (≤ 8), starting at weight column j. With few rows,
 * more columns per block keep more independent FMA chains and weight streams in flight. */
static inline __attribute__((always_inline)) void block(const void *w, int kind, long j,
                                                        const float *x, float *y, int nr, int nc,
                                                        int n_out, int k) {
    __m256 acc[ROWS][8];
    #pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++)
        #pragma GCC unroll 8
        for (int c = 0; c < 8; c++) acc[r][c] = _mm256_setzero_ps();
    for (int kk = 0; kk < k; kk += 8) {
        __m256 wv[8];
        #pragma GCC unroll 8
        for (int c = 0; c < nc; c++) {
            const long at = (j + c) * (long)k + kk;
            /* Weights stream from DRAM once: one non-temporal prefetch per 64-byte line, two
             * blocks of columns ahead (measured: better than one or four, and NTA better than
             * T0 at one token). */
            if (((at * elem_size(kind)) & 63) == 0)
                _mm_prefetch((const char *)w + (at + 2 * nc * (long)k) * elem_size(kind),
                             _MM_HINT_NTA);
            wv[c] = load8(w, at, kind);
        }
        #pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            __m256 xv = _mm256_loadu_ps(x + (long)r * k + kk);
            #pragma GCC unroll 8
            for (int c = 0; c < nc; c++) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
        }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        #pragma GCC unroll 8
        for (int c = 0; c < nc; c++) y[(long)r * n_out + j + c] = hsum(acc[r][c]);
}

/* Constant row/column counts so the compiler keeps the accumulators in registers. Returns
 * how many columns it did: 8/6/4/3 for 1/2/3/4 rows (as many accumulators as fit the 16
 * vector registers), one at a tile's ragged end. COLS_PER_TILE is a multiple of each. */
static int block_any(const void *w, int kind, long j, const float *x, float *y, int nr,
                     int cols_left, int n_out, int k) {
#define COLS(R, K, WIDE)                                                            \
    if (cols_left >= WIDE) { block(w, K, j, x, y, R, WIDE, n_out, k); return WIDE; } \
    block(w, K, j, x, y, R, 1, n_out, k);                                           \
    return 1;
#define KINDS(R, WIDE)                                                              \
    if (kind == W_BF16) { COLS(R, W_BF16, WIDE) }                                  \
    else if (kind == W_F16) { COLS(R, W_F16, WIDE) }                                \
    else { COLS(R, W_F32, WIDE) }
    switch (nr) {
    case 1: KINDS(1, 8)
    case 2: KINDS(2, 6)
    case 3: KINDS(3, 4)
    default: KINDS(4, 3)
    }
#undef COLS
#undef KINDS
}

static int row_blocks(const int32_t *seg_lo, const int32_t *seg_hi, int s) {
    return (seg_hi[s] - seg_lo[s] + ROW_BLOCK - 1) / ROW_BLOCK;
}

static void grouped(const void *w, int kind, long expert_stride, const float *x,
                    float *y, const int32_t *seg_expert, const int32_t *seg_lo,
                    const int32_t *seg_hi, int num_segments, int n_out, int k) {
    const int elem = kind == W_F32 ? 4 : 2;
    const int tiles = (n_out + COLS_PER_TILE - 1) / COLS_PER_TILE;
    /* Items: (segment, block of up to ROW_BLOCK rows, tile of output columns). Consecutive
     * items share a row block, whose x rows stay in L2 while the tiles pass over them. */
    long items = 0;
    for (int s = 0; s < num_segments; s++) items += (long)row_blocks(seg_lo, seg_hi, s) * tiles;
#pragma omp parallel for schedule(static)
    for (long item = 0; item < items; item++) {
        long rest = item;
        int s = 0;
        for (;; s++) {
            const long here = (long)row_blocks(seg_lo, seg_hi, s) * tiles;
            if (rest < here) break;
            rest -= here;
        }
        const int lo = seg_lo[s] + (int)(rest / tiles) * ROW_BLOCK;
        const int hi = lo + ROW_BLOCK < seg_hi[s] ? lo + ROW_BLOCK : seg_hi[s];
        const int j0 = (int)(rest % tiles) * COLS_PER_TILE;
        const int j1 = j0 + COLS_PER_TILE < n_out ? j0 + COLS_PER_TILE : n_out;
        const char *we = (const char *)w + (long)seg_expert[s] * expert_stride * elem;
        /* The tile's weights (COLS_PER_TILE × k) stay in cache across the row groups. */
        for (int r0 = lo; r0 < hi; r0 += ROWS) {
            const int nr = hi - r0 < ROWS ? hi - r0 : ROWS;
            const float *xr = x + (long)r0 * k;
            float *yr = y + (long)r0 * n_out;
            for (int j = j0; j < j1;)
                j += block_any(we, kind, j, xr, yr, nr, j1 - j, n_out, k);
        }
    }
}

/* ---- Decode sizes: several long weight streams at once --------------------------------
 *
 * With a few rows per expert the cost is reading the expert's weights from memory, and one
 * core reads one sequential stream at ~8-10 GB/s here but four to eight far-apart streams at
 * ~15-17 GB/s (more misses in flight). So a work item takes ITEM_COLS output columns of one
 * expert and walks STREAMS sub-ranges of them side by side; each sub-range is a run of
 * consecutive weight rows, one long sequential stream in vLLM's row-major layout (no packed
 * copy needed). The STREAMS rows of one step (a few KiB) stay in L1 while every row group of
 * the segment passes over them.
 *
 * bf16 rows are widened 16 values per 32-byte load with one shift (even elements) and one
 * mask (odd elements), no shuffle; x is stored with each 16-block split into its even then
 * odd elements to match (the split order, below). */
enum { STREAMS = 4, STREAM_ROWS = 3, ITEM_COLS = 256, STREAM_AHEAD = 512 };

/* The split order: for bf16 weights, x rows keep each 16-block of k as its 8 even-indexed
 * values, then its 8 odd ones, matching the two halves a 32-byte bf16 load widens into. For
 * FP8 weights, the fp8 order of `load32_fp8` (per 32-block: even values of each half, then
 * odd ones). For other weight types x rows keep the natural order. */

static inline __attribute__((always_inline)) void stream_block(
    const char *const *ws, const long *col, int kind, int nr, int once, const float *x, float *y,
    int n_out, int k, int k_lo, int k_hi, const float *scl, int add) {
    const long elem = elem_size(kind);
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    __m256 acc[STREAM_ROWS][STREAMS];
    #pragma GCC unroll 8
    for (int r = 0; r < STREAM_ROWS; r++)
        #pragma GCC unroll 8
        for (int s = 0; s < STREAMS; s++) acc[r][s] = _mm256_setzero_ps();
    for (int kk = k_lo; kk < k_hi; kk += 32) {
        #pragma GCC unroll 8
        for (int s = 0; s < STREAMS; s++)
            for (long b = 0; b < 32 * elem; b += 64) {
                const char *line = ws[s] + kk * elem + b + STREAM_AHEAD;
                if (once) _mm_prefetch(line, _MM_HINT_NTA);
                else _mm_prefetch(line, _MM_HINT_T0);
            }
        if (kind == W_BF16) {
            for (int h = 0; h < 32; h += 16)
                #pragma GCC unroll 8
                for (int s = 0; s < STREAMS; s++) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(ws[s] + (kk + h) * 2));
                    const __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
                    const __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(v, high));
                    #pragma GCC unroll 8
                    for (int r = 0; r < nr; r++) {
                        const float *xr = x + (long)r * k + kk + h;
                        acc[r][s] = _mm256_fmadd_ps(_mm256_loadu_ps(xr), even, acc[r][s]);
                        acc[r][s] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 8), odd, acc[r][s]);
                    }
                }
        } else if (kind == W_FP8) {
                #pragma GCC unroll 8
                for (int s = 0; s < STREAMS; s++) {
                    __m256 q[4];
                    load32_fp8(ws[s] + kk, q);
                    #pragma GCC unroll 8
                    for (int r = 0; r < nr; r++) {
                        const float *xr = x + (long)r * k + kk;
                        #pragma GCC unroll 4
                        for (int i = 0; i < 4; i++)
                            acc[r][s] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 8 * i), q[i], acc[r][s]);
                    }
                }
        } else {
            for (int h = 0; h < 32; h += 8)
                #pragma GCC unroll 8
                for (int s = 0; s < STREAMS; s++) {
                    const __m256 wv = load8(ws[s], (kk + h), kind);
                    #pragma GCC unroll 8
                    for (int r = 0; r < nr; r++)
                        acc[r][s] = _mm256_fmadd_ps(_mm256_loadu_ps(x + (long)r * k + kk + h), wv,
                                                    acc[r][s]);
                }
        }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        #pragma GCC unroll 8
        for (int s = 0; s < STREAMS; s++) {
            float *dst = y + (long)r * n_out + col[s];
            const float v = kind == W_FP8 ? hsum(acc[r][s]) * scl[s] : hsum(acc[r][s]);
            *dst = add ? *dst + v : v;
        }
}

static void stream_any(const char *const *ws, const long *col, int kind, int nr, int once,
                       const float *x, float *y, int n_out, int k, int k_lo, int k_hi,
                       const float *scl, int add) {
#define STREAM_ARGS once, x, y, n_out, k, k_lo, k_hi, scl, add
#define STREAM_KINDS(R)                                                              \
    if (kind == W_BF16) stream_block(ws, col, W_BF16, R, STREAM_ARGS);                 \
    else if (kind == W_F16) stream_block(ws, col, W_F16, R, STREAM_ARGS);             \
    else if (kind == W_FP8) stream_block(ws, col, W_FP8, R, STREAM_ARGS);             \
    else stream_block(ws, col, W_F32, R, STREAM_ARGS);                                 \
    return;
    switch (nr) {
    case 1: STREAM_KINDS(1)
    case 2: STREAM_KINDS(2)
    default: STREAM_KINDS(3)
    }
#undef STREAM_KINDS
#undef STREAM_ARGS
}

#include "cpu_native_dp.h"

/* ---- Larger batches: packed float32 panels and an outer-product micro-kernel ------------
 *
 * With many rows per expert the work is arithmetic, not weight traffic. Each PANEL of 16
 * weight columns is converted once to float32 in k-major order (a transpose, 8×8 at a time)
 * into a per-thread buffer that stays in L2, then every group of TILE_MR x rows runs over
 * it: per k, two panel loads and TILE_MR broadcasts feed 2·TILE_MR independent FMAs (12
 * accumulators, no horizontal sums), which keeps both FMA pipes busy. The panel uses the
 * k order of the x rows (the split order), so bf16 rows split into even/odd halves as above. */
enum { PANEL = 16, TILE_MR = 6, TILE_ROWS = 16 * TILE_MR, TILE_MIN_ROWS = 16,
       TILE_BUFFER = 256 * 1024 };

static inline void transpose8(__m256 *r) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Weight columns j0 .. j0+PANEL-1 of one expert → buf[kp · PANEL + c], float32, where kp is
 * k's position in the x rows (the split order). k % 32 == 0. */
static void pack_panel(const char *we, int kind, long j0, int k, float *buf,
                       const wscale_t *sc, long e) {
    const long row_bytes = (long)k * elem_size(kind);
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    for (int c8 = 0; c8 < PANEL; c8 += 8) {
        const char *rows = we + (j0 + c8) * row_bytes;
        if (kind == W_FP8) { /* scaled here: the panel holds dequantised float32 weights */
            for (int kk = 0; kk < k; kk += 32) {
                __m256 part[4][8];
                #pragma GCC unroll 8
                for (int r = 0; r < 8; r++) {
                    const __m256 s = _mm256_set1_ps(scale_at(sc, e, j0 + c8 + r, kk / sc->k_block));
                    __m256 q[4];
                    load32_fp8(rows + r * row_bytes + kk, q);
                    for (int i = 0; i < 4; i++) part[i][r] = _mm256_mul_ps(q[i], s);
                }
                for (int i = 0; i < 4; i++) {
                    transpose8(part[i]);
                    for (int q = 0; q < 8; q++)
                        _mm256_store_ps(buf + (kk + 8 * i + q) * PANEL + c8, part[i][q]);
                }
            }
        } else if (kind == W_BF16) {
            for (int kk = 0; kk < k; kk += 16) {
                __m256 even[8], odd[8];
                #pragma GCC unroll 8
                for (int r = 0; r < 8; r++) {
                    const __m256i v =
                        _mm256_loadu_si256((const __m256i *)(rows + r * row_bytes + kk * 2L));
                    even[r] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
                    odd[r] = _mm256_castsi256_ps(_mm256_and_si256(v, high));
                }
                transpose8(even);
                transpose8(odd);
                for (int q = 0; q < 8; q++) {
                    _mm256_store_ps(buf + (kk + q) * PANEL + c8, even[q]);
                    _mm256_store_ps(buf + (kk + 8 + q) * PANEL + c8, odd[q]);
                }
            }
        } else {
            for (int kk = 0; kk < k; kk += 8) {
                __m256 v[8];
                #pragma GCC unroll 8
                for (int r = 0; r < 8; r++) v[r] = load8(rows + r * row_bytes, kk, kind);
                transpose8(v);
                for (int q = 0; q < 8; q++) _mm256_store_ps(buf + (kk + q) * PANEL + c8, v[q]);
            }
        }
    }
}

static inline __attribute__((always_inline)) void tile_block(const float *buf, const float *x,
                                                             float *y, int mr, int n_out, int k) {
    /* Fully unrolled row loops: otherwise gcc keeps `acc` on the stack (2× slower). */
    __m256 acc[TILE_MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < TILE_MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int kk = 0; kk < k; kk++) {
        const __m256 b0 = _mm256_load_ps(buf + kk * PANEL), b1 = _mm256_load_ps(buf + kk * PANEL + 8);
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            const __m256 a = _mm256_broadcast_ss(x + (long)r * k + kk);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
        _mm256_storeu_ps(y + (long)r * n_out, acc[r][0]);
        _mm256_storeu_ps(y + (long)r * n_out + 8, acc[r][1]);
    }
}

static void tile_any(const float *buf, const float *x, float *y, int mr, int n_out, int k) {
    switch (mr) {
    case 1: tile_block(buf, x, y, 1, n_out, k); return;
    case 2: tile_block(buf, x, y, 2, n_out, k); return;
    case 3: tile_block(buf, x, y, 3, n_out, k); return;
    case 4: tile_block(buf, x, y, 4, n_out, k); return;
    case 5: tile_block(buf, x, y, 5, n_out, k); return;
    default: tile_block(buf, x, y, TILE_MR, n_out, k); return;
    }
}

/* One unit of work: rows lo..hi of segment seg × output columns j0..j1, by `tile_item` or
 * by `stream_item`. */
typedef struct { int seg, lo, hi, j0, j1, tile; } item_t;

static void stream_item(const char *we, int kind, const item_t *it, const float *x, float *y,
                        int n_out, int k, const wscale_t *sc, long e, const dp_rows_t *dp) {
    const long row_bytes = (long)k * elem_size(kind);
    /* FP8 with 128×128 blocks: one pass per k-block, each adding its scaled partial sums. */
    const int k_step = kind == W_FP8 && sc->k_block < k ? (int)sc->k_block : k;
    /* The dp streams' weights carry no 2^-8 (see `scale_at`); the activation scale, if any,
     * is applied to the sums. */
    const float dp_factor = !dp ? 0.0f
                            : (dp->a_scale ? dp->a_scale[dp->a_n > 1 ? e : 0] : 1.0f) / 256.0f;
    const int run = (it->j1 - it->j0) / STREAMS;
    /* One row group reads each weight line once: prefetch it non-temporally (measured
     * 10-25 % faster for float32); with more, the next groups re-read it from cache. */
    const int once = it->hi - it->lo <= STREAM_ROWS;
    for (int c = 0; c < run; c++) {
        long col[STREAMS];
        const char *ws[STREAMS];
        for (int st = 0; st < STREAMS; st++) {
            col[st] = it->j0 + (long)st * run + c;
            ws[st] = we + col[st] * row_bytes;
        }
        for (int k_lo = 0; k_lo < k; k_lo += k_step) {
            float scl[STREAMS], dp_scl[STREAMS];
            for (int st = 0; st < STREAMS; st++) {
                scl[st] = scale_at(sc, e, col[st], k_lo / k_step);
                dp_scl[st] = scl[st] * dp_factor;
            }
            const int k_hi = k_lo + k_step < k ? k_lo + k_step : k;
            for (int r0 = it->lo; r0 < it->hi; r0 += STREAM_ROWS) {
                const int nr = it->hi - r0 < STREAM_ROWS ? it->hi - r0 : STREAM_ROWS;
                if (dp) {
                    dp_stream_any(ws, col, nr, once, dp->x + (long)r0 * k, y + (long)r0 * n_out,
                                  n_out, k, k_lo, k_hi, dp_scl, k_lo > 0);
                    continue;
                }
                stream_any(ws, col, kind, nr, once, x + (long)r0 * k, y + (long)r0 * n_out,
                           n_out, k, k_lo, k_hi, scl, k_lo > 0);
            }
        }
    }
}

/* Packs the item's panels first, then runs each row group over all of them: the group's x
 * rows stay in L1 while the panels stream from L2 (the other way round, x rows and panel
 * both stream from L2 and the micro-kernel runs at a third of its speed). */
static void tile_item(const char *we, int kind, const item_t *it, const float *x, float *y,
                      int n_out, int k, float *buf, const wscale_t *sc, long e) {
    const int panels = (it->j1 - it->j0) / PANEL;
    for (int p = 0; p < panels; p++)
        pack_panel(we, kind, it->j0 + p * PANEL, k, buf + (long)p * PANEL * k, sc, e);
    for (int r0 = it->lo; r0 < it->hi; r0 += TILE_MR) {
        const int mr = it->hi - r0 < TILE_MR ? it->hi - r0 : TILE_MR;
        for (int p = 0; p < panels; p++)
            tile_any(buf + (long)p * PANEL * k, x + (long)r0 * k,
                     y + (long)r0 * n_out + it->j0 + p * PANEL, mr, n_out, k);
    }
}

/* Columns per tile item: as many panels (up to 4) as fit TILE_BUFFER bytes of float32. */
static int tile_cols(int k) {
    int panels = TILE_BUFFER / (PANEL * 4 * k);
    panels = panels < 1 ? 1 : panels > 4 ? 4 : panels;
    return panels * PANEL;
}

/* Same contract as `grouped`, with x rows in the split order; k % 32 == 0 and
 * n_out % 32 == 0. A segment with few rows is read as weight streams, one with
 * TILE_MIN_ROWS or more through packed panels. `dp` (FP8 only, k % 64 == 0, or NULL): the
 * same x rows as bfloat16 in the dp order, which the weight streams then read instead
 * (`cpu_native_dp.h`). Returns -3 when out of memory. */
static int grouped_lines(const void *w, int kind, long expert_stride, const float *x, float *y,
                         const int32_t *seg_expert, const int32_t *seg_lo, const int32_t *seg_hi,
                         int num_segments, int n_out, int k, const wscale_t *sc,
                         const dp_rows_t *dp) {
    const int cols = tile_cols(k);
    long count = 0;
    for (int s = 0; s < num_segments; s++) {
        const int rows = seg_hi[s] - seg_lo[s];
        count += rows < TILE_MIN_ROWS ? (n_out + ITEM_COLS - 1) / ITEM_COLS
                                      : (long)((rows + TILE_ROWS - 1) / TILE_ROWS) *
                                            ((n_out + cols - 1) / cols);
    }
    item_t *items = malloc(sizeof(item_t) * (size_t)(count + 1));
    if (!items) return -3;
    long n = 0;
    for (int s = 0; s < num_segments; s++) {
        const int rows = seg_hi[s] - seg_lo[s];
        if (rows < TILE_MIN_ROWS) {
            for (int j = 0; j < n_out; j += ITEM_COLS)
                items[n++] = (item_t){s, seg_lo[s], seg_hi[s], j,
                                      j + ITEM_COLS < n_out ? j + ITEM_COLS : n_out, 0};
            continue;
        }
        for (int lo = seg_lo[s]; lo < seg_hi[s]; lo += TILE_ROWS)
            for (int j = 0; j < n_out; j += cols)
                items[n++] = (item_t){s, lo, lo + TILE_ROWS < seg_hi[s] ? lo + TILE_ROWS : seg_hi[s],
                                      j, j + cols < n_out ? j + cols : n_out, 1};
    }
    const long elem = elem_size(kind);
    int failed = 0;
#pragma omp parallel
    {
        float *buf = NULL; /* this thread's panels, allocated at its first tile item */
        /* Dynamic: a thread that is descheduled (a busy machine) does not hold up the rest.
         * Each output element still belongs to one item, computed in a fixed order. */
#pragma omp for schedule(dynamic, 1)
        for (long i = 0; i < n; i++) {
            const long e = seg_expert[items[i].seg];
            const char *we = (const char *)w + e * expert_stride * elem;
            if (!items[i].tile) {
                stream_item(we, kind, &items[i], x, y, n_out, k, sc, e, dp);
                continue;
            }
            if (!buf) buf = aligned_alloc(64, sizeof(float) * (size_t)cols * (size_t)k);
            if (!buf) {
#pragma omp atomic write
                failed = 1;
                continue;
            }
            tile_item(we, kind, &items[i], x, y, n_out, k, buf, sc, e);
        }
        free(buf);
    }
    free(items);
    return failed ? -3 : 0;
}

#include "cpu_native_elementwise.h"

/* Scratch floats for `pairs` rows: x rows, gate/up, SiLU·up, down. */
static long moe_scratch(long pairs, int hidden, int inter) {
    return pairs * (2L * hidden + 3L * inter);
}

/* The whole MoE in one call: group the (token, slot) pairs by expert (a stable counting
 * sort), gather x rows as float32, w13 GEMM, SiLU(gate)·up, w2 GEMM, then each token's
 * output = Σ_slot weight · row in slot order, converted to x's dtype. Replaces ~20 small
 * torch ops whose fixed cost is a large share of a decode call. Every value is computed by
 * one thread in a fixed order: same bits for any thread count. `scratch` holds
 * `moe_scratch` floats (the caller keeps it between calls: a fresh buffer of this
 * size each call costs page faults). Returns 0, or < 0 for bad arguments (-2: an id out of
 * range, -4: scratch too small), or -3 when out of memory. */
static wscale_t wscale(const float *p, const long *layout) {
    if (!p) return NO_SCALE;
    return (wscale_t){p, layout[0], layout[1] > 0 ? layout[1] : 1, layout[2],
                      layout[3] > 0 ? layout[3] : 1};
}

/* FP8 weights (w_kind W_FP8) take their scales as `s13`/`s2` with a layout of four longs each
 * (expert_stride, rows_per, row_stride, k_block: see `wscale_t`), and optionally static
 * activation scales `a13`/`a2` (`a*_n` values: 1, or one per expert), with which the GEMM
 * inputs are quantised to FP8 first; FP8 needs hidden % 32 == 0 and inter % 32 == 0. */
int tessera_moe(const void *x, int x_kind, const void *w13, const void *w2, int w_kind,
                const float *route_w, const int32_t *ids, void *out, int tokens, int top_k,
                int experts, int hidden, int inter, float *scratch, long scratch_floats,
                const float *s13, const long *layout13, const float *s2, const long *layout2,
                const float *a13, int a13_n, const float *a2, int a2_n) {
    if (hidden % 8 != 0 || inter % 8 != 0 || w_kind < W_F32 || w_kind > W_FP8 ||
        x_kind < W_F32 || x_kind > W_F16 || top_k < 1 || experts < 1)
        return -1;
    if (w_kind == W_FP8 && (hidden % 32 || inter % 32 || !s13 || !s2 || !layout13 || !layout2))
        return -1;
    const wscale_t sc13 = w_kind == W_FP8 ? wscale(s13, layout13) : NO_SCALE;
    const wscale_t sc2 = w_kind == W_FP8 ? wscale(s2, layout2) : NO_SCALE;
    const long pairs = (long)tokens * top_k;
    if (scratch_floats < moe_scratch(pairs, hidden, inter)) return -4;
    for (long p = 0; p < pairs; p++)
        if (ids[p] < 0 || ids[p] >= experts) return -2;
    int32_t *counts = calloc((size_t)experts * 4 + 1, sizeof(int32_t));
    int32_t *order = malloc(sizeof(int32_t) * (size_t)(2 * pairs + 1));
    if (!counts || !order) { free(counts); free(order); return -3; }
    int32_t *seg_expert = counts + experts, *seg_lo = seg_expert + experts, *seg_hi = seg_lo + experts;
    int32_t *pos_of_pair = order + pairs;
    float *xs = scratch, *gate_up = xs + pairs * hidden, *act = gate_up + pairs * 2 * inter;
    float *down = act + pairs * inter;

    /* `grouped_lines` needs whole 64-byte lines per row; other widths take `grouped`. */
    const int lines = hidden % 32 == 0 && inter % 32 == 0;
    const int x_order = lines && w_kind == W_BF16 ? W_BF16 : W_F32; /* W_BF16: the split order */
    /* FP8 with bfloat16 activations: the decode streams take bfloat16 x rows on CPUs with
     * AVX-512 BF16. w13's copy lives in `down` (unused until w2), w2's in `xs` (done with by
     * then; it holds the act rows' bfloat16 when inter ≤ 2·hidden, as in every real MoE). */
    const int dp_any = lines && w_kind == W_FP8 && x_kind == W_BF16 && dp_available();
    const int dp13 = dp_any && hidden % DP_BLOCK == 0;
    const int dp2 = dp_any && inter % DP_BLOCK == 0 && inter <= 2 * hidden;
    const dp_rows_t rows13 = {(const uint16_t *)down, a13, a13_n};
    const dp_rows_t rows2 = {(const uint16_t *)xs, a2, a2_n};
    for (long p = 0; p < pairs; p++) counts[ids[p]]++;
    int segments = 0, start = 0;
    for (int e = 0; e < experts; e++) {
        if (!counts[e]) continue;
        seg_expert[segments] = e;
        seg_lo[segments] = start;
        seg_hi[segments] = start + counts[e];
        counts[e] = start; /* from here: next free position of expert e */
        start += seg_hi[segments] - seg_lo[segments];
        segments++;
    }
    for (long p = 0; p < pairs; p++) {
        const int32_t at = counts[ids[p]]++;
        order[at] = (int32_t)p;
        pos_of_pair[p] = at;
    }
    /* The small elementwise steps run on one thread at decode sizes: under load, every extra
     * parallel region is a barrier that may wait on a descheduled thread. */
#pragma omp parallel for schedule(static) if (pairs >= SERIAL_BELOW_ROWS)
    for (long r = 0; r < pairs; r++) {
        const float a = a13 ? a13[a13_n > 1 ? ids[order[r]] : 0] : 1.0f;
        row_to_f32(x, order[r] / top_k * (long)hidden, x_kind, x_order, xs + r * hidden, hidden);
        if (a13) fake_quant_fp8(xs + r * hidden, hidden, a);
        if (dp13) dp_row(xs + r * hidden, (uint16_t *)down + r * hidden, hidden, a);
        if (w_kind == W_FP8) to_fp8_order(xs + r * hidden, hidden);
    }
    int status = 0;
    if (lines)
        status = grouped_lines(w13, w_kind, 2L * inter * hidden, xs, gate_up, seg_expert, seg_lo,
                               seg_hi, segments, 2 * inter, hidden, &sc13, dp13 ? &rows13 : NULL);
    else
        grouped(w13, w_kind, 2L * inter * hidden, xs, gate_up, seg_expert, seg_lo, seg_hi,
                segments, 2 * inter, hidden);
#pragma omp parallel for schedule(static) if (pairs >= SERIAL_BELOW_ROWS)
    for (long r = 0; r < pairs; r++) {
        const float *gate = gate_up + r * 2 * inter, *up = gate + inter;
        float *dst = act + r * inter;
        if (x_order == W_BF16) { /* inter % 32 == 0 here: whole 16-blocks */
            for (int i = 0; i < inter; i += 16) {
                __m256 a = silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i));
                __m256 b = silu_mul8(_mm256_loadu_ps(gate + i + 8), _mm256_loadu_ps(up + i + 8));
                split_even_odd(&a, &b);
                _mm256_storeu_ps(dst + i, a);
                _mm256_storeu_ps(dst + i + 8, b);
            }
        } else {
            for (int i = 0; i < inter; i += 8)
                _mm256_storeu_ps(dst + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
        }
        const float a = a2 ? a2[a2_n > 1 ? ids[order[r]] : 0] : 1.0f;
        if (a2) fake_quant_fp8(dst, inter, a);
        if (dp2) dp_row(dst, (uint16_t *)xs + r * inter, inter, a);
        if (w_kind == W_FP8) to_fp8_order(dst, inter);
    }
    if (lines && status == 0)
        status = grouped_lines(w2, w_kind, (long)hidden * inter, act, down, seg_expert, seg_lo,
                               seg_hi, segments, hidden, inter, &sc2, dp2 ? &rows2 : NULL);
    else if (!lines)
        grouped(w2, w_kind, (long)hidden * inter, act, down, seg_expert, seg_lo, seg_hi,
                segments, hidden, inter);
#pragma omp parallel for schedule(static) if (pairs >= SERIAL_BELOW_ROWS)
    for (long t = 0; t < tokens; t++)
        for (int h = 0; h < hidden; h += 8) {
            __m256 sum = _mm256_setzero_ps();
            for (int s = 0; s < top_k; s++) {
                const long p = t * top_k + s;
                sum = _mm256_add_ps(sum, _mm256_mul_ps(_mm256_set1_ps(route_w[p]),
                                                       _mm256_loadu_ps(down + (long)pos_of_pair[p] * hidden + h)));
            }
            store8_as(out, t * hidden + h, x_kind, sum);
        }
    free(counts);
    free(order);
    return status;
}

/* One linear layer y = x · Wᵀ (W [n, k], float32/bf16/fp16/FP8 with `s`/`layout` as
 * `tessera_moe`), for `rows` rows of x in x_kind, y in x_kind: the MoE's GEMMs with one
 * segment. k % 32 == 0, n % 32 == 0. `scratch` holds rows · (k + n) floats. */
int tessera_linear(const void *x, int x_kind, const void *w, int w_kind, const float *s,
                   const long *layout, void *out, int rows, int n, int k, float *scratch,
                   long scratch_floats) {
    if (k % 32 || n % 32 || rows < 1 || w_kind < W_F32 || w_kind > W_FP8 || x_kind < W_F32 ||
        x_kind > W_F16 || (w_kind == W_FP8 && (!s || !layout)))
        return -1;
    if (scratch_floats < (long)rows * (k + n)) return -4;
    const wscale_t sc = w_kind == W_FP8 ? wscale(s, layout) : NO_SCALE;
    const int x_order = w_kind == W_BF16 ? W_BF16 : W_F32;
    float *xs = scratch, *ys = scratch + (long)rows * k;
    /* FP8 with bfloat16 x: the dp streams (as `tessera_moe`), their rows in a buffer of
     * their own (the scratch is sized for the float32 rows only). */
    uint16_t *xb = NULL;
    if (w_kind == W_FP8 && x_kind == W_BF16 && k % DP_BLOCK == 0 && rows < TILE_MIN_ROWS &&
        dp_available()) {
        xb = malloc(sizeof(uint16_t) * (size_t)rows * (size_t)k);
        if (!xb) return -3;
    }
#pragma omp parallel for schedule(static) if (rows >= SERIAL_BELOW_ROWS)
    for (long r = 0; r < rows; r++) {
        row_to_f32(x, r * (long)k, x_kind, x_order, xs + r * k, k);
        if (xb) dp_row(xs + r * k, xb + r * k, k, 1.0f);
        if (w_kind == W_FP8) to_fp8_order(xs + r * k, k);
    }
    const int32_t seg_expert = 0, seg_lo = 0, seg_hi = rows;
    const dp_rows_t dp = {xb, NULL, 1};
    const int status = grouped_lines(w, w_kind, 0, xs, ys, &seg_expert, &seg_lo, &seg_hi, 1, n,
                                     k, &sc, xb ? &dp : NULL);
    free(xb);
#pragma omp parallel for schedule(static) if (rows >= SERIAL_BELOW_ROWS)
    for (long r = 0; r < rows; r++)
        for (int j = 0; j < n; j += 8) store8_as(out, r * (long)n + j, x_kind, _mm256_loadu_ps(ys + r * (long)n + j));
    return status;
}

/* A plain streaming read of `bytes` (a multiple of 64) on every thread: the memory-bandwidth
 * yardstick the FP8/bf16 benchmark rows are compared with. Returns an OR of the data so the
 * loads cannot be dropped. */
long tessera_stream_read(const void *p, long bytes) {
    const long lines = bytes / 64;
    long folded = 0;
#pragma omp parallel reduction(| : folded)
    {
        __m256i acc = _mm256_setzero_si256();
#pragma omp for schedule(static)
        for (long i = 0; i < lines; i++) {
            const __m256i *line = (const __m256i *)((const char *)p + i * 64);
            _mm_prefetch((const char *)line + 512, _MM_HINT_NTA);
            acc = _mm256_or_si256(acc, _mm256_or_si256(_mm256_loadu_si256(line),
                                                       _mm256_loadu_si256(line + 1)));
        }
        folded |= _mm256_extract_epi64(acc, 0) | _mm256_extract_epi64(acc, 1) |
                  _mm256_extract_epi64(acc, 2) | _mm256_extract_epi64(acc, 3);
    }
    return folded;
}
