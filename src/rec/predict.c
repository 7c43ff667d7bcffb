/* predict.c — inference for recommendation: run a trained network on a
 * batch of examples and select each example's top-K items, skipping the
 * ones it already has. Reading users and writing recommendation lines is the
 * command's job (tools/cmd_predict.c). */
#include "nn/net_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Scoring over threads (score_split): the rows a thread takes at a time,
 * one batch of its workspace. 512: DLRM's bf16 scoring on the Xeon with the
 * AMX chains took 0.222 s for 200,000 rows against 0.238 s at 256 and 0.251
 * at 128 (1,024: 0.217; fewer blocks to share out on small data). int8:
 * 256, whose activations (fp32 between the layers) stay nearer the core:
 * 365k-373k rows/s against 334k-340k at 512 and 330k-343k at 128 (DLRM, an
 * Intel Xeon without AMX, alternating runs). */
static uint64_t score_rows(const sten_net *net)
{
    return net->int8 ? 256 : 512;
}

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

/* Every input layer has its data. */
static sten_status inputs_bound(sten_ctx *ctx, const sten_net *net, const sten_workspace *ws)
{
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *in = &net->layers[i];
        if (in->kind == STEN_LAYER_INPUT && !ws->lds[i])
            return sten_fail(ctx, STEN_E_NOTFOUND, "input layer \"%s\": DataSet \"%s\" was not given",
                             in->d->name, in->d->dataset);
    }
    return STEN_OK;
}

/* The model's lock guards only what inference derives from the weights;
 * the weights themselves are read-only while inference runs. */
static void lock_model(const sten_net *net)
{
    pthread_mutex_lock((pthread_mutex_t *)&net->lock);
}

static void unlock_model(const sten_net *net)
{
    pthread_mutex_unlock((pthread_mutex_t *)&net->lock);
}

/* W's bf16 copy packed into the NN kernel's strips (once per weight
 * version), for the inference products: false when there is no room (the
 * products then pack the strips as they go). */
static bool pack_weight(sten_ctx *ctx, const sten_net *net, nn_weight *w)
{
    if (w->Wbp && w->wbp_ver == net->version && sten__bgemm_packed_current(w->Wbp))
        return true;
    if (!w->Wbp) {
        const size_t words = sten__bgemm_packed_words(w->rows, w->cols);
        if (!(w->Wbp = sten_alloc(net->dctx, words * sizeof *w->Wbp)))
            return false;
    }
    sten__bgemm_pack(ctx, w->rows, w->cols, w->Wb, w->cols, w->Wbp);
    w->wbp_ver = net->version;
    return true;
}

/* int8 precision: the weights of every layer fed by one dense product
 * quantized (once per weight version), but not those of `ranked`, the
 * output layer a recommendation ranks in fp32 (a catalogue's weights would
 * take a quarter of their fp32 size again for nothing); a layer whose
 * quantization fails (no memory, or a sum too long for int32) keeps its
 * fp32 product. */
static void prepare_int8(const sten_net *net, const nn_layer *ranked)
{
    for (uint32_t i = 0; net->int8 && i < net->n_layers; i++) {
        if (&net->layers[i] == ranked)
            continue;
        const nn_weight *cw = sten__single_dense_in(net, &net->layers[i]);
        nn_weight *o = cw ? &net->weights[cw->owner] : NULL;
        if (!o || o->wq_ver == net->version)
            continue;
        if (sten__qmat_make(net->dctx, &o->Wq, o->rows, o->cols, o->W, o->cols)) {
            sten_ctx_clear_error(net->dctx);
            o->wq_ver = 0;
        } else {
            o->wq_ver = net->version;
        }
    }
}

/* bf16 precision: every rounded copy current (made under the model's lock,
 * once per weight version), so that inference only reads the model; the
 * layers fed by one dense product get their weights packed too. int8: the
 * quantized weights (prepare_int8). */
