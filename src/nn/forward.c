/* forward.c — one mini-batch through a built network: gather the batch from
 * the datasets (with denoising), the layers in order through their type's
 * forward (dropout after), loss, and back-propagation in reverse order
 * through their type's backward (dropout mask, sparseness penalty,
 * activation derivative and DeltaNorm before). No weight updates here
 * (optim.c), no layer arithmetic (layer_*.c), no epoch logic (train.c). */
#include "net_int.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* gather_sparse's row b (of dataset row ids[b]) at its provisional start. */
static inline __attribute__((always_inline)) void gather_row(const sten_dataset *d, const uint32_t *ids,
                                                             uint32_t b, sten_csr *x, float p, float q,
                                                             uint64_t seed, uint32_t epoch, bool use_weight,
                                                             bool normalize, uint64_t *end)
{
    const sten_csr *s = &d->sparse;
    const uint64_t row = sten__ds_row(d, ids[b]);
    float w = use_weight && d->weight ? d->weight[ids[b]] : 1.0f;
    if (normalize) { /* the whole row's norm, before denoising drops any */
        double ss = 0.0;
        for (uint64_t k = s->row_ptr[row]; k < s->row_ptr[row + 1]; k++)
            ss += s->val ? (double)s->val[k] * s->val[k] : 1.0;
        w = ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 1.0f; /* the example weight does not count */
    }
    uint64_t e = x->row_ptr[b];
    sten_rng r;
    if (p > 0.0f) /* draw k of the stream decides entry k */
        sten_rng_init(&r, seed ^ 0x64656e6f697365ull, epoch); /* "denoise" */
    uint32_t u[256];
    uint32_t *restrict xc = x->col;
    float *restrict xv = x->val;
    const uint32_t *restrict sc = s->col;
    const float *restrict sv = s->val;
    for (uint64_t k0 = s->row_ptr[row]; k0 < s->row_ptr[row + 1]; k0 += 256) {
        const uint64_t k1 = STEN__MIN(k0 + 256, s->row_ptr[row + 1]);
        if (p > 0.0f)
            sten__rng_values(&r, k0, u, k1 - k0);
        /* each entry written, kept by advancing e (no branch on the draw) */
        for (uint64_t k = k0; k < k1; k++) {
            float v = sv ? sv[k] : 1.0f;
            bool keep = true;
            if (p > 0.0f) {
                keep = !((float)(u[k - k0] >> 8) * 0x1.0p-24f < p); /* sten_rng_uniform's value */
                v *= q;
            }
            xc[e] = sc[k];
            if (xv)
                xv[e] = v * w;
            e += keep;
        }
    }
    if (end)
        end[b] = e;
}

/* gather_sparse's rows over threads: provisional starts (the full
 * lengths) first, then the rows filled in parallel. */
static void gather_rows_split(sten_ctx *ctx, const sten_dataset *d, const uint32_t *ids, uint32_t B,
                              sten_csr *x, float p, float q, uint64_t seed, uint32_t epoch, bool use_weight,
                              bool normalize, uint64_t *end)
{
    const sten_csr *s = &d->sparse;
    uint64_t at = 0;
    for (uint32_t b = 0; b < B; b++) {
        const uint64_t row = sten__ds_row(d, ids[b]);
        x->row_ptr[b] = at;
        at += s->row_ptr[row + 1] - s->row_ptr[row];
    }
    x->row_ptr[B] = at;
    const int nt = sten__threads_for(ctx, (int64_t)at, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4) /* rows' lengths vary widely */
    for (uint32_t b = 0; b < B; b++)
        gather_row(d, ids, b, x, p, q, seed, epoch, use_weight, normalize, end);
}

/* The batch's rows of a sparse dataset into x, dropping each entry with
 * probability p (denoising; survivors scaled by 1/(1-p)): entry k of the
 * dataset is decided by draw k of the (seed, epoch) stream, so the result
 * does not depend on the batch's order or the thread count. Rows are filled
 * in parallel at provisional offsets (their full lengths), then moved down
 * over what denoising dropped (end: B values of scratch; NULL with p = 0,
 * where nothing is dropped). The caller has checked x->cap. */
