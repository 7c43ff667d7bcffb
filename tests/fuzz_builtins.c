/* fuzz_builtins.c — fuzz driver for the built-in algorithms' inputs: dense
 * CSV (sten_csv_read_dense at three widths, as is and with one allocation
 * failed; sten_csv_read_labeled) and SageMaker hyperparameter files for
 * k-means, PCA, k-NN and Linear Learner. A success
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
    sten_knn_opts kn;
    st = sten_knn_opts_from_hyperparameters(ctx, path, &kn);
    fuzz_outcome(ctx, st, path, false, false);
    if (st == STEN_OK)
        REQUIRE(kn.k >= 1 && kn.k <= kn.sample_size && kn.feature_dim >= 1 &&
                kn.dimension_reduction_type != STEN_KNN_REDUCE_FJLT && kn.index_type != STEN_KNN_IVFPQ &&
                (kn.dimension_reduction_type == STEN_KNN_REDUCE_SIGN
                     ? kn.dimension_reduction_target >= 1 && kn.dimension_reduction_target < kn.feature_dim
                     : kn.dimension_reduction_target == 0));
    sten_linear_opts ll;
    st = sten_linear_opts_from_hyperparameters(ctx, path, &ll);
    fuzz_outcome(ctx, st, path, false, false);
    if (st == STEN_OK)
        REQUIRE(ll.feature_dim >= 1 && ll.mini_batch_size >= 1 && ll.epochs >= 1 &&
                ll.num_models <= STEN_LINEAR_MAX_MODELS && ll.loss != STEN_LINEAR_HUBER &&
                (ll.predictor_type == STEN_LINEAR_MULTICLASS ? ll.num_classes >= 3 : ll.num_classes == 0));
    float *X = NULL, *y = NULL;
    uint64_t n = 0;
    st = sten_csv_read_labeled(ctx, path, 2, &X, &y, &n);
    fuzz_outcome(ctx, st, path, false, false);
    if (st == STEN_OK)
        for (uint64_t i = 0; i < n; i++)
            REQUIRE(isfinite(y[i]) && isfinite(X[i * 2]) && isfinite(X[i * 2 + 1]));
    else
        REQUIRE(X == NULL && y == NULL && n == 0);
    sten_free(ctx, X), sten_free(ctx, y);
    return 0;
}
