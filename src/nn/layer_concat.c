/* layer_concat.c — the Concat layer: its sources' outputs side by side,
 * out[b] = [s_1[b] | s_2[b] | ...], in the order of its Sources, with no
 * weights and no activation of its own (dropout and the sparseness penalty
 * still apply, as to any hidden layer). Backward hands each source its
 * slice of the delta. What a model combines by concatenation (DLRM's dense
 * features beside its interactions, towers of several inputs) goes through
 * here; a FullyConnected layer with several Sources sums their products. */
#include "net_int.h"

#include <string.h>

static bool concat_check(const sten_layer_desc *d, char *msg, size_t cap)
{
    if (d->kind != STEN_LAYER_HIDDEN || d->n_sources == 0) {
        snprintf(msg, cap, "a Concat layer is a Hidden layer with at least one Source");
        return false;
    }
    return true;
}

/* The sum of the sources' widths; 0 while one is not known. */
static uint32_t concat_width(const sten_net *net, const nn_layer *L)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < L->d->n_sources; k++) {
        const int s = sten__net_find_layer(net, L->d->sources[k]);
        if (s < 0 || net->layers[s].N == 0)
            return 0;
        n += net->layers[s].N;
    }
    return n > UINT32_MAX ? 0 : (uint32_t)n;
}

static sten_status concat_build(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < L->n_src; k++) {
        const nn_layer *S = &net->layers[L->src[k]];
        if (S->sparse_in)
            return sten_fail(ctx, STEN_E_UNSUPPORTED,
                             "%s:%d:%d: layer \"%s\": a Concat layer takes dense sources; \"%s\" is a "
                             "sparse input (put a FullyConnected layer between them)",
                             net->desc.source, L->d->line, L->d->column, L->d->name, S->d->name);
        n += S->N;
    }
    if (n != L->N)
        return sten_fail(ctx, STEN_E_INVALID,
                         "%s:%d:%d: layer \"%s\": N = %u, but its Sources are %llu wide together (or "
                         "say \"N\": \"auto\")",
                         net->desc.source, L->d->line, L->d->column, L->d->name, L->N,
                         (unsigned long long)n);
    L->fn = STEN_ACT_LINEAR; /* no activation of its own */
    return STEN_OK;
}

static void concat_forward(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, nn_layer *L)
{
    (void)ctx;
    float *z = sten__buf(ws, net, L)->act;
    uint32_t off = 0;
    for (uint32_t k = 0; k < L->n_src; k++) {
        const uint32_t n = net->layers[L->src[k]].N;
        const float *s = ws->buf[L->src[k]].out;
        for (uint32_t b = 0; b < ws->B; b++)
            memcpy(z + (uint64_t)b * L->N + off, s + (uint64_t)b * n, n * sizeof *z);
        off += n;
    }
}

static void concat_backward(sten_ctx *ctx, sten_net *net, sten_workspace *ws, nn_layer *L,
                            const nn_fuse *fz)
{
    (void)ctx, (void)fz;
    const float *d = sten__buf(ws, net, L)->delta;
    uint32_t off = 0;
    for (uint32_t k = 0; k < L->n_src; k++) {
        const nn_layer *S = &net->layers[L->src[k]];
        const uint32_t n = S->N;
        if (S->kind != STEN_LAYER_INPUT) {
            float *sd = ws->buf[L->src[k]].delta;
            for (uint32_t b = 0; b < ws->B; b++)
                for (uint32_t j = 0; j < n; j++)
                    sd[(uint64_t)b * n + j] += d[(uint64_t)b * L->N + off + j];
        }
        off += n;
    }
}

const nn_layer_ops sten__layer_concat = {
    .name = "Concat",
    .type = STEN_LAYER_CONCAT,
    .weightless = true,
    .check = concat_check,
    .width = concat_width,
    .build = concat_build,
    .forward = concat_forward,
    .backward = concat_backward,
};
