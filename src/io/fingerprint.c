/* fingerprint.c — fingerprints of index files (entry count + FNV-1a over
 * the "label<TAB>integer\n" lines in integer order), their NetCDF
 * attributes, and the check that an index file is the one a model layer was
 * trained with. Whether a file has the right data is not its business: only
 * which numbering of labels it follows. */
#include "io/io_int.h"

#include <netcdf.h>
#include <stdio.h>
#include <string.h>

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * FNV_PRIME;
    return h;
}

/* One "label<TAB>integer\n" line, as sten_index_save writes it. */
static uint64_t hash_entry(uint64_t h, const char *label, uint32_t id)
{
    char num[16];
    const int n = snprintf(num, sizeof num, "\t%u\n", id);
    return fnv(fnv(h, label, strlen(label)), num, (size_t)n);
}

sten_fingerprint sten_index_fingerprint(const sten_index *ix)
{
    sten_fingerprint fp = {0, FNV_OFFSET};
    const uint32_t span = sten_index_span(ix);
    for (uint32_t id = 0; id < span; id++) {
        const char *l = sten_index_label(ix, id);
        if (l)
            fp.hash = hash_entry(fp.hash, l, id), fp.entries++;
    }
    return fp;
}

sten_fingerprint sten_index_fingerprint_ids(const sten_index *ix, const uint32_t *ids, size_t n)
{
    sten_fingerprint fp = {0, FNV_OFFSET};
    for (size_t i = 0; i < n && fp.entries < UINT32_MAX; i++) {
        const char *l = sten_index_label(ix, ids[i]);
        if (l)
            fp.hash = hash_entry(fp.hash, l, ids[i]), fp.entries++;
    }
    return fp;
}

bool sten_fingerprint_equal(sten_fingerprint a, sten_fingerprint b)
{
    return a.entries == b.entries && a.hash == b.hash;
}

/* ------------------------------------------------------------ attributes */

sten_status sten__nc_put_fingerprint(sten_ctx *ctx, int nc, const char *path, const char *entries_att,
                                     const char *hash_att, sten_fingerprint fp)
{
    if (!fp.entries)
        return STEN_OK;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fp.hash);
    int rc = nc_put_att_uint(nc, NC_GLOBAL, entries_att, NC_UINT, 1, &fp.entries);
    const char *att = entries_att;
    if (rc == NC_NOERR)
        rc = nc_put_att_text(nc, NC_GLOBAL, att = hash_att, 16, hex);
    return rc == NC_NOERR ? STEN_OK
                          : sten_fail(ctx, STEN_E_IO, "%s: writing attribute %s: %s", path, att, nc_strerror(rc));
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

sten_status sten__nc_get_fingerprint(sten_ctx *ctx, int nc, const char *path, const char *entries_att,
                                     const char *hash_att, sten_fingerprint *fp)
{
    *fp = (sten_fingerprint){0, 0};
    nc_type te, th;
    size_t le, lh;
    const int re = nc_inq_att(nc, NC_GLOBAL, entries_att, &te, &le);
    const int rh = nc_inq_att(nc, NC_GLOBAL, hash_att, &th, &lh);
    if (re == NC_ENOTATT && rh == NC_ENOTATT)
        return STEN_OK; /* DSSTNE's files, and sten's before fingerprints */
    if (re != NC_NOERR || rh != NC_NOERR) {
        const bool lacks_hash = re == NC_NOERR;
        if ((lacks_hash ? rh : re) != NC_ENOTATT)
            return sten_fail(ctx, STEN_E_IO, "%s: attribute %s: %s", path, lacks_hash ? hash_att : entries_att,
                             nc_strerror(lacks_hash ? rh : re));
        return sten_fail(ctx, STEN_E_FORMAT, "%s: attribute %s without %s (an index fingerprint is both)",
                         path, lacks_hash ? entries_att : hash_att, lacks_hash ? hash_att : entries_att);
    }
    unsigned long long n = 0;
    if (te == NC_CHAR || te == NC_STRING || le != 1 ||
        nc_get_att_ulonglong(nc, NC_GLOBAL, entries_att, &n) != NC_NOERR || n == 0 || n > UINT32_MAX)
        return sten_fail(ctx, STEN_E_FORMAT, "%s: attribute %s must be one number in [1, 2^32-1] (the "
                         "entries of an index)", path, entries_att);
    char hex[16];
    if (th != NC_CHAR || lh != sizeof hex || nc_get_att_text(nc, NC_GLOBAL, hash_att, hex) != NC_NOERR)
        return sten_fail(ctx, STEN_E_FORMAT, "%s: attribute %s must be 16 hex digits (an index fingerprint)",
                         path, hash_att);
    uint64_t h = 0;
    for (size_t i = 0; i < sizeof hex; i++) {
        const int d = hex_digit(hex[i]);
        if (d < 0)
            return sten_fail(ctx, STEN_E_FORMAT, "%s: attribute %s = \"%.16s\" is not 16 hex digits (an index "
                             "fingerprint)", path, hash_att, hex);
        h = h << 4 | (uint64_t)d;
    }
    *fp = (sten_fingerprint){(uint32_t)n, h};
    return STEN_OK;
}

