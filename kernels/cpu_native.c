/* Grouped "rows × weightᵀ" for the CPU MoE path (AVX2 + FMA, OpenMP).
 *
 * y[r, j] = Σ_k x[r, k] · W_e[j, k] for every row r of a segment whose expert is e, where
 * W_e is row-major [n_out, k] in float32, bfloat16 or float16 (vLLM's layout: w13[e] is
 * [2I, H], w2[e] is [H, I]). x and y are float32.
 *
 * Why hand-written: torch's CPU GEMMs with a few rows run about one GEMV per row, so a
 * decode batch streams each expert's weights several times, and without native bf16 units
 * they cannot read bf16 weights at all without a converted copy. Here each weight row is
 * loaded once per group of up to four x rows and widened to float32 in registers, so a
 * small batch reads each touched expert's weights from memory once.
 *
 * Work is split into (segment, tile of output columns) items in one OpenMP region; each
 * output element is computed by one thread in a fixed order, so results do not depend on
 * the thread count. The caller guarantees k % 8 == 0.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

enum { W_F32 = 0, W_BF16 = 1, W_F16 = 2 };
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
    return kind == W_F32 ? 4 : 2;
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* nr rows (≤ ROWS) × nc output columns (≤ 8), starting at weight column j. With few rows,
 * more columns per block keep more independent FMA chains and weight streams in flight. */
static inline __attribute__((always_inline)) void block(const void *w, int kind, long j,
                                                        const float *x, float *y, int nr, int nc,
                                                        int n_out, int k) {
    __m256 acc[ROWS][8];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < 8; c++) acc[r][c] = _mm256_setzero_ps();
    for (int kk = 0; kk < k; kk += 8) {
        __m256 wv[8];
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
        for (int r = 0; r < nr; r++) {
            __m256 xv = _mm256_loadu_ps(x + (long)r * k + kk);
            for (int c = 0; c < nc; c++) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < nr; r++)
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
 * odd elements to match (`stream_perm`). */
enum { STREAMS = 4, STREAM_ROWS = 3, ITEM_COLS = 256, STREAM_AHEAD = 512 };

/* Where natural k index `kk` of an x row goes in the layout the stream kernel reads. */
static inline long stream_perm(int kind, long kk) {
    if (kind != W_BF16) return kk;
    const long in_block = kk & 15;
    return (kk & ~15L) + (in_block & 1) * 8 + (in_block >> 1);
}

static inline __attribute__((always_inline)) void stream_block(
    const char *const *ws, const long *col, int kind, int nr, int once, const float *x, float *y,
    int n_out, int k) {
    const long elem = elem_size(kind);
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    __m256 acc[STREAM_ROWS][STREAMS];
    for (int r = 0; r < STREAM_ROWS; r++)
        for (int s = 0; s < STREAMS; s++) acc[r][s] = _mm256_setzero_ps();
    for (int kk = 0; kk < k; kk += 32) {
        for (int s = 0; s < STREAMS; s++)
            for (long b = 0; b < 32 * elem; b += 64) {
                const char *line = ws[s] + kk * elem + b + STREAM_AHEAD;
                if (once) _mm_prefetch(line, _MM_HINT_NTA);
                else _mm_prefetch(line, _MM_HINT_T0);
            }
        if (kind == W_BF16) {
            for (int h = 0; h < 32; h += 16)
                for (int s = 0; s < STREAMS; s++) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(ws[s] + (kk + h) * 2));
                    const __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
                    const __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(v, high));
                    for (int r = 0; r < nr; r++) {
                        const float *xr = x + (long)r * k + kk + h;
                        acc[r][s] = _mm256_fmadd_ps(_mm256_loadu_ps(xr), even, acc[r][s]);
                        acc[r][s] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 8), odd, acc[r][s]);
                    }
                }
        } else {
            for (int h = 0; h < 32; h += 8)
                for (int s = 0; s < STREAMS; s++) {
                    const __m256 wv = load8(ws[s], (kk + h), kind);
                    for (int r = 0; r < nr; r++)
                        acc[r][s] = _mm256_fmadd_ps(_mm256_loadu_ps(x + (long)r * k + kk + h), wv,
                                                    acc[r][s]);
                }
        }
    }
    for (int r = 0; r < nr; r++)
        for (int s = 0; s < STREAMS; s++) y[(long)r * n_out + col[s]] = hsum(acc[r][s]);
}

