/* http_int.h — what the HTTP glue (http.c) and the endpoints (api.c) share:
 * a request, its response, an output buffer that escapes JSON. */
#ifndef STEN_SERVE_HTTP_INT_H
#define STEN_SERVE_HTTP_INT_H

#include "serve/serve_int.h"

#include <microhttpd.h>

/* A growable output buffer; on out-of-memory it stays marked failed. */
typedef struct {
    char *p;
    size_t n, cap;
    bool failed;
} sbuf;
void sb_put(sbuf *b, const char *s, size_t n);
void sb_str(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quoted and escaped. */
void sb_json(sbuf *b, const char *s, size_t n);
/* A float as JSON (non-finite: null). */
void sb_num(sbuf *b, double v);

typedef enum {
    R_PING, R_HEALTH, R_READY, R_METRICS, R_RECS, R_RANK, R_EVENTS, R_INVOKE, R_OTHER, R_COUNT
} route;

/* One request in flight: its body, then (for the model) its jobs. */
typedef struct req {
    server *s;
    struct MHD_Connection *conn;
    route r;
    double t0;
    char *body;
    size_t len, cap;
    bool too_big, suspended;
    /* model work: jobs answered by the batcher, then the response built */
    job *jobs;
    uint32_t n_jobs;
    atomic_uint pending;
    void *ctx;                      /* the endpoint's own state for finishing */
    void (*finish)(struct req *q, sbuf *out, int *status);
    /* the answer */
    int status;
    sbuf out;
    bool retry_after;
    bool jsonl;                     /* answer in JSON Lines */
} req;

/* api.c: the endpoints. Each fills q->status and q->out, or queues jobs
 * (q->n_jobs > 0) and sets q->finish to build the answer once they are
 * done. */
void api_recommendations(req *q);
void api_ranking(req *q);
void api_events(req *q);
void api_invocations(req *q, const char *content_type);
/* Submits q's jobs to the batcher; false when none could be queued. */
bool api_submit(req *q);
/* An error answer: {"message": ...}. */
void api_error(req *q, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Replays one logged event into the state (start-up). */
int api_replay_event(void *arg, const char *rec, size_t len);
/* "recommendationId": a fresh id. */
void api_rid(server *s, char *buf, size_t n);

double now_s(void);
/* Counts accepted events (metrics). */
void api_count_event(server *s, uint64_t n);

#endif
