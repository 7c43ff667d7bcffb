/* layer_variational.c — the Variational layer, Mult-VAE's bottleneck (Liang
 * et al., 2018): its one source, 2N wide, holds per example the mean mu
 * (units 0..N) and the log-variance lv (units N..2N) of a diagonal Gaussian.
 * Training samples z = mu + eps exp(lv / 2), eps ~ N(0, 1) (the
 * reparameterisation), and adds beta KL(N(mu, exp(lv)) || N(0, I)) to the
 * objective, beta = min(KLCap, step / KLAnnealSteps) annealed over the
 * optimizer's steps (KLAnnealSteps 0: KLCap from the start); evaluation and
 * prediction pass z = mu. No weights and no activation of its own: the heads
 * are the FullyConnected source (Activation Linear), so a config says
 *   {"Name": "Heads", "Kind": "Hidden", "N": 400, "Activation": "Linear"},
 *   {"Name": "Z", "Kind": "Hidden", "Type": "Variational", "N": "auto"}
 * The draws of a step come from the (seed, step, layer) stream, so repeated
 * passes over one batch in one step (gradient checks) see the same eps. */
#include "net_int.h"

#include <math.h>
#include <string.h>

enum { VAR_CAP = 0, VAR_ANNEAL = 1, VAR_SETTINGS = 2 };
static const nn_setting var_settings[] = {
    {"KLCap", "sten_kl_cap", VAR_CAP, false, 0, 1e6, 0.2f},
    {"KLAnnealSteps", "sten_kl_anneal_steps", VAR_ANNEAL, true, 0, 1e9, 200000.0f},
};

static bool var_check(const sten_layer_desc *d, char *msg, size_t cap)
{
    if (d->kind != STEN_LAYER_HIDDEN || d->n_sources > 1) {
        snprintf(msg, cap, "a Variational layer is a Hidden layer with one Source (the mean and "
                 "log-variance heads, 2N wide)");
        return false;
    }
    return true;
}

/* Half its source's width; 0 while that is not known. */
static uint32_t var_width(const sten_net *net, const nn_layer *L)
{
    int s = L->d->n_sources ? sten__net_find_layer(net, L->d->sources[0]) : (int)(L - net->layers) - 1;
    while (!L->d->n_sources && s >= 0 && net->layers[s].kind == STEN_LAYER_TARGET)
        s--; /* the layer before it, as its Source when none is named */
    return s < 0 ? 0 : net->layers[s].N / 2;
}

static sten_status var_build(sten_ctx *ctx, sten_net *net, nn_layer *L)
{
    const nn_layer *S = L->n_src == 1 ? &net->layers[L->src[0]] : NULL;
    if (!S || S->sparse_in || S->N != 2ull * L->N) {
        char what[STEN_NAME_MAX + 64] = "";
        if (S && S->sparse_in)
            snprintf(what, sizeof what, "; \"%s\" is a sparse input", S->d->name);
        else if (S)
            snprintf(what, sizeof what, "; \"%s\" is %u wide", S->d->name, S->N);
        return sten_fail(ctx, STEN_E_INVALID,
                         "%s:%d:%d: layer \"%s\": a Variational layer of N = %u takes one dense Source "
                         "2N = %llu wide (the mean, then the log-variance)%s",
                         net->desc.source, L->d->line, L->d->column, L->d->name, L->N, 2ull * L->N, what);
    }
    L->fn = STEN_ACT_LINEAR;
    return STEN_OK;
}

static uint64_t var_ws_floats(const sten_net *net, const nn_layer *L)
{
    (void)net;
    return L->N; /* eps */
}

static float var_beta(const sten_net *net, const nn_layer *L)
{
    const float cap = sten__setting_or(L->d, VAR_CAP, var_settings[VAR_CAP].def);
    const float steps = sten__setting_or(L->d, VAR_ANNEAL, var_settings[VAR_ANNEAL].def);
    return steps <= 0.0f ? cap : fminf(cap, (float)((double)net->step / steps));
}

static void var_forward(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, nn_layer *L)
{
    (void)ctx;
    nn_buf *A = sten__buf(ws, net, L);
    const float *s = ws->buf[L->src[0]].out;
    const uint32_t N = L->N, B = ws->B;
    const bool sample = ws->mode == NN_TRAIN;
    sten_rng r;
    if (sample)
        sten_rng_init(&r, net->seed ^ 0x76617269617465ull, /* "variate" */
                      net->step * net->n_layers + (uint64_t)(L - net->layers));
    for (uint32_t b = 0; b < B; b++) {
        const float *mu = s + (uint64_t)b * 2 * N, *lv = mu + N;
        float *z = A->act + (uint64_t)b * N, *eps = A->scratch + (uint64_t)b * N;
        for (uint32_t j = 0; j < N; j++) {
            eps[j] = sample ? sten_rng_normal(&r) : 0.0f;
            z[j] = sample ? mu[j] + eps[j] * expf(0.5f * lv[j]) : mu[j]; /* the mean, whatever lv (inf * 0) */
        }
    }
}

/* beta * sum over the batch of KL(N(mu, exp(lv)) || N(0, I)). */
static double var_objective(const sten_net *net, const sten_workspace *ws, const nn_layer *L)
{
    const float *s = ws->buf[L->src[0]].out;
    const uint32_t N = L->N;
    double kl = 0.0;
    for (uint64_t b = 0; b < ws->B; b++) {
        const float *mu = s + b * 2 * N, *lv = mu + N;
        for (uint32_t j = 0; j < N; j++)
            kl += 0.5 * (exp((double)lv[j]) + (double)mu[j] * mu[j] - 1.0 - lv[j]);
    }
    return var_beta(net, L) * kl;
}

static void var_backward(sten_ctx *ctx, sten_net *net, sten_workspace *ws, nn_layer *L,
                         const nn_fuse *fz)
{
    (void)ctx, (void)fz;
    const nn_buf *A = sten__buf(ws, net, L);
    nn_buf *SA = &ws->buf[L->src[0]];
    if (net->layers[L->src[0]].kind == STEN_LAYER_INPUT)
        return;
    const uint32_t N = L->N;
    const float beta = var_beta(net, L);
    for (uint64_t b = 0; b < ws->B; b++) {
        const float *d = A->delta + b * N, *eps = A->scratch + b * N;
        const float *mu = SA->out + b * 2 * N, *lv = mu + N;
        float *dmu = SA->delta + b * 2 * N, *dlv = dmu + N;
        for (uint32_t j = 0; j < N; j++) {
            const float sd = expf(0.5f * lv[j]);
            dmu[j] += d[j] + beta * mu[j];
            dlv[j] += 0.5f * d[j] * eps[j] * sd + 0.5f * beta * (sd * sd - 1.0f);
        }
    }
}

const nn_layer_ops sten__layer_variational = {
    .name = "Variational",
    .type = STEN_LAYER_VARIATIONAL,
    .settings = var_settings,
    .n_settings = VAR_SETTINGS,
    .weightless = true,
    .check = var_check,
    .width = var_width,
    .build = var_build,
    .forward = var_forward,
    .backward = var_backward,
    .ws_floats = var_ws_floats,
    .objective = var_objective,
};
