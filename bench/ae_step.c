/* ae_step.c — times sten's training step on DSSTNE's MovieLens autoencoder
 * (sparse input N -> 128 Sigmoid with sparseness penalty -> N Sigmoid,
 * ScaledMarginalCrossEntropy 1/0/1/1, denoising 0.2, SGD) over an in-memory
 * dataset of ML-20M shape (power-law item popularity). Prints one JSON line.
 * Usage: bench_ae_step [--users U] [--items N] [--per-user K] [--batch B]
 *                      [--steps S] [--epochs E] [--threads T] [--predict 1 [--repeat R]]
 * It trains on S batches' worth of examples: one warm-up epoch, then E
 * timed epochs (default 1; more for a small dataset, so the timing spans
 * enough steps).
 * With --predict 1 it times top-10 recommendation for every user instead
 * (R times over, for a small dataset).
 * With --config FILE the network (and its Training settings) is that
 * config's, its DataSets named gl_input and gl_output (bench/vae-step.sh). */
#include "nn/net_int.h"
#include "nn_fixtures.h"

#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Each user: 0.5K..1.5K distinct items drawn with probability ~ 1/(rank+10).
 * Two passes over the same streams: count, then fill an exactly sized CSR. */
static uint64_t user_items(uint32_t u, uint32_t N, uint32_t K, uint64_t seed, uint8_t *seen,
                           uint32_t *out)
{
    sten_rng r;
    sten_rng_init(&r, seed, u);
    const double hmax = log(N + 10.0) - log(10.0);
    const uint32_t k = K / 2 + sten_rng_below(&r, K + 1);
    uint64_t n = 0;
    uint32_t tmp[4096];
    for (uint32_t t = 0; t < k * 4 && n < k && n < 4096; t++) {
        const uint32_t it = (uint32_t)(10.0 * exp(hmax * sten_rng_uniform(&r)) - 10.0);
        if (it >= N || seen[it])
            continue;
        seen[it] = 1;
        tmp[n++] = it;
    }
    for (uint64_t q = 0; q < n; q++) {
        seen[tmp[q]] = 0;
        if (out)
            out[q] = tmp[q];
    }
    return n;
}

static void make_data(sten_ctx *ctx, sten_dataset *d, const char *name, uint32_t U, uint32_t N,
                      uint32_t K, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->name = (char *)name;
    d->attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
    d->dims = 1;
    d->width = N;
    d->examples = d->unique = U;
    uint8_t *seen = calloc(N, 1);
    uint64_t total = 0;
    for (uint32_t u = 0; u < U; u++)
        total += user_items(u, N, K, seed, seen, NULL);
    sten_csr_init(ctx, &d->sparse, U, N, total, false);
    uint64_t e = 0;
    for (uint32_t u = 0; u < U; u++) {
        e += user_items(u, N, K, seed, seen, d->sparse.col + e);
        d->sparse.row_ptr[u + 1] = e;
    }
    d->sparse.rows = U;
    d->sparse.nnz = e;
    free(seen);
}

