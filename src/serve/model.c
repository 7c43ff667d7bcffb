/* model.c — the deployed model: loading it (a slot: the network, its
 * indexes, its maps to the catalogue) and the batcher, one thread that
 * gathers the requests waiting for the model into one batch, runs it, and
 * answers each. A new model is handed over between batches, so a reload
 * never fails a request. */
#include "serve/serve_int.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct batcher {
    server *s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    uint32_t queued;
    bool stop;
    slot *cur, *next;        /* next: handed over, not yet swapped in */
    char version[96];        /* of cur, for readers under mu */
    bool scorer, binary;
};

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

void slot_free(slot *m)
{
    if (!m)
        return;
    if (m->ctx) {
        sten_workspace_free(m->ctx, m->ws);
        sten_net_free(m->ctx, m->net);
        sten_csr_free(m->ctx, &m->ds.sparse);
        sten_index_free(m->ctx, m->in_feat);
        sten_index_free(m->ctx, m->out_feat);
        sten_ctx_free(m->ctx);
    }
    free(m->ds.name);
    free(m->cat2in);
    free(m->cat2out);
    free(m->out2cat);
    free(m);
}

static int fail(slot *m, char *err, size_t n, const char *what)
{
    snprintf(err, n, "%s%s%s", what, m && m->ctx && *sten_ctx_error(m->ctx) ? ": " : "",
             m && m->ctx ? sten_ctx_error(m->ctx) : "");
    slot_free(m);
    return -1;
}

/* The maps between the model's units and the catalogue (labels added to it
 * as needed), under the state's write lock. */
static int map_units(state *S, slot *m)
{
    const uint32_t n_out = m->out_feat ? sten_index_span(m->out_feat) : 0;
    int rc = 0;
    pthread_rwlock_wrlock(&S->lock);
    if (n_out && !(m->out2cat = malloc((size_t)n_out * sizeof *m->out2cat)))
        rc = -1;
    for (uint32_t o = 0; !rc && o < n_out; o++) {
        const char *l = sten_index_label(m->out_feat, o);
        m->out2cat[o] = UINT32_MAX;
        if (l)
            rc = state_item(S, l, strlen(l), &m->out2cat[o]);
    }
    const uint32_t n_in = m->in_feat ? sten_index_span(m->in_feat) : 0;
    uint32_t *in2cat = n_in ? malloc((size_t)n_in * sizeof *in2cat) : NULL;
    if (n_in && !in2cat)
        rc = -1;
    for (uint32_t i = 0; !rc && i < n_in; i++) {
        const char *l = sten_index_label(m->in_feat, i);
        in2cat[i] = UINT32_MAX;
        if (l)
            rc = state_item(S, l, strlen(l), &in2cat[i]);
    }
    m->n_cat = sten_index_span(S->items);
    pthread_rwlock_unlock(&S->lock);
    if (!rc && (!(m->cat2in = malloc((size_t)(m->n_cat + 1) * sizeof *m->cat2in)) ||
                !(m->cat2out = malloc((size_t)(m->n_cat + 1) * sizeof *m->cat2out))))
        rc = -1;
    if (!rc) {
        memset(m->cat2in, 0xff, (size_t)(m->n_cat + 1) * sizeof *m->cat2in);
        memset(m->cat2out, 0xff, (size_t)(m->n_cat + 1) * sizeof *m->cat2out);
        for (uint32_t i = 0; i < n_in; i++)
            if (in2cat[i] != UINT32_MAX && i < m->in_width)
                m->cat2in[in2cat[i]] = i;
        for (uint32_t o = 0; o < n_out && o < m->n_items; o++)
            if (m->out2cat[o] != UINT32_MAX)
                m->cat2out[m->out2cat[o]] = o;
    }
    free(in2cat);
    return rc;
}

