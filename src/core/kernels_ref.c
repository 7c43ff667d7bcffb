/* kernels_ref.c — reference kernels (see kernels_ref.h). Slow on purpose:
 * no blocking, no threads, double accumulation. Never used on a hot path. */
#include "kernels_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sten__gemm_ref(sten_trans ta, sten_trans tb, int64_t M, int64_t N,
                    int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C,
                    int64_t ldc)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) {
                const float a = ta ? A[k * lda + i] : A[i * lda + k];
                const float b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += (double)a * b;
            }
            const double c = beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)(alpha * s + c);
        }
}

void sten__spmm_ref(const sten_csr *X, const float *W, int64_t ldw, int64_t H,
                    float beta, float *Y, int64_t ldy)
{
    for (uint32_t b = 0; b < X->rows; b++)
        for (int64_t h = 0; h < H; h++) {
            double s = beta == 0.0f ? 0.0 : Y[b * ldy + h];
            for (uint64_t e = X->row_ptr[b]; e < X->row_ptr[b + 1]; e++)
                s += (X->val ? X->val[e] : 1.0) * W[(int64_t)X->col[e] * ldw + h];
            Y[b * ldy + h] = (float)s;
        }
}

void sten__spmm_grad_ref(const sten_csr *X, const float *dY, int64_t ldd,
                         int64_t H, float alpha, float *dW, int64_t ldw)
{
    for (uint32_t j = 0; j < X->cols; j++)
        for (int64_t h = 0; h < H; h++) {
            double s = 0.0;
            int seen = 0;
            for (uint32_t b = 0; b < X->rows; b++)
                for (uint64_t e = X->row_ptr[b]; e < X->row_ptr[b + 1]; e++)
                    if (X->col[e] == j) {
                        s += (X->val ? X->val[e] : 1.0) * dY[b * ldd + h];
                        seen = 1;
                    }
            if (seen)
                dW[(int64_t)j * ldw + h] = (float)(dW[(int64_t)j * ldw + h] + alpha * s);
        }
}

static double act1(sten_act a, const sten_act_params *p, double x)
{
    switch (a) {
    case STEN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case STEN_ACT_TANH: return tanh(x);
    case STEN_ACT_RELU: return x > 0 ? x : 0;
    case STEN_ACT_LINEAR: return x;
    case STEN_ACT_SOFTPLUS: return log(1.0 + exp(x));
    case STEN_ACT_SOFTSIGN: return x / (1.0 + fabs(x));
    case STEN_ACT_RELUMAX: return x < 0 ? 0 : x > p->max ? p->max : x;
    case STEN_ACT_LINEARMAX: return x < -p->max ? -p->max : x > p->max ? p->max : x;
    case STEN_ACT_ELU: return x > 0 ? x : p->alpha * (exp(x) - 1.0);
    case STEN_ACT_LEAKYRELU: return x > 0 ? x : p->slope * x;
    case STEN_ACT_SELU: return p->lambda * (x > 0 ? x : p->alpha * (exp(x) - 1.0));
    case STEN_ACT_SOFTMAX: break;
    }
    return NAN;
}

static double dact1(sten_act a, const sten_act_params *p, double x)
{
    switch (a) {
    case STEN_ACT_SIGMOID: { double s = 1.0 / (1.0 + exp(-x)); return s * (1 - s); }
    case STEN_ACT_TANH: { double t = tanh(x); return 1 - t * t; }
    case STEN_ACT_RELU: return x > 0 ? 1 : 0;
    case STEN_ACT_LINEAR: return 1;
    case STEN_ACT_SOFTPLUS: return 1.0 / (1.0 + exp(-x));
    case STEN_ACT_SOFTSIGN: return 1.0 / ((1 + fabs(x)) * (1 + fabs(x)));
    case STEN_ACT_RELUMAX: return x > 0 && x < p->max ? 1 : 0;
    case STEN_ACT_LINEARMAX: return x > -p->max && x < p->max ? 1 : 0;
    case STEN_ACT_ELU: return x > 0 ? 1 : p->alpha * exp(x);
    case STEN_ACT_LEAKYRELU: return x > 0 ? 1 : p->slope;
    case STEN_ACT_SELU: return x > 0 ? p->lambda : p->lambda * p->alpha * exp(x);
    case STEN_ACT_SOFTMAX: break;
    }
    return NAN;
}

