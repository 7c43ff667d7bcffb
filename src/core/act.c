/* act.c — activation functions, forward and backward. The backward pass
 * works from the activation output (as DSSTNE does), so the pre-activation
 * never has to be kept. Every activation is really computed: DSSTNE ran
 * SoftPlus, SoftSign, RELUMax and LinearMax as the identity. */
#include "core_int.h"
#include "fastmath.h"

#include <math.h>
#include <string.h>
#include <strings.h>

sten_act_params sten_act_params_default(void)
{
    return (sten_act_params){.slope = 0.01f, .alpha = 1.0f,
                             .lambda = 1.050701f, .max = 6.0f};
}

const char *sten_act_name(sten_act a)
{
    switch (a) {
#define STEN__CASE(name, code, text) \
    case name:                       \
        return text;
        STEN_ACT_LIST(STEN__CASE)
#undef STEN__CASE
    }
    return NULL;
}

sten_status sten_act_parse(const char *name, sten_act *out)
{
    static const struct {
        const char *name;
        sten_act act;
    } alias[] = {
        {"rectifiedlinear", STEN_ACT_RELU},
        {"lrelu", STEN_ACT_LEAKYRELU},
        {"leakyrectifiedlinear", STEN_ACT_LEAKYRELU},
        {"exponentiallinear", STEN_ACT_ELU},
        {"scaledexponentiallinear", STEN_ACT_SELU},
    };
    static const sten_act all[] = {
#define STEN__ITEM(name, code, text) name,
        STEN_ACT_LIST(STEN__ITEM)
#undef STEN__ITEM
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcasecmp(name, sten_act_name(all[i])) == 0) {
            *out = all[i];
            return STEN_OK;
        }
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strcasecmp(name, alias[i].name) == 0) {
            *out = alias[i].act;
            return STEN_OK;
        }
    return STEN_E_NOTFOUND;
}

static float softplus(float x)
{
    /* log(1 + e^x) without overflow for large x */
    return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

static void softmax_row(const float *restrict x, float *restrict y, int64_t N)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < N; i++)
        mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int64_t i = 0; i < N; i++) {
        y[i] = fast_expf(x[i] - mx);
        sum += y[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < N; i++)
        y[i] *= inv;
}

/* One row of an elementwise activation; the switch is outside the loop so
 * each loop is a tight, vectorisable body, compiled for AVX-512, AVX2 and
 * baseline x86-64 and picked at load time. */
