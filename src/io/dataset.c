/* dataset.c — DSSTNE NetCDF data files: read every dataset kind sten trains
 * on into sten_dataset (values as float), and write the schema DSSTNE's
 * generateNetCDF writes (plus weights, indexes and dense data for the other
 * kinds), plus the fingerprints of the index files it was made with.
 * Written atomically; everything read is validated before use. */
#include "core/file_int.h"
#include "io/io_int.h"

#include <errno.h>
#include <netcdf.h>
#include <stdio.h>
#include <string.h>

enum { DT_UINT = 0, DT_INT = 1, DT_LLINT = 2, DT_ULLINT = 3, DT_FLOAT = 4, DT_DOUBLE = 5,
       DT_RGB8 = 6, DT_RGB16 = 7, DT_UCHAR = 8, DT_CHAR = 9 };

#define DS_MAX 256 /* datasets per file */

uint32_t sten_round_width(uint32_t n)
{
    return n > UINT32_MAX - 127 ? UINT32_MAX : (n + 127) / 128 * 128;
}

typedef struct {
    sten_ctx *ctx;
    const char *path;
    int nc;
    sten_status st;
    uint32_t part, parts; /* keep the examples e with e % parts == part (1 part: all) */
} nco;

/* Records the first netCDF failure with the file and what was involved. */
static bool ok(nco *o, int rc, const char *what, const char *name)
{
    if (rc == NC_NOERR)
        return true;
    if (!o->st)
        o->st = sten_fail(o->ctx, rc == NC_ENOTATT || rc == NC_ENOTVAR || rc == NC_EBADDIM
                                      ? STEN_E_FORMAT : STEN_E_IO,
                          "%s: %s %s: %s", o->path, what, name, nc_strerror(rc));
    return false;
}

static bool bad(nco *o, const char *fmt, const char *name, unsigned long long v, const char *why)
{
    if (!o->st) {
        char msg[256];
        snprintf(msg, sizeof msg, fmt, name, v);
        o->st = sten_fail(o->ctx, STEN_E_FORMAT, "%s: %s (%s)", o->path, msg, why);
    }
    return false;
}

/* Values read at once where a stripe is gathered from a file in blocks. */
#define STRIPE_BLOCK ((size_t)1 << 22)

/* How many of n examples (or rows) the stripe keeps. */
static uint64_t stripe_len(const nco *o, uint64_t n)
{
    return n > o->part ? (n - o->part + o->parts - 1) / o->parts : 0;
}

/* A 1-D variable's values at the stripe's positions (all for 1 part):
 * netCDF reads them strided. */
static bool get_stripe(nco *o, int v, const char *name, nc_type t, void *out, uint64_t n)
{
    const size_t start = o->parts > 1 ? o->part : 0, count = (size_t)stripe_len(o, n);
    const ptrdiff_t stride = o->parts > 1 ? (ptrdiff_t)o->parts : 1;
    if (count == 0)
        return true;
    int rc = t == NC_UINT64 ? nc_get_vars_ulonglong(o->nc, v, &start, &count, &stride, out)
           : t == NC_UINT   ? nc_get_vars_uint(o->nc, v, &start, &count, &stride, out)
                            : nc_get_vars_float(o->nc, v, &start, &count, &stride, out);
    return ok(o, rc, "reading variable", name);
}

static bool att_u32(nco *o, const char *name, bool required, uint32_t *v)
{
    nc_type t;
    size_t len;
    int rc = nc_inq_att(o->nc, NC_GLOBAL, name, &t, &len);
    if (rc == NC_ENOTATT && !required)
        return true;
    if (!ok(o, rc, "attribute", name))
        return false;
    if (t == NC_CHAR || t == NC_STRING || len != 1)
        return bad(o, "attribute %s must be one number%.0llu", name, 0, "DSSTNE writes a uint");
    unsigned long long u;
    return ok(o, nc_get_att_ulonglong(o->nc, NC_GLOBAL, name, &u), "reading attribute", name) &&
           (u <= UINT32_MAX || bad(o, "attribute %s = %llu", name, u, "larger than 2^32-1")) &&
           ((*v = (uint32_t)u), true);
}

