/* train.c — the training loop: epochs of shuffled mini-batches, learning
 * rate schedule and decay, DSSTNE's divergence guard, NaN and explosion
 * stops, validation with early stopping. Files (checkpoints, metrics) are the
 * caller's, through the epoch callback. */
#include "net_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t sten_net_examples(const sten_net *net)
{
    return net->examples;
}

uint32_t sten_net_epoch(const sten_net *net)
{
    return net->epoch;
}

const sten_net_desc *sten_net_description(const sten_net *net)
{
    return &net->desc;
}

void sten_train_desc_resolve(sten_train_desc *t)
{
    if (t->optimizer == STEN_OPT_ADAM) {
        if (!(t->set & (1u << STEN_TRAIN_MU)))
            t->mu = 0.9f;
        if (!(t->set & (1u << STEN_TRAIN_MU1)))
            t->mu1 = 0.999f;
    }
    if (t->batch_size == 0) {
        sten_net_desc d;
        sten_net_desc_defaults(&d);
        t->batch_size = d.training.batch_size;
    }
}

/* Fisher-Yates with the epoch's own stream: the order depends only on
 * (seed, epoch). */
static void shuffle(uint32_t *perm, uint64_t n, uint64_t seed, uint32_t epoch, bool enabled, int member)
{
    for (uint64_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    if (!enabled)
        return;
    sten_rng r; /* a data-parallel member shuffles its stripe with a stream of its own */
    sten_rng_init(&r, seed ^ 0x73687566666c65ull /* "shuffle" */ ^ (uint64_t)member * 0x9E3779B97F4A7C15ull,
                  epoch);
    for (uint64_t i = n; i > 1; i--) {
        const uint32_t j = sten_rng_below(&r, (uint32_t)i);
        const uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

static float scheduled_alpha(const sten_train_desc *t, uint32_t epoch)
{
    const uint32_t e = epoch - 1; /* epochs completed before this one */
    switch (t->schedule) {
    case STEN_LR_STEP:
        return t->alpha * powf(t->schedule_multiplier,
                               (float)(t->schedule_interval ? e / t->schedule_interval : 0));
    case STEN_LR_EXPONENTIAL:
        return t->alpha * powf(t->schedule_multiplier, (float)e);
    default:
        return t->alpha;
    }
}

/* Mean loss per example over the data of workspace ws, forward only. */
static sten_status evaluate(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, uint32_t *ids,
                            double *out)
{
    /* a model-parallel shard's loss is its items' share: summed below */
    double sum = 0.0;
    sten_status st = STEN_OK;
    for (uint64_t pos = 0; pos < ws->examples && !st; pos += ws->B_cap) {
        const uint32_t B = (uint32_t)STEN__MIN((uint64_t)ws->B_cap, ws->examples - pos);
        for (uint32_t b = 0; b < B; b++)
            ids[b] = (uint32_t)(pos + b);
        if (!(st = sten__net_load_batch(ctx, net, ws, ids, B, NN_EVAL))) {
            sten__net_forward(ctx, net, ws);
            if ((st = ws->fwd_st))
                break;
            sten__net_loss(ctx, net, ws);
            sum += ws->loss;
        }
    }
    if (net->comm) {
        double v[2] = {sum, st ? 1.0 : 0.0};
        const sten_status cs = net->comm->allreduce(net->comm->user, v, 2, STEN_COMM_F64, STEN_COMM_SUM);
        if (!st && (cs || v[1] > 0.0))
            st = cs ? cs : sten_fail(ctx, STEN_E_IO, "validation: another rank failed");
        sum = v[0];
    }
    *out = sum / (double)ws->examples;
    return st;
}

typedef struct {
    double avg;      /* moving average of the batch loss per example */
    uint64_t seen;   /* batches seen */
    uint32_t brake;  /* batches left at reduced rate */
} guard;

/* DSSTNE's divergence guard: after 100 warm-up batches, a batch whose loss is
 * over twice the moving average skips its update and the rate drops 10x for
 * 25 batches. Returns 1 to skip, -1 to stop (explosion), 0 to go on. */
static int guard_check(guard *g, double loss)
{
    int verdict = 0;
    if (g->seen >= 100) {
        if (loss > 1e4 * g->avg && g->avg > 0)
            return -1;
        if (loss > 2.0 * g->avg) {
            g->brake = 25;
            verdict = 1;
        }
    }
    g->avg = g->seen ? 0.9 * g->avg + 0.1 * loss : loss;
    g->seen++;
    return verdict;
}

/* Plain SGD without L1 updates weights inside back-propagation (not in
 * data-parallel training: the gradients must be summed across the group
 * before any update). */
static bool fused_sgd(const sten_train_desc *t, const sten_comm *grp)
{
    return t->optimizer == STEN_OPT_SGD && t->lambda1 == 0.0f && t->rescale_grad == 0.0f && !grp;
}

/* Data-parallel training: the group, and the sizes every member knows. */
typedef struct {
    const sten_comm *c;  /* NULL: this process alone */
    bool model;          /* model parallel (a sharded network), else data parallel */
    uint64_t n_total;    /* examples over every member */
    uint64_t n_max;      /* the most one member holds: every member runs as many batches */
    nn_rowset *rs;       /* per parameter: the group's rows of a sparse-row one, or NULL */
    uint64_t *bits;      /* scratch: one bit per row of the largest sparse-row table */
    uint32_t *before;    /* scratch: set bits in the words before each word */
    /* data parallel through the group's shared area (share_begin), or NULL */
    nn_span *span;       /* per parameter: this member's share, gm NULL if not shared */
    const float **gm;    /* every member's gradient of each shared parameter (span[i].gm) */
    float **priv;        /* per parameter: its own w, g, s1, s2, back after training */
    /* sparse-row parameters exchanged through the area (rows_shared): the
     * workspace arrays moved into this member's part for the run */
    void **moved;        /* per array: the workspace's own (n_moved of them) */
    void **mptr;         /* per member, per array: where it is now (P x n_moved) */
    uint32_t n_moved;
    volatile uint64_t *cnt; /* this member's rows of each such parameter this step */
    const volatile uint64_t **cnts; /* every member's */
    const uint32_t **rids;  /* pools of nn_span's per-member pointers */
    const float **rgs;
    uint64_t *pos;       /* the update's scratch: threads x members */
    float *rowg;         /* ... threads x the longest row */
    /* STEN_MPI_ALTERNATE (a benchmark's side-by-side on a noisy machine):
     * every other step sums the sparse-row parameters through MPI_Allreduce
     * instead, and each path's exchange and update time is kept */
    bool alternate;
    double ab_s[2];
    uint64_t ab_n[2];
} group;

static sten_status run_batches(sten_ctx *ctx, sten_net *net, const sten_train_opts *o, group *gp,
                               uint32_t epoch, uint32_t *perm, guard *g, sten_epoch_stats *es,
                               uint64_t *batches_total);
static sten_status sum_across(const sten_net *net, const group *gp);

/* One epoch; on any return the weights hold their true values (deferred
 * decay folded in), for checkpoints, validation and callers. */
static sten_status run_epoch(sten_ctx *ctx, sten_net *net, const sten_train_opts *o, group *gp,
                             uint32_t epoch, uint32_t *perm, guard *g, sten_epoch_stats *es,
                             uint64_t *batches_total)
{
    sten_status st = run_batches(ctx, net, o, gp, epoch, perm, g, es, batches_total);
    sten__net_settle(ctx, net);
    if (!st)
        es->reg = sten__weight_reg(ctx, net, o->t.lambda, o->t.lambda1);
    if (!st && gp->model) /* each shard's part */
        st = gp->c->allreduce(gp->c->user, &es->reg, 1, STEN_COMM_F64, STEN_COMM_SUM);
    return st;
}

/* A sparse-row parameter's share of a data-parallel step: the rows any
 * member's batch touched (a bitmap or-ed over the group), and their
 * gradients summed over the group, packed in ascending row order. `mine`:
 * this member had rows in the batch (its transposed input is current). */
/* A dense parameter whose gradient is zero outside some rows: the weight
 * matrix of a sparse input (rows: its items; only those in a batch get a
 * gradient). The input layer, or -1. */
static int sparse_rows_of(const sten_net *net, const nn_param *p)
{
    const nn_weight *w = p->matrix;
    return p->update == NN_UPDATE_DENSE && w && !w->transposed && w->owner == p->conn &&
                   net->layers[w->src].sparse_in
               ? (int)w->src
               : -1;
}

static sten_status sum_rows(sten_ctx *ctx, const sten_net *net, const sten_workspace *ws, group *gp,
                            uint32_t pi, bool mine)
{
    const nn_param *p = &net->params[pi];
    const sten_comm *c = gp->c;
    /* a sparse-row table, or a sparse input's dense matrix (its rows = items) */
    const int in = sparse_rows_of(net, p);
    const uint32_t K = in >= 0 ? p->matrix->cols : p->row_len, layer = in >= 0 ? (uint32_t)in : p->rows_of;
    const uint64_t R = p->n / K, words = (R + 63) / 64;
    const sten_csr *XT = &ws->buf[layer].xt;
    const uint32_t *rid = ws->buf[layer].rid;
    memset(gp->bits, 0, (size_t)words * sizeof *gp->bits);
    for (uint32_t q = 0; mine && q < XT->rows; q++)
        if (XT->row_ptr[q] != XT->row_ptr[q + 1]) {
            const uint64_t row = rid ? rid[q] : q;
            gp->bits[row >> 6] |= 1ull << (row & 63);
        }
    sten_status st = c->allreduce(c->user, gp->bits, (size_t)words, STEN_COMM_U64, STEN_COMM_BOR);
    if (st)
        return st;
    uint64_t n = 0;
    for (uint64_t w = 0; w < words; w++) {
        gp->before[w] = (uint32_t)n;
        n += (uint64_t)__builtin_popcountll(gp->bits[w]);
    }
    nn_rowset *rs = &gp->rs[pi];
    if (n > rs->cap) {
        sten_free(ctx, rs->row);
        sten_free(ctx, rs->g);
        rs->cap = 0;
        rs->row = sten_alloc(ctx, (size_t)n * sizeof *rs->row);
        rs->g = sten_alloc(ctx, (size_t)(n * K) * sizeof *rs->g);
        if (!rs->row || !rs->g)
            return STEN_E_NOMEM;
        rs->cap = n;
    }
    rs->n = n;
    for (uint64_t w = 0, k = 0; w < words; w++)
        for (uint64_t b = gp->bits[w]; b; b &= b - 1)
            rs->row[k++] = (uint32_t)(w * 64 + (uint64_t)__builtin_ctzll(b));
    memset(rs->g, 0, (size_t)(n * K) * sizeof *rs->g);
    const uint32_t *grows;
    const float *gbase = sten__param_grad(net, ws, pi, &grows);
    for (uint32_t q = 0; mine && q < XT->rows; q++)
        if (XT->row_ptr[q] != XT->row_ptr[q + 1]) {
            const uint64_t row = rid ? rid[q] : q, w = row >> 6;
            const uint64_t at = gp->before[w] + (uint64_t)__builtin_popcountll(gp->bits[w] & ((1ull << (row & 63)) - 1));
            memcpy(rs->g + at * K, gbase + (grows ? (uint64_t)q * K : row * K), (size_t)K * sizeof *rs->g);
        }
    if ((st = c->allreduce(c->user, rs->g, (size_t)(n * K), STEN_COMM_F32, STEN_COMM_SUM)) || in < 0)
        return st;
    /* the dense matrix: the sums back in place; every other row is 0 on every member */
    for (uint64_t k = 0; k < n; k++)
        memcpy(p->g + (uint64_t)rs->row[k] * K, rs->g + k * K, (size_t)K * sizeof *p->g);
    return STEN_OK;
}

/* Sums every parameter's gradient over the group: dense ones in place,
 * sparse-row ones into their row sets; those in the shared area are summed
 * by the update (each member its share). */
static sten_status sum_gradients(sten_ctx *ctx, const sten_net *net, const sten_workspace *ws, group *gp,
                                 bool mine)
{
    sten_status st = STEN_OK;
    for (uint32_t i = 0; i < net->n_params && !st; i++) {
        const nn_param *p = &net->params[i];
        if (gp->span && (gp->span[i].gm || (gp->span[i].rid && !gp->span[i].via_mpi)))
            continue;
        st = p->update == NN_UPDATE_ROWS || sparse_rows_of(net, p) >= 0
                 ? sum_rows(ctx, net, ws, gp, i, mine)
                 : gp->c->allreduce(gp->c->user, p->g, (size_t)p->n, STEN_COMM_F32, STEN_COMM_SUM);
    }
    return st;
}

static sten_status run_batches(sten_ctx *ctx, sten_net *net, const sten_train_opts *o, group *gp,
                               uint32_t epoch, uint32_t *perm, guard *g, sten_epoch_stats *es,
                               uint64_t *batches_total)
{
    const sten_train_desc *t = &o->t;
    sten_workspace *ws = net->ws;
    const uint64_t n = net->examples, B = ws->B_cap; /* this member's */
    const bool dp = gp->c && !gp->model;
    const uint64_t n_all = dp ? gp->n_total : n;
    const uint64_t batches = ((dp ? gp->n_max : n) + B - 1) / B;
    const double t0 = now_s();
    double sum = 0.0;
    net->epoch = epoch;
    shuffle(perm, n, net->seed, epoch, net->desc.shuffle_indices, dp ? gp->c->rank : 0);
    memset(es, 0, sizeof *es);
    es->epoch = epoch;
    float alpha = 0.0f;
    for (uint64_t bi = 0; bi < batches; bi++) {
        /* a member whose stripe has run out takes part with no rows */
        const uint32_t Bn = bi * B < n ? (uint32_t)STEN__MIN(B, n - bi * B) : 0;
        sten_status st = STEN_OK;
        if (Bn && !(st = sten__net_load_batch(ctx, net, ws, perm + bi * B, Bn, NN_TRAIN))) {
            sten__net_forward(ctx, net, ws);
            if (!(st = ws->fwd_st))
                sten__net_loss(ctx, net, ws);
        }
        /* the group's loss and rows, and whether any member failed */
        /* split by tables, every member computes the whole loss: rank 0's counts */
        const bool count = !(net->tables && gp->c->rank != 0);
        double v[3] = {Bn && !st && count ? ws->loss : 0.0, (double)Bn, st ? 1.0 : 0.0};
        const sten_status cs = gp->c ? gp->c->allreduce(gp->c->user, v, 3, STEN_COMM_F64, STEN_COMM_SUM)
                                     : STEN_OK;
        if (st || cs)
            return st ? st : cs;
        if (v[2] > 0.0)
            return sten_fail(ctx, STEN_E_IO, "epoch %u, batch %llu: another rank failed; training stopped",
                             epoch, (unsigned long long)bi + 1);
        const uint64_t rows = gp->model ? Bn : (uint64_t)v[1]; /* model parallel: every member has the batch */
        const double loss = v[0], per = loss / (double)rows;
        if (!isfinite(loss))
            return sten_fail(ctx, STEN_E_NUMERIC,
                             "epoch %u, batch %llu: the loss is %s; training stopped (lower the "
                             "learning rate -alpha, or check the data)",
                             epoch, (unsigned long long)bi + 1, isnan(loss) ? "NaN" : "infinite");
        const int verdict = guard_check(g, per);
        if (verdict < 0)
            return sten_fail(ctx, STEN_E_NUMERIC,
                             "epoch %u, batch %llu: the loss exploded (%.6g per example, moving "
                             "average %.6g); training stopped (lower the learning rate -alpha)",
                             epoch, (unsigned long long)bi + 1, per, g->avg);
        sum += loss;
        alpha = scheduled_alpha(t, epoch) / (1.0f + net->desc.decay * (float)*batches_total);
        if (g->brake) {
            alpha *= 0.1f;
            g->brake--;
        }
        if (verdict == 0) {
            const nn_fuse fz = {alpha, t->lambda};
            if (Bn) {
                sten__net_backward_fused(ctx, net, ws, fused_sgd(t, dp ? gp->c : NULL) ? &fz : NULL);
                if (ws->fwd_st) /* a group sum of a delta failed */
                    return ws->fwd_st;
            }
            else /* nothing of this member's in the batch: its part of the sums is 0 */
                for (uint32_t i = 0; i < net->n_params; i++)
                    if (net->params[i].update == NN_UPDATE_DENSE)
                        memset(net->params[i].g, 0, (size_t)net->params[i].n * sizeof(float));
            const bool mpi_step = gp->alternate && (bi & 1);
            for (uint32_t i = 0; gp->alternate && i < net->n_params; i++)
                gp->span[i].via_mpi = gp->span[i].rid && mpi_step;
            const double ab0 = now_s();
            if (dp && (st = sum_gradients(ctx, net, ws, gp, Bn > 0)))
                return st;
            /* shared: every member's gradients written before any member
             * sums them, and every share updated before the next forward */
            for (uint32_t i = 0; gp->cnt && i < net->n_params; i++) /* the rows this member touched */
                if (gp->span[i].rid)
                    gp->cnt[i] = Bn ? ws->buf[net->params[i].rows_of].xt.rows : 0;
            if (gp->span && ((st = gp->c->node->barrier(gp->c->node->user)) || (st = sum_across(net, gp))))
                return st;
            sten__optim_step(ctx, net, ws, t, alpha, rows, dp ? gp->rs : NULL, gp->span);
            gp->ab_s[mpi_step] += now_s() - ab0, gp->ab_n[mpi_step]++;
            if (gp->span && (st = gp->c->node->barrier(gp->c->node->user)))
                return st;
        } else {
            es->skipped++;
        }
        (*batches_total)++;
        if (o->progress && o->progress_every && ((bi + 1) % o->progress_every == 0 || bi + 1 == batches)) {
            const uint64_t done = STEN__MIN(n_all, (bi + 1) * B * (dp ? (uint64_t)gp->c->size : 1));
            sten_train_progress p = {epoch, bi + 1, batches, done, sum / (double)done,
                                     now_s() - t0, alpha};
            o->progress(o->user, &p);
        }
    }
    if (gp->alternate && gp->c->rank == 0)
        sten_log(ctx, STEN_LOG_INFO, "epoch %u: sums and update %.3f ms a step with the sparse rows through shared "
                 "memory (%llu steps), %.3f ms through MPI_Allreduce (%llu steps)", epoch,
                 gp->ab_s[0] * 1e3 / (double)STEN__MAX(gp->ab_n[0], 1), (unsigned long long)gp->ab_n[0],
                 gp->ab_s[1] * 1e3 / (double)STEN__MAX(gp->ab_n[1], 1), (unsigned long long)gp->ab_n[1]);
    gp->ab_s[0] = gp->ab_s[1] = 0.0, gp->ab_n[0] = gp->ab_n[1] = 0;
    es->loss = sum / (double)n_all;
    es->seconds = now_s() - t0;
    es->examples_per_s = (double)n_all / (es->seconds > 0 ? es->seconds : 1e-9);
    es->alpha = alpha;
    es->valid_loss = es->valid_recall = es->valid_ndcg = NAN;
    return STEN_OK;
}

/* FNV-1a over 8-byte words in four interleaved lanes, so the multiplies'
 * latencies overlap, the tail byte by byte. Only compared between ranks,
 * never stored. At an epoch's end on DLRM's 166 MB of tables: 8-13 ms a
 * rank, against 189 ms byte by byte (AMD EPYC). */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint64_t prime = 1099511628211ull;
    const unsigned char *b = p;
    uint64_t lane[4] = {h, h ^ 1, h ^ 2, h ^ 3};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            uint64_t w;
            memcpy(&w, b + i + 8 * (size_t)k, sizeof w);
            lane[k] = (lane[k] ^ w) * prime;
        }
    for (int k = 0; k < 4; k++)
        h = (h ^ lane[k]) * prime;
    for (; i < n; i++)
        h = (h ^ b[i]) * prime;
    return h;
}

/* Whether every member holds the same value (a hash). */
static sten_status agree(const sten_comm *c, uint64_t v, bool *same)
{
    uint64_t lo = v, hi = v;
    sten_status st = c->allreduce(c->user, &lo, 1, STEN_COMM_U64, STEN_COMM_MIN);
    if (!st)
        st = c->allreduce(c->user, &hi, 1, STEN_COMM_U64, STEN_COMM_MAX);
    *same = lo == hi;
    return st;
}

/* A data-parallel start: the same network and settings on every member
 * (checked), this member's share of each batch, the group's sizes. */
static sten_status group_start(sten_ctx *ctx, sten_net *net, const sten_train_opts *o, group *gp)
{
    const sten_comm *c = gp->c;
    const uint32_t P = (uint32_t)c->size;
    uint64_t sig = fnv(14695981039346656037ull, &net->n_params, sizeof net->n_params);
    for (uint32_t i = 0; i < net->n_params; i++) /* a model-parallel shard's blocks differ */
        if (!sten__param_sharded(net, i))
            sig = fnv(sig, &net->params[i].n, sizeof net->params[i].n);
    if (gp->model) /* every member sees every example */
        sig = fnv(sig, &net->examples, sizeof net->examples);
    const uint32_t first = o->first_epoch;
    const float set[] = {o->t.alpha, o->t.lambda, o->t.lambda1, o->t.mu, o->t.mu1};
    sig = fnv(sig, &o->t.batch_size, sizeof o->t.batch_size);
    sig = fnv(sig, &o->t.epochs, sizeof o->t.epochs);
    sig = fnv(sig, &o->t.optimizer, sizeof o->t.optimizer);
    sig = fnv(sig, &o->t.seed, sizeof o->t.seed);
    sig = fnv(sig, &first, sizeof first);
    sig = fnv(sig, set, sizeof set);
    bool same;
    sten_status st = agree(c, sig, &same);
    if (!st && !same)
        return sten_fail(ctx, STEN_E_INVALID, "the %u ranks were not started alike: their networks or training "
                         "settings differ (give every rank the same config, model and options)", P);
    if (st || gp->model)
        return st;
    if (o->t.batch_size % P != 0)
        return sten_fail(ctx, STEN_E_INVALID, "data-parallel training over %u ranks needs a batch size that is "
                         "a multiple of %u (each rank takes batch / %u examples of every batch); have %u",
                         P, P, P, o->t.batch_size);
    uint64_t total = net->examples, most = net->examples;
    if (!st)
        st = c->allreduce(c->user, &total, 1, STEN_COMM_U64, STEN_COMM_SUM);
    if (!st)
        st = c->allreduce(c->user, &most, 1, STEN_COMM_U64, STEN_COMM_MAX);
    gp->n_total = total;
    gp->n_max = most;
    if (!st && total > UINT32_MAX)
        st = sten_fail(ctx, STEN_E_INVALID, "training needs 1 to 2^32-1 examples (have %llu over %u ranks)",
                       (unsigned long long)total, P);
    if (st)
        return st;
    uint64_t words = 0; /* the sparse-row tables' and sparse inputs' scratch */
    for (uint32_t i = 0; i < net->n_params; i++) {
        const nn_param *p = &net->params[i];
        if (p->update == NN_UPDATE_ROWS)
            words = STEN__MAX(words, (p->n / p->row_len + 63) / 64);
        else if (sparse_rows_of(net, p) >= 0)
            words = STEN__MAX(words, ((uint64_t)p->matrix->rows + 63) / 64);
    }
    if (words && (!(gp->rs = sten_calloc(ctx, net->n_params, sizeof *gp->rs)) ||
                  !(gp->bits = sten_alloc(ctx, (size_t)words * sizeof *gp->bits)) ||
                  !(gp->before = sten_alloc(ctx, (size_t)words * sizeof *gp->before))))
        return STEN_E_NOMEM;
    return STEN_OK;
}

/* Data parallel on one machine (the group offers a shared area): every
 * dense parameter whose aliases the network knows (a connection's own
 * matrix, or its bias) moves there for the run: its weights and optimizer
 * state once, each member's gradient in that member's part. A step's
 * update then reads both members' gradients where they were written and
 * each member updates its 1/P of every such parameter in place: no
 * gradient crosses a wire, and each member runs 1/P of the update (with
 * MPI_Allreduce, every member summed all of it and ran the whole update). */
static bool shareable(const sten_net *net, const nn_param *p)
{
    if (p->update != NN_UPDATE_DENSE || !p->g || p->conn < 0 || (uint32_t)p->conn >= net->n_weights)
        return false;
    const nn_weight *w = &net->weights[p->conn];
    return (p->w == w->b && p->g == w->gb) ||
           (w->owner == p->conn && p->matrix == w && p->w == w->W && p->g == w->gW);
}

/* Every alias of the array `from` (weights, gradient or optimizer state)
 * becomes `to`. */
static void repoint(sten_net *net, const float *from, float *to)
{
    if (!from)
        return;
    for (uint32_t k = 0; k < net->n_weights + net->n_params; k++) {
        nn_weight *w = k < net->n_weights ? &net->weights[k] : NULL;
        nn_param *p = w ? NULL : &net->params[k - net->n_weights];
        float **slot[4] = {w ? &w->W : &p->w, w ? &w->gW : &p->g, w ? &w->b : &p->s1, w ? &w->gb : &p->s2};
        for (int j = 0; j < 4; j++)
            if (*slot[j] == from)
                *slot[j] = to;
    }
}

/* A sparse-row parameter whose members' touched rows and gradients go
 * through the area instead of two MPI_Allreduce calls (a bit set of the
 * rows, then their gradients) and their copies: its gradient kept per
 * touched row (a compact transpose's), on one machine (several sum across
 * machines through MPI). Every member still updates every touched row of
 * its own copy, as with the MPI sums. */
static bool rows_shared(const sten_net *net, const group *gp, uint32_t i)
{
    const nn_param *p = &net->params[i];
    const sten_workspace *ws = net->ws;
    return !gp->c->across && p->update == NN_UPDATE_ROWS && p->n && i < ws->n_pgrad && ws->pgrad[i] &&
           ws->buf[p->rows_of].rid;
}

/* Which parameters every member of the machine can exchange so (1 or 0
 * each): whether a transpose is compact follows the bound on a batch's
 * entries, which each member takes from its own stripe of the data. */
static sten_status rows_agree(sten_ctx *ctx, const sten_net *net, const group *gp, const sten_comm *c, double **ok)
{
    double *v = sten_calloc(ctx, (size_t)net->n_params + 1, sizeof *v);
    double short_of = !v;
    sten_status st = c->allreduce(c->user, &short_of, 1, STEN_COMM_F64, STEN_COMM_SUM);
    for (uint32_t i = 0; !st && !short_of && i < net->n_params; i++)
        v[i] = !shareable(net, &net->params[i]) && rows_shared(net, gp, i);
    if (!st && !short_of)
        st = c->allreduce(c->user, v, net->n_params, STEN_COMM_F64, STEN_COMM_MIN);
    if (st || short_of) {
        sten_free(ctx, v);
        return st ? st : STEN_E_NOMEM;
    }
    *ok = v;
    return STEN_OK;
}

/* The index of the workspace array `b` (of `units` 4-byte units) among the
 * moved ones, added when new. */
static uint32_t moved_index(group *gp, void *b, uint64_t units, uint64_t *mlen)
{
    for (uint32_t j = 0; j < gp->n_moved; j++)
        if (gp->moved[j] == b)
            return j;
    mlen[gp->n_moved] = units;
    gp->moved[gp->n_moved] = b;
    return gp->n_moved++;
}

/* Every workspace alias of the array `from` (a compact transpose's rows, a
 * parameter's rows' gradient) becomes `to`. */
static void repoint_ws(sten_workspace *ws, const sten_net *net, const void *from, void *to)
{
    for (uint32_t l = 0; l < net->n_layers; l++)
        if (ws->buf[l].rid == from)
            ws->buf[l].rid = (uint32_t *)to;
    for (uint32_t i = 0; i < ws->n_pgrad; i++)
        if (ws->pgrad[i] == from)
            ws->pgrad[i] = (float *)to;
}

static uint64_t al16(uint64_t n) /* floats, to whole cache lines */
{
    return (n + 15) & ~(uint64_t)15;
}

/* An array's room in the shared area: whole cache lines, plus 17 more, so
 * that the arrays one update streams through together (weights, state,
 * the members' gradients) do not start at the same offset in a 4 KiB page */
static uint64_t room(uint64_t n)
{
    return al16(n) + 17 * 16;
}

static void share_free(sten_ctx *ctx, group *gp)
{
    void *own[] = {gp->span, gp->gm, gp->priv, gp->moved, gp->mptr, gp->cnts, gp->rids, gp->rgs, gp->pos, gp->rowg};
    for (size_t k = 0; k < sizeof own / sizeof *own; k++)
        sten_free(ctx, own[k]);
    gp->span = NULL, gp->gm = NULL, gp->priv = NULL, gp->moved = NULL, gp->mptr = NULL, gp->cnts = NULL;
    gp->rids = NULL, gp->rgs = NULL, gp->pos = NULL, gp->rowg = NULL, gp->cnt = NULL, gp->n_moved = 0;
}

static sten_status share_begin(sten_ctx *ctx, sten_net *net, group *gp)
{
    const sten_comm *c = gp->c && !gp->model ? gp->c->node : NULL; /* this machine's members */
    if (!c || !c->shared || !c->barrier || c->size < 2)
        return STEN_OK;
    for (uint32_t k = 0; k < net->n_weights; k++)
        if (net->layers[net->weights[k].dst].d->weight_norm > 0.0f)
            return STEN_OK; /* rescales whole columns after the update: each member keeps all of it */
    sten_workspace *ws = net->ws;
    double *ok;
    sten_status st = rows_agree(ctx, net, gp, c, &ok);
    if (st)
        return st;
    uint64_t common = 0, grads = 0; /* floats */
    uint32_t n_sh = 0, n_rows = 0, kmax = 0;
    double cap = 0.0; /* the most entries a member's batch gives a sparse input */
    for (uint32_t i = 0; i < net->n_params; i++) {
        const nn_param *p = &net->params[i];
        if (shareable(net, p)) {
            common += room(p->n) + (p->s1 ? room(p->s_n) : 0) + (p->s2 ? room(p->s_n) : 0);
            grads += room(p->n);
            n_sh++;
        } else if (ok[i] > 0.0) {
            n_rows++;
            kmax = STEN__MAX(kmax, p->row_len);
            cap = STEN__MAX(cap, (double)ws->buf[p->rows_of].xt.cap);
        }
    }
    if (!n_sh && !n_rows) {
        sten_free(ctx, ok);
        return STEN_OK;
    }
    st = n_rows ? c->allreduce(c->user, &cap, 1, STEN_COMM_F64, STEN_COMM_MAX) : STEN_OK;
    if (st) {
        sten_free(ctx, ok);
        return st;
    }
    const uint32_t P = (uint32_t)c->size, me = (uint32_t)c->rank, T = (uint32_t)STEN__MAX(1, ctx->threads);
    void **seg = sten_calloc(ctx, P, sizeof *seg);
    uint64_t *mlen = sten_calloc(ctx, 2 * (size_t)n_rows + 1, sizeof *mlen);
    gp->span = sten_calloc(ctx, net->n_params, sizeof *gp->span);
    gp->gm = sten_calloc(ctx, (size_t)n_sh * P + 1, sizeof *gp->gm);
    gp->priv = sten_calloc(ctx, (size_t)net->n_params * 4, sizeof *gp->priv);
    gp->moved = sten_calloc(ctx, 2 * (size_t)n_rows + 1, sizeof *gp->moved);
    gp->mptr = sten_calloc(ctx, (2 * (size_t)n_rows + 1) * P, sizeof *gp->mptr);
    gp->cnts = sten_calloc(ctx, P, sizeof *gp->cnts);
    gp->rids = sten_calloc(ctx, (size_t)n_rows * P + 1, sizeof *gp->rids);
    gp->rgs = sten_calloc(ctx, (size_t)n_rows * P + 1, sizeof *gp->rgs);
    gp->pos = sten_calloc(ctx, (size_t)T * P, sizeof *gp->pos);
    gp->rowg = sten_calloc(ctx, (size_t)T * kmax + 1, sizeof *gp->rowg);
    gp->n_moved = 0;
    /* the arrays moved: each such input's compact transpose's rows and each
     * parameter's gradient rows, in this member's part after its header of
     * row counts (one per parameter) */
    uint64_t extra = al16(2 * (uint64_t)net->n_params);
    for (uint32_t i = 0; gp->moved && mlen && i < net->n_params; i++)
        if (ok[i] > 0.0) {
            const nn_param *p = &net->params[i];
            moved_index(gp, ws->buf[p->rows_of].rid, (uint64_t)cap, mlen);
            moved_index(gp, ws->pgrad[i], (uint64_t)cap * p->row_len, mlen);
        }
    for (uint32_t j = 0; j < gp->n_moved; j++)
        extra += room(mlen[j]);
    double short_of = !seg || !mlen || !gp->span || !gp->gm || !gp->priv || !gp->moved || !gp->mptr || !gp->cnts ||
                      !gp->rids || !gp->rgs || !gp->pos || !gp->rowg; /* members that could not: all give up alike */
    st = gp->c->allreduce(gp->c->user, &short_of, 1, STEN_COMM_F64, STEN_COMM_SUM);
    if (st || short_of > 0.0) {
        sten_free(ctx, seg);
        sten_free(ctx, mlen);
        sten_free(ctx, ok);
        share_free(ctx, gp);
        return st ? st : STEN_E_NOMEM;
    }
    const uint64_t bytes = (((me == 0 ? common : 0) + 80 * (me % 8) + grads + extra) * sizeof(float) + 4095) &
                           ~(uint64_t)4095;
    /* a machine without room for the area (its ranks agree on that): every
     * machine sums through MPI_Allreduce instead */
    double refused = c->shared(c->user, (size_t)bytes, seg) != STEN_OK;
    const double mapped = !refused;
    if ((st = gp->c->allreduce(gp->c->user, &refused, 1, STEN_COMM_F64, STEN_COMM_SUM)) || refused > 0.0) {
        if (mapped)
            c->shared(c->user, 0, NULL);
        sten_free(ctx, seg);
        sten_free(ctx, mlen);
        sten_free(ctx, ok);
        share_free(ctx, gp);
        return st;
    }
    for (uint32_t m = 0; m < P; m++) {
        float *base = (float *)seg[m] + (m == 0 ? common : 0) + 80 * (m % 8) + grads; /* staggered, as room() */
        gp->cnts[m] = (const volatile uint64_t *)base;
        for (uint64_t j = 0, off = al16(2 * (uint64_t)net->n_params); j < gp->n_moved; off += room(mlen[j]), j++)
            gp->mptr[(size_t)m * gp->n_moved + j] = base + off; /* 64-byte aligned: any element type */
    }
    gp->cnt = (volatile uint64_t *)gp->cnts[me];
    for (uint32_t i = 0; i < net->n_params; i++)
        gp->cnt[i] = 0;
    float *cw = seg[0];
    uint64_t co = 0, go = 0;
    for (uint32_t i = 0, j = 0; i < net->n_params; i++) {
        nn_param *p = &net->params[i];
        if (!shareable(net, p))
            continue;
        float **keep = gp->priv + 4 * (size_t)i;
        keep[0] = p->w, keep[1] = p->g, keep[2] = p->s1, keep[3] = p->s2;
        float *w = cw + co, *s1 = NULL, *s2 = NULL;
        co += room(p->n);
        if (p->s1)
            s1 = cw + co, co += room(p->s_n);
        if (p->s2)
            s2 = cw + co, co += room(p->s_n);
        const float **gm = gp->gm + (size_t)j++ * P;
        /* (only the dense ones here; the sparse-row ones below) */
        for (uint32_t m = 0; m < P; m++)
            gm[m] = (float *)seg[m] + (m == 0 ? common : 0) + 80 * (m % 8) + go; /* staggered, as room() */
        go += room(p->n);
        if (me == 0) { /* rank 0's values are everybody's, as after group_converge */
            memcpy(w, p->w, (size_t)p->n * sizeof *w);
            if (s1)
                memcpy(s1, p->s1, (size_t)p->s_n * sizeof *s1);
            if (s2)
                memcpy(s2, p->s2, (size_t)p->s_n * sizeof *s2);
        }
        /* this member's share, in whole cache lines */
        const uint64_t lo = STEN__MIN(p->n, al16(p->n * me / P)), hi = STEN__MIN(p->n, al16(p->n * (me + 1) / P));
        gp->span[i] = (nn_span){.lo = lo, .hi = me + 1 == P ? p->n : hi, .gm = gm, .members = P,
                                .summed = gp->c->across != NULL};
        repoint(net, keep[0], w);
        repoint(net, keep[1], (float *)gm[me]);
        repoint(net, keep[2], s1);
        repoint(net, keep[3], s2);
    }
    for (uint32_t i = 0, k = 0; i < net->n_params; i++) {
        const nn_param *p = &net->params[i];
        if (ok[i] <= 0.0)
            continue;
        const uint32_t a = moved_index(gp, ws->buf[p->rows_of].rid, 0, mlen);
        const uint32_t b = moved_index(gp, ws->pgrad[i], 0, mlen);
        const uint32_t **rid = gp->rids + (size_t)k * P;
        const float **rg = gp->rgs + (size_t)k * P;
        k++;
        for (uint32_t m = 0; m < P; m++) {
            rid[m] = gp->mptr[(size_t)m * gp->n_moved + a];
            rg[m] = gp->mptr[(size_t)m * gp->n_moved + b];
        }
        gp->span[i] = (nn_span){.members = P, .rid = rid, .rg = rg, .cnt = gp->cnts, .pos = gp->pos,
                                .rowg = gp->rowg, .kmax = kmax};
    }
    for (uint32_t j = 0; j < gp->n_moved; j++)
        repoint_ws(ws, net, gp->moved[j], gp->mptr[(size_t)me * gp->n_moved + j]);
    const char *alt = getenv("STEN_MPI_ALTERNATE");
    double both = n_rows && alt && strcmp(alt, "0") != 0; /* every rank takes the same path each step */
    st = gp->c->allreduce(gp->c->user, &both, 1, STEN_COMM_F64, STEN_COMM_MAX);
    gp->alternate = both > 0.0;
    sten_free(ctx, seg);
    sten_free(ctx, mlen);
    sten_free(ctx, ok);
    sten__net_changed(net);
    const sten_comm *x = gp->c->across;
    char across[96] = "";
    if (x)
        snprintf(across, sizeof across, " (its machine's gradients, then that share over the %d machines "
                 "through MPI_Allreduce)", x->size);
    char rows[128] = "";
    if (n_rows)
        snprintf(rows, sizeof rows, "; %u sparse-row parameters' touched rows and gradients read there by every "
                 "rank", n_rows);
    if (gp->c->rank == 0 && n_sh)
        sten_log(ctx, STEN_LOG_INFO, "data parallel: %u parameters' weights and optimizer state (%llu MB) in "
                 "shared memory on each machine, each rank sums and updates 1/%u of them%s%s", n_sh,
                 (unsigned long long)(common * sizeof(float) >> 20), P, across, rows);
    else if (gp->c->rank == 0)
        sten_log(ctx, STEN_LOG_INFO, "data parallel:%s", rows + 1);
    return st ? st : c->barrier(c->user); /* rank 0's copies in place before anybody reads them */
}

/* Several machines: this member's share of each shared parameter summed
 * over its machine's members (in member order) into its own gradient,
 * then over the machines. The other members read only their own shares
 * of this member's gradient. */
static sten_status sum_across(const sten_net *net, const group *gp)
{
    const sten_comm *x = gp->c->across;
    sten_status st = STEN_OK;
    for (uint32_t i = 0; x && i < net->n_params && !st; i++) {
        const nn_span *sp = &gp->span[i];
        if (!sp->gm)
            continue;
        float *g = net->params[i].g;
        enum { BLK = 2048 };
        float acc[BLK];
        for (uint64_t a = sp->lo; a < sp->hi; a += BLK) {
            const uint64_t len = STEN__MIN(BLK, sp->hi - a);
            sten__sum_members(acc, sp->gm, sp->members, a, len);
            memcpy(g + a, acc, (size_t)len * sizeof *acc);
        }
        st = x->allreduce(x->user, g + sp->lo, (size_t)(sp->hi - sp->lo), STEN_COMM_F32, STEN_COMM_SUM);
    }
    return st;
}

/* The end of a run: the shared parameters' values back in the network's
 * own arrays, and the area released (collective; after a failure, the
 * area stays until the next or the process ends, as a member that failed
 * may not come here). */
static sten_status share_end(sten_ctx *ctx, sten_net *net, group *gp, sten_status st)
{
    if (!gp->span)
        return st;
    const sten_comm *c = gp->c->node;
    if (!st)
        st = c->barrier(c->user);
    for (uint32_t i = 0; i < net->n_params; i++) {
        nn_param *p = &net->params[i];
        if (!gp->span[i].gm)
            continue;
        float **keep = gp->priv + 4 * (size_t)i;
        memcpy(keep[0], p->w, (size_t)p->n * sizeof *p->w);
        if (keep[2])
            memcpy(keep[2], p->s1, (size_t)p->s_n * sizeof *p->s1);
        if (keep[3])
            memcpy(keep[3], p->s2, (size_t)p->s_n * sizeof *p->s2);
        memset(keep[1], 0, (size_t)p->n * sizeof *p->g);
        float *const shared[4] = {p->w, p->g, p->s1, p->s2};
        for (int a = 0; a < 4; a++)
            repoint(net, shared[a], keep[a]);
    }
    const uint32_t me = (uint32_t)c->rank;
    for (uint32_t j = 0; j < gp->n_moved; j++)
        repoint_ws(net->ws, net, gp->mptr[(size_t)me * gp->n_moved + j], gp->moved[j]);
    sten__net_changed(net);
    if (!st)
        st = c->barrier(c->user); /* nobody reads the area any more */
    if (!st)
        st = c->shared(c->user, 0, NULL);
    share_free(ctx, gp);
    return st;
}

/* After an epoch: every member must hold the same weights. Sums taken by
 * the group are the same bits everywhere in practice, but nothing obliges
 * an implementation to it: where the members drifted apart, rank 0's
 * weights and optimizer state are everybody's. */
static sten_status group_converge(sten_ctx *ctx, sten_net *net, const sten_comm *c)
{
    uint64_t h = 14695981039346656037ull; /* of what every member holds alike */
    for (uint32_t i = 0; i < net->n_params; i++)
        if (!sten__param_sharded(net, i))
            h = fnv(h, net->params[i].w, (size_t)net->params[i].n * sizeof(float));
    bool same;
    sten_status st = agree(c, h, &same);
    if (st || same)
        return st;
    sten_log(ctx, STEN_LOG_DEBUG, "the ranks' weights differ in their last bits: rank 0's are taken");
    for (uint32_t i = 0; i < net->n_params && !st; i++) {
        nn_param *p = &net->params[i];
        if (sten__param_sharded(net, i))
            continue;
        st = c->bcast(c->user, p->w, (size_t)p->n * sizeof(float), 0);
        if (!st && p->s1)
            st = c->bcast(c->user, p->s1, (size_t)p->s_n * sizeof(float), 0);
        if (!st && p->s2)
            st = c->bcast(c->user, p->s2, (size_t)p->s_n * sizeof(float), 0);
    }
    sten__net_changed(net);
    return st;
}

/* Whether any member failed (st != OK here, or elsewhere): a member that
 * did not gets "another rank failed". */
static sten_status group_status(sten_ctx *ctx, const sten_comm *c, sten_status st, uint32_t epoch)
{
    char msg[96];
    if (epoch == 0)
        snprintf(msg, sizeof msg, "another rank failed before training started");
    else
        snprintf(msg, sizeof msg, "epoch %u: another rank failed; training stopped", epoch);
    return sten__group_verdict(ctx, c, st, msg);
}

sten_status sten_net_train(sten_ctx *ctx, sten_net *net, const sten_train_opts *o)
{
    if (net->int8)
        return sten_fail(ctx, STEN_E_INVALID, "int8 precision is for inference; train in fp32 or bf16 "
                                              "and score the model in int8");
    if (net->examples == 0 || net->examples > UINT32_MAX)
        return sten_fail(ctx, STEN_E_INVALID, "training needs 1 to 2^32-1 examples (have %llu)",
                         (unsigned long long)net->examples);
    /* state restored by a resume is kept; a fresh run or a new optimizer starts at zero */
    sten_status st = net->opt_state == (int)o->t.optimizer ? STEN_OK
                                                          : sten__optim_alloc(ctx, net, o->t.optimizer);
    if (st)
        return st;
    bool has_output = false;
    for (uint32_t i = 0; i < net->n_layers; i++)
        has_output |= net->layers[i].kind == STEN_LAYER_OUTPUT;
    if (!has_output) /* nothing to compare against: every loss would be 0 */
        return sten_fail(ctx, STEN_E_INVALID, "%s: the network has no Output layer, so there is nothing to "
                         "train against (a layer with \"Kind\": \"Output\" and a DataSet)", net->desc.source);
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        if ((L->kind == STEN_LAYER_INPUT || L->kind == STEN_LAYER_OUTPUT) && L->ds < 0)
            return sten_fail(ctx, STEN_E_NOTFOUND,
                             "%s layer \"%s\": DataSet \"%s\" is not in the data files",
                             L->kind == STEN_LAYER_INPUT ? "input" : "output", L->d->name,
                             L->d->dataset);
    }
    /* the batch size is the training settings' (the model records it): the
     * network's own workspace is made for it if it was built for another */
    if (o->t.batch_size == 0)
        return sten_fail(ctx, STEN_E_INVALID, "batch size must be at least 1");
    if ((o->parallel == STEN_PARALLEL_MODEL) != (net->comm != NULL))
        return sten_fail(ctx, STEN_E_INVALID, net->comm ? "a network built by sten_net_build_sharded trains with "
                         "parallel MODEL" : "model-parallel training needs a network from sten_net_build_sharded");
    group gp = {net->comm                                                                  ? net->comm
                : o->comm && o->comm->size > 1 && o->parallel == STEN_PARALLEL_DATA ? o->comm
                                                                                      : NULL,
                net->comm != NULL, net->examples, net->examples, NULL, NULL, NULL, NULL, NULL, NULL,
                NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, false, {0, 0}, {0, 0}};
    if (gp.c)
        st = group_start(ctx, net, o, &gp);
    if (!st)
        st = sten__net_set_batch(ctx, net, o->t.batch_size / (gp.c && !gp.model ? (uint32_t)gp.c->size : 1));
    if (!st) {
        net->desc.training = o->t;
        st = sten__net_alloc_grads(ctx, net, !fused_sgd(&o->t, gp.c && !gp.model ? gp.c : NULL));
    }
    /* validation: a workspace of its own over the validation datasets */
    sten_workspace *valid = NULL;
    sten_dataset *vds = NULL; /* model parallel: this shard's columns of the validation data */
    bool *vsliced = NULL;
    if (!st && o->valid && net->comm)
        st = sten__shard_datasets(ctx, &net->desc, net->comm, o->valid, o->n_valid, &vds, &vsliced);
    if (!st && o->valid)
        st = sten__ws_new_on(ctx, net, vds ? vds : o->valid, o->n_valid, "validation data", net->ws->B_cap, &valid);
    uint32_t *perm = NULL, *ids = NULL;
    if (!st && (!(perm = sten_alloc(ctx, (size_t)net->examples * sizeof *perm)) ||
                !(ids = sten_alloc(ctx, (size_t)net->ws->B_cap * sizeof *ids))))
        st = STEN_E_NOMEM;
    if (gp.c) /* the group starts together, or not at all */
        st = group_status(ctx, gp.c, st, 0);
    if (!st)
        st = share_begin(ctx, net, &gp);
    net->seed = o->t.seed;
    guard g = {0};
    uint64_t batches_total = (uint64_t)(o->first_epoch > 1 ? o->first_epoch - 1 : 0) *
                             ((gp.n_max + net->ws->B_cap - 1) / net->ws->B_cap);
    /* the best epoch by o->select: its weights kept aside for keep_best */
    const bool by_rank = o->select != STEN_SELECT_LOSS;
    double best = by_rank ? -INFINITY : INFINITY;
    uint32_t since_best = 0, best_epoch = 0;
    float **kept = NULL;
    if (!st && valid && (o->rank_k || by_rank)) {
        if (!o->rank_k || o->rank_k > 100000)
            st = sten_fail(ctx, STEN_E_INVALID, "selecting on a ranking metric needs rank_k of 1 to 100000 "
                           "(have %u)", o->rank_k);
        else if (gp.model)
            st = sten_fail(ctx, STEN_E_UNSUPPORTED, "ranking metrics on validation data are not computed "
                           "in model-parallel training (each rank holds part of the items)");
    }
    if (!st && valid && o->keep_best) {
        if (!(kept = sten_calloc(ctx, net->n_params, sizeof *kept)))
            st = STEN_E_NOMEM;
        for (uint32_t i = 0; !st && i < net->n_params; i++)
            if (!(kept[i] = sten_alloc(ctx, (size_t)net->params[i].n * sizeof(float))))
                st = STEN_E_NOMEM;
    }
    for (uint32_t e = o->first_epoch ? o->first_epoch : 1; e <= o->t.epochs && !st; e++) {
        sten_epoch_stats es;
        st = run_epoch(ctx, net, o, &gp, e, perm, &g, &es, &batches_total);
        if (!st && gp.c)
            st = group_converge(ctx, net, gp.c);
        es.best = false;
        if (!st && valid) {
            st = evaluate(ctx, net, valid, ids, &es.valid_loss);
            if (!st && o->rank_k)
                st = sten__rank_validation(ctx, net, valid, o->rank_k, &es.valid_recall, &es.valid_ndcg);
            const double v = o->select == STEN_SELECT_RECALL ? es.valid_recall
                             : o->select == STEN_SELECT_NDCG ? es.valid_ndcg : es.valid_loss;
            if (!st && (by_rank ? v > best : v < best)) {
                best = v;
                since_best = 0;
                best_epoch = e;
                es.best = true;
                for (uint32_t i = 0; kept && i < net->n_params; i++)
                    memcpy(kept[i], net->params[i].w, (size_t)net->params[i].n * sizeof(float));
            } else {
                since_best++;
            }
        }
        if (!st && o->epoch_done)
            st = o->epoch_done(o->user, net, &es);
        if (gp.c) /* every member ends each epoch here, so all stop together */
            st = group_status(ctx, gp.c, st, e);
        if (!st && o->patience && since_best >= o->patience) {
            sten_log(ctx, STEN_LOG_INFO, "early stop after epoch %u: no better validation %s for %u epochs",
                     e, o->select == STEN_SELECT_RECALL ? "recall" : o->select == STEN_SELECT_NDCG ? "NDCG" : "loss",
                     since_best);
            break;
        }
    }
    st = share_end(ctx, net, &gp, st);
    if (!st && kept && best_epoch) { /* the best epoch's weights (the same on every member) */
        for (uint32_t i = 0; i < net->n_params; i++)
            memcpy(net->params[i].w, kept[i], (size_t)net->params[i].n * sizeof(float));
        sten__net_changed(net);
        sten_log(ctx, STEN_LOG_INFO, "kept the weights of epoch %u, the best on validation", best_epoch);
    }
    for (uint32_t i = 0; kept && i < net->n_params; i++)
        sten_free(ctx, kept[i]);
    sten_free(ctx, kept);
    sten_free(ctx, perm);
    sten_free(ctx, ids);
    sten_workspace_free(ctx, valid);
    sten__shard_datasets_free(ctx, vds, vsliced, o->n_valid);
    if (gp.rs)
        for (uint32_t i = 0; i < net->n_params; i++) {
            sten_free(ctx, gp.rs[i].row);
            sten_free(ctx, gp.rs[i].g);
        }
    sten_free(ctx, gp.rs);
    sten_free(ctx, gp.bits);
    sten_free(ctx, gp.before);
    return st;
}
