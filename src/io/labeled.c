/* labeled.c — labelled example data (features and one label per example)
 * in any of the formats sten reads, told apart by their first bytes:
 * SageMaker's RecordIO-protobuf, a DSSTNE NetCDF file holding a sparse
 * features dataset and a dense one-value label dataset, or libsvm (whose
 * index base must be stated: a guess would shift every feature); and, for
 * prediction, SageMaker's JSON inference input (features only). */
#include "core/core_int.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
        if (!strcmp(ds[i].name, y_name) && !(ds[i].attributes & STEN_DS_SPARSE) &&
            (uint64_t)ds[i].width * ds[i].height * ds[i].length == 1)
            yi = (int)i;
    }
    /* the features are all of x's columns (width x height x length), each
     * below feature_dim */
    if (xi < 0 || yi < 0 || ds[xi].examples != ds[yi].examples || ds[xi].sparse.cols > width) {
        sten_datasets_free(ctx, ds, count);
        return sten_fail(ctx, STEN_E_FORMAT, "%s: expected a sparse dataset \"%s\" (at most "
                         "feature_dim wide) and a dense one-value dataset \"%s\" with as many "
                         "examples", path, x_name, y_name);
    }
    *x = ds[xi];
    *y = ds[yi];
    x->sparse.cols = x->width = width;
    x->dims = x->height = x->length = 1;
    memset(&ds[xi], 0, sizeof ds[xi]); /* moved out */
    memset(&ds[yi], 0, sizeof ds[yi]);
    sten_datasets_free(ctx, ds, count);
    return STEN_OK;
}

/* The first non-blank byte (after a UTF-8 BOM) of the first 4 KiB, or -1. */
static int first_char(const unsigned char *b, size_t n)
{
    size_t i = n >= 3 && !memcmp(b, "\xEF\xBB\xBF", 3) ? 3 : 0;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    return i < n ? b[i] : -1;
}

static sten_status read_any(sten_ctx *ctx, const char *path, int base, uint32_t width, const char *x_name,
                            const char *y_name, sten_dataset *x, sten_dataset *y, bool want_labels)
{
    unsigned char head[4096];
    FILE *f = fopen(path, "rb");
    if (!f)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open", path);
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: is a directory, not a data file", path);
    }
    const size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n >= 4 && head[0] == 0x0a && head[1] == 0x23 && head[2] == 0xd7 && head[3] == 0xce)
        return sten_recordio_read(ctx, path, width, x_name, y_name, x, y);
    if (n >= 4 && (!memcmp(head, "CDF", 3) || !memcmp(head, "\x89HDF", 4)))
        return read_netcdf(ctx, path, width, x_name, y_name, x, y);
    if (first_char(head, n) == '{') {
        if (want_labels)
            return sten_fail(ctx, STEN_E_FORMAT, "%s: SageMaker's JSON inference input carries no labels; "
                             "training and test data need RecordIO-protobuf, NetCDF or libsvm", path);
        return sten_instances_read(ctx, path, width, x_name, x);
    }
    if (base != 0 && base != 1)
        return sten_fail(ctx, STEN_E_INVALID, "%s: libsvm data needs --index-base 0 or 1 (say which: a "
                         "guess would shift every feature)", path);
    return sten_libsvm_read(ctx, path, base, width, x_name, y_name, x, y);
}

sten_status sten_labeled_read(sten_ctx *ctx, const char *path, int base, uint32_t width,
                              const char *x_name, const char *y_name, sten_dataset *x, sten_dataset *y)
{
    memset(x, 0, sizeof *x);
    if (y) {
        memset(y, 0, sizeof *y);
        return read_any(ctx, path, base, width, x_name, y_name, x, y, true);
    }
    sten_dataset labels; /* read by the format's reader, not wanted */
    memset(&labels, 0, sizeof labels);
    const sten_status st = read_any(ctx, path, base, width, x_name, y_name ? y_name : "labels", x,
                                    &labels, false);
    sten_dataset_clear(ctx, &labels);
    return st;
}

/* ----------------------------------------------- SageMaker JSON instances */

typedef struct {
    sten_ctx *ctx;
    const char *path;
    uint32_t width;
    uint64_t rows, nnz, cap_rp, cap_c, cap_v;
    uint64_t *rp;
    uint32_t *col;
    float *val;
    char where[64]; /* "instance 3" or ":7" (a JSON Lines line) */
} inst_builder;

/* "path: instance 3" or "path:7" (a JSON Lines line), or just "path". */
static const char *inst_sep(const inst_builder *b)
{
    return b->where[0] == ':' || !b->where[0] ? "" : ": ";
}