static bool dim_len(nco *o, const char *name, bool required, size_t *len)
{
    int d;
    int rc = nc_inq_dimid(o->nc, name, &d);
    if (rc == NC_EBADDIM && !required)
        return true;
    return ok(o, rc, "dimension", name) && ok(o, nc_inq_dimlen(o->nc, d, len), "dimension", name);
}

/* A 1-D variable of exactly n values, converted by netCDF to the type asked. */
static bool var_1d(nco *o, const char *name, size_t n, int *id)
{
    int nd, dim;
    size_t len;
    if (!ok(o, nc_inq_varid(o->nc, name, id), "variable", name) ||
        !ok(o, nc_inq_varndims(o->nc, *id, &nd), "variable", name))
        return false;
    if (nd != 1)
        return bad(o, "variable %s has %llu dimensions", name, (unsigned long long)nd, "expected 1");
    if (!ok(o, nc_inq_vardimid(o->nc, *id, &dim), "variable", name) ||
        !ok(o, nc_inq_dimlen(o->nc, dim, &len), "variable", name))
        return false;
    if (len != n)
        return bad(o, "variable %s has %llu values", name, (unsigned long long)len,
                   "does not match its dimension attributes");
    return true;
}

/* A stripe of a sparse dataset: its rows' entries (listed by start/end,
 * kept rows only, over the file's nnz entries) gathered from sparseIndex
 * and sparseData in blocks of spans at most STRIPE_BLOCK long (a longer row
 * alone), into idx/val, start/end re-based to them. */
static bool gather_rows(nco *o, int vi, int vd, const char *ni, const char *nd, uint64_t rows,
                        unsigned long long *start, unsigned long long *end, uint32_t *idx, float *val)
{
    uint32_t *bi = NULL;
    float *bd = NULL;
    uint64_t e = 0;
    bool good = true;
    for (uint64_t r0 = 0; good && r0 < rows;) {
        unsigned long long lo = start[r0], hi = end[r0];
        uint64_t r1 = r0 + 1;
        while (r1 < rows) {
            const unsigned long long l = STEN__MIN(lo, start[r1]), h = STEN__MAX(hi, end[r1]);
            if (h - l > STRIPE_BLOCK)
                break;
            lo = l, hi = h, r1++;
        }
        const size_t span = (size_t)(hi - lo);
        if (span && !bi) {
            bi = sten_alloc(o->ctx, STEN__MAX(span, STRIPE_BLOCK) * sizeof *bi);
            bd = val ? sten_alloc(o->ctx, STEN__MAX(span, STRIPE_BLOCK) * sizeof *bd) : NULL;
            if (!bi || (val && !bd)) {
                good = false;
                o->st = STEN_E_NOMEM;
                break;
            }
        } else if (span > STRIPE_BLOCK) { /* one row longer than a block */
            uint32_t *nbi = sten_alloc(o->ctx, span * sizeof *nbi);
            float *nbd = val ? sten_alloc(o->ctx, span * sizeof *nbd) : NULL;
            sten_free(o->ctx, bi), sten_free(o->ctx, bd);
            bi = nbi, bd = nbd;
            if (!bi || (val && !bd)) {
                good = false;
                o->st = STEN_E_NOMEM;
                break;
            }
        }
        const size_t s0 = (size_t)lo;
        good = !span || (ok(o, nc_get_vara_uint(o->nc, vi, &s0, &span, bi), "reading variable", ni) &&
                         (!val || ok(o, nc_get_vara_float(o->nc, vd, &s0, &span, bd), "reading variable", nd)));
        for (uint64_t r = r0; good && r < r1; r++) {
            const size_t len = (size_t)(end[r] - start[r]), off = (size_t)(start[r] - lo);
            if (len) { /* empty rows of an empty span: no buffer was needed */
                memcpy(idx + e, bi + off, len * sizeof *idx);
                if (val)
                    memcpy(val + e, bd + off, len * sizeof *val);
            }
            start[r] = e;
            end[r] = e += len;
        }
        r0 = r1;
    }
    sten_free(o->ctx, bi);
    sten_free(o->ctx, bd);
    return good;
}

