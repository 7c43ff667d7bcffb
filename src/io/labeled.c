/* labeled.c — labelled example data (features and one label per example)
 * in any of the formats sten reads, told apart by their first bytes:
 * SageMaker's RecordIO-protobuf, a DSSTNE NetCDF file holding a sparse
 * features dataset and a dense one-value label dataset, or libsvm (whose
 * index base must be stated: a guess would shift every feature). */
#include "core/core_int.h"

#include <stdio.h>
#include <string.h>

/* The named features and label datasets of a NetCDF file, moved out of it. */
static sten_status read_netcdf(sten_ctx *ctx, const char *path, uint32_t width, const char *x_name,
                               const char *y_name, sten_dataset *x, sten_dataset *y)
{
    sten_dataset *ds;
    size_t count;
    sten_status st = sten_dataset_read_netcdf(ctx, path, &ds, &count);
    if (st)
        return st;
    int xi = -1, yi = -1;
    for (size_t i = 0; i < count; i++) {
        if (!strcmp(ds[i].name, x_name) && (ds[i].attributes & STEN_DS_SPARSE))
            xi = (int)i;
        if (!strcmp(ds[i].name, y_name) && !(ds[i].attributes & STEN_DS_SPARSE) && ds[i].width == 1)
            yi = (int)i;
    }
    if (xi < 0 || yi < 0 || ds[xi].examples != ds[yi].examples || ds[xi].width > width) {
        sten_datasets_free(ctx, ds, count);
        return sten_fail(ctx, STEN_E_FORMAT, "%s: expected a sparse dataset \"%s\" (at most "
                         "feature_dim wide) and a dense one-value dataset \"%s\" with as many "
                         "examples", path, x_name, y_name);
    }
    *x = ds[xi];
    *y = ds[yi];
    x->sparse.cols = x->width = width;
    memset(&ds[xi], 0, sizeof ds[xi]); /* moved out */
    memset(&ds[yi], 0, sizeof ds[yi]);
    sten_datasets_free(ctx, ds, count);
    return STEN_OK;
}

sten_status sten_labeled_read(sten_ctx *ctx, const char *path, int base, uint32_t width,
                              const char *x_name, const char *y_name, sten_dataset *x, sten_dataset *y)
{
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open", path);
    const size_t n = fread(magic, 1, 4, f);
    fclose(f);
    if (n == 4 && magic[0] == 0x0a && magic[1] == 0x23 && magic[2] == 0xd7 && magic[3] == 0xce)
        return sten_recordio_read(ctx, path, width, x_name, y_name, x, y);
    if (n == 4 && (!memcmp(magic, "CDF", 3) || !memcmp(magic, "\x89HDF", 4)))
        return read_netcdf(ctx, path, width, x_name, y_name, x, y);
    if (base != 0 && base != 1)
        return sten_fail(ctx, STEN_E_INVALID, "%s: libsvm data needs --index-base 0 or 1 (say which: a "
                         "guess would shift every feature)", path);
    return sten_libsvm_read(ctx, path, base, width, x_name, y_name, x, y);
}