static void stream_any(const char *const *ws, const long *col, int kind, int nr, int once,
                       const float *x, float *y, int n_out, int k) {
#define STREAM_KINDS(R)                                                              \
    if (kind == W_BF16) stream_block(ws, col, W_BF16, R, once, x, y, n_out, k);         \
    else if (kind == W_F16) stream_block(ws, col, W_F16, R, once, x, y, n_out, k);     \
    else stream_block(ws, col, W_F32, R, once, x, y, n_out, k);                        \
    return;
    switch (nr) {
    case 1: STREAM_KINDS(1)
    case 2: STREAM_KINDS(2)
    default: STREAM_KINDS(3)
    }
#undef STREAM_KINDS
}

/* Same contract as `grouped` (x rows in `stream_perm` order); k % 32 == 0 and
 * n_out % (4 · STREAMS) == 0, so every item splits into STREAMS equal runs. */
static void stream_grouped(const void *w, int kind, long expert_stride, const float *x,
                           float *y, const int32_t *seg_expert, const int32_t *seg_lo,
                           const int32_t *seg_hi, int num_segments, int n_out, int k) {
    const long elem = elem_size(kind), row_bytes = (long)k * elem;
    const int per_segment = (n_out + ITEM_COLS - 1) / ITEM_COLS;
#pragma omp parallel for schedule(static)
    for (long item = 0; item < (long)num_segments * per_segment; item++) {
        const int s = (int)(item / per_segment);
        const int j0 = (int)(item % per_segment) * ITEM_COLS;
        const int run = (n_out - j0 < ITEM_COLS ? n_out - j0 : ITEM_COLS) / STREAMS;
        const char *we = (const char *)w + seg_expert[s] * expert_stride * elem;
        /* One row group reads each weight line once: prefetch it non-temporally (measured
         * 10-25 % faster for float32); with more, the next groups re-read it from cache. */
        const int once = seg_hi[s] - seg_lo[s] <= STREAM_ROWS;
        for (int c = 0; c < run; c++) {
            long col[STREAMS];
            const char *ws[STREAMS];
            for (int st = 0; st < STREAMS; st++) {
                col[st] = j0 + (long)st * run + c;
                ws[st] = we + col[st] * row_bytes;
            }
            for (int r0 = seg_lo[s]; r0 < seg_hi[s]; r0 += STREAM_ROWS) {
                const int nr = seg_hi[s] - r0 < STREAM_ROWS ? seg_hi[s] - r0 : STREAM_ROWS;
                stream_any(ws, col, kind, nr, once, x + (long)r0 * k, y + (long)r0 * n_out,
                           n_out, k);
            }
        }
    }
}

int tessera_grouped_gemm(const void *w, int kind, long expert_stride, const float *x, float *y,
                         const int32_t *seg_expert, const int32_t *seg_lo, const int32_t *seg_hi,
                         int num_segments, int n_out, int k) {
    if (k % 8 != 0 || kind < W_F32 || kind > W_F16) return -1;
    grouped(w, kind, expert_stride, x, y, seg_expert, seg_lo, seg_hi, num_segments, n_out, k);
    return 0;
}

static inline float to_f32(const void *p, long i, int kind) {
    if (kind == W_F32) return ((const float *)p)[i];
    const uint16_t h = ((const uint16_t *)p)[i];
    if (kind == W_F16) return _cvtsh_ss(h);
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}

