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
#include <stdint.h>

enum { W_F32 = 0, W_BF16 = 1, W_F16 = 2 };
enum { ROWS = 4, COLS_PER_TILE = 24, ROW_BLOCK = 64 };

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

/* nr rows (≤ ROWS) × nc output columns (≤ 8), starting at weight row j. With few rows, more
 * columns per block keep more independent FMA chains and weight streams in flight. */
static inline __attribute__((always_inline)) void block(const void *w, int kind, long j,
                                                        const float *x, float *y, int nr,
                                                        int nc, int n_out, int k) {
    __m256 acc[ROWS][8];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < 8; c++) acc[r][c] = _mm256_setzero_ps();
    for (int kk = 0; kk < k; kk += 8) {
        __m256 wv[8];
        for (int c = 0; c < nc; c++) {
            const long at = (j + c) * (long)k + kk;
            /* Weights stream from DRAM once: one non-temporal prefetch per 64-byte line, for
             * the same offset two blocks of columns ahead (measured: better than one or four
             * blocks ahead, and NTA better than T0 at one token). */
            if (((at * elem_size(kind)) & 63) == 0)
                _mm_prefetch((const char *)w + (at + 2 * nc * (long)k) * elem_size(kind), _MM_HINT_NTA);
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
#define COLS(R, K, WIDE)                                                        \
    if (cols_left >= WIDE) { block(w, K, j, x, y, R, WIDE, n_out, k); return WIDE; } \
    block(w, K, j, x, y, R, 1, n_out, k);                                       \
    return 1;
#define KINDS(R, WIDE)                                                          \
    if (kind == W_BF16) { COLS(R, W_BF16, WIDE) }                              \
    else if (kind == W_F16) { COLS(R, W_F16, WIDE) }                            \
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

int tessera_grouped_gemm(const void *w, int kind, long expert_stride, const float *x, float *y,
                         const int32_t *seg_expert, const int32_t *seg_lo, const int32_t *seg_hi,
                         int num_segments, int n_out, int k) {
    if (k % 8 != 0 || kind < W_F32 || kind > W_F16) return -1;
    const int elem = kind == W_F32 ? 4 : 2;
    const int tiles = (n_out + COLS_PER_TILE - 1) / COLS_PER_TILE;
    /* Items: (segment, block of up to ROW_BLOCK rows, tile of output columns). Consecutive
     * items share a row block, whose x rows stay in L2 while the tiles pass over them. */
    long items = 0;
    for (int s = 0; s < num_segments; s++)
        items += (long)((seg_hi[s] - seg_lo[s] + ROW_BLOCK - 1) / ROW_BLOCK) * tiles;
#pragma omp parallel for schedule(static)
    for (long item = 0; item < items; item++) {
        long rest = item;
        int s = 0;
        for (;; s++) {
            const long here = (long)((seg_hi[s] - seg_lo[s] + ROW_BLOCK - 1) / ROW_BLOCK) * tiles;
            if (rest < here) break;
            rest -= here;
        }
        const int lo = seg_lo[s] + (int)(rest / tiles) * ROW_BLOCK;
        const int hi = lo + ROW_BLOCK < seg_hi[s] ? lo + ROW_BLOCK : seg_hi[s];
        const int j0 = (int)(rest % tiles) * COLS_PER_TILE;
        const int j1 = j0 + COLS_PER_TILE < n_out ? j0 + COLS_PER_TILE : n_out;
        const char *we = (const char *)w + (long)seg_expert[s] * expert_stride * elem;
        /* The tile's weight rows (COLS_PER_TILE × k) stay in cache across the row groups. */
        for (int r0 = lo; r0 < hi; r0 += ROWS) {
            const int nr = hi - r0 < ROWS ? hi - r0 : ROWS;
            const float *xr = x + (long)r0 * k;
            float *yr = y + (long)r0 * n_out;
            for (int j = j0; j < j1;) j += block_any(we, kind, j, xr, yr, nr, j1 - j, n_out, k);
        }
    }
    return 0;
}
