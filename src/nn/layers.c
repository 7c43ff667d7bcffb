/* layers.c — the registry of layer types: one line per type, and the
 * lookups by model-file code, config name and setting key. What a type does
 * lives in its own file (layer_*.c). */
#include "net_int.h"

#include <math.h>
#include <strings.h>

/* One line per layer type. */
static const nn_layer_ops *const registry[] = {
    &sten__layer_fully_connected,
    &sten__layer_fm,
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