static void prepare_precision(sten_ctx *ctx, const sten_net *net, const nn_layer *ranked)
{
    prepare_int8(net, ranked);
    for (uint32_t k = 0; net->bf16 && k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        if (w->owner == (int)k && w->Wb && w->wb_ver != net->version) {
            sten__to_bf16(ctx, w->Wb, w->W, (int64_t)w->rows * w->cols);
            w->wb_ver = net->version;
        }
    }
    for (uint32_t i = 0; net->bf16 && i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        const nn_weight *cw = sten__single_dense_in(net, L);
        nn_weight *o = cw ? &net->weights[cw->owner] : NULL;
        if (o && o->Wb && !pack_weight(ctx, net, o))
            sten_ctx_clear_error(net->dctx); /* unpacked: slower, not wrong */
    }
}

static void prepare_precision_locked(sten_ctx *ctx, const sten_net *net, const nn_layer *ranked)
{
    lock_model(net);
    prepare_precision(ctx, net, ranked);
    unlock_model(net);
}

/* One pass over examples ids[0..B) in an inference mode. */
static sten_status infer(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const uint32_t *ids,
                         uint32_t B, nn_mode mode)
{
    sten_status st = sten__net_load_batch(ctx, net, ws, ids, B, mode);
    if (!st) {
        sten__net_forward(ctx, net, ws);
        st = ws->fwd_st;
    }
    return st;
}

sten_status sten_net_infer_ws(sten_ctx *ctx, const sten_net *net, sten_workspace *ws,
                              const uint32_t *ids, uint32_t B, const char *layer, const float **out,
                              uint32_t *width)
{
    sten_status st = STEN_OK;
    if (ws->net != net)
        return sten_fail(ctx, STEN_E_INVALID, "the workspace was made for another network");
    const nn_layer *L = pick_layer(ctx, net, layer, &st);
    if (!L || (st = inputs_bound(ctx, net, ws)))
        return st;
    prepare_precision_locked(ctx, net, NULL);
    ws->chain = L->kind == STEN_LAYER_OUTPUT; /* no hidden layer's fp32 output is read */
    st = infer(ctx, net, ws, ids, B, NN_EVAL);
    ws->chain = false;
    *out = sten__buf(ws, net, L)->out;
    *width = L->N;
    return st;
}

