/* bgemm.c — reduced-precision products: bf16 inputs, fp32 accumulation
 * (AVX-512 BF16's vdpbf16ps: 32 products per instruction, twice the fp32
 * FMA rate). The opt-in fast mode of training and inference (issue #6's
 * stretch): the weights' master copy stays fp32, so only the products'
 * inputs are rounded.
 *
 * The same shapes as sgemm.c, the same blocking and the same fixed
 * summation order (results independent of the thread count):
 *  - NN/TN: a 12 x 32 micro-kernel over k in pairs; A (fp32) is rounded and
 *    packed into k-pair panels once per product, B (bf16, row-major) strips
 *    are packed with rows k and k+1 interleaved;
 *  - NT: dot products of bf16 rows, pairs adjacent in memory.
 * Callers check sten__bf16_available() first. */
#include "core_int.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MR 10      /* rows of a micro-tile: 20 accumulators (12 rows spilled one, GCC 12) */
#define NR 32
#define KC 256       /* k per block (128 pairs) */
#define MC 240
#define DOT_KC 1536  /* k per dot-product block: B's block (bf16) stays in L2 */
#define DOT_MR 6
#define DOT_NR 4

uint16_t sten__bf16(float x)
{
    union {
        float f;
        uint32_t u;
    } v = {.f = x};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a (quiet) NaN */
        return (uint16_t)((v.u >> 16) | 0x40u);
    v.u += 0x7fffu + ((v.u >> 16) & 1u); /* round to nearest, ties to even */
    return (uint16_t)(v.u >> 16);
}

float sten__bf16_to_float(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)h << 16};
    return v.f;
}

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
#include <immintrin.h>
#define HAVE_BF16 1
#define BF __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx512bf16,fma,avx2")))
#define INLINE inline __attribute__((always_inline))
#include "simd512.h"
#endif

bool sten__bf16_available(void)
{
#ifdef HAVE_BF16
    return sten__avx512() && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

#ifdef HAVE_BF16


/* 16 floats to bf16, the same rounding as sten__bf16 (vcvtneps2bf16). */
BF static INLINE __m256i cvt16(__m512 x)
{
    return (__m256i)_mm512_cvtneps_pbh(x);
}

/* Row-local form, for use inside another kernel's parallel loop. */
BF void sten__to_bf16_row(uint16_t *dst, const float *src, int64_t n)
{
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        _mm256_storeu_si256((__m256i *)(dst + j), cvt16(_mm512_loadu_ps(src + j)));
    if (j < n) {
        const __mmask16 m = sten__lanes16(n - j);
        _mm256_mask_storeu_epi16(dst + j, m, cvt16(_mm512_maskz_loadu_ps(m, src + j)));
    }
}

/* A parallel region's body calls target-attributed functions rather than
 * holding intrinsics itself: clang outlines the body into a function of its
 * own without the enclosing function's target (GCC keeps it). */
BF void sten__to_bf16(sten_ctx *ctx, uint16_t *dst, const float *src, int64_t n)
{
    const int nt = sten__threads_for(ctx, n, 1 << 16);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i += 1024)
        sten__to_bf16_row(dst + i, src + i, STEN__MIN(n, i + 1024) - i);
}

/* Bp[kp][0..32) = pairs (B[2kp][c], B[2kp+1][c]) for c < nr, zero beyond
 * nr and past row kc. B: bf16, row-major. */
BF static void pack_strip(uint32_t *restrict Bp, const uint16_t *B, int64_t ldb, int64_t kc,
                          int64_t nr)
{
    const __mmask16 m0 = sten__lanes16(nr), m1 = sten__lanes16(nr - 16);
    for (int64_t k = 0; k < kc; k += 2) {
        const uint16_t *r0 = B + k * ldb, *r1 = r0 + ldb;
        const bool two = k + 1 < kc;
        for (int h = 0; h < 2; h++) {
            const __mmask16 m = h ? m1 : m0;
            const __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, r0 + 16 * h));
            const __m512i hi = two ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, r1 + 16 * h))
                                   : _mm512_setzero_si512();
            _mm512_store_si512(Bp + (k / 2) * NR + 16 * h, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
    }
}

