/* layer_embedding.c — the Embedding layer: one table E (rows = the width of
 * its one sparse source: a categorical feature's vocabulary or hash
 * buckets; N columns = the embedding dimension), each example's output the
 * sum (Pooling 0) or mean (Pooling 1) of the rows its source lists, times
 * their values where the data has them. No bias, no activation. The table
 * is a parameter updated only in the rows the batch touched (lazy sparse
 * updates: an absent row keeps its value, optimizer state and decay), as
 * DLRM's sparse embeddings; with AdaGrad, one accumulator per row: DLRM's
 * row-wise AdaGrad). The gradient is reduced per row in batch order
 * (the transposed batch), so results do not depend on the thread count. */
#include "net_int.h"

#include <math.h>
#include <string.h>

enum { EMB_POOLING = 0, EMB_SETTINGS = 1 };
static const nn_setting emb_settings[] = {
    {"Pooling", "sten_pooling", EMB_POOLING, true, 0, 1, 0.0f}, /* 0 sum, 1 mean */
};

typedef struct {
    uint32_t rows;
    float *E;     /* rows x N */
    uint32_t pi;  /* its entry in the parameter list */
    bool mean;
} emb_state;

static bool emb_check(const sten_layer_desc *d, char *msg, size_t cap)
{
    if (d->kind != STEN_LAYER_HIDDEN || d->n_sources > 1 || d->N_auto) {
        snprintf(msg, cap, "an Embedding layer is a Hidden layer with one Source (a sparse input) and "
                 "N = its dimension");
        return false;
    }
    return true;
}

static sten_status emb_build(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    if (L->n_src != 1 || !net->layers[L->src[0]].sparse_in)
        return sten_fail(ctx, STEN_E_UNSUPPORTED,
                         "%s:%d:%d: layer \"%s\": an Embedding takes exactly one Source, a sparse input "
                         "layer (a categorical feature)", net->desc.source, L->d->line, L->d->column,
                         L->d->name);
    emb_state *e = sten_calloc(ctx, 1, sizeof *e);
    if (!e)
        return STEN_E_NOMEM;
    L->priv = e;
    L->fn = STEN_ACT_LINEAR; /* no activation of its own */
    e->rows = net->layers[L->src[0]].N;
    e->mean = sten__setting_or(L->d, EMB_POOLING, 0.0f) == 1.0f;
    /* split by tables: another member's table is not held here (n 0) */
    const bool mine = L->owner < 0 || L->owner == net->comm->rank;
    L->group_sum = L->owner >= 0;
    if (mine && !(e->E = sten_calloc(ctx, (size_t)e->rows * L->N, sizeof *e->E)))
        return STEN_E_NOMEM;
    nn_param p = {.w = e->E, .n = mine ? (uint64_t)e->rows * L->N : 0, .update = NN_UPDATE_ROWS, .row_len = L->N,
                  .row_wise = true, .g_compact = true,
                  .rows_of = L->src[0], .lr = NAN, .l2 = NAN, .l1 = NAN, .reg = true, .conn = -1,
                  .layer = (uint32_t)(L - net->layers), .var = "sten_embedding",
                  .state = "sten_embedding_", .required = true};
    snprintf(p.name, sizeof p.name, "%s table", L->d->name);
    e->pi = net->n_params;
    return sten__net_add_param(ctx, net, &p, NULL);
}

static void emb_free(sten_ctx *ctx, nn_layer *L)
{
    emb_state *e = L->priv;
    if (!e)
        return;
    sten_free(ctx, e->E);
    sten_free(ctx, e);
    L->priv = NULL;
}

/* DLRM's start, U(-sqrt(1/rows), sqrt(1/rows)) (times Scale), for the
 * default WeightInit; Gaussian, Uniform and Constant as the config says. */