sten_status sten_net_infer(sten_ctx *ctx, sten_net *net, const uint32_t *ids, uint32_t B,
                           const char *layer, const float **out, uint32_t *width)
{
    return sten_net_infer_ws(ctx, net, net->ws, ids, B, layer, out, width);
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

/* The model's context could not allocate: the caller's context says so. */
static sten_status nomem(sten_ctx *ctx, const sten_net *net)
{
    const sten_status st = sten_fail(ctx, STEN_E_NOMEM, "%s", sten_ctx_error(net->dctx));
    sten_ctx_clear_error(net->dctx);
    return st;
}

/* Screening's data for the output weight (once per weight version): W's
 * bf16 copy, W item-major for rescoring, each item's column norm rounded
 * up, the largest |W|. False when screening cannot pay or be exact here:
 * bf16 products not faster than fp32 ones on this CPU (sten__bf16_fast:
 * none, or AVX-512 BF16 on an Intel core), sten's own fp32 kernel not in use (its summation order is
 * what rescoring replays), more than one K block (hidden > 256), or a
 * non-finite weight or bias. */
static bool screen_prepare(sten_ctx *ctx, const sten_net *net, const nn_layer *L, sten_status *st)
{
    nn_weight *w = &net->weights[L->in[0]];
    const nn_layer *S = &net->layers[w->src];
    if (net->bf16 || !sten__bf16_fast(ctx) || !sten__topk_screen_available() ||
        !sten__gemm_own() || S->N > 256 ||
        w->owner != (int)L->in[0])
        return false;
    const uint32_t K = S->N, N = L->N;
    if (w->scr_ver == net->version && w->Wb)
        return true;
    for (uint32_t j = 0; j < N; j++)
        if (!isfinite(w->b[j]))
            return false;
    if (!w->Wb) {
        if (!(w->Wb = sten_alloc(net->dctx, (size_t)K * N * sizeof *w->Wb)))
            return (*st = nomem(ctx, net)), false;
        w->wb_dctx = true;
    }
    if (!w->Wt && !(w->Wt = sten_alloc(net->dctx, (size_t)K * N * sizeof *w->Wt)))
        return (*st = nomem(ctx, net)), false;
    if (!w->wn && !(w->wn = sten_alloc(net->dctx, (size_t)N * sizeof *w->wn)))
        return (*st = nomem(ctx, net)), false;
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
    if (w->wb_ver != net->version) {
        sten__to_bf16(ctx, w->Wb, w->W, (int64_t)K * N);
        w->wb_ver = net->version;
    }
    w->scr_ver = net->version;
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

/* The output weight's derived data for top-K (under the model's lock, once
 * per weight version): screening's (fp32 on an AVX-512 BF16 CPU), bf16
 * copies, strips packed for the product. *screen says whether to screen. */
static sten_status prepare_topk(sten_ctx *ctx, const sten_net *net, const nn_layer *L, bool *screen)
{
    sten_status st = STEN_OK;
    lock_model(net);
    prepare_precision(ctx, net, L);
    *screen = screen_prepare(ctx, net, L, &st);
    nn_weight *w = &net->weights[L->in[0]];
    /* bf16 products (screening or bf16 precision): W's strips packed once */
    if (!st && (*screen || net->bf16) && w->owner == (int)L->in[0] && w->Wb && !pack_weight(ctx, net, w))
        st = nomem(ctx, net);
    unlock_model(net);
    return st;
}

sten_status sten_net_recommend_ws(sten_ctx *ctx, const sten_net *net, sten_workspace *ws,
                                  const uint32_t *ids, uint32_t B, uint32_t n_items, uint32_t K,
                                  const sten_csr *exclude, uint32_t *idx, float *val,
                                  uint32_t *count)
{
    sten_status st = STEN_OK;
    if (ws->net != net)
        return sten_fail(ctx, STEN_E_INVALID, "the workspace was made for another network");
    const nn_layer *L = fused_output(net);
    const nn_buf *A = NULL;
    if (L) {
        /* the output product is consumed chunk by chunk by top-K, in cache,
         * and never stored; the activation is applied to the K winners. In
         * fp32 on a CPU with AVX-512 BF16 the product is taken in bf16 and
         * the few items that can still be in the top K are rescored in
         * fp32: the same lists, bit for bit, at bf16 speed */
        if (n_items > L->N)
            return sten_fail(ctx, STEN_E_INVALID, "%u items asked for, the output layer has %u units",
                             n_items, L->N);
        if ((st = inputs_bound(ctx, net, ws)))
            return st;
        bool screen;
        if ((st = prepare_topk(ctx, net, L, &screen)))
            return st;
        const nn_weight *w = &net->weights[L->in[0]];
        /* bf16 precision: its scores are the results, screened with no
         * bounds (the vectorised scan, no heap per item); a batch that met
         * a score not a number, or ties past the candidates' room, goes
         * again through the plain heaps */
        const bool exact = !screen && net->bf16 && sten__topk_screen_available();
        if ((st = screen ? sten__topk_begin_screen(ctx, B, n_items, K, exclude, w->wn, 0x1p-22f,
                                                     &ws->topk_keep)
                  : exact ? sten__topk_begin_screen(ctx, B, n_items, K, exclude, NULL, 0.0f,
                                                    &ws->topk_keep)
                          : sten__topk_begin(ctx, B, n_items, K, exclude, &ws->topk_keep)))
            return st;
        ws->topk = ws->topk_keep;
        ws->screen = screen;
        st = infer(ctx, net, ws, ids, B, NN_RANK);
        ws->screen = false;
        if (!st && screen) {
            const nn_layer *S = &net->layers[w->src];
            rescore_arg ra = {ws->buf[w->src].out, w->Wt, w->b, S->N, S->N};
            const sten_rescorer r = {rescore, touch, &ra};
            sten__topk_end_screen(ctx, ws->topk, &r, idx, val, count);
        } else if (!st && exact && !sten__topk_end_exact(ctx, ws->topk, idx, val, count)) {
            if (!(st = sten__topk_begin(ctx, B, n_items, K, exclude, &ws->topk_keep)) &&
                !(st = infer(ctx, net, ws, ids, B, NN_RANK)))
                sten__topk_end(ctx, ws->topk, idx, val, count);
        } else if (!st && !exact) {
            sten__topk_end(ctx, ws->topk, idx, val, count);
        }
        ws->topk = NULL;
        A = sten__buf(ws, net, L);
    } else {
        /* rank pre-activations when the output activation keeps their order,
         * and apply it to the K winners only */
        if (!(L = pick_layer(ctx, net, NULL, &st)) || (st = inputs_bound(ctx, net, ws)))
            return st;
        prepare_precision_locked(ctx, net, L);
        if ((st = infer(ctx, net, ws, ids, B, NN_RANK)))
            return st;
        A = sten__buf(ws, net, L);
        if (n_items > L->N)
            return sten_fail(ctx, STEN_E_INVALID, "%u items asked for, the output layer has %u units",
                             n_items, L->N);
        st = sten_topk(ctx, A->out, L->N, B, n_items, K, exclude, idx, val, count);
    }
    if (!st && val && A->act_deferred)
        for (uint64_t r = 0; r < (uint64_t)B * K; r++)
            if (idx[r] != UINT32_MAX)
                sten__act_forward_one(L->fn, &L->ap, &val[r]);
    return st;
}

/* Model parallelism (a shard from sten_net_load_sharded): this member's
 * top K over its item range (the exclusions and the catalogue limit taken
 * to it), sent to rank 0 (indices made global), which merges the members'
 * lists: higher score first, ties by lower index, as one process ranks. */
static sten_status shard_recommend(sten_ctx *ctx, sten_net *net, const uint32_t *ids, uint32_t B,
                                   uint32_t n_items, uint32_t K, const sten_csr *exclude, uint32_t *idx,
                                   float *val, uint32_t *count)
{
    const sten_comm *c = net->comm;
    const nn_layer *L = NULL;
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].kind == STEN_LAYER_OUTPUT)
            L = &net->layers[i];
    const uint32_t off = L->off, N = L->N;
    const uint32_t all = n_items ? STEN__MIN(n_items, L->N_full) : L->N_full;
    const uint32_t mine = all > off ? STEN__MIN(N, all - off) : 0; /* of this range, within the limit */
    const size_t per = (size_t)B * (2 * (size_t)K + 1); /* counts, indices, scores: 4 bytes each */
    uint32_t *buf = sten_alloc(ctx, per * sizeof *buf * (c->rank == 0 ? (size_t)c->size + 1 : 1));
    size_t bytes[64];
    sten_csr ex = {0};
    sten_status st = buf ? STEN_OK : STEN_E_NOMEM;
    if (!st && c->size > 64)
        st = sten_fail(ctx, STEN_E_UNSUPPORTED, "model-parallel prediction over more than 64 ranks");
    if (!st && exclude) { /* the exclusions within this range, re-based */
        uint64_t n = 0;
        for (uint64_t e = 0; e < exclude->nnz; e++)
            n += exclude->col[e] >= off && exclude->col[e] - off < N;
        if (!(st = sten_csr_init(ctx, &ex, B, N, n ? n : 1, false))) {
            uint64_t k = 0;
            for (uint32_t b = 0; b < B; b++) {
                for (uint64_t e = exclude->row_ptr[b]; e < exclude->row_ptr[b + 1]; e++)
                    if (exclude->col[e] >= off && exclude->col[e] - off < N)
                        ex.col[k++] = exclude->col[e] - off;
                ex.row_ptr[b + 1] = k;
            }
            ex.rows = B, ex.nnz = k;
        }
    }
    uint32_t *lc = buf, *li = buf ? buf + B : NULL;
    float *lv = buf ? (float *)(buf + B + (size_t)B * K) : NULL;
    /* every member ranks (the hidden layer's sums are collective), even one
     * whose range is past the catalogue limit: its lists are then dropped */
    if (!st)
        st = sten_net_recommend_ws(ctx, net, net->ws, ids, B, mine ? mine : N, K, exclude ? &ex : NULL, li, lv, lc);
    for (uint32_t b = 0; !st && b < B; b++) {
        if (!mine)
            lc[b] = 0;
        for (uint32_t k = 0; k < lc[b]; k++)
            li[(size_t)b * K + k] += off;
    }
    for (int m = 0; m < c->size && m < 64; m++)
        bytes[m] = per * sizeof *buf;
    const sten_status gs = buf ? c->gather(c->user, buf, c->rank == 0 ? buf + per : NULL, bytes, 0) : STEN_E_NOMEM;
    if (!st)
        st = gs;
    for (uint32_t b = 0; b < B; b++)
        count[b] = 0;
    for (uint32_t b = 0; !st && c->rank == 0 && b < B; b++) {
        uint32_t at[64] = {0}; /* the next of each member's list */
        uint32_t n = 0;
        while (n < K) {
            int best = -1;
            float bv = 0.0f;
            uint32_t bi = 0;
            for (int m = 0; m < c->size; m++) {
                const uint32_t *mb = buf + per * (size_t)(m + 1);
                if (at[m] >= mb[b])
                    continue;
                const uint32_t i = mb[B + (size_t)b * K + at[m]];
                const float v = ((const float *)(mb + B + (size_t)B * K))[(size_t)b * K + at[m]];
                /* higher first, NaN below every number, ties by lower index */
                const bool better = best < 0 || (v > bv) || (isnan(bv) && !isnan(v)) || (v == bv && i < bi) ||
                                    (isnan(v) && isnan(bv) && i < bi);
                if (better)
                    best = m, bv = v, bi = i;
            }
            if (best < 0)
                break;
            idx[(size_t)b * K + n] = bi;
            val[(size_t)b * K + n] = bv;
            n++;
            at[best]++;
        }
        count[b] = n;
    }
    sten_csr_free(ctx, &ex);
    sten_free(ctx, buf);
    return st;
}

