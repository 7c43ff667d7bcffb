/* layer_fm.c — the FactorizationMachine layer: y = w0 + sum_i w_i x_i +
 * 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2] over one sparse input,
 * in O(K * nnz) per example (Rendle 2010). w0 is the bias and w the matrix of
 * its one connection; the factors V are its own parameter. Its settings
 * (Factors and SageMaker's per-group rates, decays, clipping and inits) live
 * here; loss and activation come from the output layer's settings like any
 * other layer. Linear weights and factors are updated only in the rows of
 * the batch's features (lazy sparse updates, as MXNet does for SageMaker). */
#include "net_int.h"

#include <math.h>
#include <string.h>

/* Settings: groups g = 0 bias w0, 1 linear w, 2 factors V. */
enum {
    FM_FACTORS = 0,
    FM_LR = 1,      /* + g: multiplies the optimizer's rate (SageMaker's bias_lr, ...) */
    FM_WD = 4,      /* + g: L2 decay in place of the optimizer's Lambda */
    FM_CLIP = 7,    /* clips each mean gradient element; 0 = no */
    FM_INIT = 8,    /* + g: 0 normal(0, p), 1 uniform(-p, p), 2 constant p; not given = defaults */
    FM_INIT_P = 11, /* + g: that p */
    FM_SETTINGS = 14
};
_Static_assert(FM_SETTINGS <= STEN_LAYER_SETTINGS, "STEN_LAYER_SETTINGS");

#define BIG HUGE_VAL
static const nn_setting fm_settings[] = {
    {"Factors", "sten_factors", FM_FACTORS, true, 1, 100000, NAN},
    {"BiasLR", "sten_bias_lr", FM_LR + 0, false, 0, BIG, NAN},
    {"LinearLR", "sten_linear_lr", FM_LR + 1, false, 0, BIG, NAN},
    {"FactorsLR", "sten_factors_lr", FM_LR + 2, false, 0, BIG, NAN},
    {"BiasWD", "sten_bias_wd", FM_WD + 0, false, 0, BIG, NAN},
    {"LinearWD", "sten_linear_wd", FM_WD + 1, false, 0, BIG, NAN},
    {"FactorsWD", "sten_factors_wd", FM_WD + 2, false, 0, BIG, NAN},
    {"ClipGradient", "sten_clip_gradient", FM_CLIP, false, 0, BIG, 0.0f},
    {"BiasInitMethod", NULL, FM_INIT + 0, true, 0, 2, NAN},
    {"LinearInitMethod", NULL, FM_INIT + 1, true, 0, 2, NAN},
    {"FactorsInitMethod", NULL, FM_INIT + 2, true, 0, 2, NAN},
    {"BiasInitParameter", NULL, FM_INIT_P + 0, false, -BIG, BIG, NAN},
    {"LinearInitParameter", NULL, FM_INIT_P + 1, false, -BIG, BIG, NAN},
    {"FactorsInitParameter", NULL, FM_INIT_P + 2, false, -BIG, BIG, NAN},
};

typedef struct {
    uint32_t K, rows;  /* factors; rows of V = the input's width */
    float *V, *gV;     /* rows x K */
} fm_state;

static bool fm_check(const sten_layer_desc *d, char *msg, size_t cap)
{
    if (isnan(d->setting[FM_FACTORS]) || d->N != 1 || d->N_auto) {
        snprintf(msg, cap, "a FactorizationMachine layer needs \"Factors\" >= 1 and N = 1 (one score "
                 "per example)");
        return false;
    }
    return true;
}