/* The same strip from B^T: Bp[kp][c] = (B[c][2kp], B[c][2kp+1]), B's rows
 * c < nr (bf16, ld ldb) holding the pairs side by side already: 16 x 16
 * transposes of 32-bit pairs. */
BF static void pack_strip_t(uint32_t *restrict Bp, const uint16_t *B, int64_t ldb, int64_t kc,
                            int64_t nr)
{
    for (int64_t k = 0; k < kc; k += 32) {
        const __mmask32 m = sten__lanes32(kc - k);
        sten__strip_t(Bp + (k / 2) * NR, NR, B + k, ldb * 2, m, nr, STEN__MIN(16, (kc - k + 1) / 2));
    }
}

/* np k pairs of the 16 rows r[i] (pairs along the row) into P[kp][i],
 * i < MR. */
BF static INLINE void store_panel(uint32_t *restrict P, const __m512i r[16], int64_t np)
{
    __m512i o[16];
    sten__t16(r, o);
    for (int64_t c = 0; c < np; c++)
        _mm512_mask_storeu_epi32(P + c * MR, sten__lanes16(MR), o[c]);
}

/* A panel of MR bf16 rows (k pairs adjacent) into P[kp][r], as below. */
BF static void pack_panel_bf16(uint32_t *restrict P, const uint16_t *A, int64_t lda, int64_t rows,
                               int64_t kc)
{
    for (int64_t k = 0; k < kc; k += 32) {
        const __mmask32 m = sten__lanes32(kc - k);
        __m512i r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_maskz_loadu_epi16(m, A + i * lda + k) : _mm512_setzero_si512();
        store_panel(P + (k / 2) * MR, r, STEN__MIN(16, (kc - k + 1) / 2));
    }
}

/* A panel of MR rows into k pairs: P[kp][r] = (A[r][2kp], A[r][2kp+1])
 * rounded as sten__bf16 rounds (vcvtneps2bf16; subnormals flushed, which
 * vdpbf16ps does to its inputs anyway). NN: A[r*lda + k], 32 k of each row
 * rounded into 16 pairs and the 16 x 16 block of pairs transposed; TN
 * (tn): A[k*lda + r], the MR rows side by side in each of A's rows. Rows
 * past `rows` and k past kc are zero. */
BF static void pack_panel(uint32_t *restrict P, const float *A, int64_t lda, bool tn, int64_t rows,
                          int64_t kc)
{
    const __mmask16 mr = sten__lanes16(MR), mrows = sten__lanes16(rows);
    if (tn) {
        for (int64_t k = 0; k < kc; k += 2) {
            const __m512 lo = _mm512_maskz_loadu_ps(mrows, A + k * lda);
            const __m512 hi = k + 1 < kc ? _mm512_maskz_loadu_ps(mrows, A + (k + 1) * lda) : _mm512_setzero_ps();
            const __m512i w = _mm512_or_si512(_mm512_cvtepu16_epi32(cvt16(lo)),
                                              _mm512_slli_epi32(_mm512_cvtepu16_epi32(cvt16(hi)), 16));
            _mm512_mask_storeu_epi32(P + (k / 2) * MR, mr, w);
        }
        return;
    }
    for (int64_t k = 0; k < kc; k += 32) {
        const __mmask16 m0 = sten__lanes16(kc - k), m1 = sten__lanes16(kc - k - 16);
        __m512i r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, A + i * lda + k + 16),
                                                          _mm512_maskz_loadu_ps(m0, A + i * lda + k))
                            : _mm512_setzero_si512();
        store_panel(P + (k / 2) * MR, r, STEN__MIN(16, (kc - k + 1) / 2));
    }
}

