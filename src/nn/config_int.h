/* config_int.h — the network config's enumerations: name <-> value tables
 * shared by the parser (config.c, which lists them in messages) and the
 * public name/parse helpers (config_names.c). */
#ifndef STEN_CONFIG_INT_H
#define STEN_CONFIG_INT_H

#include "core/core_int.h"

typedef struct {
    const char *name;
    int value;
} sten__enum_name;

typedef struct {
    const char *what;              /* "activation", for messages */
    const sten__enum_name *names;  /* the canonical spelling comes first for each value */
    size_t n;
} sten__enum_table;

extern const sten__enum_table sten__e_kind, sten__e_type, sten__e_loss, sten__e_init, sten__e_opt,
    sten__e_sched, sten__e_netkind, sten__e_act, sten__e_pool;

/* Canonical name of v, or NULL. */
const char *sten__enum_canon(const sten__enum_table *t, int v);
/* Case-insensitive lookup; false when s names nothing. */
bool sten__enum_find(const sten__enum_table *t, const char *s, int *out);
/* "A, B, C": the canonical names, for "expected ..." messages. */
void sten__enum_list(const sten__enum_table *t, char *buf, size_t cap);
/* " (did you mean "X"?)" when one of cands is within a small edit distance of
 * word (case-insensitive Levenshtein), else "". */
void sten__suggest(const char *word, const char *const *cands, size_t n, char *out, size_t cap);

#endif
