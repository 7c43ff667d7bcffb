/* amx.c — the bf16 products on Intel AMX tiles (tdpbf16ps: a 16 x 16 fp32
 * tile += a 16 x 32 bf16 tile times a 32 x 16 one, 16,384 flops per
 * instruction, ~14x what vdpbf16ps does per cycle on the same core).
 * The same products, arguments and results' contract as bgemm.c — bf16
 * inputs, fp32 accumulation, the summation order fixed by the shapes alone
 * (so results do not depend on the thread count) — taken by bgemm.c's
 * entry points wherever sten__amx_available().
 *
 * Operands in tiles: A tiles are 16 rows of 32 bf16 (k contiguous); B
 * tiles are 16 rows of k pairs, each row 16 columns of (B[2p][c],
 * B[2p+1][c]) — the pair layout bgemm.c's strips already have, so a 32-
 * column strip is two B tiles 128 bytes apart. A micro-tile is 32 x 32
 * (four accumulators, two A tiles, two B tiles: all eight tiles), over
 * the whole K at once (no K blocks: one rounding path per element).
 *  - NN / TN (forward, weight gradient): A rounded once per product into
 *    bf16 rows padded to 32 x 32; B's strips packed per chunk (or once, for
 *    inference weights). Where C is plain (alpha 1, beta 0, no bf16 copy)
 *    the tiles start from the bias and are stored straight into C; else
 *    through a 4 KB block and an AVX-512 epilogue.
 *  - NT (propagation, C = A B^T over a long K): K in at most 16 fixed groups
 *    of whole 32-steps, one thread per group at a time: the group's B
 *    transposed into pairs (a 16 x 16 transpose of 32-bit pairs), the full
 *    M x N product of the group into its own buffer, the buffers added in
 *    group order at the end.
 * Linux hands out the tile state only on request (arch_prctl
 * ARCH_REQ_XCOMP_PERM, once per process); each thread loads the tile
 * configuration at the start of a product and releases it at the end. */
#define _GNU_SOURCE /* syscall */
#include "core_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && \
    (__GNUC__ >= 12 || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define HAVE_AMX 1
#define AMX                                                                                        \
    __attribute__((target("amx-tile,amx-bf16,avx512f,avx512vl,avx512dq,avx512bw,avx512bf16,fma,"  \
                          "avx2")))
#define INLINE inline __attribute__((always_inline))
#include "simd512.h"
#endif

static int amx_mode = -1; /* -1: not decided yet, 0 off, 1 on */
static int amx_forced = -1;

#ifdef HAVE_AMX
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* The CPU has AMX-TILE and AMX-BF16, the kernel hands out the tile data
 * state, and STEN_AMX is not 0. */
static bool amx_probe(void)
{
    if (sten__portable() || !sten__bf16_available())
        return false;
    const char *e = getenv("STEN_AMX");
    if (e && strcmp(e, "0") == 0)
        return false;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    if (!(d & (1u << 22)) || !(d & (1u << 24))) /* AMX-BF16, AMX-TILE */
        return false;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}
#endif

bool sten__amx_hardware(void)
{
#ifdef HAVE_AMX
    static int h = -1;
    int v = __atomic_load_n(&h, __ATOMIC_RELAXED);
    if (v < 0) {
        v = amx_probe();
        __atomic_store_n(&h, v, __ATOMIC_RELAXED);
    }
    return v == 1;
#else
    return false;
#endif
}

bool sten__amx_available(void)
{
    int f = __atomic_load_n(&amx_forced, __ATOMIC_RELAXED);
    if (f >= 0)
        return f == 1 && sten__amx_hardware();
    int v = __atomic_load_n(&amx_mode, __ATOMIC_RELAXED);
    if (v < 0) {
        v = sten__amx_hardware();
        __atomic_store_n(&amx_mode, v, __ATOMIC_RELAXED);
    }
    return v == 1;
}

void sten__amx_force(int on)
{
    __atomic_store_n(&amx_forced, on, __ATOMIC_RELAXED);
}

#ifdef HAVE_AMX

/* Tiles 0-3: the four accumulators of a 32 x 32 block (rows 0-15 / 16-31 x
 * columns 0-15 / 16-31), 4-5: A's two row halves, 6-7: B's two column
 * halves. Every tile 16 rows of 64 bytes. */
AMX static void tiles_on(void)
{
    struct {
        uint8_t palette, start_row, reserved[14];
        uint16_t colsb[16];
        uint8_t rows[16];
    } __attribute__((packed, aligned(64))) cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
}

/* GCC's tileloadd does not tell the compiler it reads memory: these do, so
 * packing stores are never moved past the loads that read them. */
#define TLOAD(t, p, stride)                                                                        \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"((const void *)(p)),                     \
                     "r"((long)(stride))                                                           \
                     : "memory")
#define TSTORE(t, p, stride) _tile_stored(t, p, stride)
#define TDP(c, a, b) _tile_dpbf16ps(c, a, b)


static INLINE int64_t up32(int64_t n)
{
    return (n + 31) / 32 * 32;
}

static int omp_threads(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

static int thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* A's rows in bf16, K padded with zeros to Kp: row i of op(A) at Ap + i Kp
 * (NN: A[i lda + k], TN: A[k lda + i]); rows [M, Mp) zero. */
AMX static void pack_tn16(uint16_t *Ap, int64_t Kp, const float *A, int64_t lda, int64_t i0,
                          int64_t M, int64_t k, int64_t K);

AMX static void pack_rows(sten_ctx *ctx, uint16_t *Ap, const float *A, int64_t lda, bool tn,
                          int64_t M, int64_t Mp, int64_t K, int64_t Kp)
{
    const int nt = sten__threads_for(ctx, Mp * Kp, 1 << 15);
    if (tn) { /* in 16 x 32 blocks (Mp and Kp are multiples of 32) */
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < Mp; i += 16)
            for (int64_t k = 0; k < Kp; k += 32)
                pack_tn16(Ap, Kp, A, lda, i, M, k, K);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < Mp; i++) {
        uint16_t *r = Ap + i * Kp;
        int64_t k = 0;
        if (i < M && !tn) {
            sten__to_bf16_row(r, A + i * lda, K);
            k = K;
        } else if (i < M) {
            for (; k < K; k++)
                r[k] = sten__bf16(A[k * lda + i]);
        }
        memset(r + k, 0, (size_t)(Kp - k) * sizeof *r);
    }
}