typedef struct {
    float alpha, beta;
    const float *bias;
    int first, last;
    uint16_t *cb; /* also written as bf16 here (last K block), or NULL */
    int64_t ldcb;
} tile_out;

BF static INLINE void micro(const int mr, int64_t kp, const uint32_t *A, const uint32_t *Bp,
                            float *C, int64_t ldc, __mmask16 m0, __mmask16 m1, const tile_out *o)
{
    __m512 c0[MR], c1[MR];
    for (int r = 0; r < mr; r++)
        c0[r] = c1[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kp; k++) {
        const __m512bh b0 = (__m512bh)_mm512_load_si512(Bp + NR * k);
        const __m512bh b1 = (__m512bh)_mm512_load_si512(Bp + NR * k + 16);
        const uint32_t *a = A + k * MR;
        for (int r = 0; r < mr; r++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r]);
            c0[r] = _mm512_dpbf16_ps(c0[r], av, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], av, b1);
        }
    }
    const __m512 va = _mm512_set1_ps(o->alpha), vb = _mm512_set1_ps(o->beta);
    const __m512 bi0 = o->bias ? _mm512_maskz_loadu_ps(m0, o->bias) : _mm512_setzero_ps();
    const __m512 bi1 = o->bias ? _mm512_maskz_loadu_ps(m1, o->bias + 16) : _mm512_setzero_ps();
    for (int r = 0; r < mr; r++) {
        float *cr = C + r * ldc;
        __m512 x0 = _mm512_mul_ps(va, c0[r]), x1 = _mm512_mul_ps(va, c1[r]);
        if (!o->first) {
            x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, cr));
            x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, cr + 16));
        } else {
            if (o->beta != 0.0f) {
                x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
                x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
            }
            x0 = _mm512_add_ps(x0, bi0);
            x1 = _mm512_add_ps(x1, bi1);
        }
        _mm512_mask_storeu_ps(cr, m0, x0);
        _mm512_mask_storeu_ps(cr + 16, m1, x1);
        if (o->cb && o->last) {
            uint16_t *br = o->cb + r * o->ldcb;
            _mm256_mask_storeu_epi16(br, m0, cvt16(x0));
            _mm256_mask_storeu_epi16(br + 16, m1, cvt16(x1));
        }
    }
}

/* Where the strip at column j of K block p starts in a pre-packed B: the
 * blocks one after another, each holding every strip's kp pairs x 32. */
static INLINE int64_t packed_at(int64_t p, int64_t j, int64_t kp, int64_t N)
{
    const int64_t npad = (N + NR - 1) / NR * NR;
    return (p / 2) * npad + (j / NR) * kp * NR;
}

/* A packed B starts with a header of PACK_HEAD words whose first says
 * which kernel's layout follows (the AMX one or this file's). */
#define PACK_HEAD 16
enum { PACKED_AVX512 = 1, PACKED_AMX = 2 };

size_t sten__bgemm_packed_words(int64_t K, int64_t N)
{
    /* room for either layout: a buffer stays usable when a test switches
     * AMX on or off and packs again */
    const int64_t kblocks = (K + KC - 1) / KC;
    const size_t own = (size_t)((K + kblocks) / 2 + 1) * (size_t)((N + NR - 1) / NR * NR);
    return PACK_HEAD + STEN__MAX(own, sten__amx_packed_words(K, N));
}

bool sten__bgemm_packed_current(const uint32_t *Bpk)
{
    return Bpk[0] == (sten__amx_available() ? PACKED_AMX : PACKED_AVX512);
}

