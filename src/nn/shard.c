/* shard.c — model parallelism, DSSTNE's scheme (docs/scale-out.md): the
 * catalogue-wide layers (sparse Input, Output) split by item range across
 * the members of a group, the narrow layers between them whole on every
 * member. Only B x hidden activations and deltas cross the split: the
 * layer fed by split inputs sums its partial pre-activation over the group
 * (fc_forward), the layer feeding split outputs sums its delta (backward).
 * Here: building a member's shard, its share of the initial values, and
 * saving the whole model from the shards. */
#include "net_int.h"

#include <string.h>

/* Floats of another member's block rank 0 takes at once while it saves */
#define SHARD_PIECE (1u << 20)

sten_status sten__group_sum(const sten_net *net, float *buf, uint64_t n)
{
    return net->comm->allreduce(net->comm->user, buf, (size_t)n, STEN_COMM_F32, STEN_COMM_SUM);
}

sten_status sten__group_verdict(sten_ctx *ctx, const sten_comm *c, sten_status st, const char *other)
{
    double failed = st ? 1.0 : 0.0;
    const sten_status cs = c->allreduce(c->user, &failed, 1, STEN_COMM_F64, STEN_COMM_SUM);
    if (st || cs)
        return st ? st : cs;
    return failed > 0.0 ? sten_fail(ctx, STEN_E_IO, "%s", other) : STEN_OK;
}

/* The dataset a layer binds (NULL: none). */
static const sten_dataset *bound(const sten_dataset *ds, size_t n_ds, const sten_layer_desc *l)
{
    for (size_t i = 0; l->dataset[0] && i < n_ds; i++)
        if (ds[i].name && !strcmp(ds[i].name, l->dataset))
            return &ds[i];
    return NULL;
}

/* Whether layer l (bound to d, or NULL) is split: an Input over a sparse
 * dataset, or an Output over one (N "auto", or a loaded model's N, the
 * width) or, when inferring, over none (its width the model's). Its full
 * width into *W. */
static bool split_layer(const sten_layer_desc *l, const sten_dataset *d, uint32_t *W)
{
    const bool sparse = d && (d->attributes & STEN_DS_SPARSE);
    const bool wide = sparse && (l->N_auto || l->N == d->width); /* a loaded model's N is the width */
    if (l->kind == STEN_LAYER_INPUT && sparse)
        return *W = d->width, true;
    if (l->kind == STEN_LAYER_OUTPUT && (sparse ? wide : d == NULL))
        return *W = d ? d->width : l->N, true;
    return false;
}

static void shard_range(uint32_t W, const sten_comm *c, uint32_t *c0, uint32_t *c1)
{
    *c0 = (uint32_t)((uint64_t)W * (uint64_t)c->rank / (uint64_t)c->size);
    *c1 = (uint32_t)((uint64_t)W * (uint64_t)(c->rank + 1) / (uint64_t)c->size);
}

/* d's columns [c0, c1) as a dataset of width c1 - c0 (its CSR new, the
 * rest borrowed from d). */
static sten_status slice_columns(sten_ctx *ctx, const sten_dataset *d, uint32_t c0, uint32_t c1, sten_dataset *out)
{
    *out = *d;
    memset(&out->sparse, 0, sizeof out->sparse);
    const sten_csr *s = &d->sparse;
    uint64_t nnz = 0;
    for (uint64_t e = 0; e < s->nnz; e++)
        nnz += s->col[e] >= c0 && s->col[e] < c1;
    sten_status st = sten_csr_init(ctx, &out->sparse, s->rows, c1 - c0, nnz ? nnz : 1, s->val != NULL);
    if (st)
        return st;
    uint64_t k = 0;
    for (uint32_t r = 0; r < s->rows; r++) {
        for (uint64_t e = s->row_ptr[r]; e < s->row_ptr[r + 1]; e++)
            if (s->col[e] >= c0 && s->col[e] < c1) {
                out->sparse.col[k] = s->col[e] - c0;
                if (s->val)
                    out->sparse.val[k] = s->val[e];
                k++;
            }
        out->sparse.row_ptr[r + 1] = k;
    }
    out->sparse.rows = s->rows;
    out->sparse.nnz = k;
    out->width = c1 - c0;
    out->height = out->length = 1;
    out->dims = 1;
    return STEN_OK;
}

