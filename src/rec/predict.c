/* predict.c — inference for recommendation: run a trained network on a
 * batch of examples and select each example's top-K items, skipping the
 * ones it already has. Reading users and writing recommendation lines is the
 * command's job (tools/cmd_predict.c). */
#include "nn/net_int.h"

#include <math.h>
#include <string.h>

static const nn_layer *pick_layer(sten_ctx *ctx, const sten_net *net, const char *name,
                                  sten_status *st)
{
    if (name) {
        const int i = sten__net_find_layer(net, name);
        if (i < 0 || net->layers[i].sparse_in) {
            *st = sten_fail(ctx, STEN_E_NOTFOUND, "%s: no %slayer \"%s\"", net->desc.source,
                            i < 0 ? "" : "dense ", name);
            return NULL;
        }
        return &net->layers[i];
    }
    const nn_layer *out = NULL;
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].kind == STEN_LAYER_OUTPUT) {
            if (out) {
                *st = sten_fail(ctx, STEN_E_INVALID,
                                "%s: the network has several output layers; name one", net->desc.source);
                return NULL;
            }
            out = &net->layers[i];
        }
    if (!out)
        *st = sten_fail(ctx, STEN_E_INVALID, "%s: the network has no output layer", net->desc.source);
    return out;
}

sten_status sten_net_infer(sten_ctx *ctx, sten_net *net, const uint32_t *ids, uint32_t B,
                           const char *layer, const float **out, uint32_t *width)
{
    sten_status st = STEN_OK;
    const nn_layer *L = pick_layer(ctx, net, layer, &st);
    if (!L)
        return st;
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *in = &net->layers[i];
        if (in->kind == STEN_LAYER_INPUT && in->ds < 0)
            return sten_fail(ctx, STEN_E_NOTFOUND, "input layer \"%s\": DataSet \"%s\" was not given",
                             in->d->name, in->d->dataset);
    }
    const bool was = net->training;
    net->training = false;
    st = sten__net_load_batch(ctx, net, ids, B);
    if (!st) {
        sten__net_forward(ctx, net);
        st = net->fwd_st;
    }
    net->training = was;
    *out = L->out;
    *width = L->N;
    return st;
}

/* The output layer, when its product can go straight into top-K (one
 * dense source, an order-keeping activation): NULL otherwise. */
static const nn_layer *fused_output(const sten_net *net)
{
    const nn_layer *out = NULL;
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].kind == STEN_LAYER_OUTPUT) {
            if (out)
                return NULL;
            out = &net->layers[i];
        }
    return out && sten__single_dense_in(net, out) && sten__act_increasing(out) ? out : NULL;
}

/* Screening's data for the output weight (once per weight version): W's
 * bf16 copy, W item-major for rescoring, each item's column norm rounded
 * up, the largest |W|. False when screening cannot be exact here: no
 * AVX-512 BF16, sten's own fp32 kernel not in use (its summation order is
 * what rescoring replays), more than one K block (hidden > 256), or a
 * non-finite weight or bias. */
static bool screen_prepare(sten_ctx *ctx, sten_net *net, const nn_layer *L, sten_status *st)
{
    nn_weight *w = &net->weights[L->in[0]];
    const nn_layer *S = &net->layers[w->src];
    if (net->bf16 || !sten__bf16_available() || !sten__topk_screen_available() ||
        !sten__gemm_own() || S->N > 256 ||
        w->owner != (int)L->in[0])
        return false;
    const uint32_t K = S->N, N = L->N;
    if (w->scr_ok && w->Wb)
        return true;
    for (uint32_t j = 0; j < N; j++)
        if (!isfinite(w->b[j]))
            return false;
    if (!w->Wb && !(w->Wb = sten_alloc(ctx, (size_t)K * N * sizeof *w->Wb)))
        return (*st = STEN_E_NOMEM), false;
    if (!w->Wt && !(w->Wt = sten_alloc(ctx, (size_t)K * N * sizeof *w->Wt)))
        return (*st = STEN_E_NOMEM), false;
    if (!w->wn && !(w->wn = sten_alloc(ctx, (size_t)N * sizeof *w->wn)))
        return (*st = STEN_E_NOMEM), false;
    /* in blocks of 64 items: W's rows read along, Wt's 64 rows in L1 */
    double wmax = 0.0;
    int bad = 0;
    const int nt = sten__threads_for(ctx, (int64_t)K * N, 1 << 16);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(max : wmax) reduction(| : bad)
    for (uint32_t j0 = 0; j0 < N; j0 += 64) {
        const uint32_t n = STEN__MIN(64u, N - j0);
        double ss[64] = {0};
        for (uint32_t k = 0; k < K; k++) {
            const float *row = w->W + (uint64_t)k * N + j0;
            for (uint32_t c = 0; c < n; c++) {
                w->Wt[(uint64_t)(j0 + c) * K + k] = row[c];
                ss[c] += (double)row[c] * row[c];
                const double a = fabs((double)row[c]);
                wmax = a > wmax ? a : wmax;
            }
        }
        for (uint32_t c = 0; c < n; c++) {
            w->wn[j0 + c] = (float)(sqrt(ss[c]) * (1 + 1e-6));
            bad |= !isfinite(ss[c]) || !isfinite(w->wn[j0 + c]);
        }
    }
    if (bad)
        return false;
    w->wmax = (float)wmax;
    w->wb_ok = false; /* the forward pass rounds W into Wb */
    w->scr_ok = true;
    return true;
}

