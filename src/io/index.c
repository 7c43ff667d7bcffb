/* index.c — label <-> integer maps (DSSTNE's feature and sample index
 * files): an open-addressing hash table over labels kept in one string
 * arena, plus an integer -> label table. Loading and saving the
 * "label<TAB>integer" file format. */
#include "core/file_int.h"

#include <string.h>

#define INDEX_MAX_LABEL 4096 /* longest label accepted from a file */
/* A file's integers may leave gaps (an index made from a larger one) and
 * come in any order (DSSTNE wrote them in hash order), but the id table is
 * sized by the largest: a file whose largest integer is beyond 16 x its
 * entries + INDEX_SLACK is refused before that table is allocated. */
#define INDEX_SLACK (1u << 20)

typedef struct {
    uint64_t hash;
    uint32_t id;
    uint32_t off; /* label offset in the arena, +1 (0 = empty slot) */
} slot;

struct sten_index {
    slot *slots;
    uint64_t cap; /* power of two */
    uint32_t size, span;
    char *arena;
    uint64_t arena_len, arena_cap;
    uint32_t *by_id; /* id -> arena offset + 1 (0 = unused), span entries */
    uint64_t by_id_cap;
};

static uint64_t hash_label(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

sten_status sten_index_new(sten_ctx *ctx, sten_index **out)
{
    sten_index *ix = sten_calloc(ctx, 1, sizeof *ix);
    if (!ix)
        return STEN_E_NOMEM;
    ix->cap = 1024;
    ix->slots = sten_calloc(ctx, ix->cap, sizeof *ix->slots);
    if (!ix->slots) {
        sten_free(ctx, ix);
        return STEN_E_NOMEM;
    }
    *out = ix;
    return STEN_OK;
}

void sten_index_free(sten_ctx *ctx, sten_index *ix)
{
    if (!ix)
        return;
    sten_free(ctx, ix->slots);
    sten_free(ctx, ix->arena);
    sten_free(ctx, ix->by_id);
    sten_free(ctx, ix);
}

uint32_t sten_index_size(const sten_index *ix)
{
    return ix->size;
}

uint32_t sten_index_span(const sten_index *ix)
{
    return ix->span;
}

static const char *label_at(const sten_index *ix, uint32_t off1)
{
    return ix->arena + off1 - 1;
}

static slot *lookup(const sten_index *ix, const char *s, size_t n, uint64_t h)
{
    for (uint64_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        slot *sl = &ix->slots[i];
        if (!sl->off)
            return sl;
        if (sl->hash == h) {
            const char *l = label_at(ix, sl->off);
            if (strncmp(l, s, n) == 0 && l[n] == '\0')
                return sl;
        }
    }
}

bool sten_index_find(const sten_index *ix, const char *label, size_t len, uint32_t *id)
{
    const slot *sl = lookup(ix, label, len, hash_label(label, len));
    if (!sl->off)
        return false;
    *id = sl->id;
    return true;
}

const char *sten_index_label(const sten_index *ix, uint32_t id)
{
    return id < ix->span && id < ix->by_id_cap && ix->by_id[id] ? label_at(ix, ix->by_id[id]) : NULL;
}

static sten_status grow_table(sten_ctx *ctx, sten_index *ix)
{
    slot *old = ix->slots;
    const uint64_t old_cap = ix->cap;
    slot *ns = sten_calloc(ctx, old_cap * 2, sizeof *ns);
    if (!ns)
        return STEN_E_NOMEM;
    ix->slots = ns;
    ix->cap = old_cap * 2;
    for (uint64_t i = 0; i < old_cap; i++) {
        if (!old[i].off)
            continue;
        uint64_t j = old[i].hash & (ix->cap - 1);
        while (ns[j].off)
            j = (j + 1) & (ix->cap - 1);
        ns[j] = old[i];
    }
    sten_free(ctx, old);
    return STEN_OK;
}


/* Inserts label -> id; the caller has checked neither exists. by_id:
 * also record id -> label (a loader records them all at the end). */
static sten_status insert(sten_ctx *ctx, sten_index *ix, const char *s, size_t n, uint32_t id, bool by_id)
{
    if (memchr(s, '\0', n)) /* it could never be written and read back */
        return sten_fail(ctx, STEN_E_PARSE, "label \"%.*s...\" contains a NUL byte", (int)strlen(s), s);
    if ((ix->size + 1) * 10 > ix->cap * 7) {
        sten_status st = grow_table(ctx, ix);
        if (st)
            return st;
    }
    if (ix->arena_len + n + 1 > UINT32_MAX - 1)
        return sten_fail(ctx, STEN_E_RANGE, "index labels exceed 4 GiB");
    sten_status st = sten__grow(ctx, (void **)&ix->arena, &ix->arena_cap, ix->arena_len + n + 1, 1);
    if (!st && by_id)
        st = sten__grow(ctx, (void **)&ix->by_id, &ix->by_id_cap, (uint64_t)id + 1, sizeof *ix->by_id);
    if (st)
        return st;
    const uint32_t off1 = (uint32_t)ix->arena_len + 1;
    memcpy(ix->arena + ix->arena_len, s, n);
    ix->arena[ix->arena_len + n] = '\0';
    ix->arena_len += n + 1;
    const uint64_t h = hash_label(s, n);
    slot *sl = lookup(ix, s, n, h);
    *sl = (slot){h, id, off1};
    if (by_id)
        ix->by_id[id] = off1;
    ix->size++;
    if (id + 1 > ix->span)
        ix->span = id + 1;
    return STEN_OK;
}

sten_status sten_index_add(sten_ctx *ctx, sten_index *ix, const char *label, size_t len,
                           uint32_t *id)
{
    if (sten_index_find(ix, label, len, id))
        return STEN_OK;
    if (ix->span == UINT32_MAX)
        return sten_fail(ctx, STEN_E_RANGE, "index is full (2^32-1 entries)");
    *id = ix->span;
    return insert(ctx, ix, label, len, *id, true);
}

typedef struct {
    uint32_t id, off;
    unsigned long long line;
} pending;

static sten_status load_into(sten_ctx *ctx, sten_index *ix, const char *path)
{
    uint64_t max_v = 0;
    unsigned long long max_line = 0;
    pending *pend = NULL; /* the file's entries, in order */
    uint64_t n_pend = 0, pend_cap = 0;
    sten__lines r;
    sten_status st = sten__lines_open(ctx, &r, path);
    if (st)
        return st;
    char *line;
    size_t len;
    int got;
    while (!st && (got = sten__lines_next(ctx, &r, &line, &len)) > 0) {
        if (len == 0)
            continue; /* a blank line (e.g. at the end) carries nothing */
        const char *tab = memchr(line, '\t', len);
        const unsigned long long ln = r.lineno;
        if (!tab || tab == line) {
            st = sten_fail(ctx, STEN_E_PARSE, "%s:%llu: expected \"label<TAB>integer\", %s", path, ln,
                           !tab ? "found no TAB" : "the label is empty");
            break;
        }
        const size_t n = (size_t)(tab - line);
        if (n > INDEX_MAX_LABEL) {
            st = sten_fail(ctx, STEN_E_RANGE, "%s:%llu: label longer than %d bytes", path, ln,
                           INDEX_MAX_LABEL);
            break;
        }
        long long v;
        const sten_status pst = sten_parse_int(tab + 1, len - n - 1, 0, UINT32_MAX - 1, &v);
        if (pst) {
            st = sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%zu: expected an integer in [0, %u], got \"%.*s\"",
                           path, ln, n + 2, UINT32_MAX - 1, (int)STEN__MIN(len - n - 1, 40), tab + 1);
            break;
        }
        const char *nul = memchr(line, '\0', n);
        if (nul) {
            st = sten_fail(ctx, STEN_E_PARSE, "%s:%llu:%zu: a NUL byte in the label", path, ln,
                           (size_t)(nul - line) + 1);
            break;
        }
        if ((uint64_t)v > max_v)
            max_v = (uint64_t)v, max_line = ln;
        uint32_t other;
        if (sten_index_find(ix, line, n, &other)) {
            st = sten_fail(ctx, STEN_E_PARSE, "%s:%llu: duplicate label \"%.*s\" (already %u)", path, ln,
                           (int)STEN__MIN(n, 80), line, other);
            break;
        }
        if ((st = sten__grow(ctx, (void **)&pend, &pend_cap, n_pend + 1, sizeof *pend)))
            break;
        pend[n_pend++] = (pending){(uint32_t)v, (uint32_t)ix->arena_len + 1, ln};
        st = insert(ctx, ix, line, n, (uint32_t)v, false);
    }
    if (!st && got < 0)
        st = sten_ctx_error_status(ctx);
    /* the id table, now that the entries justify its size */
    if (!st && ix->size && max_v >= 16 * (uint64_t)ix->size + INDEX_SLACK)
        st = sten_fail(ctx, STEN_E_RANGE,
                       "%s:%llu: integer %llu is far beyond the file's %u entries (an index numbers its "
                       "labels from 0; the largest integer accepted is 16 x the entries + %u)",
                       path, max_line, (unsigned long long)max_v, ix->size, INDEX_SLACK);
    if (!st && ix->size)
        st = sten__grow(ctx, (void **)&ix->by_id, &ix->by_id_cap, ix->span, sizeof *ix->by_id);
    for (uint64_t i = 0; !st && i < n_pend; i++) { /* in file order: a repeat names its line */
        const pending *p = &pend[i];
        if (ix->by_id[p->id])
            st = sten_fail(ctx, STEN_E_PARSE, "%s:%llu: duplicate integer %u (already \"%s\")", path,
                           p->line, p->id, label_at(ix, ix->by_id[p->id]));
        else
            ix->by_id[p->id] = p->off;
    }
    sten_free(ctx, pend);
    sten__lines_close(&r);
    return st;
}

/* Into an empty index (every caller's case) the file is read into a new
 * one that replaces it only when the whole file was good: a failed load
 * leaves the index empty, as it was. */
sten_status sten_index_load(sten_ctx *ctx, sten_index *ix, const char *path)
{
    if (ix->size)
        return load_into(ctx, ix, path);
    sten_index *t;
    sten_status st = sten_index_new(ctx, &t);
    if (st)
        return st;
    if (!(st = load_into(ctx, t, path))) {
        const sten_index empty = *ix;
        *ix = *t;
        *t = empty;
    }
    sten_index_free(ctx, t);
    return st;
}

sten_status sten_index_save(sten_ctx *ctx, const sten_index *ix, const char *path)
{
    sten__afile af;
    sten_status st = sten__afile_open(ctx, &af, path);
    if (st)
        return st;
    for (uint32_t id = 0; id < ix->span && id < ix->by_id_cap; id++)
        if (ix->by_id[id])
            fprintf(af.f, "%s\t%u\n", label_at(ix, ix->by_id[id]), id);
    return sten__afile_commit(ctx, &af);
}
