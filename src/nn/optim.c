/* optim.c — parameter updates: SGD, Momentum, Nesterov, AdaGrad, RMSProp,
 * AdaDelta, Adam with DSSTNE's parameter names (alpha, mu, mu1, lambda,
 * lambda1), L2/L1 regularisation on weights only, and WeightNorm. Gradients
 * arrive as sums over the batch; the update uses their mean. */
#include "net_int.h"

#include <math.h>
#include <string.h>

bool sten__optim_has(sten_optimizer o, int a)
{
    return a == 0 || (a == 1 && o != STEN_OPT_SGD) || (a == 2 && (o == STEN_OPT_ADADELTA || o == STEN_OPT_ADAM));
}

static bool needs_s1(sten_optimizer o)
{
    return o != STEN_OPT_SGD;
}

static bool needs_s2(sten_optimizer o)
{
    return o == STEN_OPT_ADADELTA || o == STEN_OPT_ADAM;
}

sten_status sten__optim_alloc(sten_ctx *ctx, sten_net *net, sten_optimizer opt)
{
    for (uint32_t i = 0; i < net->n_params; i++) {
        nn_param *p = &net->params[i];
        sten_free(ctx, p->s1);
        sten_free(ctx, p->s2);
        p->s1 = p->s2 = NULL;
        p->s_n = opt == STEN_OPT_ADAGRAD && p->row_wise ? p->n / p->row_len : p->n;
        if (p->n == 0) /* another member's table: no state here */
            continue;
        if ((needs_s1(opt) && !(p->s1 = sten_calloc(ctx, (size_t)p->s_n, sizeof(float)))) ||
            (needs_s2(opt) && !(p->s2 = sten_calloc(ctx, (size_t)p->s_n, sizeof(float)))))
            return STEN_E_NOMEM;
    }
    net->opt_state = (int)opt;
    return STEN_OK;
}

typedef struct {
    sten_optimizer opt;
    float alpha, mu, mu1, lambda, lambda1, inv_B;
    float adam_c1, adam_c2; /* bias corrections 1 - beta^t */
    float eps;
} upd;

/* One parameter array. g holds batch sums (plus h's where h is given: two
 * members' gradients summed as they are read); lambda/lambda1 are 0 for
 * biases. One loop per optimizer so each is a straight vectorisable body;
 * inlined into the two below, where h is NULL or not at compile time. */
#define GRAD(i) ((h ? g[i] + h[i] : g[i]) * ib + lam * w[i] + lam1 * (float)((w[i] > 0.0f) - (w[i] < 0.0f)))
static inline __attribute__((always_inline)) void
update_body(const upd *u, float *restrict w, const float *restrict g, const float *restrict h,
            float *restrict s1, float *restrict s2, uint64_t n)
{
    const float a = u->alpha, mu = u->mu, mu1 = u->mu1, ib = u->inv_B;
    const float lam = u->lambda, lam1 = u->lambda1, c1 = u->adam_c1, c2 = u->adam_c2, eps = u->eps;
    switch (u->opt) {
    case STEN_OPT_SGD:
        for (uint64_t i = 0; i < n; i++)
            w[i] -= a * GRAD(i);
        break;
    case STEN_OPT_MOMENTUM:
        for (uint64_t i = 0; i < n; i++) {
            s1[i] = mu * s1[i] - a * GRAD(i);
            w[i] += s1[i];
        }
        break;
    case STEN_OPT_NESTEROV:
        for (uint64_t i = 0; i < n; i++) {
            const float v = s1[i];
            s1[i] = mu * v - a * GRAD(i);
            w[i] += s1[i] + mu * (s1[i] - v);
        }
        break;
    case STEN_OPT_ADAGRAD:
        for (uint64_t i = 0; i < n; i++) {
            const float gi = GRAD(i);
            s1[i] += gi * gi;
            w[i] -= a * gi / sqrtf(s1[i] > 1e-9f ? s1[i] : 1e-9f);
        }
        break;
    case STEN_OPT_RMSPROP:
        for (uint64_t i = 0; i < n; i++) {
            const float gi = GRAD(i);
            s1[i] = mu * s1[i] + (1.0f - mu) * gi * gi;
            w[i] -= a * gi / sqrtf(s1[i] > 1e-9f ? s1[i] : 1e-9f);
        }
        break;
    case STEN_OPT_ADADELTA:
        for (uint64_t i = 0; i < n; i++) {
            const float gi = GRAD(i);
            s1[i] = mu * s1[i] + (1.0f - mu) * gi * gi;
            const float num = s2[i] > 1e-9f ? s2[i] : 1e-9f, den = s1[i] > 1e-9f ? s1[i] : 1e-9f;
            const float d = sqrtf(num / den) * gi;
            s2[i] = mu * s2[i] + (1.0f - mu) * d * d;
            w[i] -= d;
        }
        break;
    case STEN_OPT_ADAM:
        for (uint64_t i = 0; i < n; i++) {
            const float gi = GRAD(i);
            s1[i] = mu * s1[i] + (1.0f - mu) * gi;
            s2[i] = mu1 * s2[i] + (1.0f - mu1) * gi * gi;
            w[i] -= a * (s1[i] / c1) / (sqrtf(s2[i] / c2) + eps);
        }
        break;
    }
}
#undef GRAD

