/* csv_dense.c — dense rows, SageMaker's text/csv: without labels for its
 * unsupervised algorithms (k-means, PCA), label first for the supervised
 * ones (k-NN); dim (+ 1) comma-separated numbers per line, plain or gzip.
 * Strict: no header, no quoting, no empty fields. */
#include "core/file_int.h"

#include <string.h>

/* The columns of the first field that is not a number, 1-based. */
static sten_status bad_field(sten_ctx *ctx, const sten__lines *r, const char *line, const char *f, size_t len)
{
    const unsigned long long col = (unsigned long long)(f - line) + 1;
    if (len == 0)
        return sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%llu: empty field (expected a number)", r->path, r->lineno,
                         col);
    return sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%llu: expected a number, got \"%.*s\"", r->path, r->lineno, col,
                     (int)(len > 40 ? 40 : len), f);
}

/* One line into row (dim floats). */
static sten_status parse_row(sten_ctx *ctx, const sten__lines *r, const char *line, size_t len, uint32_t dim,
                             bool labeled, float *row)
{
    if (len == 0)
        return sten_fail(ctx, STEN_E_PARSE, "%s:%llu: empty line (expected %u comma-separated numbers)", r->path,
                         r->lineno, dim);
    uint64_t fields = 1;
    size_t extra = 0; /* where field dim + 1 starts, if there is one */
    for (size_t i = 0; i < len; i++)
        if (line[i] == ',' && ++fields == (uint64_t)dim + 1)
            extra = i + 1;
    if (fields != dim) /* the column: the first field too many, or the end of a short line */
        return sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%llu: expected %u fields (%sfeature_dim), got %llu", r->path,
                         r->lineno, (unsigned long long)(fields > dim ? extra : len) + 1, dim,
                         labeled ? "the label and " : "", (unsigned long long)fields);
    const char *p = line, *end = line + len;
    for (uint32_t j = 0; j < dim; j++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *q = comma ? comma : end;
        double v;
        if (sten_parse_double(p, (size_t)(q - p), &v) != STEN_OK || v > 3.4e38 || v < -3.4e38)
            return bad_field(ctx, r, line, p, (size_t)(q - p));
        row[j] = (float)v;
        p = q + 1;
    }
    return STEN_OK;
}

/* Rows of dim fields (labeled: dim - 1 features after the label). */
static sten_status read_rows(sten_ctx *ctx, const char *path, uint32_t dim, bool labeled, float **X, uint64_t *n)
{
    sten__lines r;
    sten_status st = sten__lines_open(ctx, &r, path);
    if (st)
        return st;
    float *data = NULL;
    uint64_t cap = 0, rows = 0; /* cap in floats */
    char *line;
    size_t len;
    int got = 0;
    while (!st && (got = sten__lines_next(ctx, &r, &line, &len)) == 1) {
        if (rows == 0 && len >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) { /* a UTF-8 byte order mark */
            line += 3;
            len -= 3;
        }
        st = sten__grow(ctx, (void **)&data, &cap, (rows + 1) * dim, sizeof *data);
        if (!st)
            st = parse_row(ctx, &r, line, len, dim, labeled, data + rows * dim);
        rows += !st;
    }
    if (!st && got < 0)
        st = sten_ctx_error_status(ctx);
    if (!st && rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no rows (expected lines of %u comma-separated numbers%s)", path, dim,
                       labeled ? ", the label first" : "");
    sten__lines_close(&r);
    if (st) {
        sten_free(ctx, data);
        return st;
    }
    *X = data;
    *n = rows;
    return STEN_OK;
}

sten_status sten_csv_read_dense(sten_ctx *ctx, const char *path, uint32_t dim, float **X, uint64_t *n)
{
    *X = NULL;
    *n = 0;
    if (dim == 0 || dim > STEN_CSV_MAX_DIM)
        return sten_fail(ctx, STEN_E_INVALID, "%s: feature_dim %u is out of range (1 to %u)", path, dim,
                         STEN_CSV_MAX_DIM);
    return read_rows(ctx, path, dim, false, X, n);
}

sten_status sten_csv_read_labeled(sten_ctx *ctx, const char *path, uint32_t dim, float **X, float **y,
                                  uint64_t *n)
{
    *X = NULL;
    *y = NULL;
    *n = 0;
    if (dim == 0 || dim > STEN_CSV_MAX_DIM)
        return sten_fail(ctx, STEN_E_INVALID, "%s: feature_dim %u is out of range (1 to %u)", path, dim,
                         STEN_CSV_MAX_DIM);
    float *all = NULL;
    uint64_t rows = 0;
    sten_status st = read_rows(ctx, path, dim + 1, true, &all, &rows);
    if (st)
        return st;
    float *labels = sten_alloc(ctx, rows * sizeof *labels);
    if (!labels) {
        sten_free(ctx, all);
        return STEN_E_NOMEM;
    }
    /* in place: row i's features move down to i * dim (never past where they were) */
    for (uint64_t i = 0; i < rows; i++) {
        const float *src = all + i * (dim + 1);
        labels[i] = src[0];
        memmove(all + i * dim, src + 1, (size_t)dim * sizeof *all);
    }
    *X = all;
    *y = labels;
    *n = rows;
    return STEN_OK;
}
