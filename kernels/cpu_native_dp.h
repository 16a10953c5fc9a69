/* FP8 decode streams on AVX-512 BF16 (included by cpu_native.c; compiled for that ISA per
 * function and used only when the CPU has it, `dp_available`).
 *
 * Why: on the AVX2 path an FP8 weight costs more vector work than a bf16 one — a float16
 * bit trick, an F16C widening and one float32 FMA per weight and row — so FP8 decode became
 * compute-bound at ~65-80 % of the memory bandwidth while bf16 streams at it. Here 64 E4M3
 * bytes become 64 bfloat16 weights with two 128-entry byte lookups (`vpermt2b`, exact for
 * every code, subnormals included: each E4M3 value is a normal bfloat16) and one interleave,
 * and `vdpbf16ps` does 32 multiply-adds per instruction into float32 accumulators. The
 * products of two bfloat16 values are exact in float32; the sums round as FMAs do.
 *
 * The x rows are bfloat16 (the model's activation dtype) in the dp order: per 64-block of k,
 * the values 0-7, 16-23, 32-39, 48-55, then 8-15, 24-31, 40-47, 56-63 — the order the two
 * byte interleaves (per 128-bit lane) put the weights in. With static activation scales the
 * rows hold the quantised E4M3 values themselves (exact in bfloat16) and the scale is applied
 * once to each sum. */

#define DP_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512bf16")))

enum { DP_BLOCK = 64 };

/* x rows for the dp streams: bfloat16, `k` per row, and the static activation scale per
 * expert (`a_n` values: 1 or one per expert) or none. */
typedef struct { const uint16_t *x; const float *a_scale; int a_n; } dp_rows_t;

/* The bfloat16 bits of E4M3 magnitude code m (0..127): low and high bytes. */
static uint8_t DP_LO[128], DP_HI[128];

__attribute__((constructor)) static void dp_tables(void) {
    for (int m7 = 0; m7 < 128; m7++) {
        const int e = m7 >> 3, m = m7 & 7;
        uint16_t bits;
        if (m7 == 0x7f) bits = 0x7fc0; /* E4M3's NaN */
        else if (e > 0) bits = (uint16_t)(((e + 120) << 7) | (m << 4));
        else if (m == 0) bits = 0;
        else { /* m · 2^-9, normalised: the leading one of m sets the exponent */
            const int lead = m >= 4 ? 2 : m >= 2 ? 1 : 0;
            bits = (uint16_t)(((118 + lead) << 7) | (((m << (7 - lead)) & 0x7f)));
        }
        DP_LO[m7] = (uint8_t)bits;
        DP_HI[m7] = (uint8_t)(bits >> 8);
    }
}

/* Whether this CPU has the ISA, unless `tessera_dp_enable(0)` turned the path off (the
 * AVX2 path is the reference the tests and benchmarks compare it with). */
static int dp_wanted = 1;

static int dp_available(void) {
    static int supported = -1;
    if (supported < 0) {
        __builtin_cpu_init();
        supported = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi") &&
                    __builtin_cpu_supports("avx512bf16");
    }
    return supported && dp_wanted;
}

/* Turns the dp streams on (1) or off (0); returns whether they are now in use. */
int tessera_dp_enable(int on) {
    dp_wanted = on;
    return dp_available();
}