/* Columns [j, j + nr) of B (K x N bf16, row-major) packed as strips of 32
 * columns, strip s at Bs + s * Kp/2 * 32: Bs[p][c] = (B[2p][c], B[2p+1][c])
 * for c < nr, zero past nr (in the last strip) and past row K, p < Kp/2:
 * two B tiles per 32-step. Rows are read along the whole range (long runs
 * the prefetchers follow), two rows interleaved by unpack and permute. */
AMX static void pack_strips(uint32_t *restrict Bs, const uint16_t *B, int64_t ldb, int64_t K,
                            int64_t Kp, int64_t nr)
{
    const __m512i lo_q = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const __m512i hi_q = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    const int64_t sw = Kp / 2 * 32; /* words per strip */
    for (int64_t k = 0; k < Kp; k += 2) {
        const uint16_t *r0 = B + k * ldb, *r1 = r0 + ldb;
        uint32_t *o = Bs + (k / 2) * 32;
        for (int64_t c = 0; c < nr; c += 32, o += sw) {
            const int64_t left = nr - c;
            const __mmask32 m = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1u);
            const __m512i a = k < K ? _mm512_maskz_loadu_epi16(m, r0 + c) : _mm512_setzero_si512();
            const __m512i b = k + 1 < K ? _mm512_maskz_loadu_epi16(m, r1 + c) : _mm512_setzero_si512();
            /* per 128-bit lane: columns 0-3 / 4-7 of the lane, rows paired */
            const __m512i lo = _mm512_unpacklo_epi16(a, b), hi = _mm512_unpackhi_epi16(a, b);
            _mm512_store_si512(o, _mm512_permutex2var_epi64(lo, lo_q, hi));
            _mm512_store_si512(o + 16, _mm512_permutex2var_epi64(lo, hi_q, hi));
        }
    }
}

/* The packed form of a B (K x N) many products share: strip s (columns
 * 32s..) at s * Kp/2 * 32 words, Kp = K rounded up to 32. */
size_t sten__amx_packed_words(int64_t K, int64_t N)
{
    return (size_t)(up32(K) / 2 * 32) * (size_t)((N + 31) / 32);
}

AMX void sten__amx_pack(sten_ctx *ctx, int64_t K, int64_t N, const uint16_t *B, int64_t ldb,
                        uint32_t *out)
{
    const int64_t strips = (N + 31) / 32, Kp = up32(K);
    const int nt = sten__threads_for(ctx, K * N, 1 << 16);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t s = 0; s < strips; s += 16)
        pack_strips(out + s * (Kp / 2 * 32), B + s * 32, ldb, K, Kp, STEN__MIN(16 * 32, N - s * 32));
}

typedef struct {
    float alpha, beta;
    const float *bias; /* at the strip's column 0, or NULL */
    uint16_t *cb;      /* bf16 copy of C at the block's row 0, column 0, or NULL */
    int64_t ldcb;
    bool relu;         /* max(0, .) before C and its copy are written */
} amx_out;

/* C's rows [0, rows) x columns [0, nr) of a 32 x 32 block from the fp32
 * accumulators T (32 x 32): alpha T + beta C + bias (then ReLU), and its
 * bf16 copy; C NULL: the copy only (beta 0). */
AMX static void epilogue(const float *T, int64_t rows, int64_t nr, float *C, int64_t ldc,
                         const amx_out *o)
{
    const __mmask16 m0 = sten__lanes16(nr), m1 = sten__lanes16(nr - 16);
    const __m512 va = _mm512_set1_ps(o->alpha), vb = _mm512_set1_ps(o->beta);
    const __m512 bi0 = o->bias ? _mm512_maskz_loadu_ps(m0, o->bias) : _mm512_setzero_ps();
    const __m512 bi1 = o->bias ? _mm512_maskz_loadu_ps(m1, o->bias + 16) : _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; r++) {
        float *c = C ? C + r * ldc : NULL;
        __m512 x0 = _mm512_fmadd_ps(va, _mm512_load_ps(T + r * 32), bi0);
        __m512 x1 = _mm512_fmadd_ps(va, _mm512_load_ps(T + r * 32 + 16), bi1);
        if (o->beta != 0.0f) {
            x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), x0);
            x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), x1);
        }
        if (o->relu) {
            x0 = _mm512_max_ps(x0, _mm512_setzero_ps());
            x1 = _mm512_max_ps(x1, _mm512_setzero_ps());
        }
        if (C) {
            _mm512_mask_storeu_ps(c, m0, x0);
            _mm512_mask_storeu_ps(c + 16, m1, x1);
        }
        if (o->cb) {
            uint16_t *b = o->cb + r * o->ldcb;
            _mm256_mask_storeu_epi16(b, m0, (__m256i)_mm512_cvtneps_pbh(x0));
            _mm256_mask_storeu_epi16(b + 16, m1, (__m256i)_mm512_cvtneps_pbh(x1));
        }
    }
}

/* One 32-step into tiles 0-3: A's two row halves already in tiles 4-5,
 * B's two column halves loaded from b (ld ldb bytes). */
AMX static INLINE void step_b(const void *b, int64_t ldb)
{
    TLOAD(6, b, ldb);
    TLOAD(7, (const char *)b + 64, ldb);
    TDP(0, 4, 6);
    TDP(1, 4, 7);
    TDP(2, 5, 6);
    TDP(3, 5, 7);
}

/* A 32 x 32 block of A B into tiles 0-3 from a start (the bias rows at
 * bias, ld bstride bytes: 0 repeats one row; or zero without a bias): A's
 * padded bf16 rows at a (ld Kp), B's packed strip at S. With Sn, the strip
 * at Sn is asked into L1 meanwhile, 2 KB a step. */
