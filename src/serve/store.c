/* store.c — the serving store on LMDB (see store.h). Keys: "items" maps a
 * label to its id (u32), "labels" an id (u32 big-endian, so ids sort) to its
 * label, "recs"/"similar" a user or item label to a packed array of
 * store_entry, "events" a sequence number (u64 big-endian) to an event's
 * bytes. One writer at a time (LMDB's lock, across processes). */
#include "serve/store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct store {
    MDB_env *env;
    MDB_dbi items, labels, lists[STORE_N_LISTS], events;
};

struct store_read {
    store *s;
    MDB_txn *txn;
};

static const char *const list_names[STORE_N_LISTS] = {"recs", "similar"};

static void say(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

store *store_open(const char *dir, bool create, size_t map_size, char *err, size_t n)
{
    if (create && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        say(err, n, "%s: cannot create the store directory: %s", dir, strerror(errno));
        return NULL;
    }
    store *s = calloc(1, sizeof *s);
    if (!s) {
        say(err, n, "out of memory");
        return NULL;
    }
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&s->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(s->env, 8);
    if (!rc)
        rc = mdb_env_set_mapsize(s->env, map_size ? map_size : (size_t)16 << 30);
    /* MDB_NOTLS: a read snapshot is not tied to its thread (the HTTP pool's
     * threads take turns) */
    if (!rc)
        rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0644);
    if (rc) {
        say(err, n, "%s: cannot open the store: %s%s", dir, mdb_strerror(rc),
            rc == ENOENT ? " (make one with `sten store build`)" : "");
        mdb_env_close(s->env);
        free(s);
        return NULL;
    }
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    const unsigned fl = MDB_CREATE;
    if (!rc)
        rc = mdb_dbi_open(txn, "items", fl, &s->items);
    if (!rc)
        rc = mdb_dbi_open(txn, "labels", fl, &s->labels);
    for (int t = 0; !rc && t < STORE_N_LISTS; t++)
        rc = mdb_dbi_open(txn, list_names[t], fl, &s->lists[t]);
    if (!rc)
        rc = mdb_dbi_open(txn, "events", fl, &s->events);
    if (!rc)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc) {
        say(err, n, "%s: cannot open the store's tables: %s", dir, mdb_strerror(rc));
        store_close(s);
        return NULL;
    }
    return s;
}

void store_close(store *s)
{
    if (!s)
        return;
    mdb_env_close(s->env);
    free(s);
}

static uint32_t be32(uint32_t v)
{
    return __builtin_bswap32(v);
}

uint32_t store_items(store *s)
{
    MDB_txn *txn;
    MDB_stat st;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
        return 0;
    const uint32_t n = mdb_stat(txn, s->labels, &st) ? 0 : (uint32_t)st.ms_entries;
    mdb_txn_abort(txn);
    return n;
}

bool store_item_label(store *s, uint32_t id, char *buf, size_t n)
{
    MDB_txn *txn;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
        return false;
    uint32_t k = be32(id);
    MDB_val key = {sizeof k, &k}, val;
    const bool ok = !mdb_get(txn, s->labels, &key, &val) && val.mv_size < n;
    if (ok) {
        memcpy(buf, val.mv_data, val.mv_size);
        buf[val.mv_size] = '\0';
    }
    mdb_txn_abort(txn);
    return ok;
}