static bool read_sparse(nco *o, int n, sten_dataset *d, uint64_t cols, uint64_t file_rows)
{
    char name[64], name2[64];
    size_t nnz = 0;
    snprintf(name, sizeof name, "sparseDataDim%d", n);
    if (!dim_len(o, name, true, &nnz))
        return false;
    const uint64_t rows = d->unique; /* kept */
    unsigned long long *start = sten_alloc(o->ctx, (size_t)STEN__MAX(rows, 1u) * sizeof *start);
    unsigned long long *end = sten_alloc(o->ctx, (size_t)STEN__MAX(rows, 1u) * sizeof *end);
    bool good = start && end;
    if (!good && !o->st)
        o->st = STEN_E_NOMEM;
    int v, vi = -1, vd = -1;
    snprintf(name, sizeof name, "sparseStart%d", n);
    good = good && var_1d(o, name, file_rows, &v) && get_stripe(o, v, name, NC_UINT64, start, file_rows);
    snprintf(name, sizeof name, "sparseEnd%d", n);
    good = good && var_1d(o, name, file_rows, &v) && get_stripe(o, v, name, NC_UINT64, end, file_rows);
    uint64_t kept = 0; /* entries of the kept rows */
    for (uint64_t r = 0; good && r < rows; r++) {
        if (start[r] > end[r] || end[r] > nnz)
            good = bad(o, "row %s%llu has sparseStart/sparseEnd outside sparseIndex", "",
                       (unsigned long long)(o->part + r * o->parts), "expected start <= end <= sparseDataDim");
        else
            kept += end[r] - start[r];
    }
    const bool striped = rows != file_rows;
    const size_t held = striped ? (size_t)kept : nnz; /* entries read into idx/val */
    uint32_t *idx = good ? sten_alloc(o->ctx, (held ? held : 1) * sizeof *idx) : NULL;
    float *val = NULL;
    if (good && !idx)
        good = false, o->st = STEN_E_NOMEM;
    snprintf(name, sizeof name, "sparseIndex%d", n);
    snprintf(name2, sizeof name2, "sparseData%d", n);
    const bool analog = !(d->attributes & STEN_DS_BOOLEAN);
    good = good && var_1d(o, name, nnz, &vi) && (!analog || var_1d(o, name2, nnz, &vd));
    if (good && analog && !(val = sten_alloc(o->ctx, (held ? held : 1) * sizeof *val)))
        good = false, o->st = STEN_E_NOMEM;
    if (good && striped) {
        good = gather_rows(o, vi, vd, name, name2, rows, start, end, idx, val);
        nnz = held;
    } else if (good) {
        good = ok(o, nc_get_var_uint(o->nc, vi, idx), "reading variable", name) &&
               (!val || ok(o, nc_get_var_float(o->nc, vd, val), "reading variable", name2));
    }
    if (good && val) {
        const float scale = d->dtype == DT_UCHAR || d->dtype == DT_RGB8 ? 1.0f / 256
                          : d->dtype == DT_CHAR ? 1.0f / 128 : 1.0f;
        for (size_t k = 0; scale != 1.0f && k < nnz; k++)
            val[k] *= scale;
    }
    const uint64_t total = kept;
    for (size_t k = 0; good && k < nnz; k++)
        if (idx[k] >= cols)
            good = bad(o, "sparseIndex value %s%llu", "", (unsigned long long)idx[k],
                       "expected below width x height x length");
    if (good && !(o->st = sten_csr_init(o->ctx, &d->sparse, (uint32_t)d->unique, (uint32_t)cols,
                                        total ? total : 1, val != NULL))) {
        uint64_t e = 0;
        for (uint64_t r = 0; r < d->unique; r++) {
            memcpy(d->sparse.col + e, idx + start[r], (end[r] - start[r]) * sizeof *idx);
            if (val)
                memcpy(d->sparse.val + e, val + start[r], (end[r] - start[r]) * sizeof *val);
            e += end[r] - start[r];
            d->sparse.row_ptr[r + 1] = e;
        }
        d->sparse.rows = (uint32_t)d->unique;
        d->sparse.nnz = e;
    }
    sten_free(o->ctx, start);
    sten_free(o->ctx, end);
    sten_free(o->ctx, idx);
    sten_free(o->ctx, val);
    return good && !o->st;
}

/* The kept rows of a dense dataset's values (cols each), from the file's
 * rows: blocks of whole rows, the stripe's copied out. */
