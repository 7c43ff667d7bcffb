/* nbhd.c — the sparse neighbourhood baselines: item-kNN (cosine with a
 * shrunk denominator) and RP3beta (Paudel et al. 2016, as tuned by Dacrema
 * et al. 2019), both a top-M item x item matrix W with a user's scores x_u W.
 * Counted exactly item by item, like similar.c; nothing N x N is allocated. */
#include "rec_int.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

struct sten_nbhd {
    uint32_t N;
    sten_csr W; /* N x N, row j: the items a user holding j adds W[j][i] to */
};

sten_nbhd_opts sten_nbhd_defaults(void)
{
    return (sten_nbhd_opts){.kind = STEN_NBHD_ITEMKNN, .neighbors = 100, .shrink = 10.0f,
                           .alpha = 1.0f, .beta = 0.5f};
}

static sten_status check_opts(sten_ctx *ctx, const sten_nbhd_opts *o)
{
    if ((unsigned)o->kind > STEN_NBHD_RP3BETA)
        return sten_fail(ctx, STEN_E_INVALID, "unknown neighbourhood model %d (expected itemknn "
                         "or rp3beta)", (int)o->kind);
    if (o->neighbors < 1)
        return sten_fail(ctx, STEN_E_INVALID, "neighbors must be at least 1 (got 0)");
    if (!(o->shrink >= 0.0f) || isinf(o->shrink))
        return sten_fail(ctx, STEN_E_INVALID, "shrink must be finite and >= 0 (got %g)",
                         (double)o->shrink);
    if (!(o->alpha >= 0.0f && o->alpha <= STEN_NBHD_MAX_EXPONENT))
        return sten_fail(ctx, STEN_E_INVALID, "alpha must be in [0, %g] (got %g)",
                         (double)STEN_NBHD_MAX_EXPONENT, (double)o->alpha);
    if (!(o->beta >= 0.0f && o->beta <= STEN_NBHD_MAX_EXPONENT))
        return sten_fail(ctx, STEN_E_INVALID, "beta must be in [0, %g] (got %g)",
                         (double)STEN_NBHD_MAX_EXPONENT, (double)o->beta);
    return STEN_OK;
}

/* What every item's row is computed from, shared by the threads. */
typedef struct {
    const sten_csr *X, *XT;
    const sten_nbhd_opts *o;
    const double *du;   /* rp3beta: |u|^-alpha per user */
    const double *pw_a; /* itemknn: sqrt(n_j); rp3beta: n_j^-alpha */
    const double *pw_b; /* rp3beta: n_j^-beta */
    uint32_t M;
    uint32_t *idx; /* N x M, row i best first */
    float *val;    /* N x M */
    uint32_t *count;
} rows_job;

/* Item i's top M: acc[j] over i's users' items (zero on entry and on
 * return), the items met in touched.
 *  itemknn  acc = c_ij,                v = c / (sqrt(n_i) sqrt(n_j) + shrink)
 *  rp3beta  acc = sum_u |u|^-alpha,    v = n_i^-alpha acc n_j^-beta */
static void item_row(const rows_job *a, uint32_t i, double *acc, uint32_t *touched, sten__scored *heap)
{
    const sten_csr *X = a->X, *XT = a->XT;
    const bool rp3 = a->o->kind == STEN_NBHD_RP3BETA;
    uint32_t nt = 0, n = 0;
    for (uint64_t e = XT->row_ptr[i]; e < XT->row_ptr[i + 1]; e++) {
        const uint32_t u = XT->col[e];
        const double w = rp3 ? a->du[u] : 1.0;
        for (uint64_t f = X->row_ptr[u]; f < X->row_ptr[u + 1]; f++) {
            const uint32_t j = X->col[f];
            if (acc[j] == 0.0)
                touched[nt++] = j;
            acc[j] += w;
        }
    }
    for (uint32_t q = 0; q < nt; q++) {
        const uint32_t j = touched[q];
        const double c = acc[j];
        acc[j] = 0.0;
        if (j == i)
            continue;
        const double v = rp3 ? a->pw_a[i] * c * a->pw_b[j]
                             : c / (a->pw_a[i] * a->pw_a[j] + (double)a->o->shrink);
        if (v > 0.0)
            sten__heap_offer(heap, &n, a->M, (sten__scored){(float)v, j});
    }
    a->count[i] = n;
    uint32_t *ri = a->idx + (uint64_t)i * a->M;
    float *rv = a->val + (uint64_t)i * a->M;
    sten__heap_drain(heap, n, ri, rv);
}

