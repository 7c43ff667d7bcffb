/* cdl.h — the NetCDF fuzz drivers' input: CDL text (ncdump's output, the
 * language ncgen reads), built into a real file through libnetcdf's writing
 * API, which sten's readers then open. So the fuzzer varies what sten sees
 * through libnetcdf (dimensions, variables and their types and lengths,
 * attributes, values) while libnetcdf only ever parses files it wrote
 * itself: its own header parser on corrupt bytes is outside sten's trust
 * boundary (docs/fuzzing.md). A subset of CDL: one root group, dimensions
 * (one UNLIMITED), variables of the atomic types, global and variable
 * attributes (typed by their values' suffixes, or by a type name before
 * them, `string` included), and data for 1-D and scalar variables. Text
 * that is not in the subset is skipped (the driver returns early). Files
 * are CDF-5 (classic, 64-bit data: every integer type), or NetCDF-4 when a
 * string attribute asks for it. */
#ifndef STEN_FUZZ_CDL_H
#define STEN_FUZZ_CDL_H

#include <ctype.h>
#include <math.h>
#include <netcdf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CDL_MAX_DIMS 64
#define CDL_MAX_VARS 512
#define CDL_MAX_ATTS 2048
#define CDL_MAX_VALUES (1u << 20)
#define CDL_MAX_TEXT 4096

typedef struct {
    double d;
    long long i;
    unsigned long long u;
} cdl_value;

typedef struct {
    char name[NC_MAX_NAME + 1];
    size_t len;
    bool unlimited;
} cdl_dim;

typedef struct {
    char name[NC_MAX_NAME + 1];
    nc_type type;
    int ndims, dims[NC_MAX_VAR_DIMS];
    size_t first, count; /* data values in cdl.vals */
    char *text;          /* char data */
    size_t text_len;
    bool has_data;
} cdl_var;

typedef struct {
    char name[NC_MAX_NAME + 1];
    int var; /* NC_GLOBAL or a variable */
    nc_type type;
    size_t first, count; /* numeric values in cdl.vals */
    char *text;          /* char or string value */
    size_t text_len;
} cdl_att;

typedef struct {
    const char *p, *end;
    cdl_dim dims[CDL_MAX_DIMS];
    int n_dims;
    cdl_var vars[CDL_MAX_VARS];
    int n_vars;
    cdl_att atts[CDL_MAX_ATTS];
    int n_atts;
    cdl_value *vals;
    size_t n_vals, cap_vals;
    bool netcdf4;
} cdl;

/* ---- tokens: words, strings, punctuation; // comments skipped */

static void cdl_space(cdl *c)
{
    for (;;) {
        while (c->p < c->end && isspace((unsigned char)*c->p))
            c->p++;
        if (c->end - c->p >= 2 && c->p[0] == '/' && c->p[1] == '/') {
            while (c->p < c->end && *c->p != '\n')
                c->p++;
            continue;
        }
        return;
    }
}

static bool cdl_punct(char ch)
{
    return strchr(",;:=(){}\"", ch) != NULL;
}

/* The next token's first byte (0 at the end), without taking it. */
static char cdl_peek(cdl *c)
{
    cdl_space(c);
    return c->p < c->end ? *c->p : 0;
}

static bool cdl_take(cdl *c, char ch)
{
    if (cdl_peek(c) != ch)
        return false;
    c->p++;
    return true;
}

/* A word: a run of bytes up to a space or punctuation (a backslash keeps
 * the next byte, as ncdump escapes names). */
static bool cdl_word(cdl *c, char *out, size_t n)
{
    cdl_space(c);
    size_t k = 0;
    while (c->p < c->end && !isspace((unsigned char)*c->p) && !cdl_punct(*c->p)) {
        if (*c->p == '\\' && c->end - c->p >= 2)
            c->p++;
        if (k + 1 >= n)
            return false;
        out[k++] = *c->p++;
    }
    out[k] = '\0';
    return k > 0;
}