STEN__SIMD_CLONES
static void update_range(const upd *u, float *restrict w, const float *restrict g,
                         float *restrict s1, float *restrict s2, uint64_t n)
{
    update_body(u, w, g, NULL, s1, s2, n);
}

/* The update from the sum of two gradients, g + h, read together. */
STEN__SIMD_CLONES
static void update_range2(const upd *u, float *restrict w, const float *restrict g, const float *restrict h,
                          float *restrict s1, float *restrict s2, uint64_t n)
{
    update_body(u, w, g, h, s1, s2, n);
}

/* Splits one array over threads; each element is updated independently, so
 * the result does not depend on the split. */
static void update(sten_ctx *ctx, const upd *u, float *w, const float *g, float *s1, float *s2,
                   uint64_t n)
{
    const int nt = sten__threads_for(ctx, (int64_t)n, 1 << 16);
    const uint64_t chunk = (n + (uint64_t)nt - 1) / (uint64_t)nt;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; t++) {
        const uint64_t lo = (uint64_t)t * chunk, hi = STEN__MIN(n, lo + chunk);
        if (lo < hi)
            update_range(u, w + lo, g + lo, s1 ? s1 + lo : NULL, s2 ? s2 + lo : NULL, hi - lo);
    }
}

/* WeightNorm c: each output unit's incoming weight vector (a column of the
 * input-major matrix) is rescaled to length c if longer. */
static void weight_norm(nn_weight *w, float c)
{
    double *ss = (double *)w->gW; /* gradient is spent: reuse as scratch */
    const uint32_t R = w->rows, C = w->cols;
    if ((uint64_t)R * C * sizeof(float) < (uint64_t)C * sizeof(double))
        return; /* too small to hold the scratch; a 1 x C matrix is its own norm */
    memset(ss, 0, (size_t)C * sizeof *ss);
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t o = 0; o < C; o++)
            ss[o] += (double)w->W[(uint64_t)r * C + o] * w->W[(uint64_t)r * C + o];
    for (uint32_t o = 0; o < C; o++)
        ss[o] = ss[o] > (double)c * c ? c / sqrt(ss[o]) : 1.0;
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t o = 0; o < C; o++)
            w->W[(uint64_t)r * C + o] *= (float)ss[o];
}

static upd make_upd(const sten_train_desc *t, uint64_t step, float alpha, float lambda,
                    float lambda1, float inv_B);