static bool dense_stripe(nco *o, int v, const char *name, float *out, uint64_t file_rows, uint64_t cols)
{
    const uint64_t per = STEN__MAX((uint64_t)STRIPE_BLOCK / cols, (uint64_t)o->parts);
    float *blk = sten_alloc(o->ctx, (size_t)(STEN__MIN(per, file_rows) * cols) * sizeof *blk);
    if (!blk)
        return (o->st = STEN_E_NOMEM), false;
    bool good = true;
    uint64_t k = 0;
    for (uint64_t r0 = 0; good && r0 < file_rows; r0 += per) {
        const uint64_t r1 = STEN__MIN(file_rows, r0 + per);
        const size_t s0 = (size_t)(r0 * cols), cnt = (size_t)((r1 - r0) * cols);
        good = ok(o, nc_get_vara_float(o->nc, v, &s0, &cnt, blk), "reading variable", name);
        for (uint64_t r = r0; good && r < r1; r++)
            if (r % o->parts == o->part)
                memcpy(out + k++ * cols, blk + (r - r0) * cols, (size_t)cols * sizeof *out);
    }
    sten_free(o->ctx, blk);
    return good;
}

static bool read_dense(nco *o, int n, sten_dataset *d, uint64_t cols, uint64_t file_rows)
{
    char name[64];
    int v;
    const bool onehot = d->attributes & STEN_DS_BOOLEAN; /* one index per example */
    const bool striped = d->unique != file_rows;
    const uint64_t want = onehot ? file_rows : file_rows * cols;
    d->dense = sten_calloc(o->ctx, (size_t)STEN__MAX(d->unique * cols, 1u), sizeof(float));
    if (!d->dense)
        return (o->st = STEN_E_NOMEM), false;
    snprintf(name, sizeof name, "data%d", n);
    if (!var_1d(o, name, want, &v))
        return false;
    if (!onehot)
        return striped ? dense_stripe(o, v, name, d->dense, file_rows, cols)
                       : ok(o, nc_get_var_float(o->nc, v, d->dense), "reading variable", name);
    uint32_t *hot = sten_alloc(o->ctx, (size_t)(d->unique ? d->unique : 1) * sizeof *hot);
    if (!hot) /* (this failure used to go unrecorded: the read went on to the next dataset) */
        return (o->st = STEN_E_NOMEM), false;
    nco all = *o;
    if (!striped)
        all.part = 0, all.parts = 1;
    bool good = hot && get_stripe(&all, v, name, NC_UINT, hot, file_rows);
    o->st = all.st;
    for (uint64_t r = 0; good && r < d->unique; r++) {
        if (hot[r] >= cols)
            good = bad(o, "%s: one-hot index %llu", name, hot[r], "expected below the width");
        else
            d->dense[r * cols + hot[r]] = 1.0f;
    }
    sten_free(o->ctx, hot);
    return good;
}

/* sten's additions, dataset n's index fingerprints: sten_featureEntries<n>
 * with sten_featureFingerprint<n>, sten_sampleEntries<n> with
 * sten_sampleFingerprint<n> (DSSTNE's readers ignore them). */
static bool fingerprints(nco *o, int n, sten_fingerprint *features, sten_fingerprint *samples, bool write)
{
    static const char *const what[2] = {"feature", "sample"};
    sten_fingerprint *fp[2] = {features, samples};
    for (int k = 0; k < 2 && !o->st; k++) {
        char entries[64], hash[64];
        snprintf(entries, sizeof entries, "sten_%sEntries%d", what[k], n);
        snprintf(hash, sizeof hash, "sten_%sFingerprint%d", what[k], n);
        o->st = write ? sten__nc_put_fingerprint(o->ctx, o->nc, o->path, entries, hash, *fp[k])
                      : sten__nc_get_fingerprint(o->ctx, o->nc, o->path, entries, hash, fp[k]);
    }
    return !o->st;
}