/* --------------------------------------------------------------- check */

/* Whether ix begins with the index fp is the fingerprint of: its first
 * fp.entries entries (in integer order) are that index, as after
 * generate-netcdf -m added features to it. */
static bool extends(const sten_index *ix, sten_fingerprint fp)
{
    uint64_t h = FNV_OFFSET;
    uint32_t n = 0;
    const uint32_t span = sten_index_span(ix);
    for (uint32_t id = 0; id < span && n < fp.entries; id++) {
        const char *l = sten_index_label(ix, id);
        if (l)
            h = hash_entry(h, l, id), n++;
    }
    return n == fp.entries && h == fp.hash;
}

sten_status sten_index_check(sten_ctx *ctx, const sten_index *ix, const char *index_path,
                             const sten_layer_desc *l, const char *model_path)
{
    const bool out = l->kind == STEN_LAYER_OUTPUT;
    const char *harm = out ? "predictions would name the wrong items" : "the model would read the wrong features";
    const char *fix = "use the index files generate-netcdf wrote beside the training data";
    const sten_fingerprint fp = sten_index_fingerprint(ix);
    if (l->features.entries && fp.entries > l->features.entries && extends(ix, l->features))
        return sten_fail(ctx, STEN_E_FORMAT, "%s: this feature index (%u entries, fingerprint %016llx) is the one "
                         "layer \"%s\" of model %s was trained with (%u entries, fingerprint %016llx) plus %u "
                         "entr%s added since (generate-netcdf -m?), which the model has no trained units for: "
                         "%s; use the index as it was when the model was trained", index_path, fp.entries,
                         (unsigned long long)fp.hash, l->name, model_path, l->features.entries,
                         (unsigned long long)l->features.hash, fp.entries - l->features.entries,
                         fp.entries - l->features.entries == 1 ? "y" : "ies",
                         out ? "it could recommend them" : "their features would read untrained weights");
    if (l->features.entries && !sten_fingerprint_equal(fp, l->features))
        return sten_fail(ctx, STEN_E_FORMAT, "%s: this feature index (%u entries, fingerprint %016llx) is "
                         "not the one layer \"%s\" of model %s was trained with (%u entries, fingerprint "
                         "%016llx): %s; %s", index_path, fp.entries, (unsigned long long)fp.hash, l->name,
                         model_path, l->features.entries, (unsigned long long)l->features.hash, harm, fix);
    /* what a model without a fingerprint still allows checking */
    const uint32_t span = sten_index_span(ix);
    if (span > l->N)
        return sten_fail(ctx, STEN_E_FORMAT, "%s: this feature index numbers %u units (its largest integer is "
                         "%u) but layer \"%s\" of model %s has N = %u: it is not the index the model was "
                         "trained with, and %s; %s", index_path, span, span - 1, l->name, model_path, l->N,
                         harm, fix);
    if (!l->features.entries && sten_round_width(span) < l->N)
        sten_log(ctx, STEN_LOG_WARN, "%s: this feature index is %u units wide (rounded up to 128) but layer "
                 "\"%s\" of model %s has N = %u, and the model records no index fingerprint to tell: unless "
                 "its config set N above its data's width, this is not the index it was trained with",
                 index_path, sten_round_width(span), l->name, model_path, l->N);
    return STEN_OK;
}