void sten__optim_update(sten_ctx *ctx, const sten_train_desc *t, uint64_t step, float alpha,
                        float lambda, float lambda1, float clip, float inv_B, float *w,
                        float *g, float *s1, float *s2, uint64_t n)
{
    const upd u = make_upd(t, step, alpha, lambda, lambda1, inv_B);
    if (clip > 0.0f) { /* clip the mean gradient: the sums at clip * B */
        const float c = clip / inv_B;
        for (uint64_t i = 0; i < n; i++)
            g[i] = g[i] > c ? c : g[i] < -c ? -c : g[i];
    }
    update(ctx, &u, w, g, s1, s2, n);
}

static upd make_upd(const sten_train_desc *t, uint64_t step, float alpha, float lambda,
                    float lambda1, float inv_B)
{
    upd u = {.opt = t->optimizer, .alpha = alpha, .mu = t->mu, .mu1 = t->mu1, .inv_B = inv_B,
             .lambda = lambda, .lambda1 = lambda1, .eps = t->eps > 0.0f ? t->eps : 1e-8f};
    if (u.opt == STEN_OPT_ADAM) {
        u.adam_c1 = 1.0f - powf(t->mu, (float)step);
        u.adam_c2 = 1.0f - powf(t->mu1, (float)step);
        if (u.adam_c2 <= 0.0f) /* beta2 = 0: no averaging, no correction needed */
            u.adam_c2 = 1.0f;
    }
    return u;
}

/* Row-wise AdaGrad on one row of K: one accumulator s for the row, grown
 * by the mean of its squared gradients. */
static void adagrad_row(const upd *u, float *w, const float *g, float *s, uint32_t K)
{
    const float ib = u->inv_B, lam = u->lambda, lam1 = u->lambda1;
    double ss = 0.0;
    for (uint32_t f = 0; f < K; f++) {
        const float gi = g[f] * ib + lam * w[f] + lam1 * (float)((w[f] > 0.0f) - (w[f] < 0.0f));
        ss += (double)gi * gi;
    }
    *s += (float)(ss / K);
    const float step = u->alpha / sqrtf(*s > 1e-9f ? *s : 1e-9f);
    for (uint32_t f = 0; f < K; f++)
        w[f] -= step * (g[f] * ib + lam * w[f] + lam1 * (float)((w[f] > 0.0f) - (w[f] < 0.0f)));
}

/* One row of a sparse-row parameter from its gradient g (clipped at c > 0
 * first). */
static void update_row(const upd *u, nn_param *p, uint64_t row, float *g, float c)
{
    const uint32_t K = p->row_len;
    const uint64_t o = row * K;
    if (c > 0.0f)
        for (uint32_t f = 0; f < K; f++)
            g[f] = g[f] > c ? c : g[f] < -c ? -c : g[f];
    if (p->row_wise && u->opt == STEN_OPT_ADAGRAD)
        adagrad_row(u, p->w + o, g, p->s1 + row, K);
    else
        update_range(u, p->w + o, g, p->s1 ? p->s1 + o : NULL, p->s2 ? p->s2 + o : NULL, K);
}

/* Asks for a row's weights and optimizer state (the first line of each):
 * the rows of a large table are scattered over more than the caches. */
static void prefetch_row(const nn_param *p, const upd *u, uint64_t row)
{
    const uint64_t at = row * p->row_len;
    __builtin_prefetch(p->w + at, 1);
    if (p->s1)
        __builtin_prefetch(p->s1 + (p->row_wise && u->opt == STEN_OPT_ADAGRAD ? row : at), 1);
    if (p->s2)
        __builtin_prefetch(p->s2 + at, 1);
}

/* Only the rows of p that this batch touched (the non-empty rows of its
 * sparse input's transpose): absent rows keep their values and optimizer
 * state and are not decayed. Rows are independent, so the split over
 * threads is free. */