/* The topology the scheme needs, checked on the built shard. */
static sten_status check_split(sten_ctx *ctx, sten_net *net)
{
    for (uint32_t i = 0; i < net->n_layers; i++) /* the outputs first: the scheme's premise */
        if (net->layers[i].kind == STEN_LAYER_OUTPUT && !net->layers[i].sharded)
            return sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: output layer \"%s\": model parallelism splits the "
                             "catalogue-wide layers, and an Output layer must be one (N \"auto\" over a sparse "
                             "dataset); train this network with --parallel data", net->desc.source,
                             net->layers[i].d->name);
    for (uint32_t i = 0; i < net->n_layers; i++) {
        nn_layer *L = &net->layers[i];
        if (L->sharded && L->kind == STEN_LAYER_OUTPUT && L->fn == STEN_ACT_SOFTMAX)
            return sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: output layer \"%s\": SoftMax normalises over every "
                             "item, which a split output cannot do alone; model parallelism needs an "
                             "element-wise output (Sigmoid, Linear, ...)", net->desc.source, L->d->name);
        uint32_t split_src = 0;
        for (uint32_t k = 0; k < L->n_src; k++)
            split_src += net->layers[L->src[k]].sharded;
        if (L->sharded && L->kind == STEN_LAYER_OUTPUT && split_src)
            return sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: layer \"%s\": an output fed straight by a split input "
                             "is not supported by model parallelism", net->desc.source, L->d->name);
        if (split_src && (split_src != L->n_src || L->n_skip || L->ops != &sten__layer_fully_connected))
            return sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: layer \"%s\": a layer fed by split layers must be "
                             "FullyConnected, fed by split layers only and have no skips (model parallelism)",
                             net->desc.source, L->d->name);
        L->group_sum = split_src > 0;
    }
    for (uint32_t i = 0; i < net->n_layers; i++) { /* who feeds split layers */
        nn_layer *L = &net->layers[i];
        uint32_t to_split = 0, to_whole = 0;
        for (uint32_t j = 0; j < net->n_layers; j++)
            *(net->layers[j].sharded ? &to_split : &to_whole) += sten__reads(&net->layers[j], i, NULL);
        if (!L->sharded && to_split && to_whole)
            return sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: layer \"%s\" feeds split and whole layers at once, "
                             "which model parallelism does not support", net->desc.source, L->d->name);
        L->group_delta = !L->sharded && to_split > 0;
    }
    for (uint32_t i = 0; i < net->n_params; i++)
        if (net->params[i].update == NN_UPDATE_ROWS)
            return sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: parameter \"%s\" is a sparse-row table; model "
                             "parallelism splits item-wide FullyConnected layers only (use --parallel data)",
                             net->desc.source, net->params[i].name);
    for (uint32_t k = 0; k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        const nn_layer *S = &net->layers[w->src], *D = &net->layers[w->dst];
        if (w->transposed || w->owner != (int)k)
            return sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: layer \"%s\": shared weights are not supported by "
                             "model parallelism yet", net->desc.source, D->d->name);
        w->full_rows = S->sharded ? S->N_full : w->rows;
        w->row0 = S->sharded ? S->off : 0;
        w->full_cols = D->sharded ? D->N_full : w->cols;
        w->col0 = D->sharded ? D->off : 0;
    }
    return STEN_OK;
}

void sten__shard_datasets_free(sten_ctx *ctx, sten_dataset *sds, bool *sliced, size_t n_ds)
{
    for (size_t i = 0; sds && sliced && i < n_ds; i++)
        if (sliced[i])
            sten_csr_free(ctx, &sds[i].sparse);
    sten_free(ctx, sds);
    sten_free(ctx, sliced);
}

sten_status sten__shard_datasets(sten_ctx *ctx, const sten_net_desc *d, const sten_comm *comm,
                                 const sten_dataset *ds, size_t n_ds, sten_dataset **out, bool **out_sliced)
{
    sten_dataset *sds = sten_calloc(ctx, n_ds ? n_ds : 1, sizeof *sds);
    bool *sliced = sten_calloc(ctx, n_ds ? n_ds : 1, sizeof *sliced);
    sten_status st = sds && sliced ? STEN_OK : STEN_E_NOMEM;
    for (size_t i = 0; !st && i < n_ds; i++) {
        bool split = false;
        uint32_t W;
        for (uint32_t l = 0; l < d->n_layers; l++)
            split |= bound(&ds[i], 1, &d->layers[l]) && split_layer(&d->layers[l], &ds[i], &W);
        if (!split) {
            sds[i] = ds[i];
            continue;
        }
        if (ds[i].width < (uint32_t)comm->size || ds[i].height > 1 || ds[i].length > 1)
            st = sten_fail(ctx, STEN_E_UNSUPPORTED, "dataset %s: %u columns cannot be split over %d ranks",
                           ds[i].name, ds[i].width, comm->size);
        uint32_t c0, c1;
        shard_range(ds[i].width, comm, &c0, &c1);
        if (!st && !(st = slice_columns(ctx, &ds[i], c0, c1, &sds[i])))
            sliced[i] = true;
    }
    if (st) {
        sten__shard_datasets_free(ctx, sds, sliced, n_ds);
        return st;
    }
    *out = sds;
    *out_sliced = sliced;
    return STEN_OK;
}