AMX static INLINE void block32(const uint16_t *a, int64_t Kp, const uint32_t *S, const float *bias,
                               int64_t bstride, const uint32_t *Sn)
{
    if (bias) {
        TLOAD(0, bias, bstride);
        TLOAD(1, bias + 16, bstride);
        TLOAD(2, bias, bstride);
        TLOAD(3, bias + 16, bstride);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    const int64_t sa = Kp * 2;
    for (int64_t s = 0; s < Kp / 32; s++) {
        TLOAD(4, a + s * 32, sa);
        TLOAD(5, a + 16 * Kp + s * 32, sa);
        TLOAD(6, S + s * 512, 128);
        TLOAD(7, S + s * 512 + 16, 128);
        TDP(0, 4, 6);
        TDP(1, 4, 7);
        for (int q = 0; Sn && q < 16; q++)
            _mm_prefetch((const char *)(Sn + s * 512 + q * 16), _MM_HINT_T0);
        TDP(2, 5, 6);
        TDP(3, 5, 7);
        for (int q = 16; Sn && q < 32; q++)
            _mm_prefetch((const char *)(Sn + s * 512 + q * 16), _MM_HINT_T0);
    }
}

/* Tiles 0-3 to C (ld ldc floats). */
AMX static INLINE void store32(float *c, int64_t ldc)
{
    TSTORE(0, c, ldc * 4);
    TSTORE(1, c + 16, ldc * 4);
    TSTORE(2, c + 16 * ldc, ldc * 4);
    TSTORE(3, c + 16 * ldc + 16, ldc * 4);
}

/* Columns [j0, j1) of C = alpha op(A) B + beta C + bias; C's column j at
 * C + (j - coff) (C NULL: only o->cb is written). Ap: A's padded bf16 rows
 * (Mp x Kp); Bpk: B packed once, or NULL to pack the chunk's strips into Bs
 * here. */
AMX static void chunk_nn(int64_t M, int64_t j0, int64_t j1, int64_t K, int64_t Kp,
                         const uint16_t *Ap, const uint16_t *B, int64_t ldb, const uint32_t *Bpk,
                         uint32_t *Bs, float *T, float *C, int64_t ldc, int64_t coff,
                         const amx_out *o)
{
    /* plain C: tiles start at the bias and go straight to C */
    const bool direct = C && o->alpha == 1.0f && o->beta == 0.0f && !o->cb && !o->relu;
    float bias_tile[16 * 32] __attribute__((aligned(64)));
    const int64_t sw = Kp / 2 * 32;
    if (!Bpk)
        pack_strips(Bs, B + j0, ldb, K, Kp, j1 - j0);
    for (int64_t j = j0; j < j1; j += 32) {
        const int64_t nr = STEN__MIN(32, j1 - j);
        const uint32_t *S = Bpk ? Bpk + (j / 32) * sw : Bs + (j - j0) / 32 * sw;
        /* a chain's tiles (sten__amx_chain) start at the bias too: the same
         * sums, to the bit, as the direct route's */
        const bool chain = (o->relu || !C) && o->alpha == 1.0f && o->beta == 0.0f;
        const bool bias_in = (direct || chain) && o->bias;
        if (bias_in) {
            const __m512 b0 = _mm512_maskz_loadu_ps(sten__lanes16(nr), o->bias + j);
            const __m512 b1 = _mm512_maskz_loadu_ps(sten__lanes16(nr - 16), o->bias + j + 16);
            for (int r = 0; r < 16; r++) {
                _mm512_store_ps(bias_tile + r * 32, b0);
                _mm512_store_ps(bias_tile + r * 32 + 16, b1);
            }
        }
        float *Cj = C ? C + (j - coff) : NULL;
        for (int64_t i = 0; i < M; i += 32) {
            block32(Ap + i * Kp, Kp, S, bias_in ? bias_tile : NULL, 128, NULL);
            float *c = Cj ? Cj + i * ldc : NULL;
            if (direct && nr == 32 && i + 32 <= M) {
                store32(c, ldc);
                continue;
            }
            store32(T, 32);
            amx_out oi = *o;
            if (bias_in) /* the bias is in T already */
                oi.bias = NULL;
            else if (oi.bias)
                oi.bias += j;
            if (oi.cb)
                oi.cb += i * oi.ldcb + j;
            epilogue(T, STEN__MIN(32, M - i), nr, c, ldc, &oi);
        }
    }
}

/* Parallel regions here hold one call: each thread's share is a function
 * of its own carrying AMX's target, since clang outlines a region's body
 * into a function without the enclosing function's target attributes (GCC
 * keeps them) and the tile intrinsics must not land there. Their omp for
 * loops are orphaned: bound to the caller's region. */

/* sten__amx_chunks' work: A's bf16 rows, then per thread `per` bytes of
 * scratch (a strip, a 32 x 32 block, a chunk when there is no C). */
typedef struct {
    int64_t M, N, K, Kp, nch, ldb, ldc;
    const uint16_t *Ap, *B;
    const uint32_t *Bpk;
    float *C;
    char *ws;
    size_t apk, per, strip, tblk;
    amx_out o;
    sten_chunk_fn fn;
    sten_rows_fn rfn; /* instead of fn: blocks of rows (sten__amx_rows) */
    void *arg;
    bool bonly;       /* no C: the product goes to o.cb only (sten__amx_chain) */
} chunks_job;

/* Columns [j0, j1) of A B + bias, B packed once (Bpk), handed to rfn 32
 * rows at a time: each 32-row stripe (Cs, ld STEN__GEMM_CHUNK, 64 KB) is
 * consumed while still in the core's caches, where a whole chunk of M rows
 * would go out to L2 and come back. The bias is each tile's starting
 * value, read with stride 0 (every tile row the same 16 biases). */
AMX static void chunk_rows(const chunks_job *jb, int64_t ch, int64_t j0, int64_t j1, int64_t r0,
                           int64_t r1, float *Cs)
{
    const int64_t Kp = jb->Kp, sw = Kp / 2 * 32;
    const float *bias = jb->o.bias;
    float tail[32] __attribute__((aligned(64))) = {0}; /* the last strip's biases, zero past N */
    if (bias && j1 - j0 < STEN__GEMM_CHUNK && (j1 - j0) % 32)
        memcpy(tail, bias + j1 - (j1 - j0) % 32, (size_t)((j1 - j0) % 32) * sizeof *tail);
    for (int64_t i = r0; i < r1; i += 32) {
        for (int64_t j = j0; j < j1; j += 32) {
            /* the next strip (or the first, for the next stripe) into L1
             * while this one's products run */
            const uint32_t *S = jb->Bpk + (j / 32) * sw;
            const uint32_t *Sn = j + 32 < j1 ? S + sw : jb->Bpk + (j0 / 32) * sw;
            block32(jb->Ap + i * Kp, Kp, S, bias ? (j + 32 <= j1 ? bias + j : tail) : NULL, 0, Sn);
            store32(Cs + (j - j0), STEN__GEMM_CHUNK);
        }
        jb->rfn(jb->arg, ch, i, STEN__MIN(i + 32, jb->M), j0, j1, Cs, STEN__GEMM_CHUNK);
    }
}

AMX static void chunks_thread(const chunks_job *jb, int t)
{
    char *mine = jb->ws + jb->apk + jb->per * (size_t)t;
    uint32_t *Bs = (uint32_t *)mine;
    float *T = (float *)(mine + jb->strip);
    float *own_c = jb->C || jb->bonly ? NULL : (float *)(mine + jb->strip + jb->tblk);
    tiles_on();
    /* blocks of rows: with two stripes or more a thread, each thread takes
     * its own stripes through every chunk (a row's blocks then all come to
     * one thread, in column order: top-K's running threshold is the row's,
     * not a share of it), else the chunks are shared out */
    const int nt = omp_threads();
    const int64_t stripes = (jb->M + 31) / 32;
    if (jb->rfn && stripes >= 2 * nt) {
        const int64_t r0 = t * stripes / nt * 32, r1 = STEN__MIN(jb->M, (t + 1) * stripes / nt * 32);
        for (int64_t ch = 0; ch < jb->nch; ch++) {
            const int64_t j0 = ch * STEN__GEMM_CHUNK, j1 = STEN__MIN(jb->N, j0 + STEN__GEMM_CHUNK);
            chunk_rows(jb, ch, j0, j1, r0, r1, own_c);
        }
        _tile_release();
        return;
    }
    /* a stored product of fewer chunks than threads (an MLP layer of 512
     * outputs or fewer): each chunk's rows split too, in 32-row blocks
     * (every element still summed in the tiles' order: the same bits) */
    const int64_t parts = STEN__MIN(stripes, nt);
    if (!jb->fn && !jb->rfn && (jb->C || jb->bonly) && jb->nch < nt && parts > 1) {
#pragma omp for schedule(static)
        for (int64_t w = 0; w < jb->nch * parts; w++) {
            const int64_t ch = w / parts, p = w % parts;
            const int64_t j0 = ch * STEN__GEMM_CHUNK, j1 = STEN__MIN(jb->N, j0 + STEN__GEMM_CHUNK);
            const int64_t i0 = p * stripes / parts * 32, i1 = STEN__MIN(jb->M, (p + 1) * stripes / parts * 32);
            amx_out o = jb->o;
            if (o.cb)
                o.cb += i0 * o.ldcb;
            chunk_nn(i1 - i0, j0, j1, jb->K, jb->Kp, jb->Ap + i0 * jb->Kp, jb->B, jb->ldb, jb->Bpk, Bs,
                     T, jb->C ? jb->C + i0 * jb->ldc : NULL, jb->ldc, 0, &o);
        }
        _tile_release();
        return;
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t ch = 0; ch < jb->nch; ch++) {
        const int64_t j0 = ch * STEN__GEMM_CHUNK, j1 = STEN__MIN(jb->N, j0 + STEN__GEMM_CHUNK);
        if (jb->rfn) {
            chunk_rows(jb, ch, j0, j1, 0, jb->M, own_c);
            continue;
        }
        if (own_c) {
            amx_out oc = jb->o;
            oc.beta = 0.0f, oc.cb = NULL;
            chunk_nn(jb->M, j0, j1, jb->K, jb->Kp, jb->Ap, jb->B, jb->ldb, jb->Bpk, Bs, T, own_c,
                     STEN__GEMM_CHUNK, j0, &oc);
        } else {
            chunk_nn(jb->M, j0, j1, jb->K, jb->Kp, jb->Ap, jb->B, jb->ldb, jb->Bpk, Bs, T, jb->C,
                     jb->ldc, 0, &jb->o);
        }
        if (jb->fn)
            jb->fn(jb->arg, ch, j0, j1, own_c ? own_c : jb->C + j0, own_c ? STEN__GEMM_CHUNK : jb->ldc);
    }
    _tile_release();
}

/* sten__amx_chunks and sten__amx_rows: A's rows rounded and padded, then
 * the chunks shared out among the threads. */
AMX static sten_status run_chunks(sten_ctx *ctx, sten_trans ta, int64_t M, int64_t N, int64_t K,
                                  float alpha, const float *A, int64_t lda, const uint16_t *Ab,
                                  const uint16_t *B, int64_t ldb, const uint32_t *Bpk, float beta,
                                  float *C, int64_t ldc, uint16_t *Cb, int64_t ldcb, const float *bias,
                                  bool relu, sten_chunk_fn fn, sten_rows_fn rfn, void *arg)
{
    if (M <= 0 || N <= 0)
        return STEN_OK;
    const int64_t Mp = up32(M), Kp = up32(STEN__MAX(K, 1));
    const int64_t nch = (N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK;
    /* threads: one a chunk, or a 32-row block of a stored product's chunk */
    const bool bonly = !C && Cb && !fn && !rfn;
    const int64_t units = fn || rfn || !(C || bonly) ? nch : STEN__MAX(nch, Mp / 32);
    const int nt = (int)STEN__MIN(units, sten__threads_for(ctx, M * N * STEN__MAX(K, 1), 1 << 20));
    /* scratch: A's bf16 rows, then per thread a strip, a 32 x 32 block and,
     * when there is no C, a chunk (or a 32-row stripe of one) */
    const size_t apk = Ab ? 0 : (size_t)(Mp * Kp * 2 + 63) / 64 * 64;
    const size_t strip = (size_t)Kp / 2 * STEN__GEMM_CHUNK * 4, tblk = 32 * 32 * 4; /* a chunk's strips */
    const size_t loc = C || bonly ? 0 : (size_t)((rfn ? 32 : M) * STEN__GEMM_CHUNK * 4 + 63) / 64 * 64;
    const size_t per = strip + tblk + loc;
    char *ws = sten__scratch(ctx, apk + per * (size_t)nt);
    if (!ws)
        return sten_fail(ctx, STEN_E_NOMEM, "AMX gemm: no room for the packed operand (%lld x %lld)",
                         (long long)M, (long long)K);
    const uint16_t *Ap = Ab;
    if (!Ab) {
        pack_rows(ctx, (uint16_t *)ws, A, lda, ta == STEN_TRANS, M, Mp, STEN__MAX(K, 0), Kp);
        Ap = (const uint16_t *)ws;
    }
    const chunks_job jb = {.M = M, .N = N, .K = K, .Kp = Kp, .nch = nch, .ldb = ldb, .ldc = ldc,
                           .Ap = Ap, .B = B, .Bpk = Bpk, .C = C, .ws = ws, .apk = apk, .per = per,
                           .strip = strip, .tblk = tblk, .o = {alpha, beta, bias, Cb, ldcb, relu},
                           .fn = fn, .rfn = rfn, .arg = arg, .bonly = bonly};
#pragma omp parallel num_threads(nt)
    chunks_thread(&jb, thread_num());
    return STEN_OK;
}

sten_status sten__amx_chunks(sten_ctx *ctx, sten_trans ta, int64_t M, int64_t N, int64_t K,
                             float alpha, const float *A, int64_t lda, const uint16_t *B,
                             int64_t ldb, const uint32_t *Bpk, float beta, float *C, int64_t ldc,
                             uint16_t *Cb, int64_t ldcb, const float *bias, sten_chunk_fn fn,
                             void *arg)
{
    return run_chunks(ctx, ta, M, N, K, alpha, A, lda, NULL, B, ldb, Bpk, beta, C, ldc, Cb, ldcb, bias,
                      false, fn, NULL, arg);
}

sten_status sten__amx_rows(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A,
                           int64_t lda, const uint32_t *Bpk, const float *bias, sten_rows_fn fn,
                           void *arg)
{
    return run_chunks(ctx, STEN_NO_TRANS, M, N, K, 1.0f, A, lda, NULL, NULL, 0, Bpk, 0.0f, NULL, 0, NULL,
                      0, bias, false, NULL, fn, arg);
}

sten_status sten__amx_chain(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                            const uint16_t *Ab, const uint32_t *Bpk, const float *bias, bool relu, float *C,
                            int64_t ldc, uint16_t *Cb, int64_t ldcb)
{
    return run_chunks(ctx, STEN_NO_TRANS, M, N, K, 1.0f, Ab ? NULL : A, lda, Ab, NULL, 0, Bpk, 0.0f, C, ldc,
                      Cb, ldcb, bias, relu, NULL, NULL, NULL);
}

/* The 16 x 16 transpose of 32-bit words r[0..16) (row i, word c) stored
 * as out[c * ld + i] (out 64-byte aligned, ld a multiple of 16). */
AMX static INLINE void store_t16(uint32_t *out, int64_t ld, const __m512i r[16])
{
    __m512i o[16];
    sten__t16(r, o);
    for (int c = 0; c < 16; c++)
        _mm512_store_si512(out + c * ld, o[c]);
}

/* out[p][n] = (B[n][2p], B[n][2p+1]) for p < 16 pairs of one 32-step at
 * column k of rows n0 .. n0+15 of B (N x K bf16), zero past N and K: a
 * 16 x 16 transpose of 32-bit pairs. ld: out's row length in words. */
AMX static void pairs_t16(uint32_t *out, int64_t ld, const uint16_t *B, int64_t ldb, int64_t n0,
                          int64_t N, int64_t k, int64_t K)
{
    __m512i r[16];
    const int64_t left = K - k;
    const __mmask32 m = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1u);
    for (int i = 0; i < 16; i++)
        r[i] = n0 + i < N ? _mm512_maskz_loadu_epi16(m, B + (n0 + i) * ldb + k) : _mm512_setzero_si512();
    store_t16(out, ld, r);
}

/* pack_rows for op(A) = A^T: rows i0 .. i0+15 of op(A) (columns of A, fp32,
 * ld lda), one 32-step at k, rounded to bf16 (as sten__bf16 rounds) and
 * laid down as Ap's rows (ld Kp): 16 fp32 loads along A's rows, paired
 * into 32-bit words (k even low, k odd high) and transposed, where column
 * by column would read A across its rows. Zero past M and K. */
AMX static void pack_tn16(uint16_t *Ap, int64_t Kp, const float *A, int64_t lda, int64_t i0,
                          int64_t M, int64_t k, int64_t K)
{
    const __mmask16 m = sten__lanes16(M - i0);
    __m512i r[16];
    for (int q = 0; q < 16; q++) {
        const int64_t k0 = k + 2 * q;
        const __m512 lo = k0 < K ? _mm512_maskz_loadu_ps(m, A + k0 * lda + i0) : _mm512_setzero_ps();
        const __m512 hi = k0 + 1 < K ? _mm512_maskz_loadu_ps(m, A + (k0 + 1) * lda + i0)
                                     : _mm512_setzero_ps();
        r[q] = _mm512_or_si512(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo)),
                               _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi)), 16));
    }
    store_t16((uint32_t *)(Ap + i0 * Kp + k), Kp / 2, r);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The tile unit's peak on `threads` threads, GFLOP/s: independent
 * tdpbf16ps into four accumulators from tiles already loaded, for about
 * `seconds` (benchmarks print it as the bound of the bf16 products). */