BF void sten__bgemm_pack(sten_ctx *ctx, int64_t K, int64_t N, const uint16_t *B, int64_t ldb,
                         uint32_t *out)
{
    memset(out, 0, PACK_HEAD * sizeof *out);
    if (sten__amx_available()) {
        out[0] = PACKED_AMX;
        sten__amx_pack(ctx, K, N, B, ldb, out + PACK_HEAD);
        return;
    }
    out[0] = PACKED_AVX512;
    out += PACK_HEAD;
    const int64_t strips = (N + NR - 1) / NR;
    const int nt = sten__threads_for(ctx, K * N, 1 << 16);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t s = 0; s < strips; s++)
        for (int64_t p = 0; p < K; p += KC) {
            const int64_t kc = STEN__MIN(KC, K - p), kp = (kc + 1) / 2, j = s * NR;
            pack_strip(out + packed_at(p, j, kp, N), B + p * ldb + j, ldb, kc, STEN__MIN(NR, N - j));
        }
}

/* Columns [j0, j1): C (at column coff of its buffer) and its bf16 copy.
 * B: K x N rows, or N x K rows (bt: the NT product). */
BF static void chunk_nn(int64_t M, int64_t j0, int64_t j1, int64_t K, float alpha,
                        const uint32_t *Apk, const uint16_t *B, int64_t ldb, bool bt, const uint32_t *Bpk,
                        int64_t N, float beta, float *C, int64_t ldc, int64_t coff, uint16_t *Cb,
                        int64_t ldcb, const float *bias, int64_t rlo, int64_t rhi)
{
    uint32_t Bp[(KC / 2) * NR] __attribute__((aligned(64)));
    const int64_t Mp = (M + MR - 1) / MR * MR;
    for (int64_t p = 0; p < K; p += KC) {
        const int64_t kc = STEN__MIN(KC, K - p), kp = (kc + 1) / 2;
        const int64_t mc = Mp * kp <= (128 << 10) ? Mp : MC;
        for (int64_t i0 = rlo; i0 < rhi; i0 += mc) { /* rows [rlo, rhi), rlo a multiple of MR */
            const int64_t i1 = STEN__MIN(rhi, i0 + mc);
            for (int64_t j = j0; j < j1; j += NR) {
                const int64_t nr = STEN__MIN(NR, j1 - j);
                /* B's strip: packed once for many products (Bpk), or here */
                const uint32_t *Bs = Bp;
                if (Bpk)
                    Bs = Bpk + packed_at(p, j, kp, N);
                else if (bt)
                    pack_strip_t(Bp, B + j * ldb + p, ldb, kc, nr);
                else
                    pack_strip(Bp, B + p * ldb + j, ldb, kc, nr);
                const __mmask16 m0 = sten__lanes16(nr), m1 = sten__lanes16(nr - 16);
                const tile_out o = {alpha, beta, bias ? bias + j : NULL, p == 0, p + KC >= K,
                                    Cb ? Cb + j : NULL, ldcb};
                float *Cj = C + (j - coff);
                for (int64_t i = i0; i < i1; i += MR) {
                    /* panel i of block p: (p/2) pairs of all Mp rows before it */
                    const uint32_t *a = Apk + (p / 2) * Mp + i * kp;
                    tile_out oi = o;
                    if (oi.cb)
                        oi.cb += i * ldcb;
                    if (i + MR <= i1) {
                        micro(MR, kp, a, Bs, Cj + i * ldc, ldc, m0, m1, &oi);
                        continue;
                    }
                    /* the last, partial panel (packed MR wide, zero rows) */
                    for (int64_t r = 0; r < i1 - i;) {
                        tile_out orr = o;
                        if (orr.cb)
                            orr.cb += (i + r) * ldcb;
                        if (r + 4 <= i1 - i) {
                            micro(4, kp, a + r, Bs, Cj + (i + r) * ldc, ldc, m0, m1, &orr);
                            r += 4;
                        } else {
                            micro(1, kp, a + r, Bs, Cj + (i + r) * ldc, ldc, m0, m1, &orr);
                            r += 1;
                        }
                    }
                }
            }
        }
    }
}

/* The forms of bgemm's operands: op(A) fp32 (A, or A^T: TN) and B K x N
 * rows; or A bf16 and B N x K rows (NT, C = A B^T: backpropagation's
 * products over a short K, on the same micro-kernel). */