/* A string, appended to a growing buffer (escapes as C's). */
static bool cdl_string(cdl *c, char **buf, size_t *len)
{
    if (!cdl_take(c, '"'))
        return false;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\' && c->p < c->end) {
            ch = *c->p++;
            ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == '0' ? '\0' : ch == 'r' ? '\r' : ch;
        }
        if (*len >= CDL_MAX_TEXT)
            return false;
        char *nb = realloc(*buf, *len + 2);
        if (!nb)
            return false;
        *buf = nb;
        (*buf)[(*len)++] = ch;
        (*buf)[*len] = '\0';
    }
    return c->p < c->end && c->p++;
}

/* ---- values */

static nc_type cdl_type_name(const char *w)
{
    static const struct {
        const char *name;
        nc_type t;
    } names[] = {{"byte", NC_BYTE},     {"char", NC_CHAR},     {"short", NC_SHORT},   {"int", NC_INT},
                 {"long", NC_INT},      {"float", NC_FLOAT},   {"real", NC_FLOAT},    {"double", NC_DOUBLE},
                 {"ubyte", NC_UBYTE},   {"ushort", NC_USHORT}, {"uint", NC_UINT},     {"int64", NC_INT64},
                 {"uint64", NC_UINT64}, {"string", NC_STRING}};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(w, names[k].name))
            return names[k].t;
    return NC_NAT;
}

/* One number as CDL writes it; *type gets what its suffix says. */
static bool cdl_number(const char *w, cdl_value *v, nc_type *type)
{
    char *e;
    const char *num = w;
    bool fl = false;
    if (!strncmp(w, "NaN", 3) || !strncmp(w, "Infinity", 8) || !strncmp(w, "-Infinity", 9) ||
        !strncmp(w, "+Infinity", 9)) {
        v->d = w[0] == 'N' ? NAN : w[0] == '-' ? -INFINITY : INFINITY;
        v->i = 0, v->u = 0;
        *type = w[strlen(w) - 1] == 'f' ? NC_FLOAT : NC_DOUBLE;
        return true;
    }
    v->d = strtod(num, &e);
    if (e == num)
        return false;
    for (const char *q = num; q < e; q++)
        fl |= *q == '.' || *q == 'e' || *q == 'E' || *q == 'x' || *q == 'X' || *q == 'n' || *q == 'i';
    v->i = strtoll(num, NULL, 10);
    v->u = w[0] == '-' ? (unsigned long long)v->i : strtoull(num, NULL, 10);
    char suffix[8];
    if (strlen(e) >= sizeof suffix)
        return false;
    for (size_t k = 0; (suffix[k] = (char)toupper((unsigned char)e[k])) != '\0'; k++)
        ;
    if (!strcmp(suffix, "F"))
        *type = NC_FLOAT;
    else if (!strcmp(suffix, "D") || (!*suffix && fl))
        *type = NC_DOUBLE;
    else if (!*suffix || !strcmp(suffix, "L"))
        *type = NC_INT;
    else if (!strcmp(suffix, "U") || !strcmp(suffix, "UL"))
        *type = NC_UINT;
    else if (!strcmp(suffix, "LL"))
        *type = NC_INT64;
    else if (!strcmp(suffix, "ULL"))
        *type = NC_UINT64;
    else if (!strcmp(suffix, "S"))
        *type = NC_SHORT;
    else if (!strcmp(suffix, "US"))
        *type = NC_USHORT;
    else if (!strcmp(suffix, "B"))
        *type = NC_BYTE;
    else if (!strcmp(suffix, "UB"))
        *type = NC_UBYTE;
    else
        return false;
    return true;
}

static bool cdl_push(cdl *c, cdl_value v)
{
    if (c->n_vals == CDL_MAX_VALUES)
        return false;
    if (c->n_vals == c->cap_vals) {
        const size_t cap = c->cap_vals ? 2 * c->cap_vals : 256;
        cdl_value *nv = realloc(c->vals, cap * sizeof *nv);
        if (!nv)
            return false;
        c->vals = nv, c->cap_vals = cap;
    }
    c->vals[c->n_vals++] = v;
    return true;
}

/* "v, v, ... ;" — strings into *text, numbers into vals (the first
 * number's suffix gives *type unless the caller knows it). '_' is a fill
 * value (0 here). */