int slot_load(server *s, slot **out, char *err, size_t n)
{
    const serve_opts *o = &s->o;
    *out = NULL;
    slot *m = calloc(1, sizeof *m);
    if (!m || sten_ctx_init(&m->ctx))
        return fail(m, err, n, "out of memory");
    sten_ctx_set_threads(m->ctx, (int)o->threads);
    sten_net_desc *d = NULL;
    if (sten_model_read_desc(m->ctx, o->model, &d))
        return fail(m, err, n, "cannot read the model");
    const sten_layer_desc *in = NULL, *outl = NULL;
    uint32_t n_in = 0, n_out = 0;
    for (uint32_t i = 0; i < d->n_layers; i++) {
        if (d->layers[i].kind == STEN_LAYER_INPUT)
            in = &d->layers[i], n_in++;
        else if (d->layers[i].kind == STEN_LAYER_OUTPUT)
            outl = &d->layers[i], n_out++;
    }
    if (n_in != 1 || n_out != 1 || !in->dataset[0]) {
        sten_net_desc_free(m->ctx, d);
        snprintf(err, n, "%s: sten serve runs models with one input layer (sparse) and one output layer; "
                 "this one has %u and %u", o->model, n_in, n_out);
        slot_free(m);
        return -1;
    }
    m->in_width = in->N;
    m->n_items = outl->N;
    m->scorer = outl->N == 1;
    m->binary = m->scorer && d->loss == STEN_LOSS_CROSS_ENTROPY;
    m->valued = !o->in_feat;
    m->ds.name = strdup(in->dataset);
    const char *why = !m->ds.name ? "out of memory" : NULL;
    if (!why && o->in_feat &&
        (sten_index_new(m->ctx, &m->in_feat) || sten_index_load(m->ctx, m->in_feat, o->in_feat)))
        why = "cannot read the input feature index";
    if (!why && o->out_feat &&
        (sten_index_new(m->ctx, &m->out_feat) || sten_index_load(m->ctx, m->out_feat, o->out_feat)))
        why = "cannot read the output feature index";
    /* index files other than the model's would answer with the wrong items */
    if (!why && ((m->in_feat && sten_index_check(m->ctx, m->in_feat, o->in_feat, in, o->model)) ||
                 (m->out_feat && sten_index_check(m->ctx, m->out_feat, o->out_feat, outl, o->model))))
        why = "the index files do not match the model";
    sten_net_desc_free(m->ctx, d);
    if (why)
        return fail(m, err, n, why);
    if (m->out_feat && !m->scorer)
        m->n_items = min_u32(m->n_items, sten_index_span(m->out_feat));
    /* the network is bound to a one-row stand-in: requests bring their rows */
    m->ds.attributes = STEN_DS_SPARSE | (m->valued ? 0 : STEN_DS_BOOLEAN);
    m->ds.dims = 1;
    m->ds.width = m->in_width;
    m->ds.examples = m->ds.unique = 1;
    if (sten_csr_init(m->ctx, &m->ds.sparse, 1, m->in_width, 1, m->valued))
        return fail(m, err, n, "out of memory");
    m->ds.sparse.rows = 1;
    if (sten_net_load(m->ctx, o->model, &m->ds, 1, 1, false, &m->net))
        return fail(m, err, n, "cannot load the model");
    if (o->precision != STEN_PRECISION_FP32 && sten_net_set_precision(m->ctx, m->net, o->precision))
        return fail(m, err, n, "--precision");
    if (sten_workspace_new_rows(m->ctx, m->net, o->batch, (uint64_t)o->batch * o->max_history, m->valued,
                                &m->ws))
        return fail(m, err, n, "cannot make the model's request buffers");
    if (map_units(&s->S, m))
        return fail(m, err, n, "out of memory");
    /* file name, modification time to the millisecond, epochs, and this
     * process's load number: two files written in the same second, or the
     * same file loaded twice, still get distinct versions */
    struct stat sb;
    char when[32] = "?";
    if (!stat(o->model, &sb)) {
        struct tm tm;
        char sec[20];
        gmtime_r(&sb.st_mtim.tv_sec, &tm);
        strftime(sec, sizeof sec, "%Y%m%dT%H%M%S", &tm);
        snprintf(when, sizeof when, "%.15s.%03dZ", sec, (int)(sb.st_mtim.tv_nsec / 1000000) % 1000);
    }
    const char *base = strrchr(o->model, '/');
    snprintf(m->version, sizeof m->version, "%s@%s/e%u/r%u", base ? base + 1 : o->model, when,
             sten_net_epoch(m->net), (unsigned)atomic_fetch_add(&s->loads, 1) + 1);
    *out = m;
    return 0;
}