typedef enum { FORM_NN, FORM_TN, FORM_NT } bgemm_form;

static sten_status bgemm(sten_ctx *ctx, bgemm_form form, int64_t M, int64_t N, int64_t K,
                         float alpha, const void *A, int64_t lda, const uint16_t *B, int64_t ldb,
                         const uint32_t *Bpk, float beta, float *C, int64_t ldc, uint16_t *Cb,
                         int64_t ldcb, const float *bias, sten_chunk_fn fn, void *arg)
{
    if (!sten__bf16_available()) /* compiled in, but this CPU lacks the instructions */
        return sten_fail(ctx, STEN_E_UNSUPPORTED, "bf16 products need AVX-512 BF16");
    if (M <= 0 || N <= 0)
        return STEN_OK;
    if (sten__amx_available() && !Bpk && form != FORM_NT)
        return sten__amx_chunks(ctx, form == FORM_TN ? STEN_TRANS : STEN_NO_TRANS, M, N, K, alpha, A,
                                lda, B, ldb, NULL, beta, C, ldc, Cb, ldcb, bias, fn, arg);
    const int64_t nch = (N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK, Mp = (M + MR - 1) / MR * MR;
    const int64_t kblocks = (K + KC - 1) / KC, panels = Mp / MR;
    const int threads = sten__threads_for(ctx, M * N * STEN__MAX(K, 1), 1 << 20);
    /* fewer column chunks than threads: the rows split too, as sgemm.c's own_nn does */
    const int64_t rb = !fn && C && K > 0 && nch < threads ? STEN__MIN(panels, (threads + nch - 1) / nch * 2) : 1;
    const int nt = (int)STEN__MIN(nch * rb, threads);
    /* scratch: A in k-pair panels (K rounded up to even per block), then
     * one chunk buffer per thread when there is no C */
    const size_t apk = (size_t)(Mp * (K + 2 * kblocks) / 2 + 16) / 16 * 16;
    const size_t loc = C ? 0 : (size_t)(M * STEN__GEMM_CHUNK);
    uint32_t *ws = sten__scratch(ctx, (apk + loc * (size_t)nt) * 4);
    if (!ws)
        return sten_fail(ctx, STEN_E_NOMEM, "bf16 gemm: no room for the packed operand (%lld x %lld)",
                         (long long)M, (long long)K);
#pragma omp parallel num_threads(nt)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
#pragma omp for schedule(static)
        for (int64_t q = 0; q < kblocks * panels; q++) {
            const int64_t p = q / panels * KC, i = q % panels * MR;
            const int64_t kc = STEN__MIN(KC, K - p), kp = (kc + 1) / 2;
            uint32_t *P = ws + (p / 2) * Mp + i * kp;
            if (form == FORM_NT)
                pack_panel_bf16(P, (const uint16_t *)A + i * lda + p, lda, STEN__MIN(MR, M - i), kc);
            else if (form == FORM_TN)
                pack_panel(P, (const float *)A + p * lda + i, lda, true, STEN__MIN(MR, M - i), kc);
            else
                pack_panel(P, (const float *)A + i * lda + p, lda, false, STEN__MIN(MR, M - i), kc);
        }
        float *own_c = C ? NULL : (float *)(ws + apk + loc * (size_t)t);
#pragma omp for schedule(dynamic, 1)
        for (int64_t q = 0; q < nch * rb; q++) {
            const int64_t ch = q / rb, r = q % rb;
            const int64_t j0 = ch * STEN__GEMM_CHUNK, j1 = STEN__MIN(N, j0 + STEN__GEMM_CHUNK);
            const int64_t rlo = panels * r / rb * MR, rhi = STEN__MIN(M, panels * (r + 1) / rb * MR);
            if (rlo >= rhi)
                continue;
            if (K <= 0) { /* an empty product: beta C + bias */
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = j0; j < j1; j++) {
                        float *c = own_c ? own_c + i * STEN__GEMM_CHUNK + (j - j0) : C + i * ldc + j;
                        *c = (beta == 0.0f || own_c ? 0.0f : beta * *c) + (bias ? bias[j] : 0.0f);
                        if (Cb)
                            Cb[i * ldcb + j] = sten__bf16(*c);
                    }
            } else if (own_c) {
                chunk_nn(M, j0, j1, K, alpha, ws, B, ldb, form == FORM_NT, Bpk, N, 0.0f, own_c, STEN__GEMM_CHUNK, j0,
                         NULL, 0, bias, rlo, rhi);
            } else {
                chunk_nn(M, j0, j1, K, alpha, ws, B, ldb, form == FORM_NT, Bpk, N, beta, C, ldc, 0, Cb, ldcb, bias, rlo, rhi);
            }
            if (fn)
                fn(arg, ch, j0, j1, own_c ? own_c : C + j0, own_c ? STEN__GEMM_CHUNK : ldc);
        }
    }
    return STEN_OK;
}

