/* fuzz_libsvm.c — fuzz driver for libsvm/svmlight input: sten_libsvm_read
 * (base 0 and 1, as is and with one allocation failed) and the streaming
 * sten_libsvm_to_text. A success must give one label per example and
 * features below the stated width, each line's as many as the text has.
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

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_file(path, sizeof path, "fuzz.svm", data, size);
    read_once(ctx, path, 0, 0);
    read_once(ctx, path, 1, 0);
    read_once(ctx, path, (int)(size % 2), 1 + (long)(size % 7));
    static FILE *sink;
    if (!sink)
        REQUIRE((sink = fopen("/dev/null", "w")) != NULL);
    uint64_t lines = 0;
    const sten_status st = sten_libsvm_to_text(ctx, path, (int)(size % 2), sink, sink, &lines);
    fuzz_outcome(ctx, st, path, false, false);
    return 0;
}