static bool cdl_values(cdl *c, nc_type *type, size_t *first, size_t *count, char **text, size_t *text_len)
{
    *first = c->n_vals, *count = 0;
    bool typed = *type != NC_NAT;
    do {
        if (cdl_peek(c) == '"') {
            if (!cdl_string(c, text, text_len))
                return false;
            if (!typed)
                *type = NC_CHAR, typed = true;
            continue;
        }
        char w[128];
        if (!cdl_word(c, w, sizeof w))
            return false;
        cdl_value v = {0, 0, 0};
        nc_type t;
        if (strcmp(w, "_") != 0 && !cdl_number(w, &v, &t))
            return false;
        if (!typed)
            *type = strcmp(w, "_") ? t : NC_INT, typed = true;
        if (!cdl_push(c, v))
            return false;
        (*count)++;
    } while (cdl_take(c, ','));
    return cdl_take(c, ';');
}

/* ---- sections */

static int cdl_find_var(const cdl *c, const char *name)
{
    for (int k = 0; k < c->n_vars; k++)
        if (!strcmp(c->vars[k].name, name))
            return k;
    return -1;
}

static bool cdl_attribute(cdl *c, int var, nc_type type)
{
    if (c->n_atts == CDL_MAX_ATTS)
        return false;
    cdl_att *a = &c->atts[c->n_atts];
    memset(a, 0, sizeof *a);
    a->var = var;
    a->type = type;
    if (!cdl_word(c, a->name, sizeof a->name) || !cdl_take(c, '=') ||
        !cdl_values(c, &a->type, &a->first, &a->count, &a->text, &a->text_len)) {
        free(a->text);
        return false;
    }
    if (a->type == NC_STRING)
        c->netcdf4 = true;
    c->n_atts++;
    return true;
}

static bool cdl_dimensions(cdl *c)
{
    char w[NC_MAX_NAME + 1];
    while (cdl_peek(c) && cdl_peek(c) != '}') {
        const char *save = c->p;
        if (!cdl_word(c, w, sizeof w))
            return false;
        if (cdl_peek(c) == ':') { /* the next section */
            c->p = save;
            return true;
        }
        if (c->n_dims == CDL_MAX_DIMS || !cdl_take(c, '='))
            return false;
        cdl_dim *d = &c->dims[c->n_dims];
        memcpy(d->name, w, sizeof w);
        char v[64];
        if (!cdl_word(c, v, sizeof v))
            return false;
        if (!strcmp(v, "UNLIMITED") || !strcmp(v, "unlimited")) {
            d->unlimited = true, d->len = 0;
        } else {
            char *e;
            d->len = (size_t)strtoull(v, &e, 10);
            if (*e || v[0] == '-')
                return false;
        }
        c->n_dims++;
        (void)(cdl_take(c, ',') || cdl_take(c, ';'));
    }
    return true;
}

static bool cdl_variables(cdl *c)
{
    char w[NC_MAX_NAME + 1];
    while (cdl_peek(c) && cdl_peek(c) != '}') {
        if (cdl_take(c, ':')) { /* a global attribute */
            if (!cdl_attribute(c, NC_GLOBAL, NC_NAT))
                return false;
            continue;
        }
        const char *save = c->p;
        if (!cdl_word(c, w, sizeof w))
            return false;
        if (cdl_peek(c) == ':') {
            if (!strcmp(w, "data")) { /* the next section */
                c->p = save;
                return true;
            }
            c->p++;
            const int v = cdl_find_var(c, w);
            if (v < 0 || !cdl_attribute(c, v, NC_NAT))
                return false;
            continue;
        }
        const nc_type t = cdl_type_name(w);
        if (t == NC_NAT)
            return false;
        if (cdl_take(c, ':')) { /* a typed global attribute */
            if (!cdl_attribute(c, NC_GLOBAL, t))
                return false;
            continue;
        }
        if (c->n_vars == CDL_MAX_VARS || t == NC_STRING)
            return false;
        cdl_var *v = &c->vars[c->n_vars];
        memset(v, 0, sizeof *v);
        v->type = t;
        if (!cdl_word(c, v->name, sizeof v->name))
            return false;
        if (cdl_peek(c) == ':') { /* "type var:att = ..." */
            c->p++;
            const int k = cdl_find_var(c, v->name);
            if (k < 0 || !cdl_attribute(c, k, t))
                return false;
            continue;
        }
        if (cdl_take(c, '(')) {
            do {
                char dn[NC_MAX_NAME + 1];
                if (v->ndims == NC_MAX_VAR_DIMS || !cdl_word(c, dn, sizeof dn))
                    return false;
                int d = -1;
                for (int k = 0; k < c->n_dims; k++)
                    if (!strcmp(c->dims[k].name, dn))
                        d = k;
                if (d < 0)
                    return false;
                v->dims[v->ndims++] = d;
            } while (cdl_take(c, ','));
            if (!cdl_take(c, ')'))
                return false;
        }
        c->n_vars++;
        (void)(cdl_take(c, ',') || cdl_take(c, ';'));
    }
    return true;
}

