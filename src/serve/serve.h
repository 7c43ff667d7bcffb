/* serve.h — `sten serve`: the recommendation daemon (docs/serving.md). One
 * HTTP server (libmicrohttpd) answers from three recommenders: precomputed
 * lists and item neighbours in an LMDB store, and a trained model run per
 * request with request batching. Not part of libsten. */
#ifndef STEN_SERVE_H
#define STEN_SERVE_H

#include <sten.h>

typedef struct {
    const char *bind;      /* address to listen on (default 127.0.0.1) */
    int port;              /* 0: any free port (see port_file) */
    const char *port_file; /* where to write the port once listening, or NULL */
    const char *model, *in_feat, *out_feat, *history, *store_dir;
    const char *token;     /* bearer token the API requires, or NULL */
    const char *fallback;  /* the default recommender: model, precomputed, item-to-item or popularity */
    unsigned http_threads; /* HTTP worker threads (0: cores) */
    unsigned threads;      /* model threads (0: cores) */
    uint32_t batch;        /* most requests one model batch takes */
    unsigned window_us;    /* how long a batch waits to fill */
    unsigned queue_max;    /* requests waiting for the model at most; beyond: 503 */
    size_t max_body;       /* request body bytes at most; beyond: 413 */
    unsigned timeout_s;    /* idle connection timeout */
    uint32_t max_results;  /* numResults at most */
    uint32_t recent;       /* history items item-to-item combines */
    uint32_t max_history;  /* history items one model input takes (the latest) */
    sten_precision precision;
    const char *items;     /* item metadata CSV (ITEM_ID,FIELD,...), or NULL */
    const char **filters;  /* "NAME=EXPRESSION", n_filters of them */
    unsigned n_filters;
} serve_opts;

serve_opts serve_defaults(void);

typedef struct server server;
/* Loads everything and starts listening; 0, or -1 with the reason in err. */
int serve_start(const serve_opts *o, server **out, char *err, size_t n);
/* Loads the model again from its path and swaps it in between two batches
 * (requests keep being answered by the old one meanwhile); on a failed load
 * the old model stays. 0, or -1 with the reason in err. */
int serve_reload(server *s, char *err, size_t n);
/* The port it listens on. */
int serve_port(const server *s);
/* Stops listening, answers what is queued, frees everything. */
void serve_stop(server *s);

#endif