/* ------------------------------------------------------------ batching */

static int ensure(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    void *q = realloc(*p, need * size);
    if (!q)
        return -1;
    *p = q;
    *cap = need;
    return 0;
}

/* The batch's input rows (and, for RECOMMEND, exclusion rows) through the
 * slot's maps. */
typedef struct {
    uint64_t *rp, *erp;
    uint32_t *col, *ecol;
    float *vals;
    size_t rp_cap, erp_cap, col_cap, ecol_cap, val_cap;
} rows_buf;

static int build_rows(const slot *m, job **js, uint32_t nb, rows_buf *rb, uint32_t max_in, sten_csr *x,
                      sten_csr *ex)
{
    size_t nin = 0, nex = 0;
    for (uint32_t b = 0; b < nb; b++)
        nin += min_u32(js[b]->n_in, max_in), nex += js[b]->n_ex + js[b]->n_in;
    if (ensure((void **)&rb->rp, &rb->rp_cap, nb + 1, sizeof *rb->rp) ||
        ensure((void **)&rb->erp, &rb->erp_cap, nb + 1, sizeof *rb->erp) ||
        ensure((void **)&rb->col, &rb->col_cap, nin + 1, sizeof *rb->col) ||
        ensure((void **)&rb->vals, &rb->val_cap, nin + 1, sizeof *rb->vals) ||
        ensure((void **)&rb->ecol, &rb->ecol_cap, nex + 1, sizeof *rb->ecol))
        return -1;
    uint64_t e = 0, f = 0;
    rb->rp[0] = rb->erp[0] = 0;
    for (uint32_t b = 0; b < nb; b++) {
        const job *j = js[b];
        /* the latest max_in items of a history */
        const uint32_t start = j->kind != JOB_SCORE && j->n_in > max_in ? j->n_in - max_in : 0;
        for (uint32_t i = start; i < j->n_in && i - start < max_in; i++) {
            uint32_t c;
            if (j->kind == JOB_SCORE)
                c = j->in[i] < m->in_width ? j->in[i] : UINT32_MAX;
            else
                c = j->in[i] < m->n_cat ? m->cat2in[j->in[i]] : UINT32_MAX;
            if (c == UINT32_MAX)
                continue;
            rb->col[e] = c;
            rb->vals[e++] = j->in_val ? j->in_val[i] : 1.0f;
        }
        rb->rp[b + 1] = e;
        if (j->kind == JOB_RECOMMEND) /* a history's items are never recommended back */
            for (int pass = 0; pass < 2; pass++) {
                const uint32_t *it = pass ? j->ex : j->in, cnt = pass ? j->n_ex : j->n_in;
                for (uint32_t i = 0; i < cnt; i++)
                    if (it[i] < m->n_cat && m->cat2out[it[i]] != UINT32_MAX)
                        rb->ecol[f++] = m->cat2out[it[i]];
            }
        rb->erp[b + 1] = f;
    }
    *x = (sten_csr){.rows = nb, .cols = m->in_width, .nnz = e, .row_ptr = rb->rp, .col = rb->col,
                    .val = m->valued ? rb->vals : NULL};
    *ex = (sten_csr){.rows = nb, .cols = m->n_items, .nnz = f, .row_ptr = rb->erp, .col = rb->ecol};
    return 0;
}

static void answer_error(job *j, int http, const char *msg)
{
    j->http = http;
    snprintf(j->err, sizeof j->err, "%s", msg);
}