static void gather_sparse(sten_ctx *ctx, const sten_dataset *d, const uint32_t *ids, uint32_t B,
                          sten_csr *x, float p, uint64_t seed, uint32_t epoch, bool use_weight,
                          bool normalize, uint64_t *end)
{
    const sten_csr *s = &d->sparse;
    const float q = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    uint64_t at = 0;
    /* one thread (a scoring thread's batch; a DLRM table's 2,048 entries,
     * one table a thread): one pass, no OpenMP loop, the rows of the
     * examples ahead asked for (a shuffled batch's rows are scattered over
     * the dataset) */
    if (sten__threads_for(ctx, (int64_t)x->cap, 1 << 14) == 1) {
        enum { AHEAD = 16 };
        for (uint32_t b = 0; b < B; b++) {
            if (b + AHEAD < B)
                __builtin_prefetch(s->row_ptr + (sten__ds_row(d, ids[b + AHEAD])));
            if (b + AHEAD / 2 < B) {
                const uint64_t r2 = sten__ds_row(d, ids[b + AHEAD / 2]);
                __builtin_prefetch(s->col + s->row_ptr[r2]);
                if (s->val)
                    __builtin_prefetch(s->val + s->row_ptr[r2]);
            }
            const uint64_t row = sten__ds_row(d, ids[b]);
            x->row_ptr[b] = at;
            at += s->row_ptr[row + 1] - s->row_ptr[row];
            gather_row(d, ids, b, x, p, q, seed, epoch, use_weight, normalize, end);
        }
        x->row_ptr[B] = at;
    } else {
        gather_rows_split(ctx, d, ids, B, x, p, q, seed, epoch, use_weight, normalize, end);
    }
    x->rows = B;
    if (!end) { /* nothing dropped: every row where its full length put it */
        x->nnz = x->row_ptr[B];
        return;
    }
    /* move each row down over the dropped entries (ascending: safe) */
    uint64_t e = 0;
    for (uint32_t b = 0; b < B; b++) {
        const uint64_t from = x->row_ptr[b], n = end[b] - from;
        if (from != e) {
            memmove(x->col + e, x->col + from, n * sizeof *x->col);
            if (x->val)
                memmove(x->val + e, x->val + from, n * sizeof *x->val);
        }
        x->row_ptr[b] = e;
        e += n;
    }
    x->row_ptr[B] = e;
    x->rows = B;
    x->nnz = e;
}

static void gather_dense(const sten_dataset *d, const uint32_t *ids, uint32_t B, float *out,
                         uint32_t N)
{
    const uint64_t w = (uint64_t)d->width * STEN__MAX(d->height, 1u) * STEN__MAX(d->length, 1u);
    for (uint32_t b = 0; b < B; b++) {
        const uint64_t row = sten__ds_row(d, ids[b]);
        memcpy(out + (uint64_t)b * N, d->dense + row * w, (size_t)w * sizeof *out);
        memset(out + (uint64_t)b * N + w, 0, (size_t)(N - w) * sizeof *out);
    }
}

/* Groups each row of a fused-loss target by the column chunk of the output
 * product (a stable counting sort, so a repeated item keeps its order), so
 * the loss of a chunk visits only its own entries. Rows in parallel, each
 * through its own part of the scratch. */
