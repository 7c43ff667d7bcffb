/* fuzz_text.c — fuzz driver for the DSSTNE text reader (sten_text_read):
 * boolean with growing indexes, and analog against a read-only feature
 * index, each as is and with one allocation failed. A success must give
 * rows in increasing sample integer, columns inside the feature index, and
 * counts that agree; tests/fuzz/fuzz.h has the rest. */
#include "fuzz/fuzz.h"

static void read_once(sten_ctx *ctx, const char *path, bool analog, long fail_at)
{
    sten_index *features = NULL, *samples = NULL;
    if (sten_index_new(ctx, &features) || sten_index_new(ctx, &samples)) {
        sten_index_free(ctx, features);
        sten_index_free(ctx, samples);
        sten_ctx_clear_error(ctx);
        return;
    }
    /* analog: a read-only index that knows a few of the seeds' features */
    static const char *known[] = {"1", "2", "3", "i1", "i2", "f"};
    bool grow = true;
    if (analog) {
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
            uint32_t id;
            REQUIRE(sten_index_add(ctx, features, known[k], strlen(known[k]), &id) == STEN_OK);
        }
        grow = false;
    }
    const uint32_t span0 = sten_index_span(features);
    sten_csr m;
    uint32_t *ids = NULL;
    sten_text_stats stats;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_text_read(ctx, path, features, grow, samples, analog, &m, &ids, &stats);
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, false);
    if (st == STEN_OK) {
        fuzz_check_csr(&m);
        REQUIRE(m.cols == sten_index_span(features));
        REQUIRE(grow || m.cols == span0);
        REQUIRE((m.val != NULL) == analog);
        REQUIRE(m.rows == stats.samples && m.nnz == stats.nnz);
        REQUIRE(m.rows <= sten_index_size(samples));
        REQUIRE(m.rows == 0 || ids != NULL);
        for (uint32_t r = 0; r < m.rows; r++) {
            REQUIRE(ids[r] < sten_index_span(samples));
            REQUIRE(r == 0 || ids[r - 1] < ids[r]);
            /* a feature repeated within a line counts once */
            for (uint64_t a = m.row_ptr[r]; a < m.row_ptr[r + 1] && m.row_ptr[r + 1] - m.row_ptr[r] < 64; a++)
                for (uint64_t b = a + 1; b < m.row_ptr[r + 1]; b++)
                    REQUIRE(m.col[a] != m.col[b]);
        }
        sten_csr_free(ctx, &m);
        sten_free(ctx, ids);
    } else {
        REQUIRE(ids == NULL);
    }
    sten_index_free(ctx, features);
    sten_index_free(ctx, samples);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_file(path, sizeof path, "fuzz.txt", data, size);
    read_once(ctx, path, false, 0);
    read_once(ctx, path, true, 0);
    read_once(ctx, path, size % 2 != 0, 1 + (long)(size % 11));
    return 0;
}
