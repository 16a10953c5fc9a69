/* The elementwise steps around the MoE's GEMMs, 8 values at a time (AVX2; included by
 * cpu_native.c after its weight loaders): SiLU·up, x rows to float32 in the order a GEMM
 * reads them, results back to x's dtype, static FP8 activation quantisation. */

/* exp(x) for float32 lanes (Cephes' expf: 2^n · p(r), |r| ≤ ln2/2; ~1 ulp). NaN stays NaN. */
static inline __m256 exp8(__m256 x) {
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f)),
                      _mm256_set1_ps(88.3762626647949f));
    const __m256 n = _mm256_floor_ps(
        _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    const __m256i pow2n = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_or_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(pow2n)), nan);
}

static inline __m256 silu_mul8(__m256 gate, __m256 up) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gate));
    return _mm256_mul_ps(_mm256_div_ps(gate, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), up);
}

/* One x row (n values, n % 8 == 0; % 16 for the split order) → float32 in `order`
 * (the split order for bf16). */
static inline void row_to_f32(const void *src, long i, int src_kind, int order, float *dst,
                              int n) {
    if (src_kind == W_BF16 && order == W_BF16) {
        for (int h = 0; h < n; h += 16) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)((const uint16_t *)src + i + h));
            _mm256_storeu_ps(dst + h, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
            _mm256_storeu_ps(dst + h + 8, _mm256_castsi256_ps(_mm256_and_si256(
                                              v, _mm256_set1_epi32((int)0xffff0000u))));
        }
        return;
    }
    for (int h = 0; h < n; h += 8) _mm256_storeu_ps(dst + h, load8(src, i + h, src_kind));
}

/* Natural order [a | b] (16 values) → [even | odd]: the split order. */
static inline void split_even_odd(__m256 *a, __m256 *b) {
    const __m256 even = _mm256_shuffle_ps(*a, *b, 0x88), odd = _mm256_shuffle_ps(*a, *b, 0xdd);
    *a = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xd8));
    *b = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odd), 0xd8));
}

/* A float32 row in natural order → the fp8 order of `load32_fp8`, in place (n % 32 == 0). */
static void to_fp8_order(float *row, int n) {
    for (int i = 0; i < n; i += 32) {
        __m256 a = _mm256_loadu_ps(row + i), b = _mm256_loadu_ps(row + i + 8);
        __m256 c = _mm256_loadu_ps(row + i + 16), d = _mm256_loadu_ps(row + i + 24);
        split_even_odd(&a, &b);
        split_even_odd(&c, &d);
        _mm256_storeu_ps(row + i, a);
        _mm256_storeu_ps(row + i + 8, c);
        _mm256_storeu_ps(row + i + 16, b);
        _mm256_storeu_ps(row + i + 24, d);
    }
}

/* float32 → x's dtype, 8 values; bf16 rounds to nearest even (as torch), NaN stays NaN. */
static inline void store8_as(void *dst, long i, int kind, __m256 v) {
    if (kind == W_F32) { _mm256_storeu_ps((float *)dst + i, v); return; }
    __m128i h;
    if (kind == W_F16) {
        h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
    } else {
        const __m256i u = _mm256_castps_si256(v), top = _mm256_srli_epi32(u, 16);
        const __m256i bias = _mm256_add_epi32(_mm256_and_si256(top, _mm256_set1_epi32(1)),
                                              _mm256_set1_epi32(0x7fff));
        const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, bias), 16);
        const __m256i quiet = _mm256_or_si256(top, _mm256_set1_epi32(0x40));
        const __m256i r = _mm256_blendv_epi8(
            rounded, quiet, _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
        h = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    }
    _mm_storeu_si128((__m128i *)((uint16_t *)dst + i), h);
}

/* Static FP8 activation quantisation of one float32 row in place, n % 8 == 0:
 * fp8(v / scale) · scale with torch's rounding (to nearest even, saturating at ±448); a
 * non-finite v / scale becomes NaN, as `kernels.fp8.quantize_activation`. */
static void fake_quant_fp8(float *row, int n, float scale) {
    const __m256 s = _mm256_set1_ps(scale), sign = _mm256_set1_ps(-0.0f);
    const __m256 min_normal = _mm256_set1_ps(0.015625f); /* 2^-6 */
    const __m256i round_bias = _mm256_set1_epi32(0x7ffff), keep = _mm256_set1_epi32(~0xfffff);
    for (int i = 0; i < n; i += 8) {
        const __m256 v = _mm256_div_ps(_mm256_loadu_ps(row + i), s);
        const __m256 bad = _mm256_cmp_ps(_mm256_sub_ps(v, v), _mm256_setzero_ps(), _CMP_NEQ_UQ);
        const __m256 a = _mm256_min_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps(448.0f));
        const __m256i u = _mm256_castps_si256(a);
        const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 20), _mm256_set1_epi32(1));
        const __m256 normal = _mm256_castsi256_ps(_mm256_and_si256(
            _mm256_add_epi32(u, _mm256_add_epi32(round_bias, odd)), keep));
        const __m256 sub = _mm256_mul_ps(
            _mm256_round_ps(_mm256_mul_ps(a, _mm256_set1_ps(512.0f)),
                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
            _mm256_set1_ps(1.0f / 512.0f));
        __m256 q = _mm256_blendv_ps(normal, sub, _mm256_cmp_ps(a, min_normal, _CMP_LT_OQ));
        q = _mm256_or_ps(q, _mm256_and_ps(v, sign));
        q = _mm256_blendv_ps(_mm256_mul_ps(q, s), _mm256_set1_ps(__builtin_nanf("")), bad);
        _mm256_storeu_ps(row + i, q);
    }
}