static void group_by_chunk(sten_ctx *ctx, nn_target *T, uint32_t B, uint32_t N)
{
    const uint64_t C = (N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK;
    sten_csr *t = &T->t;
    const int nt = sten__threads_for(ctx, (int64_t)(t->row_ptr[B] - t->row_ptr[0]), 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (uint32_t b = 0; b < B; b++) {
        uint64_t *cs = T->cstart + b * (C + 1);
        const uint64_t e0 = t->row_ptr[b], e1 = t->row_ptr[b + 1];
        memset(cs, 0, (C + 1) * sizeof *cs);
        for (uint64_t e = e0; e < e1; e++)
            cs[t->col[e] / STEN__GEMM_CHUNK + 1]++;
        cs[0] = e0;
        for (uint64_t c = 1; c <= C; c++)
            cs[c] += cs[c - 1];
        /* cs[c] is now where chunk c starts; place, then shift back */
        for (uint64_t e = e0; e < e1; e++) {
            const uint64_t to = cs[t->col[e] / STEN__GEMM_CHUNK]++;
            T->scol[to] = t->col[e];
            if (t->val)
                T->sval[to] = t->val[e];
        }
        memcpy(t->col + e0, T->scol + e0, (e1 - e0) * sizeof *t->col);
        if (t->val)
            memcpy(t->val + e0, T->sval + e0, (e1 - e0) * sizeof *t->val);
        for (uint64_t c = C; c > 0; c--)
            cs[c] = cs[c - 1];
        cs[0] = e0;
    }
}

enum { SMALL_SPARSE = 1 << 14 }; /* entries of a batch's sparse input loaded by one thread */

/* Sparse input layer i's rows of the batch, and in training their
 * transpose (the weight gradient's). */
static void load_sparse(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, uint32_t i,
                        const uint32_t *ids, uint32_t B, float p, uint64_t *end, bool training)
{
    const nn_layer *L = &net->layers[i];
    nn_buf *A = &ws->buf[i];
    gather_sparse(ctx, ws->lds[i], ids, B, &A->x, p, net->seed, net->epoch, true, L->normalize, end);
    if (training)
        A->rid ? sten__csr_transpose_compact(ctx, &A->x, &A->xt, A->rid, A->keys)
               : sten_csr_transpose(ctx, &A->x, &A->xt);
}

sten_status sten__net_load_batch(sten_ctx *ctx, const sten_net *net, sten_workspace *ws,
                                 const uint32_t *ids, uint32_t B, nn_mode mode)
{
    if (B == 0 || B > ws->B_cap)
        return sten_fail(ctx, STEN_E_INVALID, "batch of %u examples (capacity %u)", B, ws->B_cap);
    for (uint32_t b = 0; b < B; b++)
        if (ids[b] >= ws->examples)
            return sten_fail(ctx, STEN_E_INVALID, "example %u out of range (%llu examples)", ids[b],
                             (unsigned long long)ws->examples);
    /* the sparse buffers were sized for the B longest distinct rows: a batch
     * that repeats long rows could need more */
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        const sten_csr *to = L->sparse_in ? &ws->buf[i].x : ws->targets[i].dense || L->kind != STEN_LAYER_OUTPUT
                                                             ? NULL : &ws->targets[i].t;
        const sten_dataset *d = ws->lds[i];
        if (!d || !to || !(d->attributes & STEN_DS_SPARSE) ||
            (mode == NN_RANK && L->kind == STEN_LAYER_OUTPUT))
            continue;
        /* B of the longest row fit: no pass over the batch's rows (a DLRM
         * table's are one entry each, scattered over the dataset) */
        const nn_lens *len = &ws->lens[i];
        if (len->v && len->n && (uint64_t)B * len->v[0] <= to->cap)
            continue;
        uint64_t need = 0;
        for (uint32_t b = 0; b < B; b++) {
            const uint64_t row = sten__ds_row(d, ids[b]);
            need += d->sparse.row_ptr[row + 1] - d->sparse.row_ptr[row];
        }
        if (need > to->cap)
            return sten_fail(ctx, STEN_E_INVALID,
                             "batch of %u examples has %llu non-zeros in \"%s\", more than the %llu "
                             "the network was sized for (are examples repeated?)",
                             B, (unsigned long long)need, d->name, (unsigned long long)to->cap);
    }
    memcpy(ws->batch_ids, ids, (size_t)B * sizeof *ids);
    ws->B = B;
    ws->mode = mode;
    const bool training = mode == NN_TRAIN;
    /* several small sparse inputs without denoising (DLRM's tables: a
     * batch's 2,048 entries each) go one per thread at a time, where each in
     * turn would run alone on one thread while the others wait; each comes
     * out the same either way */
    uint32_t n_small = 0;
    bool all_small = true;
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (ws->lds[i] && net->layers[i].kind == STEN_LAYER_INPUT && net->layers[i].sparse_in) {
            n_small++;
            all_small &= ws->buf[i].x.cap <= SMALL_SPARSE && !(net->layers[i].denoise && training);
        }
    const bool together = all_small && n_small >= 2 && sten_ctx_threads(ctx) > 1;
    if (together) {
#pragma omp parallel for num_threads(STEN__MIN(sten_ctx_threads(ctx), (int)n_small)) schedule(dynamic, 1)
        for (uint32_t i = 0; i < net->n_layers; i++)
            if (ws->lds[i] && net->layers[i].kind == STEN_LAYER_INPUT && net->layers[i].sparse_in)
                load_sparse(ctx, net, ws, i, ids, B, 0.0f, NULL, training);
    }
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        const sten_dataset *d = ws->lds[i];
        if (!d)
            continue;
        if (L->kind == STEN_LAYER_INPUT) {
            if (L->sparse_in && !together) {
                const float p = L->denoise && training ? net->desc.denoising_p : 0.0f;
                load_sparse(ctx, net, ws, i, ids, B, p, ws->row_end, training);
            } else if (!L->sparse_in) {
                gather_dense(d, ids, B, ws->buf[i].act, L->N);
            }
        } else if (L->kind == STEN_LAYER_OUTPUT && mode != NN_RANK) {
            /* (ranking takes no loss: its targets are never read) */
            nn_target *T = &ws->targets[i];
            if (T->dense)
                gather_dense(d, ids, B, T->dense, L->N);
            else
                gather_sparse(ctx, d, ids, B, &T->t, 0.0f, 0, 0, false, false, ws->row_end);
            if (T->cstart)
                group_by_chunk(ctx, T, B, L->N);
            if (T->weight)
                for (uint32_t b = 0; b < B; b++)
                    T->weight[b] = d->weight[ids[b]];
        }
    }
    return STEN_OK;
}

