/* core_int.h — internals shared by the files of src/ (not installed).
 * Holds the context layout and small helpers every layer uses; nothing here
 * is part of the public API. */
#ifndef STEN_CORE_INT_H
#define STEN_CORE_INT_H

#include "sten.h"

#include <stdarg.h>

#define STEN__ERRBUF 1024
#define STEN__ALIGN 64

struct sten_ctx {
    char err[STEN__ERRBUF];
    sten_status err_status;

    sten_log_fn log_fn;
    void *log_user;
    sten_log_level log_max;

    int threads;

    sten_progress_fn progress_fn; /* sten_ctx_set_progress; NULL = off */
    void *progress_user;

    size_t bytes_in_use;
    size_t bytes_peak;
    size_t live_allocs;
    size_t alloc_count;
    size_t mem_limit;
    long fail_countdown; /* 0 = off; fail when it reaches 1 */

    void *scratch;       /* kernels' reusable work buffer (sten__scratch) */
    size_t scratch_cap;
};

/* A 64-byte aligned work buffer of at least `bytes` owned by ctx, kept and
 * reused across calls (it grows, never shrinks; freed with ctx), so kernels
 * in a step loop do not allocate. Not counted by the ctx allocator (it is
 * not a result the caller holds). NULL if it cannot grow. One user at a
 * time: the caller's thread, outside parallel regions. */
void *sten__scratch(sten_ctx *ctx, size_t bytes);

/* Progress reports (sten_ctx_set_progress): a no-op without a callback.
 * Call from the caller's thread, outside parallel regions, every few
 * thousand units of work. sten__progress_read reports reading path: lines
 * so far, bytes consumed and the file's size (0 when not known). */
static inline int sten__progress_on(const sten_ctx *ctx)
{
    return ctx->progress_fn != NULL;
}
void sten__progress(sten_ctx *ctx, const char *task, const char *unit, uint64_t done, uint64_t total);
void sten__progress_read(sten_ctx *ctx, const char *path, uint64_t lines, uint64_t bytes,
                         uint64_t size);

/* A copy of s in *out through ctx's allocator (STEN_E_NOMEM, recorded). */
sten_status sten__strdup(sten_ctx *ctx, const char *s, char **out);

/* Records the first error (see sten_fail); va_list form. */
sten_status sten__vfail(sten_ctx *ctx, sten_status st, const char *fmt,
                        va_list ap);

/* Number of threads a kernel should use for `work` units of roughly
 * `grain` cost each: never more than ctx->threads, 1 for tiny work. */
int sten__threads_for(const sten_ctx *ctx, int64_t work, int64_t grain);

/* Grows the array *p (of *cap elements of elem bytes) to hold at least need
 * elements, doubling, keeping the contents and zeroing the new space. The
 * allocator has no realloc; this is the one place arrays grow. */
sten_status sten__grow(sten_ctx *ctx, void **p, uint64_t *cap, uint64_t need, size_t elem);

/* src/io/interactions.c, shared with src/io/convert.c: reading a log with a
 * flush every `max` records (0: never), and the record orders. */
sten_status sten__interactions_read_sink(sten_ctx *ctx, const char *path, const sten_log_opts *o,
                                         sten_interactions *in, uint64_t max,
                                         sten_status (*flush)(sten_ctx *, sten_interactions *, void *),
                                         void *user);
int sten__cmp_user_time(const void *a, const void *b); /* (user, timestamp, item) */
int sten__cmp_user_item(const void *a, const void *b); /* (user, item, timestamp) */

/* CPU features that decide which OpenBLAS core type suits the CPU. */
enum {
    STEN__CPU_AVX = 1,         /* avx (OS-enabled) */
    STEN__CPU_AVX2 = 2,        /* avx2 and fma */
    STEN__CPU_AVX512 = 4,      /* avx512f, avx512bw, avx512vl and avx512dq */
    STEN__CPU_AVX512_BF16 = 8  /* avx512_bf16 */
};
/* This CPU's STEN__CPU_* bits (__builtin_cpu_supports). */
unsigned sten__cpu_features(void);
/* The rule behind sten_blas_core_get, pure: judges OpenBLAS core name `core`
 * (case-insensitive, NULL read as "unknown") on a CPU with features `cpu`. */
