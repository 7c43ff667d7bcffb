/* simd512.h — AVX-512 helpers shared by the fp32, bf16 and int8 product
 * kernels (sgemm.c, bgemm.c, amx.c, qgemm.c). Include only where <immintrin.h> is in and
 * the caller's target includes AVX-512F. */
#ifndef STEN_SIMD512_H
#define STEN_SIMD512_H

#include <immintrin.h>
#include <stdint.h>

#define STEN__AVX512F __attribute__((target("avx512f"), always_inline)) static inline

/* The mask of the first n of 16 lanes (none for n <= 0, all for n >= 16). */
__attribute__((always_inline)) static inline __mmask16 sten__lanes16(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* Lane i of the result = the sum of v[i]'s 16 lanes, i < 16: a transpose-
 * and-add tree, 15 adds and 30 shuffles for what 16 separate reductions do
 * in ~128 operations. */
STEN__AVX512F __m512 hsum16(const __m512 v[16])
{
    __m512 t[8], u[4], w[2];
    for (int i = 0; i < 8; i++) /* per 128-bit lane: x0+x2, y0+y2, x1+x3, y1+y3 */
        t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                             _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++) /* per 128-bit lane: the sums of v[4i..4i+3] there */
        u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int i = 0; i < 2; i++) /* 128-bit lanes paired */
        w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The 16 x 16 transpose of 32-bit words: o[c] word i = r[i] word c
 * (unpacks within 128-bit lanes, then lane shuffles; 64 operations). */
STEN__AVX512F void sten__t16(const __m512i r[16], __m512i o[16])
{
    __m512i a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* b[4i + c], lane L: column 4L + c of rows 4i .. 4i+3 */
        b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    for (int c = 0; c < 4; c++) {
        const __m512i x = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x88);
        const __m512i y = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xdd);
        const __m512i x2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x88);
        const __m512i y2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xdd);
        o[c] = _mm512_shuffle_i32x4(x, x2, 0x88);
        o[4 + c] = _mm512_shuffle_i32x4(y, y2, 0x88);
        o[8 + c] = _mm512_shuffle_i32x4(x, x2, 0xdd);
        o[12 + c] = _mm512_shuffle_i32x4(y, y2, 0xdd);
    }
}

/* The mask of the first n of 32 lanes (16-bit elements), n clamped to
 * [0, 32]. */
static inline __mmask32 sten__lanes32(int64_t n)
{
    return n >= 32 ? 0xffffffffu : n <= 0 ? 0u : (__mmask32)((1u << n) - 1u);
}

/* A strip of B^T for the NN micro-kernels: Bp[c * ldp + r] = 32-bit word c
 * of row r of B (rows ldb bytes apart; r < 32, zero for r >= nr), for words
 * c < nc; m says which of the 32 16-bit halves of a row's 16 words to load
 * (the rest read as zero: fp32 past K, or a bf16 pair's half past K). Two
 * 16 x 16 transposes. */
__attribute__((target("avx512f,avx512bw"), always_inline)) static inline void
sten__strip_t(uint32_t *restrict Bp, int64_t ldp, const void *B, int64_t ldb, __mmask32 m, int64_t nr,
              int64_t nc)
{
    for (int h = 0; h < 2; h++) {
        __m512i r[16], o[16];
        for (int i = 0; i < 16; i++)
            r[i] = 16 * h + i < nr ? _mm512_maskz_loadu_epi16(m, (const char *)B + (16 * h + i) * ldb)
                                   : _mm512_setzero_si512();
        sten__t16(r, o);
        for (int64_t c = 0; c < nc; c++)
            _mm512_store_si512(Bp + c * ldp + 16 * h, o[c]);
    }
}

/* The same for 8 vectors: lane i < 8 of the result. */
STEN__AVX512F __m256 hsum8(const __m512 v[8])
{
    __m512 t[4], u[2];
    for (int i = 0; i < 4; i++)
        t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                             _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 2; i++)
        u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 w = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512 r = _mm512_add_ps(_mm512_shuffle_f32x4(w, w, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(w, w, _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_castps512_ps256(r);
}

/* The dot grid's partial sums acc[r][c] (r < mr <= 6, c < nr <= 4) into
 * s[r][c]: the full 6 x 4 block through the trees above (s is float[6][4]:
 * rows 0-3 in one vector, rows 4-5 in half of one), others lane by lane. */
STEN__AVX512F void sten__dot_reduce(const int mr, const int nr, __m512 acc[6][4], float s[6][4])
{
    if (mr == 6 && nr == 4) {
        __m512 v16[16], v8[8];
        for (int c = 0; c < 4; c++) {
            for (int r = 0; r < 4; r++)
                v16[4 * r + c] = acc[r][c];
            v8[c] = acc[4][c], v8[4 + c] = acc[5][c];
        }
        _mm512_storeu_ps(&s[0][0], hsum16(v16));
        _mm256_storeu_ps(&s[4][0], hsum8(v8));
        return;
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++)
            s[r][c] = _mm512_reduce_add_ps(acc[r][c]);
}

/* A dot-grid block's sums s (mr x nr) into C: the first K block (p == 0)
 * sets C = alpha s + beta C (C not read when beta is 0), later ones add
 * alpha s. The fp32 and bf16 grids' common store. */
static inline __attribute__((always_inline)) void sten__dot_store(const int mr, const int nr, int64_t p, float alpha,
                                                                  float beta, float s[6][4], float *C, int64_t ldc)
{
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) {
            float *x = C + r * ldc + c;
            if (p > 0)
                *x += alpha * s[r][c];
            else
                *x = alpha * s[r][c] + (beta == 0.0f ? 0.0f : beta * *x);
        }
}

#endif