sten_status sten__bgemm_chunks(sten_ctx *ctx, sten_trans ta, int64_t M, int64_t N, int64_t K,
                               float alpha, const float *A, int64_t lda, const uint16_t *B,
                               int64_t ldb, float beta, float *C, int64_t ldc, uint16_t *Cb,
                               int64_t ldcb, const float *bias, sten_chunk_fn fn, void *arg)
{
    return bgemm(ctx, ta == STEN_TRANS ? FORM_TN : FORM_NN, M, N, K, alpha, A, lda, B, ldb, NULL,
                 beta, C, ldc, Cb, ldcb, bias, fn, arg);
}

sten_status sten__bgemm_chunks_packed(sten_ctx *ctx, int64_t M, int64_t N, int64_t K,
                                      const float *A, int64_t lda, const uint32_t *Bpk, float *C,
                                      int64_t ldc, const float *bias, sten_chunk_fn fn, void *arg)
{
    if (Bpk[0] == PACKED_AMX && sten__amx_available())
        return sten__amx_chunks(ctx, STEN_NO_TRANS, M, N, K, 1.0f, A, lda, NULL, 0, Bpk + PACK_HEAD,
                                0.0f, C, ldc, NULL, 0, bias, fn, arg);
    if (Bpk[0] != PACKED_AVX512)
        return sten_fail(ctx, STEN_E_INVALID, "bf16 gemm: the weights were packed for another "
                                              "kernel (AMX now %s)",
                         sten__amx_available() ? "on" : "off");
    return bgemm(ctx, FORM_NN, M, N, K, 1.0f, A, lda, NULL, 0, Bpk + PACK_HEAD, 0.0f, C, ldc,
                 NULL, 0, bias, fn, arg);
}

bool sten__bgemm_packed_amx(const uint32_t *Bpk)
{
    return Bpk[0] == PACKED_AMX && sten__amx_available();
}

sten_status sten__bgemm_chain_packed(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A,
                                     int64_t lda, const uint16_t *Ab, const uint32_t *Bpk, const float *bias,
                                     bool relu, float *C, int64_t ldc, uint16_t *Cb, int64_t ldcb)
{
    if (!sten__bgemm_packed_amx(Bpk))
        return sten_fail(ctx, STEN_E_INVALID, "bf16 chain: the weights were not packed for the AMX tiles");
    return sten__amx_chain(ctx, M, N, K, A, lda, Ab, Bpk + PACK_HEAD, bias, relu, C, ldc, Cb, ldcb);
}

typedef struct {
    sten_rows_fn fn;
    void *arg;
    int64_t M;
} rows_whole;

static void rows_whole_chunk(void *arg, int64_t chunk, int64_t j0, int64_t j1, float *c, int64_t ldc)
{
    const rows_whole *r = arg;
    r->fn(r->arg, chunk, 0, r->M, j0, j1, c, ldc);
}