void sten__blas_core_judge(const char *core, unsigned cpu, sten_blas_core *out);

/* Makes the BLAS use ctx's thread count (called before every BLAS call). */
void sten__blas_threads(const sten_ctx *ctx);

/* sten_gemm through the BLAS only (src/core/gemm.c); sten_gemm itself
 * (src/core/sgemm.c) runs sten's own AVX-512 kernels where they apply. */
void sten__gemm_blas(sten_ctx *ctx, sten_trans ta, sten_trans tb, int64_t M, int64_t N, int64_t K,
                     float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                     float beta, float *C, int64_t ldc);

/* C = alpha A B + beta C + bias (a row vector added to every row, or NULL),
 * all row-major; lda < 0: A held transposed (A[k*(-lda) + r], TN); ldb < 0:
 * B held transposed (B[j*(-ldb) + k], NT); then fn(arg, chunk, j0, j1, c, ldc) for
 * each finished block of columns [j0, j1) = [chunk * STEN__GEMM_CHUNK, ...),
 * all rows, while it is still in cache; c points at its row 0, column j0
 * (fn may overwrite the chunk there).
 * fn runs on several threads at once, each call on its own columns. With C
 * NULL the product is never stored: each thread computes its chunks into a
 * chunk-sized buffer of its own (beta is then ignored) and fn reads them
 * there — for consumers such as top-K that need each value only once.
 * STEN_E_NOMEM when that buffer cannot be had (the BLAS path without C). */
#define STEN__GEMM_CHUNK 512
typedef void (*sten_chunk_fn)(void *arg, int64_t chunk, int64_t j0, int64_t j1, float *c,
                              int64_t ldc);
sten_status sten__gemm_chunks(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                              const float *A, int64_t lda, const float *B, int64_t ldb,
                              float beta, float *C, int64_t ldc, const float *bias,
                              sten_chunk_fn fn, void *arg);

/* A dense output layer's backward pass with SGD inside, in one sweep over
 * the delta: dA += D W^T (D: M x N, W: H x N, dA: M x H, all row-major)
 * from W as it was, and W = beta W + alpha A^T D (A: M x H). Results are
 * independent of the thread count (not bit-equal to the two products taken
 * apart: the sums group differently). STEN_E_UNSUPPORTED without sten's
 * own kernels or for N under 16 chunks (where the products apart are
 * faster), STEN_E_NOMEM without room for its buffers: the caller takes the
 * products apart then (no error is recorded in the context). */
sten_status sten__gemm_out_backward(sten_ctx *ctx, int64_t M, int64_t N, int64_t H, const float *A,
                                    int64_t lda, const float *D, int64_t ldd, float alpha, float beta,
                                    float *W, int64_t ldw, float *dA, int64_t ldda);

/* sten_topk for scores that arrive in column chunks of STEN__GEMM_CHUNK, in
 * any order, from any of the context's threads (fed by sten__gemm_chunks):
 * begin, then chunk for each block of columns [j0, j1) of all B rows (S at
 * column j0, ld lds), then end, which writes the results as sten_topk does.
 * The accumulator stays the caller's (sten__topk_free): begin reuses the one
 * in *out, where not NULL, and its buffers where they are large enough.
 * Results are the same as sten_topk's over the whole matrix. */
typedef struct sten__topk_acc sten__topk_acc;
sten_status sten__topk_begin(sten_ctx *ctx, int64_t B, int64_t N, int64_t K,
                             const sten_csr *exclude, sten__topk_acc **out);
void sten__topk_chunk(sten__topk_acc *a, int64_t chunk, int64_t j0, int64_t j1, const float *S,
                      int64_t lds);
