/* bayesopt.c — the proposal step of Bayesian hyperparameter search (`sten
 * tune`): Gaussian-process regression over the unit cube on the trials so
 * far, and the point of greatest expected improvement. The process has a
 * Matern 5/2 kernel on standardised objective values; its length scale and
 * noise are those of greatest marginal likelihood on a small grid (a dozen
 * trials do not support more fitting than that). Expected improvement is
 * maximised over uniform random points and over perturbations of the best
 * trials so far, all drawn from the (seed, n) stream: the same trials give
 * the same proposal. */
#include "algo_int.h"

#include <math.h>
#include <string.h>

enum { UNIFORM_CANDIDATES = 4096, LOCAL_CANDIDATES = 1024, LOCAL_CENTRES = 4 };

static double matern52(const double *a, const double *b, uint32_t dims, double ls)
{
    double d2 = 0.0;
    for (uint32_t k = 0; k < dims; k++)
        d2 += (a[k] - b[k]) * (a[k] - b[k]);
    const double r = sqrt(5.0 * d2) / ls;
    return (1.0 + r + r * r / 3.0) * exp(-r);
}

/* L L^T = A (m x m, lower triangle written into L); false if not positive definite. */
static bool cholesky(const double *A, double *L, uint32_t m)
{
    for (uint32_t i = 0; i < m; i++)
        for (uint32_t j = 0; j <= i; j++) {
            double s = A[i * m + j];
            for (uint32_t k = 0; k < j; k++)
                s -= L[i * m + k] * L[j * m + k];
            if (i == j) {
                if (!(s > 0.0))
                    return false;
                L[i * m + i] = sqrt(s);
            } else {
                L[i * m + j] = s / L[j * m + j];
            }
        }
    return true;
}

/* x = L^-1 b (forward substitution) */
static void lower_solve(const double *L, const double *b, double *x, uint32_t m)
{
    for (uint32_t i = 0; i < m; i++) {
        double s = b[i];
        for (uint32_t k = 0; k < i; k++)
            s -= L[i * m + k] * x[k];
        x[i] = s / L[i * m + i];
    }
}

/* x = L^-T b (back substitution) */
static void upper_solve(const double *L, const double *b, double *x, uint32_t m)
{
    for (uint32_t i = m; i-- > 0;) {
        double s = b[i];
        for (uint32_t k = i + 1; k < m; k++)
            s -= L[k * m + i] * x[k];
        x[i] = s / L[i * m + i];
    }
}

typedef struct {
    uint32_t m, dims;
    const double *x; /* m x dims */
    double ls;
    double *L, *alpha, *v, *ks; /* m x m, m, m, m */
    double best;                /* the best standardised value */
} gp;

/* Expected improvement over gp->best at point c. */
static double expected_improvement(const gp *g, const double *c)
{
    for (uint32_t i = 0; i < g->m; i++)
        g->ks[i] = matern52(c, g->x + (uint64_t)i * g->dims, g->dims, g->ls);
    double mu = 0.0;
    for (uint32_t i = 0; i < g->m; i++)
        mu += g->ks[i] * g->alpha[i];
    lower_solve(g->L, g->ks, g->v, g->m);
    double var = 1.0;
    for (uint32_t i = 0; i < g->m; i++)
        var -= g->v[i] * g->v[i];
    const double s = sqrt(fmax(var, 1e-12)), gain = mu - g->best - 0.01;
    const double z = gain / s;
    return gain * 0.5 * erfc(-z / sqrt(2.0)) + s * exp(-0.5 * z * z) * 0.3989422804014327; /* 1/sqrt(2 pi) */
}

