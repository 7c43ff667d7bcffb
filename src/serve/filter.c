/* filter.c — category rules for `sten serve`: item metadata (a CSV file in
 * the shape of Amazon Personalize's items dataset) and filters written in a
 * subset of Personalize's filter expressions, compiled once at start and
 * bound to a request's parameter values. docs/serving.md, "Filters". */
#include "serve/serve_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { META_MAX_LINE = 1 << 20, META_MAX_FIELDS = 64, FILTER_MAX_VALUES = 1000, FILTER_MAX_CONDS = 64 };

/* ------------------------------------------------------------ metadata */

struct meta {
    sten_ctx *ctx;
    uint32_t n_fields;
    char **field;          /* column names (the header's, after ITEM_ID) */
    sten_index **vals;     /* per field: its values */
    uint64_t **rp;         /* per field: item i's values are v[rp[i]..rp[i+1]) */
    uint32_t **v;
    uint32_t n_items;      /* catalogue ids below this have rows in rp */
};

void meta_free(meta *m)
{
    if (!m)
        return;
    for (uint32_t f = 0; f < m->n_fields; f++) {
        free(m->field[f]);
        if (m->vals)
            sten_index_free(m->ctx, m->vals[f]);
        if (m->rp)
            free(m->rp[f]);
        if (m->v)
            free(m->v[f]);
    }
    free(m->field), free(m->vals), free(m->rp), free(m->v);
    sten_ctx_free(m->ctx);
    free(m);
}

/* One (item, field, value) of the file. */
typedef struct {
    uint32_t item, field, value;
} triple;

typedef struct {
    char *buf;
    size_t n, cap;
} strbuf;

static int sb_put(strbuf *b, char c)
{
    if (b->n + 1 >= b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 64;
        char *p = realloc(b->buf, nc);
        if (!p)
            return -1;
        b->buf = p, b->cap = nc;
    }
    b->buf[b->n++] = c;
    b->buf[b->n] = '\0';
    return 0;
}

/* Splits one CSV line (RFC 4180 quoting, no newlines inside quotes) into
 * fields, each appended to cells with its starting column. -1 with err. */
static int csv_split(const char *line, size_t len, strbuf *cells, uint32_t *col, uint32_t *nf, const char *where,
                     char *err, size_t n)
{
    size_t i = 0;
    *nf = 0;
    cells->n = 0;
    for (;;) {
        if (*nf == META_MAX_FIELDS) {
            snprintf(err, n, "%s:%zu: more than %d columns", where, i + 1, META_MAX_FIELDS);
            return -1;
        }
        col[(*nf)++] = (uint32_t)(i + 1);
        if (i < len && line[i] == '"') {
            const size_t q0 = i;
            for (i++;; i++) {
                if (i >= len) {
                    snprintf(err, n, "%s:%zu: a quoted field is not closed (\" expected by the end of the line)",
                             where, q0 + 1);
                    return -1;
                }
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        if (sb_put(cells, '"'))
                            goto oom;
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
                if (sb_put(cells, line[i]))
                    goto oom;
            }
            if (i < len && line[i] != ',') {
                snprintf(err, n, "%s:%zu: ',' or the end of the line expected after a quoted field", where, i + 1);
                return -1;
            }
        } else {
            for (; i < len && line[i] != ','; i++) {
                if (line[i] == '"') {
                    snprintf(err, n, "%s:%zu: '\"' inside an unquoted field (quote the whole field)", where,
                             i + 1);
                    return -1;
                }
                if (sb_put(cells, line[i]))
                    goto oom;
            }
        }
        if (sb_put(cells, '\0')) /* the cells, one after another, each NUL-terminated */
            goto oom;
        if (i >= len)
            return 0;
        i++; /* the comma */
    }
oom:
    snprintf(err, n, "%s: out of memory", where);
    return -1;
}

static int cmp_triple(const void *a, const void *b)
{
    const triple *x = a, *y = b;
    if (x->field != y->field)
        return x->field < y->field ? -1 : 1;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return x->value < y->value ? -1 : x->value > y->value;
}