/* Rows [i0, i1) of a chunk (S at row i0): sten_rows_fn's consumer. */
void sten__topk_rows(sten__topk_acc *a, int64_t chunk, int64_t i0, int64_t i1, int64_t j0,
                     int64_t j1, const float *S, int64_t lds);
void sten__topk_end(sten_ctx *ctx, sten__topk_acc *a, uint32_t *out_idx, float *out_val,
                    uint32_t *count);
void sten__topk_free(sten_ctx *ctx, sten__topk_acc *a);
/* Exact top-K from approximate scores: the chunks carry s with |exact - s|
 * <= rad[b] * wn[j] + rel * |s| + abs[b] for row b, item j (rad and abs are
 * filled through screen_rows before the first chunk; a row left at rad =
 * inf is rescored whole); the items that can still be in the exact top K
 * are rescored at the end by r->score(arg, b, j, n, out), giving out[q] for
 * item j[q] of row b (r->touch, if given, is told of items some rows ahead
 * of their scoring: a prefetch), and the results are those of sten_topk
 * over the exact scores, bit for bit (a row whose bounds fail or whose
 * candidates overflow has every item rescored). wn must live until
 * end_screen. Needs AVX-512 (sten__topk_screen_available). */
typedef struct {
    void (*score)(void *arg, int64_t b, const uint32_t *j, int64_t n, float *out);
    void (*touch)(void *arg, const uint32_t *j, int64_t n);
    void *arg;
} sten_rescorer;
bool sten__topk_screen_available(void);
sten_status sten__topk_begin_screen(sten_ctx *ctx, int64_t B, int64_t N, int64_t K,
                                    const sten_csr *exclude, const float *wn, float rel,
                                    sten__topk_acc **out);
void sten__topk_screen_rows(sten__topk_acc *a, float **rad, float **abs_);
/* With wn NULL: the chunks carry the final scores (bf16 precision's), every
 * bound is 0, and sten__topk_end_exact writes sten_topk's results over
 * them from the candidates alone; it returns false (nothing written) where
 * a row has fewer than K finite scores to rank, met an infinite one, or
 * has more candidates than it keeps (ties): take the plain
 * sten__topk_begin path for those. */
bool sten__topk_end_exact(sten_ctx *ctx, sten__topk_acc *a, uint32_t *out_idx, float *out_val,
                          uint32_t *count);
void sten__topk_end_screen(sten_ctx *ctx, sten__topk_acc *a, const sten_rescorer *r,
                           uint32_t *out_idx, float *out_val, uint32_t *count);

/* The NT products' shared frame (src/core/sgemm.c): C = alpha A B^T + beta C
 * as a grid of dot-product blocks of mr x nr (mr in {6, 2, 1}, nr in {4, 1},
 * the larger wherever they fit), K in blocks of kc, the longer side split
 * into one contiguous part per thread. fn(arg, mr, nr, i, j, p, kc) computes
 * block (i, j) over k in [p, p + kc): the first K block applies beta, later
 * ones add. Every element's sum has an order fixed by the shapes. */
typedef void (*sten_dot_fn)(const void *arg, int mr, int nr, int64_t i, int64_t j, int64_t p,
                            int64_t kc);
void sten__dot_grid(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, int64_t kc, sten_dot_fn fn,
                    const void *arg);

/* Reduced precision (src/core/bgemm.c): bf16 storage is uint16_t, the top
 * half of an IEEE float, rounded to nearest even. The products take bf16
 * inputs and accumulate in fp32 (AVX-512 BF16); call them only when
 * sten__bf16_available().
 *  sten__bgemm_chunks: C = alpha op(A) B + beta C + bias for A fp32 (NN: M x
 *    K, TN: K x M, rounded to bf16 on packing) and B bf16 (K x N); with Cb,
 *    the result is also stored rounded to bf16 there; chunks and C NULL as
 *    sten__gemm_chunks.
 *  sten__bgemm_nt: C = alpha A B^T + beta C, A (M x K) and B (N x K) bf16. */