static inline void store_from_f32(void *p, long i, int kind, float f) {
    if (kind == W_F32) { ((float *)p)[i] = f; return; }
    if (kind == W_F16) { ((uint16_t *)p)[i] = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); return; }
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) { ((uint16_t *)p)[i] = (uint16_t)((v.u >> 16) | 0x40); return; }
    /* Round to nearest even, as torch's float32 → bfloat16 conversion does. */
    ((uint16_t *)p)[i] = (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

/* The whole MoE in one call: group the (token, slot) pairs by expert (a stable counting
 * sort), gather x rows as float32, w13 GEMM, SiLU(gate)·up, w2 GEMM, then each token's
 * output = Σ_slot weight · row in slot order, converted to x's dtype. Replaces ~20 small
 * torch ops whose fixed cost is a large share of a decode call. Every value is computed by
 * one thread in a fixed order: same bits for any thread count. Returns 0, or < 0 for bad
 * arguments (-2: an id out of range), or -3 when out of memory. */
int tessera_moe(const void *x, int x_kind, const void *w13, const void *w2, int w_kind,
                const float *route_w, const int32_t *ids, void *out, int tokens,
                int top_k, int experts, int hidden, int inter) {
    if (hidden % 8 != 0 || inter % 8 != 0 || w_kind < W_F32 || w_kind > W_F16 ||
        x_kind < W_F32 || x_kind > W_F16 || top_k < 1 || experts < 1)
        return -1;
    const long pairs = (long)tokens * top_k;
    for (long p = 0; p < pairs; p++)
        if (ids[p] < 0 || ids[p] >= experts) return -2;
    int32_t *counts = calloc((size_t)experts * 4 + 1, sizeof(int32_t));
    int32_t *order = malloc(sizeof(int32_t) * (size_t)(2 * pairs + 1));
    float *xs = malloc(sizeof(float) * (size_t)(pairs * (hidden + 2L * inter + inter + hidden) + 1));
    if (!counts || !order || !xs) { free(counts); free(order); free(xs); return -3; }
    int32_t *seg_expert = counts + experts, *seg_lo = seg_expert + experts, *seg_hi = seg_lo + experts;
    int32_t *pos_of_pair = order + pairs;
    float *gate_up = xs + pairs * hidden, *act = gate_up + pairs * 2 * inter, *down = act + pairs * inter;

    /* The stream kernel needs whole 64-byte lines per row; other widths take `grouped`. */
    const int streams = hidden % 32 == 0 && inter % 32 == 0;
    const int x_order = streams ? w_kind : W_F32; /* W_BF16: `stream_perm`'s split order */
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
        const long t = order[r] / top_k;
        for (int h = 0; h < hidden; h++)
            xs[r * hidden + stream_perm(x_order, h)] = to_f32(x, t * hidden + h, x_kind);
    }
    if (streams)
        stream_grouped(w13, w_kind, 2L * inter * hidden, xs, gate_up, seg_expert, seg_lo, seg_hi,
                       segments, 2 * inter, hidden);
    else
        grouped(w13, w_kind, 2L * inter * hidden, xs, gate_up, seg_expert, seg_lo, seg_hi,
                segments, 2 * inter, hidden);
#pragma omp parallel for schedule(static) if (pairs >= SERIAL_BELOW_ROWS)
    for (long r = 0; r < pairs; r++)
        for (int i = 0; i < inter; i++) {
            const float g = gate_up[r * 2 * inter + i], u = gate_up[r * 2 * inter + inter + i];
            act[r * inter + stream_perm(x_order, i)] = g / (1.0f + expf(-g)) * u;
        }
    if (streams)
        stream_grouped(w2, w_kind, (long)hidden * inter, act, down, seg_expert, seg_lo, seg_hi,
                       segments, hidden, inter);
    else
        grouped(w2, w_kind, (long)hidden * inter, act, down, seg_expert, seg_lo, seg_hi,
                segments, hidden, inter);
#pragma omp parallel for schedule(static) if (pairs >= SERIAL_BELOW_ROWS)
    for (long t = 0; t < tokens; t++)
        for (int h = 0; h < hidden; h++) {
            float sum = 0.0f;
            for (int s = 0; s < top_k; s++) {
                const long p = t * top_k + s;
                sum += route_w[p] * down[(long)pos_of_pair[p] * hidden + h];
            }
            store_from_f32(out, t * hidden + h, x_kind, sum);
        }
    free(counts);
    free(order);
    free(xs);
    return 0;
}
