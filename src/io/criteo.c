/* criteo.c — Criteo's click logs (Kaggle Display Advertising and the 1TB
 * set: "label<TAB>I1..I13<TAB>C1..C26", empty fields allowed; plain or
 * gzip) into the datasets a DLRM config binds to: "dense" (13 values per
 * example, DLRM's log(1 + max(x, 0))), "C1".."C26" (one index per example,
 * sparse boolean) and "label". A categorical value becomes an index either
 * by hashing into a fixed number of buckets (the same index in every file:
 * convert train and test apart freely) or through a vocabulary of the
 * values seen at least min_freq times in this file (order of first
 * appearance); index 0 is "missing", and in vocabulary mode 1 is "rare".
 * The text is read line by line, never held whole; what is kept per
 * example is its parsed values. Writing the NetCDF file is the caller's. */
#include "core/core_int.h"
#include "core/file_int.h"

#include <math.h>
#include <string.h>

#define N_DENSE 13
#define N_CAT 26
#define N_FIELDS (1 + N_DENSE + N_CAT)

/* One categorical field's vocabulary: value key -> (count, index), open
 * addressing with linear probing, keys nonzero. */
typedef struct {
    uint64_t *key;
    uint32_t *count, *idx;
    uint64_t cap, n;
} vocab;

static sten_status vocab_grow(sten_ctx *ctx, vocab *v)
{
    const uint64_t cap = v->cap ? 2 * v->cap : 1024;
    vocab w = {sten_calloc(ctx, cap, sizeof *w.key), sten_calloc(ctx, cap, sizeof *w.count),
               sten_calloc(ctx, cap, sizeof *w.idx), cap, v->n};
    if (!w.key || !w.count || !w.idx) {
        sten_free(ctx, w.key), sten_free(ctx, w.count), sten_free(ctx, w.idx);
        return STEN_E_NOMEM;
    }
    for (uint64_t i = 0; i < v->cap; i++) {
        if (!v->key[i])
            continue;
        uint64_t h = v->key[i] & (cap - 1);
        while (w.key[h])
            h = (h + 1) & (cap - 1);
        w.key[h] = v->key[i], w.count[h] = v->count[i], w.idx[h] = v->idx[i];
    }
    sten_free(ctx, v->key), sten_free(ctx, v->count), sten_free(ctx, v->idx);
    *v = w;
    return STEN_OK;
}

/* The slot of key (inserted with count 0 when absent). */
static sten_status vocab_slot(sten_ctx *ctx, vocab *v, uint64_t key, uint64_t *slot)
{
    if (2 * (v->n + 1) > v->cap) {
        sten_status st = vocab_grow(ctx, v);
        if (st)
            return st;
    }
    uint64_t h = key & (v->cap - 1);
    while (v->key[h] && v->key[h] != key)
        h = (h + 1) & (v->cap - 1);
    if (!v->key[h]) {
        v->key[h] = key;
        v->n++;
    }
    *slot = h;
    return STEN_OK;
}

/* The slot of a key already in the table. */
static uint64_t vocab_find(const vocab *v, uint64_t key)
{
    uint64_t h = key & (v->cap - 1);
    while (v->key[h] != key)
        h = (h + 1) & (v->cap - 1);
    return h;
}

static void vocab_free(sten_ctx *ctx, vocab *v)
{
    sten_free(ctx, v->key), sten_free(ctx, v->count), sten_free(ctx, v->idx);
}

