/* config.c — DSSTNE's JSON network configs (plus sten's "Training" object)
 * into sten_net_desc. Keys and enum values are case-insensitive; each object
 * kind is a table of fields (name -> type, place, bounds), not a chain of
 * ifs. Errors name file:line:column and what was expected. No binding to
 * data here: N "auto" and DataSet names are resolved when a network is built. */
#include "core/file_int.h"
#include "config_int.h"
#include "json_pos.h"
#include "layer.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CONFIG_MAX_BYTES (4u << 20) /* a config is a few KB; refuse what is not one */
#define CONFIG_MAX_LAYERS 1024
#define BIG 1e30 /* "no upper bound" for numbers */

/* Short names for the enumeration tables of config_enums.c. */
#define E_KIND sten__e_kind
#define E_TYPE sten__e_type
#define E_LOSS sten__e_loss
#define E_INIT sten__e_init
#define E_OPT sten__e_opt
#define E_SCHED sten__e_sched
#define E_NETKIND sten__e_netkind
#define E_ACT sten__e_act
#define E_POOL sten__e_pool
#define enum_canon sten__enum_canon
typedef sten__enum_table enum_table;

/* ----------------------------------------------------------------- fields */

/* F_PROB: a float in [0, 1), bounds ignored. F_IGNORED: accepted with a
 * warning; `more` is the reason (a string). */
/* F_WHOLE: a whole number kept in a float (a layer type's setting). */
typedef enum { F_FLOAT, F_PROB, F_UINT, F_U64, F_WHOLE, F_BOOL, F_STR, F_ENUM, F_OBJ, F_SPECIAL, F_IGNORED } ftype;

#define FIELDS_MAX 64 /* per table, for the duplicate-key check */

struct parser;
typedef struct table table;

typedef struct {
    const char *name;  /* canonical spelling */
    const char *alias; /* another accepted key, or NULL */
    ftype type;
    size_t off;        /* place in the base struct */
    double lo, hi;     /* bounds for numbers */
    const void *more;  /* F_ENUM: enum_table; F_OBJ: table; F_IGNORED: reason */
    sten_status (*special)(struct parser *p, json_t *v, void *base, const char *path);
    size_t sub_base;   /* F_OBJ: offset of the sub-object's base within base */
    uint32_t set_bit;  /* Training: bit of sten_train_desc.set, +1 (0 = none) */
} field;

struct table {
    const char *what; /* "top level", "layer", "Training", ... */
    const field *f;
    size_t n;
    const char *ignored; /* non-NULL: the whole object is checked, then ignored for this reason */
};

typedef struct parser {
    sten_ctx *ctx;
    const char *src;
    json_pos pos;
    sten_net_desc *d;
    const char *layer; /* name of the layer being parsed, for messages */
    sten_layer_desc *cur;
    const field *layer_table; /* the fields of the layer being parsed (common + its type's) */
} parser;

