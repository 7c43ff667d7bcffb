/* fuzz_builtins.c — fuzz driver for the built-in algorithms' inputs: dense
 * CSV (sten_csv_read_dense at three widths, as is and with one allocation
 * failed) and SageMaker hyperparameter files for k-means and PCA. A success
 * must give finite rows of the asked width and options in their ranges.
 * tests/fuzz/fuzz.h has the rest. */
#include "fuzz/fuzz.h"

#include <math.h>

static void csv_once(sten_ctx *ctx, const char *path, uint32_t dim, long fail_at)
{
    float *X = NULL;
    uint64_t n = 0;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_csv_read_dense(ctx, path, dim, &X, &n);
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, false);
    if (st == STEN_OK) {
        REQUIRE(X != NULL && n >= 1);
        for (uint64_t i = 0; i < n * dim; i++)
            REQUIRE(isfinite(X[i]));
    } else {
        REQUIRE(X == NULL && n == 0);
    }
    sten_free(ctx, X);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_file(path, sizeof path, "fuzz.csv", data, size);
    csv_once(ctx, path, 1, 0);
    csv_once(ctx, path, 3, 0);
    csv_once(ctx, path, 16, 0);
    csv_once(ctx, path, 3, 1 + (long)(size % 3));
    sten_kmeans_opts k;
    unsigned metrics = 0;
    sten_status st = sten_kmeans_opts_from_hyperparameters(ctx, path, &k, &metrics);
    fuzz_outcome(ctx, st, path, false, false);
    if (st == STEN_OK)
        REQUIRE(k.k >= 1 && k.feature_dim >= 1 && k.mini_batch_size >= 1 && metrics >= 1 && metrics <= 3 &&
                k.tol >= 0 && k.tol <= 1);
    sten_pca_opts p;
    st = sten_pca_opts_from_hyperparameters(ctx, path, &p);
    fuzz_outcome(ctx, st, path, false, false);
    if (st == STEN_OK)
        REQUIRE(p.num_components >= 1 && p.num_components <= p.feature_dim && p.extra_components >= -1);
    return 0;
}
