/* http.c — the daemon's HTTP side on libmicrohttpd: a pool of epoll
 * threads; bodies bounded; the token checked; model requests suspended
 * while the batcher answers them (so a few threads hold many requests);
 * Prometheus metrics; start, reload and stop. The endpoints are in api.c. */
#include "serve/http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ buffers */

static void sb_grow(sbuf *b, size_t more)
{
    if (b->failed || b->n + more + 1 <= b->cap)
        return;
    size_t nc = b->cap ? b->cap : 512;
    while (nc < b->n + more + 1)
        nc *= 2;
    char *p = realloc(b->p, nc);
    if (!p) {
        b->failed = true;
        return;
    }
    b->p = p;
    b->cap = nc;
}

void sb_put(sbuf *b, const char *s, size_t n)
{
    sb_grow(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    const int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if ((size_t)k < sizeof tmp) {
        sb_put(b, tmp, (size_t)k);
        return;
    }
    sb_grow(b, (size_t)k);
    if (b->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void sb_json(sbuf *b, const char *s, size_t n)
{
    sb_grow(b, n + 2);
    sb_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_put(b, s + run, i - run);
        run = i + 1;
        char e[8];
        if (c == '"' || c == '\\')
            snprintf(e, sizeof e, "\\%c", c);
        else
            snprintf(e, sizeof e, "\\u%04x", c);
        sb_str(b, e);
    }
    sb_put(b, s + run, n - run);
    sb_put(b, "\"", 1);
}

void sb_num(sbuf *b, double v)
{
    if (isfinite(v))
        sb_printf(b, "%.7g", v);
    else
        sb_str(b, "null");
}

double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ------------------------------------------------------------ metrics */

static const char *const route_name[R_COUNT] = {"ping", "health", "ready", "metrics", "recommendations",
                                                "personalize-ranking", "events", "invocations", "other"};
static const int codes[] = {200, 400, 401, 404, 405, 413, 415, 503};
enum { N_CODES = sizeof codes / sizeof *codes, N_BUCKETS = 12 };
static const double buckets[N_BUCKETS] = {0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01,
                                          0.02,    0.05,   0.1,   0.25,  1.0,   5.0};

struct metrics {
    atomic_uint_fast64_t count[R_COUNT][N_CODES + 1]; /* the last: any other code */
    atomic_uint_fast64_t hist[R_COUNT][N_BUCKETS + 1];
    atomic_uint_fast64_t sum_us[R_COUNT];
    atomic_uint_fast64_t reloads, reload_failures, events;
    double started;
};

static void observe(metrics *m, route r, int status, double seconds)
{
    int c = 0;
    while (c < N_CODES && codes[c] != status)
        c++;
    atomic_fetch_add_explicit(&m->count[r][c], 1, memory_order_relaxed);
    int k = 0;
    while (k < N_BUCKETS && seconds > buckets[k])
        k++;
    atomic_fetch_add_explicit(&m->hist[r][k], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us[r], (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

static void metrics_text(server *s, sbuf *b)
{
    metrics *m = s->m;
    sb_str(b, "# HELP sten_requests_total Requests answered, by endpoint and status.\n"
              "# TYPE sten_requests_total counter\n");
    for (int r = 0; r < R_COUNT; r++)
        for (int c = 0; c <= N_CODES; c++) {
            const uint64_t v = atomic_load(&m->count[r][c]);
            if (!v)
                continue;
            if (c < N_CODES)
                sb_printf(b, "sten_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n", route_name[r], codes[c],
                          (unsigned long long)v);
            else
                sb_printf(b, "sten_requests_total{endpoint=\"%s\",code=\"other\"} %llu\n", route_name[r],
                          (unsigned long long)v);
        }
    sb_str(b, "# HELP sten_request_seconds Time from the request's arrival to its answer.\n"
              "# TYPE sten_request_seconds histogram\n");
    for (int r = 0; r < R_COUNT; r++) {
        uint64_t cum = 0;
        for (int k = 0; k <= N_BUCKETS; k++)
            cum += atomic_load(&m->hist[r][k]);
        if (!cum)
            continue;
        cum = 0;
        for (int k = 0; k <= N_BUCKETS; k++) {
            cum += atomic_load(&m->hist[r][k]);
            if (k < N_BUCKETS)
                sb_printf(b, "sten_request_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", route_name[r],
                          buckets[k], (unsigned long long)cum);
            else
                sb_printf(b, "sten_request_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", route_name[r],
                          (unsigned long long)cum);
        }
        sb_printf(b, "sten_request_seconds_sum{endpoint=\"%s\"} %.6f\n", route_name[r],
                  1e-6 * (double)atomic_load(&m->sum_us[r]));
        sb_printf(b, "sten_request_seconds_count{endpoint=\"%s\"} %llu\n", route_name[r], (unsigned long long)cum);
    }
    char ver[128] = "";
    if (s->bat)
        batcher_version(s->bat, ver, sizeof ver);
    sb_str(b, "# HELP sten_model_info The model that answers (value 1).\n# TYPE sten_model_info gauge\n");
    sb_str(b, "sten_model_info{version=");
    sb_json(b, ver, strlen(ver));
    sb_str(b, "} 1\n");
    sb_printf(b, "# TYPE sten_model_queue gauge\nsten_model_queue %u\n", s->bat ? batcher_queued(s->bat) : 0);
    sb_printf(b, "# TYPE sten_reloads_total counter\nsten_reloads_total %llu\n",
              (unsigned long long)atomic_load(&m->reloads));
    sb_printf(b, "# TYPE sten_reload_failures_total counter\nsten_reload_failures_total %llu\n",
              (unsigned long long)atomic_load(&m->reload_failures));
    sb_printf(b, "# TYPE sten_events_total counter\nsten_events_total %llu\n",
              (unsigned long long)atomic_load(&m->events));
    pthread_rwlock_rdlock(&s->S.lock);
    sb_printf(b, "# TYPE sten_users gauge\nsten_users %u\n# TYPE sten_items gauge\nsten_items %u\n",
              sten_index_size(s->S.users), sten_index_size(s->S.items));
    pthread_rwlock_unlock(&s->S.lock);
    sb_printf(b, "# TYPE sten_uptime_seconds gauge\nsten_uptime_seconds %.0f\n", now_s() - m->started);
}

void api_count_event(server *s, uint64_t n)
{
    atomic_fetch_add(&s->m->events, n);
}

/* ------------------------------------------------------------ requests */

static route route_of(const char *url)
{
    static const struct {
        const char *path;
        route r;
    } t[] = {{"/ping", R_PING}, {"/health", R_HEALTH}, {"/ready", R_READY}, {"/metrics", R_METRICS},
             {"/recommendations", R_RECS}, {"/personalize-ranking", R_RANK}, {"/events", R_EVENTS},
             {"/invocations", R_INVOKE}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(url, t[i].path))
            return t[i].r;
    return R_OTHER;
}

static bool is_get(route r)
{
    return r == R_PING || r == R_HEALTH || r == R_READY || r == R_METRICS;
}

/* Constant-time comparison of the bearer token. */
static bool token_ok(server *s, struct MHD_Connection *c)
{
    if (!s->o.token)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7))
        return false;
    h += 7;
    const size_t a = strlen(h), b = strlen(s->o.token);
    unsigned char diff = a != b;
    for (size_t i = 0; i < a && i < b; i++)
        diff |= (unsigned char)(h[i] ^ s->o.token[i]);
    return !diff;
}

static enum MHD_Result respond(req *q)
{
    server *s = q->s;
    if (q->out.failed) {
        free(q->out.p);
        q->out = (sbuf){0};
        q->status = 503;
        sb_str(&q->out, "{\"message\":\"out of memory\"}");
    }
    struct MHD_Response *res =
        MHD_create_response_from_buffer(q->out.n, q->out.p ? q->out.p : (char *)"", MHD_RESPMEM_MUST_COPY);
    if (!res)
        return MHD_NO;
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE,
                            q->r == R_METRICS && q->status == 200 ? "text/plain; version=0.0.4"
                            : q->jsonl                          ? "application/jsonlines"
                                                                : "application/json");
    if (q->retry_after)
        MHD_add_response_header(res, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (q->status == 405)
        MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, is_get(q->r) ? "GET" : "POST");
    if (q->status == 401)
        MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (s->bat) {
        char ver[128];
        batcher_version(s->bat, ver, sizeof ver);
        MHD_add_response_header(res, "X-Model-Version", ver);
    }
    const enum MHD_Result r = MHD_queue_response(q->conn, (unsigned)q->status, res);
    MHD_destroy_response(res);
    observe(s->m, q->r, q->status, now_s() - q->t0);
    return r;
}

/* The batcher answered one of the request's jobs; the last one wakes it. */
static void job_done(job *j, void *arg)
{
    (void)j;
    req *q = arg;
    if (atomic_fetch_sub(&q->pending, 1) == 1)
        MHD_resume_connection(q->conn);
}

bool api_submit(req *q)
{
    for (uint32_t i = 0; i < q->n_jobs; i++) {
        q->jobs[i].done = job_done;
        q->jobs[i].arg = q;
    }
    atomic_store(&q->pending, q->n_jobs + 1); /* +1: this thread's own hold */
    MHD_suspend_connection(q->conn);
    q->suspended = true;
    uint32_t refused = 0;
    for (uint32_t i = 0; i < q->n_jobs; i++)
        if (!batcher_submit(q->s->bat, &q->jobs[i])) {
            q->jobs[i].http = 503;
            snprintf(q->jobs[i].err, sizeof q->jobs[i].err, "the model's queue is full");
            refused++;
        }
    if (atomic_fetch_sub(&q->pending, refused + 1) == refused + 1)
        MHD_resume_connection(q->conn);
    return refused < q->n_jobs;
}

static void dispatch(req *q, struct MHD_Connection *c)
{
    server *s = q->s;
    switch (q->r) {
    case R_PING:
    case R_READY:
        q->status = s->bat || s->st ? 200 : 503;
        sb_str(&q->out, q->status == 200 ? "{\"status\":\"ready\"}" : "{\"status\":\"loading\"}");
        return;
    case R_HEALTH:
        q->status = 200;
        sb_str(&q->out, "{\"status\":\"ok\"}");
        return;
    case R_METRICS:
        q->status = 200;
        metrics_text(s, &q->out);
        return;
    case R_RECS: api_recommendations(q); return;
    case R_RANK: api_ranking(q); return;
    case R_EVENTS: api_events(q); return;
    case R_INVOKE:
        api_invocations(q, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
        return;
    default: api_error(q, 404, "no such endpoint"); return;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    server *s = cls;
    req *q = *con_cls;
    if (!q) {
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        q->s = s;
        q->conn = c;
        q->t0 = now_s();
        q->r = route_of(url);
        *con_cls = q;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (!q->too_big && q->len + *upload_size > s->o.max_body)
            q->too_big = true;
        if (!q->too_big) {
            if (q->len + *upload_size + 1 > q->cap) {
                size_t nc = q->cap ? q->cap * 2 : 4096;
                while (nc < q->len + *upload_size + 1)
                    nc *= 2;
                char *b = realloc(q->body, nc);
                if (!b)
                    return MHD_NO;
                q->body = b;
                q->cap = nc;
            }
            memcpy(q->body + q->len, upload, *upload_size);
            q->len += *upload_size;
            q->body[q->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->suspended) { /* back from the batcher */
        q->suspended = false;
        q->finish(q, &q->out, &q->status);
        return respond(q);
    }
    const bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (q->r == R_OTHER)
        api_error(q, 404, "no such endpoint: %s", url);
    else if (get != is_get(q->r))
        api_error(q, 405, "%s takes %s", url, is_get(q->r) ? "GET" : "POST");
    else if (q->r != R_PING && q->r != R_HEALTH && q->r != R_READY && !token_ok(s, c))
        api_error(q, 401, "a valid bearer token is required (Authorization: Bearer ...)");
    else if (q->too_big)
        api_error(q, 413, "request body over %zu bytes", s->o.max_body);
    else
        dispatch(q, c);
    if (q->suspended)
        return MHD_YES;
    return respond(q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    req *q = *con_cls;
    if (!q)
        return;
    for (uint32_t i = 0; i < q->n_jobs; i++) {
        free(q->jobs[i].in);
        free(q->jobs[i].in_val);
        free(q->jobs[i].ex);
        free(q->jobs[i].items);
        free(q->jobs[i].idx);
        free(q->jobs[i].val);
    }
    free(q->jobs);
    free(q->ctx);
    free(q->body);
    free(q->out.p);
    free(q);
    *con_cls = NULL;
}

/* ------------------------------------------------------------ lifetime */

serve_opts serve_defaults(void)
{
    return (serve_opts){.bind = "127.0.0.1", .port = 8080, .fallback = NULL, .batch = 64, .window_us = 1000,
                        .queue_max = 4096, .max_body = 1 << 20, .timeout_s = 30, .max_results = 500,
                        .recent = 50, .max_history = 4096, .precision = STEN_PRECISION_FP32};
}

int serve_port(const server *s)
{
    return s->port;
}

static void free_server(server *s)
{
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    batcher_stop(s->bat);
    store_close(s->st);
    state_free(&s->S);
    for (uint32_t i = 0; i < s->n_filters; i++)
        filter_free(s->filters[i]);
    free(s->filters);
    meta_free(s->meta);
    free(s->m);
    pthread_mutex_destroy(&s->events_lock);
    free(s);
}

void serve_stop(server *s)
{
    if (s)
        free_server(s);
}

int serve_reload(server *s, char *err, size_t n)
{
    if (!s->bat) {
        snprintf(err, n, "no model to reload (started without --model)");
        return -1;
    }
    slot *m;
    if (slot_load(s, &m, err, n)) {
        atomic_fetch_add(&s->m->reload_failures, 1);
        return -1;
    }
    batcher_swap(s->bat, m);
    atomic_fetch_add(&s->m->reloads, 1);
    return 0;
}

int serve_start(const serve_opts *o, server **out, char *err, size_t n)
{
    *out = NULL;
    /* A fixed mmap threshold: a model's large buffers are mapped and go back
     * to the system when a reload frees them (glibc's sliding threshold
     * would move them onto the heap after the first free, and the resident
     * size would grow by a model's worth at every reload). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    server *s = calloc(1, sizeof *s);
    if (!s || !(s->m = calloc(1, sizeof *s->m))) {
        free(s);
        snprintf(err, n, "out of memory");
        return -1;
    }
    s->o = *o;
    s->m->started = now_s();
    pthread_mutex_init(&s->events_lock, NULL);
    s->rid_salt = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->bind, &sa.sin_addr) != 1) {
        snprintf(err, n, "--bind: '%s' is not an IPv4 address", o->bind);
        free_server(s);
        return -1;
    }
    int rc = state_init(&s->S, err, n);
    if (!rc && o->history)
        rc = state_load_history(&s->S, o->history, err, n);
    if (!rc && o->store_dir && !(s->st = store_open(o->store_dir, true, 0, err, n)))
        rc = -1;
    if (!rc && s->st && state_map_store(&s->S, s->st)) {
        snprintf(err, n, "%s: cannot read the store's items", o->store_dir);
        rc = -1;
    }
    if (!rc && s->st && store_each_event(s->st, api_replay_event, s)) {
        snprintf(err, n, "%s: cannot replay the event log", o->store_dir);
        rc = -1;
    }
    if (!rc && o->items && meta_load(&s->S, o->items, &s->meta, err, n))
        rc = -1;
    if (!rc && o->n_filters && !(s->filters = calloc(o->n_filters, sizeof *s->filters))) {
        snprintf(err, n, "out of memory");
        rc = -1;
    }
    for (unsigned i = 0; !rc && i < o->n_filters; i++) {
        if ((rc = filter_compile(s->meta, o->filters[i], &s->filters[i], err, n)))
            break;
        s->n_filters++;
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(filter_name(s->filters[j]), filter_name(s->filters[i]))) {
                snprintf(err, n, "filter %s: defined twice", filter_name(s->filters[i]));
                rc = -1;
            }
    }
    if (!rc && state_rank_popular(&s->S)) {
        snprintf(err, n, "out of memory");
        rc = -1;
    }
    slot *m = NULL;
    if (!rc && o->model && !(rc = slot_load(s, &m, err, n)) && (rc = batcher_start(s, m, &s->bat, err, n)))
        slot_free(m);
    if (rc) {
        free_server(s);
        return -1;
    }
    const unsigned threads = o->http_threads ? o->http_threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                                  MHD_USE_TURBO,
                              0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
                              o->timeout_s, MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_LISTEN_BACKLOG_SIZE,
                              1024u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, n, "cannot listen on %s:%d: %s", o->bind, o->port, errno ? strerror(errno) : "failed");
        free_server(s);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_in got;
    socklen_t gl = sizeof got;
    s->port = di && !getsockname(di->listen_fd, (struct sockaddr *)&got, &gl) ? ntohs(got.sin_port) : o->port;
    *out = s;
    return 0;
}