static void update_rows(sten_ctx *ctx, const sten_net *net, const sten_workspace *ws, const upd *u,
                        uint32_t pi, float c, bool alone)
{
    nn_param *p = &net->params[pi];
    const sten_csr *XT = &ws->buf[p->rows_of].xt;
    const uint32_t *rid = ws->buf[p->rows_of].rid; /* a compact transpose's rows, or NULL */
    const uint32_t *grows;
    float *gbase = sten__param_grad(net, ws, pi, &grows); /* grows: kept per compact row */
    const uint32_t K = p->row_len;
    const int nt = alone ? 1 : sten__threads_for(ctx, (int64_t)XT->nnz * K, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 64)
    for (uint32_t q = 0; q < XT->rows; q++) {
        if (rid && q + 8 < XT->rows) /* 8 ahead */
            prefetch_row(p, u, rid[q + 8]);
        if (XT->row_ptr[q] == XT->row_ptr[q + 1])
            continue;
        const uint64_t row = rid ? rid[q] : q;
        update_row(u, p, row, gbase + (grows ? (uint64_t)q * K : row * K), c);
    }
}

/* The same over a data-parallel group's row set: the rows any member
 * touched, with their summed gradients. */
static void update_row_set(sten_ctx *ctx, nn_param *p, const upd *u, const nn_rowset *rs, float c)
{
    const uint32_t K = p->row_len;
    const int nt = sten__threads_for(ctx, (int64_t)rs->n * K, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (uint64_t k = 0; k < rs->n; k++) {
        if (k + 8 < rs->n)
            prefetch_row(p, u, rs->row[k + 8]);
        update_row(u, p, rs->row[k], rs->g + k * K, c);
    }
}

/* The same over the rows any member of a machine touched, read from the
 * shared area (nn_span's rid): each member's rows ascend, so the threads
 * take ranges of row ids and merge the members' lists over theirs; a row's
 * gradients are summed in member order. */
static void update_rows_shared(sten_ctx *ctx, nn_param *p, const upd *u, const nn_span *sp, uint32_t pi, float c)
{
    const uint32_t K = p->row_len, P = sp->members;
    const uint64_t R = p->n / K;
    uint64_t total = 0;
    for (uint32_t m = 0; m < P; m++)
        total += sp->cnt[m][pi];
    const int nt = sten__threads_for(ctx, (int64_t)(total * K), 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        const uint64_t r0 = R * (uint64_t)t / (uint64_t)nt, r1 = R * (uint64_t)(t + 1) / (uint64_t)nt;
        uint64_t *at = sp->pos + (size_t)t * P;
        float *g = sp->rowg + (size_t)t * sp->kmax;
        for (uint32_t m = 0; m < P; m++) { /* each list's first row >= r0 */
            const uint32_t *rid = sp->rid[m];
            uint64_t lo = 0, hi = sp->cnt[m][pi];
            while (lo < hi) {
                const uint64_t mid = (lo + hi) / 2;
                if (rid[mid] < r0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            at[m] = lo;
        }
        for (;;) {
            uint64_t row = r1;
            for (uint32_t m = 0; m < P; m++) {
                const uint64_t n = sp->cnt[m][pi];
                if (at[m] < n && sp->rid[m][at[m]] < row)
                    row = sp->rid[m][at[m]];
                /* each list's row 8 ahead */
                if (at[m] + 8 < n && sp->rid[m][at[m] + 8] < r1)
                    prefetch_row(p, u, sp->rid[m][at[m] + 8]);
            }
            if (row >= r1)
                break;
            bool first = true;
            for (uint32_t m = 0; m < P; m++) {
                if (at[m] >= sp->cnt[m][pi] || sp->rid[m][at[m]] != row)
                    continue;
                const float *gm = sp->rg[m] + at[m]++ * K;
                for (uint32_t f = 0; f < K; f++)
                    g[f] = first ? gm[f] : g[f] + gm[f];
                first = false;
            }
            update_row(u, p, row, g, c);
        }
    }
}

void sten__sum_members(float *out, const float *const *gm, uint32_t members, uint64_t at, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++)
        out[i] = gm[0][at + i];
    for (uint32_t m = 1; m < members; m++)
        for (uint64_t i = 0; i < len; i++)
            out[i] += gm[m][at + i];
}

/* A shared parameter's share (nn_span), from the sum of the members'
 * gradients in member order. Two members (one machine's pair): both read
 * inside the update's loop. More, or clipping: summed block by block into
 * a block of this thread's own, which the update reads while it is in
 * cache. The members' arrays are left as they are. */
static void update_shared(sten_ctx *ctx, const upd *u, const nn_param *p, const nn_span *sp, float clip_sum)
{
    enum { BLK = 2048 };
    const uint64_t n = sp->hi - sp->lo, nb = (n + BLK - 1) / BLK;
    const int nt = sten__threads_for(ctx, (int64_t)n, 1 << 16);
    if (sp->members == 2 && clip_sum <= 0.0f) {
        const uint64_t chunk = (n + (uint64_t)nt - 1) / (uint64_t)nt, lo = sp->lo;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
        for (int t = 0; t < nt; t++) {
            const uint64_t a = lo + (uint64_t)t * chunk, e = STEN__MIN(sp->hi, a + chunk);
            if (a < e)
                update_range2(u, p->w + a, sp->gm[0] + a, sp->gm[1] + a, p->s1 ? p->s1 + a : NULL,
                              p->s2 ? p->s2 + a : NULL, e - a);
        }
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (uint64_t b = 0; b < nb; b++) {
        float g[BLK] __attribute__((aligned(64)));
        const uint64_t a = sp->lo + b * BLK, len = STEN__MIN(BLK, sp->hi - a);
        sten__sum_members(g, sp->gm, sp->members, a, len);
        if (clip_sum > 0.0f)
            for (uint64_t i = 0; i < len; i++)
                g[i] = g[i] > clip_sum ? clip_sum : g[i] < -clip_sum ? -clip_sum : g[i];
        update_range(u, p->w + a, g, p->s1 ? p->s1 + a : NULL, p->s2 ? p->s2 + a : NULL, len);
    }
}

/* A plain sparse-row update small enough for one thread (a DLRM table's
 * batch rows): those go one parameter a thread, together, where each in
 * turn split its ~2,000 rows over the threads and the threads met after
 * every table. Each row is updated alone either way: the same values. */
static bool row_update_small(const sten_net *net, const sten_workspace *ws, uint32_t i, const nn_rowset *rs,
                             const nn_span *span)
{
    const nn_param *p = &net->params[i];
    return p->n && p->update == NN_UPDATE_ROWS && !(p->matrix && p->matrix->fused) && !rs &&
           !(span && span[i].rid && !span[i].via_mpi) &&
           (uint64_t)ws->buf[p->rows_of].xt.nnz * p->row_len <= (1u << 16);
}

/* p's learning rate and decays: its own where set, else the run's. */
static void param_rates(const sten_train_desc *t, const nn_param *p, float alpha, float *a, float *l2, float *l1)
{
    *a = isnan(p->lr) ? alpha : alpha * p->lr;
    *l2 = isnan(p->l2) ? t->lambda : p->l2;
    *l1 = isnan(p->l1) ? t->lambda1 : p->l1;
}

void sten__optim_step(sten_ctx *ctx, sten_net *net, const sten_workspace *ws, const sten_train_desc *t,
                      float alpha, uint64_t rows, const nn_rowset *rs, const nn_span *span)
{
    net->step++;
    const float ib = t->rescale_grad > 0.0f ? t->rescale_grad : 1.0f / (float)rows;
    uint32_t small = 0;
    for (uint32_t i = 0; i < net->n_params; i++)
        small += row_update_small(net, ws, i, rs, span);
    const bool together = small >= 2 && sten_ctx_threads(ctx) > 1;
    if (together) {
#pragma omp parallel for num_threads(STEN__MIN(sten_ctx_threads(ctx), (int)small)) schedule(dynamic, 1)
        for (uint32_t i = 0; i < net->n_params; i++) {
            if (!row_update_small(net, ws, i, rs, span))
                continue;
            const nn_param *p = &net->params[i];
            float a, l2, l1;
            param_rates(t, p, alpha, &a, &l2, &l1);
            const upd u = make_upd(t, net->step, a, l2, l1, ib);
            update_rows(ctx, net, ws, &u, i, p->clip > 0.0f ? p->clip / ib : 0.0f, true);
        }
    }
    /* in reverse order, as DSSTNE; the order does not change results */
    for (uint32_t i = net->n_params; i-- > 0;) {
        nn_param *p = &net->params[i];
        nn_weight *m = p->matrix;
        if (p->n == 0) /* another member's table */
            continue;
        if (m && m->fused) { /* already updated during back-propagation */
            m->fused = false;
        } else if (together && row_update_small(net, ws, i, rs, span)) {
            /* updated above */
        } else {
            float a, l2, l1;
            param_rates(t, p, alpha, &a, &l2, &l1);
            const float c_sum = p->clip > 0.0f ? p->clip / ib : 0.0f; /* the clip on batch sums */
            if (p->update == NN_UPDATE_ROWS) {
                const upd u = make_upd(t, net->step, a, l2, l1, ib);
                if (span && span[i].rid && !span[i].via_mpi)
                    update_rows_shared(ctx, p, &u, &span[i], i, c_sum);
                else if (rs)
                    update_row_set(ctx, p, &u, &rs[i], c_sum);
                else
                    update_rows(ctx, net, ws, &u, i, c_sum, false);
            } else if (span && span[i].gm && span[i].summed) {
                const uint64_t lo = span[i].lo;
                sten__optim_update(ctx, t, net->step, a, l2, l1, p->clip, ib, p->w + lo, p->g + lo,
                                   p->s1 ? p->s1 + lo : NULL, p->s2 ? p->s2 + lo : NULL, span[i].hi - lo);
            } else if (span && span[i].gm) {
                const upd u = make_upd(t, net->step, a, l2, l1, ib);
                update_shared(ctx, &u, p, &span[i], c_sum);
            } else {
                sten__optim_update(ctx, t, net->step, a, l2, l1, p->clip, ib, p->w, p->g, p->s1, p->s2,
                                   p->n);
            }
        }
        const float c = m ? net->layers[m->dst].d->weight_norm : 0.0f;
        if (c > 0.0f)
            weight_norm(m, c);
    }
}

/* The penalty over w[0..n), summed in blocks of 2^16 weights (each block in
 * order, the blocks' sums in order): the same value for any thread count. */
static double reg_of(const float *w, uint64_t n, float lambda, float lambda1, int nt)
{
    enum { BLK = 1 << 16, GROUP = 64 };
    const uint64_t nb = (n + BLK - 1) / BLK;
    double r = 0.0;
    for (uint64_t g0 = 0; g0 < nb; g0 += GROUP) {
        double part[GROUP];
        const int64_t m = (int64_t)STEN__MIN((uint64_t)GROUP, nb - g0);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t q = 0; q < m; q++) {
            const uint64_t i0 = (g0 + (uint64_t)q) * BLK, i1 = STEN__MIN(n, i0 + BLK);
            double s = 0.0;
            for (uint64_t i = i0; i < i1; i++)
                s += 0.5 * lambda * (double)w[i] * w[i] + lambda1 * fabs((double)w[i]);
            part[q] = s;
        }
        for (int64_t q = 0; q < m; q++)
            r += part[q];
    }
    return r;
}

double sten__weight_reg(sten_ctx *ctx, const sten_net *net, float lambda, float lambda1)
{
    if (lambda == 0.0f && lambda1 == 0.0f)
        return 0.0;
    double r = 0.0;
    for (uint32_t i = 0; i < net->n_params; i++) {
        const nn_param *p = &net->params[i];
        /* a model-parallel shard counts its blocks, and rank 0 the rest */
        if (p->reg && (!net->comm || net->comm->rank == 0 || sten__param_sharded(net, i)))
            r += reg_of(p->w, p->n, lambda, lambda1, sten__threads_for(ctx, (int64_t)p->n, 1 << 16));
    }
    return r;
}