/* "file:line:col: [layer "X": ]" then the message. */
static sten_status fail_at(parser *p, sten_status st, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static sten_status fail_at(parser *p, sten_status st, const char *path, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    sten__json_pos_find(&p->pos, path, &line, &col);
    if (p->layer)
        return sten_fail(p->ctx, st, "%s:%d:%d: layer \"%s\": %s", p->src, line, col, p->layer, msg);
    return sten_fail(p->ctx, st, "%s:%d:%d: %s", p->src, line, col, msg);
}

/* A warning through the context's log, with the position of path. */
static void warn_at(parser *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_at(parser *p, const char *path, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    sten__json_pos_find(&p->pos, path, &line, &col);
    sten_log(p->ctx, STEN_LOG_WARN, "%s:%d:%d: %s", p->src, line, col, msg);
}

static sten_status parse_enum(parser *p, const enum_table *t, json_t *v, int *out, const char *path,
                              const char *key)
{
    if (!json_is_string(v))
        return fail_at(p, STEN_E_PARSE, path, "\"%s\": expected a name, got %s", key, sten__json_pos_kind(v));
    const char *s = json_string_value(v);
    if (sten__enum_find(t, s, out))
        return STEN_OK;
    char list[400];
    sten__enum_list(t, list, sizeof list);
    return fail_at(p, STEN_E_PARSE, path, "unknown %s \"%s\" (expected %s)", t->what, s, list);
}

static sten_status walk(parser *p, json_t *obj, const table *t, void *base, const char *path);

/* A number within the field's bounds (whole for F_UINT / F_U64). */
static sten_status check_number(parser *p, const field *f, json_t *v, const char *path,
                                const char *key, double *out)
{
    if (!json_is_number(v))
        return fail_at(p, STEN_E_PARSE, path, "\"%s\": expected a number, got %s", key, sten__json_pos_kind(v));
    const double x = *out = json_number_value(v);
    if (f->type == F_PROB && !(x >= 0 && x < 1))
        return fail_at(p, STEN_E_RANGE, path, "\"%s\" = %g is out of range (expected at least 0 "
                       "and less than 1)", key, x);
    if (f->type != F_PROB && !(x >= f->lo && x <= f->hi)) {
        if (f->hi >= BIG && f->lo > -BIG)
            return fail_at(p, STEN_E_RANGE, path, "\"%s\" = %g is out of range (expected at least "
                           "%g)", key, x, f->lo);
        return fail_at(p, STEN_E_RANGE, path, "\"%s\" = %g is out of range (expected %g to %g)",
                       key, x, f->lo, f->hi);
    }
    if ((f->type == F_UINT || f->type == F_U64 || f->type == F_WHOLE) && x != floor(x))
        return fail_at(p, STEN_E_PARSE, path, "\"%s\": expected a whole number, got %g", key, x);
    return STEN_OK;
}

static sten_status set_field(parser *p, const field *f, json_t *v, void *base, const char *path,
                             const char *key)
{
    char *at = (char *)base + f->off;
    switch (f->type) {
    case F_FLOAT:
    case F_PROB:
    case F_UINT:
    case F_U64:
    case F_WHOLE: {
        double x;
        if (f->type == F_WHOLE && f->lo == 0 && f->hi == 1 && json_is_boolean(v)) {
            *(float *)at = json_is_true(v) ? 1.0f : 0.0f; /* a switch: true / false, or 1 / 0 */
            return STEN_OK;
        }
        sten_status st = check_number(p, f, v, path, key, &x);
        if (st)
            return st;
        if (f->type == F_FLOAT || f->type == F_PROB || f->type == F_WHOLE)
            *(float *)at = (float)x;
        else if (f->type == F_UINT)
            *(uint32_t *)at = (uint32_t)x;
        else
            *(uint64_t *)at = (uint64_t)x;
        return STEN_OK;
    }
    case F_BOOL:
        if (json_is_boolean(v))
            *(bool *)at = json_is_true(v);
        else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
            *(bool *)at = json_integer_value(v) == 1;
        else
            return fail_at(p, STEN_E_PARSE, path, "\"%s\": expected true or false, got %s", key,
                           sten__json_pos_kind(v));
        return STEN_OK;
    case F_STR:
        if (!json_is_string(v))
            return fail_at(p, STEN_E_PARSE, path, "\"%s\": expected a string, got %s", key,
                           sten__json_pos_kind(v));
        if (json_string_length(v) >= STEN_NAME_MAX || json_string_length(v) == 0)
            return fail_at(p, STEN_E_RANGE, path, "\"%s\": expected 1 to %d characters", key,
                           STEN_NAME_MAX - 1);
        memcpy(at, json_string_value(v), json_string_length(v) + 1);
        return STEN_OK;
    case F_ENUM:
        return parse_enum(p, f->more, v, (int *)at, path, key);
    case F_OBJ: {
        if (!json_is_object(v))
            return fail_at(p, STEN_E_PARSE, path, "\"%s\": expected an object, got %s", key,
                           sten__json_pos_kind(v));
        const table *sub = f->more;
        if (sub->ignored)
            warn_at(p, path, "\"%s\" is accepted and ignored: %s", key, sub->ignored);
        return walk(p, v, sub, (char *)base + f->sub_base, path);
    }
    case F_SPECIAL:
        return f->special(p, v, base, path);
    case F_IGNORED:
        if (f->hi > f->lo) { /* a number, checked though unused */
            double x;
            sten_status st = check_number(p, f, v, path, key, &x);
            if (st)
                return st;
        }
        if (f->more)
            warn_at(p, path, "\"%s\" is accepted and ignored: %s", key, (const char *)f->more);
        return STEN_OK;
    }
    return STEN_OK;
}

static const table T_TOP, T_TRAIN;

/* A key as messages show it: inside a nested object, with its parent
 * ("Denoising.p", "WeightInit.Scale"), so that "p" says which p. */
static const char *shown_key(const parser *p, const table *t, const char *sub, const char *key)
{
    if (t == &T_TOP || t->f == p->layer_table)
        return key;
    const char *last = strrchr(sub, '.');
    const char *start = last;
    while (start && start > sub && start[-1] != '.')
        start--;
    return start ? start : key;
}

/* An unknown key: did-you-mean over this object's keys, or where the key
 * belongs when DSSTNE users are known to put it here. */
static sten_status unknown_key(parser *p, const table *t, const char *key, const char *sub)
{
    if (!strcasecmp(key, "TrainingParameters"))
        return fail_at(p, STEN_E_PARSE, sub, "\"TrainingParameters\" belongs to DSSTNE's CDL command "
                       "files, not to a network config; put training settings in a \"Training\" object");
    const char *names[FIELDS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < t->n && n < FIELDS_MAX; i++)
        names[n++] = t->f[i].name;
    if (t->f == p->layer_table)
        for (size_t i = 0; i < sten__layer_ops_count(); i++) {
            const nn_layer_ops *o = sten__layer_ops_at(i);
            if (sten__layer_setting(o, key))
                return fail_at(p, STEN_E_PARSE, sub, "\"%s\" is for %s layers", key, o->name);
        }
    char dym[160];
    sten__suggest(key, names, n, dym, sizeof dym);
    if (!dym[0] && t == &T_TOP)
        for (size_t i = 0; i < T_TRAIN.n; i++)
            if (!strcasecmp(key, T_TRAIN.f[i].name))
                return fail_at(p, STEN_E_PARSE, sub, "unknown key \"%s\" in the network config (training "
                               "settings go in a \"Training\" object)", key);
    return fail_at(p, STEN_E_PARSE, sub, "unknown key \"%s\" in %s%s", key, t->what, dym);
}

static sten_status walk(parser *p, json_t *obj, const table *t, void *base, const char *path)
{
    const char *key;
    json_t *v;
    char sub[600];
    const char *seen[FIELDS_MAX] = {NULL}; /* the key that set each field */
    json_object_foreach(obj, key, v) {
        if (snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key) >= (int)sizeof sub)
            sub[sizeof sub - 1] = '\0'; /* a silly key: positions fall back to the object's */
        const field *f = NULL;
        for (size_t i = 0; i < t->n && !f; i++)
            if (!strcasecmp(key, t->f[i].name) || (t->f[i].alias && !strcasecmp(key, t->f[i].alias)))
                f = &t->f[i];
        if (!f)
            return unknown_key(p, t, key, sub);
        const size_t fi = (size_t)(f - t->f);
        if (fi < FIELDS_MAX && seen[fi])
            return fail_at(p, STEN_E_PARSE, sub, "duplicate key \"%s\": \"%s\" already set it (%s)",
                           key, seen[fi], strcasecmp(key, seen[fi]) ? "the two name the same setting"
                                                                   : "keys are case-insensitive");
        if (fi < FIELDS_MAX)
            seen[fi] = key;
        sten_status st = set_field(p, f, v, base, sub, shown_key(p, t, sub, key));
        if (st)
            return st;
        if (f->set_bit)
            p->d->training.set |= 1u << (f->set_bit - 1);
    }
    return STEN_OK;
}

/* ------------------------------------------------------- special fields */

/* A string or an array of strings into a fixed list of names. */
static sten_status name_list(parser *p, json_t *v, char (*out)[STEN_NAME_MAX], uint32_t max,
                             uint32_t *n, const char *path, const char *key)
{
    *n = 0;
    if (json_is_string(v)) {
        if (json_string_length(v) == 0 || json_string_length(v) >= STEN_NAME_MAX)
            return fail_at(p, STEN_E_RANGE, path, "\"%s\": expected a layer name", key);
        memcpy(out[0], json_string_value(v), json_string_length(v) + 1);
        *n = 1;
        return STEN_OK;
    }
    if (!json_is_array(v))
        return fail_at(p, STEN_E_PARSE, path, "\"%s\": expected a layer name or an array of them, got %s",
                       key, sten__json_pos_kind(v));
    if (json_array_size(v) > max)
        return fail_at(p, STEN_E_RANGE, path, "\"%s\": at most %u layers", key, max);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) >= STEN_NAME_MAX)
            return fail_at(p, STEN_E_PARSE, path, "\"%s\"[%zu]: expected a layer name", key, i);
        memcpy(out[i], json_string_value(e), json_string_length(e) + 1);
    }
    *n = (uint32_t)json_array_size(v);
    return STEN_OK;
}

