/* bench/http_layer.c — the HTTP layer alone, libmicrohttpd vs h2o (libh2o-evloop
 * 2.2), for bench/http-layer.sh. Two servers in one program, the same work:
 * POST /recommendations, the request body read in full, then 200 with a fixed
 * ~400-byte JSON body (Content-Type: application/json); no recommender behind
 * it, so the numbers are the HTTP layer's ceiling.
 *   mhd  libmicrohttpd set up as src/serve/http.c sets it up: a pool of THREADS
 *        epoll threads (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
 *        MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO), connection limit 4096,
 *        backlog 1024, timeout 30 s; the body gathered into a growing buffer
 *        per request as http.c does, the answer copied (MHD_RESPMEM_MUST_COPY).
 *   h2o  THREADS threads, each with its own h2o_evloop, h2o_context and
 *        listening socket (SO_REUSEPORT, the same port; backlog 1024): the
 *        kernel spreads the connections. HTTP/1.1 keep-alive; h2o 2.2 buffers
 *        the whole request body (req->entity) before it calls the handler.
 * Both listen on 127.0.0.1.
 *   build/http_layer mhd|h2o PORT PORT_FILE THREADS
 * PORT 0 takes any free port; the port taken is written to PORT_FILE (whole,
 * by a rename). SIGTERM or SIGINT stops the server (exit 0).
 */
#define _GNU_SOURCE
#define H2O_USE_EPOLL 1
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/http1.h>
#include <microhttpd.h>

#define BACKLOG 1024

static char answer[512];
static size_t answer_len;

/* {"itemList":[{"itemId":"...","score":...}, x10],"recommendationId":...,"recommender":"precomputed"} */
static void make_answer(void)
{
    static const unsigned ids[10] = {2571, 356, 318, 593, 260, 480, 1196, 110, 589, 1210};
    int n = snprintf(answer, sizeof answer, "{\"itemList\":[");
    for (int i = 0; i < 10; i++)
        n += snprintf(answer + n, sizeof answer - (size_t)n, "%s{\"itemId\":\"%u\",\"score\":%.4f}", i ? "," : "",
                      ids[i], 0.987654 - 0.031234 * i);
    n += snprintf(answer + n, sizeof answer - (size_t)n,
                  "],\"recommendationId\":\"RID-0123456789abcdef\",\"recommender\":\"precomputed\"}");
    answer_len = (size_t)n;
}

static int write_port(const char *path, unsigned port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) || rename(tmp, path)) {
        fprintf(stderr, "cannot write the port to %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

/* ------------------------------------------------------------ libmicrohttpd */

typedef struct {
    char *body;
    size_t len, cap;
    bool too_big;
} mhd_req;

#define MAX_BODY ((size_t)1 << 20)

static enum MHD_Result mhd_respond(struct MHD_Connection *c, unsigned status, const char *body, size_t len)
{
    struct MHD_Response *res = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!res)
        return MHD_NO;
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    const enum MHD_Result r = MHD_queue_response(c, status, res);
    MHD_destroy_response(res);
    return r;
}

static enum MHD_Result mhd_on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version;
    mhd_req *q = *con_cls;
    if (!q) {
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        *con_cls = q;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (!q->too_big && q->len + *upload_size > MAX_BODY)
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
    if (strcmp(url, "/recommendations"))
        return mhd_respond(c, 404, "{\"error\":\"no such endpoint\"}", 28);
    if (strcmp(method, "POST"))
        return mhd_respond(c, 405, "{\"error\":\"POST only\"}", 21);
    if (q->too_big)
        return mhd_respond(c, 413, "{\"error\":\"too big\"}", 19);
    return mhd_respond(c, 200, answer, answer_len);
}

static void mhd_on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    mhd_req *q = *con_cls;
    if (q) {
        free(q->body);
        free(q);
        *con_cls = NULL;
    }
}

static int run_mhd(unsigned port, const char *port_file, unsigned threads, sigset_t *stop)
{
    struct sockaddr_in sa = loopback(port);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL, NULL,
        mhd_on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)BACKLOG, MHD_OPTION_NOTIFY_COMPLETED, mhd_on_completed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mhd: cannot listen on 127.0.0.1:%u\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_in got;
    socklen_t gl = sizeof got;
    if (!di || getsockname(di->listen_fd, (struct sockaddr *)&got, &gl)) {
        fprintf(stderr, "mhd: no listening socket\n");
        MHD_stop_daemon(d);
        return 1;
    }
    fprintf(stderr, "mhd %s: listening on 127.0.0.1:%u, %u threads\n", MHD_get_version(), ntohs(got.sin_port),
            threads);
    if (write_port(port_file, ntohs(got.sin_port))) {
        MHD_stop_daemon(d);
        return 1;
    }
    int sig;
    sigwait(stop, &sig);
    MHD_stop_daemon(d);
    return 0;
}