/* DSSTNE's dropout: a unit is dropped when its draw is < p. Dropped units
 * take the activation's resting value (0.5 for Sigmoid, 0 otherwise) and kept
 * ones are scaled by 1/(1-p) unless that value is non-zero; ELU/SELU use
 * alpha dropout. mask holds d(out)/d(act): the kept scale, or 0 if dropped. */
static void dropout(const sten_net *net, uint32_t li, const nn_layer *L, nn_buf *A, uint32_t B)
{
    const float p = L->p_dropout;
    const uint64_t n = (uint64_t)B * L->N;
    sten_rng r;
    sten_rng_init(&r, net->seed ^ 0x64726f706f7574ull, net->step * net->n_layers + li);
    float keep_scale = 1.0f / (1.0f - p), rest = 0.0f, shift = 0.0f;
    if (L->fn == STEN_ACT_SIGMOID) {
        keep_scale = 1.0f;
        rest = 0.5f;
    } else if (L->fn == STEN_ACT_ELU || L->fn == STEN_ACT_SELU) {
        const float lam = L->fn == STEN_ACT_SELU ? L->ap.lambda : 1.0f;
        const float a1 = -lam * L->ap.alpha, q = 1.0f - p;
        const float an = 1.0f / sqrtf(q + a1 * a1 * p * q);
        keep_scale = an;
        shift = -an * p * a1;
        rest = an * a1 + shift;
    }
    for (uint64_t e = 0; e < n; e++) {
        const bool kept = sten_rng_uniform(&r) >= p;
        A->mask[e] = kept ? keep_scale : 0.0f;
        A->out[e] = kept ? keep_scale * A->act[e] + shift : rest;
    }
}

/* Activations that keep the order of their inputs strictly: top-K over z
 * picks the same items as over f(z). */
bool sten__act_increasing(const nn_layer *L)
{
    switch (L->fn) {
    case STEN_ACT_SIGMOID:
    case STEN_ACT_TANH:
    case STEN_ACT_LINEAR:
    case STEN_ACT_SOFTPLUS:
    case STEN_ACT_SOFTSIGN:
    case STEN_ACT_ELU:
    case STEN_ACT_SELU:
        return true;
    case STEN_ACT_LEAKYRELU:
        return L->ap.slope > 0.0f;
    default:
        return false;
    }
}

