/* interactions.c — interaction logs (MovieLens ratings.csv / ratings.dat /
 * u.data, or any delimited file described by a column spec), plain or
 * gzip-compressed, into compact (user, item, rating, timestamp) records with
 * label indexes; and DSSTNE text output grouped by user. This replaces
 * DSSTNE's awk converter. */
#include "core/core_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define LOG_MAX_FIELDS 32
#define LOG_MAX_LINE (1u << 20) /* a longer line is not an interaction */

enum { COL_SKIP, COL_USER, COL_ITEM, COL_RATING, COL_TIME };

typedef struct {
    const char *sep; /* delimiter string */
    size_t sep_len;
    int col[LOG_MAX_FIELDS];
    int n_cols;
    bool header;
    const char *name;
} layout;

static sten_status parse_columns(sten_ctx *ctx, const char *spec, layout *L)
{
    static const struct {
        const char *name;
        int col;
    } names[] = {{"user", COL_USER}, {"item", COL_ITEM}, {"rating", COL_RATING},
                 {"timestamp", COL_TIME}, {"-", COL_SKIP}, {"skip", COL_SKIP}};
    L->n_cols = 0;
    const char *p = spec;
    bool have_user = false, have_item = false;
    while (*p) {
        const char *e = strchr(p, ',');
        const size_t n = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (strlen(names[k].name) == n && !strncmp(p, names[k].name, n))
                found = names[k].col;
        if (found < 0 || L->n_cols == LOG_MAX_FIELDS)
            return sten_fail(ctx, STEN_E_INVALID, "column spec \"%s\": \"%.*s\" is not a column "
                             "(expected user, item, rating, timestamp or -)", spec, (int)n, p);
        have_user |= found == COL_USER;
        have_item |= found == COL_ITEM;
        L->col[L->n_cols++] = found;
        p += n + (e != NULL);
    }
    if (!have_user || !have_item)
        return sten_fail(ctx, STEN_E_INVALID, "column spec \"%s\" must name a user and an item column",
                         spec);
    return STEN_OK;
}

/* The layout of a format; AUTO looks at the name and the first line. */
static sten_status pick_layout(sten_ctx *ctx, const char *path, const char *first,
                               const sten_log_opts *o, layout *L, char *sep_buf)
{
    sten_log_format f = o->format;
    if (f == STEN_FMT_AUTO) {
        if (strstr(first, "::"))
            f = STEN_FMT_MOVIELENS_DAT;
        else if (strchr(first, '\t'))
            f = STEN_FMT_UDATA;
        else if (strchr(first, ','))
            f = STEN_FMT_MOVIELENS_CSV;
        else
            return sten_fail(ctx, STEN_E_FORMAT, "%s:1: cannot tell the format (no '::', TAB or ','); "
                             "name it with --format", path);
    }
    switch (f) {
    case STEN_FMT_MOVIELENS_CSV:
        L->sep = ",";
        L->header = !(first[0] >= '0' && first[0] <= '9');
        L->name = "MovieLens ratings.csv";
        return parse_columns(ctx, "user,item,rating,timestamp", L);
    case STEN_FMT_MOVIELENS_DAT:
        L->sep = "::";
        L->name = "MovieLens ratings.dat";
        L->header = false;
        return parse_columns(ctx, "user,item,rating,timestamp", L);
    case STEN_FMT_UDATA:
        L->sep = "\t";
        L->name = "MovieLens u.data";
        L->header = false;
        return parse_columns(ctx, "user,item,rating,timestamp", L);
    default:
        sep_buf[0] = o->delimiter ? o->delimiter : ',';
        sep_buf[1] = '\0';
        L->sep = sep_buf;
        L->header = o->header;
        L->name = "delimited";
        return parse_columns(ctx, o->columns ? o->columns : "user,item,rating,timestamp", L);
    }
}

/* Where records go: the growing array, flushed through `flush` whenever it
 * holds `max` records (max 0: never). */
typedef struct {
    uint64_t max;
    sten_status (*flush)(sten_ctx *ctx, sten_interactions *in, void *user);
    void *user;
} sink;

