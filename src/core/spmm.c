/* spmm.c — the sparse input layer's two products: the forward gather-sum of
 * weight rows (never densifying the batch) and the weight gradient that
 * touches only the rows present. Each output row is owned by one thread and
 * summed in a fixed order, so results do not depend on the thread count. */
#include "core_int.h"

#include <string.h>

/* X: CSR (B, N_in); W: (N_in, H) ld ldw; Y: (B, H) ld ldy. */
void sten_spmm(sten_ctx *ctx, const sten_csr *X, const float *W, int64_t ldw,
               int64_t H, float beta, float *Y, int64_t ldy)
{
    const int64_t B = X->rows;
    const int nt = sten__threads_for(ctx, (int64_t)X->nnz * H + B * H, 1 << 15);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
    for (int64_t b = 0; b < B; b++) {
        float *restrict y = Y + b * ldy;
        if (beta == 0.0f)
            memset(y, 0, (size_t)H * sizeof *y);
        const uint64_t e0 = X->row_ptr[b], e1 = X->row_ptr[b + 1];
        if (X->val) {
            for (uint64_t e = e0; e < e1; e++) {
                const float *restrict w = W + (int64_t)X->col[e] * ldw;
                const float v = X->val[e];
                for (int64_t h = 0; h < H; h++)
                    y[h] += v * w[h];
            }
        } else {
            for (uint64_t e = e0; e < e1; e++) {
                const float *restrict w = W + (int64_t)X->col[e] * ldw;
                for (int64_t h = 0; h < H; h++)
                    y[h] += w[h];
            }
        }
    }
}

/* XT: CSR (N_in, B) = transpose of the batch; dY: (B, H) ld ldd;
 * dW: (N_in, H) ld ldw, only rows with entries are touched. */
void sten_spmm_grad(sten_ctx *ctx, const sten_csr *XT, const float *dY,
                    int64_t ldd, int64_t H, float alpha, float *dW,
                    int64_t ldw)
{
    const int64_t N_in = XT->rows;
    const int nt = sten__threads_for(ctx, (int64_t)XT->nnz * H, 1 << 15);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 64)
    for (int64_t j = 0; j < N_in; j++) {
        const uint64_t e0 = XT->row_ptr[j], e1 = XT->row_ptr[j + 1];
        if (e0 == e1)
            continue;
        float *restrict w = dW + j * ldw;
        for (uint64_t e = e0; e < e1; e++) {
            const float *restrict d = dY + (int64_t)XT->col[e] * ldd;
            const float a = XT->val ? alpha * XT->val[e] : alpha;
            for (int64_t h = 0; h < H; h++)
                w[h] += a * d[h];
        }
    }
}
