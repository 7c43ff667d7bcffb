/* gemm.c — dense matrix products through OpenBLAS (OpenMP build) where
 * sgemm.c's own kernels do not apply, and the
 * one place that tells the BLAS how many threads to use. BLAS is only ever
 * called from outside our own parallel regions, so threads never multiply. */
#include "core_int.h"

#include <cblas.h>
#include <stdio.h>

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