void sten__act_forward_ref(sten_act a, const sten_act_params *p,
                           const float *X, float *Y, int64_t B, int64_t N,
                           int64_t ld)
{
    for (int64_t b = 0; b < B; b++) {
        const float *x = X + b * ld;
        float *y = Y + b * ld;
        if (a == STEN_ACT_SOFTMAX) {
            double mx = -INFINITY, sum = 0;
            for (int64_t i = 0; i < N; i++)
                mx = x[i] > mx ? x[i] : mx;
            for (int64_t i = 0; i < N; i++)
                sum += exp(x[i] - mx);
            for (int64_t i = 0; i < N; i++)
                y[i] = (float)(exp(x[i] - mx) / sum);
        } else {
            for (int64_t i = 0; i < N; i++)
                y[i] = (float)act1(a, p, x[i]);
        }
    }
}

void sten__act_backward_ref(sten_act a, const sten_act_params *p,
                            const float *X, const float *dY, float *dX,
                            int64_t B, int64_t N, int64_t ld)
{
    for (int64_t b = 0; b < B; b++) {
        const float *x = X + b * ld, *dy = dY + b * ld;
        float *dx = dX + b * ld;
        if (a == STEN_ACT_SOFTMAX) {
            /* full Jacobian: J_ij = y_i (delta_ij - y_j) */
            double *y = malloc((size_t)N * sizeof *y);
            double mx = -INFINITY, sum = 0;
            for (int64_t i = 0; i < N; i++)
                mx = x[i] > mx ? x[i] : mx;
            for (int64_t i = 0; i < N; i++)
                sum += exp(x[i] - mx);
            for (int64_t i = 0; i < N; i++)
                y[i] = exp(x[i] - mx) / sum;
            for (int64_t i = 0; i < N; i++) {
                double s = 0;
                for (int64_t j = 0; j < N; j++)
                    s += dy[j] * y[j] * ((i == j) - y[i]);
                dx[i] = (float)s;
            }
            free(y);
        } else {
            for (int64_t i = 0; i < N; i++)
                dx[i] = (float)(dy[i] * dact1(a, p, x[i]));
        }
    }
}

typedef struct {
    float v;
    uint32_t i;
} pair;

static int cmp_pair(const void *pa, const void *pb)
{
    const pair *a = pa, *b = pb;
    const int an = isnan(a->v), bn = isnan(b->v);
    if (an != bn)
        return an - bn; /* NaN after numbers */
    if (!an && a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

sten_status sten__topk_ref(const float *S, int64_t lds, int64_t B, int64_t N,
                           int64_t K, const sten_csr *exclude,
                           uint32_t *out_idx, float *out_val, uint32_t *count)
{
    pair *all = malloc((size_t)(N ? N : 1) * sizeof *all);
    if (!all)
        return STEN_E_NOMEM;
    for (int64_t b = 0; b < B; b++) {
        int64_t n = 0;
        for (int64_t j = 0; j < N; j++) {
            int skip = 0;
            if (exclude)
                for (uint64_t e = exclude->row_ptr[b]; e < exclude->row_ptr[b + 1]; e++)
                    skip |= exclude->col[e] == (uint32_t)j;
            if (!skip)
                all[n++] = (pair){S[b * lds + j], (uint32_t)j};
        }
        qsort(all, (size_t)n, sizeof *all, cmp_pair);
        for (int64_t r = 0; r < K; r++) {
            out_idx[b * K + r] = r < n ? all[r].i : UINT32_MAX;
            if (out_val)
                out_val[b * K + r] = r < n ? all[r].v : -INFINITY;
        }
        if (count)
            count[b] = (uint32_t)(n < K ? n : K);
    }
    free(all);
    return STEN_OK;
}
