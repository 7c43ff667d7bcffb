/* fuzz_recordio.c — fuzz driver for SageMaker's RecordIO-protobuf training
 * files (sten_recordio_read), as is and with one allocation failed. A
 * success must give one label per record and features below the stated
 * width; a failure leaves both datasets zeroed. tests/fuzz/fuzz.h has the
 * rest. */
#include "fuzz/fuzz.h"

#define WIDTH 16

static void read_once(sten_ctx *ctx, const char *path, long fail_at)
{
    sten_dataset x, y;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_recordio_read(ctx, path, WIDTH, "x", "y", &x, &y);
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, false);
    if (st == STEN_OK) {
        fuzz_check_dataset(&x);
        fuzz_check_dataset(&y);
        REQUIRE(x.width == WIDTH && x.sparse.cols == WIDTH && x.sparse.val != NULL);
        REQUIRE(x.examples >= 1 && y.examples == x.examples && y.dense != NULL);
    } else {
        REQUIRE(!x.name && !x.sparse.row_ptr && !y.name && !y.dense);
    }
    sten_dataset_clear(ctx, &x);
    sten_dataset_clear(ctx, &y);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_file(path, sizeof path, "fuzz.rec", data, size);
    read_once(ctx, path, 0);
    read_once(ctx, path, 1 + (long)(size % 7));
    return 0;
}
