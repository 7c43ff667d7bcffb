/* forward.c — one mini-batch through a built network: gather the batch from
 * the datasets (with denoising), forward pass with dropout, loss, and
 * back-propagation into the weight and bias gradients. No weight updates
 * here (optim.c) and no epoch logic (train.c). */
#include "net_int.h"

#include <math.h>
#include <string.h>

/* Copies the rows of `ids` from a sparse dataset into x. With denoising,
 * each stored non-zero e of the dataset survives iff its uniform draw
 * (seed, stream = epoch, position = e) is >= p, and survivors get value
 * 1/(1-p): the same draws in any batch order or thread count. */
/* The batch's rows of a sparse dataset into x, dropping each entry with
 * probability p (denoising; survivors scaled by 1/(1-p)): entry k of the
 * dataset is decided by draw k of the (seed, epoch) stream, so the result
 * does not depend on the batch's order or the thread count. Rows are filled
 * in parallel at provisional offsets (their full lengths), then moved down
 * over what denoising dropped. The caller has checked x->cap. */
static void gather_sparse(sten_ctx *ctx, const sten_dataset *d, const uint32_t *ids, uint32_t B,
                          sten_csr *x, float p, uint64_t seed, uint32_t epoch, bool use_weight,
                          uint64_t *end)
{
    const sten_csr *s = &d->sparse;
    const float q = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    /* provisional starts: the full lengths, in row_ptr[1..B] for now */
    uint64_t at = 0;
    for (uint32_t b = 0; b < B; b++) {
        const uint64_t row = d->index ? d->index[ids[b]] : ids[b];
        x->row_ptr[b] = at;
        at += s->row_ptr[row + 1] - s->row_ptr[row];
    }
    x->row_ptr[B] = at;
    const int nt = sten__threads_for(ctx, (int64_t)at, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4) /* rows' lengths vary widely */
    for (uint32_t b = 0; b < B; b++) {
        const uint64_t row = d->index ? d->index[ids[b]] : ids[b];
        const float w = use_weight && d->weight ? d->weight[ids[b]] : 1.0f;
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
        end[b] = e;
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
        const uint64_t row = d->index ? d->index[ids[b]] : ids[b];
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

sten_status sten__net_load_batch(sten_ctx *ctx, sten_net *net, const uint32_t *ids, uint32_t B)
{
    if (B == 0 || B > net->B_cap)
        return sten_fail(ctx, STEN_E_INVALID, "batch of %u examples (capacity %u)", B, net->B_cap);
    for (uint32_t b = 0; b < B; b++)
        if (ids[b] >= net->examples)
            return sten_fail(ctx, STEN_E_INVALID, "example %u out of range (%llu examples)", ids[b],
                             (unsigned long long)net->examples);
    /* the sparse buffers were sized for the B longest distinct rows: a batch
     * that repeats long rows could need more */
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        const sten_csr *to = L->sparse_in ? &L->x : net->targets[i].dense || L->kind != STEN_LAYER_OUTPUT
                                                      ? NULL : &net->targets[i].t;
        if (L->ds < 0 || !to || !(net->ds[L->ds].attributes & STEN_DS_SPARSE))
            continue;
        const sten_dataset *d = &net->ds[L->ds];
        uint64_t need = 0;
        for (uint32_t b = 0; b < B; b++) {
            const uint64_t row = d->index ? d->index[ids[b]] : ids[b];
            need += d->sparse.row_ptr[row + 1] - d->sparse.row_ptr[row];
        }
        if (need > to->cap)
            return sten_fail(ctx, STEN_E_INVALID,
                             "batch of %u examples has %llu non-zeros in \"%s\", more than the %llu "
                             "the network was sized for (are examples repeated?)",
                             B, (unsigned long long)need, d->name, (unsigned long long)to->cap);
    }
    memcpy(net->batch_ids, ids, (size_t)B * sizeof *ids);
    net->B = B;
    for (uint32_t i = 0; i < net->n_layers; i++) {
        nn_layer *L = &net->layers[i];
        if (L->ds < 0)
            continue;
        const sten_dataset *d = &net->ds[L->ds];
        if (L->kind == STEN_LAYER_INPUT) {
            if (L->sparse_in) {
                const float p = L->denoise && net->training ? net->desc.denoising_p : 0.0f;
                gather_sparse(ctx, d, ids, B, &L->x, p, net->seed, net->epoch, true, net->row_end);
                if (net->training) /* the transpose serves the weight gradient only */
                    sten_csr_transpose(ctx, &L->x, &L->xt);
            } else {
                gather_dense(d, ids, B, L->act, L->N);
            }
        } else if (L->kind == STEN_LAYER_OUTPUT) {
            nn_target *T = &net->targets[i];
            if (T->dense)
                gather_dense(d, ids, B, T->dense, L->N);
            else
                gather_sparse(ctx, d, ids, B, &T->t, 0.0f, 0, 0, false, net->row_end);
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
static void dropout(const sten_net *net, uint32_t li, nn_layer *L, uint32_t B)
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
        const float A = 1.0f / sqrtf(q + a1 * a1 * p * q);
        keep_scale = A;
        shift = -A * p * a1;
        rest = A * a1 + shift;
    }
    for (uint64_t e = 0; e < n; e++) {
        const bool kept = sten_rng_uniform(&r) >= p;
        L->mask[e] = kept ? keep_scale : 0.0f;
        L->out[e] = kept ? keep_scale * L->act[e] + shift : rest;
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

/* What the fused loss needs on each chunk of the output product. */
typedef struct {
    const sten_net *net;
    const nn_layer *L;
    nn_target *T;
    float *gb; /* bias gradient summed here too, or NULL */
} loss_chunk_arg;

/* bf16 precision: the chunk's delta (row b's column j at c[b*ldc + j-j0])
 * rounded into the layer's bf16 delta, for the products. */
static void round_delta_chunk(const nn_layer *L, uint32_t B, int64_t j0, int64_t j1, const float *c,
                              int64_t ldc)
{
    for (uint32_t b = 0; b < B; b++)
        sten__to_bf16_row(L->delta_b + (uint64_t)b * L->N + j0, c + (int64_t)b * ldc, j1 - j0);
}

static void loss_chunk(void *arg, int64_t chunk, int64_t j0, int64_t j1, float *c, int64_t ldc)
{
    const loss_chunk_arg *a = arg;
    sten__loss_chunk(a->net, a->L, a->T, chunk, (uint32_t)j0, (uint32_t)j1, c, ldc, a->gb);
    if (a->net->bf16 && a->L->delta_b)
        round_delta_chunk(a->L, a->net->B, j0, j1, c, ldc);
}

const nn_weight *sten__single_dense_in(const sten_net *net, const nn_layer *L)
{
    if (L->n_in != 1 || L->n_skip != 0 || L->mask || L->fmV || L->kind == STEN_LAYER_INPUT)
        return NULL;
    const nn_weight *w = &net->weights[L->in[0]];
    if (net->layers[w->src].sparse_in || w->transposed)
        return NULL;
    return w;
}

/* Screening: per row, the bound on |fp32 score - bf16 score| of
 * sten__topk_begin_screen, rad[b] * ||W_j|| + rel * |s| + abs[b]: both
 * products' inputs are exact or rounded to bf16 (relative 2^-9 each), each
 * sum of K products rounds at most K (fp32, FMA chain) or 2K (bf16) times,
 * so |difference| <= (2^-8 + 2^-18 + g_K + g_2K (1 + 2^-8)) sum_k |h_k W_kj|
 * <= that * ||h|| ||W_j|| (Cauchy-Schwarz), plus the two bias additions'
 * rounding (rel, 4 ulp of |s| with the computation's own rounding), plus
 * what vdpbf16ps's flushing of subnormal inputs and sums can lose (abs:
 * under 2^-126 max(|h|, |W|, 1) per step). 1% spare. */
static void screen_bounds(sten_net *net, const nn_layer *S, const nn_weight *o, uint32_t K)
{
    float *rad, *abs_;
    sten__topk_screen_rows(net->topk, &rad, &abs_);
    const double u = 0x1p-24, gk = K * u / (1 - K * u), g2k = 2 * K * u / (1 - 2 * K * u);
    const double c1 = (0x1p-8 + 0x1p-18 + gk + g2k * (1 + 0x1p-8 + 0x1p-18)) * 1.01;
    for (uint32_t b = 0; b < net->B; b++) {
        const float *h = S->out + (uint64_t)b * S->N;
        double ss = 0.0, hmax = 0.0;
        for (uint32_t k = 0; k < K; k++) {
            ss += (double)h[k] * h[k];
            hmax = fmax(hmax, fabs((double)h[k]));
        }
        const double r = c1 * sqrt(ss) * (1 + 1e-6);
        /* non-finite activations: rad = inf, the row is rescored whole */
        rad[b] = isfinite(r) && isfinite(hmax) ? (float)r : INFINITY;
        abs_[b] = (float)(2.0 * K * 0x1p-126 * (hmax + o->wmax + 2.0) + 1e-30);
    }
}

static void topk_chunk(void *arg, int64_t chunk, int64_t j0, int64_t j1, float *c, int64_t ldc)
{
    sten__topk_chunk(arg, chunk, j0, j1, c, ldc);
}

/* A layer fed by one dense product (sten__single_dense_in): z computed in
 * column chunks with the bias added inside the product, and consumed chunk
 * by chunk while in cache where a consumer applies:
 *  - a Sigmoid output trained with a cross-entropy loss on sparse targets:
 *    loss and delta (written over z);
 *  - the output layer of sten_net_recommend: top-K, and z is never stored.
 * Returns false when the layer is not of this form. */
static bool forward_chunked(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    const nn_weight *cw = sten__single_dense_in(net, L);
    if (!cw)
        return false;
    nn_weight *w = &net->weights[L->in[0]];
    const nn_layer *S = &net->layers[w->src];
    const uint32_t B = net->B, N = L->N;
    /* bf16 precision: W's rounded copy, refreshed if anything else wrote W */
    const nn_weight *o = &net->weights[w->owner];
    const bool screen = net->screen && net->topk && L->kind == STEN_LAYER_OUTPUT && o->Wb;
    const bool bf = (net->bf16 || screen) && o->Wb;
    nn_weight *ow = &net->weights[w->owner];
    if (bf && !o->wb_ok) {
        sten__to_bf16(ctx, ow->Wb, ow->W, (int64_t)ow->rows * ow->cols);
        ow->wb_ok = true;
        ow->wbp_ok = false;
    }
    /* inference: the weights stay put, so their strips are packed once */
    const bool packed = bf && !net->training && ow->Wbp;
    if (packed && !ow->wbp_ok) {
        sten__bgemm_pack(ctx, S->N, N, ow->Wb, N, ow->Wbp);
        ow->wbp_ok = true;
    }
    sten_chunk_fn fn = NULL;
    void *arg = NULL;
    float *C = L->act;
    loss_chunk_arg la;
    if (net->training && L->fuse_loss) {
        /* the bias gradient too, unless DeltaNorm rescales the delta later */
        w->gb_done = L->d->delta_norm <= 0.0f;
        if (w->gb_done)
            memset(w->gb, 0, (size_t)N * sizeof *w->gb);
        la = (loss_chunk_arg){net, L, &net->targets[L - net->layers], w->gb_done ? w->gb : NULL};
        fn = loss_chunk, arg = &la;
        L->loss_fused = true;
        L->db_ok = bf && L->delta_b && L->d->delta_norm <= 0.0f;
    } else if (net->topk && L->kind == STEN_LAYER_OUTPUT) {
        fn = topk_chunk, arg = net->topk;
        C = NULL; /* never stored */
        if (screen)
            screen_bounds(net, S, o, S->N);
    }
    sten_status st = packed ? sten__bgemm_chunks_packed(ctx, B, N, S->N, S->out, S->N, ow->Wbp, C, N,
                                                        w->b, fn, arg)
                     : bf ? sten__bgemm_chunks(ctx, STEN_NO_TRANS, B, N, S->N, 1.0f, S->out, S->N,
                                             o->Wb, N, 0.0f, C, N, NULL, 0, w->b, fn, arg)
                        : sten__gemm_chunks(ctx, B, N, S->N, 1.0f, S->out, S->N, w->W, N, 0.0f, C,
                                            N, w->b, fn, arg);
    if (st && !net->fwd_st)
        net->fwd_st = st; /* only when a scratch buffer could not be had */
    if (fn) {
        L->act_deferred = true;
        return true;
    }
    L->act_deferred = net->rank_only && L->kind == STEN_LAYER_OUTPUT && sten__act_increasing(L);
    if (!L->act_deferred)
        sten_act_forward(ctx, L->fn, &L->ap, L->act, L->act, B, N, N);
    return true;
}

/* z = sum of biases + sum over sources of (input x W) + skips, then the
 * activation; a layer fed by one dense product goes through forward_chunked.
 * The biases are laid down first so every product accumulates (beta = 1) and
 * no separate pass adds them. */
static void forward_layer(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    const uint32_t B = net->B, N = L->N;
    float *z = L->act;
    L->loss_fused = false;
    if (forward_chunked(ctx, net, L))
        return;
    memset(z, 0, (size_t)N * sizeof *z);
    for (uint32_t k = 0; k < L->n_in; k++) {
        const float *bias = net->weights[L->in[k]].b;
        for (uint32_t j = 0; j < N; j++)
            z[j] += bias[j];
    }
    for (uint32_t b = 1; b < B; b++)
        memcpy(z + (uint64_t)b * N, z, (size_t)N * sizeof *z);
    for (uint32_t k = 0; k < L->n_in; k++) {
        const nn_weight *w = &net->weights[L->in[k]];
        const nn_layer *S = &net->layers[w->src];
        if (S->sparse_in)
            sten__spmm_scaled(ctx, &S->x, w->W, N, N, net->weights[w->owner].scale, 1.0f, z, N);
        else if (w->transposed)
            sten_gemm(ctx, STEN_NO_TRANS, STEN_TRANS, B, N, S->N, 1.0f, S->out, S->N, w->W,
                      w->cols, 1.0f, z, N);
        else
            sten_gemm(ctx, STEN_NO_TRANS, STEN_NO_TRANS, B, N, S->N, 1.0f, S->out, S->N, w->W,
                      N, 1.0f, z, N);
    }
    for (uint32_t k = 0; k < L->n_skip; k++) {
        const float *s = net->layers[L->skip[k]].out;
        for (uint64_t e = 0; e < (uint64_t)B * N; e++)
            z[e] += s[e];
    }
    /* a Sigmoid output trained with a cross-entropy loss on sparse targets
     * gets its activation inside the loss pass, saving two passes over B x N */
    L->act_deferred = (net->training && L->fuse_loss) ||
                      (net->rank_only && L->kind == STEN_LAYER_OUTPUT && sten__act_increasing(L));
    if (!L->act_deferred)
        sten_act_forward(ctx, L->fn, &L->ap, z, z, B, N, N);
}

void sten__net_forward(sten_ctx *ctx, sten_net *net)
{
    net->fwd_st = STEN_OK;
    for (uint32_t o = 0; o < net->n_layers; o++) {
        const uint32_t i = net->order[o];
        nn_layer *L = &net->layers[i];
        if (L->kind == STEN_LAYER_TARGET || L->sparse_in)
            continue;
        if (L->fmV)
            sten__fm_forward(ctx, net, L);
        else if (L->kind != STEN_LAYER_INPUT)
            forward_layer(ctx, net, L);
        if (L->mask) {
            if (net->training)
                dropout(net, i, L, net->B);
            else
                memcpy(L->out, L->act, (size_t)net->B * L->N * sizeof *L->out);
        }
    }
}

void sten__net_loss(sten_ctx *ctx, sten_net *net)
{
    double loss = 0.0, reg = 0.0;
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        if (L->kind == STEN_LAYER_OUTPUT)
            loss += sten__loss_layer(ctx, net, L, &net->targets[i], net->B);
    }
    /* the sparseness penalty as an objective: B * beta * KL(p || rho_j) per
     * unit, whose gradient is what backward adds (DSSTNE reported none) */
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        if (L->sp_beta <= 0.0f)
            continue;
        for (uint32_t j = 0; j < L->N; j++) {
            double rho = 0.0;
            for (uint32_t b = 0; b < net->B; b++)
                rho += L->act[(uint64_t)b * L->N + j];
            rho = fmin(fmax(rho / net->B, 1e-6), 0.999999);
            const double p = L->sp_p;
            reg += net->B * L->sp_beta * (p * log(p / rho) + (1 - p) * log((1 - p) / (1 - rho)));
        }
    }
    net->loss = loss;
    net->reg = reg;
}

/* dL/d(out) -> dL/dz for a hidden layer: dropout mask, sparseness
 * penalty (added to the incoming delta, as DSSTNE), activation derivative. */
static void hidden_delta(sten_ctx *ctx, const sten_net *net, nn_layer *L)
{
    const uint32_t B = net->B, N = L->N;
    const uint64_t n = (uint64_t)B * N;
    if (L->mask)
        for (uint64_t e = 0; e < n; e++)
            L->delta[e] *= L->mask[e];
    if (L->sp_beta > 0.0f) {
        /* in blocks of 256 units, rows walked in order: each unit's mean
         * activation summed over b ascending */
        const float p = L->sp_p, beta = L->sp_beta;
        for (uint32_t j0 = 0; j0 < N; j0 += 256) {
            const uint32_t m = STEN__MIN(256u, N - j0);
            double rho[256] = {0};
            float pen[256];
            for (uint32_t b = 0; b < B; b++) {
                const float *a = L->act + (uint64_t)b * N + j0;
                for (uint32_t j = 0; j < m; j++)
                    rho[j] += a[j];
            }
            for (uint32_t j = 0; j < m; j++) {
                const double r = fmin(fmax(rho[j] / B, 1e-6), 0.999999);
                pen[j] = (float)(beta * (-p / r + (1.0 - p) / (1.0 - r)));
            }
            for (uint32_t b = 0; b < B; b++) {
                float *d = L->delta + (uint64_t)b * N + j0;
                for (uint32_t j = 0; j < m; j++)
                    d[j] += pen[j];
            }
        }
    }
    sten_act_backward(ctx, L->fn, &L->ap, L->act, L->delta, L->delta, B, N, N);
}

static void delta_norm(const nn_layer *L, uint32_t B)
{
    const float c = L->d->delta_norm;
    if (c <= 0.0f)
        return;
    for (uint32_t b = 0; b < B; b++) {
        float *d = L->delta + (uint64_t)b * L->N;
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
static void settle_one(sten_ctx *ctx, nn_weight *w)
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
    for (uint32_t k = 0; k < net->n_weights; k++)
        if (net->weights[k].owner == (int)k)
            settle_one(ctx, &net->weights[k]);
}

/* SGD's coefficients for a batch of B: W <- decay W + step (sum of the
 * examples' gradients). */
static float sgd_decay(const nn_fuse *fz)
{
    return 1.0f - fz->alpha * fz->lambda;
}

static float sgd_step(const nn_fuse *fz, uint32_t B)
{
    return -fz->alpha / (float)B;
}

/* After a fused update: the serving data and packed copies are stale (the
 * bf16 product keeps Wb fresh itself), and W was updated in place. */
static void fused_marks(nn_weight *w)
{
    w->scr_ok = false;
    w->wbp_ok = false;
    w->fused = true;
}

/* W <- (1 - alpha lambda) W - alpha/B * S^T delta, the product written into
 * W itself: SGD without a gradient buffer. bf: the bf16 product, which also
 * refreshes W's rounded copy. */
static void fused_update(sten_ctx *ctx, const sten_net *net, const nn_layer *L, const nn_layer *S,
                         nn_weight *w, const nn_fuse *fz, bool bf)
{
    const uint32_t B = net->B, N = L->N;
    const float decay = sgd_decay(fz), step = sgd_step(fz, B);
    if (S->sparse_in) {
        /* decay every row without touching them: the true W is scale * W,
         * so W += step/scale' * grad on the rows present; folded back into
         * W when the scale gets small, and at the end of every epoch */
        w->scale *= decay;
        if (w->scale < 0x1p-8f)
            settle_one(ctx, w);
        sten_spmm_grad(ctx, &S->xt, L->delta, N, N, step / w->scale, w->W, N);
    } else if (!bf || sten__bgemm_chunks(ctx, STEN_TRANS, S->N, N, B, step, S->out, S->N, L->delta_b,
                                         N, decay, w->W, N, w->Wb, N, NULL, NULL, NULL)) {
        /* fp32, or bf16 without room for its packed operand */
        sten_gemm(ctx, STEN_TRANS, STEN_NO_TRANS, S->N, N, B, step, S->out, S->N, L->delta, N, decay,
                  w->W, N);
        sten__w_changed(w);
    }
    fused_marks(w);
}

/* fp32 SGD on a dense hidden source with the propagation into it, in one
 * sweep over the delta (sten__gemm_out_backward); false where the sweep
 * does not apply or declines: the caller takes the two products apart. */
static bool sweep_update(sten_ctx *ctx, const sten_net *net, const nn_layer *L, nn_layer *S,
                         nn_weight *w, const nn_fuse *fz, bool bf)
{
    if (bf || S->kind == STEN_LAYER_INPUT || S->sparse_in || w->scale != 1.0f ||
        sten__gemm_out_backward(ctx, net->B, L->N, S->N, S->out, S->N, L->delta, L->N,
                                sgd_step(fz, net->B), sgd_decay(fz), w->W, L->N, S->delta, S->N))
        return false;
    sten__w_changed(w);
    fused_marks(w);
    return true;
}

/* gb[j] += sum over rows of delta[b][j]: columns split between threads,
 * each column summed in row order (the same result for any thread count). */
static void bias_grad(sten_ctx *ctx, float *gb, const float *delta, uint32_t B, uint32_t N)
{
    const int64_t blk = 1024, nblk = ((int64_t)N + blk - 1) / blk;
    const int nt = sten__threads_for(ctx, (int64_t)B * N, 1 << 16);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t k = 0; k < nblk; k++) {
        const uint32_t j0 = (uint32_t)(k * blk), j1 = (uint32_t)STEN__MIN((int64_t)N, (k + 1) * blk);
        for (uint32_t b = 0; b < B; b++) {
            const float *d = delta + (uint64_t)b * N;
            for (uint32_t j = j0; j < j1; j++)
                gb[j] += d[j];
        }
    }
}

static void weight_grads(sten_ctx *ctx, sten_net *net, nn_layer *L, const nn_fuse *fz)
{
    const uint32_t B = net->B, N = L->N;
    for (uint32_t k = 0; k < L->n_in; k++) {
        nn_weight *w = &net->weights[L->in[k]];
        nn_weight *o = &net->weights[w->owner];
        nn_layer *S = &net->layers[w->src];
        if (!w->gb_done)
            bias_grad(ctx, w->gb, L->delta, B, N);
        /* bf16 precision: the delta rounded (the fused loss did it already) */
        const bool bf = net->bf16 && o->Wb && L->delta_b && !S->sparse_in && !w->transposed;
        if (bf && !L->db_ok) {
            sten__to_bf16(ctx, L->delta_b, L->delta, (int64_t)B * N);
            L->db_ok = true;
        }
        /* SGD inside the products: propagation and update in one sweep
         * over the delta where it applies */
        if (fz && o->fusable && w == o && !w->transposed && sweep_update(ctx, net, L, S, o, fz, bf))
            continue;
        /* propagate first: a fused update changes W */
        if (S->kind != STEN_LAYER_INPUT) {
            if (bf && o->wb_ok)
                sten__bgemm_nt(ctx, B, S->N, N, 1.0f, L->delta_b, N, o->Wb, N, 1.0f, S->delta, S->N);
            else if (w->transposed)
                sten_gemm(ctx, STEN_NO_TRANS, STEN_NO_TRANS, B, S->N, N, 1.0f, L->delta, N, w->W, S->N,
                          1.0f, S->delta, S->N);
            else
                sten_gemm(ctx, STEN_NO_TRANS, STEN_TRANS, B, S->N, N, 1.0f, L->delta, N, w->W, N, 1.0f,
                          S->delta, S->N);
        }
        if (fz && o->fusable) {
            fused_update(ctx, net, L, S, o, fz, bf);
            continue;
        }
        const float beta = o->g_fresh ? 0.0f : 1.0f;
        if (S->sparse_in) {
            if (o->g_fresh)
                memset(o->gW, 0, (size_t)o->rows * o->cols * sizeof *o->gW);
            sten_spmm_grad(ctx, &S->xt, L->delta, N, N, 1.0f, o->gW, N);
        } else if (bf && !sten__bgemm_chunks(ctx, STEN_TRANS, S->N, N, B, 1.0f, S->out, S->N,
                                             L->delta_b, N, beta, o->gW, N, NULL, 0, NULL, NULL,
                                             NULL)) {
            /* the bf16 gradient product */
        } else if (w->transposed) {
            sten_gemm(ctx, STEN_TRANS, STEN_NO_TRANS, N, S->N, B, 1.0f, L->delta, N, S->out, S->N,
                      beta, o->gW, S->N);
        } else {
            sten_gemm(ctx, STEN_TRANS, STEN_NO_TRANS, S->N, N, B, 1.0f, S->out, S->N, L->delta, N,
                      beta, o->gW, N);
        }
        o->g_fresh = false;
    }
    for (uint32_t k = 0; k < L->n_skip; k++) {
        nn_layer *S = &net->layers[L->skip[k]];
        if (S->kind == STEN_LAYER_INPUT)
            continue;
        for (uint64_t e = 0; e < (uint64_t)B * N; e++)
            S->delta[e] += L->delta[e];
    }
}

void sten__net_backward(sten_ctx *ctx, sten_net *net)
{
    sten__net_backward_fused(ctx, net, NULL);
}

void sten__net_backward_fused(sten_ctx *ctx, sten_net *net, const nn_fuse *fz)
{
    for (uint32_t i = 0; i < net->n_layers; i++) {
        nn_layer *L = &net->layers[i];
        if (L->kind == STEN_LAYER_HIDDEN)
            memset(L->delta, 0, (size_t)net->B * L->N * sizeof *L->delta);
    }
    for (uint32_t k = 0; k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        if (!w->gb_done)
            memset(w->gb, 0, (size_t)net->layers[w->dst].N * sizeof *w->gb);
        w->g_fresh = true;
    }
    for (uint32_t o = net->n_layers; o-- > 0;) {
        nn_layer *L = &net->layers[net->order[o]];
        if (L->kind != STEN_LAYER_HIDDEN && L->kind != STEN_LAYER_OUTPUT)
            continue;
        if (L->kind == STEN_LAYER_HIDDEN)
            hidden_delta(ctx, net, L);
        delta_norm(L, net->B);
        if (L->fmV)
            sten__fm_backward(ctx, net, L);
        else
            weight_grads(ctx, net, L, fz);
    }
    for (uint32_t k = 0; k < net->n_weights; k++)
        net->weights[k].gb_done = false; /* the next forward decides again */
    for (uint32_t i = 0; i < net->n_layers; i++)
        net->layers[i].db_ok = false;
    /* a weight whose users all saw an empty batch still has a defined zero gradient */
    for (uint32_t k = 0; k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        if (w->owner == (int)k && w->g_fresh && !w->fused && w->gW)
            memset(w->gW, 0, (size_t)w->rows * w->cols * sizeof *w->gW);
    }
}
