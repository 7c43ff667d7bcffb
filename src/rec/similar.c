/* similar.c — item-to-item neighbours (what a serving daemon answers "more
 * like this" from): co-occurrence measures counted exactly, item by item,
 * and EASE's weights. No approximate search: the cost is the sum over users
 * of |u|^2 counter updates, or EASE's N^3 inverse. */
#include "rec_int.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* EASE's rows are read through sten_ease_scores, this many items at a time. */
enum { EASE_ROWS = 256 };

/* The heap (n items) out as a row of M slots, best first; empties it. */
static void emit(sten__scored *h, uint32_t n, uint32_t M, uint32_t *idx, float *val)
{
    sten__heap_drain(h, n, idx, val);
    for (uint32_t r = n; r < M; r++) {
        idx[r] = UINT32_MAX;
        val[r] = -INFINITY;
    }
}

sten_similar_opts sten_similar_defaults(void)
{
    return (sten_similar_opts){
        .measure = STEN_SIM_COSINE, .neighbors = 100, .min_support = 1, .shrink = 0.0f,
        .alpha = 0.5f, .lambda = 500.0f, .max_items = 40000,
    };
}

void sten_neighbors_free(sten_ctx *ctx, sten_neighbors *nb)
{
    if (!nb)
        return;
    sten_free(ctx, nb->idx);
    sten_free(ctx, nb->val);
    sten_free(ctx, nb->count);
    memset(nb, 0, sizeof *nb);
}

static sten_status check_opts(sten_ctx *ctx, const sten_similar_opts *o)
{
    if ((unsigned)o->measure > STEN_SIM_EASE)
        return sten_fail(ctx, STEN_E_INVALID, "unknown similarity measure %d (expected cosine, "
                         "jaccard, conditional or ease)", (int)o->measure);
    if (o->neighbors < 1)
        return sten_fail(ctx, STEN_E_INVALID, "neighbors must be at least 1 (got 0)");
    if (o->min_support < 1)
        return sten_fail(ctx, STEN_E_INVALID, "min_support must be at least 1 (got 0)");
    if (!(o->shrink >= 0.0f) || isinf(o->shrink))
        return sten_fail(ctx, STEN_E_INVALID, "shrink must be finite and >= 0 (got %g)",
                         (double)o->shrink);
    if (!(o->alpha >= 0.0f && o->alpha <= 1.0f))
        return sten_fail(ctx, STEN_E_INVALID, "alpha must be in [0, 1] (got %g)",
                         (double)o->alpha);
    if (!(o->lambda > 0.0f) || isinf(o->lambda))
        return sten_fail(ctx, STEN_E_INVALID, "lambda must be finite and > 0 (got %g)",
                         (double)o->lambda);
    return STEN_OK;
}

/* What one item's neighbours are computed from, shared by the threads. */
typedef struct {
    const sten_csr *X, *XT;
    const sten_similar_opts *o;
    const double *pw; /* conditional: n_j^alpha */
    sten_neighbors *out;
} cooc;

static double score(const cooc *a, uint32_t i, uint32_t j, double c)
{
    const double ni = (double)(a->XT->row_ptr[i + 1] - a->XT->row_ptr[i]);
    const double nj = (double)(a->XT->row_ptr[j + 1] - a->XT->row_ptr[j]);
    const double shrunk = c / (c + (double)a->o->shrink);
    switch (a->o->measure) {
    case STEN_SIM_JACCARD: return c / (ni + nj - c);
    case STEN_SIM_CONDITIONAL: return c / (ni * a->pw[j]) * shrunk;
    default: return c / sqrt(ni * nj) * shrunk;
    }
}

/* Item i's neighbours: count c over i's users' items in cnt (zero on entry
 * and on return), the items met listed in touched, the best M by heap. */
static void item_neighbors(const cooc *a, uint32_t i, uint32_t *cnt, uint32_t *touched, sten__scored *heap)
{
    const sten_csr *X = a->X, *XT = a->XT;
    uint32_t nt = 0, n = 0;
    for (uint64_t e = XT->row_ptr[i]; e < XT->row_ptr[i + 1]; e++) {
        const uint32_t u = XT->col[e];
        for (uint64_t f = X->row_ptr[u]; f < X->row_ptr[u + 1]; f++)
            if (!cnt[X->col[f]]++)
                touched[nt++] = X->col[f];
    }
    const uint32_t M = a->out->M;
    for (uint32_t q = 0; q < nt; q++) {
        const uint32_t j = touched[q], c = cnt[j];
        cnt[j] = 0;
        if (j != i && c >= a->o->min_support)
            sten__heap_offer(heap, &n, M, (sten__scored){(float)score(a, i, j, c), j});
    }
    a->out->count[i] = n;
    emit(heap, n, M, a->out->idx + (uint64_t)i * M, a->out->val + (uint64_t)i * M);
}

