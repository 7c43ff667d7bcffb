/* state.c — the daemon's users and items: the catalogue, every user's
 * history (from the training file, then the event log, then live events)
 * and popularity. Callers hold the state's lock as each function says. */
#include "serve/serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int state_init(state *S, char *err, size_t n)
{
    memset(S, 0, sizeof *S);
    if (pthread_rwlock_init(&S->lock, NULL) || sten_ctx_init(&S->ctx) || sten_index_new(S->ctx, &S->items) ||
        sten_index_new(S->ctx, &S->users)) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    return 0;
}

void state_free(state *S)
{
    for (uint32_t u = 0; u < S->n_hist; u++)
        free(S->hist[u].item);
    free(S->hist);
    free(S->count);
    free(S->popular);
    free(S->sid2cat);
    if (S->ctx) {
        sten_index_free(S->ctx, S->items);
        sten_index_free(S->ctx, S->users);
        sten_ctx_free(S->ctx);
    }
    pthread_rwlock_destroy(&S->lock);
}

/* Grows an array of `size`-byte elements to hold at least need. */
static int grow(void **p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    uint32_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, (size_t)nc * size);
    if (!q)
        return -1;
    memset((char *)q + (size_t)*cap * size, 0, (size_t)(nc - *cap) * size);
    *p = q;
    *cap = nc;
    return 0;
}

int state_item(state *S, const char *label, size_t len, uint32_t *id)
{
    if (sten_index_find(S->items, label, len, id))
        return 0;
    if (sten_index_add(S->ctx, S->items, label, len, id)) {
        sten_ctx_clear_error(S->ctx);
        return -1;
    }
    return grow((void **)&S->count, &S->n_count, *id + 1, sizeof *S->count);
}

/* Appends item to h unless present; a repeat moves to the end (latest). */
static int hist_add(history *h, uint32_t item)
{
    for (uint32_t i = 0; i < h->n; i++)
        if (h->item[i] == item) {
            memmove(h->item + i, h->item + i + 1, (size_t)(h->n - i - 1) * sizeof *h->item);
            h->item[h->n - 1] = item;
            return 0;
        }
    if (grow((void **)&h->item, &h->cap, h->n + 1, sizeof *h->item))
        return -1;
    h->item[h->n++] = item;
    return 1;
}

int state_add(state *S, const char *user, size_t ulen, uint32_t item)
{
    uint32_t u;
    if (!sten_index_find(S->users, user, ulen, &u) && sten_index_add(S->ctx, S->users, user, ulen, &u)) {
        sten_ctx_clear_error(S->ctx);
        return -1;
    }
    if (grow((void **)&S->hist, &S->n_hist, u + 1, sizeof *S->hist))
        return -1;
    const int added = hist_add(&S->hist[u], item);
    if (added > 0 && item < S->n_count)
        S->count[item]++;
    return added < 0 ? -1 : 0;
}

int state_load_history(state *S, const char *path, char *err, size_t n)
{
    sten_csr m = {0};
    uint32_t *ids = NULL;
    sten_text_stats ts;
    sten_status st = sten_text_read(S->ctx, path, S->items, true, S->users, false, &m, &ids, &ts);
    if (st) {
        snprintf(err, n, "%s", sten_ctx_error(S->ctx));
        sten_ctx_clear_error(S->ctx);
        return -1;
    }
    const uint32_t n_items = sten_index_span(S->items);
    int rc = grow((void **)&S->count, &S->n_count, n_items, sizeof *S->count);
    for (uint32_t r = 0; !rc && r < m.rows; r++) {
        const uint32_t u = ids[r];
        if ((rc = grow((void **)&S->hist, &S->n_hist, u + 1, sizeof *S->hist)))
            break;
        for (uint64_t e = m.row_ptr[r]; !rc && e < m.row_ptr[r + 1]; e++) {
            const int a = hist_add(&S->hist[u], m.col[e]);
            rc = a < 0 ? -1 : 0;
            if (a > 0)
                S->count[m.col[e]]++;
        }
    }
    if (rc)
        snprintf(err, n, "%s: out of memory", path);
    sten_csr_free(S->ctx, &m);
    sten_free(S->ctx, ids);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int state_rank_popular(state *S)
{
    /* keys (UINT32_MAX - count, id): ascending order is by count descending,
     * ties by id */
    uint64_t *key = malloc((size_t)(S->n_count ? S->n_count : 1) * sizeof *key);
    uint32_t *p = malloc((size_t)(S->n_count ? S->n_count : 1) * sizeof *p);
    if (!key || !p) {
        free(key);
        free(p);
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < S->n_count; i++)
        if (S->count[i] > 0)
            key[n++] = (uint64_t)(UINT32_MAX - S->count[i]) << 32 | i;
    qsort(key, n, sizeof *key, cmp_u64);
    for (uint32_t i = 0; i < n; i++)
        p[i] = (uint32_t)key[i];
    free(key);
    free(S->popular);
    S->popular = p;
    S->n_popular = n;
    return 0;
}

int state_map_store(state *S, store *st)
{
    const uint32_t n = store_items(st);
    if (n <= S->n_sid)
        return 0;
    uint32_t *m = realloc(S->sid2cat, (size_t)n * sizeof *m);
    if (!m)
        return -1;
    S->sid2cat = m;
    char label[512];
    for (uint32_t i = S->n_sid; i < n; i++) {
        if (!store_item_label(st, i, label, sizeof label) || state_item(S, label, strlen(label), &m[i]))
            return -1;
        S->n_sid = i + 1;
    }
    return 0;
}

bool state_history(const state *S, const char *user, size_t len, uint32_t **out, uint32_t *n)
{
    uint32_t u;
    *out = NULL;
    *n = 0;
    if (!sten_index_find(S->users, user, len, &u) || u >= S->n_hist)
        return false;
    const history *h = &S->hist[u];
    *out = malloc((size_t)(h->n ? h->n : 1) * sizeof **out);
    if (!*out)
        return true; /* known, but no copy: the caller treats it as empty */
    memcpy(*out, h->item, (size_t)h->n * sizeof **out);
    *n = h->n;
    return true;
}
