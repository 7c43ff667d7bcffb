/* linear.c — SageMaker's Linear Learner: a linear binary classifier,
 * regressor or multiclass classifier trained by mini-batch SGD or Adam,
 * num_models settings (learning rate, wd, l1) side by side over the same
 * shuffled batches. Dense rows: every model's scores from one SGEMM per
 * batch. Sparse rows (a CSR, never spread out): scores gathered from the
 * weight rows of the batch's features, and each step updates only those
 * rows (lazily, as SparseAdam does). No eps-insensitive, quantile or huber
 * losses. */
#include "algo_int.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_BLOCK 4096                  /* rows per scoring block */
#define MAX_PARAMS ((uint64_t)1 << 28)   /* feature_dim x num_models x outputs */
#define ADAM_B1 0.9f
#define ADAM_B2 0.999f
#define ADAM_EPS 1e-8f

sten_linear_opts sten_linear_defaults(void)
{
    return (sten_linear_opts){.feature_dim = 0, .predictor_type = STEN_LINEAR_BINARY, .num_classes = 0,
                              .loss = STEN_LINEAR_LOSS_AUTO, .l1 = -1, .wd = -1, .learning_rate = 0,
                              .optimizer = STEN_LINEAR_OPT_AUTO, .mini_batch_size = 1000, .epochs = 15,
                              .normalize_data = true, .normalize_label = -1, .num_models = 0,
                              .selection = STEN_LINEAR_SEL_ACCURACY, .beta = 1, .target_recall = 0.8f,
                              .target_precision = 0.8f, .early_stopping_patience = 3,
                              .early_stopping_tolerance = 0.001f, .use_bias = true, .margin = 1,
                              .num_point_for_scaler = 10000, .seed = 12134};
}

void sten_linear_free(sten_ctx *ctx, sten_linear *m)
{
    if (!m)
        return;
    sten_free(ctx, m->weights), sten_free(ctx, m->bias);
    memset(m, 0, sizeof *m);
}

static const char *const loss_names[] = {"auto", "logistic", "squared_loss", "absolute_loss", "hinge_loss",
                                         "eps_insensitive_squared_loss", "eps_insensitive_absolute_loss",
                                         "quantile_loss", "huber_loss", "softmax_loss"};
static const char *const pred_names[] = {"binary_classifier", "regressor", "multiclass_classifier"};

static sten_linear_loss resolved(const sten_linear_opts *o)
{
    if (o->loss != STEN_LINEAR_LOSS_AUTO)
        return o->loss;
    return o->predictor_type == STEN_LINEAR_BINARY ? STEN_LINEAR_LOGISTIC
         : o->predictor_type == STEN_LINEAR_REGRESSOR ? STEN_LINEAR_SQUARED : STEN_LINEAR_SOFTMAX;
}

const char *sten__linear_loss_problem(const sten_linear_opts *o, sten_status *code, char *buf, size_t n)
{
    const sten_linear_loss l = o->loss;
    if ((unsigned)l > STEN_LINEAR_SOFTMAX || (unsigned)o->predictor_type > STEN_LINEAR_MULTICLASS) {
        *code = STEN_E_INVALID;
        snprintf(buf, n, "predictor_type or loss out of range");
        return buf;
    }
    if (l >= STEN_LINEAR_EPS_SQUARED && l <= STEN_LINEAR_HUBER) {
        *code = STEN_E_UNSUPPORTED;
        snprintf(buf, n, "hyperparameter loss = \"%s\" is not supported yet (sten trains logistic, hinge_loss, "
                 "squared_loss, absolute_loss and softmax_loss; docs/builtins.md)", loss_names[l]);
        return buf;
    }
    static const char *const allowed[] = {"auto, logistic or hinge_loss", "auto, squared_loss or absolute_loss",
                                          "auto or softmax_loss"};
    const int p = o->predictor_type;
    const bool fits = l == STEN_LINEAR_LOSS_AUTO ||
                      (p == STEN_LINEAR_BINARY && (l == STEN_LINEAR_LOGISTIC || l == STEN_LINEAR_HINGE)) ||
                      (p == STEN_LINEAR_REGRESSOR && (l == STEN_LINEAR_SQUARED || l == STEN_LINEAR_ABSOLUTE)) ||
                      (p == STEN_LINEAR_MULTICLASS && l == STEN_LINEAR_SOFTMAX);
    if (fits)
        return NULL;
    *code = STEN_E_RANGE;
    snprintf(buf, n, "hyperparameter loss = \"%s\" does not apply to predictor_type %s (expected %s)",
             loss_names[l], pred_names[p], allowed[p]);
    return buf;
}

/* ------------------------------------------------------------- the losses */

/* One row's loss for one model's C raw scores s and label y; g (C, may be
 * NULL, may be s) gets d loss / d s. Labels: 0/1 (logistic, hinge), a value
 * (squared, absolute), a class (softmax). */
static double row_loss(sten_linear_loss L, const float *s, uint32_t C, float y, float margin, float *g)
{
    switch (L) {
    case STEN_LINEAR_LOGISTIC: { /* in float: the hot loop of training */
        const float z = s[0], t = y > 0.5f, e = expf(-fabsf(z));
        if (g) /* sigmoid(z) - t, from e = exp(-|z|) */
            g[0] = (z >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e)) - t;
        return (double)log1pf(e) + (z > 0 ? z : 0) - t * (double)z;
    }
    case STEN_LINEAR_HINGE: {
        const double t = y > 0.5f ? 1 : -1, m = t * s[0];
        if (g)
            g[0] = m < margin ? (float)-t : 0.0f;
        return m < margin ? margin - m : 0.0;
    }
    case STEN_LINEAR_ABSOLUTE: {
        const double d = (double)s[0] - y;
        if (g)
            g[0] = d > 0 ? 1.0f : d < 0 ? -1.0f : 0.0f;
        return fabs(d);
    }
    case STEN_LINEAR_SOFTMAX: {
        double mx = s[0], sum = 0;
        for (uint32_t c = 1; c < C; c++)
            mx = s[c] > mx ? s[c] : mx;
        for (uint32_t c = 0; c < C; c++)
            sum += exp(s[c] - mx);
        const uint32_t k = (uint32_t)y;
        const double loss = log(sum) + mx - s[k];
        if (g) /* g may be s: each g[c] needs only s[c] */
            for (uint32_t c = 0; c < C; c++)
                g[c] = (float)(exp(s[c] - mx) / sum - (c == k));
        return loss;
    }
    default: { /* squared */
        const double d = (double)s[0] - y;
        if (g)
            g[0] = (float)(2 * d);
        return d * d;
    }
    }
}

/* ------------------------------------------------------------------- rows */

/* Rows as training, scoring and evaluation take them: dense X (n x D,
 * row-major), or every row of a CSR S (columns below D; no values: 1). */
typedef struct {
    const float *X;
    const sten_csr *S;
    uint64_t n;
} lrows;

static lrows dense_rows(const float *X, uint64_t n)
{
    return (lrows){.X = X, .S = NULL, .n = X ? n : 0};
}

static lrows csr_rows(const sten_csr *S)
{
    return (lrows){.X = NULL, .S = S, .n = S ? S->rows : 0};
}

/* Sc (B x N) = rows r0 .. r0 + B - 1 of R times W (D x N). */
static void block_scores(sten_ctx *ctx, lrows R, uint32_t D, uint64_t r0, uint32_t B, const float *W, uint32_t N,
                         float *Sc)
{
    if (R.X) {
        // X rows: (B, D) row-major, W: (D, N), Sc: (B, N)
        sten__gemm_blas(ctx, STEN_NO_TRANS, STEN_NO_TRANS, B, N, D, 1.0f, R.X + r0 * D, D, W, N, 0.0f, Sc, N);
        return;
    }
    const sten_csr *S = R.S;
    const int nt = sten__threads_for(ctx, (int64_t)(S->row_ptr[r0 + B] - S->row_ptr[r0]) * N, 1 << 16);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (uint32_t i = 0; i < B; i++) {
        float *s = Sc + (size_t)i * N;
        for (uint32_t c = 0; c < N; c++)
            s[c] = 0;
        for (uint64_t e = S->row_ptr[r0 + i]; e < S->row_ptr[r0 + i + 1]; e++) {
            const float v = S->val ? S->val[e] : 1.0f, *w = W + (size_t)S->col[e] * N;
            for (uint32_t c = 0; c < N; c++)
                s[c] += v * w[c];
        }
    }
}