static void emb_init(const sten_net *net, nn_layer *L, uint64_t seed)
{
    emb_state *e = L->priv;
    if (!e->E) /* another member's table */
        return;
    sten_rng r;
    sten_rng_init(&r, seed ^ 0x656d626564ull, (uint64_t)(L - net->layers)); /* "embed" */
    const float s = L->d->init_scale, a = s * sqrtf(1.0f / (float)e->rows);
    const uint64_t n = (uint64_t)e->rows * L->N;
    for (uint64_t i = 0; i < n; i++) {
        switch (L->d->init) {
        case STEN_INIT_GAUSSIAN: e->E[i] = s * sten_rng_normal(&r); break;
        case STEN_INIT_UNIFORM: e->E[i] = s * (2.0f * sten_rng_uniform(&r) - 1.0f); break;
        case STEN_INIT_CONSTANT: e->E[i] = s; break;
        default: e->E[i] = a * (2.0f * sten_rng_uniform(&r) - 1.0f); break;
        }
    }
}

/* 1 / (entries of row b), for mean pooling (1 for an empty row). */
static float inv_count(const sten_csr *X, uint32_t b)
{
    const uint64_t c = X->row_ptr[b + 1] - X->row_ptr[b];
    return c ? 1.0f / (float)c : 1.0f;
}

// X: CSR (B rows, rows cols), E: (rows, N), out: (B, N)
static void emb_forward(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, nn_layer *L)
{
    const emb_state *e = L->priv;
    nn_buf *A = sten__buf(ws, net, L);
    const sten_csr *X = &ws->buf[L->src[0]].x;
    if (!e->E) { /* split by tables: the owner's output arrives in the group sum */
        memset(A->act, 0, (size_t)ws->B * L->N * sizeof *A->act);
    } else {
        sten_spmm(ctx, X, e->E, L->N, L->N, 0.0f, A->act, L->N);
        if (e->mean)
            for (uint32_t b = 0; b < ws->B; b++) {
                const float q = inv_count(X, b);
                for (uint32_t j = 0; j < L->N; j++)
                    A->act[(uint64_t)b * L->N + j] *= q;
            }
    }
    if (L->group_sum) {
        const sten_status st = sten__group_sum(net, A->act, (uint64_t)ws->B * L->N);
        if (st && !ws->fwd_st)
            ws->fwd_st = st;
    }
}

/* gE[j] = sum over the batch's entries (b, j) of x_bj delta_b (/ count_b
 * for mean), only in the rows present (the ROWS update reads no others). */
static void emb_backward(sten_ctx *ctx, sten_net *net, sten_workspace *ws, nn_layer *L, const nn_fuse *fz)
{
    (void)fz; /* lazy row updates, never fused */
    emb_state *e = L->priv;
    if (!e->E) /* another member's table: its owner has the same delta */
        return;
    nn_buf *A = sten__buf(ws, net, L);
    const nn_buf *S = &ws->buf[L->src[0]];
    const uint32_t *grows; /* non-NULL: the gradient is kept per compact row */
    float *g = sten__param_grad(net, ws, e->pi, &grows);
    const uint32_t N = L->N;
    if (e->mean) /* the delta is spent after this: scale it in place */
        for (uint32_t b = 0; b < ws->B; b++) {
            const float q = inv_count(&S->x, b);
            for (uint32_t j = 0; j < N; j++)
                A->delta[(uint64_t)b * N + j] *= q;
        }
    /* each row present overwritten: the rows of other batches are not read */
    sten__spmm_grad_rows(ctx, &S->xt, grows ? NULL : S->rid, A->delta, N, N, 1.0f, true, g, N);
}

const nn_layer_ops sten__layer_embedding = {
    .name = "Embedding",
    .type = STEN_LAYER_EMBEDDING,
    .settings = emb_settings,
    .n_settings = sizeof emb_settings / sizeof emb_settings[0],
    .weightless = true,
    .check = emb_check,
    .build = emb_build,
    .free = emb_free,
    .init = emb_init,
    .forward = emb_forward,
    .backward = emb_backward,
};