static sten_status inst_bad(inst_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static sten_status inst_bad(inst_builder *b, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sten_fail(b->ctx, STEN_E_FORMAT, "%s%s%s: %s", b->path, inst_sep(b), b->where, msg);
}

static sten_status inst_push(inst_builder *b, uint64_t c, double v)
{
    if (sten__grow(b->ctx, (void **)&b->col, &b->cap_c, b->nnz + 1, sizeof *b->col) ||
        sten__grow(b->ctx, (void **)&b->val, &b->cap_v, b->nnz + 1, sizeof *b->val))
        return STEN_E_NOMEM;
    b->col[b->nnz] = (uint32_t)c;
    b->val[b->nnz++] = (float)v;
    return STEN_OK;
}

/* Only the named keys may appear in o (strict: a misspelt key is an error). */
static sten_status inst_keys(inst_builder *b, json_t *o, const char *what, const char *expected,
                             const char *const *allowed, int n)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        int k = 0;
        while (k < n && strcmp(key, allowed[k]))
            k++;
        if (k == n)
            return sten_fail(b->ctx, STEN_E_FORMAT, "%s%s%s: unknown key \"%s\" in %s (expected %s)",
                             b->path, inst_sep(b), b->where, key, what, expected);
    }
    return STEN_OK;
}

/* A features tensor: an array of dense values, or {"values", "keys", "shape"}. */
static sten_status inst_tensor(inst_builder *b, json_t *t)
{
    json_t *vals = t, *keys = NULL, *shape = NULL;
    if (json_is_object(t)) {
        static const char *const allowed[] = {"values", "keys", "shape"};
        sten_status st = inst_keys(b, t, "a features tensor", "values, keys, shape", allowed, 3);
        if (st)
            return st;
        vals = json_object_get(t, "values");
        keys = json_object_get(t, "keys");
        shape = json_object_get(t, "shape");
    }
    if ((vals && !json_is_array(vals)) || (keys && !json_is_array(keys)) || (shape && !json_is_array(shape)))
        return inst_bad(b, "%s must be an array of numbers", !vals || !json_is_array(vals) ? "values"
                        : keys && !json_is_array(keys) ? "keys" : "shape");
    if (!vals && !keys)
        return inst_bad(b, "a features tensor needs \"values\" or \"keys\"");
    uint64_t limit = b->width;
    if (shape && json_array_size(shape)) {
        json_t *last = json_array_get(shape, json_array_size(shape) - 1);
        if (!json_is_integer(last) || json_integer_value(last) < 1 ||
            (uint64_t)json_integer_value(last) > b->width)
            return inst_bad(b, "shape must be a positive integer no larger than feature_dim %u", b->width);
        limit = (uint64_t)json_integer_value(last);
    }
    const size_t nv = vals ? json_array_size(vals) : 0, nk = keys ? json_array_size(keys) : 0;
    if (keys && vals && nk != nv)
        return inst_bad(b, "keys and values differ in length");
    if (!keys && nv > b->width)
        return inst_bad(b, "%zu dense values, more than feature_dim", nv);
    int64_t prev = -1;
    for (size_t k = 0; k < (keys ? nk : nv); k++) {
        json_t *v = vals ? json_array_get(vals, k) : NULL;
        if (v && !json_is_number(v))
            return inst_bad(b, "values[%zu] is not a number", k);
        const double x = v ? json_number_value(v) : 1.0;
        if (!isfinite((float)x))
            return inst_bad(b, "values[%zu] = %g does not fit a float", k, x);
        uint64_t c = k;
        if (keys) {
            json_t *kk = json_array_get(keys, k);
            if (!json_is_integer(kk) || json_integer_value(kk) < 0)
                return inst_bad(b, "keys[%zu] is not an integer >= 0", k);
            if (json_integer_value(kk) <= prev)
                return inst_bad(b, "keys are not increasing (keys[%zu])", k);
            prev = json_integer_value(kk);
            c = (uint64_t)prev;
            if (c >= limit)
                return inst_bad(b, "keys[%zu] is not below the shape / feature_dim", k);
        } else if (x == 0.0) {
            continue; /* dense zeros are not stored */
        }
        sten_status st = inst_push(b, c, x);
        if (st)
            return st;
    }
    return STEN_OK;
}

static sten_status inst_one(inst_builder *b, json_t *inst)
{
    if (!json_is_object(inst))
        return inst_bad(b, "expected an object {\"features\": ...} or {\"data\": {\"features\": ...}}");
    static const char *const top[] = {"features", "data"}, *const data[] = {"features"};
    sten_status st = inst_keys(b, inst, "an instance", "features or data", top, 2);
    json_t *d = json_object_get(inst, "data");
    if (!st && d && !json_is_object(d))
        return inst_bad(b, "\"data\" must be an object");
    if (!st && d)
        st = inst_keys(b, d, "\"data\"", "features", data, 1);
    json_t *t = json_object_get(d ? d : inst, "features");
    if (!st && !t)
        return inst_bad(b, "no \"features\"");
    if (!st)
        st = inst_tensor(b, t);
    if (!st && sten__grow(b->ctx, (void **)&b->rp, &b->cap_rp, b->rows + 2, sizeof *b->rp))
        st = STEN_E_NOMEM;
    if (!st)
        b->rp[++b->rows] = b->nnz;
    return st;
}