/* --------------------------------------------------------------- training */

/* The per-column constants of one step (MC each): learning rate, wd, the
 * l1 shrink lr * l1, Adam's inverse bias corrections, and 1 for the
 * columns of active models, 0 for stopped ones. */
typedef struct {
    float *lr, *wd, *shrink, *ic1, *ic2, *on;
} step_consts;

typedef struct {
    uint32_t D, C, M, MC;
    sten_linear_loss L;
    float margin;
    bool adam, bias;
    float *W, *b, *gW, *gb, *m1, *v1, *mb, *vb; /* normalised space: D x MC, MC; gW below */
    float *Wo, *bo;                             /* the input's space */
    float *mu, *isd;                            /* D */
    /* W, m1, v1 rows are ld floats apart. Dense rows: ld = MC, three arrays.
     * Sparse rows: one array of D rows [w (MC) | m1 (MC) | v1 (MC) | isd |
     * slot], all a feature needs in one place (a step visits it at random),
     * slot (uint32 bits) the feature's gradient row in the batch, UINT32_MAX
     * outside it; a batch's features once each in touched (cap of them), its
     * gradient compact in gW (cap x MC, row r for touched[r]). Dense: gW is
     * D x MC. */
    uint32_t ld;
    float *rows;
    uint32_t *touched;
    uint64_t cap;
    step_consts K; /* one allocation of 6 x MC floats, at K.lr */
    double ymu, ysd;
    float lr[STEN_LINEAR_MAX_MODELS], wd[STEN_LINEAR_MAX_MODELS], l1[STEN_LINEAR_MAX_MODELS];
    uint32_t t[STEN_LINEAR_MAX_MODELS];
    bool active[STEN_LINEAR_MAX_MODELS];
} trainer;

/* A sparse feature row's slot (its uint32 bits after isd). */
static inline uint32_t get_slot(const float *row, uint32_t MC)
{
    uint32_t v;
    memcpy(&v, row + 3 * MC + 1, sizeof v);
    return v;
}

/* Sets a sparse feature row's slot (uint32 bits after its isd). */
static inline void set_slot(float *row, uint32_t MC, uint32_t v)
{
    memcpy(row + 3 * MC + 1, &v, sizeof v);
}

/* Wo, bo: every model's weights in the input's scale (normalisation folded). */
static void to_original(trainer *T)
{
    const uint32_t MC = T->MC;
    for (uint32_t k = 0; k < MC; k++) {
        double shift = 0;
        for (uint32_t j = 0; j < T->D; j++) {
            const double w = (double)T->W[(size_t)j * T->ld + k] * T->isd[j];
            T->Wo[(size_t)j * MC + k] = (float)(w * T->ysd);
            shift += w * T->mu[j];
        }
        T->bo[k] = (float)(T->ysd * ((double)T->b[k] - shift) + T->ymu);
    }
}

/* out[m] += the summed loss of each of the M models (columns of W, bias b,
 * input scale) over rows R with labels y. S: EVAL_BLOCK x MC scratch. */
static void eval_losses(sten_ctx *ctx, const trainer *T, const float *W, const float *b, lrows R, const float *y,
                        float *S, double *out)
{
    const uint32_t MC = T->MC, C = T->C;
    const uint64_t n = R.n;
    for (uint64_t r0 = 0; r0 < n; r0 += EVAL_BLOCK) {
        const uint32_t B = (uint32_t)(n - r0 < EVAL_BLOCK ? n - r0 : EVAL_BLOCK);
        block_scores(ctx, R, T->D, r0, B, W, MC, S);
        for (uint32_t i = 0; i < B; i++)
            for (uint32_t m = 0; m < T->M; m++) {
                float *s = S + (size_t)i * MC + (size_t)m * C;
                for (uint32_t c = 0; c < C; c++)
                    s[c] += b[m * C + c];
                out[m] += row_loss(T->L, s, C, y[r0 + i], T->margin, NULL);
            }
    }
}

/* One update row: weights w, gradient g, Adam moments m1, v1 (MC each). */
STEN__SIMD_CLONES
static void update_row(const step_consts *K, bool adam, bool bias, uint32_t MC, float *restrict w,
                       const float *restrict g, float *restrict m1, float *restrict v1)
{
    const float *restrict lr = K->lr, *restrict wd = K->wd, *restrict shrink = K->shrink, *restrict on = K->on;
    const float *restrict ic1 = K->ic1, *restrict ic2 = K->ic2;
    for (uint32_t k = 0; k < MC; k++) {
        const float gk = g[k] + (bias ? 0.0f : wd[k] * w[k]);
        float nw;
        if (adam) {
            m1[k] = ADAM_B1 * m1[k] + (1 - ADAM_B1) * gk;
            v1[k] = ADAM_B2 * v1[k] + (1 - ADAM_B2) * gk * gk;
            nw = w[k] - lr[k] * (m1[k] * ic1[k]) / (sqrtf(v1[k] * ic2[k]) + ADAM_EPS);
        } else {
            nw = w[k] - lr[k] * gk;
        }
        if (!bias) { /* l1's proximal shrink (so weights reach 0); none when shrink is 0 */
            const float a = fabsf(nw) - shrink[k];
            nw = a > 0 ? copysignf(a, nw) : 0.0f;
        }
        w[k] = on[k] != 0 ? nw : w[k]; /* a stopped model keeps its weights */
    }
}

/* A step's constants (T->K) for the active models, their step counts
 * advanced. */
static void update_consts(trainer *T)
{
    const uint32_t C = T->C;
    step_consts *K = &T->K;
    for (uint32_t m = 0; m < T->M; m++) {
        float c1 = 1, c2 = 1; /* Adam's bias corrections */
        if (T->active[m]) {
            T->t[m]++;
            c1 = 1 - powf(ADAM_B1, (float)T->t[m]), c2 = 1 - powf(ADAM_B2, (float)T->t[m]);
        }
        for (uint32_t c = 0; c < C; c++) {
            const uint32_t k = m * C + c;
            K->lr[k] = T->lr[m], K->wd[k] = T->wd[m], K->shrink[k] = T->lr[m] * T->l1[m];
            K->ic1[k] = 1 / c1, K->ic2[k] = 1 / c2, K->on[k] = T->active[m];
        }
    }
}

/* One dense step for the active models from the gradient (gW, gb), every
 * weight row and the bias: wd as an L2 term, then l1 as a proximal shrink
 * by lr * l1. */
static void update(trainer *T)
{
    update_consts(T);
    for (uint32_t j = 0; j < T->D; j++)
        update_row(&T->K, T->adam, false, T->MC, T->W + (size_t)j * T->ld, T->gW + (size_t)j * T->MC,
                   T->m1 + (size_t)j * T->ld, T->v1 + (size_t)j * T->ld);
    if (T->bias)
        update_row(&T->K, T->adam, true, T->MC, T->b, T->gb, T->mb, T->vb);
}

/* The settings of the M models: the first as given (auto: wd and l1 0),
 * the others drawn around it, seeded: learning rate x 10^U(-1, 1); wd and
 * l1 likewise when given above 0, wd auto 0 or 10^U(-6, -2) by turns. */
static void grid(trainer *T, const sten_linear_opts *o, float lr0)
{
    sten_rng r;
    sten_rng_init(&r, o->seed, 0x6c696e6d6f64656cull); /* "linmodel" */
    for (uint32_t m = 0; m < T->M; m++) {
        const float u1 = sten_rng_uniform(&r), u2 = sten_rng_uniform(&r), u3 = sten_rng_uniform(&r);
        if (m == 0) {
            T->lr[0] = lr0, T->wd[0] = o->wd > 0 ? o->wd : 0, T->l1[0] = o->l1 > 0 ? o->l1 : 0;
            continue;
        }
        T->lr[m] = lr0 * powf(10.0f, 2 * u1 - 1);
        T->wd[m] = o->wd > 0 ? o->wd * powf(10.0f, 2 * u2 - 1) : o->wd < 0 && m % 2 ? powf(10.0f, -6 + 4 * u2) : 0;
        T->l1[m] = o->l1 > 0 ? o->l1 * powf(10.0f, 2 * u3 - 1) : 0;
    }
}

