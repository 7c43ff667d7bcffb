/* text.c — reader of DSSTNE's text data format
 *   sample<TAB>feature[,value[,ignored...]]:feature[,value]...
 * from a file or a directory of files, into a CSR matrix over feature and
 * sample indexes. Streaming: only the parsed entries are held, never text. */
#include "core/file_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEXT_MAX_UNKNOWN_SHOWN 5

typedef struct {
    uint64_t start1; /* first entry of the sample's latest line, + 1 (0 = absent) */
    uint64_t end;
} span;

/* Entries of every line (values only for analog data), and per sample id
 * the span of its latest line. */
typedef struct {
    uint32_t *col;
    float *val;
    uint64_t n, cap, vcap;
    span *s;
    uint64_t scap;
    uint64_t *last;  /* per feature id: its latest entry's index + 1 (0: none) */
    uint64_t lcap;
    char unknown[TEXT_MAX_UNKNOWN_SHOWN][64];
    int n_unknown_shown;
} collect;


typedef struct {
    sten_ctx *ctx;
    const char *path;
    unsigned long long line;
    sten_index *features, *samples;
    bool grow_features, analog;
    collect *c;
    sten_text_stats *stats;
} reader;

/* One "feature[,value...]" tuple starting at column col (1-based). */
static sten_status tuple(reader *r, const char *t, size_t n, size_t col, uint64_t line_start)
{
    const char *comma = memchr(t, ',', n);
    const size_t name_len = comma ? (size_t)(comma - t) : n;
    if (name_len == 0)
        return sten_fail(r->ctx, STEN_E_PARSE, "%s:%llu:%zu: expected a feature name before ','",
                         r->path, r->line, col);
    float v = r->analog ? 0.0f : 1.0f; /* DSSTNE: an analog feature without value is 0 */
    if (comma) {
        const char *vs = comma + 1, *end = t + n;
        const char *c2 = memchr(vs, ',', (size_t)(end - vs));
        if (c2) {
            r->stats->extra_values++;
            end = c2;
        }
        double d = 0.0;
        /* indicator data checks values too (DSSTNE parsed them) but drops them */
        if (sten_parse_double(vs, (size_t)(end - vs), &d) != STEN_OK)
            return sten_fail(r->ctx, STEN_E_PARSE,
                             "%s:%llu:%zu: feature \"%.*s\": value \"%.*s\" is not a number",
                             r->path, r->line, col + name_len + 1, (int)STEN__MIN(name_len, 60), t,
                             (int)STEN__MIN((size_t)(end - vs), 40), vs);
        if (r->analog)
            v = (float)d;
    }
    uint32_t id;
    sten_status st;
    if (r->grow_features) {
        const uint32_t before = sten_index_size(r->features);
        if ((st = sten_index_add(r->ctx, r->features, t, name_len, &id)))
            return st;
        r->stats->new_features |= sten_index_size(r->features) != before;
    } else if (!sten_index_find(r->features, t, name_len, &id)) {
        r->stats->unknown_features++;
        collect *c = r->c;
        if (c->n_unknown_shown < TEXT_MAX_UNKNOWN_SHOWN)
            snprintf(c->unknown[c->n_unknown_shown++], sizeof c->unknown[0], "%.*s",
                     (int)STEN__MIN(name_len, 60), t);
        return STEN_OK;
    }
    collect *c = r->c;
    /* a feature repeated on its line: the later value wins (one lookup, not
     * a scan of the line: long lines stay linear) */
    if ((st = sten__grow(r->ctx, (void **)&c->last, &c->lcap, (uint64_t)id + 1, sizeof *c->last)))
        return st;
    if (c->last[id] > line_start) {
        if (r->analog)
            c->val[c->last[id] - 1] = v;
        r->stats->duplicate_features++;
        return STEN_OK;
    }
    c->last[id] = c->n + 1;
    if ((st = sten__grow(r->ctx, (void **)&c->col, &c->cap, c->n + 1, sizeof *c->col)) ||
        (r->analog && (st = sten__grow(r->ctx, (void **)&c->val, &c->vcap, c->n + 1, sizeof *c->val))))
        return st;
    if (r->analog)
        c->val[c->n] = v;
    c->col[c->n++] = id;
    return STEN_OK;
}

