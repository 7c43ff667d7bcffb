/* test_tune.c — the proposal step of Bayesian hyperparameter search
 * (src/algo/bayesopt.c): on smooth functions of the unit cube with a known
 * optimum, Gaussian-process proposals find it to within a small gap in a
 * budget where random search does much worse; proposals are deterministic
 * for (seed, n), stay in the cube, ignore failed (NaN) trials, and start
 * random before there is anything to model. `sten tune` itself is tested
 * end to end in test_pipeline.sh. */
#include "check.h"
#include "sten.h"

#include <math.h>

static sten_ctx *ctx;

/* A smooth bump with its peak 0 at (0.3, 0.7, 0.55, ...), minus a ripple. */
static double bump(const double *x, uint32_t dims)
{
    static const double peak[] = {0.3, 0.7, 0.55, 0.2};
    double s = 0.0;
    for (uint32_t k = 0; k < dims; k++)
        s -= (x[k] - peak[k]) * (x[k] - peak[k]) * (1.0 + k);
    return s;
}

/* The best value after `trials` proposals (the first `init` random). */
static double search(uint32_t dims, uint32_t trials, uint32_t init, bool bayes, uint64_t seed)
{
    double x[64 * 4], y[64];
    sten_rng r;
    sten_rng_init(&r, seed, 1);
    double best = -INFINITY;
    for (uint32_t n = 0; n < trials; n++) {
        double *p = x + n * dims;
        if (!bayes || n < init)
            for (uint32_t k = 0; k < dims; k++)
                p[k] = sten_rng_uniform(&r);
        else
            CHECK_EQ(sten_bayesopt_propose(ctx, x, y, n, dims, seed, p), STEN_OK);
        for (uint32_t k = 0; k < dims; k++)
            CHECK(p[k] >= 0.0 && p[k] <= 1.0);
        y[n] = bump(p, dims);
        best = fmax(best, y[n]);
    }
    return best;
}

static void test_finds_the_optimum(void)
{
    for (uint32_t dims = 2; dims <= 4; dims += 2) {
        double gap_bo = 0, gap_rand = 0;
        for (uint64_t seed = 1; seed <= 3; seed++) {
            gap_bo += -search(dims, 24, 5, true, seed) / 3;
            gap_rand += -search(dims, 24, 5, false, seed) / 3;
        }
        fprintf(stderr, "  %u dims, 24 trials: mean gap to the optimum %.5f (Bayesian), %.5f (random)\n", dims,
                gap_bo, gap_rand);
        CHECK(gap_bo < 0.01);
        CHECK(gap_bo < 0.25 * gap_rand);
    }
}

static void test_deterministic_and_failures(void)
{
    double x[8 * 2] = {0.1, 0.1, 0.9, 0.2, 0.5, 0.5, 0.3, 0.8, 0.7, 0.7, 0.2, 0.6, 0.4, 0.4, 0.6, 0.9};
    double y[8], a[2], b[2], c[2];
    for (int i = 0; i < 8; i++)
        y[i] = bump(x + 2 * i, 2);
    CHECK_EQ(sten_bayesopt_propose(ctx, x, y, 8, 2, 5, a), STEN_OK);
    CHECK_EQ(sten_bayesopt_propose(ctx, x, y, 8, 2, 5, b), STEN_OK);
    CHECK(a[0] == b[0] && a[1] == b[1]);
    /* near the best trials' side of the cube: the peak is at (0.3, 0.7) */
    CHECK(fabs(a[0] - 0.3) < 0.25 && fabs(a[1] - 0.7) < 0.25);
    /* a failed trial (NaN) is ignored: the same as without it */
    double x9[9 * 2], y9[9];
    for (int i = 0; i < 16; i++)
        x9[i] = x[i];
    for (int i = 0; i < 8; i++)
        y9[i] = y[i];
    x9[16] = 0.95, x9[17] = 0.05, y9[8] = NAN;
    CHECK_EQ(sten_bayesopt_propose(ctx, x9, y9, 9, 2, 5, c), STEN_OK);
    CHECK(isfinite(c[0]) && isfinite(c[1]) && c[0] >= 0 && c[0] <= 1 && c[1] >= 0 && c[1] <= 1);
    /* nothing to model yet: a random point, the same for the same (seed, n) */
    CHECK_EQ(sten_bayesopt_propose(ctx, x, y, 1, 2, 5, a), STEN_OK);
    CHECK_EQ(sten_bayesopt_propose(ctx, x, y, 1, 2, 5, b), STEN_OK);
    CHECK(a[0] == b[0] && a[1] == b[1]);
    /* repeated points with equal values still give a proposal */
    double xs[4 * 2] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, ys[4] = {1, 1, 1, 1};
    CHECK_EQ(sten_bayesopt_propose(ctx, xs, ys, 4, 2, 5, a), STEN_OK);
    CHECK(isfinite(a[0]) && isfinite(a[1]));
    CHECK_EQ(sten_bayesopt_propose(ctx, x, y, 8, 0, 5, a), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return 1;
    RUN(test_finds_the_optimum);
    RUN(test_deterministic_and_failures);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