static sten_status check(sten_ctx *ctx, const sten_linear_opts *o)
{
    char buf[300];
    sten_status code;
    if (sten__linear_loss_problem(o, &code, buf, sizeof buf))
        return sten_fail(ctx, code == STEN_E_RANGE ? STEN_E_INVALID : code, "linear-learner: %s", buf);
    const char *bad = !o->feature_dim ? "feature_dim" : !o->mini_batch_size ? "mini_batch_size"
                    : !o->epochs ? "epochs" : !o->early_stopping_patience ? "early_stopping_patience"
                    : !o->num_point_for_scaler ? "num_point_for_scaler" : NULL;
    if (bad)
        return sten_fail(ctx, STEN_E_INVALID, "linear-learner: %s must be at least 1", bad);
    if ((o->predictor_type == STEN_LINEAR_MULTICLASS) != (o->num_classes >= 3))
        return sten_fail(ctx, STEN_E_INVALID, "linear-learner: num_classes = %u with predictor_type %s (expected 3 "
                         "or more for multiclass_classifier, else 0)", o->num_classes, pred_names[o->predictor_type]);
    if (o->num_models > STEN_LINEAR_MAX_MODELS || !(o->learning_rate >= 0) || !(o->early_stopping_tolerance >= 0))
        return sten_fail(ctx, STEN_E_INVALID, "linear-learner: num_models above %d, or a negative learning_rate or "
                         "early_stopping_tolerance", STEN_LINEAR_MAX_MODELS);
    return STEN_OK;
}

/* The labels y of n rows, the first of them row first + 1 of the channel. */
static sten_status check_labels(sten_ctx *ctx, const sten_linear_opts *o, const float *y, uint64_t n, uint64_t first,
                                const char *channel)
{
    for (uint64_t i = 0; i < n; i++) {
        const float v = y[i];
        const bool ok = o->predictor_type == STEN_LINEAR_BINARY ? v == 0 || v == 1
                      : o->predictor_type == STEN_LINEAR_MULTICLASS ? v >= 0 && v < o->num_classes && v == floorf(v)
                                                                    : isfinite(v);
        if (!ok)
            return sten_fail(ctx, STEN_E_RANGE, "linear-learner: %s row %llu has label %g (%s expects %s)", channel,
                             (unsigned long long)(first + i + 1), (double)v, pred_names[o->predictor_type],
                             o->predictor_type == STEN_LINEAR_BINARY ? "0 or 1" : "0 to num_classes - 1");
    }
    return STEN_OK;
}

/* Rows whose columns reach past the model's feature_dim (a sparse matrix's
 * width is its highest column plus one at most) are refused, naming which. */
static sten_status check_width(sten_ctx *ctx, lrows R, uint32_t D, const char *what)
{
    if (R.S && R.S->cols > D)
        return sten_fail(ctx, STEN_E_RANGE, "linear-learner: the %s rows have %u columns, more than feature_dim = %u",
                         what, R.S->cols, D);
    return STEN_OK;
}

/* Column means and 1/standard deviation of X (1 for a constant column);
 * without a bias the data is scaled, not shifted. Two passes down the rows
 * (row-major order, as X lies); acc: 2 x D doubles of scratch. */
static void moments(const float *X, uint64_t n, uint32_t D, bool shift, float *mu, float *isd, double *acc)
{
    double *s = acc, *ss = acc + D;
    memset(acc, 0, 2 * (size_t)D * sizeof *acc);
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < D; j++)
            s[j] += X[i * D + j];
    for (uint32_t j = 0; j < D; j++)
        s[j] /= (double)n;
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < D; j++)
            ss[j] += ((double)X[i * D + j] - s[j]) * ((double)X[i * D + j] - s[j]);
    for (uint32_t j = 0; j < D; j++) {
        const double sd = sqrt(ss[j] / (double)n);
        mu[j] = shift ? (float)s[j] : 0.0f;
        isd[j] = sd > 0 ? (float)(1.0 / sd) : 1.0f;
    }
}

/* Sparse rows are scaled, never shifted (a shift would fill them in): each
 * column by 1 / the root mean square of its non-zero entries, so one-hot
 * columns keep 1 and a rare column is not blown up by its tiny spread over
 * all rows. Summed in the feature rows themselves (their isd and slot
 * places: one visit per entry), then isd set (1 for an empty column) and
 * every slot cleared. normalize false: isd 1. */
static void sparse_scales(trainer *T, const sten_csr *S, bool normalize)
{
    const uint32_t MC = T->MC, ld = T->ld;
    for (uint64_t e = 0; normalize && e < S->nnz; e++) {
        float *row = T->rows + (size_t)S->col[e] * ld;
        const float v = S->val ? S->val[e] : 1.0f;
        row[3 * MC] += v * v;
        set_slot(row, MC, get_slot(row, MC) + 1);
    }
    for (uint32_t j = 0; j < T->D; j++) {
        float *row = T->rows + (size_t)j * ld;
        const uint32_t n = get_slot(row, MC);
        T->isd[j] = normalize && n && row[3 * MC] > 0 ? sqrtf((float)n / row[3 * MC]) : 1.0f;
        row[3 * MC] = T->isd[j];
        set_slot(row, MC, UINT32_MAX); /* no feature is in a batch */
    }
}

static void trainer_free(sten_ctx *ctx, trainer *T)
{
    if (T->rows) /* W, m1 and v1 live in it */
        sten_free(ctx, T->rows), T->W = T->m1 = T->v1 = NULL;
    float *p[] = {T->W, T->b, T->gW, T->gb, T->m1, T->v1, T->mb, T->vb, T->Wo, T->bo, T->mu, T->isd};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        sten_free(ctx, p[i]);
    sten_free(ctx, T->touched), sten_free(ctx, T->K.lr);
}

/* The trainer of o's models; the normalisation is learnt from the rows R
 * (the first num_point_for_scaler of the training rows) with labels y. */