int main(int argc, char **argv)
{
    long users = 20000, items = 26744, per = 144, batch = 256, steps = 40, threads = 0, predict = 0;
    long repeat = 1;
    long bf16 = 0; /* --bf16 1: STEN_PRECISION_BF16 */
    long epochs = 1;
    const char *nc = NULL, *config = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (!strcmp(argv[i], "--config")) {
            config = argv[i + 1];
            continue;
        }
        if (!strcmp(argv[i], "--nc")) { /* a real dataset: its first NetCDF dataset is input and target */
            nc = argv[i + 1];
            continue;
        }
        if (!strcmp(argv[i], "--users")) users = v;
        else if (!strcmp(argv[i], "--items")) items = v;
        else if (!strcmp(argv[i], "--per-user")) per = v;
        else if (!strcmp(argv[i], "--batch")) batch = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--epochs")) epochs = v < 1 ? 1 : v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else if (!strcmp(argv[i], "--predict")) predict = v;
        else if (!strcmp(argv[i], "--repeat")) repeat = v;
        else if (!strcmp(argv[i], "--bf16")) bf16 = v;
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 64; }
    }
    sten_ctx *ctx;
    sten_ctx_init(&ctx);
    sten_ctx_set_threads(ctx, (int)threads);
    sten_layer_desc L[3] = {
        fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("Hidden", STEN_LAYER_HIDDEN, 128, STEN_ACT_SIGMOID),
        fx_layer("Output", STEN_LAYER_OUTPUT, 0, STEN_ACT_SIGMOID),
    };
    L[0].N_auto = L[2].N_auto = true;
    L[0].sparse = L[1].sparse = true;
    strcpy(L[0].dataset, "gl_input");
    strcpy(L[2].dataset, "gl_output");
    sten_net_desc d = fx_desc(L, 3), *cd = NULL;
    d.loss = STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY;
    d.smce_one_target = 1.0f;
    d.smce_zero_target = 0.0f;
    d.sparseness_p = 0.5f;
    d.sparseness_beta = 2.0f;
    d.denoising_p = 0.2f;
    d.shuffle_indices = true;
    if (config) {
        if (sten_net_desc_load(ctx, config, &cd)) {
            fprintf(stderr, "%s\n", sten_ctx_error(ctx));
            return 1;
        }
        d = *cd;
    }
    sten_dataset ds[2], *file_ds = NULL;
    size_t n_file = 0;
    if (nc) {
        if (sten_dataset_read_netcdf(ctx, nc, &file_ds, &n_file)) {
            fprintf(stderr, "%s\n", sten_ctx_error(ctx));
            return 1;
        }
        ds[0] = file_ds[0];
        ds[0].name = "gl_input";
        items = ds[0].width;
    } else {
        make_data(ctx, &ds[0], "gl_input", (uint32_t)users, (uint32_t)items, (uint32_t)per, 1);
    }
    ds[1] = ds[0];
    ds[1].name = "gl_output";
    sten_net *net;
    if (sten_net_build(ctx, &d, ds, 2, (uint32_t)batch, &net)) {
        fprintf(stderr, "%s\n", sten_ctx_error(ctx));
        return 1;
    }
    sten_net_init_weights(ctx, net, 1);
    if (bf16 && sten_net_set_precision(ctx, net, STEN_PRECISION_BF16)) {
        fprintf(stderr, "%s\n", sten_ctx_error(ctx));
        return 1;
    }
    const char *impl = bf16 ? "sten-bf16" : "sten";
    if (predict) {
        /* top-10 for every user, seen items excluded, all users in batches;
         * as the PyTorch peer does, the first two batches and the last one
         * run once untimed first (sten's one-time preparation of the serving
         * copies and the precision probe, PyTorch's warm-up and compiling) */
        const uint32_t K = 10;
        uint32_t *ids = malloc((size_t)batch * 4), *idx = malloc((size_t)batch * K * 4);
        float *val = malloc((size_t)batch * K * 4);
        const uint64_t nb = (ds[0].examples + (uint64_t)batch - 1) / (uint64_t)batch;
        const uint64_t warm[3] = {0, nb > 1 ? 1 : 0, nb - 1};
        double checksum = 0, t0 = 0;
        for (uint64_t q = 0; q < 3 + nb * (uint64_t)repeat; q++) {
            if (q == 3)
                t0 = now();
            const uint64_t pos = (q < 3 ? warm[q] : (q - 3) % nb) * (uint64_t)batch;
            const uint32_t B = (uint32_t)STEN__MIN((uint64_t)batch, ds[0].examples - pos);
            for (uint32_t b = 0; b < B; b++)
                ids[b] = (uint32_t)(pos + b);
            /* the exclusion list of this batch: rows pos.. of the input */
            sten_csr ex = ds[0].sparse;
            ex.row_ptr = ds[0].sparse.row_ptr + pos;
            ex.rows = B;
            if (sten_net_recommend(ctx, net, ids, B, (uint32_t)items, K, &ex, idx, val, NULL)) {
                fprintf(stderr, "%s\n", sten_ctx_error(ctx));
                return 1;
            }
            if (q >= 3)
                checksum += idx[0];
        }
        const double sec = now() - t0;
        printf("{\"impl\": \"%s\", \"threads\": %d, \"users\": %llu, \"items\": %ld, \"k\": 10, "
               "\"seconds\": %.3f, \"users_per_s\": %.1f, \"warmup_batches\": 3, \"repeat\": %ld, "
               "\"checksum\": %.0f}\n",
               impl, sten_ctx_threads(ctx), (unsigned long long)ds[0].examples, items, sec,
               (double)ds[0].examples * (double)repeat / sec, repeat, checksum);
        free(ids), free(idx), free(val);
        sten_net_free(ctx, net);
        sten_csr_free(ctx, &ds[0].sparse);
        sten_ctx_free(ctx);
        return 0;
    }
    sten_train_opts o;
    memset(&o, 0, sizeof o);
    o.t = d.training;
    o.t.epochs = 1;
    o.t.batch_size = (uint32_t)batch;
    sten_train_desc_resolve(&o.t);
    /* train on exactly `steps` batches: restrict the examples */
    net->examples = (uint64_t)STEN__MIN((long)net->examples, steps * batch);
    o.t.epochs = 1;
    sten_net_train(ctx, net, &o); /* warm-up epoch (allocations, page faults) */
    const double t0 = now();
    o.t.epochs = (uint32_t)(1 + epochs);
    o.first_epoch = 2;
    sten_status st = sten_net_train(ctx, net, &o);
    const double sec = now() - t0;
    if (st) {
        fprintf(stderr, "%s\n", sten_ctx_error(ctx));
        return 1;
    }
    const double n_steps = (double)epochs * (double)((net->examples + batch - 1) / batch);
    /* memory: what the job needs (weights, biases, optimizer state, dataset)
     * against the high-water mark of everything sten allocated */
    double need = (double)ds[0].sparse.cap * 4 + (double)(ds[0].sparse.rows + 1) * 8;
    for (uint32_t k = 0; k < net->n_weights; k++)
        need += ((double)net->weights[k].rows * net->weights[k].cols + net->weights[k].cols) * 4 *
                (o.t.optimizer == STEN_OPT_SGD ? 1 : o.t.optimizer == STEN_OPT_ADAM ? 3 : 2);
    /* the kernels' scratch buffer (packed operands) is held by the context
     * outside the counted allocator: add it */
    const double peak = (double)sten_ctx_bytes_peak(ctx) + (double)ctx->scratch_cap;
    printf("{\"impl\": \"%s\", \"threads\": %d, \"batch\": %ld, \"items\": %u, \"network\": \"%s\", "
           "\"steps\": %.0f, \"ms_per_step\": %.3f, \"examples_per_s\": %.1f, \"loss\": %.6f, "
           "\"peak_mb\": %.1f, \"needed_mb\": %.1f, \"peak_over_needed\": %.2f}\n",
           impl, sten_ctx_threads(ctx), batch, ds[0].width, config ? config : "DSSTNE MovieLens AE (128)",
           n_steps, sec / n_steps * 1e3,
           (double)epochs * (double)net->examples / sec, net->ws->loss / net->ws->B, peak / 1e6, need / 1e6,
           peak / need);
    sten_net_free(ctx, net);
    sten_net_desc_free(ctx, cd);
    if (file_ds)
        sten_datasets_free(ctx, file_ds, n_file);
    else
        sten_csr_free(ctx, &ds[0].sparse);
    sten_ctx_free(ctx);
    return 0;
}