/* Runs of Embedding layers in the forward order (DLRM's 26 tables): their
 * lookups (forward) and gradients (backward) go one table a thread,
 * together, where each in turn split its batch rows over the threads and
 * the threads met after every table. Each table's output and gradient is
 * its own either way: the same values. emb_joins: the layer at order
 * position o can be in such a run; emb_together: a run of n goes so. */
static bool emb_joins(const sten_net *net, const sten_workspace *ws, uint32_t o)
{
    const nn_layer *L = &net->layers[net->order[o]];
    return L->ops->type == STEN_LAYER_EMBEDDING && !L->group_sum && !L->group_delta && L->sp_beta <= 0.0f &&
           L->d->delta_norm <= 0.0f && !ws->buf[net->order[o]].mask;
}

static bool emb_together(sten_ctx *ctx, const sten_net *net, uint32_t n)
{
    return n >= 2 && sten_ctx_threads(ctx) > 1 && !net->comm;
}

void sten__net_forward(sten_ctx *ctx, const sten_net *net, sten_workspace *ws)
{
    ws->fwd_st = STEN_OK;
    for (uint32_t o = 0; o < net->n_layers; o++) {
        const uint32_t i = net->order[o];
        nn_layer *L = &net->layers[i];
        nn_buf *A = &ws->buf[i];
        if (L->kind == STEN_LAYER_TARGET || L->sparse_in)
            continue;
        uint32_t end = o;
        while (end < net->n_layers && emb_joins(net, ws, end))
            end++;
        if (emb_together(ctx, net, end - o)) {
#pragma omp parallel for num_threads(STEN__MIN(sten_ctx_threads(ctx), (int)(end - o))) schedule(dynamic, 1)
            for (uint32_t q = o; q < end; q++)
                net->layers[net->order[q]].ops->forward(ctx, net, ws, &net->layers[net->order[q]]);
            o = end - 1;
            continue;
        }
        if (L->kind != STEN_LAYER_INPUT)
            L->ops->forward(ctx, net, ws, L);
        if (A->mask) {
            if (ws->mode == NN_TRAIN)
                dropout(net, i, L, A, ws->B);
            else
                memcpy(A->out, A->act, (size_t)ws->B * L->N * sizeof *A->out);
        }
    }
}

void sten__net_loss(sten_ctx *ctx, const sten_net *net, sten_workspace *ws)
{
    double loss = 0.0, reg = 0.0;
    const uint32_t B = ws->B;
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        if (L->kind == STEN_LAYER_OUTPUT)
            loss += sten__loss_layer(ctx, net, ws, L, &ws->targets[i], B);
        else if (L->ops->objective && ws->mode == NN_TRAIN)
            loss += L->ops->objective(net, ws, L);
    }
    /* the sparseness penalty as an objective: B * beta * KL(p || rho_j) per
     * unit, whose gradient is what backward adds (DSSTNE reported none) */
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        if (L->sp_beta <= 0.0f)
            continue;
        const float *act = ws->buf[i].act;
        for (uint32_t j = 0; j < L->N; j++) {
            double rho = 0.0;
            for (uint32_t b = 0; b < B; b++)
                rho += act[(uint64_t)b * L->N + j];
            rho = fmin(fmax(rho / B, 1e-6), 0.999999);
            const double p = L->sp_p;
            reg += B * L->sp_beta * (p * log(p / rho) + (1 - p) * log((1 - p) / (1 - rho)));
        }
    }
    ws->loss = loss;
    ws->reg = reg;
}

/* dL/d(out) -> dL/dz for a hidden layer: dropout mask, sparseness
 * penalty (added to the incoming delta, as DSSTNE), activation derivative. */