/* The id of label in the dictionary, added when new (inside txn). */
static int item_id(store *s, MDB_txn *txn, const char *label, size_t len, uint32_t *id)
{
    MDB_val key = {len, (void *)label}, val;
    int rc = mdb_get(txn, s->items, &key, &val);
    if (!rc) {
        memcpy(id, val.mv_data, sizeof *id);
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    MDB_stat st;
    if ((rc = mdb_stat(txn, s->labels, &st)))
        return rc;
    *id = (uint32_t)st.ms_entries;
    uint32_t k = be32(*id);
    MDB_val v = {sizeof *id, id}, lk = {sizeof k, &k}, lv = {len, (void *)label};
    if ((rc = mdb_put(txn, s->items, &key, &v, 0)))
        return rc;
    return mdb_put(txn, s->labels, &lk, &lv, MDB_APPEND);
}

/* Parses "key<TAB>item,score:item,score:..." into the key's span and the
 * entries (ids from the dictionary). Returns 0, an LMDB code, or -1 with
 * a message (column given) in err. */
static int parse_line(store *s, MDB_txn *txn, char *line, size_t len, const char **key, size_t *key_len,
                      store_entry **ent, uint32_t *n_ent, uint32_t *cap, char *err, size_t errn)
{
    char *tab = memchr(line, '\t', len);
    if (!tab || tab == line) {
        say(err, errn, "expected key<TAB>item,score:..., %s", tab ? "the key is empty" : "found no tab");
        return -1;
    }
    *key = line;
    *key_len = (size_t)(tab - line);
    *n_ent = 0;
    char *p = tab + 1, *end = line + len;
    while (p < end) {
        char *colon = memchr(p, ':', (size_t)(end - p));
        char *tok_end = colon ? colon : end;
        if (tok_end == p) { /* DSSTNE's lines end with ':' */
            p = tok_end + 1;
            continue;
        }
        char *comma = memchr(p, ',', (size_t)(tok_end - p));
        if (!comma || comma == p) {
            say(err, errn, "column %zu: expected item,score", (size_t)(p - line) + 1);
            return -1;
        }
        char num[64];
        const size_t nl = (size_t)(tok_end - comma - 1);
        char *q = NULL;
        if (nl == 0 || nl >= sizeof num) {
            say(err, errn, "column %zu: expected a score after ','", (size_t)(comma - line) + 2);
            return -1;
        }
        memcpy(num, comma + 1, nl);
        num[nl] = '\0';
        errno = 0;
        const float sc = strtof(num, &q);
        if (*q || errno == ERANGE || sc != sc) {
            say(err, errn, "column %zu: score '%s' is not a finite number", (size_t)(comma - line) + 2, num);
            return -1;
        }
        if (*n_ent == *cap) {
            const uint32_t nc = *cap ? *cap * 2 : 256;
            store_entry *ne = realloc(*ent, (size_t)nc * sizeof *ne);
            if (!ne) {
                say(err, errn, "out of memory");
                return -1;
            }
            *ent = ne, *cap = nc;
        }
        store_entry *e = &(*ent)[(*n_ent)++];
        const int rc = item_id(s, txn, p, (size_t)(comma - p), &e->item);
        if (rc)
            return rc;
        e->score = sc;
        p = tok_end + 1;
    }
    return 0;
}

int store_load_lists(store *s, store_table t, const char *path, uint64_t *keys, char *err, size_t errn)
{
    *keys = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        say(err, errn, "%s: %s", path, strerror(errno));
        return -1;
    }
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (!rc) /* the table's old lists go in the same transaction: all or nothing */
        rc = mdb_drop(txn, s->lists[t], 0);
    char *line = NULL, lerr[200] = "";
    size_t lcap = 0;
    store_entry *ent = NULL;
    uint32_t n_ent = 0, cap = 0;
    uint64_t lineno = 0;
    ssize_t len;
    while (!rc && (len = getline(&line, &lcap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        const char *key;
        size_t key_len;
        rc = parse_line(s, txn, line, (size_t)len, &key, &key_len, &ent, &n_ent, &cap, lerr, sizeof lerr);
        if (rc == -1) {
            say(err, errn, "%s:%llu: %s", path, (unsigned long long)lineno, lerr);
            break;
        }
        if (!rc && key_len >= 512) {
            say(err, errn, "%s:%llu: key longer than 511 bytes", path, (unsigned long long)lineno);
            rc = -1;
            break;
        }
        MDB_val k = {key_len, (void *)key}, v = {(size_t)n_ent * sizeof *ent, ent};
        if (!rc && !(rc = mdb_put(txn, s->lists[t], &k, &v, 0)))
            ++*keys;
    }
    if (!rc && ferror(f)) {
        say(err, errn, "%s: read error", path);
        rc = -1;
    }
    if (rc > 0 || (rc < 0 && rc != -1))
        say(err, errn, "%s: store: %s", path, mdb_strerror(rc));
    if (!rc)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc > 0)
        say(err, errn, "%s: store commit: %s", path, mdb_strerror(rc));
    free(line);
    free(ent);
    fclose(f);
    return rc ? -1 : 0;
}

store_read *store_read_begin(store *s)
{
    store_read *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    r->s = s;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn)) {
        free(r);
        return NULL;
    }
    return r;
}

void store_read_end(store_read *r)
{
    if (!r)
        return;
    mdb_txn_abort(r->txn);
    free(r);
}

bool store_get_list(store_read *r, store_table t, const char *key, size_t key_len, const void **data,
                    uint32_t *count)
{
    if (key_len == 0 || key_len >= 512)
        return false;
    MDB_val k = {key_len, (void *)key}, v;
    if (mdb_get(r->txn, r->s->lists[t], &k, &v))
        return false;
    *data = v.mv_data;
    *count = (uint32_t)(v.mv_size / sizeof(store_entry));
    return true;
}

uint64_t store_list_count(store_read *r, store_table t)
{
    MDB_stat st;
    return mdb_stat(r->txn, r->s->lists[t], &st) ? 0 : st.ms_entries;
}

int store_append_events(store *s, const char *const *rec, const size_t *len, size_t n, char *err, size_t errn)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    uint64_t next = 0;
    if (!rc)
        rc = mdb_cursor_open(txn, s->events, &cur);
    if (!rc) {
        MDB_val k, v;
        const int g = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (!g) {
            uint64_t last;
            memcpy(&last, k.mv_data, sizeof last);
            next = __builtin_bswap64(last) + 1;
        } else if (g != MDB_NOTFOUND) {
            rc = g;
        }
    }
    for (size_t i = 0; !rc && i < n; i++) {
        const uint64_t kb = __builtin_bswap64(next + i);
        MDB_val k = {sizeof kb, (void *)&kb}, v = {len[i], (void *)rec[i]};
        rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND);
    }
    if (cur)
        mdb_cursor_close(cur);
    if (!rc)
        rc = mdb_txn_commit(txn); /* synchronous: durable when it returns */
    else if (txn)
        mdb_txn_abort(txn);
    if (rc)
        say(err, errn, "event log: %s", mdb_strerror(rc));
    return rc ? -1 : 0;
}

int store_each_event(store *s, int (*fn)(void *arg, const char *rec, size_t len), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
        return -1;
    if (mdb_cursor_open(txn, s->events, &cur)) {
        mdb_txn_abort(txn);
        return -1;
    }
    MDB_val k, v;
    int rc = 0;
    for (int op = MDB_FIRST; !rc && !mdb_cursor_get(cur, &k, &v, op); op = MDB_NEXT)
        rc = fn(arg, v.mv_data, v.mv_size);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

uint64_t store_event_count(store *s)
{
    MDB_txn *txn;
    MDB_stat st;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
        return 0;
    const uint64_t n = mdb_stat(txn, s->events, &st) ? 0 : st.ms_entries;
    mdb_txn_abort(txn);
    return n;
}