static sten_status parse_line(reader *r, const char *line, size_t len)
{
    if (r->line == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3))
        line += 3, len -= 3; /* a UTF-8 byte order mark (convert strips it too) */
    if (len == 0)
        return STEN_OK;
    const char *nul = memchr(line, '\0', len);
    if (nul)
        return sten_fail(r->ctx, STEN_E_PARSE, "%s:%llu:%zu: a NUL byte (is this a text file?)", r->path,
                         r->line, (size_t)(nul - line) + 1);
    const char *tab = memchr(line, '\t', len);
    if (!tab)
        return sten_fail(r->ctx, STEN_E_PARSE,
                         "%s:%llu: expected \"sample<TAB>features\", found no TAB", r->path, r->line);
    if (tab == line)
        return sten_fail(r->ctx, STEN_E_PARSE, "%s:%llu:1: the sample label before the TAB is empty",
                         r->path, r->line);
    const uint32_t before = sten_index_size(r->samples);
    uint32_t sid;
    sten_status st = sten_index_add(r->ctx, r->samples, line, (size_t)(tab - line), &sid);
    if (st)
        return st;
    r->stats->new_samples |= sten_index_size(r->samples) != before;
    collect *c = r->c;
    if ((st = sten__grow(r->ctx, (void **)&c->s, &c->scap, (uint64_t)sid + 1, sizeof *c->s)))
        return st;
    const uint64_t line_start = c->n;
    const char *p = tab + 1, *end = line + len;
    while (p <= end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *q = colon ? colon : end;
        if (q > p && (st = tuple(r, p, (size_t)(q - p), (size_t)(p - line) + 1, line_start)))
            return st;
        p = q + 1;
    }
    if (c->s[sid].start1)
        r->stats->replaced_samples++;
    c->s[sid] = (span){line_start + 1, c->n};
    return STEN_OK;
}