static bool read_one(nco *o, int n, sten_dataset *d)
{
    char name[64];
    nc_type t;
    size_t len;
    snprintf(name, sizeof name, "name%d", n);
    if (!ok(o, nc_inq_att(o->nc, NC_GLOBAL, name, &t, &len), "attribute", name))
        return false;
    if (t != NC_CHAR || len == 0 || len >= STEN_NAME_MAX)
        return bad(o, "attribute %s is not a name%.0llu", name, 0, "expected text");
    if (!(d->name = sten_calloc(o->ctx, len + 1, 1)))
        return (o->st = STEN_E_NOMEM), false;
    if (!ok(o, nc_get_att_text(o->nc, NC_GLOBAL, name, d->name), "reading attribute", name))
        return false;
    uint32_t dims = 1;
    snprintf(name, sizeof name, "dataType%d", n);
    if (!att_u32(o, name, true, &d->dtype))
        return false;
    if (d->dtype == DT_LLINT || d->dtype == DT_ULLINT || d->dtype == DT_RGB16 || d->dtype > DT_CHAR)
        return bad(o, "attribute %s = %llu", name, d->dtype,
                   "supported: 0 UInt, 1 Int, 4 Float, 5 Double, 6 RGB8, 8 UChar, 9 Char");
    snprintf(name, sizeof name, "attributes%d", n);
    if (!att_u32(o, name, true, &d->attributes))
        return false;
    if (d->attributes & (STEN_DS_COMPRESSED | STEN_DS_RECURRENT))
        return bad(o, "attribute %s = %llu", name, d->attributes,
                   "Compressed and Recurrent datasets are not supported");
    snprintf(name, sizeof name, "dimensions%d", n);
    if (!att_u32(o, name, true, &dims))
        return false;
    if (dims < 1 || dims > 3)
        return bad(o, "attribute %s = %llu", name, dims, "expected 1, 2 or 3");
    d->dims = dims;
    d->height = d->length = 1;
    snprintf(name, sizeof name, "width%d", n);
    if (!att_u32(o, name, true, &d->width))
        return false;
    snprintf(name, sizeof name, "height%d", n);
    if (!att_u32(o, name, dims > 1, &d->height))
        return false;
    snprintf(name, sizeof name, "length%d", n);
    if (!att_u32(o, name, dims > 2, &d->length))
        return false;
    const uint64_t cols = (uint64_t)d->width * d->height * d->length;
    if (cols == 0 || cols > UINT32_MAX)
        return bad(o, "dataset %s has %llu features per example", d->name, cols,
                   "expected 1 to 2^32-1");
    size_t ex = 0, uniq = 0;
    snprintf(name, sizeof name, "examplesDim%d", n);
    if (!dim_len(o, name, true, &ex))
        return false;
    if (ex == 0 || ex > UINT32_MAX)
        return bad(o, "dimension %s = %llu", name, ex, "expected 1 to 2^32-1 examples");
    const uint64_t kept = stripe_len(o, ex); /* the examples this reader keeps */
    if (kept == 0)
        return bad(o, "dimension %s = %llu", name, ex, o->parts > 1 ? "fewer examples than ranks to share them"
                                                                  : "expected 1 to 2^32-1 examples");
    d->examples = d->unique = kept;
    snprintf(name, sizeof name, "uniqueExamplesDim%d", n);
    if (!dim_len(o, name, false, &uniq))
        return false;
    if (uniq > UINT32_MAX)
        return bad(o, "dimension %s = %llu", name, uniq, "expected at most 2^32-1 examples");
    uint64_t file_rows = ex; /* stored rows in the file */
    if (uniq)
        d->unique = file_rows = uniq;
    if ((d->attributes & STEN_DS_INDEXED) || uniq) {
        int v;
        d->unique = file_rows; /* examples share rows: every row is kept */
        d->index = sten_alloc(o->ctx, (size_t)kept * sizeof *d->index);
        snprintf(name, sizeof name, "index%d", n);
        if (!d->index)
            return (o->st = STEN_E_NOMEM), false;
        if (!var_1d(o, name, ex, &v) || !get_stripe(o, v, name, NC_UINT, d->index, ex))
            return false;
        for (size_t i = 0; i < kept; i++)
            if (d->index[i] >= d->unique)
                return bad(o, "%s: example maps to row %llu", name, d->index[i],
                           "expected below uniqueExamplesDim");
    }
    if (!fingerprints(o, n, &d->features, &d->samples, false))
        return false;
    if (d->attributes & STEN_DS_WEIGHTED) {
        int v;
        d->weight = sten_alloc(o->ctx, (size_t)kept * sizeof *d->weight);
        snprintf(name, sizeof name, "dataWeight%d", n);
        if (!d->weight)
            return (o->st = STEN_E_NOMEM), false;
        if (!var_1d(o, name, ex, &v) || !get_stripe(o, v, name, NC_FLOAT, d->weight, ex))
            return false;
    }
    return d->attributes & STEN_DS_SPARSE ? read_sparse(o, n, d, cols, file_rows)
                                          : read_dense(o, n, d, cols, file_rows);
}