sten_status sten_net_recommend(sten_ctx *ctx, sten_net *net, const uint32_t *ids, uint32_t B,
                               uint32_t n_items, uint32_t K, const sten_csr *exclude,
                               uint32_t *idx, float *val, uint32_t *count)
{
    if (net->comm) /* a model-parallel shard: collective */
        return shard_recommend(ctx, net, ids, B, n_items, K, exclude, idx, val, count);
    return sten_net_recommend_ws(ctx, net, net->ws, ids, B, n_items, K, exclude, idx, val, count);
}

/* Scores of examples [lo, hi) through ws, in batches of its capacity. */
static sten_status score_range(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, uint64_t lo,
                               uint64_t hi, float *scores)
{
    uint32_t *ids = sten_alloc(ctx, (size_t)ws->B_cap * sizeof *ids);
    if (!ids)
        return STEN_E_NOMEM;
    sten_status st = STEN_OK;
    for (uint64_t pos = lo; pos < hi && !st; pos += ws->B_cap) {
        const uint32_t B = (uint32_t)STEN__MIN((uint64_t)ws->B_cap, hi - pos);
        for (uint32_t b = 0; b < B; b++)
            ids[b] = (uint32_t)(pos + b);
        const float *y;
        uint32_t w;
        if (!(st = sten_net_infer_ws(ctx, net, ws, ids, B, NULL, &y, &w)))
            memcpy(scores + pos, y, (size_t)B * sizeof *scores);
    }
    sten_free(ctx, ids);
    return st;
}