sten_status sten_bayesopt_propose(sten_ctx *ctx, const double *x, const double *y, uint32_t n,
                                  uint32_t dims, uint64_t seed, double *out)
{
    if (dims == 0 || dims > 1000)
        return sten_fail(ctx, STEN_E_INVALID, "Bayesian search over %u dimensions (1 to 1000)", dims);
    sten_rng r;
    sten_rng_init(&r, seed ^ 0x626179657369616eull, n); /* "bayesian" */
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        m += isfinite(y[i]);
    if (m < 2) { /* nothing to model yet */
        for (uint32_t k = 0; k < dims; k++)
            out[k] = sten_rng_uniform(&r);
        return STEN_OK;
    }
    sten_status st = STEN_OK;
    double *X = sten_alloc(ctx, (size_t)m * dims * sizeof *X), *Y = sten_alloc(ctx, (size_t)m * sizeof *Y);
    double *K = sten_alloc(ctx, (size_t)m * m * sizeof *K), *L = sten_alloc(ctx, (size_t)m * m * sizeof *L);
    double *bestL = sten_alloc(ctx, (size_t)m * m * sizeof *bestL);
    double *t = sten_alloc(ctx, (size_t)m * sizeof *t), *alpha = sten_alloc(ctx, (size_t)m * sizeof *alpha);
    double *v = sten_alloc(ctx, (size_t)m * sizeof *v), *ks = sten_alloc(ctx, (size_t)m * sizeof *ks);
    double *c = sten_alloc(ctx, (size_t)dims * sizeof *c);
    uint32_t *top = sten_alloc(ctx, (size_t)m * sizeof *top);
    if (!X || !Y || !K || !L || !bestL || !t || !alpha || !v || !ks || !c || !top) {
        st = STEN_E_NOMEM;
        goto done;
    }
    /* the finite trials, values standardised */
    double mean = 0.0, var = 0.0;
    for (uint32_t i = 0, j = 0; i < n; i++)
        if (isfinite(y[i])) {
            memcpy(X + (uint64_t)j * dims, x + (uint64_t)i * dims, dims * sizeof *X);
            Y[j++] = y[i];
            mean += y[i];
        }
    mean /= m;
    for (uint32_t j = 0; j < m; j++)
        var += (Y[j] - mean) * (Y[j] - mean);
    const double sd = var > 0.0 ? sqrt(var / m) : 1.0;
    for (uint32_t j = 0; j < m; j++)
        Y[j] = (Y[j] - mean) / sd;
    /* length scale and noise by marginal likelihood */
    static const double scales[] = {0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 2.0}, noises[] = {1e-6, 1e-3, 1e-2, 1e-1};
    double best_ml = -INFINITY, best_ls = 0.35;
    for (size_t a = 0; a < sizeof scales / sizeof scales[0]; a++)
        for (size_t b = 0; b < sizeof noises / sizeof noises[0]; b++) {
            for (uint32_t i = 0; i < m; i++)
                for (uint32_t j = 0; j < m; j++)
                    K[i * m + j] = matern52(X + (uint64_t)i * dims, X + (uint64_t)j * dims, dims, scales[a]) +
                                   (i == j ? noises[b] : 0.0);
            if (!cholesky(K, L, m))
                continue;
            lower_solve(L, Y, t, m);
            double ml = 0.0;
            for (uint32_t i = 0; i < m; i++)
                ml -= 0.5 * t[i] * t[i] + log(L[i * m + i]);
            if (ml > best_ml) {
                best_ml = ml;
                best_ls = scales[a];
                memcpy(bestL, L, (size_t)m * m * sizeof *L);
                upper_solve(L, t, alpha, m);
            }
        }
    if (!isfinite(best_ml)) { /* every fit failed (repeated points, no noise): random */
        for (uint32_t k = 0; k < dims; k++)
            out[k] = sten_rng_uniform(&r);
        goto done;
    }
    gp g = {m, dims, X, best_ls, bestL, alpha, v, ks, -INFINITY};
    for (uint32_t j = 0; j < m; j++) {
        g.best = fmax(g.best, Y[j]);
        top[j] = j;
    }
    /* the best few trials, as centres of local candidates */
    const uint32_t centres = m < LOCAL_CENTRES ? m : LOCAL_CENTRES;
    for (uint32_t a = 0; a < centres; a++)
        for (uint32_t b = a + 1; b < m; b++)
            if (Y[top[b]] > Y[top[a]]) {
                const uint32_t s = top[a];
                top[a] = top[b];
                top[b] = s;
            }
    double best_ei = -INFINITY;
    for (uint32_t q = 0; q < UNIFORM_CANDIDATES + LOCAL_CANDIDATES; q++) {
        if (q < UNIFORM_CANDIDATES) {
            for (uint32_t k = 0; k < dims; k++)
                c[k] = sten_rng_uniform(&r);
        } else {
            const double *ctr = X + (uint64_t)top[q % centres] * dims;
            for (uint32_t k = 0; k < dims; k++)
                c[k] = fmin(1.0, fmax(0.0, ctr[k] + 0.25 * best_ls * sten_rng_normal(&r)));
        }
        const double ei = expected_improvement(&g, c);
        if (ei > best_ei) {
            best_ei = ei;
            memcpy(out, c, dims * sizeof *out);
        }
    }
done:
    sten_free(ctx, X);
    sten_free(ctx, Y);
    sten_free(ctx, K);
    sten_free(ctx, L);
    sten_free(ctx, bestL);
    sten_free(ctx, t);
    sten_free(ctx, alpha);
    sten_free(ctx, v);
    sten_free(ctx, ks);
    sten_free(ctx, c);
    sten_free(ctx, top);
    return st;
}