/* Split by tables: every sparse input feeds Embedding layers only (their
 * tables are what is split; the rest is whole on every member). */
static sten_status check_tables(sten_ctx *ctx, const sten_net *net)
{
    for (uint32_t j = 0; j < net->n_layers; j++) {
        const nn_layer *L = &net->layers[j];
        for (uint32_t k = 0; k < L->n_src; k++)
            if (net->layers[L->src[k]].sparse_in && L->ops != &sten__layer_embedding)
                return sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: layer \"%s\": model parallelism splits either the "
                                 "Embedding tables (DLRM) or the catalogue-wide layers of an autoencoder, and this "
                                 "network has both; train it with --parallel data", net->desc.source, L->d->name);
    }
    return STEN_OK;
}

static bool has_tables(const sten_net_desc *d)
{
    for (uint32_t i = 0; i < d->n_layers; i++)
        if (d->layers[i].type == STEN_LAYER_EMBEDDING)
            return true;
    return false;
}

sten_status sten_net_build_sharded(sten_ctx *ctx, const sten_net_desc *d, const sten_dataset *ds, size_t n_ds,
                                   uint32_t batch, const sten_comm *comm, sten_net **out)
{
    *out = NULL;
    if (!comm || comm->size < 1 || comm->rank < 0 || comm->rank >= comm->size)
        return sten_fail(ctx, STEN_E_INVALID, "model parallelism needs a group (sten_comm)");
    if (has_tables(d)) { /* DLRM: each table on one member, the data whole */
        sten_net *net = NULL;
        sten_status st = sten__net_build_in(ctx, d, ds, n_ds, batch, comm, &net);
        if (!st && (st = check_tables(ctx, net))) {
            sten_net_free(ctx, net);
            net = NULL;
        }
        if (net)
            net->full_ds = ds, net->n_full_ds = n_ds;
        *out = net;
        return st;
    }
    sten_dataset *sds = NULL;
    bool *sliced = NULL;
    sten_status st = sten__shard_datasets(ctx, d, comm, ds, n_ds, &sds, &sliced);
    /* a split output bound to no dataset (inference) is built at its range's width */
    sten_net_desc d2 = *d;
    sten_layer_desc *ld = st ? NULL : sten_alloc(ctx, (size_t)d->n_layers * sizeof *ld);
    if (!st && !ld)
        st = STEN_E_NOMEM;
    for (uint32_t i = 0; !st && i < d->n_layers; i++) {
        ld[i] = d->layers[i]; /* shallow: sten_net_build copies what it keeps */
        uint32_t W, c0, c1;
        if (!ld[i].N_auto && split_layer(&ld[i], bound(ds, n_ds, &ld[i]), &W)) {
            shard_range(W, comm, &c0, &c1); /* a width given (a loaded model, no dataset): the range's */
            ld[i].N = c1 - c0;
        }
    }
    d2.layers = ld;
    sten_net *net = NULL;
    if (!st)
        st = sten_net_build(ctx, &d2, sds, n_ds, batch, &net);
    sten_free(ctx, ld);
    if (net) {
        net->comm = comm;
        net->full_ds = ds;
        net->n_full_ds = n_ds;
        net->shard_ds = sds;
        net->sliced = sliced;
        sds = NULL, sliced = NULL; /* the network's now */
        for (uint32_t i = 0; i < net->n_layers; i++) {
            nn_layer *L = &net->layers[i];
            const sten_dataset *full = bound(ds, n_ds, &d->layers[i]);
            uint32_t W, c0, c1;
            L->N_full = L->N;
            if (split_layer(&d->layers[i], full, &W)) {
                shard_range(W, comm, &c0, &c1);
                L->sharded = true;
                L->N_full = W;
                L->off = c0;
                net->desc.layers[i].N = L->N_full; /* what the model file records */
            }
        }
        st = check_split(ctx, net);
    }
    if (st) {
        sten_net_free(ctx, net);
        sten__shard_datasets_free(ctx, sds, sliced, n_ds);
        return st;
    }
    *out = net;
    return STEN_OK;
}

bool sten__param_sharded(const sten_net *net, uint32_t i)
{
    const nn_param *p = &net->params[i];
    if (!net->comm)
        return false;
    if (p->conn >= 0) {
        const nn_weight *w = &net->weights[p->conn];
        return net->layers[w->dst].sharded || (p->matrix && net->layers[w->src].sharded);
    }
    return net->layers[p->layer].sharded || net->layers[p->layer].owner >= 0;
}

/* Split by tables: an Embedding table's full rows and the columns of array
 * a (row-wise AdaGrad keeps one value per row). */
static void table_shape(const sten_net *net, const nn_param *p, int a, uint32_t *rows, uint32_t *cols)
{
    const nn_layer *L = &net->layers[p->layer];
    *rows = net->layers[L->src[0]].N;
    *cols = a > 0 && p->row_wise && net->opt_state == STEN_OPT_ADAGRAD ? 1 : p->row_len;
}

