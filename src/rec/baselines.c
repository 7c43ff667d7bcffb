/* baselines.c — the two baselines every recommender number needs beside
 * it: item popularity and EASE (Steck, "Embarrassingly Shallow Autoencoders
 * for Sparse Data", WWW 2019), a closed-form item-item model. EASE is dense
 * in items, so it refuses catalogues above a caller-given size. */
#include "core/core_int.h"

#include <string.h>

/* LAPACK from OpenBLAS (Fortran calling convention). */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info);

struct sten_ease {
    uint32_t N;
    float *B; /* N x N */
};

void sten_popularity(const sten_csr *X, float *counts)
{
    memset(counts, 0, (size_t)X->cols * sizeof *counts);
    for (uint64_t e = 0; e < X->nnz; e++)
        counts[X->col[e]] += 1.0f;
}

/* Rows i0..i1 of G = X^T X + lambda I, one item row per task: item i's
 * users, their items. */
static void gram_rows(const sten_csr *X, const sten_csr *XT, float lambda, float *G, int64_t i0,
                      int64_t i1, int nt)
{
    const int64_t N = X->cols;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
    for (int64_t i = i0; i < i1; i++) {
        float *g = G + i * N;
        memset(g, 0, (size_t)N * sizeof *g);
        for (uint64_t e = XT->row_ptr[i]; e < XT->row_ptr[i + 1]; e++) {
            const uint32_t u = XT->col[e];
            const float vi = XT->val ? XT->val[e] : 1.0f;
            for (uint64_t f = X->row_ptr[u]; f < X->row_ptr[u + 1]; f++)
                g[X->col[f]] += vi * (X->val ? X->val[f] : 1.0f);
        }
        g[i] += lambda;
    }
}

/* G = X^T X + lambda I in blocks of rows, so progress can be reported
 * between them. */
static void gram(sten_ctx *ctx, const sten_csr *X, const sten_csr *XT, float lambda, float *G)
{
    const int64_t N = X->cols, block = 1024;
    const int nt = sten__threads_for(ctx, (int64_t)XT->nnz * 64, 1 << 14);
    for (int64_t i0 = 0; i0 < N; i0 += block) {
        sten__progress(ctx, "EASE: Gram matrix", "items", (uint64_t)i0, (uint64_t)N);
        gram_rows(X, XT, lambda, G, i0, STEN__MIN(N, i0 + block), nt);
    }
}

sten_status sten_ease_fit(sten_ctx *ctx, const sten_csr *X, float lambda, uint32_t max_items,
                          sten_ease **out)
{
    *out = NULL;
    const uint32_t N = X->cols;
    if (N > max_items)
        return sten_fail(ctx, STEN_E_RANGE,
                         "EASE needs a dense %u x %u item matrix (%.1f GiB); the limit is %u items "
                         "(raise it with --max-items if the memory is there)",
                         N, N, (double)N * N * 4 / (1 << 30), max_items);
    if (!(lambda > 0.0f))
        return sten_fail(ctx, STEN_E_INVALID, "EASE needs lambda > 0 (got %g)", lambda);
    sten_ease *m = sten_calloc(ctx, 1, sizeof *m);
    sten_csr XT = {0};
    if (!m)
        return STEN_E_NOMEM;
    m->N = N;
    m->B = sten_alloc(ctx, (size_t)N * N * sizeof *m->B);
    sten_status st = m->B ? sten_csr_init(ctx, &XT, N, X->rows, X->nnz ? X->nnz : 1, X->val != NULL)
                          : STEN_E_NOMEM;
    if (!st)
        st = sten_csr_transpose(ctx, X, &XT);
    if (!st) {
        gram(ctx, X, &XT, lambda, m->B);
        /* Cholesky inverse; the matrix is symmetric, so row- and column-major
         * are the same and the upper triangle LAPACK fills is our lower */
        const int n = (int)N;
        int info = 0;
        sten__blas_threads(ctx);
        sten__progress(ctx, "EASE: inverting the Gram matrix", "", 0, 0);
        spotrf_("U", &n, m->B, &n, &info);
        if (!info)
            spotri_("U", &n, m->B, &n, &info);
        if (info)
            st = sten_fail(ctx, STEN_E_NUMERIC, "EASE: X^T X + lambda I is not positive definite "
                           "(LAPACK info %d); raise lambda", info);
    }
    if (!st) {
        sten__progress(ctx, "EASE: weights", "", 0, 0);
        float *P = m->B;
        for (uint32_t i = 0; i < N; i++) /* mirror the computed triangle */
            for (uint32_t j = i + 1; j < N; j++)
                P[(uint64_t)i * N + j] = P[(uint64_t)j * N + i];
        /* B[i][j] = -P[i][j] / P[j][j], zero diagonal */
        float *inv = sten_alloc(ctx, (size_t)N * sizeof *inv);
        if (!inv) {
            st = STEN_E_NOMEM;
        } else {
            for (uint32_t j = 0; j < N; j++)
                inv[j] = -1.0f / P[(uint64_t)j * N + j];
            for (uint32_t i = 0; i < N; i++) {
                float *row = P + (uint64_t)i * N;
                for (uint32_t j = 0; j < N; j++)
                    row[j] *= inv[j];
                row[i] = 0.0f;
            }
            sten_free(ctx, inv);
        }
    }
    sten_csr_free(ctx, &XT);
    if (st) {
        sten_ease_free(ctx, m);
        return st;
    }
    *out = m;
    return STEN_OK;
}

void sten_ease_scores(sten_ctx *ctx, const sten_ease *m, const sten_csr *U, float *S)
{
    sten_spmm(ctx, U, m->B, m->N, m->N, 0.0f, S, m->N);
}

uint32_t sten_ease_items(const sten_ease *m)
{
    return m->N;
}

void sten_ease_free(sten_ctx *ctx, sten_ease *m)
{
    if (!m)
        return;
    sten_free(ctx, m->B);
    sten_free(ctx, m);
}