/* Sources: a name or an array of them, any number (up to STEN_MAX_SOURCES). */
static sten_status sp_source(parser *p, json_t *v, void *base, const char *path)
{
    sten_layer_desc *l = base;
    sten_layer_desc_clear(p->ctx, l);
    if (json_is_array(v) && json_array_size(v) > STEN_MAX_SOURCES)
        return fail_at(p, STEN_E_RANGE, path, "\"Source\": at most %d layers", STEN_MAX_SOURCES);
    if (!json_is_string(v) && !json_is_array(v))
        return fail_at(p, STEN_E_PARSE, path, "\"Source\": expected a layer name or an array of them, got %s",
                       sten__json_pos_kind(v));
    const size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) >= STEN_NAME_MAX)
            return json_is_array(v) ? fail_at(p, STEN_E_PARSE, path, "\"Source\"[%zu]: expected a layer name", i)
                                    : fail_at(p, STEN_E_RANGE, path, "\"Source\": expected a layer name");
        sten_status st = sten_layer_desc_add_source(p->ctx, l, json_string_value(e));
        if (st)
            return st;
    }
    return STEN_OK;
}

static sten_status sp_skip(parser *p, json_t *v, void *base, const char *path)
{
    sten_layer_desc *l = base;
    return name_list(p, v, l->skips, STEN_MAX_SKIPS, &l->n_skips, path, "Skip");
}

/* N: a count, [x, y, z, w] (a fully connected layer has their product), or "auto". */
static sten_status sp_n(parser *p, json_t *v, void *base, const char *path)
{
    sten_layer_desc *l = base;
    if (json_is_string(v)) {
        if (strcasecmp(json_string_value(v), "auto"))
            return fail_at(p, STEN_E_PARSE, path, "\"N\": expected a number or \"auto\", got \"%s\"",
                           json_string_value(v));
        l->N_auto = true;
        return STEN_OK;
    }
    double prod = 1;
    if (json_is_array(v)) {
        if (json_array_size(v) < 1 || json_array_size(v) > 4)
            return fail_at(p, STEN_E_PARSE, path, "\"N\": expected 1 to 4 dimensions");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_integer(e) || json_integer_value(e) < 1)
                return fail_at(p, STEN_E_PARSE, path, "\"N\"[%zu]: expected a positive integer", i);
            prod *= (double)json_integer_value(e);
        }
    } else if (json_is_integer(v) && json_integer_value(v) >= 1) {
        prod = (double)json_integer_value(v);
    } else {
        return fail_at(p, STEN_E_PARSE, path, "\"N\": expected a positive integer or \"auto\"");
    }
    if (prod > 1e9)
        return fail_at(p, STEN_E_RANGE, path, "\"N\" = %g is larger than 10^9 units", prod);
    l->N = (uint32_t)prod;
    return STEN_OK;
}

static const field shared_fields[] = {
    {"InputLayer", NULL, F_STR, offsetof(sten_shared_desc, input_layer), 0, 0, NULL, NULL, 0, 0},
    {"SourceInputLayer", NULL, F_STR, offsetof(sten_shared_desc, source_input_layer), 0, 0, NULL, NULL, 0, 0},
    {"SourceOutputLayer", NULL, F_STR, offsetof(sten_shared_desc, source_output_layer), 0, 0, NULL, NULL, 0, 0},
    {"Transposed", NULL, F_BOOL, offsetof(sten_shared_desc, transposed), 0, 0, NULL, NULL, 0, 0},
};
static const table T_SHARED = {"SharedWeights", shared_fields, 4, NULL};