/* float32 → bfloat16 bits, round to nearest even, NaN stays NaN (as torch). */
static inline uint16_t dp_bf16(float v) {
    uint32_t u;
    __builtin_memcpy(&u, &v, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* One float32 row in natural order → bfloat16 in the dp order, each value divided by
 * `scale` first (1, or the static activation scale that the row was quantised with, which
 * gives back the E4M3 value exactly). n % 64 == 0. Scalar: a row is tiny next to the
 * weights it meets. */
static void dp_row(const float *row, uint16_t *dst, int n, float scale) {
    static const int lane_part[2][4] = {{0, 16, 32, 48}, {8, 24, 40, 56}};
    for (int b = 0; b < n; b += DP_BLOCK)
        for (int half = 0; half < 2; half++)
            for (int q = 0; q < 4; q++)
                for (int i = 0; i < 8; i++) {
                    const float v = row[b + lane_part[half][q] + i];
                    dst[b + half * 32 + q * 8 + i] = dp_bf16(v / scale); /* / 1 is exact */
                }
}

/* STREAMS weight rows × nr x rows over k_lo..k_hi (multiples of 64), as `stream_block`:
 * y[r, col[s]] (+)= Σ_k x[r, k] · w_s[k] · scl[s]. */
static inline __attribute__((always_inline)) DP_TARGET void dp_stream_block(
    const char *const *ws, const long *col, int nr, int once, const uint16_t *x, float *y,
    int n_out, int k, int k_lo, int k_hi, const float *scl, int add) {
    const __m512i lo0 = _mm512_loadu_si512(DP_LO), lo1 = _mm512_loadu_si512(DP_LO + 64);
    const __m512i hi0 = _mm512_loadu_si512(DP_HI), hi1 = _mm512_loadu_si512(DP_HI + 64);
    const __m512i sign = _mm512_set1_epi8((char)0x80);
    __m512 acc[STREAM_ROWS][STREAMS];
    #pragma GCC unroll 8
    for (int r = 0; r < STREAM_ROWS; r++)
        #pragma GCC unroll 8
        for (int s = 0; s < STREAMS; s++) acc[r][s] = _mm512_setzero_ps();
    for (int kk = k_lo; kk < k_hi; kk += DP_BLOCK) {
        __m512i xv[STREAM_ROWS][2];
        #pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            xv[r][0] = _mm512_loadu_si512(x + (long)r * k + kk);
            xv[r][1] = _mm512_loadu_si512(x + (long)r * k + kk + 32);
        }
        #pragma GCC unroll 8
        for (int s = 0; s < STREAMS; s++) {
            const char *line = ws[s] + kk + STREAM_AHEAD;
            if (once) _mm_prefetch(line, _MM_HINT_NTA);
            else _mm_prefetch(line, _MM_HINT_T0);
            const __m512i v = _mm512_loadu_si512(ws[s] + kk);
            /* The lookups read index bits 0-6 (bit 6 picks the second table) and ignore the
             * sign bit, so the magnitude needs no masking. */
            const __m512i lo = _mm512_permutex2var_epi8(lo0, v, lo1);
            /* hi | (v & sign): the high byte with the sign bit put back. */
            const __m512i hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, v, hi1),
                                                        v, sign, 0xf8);
            const __m512i w0 = _mm512_unpacklo_epi8(lo, hi), w1 = _mm512_unpackhi_epi8(lo, hi);
            #pragma GCC unroll 8
            for (int r = 0; r < nr; r++) {
                acc[r][s] = _mm512_dpbf16_ps(acc[r][s], (__m512bh)xv[r][0], (__m512bh)w0);
                acc[r][s] = _mm512_dpbf16_ps(acc[r][s], (__m512bh)xv[r][1], (__m512bh)w1);
            }
        }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        #pragma GCC unroll 8
        for (int s = 0; s < STREAMS; s++) {
            float *dst = y + (long)r * n_out + col[s];
            const float v = _mm512_reduce_add_ps(acc[r][s]) * scl[s];
            *dst = add ? *dst + v : v;
        }
}

static DP_TARGET void dp_stream_any(const char *const *ws, const long *col, int nr, int once,
                                    const uint16_t *x, float *y, int n_out, int k, int k_lo,
                                    int k_hi, const float *scl, int add) {
    switch (nr) {
    case 1: dp_stream_block(ws, col, 1, once, x, y, n_out, k, k_lo, k_hi, scl, add); return;
    case 2: dp_stream_block(ws, col, 2, once, x, y, n_out, k, k_lo, k_hi, scl, add); return;
    default: dp_stream_block(ws, col, 3, once, x, y, n_out, k, k_lo, k_hi, scl, add); return;
    }
}
