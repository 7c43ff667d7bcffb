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

sten_status sten_libsvm_to_text(sten_ctx *ctx, const char *path, int base, FILE *out,
                                FILE *labels, uint64_t *lines)
{
    if (base != 0 && base != 1)
        return sten_fail(ctx, STEN_E_INVALID, "libsvm index base must be 0 or 1 (got %d)", base);
    sten__lines r;
    sten_status st = sten__lines_open(ctx, &r, path);
    if (st)
        return st;
    char *line;
    size_t len;
    int got;
    *lines = 0;
    while (!st && (got = sten__lines_next(ctx, &r, &line, &len)) > 0) {
        const char *p = line, *end = line + len;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end || *p == '#')
            continue;
        const char *tok = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        double label;
        if (sten_parse_double(tok, (size_t)(p - tok), &label) != STEN_OK) {
            st = bad(ctx, path, r.lineno, (size_t)(tok - line) + 1, "expected a numeric label",
                     tok, (size_t)(p - tok));
            break;
        }
        (*lines)++;
        if (labels)
            fprintf(labels, "%llu\t%.9g\n", r.lineno, label);
        fprintf(out, "%llu\t", r.lineno);
        bool first = true;
        while (!st) {
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            if (p == end || *p == '#')
                break;
            tok = p;
            while (p < end && *p != ' ' && *p != '\t')
                p++;
            const char *colon = memchr(tok, ':', (size_t)(p - tok));
            const size_t col = (size_t)(tok - line) + 1;
            if (!colon) {
                st = bad(ctx, path, r.lineno, col, "expected index:value", tok, (size_t)(p - tok));
                break;
            }
            if (colon - tok == 3 && !strncmp(tok, "qid", 3))
                continue;
            long long idx;
            double v;
            if (sten_parse_int(tok, (size_t)(colon - tok), base, UINT32_MAX - 1, &idx) != STEN_OK) {
                char what[64];
                snprintf(what, sizeof what, "expected an index >= %d (the stated base)", base);
                st = bad(ctx, path, r.lineno, col, what, tok, (size_t)(colon - tok));
            } else if (sten_parse_double(colon + 1, (size_t)(p - colon - 1), &v) != STEN_OK) {
                st = bad(ctx, path, r.lineno, col + (size_t)(colon - tok) + 1, "expected a number",
                         colon + 1, (size_t)(p - colon - 1));
            } else {
                fprintf(out, "%s%lld,%.9g", first ? "" : ":", idx - base, v);
                first = false;
            }
        }
        fputc('\n', out);
    }
    if (!st && got < 0)
        st = sten_ctx_error_status(ctx);
    sten__lines_close(&r);
    if (!st && (ferror(out) || (labels && ferror(labels))))
        st = sten_fail(ctx, STEN_E_IO, "write error (disk full?)");
    return st;
}