int meta_load(state *S, const char *path, meta **out, char *err, size_t n)
{
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    meta *m = calloc(1, sizeof *m);
    char *line = NULL;
    size_t lcap = 0;
    strbuf cells = {0};
    uint32_t col[META_MAX_FIELDS], nf = 0, *seen_line = NULL, seen_cap = 0;
    triple *t = NULL;
    size_t nt = 0, tcap = 0;
    int rc = -1;
    char where[4200];
    if (!m || sten_ctx_init(&m->ctx)) {
        snprintf(err, n, "out of memory");
        goto done;
    }
    ssize_t got;
    unsigned long ln = 0;
    while ((got = getline(&line, &lcap, fp)) >= 0) {
        ln++;
        size_t len = (size_t)got;
        snprintf(where, sizeof where, "%s:%lu", path, ln);
        if (len > META_MAX_LINE) {
            snprintf(err, n, "%s: the line is longer than %d bytes", where, META_MAX_LINE);
            goto done;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        char *l = line;
        if (ln == 1 && len >= 3 && !memcmp(l, "\xEF\xBB\xBF", 3))
            l += 3, len -= 3; /* a UTF-8 byte order mark */
        if (memchr(l, '\0', len)) {
            snprintf(err, n, "%s:%zu: a NUL byte", where, (size_t)((char *)memchr(l, '\0', len) - l) + 1);
            goto done;
        }
        if (!len && ln > 1)
            continue;
        if (csv_split(l, len, &cells, col, &nf, where, err, n))
            goto done;
        const char *cell[META_MAX_FIELDS];
        for (uint32_t k = 0, off = 0; k < nf; k++) {
            cell[k] = cells.buf + off;
            off += (uint32_t)strlen(cells.buf + off) + 1;
        }
        if (ln == 1) { /* the header: ITEM_ID, then the fields */
            if (nf < 2 || strcasecmp(cell[0], "ITEM_ID")) {
                snprintf(err, n, "%s:1: the header must be ITEM_ID followed by at least one field (e.g. "
                                 "ITEM_ID,GENRES)", path);
                goto done;
            }
            m->n_fields = nf - 1;
            if (!(m->field = calloc(m->n_fields, sizeof *m->field)) ||
                !(m->vals = calloc(m->n_fields, sizeof *m->vals)) ||
                !(m->rp = calloc(m->n_fields, sizeof *m->rp)) || !(m->v = calloc(m->n_fields, sizeof *m->v))) {
                snprintf(err, n, "out of memory");
                goto done;
            }
            for (uint32_t f = 0; f < m->n_fields; f++) {
                const char *name = cell[f + 1];
                bool ok = *name != '\0';
                for (const char *c = name; *c; c++)
                    ok = ok && (isalnum((unsigned char)*c) || *c == '_');
                if (!ok) {
                    snprintf(err, n, "%s:1:%u: field name \"%s\": letters, digits and '_' expected", path,
                             col[f + 1], name);
                    goto done;
                }
                for (uint32_t g = 0; g < f; g++)
                    if (!strcasecmp(m->field[g], name)) {
                        snprintf(err, n, "%s:1:%u: field \"%s\" named twice", path, col[f + 1], name);
                        goto done;
                    }
                if (!(m->field[f] = strdup(name)) || sten_index_new(m->ctx, &m->vals[f])) {
                    snprintf(err, n, "out of memory");
                    goto done;
                }
            }
            continue;
        }
        if (nf != m->n_fields + 1) {
            snprintf(err, n, "%s: %u columns, the header has %u", where, nf, m->n_fields + 1);
            goto done;
        }
        if (!*cell[0]) {
            snprintf(err, n, "%s:1: an empty ITEM_ID", where);
            goto done;
        }
        uint32_t id;
        if (state_item(S, cell[0], strlen(cell[0]), &id)) {
            snprintf(err, n, "out of memory");
            goto done;
        }
        if (id >= seen_cap) {
            uint32_t nc = seen_cap ? seen_cap : 1024;
            while (nc <= id)
                nc *= 2;
            uint32_t *p = realloc(seen_line, (size_t)nc * sizeof *p);
            if (!p) {
                snprintf(err, n, "out of memory");
                goto done;
            }
            memset(p + seen_cap, 0, (size_t)(nc - seen_cap) * sizeof *p);
            seen_line = p, seen_cap = nc;
        }
        if (seen_line[id]) {
            snprintf(err, n, "%s:1: item \"%s\" is listed again (first on line %u)", where, cell[0], seen_line[id]);
            goto done;
        }
        seen_line[id] = (uint32_t)ln;
        if (id + 1 > m->n_items)
            m->n_items = id + 1;
        for (uint32_t f = 0; f < m->n_fields; f++) {
            const char *s = cell[f + 1];
            while (*s) { /* values separated by '|', as Personalize's multi-valued fields */
                const char *e = strchr(s, '|');
                const size_t vl = e ? (size_t)(e - s) : strlen(s);
                if (vl) {
                    uint32_t v;
                    if (!sten_index_find(m->vals[f], s, vl, &v) &&
                        sten_index_add(m->ctx, m->vals[f], s, vl, &v)) {
                        snprintf(err, n, "%s:%u: %s", where, col[f + 1], sten_ctx_error(m->ctx));
                        goto done;
                    }
                    if (nt == tcap) {
                        size_t nc = tcap ? 2 * tcap : 4096;
                        triple *p = realloc(t, nc * sizeof *p);
                        if (!p) {
                            snprintf(err, n, "out of memory");
                            goto done;
                        }
                        t = p, tcap = nc;
                    }
                    t[nt++] = (triple){id, f, v};
                }
                s += vl + (e != NULL);
            }
        }
    }
    if (ferror(fp)) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (!m->n_fields) {
        snprintf(err, n, "%s: empty (a header ITEM_ID,FIELD,... expected)", path);
        goto done;
    }
    /* per field, a CSR over catalogue ids */
    qsort(t, nt, sizeof *t, cmp_triple);
    size_t k = 0;
    for (uint32_t f = 0; f < m->n_fields; f++) {
        const size_t k0 = k;
        while (k < nt && t[k].field == f)
            k++;
        m->rp[f] = calloc((size_t)m->n_items + 1, sizeof *m->rp[f]);
        m->v[f] = malloc((k - k0 + 1) * sizeof *m->v[f]);
        if (!m->rp[f] || !m->v[f]) {
            snprintf(err, n, "out of memory");
            goto done;
        }
        size_t w = 0;
        for (size_t j = k0; j < k; j++) {
            if (j > k0 && t[j].item == t[j - 1].item && t[j].value == t[j - 1].value)
                continue; /* a value repeated within one cell */
            m->rp[f][t[j].item + 1]++;
            m->v[f][w++] = t[j].value;
        }
        for (uint32_t i = 0; i < m->n_items; i++)
            m->rp[f][i + 1] += m->rp[f][i];
    }
    rc = 0;
done:
    fclose(fp);
    free(line), free(cells.buf), free(seen_line), free(t);
    if (rc)
        meta_free(m);
    else
        *out = m;
    return rc;
}

uint32_t meta_fields(const meta *m)
{
    return m ? m->n_fields : 0;
}

/* ------------------------------------------------------------ filters */

/* Items.FIELD [NOT] IN (values or one $PARAM) */
typedef struct {
    uint32_t field;
    bool neg;
    bool or_before; /* starts a new AND group (joined to the previous by OR) */
    char *param;    /* NULL: literal values */
    uint32_t *val, n_val; /* literal values' ids (UINT32_MAX: a value no item has), sorted */
} cond;

/* EXCLUDE|INCLUDE ItemID WHERE cond (AND|OR cond)... */
typedef struct {
    bool include;
    uint32_t c0, c1; /* its conditions: f->c[c0..c1) */
} expr;

struct filter {
    char *name;
    const meta *m;
    cond *c;
    uint32_t n_c;
    expr *e;
    uint32_t n_e;
};

void filter_free(filter *f)
{
    if (!f)
        return;
    for (uint32_t i = 0; i < f->n_c; i++)
        free(f->c[i].param), free(f->c[i].val);
    free(f->c), free(f->e), free(f->name);
    free(f);
}

const char *filter_name(const filter *f)
{
    return f->name;
}

typedef enum { T_END, T_WORD, T_STRING, T_PARAM, T_LPAREN, T_RPAREN, T_COMMA, T_PIPE, T_BAD } tok_kind;

typedef struct {
    const char *s;
    size_t pos;      /* next character */
    tok_kind k;
    size_t at, len;  /* the token: s[at..at+len) (a string: without its quotes) */
    const char *name;
    char *err;
    size_t n;
} lexer;

static void next(lexer *L)
{
    const char *s = L->s;
    while (s[L->pos] == ' ' || s[L->pos] == '\t' || s[L->pos] == '\n' || s[L->pos] == '\r')
        L->pos++;
    L->at = L->pos;
    L->len = 0;
    const char c = s[L->pos];
    if (!c) {
        L->k = T_END;
    } else if (c == '(' || c == ')' || c == ',' || c == '|') {
        L->k = c == '(' ? T_LPAREN : c == ')' ? T_RPAREN : c == ',' ? T_COMMA : T_PIPE;
        L->len = 1;
        L->pos++;
    } else if (c == '"') {
        size_t e = L->pos + 1;
        while (s[e] && s[e] != '"')
            e++;
        if (!s[e]) {
            L->k = T_BAD;
            return;
        }
        L->k = T_STRING;
        L->at = L->pos + 1;
        L->len = e - L->pos - 1;
        L->pos = e + 1;
    } else if (c == '$' || isalpha((unsigned char)c) || c == '_') {
        size_t e = L->pos + 1;
        while (isalnum((unsigned char)s[e]) || s[e] == '_' || s[e] == '.')
            e++;
        L->k = c == '$' ? T_PARAM : T_WORD;
        if (c == '$')
            L->at++;
        L->len = e - L->at;
        L->pos = e;
        if (c == '$' && !L->len)
            L->k = T_BAD;
    } else {
        L->k = T_BAD;
    }
}

static bool word(const lexer *L, const char *w)
{
    return L->k == T_WORD && strlen(w) == L->len && !strncasecmp(L->s + L->at, w, L->len);
}

static int fail_at(lexer *L, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const size_t at = L->k == T_STRING ? L->at - 1 : L->at;
    if (L->k == T_END)
        snprintf(L->err, L->n, "filter %s: column %zu: %s, found the end of the expression", L->name, at + 1, what);
    else
        snprintf(L->err, L->n, "filter %s: column %zu: %s, found \"%.*s\"", L->name, at + 1, what,
                 (int)(L->k == T_BAD ? 1 : L->len + (L->k == T_STRING ? 2 : L->k == T_PARAM)),
                 L->s + (L->k == T_PARAM ? L->at - 1 : at));
    return -1;
}

static int cmp_u32v(const void *a, const void *b)
{
    const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int parse_cond(lexer *L, filter *f, cond *c)
{
    if (!(L->k == T_WORD && L->len > 6 && !strncasecmp(L->s + L->at, "Items.", 6)))
        return fail_at(L, "Items.FIELD expected");
    const char *fname = L->s + L->at + 6;
    const size_t flen = L->len - 6;
    c->field = UINT32_MAX;
    for (uint32_t i = 0; i < f->m->n_fields; i++)
        if (strlen(f->m->field[i]) == flen && !strncasecmp(f->m->field[i], fname, flen))
            c->field = i;
    if (c->field == UINT32_MAX) {
        char known[512] = "";
        for (uint32_t i = 0; i < f->m->n_fields; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", f->m->field[i]);
        return fail_at(L, "a field of the item metadata (%s)", known);
    }
    next(L);
    if (word(L, "NOT")) {
        c->neg = true;
        next(L);
    }
    if (!word(L, "IN"))
        return fail_at(L, "IN or NOT IN expected");
    next(L);
    if (L->k != T_LPAREN)
        return fail_at(L, "'(' expected");
    next(L);
    if (L->k == T_PARAM) {
        if (!(c->param = strndup(L->s + L->at, L->len)))
            return fail_at(L, "out of memory");
        next(L);
    } else {
        for (;;) {
            if (L->k != T_STRING)
                return fail_at(L, "a quoted value or one $PARAMETER expected");
            if (c->n_val == FILTER_MAX_VALUES)
                return fail_at(L, "at most %d values", FILTER_MAX_VALUES);
            uint32_t *p = realloc(c->val, (c->n_val + 1) * sizeof *p);
            if (!p)
                return fail_at(L, "out of memory");
            c->val = p;
            if (!sten_index_find(f->m->vals[c->field], L->s + L->at, L->len, &c->val[c->n_val]))
                c->val[c->n_val] = UINT32_MAX;
            c->n_val++;
            next(L);
            if (L->k != T_COMMA)
                break;
            next(L);
        }
        qsort(c->val, c->n_val, sizeof *c->val, cmp_u32v);
    }
    if (L->k != T_RPAREN)
        return fail_at(L, "')' expected");
    next(L);
    return 0;
}

int filter_compile(const meta *m, const char *spec, filter **out, char *err, size_t n)
{
    *out = NULL;
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec) {
        snprintf(err, n, "filter \"%s\": NAME=EXPRESSION expected", spec);
        return -1;
    }
    if (!m) {
        snprintf(err, n, "filter %.*s: filters need the items' metadata (--items FILE)", (int)(eq - spec), spec);
        return -1;
    }
    filter *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strndup(spec, (size_t)(eq - spec)))) {
        free(f);
        snprintf(err, n, "out of memory");
        return -1;
    }
    f->m = m;
    lexer L = {.s = eq + 1, .name = f->name, .err = err, .n = n};
    next(&L);
    for (;;) {
        if (!word(&L, "EXCLUDE") && !word(&L, "INCLUDE"))
            goto bad_kw;
        expr e = {.include = word(&L, "INCLUDE"), .c0 = f->n_c};
        next(&L);
        if (!word(&L, "ItemID")) {
            fail_at(&L, "ItemID expected");
            goto bad;
        }
        next(&L);
        if (!word(&L, "WHERE")) {
            fail_at(&L, "WHERE expected");
            goto bad;
        }
        next(&L);
        for (bool or_before = false;;) {
            if (f->n_c == FILTER_MAX_CONDS) {
                fail_at(&L, "at most %d conditions", FILTER_MAX_CONDS);
                goto bad;
            }
            cond *p = realloc(f->c, (f->n_c + 1) * sizeof *p);
            if (!p) {
                snprintf(err, n, "out of memory");
                goto bad;
            }
            f->c = p;
            cond *c = &f->c[f->n_c++];
            memset(c, 0, sizeof *c);
            c->or_before = or_before;
            if (parse_cond(&L, f, c))
                goto bad;
            if (word(&L, "AND") || word(&L, "OR")) {
                or_before = word(&L, "OR");
                next(&L);
                continue;
            }
            break;
        }
        e.c1 = f->n_c;
        expr *p = realloc(f->e, (f->n_e + 1) * sizeof *p);
        if (!p) {
            snprintf(err, n, "out of memory");
            goto bad;
        }
        f->e = p;
        f->e[f->n_e++] = e;
        if (L.k == T_END)
            break;
        if (L.k != T_PIPE) {
            fail_at(&L, "AND, OR, '|' or the end of the expression expected");
            goto bad;
        }
        next(&L);
    }
    *out = f;
    return 0;
bad_kw:
    fail_at(&L, "EXCLUDE or INCLUDE expected");
bad:
    filter_free(f);
    return -1;
}

