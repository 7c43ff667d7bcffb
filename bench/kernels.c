/* kernels.c — micro-benchmark of sten's kernels at recommender shapes
 * (DSSTNE's MovieLens autoencoder: B=256, H=128, N=26,752 items), printed
 * beside this machine's bounds: the fp32 FMA peak (a register-only loop of
 * independent FMAs on every thread, the widest vectors the CPU has), SGEMM
 * 2048^3 through sten's kernels and through OpenBLAS, and STREAM triad
 * bandwidth. Each GEMM shape is timed on both paths.
 * Usage: bench_kernels [--threads N] [--reps R] [--quick] */
#include "core/core_int.h"
#include "sten.h"

#ifdef __x86_64__
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of `reps` runs of fn(arg), after one warm-up run. */
static double time_median(void (*fn)(void *), void *arg, int reps)
{
    double t[64];
    if (reps > 64)
        reps = 64;
    fn(arg);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        fn(arg);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

typedef struct {
    sten_ctx *ctx;
    int64_t B, H, N, nnz_row;
    float *A, *W, *Y, *dY, *Wt, *big_a, *big_b, *big_c, *S;
    uint16_t *Wb, *dYb; /* bf16 copies */
    int64_t big;
    sten_csr x, xt;
    uint32_t *idx;
    float *val;
} bench;

static void run_peak_gemm(void *p)
{
    bench *b = p;
    sten_gemm(b->ctx, STEN_NO_TRANS, STEN_NO_TRANS, b->big, b->big, b->big, 1.0f, b->big_a,
              b->big, b->big_b, b->big, 0.0f, b->big_c, b->big);
}

/* fp32 FMA peak: 12 independent accumulator chains per thread (enough to
 * cover FMA latency x throughput), no memory traffic. */
#define FMA_ITERS 20000000l
#ifdef __x86_64__
__attribute__((target("avx512f"))) static float fma_loop512(float x)
{
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(x);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < FMA_ITERS / 16; k++)
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}
__attribute__((target("avx2,fma"))) static float fma_loop256(float x)
{
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(x);
    for (int i = 0; i < 12; i++)
        a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < FMA_ITERS / 8; k++)
        for (int i = 0; i < 12; i++)
            a[i] = _mm256_fmadd_ps(a[i], m, c);
    float out[8], s = 0;
    for (int i = 1; i < 12; i++)
        a[0] = _mm256_add_ps(a[0], a[i]);
    _mm256_storeu_ps(out, a[0]);
    for (int i = 0; i < 8; i++)
        s += out[i];
    return s;
}
#endif

static volatile float fma_sink;

/* flops of one fma_loop call on each of nt threads, and which width ran */
static double fma_peak(int nt, const char **isa)
{
    *isa = "none (not x86-64)";
#ifdef __x86_64__
    const int wide = __builtin_cpu_supports("avx512f");
    *isa = wide ? "AVX-512" : __builtin_cpu_supports("fma") ? "AVX2+FMA" : "none";
    if (!wide && !__builtin_cpu_supports("fma"))
        return 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = now();
#pragma omp parallel num_threads(nt)
        fma_sink = wide ? fma_loop512(0.5f) : fma_loop256(0.5f);
        const double t = now() - t0;
        const double gf = 2.0 * 12 * (double)FMA_ITERS * nt / t / 1e9;
        best = gf > best ? gf : best;
    }
    return best;
#else
    (void)nt;
    return 0;
#endif
}

/* STREAM triad over three arrays of 64 MB each */
#define TRIAD_N (16l << 20)
#define STEN__BENCH_MAX(a, b) ((a) > (b) ? (a) : (b))
static void run_triad(void *p)
{
    bench *b = p;
    float *a = b->big_a, *x = b->big_b, *y = b->big_c;
    const int nt = sten_ctx_threads(b->ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long i = 0; i < TRIAD_N; i++)
        a[i] = x[i] + 1.5f * y[i];
}

/* Output layer forward: Y(B,N) = A(B,H) W(H,N) */
static void run_out_fwd(void *p)
{
    bench *b = p;
    sten_gemm(b->ctx, STEN_NO_TRANS, STEN_NO_TRANS, b->B, b->N, b->H, 1.0f, b->A, b->H, b->W,
              b->N, 0.0f, b->Y, b->N);
}

