/* fuzz_libsvm.c — fuzz driver for libsvm/svmlight input: sten_libsvm_read
 * (base 0 and 1, as is and with one allocation failed), the chunked
 * sten_libsvm_stream (3 rows at a time, twice over a rewind: exactly the
 * whole read's rows, or an error where the whole read has one) and the
 * streaming sten_libsvm_to_text. A success must give one label per example
 * and features below the stated width, each line's as many as the text has.
 * tests/fuzz/fuzz.h has the rest. */
#include "fuzz/fuzz.h"

#define WIDTH 1000

static void read_once(sten_ctx *ctx, const char *path, int base, long fail_at)
{
    sten_dataset x, y;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_libsvm_read(ctx, path, base, WIDTH, "x", "y", &x, &y);
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, false);
    if (st == STEN_OK) {
        fuzz_check_dataset(&x);
        fuzz_check_dataset(&y);
        REQUIRE(x.width == WIDTH && x.sparse.cols == WIDTH && x.sparse.val != NULL);
        REQUIRE(x.examples >= 1 && y.examples == x.examples && y.dense != NULL);
        REQUIRE(strcmp(x.name, "x") == 0 && strcmp(y.name, "y") == 0);
    } else {
        /* a failure leaves both zeroed, owning nothing */
        REQUIRE(!x.name && !x.sparse.row_ptr && !y.name && !y.dense);
    }
    sten_dataset_clear(ctx, &x);
    sten_dataset_clear(ctx, &y);
}

static void stream_matches(sten_ctx *ctx, const char *path)
{
    sten_dataset x, y;
    const sten_status whole = sten_libsvm_read(ctx, path, 0, WIDTH, "x", "y", &x, &y);
    sten_ctx_clear_error(ctx);
    sten_libsvm_stream *s = NULL;
    sten_status st = sten_libsvm_stream_open(ctx, path, 0, WIDTH, &s);
    for (int pass = 0; pass < 2 && !st; pass++) {
        uint64_t row = 0;
        const sten_csr *c;
        const float *l;
        if (pass)
            st = sten_libsvm_stream_rewind(ctx, s);
        while (!st && !(st = sten_libsvm_stream_next(ctx, s, 3, &c, &l)) && c->rows) {
            REQUIRE(c->rows <= 3 && c->row_ptr[0] == 0 && c->nnz == c->row_ptr[c->rows] && c->cols == WIDTH);
            for (uint32_t i = 0; whole == STEN_OK && i < c->rows; i++, row++) {
                REQUIRE(row < x.examples && !memcmp(&l[i], &y.dense[row], sizeof *l));
                const uint64_t e0 = c->row_ptr[i], n = c->row_ptr[i + 1] - e0, f0 = x.sparse.row_ptr[row];
                REQUIRE(n == x.sparse.row_ptr[row + 1] - f0);
                REQUIRE(!n || (!memcmp(c->col + e0, x.sparse.col + f0, n * sizeof *c->col) &&
                               !memcmp(c->val + e0, x.sparse.val + f0, n * sizeof *c->val)));
            }
        }
        if (!st) /* a clean end: every row of a good file, none of a file with none */
            REQUIRE(whole == STEN_OK ? row == x.examples : row == 0);
    }
    if (st) /* the stream fails only where the whole read does */
        REQUIRE(whole != STEN_OK);
    sten_ctx_clear_error(ctx);
    sten_libsvm_stream_close(ctx, s);
    sten_dataset_clear(ctx, &x);
    sten_dataset_clear(ctx, &y);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_file(path, sizeof path, "fuzz.svm", data, size);
    read_once(ctx, path, 0, 0);
    read_once(ctx, path, 1, 0);
    read_once(ctx, path, (int)(size % 2), 1 + (long)(size % 7));
    stream_matches(ctx, path);
    static FILE *sink;
    if (!sink)
        REQUIRE((sink = fopen("/dev/null", "w")) != NULL);
    uint64_t lines = 0;
    const sten_status st = sten_libsvm_to_text(ctx, path, (int)(size % 2), sink, sink, &lines);
    fuzz_outcome(ctx, st, path, false, false);
    return 0;
}