static sten_status sp_shared(parser *p, json_t *v, void *base, const char *path)
{
    sten_layer_desc *l = base;
    const size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (n > STEN_MAX_SHARED)
        return fail_at(p, STEN_E_RANGE, path, "\"SharedWeights\": at most %d entries", STEN_MAX_SHARED);
    char sub[600];
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (json_is_array(v))
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        else
            snprintf(sub, sizeof sub, "%s", path);
        if (!json_is_object(e))
            return fail_at(p, STEN_E_PARSE, sub, "\"SharedWeights\": expected an object, got %s",
                           sten__json_pos_kind(e));
        sten_shared_desc *sh = &l->shared[i];
        memset(sh, 0, sizeof *sh);
        sten_status st = walk(p, e, &T_SHARED, sh, sub);
        if (st)
            return st;
        if (!sh->input_layer[0] || !sh->source_input_layer[0] || !sh->source_output_layer[0])
            return fail_at(p, STEN_E_PARSE, sub, "\"SharedWeights\" needs InputLayer, "
                           "SourceInputLayer and SourceOutputLayer");
    }
    l->n_shared = (uint32_t)n;
    return STEN_OK;
}

static sten_status sp_batchnorm(parser *p, json_t *v, void *base, const char *path)
{
    (void)base;
    if (json_is_true(v))
        return fail_at(p, STEN_E_UNSUPPORTED, path, "BatchNormalization is not supported yet");
    if (!json_is_boolean(v))
        return fail_at(p, STEN_E_PARSE, path, "\"BatchNormalization\": expected true or false");
    return STEN_OK;
}

/* A layer's Type: a registered layer type (layers.c), or one of DSSTNE's
 * that sten parses and refuses. */
static sten_status sp_type(parser *p, json_t *v, void *base, const char *path)
{
    if (!json_is_string(v))
        return fail_at(p, STEN_E_PARSE, path, "\"Type\": expected a name, got %s", sten__json_pos_kind(v));
    const char *name = json_string_value(v);
    const nn_layer_ops *o = sten__layer_ops_named(name);
    int t;
    if (o)
        ((sten_layer_desc *)base)->type = o->type;
    else if (sten__enum_find(&E_TYPE, name, &t))
        ((sten_layer_desc *)base)->type = (sten_layer_type)t;
    else {
        char list[400] = "";
        for (size_t i = 0; i < sten__layer_ops_count(); i++) {
            const size_t n = strlen(list);
            snprintf(list + n, sizeof list - n, "%s, ", sten__layer_ops_at(i)->name);
        }
        const size_t n = strlen(list);
        sten__enum_list(&E_TYPE, list + n, sizeof list - n);
        return fail_at(p, STEN_E_PARSE, path, "unknown layer Type \"%s\" (expected %s)", name, list);
    }
    return STEN_OK;
}

/* Pooling's Function: checked, then unused (Pooling layers are refused). */
static sten_status sp_function(parser *p, json_t *v, void *base, const char *path)
{
    (void)base;
    int f;
    return parse_enum(p, &E_POOL, v, &f, path, "Function");
}

/* --------------------------------------------------------------- tables */

#define NO_CONV "only Convolutional and Pooling layers use it, and they are not supported"
#define NO_POOL "only Pooling layers use it, and they are not supported"
#define L(f) offsetof(sten_layer_desc, f)
#define D(f) offsetof(sten_net_desc, f)
#define T(f) offsetof(sten_train_desc, f)

static const field sp_layer_fields[] = {
    {"p", NULL, F_FLOAT, L(sparseness_p), 0, 1, NULL, NULL, 0, 0},
    {"beta", NULL, F_FLOAT, L(sparseness_beta), 0, BIG, NULL, NULL, 0, 0},
};
static const field init_fields[] = {
    {"Scheme", NULL, F_ENUM, L(init), 0, 0, &E_INIT, NULL, 0, 0},
    {"Scale", NULL, F_FLOAT, L(init_scale), -BIG, BIG, NULL, NULL, 0, 0},
    {"Bias", NULL, F_FLOAT, L(init_bias), -BIG, BIG, NULL, NULL, 0, 0},
};
static const table T_SP_LAYER = {"SparsenessPenalty", sp_layer_fields, 2, NULL};
static const table T_INIT = {"WeightInit", init_fields, 3, NULL};

static const field layer_fields[] = {
    {"Kind", NULL, F_ENUM, L(kind), 0, 0, &E_KIND, NULL, 0, 0},
    {"Type", NULL, F_SPECIAL, 0, 0, 0, NULL, sp_type, 0, 0},
    {"Name", NULL, F_STR, L(name), 0, 0, NULL, NULL, 0, 0},
    {"N", NULL, F_SPECIAL, 0, 0, 0, NULL, sp_n, 0, 0},
    {"Sparse", NULL, F_BOOL, L(sparse), 0, 0, NULL, NULL, 0, 0},
    {"pDropout", NULL, F_PROB, L(p_dropout), 0, 0, NULL, NULL, 0, 0},
    {"DataSet", NULL, F_STR, L(dataset), 0, 0, NULL, NULL, 0, 0},
    {"Source", "Sources", F_SPECIAL, 0, 0, 0, NULL, sp_source, 0, 0},
    {"Skip", "Skips", F_SPECIAL, 0, 0, 0, NULL, sp_skip, 0, 0},
    {"Activation", NULL, F_ENUM, L(activation), 0, 0, &E_ACT, NULL, 0, 0},
    {"RELUSlope", "Slope", F_FLOAT, L(relu_slope), 0, 1, NULL, NULL, 0, 0},
    {"ELUAlpha", NULL, F_FLOAT, L(elu_alpha), 0, BIG, NULL, NULL, 0, 0},
    {"SELULambda", NULL, F_FLOAT, L(selu_lambda), 0, BIG, NULL, NULL, 0, 0},
    {"WeightNorm", NULL, F_FLOAT, L(weight_norm), 0, BIG, NULL, NULL, 0, 0},
    {"DeltaNorm", NULL, F_FLOAT, L(delta_norm), 0, BIG, NULL, NULL, 0, 0},
    {"WeightInit", NULL, F_OBJ, 0, 0, 0, &T_INIT, NULL, 0, 0},
    {"SharedWeights", NULL, F_SPECIAL, 0, 0, 0, NULL, sp_shared, 0, 0},
    {"BatchNormalization", NULL, F_SPECIAL, 0, 0, 0, NULL, sp_batchnorm, 0, 0},
    {"SparsenessPenalty", NULL, F_OBJ, 0, 0, 0, &T_SP_LAYER, NULL, 0, 0},
    {"Kernel", NULL, F_IGNORED, 0, 0, 0, NO_CONV, NULL, 0, 0},
    {"KernelStride", NULL, F_IGNORED, 0, 0, 0, NO_CONV, NULL, 0, 0},
    {"Function", NULL, F_SPECIAL, 0, 0, 0, NULL, sp_function, 0, 0},
};