/* W's CSR from the rows: as they are (rp3beta: row i keeps its best M), or
 * transposed (itemknn: item i keeps its best M neighbours j, which is
 * column i; a user's scores walk rows j). Entries in each row by column. */
static sten_status build_w(sten_ctx *ctx, const rows_job *a, uint32_t N, bool transpose, sten_csr *W)
{
    uint64_t nnz = 0;
    for (uint32_t i = 0; i < N; i++)
        nnz += a->count[i];
    sten_status st = sten_csr_init(ctx, W, N, N, STEN__MAX(nnz, 1), true);
    if (st)
        return st;
    W->rows = N;
    W->cols = N;
    W->nnz = nnz;
    memset(W->row_ptr, 0, ((size_t)N + 1) * sizeof *W->row_ptr);
    for (uint32_t i = 0; i < N; i++)
        for (uint32_t r = 0; r < a->count[i]; r++)
            W->row_ptr[(transpose ? a->idx[(uint64_t)i * a->M + r] : i) + 1]++;
    for (uint32_t j = 0; j < N; j++)
        W->row_ptr[j + 1] += W->row_ptr[j];
    uint64_t *fill = sten_alloc(ctx, ((size_t)N + 1) * sizeof *fill);
    if (!fill)
        return STEN_E_NOMEM;
    memcpy(fill, W->row_ptr, ((size_t)N + 1) * sizeof *fill);
    /* i ascending, so a transposed row comes out sorted by column; a row
     * kept as it is is sorted here by insertion (M entries) */
    for (uint32_t i = 0; i < N; i++) {
        for (uint32_t r = 0; r < a->count[i]; r++) {
            const uint32_t j = a->idx[(uint64_t)i * a->M + r];
            const float v = a->val[(uint64_t)i * a->M + r];
            const uint32_t row = transpose ? j : i, col = transpose ? i : j;
            uint64_t at = fill[row]++;
            while (!transpose && at > W->row_ptr[row] && W->col[at - 1] > col) {
                W->col[at] = W->col[at - 1];
                W->val[at] = W->val[at - 1];
                at--;
            }
            W->col[at] = col;
            W->val[at] = v;
        }
    }
    sten_free(ctx, fill);
    return STEN_OK;
}

uint64_t sten_nbhd_bytes(uint32_t N, uint32_t M, int threads)
{
    const uint64_t m = STEN__MIN((uint64_t)M, N ? (uint64_t)N - 1 : 0);
    /* rows (idx, val, count) + W (row_ptr, col, val) + X^T + per thread
     * an accumulator, a touched list and a heap */
    return (uint64_t)N * m * 16 + (uint64_t)N * 12 +
           (uint64_t)STEN__MAX(threads, 1) * ((uint64_t)N * 12 + m * 8);
}

static sten_status fit_rows(sten_ctx *ctx, const sten_csr *X, const sten_csr *XT,
                            const sten_nbhd_opts *o, rows_job *a)
{
    const uint32_t N = X->cols;
    double *du = sten_alloc(ctx, (size_t)STEN__MAX(X->rows, 1) * sizeof *du);
    double *pw = sten_alloc(ctx, 2 * (size_t)STEN__MAX(N, 1) * sizeof *pw);
    if (!du || !pw) {
        sten_free(ctx, du);
        sten_free(ctx, pw);
        return STEN_E_NOMEM;
    }
    double work = 0; /* accumulator updates: sum over users of |u|^2 */
    for (uint32_t u = 0; u < X->rows; u++) {
        const double len = (double)(X->row_ptr[u + 1] - X->row_ptr[u]);
        du[u] = len > 0 ? pow(len, -(double)o->alpha) : 0.0;
        work += len * len;
    }
    for (uint32_t j = 0; j < N; j++) {
        const double nj = (double)(XT->row_ptr[j + 1] - XT->row_ptr[j]);
        const bool rp3 = o->kind == STEN_NBHD_RP3BETA;
        pw[j] = rp3 ? (nj > 0 ? pow(nj, -(double)o->alpha) : 0.0) : sqrt(nj);
        pw[N + j] = nj > 0 ? pow(nj, -(double)o->beta) : 0.0;
    }
    a->X = X, a->XT = XT, a->o = o, a->du = du, a->pw_a = pw, a->pw_b = pw + N;
    const int nt = sten__threads_for(ctx, (int64_t)STEN__MIN(work, 1e18), 1 << 14);
    const size_t per = (size_t)STEN__MAX(N, 1) * (sizeof(double) + sizeof(uint32_t)) +
                       (size_t)a->M * sizeof(sten__scored);
    char *scratch = sten_calloc(ctx, (size_t)nt, per);
    if (!scratch) {
        sten_free(ctx, du);
        sten_free(ctx, pw);
        return STEN_E_NOMEM;
    }
    sten__progress(ctx, o->kind == STEN_NBHD_RP3BETA ? "RP3beta: item rows" : "item-kNN: item rows",
                   "", 0, 0);
#pragma omp parallel num_threads(nt)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        double *acc = (double *)(scratch + (size_t)t * per);
        uint32_t *touched = (uint32_t *)(acc + STEN__MAX(N, 1));
        sten__scored *heap = (sten__scored *)(touched + STEN__MAX(N, 1));
#pragma omp for schedule(dynamic, 16)
        for (int64_t i = 0; i < (int64_t)N; i++)
            item_row(a, (uint32_t)i, acc, touched, heap);
    }
    sten_free(ctx, scratch);
    sten_free(ctx, du);
    sten_free(ctx, pw);
    return STEN_OK;
}