uint16_t sten__bf16(float x);
float sten__bf16_to_float(uint16_t h);
bool sten__bf16_available(void);
void sten__to_bf16(sten_ctx *ctx, uint16_t *dst, const float *src, int64_t n);
void sten__to_bf16_row(uint16_t *dst, const float *src, int64_t n);
sten_status sten__bgemm_chunks(sten_ctx *ctx, sten_trans ta, int64_t M, int64_t N, int64_t K,
                               float alpha, const float *A, int64_t lda, const uint16_t *B,
                               int64_t ldb, float beta, float *C, int64_t ldc, uint16_t *Cb,
                               int64_t ldcb, const float *bias, sten_chunk_fn fn, void *arg);
void sten__bgemm_nt(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                    const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
                    float *C, int64_t ldc);
/* A B that many products share (inference weights), packed once into the
 * layout the NN kernel reads (sten__bgemm_packed_words 4-byte words,
 * 64-byte aligned), and the product C = A B + bias from it. */
size_t sten__bgemm_packed_words(int64_t K, int64_t N);
/* Whether a packed B has the layout of the kernel in use now (AMX or not). */
bool sten__bgemm_packed_current(const uint32_t *Bpk);
void sten__bgemm_pack(sten_ctx *ctx, int64_t K, int64_t N, const uint16_t *B, int64_t ldb,
                      uint32_t *out);
/* Bpk was packed for the AMX tiles and they are on: sten__bgemm_chain_packed applies. */
bool sten__bgemm_packed_amx(const uint32_t *Bpk);
/* sten__amx_chain on weights packed by sten__bgemm_pack (sten__bgemm_packed_amx). */
sten_status sten__bgemm_chain_packed(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A,
                                     int64_t lda, const uint16_t *Ab, const uint32_t *Bpk, const float *bias,
                                     bool relu, float *C, int64_t ldc, uint16_t *Cb, int64_t ldcb);
sten_status sten__bgemm_chunks_packed(sten_ctx *ctx, int64_t M, int64_t N, int64_t K,
                                      const float *A, int64_t lda, const uint32_t *Bpk, float *C,
                                      int64_t ldc, const float *bias, sten_chunk_fn fn, void *arg);
/* The same product never stored, handed to fn in blocks: rows [i0, i1) of
 * chunk `chunk`'s columns [j0, j1) at c (row i0, column j0; ld ldc), each
 * (rows, chunk) block once, from any of the context's threads, the blocks
 * of one chunk in row order on one thread. On AMX tiles the blocks are 32
 * rows (consumed while in the core's caches); elsewhere a block is a whole
 * chunk of M rows (sten__bgemm_chunks_packed's). */
typedef void (*sten_rows_fn)(void *arg, int64_t chunk, int64_t i0, int64_t i1, int64_t j0,
                             int64_t j1, const float *c, int64_t ldc);
sten_status sten__bgemm_rows_packed(sten_ctx *ctx, int64_t M, int64_t N, int64_t K,
                                    const float *A, int64_t lda, const uint32_t *Bpk,
                                    const float *bias, sten_rows_fn fn, void *arg);

/* Intel AMX (src/core/amx.c): the same bf16 products on tiles, which
 * bgemm.c's entry points take wherever sten__amx_available(): the CPU has
 * AMX-TILE and AMX-BF16, Linux granted the tile state, STEN_AMX is not 0
 * and STEN_KERNELS is not portable. sten__amx_force(1 / 0) switches it on
 * (where the hardware allows) or off for tests and benchmarks, -1 back to
 * the default. sten__amx_nt returns STEN_E_NOMEM (C untouched) when its
 * scratch could not be had, so the caller can take another path. */
bool sten__amx_hardware(void);
bool sten__amx_available(void);
void sten__amx_force(int on);
sten_status sten__amx_chunks(sten_ctx *ctx, sten_trans ta, int64_t M, int64_t N, int64_t K,
                             float alpha, const float *A, int64_t lda, const uint16_t *B,
                             int64_t ldb, const uint32_t *Bpk, float beta, float *C, int64_t ldc,
                             uint16_t *Cb, int64_t ldcb, const float *bias, sten_chunk_fn fn,
                             void *arg);