static sten_status push(sten_ctx *ctx, sten_interactions *in, const sink *k, sten_interaction x)
{
    sten_status st;
    if (k->max && in->n == k->max && (st = k->flush(ctx, in, k->user)))
        return st;
    if ((st = sten__grow(ctx, (void **)&in->x, &in->cap, in->n + 1, sizeof *in->x)))
        return st;
    in->x[in->n++] = x;
    return STEN_OK;
}

static sten_status parse_record(sten_ctx *ctx, const char *path, unsigned long long ln,
                                const layout *L, char *line, size_t len, const sten_log_opts *o,
                                sten_interactions *in, const sink *to)
{
    const char *f[LOG_MAX_FIELDS + 1];
    size_t fl[LOG_MAX_FIELDS + 1];
    int n = 0;
    const size_t sl = strlen(L->sep);
    const char *p = line, *end = line + len;
    while (n <= LOG_MAX_FIELDS) {
        const char *q = p;
        while (q + sl <= end && memcmp(q, L->sep, sl) != 0)
            q++;
        if (q + sl > end)
            q = end;
        f[n] = p;
        fl[n++] = (size_t)(q - p);
        if (q == end)
            break;
        p = q + sl;
    }
    if (n != L->n_cols)
        return sten_fail(ctx, STEN_E_PARSE, "%s:%llu: expected %d fields separated by '%s' (%s), got %d",
                         path, ln, L->n_cols, strcmp(L->sep, "\t") ? L->sep : "TAB", L->name, n);
    sten_interaction x = {0, 0, NAN, 0};
    sten_status st = STEN_OK;
    for (int k = 0; k < n && !st; k++) {
        switch (L->col[k]) {
        case COL_USER:
        case COL_ITEM:
            if (fl[k] == 0)
                return sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%d: empty %s", path, ln, k + 1,
                                 L->col[k] == COL_USER ? "user" : "item");
            st = sten_index_add(ctx, L->col[k] == COL_USER ? in->users : in->items, f[k], fl[k],
                                L->col[k] == COL_USER ? &x.user : &x.item);
            break;
        case COL_RATING: {
            double r;
            if (sten_parse_double(f[k], fl[k], &r) != STEN_OK)
                return sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%d: rating \"%.*s\" is not a number",
                                 path, ln, k + 1, (int)STEN__MIN(fl[k], 40), f[k]);
            x.rating = (float)r;
            break;
        }
        case COL_TIME: {
            long long t;
            if (sten_parse_int(f[k], fl[k], INT64_MIN, INT64_MAX, &t) != STEN_OK)
                return sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%d: timestamp \"%.*s\" is not an integer",
                                 path, ln, k + 1, (int)STEN__MIN(fl[k], 40), f[k]);
            x.timestamp = t;
            break;
        }
        default:
            break;
        }
    }
    if (st)
        return st;
    if (!isnan(o->min_rating) && !(x.rating >= o->min_rating))
        return STEN_OK;
    return push(ctx, in, to, x);
}