void sten_dataset_clear(sten_ctx *ctx, sten_dataset *d)
{
    if (!d)
        return;
    sten_free(ctx, d->name);
    sten_csr_free(ctx, &d->sparse);
    sten_free(ctx, d->dense);
    sten_free(ctx, d->weight);
    sten_free(ctx, d->index);
    memset(d, 0, sizeof *d);
}

void sten_datasets_free(sten_ctx *ctx, sten_dataset *ds, size_t count)
{
    for (size_t i = 0; ds && i < count; i++)
        sten_dataset_clear(ctx, &ds[i]);
    sten_free(ctx, ds);
}

sten_status sten_netcdf_kind(sten_ctx *ctx, const char *path, sten_nc_kind *kind, char *names, size_t n)
{
    *kind = STEN_NC_UNKNOWN;
    if (names && n)
        names[0] = '\0';
    int nc;
    const int rc = nc_open(path, NC_NOWRITE, &nc);
    if (rc != NC_NOERR)
        return sten_fail(ctx, rc == ENOENT ? STEN_E_NOTFOUND : STEN_E_FORMAT,
                         "%s: cannot open as NetCDF: %s", path, nc_strerror(rc));
    if (nc_inq_att(nc, NC_GLOBAL, "layers", NULL, NULL) == NC_NOERR)
        *kind = STEN_NC_MODEL;
    unsigned long long count = 0;
    nc_type t;
    size_t n_vals = 0;
    /* libnetcdf writes all of an attribute's values: only one fits count */
    if (*kind == STEN_NC_UNKNOWN && nc_inq_att(nc, NC_GLOBAL, "datasets", &t, &n_vals) == NC_NOERR && n_vals == 1 &&
        t != NC_CHAR && t != NC_STRING && nc_get_att_ulonglong(nc, NC_GLOBAL, "datasets", &count) == NC_NOERR &&
        count >= 1 && count <= DS_MAX) {
        *kind = STEN_NC_DATA;
        for (unsigned long long i = 0; names && i < count; i++) {
            char att[32], name[STEN_NAME_MAX];
            size_t len;
            snprintf(att, sizeof att, "name%llu", i);
            if (nc_inq_attlen(nc, NC_GLOBAL, att, &len) != NC_NOERR || len >= sizeof name ||
                nc_get_att_text(nc, NC_GLOBAL, att, name) != NC_NOERR)
                continue;
            name[len] = '\0';
            const size_t used = strlen(names);
            if (used + 1 < n)
                snprintf(names + used, n - used, "%s%s", used ? ", " : "", name);
        }
    }
    nc_close(nc);
    return STEN_OK;
}

sten_status sten_dataset_read_netcdf(sten_ctx *ctx, const char *path, sten_dataset **out,
                                     size_t *count)
{
    return sten_dataset_read_netcdf_part(ctx, path, 0, 1, out, count);
}

sten_status sten_dataset_read_netcdf_part(sten_ctx *ctx, const char *path, uint32_t part, uint32_t parts,
                                          sten_dataset **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (parts == 0 || part >= parts)
        return sten_fail(ctx, STEN_E_INVALID, "%s: stripe %u of %u does not exist", path, part, parts);
    nco o = {ctx, path, -1, STEN_OK, part, parts};
    const int rc = nc_open(path, NC_NOWRITE, &o.nc);
    if (rc != NC_NOERR)
        return sten_fail(ctx, rc == ENOENT ? STEN_E_NOTFOUND : STEN_E_FORMAT,
                         "%s: cannot open as NetCDF: %s", path, nc_strerror(rc));
    uint32_t n = 0;
    sten_dataset *ds = NULL;
    if (nc_inq_att(o.nc, NC_GLOBAL, "datasets", NULL, NULL) == NC_ENOTATT &&
        nc_inq_att(o.nc, NC_GLOBAL, "layers", NULL, NULL) == NC_NOERR)
        o.st = sten_fail(ctx, STEN_E_FORMAT, "%s: this is a model, not a dataset (data files are what "
                         "generate-netcdf and convert write)", path);
    if (!o.st && att_u32(&o, "datasets", true, &n) && (n == 0 || n > DS_MAX))
        bad(&o, "attribute %s = %llu", "datasets", n, "expected 1 to 256");
    if (!o.st && !(ds = sten_calloc(ctx, n, sizeof *ds)))
        o.st = STEN_E_NOMEM;
    for (uint32_t i = 0; !o.st && i < n; i++)
        read_one(&o, (int)i, &ds[i]);
    nc_close(o.nc);
    if (o.st) {
        sten_datasets_free(ctx, ds, n);
        return o.st;
    }
    *out = ds;
    *count = n;
    return STEN_OK;
}

