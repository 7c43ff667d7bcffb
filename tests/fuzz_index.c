/* fuzz_index.c — fuzz driver for index files (sten_index_load), as is and
 * with one allocation failed. A loaded index must map labels and integers
 * both ways consistently, and what sten_index_save writes must load back
 * to the same map. tests/fuzz/fuzz.h has the rest. */
#include "fuzz/fuzz.h"

/* Every integer's label finds that integer again; size counts them. */
static void check_map(const sten_index *ix)
{
    uint32_t n = 0;
    REQUIRE(sten_index_size(ix) <= sten_index_span(ix));
    for (uint32_t id = 0; id < sten_index_span(ix); id++) {
        const char *label = sten_index_label(ix, id);
        if (!label)
            continue;
        uint32_t back;
        REQUIRE(label[0] != '\0');
        REQUIRE(sten_index_find(ix, label, strlen(label), &back) && back == id);
        n++;
    }
    REQUIRE(n == sten_index_size(ix));
}

static void round_trip(sten_ctx *ctx, const sten_index *ix)
{
    char path[512];
    fuzz_path(path, sizeof path, "saved.idx");
    sten_status st = sten_index_save(ctx, ix, path);
    fuzz_outcome(ctx, st, path, false, false);
    REQUIRE(st == STEN_OK);
    sten_index *back = NULL;
    REQUIRE(sten_index_new(ctx, &back) == STEN_OK);
    st = sten_index_load(ctx, back, path);
    if (st)
        fprintf(stderr, "fuzz: a saved index does not load: %s\n", sten_ctx_error(ctx));
    REQUIRE(st == STEN_OK);
    REQUIRE(sten_index_size(back) == sten_index_size(ix));
    for (uint32_t id = 0; id < sten_index_span(ix); id++) {
        const char *a = sten_index_label(ix, id), *b = sten_index_label(back, id);
        REQUIRE((a == NULL) == (b == NULL));
        REQUIRE(!a || strcmp(a, b) == 0);
    }
    sten_index_free(ctx, back);
}

static void load_once(sten_ctx *ctx, const char *path, long fail_at)
{
    sten_index *ix = NULL;
    if (sten_index_new(ctx, &ix)) {
        sten_ctx_clear_error(ctx);
        return;
    }
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_index_load(ctx, ix, path);
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, false);
    if (st == STEN_OK) {
        check_map(ix);
        if (fail_at == 0)
            round_trip(ctx, ix);
    }
    sten_index_free(ctx, ix);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_file(path, sizeof path, "fuzz.idx", data, size);
    load_once(ctx, path, 0);
    load_once(ctx, path, 1 + (long)(size % 7));
    return 0;
}
