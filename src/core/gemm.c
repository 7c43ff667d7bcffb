/* gemm.c — dense matrix products through OpenBLAS (OpenMP build) where
 * sgemm.c's own kernels do not apply, and the
 * one place that tells the BLAS how many threads to use. BLAS is only ever
 * called from outside our own parallel regions, so threads never multiply.
 * Also judges OpenBLAS's core type against the CPU; it cannot change it (a
 * library constructor picked it before sten ran: tools/blas_core.c can). */
#include "core_int.h"

#include <cblas.h>
#include <stdio.h>
#include <strings.h>

void sten__blas_threads(const sten_ctx *ctx)
{
    openblas_set_num_threads(ctx->threads);
}

void sten__gemm_blas(sten_ctx *ctx, sten_trans ta, sten_trans tb, int64_t M,
                     int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) { /* BLAS rejects lda = 0; the product is empty anyway */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    sten__blas_threads(ctx);
    cblas_sgemm(CblasRowMajor, ta == STEN_TRANS ? CblasTrans : CblasNoTrans,
                tb == STEN_TRANS ? CblasTrans : CblasNoTrans, (blasint)M,
                (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb,
                beta, C, (blasint)ldc);
}

const char *sten_blas_info(void)
{
    static const char *const par[] = {"sequential", "pthreads", "OpenMP"};
    int p = openblas_get_parallel();
    static _Thread_local char buf[256];
    snprintf(buf, sizeof buf, "%s (threading: %s)", openblas_get_config(),
             p >= 0 && p <= 2 ? par[p] : "unknown");
    return buf;
}

/* OpenBLAS 0.3.21's x86-64 core types (driver/others/dynamic.c) by the
 * vector generation of their kernels: 1 SSE, 2 AVX, 3 AVX2, 4 AVX-512,
 * 5 AVX-512 with BF16. SapphireRapids is a later release's name. */
static const struct {
    const char *name, *kernels;
    int level;
} blas_cores[] = {
    {"Katmai", "SSE", 1},          {"Coppermine", "SSE", 1},   {"Northwood", "SSE2", 1},
    {"Prescott", "SSE3", 1},       {"Banias", "SSE2", 1},      {"Atom", "SSSE3", 1},
    {"Core2", "SSSE3", 1},         {"Penryn", "SSE4.1", 1},    {"Dunnington", "SSE4.1", 1},
    {"Nehalem", "SSE4.2", 1},      {"Athlon", "SSE", 1},       {"Opteron", "SSE2", 1},
    {"Opteron_SSE3", "SSE3", 1},   {"Barcelona", "SSE4a", 1},  {"Bobcat", "SSE4a", 1},
    {"Nano", "SSE3", 1},           {"Sandybridge", "AVX", 2},  {"Bulldozer", "AVX", 2},
    {"Piledriver", "AVX", 2},      {"Steamroller", "AVX", 2},  {"Excavator", "AVX2", 3},
    {"Haswell", "AVX2", 3},        {"Zen", "AVX2", 3},         {"SkylakeX", "AVX-512", 4},
    {"Cooperlake", "AVX-512 BF16", 5}, {"SapphireRapids", "AVX-512 BF16", 5},
};

unsigned sten__cpu_features(void)
{
    unsigned f = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx"))
        f |= STEN__CPU_AVX;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        f |= STEN__CPU_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        f |= STEN__CPU_AVX512;
    if (__builtin_cpu_supports("avx512bf16"))
        f |= STEN__CPU_AVX512_BF16;
#endif
    return f;
}

void sten__blas_core_judge(const char *core, unsigned cpu, sten_blas_core *out)
{
    /* each level's core type for a CPU that has just that level's features */
    static const char *const best_at[] = {NULL, NULL, "Sandybridge", "Haswell", "SkylakeX",
                                          "Cooperlake"};
    int have = 0, cpu_level = 1;
    out->core = core ? core : "unknown";
    out->kernels = "unknown";
    for (size_t i = 0; i < sizeof blas_cores / sizeof *blas_cores; i++)
        if (!strcasecmp(out->core, blas_cores[i].name)) {
            out->kernels = blas_cores[i].kernels;
            have = blas_cores[i].level;
        }
    if (cpu & STEN__CPU_AVX)
        cpu_level = 2;
    if ((cpu & STEN__CPU_AVX) && (cpu & STEN__CPU_AVX2))
        cpu_level = 3;
    if (cpu_level == 3 && (cpu & STEN__CPU_AVX512))
        cpu_level = (cpu & STEN__CPU_AVX512_BF16) ? 5 : 4;
    /* an unknown name (another architecture, a newer release) is left alone */
    out->older = have > 0 && have < cpu_level;
    out->generic = out->older && have == 1;
    out->best = out->older ? best_at[cpu_level] : out->core;
}

void sten_blas_core_get(sten_blas_core *out)
{
    sten__blas_core_judge(openblas_get_corename(), sten__cpu_features(), out);
}