/* JSON Lines: one instance per non-blank line. */
static sten_status inst_lines(inst_builder *b, const char *buf, size_t n)
{
    unsigned long long ln = 0;
    for (size_t p = 0; p < n;) {
        const char *nl = memchr(buf + p, '\n', n - p);
        const size_t e = nl ? (size_t)(nl - buf) : n;
        ln++;
        size_t s = p;
        while (s < e && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r'))
            s++;
        if (s < e) {
            json_error_t err;
            json_t *v = json_loadb(buf + s, e - s, JSON_REJECT_DUPLICATES, &err);
            if (!v)
                return sten_fail(b->ctx, STEN_E_PARSE, "%s:%llu:%d: %s", b->path, ln,
                                 err.column + (int)(s - p), err.text);
            snprintf(b->where, sizeof b->where, ":%llu", ln);
            sten_status st = inst_one(b, v);
            json_decref(v);
            if (st)
                return st;
        }
        p = e + 1;
    }
    return STEN_OK;
}

sten_status sten_instances_read(sten_ctx *ctx, const char *path, uint32_t width, const char *x_name,
                                sten_dataset *x)
{
    memset(x, 0, sizeof *x);
    FILE *f = fopen(path, "rb");
    if (!f)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open", path);
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > STEN_INSTANCES_MAX_BYTES) {
        fclose(f);
        return sten_fail(ctx, STEN_E_RANGE, "%s: expected a regular file of at most %u bytes of JSON", path,
                         STEN_INSTANCES_MAX_BYTES);
    }
    const size_t n = (size_t)sb.st_size;
    char *buf = sten_alloc(ctx, n + 1);
    sten_status st = buf ? STEN_OK : STEN_E_NOMEM;
    if (!st && fread(buf, 1, n, f) != n)
        st = sten_fail(ctx, STEN_E_IO, "%s: read error", path);
    fclose(f);
    inst_builder b = {.ctx = ctx, .path = path, .width = width};
    if (!st && (sten__grow(ctx, (void **)&b.rp, &b.cap_rp, 2, sizeof *b.rp) ||
                sten__grow(ctx, (void **)&b.col, &b.cap_c, 1, sizeof *b.col) ||
                sten__grow(ctx, (void **)&b.val, &b.cap_v, 1, sizeof *b.val)))
        st = STEN_E_NOMEM;
    const size_t skip = !st && n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3) ? 3 : 0; /* buf NULL on failure */
    json_error_t err;
    json_t *root = st ? NULL : json_loadb(buf + skip, n - skip, JSON_REJECT_DUPLICATES, &err);
    json_t *arr = root && json_is_object(root) ? json_object_get(root, "instances") : NULL;
    if (!st && arr) { /* {"instances": [...]} */
        static const char *const top[] = {"instances"};
        st = inst_keys(&b, root, "the request", "instances", top, 1);
        if (!st && !json_is_array(arr))
            st = sten_fail(ctx, STEN_E_FORMAT, "%s: \"instances\" must be an array", path);
        for (size_t i = 0; !st && i < json_array_size(arr); i++) {
            snprintf(b.where, sizeof b.where, "instance %zu", i + 1);
            st = inst_one(&b, json_array_get(arr, i));
        }
    } else if (!st && root) { /* one instance on its own */
        snprintf(b.where, sizeof b.where, "instance 1");
        st = inst_one(&b, root);
    } else if (!st && json_error_code(&err) == json_error_end_of_input_expected) {
        st = inst_lines(&b, buf + skip, n - skip); /* a value, then more: JSON Lines */
    } else if (!st && n - skip > 0) {
        st = sten_fail(ctx, STEN_E_PARSE, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    }
    json_decref(root);
    sten_free(ctx, buf);
    if (!st && b.rows == 0)
        st = sten_fail(ctx, STEN_E_FORMAT, "%s: no instances", path);
    if (!st && b.rows > UINT32_MAX)
        st = sten_fail(ctx, STEN_E_RANGE, "%s: more than 2^32-1 instances", path);
    if (!st)
        st = sten__strdup(ctx, x_name, &x->name);
    if (st) {
        sten_free(ctx, b.rp), sten_free(ctx, b.col), sten_free(ctx, b.val);
        memset(x, 0, sizeof *x);
        return st;
    }
    x->attributes = STEN_DS_SPARSE;
    x->dtype = 4;
    x->dims = 1;
    x->width = width;
    x->examples = x->unique = b.rows;
    x->sparse = (sten_csr){.rows = (uint32_t)b.rows, .cols = width, .nnz = b.nnz, .cap = b.cap_c,
                           .row_cap = (uint32_t)b.rows, .row_ptr = b.rp, .col = b.col, .val = b.val};
    return STEN_OK;
}