/* Runs one kind of job of a batch on the slot. */
static void run_jobs(batcher *bt, slot *m, job **js, uint32_t nb, rows_buf *rb)
{
    sten_csr x, ex;
    if (build_rows(m, js, nb, rb, bt->s->o.max_history, &x, &ex)) {
        for (uint32_t b = 0; b < nb; b++)
            answer_error(js[b], 503, "out of memory");
        return;
    }
    sten_status st;
    if (js[0]->kind == JOB_RECOMMEND) {
        uint32_t K = 1;
        for (uint32_t b = 0; b < nb; b++)
            K = K > js[b]->K ? K : js[b]->K;
        const size_t need = (size_t)nb * K;
        uint32_t *idx = malloc(need * sizeof *idx), *cnt = malloc((size_t)nb * sizeof *cnt);
        float *val = malloc(need * sizeof *val);
        st = idx && cnt && val ? sten_net_recommend_rows(m->ctx, m->net, m->ws, &x, m->n_items, K, &ex, idx, val, cnt)
                               : STEN_E_NOMEM;
        for (uint32_t b = 0; b < nb; b++) {
            job *j = js[b];
            if (st) {
                answer_error(j, 503, st == STEN_E_NOMEM ? "out of memory" : sten_ctx_error(m->ctx));
                continue;
            }
            j->count = 0;
            for (uint32_t r = 0; r < cnt[b] && j->count < j->K; r++) {
                const uint32_t o = idx[(size_t)b * K + r];
                if (o >= m->n_items || !m->out2cat || m->out2cat[o] == UINT32_MAX)
                    continue;
                j->idx[j->count] = m->out2cat[o];
                j->val[j->count++] = val[(size_t)b * K + r];
            }
        }
        free(idx), free(cnt), free(val);
    } else {
        const float *y;
        uint32_t w;
        st = sten_net_infer_rows(m->ctx, m->net, m->ws, &x, NULL, &y, &w);
        for (uint32_t b = 0; b < nb; b++) {
            job *j = js[b];
            if (st) {
                answer_error(j, 503, sten_ctx_error(m->ctx));
                continue;
            }
            const float *row = y + (size_t)b * w;
            if (j->kind == JOB_SCORE) {
                j->val[0] = row[0];
                j->count = 1;
                continue;
            }
            for (uint32_t i = 0; i < j->n_items; i++) {
                const uint32_t c = j->items[i];
                const uint32_t o = c < m->n_cat ? m->cat2out[c] : UINT32_MAX;
                j->val[i] = o < m->n_items ? row[o] : NAN;
            }
            j->count = j->n_items;
        }
    }
    if (st)
        sten_ctx_clear_error(m->ctx);
}

static void *batcher_main(void *arg)
{
    batcher *bt = arg;
    const serve_opts *o = &bt->s->o;
    job **js = malloc((size_t)o->batch * sizeof *js), **part = malloc((size_t)o->batch * sizeof *part);
    rows_buf rb = {0};
    pthread_mutex_lock(&bt->mu);
    for (;;) {
        while (!bt->head && !bt->stop && !bt->next)
            pthread_cond_wait(&bt->cv, &bt->mu);
        if (bt->next) { /* between batches: the new model takes over */
            slot *old = bt->cur;
            bt->cur = bt->next;
            bt->next = NULL;
            snprintf(bt->version, sizeof bt->version, "%s", bt->cur->version);
            bt->scorer = bt->cur->scorer, bt->binary = bt->cur->binary;
            pthread_mutex_unlock(&bt->mu);
            slot_free(old);
            malloc_trim(0); /* the old model's pages back to the system */
            pthread_mutex_lock(&bt->mu);
            continue;
        }
        if (!bt->head && bt->stop)
            break;
        if (bt->queued < o->batch && !bt->stop && o->window_us) { /* let the batch fill a little */
            struct timespec t;
            clock_gettime(CLOCK_REALTIME, &t);
            t.tv_nsec += (long)o->window_us * 1000;
            t.tv_sec += t.tv_nsec / 1000000000;
            t.tv_nsec %= 1000000000;
            while (bt->queued < o->batch && !bt->stop &&
                   pthread_cond_timedwait(&bt->cv, &bt->mu, &t) != ETIMEDOUT) {
            }
        }
        uint32_t nb = 0;
        while (bt->head && nb < o->batch) {
            js[nb++] = bt->head;
            bt->head = bt->head->next;
            bt->queued--;
        }
        if (!bt->head)
            bt->tail = NULL;
        slot *m = bt->cur;
        pthread_mutex_unlock(&bt->mu);
        for (int kind = JOB_RECOMMEND; kind <= JOB_SCORE; kind++) {
            uint32_t np = 0;
            for (uint32_t b = 0; b < nb; b++)
                if ((int)js[b]->kind == kind) {
                    snprintf(js[b]->version, sizeof js[b]->version, "%s", m->version);
                    if (kind == JOB_SCORE && !m->scorer)
                        answer_error(js[b], 400, "the model gives item lists, not scores: send a user's items");
                    else if (kind != JOB_SCORE && m->scorer)
                        answer_error(js[b], 400, "the model gives scores, not item lists: send features");
                    else if (js && part)
                        part[np++] = js[b];
                    else
                        answer_error(js[b], 503, "out of memory");
                }
            if (np)
                run_jobs(bt, m, part, np, &rb);
        }
        for (uint32_t b = 0; b < nb; b++)
            js[b]->done(js[b], js[b]->arg);
        pthread_mutex_lock(&bt->mu);
    }
    pthread_mutex_unlock(&bt->mu);
    free(js), free(part);
    free(rb.rp), free(rb.erp), free(rb.col), free(rb.ecol), free(rb.vals);
    return NULL;
}