/* One thread's part of sten__amx_peak: its GFLOP/s over `reps` rounds. */
AMX static double peak_thread(long reps)
{
    static uint16_t src[16 * 32] __attribute__((aligned(64)));
    tiles_on();
    TLOAD(4, src, 64);
    TLOAD(5, src, 64);
    TLOAD(6, src, 64);
    TLOAD(7, src, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    const double t0 = now_s();
    for (long r = 0; r < reps; r++) {
        TDP(0, 4, 6);
        TDP(1, 4, 7);
        TDP(2, 5, 6);
        TDP(3, 5, 7);
    }
    const double t = now_s() - t0;
    _tile_release();
    return 4.0 * (double)reps * 16 * 16 * 32 * 2 / t / 1e9;
}

AMX double sten__amx_peak(int threads, double seconds)
{
    if (!sten__amx_hardware())
        return 0.0;
    const long reps = (long)(seconds * 4e7); /* ~64 cycles a round */
    double best = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : best)
    best += peak_thread(reps);
    return best;
}

/* Rows i0 .. i0+31 of A (bf16, M rows), columns [k0, k0 + len), into dst
 * rows of `width` (>= len): rows past M and columns past len zero. For
 * tiles at a block that would read past A's rows or columns. */
static void pad_block(uint16_t *dst, int64_t width, const uint16_t *A, int64_t lda, int64_t i0,
                      int64_t M, int64_t k0, int64_t len)
{
    for (int64_t r = 0; r < 32; r++) {
        uint16_t *d = dst + r * width;
        const int64_t n = i0 + r < M ? len : 0;
        if (n)
            memcpy(d, A + (i0 + r) * lda + k0, (size_t)n * sizeof *d);
        memset(d + n, 0, (size_t)(width - n) * sizeof *d);
    }
}