/* ------------------------------------------------------------ binding */

struct fbound {
    const filter *f;
    const uint32_t **val; /* per condition: its value ids, sorted */
    uint32_t *n_val;
    uint32_t *own;        /* the parameters' ids (one block) */
};

void fbound_free(fbound *b)
{
    if (b)
        free(b->own);
    free(b);
}

/* A parameter's value as Personalize passes it: "\"a\",\"b\"" (quoted,
 * comma-separated), or one unquoted value. Ids appended to ids (values
 * no item has: UINT32_MAX). */
static int parse_values(const filter *f, const cond *c, const char *s, uint32_t *ids, uint32_t *n, char *err,
                        size_t en)
{
    const sten_index *ix = f->m->vals[c->field];
    *n = 0;
    while (*s == ' ')
        s++;
    if (*s != '"') { /* one plain value */
        size_t len = strlen(s);
        while (len && s[len - 1] == ' ')
            len--;
        if (!len) {
            snprintf(err, en, "\"filterValues\": \"%s\" of filter %s is empty", c->param, f->name);
            return -1;
        }
        if (!sten_index_find(ix, s, len, &ids[0]))
            ids[0] = UINT32_MAX;
        *n = 1;
        return 0;
    }
    for (;;) {
        const char *e = strchr(s + 1, '"');
        if (!e) {
            snprintf(err, en, "\"filterValues\": \"%s\" of filter %s: a value's closing '\"' is missing", c->param,
                     f->name);
            return -1;
        }
        if (*n == FILTER_MAX_VALUES) {
            snprintf(err, en, "\"filterValues\": \"%s\" of filter %s: at most %d values", c->param, f->name,
                     FILTER_MAX_VALUES);
            return -1;
        }
        if (!sten_index_find(ix, s + 1, (size_t)(e - s - 1), &ids[*n]))
            ids[*n] = UINT32_MAX;
        (*n)++;
        s = e + 1;
        while (*s == ' ')
            s++;
        if (!*s)
            return 0;
        if (*s != ',') {
            snprintf(err, en, "\"filterValues\": \"%s\" of filter %s: ',' expected between quoted values",
                     c->param, f->name);
            return -1;
        }
        s++;
        while (*s == ' ')
            s++;
        if (*s != '"') {
            snprintf(err, en, "\"filterValues\": \"%s\" of filter %s: a quoted value expected after ','",
                     c->param, f->name);
            return -1;
        }
    }
}