/* Output layer backward to the hidden layer: dA(B,H) = dY(B,N) W(H,N)^T */
static void run_out_bwd_data(void *p)
{
    bench *b = p;
    sten_gemm(b->ctx, STEN_NO_TRANS, STEN_TRANS, b->B, b->H, b->N, 1.0f, b->dY, b->N, b->W,
              b->N, 0.0f, b->A, b->H);
}

/* Output layer weight gradient: dW(H,N) = A(B,H)^T dY(B,N) */
static void run_out_bwd_weight(void *p)
{
    bench *b = p;
    sten_gemm(b->ctx, STEN_TRANS, STEN_NO_TRANS, b->H, b->N, b->B, 1.0f, b->A, b->H, b->dY,
              b->N, 0.0f, b->W, b->N);
}

/* The same three products in bf16 (inputs bf16, fp32 accumulation). */
static void run_bf_fwd(void *p)
{
    bench *b = p;
    sten__bgemm_chunks(b->ctx, STEN_NO_TRANS, b->B, b->N, b->H, 1.0f, b->A, b->H, b->Wb, b->N, 0.0f,
                       b->Y, b->N, NULL, 0, NULL, NULL, NULL);
}

static void run_bf_bwd_data(void *p)
{
    bench *b = p;
    sten__bgemm_nt(b->ctx, b->B, b->H, b->N, 1.0f, b->dYb, b->N, b->Wb, b->N, 0.0f, b->A, b->H);
}

static void run_bf_bwd_weight(void *p)
{
    bench *b = p;
    sten__bgemm_chunks(b->ctx, STEN_TRANS, b->H, b->N, b->B, 1.0f, b->A, b->H, b->dYb, b->N, 0.0f,
                       b->W, b->N, b->Wb, b->N, NULL, NULL, NULL);
}

static void run_spmm(void *p)
{
    bench *b = p;
    sten_spmm(b->ctx, &b->x, b->Wt, b->H, b->H, 0.0f, b->A, b->H);
}

static void run_spmm_grad(void *p)
{
    bench *b = p;
    sten_csr_transpose(b->ctx, &b->x, &b->xt);
    sten_spmm_grad(b->ctx, &b->xt, b->A, b->H, b->H, -0.01f, b->Wt, b->H);
}

static void run_sigmoid(void *p)
{
    bench *b = p;
    sten_act_params ap = sten_act_params_default();
    sten_act_forward(b->ctx, STEN_ACT_SIGMOID, &ap, b->Y, b->dY, b->B, b->N, b->N);
}

static void run_topk(void *p)
{
    bench *b = p;
    sten_topk(b->ctx, b->S, b->N, b->B, b->N, 10, &b->x, b->idx, b->val, NULL);
}