sten_status sten__bgemm_rows_packed(sten_ctx *ctx, int64_t M, int64_t N, int64_t K,
                                    const float *A, int64_t lda, const uint32_t *Bpk,
                                    const float *bias, sten_rows_fn fn, void *arg)
{
    if (Bpk[0] == PACKED_AMX && sten__amx_available())
        return sten__amx_rows(ctx, M, N, K, A, lda, Bpk + PACK_HEAD, bias, fn, arg);
    rows_whole r = {fn, arg, M};
    return sten__bgemm_chunks_packed(ctx, M, N, K, A, lda, Bpk, NULL, 0, bias, rows_whole_chunk, &r);
}

/* s[r][c] = sum over k < kc of A[r][k] B[c][k], bf16 rows, pairs adjacent. */
BF static INLINE void dot_micro(const int mr, const int nr, int64_t kc, const uint16_t *A,
                                int64_t lda, const uint16_t *B, int64_t ldb,
                                float s[DOT_MR][DOT_NR])
{
    __m512 acc[DOT_MR][DOT_NR];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++)
            acc[r][c] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= kc; k += 32) {
        __m512bh b[DOT_NR];
        for (int c = 0; c < nr; c++)
            b[c] = (__m512bh)_mm512_loadu_si512(B + c * ldb + k);
        for (int r = 0; r < mr; r++) {
            const __m512bh a = (__m512bh)_mm512_loadu_si512(A + r * lda + k);
            for (int c = 0; c < nr; c++)
                acc[r][c] = _mm512_dpbf16_ps(acc[r][c], a, b[c]);
        }
    }
    if (k < kc) {
        const int64_t left = kc - k;
        const __mmask32 m = sten__lanes32(left);
        __m512bh b[DOT_NR];
        for (int c = 0; c < nr; c++)
            b[c] = (__m512bh)_mm512_maskz_loadu_epi16(m, B + c * ldb + k);
        for (int r = 0; r < mr; r++) {
            const __m512bh a = (__m512bh)_mm512_maskz_loadu_epi16(m, A + r * lda + k);
            for (int c = 0; c < nr; c++)
                acc[r][c] = _mm512_dpbf16_ps(acc[r][c], a, b[c]);
        }
    }
    sten__dot_reduce(mr, nr, acc, s);
}

BF static INLINE void dot_block(const int mr, const int nr, int64_t p, int64_t kc, float alpha,
                                const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb,
                                float beta, float *C, int64_t ldc)
{
    float s[DOT_MR][DOT_NR];
    dot_micro(mr, nr, kc, A + p, lda, B + p, ldb, s);
    sten__dot_store(mr, nr, p, alpha, beta, s, C, ldc);
}

typedef struct {
    const uint16_t *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
    float alpha, beta;
} nt_args;

