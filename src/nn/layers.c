/* layers.c — the registry of layer types: one line per type, and the
 * lookups by model-file code, config name and setting key. What a type does
 * lives in its own file (layer_*.c). */
#include "net_int.h"

#include <math.h>
#include <string.h>
#include <strings.h>

/* One line per layer type. */
static const nn_layer_ops *const registry[] = {
    &sten__layer_fully_connected,
    &sten__layer_fm,
    &sten__layer_concat,
    &sten__layer_embedding,
    &sten__layer_interaction,
    &sten__layer_variational,
};

size_t sten__layer_ops_count(void)
{
    return sizeof registry / sizeof registry[0];
}

const nn_layer_ops *sten__layer_ops_at(size_t i)
{
    return i < sten__layer_ops_count() ? registry[i] : NULL;
}

const nn_layer_ops *sten__layer_ops(sten_layer_type type)
{
    for (size_t i = 0; i < sten__layer_ops_count(); i++)
        if (registry[i]->type == type)
            return registry[i];
    return NULL;
}

const nn_layer_ops *sten__layer_ops_named(const char *name)
{
    for (size_t i = 0; i < sten__layer_ops_count(); i++)
        if (!strcasecmp(registry[i]->name, name))
            return registry[i];
    return NULL;
}

const nn_setting *sten__layer_setting(const nn_layer_ops *ops, const char *key)
{
    for (size_t i = 0; ops && key && i < ops->n_settings; i++)
        if (ops->settings[i].key && !strcasecmp(ops->settings[i].key, key))
            return &ops->settings[i];
    return NULL;
}

sten_status sten_layer_desc_set(sten_layer_desc *l, const char *key, double value)
{
    const nn_setting *s = sten__layer_setting(sten__layer_ops(l->type), key);
    if (!s)
        return STEN_E_NOTFOUND;
    if (!(value >= s->lo && value <= s->hi) || (s->whole && value != floor(value)))
        return STEN_E_RANGE;
    l->setting[s->index] = (float)value;
    return STEN_OK;
}

double sten_layer_desc_get(const sten_layer_desc *l, const char *key)
{
    const nn_setting *s = sten__layer_setting(sten__layer_ops(l->type), key);
    return s ? (double)l->setting[s->index] : NAN;
}

sten_status sten_layer_desc_add_source(sten_ctx *ctx, sten_layer_desc *l, const char *name)
{
    const size_t len = strlen(name);
    if (len == 0 || len >= STEN_NAME_MAX)
        return sten_fail(ctx, STEN_E_RANGE, "layer \"%s\": a Source name must have 1 to %d characters",
                         l->name, STEN_NAME_MAX - 1);
    if (l->n_sources == STEN_MAX_SOURCES)
        return sten_fail(ctx, STEN_E_RANGE, "layer \"%s\": more than %d Sources", l->name,
                         STEN_MAX_SOURCES);
    /* capacity: powers of two from 4 (n_sources alone says how many are used) */
    const uint32_t n = l->n_sources;
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        char(*grown)[STEN_NAME_MAX] = sten_alloc(ctx, (size_t)(n ? 2 * n : 4) * STEN_NAME_MAX);
        if (!grown)
            return STEN_E_NOMEM;
        if (n)
            memcpy(grown, l->sources, (size_t)n * STEN_NAME_MAX);
        sten_free(ctx, l->sources);
        l->sources = grown;
    }
    memcpy(l->sources[n], name, len + 1);
    l->n_sources = n + 1;
    return STEN_OK;
}

void sten_layer_desc_clear(sten_ctx *ctx, sten_layer_desc *l)
{
    sten_free(ctx, l->sources);
    l->sources = NULL;
    l->n_sources = 0;
}

sten_status sten__layer_descs_copy(sten_ctx *ctx, sten_layer_desc *dst, const sten_layer_desc *src,
                                   uint32_t n)
{
    memcpy(dst, src, (size_t)n * sizeof *dst);
    for (uint32_t i = 0; i < n; i++)
        dst[i].sources = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t k = src[i].n_sources;
        dst[i].n_sources = 0;
        for (uint32_t j = 0; j < k; j++) {
            sten_status st = sten_layer_desc_add_source(ctx, &dst[i], src[i].sources[j]);
            if (st)
                return st;
        }
    }
    return STEN_OK;
}

void sten__layer_descs_free(sten_ctx *ctx, sten_layer_desc *l, uint32_t n)
{
    for (uint32_t i = 0; l && i < n; i++)
        sten_layer_desc_clear(ctx, &l[i]);
    sten_free(ctx, l);
}