static sten_status fm_build(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    if (L->n_in != 1 || !net->layers[net->weights[L->in[0]].src].sparse_in || L->n_skip)
        return sten_fail(ctx, STEN_E_UNSUPPORTED,
                         "%s:%d:%d: layer \"%s\": a FactorizationMachine takes exactly one Source, a "
                         "sparse input layer", net->desc.source, L->d->line, L->d->column, L->d->name);
    const uint32_t k = L->in[0];
    nn_weight *w = &net->weights[k];
    fm_state *f = sten_calloc(ctx, 1, sizeof *f);
    if (!f)
        return STEN_E_NOMEM;
    L->priv = f;
    f->K = (uint32_t)L->d->setting[FM_FACTORS];
    f->rows = w->rows;
    const uint64_t nv = (uint64_t)w->rows * f->K;
    f->V = sten_calloc(ctx, (size_t)nv, sizeof(float));
    f->gV = sten_calloc(ctx, (size_t)nv, sizeof(float));
    if (!f->V || !f->gV)
        return STEN_E_NOMEM;
    const sten_layer_desc *d = L->d;
    const float clip = sten__setting_or(d, FM_CLIP, 0.0f);
    const uint32_t in = w->src, li = (uint32_t)(L - net->layers);
    /* biases are decayed only when BiasWD asks; the others fall back to Lambda */
    const float wd0 = sten__setting_or(d, FM_WD + 0, 0.0f);
    const nn_param ps[3] = {
        {.w = w->b, .g = w->gb, .n = 1, .lr = d->setting[FM_LR + 0], .l2 = wd0, .l1 = 0.0f,
         .clip = clip, .conn = (int)k, .layer = li, .var = "bias", .state = "sten_bias_",
         .required = true},
        {.w = w->W, .n = w->rows, .matrix = w, .update = NN_UPDATE_ROWS, .row_len = 1, .rows_of = in,
         .lr = d->setting[FM_LR + 1], .l2 = d->setting[FM_WD + 1], .l1 = NAN, .clip = clip,
         .reg = true, .conn = (int)k, .layer = li, .var = "weights", .state = "sten_",
         .required = true},
        {.w = f->V, .g = f->gV, .n = nv, .update = NN_UPDATE_ROWS, .row_len = f->K, .rows_of = in,
         .lr = d->setting[FM_LR + 2], .l2 = d->setting[FM_WD + 2], .l1 = NAN, .clip = clip,
         .conn = (int)k, .layer = li, .var = "sten_factors", .state = "sten_factors_",
         .required = true},
    };
    static const char *const what[3] = {"bias", "linear", "factors"};
    sten_status st = STEN_OK;
    for (int g = 0; g < 3 && !st; g++) {
        nn_param p = ps[g];
        snprintf(p.name, sizeof p.name, "%s %s", L->d->name, what[g]);
        st = sten__net_add_param(ctx, net, &p, NULL);
    }
    return st;
}

static void fm_free(sten_ctx *ctx, nn_layer *L)
{
    fm_state *f = L->priv;
    if (!f)
        return;
    sten_free(ctx, f->V);
    sten_free(ctx, f->gV);
    sten_free(ctx, f);
    L->priv = NULL;
}

/* One value of a group's init: SageMaker's normal/uniform/constant when
 * the layer sets one, else fallback. */
static float init_one(const sten_layer_desc *d, int g, sten_rng *r, float fallback)
{
    const float p = d->setting[FM_INIT_P + g];
    switch ((int)sten__setting_or(d, FM_INIT + g, -1.0f)) {
    case 0: return p * sten_rng_normal(r);
    case 1: return p * (2.0f * sten_rng_uniform(r) - 1.0f);
    case 2: return p;
    default: return fallback;
    }
}

/* Defaults: V ~ WeightInit (DSSTNE's default Xavier becomes Gaussian(0,
 * 0.01 * Scale), the usual FM start), w ~ Gaussian(0, 0.01), w0 = Bias. */
static void fm_init(const sten_net *net, nn_layer *L, uint64_t seed)
{
    const sten_layer_desc *d = L->d;
    fm_state *f = L->priv;
    nn_weight *w = &net->weights[L->in[0]];
    sten_rng r;
    sten_rng_init(&r, seed ^ 0x666d, (uint64_t)(L - net->layers));
    const uint64_t nv = (uint64_t)w->rows * f->K;
    const float scale = d->init_scale;
    for (uint64_t i = 0; i < nv; i++) {
        float v;
        switch (d->init) {
        case STEN_INIT_UNIFORM: v = scale * (2.0f * sten_rng_uniform(&r) - 1.0f); break;
        case STEN_INIT_CONSTANT: v = scale; break;
        case STEN_INIT_GAUSSIAN: v = scale * sten_rng_normal(&r); break;
        default: v = 0.01f * scale * sten_rng_normal(&r); break;
        }
        f->V[i] = init_one(d, 2, &r, v);
    }
    for (uint32_t i = 0; i < w->rows; i++)
        w->W[i] = init_one(d, 1, &r, 0.01f * sten_rng_normal(&r));
    w->b[0] = init_one(d, 0, &r, d->init_bias);
}