static float *filled(sten_ctx *ctx, int64_t n, sten_rng *r)
{
    float *p = sten_alloc(ctx, (size_t)n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        p[i] = sten_rng_uniform(r) - 0.5f;
    return p;
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 9, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: bench_kernels [--threads N] [--reps R] [--quick]\n");
            return 64;
        }
    }
    if (reps < 1)
        reps = 1;
    sten_ctx *ctx;
    if (sten_ctx_init(&ctx) != STEN_OK)
        return 1;
    sten_ctx_set_threads(ctx, threads);
    bench b = {.ctx = ctx, .B = 256, .H = 128, .N = quick ? 4096 : 26752, .nnz_row = 145};
    b.big = quick ? 512 : 2048;
    sten_rng r;
    sten_rng_init(&r, 1, 0);

    printf("# sten %s bench_kernels\n# blas: %s\n# threads: %d  OMP_NUM_THREADS=%s  "
           "OPENBLAS_NUM_THREADS=%s\n",
           sten_version(), sten_blas_info(), sten_ctx_threads(ctx),
           getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(unset)",
           getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "(unset)");

    /* machine bounds */
    int64_t bigsz = STEN__BENCH_MAX(b.big * b.big, TRIAD_N);
    b.big_a = filled(ctx, bigsz, &r);
    b.big_b = filled(ctx, bigsz, &r);
    b.big_c = filled(ctx, bigsz, &r);
    const char *isa;
    const double fpeak = fma_peak(sten_ctx_threads(ctx), &isa);
    const int own = sten__gemm_own();
    double t = time_median(run_peak_gemm, &b, reps < 5 ? reps : 5);
    const double own_gemm = own ? 2.0 * b.big * b.big * b.big / t / 1e9 : NAN;
    sten__gemm_set_own(0);
    t = time_median(run_peak_gemm, &b, reps < 5 ? reps : 5);
    const double blas_gemm = 2.0 * b.big * b.big * b.big / t / 1e9;
    sten__gemm_set_own(own);
    /* the compute bound: the FMA peak where measurable, else the best SGEMM */
    const double peak = fpeak > 0 ? fpeak : (own && own_gemm > blas_gemm ? own_gemm : blas_gemm);
    const double amx_peak = sten__amx_peak(sten_ctx_threads(ctx), 0.2);
    if (amx_peak > 0)
        printf("# machine: AMX bf16 tile peak %.1f GFLOP/s (tdpbf16ps, %d threads)\n", amx_peak,
               sten_ctx_threads(ctx));
    t = time_median(run_triad, &b, reps);
    const double bw = 3.0 * TRIAD_N * 4 / t / 1e9;
    printf("# machine: fp32 FMA peak (%s) %.1f GFLOP/s; SGEMM %lldx%lldx%lld sten %.1f, OpenBLAS "
           "%.1f GFLOP/s; STREAM triad %.1f GB/s\n",
           isa, fpeak, (long long)b.big, (long long)b.big, (long long)b.big, own_gemm, blas_gemm, bw);
    printf("# gemm rows: sten's own kernels %s; \"of bound\" = GFLOP/s over the FMA peak "
           "(bf16 rows: over twice that, vdpbf16ps's nominal rate; amx rows: over the tile peak)\n",
           own ? "on" : "off (no AVX-512 or STEN_GEMM=blas)");
    sten_free(ctx, b.big_a);
    sten_free(ctx, b.big_b);
    sten_free(ctx, b.big_c);

    /* recommender shapes */
    b.A = filled(ctx, b.B * b.H, &r);
    b.W = filled(ctx, b.H * b.N, &r);
    b.Wt = filled(ctx, b.N * b.H, &r);
    b.Y = filled(ctx, b.B * b.N, &r);
    b.dY = filled(ctx, b.B * b.N, &r);
    b.S = filled(ctx, b.B * b.N, &r);
    b.Wb = sten_alloc(ctx, (size_t)(b.H * b.N) * 2);
    b.dYb = sten_alloc(ctx, (size_t)(b.B * b.N) * 2);
    for (int64_t e = 0; e < b.H * b.N; e++)
        b.Wb[e] = sten__bf16(b.W[e]);
    for (int64_t e = 0; e < b.B * b.N; e++)
        b.dYb[e] = sten__bf16(b.dY[e]);
    b.idx = sten_alloc(ctx, (size_t)b.B * 10 * sizeof *b.idx);
    b.val = sten_alloc(ctx, (size_t)b.B * 10 * sizeof *b.val);
    if (sten_csr_init(ctx, &b.x, (uint32_t)b.B, (uint32_t)b.N, (uint64_t)(b.B * b.nnz_row), false) ||
        sten_csr_init(ctx, &b.xt, (uint32_t)b.N, (uint32_t)b.B, (uint64_t)(b.B * b.nnz_row), false)) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        return 1;
    }
    /* popularity-skewed columns, as in real interaction data */
    for (int64_t i = 0; i < b.B; i++) {
        for (int64_t e = 0; e < b.nnz_row; e++) {
            double u = sten_rng_uniform(&r);
            b.x.col[i * b.nnz_row + e] = (uint32_t)((double)b.N * u * u * u) % (uint32_t)b.N;
        }
        b.x.row_ptr[i + 1] = (uint64_t)((i + 1) * b.nnz_row);
    }
    b.x.rows = (uint32_t)b.B;
    b.x.nnz = (uint64_t)(b.B * b.nnz_row);

    const double nnz = (double)b.x.nnz, gemm_flop = 2.0 * b.B * b.H * b.N;
    struct {
        const char *name;
        void (*fn)(void *);
        double flop, bytes;
    } rows[] = {
        {"gemm out fwd   Y=A*W      (B,H)x(H,N)", run_out_fwd, gemm_flop, 0},
        {"gemm out bwd   dA=dY*W^T  (B,N)x(N,H)", run_out_bwd_data, gemm_flop, 0},
        {"gemm out grad  dW=A^T*dY  (H,B)x(B,N)", run_out_bwd_weight, gemm_flop, 0},
        {"bf16 out fwd   Y=A*W      (B,H)x(H,N)", run_bf_fwd, gemm_flop, -1},
        {"bf16 out bwd   dA=dY*W^T  (B,N)x(N,H)", run_bf_bwd_data, gemm_flop, -1},
        {"bf16 out grad  dW=A^T*dY  (H,B)x(B,N)", run_bf_bwd_weight, gemm_flop, -1},
        {"spmm in fwd    gather-sum (B,nnz)x(N,H)", run_spmm, 2.0 * nnz * b.H,
         nnz * b.H * 4.0 + b.B * b.H * 4.0},
        {"spmm in grad   transpose+scatter rows", run_spmm_grad, 2.0 * nnz * b.H,
         nnz * b.H * 8.0 + b.B * b.H * 4.0},
        {"sigmoid        (B,N)", run_sigmoid, 0, 2.0 * b.B * b.N * 4},
        {"top-10 + seen  (B,N)", run_topk, 0, 1.0 * b.B * b.N * 4},
    };
    printf("# shapes: B=%lld H=%lld N=%lld nnz/row=%lld; median of %d runs\n", (long long)b.B,
           (long long)b.H, (long long)b.N, (long long)b.nnz_row, reps);
    printf("%-47s %10s %10s %10s %9s\n", "kernel", "ms", "GFLOP/s", "GB/s", "of bound");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const int is_bf = rows[i].bytes < 0;
        if (is_bf && !sten__bf16_available())
            continue;
        if (is_bf) { /* against the bf16 peak: twice the fp32 FMA rate, or AMX's */
            for (int amx = 0; amx <= (int)sten__amx_hardware(); amx++) {
                sten__amx_force(amx);
                t = time_median(rows[i].fn, &b, reps);
                const double gf = rows[i].flop / t / 1e9;
                char name[64];
                snprintf(name, sizeof name, "%s %s", rows[i].name, amx ? "amx" : "avx");
                printf("%-47s %10.3f %10.1f %10s %8.0f%%\n", name, t * 1e3, gf, "nan",
                       100.0 * gf / (amx ? amx_peak : 2 * peak));
            }
            sten__amx_force(-1);
            continue;
        }
        const int is_gemm = rows[i].bytes == 0;
        for (int path = 0; path < (is_gemm && own ? 2 : 1); path++) {
            sten__gemm_set_own(path == 0 ? own : 0);
            t = time_median(rows[i].fn, &b, reps);
            double gf = rows[i].flop / t / 1e9, gb = rows[i].bytes / t / 1e9;
            /* a kernel is bound by compute if it does real arithmetic per
             * byte, else by memory bandwidth */
            double frac = is_gemm ? gf / peak : gb / bw;
            char name[64];
            snprintf(name, sizeof name, "%s%s", rows[i].name,
                     !is_gemm ? "" : path == 0 && own ? " sten" : " blas");
            printf("%-47s %10.3f %10.1f %10.1f %8.0f%%\n", name, t * 1e3,
                   rows[i].flop ? gf : NAN, rows[i].bytes ? gb : NAN, 100.0 * frac);
        }
        sten__gemm_set_own(own);
    }
    sten_csr_free(ctx, &b.x);
    sten_csr_free(ctx, &b.xt);
    sten_free(ctx, b.A), sten_free(ctx, b.W), sten_free(ctx, b.Wt), sten_free(ctx, b.Y);
    sten_free(ctx, b.dY), sten_free(ctx, b.S), sten_free(ctx, b.idx), sten_free(ctx, b.val);
    sten_free(ctx, b.Wb), sten_free(ctx, b.dYb);
    sten_ctx_free(ctx);
    return 0;
}
