/* sgemm.c — sten's own float GEMM for CPUs with AVX-512, used in place of the
 * BLAS for the shapes a recommender network spends its time in.
 *
 * Why not the BLAS: OpenBLAS 0.3.21 does not know recent CPUs (AMD Zen 5 is
 * run with its Haswell AVX2 kernels, half the machine's fp32 peak), and a
 * BLAS cannot run the code that consumes a block of the product while that
 * block is still in cache (bias, activation, loss). Here:
 *
 *  - NN and TN (C = alpha op(A) B + beta C, B not transposed) share one
 *    12 x 32 micro-kernel: a K x 32 strip of B is packed once into an L1
 *    buffer and every row of A runs over it, one broadcast per row and step
 *    (NN's A is first packed into k-major panels, once per product).
 *    Work is split into 512-column chunks; a caller may pass a function that
 *    receives each finished chunk (all rows) while it is still in L2.
 *  - NT (C = alpha A B^T + beta C) with a long K is a grid of dot products:
 *    6 rows of A against 4 rows of B, 24 vector accumulators, K in blocks
 *    that keep B's block in L2.
 *  - CPUs with AVX2 and FMA but not AVX-512 (AMD Zen 2/3, most Intel client
 *    cores) run the same loops over the same packed strips with a 6 x 16
 *    tile (two 8-float vectors a row, one half strip at a time): each
 *    element of C is summed in the same order, so these give the AVX-512
 *    kernels' bits. NT over long sums and the output layer's one-sweep
 *    backward are AVX-512 only (the BLAS does them here).
 *  - TT, tiny K for NT, alpha = 0, and CPUs without AVX2 go to the BLAS.
 *
 * Every element of C is summed in an order fixed by the shapes alone, so the
 * results do not depend on the thread count. STEN_GEMM=blas in the
 * environment turns these kernels off (for comparisons); STEN_KERNELS=avx2
 * runs everything as on a CPU with AVX2 but not AVX-512 (these kernels'
 * AVX2 ones among them). */
#include "core_int.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MR 12      /* rows of a micro-tile (NN/TN) */
#define NR 32      /* columns of a micro-tile: two vectors */
#define KC 256     /* depth of a packed strip */
#define MC 240     /* rows per pass over a strip when A's block exceeds L2 (a multiple of MR) */
#define DOT_KC 768  /* depth of a dot-product block (NT): B's block stays in L2 */
#define DOT_MR 6    /* the dot grid's block (sten__dot_grid) */
#define DOT_NR 4
#define NT_NN_K 1536 /* NT sums up to this long go through the NN micro-kernel */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define STEN_HAVE_AVX512_GEMM 1
#define AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma,avx2")))
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE inline __attribute__((always_inline))
#include "simd256.h"
#include "simd512.h"
#endif

/* -1: not decided yet, 0: BLAS, 1: own AVX-512 kernels, 2: own AVX2 kernels */
static int own_mode = -1;

/* The widest kernels STEN_KERNELS allows: 0 (portable), 256 (avx2: as a CPU
 * with AVX2 but not AVX-512), 512 (unset). */
static int kernels_cap(void)
{
    static int cap = -1;
    int v = __atomic_load_n(&cap, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("STEN_KERNELS");
        v = !e ? 512 : strcmp(e, "portable") == 0 ? 0 : strcmp(e, "avx2") == 0 ? 256 : 512;
        __atomic_store_n(&cap, v, __ATOMIC_RELAXED);
    }
    return v;
}

bool sten__portable(void)
{
    return kernels_cap() == 0;
}

const char *sten__kernels_setting(void)
{
    return kernels_cap() == 0 ? "STEN_KERNELS=portable" : kernels_cap() == 256 ? "STEN_KERNELS=avx2" : NULL;
}

bool sten__avx512(void)
{
    static int a = -1;
    int v = __atomic_load_n(&a, __ATOMIC_RELAXED);
    if (v < 0) {
        v = 0;
#if defined(__x86_64__) && defined(__GNUC__)
        v = kernels_cap() >= 512 && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512bw");
#endif
        __atomic_store_n(&a, v, __ATOMIC_RELAXED);
    }
    return v == 1;
}