static const field sp_fields[] = {
    {"p", NULL, F_FLOAT, D(sparseness_p), 0, 1, NULL, NULL, 0, 0},
    {"beta", NULL, F_FLOAT, D(sparseness_beta), 0, BIG, NULL, NULL, 0, 0},
};
static const field denoise_fields[] = {{"p", NULL, F_PROB, D(denoising_p), 0, 0, NULL, NULL, 0, 0}};
static const field boost_fields[] = {
    {"one", NULL, F_FLOAT, D(delta_boost_one), 0, BIG, NULL, NULL, 0, 0},
    {"zero", NULL, F_FLOAT, D(delta_boost_zero), 0, BIG, NULL, NULL, 0, 0},
};
static const field smce_fields[] = {
    {"oneTarget", NULL, F_FLOAT, D(smce_one_target), 0, 1, NULL, NULL, 0, 0},
    {"zeroTarget", NULL, F_FLOAT, D(smce_zero_target), 0, 1, NULL, NULL, 0, 0},
    {"oneScale", NULL, F_FLOAT, D(smce_one_scale), 0, BIG, NULL, NULL, 0, 0},
    {"zeroScale", NULL, F_FLOAT, D(smce_zero_scale), 0, BIG, NULL, NULL, 0, 0},
};
static const field lrn_fields[] = {
    {"k", NULL, F_IGNORED, 0, 0, BIG, NULL, NULL, 0, 0}, {"n", NULL, F_IGNORED, 0, 1, BIG, NULL, NULL, 0, 0},
    {"alpha", NULL, F_IGNORED, 0, 0, BIG, NULL, NULL, 0, 0}, {"beta", NULL, F_IGNORED, 0, 0, BIG, NULL, NULL, 0, 0},
};
static const field maxout_fields[] = {{"k", NULL, F_IGNORED, 0, 1, BIG, NULL, NULL, 0, 0}};
static const field sched_fields[] = {
    {"Type", NULL, F_ENUM, T(schedule), 0, 0, &E_SCHED, NULL, 0, STEN_TRAIN_SCHEDULE + 1},
    {"Interval", NULL, F_UINT, T(schedule_interval), 1, 1e9, NULL, NULL, 0, 0},
    {"Multiplier", NULL, F_FLOAT, T(schedule_multiplier), 0, BIG, NULL, NULL, 0, 0},
};
static const table T_SCHED = {"LearningRateSchedule", sched_fields, 3, NULL};

/* A schedule without its Type would leave Interval and Multiplier unused. */
static sten_status sp_schedule(parser *p, json_t *v, void *base, const char *path)
{
    if (!json_is_object(v))
        return fail_at(p, STEN_E_PARSE, path, "\"LearningRateSchedule\": expected an object, got %s",
                       sten__json_pos_kind(v));
    sten_status st = walk(p, v, &T_SCHED, base, path);
    if (!st && !(p->d->training.set & (1u << STEN_TRAIN_SCHEDULE)))
        return fail_at(p, STEN_E_PARSE, path, "\"LearningRateSchedule\" needs a \"Type\" (Constant, "
                       "Step or Exponential)");
    return st;
}
static const field train_fields[] = {
    {"Optimizer", NULL, F_ENUM, T(optimizer), 0, 0, &E_OPT, NULL, 0, STEN_TRAIN_OPTIMIZER + 1},
    {"Alpha", NULL, F_FLOAT, T(alpha), 0, 1e6, NULL, NULL, 0, STEN_TRAIN_ALPHA + 1},
    {"Lambda", NULL, F_FLOAT, T(lambda), 0, 1e6, NULL, NULL, 0, STEN_TRAIN_LAMBDA + 1},
    {"Lambda1", NULL, F_FLOAT, T(lambda1), 0, 1e6, NULL, NULL, 0, STEN_TRAIN_LAMBDA1 + 1},
    {"Mu", NULL, F_PROB, T(mu), 0, 0, NULL, NULL, 0, STEN_TRAIN_MU + 1},
    {"Mu1", NULL, F_PROB, T(mu1), 0, 0, NULL, NULL, 0, STEN_TRAIN_MU1 + 1},
    {"Epochs", NULL, F_UINT, T(epochs), 1, 1e6, NULL, NULL, 0, STEN_TRAIN_EPOCHS + 1},
    {"BatchSize", NULL, F_UINT, T(batch_size), 1, 1 << 24, NULL, NULL, 0, STEN_TRAIN_BATCH_SIZE + 1},
    {"Seed", NULL, F_U64, T(seed), 0, 9007199254740991.0, NULL, NULL, 0, STEN_TRAIN_SEED + 1},
    {"LearningRateSchedule", NULL, F_SPECIAL, 0, 0, 0, NULL, sp_schedule, 0, 0},
    {"CheckpointInterval", NULL, F_UINT, T(checkpoint_interval), 0, 1e6, NULL, NULL, 0,
     STEN_TRAIN_CHECKPOINT_INTERVAL + 1},
};
static const table T_SP = {"SparsenessPenalty", sp_fields, 2, NULL}, T_DENOISE = {"Denoising", denoise_fields, 1, NULL},
                   T_BOOST = {"DeltaBoost", boost_fields, 2, NULL}, T_SMCE = {"ScaledMarginalCrossEntropy", smce_fields, 4, NULL},
                   T_LRN = {"LocalResponseNormalization", lrn_fields, 4, NO_POOL},
                   T_MAXOUT = {"Maxout", maxout_fields, 1, NO_POOL},
                   T_TRAIN = {"Training", train_fields, sizeof train_fields / sizeof train_fields[0], NULL};

