/* fuzz_labeled.c — fuzz driver for labelled data told apart by its first
 * bytes (sten_labeled_read: RecordIO-protobuf, NetCDF, libsvm) and, with
 * no labels wanted, SageMaker's JSON inference input (sten_instances_read),
 * as is and with one allocation failed. A success must give features
 * below the stated width and, with labels, one per example. NetCDF comes
 * as CDL text ("netcdf ..."), written to a file by libnetcdf
 * (tests/fuzz/cdl.h); raw bytes that look like NetCDF are skipped, as
 * libnetcdf and libhdf5 parsing corrupt files are outside sten's trust
 * boundary (docs/fuzzing.md). tests/fuzz/fuzz.h has the rest. */
#define FUZZ_NETCDF /* reaches libnetcdf */
#include "fuzz/fuzz.h"
#include "fuzz/cdl.h"

#define WIDTH 64

static void read_once(sten_ctx *ctx, const char *path, int base, bool labels, long fail_at)
{
    sten_dataset x, y;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_labeled_read(ctx, path, base, WIDTH, "C1", "label", &x, labels ? &y : NULL);
    sten_ctx_fail_alloc_at(ctx, 0);
    /* NetCDF input may fail at the memory cap: its data can be compressed */
    fuzz_outcome(ctx, st, path, fail_at > 0, true);
    if (st == STEN_OK) {
        fuzz_check_dataset(&x);
        REQUIRE((x.attributes & STEN_DS_SPARSE) && x.width == WIDTH && x.sparse.cols == WIDTH);
        if (labels) {
            fuzz_check_dataset(&y);
            REQUIRE(y.examples == x.examples && y.dense != NULL);
        }
    } else {
        REQUIRE(!x.name && !x.sparse.row_ptr);
        REQUIRE(!labels || (!y.name && !y.dense));
    }
    sten_dataset_clear(ctx, &x);
    if (labels)
        sten_dataset_clear(ctx, &y);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    if (size >= 4 && (memcmp(data, "\x89HDF", 4) == 0 || memcmp(data, "CDF", 3) == 0))
        return 0;
    char path[512];
    if (size >= 6 && memcmp(data, "netcdf", 6) == 0) {
        if (!fuzz_cdl_write(data, size, fuzz_path(path, sizeof path, "fuzz.data")))
            return 0;
    } else {
        fuzz_file(path, sizeof path, "fuzz.data", data, size);
    }
    read_once(ctx, path, 0, true, 0);
    read_once(ctx, path, 1, false, 0);
    read_once(ctx, path, (int)(size % 2), size % 3 == 0, 1 + (long)(size % 11));
    return 0;
}
