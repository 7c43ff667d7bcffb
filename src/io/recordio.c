/* recordio.c — SageMaker's RecordIO-protobuf training files (MXNet RecordIO
 * framing around aialgs.data.Record messages), decoded with a small wire
 * reader, no protobuf library: features["values"] as a sparse or dense
 * float32/float64/int32 tensor, label["values"] as a scalar. Every malformed
 * record is refused with its record number. */
#include "core/core_int.h"

#include <stdio.h>
#include <string.h>

#define RIO_MAGIC 0xCED7230Au
#define RIO_MAX_RECORD (64u << 20)

typedef struct {
    const uint8_t *p, *end;
} wire;

static int varint(wire *w, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && w->p < w->end; shift += 7) {
        const uint8_t b = *w->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* The next field: number, wire type and, for length-delimited ones, the
 * sub-range. Returns -1 on malformed input. */
static int field(wire *w, uint32_t *num, uint32_t *type, wire *sub, uint64_t *v)
{
    uint64_t tag;
    if (varint(w, &tag) < 0)
        return -1;
    *num = (uint32_t)(tag >> 3);
    *type = (uint32_t)(tag & 7);
    switch (*type) {
    case 0:
        return varint(w, v);
    case 1:
        if (w->end - w->p < 8)
            return -1;
        memcpy(v, w->p, 8);
        w->p += 8;
        return 0;
    case 5:
        if (w->end - w->p < 4)
            return -1;
        *v = 0;
        memcpy(v, w->p, 4);
        w->p += 4;
        return 0;
    case 2: {
        uint64_t len;
        if (varint(w, &len) < 0 || len > (uint64_t)(w->end - w->p))
            return -1;
        sub->p = w->p;
        sub->end = w->p + len;
        w->p += len;
        return 0;
    }
    default:
        return -1;
    }
}

typedef struct {
    double *vals;
    uint64_t n_vals, cap_vals;
    uint64_t *keys;
    uint64_t n_keys, cap_keys;
    uint64_t shape[4];
    int n_shape;
} tensor;

/* A Float32/Float64/Int32Tensor: values (packed or not), keys, shape. */
static int read_tensor(sten_ctx *ctx, wire t, int kind, tensor *out)
{
    out->n_vals = out->n_keys = 0;
    out->n_shape = 0;
    uint32_t num, type;
    wire sub;
    uint64_t v;
    while (t.p < t.end) {
        if (field(&t, &num, &type, &sub, &v) < 0)
            return -1;
        if (num == 1) { /* values */
            wire vals = type == 2 ? sub : (wire){NULL, NULL};
            while (type != 2 || vals.p < vals.end) {
                double x;
                if (type == 2) {
                    if (kind == 7) {
                        if (varint(&vals, &v) < 0)
                            return -1;
                        x = (double)(int32_t)v;
                    } else if (kind == 2) {
                        float f;
                        if (vals.end - vals.p < 4)
                            return -1;
                        memcpy(&f, vals.p, 4);
                        vals.p += 4;
                        x = f;
                    } else {
                        if (vals.end - vals.p < 8)
                            return -1;
                        memcpy(&x, vals.p, 8);
                        vals.p += 8;
                    }
                } else { /* one unpacked value: fixed32, fixed64 or varint */
                    float f;
                    double d;
                    uint32_t lo = (uint32_t)v;
                    memcpy(&f, &lo, 4);
                    memcpy(&d, &v, 8);
                    x = kind == 2 ? (double)f : kind == 7 ? (double)(int32_t)v : d;
                }
                if (sten__grow(ctx, (void **)&out->vals, &out->cap_vals, out->n_vals + 1, sizeof *out->vals))
                    return -2;
                out->vals[out->n_vals++] = x;
                if (type != 2)
                    break;
            }
        } else if (num == 2 || num == 3) { /* keys, shape: packed uint64 */
            wire k = type == 2 ? sub : (wire){NULL, NULL};
            while (type != 2 || k.p < k.end) {
                uint64_t x = v;
                if (type == 2 && varint(&k, &x) < 0)
                    return -1;
                if (num == 2) {
                    if (sten__grow(ctx, (void **)&out->keys, &out->cap_keys, out->n_keys + 1, sizeof *out->keys))
                        return -2;
                    out->keys[out->n_keys++] = x;
                } else if (out->n_shape < 4) {
                    out->shape[out->n_shape++] = x;
                } else {
                    return -1;
                }
                if (type != 2)
                    break;
            }
        }
    }
    return 0;
}

/* A map<string, Value> entry: fills t when the key is "values". Returns 1
 * when found, 0 when another key, <0 on malformed input. */
static int read_entry(sten_ctx *ctx, wire e, tensor *t)
{
    uint32_t num, type;
    wire sub, value = {NULL, NULL};
    uint64_t v;
    bool is_values = false;
    while (e.p < e.end) {
        if (field(&e, &num, &type, &sub, &v) < 0 || type != 2)
            return -1;
        if (num == 1)
            is_values = sub.end - sub.p == 6 && !memcmp(sub.p, "values", 6);
        else if (num == 2)
            value = sub;
    }
    if (!is_values || !value.p)
        return 0;
    while (value.p < value.end) {
        if (field(&value, &num, &type, &sub, &v) < 0)
            return -1;
        if (type == 2 && (num == 2 || num == 3 || num == 7)) {
            const int r = read_tensor(ctx, sub, (int)num, t);
            return r < 0 ? r : 1;
        }
    }
    return -1;
}

typedef struct {
    sten_ctx *ctx;
    const char *path;
    uint32_t width;
    uint64_t rows, nnz, cap_rp, cap_c, cap_v, cap_l;
    uint64_t *rp;
    uint32_t *col;
    float *val, *lab;
    tensor f, l;
} builder;

static sten_status bad(builder *b, const char *what)
{
    return sten_fail(b->ctx, STEN_E_FORMAT, "%s: record %llu: %s", b->path, (unsigned long long)b->rows + 1,
                     what);
}

static sten_status add_record(builder *b, wire rec)
{
    uint32_t num, type;
    wire sub;
    uint64_t v;
    int have_f = 0, have_l = 0;
    while (rec.p < rec.end) {
        if (field(&rec, &num, &type, &sub, &v) < 0)
            return bad(b, "malformed protobuf");
        if (type != 2 || (num != 1 && num != 2))
            continue; /* uid, metadata, configuration */
        const int r = read_entry(b->ctx, sub, num == 1 ? &b->f : &b->l);
        if (r == -2)
            return STEN_E_NOMEM;
        if (r < 0)
            return bad(b, num == 1 ? "malformed features entry" : "malformed label entry");
        if (num == 1)
            have_f |= r;
        else
            have_l |= r;
    }
    if (!have_f)
        return bad(b, "no features[\"values\"] tensor");
    if (!have_l || b->l.n_vals != 1)
        return bad(b, "expected one label[\"values\"] value");
    const tensor *t = &b->f;
    const bool sparse = t->n_keys > 0;
    if (sparse && t->n_keys != t->n_vals)
        return bad(b, "keys and values differ in length");
    if (sparse && (t->n_shape < 1 || t->shape[t->n_shape - 1] > b->width))
        return bad(b, "a sparse tensor needs a shape no wider than feature_dim");
    if (!sparse && t->n_vals > b->width)
        return bad(b, "more dense values than feature_dim");
    if (sten__grow(b->ctx, (void **)&b->rp, &b->cap_rp, b->rows + 2, sizeof *b->rp) ||
        sten__grow(b->ctx, (void **)&b->lab, &b->cap_l, b->rows + 1, sizeof *b->lab) ||
        sten__grow(b->ctx, (void **)&b->col, &b->cap_c, b->nnz + t->n_vals + 1, sizeof *b->col) ||
        sten__grow(b->ctx, (void **)&b->val, &b->cap_v, b->nnz + t->n_vals + 1, sizeof *b->val))
        return STEN_E_NOMEM;
    for (uint64_t k = 0; k < t->n_vals; k++) {
        const uint64_t c = sparse ? t->keys[k] : k;
        if (sparse && (c >= b->width || (k && c <= t->keys[k - 1])))
            return bad(b, c >= b->width ? "a key is not below feature_dim" : "keys are not increasing");
        if (!sparse && t->vals[k] == 0.0)
            continue; /* dense zeros are not stored */
        b->col[b->nnz] = (uint32_t)c;
        b->val[b->nnz++] = (float)t->vals[k];
    }
    b->lab[b->rows++] = (float)b->l.vals[0];
    b->rp[b->rows] = b->nnz;
    return STEN_OK;
}

sten_status sten_recordio_read(sten_ctx *ctx, const char *path, uint32_t width, const char *x_name,
                               const char *y_name, sten_dataset *x, sten_dataset *y)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    FILE *f = fopen(path, "rb");
    if (!f)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open", path);
    builder b = {.ctx = ctx, .path = path, .width = width};
    uint8_t *buf = NULL;
    uint64_t cap = 0;
    sten_status st = STEN_OK;
    uint32_t head[2];
    size_t got;
    while (!st && (got = fread(head, 1, sizeof head, f)) > 0) {
        if (got != sizeof head) {
            st = bad(&b, "truncated record header");
            break;
        }
        if (head[0] != RIO_MAGIC) {
            st = bad(&b, "bad RecordIO magic (expected 0xCED7230A)");
            break;
        }
        if (head[1] >> 29) {
            st = bad(&b, "multi-part RecordIO records are not supported");
            break;
        }
        const uint32_t len = head[1] & ((1u << 29) - 1), padded = (len + 3u) & ~3u;
        if (len > RIO_MAX_RECORD) {
            st = bad(&b, "record longer than 64 MiB");
            break;
        }
        if ((st = sten__grow(ctx, (void **)&buf, &cap, padded + 1, 1)))
            break;
        if (fread(buf, 1, padded, f) != padded) {
            st = bad(&b, "truncated record (the file ends inside it)");
            break;
        }
        st = add_record(&b, (wire){buf, buf + len});
    }
    if (!st && ferror(f))
        st = sten_fail(ctx, STEN_E_IO, "%s: read error", path);
    fclose(f);
    sten_free(ctx, buf);
    sten_free(ctx, b.f.vals), sten_free(ctx, b.f.keys), sten_free(ctx, b.l.vals), sten_free(ctx, b.l.keys);
    if (!st && b.rows == 0)
        st = sten_fail(ctx, STEN_E_FORMAT, "%s: no records", path);
    const size_t nx = strlen(x_name) + 1, ny = strlen(y_name) + 1;
    if (!st && (!(x->name = sten_alloc(ctx, nx)) || !(y->name = sten_alloc(ctx, ny))))
        st = STEN_E_NOMEM;
    if (st) {
        sten_free(ctx, b.rp), sten_free(ctx, b.col), sten_free(ctx, b.val), sten_free(ctx, b.lab);
        sten_free(ctx, x->name), sten_free(ctx, y->name);
        memset(x, 0, sizeof *x);
        memset(y, 0, sizeof *y);
        return st;
    }
    memcpy(x->name, x_name, nx);
    memcpy(y->name, y_name, ny);
    x->attributes = STEN_DS_SPARSE;
    x->dtype = 4;
    x->dims = y->dims = 1;
    x->width = width;
    y->width = 1;
    x->examples = x->unique = y->examples = y->unique = b.rows;
    x->sparse = (sten_csr){.rows = (uint32_t)b.rows, .cols = width, .nnz = b.nnz, .cap = b.cap_c,
                           .row_cap = (uint32_t)b.rows, .row_ptr = b.rp, .col = b.col, .val = b.val};
    y->dense = b.lab;
    return STEN_OK;
}