/* C = alpha (the groups' M x N parts, each `part` floats apart with rows ld
 * long, summed in group order) + beta C: the same sum for any thread
 * count. Inside a parallel region (an omp for over rows). */
AMX static void sum_parts(const float *parts, size_t part, int64_t groups, int64_t ld, int64_t M,
                          int64_t N, float alpha, float beta, float *C, int64_t ldc)
{
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (int64_t j = 0; j < N; j += 16) {
            const __mmask16 m = sten__lanes16(N - j);
            __m512 s = _mm512_load_ps(parts + i * ld + j);
            for (int64_t g = 1; g < groups; g++)
                s = _mm512_add_ps(s, _mm512_load_ps(parts + part * (size_t)g + i * ld + j));
            s = _mm512_mul_ps(va, s);
            if (beta != 0.0f)
                s = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, c + j), s);
            _mm512_mask_storeu_ps(c + j, m, s);
        }
    }
}

#define NT_GROUPS 16
#define NT_ONE_GROUP 64

/* sten__amx_nt's work: each group's M x N product `part` floats apart in
 * ws, then per thread `mine` words (B's pairs for a group, `bt` words, and
 * A's last rows padded); At: the last, partial 32-step of A's rows. */
typedef struct {
    int64_t M, N, K, Mp, Np, steps, per, groups, last_i, lda, ldb, ldc;
    const uint16_t *A, *B, *At;
    float *ws, *C;
    size_t part, bt, apad, tail, mine;
    float alpha, beta;
} nt_job;