/* Scoring split over nt threads by rows: each thread its own context (one
 * thread) and workspace, taking batches of score_rows() rows in turn and
 * running each through the whole network. A row's
 * score does not depend on the batch it is in, so the scores are those of
 * one thread; but no thread waits at every layer for the other, and a
 * batch's activations stay in its core's cache from layer to layer. */
static sten_status score_split(sten_ctx *ctx, const sten_net *net, const sten_workspace *ws, int nt,
                               float *scores)
{
    const uint64_t rows = score_rows(net), blocks = (ws->examples + rows - 1) / rows;
    /* the caller's memory cap holds: what is left of it, shared among the threads */
    const size_t left = ctx->mem_limit > ctx->bytes_in_use ? ctx->mem_limit - ctx->bytes_in_use : 1;
    const size_t budget = ctx->mem_limit ? STEN__MAX(left / (size_t)nt, (size_t)1) : 0;
    sten_status st = STEN_OK;
    char why[512] = "";
#pragma omp parallel num_threads(nt)
    {
        sten_ctx *c = NULL;
        sten_workspace *w = NULL;
        sten_status my = sten_ctx_init(&c);
        if (!my) {
            sten_ctx_set_threads(c, 1);
            sten_ctx_set_mem_limit(c, budget);
            my = sten__ws_like(c, ws, (uint32_t)STEN__MIN((uint64_t)ws->B_cap, rows), &w);
        }
#pragma omp for schedule(dynamic, 1)
        for (uint64_t k = 0; k < blocks; k++) {
            if (my || __atomic_load_n(&st, __ATOMIC_RELAXED))
                continue;
            my = score_range(c, net, w, k * rows, STEN__MIN(ws->examples, (k + 1) * rows), scores);
        }
        sten_status none = STEN_OK; /* the first failure's thread says why */
        if (my && __atomic_compare_exchange_n(&st, &none, my, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            snprintf(why, sizeof why, "%s", c && sten_ctx_error(c)[0] ? sten_ctx_error(c) : "out of memory");
        sten_workspace_free(c, w);
        sten_ctx_free(c);
    }
    return st ? sten_fail(ctx, st, "%s", why) : STEN_OK;
}

sten_status sten_net_score_ws(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, float *scores,
                              float *labels)
{
    sten_status st = STEN_OK;
    if (ws->net != net)
        return sten_fail(ctx, STEN_E_INVALID, "the workspace was made for another network");
    const nn_layer *L = pick_layer(ctx, net, NULL, &st);
    if (!L)
        return st;
    if (L->N != 1)
        return sten_fail(ctx, STEN_E_INVALID, "%s: scores need a one-unit output; \"%s\" has %u units",
                         net->desc.source, L->d->name, L->N);
    const uint32_t li = (uint32_t)(L - net->layers);
    const sten_dataset *d = ws->lds[li];
    if (labels && (!d || (d->attributes & STEN_DS_SPARSE)))
        return sten_fail(ctx, STEN_E_NOTFOUND, "the data has no dense dataset \"%s\" of labels for "
                         "output layer \"%s\"", L->d->dataset, L->d->name);
    const int nt = (int)STEN__MIN((uint64_t)sten_ctx_threads(ctx), ws->examples / score_rows(net));
    /* split by tables: every member's forward passes meet in the group sums,
     * batch by batch, so one pass in order */
    st = nt > 1 && !ws->rows && !net->comm ? score_split(ctx, net, ws, nt, scores)
                             : score_range(ctx, net, ws, 0, ws->examples, scores);
    for (uint64_t i = 0; !st && labels && i < ws->examples; i++)
        labels[i] = d->dense[sten__ds_row(d, i)];
    return st;
}

/* ------------------------------------------------------- request-time rows */

/* The network's one input layer when it is sparse, else NULL. */
static const nn_layer *rows_input(const sten_net *net)
{
    const nn_layer *in = NULL;
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].kind == STEN_LAYER_INPUT) {
            if (in)
                return NULL;
            in = &net->layers[i];
        }
    return in && in->sparse_in ? in : NULL;
}