static sten_status read_file(reader *r)
{
    sten__lines lr;
    sten_status st = sten__lines_open(r->ctx, &lr, r->path);
    if (st)
        return st;
    char *line;
    size_t len;
    int got;
    while ((got = sten__lines_next(r->ctx, &lr, &line, &len)) > 0) {
        r->line = lr.lineno;
        r->stats->lines++;
        if ((st = parse_line(r, line, len)))
            break;
    }
    if (!st && got < 0)
        st = sten_ctx_error_status(r->ctx);
    sten__lines_close(&lr);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of a directory, sorted by name (C locale). */
static sten_status read_dir(reader *r, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return sten_fail(r->ctx, STEN_E_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    char **names = NULL;
    uint64_t n = 0, cap = 0;
    sten_status st = STEN_OK;
    struct dirent *de;
    char path[4096];
    while (!st && (de = readdir(d))) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (de->d_name[0] == '.' || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if ((st = sten__grow(r->ctx, (void **)&names, &cap, n + 1, sizeof *names)))
            break;
        const size_t l = strlen(path) + 1;
        if (!(names[n] = sten_alloc(r->ctx, l))) {
            st = STEN_E_NOMEM;
            break;
        }
        memcpy(names[n++], path, l);
    }
    closedir(d);
    if (!st && n == 0)
        st = sten_fail(r->ctx, STEN_E_NOTFOUND, "%s: the directory holds no data files", dir);
    if (!st)
        qsort(names, n, sizeof *names, cmp_str);
    for (uint64_t i = 0; !st && i < n; i++) {
        r->path = names[i];
        st = read_file(r);
    }
    for (uint64_t i = 0; i < n; i++)
        sten_free(r->ctx, names[i]);
    sten_free(r->ctx, names);
    r->path = dir;
    return st;
}

/* Rows in increasing sample id, each row's entries in line order. */
static sten_status build_csr(sten_ctx *ctx, collect *c, uint32_t n_features, bool analog,
                             sten_csr *out, uint32_t **out_ids, sten_text_stats *stats)
{
    uint64_t rows = 0, nnz = 0;
    bool in_place = true; /* lines in sample order, none replaced: the entries are the CSR */
    for (uint64_t s = 0; s < c->scap; s++)
        if (c->s[s].start1) {
            in_place &= c->s[s].start1 - 1 == nnz;
            rows++;
            nnz += c->s[s].end - (c->s[s].start1 - 1);
        }
    in_place &= nnz == c->n && nnz > 0;
    if (rows > UINT32_MAX)
        return sten_fail(ctx, STEN_E_RANGE, "more than 2^32-1 samples");
    sten_status st;
    if (in_place) { /* hand the arrays over instead of copying them */
        memset(out, 0, sizeof *out);
        out->row_ptr = sten_calloc(ctx, (size_t)rows + 1, sizeof *out->row_ptr);
        if (!out->row_ptr)
            return STEN_E_NOMEM;
        out->col = c->col;
        out->val = analog ? c->val : NULL;
        out->cap = c->cap < c->vcap || !analog ? c->cap : c->vcap;
        out->row_cap = (uint32_t)rows;
        out->cols = n_features;
        c->col = NULL;
        if (analog)
            c->val = NULL;
        st = STEN_OK;
    } else {
        st = sten_csr_init(ctx, out, (uint32_t)rows, n_features, nnz ? nnz : 1, analog);
    }
    if (st)
        return st;
    uint32_t *ids = sten_alloc(ctx, (size_t)(rows ? rows : 1) * sizeof *ids);
    if (!ids) {
        sten_csr_free(ctx, out);
        return STEN_E_NOMEM;
    }
    uint64_t e = 0, r = 0;
    for (uint64_t s = 0; s < c->scap; s++) {
        if (!c->s[s].start1)
            continue;
        const uint64_t k0 = c->s[s].start1 - 1, n = c->s[s].end - k0;
        if (!in_place && n) {
            memcpy(out->col + e, c->col + k0, n * sizeof *out->col);
            if (analog)
                memcpy(out->val + e, c->val + k0, n * sizeof *out->val);
        }
        e += n;
        ids[r++] = (uint32_t)s;
        out->row_ptr[r] = e;
    }
    out->rows = (uint32_t)rows;
    out->nnz = e;
    *out_ids = ids;
    stats->samples = rows;
    stats->nnz = e;
    return STEN_OK;
}

sten_status sten_text_read(sten_ctx *ctx, const char *path, sten_index *features,
                           bool grow_features, sten_index *samples, bool analog, sten_csr *out,
                           uint32_t **out_ids, sten_text_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    memset(out, 0, sizeof *out);
    *out_ids = NULL;
    collect c;
    memset(&c, 0, sizeof c);
    reader r = {ctx, path, 0, features, samples, grow_features, analog, &c, stats};
    struct stat sb;
    sten_status st;
    if (stat(path, &sb) != 0)
        st = sten_fail(ctx, errno == ENOENT ? STEN_E_NOTFOUND : STEN_E_IO, "%s: %s", path,
                       strerror(errno));
    else
        st = S_ISDIR(sb.st_mode) ? read_dir(&r, path) : read_file(&r);
    if (!st && stats->unknown_features) {
        char shown[400] = "";
        for (int i = 0; i < c.n_unknown_shown; i++) {
            size_t l = strlen(shown);
            snprintf(shown + l, sizeof shown - l, "%s\"%s\"", i ? ", " : "", c.unknown[i]);
        }
        sten_log(ctx, STEN_LOG_WARN,
                 "%s: %llu entries name features missing from the read-only feature index and "
                 "were dropped (e.g. %s)",
                 path, (unsigned long long)stats->unknown_features, shown);
    }
    if (!st && stats->replaced_samples)
        sten_log(ctx, STEN_LOG_WARN, "%s: %llu lines repeat an earlier sample label; the later line "
                 "replaced the earlier one", path, (unsigned long long)stats->replaced_samples);
    if (!st)
        st = build_csr(ctx, &c, sten_index_span(features), analog, out, out_ids, stats);
    sten_free(ctx, c.col);
    sten_free(ctx, c.val);
    sten_free(ctx, c.s);
    sten_free(ctx, c.last);
    return st;
}