/* ------------------------------------------------------------ h2o */

static h2o_globalconf_t h2o_config;
static atomic_bool h2o_stopping;

typedef struct {
    pthread_t tid;
    int fd; /* this thread's listening socket */
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
} h2o_worker;

static int h2o_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    /* the path is /recommendations (the handler's prefix); the body is in req->entity, read in full */
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        req->res.status = 405;
        req->res.reason = "Method Not Allowed";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
        req->res.content_length = 21;
        h2o_send_inline(req, H2O_STRLIT("{\"error\":\"POST only\"}"));
        return 0;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    req->res.content_length = answer_len;
    h2o_send_inline(req, answer, answer_len); /* copies the body into the request's pool */
    return 0;
}

static void h2o_on_accept(h2o_socket_t *listener, const char *err)
{
    if (err)
        return;
    h2o_worker *w = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock)
        h2o_accept(&w->accept, sock);
}

static void *h2o_thread(void *arg)
{
    h2o_worker *w = arg;
    h2o_context_init(&w->ctx, h2o_evloop_create(), &h2o_config);
    w->accept.ctx = &w->ctx;
    w->accept.hosts = h2o_config.hosts;
    h2o_socket_t *ls = h2o_evloop_socket_create(w->ctx.loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
    ls->data = w;
    h2o_socket_read_start(ls, h2o_on_accept);
    while (!atomic_load_explicit(&h2o_stopping, memory_order_relaxed))
        if (h2o_evloop_run(w->ctx.loop, 100) != 0) {
            perror("h2o_evloop_run");
            break;
        }
    h2o_socket_read_stop(ls);
    h2o_socket_close(ls);
    return NULL;
}

static int reuseport_listener(unsigned port)
{
    struct sockaddr_in sa = loopback(port);
    const int one = 1;
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, BACKLOG)) {
        fprintf(stderr, "h2o: cannot listen on 127.0.0.1:%u: %s\n", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int run_h2o(unsigned port, const char *port_file, unsigned threads, sigset_t *stop)
{
    h2o_config_init(&h2o_config);
    h2o_hostconf_t *host = h2o_config_register_host(&h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/recommendations", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = h2o_on_req;

    h2o_worker *w = calloc(threads, sizeof *w);
    if (!w)
        return 1;
    /* the first socket picks the port (PORT 0: any); the others join it */
    for (unsigned i = 0; i < threads; i++) {
        if ((w[i].fd = reuseport_listener(port)) < 0)
            return 1;
        if (i == 0) {
            struct sockaddr_in got;
            socklen_t gl = sizeof got;
            if (getsockname(w[0].fd, (struct sockaddr *)&got, &gl)) {
                perror("getsockname");
                return 1;
            }
            port = ntohs(got.sin_port);
        }
    }
    for (unsigned i = 0; i < threads; i++)
        if (pthread_create(&w[i].tid, NULL, h2o_thread, &w[i])) {
            fprintf(stderr, "h2o: cannot start thread %u\n", i);
            return 1;
        }
    fprintf(stderr, "h2o %s (libh2o-evloop): listening on 127.0.0.1:%u, %u threads, SO_REUSEPORT\n",
            H2O_VERSION, port, threads);
    if (write_port(port_file, port))
        return 1;
    int sig;
    sigwait(stop, &sig);
    atomic_store(&h2o_stopping, true);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(w[i].tid, NULL);
    free(w);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "mhd") && strcmp(argv[1], "h2o"))) {
        fprintf(stderr, "usage: %s mhd|h2o PORT PORT_FILE THREADS\n", argv[0]);
        return 2;
    }
    char *end;
    const unsigned long port = strtoul(argv[2], &end, 10);
    if (*end || port > 65535) {
        fprintf(stderr, "bad port: %s\n", argv[2]);
        return 2;
    }
    const unsigned long threads = strtoul(argv[4], &end, 10);
    if (*end || threads < 1 || threads > 1024) {
        fprintf(stderr, "bad thread count: %s\n", argv[4]);
        return 2;
    }
    make_answer();
    signal(SIGPIPE, SIG_IGN);
    /* SIGTERM and SIGINT blocked in every thread (the servers' inherit the
     * mask): main takes them with sigwait */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    fprintf(stderr, "answer: %zu bytes of JSON\n", answer_len);
    return !strcmp(argv[1], "mhd") ? run_mhd((unsigned)port, argv[3], (unsigned)threads, &stop)
                                   : run_h2o((unsigned)port, argv[3], (unsigned)threads, &stop);
}