/* Per example in a workspace: the sums s = x V (what backward needs). */
static uint64_t fm_ws_floats(const sten_net *net, const nn_layer *L)
{
    (void)net;
    return ((const fm_state *)L->priv)->K;
}

/* z_b = w0 + sum_e x_e w_j + 1/2 sum_f (s_bf^2 - sum_e x_e^2 v_jf^2), s = x V. */
static void fm_forward(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, nn_layer *L)
{
    const fm_state *f = L->priv;
    nn_buf *A = sten__buf(ws, net, L);
    const nn_weight *w = &net->weights[L->in[0]];
    const sten_csr *X = &ws->buf[w->src].x;
    const uint32_t K = f->K, B = ws->B;
    const int nt = sten__threads_for(ctx, (int64_t)X->nnz * K, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (uint32_t b = 0; b < B; b++) {
        float *s = A->scratch + (uint64_t)b * K;
        memset(s, 0, K * sizeof *s);
        double lin = w->b[0], sq = 0.0;
        for (uint64_t e = X->row_ptr[b]; e < X->row_ptr[b + 1]; e++) {
            const uint32_t j = X->col[e];
            const float x = X->val ? X->val[e] : 1.0f;
            const float *v = f->V + (uint64_t)j * K;
            lin += (double)x * w->W[j];
            for (uint32_t q = 0; q < K; q++) {
                s[q] += x * v[q];
                sq += (double)x * x * v[q] * v[q];
            }
        }
        double pair = 0.0;
        for (uint32_t q = 0; q < K; q++)
            pair += (double)s[q] * s[q];
        A->act[b] = (float)(lin + 0.5 * (pair - sq));
    }
    sten_act_forward(ctx, L->fn, &L->ap, A->act, A->act, B, 1, 1);
}

/* delta_b = dL/dz_b: gw0 += sum delta, gw_j += delta x, gV_jf += delta x (s_f - x v_jf),
 * reduced per input row j in batch order (the transposed batch), so the
 * result does not depend on the thread count. */
static void fm_backward(sten_ctx *ctx, sten_net *net, sten_workspace *ws, nn_layer *L, const nn_fuse *fz)
{
    (void)fz; /* its updates are lazy and sparse, never fused */
    fm_state *f = L->priv;
    const nn_buf *A = sten__buf(ws, net, L);
    nn_weight *w = &net->weights[L->in[0]];
    const sten_csr *XT = &ws->buf[w->src].xt;
    const uint32_t K = f->K;
    double gb = 0.0;
    for (uint32_t b = 0; b < ws->B; b++)
        gb += A->delta[b];
    w->gb[0] += (float)gb;
    const uint32_t *rid = ws->buf[w->src].rid; /* a compact transpose's rows, or NULL */
    if (!rid) {
        memset(w->gW, 0, (size_t)w->rows * sizeof *w->gW);
        memset(f->gV, 0, (size_t)w->rows * K * sizeof *f->gV);
    }
    w->g_fresh = false;
    const int nt = sten__threads_for(ctx, (int64_t)XT->nnz * K, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 64)
    for (uint32_t r = 0; r < XT->rows; r++) {
        const uint32_t j = rid ? rid[r] : r;
        const float *v = f->V + (uint64_t)j * K;
        float *gv = f->gV + (uint64_t)j * K;
        if (rid) { /* only the touched rows are read by the update: zero those */
            w->gW[j] = 0.0f;
            memset(gv, 0, K * sizeof *gv);
        }
        for (uint64_t e = XT->row_ptr[r]; e < XT->row_ptr[r + 1]; e++) {
            const uint32_t b = XT->col[e];
            const float x = XT->val ? XT->val[e] : 1.0f, d = A->delta[b];
            const float *s = A->scratch + (uint64_t)b * K;
            w->gW[j] += d * x;
            for (uint32_t q = 0; q < K; q++)
                gv[q] += d * x * (s[q] - x * v[q]);
        }
    }
}

const nn_layer_ops sten__layer_fm = {
    .name = "FactorizationMachine",
    .type = STEN_LAYER_FACTORIZATION_MACHINE,
    .settings = fm_settings,
    .n_settings = sizeof fm_settings / sizeof fm_settings[0],
    .check = fm_check,
    .build = fm_build,
    .free = fm_free,
    .init = fm_init,
    .forward = fm_forward,
    .backward = fm_backward,
    .ws_floats = fm_ws_floats,
};
