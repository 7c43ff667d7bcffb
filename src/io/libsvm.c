/* libsvm.c — libsvm/svmlight files to DSSTNE text, one line at a time, so
 * memory does not grow with the file (labels written beside, for
 * evaluation), and as sparse rows: a chunk of rows at a time (a stream, read
 * again from the start for each pass) or all of them. The feature space is
 * the integer indices, shifted to 0-based. */
#include "core/file_int.h"

#include <string.h>

static sten_status bad(sten_ctx *ctx, const char *path, unsigned long long ln, size_t col,
                       const char *what, const char *tok, size_t len)
{
    return sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%zu: %s, got \"%.*s\"", path, ln, col, what,
                     (int)STEN__MIN(len, 40), tok);
}

typedef struct {
    double label;
    uint64_t n, cap_i, cap_v;
    uint32_t *idx;
    float *val;
} svm_line;

/* One line into l (label and features); 0 = parsed, 1 = nothing on it
 * (blank or a comment), -1 = error recorded. */
static int parse_line(sten_ctx *ctx, const char *path, unsigned long long ln, const char *line,
                      size_t len, int base, svm_line *l)
{
    const char *p = line, *end = line + len;
    l->n = 0;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p == '#')
        return 1;
    const char *tok = p;
    while (p < end && *p != ' ' && *p != '\t')
        p++;
    if (sten_parse_double(tok, (size_t)(p - tok), &l->label) != STEN_OK)
        return bad(ctx, path, ln, (size_t)(tok - line) + 1, "expected a numeric label", tok,
                   (size_t)(p - tok)), -1;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end || *p == '#')
            return 0;
        tok = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        const char *colon = memchr(tok, ':', (size_t)(p - tok));
        const size_t col = (size_t)(tok - line) + 1;
        if (!colon)
            return bad(ctx, path, ln, col, "expected index:value", tok, (size_t)(p - tok)), -1;
        if (colon - tok == 3 && !strncmp(tok, "qid", 3))
            continue;
        long long idx;
        double v;
        if (sten_parse_int(tok, (size_t)(colon - tok), base, UINT32_MAX - 1, &idx) != STEN_OK) {
            char what[64];
            snprintf(what, sizeof what, "expected an index >= %d (the stated base)", base);
            return bad(ctx, path, ln, col, what, tok, (size_t)(colon - tok)), -1;
        }
        if (sten_parse_double(colon + 1, (size_t)(p - colon - 1), &v) != STEN_OK)
            return bad(ctx, path, ln, col + (size_t)(colon - tok) + 1, "expected a number", colon + 1,
                       (size_t)(p - colon - 1)), -1;
        if (sten__grow(ctx, (void **)&l->idx, &l->cap_i, l->n + 1, sizeof *l->idx) ||
            sten__grow(ctx, (void **)&l->val, &l->cap_v, l->n + 1, sizeof *l->val))
            return -1;
        l->idx[l->n] = (uint32_t)(idx - base);
        l->val[l->n++] = (float)v;
    }
}

sten_status sten_libsvm_to_text(sten_ctx *ctx, const char *path, int base, FILE *out,
                                FILE *labels, uint64_t *lines)
{
    if (base != 0 && base != 1)
        return sten_fail(ctx, STEN_E_INVALID, "libsvm index base must be 0 or 1 (got %d)", base);
    sten__lines r;
    sten_status st = sten__lines_open(ctx, &r, path);
    if (st)
        return st;
    svm_line l = {0};
    char *line;
    size_t len;
    int got;
    *lines = 0;
    while ((got = sten__lines_next(ctx, &r, &line, &len)) > 0) {
        const int pr = parse_line(ctx, path, r.lineno, line, len, base, &l);
        if (pr < 0) {
            st = sten_ctx_error_status(ctx);
            break;
        }
        if (pr > 0)
            continue;
        (*lines)++;
        if (labels)
            fprintf(labels, "%llu\t%.9g\n", r.lineno, l.label);
        fprintf(out, "%llu\t", r.lineno);
        for (uint64_t k = 0; k < l.n; k++)
            fprintf(out, "%s%u,%.9g", k ? ":" : "", l.idx[k], (double)l.val[k]);
        fputc('\n', out);
    }
    if (!st && got < 0)
        st = sten_ctx_error_status(ctx);
    sten__lines_close(&r);
    sten_free(ctx, l.idx);
    sten_free(ctx, l.val);
    if (!st && (ferror(out) || (labels && ferror(labels))))
        st = sten_fail(ctx, STEN_E_IO, "write error (disk full?)");
    return st;
}

struct sten_libsvm_stream {
    char *path;
    int base;
    uint32_t width;
    sten__lines r;
    bool open;
    svm_line l;
    /* the chunk: rows of x (a CSR over buffers grown as needed) and labels */
    sten_csr x;
    float *lab;
    uint64_t rcap, ccap, vcap, lcap;
};

sten_status sten_libsvm_stream_open(sten_ctx *ctx, const char *path, int base, uint32_t width,
                                    sten_libsvm_stream **out)
{
    *out = NULL;
    if (base != 0 && base != 1)
        return sten_fail(ctx, STEN_E_INVALID, "libsvm index base must be 0 or 1 (got %d)", base);
    sten_libsvm_stream *s = sten_calloc(ctx, 1, sizeof *s);
    if (!s)
        return STEN_E_NOMEM;
    s->base = base, s->width = width;
    sten_status st = sten__strdup(ctx, path, &s->path);
    if (!st && !(st = sten__lines_open(ctx, &s->r, s->path)))
        s->open = true;
    if (st) {
        sten_libsvm_stream_close(ctx, s);
        return st;
    }
    *out = s;
    return STEN_OK;
}