/* The block of member m of P in array a (0 values, 1 and 2 optimizer state)
 * of a sharded parameter: its rows and columns within the full one (a bias:
 * row 0, its columns; a table: all of it on its owner, nothing elsewhere). */
void sten__shard_block(const sten_net *net, const nn_param *p, int a, int m, uint32_t *row0, uint32_t *rows,
                       uint32_t *col0, uint32_t *cols)
{
    if (p->conn < 0 && net->layers[p->layer].owner >= 0) {
        uint32_t R, C;
        table_shape(net, p, a, &R, &C);
        *row0 = 0, *col0 = 0, *cols = C;
        *rows = m == net->layers[p->layer].owner ? R : 0;
        return;
    }
    const nn_weight *w = &net->weights[p->conn];
    const nn_layer *S = &net->layers[w->src], *D = &net->layers[w->dst];
    const sten_comm g = {.rank = m, .size = net->comm->size};
    uint32_t lo = 0, hi = w->full_rows, c = 0, e = w->full_cols;
    if (p->matrix && S->sharded)
        shard_range(S->N_full, &g, &lo, &hi);
    if (D->sharded)
        shard_range(D->N_full, &g, &c, &e);
    if (!p->matrix)
        lo = 0, hi = 1;
    *row0 = lo, *rows = hi - lo, *col0 = c, *cols = e - c;
}

uint64_t sten__shard_full_len(const sten_net *net, const nn_param *p, int a)
{
    if (!sten__param_sharded(net, (uint32_t)(p - net->params)))
        return a ? p->s_n : p->n;
    if (p->conn < 0) {
        uint32_t R, C;
        table_shape(net, p, a, &R, &C);
        return (uint64_t)R * C;
    }
    const nn_weight *w = &net->weights[p->conn];
    return p->matrix ? (uint64_t)w->full_rows * w->full_cols : w->full_cols;
}

bool sten__param_has(const sten_net *net, const nn_param *p, int a)
{
    if (!sten__param_sharded(net, (uint32_t)(p - net->params))) /* whole: here or not */
        return (a == 0 ? p->w : a == 1 ? p->s1 : p->s2) != NULL;
    return a == 0 || (net->opt_state >= 0 && sten__optim_has((sten_optimizer)net->opt_state, a));
}

/* The arrays of a parameter a model file holds: values, optimizer state. */
static const float *param_array(const nn_param *p, int a)
{
    return a == 0 ? p->w : a == 1 ? p->s1 : p->s2;
}

uint32_t sten__shard_piece_rows(uint32_t cols)
{
    return STEN__MAX(1u, (uint32_t)(SHARD_PIECE / STEN__MAX(cols, 1u)));
}

sten_status sten__shard_fetch(const sten_net *net, uint32_t i, int a, int m, uint32_t row, uint32_t rows,
                              float *recv)
{
    const sten_comm *c = net->comm;
    const nn_param *p = &net->params[i];
    size_t bytes[64];
    if (c->size > 64)
        return STEN_E_UNSUPPORTED;
    uint32_t r0, nr, c0, nc;
    sten__shard_block(net, p, a, m, &r0, &nr, &c0, &nc);
    for (int k = 0; k < c->size; k++)
        bytes[k] = k == m ? (size_t)rows * nc * sizeof(float) : 0;
    return c->gather(c->user, param_array(p, a) + (uint64_t)row * nc, recv, bytes, 0);
}

sten_status sten__shard_send(const sten_net *net)
{
    sten_status st = STEN_OK;
    for (uint32_t i = 0; i < net->n_params; i++)
        for (int a = 0; a < 3 && sten__param_sharded(net, i); a++)
            for (int m = 1; m < net->comm->size && sten__param_has(net, &net->params[i], a); m++) {
                uint32_t r0, nr, c0, nc;
                sten__shard_block(net, &net->params[i], a, m, &r0, &nr, &c0, &nc);
                const uint32_t per = sten__shard_piece_rows(nc);
                for (uint32_t r = 0; r < nr; r += per) {
                    const sten_status fs = sten__shard_fetch(net, i, a, m, r, STEN__MIN(per, nr - r), NULL);
                    if (!st)
                        st = fs;
                }
            }
    return st;
}

bool sten_net_tables_held(const sten_net *net, uint32_t *held, uint32_t *total)
{
    uint32_t h = 0, t = 0;
    for (uint32_t i = 0; net->tables && i < net->n_layers; i++)
        if (net->layers[i].owner >= 0) {
            t++;
            h += net->layers[i].owner == net->comm->rank;
        }
    if (held)
        *held = h;
    if (total)
        *total = t;
    return net->tables;
}
