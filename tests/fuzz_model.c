/* fuzz_model.c — fuzz driver for sten's side of model files
 * (sten_model_read_desc, sten_net_load): the attribute checks, the network
 * built from what the file describes, the weights' shapes against it, and
 * then one inference on two made-up examples, so a file whose header
 * passes but whose parts disagree is caught where it would do harm. The
 * built-in algorithms' files (k-means, PCA, k-NN with its IVF and IVFPQ
 * parts, Linear Learner) go through their loaders, k-NN's then through a
 * search, each also with an allocation failed. As
 * fuzz_netcdf.c, the input is CDL text written to a file by libnetcdf
 * (tests/fuzz/cdl.h, docs/fuzzing.md). tests/fuzz/fuzz.h has the rest. */
#define FUZZ_NETCDF /* reaches libnetcdf */
#include "fuzz/fuzz.h"
#include "fuzz/cdl.h"

#define MAX_UNITS (1u << 16) /* larger networks are not built here (time) */

/* Two examples for each input layer that names a dataset: sparse boolean
 * (one feature each: the first and the last) or dense zeros, as wide as the
 * layer. Returns how many were made, -1 for a network too large to try. */
static int make_inputs(sten_ctx *ctx, const sten_net_desc *d, sten_dataset *ds, int max)
{
    int n = 0;
    uint64_t units = 0;
    for (uint32_t i = 0; i < d->n_layers; i++)
        units += d->layers[i].N;
    if (units > MAX_UNITS)
        return -1;
    for (uint32_t i = 0; i < d->n_layers && n < max; i++) {
        const sten_layer_desc *l = &d->layers[i];
        if (l->kind != STEN_LAYER_INPUT || !l->dataset[0] || l->N == 0)
            continue;
        sten_dataset *x = &ds[n];
        memset(x, 0, sizeof *x);
        const size_t len = strlen(l->dataset) + 1;
        REQUIRE((x->name = sten_alloc(ctx, len)) != NULL);
        memcpy(x->name, l->dataset, len);
        x->dtype = 4, x->dims = 1, x->width = l->N, x->height = x->length = 1;
        x->examples = x->unique = 2;
        if (l->sparse) {
            x->attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
            REQUIRE(sten_csr_init(ctx, &x->sparse, 2, l->N, 2, false) == STEN_OK);
            x->sparse.row_ptr[0] = 0, x->sparse.row_ptr[1] = 1, x->sparse.row_ptr[2] = 2;
            x->sparse.col[0] = 0, x->sparse.col[1] = l->N - 1;
            x->sparse.rows = 2, x->sparse.nnz = 2;
        } else {
            REQUIRE((x->dense = sten_calloc(ctx, 2 * (size_t)l->N, sizeof *x->dense)) != NULL);
        }
        n++;
    }
    return n;
}

static void load_once(sten_ctx *ctx, const char *path, const sten_dataset *ds, size_t n_ds,
                      bool with_state, long fail_at)
{
    sten_net *net = NULL;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    sten_status st = sten_net_load(ctx, path, ds, n_ds, 2, with_state, &net);
    sten_ctx_fail_alloc_at(ctx, 0);
    /* the weights a file describes may be large: the cap may be reached */
    fuzz_outcome(ctx, st, path, fail_at > 0, true);
    if (st != STEN_OK) {
        REQUIRE(net == NULL);
        return;
    }
    const uint32_t ids[2] = {0, 1};
    const float *out = NULL;
    uint32_t width = 0;
    st = sten_net_infer(ctx, net, ids, 2, NULL, &out, &width);
    if (st == STEN_OK)
        REQUIRE(out != NULL && width >= 1);
    /* an inference error (not a crash) is fine: a network may want data
     * that is not made here; it must still say what */
    REQUIRE(st == STEN_OK || sten_ctx_error(ctx)[0] != '\0');
    sten_ctx_clear_error(ctx);
    sten_net_free(ctx, net);
}

/* A built-in algorithm's model file: loaded (as is, and with allocation
 * fail_at failed); a k-NN index that loads then answers two rows. */
static void load_builtin(sten_ctx *ctx, const char *path, sten_model_kind kind, long fail_at)
{
    sten_ctx_fail_alloc_at(ctx, fail_at);
    sten_status st = STEN_OK;
    sten_knn knn;
    memset(&knn, 0, sizeof knn);
    switch (kind) {
    case STEN_MODEL_KMEANS: {
        sten_kmeans m;
        if (!(st = sten_kmeans_load(ctx, path, &m)))
            sten_kmeans_free(ctx, &m);
        break;
    }
    case STEN_MODEL_PCA: {
        sten_pca m;
        if (!(st = sten_pca_load(ctx, path, &m)))
            sten_pca_free(ctx, &m);
        break;
    }
    case STEN_MODEL_LINEAR: {
        sten_linear m;
        if (!(st = sten_linear_load(ctx, path, &m)))
            sten_linear_free(ctx, &m);
        break;
    }
    default:
        st = sten_knn_load(ctx, path, &knn);
        break;
    }
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, true);
    if (st != STEN_OK || kind != STEN_MODEL_KNN)
        return;
    /* two rows: zeros and ones, as wide as the model's input */
    const uint32_t K = knn.opts.k < knn.n ? knn.opts.k : knn.n;
    float *X = sten_calloc(ctx, 2 * (size_t)knn.dim, sizeof *X), *dist = sten_alloc(ctx, 2 * (size_t)K * sizeof *dist);
    uint32_t *ids = sten_alloc(ctx, 2 * (size_t)K * sizeof *ids);
    if (X && dist && ids && knn.dim <= MAX_UNITS) {
        for (uint32_t j = 0; j < knn.dim; j++)
            X[knn.dim + j] = 1.0f;
        st = sten_knn_search(ctx, &knn, X, 2, K, 0, ids, dist);
        REQUIRE(st == STEN_OK || sten_ctx_error(ctx)[0] != '\0');
        for (uint32_t e = 0; st == STEN_OK && e < 2 * K; e++)
            REQUIRE(ids[e] < knn.n);
        sten_ctx_clear_error(ctx);
    }
    sten_free(ctx, X), sten_free(ctx, dist), sten_free(ctx, ids);
    sten_knn_free(ctx, &knn);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    if (!fuzz_cdl_write(data, size, fuzz_path(path, sizeof path, "fuzz.nc")))
        return 0;
    sten_model_kind kind;
    if (sten_model_kind_of(ctx, path, &kind) == STEN_OK && kind != STEN_MODEL_NETWORK) {
        load_builtin(ctx, path, kind, 0);
        load_builtin(ctx, path, kind, 1 + (long)(size % 13));
        return 0;
    }
    sten_ctx_clear_error(ctx);
    sten_net_desc *d = NULL;
    const sten_status st = sten_model_read_desc(ctx, path, &d);
    fuzz_outcome(ctx, st, path, false, true);
    if (st != STEN_OK) {
        REQUIRE(d == NULL);
        return 0;
    }
    REQUIRE(d->n_layers >= 1 && d->layers != NULL);
    sten_dataset ds[8];
    const int n_ds = make_inputs(ctx, d, ds, (int)(sizeof ds / sizeof ds[0]));
    if (n_ds >= 0) {
        load_once(ctx, path, ds, (size_t)n_ds, size % 2 != 0, 0);
        load_once(ctx, path, ds, (size_t)n_ds, size % 2 == 0, 1 + (long)(size % 23));
    }
    for (int k = 0; k < n_ds; k++)
        sten_dataset_clear(ctx, &ds[k]);
    sten_net_desc_free(ctx, d);
    return 0;
}