sten_status sten_libsvm_stream_rewind(sten_ctx *ctx, sten_libsvm_stream *s)
{
    if (s->open)
        sten__lines_close(&s->r);
    s->open = false;
    sten_status st = sten__lines_open(ctx, &s->r, s->path);
    s->open = !st;
    return st;
}

sten_status sten_libsvm_stream_next(sten_ctx *ctx, sten_libsvm_stream *s, uint32_t max_rows, const sten_csr **x,
                                    const float **y)
{
    *x = &s->x, *y = s->lab;
    sten_csr *m = &s->x;
    m->rows = 0, m->nnz = 0, m->cols = s->width;
    if (!s->open)
        return sten_fail(ctx, STEN_E_INVALID, "%s: the stream is not open (a failed rewind)", s->path);
    if (sten__grow(ctx, (void **)&m->row_ptr, &s->rcap, 1, sizeof *m->row_ptr))
        return STEN_E_NOMEM;
    m->row_ptr[0] = 0;
    char *line;
    size_t len;
    int got = 1;
    while (m->rows < max_rows && (got = sten__lines_next(ctx, &s->r, &line, &len)) > 0) {
        svm_line *l = &s->l;
        const int pr = parse_line(ctx, s->path, s->r.lineno, line, len, s->base, l);
        if (pr < 0)
            return sten_ctx_error_status(ctx);
        if (pr > 0)
            continue;
        for (uint64_t k = 0; k < l->n; k++)
            if (l->idx[k] >= s->width)
                return sten_fail(ctx, STEN_E_RANGE, "%s:%llu: feature index %u is not below feature_dim %u",
                                 s->path, s->r.lineno, l->idx[k] + (uint32_t)s->base, s->width);
        if (sten__grow(ctx, (void **)&m->row_ptr, &s->rcap, (uint64_t)m->rows + 2, sizeof *m->row_ptr) ||
            sten__grow(ctx, (void **)&s->lab, &s->lcap, (uint64_t)m->rows + 1, sizeof *s->lab) ||
            sten__grow(ctx, (void **)&m->col, &s->ccap, m->nnz + l->n + 1, sizeof *m->col) ||
            sten__grow(ctx, (void **)&m->val, &s->vcap, m->nnz + l->n + 1, sizeof *m->val))
            return STEN_E_NOMEM;
        if (l->n) { /* a line with a label only has no feature buffers yet: memcpy(NULL) is UB */
            memcpy(m->col + m->nnz, l->idx, l->n * sizeof *m->col);
            memcpy(m->val + m->nnz, l->val, l->n * sizeof *m->val);
        }
        m->nnz += l->n;
        s->lab[m->rows++] = (float)l->label;
        m->row_ptr[m->rows] = m->nnz;
    }
    if (got < 0)
        return sten_ctx_error_status(ctx);
    m->cap = STEN__MIN(s->ccap, s->vcap);
    m->row_cap = (uint32_t)STEN__MIN(s->rcap - 1, UINT32_MAX);
    *y = s->lab;
    return STEN_OK;
}

void sten_libsvm_stream_close(sten_ctx *ctx, sten_libsvm_stream *s)
{
    if (!s)
        return;
    if (s->open)
        sten__lines_close(&s->r);
    sten_free(ctx, s->path);
    sten_free(ctx, s->l.idx), sten_free(ctx, s->l.val);
    sten_free(ctx, s->x.row_ptr), sten_free(ctx, s->x.col), sten_free(ctx, s->x.val), sten_free(ctx, s->lab);
    sten_free(ctx, s);
}

sten_status sten_libsvm_read(sten_ctx *ctx, const char *path, int base, uint32_t width,
                             const char *x_name, const char *y_name, sten_dataset *x,
                             sten_dataset *y)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    sten_libsvm_stream *s;
    sten_status st = sten_libsvm_stream_open(ctx, path, base, width, &s);
    if (st)
        return st;
    const sten_csr *m;
    const float *lab;
    st = sten_libsvm_stream_next(ctx, s, UINT32_MAX, &m, &lab); /* every row, or 2^32 - 1 of them */
    const uint32_t rows = st ? 0 : m->rows;
    if (!st && rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no examples", path);
    if (!st && rows == UINT32_MAX)
        st = sten_fail(ctx, STEN_E_RANGE, "%s: 2^32-1 examples or more (at most 2^32-2)", path);
    if (!st && !(st = sten__strdup(ctx, x_name, &x->name)) && !(st = sten__strdup(ctx, y_name, &y->name))) {
        x->attributes = STEN_DS_SPARSE;
        x->dtype = 4;
        x->dims = y->dims = 1;
        x->width = width;
        y->width = 1;
        x->examples = x->unique = y->examples = y->unique = rows;
        x->sparse = s->x; /* the buffers change hands */
        y->dense = s->lab;
        memset(&s->x, 0, sizeof s->x);
        s->lab = NULL;
        sten_libsvm_stream_close(ctx, s);
        return STEN_OK;
    }
    sten_libsvm_stream_close(ctx, s);
    sten_free(ctx, x->name);
    sten_free(ctx, y->name);
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    return st;
}

static sten_status source_next(sten_ctx *ctx, void *self, uint32_t max_rows, const sten_csr **x, const float **y)
{
    return sten_libsvm_stream_next(ctx, self, max_rows, x, y);
}

static sten_status source_rewind(sten_ctx *ctx, void *self)
{
    return sten_libsvm_stream_rewind(ctx, self);
}

sten_row_source sten_libsvm_stream_source(sten_libsvm_stream *s)
{
    return (sten_row_source){.self = s, .next = source_next, .rewind = source_rewind};
}
