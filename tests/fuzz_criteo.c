/* fuzz_criteo.c — fuzz driver for Criteo click logs (sten_criteo_read):
 * hashed and vocabulary indexes, as is and with one allocation failed. A
 * success must give the 28 datasets DLRM binds to, one index per example
 * in each categorical field, below its width. tests/fuzz/fuzz.h has the
 * rest. */
#include "fuzz/fuzz.h"

static void read_once(sten_ctx *ctx, const char *path, const sten_criteo_opts *o, long fail_at)
{
    sten_dataset *ds = NULL;
    size_t n = 0;
    sten_criteo_stats stats;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_criteo_read(ctx, path, o, &ds, &n, &stats);
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, false);
    if (st != STEN_OK) {
        REQUIRE(ds == NULL && n == 0);
        return;
    }
    REQUIRE(n == 28 && stats.rows >= 1);
    for (size_t k = 0; k < n; k++) {
        fuzz_check_dataset(&ds[k]);
        REQUIRE(ds[k].examples == stats.rows);
    }
    REQUIRE(strcmp(ds[0].name, "dense") == 0 && ds[0].width == 13 && ds[0].dense != NULL);
    REQUIRE(strcmp(ds[27].name, "label") == 0 && ds[27].dense != NULL);
    for (size_t k = 1; k <= 26; k++) {
        REQUIRE(ds[k].sparse.nnz == stats.rows && ds[k].width == stats.width[k - 1]);
        REQUIRE(o->hash_buckets == 0 || ds[k].width == o->hash_buckets);
    }
    sten_datasets_free(ctx, ds, n);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_file(path, sizeof path, "fuzz.tsv", data, size);
    const sten_criteo_opts hashed = {.hash_buckets = 16}, vocab = {.min_freq = 1},
                           rare = {.min_freq = 2};
    read_once(ctx, path, &hashed, 0);
    read_once(ctx, path, &vocab, 0);
    read_once(ctx, path, &rare, 0);
    read_once(ctx, path, size % 2 ? &hashed : &vocab, 1 + (long)(size % 17));
    return 0;
}
