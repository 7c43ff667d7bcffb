/* spmm.c — the sparse input layer's two products: the forward gather-sum of
 * weight rows (never densifying the batch) and the weight gradient that
 * touches only the rows present. Each output row is owned by one thread and
 * summed in a fixed order, so results do not depend on the thread count. */
#include "core_int.h"

#include <string.h>

/* y[0..H) += sum over listed rows j of v_j * W[j, :] (v = 1 when val is
 * NULL). The unit of work of both products below. In slices of 64 columns
 * whose sums stay in registers through all the rows (each y[h] still gets
 * its rows in order: the same sums). With prefetch, the first slice asks
 * for the whole row eight ahead: the forward gather's rows are scattered
 * over a weight matrix larger than the caches (the gradient's are not). */
STEN__SIMD_CLONES
static void gather_rows(float *restrict y, const float *restrict W, int64_t ldw,
                        int64_t H, const uint32_t *idx, const float *val,
                        uint64_t n, float scale, bool prefetch)
{
    enum { S = 64 };
    int64_t h0 = 0;
    for (; h0 + S <= H; h0 += S) {
        float acc[S];
        for (int h = 0; h < S; h++)
            acc[h] = y[h0 + h];
        for (uint64_t e = 0; e < n; e++) {
            if (prefetch && h0 == 0 && e + 8 < n) { /* the whole row: later slices find it in L2 */
                const char *ahead = (const char *)(W + (int64_t)idx[e + 8] * ldw);
                for (int64_t q = 0; q < H * (int64_t)sizeof(float); q += 64)
                    __builtin_prefetch(ahead + q);
            }
            const float *restrict w = W + (int64_t)idx[e] * ldw + h0;
            const float v = val ? scale * val[e] : scale;
            for (int h = 0; h < S; h++)
                acc[h] += v * w[h];
        }
        for (int h = 0; h < S; h++)
            y[h0 + h] = acc[h];
    }
    if (h0 == H)
        return;
    for (uint64_t e = 0; e < n; e++) { /* the last H % 64 columns */
        const float *restrict w = W + (int64_t)idx[e] * ldw;
        const float v = val ? scale * val[e] : scale;
        for (int64_t h = h0; h < H; h++)
            y[h] += v * w[h];
    }
}

/* X: CSR (B, N_in); W: (N_in, H) ld ldw; Y: (B, H) ld ldy. */
void sten_spmm(sten_ctx *ctx, const sten_csr *X, const float *W, int64_t ldw,
               int64_t H, float beta, float *Y, int64_t ldy)
{
    sten__spmm_scaled(ctx, X, W, ldw, H, 1.0f, beta, Y, ldy);
}

/* Batch rows [b0, b1) of a narrow product (H <= 64 columns: an embedding
 * table's lookups), each row's sum kept in registers: acc = (beta == 0 ? 0
 * : y), plus its entries' rows in order, then y = acc (alpha 1) or y =
 * (beta == 0 ? 0 : y) + alpha acc; the same sums as gather_rows forms. The
 * weight rows of the batch row D ahead are asked for first: one table's
 * lookups are scattered over more than the caches (DLRM scoring on the
 * Xeon: 430M cycles in the tables' lookups with no prefetch, 370M at 4
 * ahead, 260M at 32, 280M at 64), and a 1-thread call (scoring splits the
 * rows over threads) goes through no OpenMP loop. */
static inline __attribute__((always_inline)) void narrow_rows(const sten_csr *X, const float *W, int64_t ldw,
                                                              int64_t H, float alpha, float beta, float *Y,
                                                              int64_t ldy, int64_t b0, int64_t b1)
{
    enum { D = 32 };
    for (int64_t b = b0; b < b1; b++) {
        if (b + D < b1)
            for (uint64_t e = X->row_ptr[b + D]; e < X->row_ptr[b + D + 1]; e++)
                for (int64_t q = 0; q < H * (int64_t)sizeof(float); q += 64)
                    __builtin_prefetch((const char *)(W + (int64_t)X->col[e] * ldw) + q);
        float *restrict y = Y + b * ldy;
        float acc[64];
        for (int64_t h = 0; h < H; h++)
            acc[h] = beta == 0.0f || alpha != 1.0f ? 0.0f : y[h];
        for (uint64_t e = X->row_ptr[b]; e < X->row_ptr[b + 1]; e++) {
            const float *restrict w = W + (int64_t)X->col[e] * ldw;
            const float v = X->val ? X->val[e] : 1.0f;
            for (int64_t h = 0; h < H; h++)
                acc[h] += v * w[h];
        }
        if (alpha == 1.0f)
            for (int64_t h = 0; h < H; h++)
                y[h] = acc[h];
        else
            for (int64_t h = 0; h < H; h++)
                y[h] = (beta == 0.0f ? 0.0f : y[h]) + alpha * acc[h];
    }
}