static sten_status sp_layers(parser *p, json_t *v, void *base, const char *path);
static sten_status sp_version(parser *p, json_t *v, void *base, const char *path)
{
    sten_net_desc *d = base;
    if (!json_is_number(v))
        return fail_at(p, STEN_E_PARSE, path, "\"Version\": expected a number, got %s", sten__json_pos_kind(v));
    d->version = (float)json_number_value(v);
    if (d->version < 0.6999f)
        return fail_at(p, STEN_E_RANGE, path, "\"Version\" = %g: configs older than 0.7 are not "
                       "supported (as in DSSTNE)", json_number_value(v));
    return STEN_OK;
}

static sten_status sp_netkind(parser *p, json_t *v, void *base, const char *path)
{
    int k = 0;
    sten_status st = parse_enum(p, &E_NETKIND, v, &k, path, "Kind");
    ((sten_net_desc *)base)->autoencoder = k == 1;
    return st;
}

static const field top_fields[] = {
    {"Version", NULL, F_SPECIAL, 0, 0, 0, NULL, sp_version, 0, 0},
    {"Name", NULL, F_STR, D(name), 0, 0, NULL, NULL, 0, 0},
    {"Kind", NULL, F_SPECIAL, 0, 0, 0, NULL, sp_netkind, 0, 0},
    {"WeightsData", NULL, F_IGNORED, 0, 0, 0,
     "DSSTNE never read weights from it either; start from a model file instead", NULL, 0, 0},
    {"ShuffleIndices", NULL, F_BOOL, D(shuffle_indices), 0, 0, NULL, NULL, 0, 0},
    {"LocalResponseNormalization", "LRN", F_OBJ, 0, 0, 0, &T_LRN, NULL, 0, 0},
    {"Maxout", NULL, F_OBJ, 0, 0, 0, &T_MAXOUT, NULL, 0, 0},
    {"SparsenessPenalty", NULL, F_OBJ, 0, 0, 0, &T_SP, NULL, 0, 0},
    {"Denoising", NULL, F_OBJ, 0, 0, 0, &T_DENOISE, NULL, 0, 0},
    {"DeltaBoost", NULL, F_OBJ, 0, 0, 0, &T_BOOST, NULL, 0, 0},
    {"ScaledMarginalCrossEntropy", "DataScaledMarginalCrossEntropy", F_OBJ, 0, 0, 0, &T_SMCE, NULL, 0, 0},
    {"ErrorFunction", NULL, F_ENUM, D(loss), 0, 0, &E_LOSS, NULL, 0, 0},
    {"RELUSlope", "Slope", F_FLOAT, D(relu_slope), 0, 1, NULL, NULL, 0, 0},
    {"ELUAlpha", NULL, F_FLOAT, D(elu_alpha), 0, BIG, NULL, NULL, 0, 0},
    {"SELULambda", NULL, F_FLOAT, D(selu_lambda), 0, BIG, NULL, NULL, 0, 0},
    {"Decay", NULL, F_FLOAT, D(decay), 0, BIG, NULL, NULL, 0, 0},
    {"Layers", NULL, F_SPECIAL, 0, 0, 0, NULL, sp_layers, 0, 0},
    {"Training", NULL, F_OBJ, 0, 0, 0, &T_TRAIN, NULL, D(training), 0},
};
static const table T_TOP = {"the network config", top_fields, sizeof top_fields / sizeof top_fields[0], NULL};
_Static_assert(sizeof top_fields / sizeof top_fields[0] <= FIELDS_MAX, "FIELDS_MAX");
_Static_assert(sizeof layer_fields / sizeof layer_fields[0] <= FIELDS_MAX, "FIELDS_MAX");
_Static_assert(sizeof train_fields / sizeof train_fields[0] <= FIELDS_MAX, "FIELDS_MAX");

/* ---------------------------------------------------------------- layers */

void sten_layer_desc_defaults(sten_layer_desc *l)
{
    memset(l, 0, sizeof *l);
    l->type = STEN_LAYER_FULLY_CONNECTED;
    l->N = 1;
    l->activation = STEN_ACT_SIGMOID;
    l->relu_slope = l->elu_alpha = l->selu_lambda = NAN;
    l->init = STEN_INIT_XAVIER;
    l->init_scale = 1.0f;
    l->kind = STEN_LAYER_HIDDEN;
    for (int g = 0; g < STEN_LAYER_SETTINGS; g++)
        l->setting[g] = NAN;
}

/* The layer's fields: the common ones, then its type's settings. */
static size_t layer_table_for(const nn_layer_ops *o, field *f)
{
    size_t n = sizeof layer_fields / sizeof layer_fields[0];
    memcpy(f, layer_fields, sizeof layer_fields);
    for (size_t i = 0; o && i < o->n_settings && n < FIELDS_MAX; i++) {
        const nn_setting *st = &o->settings[i];
        if (st->key)
            f[n++] = (field){st->key, NULL, st->whole ? F_WHOLE : F_FLOAT,
                             L(setting) + st->index * sizeof(float), st->lo, st->hi, NULL, NULL, 0, 0};
    }
    return n;
}