static sten_status trainer_init(sten_ctx *ctx, trainer *T, const sten_linear_opts *o, lrows R, const float *y)
{
    memset(T, 0, sizeof *T);
    const uint64_t n = R.n;
    T->D = o->feature_dim;
    T->C = o->predictor_type == STEN_LINEAR_MULTICLASS ? o->num_classes : 1;
    T->M = o->num_models ? o->num_models : 8;
    T->MC = T->M * T->C;
    T->L = resolved(o);
    T->margin = o->margin;
    T->adam = o->optimizer != STEN_LINEAR_SGD;
    T->bias = o->use_bias;
    if ((uint64_t)T->D * T->MC > MAX_PARAMS)
        return sten_fail(ctx, STEN_E_INVALID, "linear-learner: feature_dim %u x %u models x %u outputs is more "
                         "than sten trains at once", T->D, T->M, T->C);
    const size_t dm = (size_t)T->D * T->MC * sizeof(float), cm = (size_t)T->MC * sizeof(float);
    if (R.S) {
        T->ld = 3 * T->MC + 2;
        if (!(T->rows = sten_calloc(ctx, (size_t)T->D * T->ld, sizeof(float))))
            return STEN_E_NOMEM;
        T->W = T->rows, T->m1 = T->rows + T->MC, T->v1 = T->rows + 2 * T->MC;
    } else {
        T->ld = T->MC;
        if (!(T->W = sten_calloc(ctx, 1, dm)) || !(T->m1 = sten_calloc(ctx, 1, dm)) ||
            !(T->v1 = sten_calloc(ctx, 1, dm)))
            return STEN_E_NOMEM;
    }
    if ((!R.S && !(T->gW = sten_alloc(ctx, dm))) || !(T->Wo = sten_alloc(ctx, dm)) || !(T->b = sten_calloc(ctx, 1, cm)) ||
        !(T->gb = sten_alloc(ctx, cm)) || !(T->mb = sten_calloc(ctx, 1, cm)) || !(T->vb = sten_calloc(ctx, 1, cm)) ||
        !(T->bo = sten_alloc(ctx, cm)) || !(T->mu = sten_calloc(ctx, T->D, sizeof(float))) ||
        !(T->isd = sten_alloc(ctx, T->D * sizeof(float))) || !(T->K.lr = sten_alloc(ctx, 6 * cm)))
        return STEN_E_NOMEM;
    T->K.wd = T->K.lr + T->MC, T->K.shrink = T->K.wd + T->MC, T->K.ic1 = T->K.shrink + T->MC;
    T->K.ic2 = T->K.ic1 + T->MC, T->K.on = T->K.ic2 + T->MC;
    if (R.S) {
        sparse_scales(T, R.S, o->normalize_data);
    } else if (o->normalize_data) {
        double *acc = sten_alloc(ctx, 2 * (size_t)T->D * sizeof *acc);
        if (!acc)
            return STEN_E_NOMEM;
        moments(R.X, n, T->D, o->use_bias, T->mu, T->isd, acc);
        sten_free(ctx, acc);
    } else {
        for (uint32_t j = 0; j < T->D; j++)
            T->isd[j] = 1;
    }
    T->ymu = 0, T->ysd = 1;
    if (o->predictor_type == STEN_LINEAR_REGRESSOR && o->normalize_label != 0) {
        double s = 0, ss = 0;
        for (uint64_t i = 0; i < n; i++)
            s += y[i];
        const double mean = s / (double)n;
        for (uint64_t i = 0; i < n; i++)
            ss += (y[i] - mean) * (y[i] - mean);
        T->ymu = o->use_bias ? mean : 0;
        T->ysd = ss > 0 ? sqrt(ss / (double)n) : 1;
    }
    const float lr0 = o->learning_rate > 0 ? o->learning_rate : T->adam ? 0.01f : 0.1f;
    grid(T, o, lr0);
    for (uint32_t m = 0; m < T->M; m++)
        T->active[m] = true;
    return STEN_OK;
}

/* Sparse rows: room for the features of any mini_batch_size rows of X (the
 * touched list and the compact gradient rows), grown when a chunk needs
 * more (at most feature_dim). */
static sten_status reserve(sten_ctx *ctx, trainer *T, const sten_csr *X, uint32_t mbs)
{
    uint64_t most = 0;
    for (uint32_t i = 0; i < X->rows; i++)
        most = STEN__MAXU(most, X->row_ptr[i + 1] - X->row_ptr[i]);
    const uint64_t need = STEN__MIN(STEN__MAXU(most * STEN__MIN(mbs, X->rows), 1), T->D);
    if (need <= T->cap)
        return STEN_OK;
    sten_free(ctx, T->touched), sten_free(ctx, T->gW);
    T->touched = sten_alloc(ctx, need * sizeof *T->touched);
    T->gW = sten_alloc(ctx, need * T->MC * sizeof(float));
    T->cap = T->touched && T->gW ? need : 0;
    return T->cap ? STEN_OK : STEN_E_NOMEM;
}

/* The batch's rows idx (B) with scores S (B x MC, before the bias): each
 * model's loss added to eloss, S overwritten by d mean loss / d score (0
 * for stopped models), gb their sums. */
static void batch_gradient(trainer *T, float *S, const float *y, const uint32_t *idx, uint32_t B, double *eloss)
{
    const uint32_t MC = T->MC, C = T->C;
    memset(T->gb, 0, MC * sizeof(float));
    for (uint32_t i = 0; i < B; i++) {
        const float yi = y[idx[i]];
        const float yl = T->L == STEN_LINEAR_SQUARED || T->L == STEN_LINEAR_ABSOLUTE ? (float)((yi - T->ymu) / T->ysd)
                                                                                      : yi;
        for (uint32_t m = 0; m < T->M; m++) {
            float *s = S + (size_t)i * MC + (size_t)m * C;
            for (uint32_t c = 0; c < C; c++)
                s[c] += T->b[m * C + c];
            eloss[m] += row_loss(T->L, s, C, yl, T->margin, s); /* the gradient in place */
            for (uint32_t c = 0; c < C; c++) {
                s[c] = T->active[m] ? s[c] / (float)B : 0.0f;
                T->gb[m * C + c] += s[c];
            }
        }
    }
}

/* One dense batch: rows idx normalised into Xb (B x D), every model's
 * scores by one SGEMM, the gradient by another, every weight updated. */
static void dense_step(sten_ctx *ctx, trainer *T, const float *X, const float *y, const uint32_t *idx, uint32_t B,
                       float *Xb, float *S, double *eloss)
{
    const uint32_t D = T->D, MC = T->MC;
    for (uint32_t i = 0; i < B; i++) {
        const float *x = X + (size_t)idx[i] * D;
        if (i + 8 < B) /* the shuffled rows are scattered over memory: ask for one ahead */
            for (uint32_t j = 0; j < D; j += 16)
                __builtin_prefetch(X + (size_t)idx[i + 8] * D + j);
        for (uint32_t j = 0; j < D; j++)
            Xb[(size_t)i * D + j] = (x[j] - T->mu[j]) * T->isd[j];
    }
    // Xb: (B, D) row-major, W: (D, MC): every model's scores at once, S: (B, MC)
    sten__gemm_blas(ctx, STEN_NO_TRANS, STEN_NO_TRANS, B, MC, D, 1.0f, Xb, D, T->W, MC, 0.0f, S, MC);
    batch_gradient(T, S, y, idx, B, eloss);
    // gW: (D, MC) = Xb^T (D, B) . G (B, MC), G = S
    sten__gemm_blas(ctx, STEN_TRANS, STEN_NO_TRANS, D, MC, B, 1.0f, Xb, D, S, MC, 0.0f, T->gW, MC);
    update(T);
}

/* 8 floats, loaded and stored unaligned: the models' columns of a weight
 * row, 8 at a time, in one vector register. */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

/* Scores S (rows i0 .. i1 - 1 of the batch idx, B rows; S: B x MC) gathered
 * from the weight rows of their features, 8 columns at a time held in a
 * register across a row's entries. The shuffled rows lie anywhere in
 * memory: their offsets are asked for 16 rows ahead, their entries 8
 * ahead, their features' rows 2 ahead. */
STEN__SIMD_CLONES
static void sparse_scores(const trainer *T, const sten_csr *X, const uint32_t *idx, uint32_t i0, uint32_t i1,
                          uint32_t B, float *restrict S)
{
    const uint32_t MC = T->MC, M8 = MC / 8 * 8, ld = T->ld;
    const float *restrict rows = T->rows, *restrict val = X->val;
    const uint64_t *restrict ptr = X->row_ptr;
    const uint32_t *restrict col = X->col;
    for (uint32_t i = i0; i < i1; i++) {
        if (i + 16 < B)
            __builtin_prefetch(ptr + idx[i + 16]);
        if (i + 8 < B)
            for (uint64_t e = ptr[idx[i + 8]], end = ptr[idx[i + 8] + 1]; e < end; e += 16) {
                __builtin_prefetch(col + e);
                if (val)
                    __builtin_prefetch(val + e);
            }
        if (i + 2 < B)
            for (uint64_t e = ptr[idx[i + 2]], end = ptr[idx[i + 2] + 1]; e < end; e++)
                __builtin_prefetch(rows + (size_t)col[e] * ld);
        float *restrict s = S + (size_t)i * MC;
        const uint64_t e0 = ptr[idx[i]], e1 = ptr[idx[i] + 1];
        for (uint32_t c0 = 0; c0 < M8; c0 += 8) {
            v8f acc = {0};
            for (uint64_t e = e0; e < e1; e++) {
                const float *row = rows + (size_t)col[e] * ld;
                acc += (val ? val[e] : 1.0f) * row[3 * MC] * *(const v8f *)(row + c0);
            }
            *(v8f *)(s + c0) = acc;
        }
        for (uint32_t c = M8; c < MC; c++) {
            float acc = 0;
            for (uint64_t e = e0; e < e1; e++) {
                const float *row = rows + (size_t)col[e] * ld;
                acc += (val ? val[e] : 1.0f) * row[3 * MC] * row[c];
            }
            s[c] = acc;
        }
    }
}