sten_status sten_workspace_new_rows(sten_ctx *ctx, const sten_net *net, uint32_t batch, uint64_t max_nnz,
                                    bool valued, sten_workspace **out)
{
    *out = NULL;
    const nn_layer *in = rows_input(net);
    if (!in)
        return sten_fail(ctx, STEN_E_UNSUPPORTED,
                         "%s: request rows need a network with exactly one input layer, a sparse one",
                         net->desc.source);
    if (batch == 0 || max_nnz == 0)
        return sten_fail(ctx, STEN_E_INVALID, "rows workspace: batch and max_nnz must be at least 1");
    sten_dataset *d = sten_calloc(ctx, 1, sizeof *d);
    if (!d)
        return STEN_E_NOMEM;
    sten_status st = sten__strdup(ctx, in->d->dataset, &d->name);
    if (!st)
        st = sten_csr_init(ctx, &d->sparse, batch, in->N, max_nnz, valued);
    if (!st) {
        d->attributes = STEN_DS_SPARSE | (valued ? 0 : STEN_DS_BOOLEAN);
        d->dims = 1;
        d->width = in->N;
        d->examples = d->unique = batch;
        d->sparse.rows = batch;
        /* the workspace sizes its buffers for the batch's largest rows:
         * one row holding all max_nnz gives exactly that bound */
        for (uint32_t r = 1; r <= batch; r++)
            d->sparse.row_ptr[r] = max_nnz;
        d->sparse.nnz = max_nnz;
        memset(d->sparse.col, 0, max_nnz * sizeof *d->sparse.col);
        if (valued)
            memset(d->sparse.val, 0, max_nnz * sizeof *d->sparse.val);
    }
    sten_workspace *ws = NULL;
    if (!st)
        st = sten__ws_new_on(ctx, net, d, 1, "the request rows", batch, &ws);
    if (!st && !(ws->row_ids = sten_alloc(ctx, (size_t)batch * sizeof *ws->row_ids)))
        st = STEN_E_NOMEM;
    if (st) {
        sten_workspace_free(ctx, ws);
        sten_datasets_free(ctx, d, 1);
        return st;
    }
    for (uint32_t r = 0; r < batch; r++)
        ws->row_ids[r] = r;
    ws->rows = d;
    *out = ws;
    return STEN_OK;
}