sten_status sten__interactions_read_sink(sten_ctx *ctx, const char *path, const sten_log_opts *o,
                                         sten_interactions *in, uint64_t max,
                                         sten_status (*flush)(sten_ctx *, sten_interactions *, void *),
                                         void *user)
{
    const sink to = {max, flush, user};
    sten_status st = STEN_OK;
    if (!in->users && (st = sten_index_new(ctx, &in->users)))
        return st;
    if (!in->items && (st = sten_index_new(ctx, &in->items)))
        return st;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open", path);
    /* reserve from the file size (MovieLens-style lines take ~20 bytes), so
     * a large log is not copied through doubling arrays; gzip files grow */
    struct stat sb;
    const uint64_t size = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    uint64_t want = size && gzdirect(gz) ? size / 20 + 16 : 0;
    if (max && (!want || want > max))
        want = max;
    if (want && (st = sten__grow(ctx, (void **)&in->x, &in->cap, in->n + want, sizeof *in->x))) {
        gzclose(gz);
        return st;
    }
    char *line = sten_alloc(ctx, LOG_MAX_LINE);
    if (!line) {
        gzclose(gz);
        return STEN_E_NOMEM;
    }
    layout L;
    char sep[2];
    unsigned long long ln = 0;
    while (!st && gzgets(gz, line, LOG_MAX_LINE)) {
        ln++;
        if ((ln & 0xffff) == 0 && sten__progress_on(ctx)) {
            const z_off_t at = gzoffset(gz); /* -1 where the offset is not known */
            sten__progress_read(ctx, path, ln, at > 0 ? (uint64_t)at : 0, size);
        }
        size_t len = strlen(line);
        if (len == LOG_MAX_LINE - 1 && line[len - 1] != '\n') {
            st = sten_fail(ctx, STEN_E_RANGE, "%s:%llu: line longer than %u bytes", path, ln, LOG_MAX_LINE);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (ln == 1) {
            if ((st = pick_layout(ctx, path, line, o, &L, sep)))
                break;
            if (L.header)
                continue;
        }
        if (len == 0)
            continue;
        st = parse_record(ctx, path, ln, &L, line, len, o, in, &to);
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(gz, &zerr);
    if (!st && zerr != Z_OK && zerr != Z_STREAM_END)
        st = sten_fail(ctx, STEN_E_IO, "%s:%llu: read error: %s", path, ln + 1, zmsg);
    gzclose(gz);
    sten_free(ctx, line);
    return st;
}

sten_status sten_interactions_read(sten_ctx *ctx, const char *path, const sten_log_opts *o,
                                   sten_interactions *in)
{
    return sten__interactions_read_sink(ctx, path, o, in, 0, NULL, NULL);
}

void sten_interactions_free(sten_ctx *ctx, sten_interactions *in)
{
    sten_free(ctx, in->x);
    sten_index_free(ctx, in->users);
    sten_index_free(ctx, in->items);
    memset(in, 0, sizeof *in);
}

int sten__cmp_user_time(const void *a, const void *b)
{
    const sten_interaction *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->timestamp != y->timestamp)
        return x->timestamp < y->timestamp ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

void sten_interactions_sort(sten_interactions *in)
{
    if (in->n > 1) /* x may be NULL when empty */
        qsort(in->x, in->n, sizeof *in->x, sten__cmp_user_time);
}

int sten__cmp_user_item(const void *a, const void *b)
{
    const sten_interaction *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return (x->timestamp > y->timestamp) - (x->timestamp < y->timestamp);
}

uint64_t sten_interactions_dedupe(sten_interactions *in)
{
    /* the last of each (user, item) run has the latest timestamp; among
     * records with equal timestamps qsort's order decides (documented) */
    if (in->n > 1) /* x may be NULL when empty */
        qsort(in->x, in->n, sizeof *in->x, sten__cmp_user_item);
    uint64_t w = 0;
    for (uint64_t i = 0; i < in->n; i++) {
        if (i + 1 < in->n && in->x[i + 1].user == in->x[i].user && in->x[i + 1].item == in->x[i].item)
            continue;
        in->x[w++] = in->x[i];
    }
    const uint64_t removed = in->n - w;
    in->n = w;
    sten_interactions_sort(in);
    return removed;
}

sten_status sten_interactions_write_text(sten_ctx *ctx, const sten_interactions *in,
                                         const sten_interaction *x, uint64_t n,
                                         sten_value_kind value, FILE *f)
{
    for (uint64_t i = 0; i < n;) {
        const uint32_t u = x[i].user;
        fputs(sten_index_label(in->users, u), f);
        for (char sep = '\t'; i < n && x[i].user == u; i++, sep = ':') {
            fputc(sep, f);
            fputs(sten_index_label(in->items, x[i].item), f);
            if (value == STEN_VALUE_RATING)
                fprintf(f, ",%.9g", isnan(x[i].rating) ? 1.0 : (double)x[i].rating);
            else if (value == STEN_VALUE_TIMESTAMP)
                fprintf(f, ",%lld", (long long)x[i].timestamp);
        }
        fputc('\n', f);
    }
    return ferror(f) ? sten_fail(ctx, STEN_E_IO, "write error (disk full?)") : STEN_OK;
}