sten_status sten__amx_rows(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A,
                           int64_t lda, const uint32_t *Bpk, const float *bias, sten_rows_fn fn,
                           void *arg);
/* A chain of inference layers on tiles: A B + bias (then max(0, .) with
 * relu), B packed by sten__bgemm_pack for AMX, into C (fp32, ldc) and/or
 * Cb (bf16 rows, ldcb, columns past N untouched); A is fp32 (lda) or, with
 * Ab, bf16 rows already padded as the tiles read them (ld up32(K), zero
 * past K, up32(M) rows): the layer before's Cb, rounded as the products
 * round A. The tiles start at the bias, as the plain product's do: the same
 * sums, to the bit. */
sten_status sten__amx_chain(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                            const uint16_t *Ab, const uint32_t *Bpk, const float *bias, bool relu, float *C,
                            int64_t ldc, uint16_t *Cb, int64_t ldcb);
sten_status sten__amx_nt(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha,
                         const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
                         float *C, int64_t ldc);
size_t sten__amx_packed_words(int64_t K, int64_t N);
/* The output layer's bf16 backward pass with SGD inside, in one sweep over
 * the delta on tiles: dA += D Wb^T (D: M x N bf16, Wb: H x N, W's bf16
 * copy as it was; dA: M x H fp32), W = beta W + alpha A^T D (A: M x H
 * fp32) and Wb = W rounded. Independent of the thread count.
 * STEN_E_NOMEM without room for its buffers (nothing touched): the caller
 * takes the products apart. */
sten_status sten__amx_out_backward(sten_ctx *ctx, int64_t M, int64_t N, int64_t H,
                                   const float *A, int64_t lda, const uint16_t *D, int64_t ldd,
                                   float alpha, float beta, float *W, int64_t ldw, uint16_t *Wb,
                                   int64_t ldwb, float *dA, int64_t ldda);
double sten__amx_peak(int threads, double seconds);
/* Whether bf16 products measured faster than fp32 ones here
 * (src/core/precision.c: sten_precision_probe's choice); the fp32
 * recommender screens in bf16 only then. sten__bf16_fast_force(1 / 0)
 * overrides it for tests (where bf16 exists), -1 restores. */
bool sten__bf16_fast(sten_ctx *ctx);
void sten__bf16_fast_force(int on);
void sten__amx_pack(sten_ctx *ctx, int64_t K, int64_t N, const uint16_t *B, int64_t ldb,
                    uint32_t *out);

/* Values n0 .. n0+count-1 of r's stream into out, r unchanged: what
 * sten_rng_seek(r, n0) and count sten_rng_u32 calls give, sixteen Philox
 * blocks at a time. */
void sten__rng_values(const sten_rng *r, uint64_t n0, uint32_t *out, size_t count);

/* int8 products for inference (src/core/qgemm.c): W (K x N) quantized once
 * to signed 8 bits with a scale per column, A's rows to unsigned 8 bits with
 * a scale and zero point per row as the product reads them, exact int32
 * sums; C = A W + bias (fp32, ldc), max(., 0) of it with relu. AVX-512 VNNI where the CPU has it
 * (sten__qgemm_vnni), else a portable loop with the same bits. K is at
 * most 65,536 (the int32 sums; sten__qmat_make refuses more). */
typedef struct {
    int64_t K, N;
    int8_t *q;       /* blocks of 32 columns, k in fours (see qgemm.c) */
    float *scale;    /* per column (N rounded up to 32) */
    int32_t *colsum; /* per column: the sum of its quantized weights */
} sten_qmat;
bool sten__qgemm_vnni(void);
/* Tests: 0 the portable loop, -1 the CPU's best; returns sten__qgemm_vnni(). */
bool sten__qgemm_set_isa(int isa);
sten_status sten__qmat_make(sten_ctx *ctx, sten_qmat *m, int64_t K, int64_t N, const float *W, int64_t ldw);
void sten__qmat_free(sten_ctx *ctx, sten_qmat *m);
sten_status sten__qgemm(sten_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const sten_qmat *W, const float *bias, bool relu, float *C, int64_t ldc);