/* FNV-1a over the value's bytes, then a final mix; never 0 (0 = missing). */
static uint64_t value_key(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

static const char *field_name(int f, char *buf, size_t cap)
{
    if (f == 0)
        snprintf(buf, cap, "label");
    else if (f <= N_DENSE)
        snprintf(buf, cap, "I%d", f);
    else
        snprintf(buf, cap, "C%d", f - N_DENSE);
    return buf;
}

typedef struct {
    float *dense, *label;
    uint64_t *keys; /* rows x 26, 0 = missing */
    uint64_t rows, cap_d, cap_l, cap_k;
} parsed;

/* One line into p; errors name path:line and the field. */
static sten_status parse_line(sten_ctx *ctx, const char *path, uint64_t ln, const char *line, size_t len,
                              parsed *p, sten_criteo_stats *stats)
{
    const char *f[N_FIELDS];
    size_t fl[N_FIELDS];
    int n = 0;
    const char *s = line, *end = line + len;
    while (n < N_FIELDS) {
        const char *t = memchr(s, '\t', (size_t)(end - s));
        f[n] = s;
        fl[n++] = (size_t)((t ? t : end) - s);
        if (!t)
            break;
        s = t + 1;
    }
    if (n != N_FIELDS || s + fl[n - 1] != end)
        return sten_fail(ctx, STEN_E_PARSE, "%s:%llu: expected %d TAB-separated fields (label, I1..I13, "
                         "C1..C26), got %s%d", path, (unsigned long long)ln, N_FIELDS,
                         n == N_FIELDS ? "more than " : "", n);
    if (sten__grow(ctx, (void **)&p->dense, &p->cap_d, (p->rows + 1) * N_DENSE, sizeof *p->dense) ||
        sten__grow(ctx, (void **)&p->label, &p->cap_l, p->rows + 1, sizeof *p->label) ||
        sten__grow(ctx, (void **)&p->keys, &p->cap_k, (p->rows + 1) * N_CAT, sizeof *p->keys))
        return STEN_E_NOMEM;
    char name[8];
    long long x;
    if (sten_parse_int(f[0], fl[0], 0, 1, &x) != STEN_OK)
        return sten_fail(ctx, STEN_E_PARSE, "%s:%llu: field label: expected 0 or 1, got \"%.*s\"", path,
                         (unsigned long long)ln, (int)STEN__MIN(fl[0], (size_t)40), f[0]);
    p->label[p->rows] = (float)x;
    for (int k = 1; k <= N_DENSE; k++) {
        float v = 0.0f;
        if (fl[k] == 0) {
            stats->missing_dense++;
        } else if (sten_parse_int(f[k], fl[k], -(1ll << 62), 1ll << 62, &x) == STEN_OK) {
            v = (float)log1p((double)(x > 0 ? x : 0));
        } else {
            return sten_fail(ctx, STEN_E_PARSE, "%s:%llu: field %s: expected an integer, got \"%.*s\"", path,
                             (unsigned long long)ln, field_name(k, name, sizeof name),
                             (int)STEN__MIN(fl[k], (size_t)40), f[k]);
        }
        p->dense[p->rows * N_DENSE + (uint64_t)(k - 1)] = v;
    }
    for (int k = 0; k < N_CAT; k++) {
        const int i = 1 + N_DENSE + k;
        stats->missing_cat += fl[i] == 0;
        p->keys[p->rows * N_CAT + (uint64_t)k] = fl[i] ? value_key(f[i], fl[i]) : 0;
    }
    p->rows++;
    return STEN_OK;
}

/* Categorical field k's indices, and its width. */
static sten_status index_field(sten_ctx *ctx, const sten_criteo_opts *o, const parsed *p, int k,
                               uint32_t *col, uint32_t *width)
{
    if (o->hash_buckets) {
        for (uint64_t r = 0; r < p->rows; r++) {
            const uint64_t key = p->keys[r * N_CAT + (uint64_t)k];
            col[r] = key ? 1 + (uint32_t)(key % (o->hash_buckets - 1)) : 0;
        }
        *width = o->hash_buckets;
        return STEN_OK;
    }
    vocab v = {0};
    sten_status st = STEN_OK;
    uint64_t slot;
    for (uint64_t r = 0; r < p->rows && !st; r++) {
        const uint64_t key = p->keys[r * N_CAT + (uint64_t)k];
        if (key && !(st = vocab_slot(ctx, &v, key, &slot)))
            v.count[slot]++;
    }
    uint32_t next = 2; /* 0 missing, 1 rare */
    for (uint64_t r = 0; r < p->rows && !st; r++) {
        const uint64_t key = p->keys[r * N_CAT + (uint64_t)k];
        if (!key) {
            col[r] = 0;
            continue;
        }
        slot = vocab_find(&v, key); /* counted above */
        if (v.count[slot] < o->min_freq) {
            col[r] = 1;
            continue;
        }
        if (!v.idx[slot])
            v.idx[slot] = next++;
        col[r] = v.idx[slot];
    }
    vocab_free(ctx, &v);
    *width = next;
    return st;
}

sten_status sten_criteo_read(sten_ctx *ctx, const char *path, const sten_criteo_opts *o,
                             sten_dataset **out, size_t *count, sten_criteo_stats *stats)
{
    *out = NULL;
    *count = 0;
    memset(stats, 0, sizeof *stats);
    if (o->hash_buckets == 1 || (!o->hash_buckets && !o->min_freq))
        return sten_fail(ctx, STEN_E_INVALID, "criteo: hash buckets must be at least 2 (one is \"missing\"), "
                         "or a vocabulary's minimum frequency at least 1");
    sten__lines r;
    sten_status st = sten__lines_open(ctx, &r, path);
    if (st)
        return st;
    parsed p = {0};
    char *line;
    size_t len;
    int got;
    while (!st && (got = sten__lines_next(ctx, &r, &line, &len)) > 0)
        if (len)
            st = parse_line(ctx, path, r.lineno, line, len, &p, stats);
    if (!st && got < 0)
        st = sten_ctx_error_status(ctx);
    sten__lines_close(&r);
    if (!st && p.rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no examples", path);
    if (!st && p.rows > UINT32_MAX)
        st = sten_fail(ctx, STEN_E_RANGE, "%s: more than 2^32-1 examples", path);
    const size_t n_ds = 2 + N_CAT;
    sten_dataset *ds = st ? NULL : sten_calloc(ctx, n_ds, sizeof *ds);
    if (!st && !ds)
        st = STEN_E_NOMEM;
    const uint32_t rows = (uint32_t)p.rows;
    if (!st) { /* dense and label take the parsed arrays over */
        if (!(st = sten__strdup(ctx, "dense", &ds[0].name)) &&
            !(st = sten__strdup(ctx, "label", &ds[n_ds - 1].name))) {
            ds[0].dense = p.dense, p.dense = NULL;
            ds[0].width = N_DENSE;
            ds[n_ds - 1].dense = p.label, p.label = NULL;
            ds[n_ds - 1].width = 1;
            for (size_t i = 0; i < n_ds; i += n_ds - 1)
                ds[i].dtype = 4, ds[i].dims = 1, ds[i].examples = ds[i].unique = rows;
        }
    }
    for (int k = 0; k < N_CAT && !st; k++) {
        sten_dataset *d = &ds[1 + k];
        char name[8];
        snprintf(name, sizeof name, "C%d", k + 1);
        if ((st = sten__strdup(ctx, name, &d->name)) ||
            (st = sten_csr_init(ctx, &d->sparse, rows, UINT32_MAX, rows, false)))
            break;
        if ((st = index_field(ctx, o, &p, k, d->sparse.col, &d->width)))
            break;
        for (uint32_t r2 = 0; r2 <= rows; r2++)
            d->sparse.row_ptr[r2] = r2;
        d->sparse.rows = rows;
        d->sparse.nnz = rows;
        d->sparse.cols = d->width;
        d->attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
        d->dtype = 4, d->dims = 1, d->examples = d->unique = rows;
        stats->width[k] = d->width;
    }
    sten_free(ctx, p.dense), sten_free(ctx, p.label), sten_free(ctx, p.keys);
    if (st) {
        if (ds)
            sten_datasets_free(ctx, ds, n_ds);
        return st;
    }
    stats->rows = p.rows;
    *out = ds;
    *count = n_ds;
    return STEN_OK;
}
