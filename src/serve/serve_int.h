/* serve_int.h — what the daemon's files share: the server, its state
 * (catalogue, users' histories), the model slot and its batcher. */
#ifndef STEN_SERVE_INT_H
#define STEN_SERVE_INT_H

#include "serve/serve.h"
#include "serve/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* ---------------------------------------------------------------- state */

/* A user's history: catalogue ids, oldest first, each once. */
typedef struct {
    uint32_t *item;
    uint32_t n, cap;
} history;

/* Items and users the server knows. The catalogue gives every item one id,
 * whatever model or store it came from, so histories outlive reloads. */
typedef struct {
    pthread_rwlock_t lock;  /* everything below */
    sten_ctx *ctx;          /* for the indexes (under the write lock) */
    sten_index *items;      /* the catalogue */
    sten_index *users;
    history *hist;          /* by user id */
    uint32_t n_hist;
    uint32_t *count;        /* per catalogue id: users having it (popularity) */
    uint32_t n_count;
    uint32_t *popular;      /* catalogue ids by count, descending (made at start) */
    uint32_t n_popular;
    uint32_t *sid2cat;      /* store item id -> catalogue id */
    uint32_t n_sid;
} state;

int state_init(state *S, char *err, size_t n);
void state_free(state *S);
/* The catalogue id of an item label, added when new (write lock held). */
int state_item(state *S, const char *label, size_t len, uint32_t *id);
/* Adds item to user's history (both added when new; write lock held). */
int state_add(state *S, const char *user, size_t ulen, uint32_t item);
/* Reads a DSSTNE text file of histories (start-up). */
int state_load_history(state *S, const char *path, char *err, size_t n);
/* Popularity ranking from the counts (write lock held). */
int state_rank_popular(state *S);
/* Store item ids the server has not mapped yet (write lock held). */
int state_map_store(state *S, store *st);
/* The user's history copied into *out (owned; oldest first), read lock
 * held by the caller; false when the user is unknown. */
bool state_history(const state *S, const char *user, size_t len, uint32_t **out, uint32_t *n);

/* ---------------------------------------------------------------- filters */

/* Items' metadata (filter.c): a CSV file with a header ITEM_ID,FIELD,...;
 * multi-valued cells separate values with '|'. Items are added to the
 * catalogue (write lock held, or before the server starts). */
typedef struct meta meta;
int meta_load(state *S, const char *path, meta **out, char *err, size_t n);
void meta_free(meta *m);
uint32_t meta_fields(const meta *m);

/* A filter: "NAME=EXCLUDE|INCLUDE ItemID WHERE Items.F [NOT] IN (...) [AND|OR ...] [| ...]". */
typedef struct filter filter;
int filter_compile(const meta *m, const char *spec, filter **out, char *err, size_t n);
void filter_free(filter *f);
const char *filter_name(const filter *f);
/* A filter with a request's "filterValues" (a JSON object or NULL). */
typedef struct fbound fbound;
int filter_bind(const filter *f, json_t *values, fbound **out, char *err, size_t n);
void fbound_free(fbound *b);
/* Whether the item passes (may be recommended). */
bool filter_pass(const fbound *b, uint32_t item);

/* ---------------------------------------------------------------- model */

/* One loaded model: the network, its indexes and the maps between its units
 * and the catalogue. Only the batcher thread runs it. */
typedef struct slot {
    sten_ctx *ctx;
    sten_net *net;
    sten_workspace *ws;
    sten_dataset ds;        /* a one-row stand-in the network is bound to */
    sten_index *in_feat, *out_feat;
    uint32_t in_width, n_items; /* input units; output units that are items */
    uint32_t n_cat;         /* catalogue size when loaded */
    uint32_t *cat2in, *cat2out, *out2cat;
    bool scorer;            /* one output unit: scores (FM, DLRM), not lists */
    bool binary;            /* ... of a binary classifier (predicted_label) */
    bool valued;            /* inputs carry values (no input index) */
    char version[96];
} slot;

typedef enum { JOB_RECOMMEND, JOB_RANK, JOB_SCORE } job_kind;

/* A request's work for the model. Items are catalogue ids; SCORE's input is
 * (feature, value) pairs of the model's input. */
typedef struct job {
    job_kind kind;
    uint32_t *in, n_in;       /* history (RECOMMEND, RANK) or features (SCORE) */
    float *in_val;            /* SCORE: values */
    uint32_t *ex, n_ex;       /* RECOMMEND: items to leave out */
    uint32_t *items, n_items; /* RANK: items to score */
    uint32_t K;
    /* results */
    uint32_t *idx;            /* RECOMMEND: K catalogue ids, best first */
    float *val;               /* RECOMMEND: K scores; RANK: n_items scores (NaN: not a model item); SCORE: 1 */
    uint32_t count;
    int http;                 /* 0 ok, else the status to answer */
    char err[160];
    char version[96];
    void (*done)(struct job *j, void *arg);
    void *arg;
    struct job *next;
} job;

typedef struct batcher batcher;

/* ---------------------------------------------------------------- server */

typedef struct metrics metrics;

struct server {
    serve_opts o;
    state S;
    store *st;                /* NULL without --store */
    batcher *bat;             /* NULL without --model */
    metrics *m;
    struct MHD_Daemon *mhd;
    int port;
    atomic_uint_fast64_t rid; /* recommendation ids */
    atomic_uint loads;        /* models loaded (the version's r<n>) */
    uint64_t rid_salt;
    pthread_mutex_t events_lock; /* event log appends, in order */
    meta *meta;               /* --items, or NULL */
    filter **filters;         /* --filter, by name */
    uint32_t n_filters;
};

/* model.c */
int slot_load(server *s, slot **out, char *err, size_t n);
void slot_free(slot *m);
int batcher_start(server *s, slot *first, batcher **out, char *err, size_t n);
/* Queues j (false: the queue is full; the caller answers 503). j->done is
 * called from the batcher's thread when j is answered. */
bool batcher_submit(batcher *b, job *j);
/* Hands over a new model; the batcher swaps it in before its next batch and
 * frees the old one. */
void batcher_swap(batcher *b, slot *m);
/* The version of the model that answers now (copied). */
void batcher_version(batcher *b, char *buf, size_t n);
bool batcher_scorer(batcher *b, bool *binary);
uint32_t batcher_queued(batcher *b);
void batcher_stop(batcher *b);

#endif