/* Group g's B in pairs into Bt (step s, pair q, column n at Bt[(16 s + q)
 * Np + n]) and A's last, partial row block padded with zeros into Ap. */
AMX static void nt_group_operands(const nt_job *jb, int64_t g, uint32_t *Bt, uint16_t *Ap)
{
    const int64_t s0 = g * jb->per, s1 = STEN__MIN(jb->steps, s0 + jb->per), k0 = s0 * 32;
    for (int64_t s = 0; s < s1 - s0; s++)
        for (int64_t n = 0; n < jb->Np; n += 16)
            pairs_t16(Bt + s * 16 * jb->Np + n, jb->Np, jb->B, jb->ldb, n, jb->N, k0 + s * 32, jb->K);
    if (jb->apad)
        pad_block(Ap, (s1 - s0) * 32, jb->A, jb->lda, jb->last_i, jb->M, k0,
                  STEN__MIN(jb->K, s1 * 32) - k0);
}

/* Row blocks [i0, i1) of group g's product into its part. */
AMX static void nt_group_rows(const nt_job *jb, int64_t g, int64_t i0, int64_t i1,
                              const uint32_t *Bt, const uint16_t *Ap)
{
    /* the job in locals: the tile loads' "memory" clobbers would make every
     * field a reload, and keep the compiler from unswitching the loops */
    const int64_t Np = jb->Np, steps = jb->steps, last_i = jb->last_i, lda = jb->lda;
    const int64_t s0 = g * jb->per, ns = STEN__MIN(steps, s0 + jb->per) - s0, k0 = s0 * 32;
    const bool apad = jb->apad, tail = jb->tail;
    const uint16_t *A = jb->A, *At = jb->At;
    float *P = jb->ws + jb->part * (size_t)g;
    for (int64_t i = i0; i < i1; i += 32) {
        const bool pad = apad && i == last_i;
        for (int64_t n = 0; n < Np; n += 32) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int64_t s = 0; s < ns; s++) {
                const uint32_t *b = Bt + s * 16 * Np + n;
                if (tail && s0 + s == steps - 1) {
                    TLOAD(4, At + i * 32, 64);
                    TLOAD(5, At + (i + 16) * 32, 64);
                } else if (pad) {
                    TLOAD(4, Ap + s * 32, ns * 64);
                    TLOAD(5, Ap + 16 * ns * 32 + s * 32, ns * 64);
                } else {
                    TLOAD(4, A + i * lda + k0 + s * 32, lda * 2);
                    TLOAD(5, A + (i + 16) * lda + k0 + s * 32, lda * 2);
                }
                step_b(b, Np * 4);
            }
            store32(P + i * Np + n, Np);
        }
    }
}