static bool cdl_data(cdl *c)
{
    char w[NC_MAX_NAME + 1];
    while (cdl_peek(c) && cdl_peek(c) != '}') {
        if (!cdl_word(c, w, sizeof w) || !cdl_take(c, '='))
            return false;
        const int k = cdl_find_var(c, w);
        if (k < 0)
            return false;
        cdl_var *v = &c->vars[k];
        free(v->text);
        v->text = NULL, v->text_len = 0;
        nc_type t = v->type;
        if (!cdl_values(c, &t, &v->first, &v->count, &v->text, &v->text_len))
            return false;
        v->has_data = true;
    }
    return true;
}

static bool cdl_parse(cdl *c)
{
    char w[NC_MAX_NAME + 1];
    if (!cdl_word(c, w, sizeof w) || strcmp(w, "netcdf") || !cdl_word(c, w, sizeof w) || !cdl_take(c, '{'))
        return false;
    while (cdl_peek(c) && cdl_peek(c) != '}') {
        if (!cdl_word(c, w, sizeof w) || !cdl_take(c, ':'))
            return false;
        const bool ok = !strcmp(w, "dimensions") ? cdl_dimensions(c)
                      : !strcmp(w, "variables")  ? cdl_variables(c)
                      : !strcmp(w, "data")       ? cdl_data(c)
                                                 : false;
        if (!ok)
            return false;
    }
    return cdl_take(c, '}');
}

/* ---- the file */

static bool cdl_put_att(int nc, const cdl *c, const cdl_att *a)
{
    const int v = a->var == NC_GLOBAL ? NC_GLOBAL : a->var;
    if (a->type == NC_CHAR)
        return nc_put_att_text(nc, v, a->name, a->text_len, a->text ? a->text : "") == NC_NOERR;
    if (a->type == NC_STRING) {
        const char *s = a->text ? a->text : "";
        return nc_put_att_string(nc, v, a->name, 1, &s) == NC_NOERR;
    }
    const cdl_value *x = c->vals + a->first;
    const size_t n = a->count;
    int rc;
    if (a->type == NC_INT64 || a->type == NC_UINT64) {
        long long *b = malloc((n ? n : 1) * sizeof *b);
        if (!b)
            return false;
        for (size_t k = 0; k < n; k++)
            b[k] = a->type == NC_INT64 ? x[k].i : (long long)x[k].u;
        rc = a->type == NC_INT64 ? nc_put_att_longlong(nc, v, a->name, a->type, n, b)
                                 : nc_put_att_ulonglong(nc, v, a->name, a->type, n, (unsigned long long *)b);
        free(b);
    } else {
        double *b = malloc((n ? n : 1) * sizeof *b);
        if (!b)
            return false;
        for (size_t k = 0; k < n; k++)
            b[k] = x[k].d;
        rc = nc_put_att_double(nc, v, a->name, a->type, n, b);
        free(b);
    }
    /* a value out of its type's range is stored converted (NC_ERANGE) */
    return rc == NC_NOERR || rc == NC_ERANGE;
}