typedef struct {
    const float *H, *Wt, *bias;
    uint32_t K, ldh;
} rescore_arg;

/* Items j[0..n)'s fp32 scores for row b, each summed exactly as sten's
 * fp32 kernel does (one FMA per k in order from 0, then the bias): the same
 * bits. Eight items at a time, so that their FMA chains overlap. Called only
 * where AVX-512 BF16, and so FMA, exists. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("fma")))
#endif
static void rescore(void *arg, int64_t b, const uint32_t *j, int64_t n, float *out)
{
    enum { G = 8 };
    const rescore_arg *r = arg;
    const float *h = r->H + b * r->ldh;
    for (int64_t q0 = 0; q0 < n; q0 += G) {
        const int64_t m = STEN__MIN(G, n - q0);
        const float *w[G];
        float acc[G];
        for (int64_t g = 0; g < G; g++) {
            w[g] = r->Wt + (uint64_t)j[q0 + (g < m ? g : 0)] * r->K;
            acc[g] = 0.0f;
        }
        for (uint32_t k = 0; k < r->K; k++)
            for (int g = 0; g < G; g++)
                acc[g] = fmaf(h[k], w[g][k], acc[g]);
        for (int64_t g = 0; g < m; g++)
            out[q0 + g] = acc[g] + r->bias[j[q0 + g]];
    }
}

/* Items j[0..n)'s rows of Wt asked into the cache. */
static void touch(void *arg, const uint32_t *j, int64_t n)
{
    const rescore_arg *r = arg;
    for (int64_t q = 0; q < n; q++) {
        const char *row = (const char *)(r->Wt + (uint64_t)j[q] * r->K);
        for (uint32_t o = 0; o < r->K * sizeof(float); o += 64)
            __builtin_prefetch(row + o);
    }
}

sten_status sten_net_recommend(sten_ctx *ctx, sten_net *net, const uint32_t *ids, uint32_t B,
                               uint32_t n_items, uint32_t K, const sten_csr *exclude,
                               uint32_t *idx, float *val, uint32_t *count)
{
    const float *scores;
    uint32_t N;
    sten_status st = STEN_OK;
    const nn_layer *L = fused_output(net);
    if (L) {
        /* the output product is consumed chunk by chunk by top-K, in cache,
         * and never stored; the activation is applied to the K winners. In
         * fp32 on a CPU with AVX-512 BF16 the product is taken in bf16 and
         * the few items that can still be in the top K are rescored in
         * fp32: the same lists, bit for bit, at bf16 speed */
        if (n_items > L->N)
            return sten_fail(ctx, STEN_E_INVALID, "%u items asked for, the output layer has %u units",
                             n_items, L->N);
        const bool screen = screen_prepare(ctx, net, L, &st);
        if (st)
            return st;
        nn_weight *w = &net->weights[L->in[0]];
        /* bf16 products (screening or bf16 precision): W's strips packed once */
        if ((screen || net->bf16) && w->owner == (int)L->in[0] && w->Wb && !w->Wbp) {
            const size_t words = sten__bgemm_packed_words(w->rows, w->cols);
            if (!(w->Wbp = sten_alloc(ctx, words * sizeof *w->Wbp)))
                return STEN_E_NOMEM;
            w->wbp_ok = false;
        }
        if ((st = screen ? sten__topk_begin_screen(ctx, B, n_items, K, exclude, w->wn, 0x1p-22f,
                                                     &net->topk_keep)
                         : sten__topk_begin(ctx, B, n_items, K, exclude, &net->topk_keep)))
            return st;
        net->topk = net->topk_keep;
        net->rank_only = true;
        net->screen = screen;
        st = sten_net_infer(ctx, net, ids, B, NULL, &scores, &N);
        net->rank_only = false;
        net->screen = false;
        if (!st && screen) {
            const nn_layer *S = &net->layers[w->src];
            rescore_arg ra = {S->out, w->Wt, w->b, S->N, S->N};
            const sten_rescorer r = {rescore, touch, &ra};
            sten__topk_end_screen(ctx, net->topk, &r, idx, val, count);
        } else if (!st) {
            sten__topk_end(ctx, net->topk, idx, val, count);
        }
        net->topk = NULL;
    } else {
        /* rank pre-activations when the output activation keeps their order,
         * and apply it to the K winners only */
        net->rank_only = true;
        st = sten_net_infer(ctx, net, ids, B, NULL, &scores, &N);
        net->rank_only = false;
        if (st)
            return st;
        if (n_items > N)
            return sten_fail(ctx, STEN_E_INVALID, "%u items asked for, the output layer has %u units",
                             n_items, N);
        st = sten_topk(ctx, scores, N, B, n_items, K, exclude, idx, val, count);
        for (uint32_t i = 0; i < net->n_layers; i++)
            if (net->layers[i].kind == STEN_LAYER_OUTPUT)
                L = &net->layers[i];
    }
    if (!st && val && L && L->act_deferred)
        for (uint64_t r = 0; r < (uint64_t)B * K; r++)
            if (idx[r] != UINT32_MAX)
                sten__act_forward_one(L->fn, &L->ap, &val[r]);
    return st;
}