AMX static void nt_thread(const nt_job *jb, int t)
{
    uint32_t *Bt = (uint32_t *)(jb->ws + jb->part * (size_t)jb->groups + jb->mine * (size_t)t);
    uint16_t *Ap = (uint16_t *)(Bt + jb->bt);
    tiles_on();
    if (jb->groups == 1) { /* a short K: one group, its row blocks shared out */
        nt_group_operands(jb, 0, Bt, Ap);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < jb->Mp; i += 32)
            nt_group_rows(jb, 0, i, i + 32, Bt, Ap);
    } else {
#pragma omp for schedule(dynamic, 1)
        for (int64_t g = 0; g < jb->groups; g++) {
            nt_group_operands(jb, g, Bt, Ap);
            nt_group_rows(jb, g, 0, jb->Mp, Bt, Ap);
        }
    }
    _tile_release();
    sum_parts(jb->ws, jb->part, jb->groups, jb->Np, jb->M, jb->N, jb->alpha, jb->beta, jb->C, jb->ldc);
}
AMX sten_status sten__amx_nt(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                             const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb,
                             float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0 || K <= 0)
        return STEN_E_UNSUPPORTED;
    const int64_t Mp = up32(M), Np = up32(N), steps = (K + 31) / 32;
    /* K in at most NT_GROUPS groups, each summed into an M x N part, the
     * parts added in group order (thread-count independent); a K of up to
     * NT_ONE_GROUP steps is one group whose row blocks the threads share
     * (DLRM's MLPs: parts of 2048 x 512 a step each would be all stores) */
    const int64_t per = steps <= NT_ONE_GROUP ? steps : (steps + NT_GROUPS - 1) / NT_GROUPS;
    const int64_t groups = (steps + per - 1) / per;
    const int nt = (int)STEN__MIN(groups == 1 ? Mp / 32 : groups,
                                  sten__threads_for(ctx, M * N * K, 1 << 20));
    /* scratch: each group's product; per thread B's pairs for a group and
     * A's last rows padded to 32 (when M is not a multiple of 32); the
     * steps past K padded, for all rows, when K is not a multiple of 32 */
    const size_t part = (size_t)(Mp * Np), bt = (size_t)(per * 16 * Np);
    const size_t apad = M % 32 ? (size_t)(32 * per * 32 / 2) : 0, tail = K % 32 ? (size_t)(Mp * 16) : 0;
    const size_t mine = bt + apad; /* in 4-byte words */
    float *ws = sten__scratch(ctx, (part * (size_t)groups + mine * (size_t)nt + tail) * 4);
    if (!ws)
        return STEN_E_NOMEM;
    const int64_t last_i = (M - 1) / 32 * 32; /* the last row block */
    uint16_t *At = (uint16_t *)(ws + part * (size_t)groups + mine * (size_t)nt);
    if (tail) { /* the last, partial 32-step of every row of A, zero-padded */
        const int64_t k = (steps - 1) * 32;
        const __mmask32 m = (__mmask32)((1u << (K - k)) - 1u);
        for (int64_t i = 0; i < Mp; i++)
            _mm512_storeu_si512(At + i * 32, i < M ? _mm512_maskz_loadu_epi16(m, A + i * lda + k)
                                                    : _mm512_setzero_si512());
    }
    const nt_job jb = {.M = M, .N = N, .K = K, .Mp = Mp, .Np = Np, .steps = steps, .per = per,
                       .groups = groups, .last_i = last_i, .lda = lda, .ldb = ldb, .ldc = ldc,
                       .A = A, .B = B, .At = At, .ws = ws, .C = C, .part = part, .bt = bt,
                       .apad = apad, .tail = tail, .mine = mine, .alpha = alpha, .beta = beta};
#pragma omp parallel num_threads(nt)
    nt_thread(&jb, thread_num());
    return STEN_OK;
}

/* sten__amx_out_backward's work: A^T's bf16 rows (At), the groups' parts
 * of dA (Mp x Hp each), then per thread `mine` bytes of scratch at ws. */
typedef struct {
    int64_t M, N, H, Mp, Hp, nch, per, groups, ldd, ldw, ldwb, ldda;
    const uint16_t *D, *At;
    uint16_t *Wb;
    float *W, *dA, *parts;
    char *ws;
    size_t mine, wt, ds, pad;
    amx_out o;
} outb_job;

AMX static void outb_thread(const outb_job *jb, int t)
{
    /* the job in locals, as nt_thread's */
    const int64_t C = STEN__GEMM_CHUNK, M = jb->M, N = jb->N, H = jb->H, Mp = jb->Mp, Hp = jb->Hp;
    const int64_t per = jb->per, nch = jb->nch, groups = jb->groups, ldd = jb->ldd, ldwb = jb->ldwb;
    const uint16_t *D = jb->D, *Wb = jb->Wb;
    float *parts = jb->parts;
    char *my = jb->ws + jb->mine * (size_t)t;
    uint32_t *Bt = (uint32_t *)my;
    uint32_t *Ds = (uint32_t *)(my + jb->wt);
    uint16_t *Dp = (uint16_t *)(my + jb->wt + jb->ds);
    float *T = (float *)(my + jb->wt + jb->ds + jb->pad);
    tiles_on();
#pragma omp for schedule(dynamic, 1)
    for (int64_t g = 0; g < groups; g++) {
        float *P = parts + (size_t)g * (size_t)(Mp * Hp);
        for (int64_t ch = g * per; ch < STEN__MIN(nch, (g + 1) * per); ch++) {
            const int64_t j0 = ch * C, j1 = STEN__MIN(N, j0 + C), steps = (j1 - j0 + 31) / 32;
            const bool first = ch == g * per, tail = (j1 - j0) % 32 != 0;
            /* dA's part: the chunk's Wb (old) in pairs, D's rows as A */
            for (int64_t s = 0; s < steps; s++)
                for (int64_t n = 0; n < Hp; n += 16)
                    pairs_t16(Bt + s * 16 * Hp + n, Hp, Wb + j0, ldwb, n, H, s * 32, j1 - j0);
            for (int64_t i = 0; i < Mp; i += 32) {
                const uint16_t *a = D + i * ldd + j0;
                int64_t sa = ldd * 2;
                if (i + 32 > M || tail) { /* rows or columns past the end: padded */
                    pad_block(Dp, steps * 32, D, ldd, i, M, j0, j1 - j0);
                    a = Dp, sa = steps * 64;
                }
                for (int64_t n = 0; n < Hp; n += 32) {
                    float *p = P + i * Hp + n;
                    if (first) {
                        _tile_zero(0);
                        _tile_zero(1);
                        _tile_zero(2);
                        _tile_zero(3);
                    } else {
                        TLOAD(0, p, Hp * 4);
                        TLOAD(1, p + 16, Hp * 4);
                        TLOAD(2, p + 16 * Hp, Hp * 4);
                        TLOAD(3, p + 16 * Hp + 16, Hp * 4);
                    }
                    for (int64_t s = 0; s < steps; s++) {
                        const uint32_t *b = Bt + s * 16 * Hp + n;
                        TLOAD(4, a + s * 32, sa);
                        TLOAD(5, (const char *)a + 16 * sa + s * 64, sa);
                        step_b(b, Hp * 4);
                    }
                    store32(p, Hp);
                }
            }
            /* then the chunk's columns of W and Wb updated */
            chunk_nn(H, j0, j1, M, Mp, jb->At, D, ldd, NULL, Ds, T, jb->W, jb->ldw, 0, &jb->o);
        }
    }
    _tile_release();
    /* dA += the groups' parts, in group order */
    sum_parts(parts, (size_t)(Mp * Hp), groups, Hp, M, H, 1.0f, 1.0f, jb->dA, jb->ldda);
}

