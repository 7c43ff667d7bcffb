/* libsvm.c — libsvm/svmlight files to DSSTNE text, one line at a time, so
 * memory does not grow with the file. Labels are written beside, for
 * evaluation; the feature space is the integer indices, shifted to 0-based. */
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

sten_status sten_libsvm_read(sten_ctx *ctx, const char *path, int base, uint32_t width,
                             const char *x_name, const char *y_name, sten_dataset *x,
                             sten_dataset *y)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    if (base != 0 && base != 1)
        return sten_fail(ctx, STEN_E_INVALID, "libsvm index base must be 0 or 1 (got %d)", base);
    sten__lines r;
    sten_status st = sten__lines_open(ctx, &r, path);
    if (st)
        return st;
    svm_line l = {0};
    uint64_t *rp = NULL, rcap = 0, rows = 0, nnz = 0, ccap = 0, vcap = 0, lcap = 0;
    uint32_t *col = NULL;
    float *val = NULL, *lab = NULL;
    char *line;
    size_t len;
    int got;
    while (!st && (got = sten__lines_next(ctx, &r, &line, &len)) > 0) {
        const int pr = parse_line(ctx, path, r.lineno, line, len, base, &l);
        if (pr < 0) {
            st = sten_ctx_error_status(ctx);
            break;
        }
        if (pr > 0)
            continue;
        for (uint64_t k = 0; k < l.n && !st; k++)
            if (l.idx[k] >= width)
                st = sten_fail(ctx, STEN_E_RANGE, "%s:%llu: feature index %u is not below feature_dim %u",
                               path, r.lineno, l.idx[k] + (uint32_t)base, width);
        if (!st && (sten__grow(ctx, (void **)&rp, &rcap, rows + 2, sizeof *rp) ||
                    sten__grow(ctx, (void **)&lab, &lcap, rows + 1, sizeof *lab) ||
                    sten__grow(ctx, (void **)&col, &ccap, nnz + l.n + 1, sizeof *col) ||
                    sten__grow(ctx, (void **)&val, &vcap, nnz + l.n + 1, sizeof *val)))
            st = STEN_E_NOMEM;
        if (st)
            break;
        if (l.n) { /* a line with a label only has no feature buffers yet: memcpy(NULL) is UB */
            memcpy(col + nnz, l.idx, l.n * sizeof *col);
            memcpy(val + nnz, l.val, l.n * sizeof *val);
        }
        nnz += l.n;
        lab[rows++] = (float)l.label;
        rp[rows] = nnz;
    }
    if (!st && got < 0)
        st = sten_ctx_error_status(ctx);
    sten__lines_close(&r);
    sten_free(ctx, l.idx);
    sten_free(ctx, l.val);
    if (!st && rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no examples", path);
    if (!st && rows > UINT32_MAX)
        st = sten_fail(ctx, STEN_E_RANGE, "%s: more than 2^32-1 examples", path);
    if (!st && !(st = sten__strdup(ctx, x_name, &x->name)) &&
        !(st = sten__strdup(ctx, y_name, &y->name))) {
        x->attributes = STEN_DS_SPARSE;
        x->dtype = 4;
        x->dims = y->dims = 1;
        x->width = width;
        y->width = 1;
        x->examples = x->unique = y->examples = y->unique = rows;
        x->sparse = (sten_csr){.rows = (uint32_t)rows, .cols = width, .nnz = nnz, .cap = ccap,
                               .row_cap = (uint32_t)rows, .row_ptr = rp, .col = col, .val = val};
        y->dense = lab;
        return STEN_OK;
    }
    sten_free(ctx, rp);
    sten_free(ctx, col);
    sten_free(ctx, val);
    sten_free(ctx, lab);
    sten_free(ctx, x->name);
    sten_free(ctx, y->name);
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    return st;
}