static sten_status similar_cooc(sten_ctx *ctx, const sten_csr *X, const sten_similar_opts *o,
                                sten_neighbors *out)
{
    const uint32_t N = X->cols, M = out->M;
    sten_csr XT = {0};
    double *pw = sten_alloc(ctx, (size_t)STEN__MAX(N, 1) * sizeof *pw);
    sten_status st = pw ? sten_csr_init(ctx, &XT, N, X->rows, STEN__MAX(X->nnz, 1), false) : STEN_E_NOMEM;
    if (!st)
        st = sten_csr_transpose(ctx, X, &XT);
    if (st) {
        sten_free(ctx, pw);
        sten_csr_free(ctx, &XT);
        return st;
    }
    double work = 0; /* counter updates: sum over users of |u|^2 */
    for (uint32_t u = 0; u < X->rows; u++) {
        const double len = (double)(X->row_ptr[u + 1] - X->row_ptr[u]);
        work += len * len;
    }
    for (uint32_t j = 0; j < N; j++)
        pw[j] = pow((double)(XT.row_ptr[j + 1] - XT.row_ptr[j]), (double)o->alpha);
    const int nt = sten__threads_for(ctx, (int64_t)STEN__MIN(work, 1e18), 1 << 14);
    /* per thread: a counter and a touched list over items, a heap of M */
    const size_t per = 2 * (size_t)STEN__MAX(N, 1) * sizeof(uint32_t) +
                       (size_t)STEN__MAX(M, 1) * sizeof(sten__scored);
    char *scratch = sten_calloc(ctx, (size_t)nt, per);
    if (!scratch) {
        sten_free(ctx, pw);
        sten_csr_free(ctx, &XT);
        return STEN_E_NOMEM;
    }
    const cooc a = {.X = X, .XT = &XT, .o = o, .pw = pw, .out = out};
    sten__progress(ctx, "item neighbours", "", 0, 0);
#pragma omp parallel num_threads(nt)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        uint32_t *cnt = (uint32_t *)(scratch + (size_t)t * per);
        uint32_t *touched = cnt + STEN__MAX(N, 1);
        sten__scored *heap = (sten__scored *)(touched + STEN__MAX(N, 1));
#pragma omp for schedule(dynamic, 16)
        for (int64_t i = 0; i < (int64_t)N; i++)
            item_neighbors(&a, (uint32_t)i, cnt, touched, heap);
    }
    sten_free(ctx, scratch);
    sten_free(ctx, pw);
    sten_csr_free(ctx, &XT);
    return STEN_OK;
}

/* EASE: B's rows EASE_ROWS at a time (the scores of one-item users), their
 * top M by sten_topk with the diagonal excluded, cut at the first weight
 * that is not positive. */
static sten_status similar_ease(sten_ctx *ctx, const sten_csr *X, const sten_similar_opts *o,
                                sten_neighbors *out)
{
    const uint32_t N = X->cols, M = out->M;
    sten_ease *m = NULL;
    sten_csr one = {0};
    float *S = NULL;
    sten_status st = sten_ease_fit(ctx, X, o->lambda, o->max_items, &m);
    if (!st)
        st = sten_csr_init(ctx, &one, EASE_ROWS, N, EASE_ROWS, false);
    if (!st && !(S = sten_alloc(ctx, (size_t)EASE_ROWS * N * sizeof *S)))
        st = STEN_E_NOMEM;
    for (uint32_t i0 = 0; !st && i0 < N; i0 += EASE_ROWS) {
        const uint32_t nb = STEN__MIN(EASE_ROWS, N - i0);
        sten__progress(ctx, "EASE: neighbours", "items", i0, N);
        for (uint32_t b = 0; b < nb; b++) {
            one.col[b] = i0 + b;
            one.row_ptr[b + 1] = b + 1;
        }
        one.rows = nb;
        one.nnz = nb;
        sten_ease_scores(ctx, m, &one, S);
        uint32_t *idx = out->idx + (uint64_t)i0 * M, *count = out->count + i0;
        float *val = out->val + (uint64_t)i0 * M;
        st = sten_topk(ctx, S, N, nb, N, M, &one, idx, val, count);
        for (uint32_t b = 0; !st && b < nb; b++) {
            uint32_t *ri = idx + (uint64_t)b * M;
            float *rv = val + (uint64_t)b * M;
            while (count[b] > 0 && !(rv[count[b] - 1] > 0.0f)) {
                count[b]--;
                ri[count[b]] = UINT32_MAX;
                rv[count[b]] = -INFINITY;
            }
        }
    }
    sten_free(ctx, S);
    sten_csr_free(ctx, &one);
    sten_ease_free(ctx, m);
    return st;
}

sten_status sten_similar(sten_ctx *ctx, const sten_csr *X, const sten_similar_opts *o,
                         sten_neighbors *out)
{
    memset(out, 0, sizeof *out);
    sten_status st = check_opts(ctx, o);
    if (!st && o->measure == STEN_SIM_EASE && X->cols > o->max_items)
        st = sten_fail(ctx, STEN_E_INVALID,
                       "EASE needs a dense %u x %u item matrix (%.1f GiB); the limit is max_items = %u",
                       X->cols, X->cols, (double)X->cols * X->cols * 4 / (1 << 30), o->max_items);
    if (!st)
        st = sten__check_unique_rows(ctx, X);
    if (st)
        return st;
    sten_csr Xb = *X; /* values ignored */
    Xb.val = NULL;
    const uint32_t N = X->cols;
    out->n_items = N;
    out->M = STEN__MIN(o->neighbors, N ? N - 1 : 0);
    out->idx = sten_alloc(ctx, (size_t)N * out->M * sizeof *out->idx);
    out->val = sten_alloc(ctx, (size_t)N * out->M * sizeof *out->val);
    out->count = sten_calloc(ctx, STEN__MAX(N, 1), sizeof *out->count);
    if (!out->idx || !out->val || !out->count)
        st = STEN_E_NOMEM;
    else if (out->M == 0)
        st = STEN_OK; /* a catalogue of one item (or none) has no pairs */
    else if (o->measure == STEN_SIM_EASE)
        st = similar_ease(ctx, &Xb, o, out);
    else
        st = similar_cooc(ctx, &Xb, o, out);
    if (st)
        sten_neighbors_free(ctx, out);
    return st;
}