/* Each feature of the batch, first met in row order, gets the next
 * gradient row (its slot), on the touched list. Returns their count. */
static uint64_t sparse_slots(trainer *T, const sten_csr *X, const uint32_t *idx, uint32_t B)
{
    const uint32_t MC = T->MC, ld = T->ld;
    const uint64_t *ptr = X->row_ptr;
    const uint32_t *col = X->col;
    uint64_t nt = 0;
    for (uint32_t i = 0; i < B; i++)
        for (uint64_t e = ptr[idx[i]]; e < ptr[idx[i] + 1]; e++) {
            float *row = T->rows + (size_t)col[e] * ld;
            if (get_slot(row, MC) == UINT32_MAX) {
                set_slot(row, MC, (uint32_t)nt);
                T->touched[nt++] = col[e];
            }
        }
    return nt;
}

/* The batch's weight gradient scattered into its features' gradient rows,
 * gW[slot of j] += x_ij G[i] (G: B x MC), for the slots in [s0, s1) only
 * (one thread's contiguous share, so that threads do not write the same
 * cache lines): each gradient row is summed by one thread, in row order,
 * so the result does not depend on the thread count. Rows cleared first. */
STEN__SIMD_CLONES
static void sparse_grad(const trainer *T, const sten_csr *X, const uint32_t *idx, uint32_t B, const float *restrict G,
                        uint64_t s0, uint64_t s1)
{
    const uint32_t MC = T->MC, M8 = MC / 8 * 8, ld = T->ld;
    float *restrict gW = T->gW;
    const float *restrict rows = T->rows, *restrict val = X->val;
    const uint64_t *restrict ptr = X->row_ptr;
    const uint32_t *restrict col = X->col;
    memset(gW + s0 * MC, 0, (s1 - s0) * MC * sizeof(float));
    for (uint32_t i = 0; i < B; i++) {
        if (i + 2 < B) /* the features' rows again, out of cache since the scores */
            for (uint64_t e = ptr[idx[i + 2]], end = ptr[idx[i + 2] + 1]; e < end; e++)
                __builtin_prefetch(rows + (size_t)col[e] * ld);
        const float *restrict g = G + (size_t)i * MC;
        for (uint64_t e = ptr[idx[i]], end = ptr[idx[i] + 1]; e < end; e++) {
            const float *row = rows + (size_t)col[e] * ld;
            const uint32_t slot = get_slot(row, MC);
            if (slot < s0 || slot >= s1)
                continue;
            const float v = (val ? val[e] : 1.0f) * row[3 * MC];
            float *restrict gw = gW + (size_t)slot * MC;
            for (uint32_t c0 = 0; c0 < M8; c0 += 8)
                *(v8f *)(gw + c0) += v * *(const v8f *)(g + c0);
            for (uint32_t c = M8; c < MC; c++)
                gw[c] += v * g[c];
        }
    }
}

/* One sparse batch, read in place from the CSR: scores gathered from the
 * weight rows of its features, the gradient scattered into a compact copy
 * of those rows, and only they (and the bias) updated; the scores, the
 * gradient rows and the updates shared among `threads` threads (the same
 * result for any count). */
static void sparse_step(trainer *T, const sten_csr *X, const float *y, const uint32_t *idx, uint32_t B, float *S,
                        double *eloss, int threads)
{
    const int nt0 = B >= 64 ? threads : 1;
#pragma omp parallel num_threads(nt0)
    {
        const uint32_t parts = (uint32_t)omp_get_num_threads(), part = (uint32_t)omp_get_thread_num();
        sparse_scores(T, X, idx, (uint32_t)((uint64_t)B * part / parts), (uint32_t)((uint64_t)B * (part + 1) / parts),
                      B, S);
    }
    const uint64_t nt = sparse_slots(T, X, idx, B);
    batch_gradient(T, S, y, idx, B, eloss);
    const int nt1 = nt >= 256 ? threads : 1;
#pragma omp parallel num_threads(nt1)
    {
        const uint32_t parts = (uint32_t)omp_get_num_threads(), part = (uint32_t)omp_get_thread_num();
        sparse_grad(T, X, idx, B, S, nt * part / parts, nt * (part + 1) / parts);
#pragma omp barrier
#pragma omp single
        update_consts(T);
#pragma omp for schedule(static)
        for (uint64_t r = 0; r < nt; r++) {
            const size_t j = T->touched[r], ld = T->ld;
            update_row(&T->K, T->adam, false, T->MC, T->W + j * ld, T->gW + r * T->MC, T->m1 + j * ld,
                       T->v1 + j * ld);
            set_slot(T->rows + j * ld, T->MC, UINT32_MAX);
        }
    }
    if (T->bias)
        update_row(&T->K, T->adam, true, T->MC, T->b, T->gb, T->mb, T->vb);
}

/* One pass over rows R in the order perm; eloss[m] += each model's summed
 * loss before its updates (normalised scale). Xb: B x D (dense rows), S: B x MC.
 * A dense batch is too small to share between OpenBLAS's threads with
 * profit (they spent more time waiting than working), so its products run
 * on one; a sparse batch shares its rows and gradient rows among ctx's
 * threads itself. */
static void epoch(sten_ctx *ctx, trainer *T, lrows R, const float *y, const uint32_t *perm, uint32_t mbs, float *Xb,
                  float *S, double *eloss)
{
    const uint64_t n = R.n;
    const int threads = sten_ctx_threads(ctx);
    sten_ctx_set_threads(ctx, 1);
    for (uint64_t r0 = 0; r0 < n; r0 += mbs) {
        const uint32_t B = (uint32_t)(n - r0 < mbs ? n - r0 : mbs);
        if (R.X)
            dense_step(ctx, T, R.X, y, perm + r0, B, Xb, S, eloss);
        else
            sparse_step(T, R.S, y, perm + r0, B, S, eloss, threads);
    }
    sten_ctx_set_threads(ctx, threads);
}