/* The output layer's backward pass in one sweep over the bf16 delta, on
 * tiles (sten__amx_out_backward): per 512-column chunk, its part of dA =
 * D Wb^T from the chunk's columns of Wb as they were (the delta's rows as
 * A tiles, Wb's columns transposed into pairs), then those columns' update
 * W = beta W + alpha A^T D and their bf16 copy, while the chunk of D is in
 * L2 — D and Wb come from memory once, not twice. Chunks go in groups
 * fixed by N, each group's part of dA in its own buffer (accumulated in the
 * tiles' order), the buffers added in group order: the same result for any
 * thread count. */
AMX sten_status sten__amx_out_backward(sten_ctx *ctx, int64_t M, int64_t N, int64_t H,
                                       const float *A, int64_t lda, const uint16_t *D, int64_t ldd,
                                       float alpha, float beta, float *W, int64_t ldw, uint16_t *Wb,
                                       int64_t ldwb, float *dA, int64_t ldda)
{
    if (M <= 0 || N <= 0 || H <= 0)
        return STEN_E_UNSUPPORTED;
    const int64_t C = STEN__GEMM_CHUNK, nch = (N + C - 1) / C;
    const int64_t per = nch >= 16 ? nch / 16 : 1, groups = (nch + per - 1) / per;
    const int64_t Mp = up32(M), Hp = up32(H);
    const int nt = (int)STEN__MIN(groups, sten__threads_for(ctx, M * N * H, 1 << 20));
    /* scratch (bytes, each part a multiple of 64): A^T's bf16 rows (Hp x
     * Mp), the groups' parts of dA (Mp x Hp fp32 each), and per thread: the
     * chunk's Wb in pairs (C/2 x Hp words), D's strips (Mp/2 x C words),
     * a 32-row block of D padded (32 x C bf16), a 32 x 32 block */
    const size_t at = (size_t)(Hp * Mp * 2), part = (size_t)(Mp * Hp * 4);
    const size_t wt = (size_t)(C / 2 * Hp * 4), ds = (size_t)(Mp / 2 * C * 4);
    const size_t pad = (size_t)(32 * C * 2), tb = 32 * 32 * 4;
    const size_t mine = wt + ds + pad + tb;
    char *ws = sten__scratch(ctx, at + part * (size_t)groups + mine * (size_t)nt);
    if (!ws)
        return STEN_E_NOMEM;
    uint16_t *At = (uint16_t *)ws;
    pack_rows(ctx, At, A, lda, true, H, Hp, M, Mp);
    const outb_job jb = {.M = M, .N = N, .H = H, .Mp = Mp, .Hp = Hp, .nch = nch, .per = per,
                         .groups = groups, .ldd = ldd, .ldw = ldw, .ldwb = ldwb, .ldda = ldda,
                         .D = D, .At = At, .Wb = Wb, .W = W, .dA = dA, .parts = (float *)(ws + at),
                         .ws = ws + at + part * (size_t)groups, .mine = mine, .wt = wt, .ds = ds,
                         .pad = pad, .o = {alpha, beta, NULL, Wb, ldwb}};
#pragma omp parallel num_threads(nt)
    outb_thread(&jb, thread_num());
    return STEN_OK;
}

#else /* no AMX in this compiler or OS: never available, never called */

double sten__amx_peak(int threads, double seconds)
{
    (void)threads, (void)seconds;
    return 0.0;
}

sten_status sten__amx_out_backward(sten_ctx *ctx, int64_t M, int64_t N, int64_t H,
                                   const float *A, int64_t lda, const uint16_t *D, int64_t ldd,
                                   float alpha, float beta, float *W, int64_t ldw, uint16_t *Wb,
                                   int64_t ldwb, float *dA, int64_t ldda)
{
    (void)ctx, (void)M, (void)N, (void)H, (void)A, (void)lda, (void)D, (void)ldd, (void)alpha;
    (void)beta, (void)W, (void)ldw, (void)Wb, (void)ldwb, (void)dA, (void)ldda;
    return STEN_E_UNSUPPORTED;
}

size_t sten__amx_packed_words(int64_t K, int64_t N)
{
    (void)K, (void)N;
    return 1;
}

void sten__amx_pack(sten_ctx *ctx, int64_t K, int64_t N, const uint16_t *B, int64_t ldb,
                    uint32_t *out)
{
    (void)ctx, (void)K, (void)N, (void)B, (void)ldb, (void)out;
}

sten_status sten__amx_chunks(sten_ctx *ctx, sten_trans ta, int64_t M, int64_t N, int64_t K,
                             float alpha, const float *A, int64_t lda, const uint16_t *B,
                             int64_t ldb, const uint32_t *Bpk, float beta, float *C, int64_t ldc,
                             uint16_t *Cb, int64_t ldcb, const float *bias, sten_chunk_fn fn,
                             void *arg)
{
    (void)ta, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb;
    (void)Bpk, (void)beta, (void)C, (void)ldc, (void)Cb, (void)ldcb, (void)bias, (void)fn;
    (void)arg;
    return sten_fail(ctx, STEN_E_UNSUPPORTED, "AMX products need an x86-64 Linux build");
}

sten_status sten__amx_rows(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A,
                           int64_t lda, const uint32_t *Bpk, const float *bias, sten_rows_fn fn,
                           void *arg)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)Bpk, (void)bias, (void)fn, (void)arg;
    return sten_fail(ctx, STEN_E_UNSUPPORTED, "AMX products need an x86-64 Linux build");
}

sten_status sten__amx_chain(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                            const uint16_t *Ab, const uint32_t *Bpk, const float *bias, bool relu, float *C,
                            int64_t ldc, uint16_t *Cb, int64_t ldcb)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)Ab, (void)Bpk, (void)bias, (void)relu, (void)C;
    (void)ldc, (void)Cb, (void)ldcb;
    return sten_fail(ctx, STEN_E_UNSUPPORTED, "AMX products need an x86-64 Linux build");
}

sten_status sten__amx_nt(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                         const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
                         float *C, int64_t ldc)
{
    (void)ctx, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb;
    (void)beta, (void)C, (void)ldc;
    return STEN_E_UNSUPPORTED;
}

#endif