/* Copies the request rows into the workspace's own dataset, checked. */
static sten_status load_rows(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const sten_csr *x)
{
    if (ws->net != net)
        return sten_fail(ctx, STEN_E_INVALID, "the workspace was made for another network");
    sten_dataset *d = ws->rows;
    if (!d)
        return sten_fail(ctx, STEN_E_INVALID, "not a rows workspace (sten_workspace_new_rows)");
    const uint64_t nnz = x->rows ? x->row_ptr[x->rows] : 0;
    if (x->rows == 0 || x->rows > ws->B_cap)
        return sten_fail(ctx, STEN_E_INVALID, "%u request rows (1 to %u allowed)", x->rows, ws->B_cap);
    if (nnz > d->sparse.cap)
        return sten_fail(ctx, STEN_E_INVALID, "request rows hold %llu entries (at most %llu)",
                         (unsigned long long)nnz, (unsigned long long)d->sparse.cap);
    for (uint32_t r = 0; r < x->rows; r++) {
        if (x->row_ptr[r + 1] < x->row_ptr[r])
            return sten_fail(ctx, STEN_E_INVALID, "request row %u: row_ptr decreases", r);
        for (uint64_t e = x->row_ptr[r]; e < x->row_ptr[r + 1]; e++)
            if (x->col[e] >= d->width)
                return sten_fail(ctx, STEN_E_INVALID, "request row %u: feature %u (the input is %u wide)", r,
                                 x->col[e], d->width);
    }
    memcpy(d->sparse.row_ptr, x->row_ptr, ((size_t)x->rows + 1) * sizeof *x->row_ptr);
    for (uint32_t r = x->rows + 1; r <= ws->B_cap; r++)
        d->sparse.row_ptr[r] = nnz;
    memcpy(d->sparse.col, x->col, nnz * sizeof *x->col);
    if (d->sparse.val)
        for (uint64_t e = 0; e < nnz; e++)
            d->sparse.val[e] = x->val ? x->val[e] : 1.0f;
    d->sparse.nnz = nnz;
    return STEN_OK;
}

sten_status sten_net_infer_rows(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const sten_csr *x,
                                const char *layer, const float **out, uint32_t *width)
{
    const sten_status st = load_rows(ctx, net, ws, x);
    return st ? st : sten_net_infer_ws(ctx, net, ws, ws->row_ids, x->rows, layer, out, width);
}

sten_status sten_net_recommend_rows(sten_ctx *ctx, const sten_net *net, sten_workspace *ws,
                                    const sten_csr *x, uint32_t n_items, uint32_t K,
                                    const sten_csr *exclude, uint32_t *idx, float *val, uint32_t *count)
{
    const sten_status st = load_rows(ctx, net, ws, x);
    return st ? st
              : sten_net_recommend_ws(ctx, net, ws, ws->row_ids, x->rows, n_items, K, exclude, idx, val,
                                      count);
}
