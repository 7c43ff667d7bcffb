/* rank_valid.c — ranking metrics on validation users during training
 * (Liang et al.'s protocol): each validation example's input items are its
 * fold-in history, its output items the held-out ones; the network ranks
 * every item but the history (the same top-K as `sten predict`), and
 * Recall@K = hits / min(K, held-out) and NDCG@K = DCG / ideal DCG over
 * min(K, held-out) positions are averaged over the examples that hold out at
 * least one item. What early stopping and `sten tune` select on, so no one
 * tunes on the test users. */
#include "net_int.h"

#include <math.h>
#include <string.h>

/* The network's one sparse input layer and one sparse-target output layer
 * bound in ws, or -1s. */
static void rank_layers(const sten_net *net, const sten_workspace *ws, int *in, int *out)
{
    *in = *out = -1;
    int n_in = 0, n_out = 0;
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        const sten_dataset *d = ws->lds[i];
        if (L->kind == STEN_LAYER_INPUT)
            n_in++, *in = L->sparse_in && d ? (int)i : -1;
        else if (L->kind == STEN_LAYER_OUTPUT)
            n_out++, *out = d && (d->attributes & STEN_DS_SPARSE) ? (int)i : -1;
    }
    if (n_in != 1 || n_out != 1)
        *in = *out = -1;
}

sten_status sten__rank_validation(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, uint32_t K,
                                  double *recall, double *ndcg)
{
    *recall = *ndcg = NAN;
    int li, lo;
    rank_layers(net, ws, &li, &lo);
    if (li < 0 || lo < 0)
        return sten_fail(ctx, STEN_E_UNSUPPORTED,
                         "ranking metrics on validation data need a network with one sparse input "
                         "layer and one output layer with sparse targets (an autoencoder's shape)");
    const sten_dataset *din = ws->lds[li], *dout = ws->lds[lo];
    const nn_layer *O = &net->layers[lo];
    /* the catalogue: the output index's items (DSSTNE pads the layer to 128) */
    const uint32_t n_items = dout->features.entries && dout->features.entries <= O->N
                                 ? (uint32_t)dout->features.entries : O->N;
    const uint32_t Bc = ws->B_cap;
    uint64_t cap = 0; /* the largest history any batch can hold */
    for (uint64_t pos = 0; pos < ws->examples; pos += Bc) {
        uint64_t n = 0;
        for (uint64_t e = pos; e < STEN__MIN(ws->examples, pos + Bc); e++) {
            const uint64_t row = sten__ds_row(din, e);
            n += din->sparse.row_ptr[row + 1] - din->sparse.row_ptr[row];
        }
        cap = STEN__MAX(cap, n);
    }
    uint32_t *ids = sten_alloc(ctx, (size_t)Bc * sizeof *ids);
    uint32_t *idx = sten_alloc(ctx, (size_t)Bc * K * sizeof *idx);
    uint32_t *count = sten_alloc(ctx, (size_t)Bc * sizeof *count);
    uint8_t *held = sten_calloc(ctx, (size_t)O->N, 1);
    double *disc = sten_alloc(ctx, (size_t)K * sizeof *disc);
    sten_csr ex = {0};
    sten_status st = !ids || !idx || !count || !held || !disc ? STEN_E_NOMEM
                     : sten_csr_init(ctx, &ex, Bc, din->width, STEN__MAX(cap, 1u), false);
    double r_sum = 0.0, n_sum = 0.0;
    uint64_t users = 0;
    for (uint32_t r = 0; !st && r < K; r++)
        disc[r] = 1.0 / log2((double)r + 2.0);
    for (uint64_t pos = 0; !st && pos < ws->examples; pos += Bc) {
        const uint32_t B = (uint32_t)STEN__MIN((uint64_t)Bc, ws->examples - pos);
        uint64_t e = 0;
        for (uint32_t b = 0; b < B; b++) {
            ids[b] = (uint32_t)(pos + b);
            const uint64_t row = sten__ds_row(din, ids[b]);
            ex.row_ptr[b] = e;
            for (uint64_t k = din->sparse.row_ptr[row]; k < din->sparse.row_ptr[row + 1]; k++)
                ex.col[e++] = din->sparse.col[k];
        }
        ex.row_ptr[B] = e;
        ex.rows = B;
        ex.nnz = e;
        if ((st = sten_net_recommend_ws(ctx, net, ws, ids, B, n_items, K, &ex, idx, NULL, count)))
            break;
        for (uint32_t b = 0; b < B; b++) {
            const uint64_t row = sten__ds_row(dout, ids[b]);
            const uint64_t t0 = dout->sparse.row_ptr[row], t1 = dout->sparse.row_ptr[row + 1];
            uint32_t n = 0;
            for (uint64_t k = t0; k < t1; k++)
                if (dout->sparse.col[k] < O->N && !held[dout->sparse.col[k]]) {
                    held[dout->sparse.col[k]] = 1;
                    n++;
                }
            if (n == 0)
                continue;
            double dcg = 0.0, ideal = 0.0;
            uint32_t hits = 0;
            for (uint32_t r = 0; r < count[b]; r++)
                if (held[idx[(uint64_t)b * K + r]])
                    hits++, dcg += disc[r];
            for (uint32_t r = 0; r < STEN__MIN(n, K); r++)
                ideal += disc[r];
            r_sum += (double)hits / STEN__MIN(n, K);
            n_sum += dcg / ideal;
            users++;
            for (uint64_t k = t0; k < t1; k++)
                if (dout->sparse.col[k] < O->N)
                    held[dout->sparse.col[k]] = 0;
        }
    }
    if (!st && users) {
        *recall = r_sum / (double)users;
        *ndcg = n_sum / (double)users;
    }
    sten_csr_free(ctx, &ex);
    sten_free(ctx, ids);
    sten_free(ctx, idx);
    sten_free(ctx, count);
    sten_free(ctx, held);
    sten_free(ctx, disc);
    return st;
}