static void hidden_delta(sten_ctx *ctx, const nn_layer *L, nn_buf *A, uint32_t B, bool fused_act)
{
    const uint32_t N = L->N;
    const uint64_t n = (uint64_t)B * N;
    if (A->mask)
        for (uint64_t e = 0; e < n; e++)
            A->delta[e] *= A->mask[e];
    if (L->sp_beta > 0.0f) {
        /* in blocks of 256 units, rows walked in order: each unit's mean
         * activation summed over b ascending */
        const float p = L->sp_p, beta = L->sp_beta;
        for (uint32_t j0 = 0; j0 < N; j0 += 256) {
            const uint32_t m = STEN__MIN(256u, N - j0);
            double rho[256] = {0};
            float pen[256];
            for (uint32_t b = 0; b < B; b++) {
                const float *a = A->act + (uint64_t)b * N + j0;
                for (uint32_t j = 0; j < m; j++)
                    rho[j] += a[j];
            }
            for (uint32_t j = 0; j < m; j++) {
                const double r = fmin(fmax(rho[j] / B, 1e-6), 0.999999);
                pen[j] = (float)(beta * (-p / r + (1.0 - p) / (1.0 - r)));
            }
            for (uint32_t b = 0; b < B; b++) {
                float *d = A->delta + (uint64_t)b * N + j0;
                for (uint32_t j = 0; j < m; j++)
                    d[j] += pen[j];
            }
        }
    }
    if (!fused_act)
        sten_act_backward(ctx, L->fn, &L->ap, A->act, A->delta, A->delta, B, N, N);
}

static void delta_norm(const nn_layer *L, nn_buf *A, uint32_t B)
{
    const float c = L->d->delta_norm;
    if (c <= 0.0f)
        return;
    for (uint32_t b = 0; b < B; b++) {
        float *d = A->delta + (uint64_t)b * L->N;
        double ss = 0.0;
        for (uint32_t j = 0; j < L->N; j++)
            ss += (double)d[j] * d[j];
        if (ss > (double)c * c) {
            const float f = (float)(c / sqrt(ss));
            for (uint32_t j = 0; j < L->N; j++)
                d[j] *= f;
        }
    }
}

/* W <- scale * W, scale <- 1. */
void sten__weight_settle(sten_ctx *ctx, nn_weight *w)
{
    if (w->scale == 1.0f)
        return;
    const int64_t n = (int64_t)w->rows * w->cols;
    const int nt = sten__threads_for(ctx, n, 1 << 16);
    float *W = w->W;
    const float s = w->scale;
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++)
        W[i] *= s;
    w->scale = 1.0f;
}

void sten__net_settle(sten_ctx *ctx, sten_net *net)
{
    for (uint32_t k = 0; k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        if (w->owner == (int)k && w->scale != 1.0f) {
            sten__weight_settle(ctx, w);
            sten__net_changed(net);
        }
    }
}

void sten__net_backward(sten_ctx *ctx, sten_net *net, sten_workspace *ws)
{
    sten__net_backward_fused(ctx, net, ws, NULL);
}

/* Whether hidden layer li's one reader is a fully connected layer that
 * reads it through one unshared, untransposed weight and propagates its
 * delta by a plain product (not the fused SGD sweep): that product can
 * write li's delta whole (beta 0) instead of adding into zeros. */
static bool sole_fc_reader(const sten_net *net, uint32_t li, const nn_fuse *fz)
{
    const nn_layer *reader = NULL;
    for (uint32_t j = 0; j < net->n_layers; j++) {
        bool skip;
        const uint32_t n = sten__reads(&net->layers[j], li, &skip);
        if (skip || (n && (reader || n > 1)))
            return false;
        if (n)
            reader = &net->layers[j];
    }
    if (!reader || reader->ops != &sten__layer_fully_connected || reader->n_in != 1 || reader->group_delta ||
        reader->sharded)
        return false;
    const nn_weight *w = &net->weights[reader->in[0]];
    const nn_weight *o = &net->weights[w->owner];
    return w->src == li && w->owner == (int)reader->in[0] && !w->transposed && !(fz && o->fusable);
}

/* The hidden layers' deltas zeroed (their readers' backward passes add
 * into them), the floats of all of them taken as one range split over the
 * threads: DLRM's at batch 2,048 are 20 MB a step, which one thread zeroed
 * while the other waited. A layer whose one reader writes its delta whole
 * (sole_fc_reader) is skipped: DLRM's MLP layers and interaction, 80% of
 * those bytes. */