sten_status sten_nbhd_fit(sten_ctx *ctx, const sten_csr *X, const sten_nbhd_opts *o, sten_nbhd **out)
{
    *out = NULL;
    sten_status st = check_opts(ctx, o);
    if (!st)
        st = sten__check_unique_rows(ctx, X);
    if (st)
        return st;
    const uint32_t N = X->cols, M = STEN__MIN(o->neighbors, N ? N - 1 : 0);
    sten_log(ctx, STEN_LOG_INFO, "%s: %u items, at most %u neighbours each: needs about %.1f MiB "
             "(sparse, nothing items x items)", o->kind == STEN_NBHD_RP3BETA ? "RP3beta" : "item-kNN",
             N, M, (double)sten_nbhd_bytes(N, M, sten__threads_for(ctx, INT64_MAX, 1)) / (1 << 20));
    sten_nbhd *m = sten_calloc(ctx, 1, sizeof *m);
    if (!m)
        return STEN_E_NOMEM;
    m->N = N;
    sten_csr Xb = *X, XT = {0}; /* values ignored */
    Xb.val = NULL;
    rows_job a = {.M = STEN__MAX(M, 1)};
    a.idx = sten_alloc(ctx, (size_t)N * a.M * sizeof *a.idx);
    a.val = sten_alloc(ctx, (size_t)N * a.M * sizeof *a.val);
    a.count = sten_calloc(ctx, STEN__MAX(N, 1), sizeof *a.count);
    st = a.idx && a.val && a.count ? sten_csr_init(ctx, &XT, N, X->rows, STEN__MAX(X->nnz, 1), false)
                                   : STEN_E_NOMEM;
    if (!st)
        st = sten_csr_transpose(ctx, &Xb, &XT);
    if (!st && M > 0)
        st = fit_rows(ctx, &Xb, &XT, o, &a);
    if (!st)
        st = build_w(ctx, &a, N, o->kind == STEN_NBHD_ITEMKNN, &m->W);
    sten_free(ctx, a.idx);
    sten_free(ctx, a.val);
    sten_free(ctx, a.count);
    sten_csr_free(ctx, &XT);
    if (st) {
        sten_nbhd_free(ctx, m);
        return st;
    }
    *out = m;
    return STEN_OK;
}

void sten_nbhd_scores(sten_ctx *ctx, const sten_nbhd *m, const sten_csr *U, float *S)
{
    const sten_csr *W = &m->W;
    const uint32_t N = m->N;
    const uint64_t first = U->row_ptr[0], work = (U->row_ptr[U->rows] - first) * 100 + U->rows;
    const int nt = sten__threads_for(ctx, (int64_t)work, 1 << 12);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < (int64_t)U->rows; b++) {
        float *s = S + (uint64_t)b * N;
        memset(s, 0, (size_t)N * sizeof *s);
        for (uint64_t e = U->row_ptr[b]; e < U->row_ptr[b + 1]; e++) {
            const uint32_t j = U->col[e];
            if (j >= W->rows)
                continue;
            for (uint64_t f = W->row_ptr[j]; f < W->row_ptr[j + 1]; f++)
                s[W->col[f]] += W->val[f];
        }
    }
}

uint32_t sten_nbhd_items(const sten_nbhd *m)
{
    return m->N;
}

uint64_t sten_nbhd_nnz(const sten_nbhd *m)
{
    return m->W.nnz;
}

void sten_nbhd_free(sten_ctx *ctx, sten_nbhd *m)
{
    if (!m)
        return;
    sten_csr_free(ctx, &m->W);
    sten_free(ctx, m);
}