int batcher_start(server *s, slot *first, batcher **out, char *err, size_t n)
{
    batcher *bt = calloc(1, sizeof *bt);
    if (!bt) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    bt->s = s;
    bt->cur = first;
    snprintf(bt->version, sizeof bt->version, "%s", first->version);
    bt->scorer = first->scorer, bt->binary = first->binary;
    pthread_mutex_init(&bt->mu, NULL);
    pthread_cond_init(&bt->cv, NULL);
    if (pthread_create(&bt->thread, NULL, batcher_main, bt)) {
        snprintf(err, n, "cannot start the batcher thread");
        free(bt);
        return -1;
    }
    *out = bt;
    return 0;
}

bool batcher_submit(batcher *bt, job *j)
{
    pthread_mutex_lock(&bt->mu);
    if (bt->stop || bt->queued >= bt->s->o.queue_max) {
        pthread_mutex_unlock(&bt->mu);
        return false;
    }
    j->next = NULL;
    if (bt->tail)
        bt->tail->next = j;
    else
        bt->head = j;
    bt->tail = j;
    bt->queued++;
    if (bt->queued == 1 || bt->queued >= bt->s->o.batch)
        pthread_cond_signal(&bt->cv);
    pthread_mutex_unlock(&bt->mu);
    return true;
}

void batcher_swap(batcher *bt, slot *m)
{
    pthread_mutex_lock(&bt->mu);
    slot *stale = bt->next; /* two reloads before a batch: the older one never ran */
    bt->next = m;
    pthread_cond_signal(&bt->cv);
    pthread_mutex_unlock(&bt->mu);
    slot_free(stale);
}

void batcher_version(batcher *bt, char *buf, size_t n)
{
    pthread_mutex_lock(&bt->mu);
    snprintf(buf, n, "%s", bt->version);
    pthread_mutex_unlock(&bt->mu);
}

bool batcher_scorer(batcher *bt, bool *binary)
{
    pthread_mutex_lock(&bt->mu);
    const bool s = bt->scorer;
    *binary = bt->binary;
    pthread_mutex_unlock(&bt->mu);
    return s;
}

uint32_t batcher_queued(batcher *bt)
{
    pthread_mutex_lock(&bt->mu);
    const uint32_t q = bt->queued;
    pthread_mutex_unlock(&bt->mu);
    return q;
}

void batcher_stop(batcher *bt)
{
    if (!bt)
        return;
    pthread_mutex_lock(&bt->mu);
    bt->stop = true;
    pthread_cond_signal(&bt->cv);
    pthread_mutex_unlock(&bt->mu);
    pthread_join(bt->thread, NULL);
    slot_free(bt->cur);
    slot_free(bt->next);
    pthread_mutex_destroy(&bt->mu);
    pthread_cond_destroy(&bt->cv);
    free(bt);
}