STEN__SIMD_CLONES
static void forward_row(sten_act a, const sten_act_params *p,
                        const float *x, float *y, int64_t N)
{
    const float slope = p->slope, alpha = p->alpha, lambda = p->lambda, mx = p->max;
    int64_t i;
    switch (a) {
    case STEN_ACT_SIGMOID:
        for (i = 0; i < N; i++)
            y[i] = 1.0f / (1.0f + fast_expf(-x[i]));
        break;
    case STEN_ACT_TANH:
        for (i = 0; i < N; i++)
            y[i] = tanhf(x[i]);
        break;
    case STEN_ACT_RELU:
        for (i = 0; i < N; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case STEN_ACT_LINEAR:
        if (x != y)
            memcpy(y, x, (size_t)N * sizeof *y);
        break;
    case STEN_ACT_SOFTPLUS:
        for (i = 0; i < N; i++)
            y[i] = softplus(x[i]);
        break;
    case STEN_ACT_SOFTSIGN:
        for (i = 0; i < N; i++)
            y[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    case STEN_ACT_SOFTMAX:
        softmax_row(x, y, N);
        break;
    case STEN_ACT_RELUMAX:
        for (i = 0; i < N; i++)
            y[i] = x[i] > 0.0f ? (x[i] < mx ? x[i] : mx) : 0.0f;
        break;
    case STEN_ACT_LINEARMAX:
        for (i = 0; i < N; i++)
            y[i] = x[i] > -mx ? (x[i] < mx ? x[i] : mx) : -mx;
        break;
    case STEN_ACT_ELU:
        for (i = 0; i < N; i++)
            y[i] = x[i] > 0.0f ? x[i] : alpha * (fast_expf(x[i]) - 1.0f);
        break;
    case STEN_ACT_LEAKYRELU:
        for (i = 0; i < N; i++)
            y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
        break;
    case STEN_ACT_SELU:
        for (i = 0; i < N; i++)
            y[i] = lambda * (x[i] > 0.0f ? x[i] : alpha * (fast_expf(x[i]) - 1.0f));
        break;
    }
}

STEN__SIMD_CLONES
static void backward_row(sten_act a, const sten_act_params *p,
                         const float *y, const float *dy, float *dx, int64_t N)
{
    const float slope = p->slope, alpha = p->alpha, lambda = p->lambda, mx = p->max;
    int64_t i;
    switch (a) {
    case STEN_ACT_SIGMOID:
        for (i = 0; i < N; i++)
            dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case STEN_ACT_TANH:
        for (i = 0; i < N; i++)
            dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case STEN_ACT_RELU:
        for (i = 0; i < N; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case STEN_ACT_LINEAR:
        if (dx != dy)
            memcpy(dx, dy, (size_t)N * sizeof *dx);
        break;
    case STEN_ACT_SOFTPLUS: /* f'(x) = sigmoid(x) = 1 - e^{-f(x)} */
        for (i = 0; i < N; i++)
            dx[i] = dy[i] * -expm1f(-y[i]);
        break;
    case STEN_ACT_SOFTSIGN: /* f'(x) = 1/(1+|x|)^2 = (1-|f(x)|)^2 */
        for (i = 0; i < N; i++) {
            const float t = 1.0f - fabsf(y[i]);
            dx[i] = dy[i] * t * t;
        }
        break;
    case STEN_ACT_SOFTMAX: {
        double dot = 0.0;
        for (i = 0; i < N; i++)
            dot += (double)dy[i] * y[i];
        for (i = 0; i < N; i++)
            dx[i] = y[i] * (dy[i] - (float)dot);
        break;
    }
    case STEN_ACT_RELUMAX:
        for (i = 0; i < N; i++)
            dx[i] = y[i] > 0.0f && y[i] < mx ? dy[i] : 0.0f;
        break;
    case STEN_ACT_LINEARMAX:
        for (i = 0; i < N; i++)
            dx[i] = y[i] > -mx && y[i] < mx ? dy[i] : 0.0f;
        break;
    case STEN_ACT_ELU:
        for (i = 0; i < N; i++)
            dx[i] = dy[i] * (y[i] > 0.0f ? 1.0f : y[i] + alpha);
        break;
    case STEN_ACT_LEAKYRELU:
        for (i = 0; i < N; i++)
            dx[i] = dy[i] * (y[i] > 0.0f ? 1.0f : slope);
        break;
    case STEN_ACT_SELU:
        for (i = 0; i < N; i++)
            dx[i] = dy[i] * (y[i] > 0.0f ? lambda : y[i] + lambda * alpha);
        break;
    }
}

void sten__act_forward_one(sten_act a, const sten_act_params *p, float *x)
{
    forward_row(a, p, x, x, 1);
}

void sten__act_backward_row(sten_act a, const sten_act_params *p, const float *Y,
                            const float *dY, float *dX, int64_t N)
{
    backward_row(a, p, Y, dY, dX, N);
}

void sten_act_forward(sten_ctx *ctx, sten_act a, const sten_act_params *p,
                      const float *X, float *Y, int64_t B, int64_t N,
                      int64_t ld)
{
    const int nt = sten__threads_for(ctx, B * N, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < B; b++)
        forward_row(a, p, X + b * ld, Y + b * ld, N);
}

void sten_act_backward(sten_ctx *ctx, sten_act a, const sten_act_params *p,
                       const float *Y, const float *dY, float *dX, int64_t B,
                       int64_t N, int64_t ld)
{
    const int nt = sten__threads_for(ctx, B * N, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < B; b++)
        backward_row(a, p, Y + b * ld, dY + b * ld, dX + b * ld, N);
}