static void zero_deltas(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const nn_fuse *fz)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < net->n_layers; i++) {
        nn_buf *A = &ws->buf[i];
        A->delta_set = net->layers[i].kind == STEN_LAYER_HIDDEN && !net->comm && sole_fc_reader(net, i, fz);
        if (net->layers[i].kind == STEN_LAYER_HIDDEN && !A->delta_set)
            total += (uint64_t)ws->B * net->layers[i].N;
    }
    const int nt = sten__threads_for(ctx, (int64_t)total, 1 << 18);
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
#else
        const int t = 0, n = 1;
#endif
        const uint64_t lo = total * (uint64_t)t / (uint64_t)n, hi = total * (uint64_t)(t + 1) / (uint64_t)n;
        uint64_t at = 0; /* where layer i's floats start in the range */
        for (uint32_t i = 0; i < net->n_layers && at < hi; i++) {
            if (net->layers[i].kind != STEN_LAYER_HIDDEN || ws->buf[i].delta_set)
                continue;
            const uint64_t n_i = (uint64_t)ws->B * net->layers[i].N;
            const uint64_t a = STEN__MAX(lo, at), b = STEN__MIN(hi, at + n_i);
            if (a < b)
                memset(ws->buf[i].delta + (a - at), 0, (size_t)(b - a) * sizeof(float));
            at += n_i;
        }
    }
}

void sten__net_backward_fused(sten_ctx *ctx, sten_net *net, sten_workspace *ws, const nn_fuse *fz)
{
    zero_deltas(ctx, net, ws, fz);
    for (uint32_t k = 0; k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        if (!w->gb_done)
            memset(w->gb, 0, (size_t)net->layers[w->dst].N * sizeof *w->gb);
        w->g_fresh = true;
    }
    for (uint32_t o = net->n_layers; o-- > 0;) {
        nn_layer *L = &net->layers[net->order[o]];
        nn_buf *A = &ws->buf[net->order[o]];
        if (L->kind != STEN_LAYER_HIDDEN && L->kind != STEN_LAYER_OUTPUT)
            continue;
        /* a run of tables, entered here at its end (walking back) */
        uint32_t start = o + 1;
        while (start > 0 && emb_joins(net, ws, start - 1))
            start--;
        if (emb_together(ctx, net, o + 1 - start)) {
#pragma omp parallel for num_threads(STEN__MIN(sten_ctx_threads(ctx), (int)(o + 1 - start))) schedule(dynamic, 1)
            for (uint32_t q = start; q <= o; q++) {
                nn_layer *E = &net->layers[net->order[q]];
                hidden_delta(ctx, E, &ws->buf[net->order[q]], ws->B, false);
                E->ops->backward(ctx, net, ws, E, fz);
            }
            o = start;
            continue;
        }
        if (L->group_delta) { /* its consumers are split: each gave its items' share */
            const sten_status st = sten__group_sum(net, A->delta, (uint64_t)ws->B * L->N);
            if (st && !ws->fwd_st)
                ws->fwd_st = st;
        }
        if (L->kind == STEN_LAYER_HIDDEN)
            hidden_delta(ctx, L, A, ws->B, sten__fc_delta_fused(net, ws, L));
        delta_norm(L, A, ws->B);
        L->ops->backward(ctx, net, ws, L, fz);
    }
    for (uint32_t k = 0; k < net->n_weights; k++)
        net->weights[k].gb_done = false; /* the next forward decides again */
    for (uint32_t i = 0; i < net->n_layers; i++)
        ws->buf[i].db_ok = false;
    /* fused updates have changed weights; the optimizer step changes the
     * rest next: from here on, the weights are the next version */
    sten__net_changed(net);
    /* a weight whose users all saw an empty batch still has a defined zero gradient */
    for (uint32_t k = 0; k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        if (w->owner == (int)k && w->g_fresh && !w->fused && w->gW)
            memset(w->gW, 0, (size_t)w->rows * w->cols * sizeof *w->gW);
    }
}
