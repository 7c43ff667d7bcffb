/* fm.c — the FactorizationMachine layer: y = w0 + sum_i w_i x_i +
 * 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2] over one sparse input,
 * in O(K * nnz) per example (Rendle 2010). w0 is the bias and w the weight of
 * the ordinary connection; V lives here. Loss and activation come from the
 * output layer's settings like any other layer. */
#include "net_int.h"

#include <math.h>
#include <string.h>

sten_status sten__fm_alloc(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    if (L->n_in != 1 || !net->layers[net->weights[L->in[0]].src].sparse_in || L->n_skip)
        return sten_fail(ctx, STEN_E_UNSUPPORTED,
                         "%s:%d:%d: layer \"%s\": a FactorizationMachine takes exactly one Source, a "
                         "sparse input layer", net->desc.source, L->d->line, L->d->column, L->d->name);
    const nn_weight *w = &net->weights[L->in[0]];
    L->K = L->d->factors;
    L->fm_rows = w->rows;
    const uint64_t nv = (uint64_t)w->rows * L->K;
    L->fmV = sten_calloc(ctx, (size_t)nv, sizeof(float));
    L->fmgV = sten_calloc(ctx, (size_t)nv, sizeof(float));
    L->fm_s = sten_calloc(ctx, (size_t)net->B_cap * L->K, sizeof(float));
    return L->fmV && L->fmgV && L->fm_s ? STEN_OK : STEN_E_NOMEM;
}

void sten__fm_free(sten_ctx *ctx, nn_layer *L)
{
    sten_free(ctx, L->fmV);
    sten_free(ctx, L->fmgV);
    sten_free(ctx, L->fmS1);
    sten_free(ctx, L->fmS2);
    sten_free(ctx, L->fm_s);
}

sten_status sten__fm_optim_alloc(sten_ctx *ctx, nn_layer *L, sten_optimizer opt)
{
    if (!L->fmV)
        return STEN_OK;
    const uint64_t nv = (uint64_t)L->fm_rows * L->K;
    sten_free(ctx, L->fmS1);
    sten_free(ctx, L->fmS2);
    L->fmS1 = opt != STEN_OPT_SGD ? sten_calloc(ctx, (size_t)nv, sizeof(float)) : NULL;
    L->fmS2 = opt == STEN_OPT_ADADELTA || opt == STEN_OPT_ADAM ? sten_calloc(ctx, (size_t)nv, sizeof(float))
                                                               : NULL;
    if ((opt != STEN_OPT_SGD && !L->fmS1) || ((opt == STEN_OPT_ADADELTA || opt == STEN_OPT_ADAM) && !L->fmS2))
        return STEN_E_NOMEM;
    return STEN_OK;
}

/* One value of a group's init: SageMaker's normal/uniform/constant when
 * the layer sets one, else fallback. */
static float init_one(const sten_layer_desc *d, int g, sten_rng *r, float fallback)
{
    const float p = d->fm_init_p[g];
    switch (d->fm_init[g]) {
    case 0: return p * sten_rng_normal(r);
    case 1: return p * (2.0f * sten_rng_uniform(r) - 1.0f);
    case 2: return p;
    default: return fallback;
    }
}

/* Defaults: V ~ WeightInit (DSSTNE's default Xavier becomes Gaussian(0,
 * 0.01 * Scale), the usual FM start), w ~ Gaussian(0, 0.01), w0 = Bias. */
void sten__fm_init(const sten_net *net, nn_layer *L, uint64_t seed)
{
    const sten_layer_desc *d = L->d;
    nn_weight *w = &net->weights[L->in[0]];
    sten_rng r;
    sten_rng_init(&r, seed ^ 0x666d, (uint64_t)(L - net->layers));
    const uint64_t nv = (uint64_t)w->rows * L->K;
    const float scale = d->init_scale;
    for (uint64_t i = 0; i < nv; i++) {
        float v;
        switch (d->init) {
        case STEN_INIT_UNIFORM: v = scale * (2.0f * sten_rng_uniform(&r) - 1.0f); break;
        case STEN_INIT_CONSTANT: v = scale; break;
        case STEN_INIT_GAUSSIAN: v = scale * sten_rng_normal(&r); break;
        default: v = 0.01f * scale * sten_rng_normal(&r); break;
        }
        L->fmV[i] = init_one(d, 2, &r, v);
    }
    for (uint32_t i = 0; i < w->rows; i++)
        w->W[i] = init_one(d, 1, &r, 0.01f * sten_rng_normal(&r));
    w->b[0] = init_one(d, 0, &r, d->init_bias);
}

/* z_b = w0 + sum_e x_e w_j + 1/2 sum_f (s_bf^2 - sum_e x_e^2 v_jf^2), s = x V. */
void sten__fm_forward(sten_ctx *ctx, const sten_net *net, nn_layer *L)
{
    const nn_weight *w = &net->weights[L->in[0]];
    const sten_csr *X = &net->layers[w->src].x;
    const uint32_t K = L->K, B = net->B;
    const int nt = sten__threads_for(ctx, (int64_t)X->nnz * K, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (uint32_t b = 0; b < B; b++) {
        float *s = L->fm_s + (uint64_t)b * K;
        memset(s, 0, K * sizeof *s);
        double lin = w->b[0], sq = 0.0;
        for (uint64_t e = X->row_ptr[b]; e < X->row_ptr[b + 1]; e++) {
            const uint32_t j = X->col[e];
            const float x = X->val ? X->val[e] : 1.0f;
            const float *v = L->fmV + (uint64_t)j * K;
            lin += (double)x * w->W[j];
            for (uint32_t f = 0; f < K; f++) {
                s[f] += x * v[f];
                sq += (double)x * x * v[f] * v[f];
            }
        }
        double pair = 0.0;
        for (uint32_t f = 0; f < K; f++)
            pair += (double)s[f] * s[f];
        L->act[b] = (float)(lin + 0.5 * (pair - sq));
    }
    sten_act_forward(ctx, L->fn, &L->ap, L->act, L->act, B, 1, 1);
}

/* delta_b = dL/dz_b: gw0 += sum delta, gw_j += delta x, gV_jf += delta x (s_f - x v_jf),
 * reduced per input row j in batch order (the transposed batch), so the
 * result does not depend on the thread count. */
void sten__fm_backward(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    nn_weight *w = &net->weights[L->in[0]];
    const sten_csr *XT = &net->layers[w->src].xt;
    const uint32_t K = L->K;
    double gb = 0.0;
    for (uint32_t b = 0; b < net->B; b++)
        gb += L->delta[b];
    w->gb[0] += (float)gb;
    memset(w->gW, 0, (size_t)w->rows * sizeof *w->gW);
    memset(L->fmgV, 0, (size_t)w->rows * K * sizeof *L->fmgV);
    w->g_fresh = false;
    const int nt = sten__threads_for(ctx, (int64_t)XT->nnz * K, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 64)
    for (uint32_t j = 0; j < XT->rows; j++) {
        const float *v = L->fmV + (uint64_t)j * K;
        float *gv = L->fmgV + (uint64_t)j * K;
        for (uint64_t e = XT->row_ptr[j]; e < XT->row_ptr[j + 1]; e++) {
            const uint32_t b = XT->col[e];
            const float x = XT->val ? XT->val[e] : 1.0f, d = L->delta[b];
            const float *s = L->fm_s + (uint64_t)b * K;
            w->gW[j] += d * x;
            for (uint32_t f = 0; f < K; f++)
                gv[f] += d * x * (s[f] - x * v[f]);
        }
    }
}