int filter_bind(const filter *f, json_t *values, fbound **out, char *err, size_t n)
{
    *out = NULL;
    if (values && !json_is_object(values)) {
        snprintf(err, n, "\"filterValues\" must be an object of strings");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(values, key, v) {
        bool used = false;
        for (uint32_t i = 0; i < f->n_c; i++)
            used = used || (f->c[i].param && !strcmp(f->c[i].param, key));
        if (!used) {
            snprintf(err, n, "\"filterValues\": filter %s has no parameter $%s", f->name, key);
            return -1;
        }
        if (!json_is_string(v)) {
            snprintf(err, n, "\"filterValues\": \"%s\" must be a string such as \"\\\"a\\\",\\\"b\\\"\"", key);
            return -1;
        }
    }
    uint32_t n_params = 0;
    for (uint32_t i = 0; i < f->n_c; i++)
        n_params += f->c[i].param != NULL;
    fbound *b = calloc(1, sizeof *b + f->n_c * (sizeof *b->val + sizeof *b->n_val));
    if (!b || (n_params && !(b->own = malloc((size_t)n_params * FILTER_MAX_VALUES * sizeof *b->own)))) {
        free(b);
        snprintf(err, n, "out of memory");
        return -1;
    }
    b->f = f;
    b->val = (const uint32_t **)(b + 1);
    b->n_val = (uint32_t *)(b->val + f->n_c);
    uint32_t *own = b->own;
    for (uint32_t i = 0; i < f->n_c; i++) {
        const cond *c = &f->c[i];
        if (!c->param) {
            b->val[i] = c->val, b->n_val[i] = c->n_val;
            continue;
        }
        json_t *s = values ? json_object_get(values, c->param) : NULL;
        if (!s) {
            snprintf(err, n, "\"filterValues\": filter %s needs a value for $%s", f->name, c->param);
            fbound_free(b);
            return -1;
        }
        if (parse_values(f, c, json_string_value(s), own, &b->n_val[i], err, n)) {
            fbound_free(b);
            return -1;
        }
        qsort(own, b->n_val[i], sizeof *own, cmp_u32v);
        b->val[i] = own;
        own += FILTER_MAX_VALUES;
    }
    *out = b;
    return 0;
}

/* Whether item has a value of the condition's field in its set. */
static bool cond_true(const meta *m, const cond *c, const uint32_t *set, uint32_t n_set, uint32_t item)
{
    bool hit = false;
    if (item < m->n_items)
        for (uint64_t k = m->rp[c->field][item]; !hit && k < m->rp[c->field][item + 1]; k++)
            hit = bsearch(&m->v[c->field][k], set, n_set, sizeof *set, cmp_u32v) != NULL;
    return hit != c->neg;
}

bool filter_pass(const fbound *b, uint32_t item)
{
    const filter *f = b->f;
    for (uint32_t e = 0; e < f->n_e; e++) {
        /* OR of AND groups */
        bool any = false, group = true;
        for (uint32_t i = f->e[e].c0; i < f->e[e].c1; i++) {
            if (f->c[i].or_before) {
                any = any || group;
                group = true;
            }
            group = group && cond_true(f->m, &f->c[i], b->val[i], b->n_val[i], item);
        }
        any = any || group;
        if (any != f->e[e].include)
            return false;
    }
    return true;
}
