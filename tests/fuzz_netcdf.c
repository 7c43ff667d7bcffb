/* fuzz_netcdf.c — fuzz driver for sten's side of NetCDF data files
 * (sten_netcdf_kind, sten_dataset_read_netcdf, and its striped form for
 * data-parallel ranks): the header, attribute and variable checks sten makes
 * before using what libnetcdf hands it, as is and with one allocation
 * failed. The input is CDL text, written to a real
 * file by libnetcdf (tests/fuzz/cdl.h): libnetcdf and libhdf5 parsing
 * corrupt bytes are outside sten's trust boundary (docs/fuzzing.md). A
 * success must give datasets of their documented shape; the memory cap may
 * be reached (a file's data can be compressed). tests/fuzz/fuzz.h has the
 * rest. */
#define FUZZ_NETCDF /* reaches libnetcdf */
#include "fuzz/fuzz.h"
#include "fuzz/cdl.h"

static void read_once(sten_ctx *ctx, const char *path, long fail_at, uint32_t part, uint32_t parts)
{
    sten_dataset *ds = NULL;
    size_t n = 0;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_dataset_read_netcdf_part(ctx, path, part, parts, &ds, &n);
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, true);
    if (st != STEN_OK) {
        REQUIRE(ds == NULL && n == 0);
        return;
    }
    REQUIRE(n >= 1 && n <= 256);
    for (size_t k = 0; k < n; k++) {
        const sten_dataset *d = &ds[k];
        fuzz_check_dataset(d);
        const uint64_t cols = (uint64_t)d->width * d->height * d->length;
        REQUIRE(d->dims >= 1 && d->dims <= 3 && cols >= 1 && cols <= UINT32_MAX);
        REQUIRE(d->examples >= 1 && d->examples <= UINT32_MAX && d->unique <= UINT32_MAX);
        if (d->attributes & STEN_DS_SPARSE)
            REQUIRE(d->sparse.cols == cols);
        else
            REQUIRE(d->dense != NULL);
        REQUIRE(!(d->attributes & STEN_DS_WEIGHTED) || d->weight != NULL);
    }
    sten_datasets_free(ctx, ds, n);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    if (!fuzz_cdl_write(data, size, fuzz_path(path, sizeof path, "fuzz.nc")))
        return 0;
    sten_nc_kind kind;
    char names[64];
    const sten_status st = sten_netcdf_kind(ctx, path, &kind, names, sizeof names);
    fuzz_outcome(ctx, st, path, false, false);
    REQUIRE(memchr(names, '\0', sizeof names) != NULL);
    read_once(ctx, path, 0, 0, 1);
    read_once(ctx, path, 1 + (long)(size % 7), 0, 1);
    /* a data-parallel rank's stripe, as is and with an allocation failed */
    const uint32_t parts = 2 + (uint32_t)(size % 3), part = (uint32_t)(size / 3 % parts);
    read_once(ctx, path, 0, part, parts);
    read_once(ctx, path, 1 + (long)(size % 5), part, parts);
    return 0;
}
