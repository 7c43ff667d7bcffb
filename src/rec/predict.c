/* predict.c — inference for recommendation: run a trained network on a
 * batch of examples and select each example's top-K items, skipping the
 * ones it already has. Reading users and writing recommendation lines is the
 * command's job (tools/cmd_predict.c). */
#include "nn/net_int.h"

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
         * and never stored; the activation is applied to the K winners */
        if (n_items > L->N)
            return sten_fail(ctx, STEN_E_INVALID, "%u items asked for, the output layer has %u units",
                             n_items, L->N);
        if ((st = sten__topk_begin(ctx, B, n_items, K, exclude, &net->topk)))
            return st;
        net->rank_only = true;
        st = sten_net_infer(ctx, net, ids, B, NULL, &scores, &N);
        net->rank_only = false;
        if (st)
            sten__topk_free(ctx, net->topk);
        else
            sten__topk_end(ctx, net->topk, idx, val, count);
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