static void shuffle(sten_rng *r, uint32_t *perm, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (uint64_t i = n - 1; i > 0; i--) {
        const uint32_t j = sten_rng_below(r, (uint32_t)(i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}

/* The raw scores (n x C) of one linear map: rows R . W + b. */
static void raw_scores(sten_ctx *ctx, const float *W, const float *b, uint32_t D, uint32_t C, lrows R, float *S)
{
    for (uint64_t r0 = 0; r0 < R.n; r0 += EVAL_BLOCK) {
        const uint32_t B = (uint32_t)(R.n - r0 < EVAL_BLOCK ? R.n - r0 : EVAL_BLOCK);
        block_scores(ctx, R, D, r0, B, W, C, S + r0 * C);
        for (uint32_t i = 0; i < B; i++)
            for (uint32_t c = 0; c < C; c++)
                S[(r0 + i) * C + c] += b[c];
    }
}

/* Raw scores to SageMaker's: probabilities (logistic, softmax); labels. */
static void finish_scores(const sten_linear *m, float *S, uint64_t n, float *labels)
{
    const uint32_t C = m->outputs;
    const sten_linear_loss L = resolved(&m->opts);
    for (uint64_t i = 0; i < n; i++) {
        float *s = S + i * C;
        if (L == STEN_LINEAR_LOGISTIC)
            s[0] = (float)(1.0 / (1.0 + exp(-(double)s[0])));
        if (L == STEN_LINEAR_SOFTMAX) {
            double mx = s[0], sum = 0;
            uint32_t best = 0;
            for (uint32_t c = 1; c < C; c++)
                if (s[c] > mx)
                    mx = s[c], best = c;
            for (uint32_t c = 0; c < C; c++)
                sum += exp(s[c] - mx);
            for (uint32_t c = 0; c < C; c++)
                s[c] = (float)(exp(s[c] - mx) / sum);
            if (labels)
                labels[i] = (float)best;
        } else if (labels) {
            labels[i] = m->opts.predictor_type == STEN_LINEAR_BINARY ? (float)(s[0] >= m->threshold) : s[0];
        }
    }
}

/* ---------------------------------------------------------------- sources */

/* Labelled rows as training, selection and evaluation read them: all in
 * memory (R and y, one chunk), or a sten_row_source read `chunk` rows at a
 * time, read again from the start for each pass (data larger than memory). */
typedef struct {
    lrows R;
    const float *y;
    const sten_row_source *src;
    uint32_t chunk;
    bool given;    /* in memory: the chunk was given this pass */
    uint64_t seen; /* rows given this pass */
} lsource;

static lsource memory_source(lrows R, const float *y)
{
    return (lsource){.R = R, .y = y};
}

static sten_status src_rewind(sten_ctx *ctx, lsource *s)
{
    s->given = false, s->seen = 0;
    return s->src ? s->src->rewind(ctx, s->src->self) : STEN_OK;
}

/* The pass's next chunk: R->n = 0 at its end; its first row is row
 * s->seen - R->n of the pass. */
static sten_status src_next(sten_ctx *ctx, lsource *s, lrows *R, const float **y)
{
    *R = dense_rows(NULL, 0), *y = NULL;
    if (!s->src) {
        if (!s->given)
            *R = s->R, *y = s->y;
        s->given = true;
    } else {
        const sten_csr *x = NULL;
        const float *l = NULL;
        const sten_status st = s->src->next(ctx, s->src->self, s->chunk, &x, &l);
        if (st)
            return st;
        if (x && x->rows)
            *R = csr_rows(x), *y = l;
    }
    s->seen += R->n;
    return STEN_OK;
}

/* out[m]: each model's mean loss (Wo, bo) over a pass of s, its rows checked
 * (the channel's name in the messages). */
static sten_status source_losses(sten_ctx *ctx, const trainer *T, const sten_linear_opts *o, lsource *s,
                                 const char *channel, float *S, double *out)
{
    for (uint32_t m = 0; m < T->M; m++)
        out[m] = 0;
    sten_status st = src_rewind(ctx, s);
    lrows R;
    const float *y;
    while (!st && !(st = src_next(ctx, s, &R, &y)) && R.n)
        if (!(st = check_width(ctx, R, T->D, channel)) && !(st = check_labels(ctx, o, y, R.n, s->seen - R.n, channel)))
            eval_losses(ctx, T, T->Wo, T->bo, R, y, S, out);
    if (!st && !s->seen)
        st = sten_fail(ctx, STEN_E_INVALID, "linear-learner: no %s rows", channel);
    for (uint32_t m = 0; !st && m < T->M; m++)
        out[m] = isfinite(out[m]) ? out[m] / (double)s->seen : INFINITY;
    return st;
}

/* The kept model's binary threshold, on a pass of the selection rows. */
static sten_status pick(sten_ctx *ctx, sten_linear *out, lsource *s)
{
    const sten_linear_opts *o = &out->opts;
    if (o->predictor_type != STEN_LINEAR_BINARY)
        return STEN_OK;
    out->threshold = resolved(o) == STEN_LINEAR_LOGISTIC ? 0.5f : 0.0f;
    if (o->selection == STEN_LINEAR_SEL_LOSS)
        return STEN_OK;
    float *S = NULL, *Y = NULL;
    uint64_t scap = 0, ycap = 0, n = 0;
    lrows R;
    const float *y;
    sten_status st = src_rewind(ctx, s);
    while (!st && !(st = src_next(ctx, s, &R, &y)) && R.n) {
        if (sten__grow(ctx, (void **)&S, &scap, n + R.n, sizeof *S) ||
            sten__grow(ctx, (void **)&Y, &ycap, n + R.n, sizeof *Y)) {
            st = STEN_E_NOMEM;
            break;
        }
        raw_scores(ctx, out->weights, out->bias, out->dim, 1, R, S + n);
        memcpy(Y + n, y, R.n * sizeof *Y);
        n += R.n;
    }
    if (!st) {
        finish_scores(out, S, n, NULL);
        const float target = o->selection == STEN_LINEAR_SEL_PRECISION_AT_RECALL ? o->target_recall
                                                                                 : o->target_precision;
        st = sten_linear_pick_threshold(ctx, S, Y, n, o->selection, o->beta, target, &out->threshold, NULL);
    }
    sten_free(ctx, S), sten_free(ctx, Y);
    return st;
}

/* Trains the models over passes of tr (each chunk's rows shuffled),
 * keeping (with validation rows va) each one's best epoch; then Wo/bo hold
 * every model's final weights and sel[] their selection losses. `rows`:
 * the most rows a chunk has. */
static sten_status train(sten_ctx *ctx, trainer *T, const sten_linear_opts *o, lsource *tr, lsource *va,
                         uint64_t rows, double *sel, uint32_t *ran)
{
    const uint32_t mbs = o->mini_batch_size, bm = (uint32_t)STEN__MIN(mbs, rows);
    const uint64_t srows = STEN__MAXU(bm, EVAL_BLOCK);
    const bool dense = tr->R.X != NULL;
    uint32_t *perm = sten_alloc(ctx, rows * sizeof *perm);
    float *Xb = dense ? sten_alloc(ctx, (size_t)bm * T->D * sizeof(float)) : NULL;
    float *S = sten_alloc(ctx, srows * T->MC * sizeof(float));
    float *bestW = va ? sten_alloc(ctx, (size_t)T->D * T->MC * sizeof(float)) : NULL;
    float *bestb = va ? sten_alloc(ctx, T->MC * sizeof(float)) : NULL;
    if (!perm || (dense && !Xb) || !S || (va && (!bestW || !bestb))) {
        sten_free(ctx, perm), sten_free(ctx, Xb), sten_free(ctx, S), sten_free(ctx, bestW), sten_free(ctx, bestb);
        return STEN_E_NOMEM;
    }
    double best[STEN_LINEAR_MAX_MODELS], eloss[STEN_LINEAR_MAX_MODELS], vloss[STEN_LINEAR_MAX_MODELS];
    uint32_t stale[STEN_LINEAR_MAX_MODELS] = {0};
    sten_rng r;
    sten_rng_init(&r, o->seed, 0x6c696e73687566ull); /* "linshuf" */
    bool any = true;
    sten_status st = STEN_OK;
    for (uint32_t e = 0; !st && e < o->epochs && any; e++) {
        sten__progress(ctx, "Linear Learner: epochs", "epochs", e, o->epochs);
        for (uint32_t m = 0; m < T->M; m++)
            eloss[m] = 0;
        lrows R;
        const float *y;
        st = src_rewind(ctx, tr);
        while (!st && !(st = src_next(ctx, tr, &R, &y)) && R.n) {
            if (e == 0 && !(st = check_width(ctx, R, T->D, "training")))
                st = check_labels(ctx, o, y, R.n, tr->seen - R.n, "training");
            if (!st && R.S)
                st = reserve(ctx, T, R.S, mbs);
            if (!st && R.n > rows)
                st = sten_fail(ctx, STEN_E_INVALID, "linear-learner: a chunk of %llu rows (at most %llu)",
                               (unsigned long long)R.n, (unsigned long long)rows);
            if (st)
                break;
            shuffle(&r, perm, R.n);
            epoch(ctx, T, R, y, perm, (uint32_t)STEN__MIN(mbs, R.n), Xb, S, eloss);
        }
        if (!st && !tr->seen)
            st = sten_fail(ctx, STEN_E_INVALID, "linear-learner: no training rows");
        for (uint32_t m = 0; m < T->M; m++)
            eloss[m] = isfinite(eloss[m]) ? eloss[m] / (double)tr->seen : INFINITY;
        if (!st && va) {
            to_original(T);
            st = source_losses(ctx, T, o, va, "validation", S, vloss);
        }
        any = false;
        for (uint32_t m = 0; !st && m < T->M; m++) {
            if (!T->active[m])
                continue;
            const double cur = va ? vloss[m] : eloss[m];
            ran[m] = e + 1;
            if (e == 0 || cur < best[m]) {
                if (e > 0 && best[m] - cur > o->early_stopping_tolerance * fabs(best[m]))
                    stale[m] = 0;
                else if (e > 0)
                    stale[m]++;
                best[m] = cur;
                for (uint32_t j = 0; va && j < T->D; j++)
                    memcpy(bestW + (size_t)j * T->MC + m * T->C, T->Wo + (size_t)j * T->MC + m * T->C,
                           T->C * sizeof(float));
                if (va)
                    memcpy(bestb + m * T->C, T->bo + m * T->C, T->C * sizeof(float));
            } else {
                stale[m]++;
            }
            T->active[m] = stale[m] < o->early_stopping_patience;
            any = any || T->active[m];
        }
    }
    if (!st && va) {
        memcpy(T->Wo, bestW, (size_t)T->D * T->MC * sizeof(float));
        memcpy(T->bo, bestb, T->MC * sizeof(float));
        for (uint32_t m = 0; m < T->M; m++)
            sel[m] = isfinite(best[m]) ? best[m] : INFINITY;
    } else if (!st) {
        to_original(T);
        st = source_losses(ctx, T, o, tr, "training", S, sel);
    }
    sten_free(ctx, perm), sten_free(ctx, Xb), sten_free(ctx, S), sten_free(ctx, bestW), sten_free(ctx, bestb);
    return st;
}

/* The first k rows of R (a view: no copy). h holds a sparse view. */
static lrows head_rows(lrows R, uint64_t k, sten_csr *h)
{
    k = STEN__MIN(k, R.n);
    if (R.X)
        return dense_rows(R.X, k);
    *h = *R.S;
    h->rows = (uint32_t)k, h->nnz = R.S->row_ptr[k];
    return csr_rows(h);
}

/* Trains on tr (validation rows va, may be NULL); `rows`: the most rows a
 * chunk of tr has. */
static sten_status fit(sten_ctx *ctx, lsource *tr, lsource *va, uint64_t rows, const sten_linear_opts *o,
                       sten_linear *out, sten_linear_report *report)
{
    memset(out, 0, sizeof *out);
    sten_status st = check(ctx, o);
    if (st)
        return st;
    trainer T;
    memset(&T, 0, sizeof T);
    double sel[STEN_LINEAR_MAX_MODELS] = {0};
    uint32_t ran[STEN_LINEAR_MAX_MODELS] = {0};
    /* the normalisation's rows: the first num_point_for_scaler of the first chunk */
    lrows R, first;
    const float *y;
    sten_csr view;
    if (!(st = src_rewind(ctx, tr)) && !(st = src_next(ctx, tr, &R, &y)) && !R.n)
        st = sten_fail(ctx, STEN_E_INVALID, "linear-learner: no training rows");
    if (!st) {
        first = head_rows(R, o->num_point_for_scaler, &view);
        if (!(st = check_width(ctx, first, o->feature_dim, "training")) &&
            !(st = check_labels(ctx, o, y, first.n, 0, "training")))
            st = trainer_init(ctx, &T, o, first, y);
    }
    if (!st)
        st = train(ctx, &T, o, tr, va, rows, sel, ran);
    uint32_t chosen = 0;
    for (uint32_t m = 1; !st && m < T.M; m++)
        if (sel[m] < sel[chosen])
            chosen = m;
    if (!st && !isfinite(sel[chosen]))
        st = sten_fail(ctx, STEN_E_NUMERIC, "linear-learner: every model's loss diverged (lower learning_rate, or "
                       "set normalize_data)");
    const uint32_t C = T.C;
    if (!st && (!(out->weights = sten_alloc(ctx, (size_t)T.D * C * sizeof(float))) ||
                !(out->bias = sten_alloc(ctx, C * sizeof(float)))))
        st = STEN_E_NOMEM;
    if (!st) {
        for (uint32_t j = 0; j < T.D; j++)
            memcpy(out->weights + (size_t)j * C, T.Wo + (size_t)j * T.MC + chosen * C, C * sizeof(float));
        memcpy(out->bias, T.bo + chosen * C, C * sizeof(float));
        out->dim = T.D;
        out->outputs = C;
        out->opts = *o;
        out->opts.loss = T.L;
        out->opts.optimizer = T.adam ? STEN_LINEAR_ADAM : STEN_LINEAR_SGD;
        out->opts.num_models = T.M;
        out->opts.learning_rate = T.lr[chosen], out->opts.wd = T.wd[chosen], out->opts.l1 = T.l1[chosen];
        st = pick(ctx, out, va ? va : tr);
    }
    if (!st && report) {
        memset(report, 0, sizeof *report);
        report->num_models = T.M, report->chosen = chosen, report->on_validation = va != NULL;
        for (uint32_t m = 0; m < T.M; m++) {
            report->learning_rate[m] = T.lr[m], report->wd[m] = T.wd[m], report->l1[m] = T.l1[m];
            report->loss[m] = sel[m], report->epochs[m] = ran[m];
        }
    }
    trainer_free(ctx, &T);
    if (st)
        sten_linear_free(ctx, out);
    return st;
}

/* In memory: the validation rows' labels checked before any training. */
static sten_status fit_memory(sten_ctx *ctx, lrows R, const float *y, lrows V, const float *yv,
                              const sten_linear_opts *o, sten_linear *out, sten_linear_report *report)
{
    memset(out, 0, sizeof *out);
    if (R.n > UINT32_MAX)
        return sten_fail(ctx, STEN_E_INVALID, "linear-learner: %llu training rows (expected 1 to %u)",
                         (unsigned long long)R.n, UINT32_MAX);
    sten_status st = check(ctx, o);
    if (!st && V.n && yv)
        st = check_labels(ctx, o, yv, V.n, 0, "validation");
    if (st)
        return st;
    lsource tr = memory_source(R, y), va = memory_source(V, yv);
    return fit(ctx, &tr, V.n && yv ? &va : NULL, R.n, o, out, report);
}

sten_status sten_linear_fit(sten_ctx *ctx, const float *X, const float *y, uint64_t n, const float *Xv,
                            const float *yv, uint64_t nv, const sten_linear_opts *o, sten_linear *out,
                            sten_linear_report *report)
{
    return fit_memory(ctx, dense_rows(X, n), y, dense_rows(Xv, nv), yv, o, out, report);
}

sten_status sten_linear_fit_csr(sten_ctx *ctx, const sten_csr *X, const float *y, const sten_csr *Xv,
                                const float *yv, const sten_linear_opts *o, sten_linear *out,
                                sten_linear_report *report)
{
    return fit_memory(ctx, csr_rows(X), y, csr_rows(Xv), yv, o, out, report);
}

sten_status sten_linear_fit_stream(sten_ctx *ctx, const sten_row_source *train, const sten_row_source *valid,
                                   uint32_t chunk_rows, const sten_linear_opts *o, sten_linear *out,
                                   sten_linear_report *report)
{
    memset(out, 0, sizeof *out);
    if (!train || !chunk_rows)
        return sten_fail(ctx, STEN_E_INVALID, "linear-learner: a stream needs a training source and chunks of at "
                         "least 1 row");
    lsource tr = {.src = train, .chunk = chunk_rows}, va = {.src = valid, .chunk = chunk_rows};
    return fit(ctx, &tr, valid ? &va : NULL, chunk_rows, o, out, report);
}

/* ------------------------------------------------------------- prediction */

static sten_status predict(sten_ctx *ctx, const sten_linear *m, lrows R, float *scores, float *labels)
{
    if (!m->weights || !m->dim || !m->outputs)
        return sten_fail(ctx, STEN_E_INVALID, "linear-learner: predict with an empty model");
    sten_status st = check_width(ctx, R, m->dim, "input");
    if (st)
        return st;
    raw_scores(ctx, m->weights, m->bias, m->dim, m->outputs, R, scores);
    finish_scores(m, scores, R.n, labels);
    return STEN_OK;
}

sten_status sten_linear_predict(sten_ctx *ctx, const sten_linear *m, const float *X, uint64_t n, float *scores,
                                float *labels)
{
    return predict(ctx, m, dense_rows(X, n), scores, labels);
}

sten_status sten_linear_predict_csr(sten_ctx *ctx, const sten_linear *m, const sten_csr *X, float *scores,
                                    float *labels)
{
    return predict(ctx, m, csr_rows(X), scores, labels);
}

/* The sums behind sten_linear_metrics, over chunks of rows. */
typedef struct {
    double loss, tp, fp, fn, hit, se, ae;
    uint64_t n;
} eval_sums;

static sten_status evaluate_rows(sten_ctx *ctx, const sten_linear *m, lrows R, const float *y, eval_sums *a)
{
    const uint32_t C = m->outputs;
    const uint64_t n = R.n;
    sten_status st = check_width(ctx, R, m->dim, "evaluation");
    if (st)
        return st;
    float *S = sten_alloc(ctx, n * C * sizeof(float)), *lab = sten_alloc(ctx, n * sizeof(float));
    if (!S || !lab) {
        sten_free(ctx, S), sten_free(ctx, lab);
        return STEN_E_NOMEM;
    }
    raw_scores(ctx, m->weights, m->bias, m->dim, C, R, S);
    const sten_linear_loss L = resolved(&m->opts);
    for (uint64_t i = 0; i < n; i++)
        a->loss += row_loss(L, S + i * C, C, y[i], m->opts.margin, NULL);
    finish_scores(m, S, n, lab);
    for (uint64_t i = 0; i < n; i++) {
        const double d = (double)lab[i] - y[i];
        a->hit += lab[i] == y[i];
        a->se += d * d, a->ae += fabs(d);
        a->tp += lab[i] == 1 && y[i] == 1, a->fp += lab[i] == 1 && y[i] == 0, a->fn += lab[i] == 0 && y[i] == 1;
    }
    a->n += n;
    sten_free(ctx, S), sten_free(ctx, lab);
    return STEN_OK;
}

static sten_status evaluate(sten_ctx *ctx, const sten_linear *m, lsource *s, sten_linear_metrics *out)
{
    memset(out, 0, sizeof *out);
    eval_sums a = {0};
    lrows R;
    const float *y;
    sten_status st = src_rewind(ctx, s);
    while (!st && !(st = src_next(ctx, s, &R, &y)) && R.n)
        st = evaluate_rows(ctx, m, R, y, &a);
    if (st)
        return st;
    if (!a.n)
        return sten_fail(ctx, STEN_E_INVALID, "linear-learner: no rows to evaluate");
    const double n = (double)a.n;
    out->objective_loss = a.loss / n;
    if (m->opts.predictor_type == STEN_LINEAR_BINARY) {
        const double b2 = (double)m->opts.beta * m->opts.beta;
        out->accuracy = a.hit / n;
        out->precision = a.tp + a.fp > 0 ? a.tp / (a.tp + a.fp) : 0;
        out->recall = a.tp + a.fn > 0 ? a.tp / (a.tp + a.fn) : 0;
        out->f_beta = a.tp > 0 ? (1 + b2) * a.tp / ((1 + b2) * a.tp + b2 * a.fn + a.fp) : 0;
    } else if (m->opts.predictor_type == STEN_LINEAR_REGRESSOR) {
        out->mse = a.se / n, out->absolute_loss = a.ae / n;
    } else {
        out->multiclass_accuracy = a.hit / n;
    }
    return STEN_OK;
}

sten_status sten_linear_evaluate(sten_ctx *ctx, const sten_linear *m, const float *X, const float *y, uint64_t n,
                                 sten_linear_metrics *out)
{
    lsource s = memory_source(dense_rows(X, n), y);
    return evaluate(ctx, m, &s, out);
}

sten_status sten_linear_evaluate_csr(sten_ctx *ctx, const sten_linear *m, const sten_csr *X, const float *y,
                                     sten_linear_metrics *out)
{
    lsource s = memory_source(csr_rows(X), y);
    return evaluate(ctx, m, &s, out);
}

sten_status sten_linear_evaluate_stream(sten_ctx *ctx, const sten_linear *m, const sten_row_source *rows,
                                        uint32_t chunk_rows, sten_linear_metrics *out)
{
    lsource s = {.src = rows, .chunk = chunk_rows ? chunk_rows : 1};
    return evaluate(ctx, m, &s, out);
}

double sten__linear_gradient(sten_ctx *ctx, const sten_linear *m, const float *X, const float *y, uint64_t n,
                             float *gW, float *gb)
{
    const uint32_t C = m->outputs, D = m->dim;
    float *S = sten_alloc(ctx, n * C * sizeof(float));
    if (!S)
        return NAN;
    raw_scores(ctx, m->weights, m->bias, D, C, dense_rows(X, n), S);
    double loss = 0;
    memset(gb, 0, C * sizeof(float));
    for (uint64_t i = 0; i < n; i++) {
        float *s = S + i * C;
        loss += row_loss(resolved(&m->opts), s, C, y[i], m->opts.margin, s);
        for (uint32_t c = 0; c < C; c++)
            s[c] /= (float)n, gb[c] += s[c];
    }
    // gW: (D, C) = X^T (D, n) . G (n, C), as a training step's
    sten__gemm_blas(ctx, STEN_TRANS, STEN_NO_TRANS, D, C, (int64_t)n, 1.0f, X, D, S, C, 0.0f, gW, C);
    sten_free(ctx, S);
    return loss / (double)n;
}

/* -------------------------------------------------------------- threshold */

typedef struct {
    float s, y;
} scored;

static int by_score_desc(const void *a, const void *b)
{
    const float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x < y) - (x > y);
}

sten_status sten_linear_pick_threshold(sten_ctx *ctx, const float *scores, const float *y, uint64_t n,
                                       sten_linear_selection crit, float beta, float target, float *threshold,
                                       double *value)
{
    if (!n || crit == STEN_LINEAR_SEL_LOSS || (unsigned)crit > STEN_LINEAR_SEL_LOSS)
        return sten_fail(ctx, STEN_E_INVALID, "linear-learner: a threshold needs rows and a criterion other than "
                         "loss_function");
    scored *v = sten_alloc(ctx, n * sizeof *v);
    if (!v)
        return STEN_E_NOMEM;
    double P = 0;
    for (uint64_t i = 0; i < n; i++)
        v[i] = (scored){scores[i], y[i]}, P += y[i] > 0.5f;
    qsort(v, n, sizeof *v, by_score_desc);
    const double N = (double)n - P, b2 = (double)beta * beta;
    double tp = 0, fp = 0, best = -1, best_prec = -1;
    uint64_t kbest = 0, kprec = 0;
    bool reached = false;
    /* k: the top k rows predicted positive, at each boundary of distinct scores */
    for (uint64_t k = 0; k <= n; k++) {
        if (k > 0) {
            tp += v[k - 1].y > 0.5f, fp += v[k - 1].y <= 0.5f;
            if (k < n && v[k].s == v[k - 1].s)
                continue;
        }
        const double prec = k ? tp / (tp + fp) : 0, rec = P > 0 ? tp / P : 0;
        double q;
        switch (crit) {
        case STEN_LINEAR_SEL_ACCURACY: q = (tp + N - fp) / (double)n; break;
        case STEN_LINEAR_SEL_F_BETA: q = tp > 0 ? (1 + b2) * tp / ((1 + b2) * tp + b2 * (P - tp) + fp) : 0; break;
        case STEN_LINEAR_SEL_PRECISION_AT_RECALL: q = rec >= target ? prec : -1; break;
        default:
            q = k && prec >= target ? rec : -1;
            if (k && prec > best_prec)
                best_prec = prec, kprec = k;
            reached = reached || q >= 0;
            break;
        }
        if (q > best)
            best = q, kbest = k;
    }
    if (crit == STEN_LINEAR_SEL_RECALL_AT_PRECISION && !reached)
        kbest = kprec, best = best_prec;
    float t;
    if (kbest == 0)
        t = nextafterf(v[0].s, INFINITY);
    else if (kbest == n)
        t = v[n - 1].s;
    else {
        t = (float)(v[kbest].s + ((double)v[kbest - 1].s - v[kbest].s) / 2);
        if (!(t > v[kbest].s))
            t = v[kbest - 1].s;
    }
    *threshold = t;
    if (value)
        *value = best;
    sten_free(ctx, v);
    return STEN_OK;
}
