/* layer_fc.c — the fully connected layer (DSSTNE's FullyConnected): z = sum
 * over sources of (input x W) + bias, plus skips, then the activation. One
 * dense product feeding an output is taken in column chunks that the fused
 * loss or top-K consume while in cache; plain SGD updates W inside the
 * backward products (no gradient buffer). Dropout, the sparseness penalty
 * and DeltaNorm are the network's (forward.c), not this file's. */
#include "net_int.h"

#include <math.h>
#include <string.h>

enum { FC_NORMALIZE = 0, FC_SETTINGS = 1 };
static const nn_setting fc_settings[] = {
    /* a sparse Input: each example's values scaled to unit L2 norm (before
     * Denoising drops any), as Mult-DAE/Mult-VAE feed their encoder */
    {"Normalize", "sten_normalize", FC_NORMALIZE, true, 0, 1, 0.0f},
};

bool sten__fc_normalizes(const nn_layer *L)
{
    return L->ops == &sten__layer_fully_connected && L->kind == STEN_LAYER_INPUT &&
           sten__setting_or(L->d, FC_NORMALIZE, 0.0f) == 1.0f;
}

static bool fc_check(const sten_layer_desc *d, char *msg, size_t cap)
{
    if (d->setting[FC_NORMALIZE] == 1.0f && d->kind != STEN_LAYER_INPUT) {
        snprintf(msg, cap, "\"Normalize\" applies to an Input layer (a sparse one)");
        return false;
    }
    return true;
}

/* What the fused loss needs on each chunk of the output product. */
typedef struct {
    const sten_net *net;
    const sten_workspace *ws;
    const nn_layer *L;
    nn_buf *A;
    nn_target *T;
    float *gb; /* bias gradient summed here too, or NULL */
} loss_chunk_arg;

/* The fused loss on a chunk; in bf16 precision it also rounds the chunk's
 * delta into the layer's bf16 delta, in the same pass. */
static void loss_chunk(void *arg, int64_t chunk, int64_t j0, int64_t j1, float *c, int64_t ldc)
{
    const loss_chunk_arg *a = arg;
    const bool bf = a->net->bf16 && a->A->delta_b;
    sten__loss_chunk(a->net, a->ws, a->L, a->T, chunk, (uint32_t)j0, (uint32_t)j1, c, ldc, a->gb,
                     bf ? a->A->delta_b + j0 : NULL, a->L->N);
}