static bool cdl_put_data(int nc, const cdl *c, int id, const cdl_var *v)
{
    size_t len = 1;
    if (v->ndims > 1)
        return true; /* sten reads only 1-D variables: no data for others */
    if (v->ndims == 1)
        len = c->dims[v->dims[0]].unlimited ? v->count + v->text_len : c->dims[v->dims[0]].len;
    const size_t start[1] = {0};
    if (v->type == NC_CHAR) {
        const size_t count[1] = {v->text_len < len ? v->text_len : len};
        return !count[0] || nc_put_vara_text(nc, id, start, count, v->text) == NC_NOERR;
    }
    const size_t count[1] = {v->count < len ? v->count : len};
    if (!count[0])
        return true;
    const cdl_value *x = c->vals + v->first;
    int rc;
    if (v->type == NC_INT64 || v->type == NC_UINT64) {
        long long *b = malloc(count[0] * sizeof *b);
        if (!b)
            return false;
        for (size_t k = 0; k < count[0]; k++)
            b[k] = v->type == NC_INT64 ? x[k].i : (long long)x[k].u;
        rc = v->type == NC_INT64 ? nc_put_vara_longlong(nc, id, start, count, b)
                                 : nc_put_vara_ulonglong(nc, id, start, count, (unsigned long long *)b);
        free(b);
    } else {
        double *b = malloc(count[0] * sizeof *b);
        if (!b)
            return false;
        for (size_t k = 0; k < count[0]; k++)
            b[k] = x[k].d;
        rc = nc_put_vara_double(nc, id, start, count, b);
        free(b);
    }
    return rc == NC_NOERR || rc == NC_ERANGE;
}

static bool cdl_create(const cdl *c, const char *path)
{
    int nc, ids[CDL_MAX_DIMS], vids[CDL_MAX_VARS];
    if (nc_create(path, NC_CLOBBER | (c->netcdf4 ? NC_NETCDF4 : NC_64BIT_DATA), &nc) != NC_NOERR)
        return false;
    int old;
    bool ok = nc_set_fill(nc, NC_NOFILL, &old) == NC_NOERR;
    for (int k = 0; ok && k < c->n_dims; k++)
        ok = nc_def_dim(nc, c->dims[k].name, c->dims[k].unlimited ? NC_UNLIMITED : c->dims[k].len, &ids[k]) ==
             NC_NOERR;
    for (int k = 0; ok && k < c->n_vars; k++) {
        int d[NC_MAX_VAR_DIMS];
        for (int j = 0; j < c->vars[k].ndims; j++)
            d[j] = ids[c->vars[k].dims[j]];
        ok = nc_def_var(nc, c->vars[k].name, c->vars[k].type, c->vars[k].ndims, d, &vids[k]) == NC_NOERR;
    }
    for (int k = 0; ok && k < c->n_atts; k++) {
        cdl_att a = c->atts[k];
        if (a.var != NC_GLOBAL)
            a.var = vids[a.var];
        ok = cdl_put_att(nc, c, &a);
    }
    ok = ok && nc_enddef(nc) == NC_NOERR;
    for (int k = 0; ok && k < c->n_vars; k++)
        if (c->vars[k].has_data)
            ok = cdl_put_data(nc, c, vids[k], &c->vars[k]);
    return (nc_close(nc) == NC_NOERR) && ok;
}

static void cdl_free(cdl *c)
{
    for (int k = 0; k < c->n_vars; k++)
        free(c->vars[k].text);
    for (int k = 0; k < c->n_atts; k++)
        free(c->atts[k].text);
    free(c->vals);
}

/* Writes the file the CDL text describes; false (nothing to try) when the
 * text is not in the subset or libnetcdf refuses to write it. */
static bool fuzz_cdl_write(const uint8_t *data, size_t size, const char *path)
{
    static cdl c; /* large: not on the stack */
    memset(&c, 0, sizeof c);
    c.p = (const char *)data, c.end = (const char *)data + size;
    const bool ok = cdl_parse(&c) && cdl_create(&c, path);
    cdl_free(&c);
    return ok;
}

#endif