static sten_status parse_layer(parser *p, json_t *v, sten_layer_desc *l, size_t i, size_t n,
                               const char *path)
{
    sten_layer_desc_defaults(l);
    l->kind = (sten_layer_kind)-1; /* by position unless given */
    int line, col;
    (void)sten__json_pos_find(&p->pos, path, &line, &col);
    l->line = line;
    l->column = col;
    if (!json_is_object(v))
        return fail_at(p, STEN_E_PARSE, path, "layer %zu: expected an object, got %s", i, sten__json_pos_kind(v));
    /* The name first (given, or the default from the kind), so that every
     * message about this layer can use it. */
    const char *key;
    json_t *e;
    int kind = i == 0 ? STEN_LAYER_INPUT : i + 1 == n ? STEN_LAYER_OUTPUT : STEN_LAYER_HIDDEN;
    const nn_layer_ops *ops = sten__layer_ops(STEN_LAYER_FULLY_CONNECTED);
    json_object_foreach(v, key, e) {
        if (!strcasecmp(key, "Kind") && json_is_string(e))
            sten__enum_find(&E_KIND, json_string_value(e), &kind);
        if (!strcasecmp(key, "Type") && json_is_string(e) && sten__layer_ops_named(json_string_value(e)))
            ops = sten__layer_ops_named(json_string_value(e));
    }
    static const char *const base[] = {"Input", "Hidden", "Output", "Target"};
    snprintf(l->name, sizeof l->name, "%s%zu", base[kind], i);
    p->layer = l->name;
    json_object_foreach(v, key, e) {
        if (!strcasecmp(key, "Name") && json_is_string(e))
            p->layer = json_string_value(e);
    }
    field fields[FIELDS_MAX];
    const table tl = {"a layer", fields, layer_table_for(ops, fields), NULL};
    p->layer_table = fields;
    sten_status st = walk(p, v, &tl, l, path);
    p->layer_table = NULL;
    if (st)
        return st;
    if ((int)l->kind == -1)
        l->kind = (sten_layer_kind)kind;
    p->layer = l->name;
    if (l->type == STEN_LAYER_CONVOLUTIONAL || l->type == STEN_LAYER_POOLING)
        return fail_at(p, STEN_E_UNSUPPORTED, path, "%s layers are not supported yet",
                       enum_canon(&E_TYPE, (int)l->type));
    char why[200];
    if (ops->check && !ops->check(l, why, sizeof why))
        return fail_at(p, STEN_E_PARSE, path, "%s", why);
    if (l->N_auto && l->kind == STEN_LAYER_HIDDEN && !ops->width)
        return fail_at(p, STEN_E_PARSE, path, "\"N\": \"auto\" needs a DataSet, so only Input and "
                       "Output layers can use it");
    if (l->kind == STEN_LAYER_INPUT && (l->n_sources || l->n_skips || l->n_shared))
        return fail_at(p, STEN_E_PARSE, path, "an Input layer takes no %s (it reads its DataSet)",
                       l->n_sources ? "Source" : l->n_skips ? "Skip" : "SharedWeights");
    if (l->N_auto && !l->dataset[0] && !ops->width)
        return fail_at(p, STEN_E_PARSE, path, "\"N\": \"auto\" needs a DataSet to take the width from");
    p->layer = NULL;
    return STEN_OK;
}

static sten_status sp_layers(parser *p, json_t *v, void *base, const char *path)
{
    sten_net_desc *d = base;
    const size_t n = json_is_array(v) ? json_array_size(v) : json_is_object(v) ? 1 : 0;
    if (n == 0)
        return fail_at(p, STEN_E_PARSE, path, "\"Layers\": expected an array of layer objects");
    if (n > CONFIG_MAX_LAYERS)
        return fail_at(p, STEN_E_RANGE, path, "\"Layers\": more than %d layers", CONFIG_MAX_LAYERS);
    d->layers = sten_calloc(p->ctx, n, sizeof *d->layers);
    if (!d->layers)
        return STEN_E_NOMEM;
    d->n_layers = (uint32_t)n;
    char sub[600];
    for (size_t i = 0; i < n; i++) {
        snprintf(sub, sizeof sub, json_is_array(v) ? "%s[%zu]" : "%s", path, i);
        sten_status st = parse_layer(p, json_is_array(v) ? json_array_get(v, i) : v, &d->layers[i],
                                     i, n, sub);
        if (st)
            return st;
    }
    return STEN_OK;
}

/* Names in Source, Skip and SharedWeights must be layers; names unique.
 * Each reference is located at its value: Source[k] falls back to Source
 * when it was a single string, SharedWeights[k].X to SharedWeights.X. */