/* ------------------------------------------------------------------ write */

static void put_u32(nco *o, const char *name, uint32_t v)
{
    ok(o, nc_put_att_uint(o->nc, NC_GLOBAL, name, NC_UINT, 1, &v), "writing attribute", name);
}

static int def_var(nco *o, const char *name, nc_type t, const char *dim, size_t len, bool new_dim)
{
    int d = -1, v = -1;
    if (new_dim)
        ok(o, nc_def_dim(o->nc, dim, len, &d), "defining dimension", dim);
    else
        ok(o, nc_inq_dimid(o->nc, dim, &d), "dimension", dim);
    ok(o, nc_def_var(o->nc, name, t, 1, &d, &v), "defining variable", name);
    return v;
}

typedef struct {
    int start, end, index, data, weight, ex_index, dense;
    unsigned long long *s, *e; /* compact row offsets */
} ds_vars;

static void define_one(nco *o, int n, const sten_dataset *d, ds_vars *v)
{
    char name[64], dim[64];
    snprintf(name, sizeof name, "name%d", n);
    ok(o, nc_put_att_text(o->nc, NC_GLOBAL, name, strlen(d->name), d->name), "writing attribute", name);
    const uint32_t atts[] = {d->attributes, 0, d->dtype, d->dims ? d->dims : 1, d->width};
    static const char *const an[] = {"attributes", "kind", "dataType", "dimensions", "width"};
    for (int k = 0; k < 5; k++) {
        snprintf(name, sizeof name, "%s%d", an[k], n);
        put_u32(o, name, atts[k]);
    }
    if (d->dims > 1) {
        snprintf(name, sizeof name, "height%d", n);
        put_u32(o, name, d->height);
    }
    if (d->dims > 2) {
        snprintf(name, sizeof name, "length%d", n);
        put_u32(o, name, d->length);
    }
    sten_fingerprint features = d->features, samples = d->samples;
    fingerprints(o, n, &features, &samples, true);
    snprintf(dim, sizeof dim, "examplesDim%d", n);
    int ed;
    ok(o, nc_def_dim(o->nc, dim, d->examples, &ed), "defining dimension", dim);
    const char *rows_dim = dim;
    char udim[64];
    if (d->index) {
        snprintf(name, sizeof name, "index%d", n);
        v->ex_index = def_var(o, name, NC_UINT, dim, 0, false);
        snprintf(udim, sizeof udim, "uniqueExamplesDim%d", n);
        int ud;
        ok(o, nc_def_dim(o->nc, udim, d->unique, &ud), "defining dimension", udim);
        rows_dim = udim;
    }
    if (d->weight) {
        snprintf(name, sizeof name, "dataWeight%d", n);
        v->weight = def_var(o, name, NC_FLOAT, dim, 0, false);
    }
    if (d->attributes & STEN_DS_SPARSE) {
        const nc_type ot = d->sparse.nnz > UINT32_MAX ? NC_UINT64 : NC_UINT;
        snprintf(name, sizeof name, "sparseStart%d", n);
        v->start = def_var(o, name, ot, rows_dim, 0, false);
        snprintf(name, sizeof name, "sparseEnd%d", n);
        v->end = def_var(o, name, ot, rows_dim, 0, false);
        snprintf(dim, sizeof dim, "sparseDataDim%d", n);
        snprintf(name, sizeof name, "sparseIndex%d", n);
        v->index = def_var(o, name, NC_UINT, dim, d->sparse.nnz ? d->sparse.nnz : 1, true);
        if (d->sparse.val) {
            snprintf(name, sizeof name, "sparseData%d", n);
            v->data = def_var(o, name, NC_FLOAT, dim, 0, false);
        }
    } else {
        snprintf(dim, sizeof dim, "dataDim%d", n);
        snprintf(name, sizeof name, "data%d", n);
        const uint64_t cols = (uint64_t)d->width * STEN__MAX(d->height, 1u) * STEN__MAX(d->length, 1u);
        v->dense = def_var(o, name, NC_FLOAT, dim, d->unique * cols, true);
    }
}