/* narrow_rows with DLRM's width (16) known to the compiler: one register */
STEN__SIMD_CLONES
static void gather_narrow(const sten_csr *X, const float *W, int64_t ldw, int64_t H, float alpha, float beta,
                          float *Y, int64_t ldy, int64_t b0, int64_t b1)
{
    if (H == 16)
        narrow_rows(X, W, ldw, 16, alpha, beta, Y, ldy, b0, b1);
    else
        narrow_rows(X, W, ldw, H, alpha, beta, Y, ldy, b0, b1);
}

/* The same with the product scaled by alpha: each row's sum of weight rows
 * is formed, then multiplied (W stored with a deferred scale). */
void sten__spmm_scaled(sten_ctx *ctx, const sten_csr *X, const float *W, int64_t ldw, int64_t H,
                       float alpha, float beta, float *Y, int64_t ldy)
{
    const int64_t B = X->rows;
    const int nt = sten__threads_for(ctx, (int64_t)X->nnz * H + B * H, 1 << 15);
    if (H <= 64) {
        if (nt == 1) {
            gather_narrow(X, W, ldw, H, alpha, beta, Y, ldy, 0, B);
            return;
        }
        enum { ROWS = 64 };
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t b0 = 0; b0 < B; b0 += ROWS)
            gather_narrow(X, W, ldw, H, alpha, beta, Y, ldy, b0, STEN__MIN(B, b0 + ROWS));
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
    for (int64_t b = 0; b < B; b++) {
        float *y = Y + b * ldy;
        const uint64_t e0 = X->row_ptr[b];
        /* rows of a few entries get no prefetch inside gather_rows: ask for the
         * weight rows of the batch row 8 ahead here */
        if (b + 8 < B && X->row_ptr[b + 9] - X->row_ptr[b + 8] <= 4)
            for (uint64_t e = X->row_ptr[b + 8]; e < X->row_ptr[b + 9]; e++)
                for (int64_t q = 0; q < H * (int64_t)sizeof(float); q += 64)
                    __builtin_prefetch((const char *)(W + (int64_t)X->col[e] * ldw) + q);
        if (alpha == 1.0f) {
            if (beta == 0.0f)
                memset(y, 0, (size_t)H * sizeof *y);
            gather_rows(y, W, ldw, H, X->col + e0, X->val ? X->val + e0 : NULL,
                        X->row_ptr[b + 1] - e0, 1.0f, true);
            continue;
        }
        float acc[512];
        for (int64_t h0 = 0; h0 < H; h0 += 512) { /* in slices of the stack buffer */
            const int64_t hn = STEN__MIN(512, H - h0);
            memset(acc, 0, (size_t)hn * sizeof *acc);
            gather_rows(acc, W + h0, ldw, hn, X->col + e0, X->val ? X->val + e0 : NULL,
                        X->row_ptr[b + 1] - e0, 1.0f, true);
            for (int64_t h = 0; h < hn; h++)
                y[h0 + h] = (beta == 0.0f ? 0.0f : y[h0 + h]) + alpha * acc[h];
        }
    }
}

/* XT: CSR (N_in, B) = transpose of the batch; dY: (B, H) ld ldd;
 * dW: (N_in, H) ld ldw, only rows with entries are touched. */
void sten__spmm_grad_rows(sten_ctx *ctx, const sten_csr *XT, const uint32_t *rid, const float *dY,
                          int64_t ldd, int64_t H, float alpha, bool fresh, float *dW, int64_t ldw)
{
    const int64_t n = XT->rows;
    /* a batch's rows of one embedding table (2,048 x 16) go to two threads */
    const int nt = sten__threads_for(ctx, (int64_t)XT->nnz * H, 1 << 13);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 64)
    for (int64_t q = 0; q < n; q++) {
        const uint64_t e0 = XT->row_ptr[q], e1 = XT->row_ptr[q + 1];
        if (e0 == e1)
            continue;
        const int64_t j = rid ? (int64_t)rid[q] : q;
        if (fresh)
            memset(dW + j * ldw, 0, (size_t)H * sizeof *dW);
        gather_rows(dW + j * ldw, dY, ldd, H, XT->col + e0,
                    XT->val ? XT->val + e0 : NULL, e1 - e0, alpha, false);
    }
}

void sten_spmm_grad(sten_ctx *ctx, const sten_csr *XT, const float *dY,
                    int64_t ldd, int64_t H, float alpha, float *dW,
                    int64_t ldw)
{
    sten__spmm_grad_rows(ctx, XT, NULL, dY, ldd, H, alpha, false, dW, ldw);
}
