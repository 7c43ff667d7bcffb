/* store.h — sten's serving store: one LMDB environment (a directory) holding
 * precomputed recommendation lists, item-neighbour lists and the event log,
 * written by `sten store build` and the server, read by the server. LMDB's
 * MVCC gives readers a consistent snapshot while a build replaces a table in
 * one transaction: a running server sees the new lists at the commit, never
 * half of them. Not part of libsten (the daemon's own dependency). */
#ifndef STEN_SERVE_STORE_H
#define STEN_SERVE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct store store;

/* Tables of the store. */
typedef enum { STORE_RECS = 0, STORE_SIMILAR, STORE_N_LISTS } store_table;

/* One entry of a list: an item of the store's own dictionary and its score. */
typedef struct {
    uint32_t item;
    float score;
} store_entry;

/* Opens (creating when `create`) the store in directory dir; map_size bounds
 * the file (0: 16 GiB). On failure returns NULL with the reason in err. */
store *store_open(const char *dir, bool create, size_t map_size, char *err, size_t n);
void store_close(store *s);

/* The store's item dictionary: labels <-> ids, ids dense from 0 and never
 * renumbered, so readers can cache them. store_items counts them (a fresh
 * snapshot); store_item_label copies label `id` into buf (false if none). */
uint32_t store_items(store *s);
bool store_item_label(store *s, uint32_t id, char *buf, size_t n);

/* Replaces a table with the lists of a recommendation-lines file
 * ("key<TAB>item,score:item,score:..."), in one transaction. *keys gets the
 * number of lists. Errors name file:line. */
int store_load_lists(store *s, store_table t, const char *path, uint64_t *keys, char *err, size_t n);

/* A read snapshot, for the lookups below (one per request; cheap). */
typedef struct store_read store_read;
store_read *store_read_begin(store *s);
void store_read_end(store_read *r);
/* The list of key in table t: *data points into the map (valid until
 * store_read_end; read entries with store_entry_at, as LMDB keeps values
 * only 2-byte aligned), *count entries; false when the key has none. */
bool store_get_list(store_read *r, store_table t, const char *key, size_t key_len, const void **data,
                    uint32_t *count);
static inline store_entry store_entry_at(const void *data, uint32_t i)
{
    store_entry e;
    memcpy(&e, (const char *)data + (size_t)i * sizeof e, sizeof e);
    return e;
}
/* Lists present in table t (in the snapshot). */
uint64_t store_list_count(store_read *r, store_table t);

/* The event log: append n records (opaque bytes) durably, in order, in one
 * transaction; returns 0, or -1 with err. */
int store_append_events(store *s, const char *const *rec, const size_t *len, size_t n, char *err,
                        size_t errn);
/* Calls fn for every event in order; stops and returns fn's non-zero. */
int store_each_event(store *s, int (*fn)(void *arg, const char *rec, size_t len), void *arg);
uint64_t store_event_count(store *s);

#endif