int sten__simd(void)
{
    static int level = -1;
    int v = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (v < 0) {
        v = 0;
#if defined(__x86_64__) && defined(__GNUC__)
        v = sten__avx512() ? 512
            : kernels_cap() >= 256 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 256
                                                                                                        : 0;
#endif
        __atomic_store_n(&level, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* The kernels a mode asks for, or the BLAS (0) where this CPU lacks them:
 * 1 (the best own: AVX-512, else AVX2), 2 (AVX2). */
static int mode_for(int want)
{
    if (want == 1 && sten__simd() == 512)
        return 1;
    return want >= 1 && sten__simd() >= 256 ? 2 : 0;
}

static int own(void)
{
    int m = __atomic_load_n(&own_mode, __ATOMIC_RELAXED);
    if (m < 0) {
        const char *e = getenv("STEN_GEMM");
        m = e && strcmp(e, "blas") == 0 ? 0 : mode_for(1);
        __atomic_store_n(&own_mode, m, __ATOMIC_RELAXED);
    }
    return m;
}

bool sten__gemm_own(void)
{
    return own() != 0;
}

bool sten__gemm_own_wide(void)
{
    return own() == 1;
}

void sten__gemm_set_own(int on)
{
    __atomic_store_n(&own_mode, on < 0 ? -1 : mode_for(on), __ATOMIC_RELAXED);
}

bool sten__gemm_own_available(void)
{
    return mode_for(1) != 0;
}

/* The BLAS path of sten__gemm_chunks: bias laid down, one BLAS call, then
 * the chunk function over the same chunks the own kernel would give. */
static sten_status chunks_blas(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                               const float *A, int64_t lda, const float *B, int64_t ldb,
                               float beta, float *C, int64_t ldc, const float *bias,
                               sten_chunk_fn fn, void *arg)
{
    if (!C) { /* no C of the caller's: the whole product in the scratch buffer */
        ldc = N;
        beta = 0.0f;
        C = sten__scratch(ctx, (size_t)(M * N) * sizeof *C);
        if (!C)
            return sten_fail(ctx, STEN_E_NOMEM, "gemm: no room for a %lld x %lld product",
                             (long long)M, (long long)N);
    }
    if (bias) {
        for (int64_t i = 0; i < M; i++) {
            float *c = C + i * ldc;
            for (int64_t j = 0; j < N; j++)
                c[j] = (beta == 0.0f ? 0.0f : beta * c[j]) + bias[j];
        }
        beta = 1.0f;
    }
    sten__gemm_blas(ctx, lda < 0 ? STEN_TRANS : STEN_NO_TRANS, ldb < 0 ? STEN_TRANS : STEN_NO_TRANS, M, N, K, alpha,
                    A, lda < 0 ? -lda : lda, B, ldb < 0 ? -ldb : ldb, beta, C, ldc);
    if (!fn)
        return STEN_OK;
    const int64_t nch = (N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK;
    const int nt = sten__threads_for(ctx, M * N, 1 << 15);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t ch = 0; ch < nch; ch++) {
        const int64_t j0 = ch * STEN__GEMM_CHUNK;
        fn(arg, ch, j0, STEN__MIN(N, j0 + STEN__GEMM_CHUNK), C + j0, ldc);
    }
    return STEN_OK;
}

#ifdef STEN_HAVE_AVX512_GEMM


/* Bp[k][0..32) = B[k][0..nr), zero beyond nr. */
AVX512 static void pack_strip(float *restrict Bp, const float *B, int64_t ldb, int64_t kc,
                              int64_t nr)
{
    const __mmask16 m0 = sten__lanes16(nr), m1 = sten__lanes16(nr - 16);
    for (int64_t k = 0; k < kc; k++) {
        _mm512_store_ps(Bp + NR * k, _mm512_maskz_loadu_ps(m0, B + k * ldb));
        _mm512_store_ps(Bp + NR * k + 16, _mm512_maskz_loadu_ps(m1, B + k * ldb + 16));
    }
}

/* The same strip from B held transposed (B[c * ldb + k] is element (k, c):
 * the columns as rows, an NT product's B), zero beyond nr: 16 x 16
 * transposes in registers. */
AVX512 static void pack_strip_t(float *restrict Bp, const float *B, int64_t ldb, int64_t kc, int64_t nr)
{
    for (int64_t k = 0; k < kc; k += 16) {
        const int64_t nk = STEN__MIN(16, kc - k); /* two 16-bit halves a float */
        const __mmask32 m = sten__lanes32(2 * nk);
        sten__strip_t((uint32_t *)(Bp + NR * k), NR, B + k, ldb * 4, m, nr, nk);
    }
}

typedef struct {
    float alpha, beta;
    const float *bias; /* at this strip's first column, or NULL */
    int first;         /* first K block: apply beta and bias, else accumulate */
} tile_out;

/* C[0..mr)[0..nr) (through masks) from op(A)[r][k] = A[r + k*cs] times the
 * packed strip. mr is a constant at every call, so the accumulators live in
 * registers and every broadcast is a constant offset from one pointer. */
AVX512 static INLINE void micro(const int mr, int64_t kc, const float *A, int64_t cs,
                                const float *Bp, float *C, int64_t ldc, __mmask16 m0,
                                __mmask16 m1, const tile_out *o)
{
    __m512 c0[MR], c1[MR];
    for (int r = 0; r < mr; r++)
        c0[r] = c1[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(Bp + NR * k), b1 = _mm512_load_ps(Bp + NR * k + 16);
        const float *a = A + k * cs;
        for (int r = 0; r < mr; r++) {
            const __m512 av = _mm512_set1_ps(a[r]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
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
            if (o->beta != 0.0f) { /* beta = 0 never reads C (BLAS rule: NaN there is ignored) */
                x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
                x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
            }
            x0 = _mm512_add_ps(x0, bi0);
            x1 = _mm512_add_ps(x1, bi1);
        }
        _mm512_mask_storeu_ps(cr, m0, x0);
        _mm512_mask_storeu_ps(cr + 16, m1, x1);
    }
}

/* NN's A packed once per product, shared by all threads: for each K block
 * p (of KC), panels of MR rows, k-major, the last one zero-padded:
 * element (r, k) of block p at Ap[p*Mp + (r - r%MR)*kc + (k-p)*MR + r%MR],
 * Mp = M rounded up to MR. The micro-kernel reads it like TN's A. */
static int64_t padded_rows(int64_t M)
{
    return (M + MR - 1) / MR * MR;
}

static INLINE void pack_panel(float *restrict P, const float *A, int64_t lda, int64_t rows,
                              int64_t kc)
{
    for (int64_t k = 0; k < kc; k++)
        for (int64_t r = 0; r < MR; r++)
            P[k * MR + r] = r < rows ? A[r * lda + k] : 0.0f;
}

/* Where a K block's rows of op(A) are: NN's packed panels (Apk, k-major
 * panels of MR rows), or TN's A in place (A[k*ld + r]). */
typedef struct {
    const float *A, *Apk;
    int64_t ld, Mp, p, kc; /* ld: TN's row stride (0: packed); p, kc: the K block */
} a_block;

/* Row i's (a multiple of MR) panel of the block, and its stride from k to k + 1. */
static INLINE const float *a_panel(const a_block *s, int64_t i, int64_t *cs)
{
    *cs = s->ld ? s->ld : MR;
    return s->ld ? s->A + s->p * s->ld + i : s->Apk + s->p * s->Mp + i * s->kc;
}

/* Rows [i0, i1) of a strip, panel by panel: MR rows at once, else 4 and 1. */
AVX512 static void strip_512(const a_block *s, int64_t i0, int64_t i1, const float *Bp, float *C,
                             int64_t ldc, int64_t nr, const tile_out *o)
{
    const __mmask16 m0 = sten__lanes16(nr), m1 = sten__lanes16(nr - 16);
    for (int64_t i = i0; i < i1; i += MR) {
        int64_t cs;
        const float *a = a_panel(s, i, &cs);
        float *Ci = C + i * ldc;
        if (i + MR <= i1) {
            micro(MR, s->kc, a, cs, Bp, Ci, ldc, m0, m1, o);
            continue;
        }
        int64_t r = 0;
        for (; r + 4 <= i1 - i; r += 4)
            micro(4, s->kc, a + r, cs, Bp, Ci + r * ldc, ldc, m0, m1, o);
        for (; r < i1 - i; r++)
            micro(1, s->kc, a + r, cs, Bp, Ci + r * ldc, ldc, m0, m1, o);
    }
}

AVX512 static void pack_panel_512(float *restrict P, const float *A, int64_t lda, int64_t rows,
                                  int64_t kc)
{
    pack_panel(P, A, lda, rows, kc);
}

/* ---- the same products on AVX2 + FMA: 16 vector registers of 8 floats,
 * so a micro-tile is 6 rows x 16 columns (12 accumulators), half a strip. */

/* pack_strip's strip, on AVX2. */
AVX2 static void pack_strip_256(float *restrict Bp, const float *B, int64_t ldb, int64_t kc,
                                int64_t nr)
{
    if (nr == NR) {
        for (int64_t k = 0; k < kc; k++)
            for (int q = 0; q < NR / 8; q++)
                _mm256_store_ps(Bp + NR * k + 8 * q, _mm256_loadu_ps(B + k * ldb + 8 * q));
        return;
    }
    __m256i m[NR / 8];
    for (int q = 0; q < NR / 8; q++)
        m[q] = sten__lanes8(nr - 8 * q);
    for (int64_t k = 0; k < kc; k++)
        for (int q = 0; q < NR / 8; q++)
            _mm256_store_ps(Bp + NR * k + 8 * q, _mm256_maskload_ps(B + k * ldb + 8 * q, m[q]));
}

/* 8 x 8 transpose in registers: r[i] lane j -> r[j] lane i. */
AVX2 static INLINE void t8x8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* pack_strip_t's strip (B held transposed), on AVX2: blocks of 8 of B's
 * rows x 8 of its columns through 8 x 8 register transposes, rows past nr
 * zero. */
AVX2 static void pack_strip_t_256(float *restrict Bp, const float *B, int64_t ldb, int64_t kc,
                                  int64_t nr)
{
    for (int64_t k = 0; k < kc; k += 8) {
        const int64_t nk = STEN__MIN(8, kc - k);
        const __m256i m = sten__lanes8(nk);
        for (int64_t c = 0; c < NR; c += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = c + i < nr ? _mm256_maskload_ps(B + (c + i) * ldb + k, m) : _mm256_setzero_ps();
            t8x8(r);
            for (int64_t i = 0; i < nk; i++)
                _mm256_store_ps(Bp + NR * (k + i) + c, r[i]);
        }
    }
}

/* micro's tile on AVX2: mr <= 6 rows of one half (16 columns) of the
 * strip; a half strip (16 KB) stays in L1 while every panel of a pass runs
 * over it. Every element is summed in micro's order (one fused multiply-add
 * per k from zero, then alpha, C or beta C, bias), so its bits are micro's. */
AVX2 static INLINE void micro_256(const int mr, int64_t kc, const float *A, int64_t cs,
                                  const float *Bp, float *C, int64_t ldc, int64_t nr,
                                  const tile_out *o)
{
    __m256 c0[6], c1[6];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
        c0[r] = c1[r] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(Bp + NR * k), b1 = _mm256_load_ps(Bp + NR * k + 8);
        const float *a = A + k * cs;
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            const __m256 av = _mm256_broadcast_ss(a + r);
            c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
        }
    }
    const __m256 va = _mm256_set1_ps(o->alpha), vb = _mm256_set1_ps(o->beta);
#pragma GCC unroll 2
    for (int q = 0; q < 2; q++) {
        if (8 * q >= nr)
            break;
        const bool whole = nr >= 8 * q + 8;
        const __m256i m = sten__lanes8(nr - 8 * q);
        const __m256 bi = !o->bias ? _mm256_setzero_ps()
                          : whole  ? _mm256_loadu_ps(o->bias + 8 * q)
                                   : _mm256_maskload_ps(o->bias + 8 * q, m);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            float *cr = C + r * ldc + 8 * q;
            __m256 x = _mm256_mul_ps(va, q == 0 ? c0[r] : c1[r]);
            if (!o->first || o->beta != 0.0f) { /* beta = 0 never reads C (as micro) */
                const __m256 cv = whole ? _mm256_loadu_ps(cr) : _mm256_maskload_ps(cr, m);
                x = !o->first ? _mm256_add_ps(x, cv) : _mm256_fmadd_ps(vb, cv, x);
            }
            if (o->first)
                x = _mm256_add_ps(x, bi);
            if (whole)
                _mm256_storeu_ps(cr, x);
            else
                _mm256_maskstore_ps(cr, m, x);
        }
    }
}

/* Rows [i0, i1) of a strip on AVX2: one half strip at a time over every
 * panel, 6 rows at once, else 1. */
AVX2 static void strip_256(const a_block *s, int64_t i0, int64_t i1, const float *Bp, float *C,
                           int64_t ldc, int64_t nr, const tile_out *o)
{
    for (int64_t h = 0; h < NR && h < nr; h += 16) {
        const tile_out oh = {o->alpha, o->beta, o->bias ? o->bias + h : NULL, o->first};
        const int64_t nh = STEN__MIN(16, nr - h);
        for (int64_t i = i0; i < i1; i += MR) {
            int64_t cs;
            const float *a = a_panel(s, i, &cs);
            float *Ci = C + i * ldc + h;
            const int64_t rows = STEN__MIN(MR, i1 - i);
            int64_t r = 0;
            for (; r + 6 <= rows; r += 6)
                micro_256(6, s->kc, a + r, cs, Bp + h, Ci + r * ldc, ldc, nh, &oh);
            for (; r < rows; r++)
                micro_256(1, s->kc, a + r, cs, Bp + h, Ci + r * ldc, ldc, nh, &oh);
        }
    }
}

AVX2 static void pack_panel_256(float *restrict P, const float *A, int64_t lda, int64_t rows,
                                int64_t kc)
{
    pack_panel(P, A, lda, rows, kc);
}

/* The kernels of one instruction set, behind the loops below. */
typedef struct {
    void (*pack)(float *restrict Bp, const float *B, int64_t ldb, int64_t kc, int64_t nr);
    void (*pack_t)(float *restrict Bp, const float *B, int64_t ldb, int64_t kc, int64_t nr);
    void (*pack_a)(float *restrict P, const float *A, int64_t lda, int64_t rows, int64_t kc);
    void (*strip)(const a_block *s, int64_t i0, int64_t i1, const float *Bp, float *C, int64_t ldc,
                  int64_t nr, const tile_out *o);
} gemm_isa;

static const gemm_isa isa_512 = {pack_strip, pack_strip_t, pack_panel_512, strip_512};
static const gemm_isa isa_256 = {pack_strip_256, pack_strip_t_256, pack_panel_256, strip_256};

/* Columns [j0, j1) of C, all M rows: K in blocks of KC, rows in passes that
 * keep their part of A in L2, each strip of B packed once per (K block,
 * pass) into L1. NN reads the shared packed A (Apk); TN (lda < 0:
 * A[k*(-lda) + r]) reads A where it is. ldb < 0: B is held transposed
 * (B[j*(-ldb) + k]), packed strip by strip as it is read. Only rows [rlo,
 * rhi) are computed (rlo a multiple of MR): every element comes out of the
 * same micro-tile sums whichever rows a call is given. */
static void chunk_nn(const gemm_isa *isa, int64_t M, int64_t j0, int64_t j1, int64_t K, float alpha,
                     const float *A, int64_t lda, const float *Apk, const float *B, int64_t ldb,
                     float beta, float *C, int64_t ldc, int64_t coff, const float *bias, int64_t rlo,
                     int64_t rhi)
{
    float Bp[KC * NR] __attribute__((aligned(64)));
    const bool tn = lda < 0;
    const int64_t Mp = padded_rows(M);
    for (int64_t p = 0; p < K; p += KC) {
        const int64_t kc = STEN__MIN(KC, K - p);
        const a_block ab = {A, Apk, tn ? -lda : 0, Mp, p, kc};
        /* rows per pass: all of them when their block of A fits in 512 KB */
        const int64_t mc = Mp * kc <= (128 << 10) ? Mp : MC;
        for (int64_t i0 = rlo; i0 < rhi; i0 += mc) {
            const int64_t i1 = STEN__MIN(rhi, i0 + mc);
            for (int64_t j = j0; j < j1; j += NR) {
                const int64_t nr = STEN__MIN(NR, j1 - j);
                if (ldb < 0)
                    isa->pack_t(Bp, B + j * -ldb + p, -ldb, kc, nr);
                else
                    isa->pack(Bp, B + p * ldb + j, ldb, kc, nr);
                const tile_out o = {alpha, beta, bias ? bias + j : NULL, p == 0};
                isa->strip(&ab, i0, i1, Bp, C + (j - coff), ldc, nr, &o); /* from column j of row 0 */
            }
        }
    }
}

/* NN's A packed, then the chunks; both spread over the threads. With C
 * NULL each thread computes its chunks into a buffer of its own. */
static sten_status own_nn(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                          float *C, int64_t ldc, const float *bias, sten_chunk_fn fn, void *arg)
{
    const gemm_isa *isa = own() == 1 ? &isa_512 : &isa_256;
    const int64_t nch = (N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK, Mp = padded_rows(M);
    const int threads = sten__threads_for(ctx, M * N * K, 1 << 20);
    /* fewer column chunks than threads (an MLP layer's 512 or fewer outputs): the rows are
     * split too, in blocks of whole MR-row panels, two per thread per chunk. Not with fn,
     * which needs whole chunks. The sums are the same for any split. */
    const int64_t rb = !fn && C && nch < threads ? STEN__MIN(Mp / MR, (threads + nch - 1) / nch * 2) : 1;
    const int nt = (int)STEN__MIN(nch * rb, threads);
    /* scratch: the packed A (NN), then one chunk buffer per thread (C NULL) */
    const size_t apk = lda > 0 ? (size_t)(Mp * K + 15) / 16 * 16 : 0;
    const size_t loc = C ? 0 : (size_t)(M * STEN__GEMM_CHUNK);
    float *ws = NULL;
    if (apk + loc > 0) {
        ws = sten__scratch(ctx, (apk + loc * (size_t)nt) * sizeof *ws);
        if (!ws) /* no room for the packed copy: the BLAS does it */
            return chunks_blas(ctx, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, fn, arg);
    }
    float *Apk = apk ? ws : NULL;
    const int64_t kblocks = (K + KC - 1) / KC, panels = Mp / MR;
#pragma omp parallel num_threads(nt)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        if (Apk) {
#pragma omp for schedule(static)
            for (int64_t q = 0; q < kblocks * panels; q++) {
                const int64_t p = q / panels * KC, i = q % panels * MR;
                const int64_t kc = STEN__MIN(KC, K - p);
                isa->pack_a(Apk + p * Mp + i * kc, A + i * lda + p, lda, STEN__MIN(MR, M - i), kc);
            }
        }
        float *own_c = C ? NULL : ws + apk + loc * (size_t)t;
#pragma omp for schedule(dynamic, 1)
        for (int64_t q = 0; q < nch * rb; q++) {
            const int64_t ch = q / rb, r = q % rb, pn = Mp / MR;
            const int64_t j0 = ch * STEN__GEMM_CHUNK, j1 = STEN__MIN(N, j0 + STEN__GEMM_CHUNK);
            const int64_t rlo = pn * r / rb * MR, rhi = STEN__MIN(M, pn * (r + 1) / rb * MR);
            if (rlo >= rhi)
                continue;
            if (own_c)
                chunk_nn(isa, M, j0, j1, K, alpha, A, lda, Apk, B, ldb, 0.0f, own_c, STEN__GEMM_CHUNK, j0,
                         bias, rlo, rhi);
            else
                chunk_nn(isa, M, j0, j1, K, alpha, A, lda, Apk, B, ldb, beta, C, ldc, 0, bias, rlo, rhi);
            if (fn)
                fn(arg, ch, j0, j1, own_c ? own_c : C + j0, own_c ? STEN__GEMM_CHUNK : ldc);
        }
    }
    return STEN_OK;
}