static void fill_one(nco *o, const sten_dataset *d, ds_vars *v)
{
    if (d->index)
        ok(o, nc_put_var_uint(o->nc, v->ex_index, d->index), "writing", "index");
    if (d->weight)
        ok(o, nc_put_var_float(o->nc, v->weight, d->weight), "writing", "dataWeight");
    if (!(d->attributes & STEN_DS_SPARSE)) {
        ok(o, nc_put_var_float(o->nc, v->dense, d->dense), "writing", "data");
        return;
    }
    unsigned long long *s = sten_alloc(o->ctx, (size_t)(d->unique ? d->unique : 1) * sizeof *s);
    unsigned long long *e = sten_alloc(o->ctx, (size_t)(d->unique ? d->unique : 1) * sizeof *e);
    if (!s || !e) {
        o->st = o->st ? o->st : STEN_E_NOMEM;
    } else {
        for (uint64_t r = 0; r < d->unique; r++) {
            s[r] = d->sparse.row_ptr[r];
            e[r] = d->sparse.row_ptr[r + 1];
        }
        ok(o, nc_put_var_ulonglong(o->nc, v->start, s), "writing", "sparseStart");
        ok(o, nc_put_var_ulonglong(o->nc, v->end, e), "writing", "sparseEnd");
        if (d->sparse.nnz) {
            ok(o, nc_put_var_uint(o->nc, v->index, d->sparse.col), "writing", "sparseIndex");
            if (d->sparse.val)
                ok(o, nc_put_var_float(o->nc, v->data, d->sparse.val), "writing", "sparseData");
        } else { /* the one-entry placeholder a dimension needs: a valid index, not the fill value */
            const unsigned zero = 0;
            const float fzero = 0;
            ok(o, nc_put_var_uint(o->nc, v->index, &zero), "writing", "sparseIndex");
            if (d->sparse.val)
                ok(o, nc_put_var_float(o->nc, v->data, &fzero), "writing", "sparseData");
        }
    }
    sten_free(o->ctx, s);
    sten_free(o->ctx, e);
}

sten_status sten_dataset_write_netcdf(sten_ctx *ctx, const char *path, const sten_dataset *ds,
                                      size_t count)
{
    if (count == 0 || count > DS_MAX)
        return sten_fail(ctx, STEN_E_INVALID, "%s: 1 to %d datasets per file (got %zu)", path,
                         DS_MAX, count);
    for (size_t i = 0; i < count; i++)
        if (!ds[i].name || !ds[i].name[0] || ds[i].examples == 0 ||
            ((ds[i].attributes & STEN_DS_SPARSE) && ds[i].sparse.rows != ds[i].unique))
            return sten_fail(ctx, STEN_E_INVALID, "%s: dataset %zu is incomplete (name, examples, rows)",
                             path, i);
    char *tmp = sten__tmp_path(ctx, path);
    if (!tmp)
        return sten_ctx_error_status(ctx);
    nco o = {ctx, path, -1, STEN_OK, 0, 1};
    if (!ok(&o, nc_create(tmp, NC_CLOBBER | NC_NETCDF4, &o.nc), "creating", "file")) {
        sten__abort_path(ctx, tmp);
        return o.st;
    }
    ds_vars v[DS_MAX];
    memset(v, 0, sizeof(ds_vars) * count);
    put_u32(&o, "datasets", (uint32_t)count);
    for (size_t i = 0; i < count && !o.st; i++)
        define_one(&o, (int)i, &ds[i], &v[i]);
    ok(&o, nc_enddef(o.nc), "finishing", "definitions");
    for (size_t i = 0; i < count && !o.st; i++)
        fill_one(&o, &ds[i], &v[i]);
    ok(&o, nc_close(o.nc), "closing", "file");
    if (o.st) {
        sten__abort_path(ctx, tmp);
        return o.st;
    }
    return sten__commit_path(ctx, tmp, path);
}