static const nn_weight *fc_dense_product(const sten_net *net, const nn_layer *L)
{
    const bool dropout = L->p_dropout > 0 && L->kind != STEN_LAYER_OUTPUT;
    if (L->n_in != 1 || L->n_skip != 0 || dropout || L->kind == STEN_LAYER_INPUT)
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
/* Sum of squares and largest |h_k| of a row in doubles, in eight partial
 * sums (vector lanes; a NaN or inf still shows in both). */
STEN__SIMD_CLONES
static void row_stats(const float *h, uint32_t K, double *ss_out, double *max_out)
{
    double part[8] = {0}, mx[8] = {0};
    uint32_t k = 0;
    for (; k + 8 <= K; k += 8)
        for (int q = 0; q < 8; q++) {
            const double x = h[k + q];
            part[q] += x * x;
            mx[q] = mx[q] > fabs(x) || mx[q] != mx[q] ? mx[q] : fabs(x);
        }
    for (; k < K; k++) {
        const double x = h[k];
        part[0] += x * x;
        mx[0] = mx[0] > fabs(x) || mx[0] != mx[0] ? mx[0] : fabs(x);
    }
    double ss = 0.0, hmax = 0.0;
    for (int q = 0; q < 8; q++) {
        ss += part[q];
        hmax = hmax > mx[q] || hmax != hmax ? hmax : mx[q];
    }
    *ss_out = ss, *max_out = hmax;
}

static void screen_bounds(sten_ctx *ctx, sten_workspace *ws, const float *H, const nn_weight *o,
                          uint32_t K)
{
    float *rad, *abs_;
    sten__topk_screen_rows(ws->topk, &rad, &abs_);
    const double u = 0x1p-24, gk = K * u / (1 - K * u), g2k = 2 * K * u / (1 - 2 * K * u);
    const double c1 = (0x1p-8 + 0x1p-18 + gk + g2k * (1 + 0x1p-8 + 0x1p-18)) * 1.01;
#pragma omp parallel for num_threads(sten__threads_for(ctx, (int64_t)ws->B * K, 1 << 15)) schedule(static)
    for (uint32_t b = 0; b < ws->B; b++) {
        double ss, hmax;
        row_stats(H + (uint64_t)b * K, K, &ss, &hmax);
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

static void topk_rows(void *arg, int64_t chunk, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                      const float *c, int64_t ldc)
{
    sten__topk_rows(arg, chunk, i0, i1, j0, j1, c, ldc);
}

/* Inference chains (sten__amx_chain). A layer fed by one dense product
 * whose weights are packed for the AMX tiles reads its source's bf16 rows
 * when the source left them (a chain link), and is a link itself when
 * every layer reading it is such a layer: its output then goes to the next
 * product in bf16 only, ReLU applied on the way out of the tiles, and never
 * to fp32 memory, and the next product packs nothing. The same bits as the
 * fp32 route (the products round their A to bf16 alike). Only where the
 * caller reads an output layer alone (ws->chain). On the Xeon's DLRM scoring
 * this saves each MLP layer's fp32 store, its activation pass and the next
 * layer's rounding pass. */
static const uint32_t *chain_weights(const sten_net *net, const sten_workspace *ws, const nn_layer *L)
{
    const nn_weight *cw = sten__single_dense_in(net, L);
    if (!cw || !net->bf16 || L->sharded || L->group_sum || L->n_skip || cw->transposed)
        return NULL;
    const nn_weight *o = &net->weights[cw->owner];
    return o->Wb && o->Wbp && o->wbp_ver == net->version && sten__bgemm_packed_amx(o->Wbp) && !ws->topk
               ? o->Wbp
               : NULL;
}

static bool chain_out(const sten_net *net, const sten_workspace *ws, const nn_layer *L)
{
    const uint32_t li = (uint32_t)(L - net->layers);
    if (!ws->chain || ws->mode != NN_EVAL || L->kind != STEN_LAYER_HIDDEN || ws->buf[li].mask ||
        (L->fn != STEN_ACT_RELU && L->fn != STEN_ACT_LINEAR) || !chain_weights(net, ws, L))
        return false;
    uint32_t readers = 0;
    for (uint32_t j = 0; j < net->n_layers; j++) {
        const nn_layer *R = &net->layers[j];
        bool skip;
        if (!sten__reads(R, li, &skip) && !skip)
            continue;
        if (skip || R->ops != &sten__layer_fully_connected || !chain_weights(net, ws, R))
            return false;
        readers++;
    }
    return readers > 0;
}

/* A layer fed by one dense product (sten__single_dense_in): z computed in
 * column chunks with the bias added inside the product, and consumed chunk
 * by chunk while in cache where a consumer applies:
 *  - a Sigmoid output trained with a cross-entropy loss on sparse targets:
 *    loss and delta (written over z);
 *  - the output layer of sten_net_recommend: top-K, and z is never stored.
 * Returns false when the layer is not of this form. */
static bool forward_chunked(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, nn_layer *L)
{
    const nn_weight *cw = sten__single_dense_in(net, L);
    if (!cw)
        return false;
    nn_weight *w = &net->weights[L->in[0]];
    nn_buf *A = sten__buf(ws, net, L);
    const float *H = ws->buf[w->src].out;
    const uint32_t B = ws->B, N = L->N, K = net->layers[w->src].N;
    const bool training = ws->mode == NN_TRAIN;
    nn_weight *o = &net->weights[w->owner];
    const bool screen = ws->screen && ws->topk && L->kind == STEN_LAYER_OUTPUT && o->Wb;
    const bool bf = (net->bf16 || screen) && o->Wb;
    /* bf16 products: W's rounded copy, made again when W has changed since
     * (training only: inference finds it made by sten_net_recommend / _infer) */
    if (bf && o->wb_ver != net->version) {
        sten__to_bf16(ctx, o->Wb, o->W, (int64_t)o->rows * o->cols);
        o->wb_ver = net->version;
    }
    /* inference: the weights stay put, so their strips were packed once */
    const bool packed = bf && !training && o->Wbp && o->wbp_ver == net->version &&
                        sten__bgemm_packed_current(o->Wbp);
    A->outb_ok = false;
    /* int8 inference: weights quantized once (src/rec/predict.c), not for
     * an output layer that a recommendation ranks (fused top-K or not) */
    if (net->int8 && !training && o->Wq.q && o->wq_ver == net->version && !L->group_sum &&
        !(L->kind == STEN_LAYER_OUTPUT && (ws->topk || ws->mode == NN_RANK))) {
        A->act_deferred = false;
        const bool relu = L->fn == STEN_ACT_RELU; /* applied as the tiles leave */
        const sten_status st = sten__qgemm(ctx, B, N, K, H, K, &o->Wq, w->b, relu, A->act, N);
        if (st && !ws->fwd_st)
            ws->fwd_st = st;
        if (!relu)
            sten_act_forward(ctx, L->fn, &L->ap, A->act, A->act, B, N, N);
        return true;
    }
    const nn_buf *SA = &ws->buf[w->src];
    const bool link = packed && chain_out(net, ws, L); /* (which also asks for ws->chain in NN_EVAL) */
    if (link || (packed && ws->mode == NN_EVAL && ws->chain && SA->outb_ok && chain_weights(net, ws, L))) {
        const uint64_t ldo = (N + 31) / 32 * 32;
        if (link && !A->out_b && !(A->out_b = sten_calloc(ctx, (ws->B_cap + 31) / 32 * 32 * ldo,
                                                          sizeof *A->out_b))) {
            if (!ws->fwd_st)
                ws->fwd_st = STEN_E_NOMEM;
            return true;
        }
        const sten_status st =
            sten__bgemm_chain_packed(ctx, B, N, K, H, K, SA->outb_ok ? SA->out_b : NULL, o->Wbp, w->b,
                                     link && L->fn == STEN_ACT_RELU, link ? NULL : A->act, N,
                                     link ? A->out_b : NULL, (int64_t)ldo);
        if (st && !ws->fwd_st)
            ws->fwd_st = st;
        A->outb_ok = link && !st;
        A->act_deferred = false;
        if (!link)
            sten_act_forward(ctx, L->fn, &L->ap, A->act, A->act, B, N, N);
        return true;
    }
    sten_chunk_fn fn = NULL;
    void *arg = NULL;
    float *C = A->act;
    A->delta_chunked = false;
    loss_chunk_arg la;
    if (training && L->fuse_loss) {
        /* the bias gradient too, unless DeltaNorm rescales the delta later */
        w->gb_done = L->d->delta_norm <= 0.0f;
        if (w->gb_done)
            memset(w->gb, 0, (size_t)N * sizeof *w->gb);
        la = (loss_chunk_arg){net, ws, L, A, &ws->targets[L - net->layers], w->gb_done ? w->gb : NULL};
        fn = loss_chunk, arg = &la;
        A->loss_fused = true;
        A->db_ok = bf && A->delta_b && L->d->delta_norm <= 0.0f;
        /* bf16: the products and the bias gradient take the delta from its
         * rounded copy and the loss pass, so the fp32 z and delta stay in
         * per-thread chunks and never go to memory (27 MB a step at the
         * ML-20M shape) */
        A->delta_chunked = A->db_ok && w->gb_done;
        if (A->delta_chunked)
            C = NULL;
    } else if (ws->topk && L->kind == STEN_LAYER_OUTPUT) {
        fn = topk_chunk, arg = ws->topk;
        C = NULL; /* never stored */
        if (screen)
            screen_bounds(ctx, ws, H, o, K);
    }
    /* top-K from packed weights: in blocks of rows, while in cache */
    sten_status st = packed && fn == topk_chunk
                         ? sten__bgemm_rows_packed(ctx, B, N, K, H, K, o->Wbp, w->b, topk_rows, arg)
                     : packed ? sten__bgemm_chunks_packed(ctx, B, N, K, H, K, o->Wbp, C, N, w->b, fn, arg)
                     : bf ? sten__bgemm_chunks(ctx, STEN_NO_TRANS, B, N, K, 1.0f, H, K, o->Wb, N, 0.0f,
                                             C, N, NULL, 0, w->b, fn, arg)
                        : sten__gemm_chunks(ctx, B, N, K, 1.0f, H, K, w->W, N, 0.0f, C, N, w->b, fn,
                                            arg);
    if (st && !ws->fwd_st)
        ws->fwd_st = st; /* only when a scratch buffer could not be had */
    if (fn) {
        A->act_deferred = true;
        return true;
    }
    A->act_deferred = (ws->mode == NN_RANK && L->kind == STEN_LAYER_OUTPUT && sten__act_increasing(L)) ||
                      (training && L->softmax_z);
    if (!A->act_deferred)
        sten_act_forward(ctx, L->fn, &L->ap, A->act, A->act, B, N, N);
    return true;
}

/* z = sum of biases + sum over sources of (input x W) + skips, then the
 * activation; a layer fed by one dense product goes through forward_chunked.
 * The biases are laid down first so every product accumulates (beta = 1) and
 * no separate pass adds them. */
static void fc_forward(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, nn_layer *L)
{
    const uint32_t B = ws->B, N = L->N;
    nn_buf *A = sten__buf(ws, net, L);
    float *z = A->act;
    A->loss_fused = false;
    if (forward_chunked(ctx, net, ws, L))
        return;
    memset(z, 0, (size_t)N * sizeof *z);
    /* fed by split layers (model parallelism): each member's z is a partial
     * sum over its items, added up over the group below; the biases once */
    for (uint32_t k = 0; k < L->n_in && !(L->group_sum && net->comm->rank != 0); k++) {
        const float *bias = net->weights[L->in[k]].b;
        for (uint32_t j = 0; j < N; j++)
            z[j] += bias[j];
    }
    for (uint32_t b = 1; b < B; b++)
        memcpy(z + (uint64_t)b * N, z, (size_t)N * sizeof *z);
    for (uint32_t k = 0; k < L->n_in; k++) {
        const nn_weight *w = &net->weights[L->in[k]];
        const nn_layer *S = &net->layers[w->src];
        const nn_buf *SA = &ws->buf[w->src];
        if (S->sparse_in)
            sten__spmm_scaled(ctx, &SA->x, w->W, N, N, net->weights[w->owner].scale, 1.0f, z, N);
        else if (w->transposed)
            sten_gemm(ctx, STEN_NO_TRANS, STEN_TRANS, B, N, S->N, 1.0f, SA->out, S->N, w->W,
                      w->cols, 1.0f, z, N);
        else
            sten_gemm(ctx, STEN_NO_TRANS, STEN_NO_TRANS, B, N, S->N, 1.0f, SA->out, S->N, w->W,
                      N, 1.0f, z, N);
    }
    for (uint32_t k = 0; k < L->n_skip; k++) {
        const float *s = ws->buf[L->skip[k]].out;
        for (uint64_t e = 0; e < (uint64_t)B * N; e++)
            z[e] += s[e];
    }
    if (L->group_sum) {
        const sten_status st = sten__group_sum(net, z, (uint64_t)B * N);
        if (st && !ws->fwd_st)
            ws->fwd_st = st;
    }
    /* a Sigmoid output trained with a cross-entropy loss on sparse targets
     * gets its activation inside the loss pass, saving two passes over B x N */
    A->act_deferred = (ws->mode == NN_TRAIN && (L->fuse_loss || L->softmax_z)) ||
                      (ws->mode == NN_RANK && L->kind == STEN_LAYER_OUTPUT && sten__act_increasing(L));
    if (!A->act_deferred)
        sten_act_forward(ctx, L->fn, &L->ap, z, z, B, N, N);
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

/* The fp32 delta for a path that needs it (the fp32 fallbacks when a bf16
 * product finds no scratch): where it stayed in the forward's chunks, made
 * again from its bf16 copy, once. */
static const float *delta32(nn_buf *A, uint32_t B, uint32_t N)
{
    if (A->delta_chunked) {
        for (uint64_t e = 0; e < (uint64_t)B * N; e++)
            A->delta[e] = sten__bf16_to_float(A->delta_b[e]);
        A->delta_chunked = false;
    }
    return A->delta;
}

/* W <- (1 - alpha lambda) W - alpha/B * S^T delta, the product written into
 * W itself: SGD without a gradient buffer. bf: the bf16 product, which also
 * refreshes W's rounded copy. */
static void fused_update(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const nn_layer *L,
                         const nn_layer *S, nn_weight *w, const nn_fuse *fz, bool bf)
{
    const uint32_t B = ws->B, N = L->N;
    nn_buf *A = sten__buf(ws, net, L);
    const nn_buf *SA = sten__buf(ws, net, S);
    const float decay = sgd_decay(fz), step = sgd_step(fz, B);
    if (S->sparse_in) {
        /* decay every row without touching them: the true W is scale * W,
         * so W += step/scale' * grad on the rows present; folded back into
         * W when the scale gets small, and at the end of every epoch */
        w->scale *= decay;
        if (w->scale < 0x1p-8f)
            sten__weight_settle(ctx, w);
        sten__spmm_grad_rows(ctx, &SA->xt, SA->rid, A->delta, N, N, step / w->scale, false, w->W, N);
    } else if (!bf || sten__bgemm_chunks(ctx, STEN_TRANS, S->N, N, B, step, SA->out, S->N, A->delta_b,
                                         N, decay, w->W, N, w->Wb, N, NULL, NULL, NULL)) {
        /* fp32, or bf16 without room for its packed operand */
        sten_gemm(ctx, STEN_TRANS, STEN_NO_TRANS, S->N, N, B, step, SA->out, S->N, delta32(A, B, N), N,
                  decay, w->W, N);
    } else {
        /* the bf16 product also rounded the new W into Wb: current for the
         * version the end of this step gives the weights */
        w->wb_ver = net->version + 1;
    }
    w->fused = true;
}

/* fp32 SGD on a dense hidden source with the propagation into it, in one
 * sweep over the delta (sten__gemm_out_backward); false where the sweep
 * does not apply or declines: the caller takes the two products apart. */
static bool sweep_update(sten_ctx *ctx, const sten_net *net, const sten_workspace *ws,
                         const nn_layer *L, const nn_buf *A, const nn_layer *S, nn_buf *SA,
                         nn_weight *w, const nn_fuse *fz, bool bf)
{
    if (S->kind == STEN_LAYER_INPUT || S->sparse_in || w->scale != 1.0f)
        return false;
    /* bf16 on AMX tiles: the sweep over the rounded delta, Wb updated too */
    if (bf && sten__amx_available() && w->wb_ver == net->version && A->db_ok &&
        !sten__amx_out_backward(ctx, ws->B, L->N, S->N, SA->out, S->N, A->delta_b, L->N,
                                sgd_step(fz, ws->B), sgd_decay(fz), w->W, L->N, w->Wb, L->N,
                                SA->delta, S->N)) {
        w->wb_ver = net->version + 1; /* current for the version the step ends with */
        w->fused = true;
        return true;
    }
    if (bf ||
        sten__gemm_out_backward(ctx, ws->B, L->N, S->N, SA->out, S->N, A->delta, L->N,
                                sgd_step(fz, ws->B), sgd_decay(fz), w->W, L->N, SA->delta, S->N))
        return false;
    w->fused = true;
    return true;
}

/* gb[j] += sum over rows of delta[b][j]: columns split between threads,
 * each column summed in row order (the same result for any thread count). */
static void bias_grad(sten_ctx *ctx, float *gb, const float *delta, uint32_t B, uint32_t N)
{
    /* in blocks of columns (each column summed down the rows in order, for
     * any split): at most 1,024, and few enough that every thread has one
     * (an MLP layer's 512 were one block, one thread's) */
    const int nt = sten__threads_for(ctx, (int64_t)B * N, 1 << 16);
    const int64_t per = (((int64_t)N + nt - 1) / nt + 15) / 16 * 16;
    const int64_t blk = STEN__MIN(1024, STEN__MAX(64, per)), nblk = ((int64_t)N + blk - 1) / blk;
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

/* bf16 training of a hidden layer with a ReLU or linear activation, one
 * weight, no dropout, sparseness penalty or DeltaNorm: the activation's
 * derivative and the delta's rounding in one pass over the rows, then the
 * bias gradient (fc_delta_pass), where hidden_delta, bias_grad and
 * sten__to_bf16 made three passes. forward.c's hidden_delta then leaves the
 * derivative here. */
static bool delta_fuse_on = true;

void sten__fc_delta_fuse(bool on)
{
    delta_fuse_on = on;
}

bool sten__fc_delta_fused(const sten_net *net, const sten_workspace *ws, const nn_layer *L)
{
    if (!delta_fuse_on || L->ops != &sten__layer_fully_connected || L->kind != STEN_LAYER_HIDDEN ||
        L->n_in != 1 || L->n_skip || !net->bf16 || ws->mode != NN_TRAIN || L->sp_beta > 0.0f ||
        L->d->delta_norm > 0.0f || (L->fn != STEN_ACT_RELU && L->fn != STEN_ACT_LINEAR))
        return false;
    const uint32_t li = (uint32_t)(L - net->layers);
    const nn_buf *A = &ws->buf[li];
    const nn_weight *w = &net->weights[L->in[0]];
    const nn_weight *o = &net->weights[w->owner];
    const nn_layer *S = &net->layers[w->src];
    return !A->mask && A->delta_b && !A->db_ok && o->Wb && !S->sparse_in && !w->transposed && !w->gb_done;
}

/* Rows [b0, b1) of fc_delta_pass: the delta as hidden_delta writes it and
 * its rounding as sten__to_bf16 writes it, while each row is in cache. */
STEN__SIMD_CLONES
static void delta_rows(float *restrict d, const float *restrict y, uint16_t *restrict db, uint32_t N, int64_t b0,
                       int64_t b1, bool relu)
{
    for (int64_t b = b0; b < b1; b++) {
        float *restrict dr = d + (uint64_t)b * N;
        const float *restrict yr = y + (uint64_t)b * N;
        if (relu)
            for (uint32_t j = 0; j < N; j++)
                dr[j] = yr[j] > 0.0f ? dr[j] : 0.0f;
        sten__to_bf16_row(db + (uint64_t)b * N, dr, N);
    }
}

/* The rows split over the threads (each reads a contiguous part, as the
 * prefetchers like), then the bias gradient by columns (bias_grad: each
 * column summed down the rows in order). */
static void fc_delta_pass(sten_ctx *ctx, const nn_layer *L, nn_buf *A, float *gb, uint32_t B)
{
    const uint32_t N = L->N;
    const int nt = sten__threads_for(ctx, (int64_t)B * N, 1 << 14);
    const bool relu = L->fn == STEN_ACT_RELU;
    enum { ROWS = 64 };
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b0 = 0; b0 < (int64_t)B; b0 += ROWS)
        delta_rows(A->delta, A->act, A->delta_b, N, b0, STEN__MIN((int64_t)B, b0 + ROWS), relu);
    bias_grad(ctx, gb, A->delta, B, N);
}

static void fc_backward(sten_ctx *ctx, sten_net *net, sten_workspace *ws, nn_layer *L, const nn_fuse *fz)
{
    const uint32_t B = ws->B, N = L->N;
    nn_buf *A = sten__buf(ws, net, L);
    if (sten__fc_delta_fused(net, ws, L)) {
        nn_weight *w = &net->weights[L->in[0]];
        fc_delta_pass(ctx, L, A, w->gb, B);
        w->gb_done = true; /* (reset at the end of the backward pass) */
        A->db_ok = true;
    }
    for (uint32_t k = 0; k < L->n_in; k++) {
        nn_weight *w = &net->weights[L->in[k]];
        nn_weight *o = &net->weights[w->owner];
        const nn_layer *S = &net->layers[w->src];
        nn_buf *SA = &ws->buf[w->src];
        if (!w->gb_done)
            bias_grad(ctx, w->gb, A->delta, B, N);
        /* bf16 precision: the delta rounded (the fused loss did it already) */
        const bool bf = net->bf16 && o->Wb && A->delta_b && !S->sparse_in && !w->transposed;
        if (bf && !A->db_ok) {
            sten__to_bf16(ctx, A->delta_b, A->delta, (int64_t)B * N);
            A->db_ok = true;
        }
        /* SGD inside the products: propagation and update in one sweep
         * over the delta where it applies */
        if (fz && o->fusable && w == o && !w->transposed &&
            sweep_update(ctx, net, ws, L, A, S, SA, o, fz, bf))
            continue;
        /* propagate first: a fused update changes W (Wb is W's until the step ends);
         * the source's only reader writes its delta whole (not zeroed before) */
        if (S->kind != STEN_LAYER_INPUT) {
            const float pb = SA->delta_set ? 0.0f : 1.0f;
            if (bf && o->wb_ver == net->version)
                sten__bgemm_nt(ctx, B, S->N, N, 1.0f, A->delta_b, N, o->Wb, N, pb, SA->delta, S->N);
            else if (w->transposed)
                sten_gemm(ctx, STEN_NO_TRANS, STEN_NO_TRANS, B, S->N, N, 1.0f, A->delta, N, w->W, S->N,
                          pb, SA->delta, S->N);
            else
                sten_gemm(ctx, STEN_NO_TRANS, STEN_TRANS, B, S->N, N, 1.0f, delta32(A, B, N), N, w->W, N,
                          pb, SA->delta, S->N);
        }
        if (fz && o->fusable) {
            fused_update(ctx, net, ws, L, S, o, fz, bf);
            continue;
        }
        const float beta = o->g_fresh ? 0.0f : 1.0f;
        if (S->sparse_in) {
            if (o->g_fresh)
                memset(o->gW, 0, (size_t)o->rows * o->cols * sizeof *o->gW);
            sten__spmm_grad_rows(ctx, &SA->xt, SA->rid, A->delta, N, N, 1.0f, false, o->gW, N);
        } else if (bf && !sten__bgemm_chunks(ctx, STEN_TRANS, S->N, N, B, 1.0f, SA->out, S->N,
                                             A->delta_b, N, beta, o->gW, N, NULL, 0, NULL, NULL,
                                             NULL)) {
            /* the bf16 gradient product */
        } else if (w->transposed) {
            sten_gemm(ctx, STEN_TRANS, STEN_NO_TRANS, N, S->N, B, 1.0f, A->delta, N, SA->out, S->N,
                      beta, o->gW, S->N);
        } else {
            sten_gemm(ctx, STEN_TRANS, STEN_NO_TRANS, S->N, N, B, 1.0f, SA->out, S->N, delta32(A, B, N),
                      N, beta, o->gW, N);
        }
        o->g_fresh = false;
    }
    for (uint32_t k = 0; k < L->n_skip; k++) {
        if (net->layers[L->skip[k]].kind == STEN_LAYER_INPUT)
            continue;
        float *sd = ws->buf[L->skip[k]].delta;
        for (uint64_t e = 0; e < (uint64_t)B * N; e++)
            sd[e] += A->delta[e];
    }
}


/* DSSTNE's schemes (NNWeight.cpp); fan sizes are the full layer widths. */
static float init_value(sten_init scheme, float scale, uint32_t n_in, uint32_t n_out, sten_rng *r)
{
    switch (scheme) {
    case STEN_INIT_XAVIER: {
        const float s = scale * sqrtf(6.0f / (float)(n_in + n_out));
        return s * (sten_rng_uniform(r) - 0.5f);
    }
    case STEN_INIT_CAFFE_XAVIER: {
        const float s = scale * 2.0f * sqrtf(3.0f / (float)n_out);
        return s * (sten_rng_uniform(r) - 0.5f);
    }
    case STEN_INIT_GAUSSIAN:
        return scale * sten_rng_normal(r);
    case STEN_INIT_UNIFORM:
        return scale * (2.0f * sten_rng_uniform(r) - 1.0f);
    case STEN_INIT_UNIT_BALL:
        return scale * sten_rng_uniform(r);
    case STEN_INIT_CONSTANT:
        return scale;
    case STEN_INIT_SELU:
        return sten_rng_normal(r) / sqrtf((float)n_in);
    }
    return 0.0f;
}

/* Each incoming connection k from its own stream (seed, k): the matrix by
 * the layer's WeightInit (its owner's, for a shared one), the bias = Bias. */
static void fc_init(const sten_net *net, nn_layer *L, uint64_t seed)
{
    for (uint32_t q = 0; q < L->n_in; q++) {
        const uint32_t k = L->in[q];
        nn_weight *w = &net->weights[k];
        sten_rng r;
        sten_rng_init(&r, seed, k);
        if (w->owner == (int)k) {
            /* value e of the full matrix is draw e x d of the stream, so a
             * shard (model parallelism) takes its block of the full values */
            const sten_init sc = L->d->init;
            const uint64_t d = sc == STEN_INIT_CONSTANT ? 0 : sc == STEN_INIT_GAUSSIAN || sc == STEN_INIT_SELU ? 2 : 1;
            const uint32_t fr = w->full_rows ? w->full_rows : w->rows, fc = w->full_cols ? w->full_cols : w->cols;
            for (uint32_t row = 0; row < w->rows; row++) {
                sten_rng_seek(&r, ((uint64_t)(w->row0 + row) * fc + w->col0) * d);
                for (uint32_t c = 0; c < w->cols; c++)
                    w->W[(uint64_t)row * w->cols + c] = init_value(sc, L->d->init_scale, fr, fc, &r);
            }
        }
        for (uint32_t j = 0; j < L->N; j++)
            w->b[j] = L->d->init_bias;
    }
}

static sten_status fc_build(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    sten_status st = STEN_OK;
    for (uint32_t q = 0; q < L->n_in && !st; q++)
        st = sten__net_add_weight_params(ctx, net, L->in[q]);
    return st;
}

const nn_layer_ops sten__layer_fully_connected = {
    .name = "FullyConnected",
    .type = STEN_LAYER_FULLY_CONNECTED,
    .settings = fc_settings,
    .n_settings = FC_SETTINGS,
    .fused_sgd = true,
    .check = fc_check,
    .build = fc_build,
    .init = fc_init,
    .forward = fc_forward,
    .backward = fc_backward,
    .dense_product = fc_dense_product,
};