/* s[r][c] = sum over k < kc of A[r][k] * B[c][k], for mr rows of A and nr
 * rows of B; vector partial sums, reduced at the end. */
AVX512 static INLINE void dot_micro(const int mr, const int nr, int64_t kc, const float *A,
                                    int64_t lda, const float *B, int64_t ldb,
                                    float s[DOT_MR][DOT_NR])
{
    __m512 acc[DOT_MR][DOT_NR];
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++)
            acc[r][c] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) {
        __m512 b[DOT_NR];
        for (int c = 0; c < nr; c++)
            b[c] = _mm512_loadu_ps(B + c * ldb + k);
        for (int r = 0; r < mr; r++) {
            const __m512 a = _mm512_loadu_ps(A + r * lda + k);
            for (int c = 0; c < nr; c++)
                acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
    if (k < kc) {
        const __mmask16 m = sten__lanes16(kc - k);
        __m512 b[DOT_NR];
        for (int c = 0; c < nr; c++)
            b[c] = _mm512_maskz_loadu_ps(m, B + c * ldb + k);
        for (int r = 0; r < mr; r++) {
            const __m512 a = _mm512_maskz_loadu_ps(m, A + r * lda + k);
            for (int c = 0; c < nr; c++)
                acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
    sten__dot_reduce(mr, nr, acc, s);
}

/* One (mr x nr) block of C for the K block starting at p. */
AVX512 static INLINE void dot_block(const int mr, const int nr, int64_t p, int64_t kc, float alpha,
                                    const float *A, int64_t lda, const float *B, int64_t ldb,
                                    float beta, float *C, int64_t ldc)
{
    float s[DOT_MR][DOT_NR];
    dot_micro(mr, nr, kc, A + p, lda, B + p, ldb, s);
    sten__dot_store(mr, nr, p, alpha, beta, s, C, ldc);
}

typedef struct {
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
    float alpha, beta;
} nt_args;

/* One block of the grid, its shape a constant in each call below. */
AVX512 static void nt_block(const void *arg, int mr, int nr, int64_t i, int64_t j, int64_t p,
                            int64_t kc)
{
    const nt_args *g = arg;
    const float *A = g->A + i * g->lda, *B = g->B + j * g->ldb;
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

static void own_nt(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    const nt_args g = {A, B, C, lda, ldb, ldc, alpha, beta};
    sten__dot_grid(ctx, M, N, K, DOT_KC, nt_block, &g);
}

static void dot_part(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, int64_t kc,
                     sten_dot_fn fn, const void *arg);

/* The output layer's backward pass in one sweep over D's 512-column chunks
 * (sten__gemm_out_backward): for each chunk, its part of dA = D W^T from
 * the chunk's columns of W, then those columns' update W = beta W +
 * alpha A^T D. D and W each come from memory once, not twice. Chunks go in
 * groups fixed by N (several consecutive chunks per group, one thread per
 * group, in order), each group's part of dA into its own buffer, and the
 * buffers are summed in group order: the same result for any thread count. */
static sten_status own_out_backward(sten_ctx *ctx, int64_t M, int64_t N, int64_t H,
                                    const float *A, int64_t lda, const float *D, int64_t ldd,
                                    float alpha, float beta, float *W, int64_t ldw, float *dA,
                                    int64_t ldda)
{
    const int64_t nch = (N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK;
    /* with few chunks the two products apart balance better over the
     * threads and reduce over longer K blocks (measured: MovieLens-1M's 8
     * chunks were 4% slower in one sweep, ML-20M's 53 chunks 11% faster) */
    if (nch < 16)
        return STEN_E_UNSUPPORTED;
    const int64_t per = nch / 16, groups = (nch + per - 1) / per;
    const size_t part = (size_t)(M * H + 15) / 16 * 16;
    float *ws = sten__scratch(ctx, part * (size_t)groups * sizeof *ws);
    if (!ws)
        return STEN_E_NOMEM;
    const int nt = (int)STEN__MIN(groups, sten__threads_for(ctx, M * N * H, 1 << 20));
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(dynamic, 1)
        for (int64_t g = 0; g < groups; g++) {
            float *P = ws + part * (size_t)g;
            for (int64_t ch = g * per; ch < STEN__MIN(nch, (g + 1) * per); ch++) {
                const int64_t j0 = ch * STEN__GEMM_CHUNK, j1 = STEN__MIN(N, j0 + STEN__GEMM_CHUNK);
                /* P (+)= D[:, j0:j1) W[:, j0:j1)^T, with W's columns before their update */
                const nt_args na = {D + j0, W + j0, P, ldd, ldw, H, 1.0f, ch == g * per ? 0.0f : 1.0f};
                dot_part(0, M, 0, H, j1 - j0, j1 - j0, nt_block, &na);
                chunk_nn(&isa_512, H, j0, j1, M, alpha, A, -lda, NULL, D, ldd, beta, W, ldw, 0, NULL, 0, H);
            }
        }
#pragma omp for schedule(static)
        for (int64_t i = 0; i < M; i++)
            for (int64_t h = 0; h < H; h++) {
                float x = dA[i * ldda + h];
                for (int64_t g = 0; g < groups; g++)
                    x += ws[part * (size_t)g + (size_t)(i * H + h)];
                dA[i * ldda + h] = x;
            }
    }
    return STEN_OK;
}

#endif /* STEN_HAVE_AVX512_GEMM */

/* Rows [i0, i1) x columns [j0, j1) of the grid. */
static void dot_part(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, int64_t kc,
                     sten_dot_fn fn, const void *arg)
{
    for (int64_t p = 0; p < K; p += kc)
        for (int64_t i = i0; i < i1;) {
            const int mr = i1 - i >= 6 ? 6 : i1 - i >= 2 ? 2 : 1;
            for (int64_t j = j0; j < j1;) {
                const int nr = j1 - j >= 4 ? 4 : 1;
                fn(arg, mr, nr, i, j, p, STEN__MIN(kc, K - p));
                j += nr;
            }
            i += mr;
        }
}

void sten__dot_grid(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, int64_t kc, sten_dot_fn fn,
                    const void *arg)
{
    const int nt = sten__threads_for(ctx, M * N * K, 1 << 20);
    /* split the longer side into one contiguous part per thread, in whole blocks */
    const bool by_rows = M >= N;
    const int64_t len = by_rows ? M : N, unit = by_rows ? 6 : 4;
#pragma omp parallel num_threads(nt)
    {
        int t = 0, n = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        n = omp_get_num_threads();
#endif
        const int64_t units = (len + unit - 1) / unit;
        const int64_t a = units * t / n * unit, b = STEN__MIN(len, units * (t + 1) / n * unit);
        if (a < b) {
            if (by_rows)
                dot_part(a, b, 0, N, K, kc, fn, arg);
            else
                dot_part(0, M, a, b, K, kc, fn, arg);
        }
    }
}

sten_status sten__gemm_out_backward(sten_ctx *ctx, int64_t M, int64_t N, int64_t H, const float *A,
                                    int64_t lda, const float *D, int64_t ldd, float alpha, float beta,
                                    float *W, int64_t ldw, float *dA, int64_t ldda)
{
#ifdef STEN_HAVE_AVX512_GEMM
    if (M > 0 && N > 0 && H > 0 && own() == 1)
        return own_out_backward(ctx, M, N, H, A, lda, D, ldd, alpha, beta, W, ldw, dA, ldda);
#endif
    (void)ctx, (void)A, (void)lda, (void)D, (void)ldd, (void)alpha, (void)beta, (void)W, (void)ldw,
        (void)dA, (void)ldda;
    return STEN_E_UNSUPPORTED;
}

sten_status sten__gemm_chunks(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                              const float *A, int64_t lda, const float *B, int64_t ldb,
                              float beta, float *C, int64_t ldc, const float *bias,
                              sten_chunk_fn fn, void *arg)
{
    if (M <= 0 || N <= 0)
        return STEN_OK;
#ifdef STEN_HAVE_AVX512_GEMM
    if (K > 0 && alpha != 0.0f && sten__gemm_own())
        return own_nn(ctx, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, fn, arg);
#endif
    return chunks_blas(ctx, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, fn, arg);
}

void sten_gemm(sten_ctx *ctx, sten_trans ta, sten_trans tb, int64_t M, int64_t N, int64_t K,
               float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
               float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
#ifdef STEN_HAVE_AVX512_GEMM
    if (K > 0 && alpha != 0.0f && sten__gemm_own()) {
        if (tb == STEN_NO_TRANS) {
            /* a negative lda tells chunk_nn that A is transposed (TN) */
            (void)own_nn(ctx, M, N, K, alpha, A, ta == STEN_TRANS ? -lda : lda, B, ldb, beta, C,
                         ldc, NULL, NULL, NULL); /* C given: cannot fail */
            return;
        }
        /* NT (backpropagation's D W^T): over sums up to 1536 long, the NN
         * micro-kernel on B's strips transposed as they are packed (AMD EPYC,
         * 2 threads, DLRM's shapes at batch 2048: 1.1-2.3x the dot grid or
         * the BLAS); over longer sums (the autoencoders' catalogue-wide
         * ones) the dot grid, which reads both where they are */
        if (ta == STEN_NO_TRANS && K <= NT_NN_K) {
            (void)own_nn(ctx, M, N, K, alpha, A, lda, B, -ldb, beta, C, ldc, NULL, NULL, NULL);
            return;
        }
        if (ta == STEN_NO_TRANS && own() == 1) {
            own_nt(ctx, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
            return;
        }
    }
#endif
    sten__gemm_blas(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *sten_gemm_info(void)
{
    if (own() == 1)
        return "sten's AVX-512 kernels (NN, TN, NT), the BLAS for TT";
    if (own() == 2)
        return kernels_cap() < 512 ? "sten's AVX2 kernels (NN, TN, NT up to 1536-long sums; STEN_KERNELS=avx2), the BLAS else"
                                   : "sten's AVX2 kernels (NN, TN, NT up to 1536-long sums), the BLAS else";
    return sten__portable()            ? "the BLAS (STEN_KERNELS=portable)"
           : sten__gemm_own_available() ? "the BLAS (STEN_GEMM=blas)"
                                        : "the BLAS (no AVX2 here)";
}