/* One block of sten__dot_grid, its shape a constant in each call below. */
BF static void nt_block(const void *arg, int mr, int nr, int64_t i, int64_t j, int64_t p,
                        int64_t kc)
{
    const nt_args *g = arg;
    const uint16_t *A = g->A + i * g->lda, *B = g->B + j * g->ldb;
    float *C = g->C + i * g->ldc + j;
    if (mr == DOT_MR && nr == DOT_NR)
        dot_block(DOT_MR, DOT_NR, p, kc, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
    else if (mr == DOT_MR)
        dot_block(DOT_MR, 1, p, kc, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
    else if (mr == 2 && nr == DOT_NR)
        dot_block(2, DOT_NR, p, kc, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
    else if (mr == 2)
        dot_block(2, 1, p, kc, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
    else if (nr == DOT_NR)
        dot_block(1, DOT_NR, p, kc, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
    else
        dot_block(1, 1, p, kc, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
}

void sten__bgemm_nt(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                    const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
                    float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    if (sten__amx_available() && sten__amx_nt(ctx, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == STEN_OK)
        return;
    /* K up to one of the dot grid's blocks: the NN micro-kernel on A's rows
     * and B^T's strips (AMD EPYC, 2 threads, DLRM's backward products at
     * batch 2048: 1.1-10x the dot grid, which spends more on reducing short
     * sums than on them; the dot grid stays ahead over ~26k-long sums) */
    if (K <= DOT_KC && bgemm(ctx, FORM_NT, M, N, K, alpha, A, lda, B, ldb, NULL, beta, C, ldc, NULL,
                              0, NULL, NULL, NULL) == STEN_OK)
        return;
    const nt_args g = {A, B, C, lda, ldb, ldc, alpha, beta};
    sten__dot_grid(ctx, M, N, K, DOT_KC, nt_block, &g);
}

#else /* no AVX-512 BF16 in this compiler: never available, never called */

void sten__to_bf16(sten_ctx *ctx, uint16_t *dst, const float *src, int64_t n)
{
    (void)ctx;
    for (int64_t i = 0; i < n; i++)
        dst[i] = sten__bf16(src[i]);
}

void sten__to_bf16_row(uint16_t *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = sten__bf16(src[i]);
}

sten_status sten__bgemm_chunks(sten_ctx *ctx, sten_trans ta, int64_t M, int64_t N, int64_t K,
                               float alpha, const float *A, int64_t lda, const uint16_t *B,
                               int64_t ldb, float beta, float *C, int64_t ldc, uint16_t *Cb,
                               int64_t ldcb, const float *bias, sten_chunk_fn fn, void *arg)
{
    (void)ta, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb;
    (void)beta, (void)C, (void)ldc, (void)Cb, (void)ldcb, (void)bias, (void)fn, (void)arg;
    return sten_fail(ctx, STEN_E_UNSUPPORTED, "bf16 products need AVX-512 BF16");
}

void sten__bgemm_nt(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                    const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
                    float *C, int64_t ldc)
{
    (void)ctx, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb;
    (void)beta, (void)C, (void)ldc;
}

size_t sten__bgemm_packed_words(int64_t K, int64_t N)
{
    (void)K, (void)N;
    return 1;
}

bool sten__bgemm_packed_current(const uint32_t *Bpk)
{
    (void)Bpk;
    return false;
}

bool sten__bgemm_packed_amx(const uint32_t *Bpk)
{
    (void)Bpk;
    return false;
}

sten_status sten__bgemm_chain_packed(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A,
                                     int64_t lda, const uint16_t *Ab, const uint32_t *Bpk, const float *bias,
                                     bool relu, float *C, int64_t ldc, uint16_t *Cb, int64_t ldcb)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)Ab, (void)Bpk, (void)bias, (void)relu, (void)C;
    (void)ldc, (void)Cb, (void)ldcb;
    return sten_fail(ctx, STEN_E_UNSUPPORTED, "bf16 products need AVX-512 BF16");
}

void sten__bgemm_pack(sten_ctx *ctx, int64_t K, int64_t N, const uint16_t *B, int64_t ldb,
                      uint32_t *out)
{
    (void)ctx, (void)K, (void)N, (void)B, (void)ldb, (void)out;
}

sten_status sten__bgemm_chunks_packed(sten_ctx *ctx, int64_t M, int64_t N, int64_t K,
                                      const float *A, int64_t lda, const uint32_t *Bpk, float *C,
                                      int64_t ldc, const float *bias, sten_chunk_fn fn, void *arg)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)Bpk, (void)C, (void)ldc, (void)bias;
    (void)fn, (void)arg;
    return sten_fail(ctx, STEN_E_UNSUPPORTED, "bf16 products need AVX-512 BF16");
}

sten_status sten__bgemm_rows_packed(sten_ctx *ctx, int64_t M, int64_t N, int64_t K,
                                    const float *A, int64_t lda, const uint32_t *Bpk,
                                    const float *bias, sten_rows_fn fn, void *arg)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)Bpk, (void)bias, (void)fn, (void)arg;
    return sten_fail(ctx, STEN_E_UNSUPPORTED, "bf16 products need AVX-512 BF16");
}

#endif