/* STEN_KERNELS=portable in the environment: every CPU-specific fast path
 * (own AVX-512 and AVX2 GEMM, bf16, the vector loss pass) off, as on a CPU
 * without them; STEN_KERNELS=avx2: the AVX-512 ones off, as on a CPU with
 * AVX2 but not AVX-512 — so a test run on this machine covers the paths
 * others take. */
bool sten__portable(void);
/* "STEN_KERNELS=portable" or "STEN_KERNELS=avx2" when that narrows the kernels, else NULL. */
const char *sten__kernels_setting(void);
/* AVX-512 F, VL, DQ and BW on this CPU, and STEN_KERNELS unset: the
 * one test behind every AVX-512 path (decided once). */
bool sten__avx512(void);
/* The widest vector kernels this CPU runs (decided once): 512 (sten__avx512),
 * 256 (AVX2 and FMA), 0 (neither, or STEN_KERNELS=portable). */
int sten__simd(void);

/* Whether sten_gemm uses sten's own kernels: decided on first use from the
 * CPU and STEN_GEMM=blas (none);
 * tests switch it (1 the best own the CPU has, 2 the AVX2 ones, 0 BLAS, -1
 * decide again; a mode the CPU cannot run gives the next one down).
 * sten__gemm_own_wide: the own kernels in use are the AVX-512 ones (the
 * long-sum NT dot grid and sten__gemm_out_backward are theirs alone). */
bool sten__gemm_own(void);
bool sten__gemm_own_wide(void);
bool sten__gemm_own_available(void);
void sten__gemm_set_own(int on);

/* Hot loops are compiled once per ISA level and chosen at load time, so a
 * portable build still uses AVX2/AVX-512 where the CPU has them. Off under
 * sanitizers (ifunc resolvers run before the sanitizer runtime is ready). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && !defined(STEN_NO_CLONES)
#define STEN__SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define STEN__SIMD_CLONES
#endif

/* sten_spmm with the product scaled by alpha (a weight stored with a
 * deferred scale): Y = beta Y + alpha X W. */
void sten__spmm_scaled(sten_ctx *ctx, const sten_csr *X, const float *W, int64_t ldw, int64_t H,
                       float alpha, float beta, float *Y, int64_t ldy);

/* The transpose of x keeping only the columns present, for batches far
 * sparser than wide (nnz << cols): xt's row q holds column rid[q]'s entries
 * (in x-row order), q ascending by column, xt->rows = distinct columns.
 * O(nnz) (a radix sort on the column's bytes), never a pass over cols.
 * keys: scratch of 2 x->nnz. xt needs
 * room for x->nnz entries (and values iff x has them) and x->nnz + 1 row
 * starts; rid for x->nnz. */
sten_status sten__csr_transpose_compact(sten_ctx *ctx, const sten_csr *x, sten_csr *xt, uint32_t *rid,
                                        uint64_t *keys);
/* sten_spmm_grad over a transpose whose row q is dW's row rid[q] (NULL:
 * row q, a full transpose); with fresh, each row with entries is
 * overwritten (zeroed by the thread that sums into it) instead of added to. */
void sten__spmm_grad_rows(sten_ctx *ctx, const sten_csr *XT, const uint32_t *rid, const float *dY,
                          int64_t ldd, int64_t H, float alpha, bool fresh, float *dW, int64_t ldw);

/* One value through an elementwise activation, in place. */
void sten__act_forward_one(sten_act a, const sten_act_params *p, float *x);
/* One row of sten_act_backward, single-threaded (for use inside another
 * kernel's parallel loop). */
void sten__act_backward_row(sten_act a, const sten_act_params *p, const float *Y,
                            const float *dY, float *dX, int64_t N);

#define STEN__MIN(a, b) ((a) < (b) ? (a) : (b))
#define STEN__MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