static sten_status check_names(parser *p, sten_net_desc *d)
{
    const char *names[CONFIG_MAX_LAYERS];
    for (uint32_t i = 0; i < d->n_layers; i++)
        names[i] = d->layers[i].name;
    static const char *const shared_keys[] = {"InputLayer", "SourceInputLayer", "SourceOutputLayer"};
    char path[160], alt[160], dym[160];
    for (uint32_t i = 0; i < d->n_layers; i++) {
        sten_layer_desc *l = &d->layers[i];
        snprintf(path, sizeof path, "Layers[%u]", i);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(names[j], l->name))
                return fail_at(p, STEN_E_PARSE, path, "duplicate layer name \"%s\"", l->name);
        const uint32_t nr = l->n_sources + l->n_skips + 3 * l->n_shared;
        for (uint32_t r = 0; r < nr; r++) {
            const char *ref, *key;
            uint32_t k = r;
            alt[0] = '\0';
            if (k < l->n_sources) {
                ref = l->sources[k];
                key = "Source";
                snprintf(path, sizeof path, "Layers[%u].Source[%u]", i, k);
            } else if ((k -= l->n_sources) < l->n_skips) {
                ref = l->skips[k];
                key = "Skip";
                snprintf(path, sizeof path, "Layers[%u].Skip[%u]", i, k);
            } else {
                k -= l->n_skips;
                const sten_shared_desc *sh = &l->shared[k / 3];
                const char *const field_of[] = {sh->input_layer, sh->source_input_layer,
                                                sh->source_output_layer};
                ref = field_of[k % 3];
                key = shared_keys[k % 3];
                snprintf(path, sizeof path, "Layers[%u].SharedWeights[%u].%s", i, k / 3, key);
                snprintf(alt, sizeof alt, "Layers[%u].SharedWeights.%s", i, key);
            }
            bool found = false;
            for (uint32_t j = 0; j < d->n_layers && !found; j++)
                found = !strcmp(names[j], ref);
            if (!found) {
                int line, col;
                if (alt[0] && sten__json_pos_find(&p->pos, alt, &line, &col) >
                                  sten__json_pos_find(&p->pos, path, &line, &col))
                    memcpy(path, alt, sizeof path);
                sten__suggest(ref, names, d->n_layers, dym, sizeof dym);
                p->layer = l->name;
                return fail_at(p, STEN_E_PARSE, path, "\"%s\" refers to layer \"%s\", which does not "
                               "exist%s", key, ref, dym);
            }
        }
    }
    p->layer = NULL;
    return STEN_OK;
}

/* Training needs something to compare against: at least one Output layer
 * (DSSTNE required one too). Without it every loss is 0 and nothing learns. */
static sten_status check_output(sten_ctx *ctx, const sten_net_desc *d, const char *source)
{
    for (uint32_t i = 0; i < d->n_layers; i++)
        if (d->layers[i].kind == STEN_LAYER_OUTPUT)
            return STEN_OK;
    const sten_layer_desc *last = &d->layers[d->n_layers - 1];
    return sten_fail(ctx, STEN_E_PARSE, "%s:%d:%d: no Output layer: the last layer \"%s\" is %s; a network "
                     "needs a layer with \"Kind\": \"Output\" and the DataSet of its targets", source,
                     last->line, last->column, last->name,
                     last->kind == STEN_LAYER_INPUT ? "an Input layer" : last->kind == STEN_LAYER_HIDDEN
                     ? "a Hidden layer" : "a Target layer");
}

void sten_net_desc_defaults(sten_net_desc *d)
{
    memset(d, 0, sizeof *d);
    d->version = 0.9f;
    d->shuffle_indices = true;
    d->loss = STEN_LOSS_CROSS_ENTROPY;
    d->delta_boost_one = d->delta_boost_zero = 1.0f;
    d->smce_one_target = 0.9f;
    d->smce_zero_target = 0.1f;
    d->smce_one_scale = d->smce_zero_scale = 1.0f;
    d->relu_slope = 0.01f; /* DSSTNE: 1.0, which made LeakyRELU the identity */
    d->elu_alpha = 1.0f;
    d->selu_lambda = 1.050701f;
    d->training = (sten_train_desc){.optimizer = STEN_OPT_SGD, .alpha = 0.025f, .lambda = 0.0001f,
                                    .lambda1 = 0.0f, .mu = 0.5f, .mu1 = 0.0f, .epochs = 40,
                                    .batch_size = 1024, .seed = 12134, .schedule = STEN_LR_CONSTANT,
                                    .schedule_interval = 20, .schedule_multiplier = 0.5f};
}

void sten_net_desc_free(sten_ctx *ctx, sten_net_desc *d)
{
    if (!d)
        return;
    sten__layer_descs_free(ctx, d->layers, d->n_layers);
    sten_free(ctx, d);
}

sten_status sten_net_desc_parse(sten_ctx *ctx, const char *json, size_t len, const char *source,
                                sten_net_desc **out)
{
    *out = NULL;
    if (len > CONFIG_MAX_BYTES)
        return sten_fail(ctx, STEN_E_RANGE, "%s: %zu bytes is too large for a network config "
                         "(limit %u)", source, len, CONFIG_MAX_BYTES);
    parser p = {ctx, source, {0}, NULL, NULL, NULL, NULL};
    json_t *root = NULL;
    sten_status st = sten__json_pos_load(ctx, json, len, source, &root, &p.pos);
    if (!st && !json_is_object(root))
        st = sten_fail(ctx, STEN_E_PARSE, "%s:1:1: expected a JSON object, got %s", source,
                       sten__json_pos_kind(root));
    sten_net_desc *d = NULL;
    if (!st && !(d = sten_alloc(ctx, sizeof *d)))
        st = STEN_E_NOMEM;
    if (!st) {
        sten_net_desc_defaults(d);
        snprintf(d->source, sizeof d->source, "%s", source);
        p.d = d;
        st = walk(&p, root, &T_TOP, d, "");
    }
    if (!st && d->n_layers == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no \"Layers\": a network needs at least an input "
                       "and an output layer", source);
    if (!st)
        st = check_names(&p, d);
    if (!st)
        st = check_output(ctx, d, source);
    json_decref(root);
    sten__json_pos_free(ctx, &p.pos);
    if (st) {
        sten_net_desc_free(ctx, d);
        return st;
    }
    *out = d;
    return STEN_OK;
}

sten_status sten_net_desc_load(sten_ctx *ctx, const char *path, sten_net_desc **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open the network config", path);
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: is a directory, not a network config file (JSON)", path);
    }
    char *buf = sten_alloc(ctx, CONFIG_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return STEN_E_NOMEM;
    }
    const size_t n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
    const int err = ferror(f);
    fclose(f);
    sten_status st;
    if (err)
        st = sten_fail(ctx, STEN_E_IO, "%s: read error", path);
    else
        st = sten_net_desc_parse(ctx, buf, n, path, out);
    sten_free(ctx, buf);
    return st;
}
