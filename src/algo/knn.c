/* knn.c — SageMaker's k-NN: an index of training rows (a seeded reservoir
 * sample, optionally reduced by a sign projection or a fast JL transform),
 * searched exactly (blocked SGEMM scores fed to the chunked top-k of
 * src/core/topk.c) or over inverted lists whose coarse quantizer is sten's
 * k-means, holding the points (IVFFlat) or their residuals product-
 * quantized (IVFPQ, scanned through per-query distance tables); the
 * classifier's vote and the regressor's mean on top. */
#include "algo_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define QBLOCK 512  /* query rows per search block */

sten_knn_opts sten_knn_defaults(void)
{
    return (sten_knn_opts){.feature_dim = 0, .k = 0, .predictor_type = STEN_KNN_CLASSIFIER, .sample_size = 0,
                           .dimension_reduction_type = STEN_KNN_REDUCE_NONE, .dimension_reduction_target = 0,
                           .index_type = STEN_KNN_FLAT, .index_metric = STEN_KNN_L2, .ivf_nlists = 0, .pq_m = 0,
                           .mini_batch_size = 5000, .seed = 12134};
}

void sten_knn_free(sten_ctx *ctx, sten_knn *m)
{
    if (!m)
        return;
    sten_free(ctx, m->points), sten_free(ctx, m->labels), sten_free(ctx, m->rows);
    sten_free(ctx, m->projection), sten_free(ctx, m->centroids), sten_free(ctx, m->list_start);
    sten_free(ctx, m->norms), sten_free(ctx, m->pq_centroids), sten_free(ctx, m->codes);
    memset(m, 0, sizeof *m);
}

sten_status sten_knn_sign_matrix(sten_ctx *ctx, uint32_t dim, uint32_t target, uint64_t seed, float *R)
{
    if (dim == 0 || target == 0)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: a sign projection needs dim and target >= 1 (got %u, %u)", dim,
                         target);
    sten_rng r;
    sten_rng_init(&r, seed, 0x6b6e6e7369676eull); /* "knnsign" */
    const float s = 1.0f / sqrtf((float)target);
    for (uint64_t i = 0; i < (uint64_t)target * dim; i++)
        R[i] = sten_rng_below(&r, 2) ? s : -s;
    return STEN_OK;
}

sten_status sten_knn_fjlt_matrix(sten_ctx *ctx, uint32_t dim, uint32_t target, uint64_t seed, float *R)
{
    if (dim == 0 || target == 0 || target > dim)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: an fjlt needs 1 <= target <= dim (got dim %u, target %u)", dim,
                         target);
    uint64_t order = 1;
    while (order < dim)
        order <<= 1;
    uint32_t *rows = sten_alloc(ctx, (size_t)order * sizeof *rows);
    float *sign = sten_alloc(ctx, (size_t)dim * sizeof *sign);
    if (!rows || !sign) {
        sten_free(ctx, rows), sten_free(ctx, sign);
        return STEN_E_NOMEM;
    }
    sten_rng r;
    sten_rng_init(&r, seed, 0x6b6e6e666a6c74ull); /* "knnfjlt" */
    for (uint32_t c = 0; c < dim; c++)
        sign[c] = sten_rng_below(&r, 2) ? 1.0f : -1.0f;
    for (uint64_t i = 0; i < order; i++) /* target of the order rows, by a partial shuffle */
        rows[i] = (uint32_t)i;
    for (uint32_t t = 0; t < target; t++) {
        const uint32_t j = t + sten_rng_below(&r, (uint32_t)(order - t));
        const uint32_t x = rows[t];
        rows[t] = rows[j];
        rows[j] = x;
    }
    /* sqrt(order / target) * H[row][c] / sqrt(order) * sign[c]: H's entry is (-1)^popcount(row & c) */
    const float s = 1.0f / sqrtf((float)target);
    for (uint32_t t = 0; t < target; t++)
        for (uint32_t c = 0; c < dim; c++)
            R[(uint64_t)t * dim + c] = (__builtin_popcount(rows[t] & c) & 1 ? -s : s) * sign[c];
    sten_free(ctx, rows), sten_free(ctx, sign);
    return STEN_OK;
}

uint32_t sten_knn_nprobe(const sten_knn *m, uint32_t nprobe)
{
    if (!m->nlists)
        return 0;
    const uint32_t p = nprobe ? nprobe : STEN__MAXU(1u, m->nlists / 16);
    return p < m->nlists ? p : m->nlists;
}

/* Rows X (B x dim) into the index's space, Y (B x index_dim): projected,
 * and of unit length for COSINE (a zero row stays zero). */
static void prepare(sten_ctx *ctx, const sten_knn *m, const float *X, uint64_t B, float *Y)
{
    const uint32_t d = m->index_dim;
    if (m->projection)
        sten__gemm_blas(ctx, STEN_NO_TRANS, STEN_TRANS, (int64_t)B, d, m->dim, 1.0f, X, m->dim, m->projection,
                        m->dim, 0.0f, Y, d);
    else if (Y != X)
        memcpy(Y, X, B * d * sizeof *Y);
    if (m->opts.index_metric != STEN_KNN_COSINE)
        return;
    for (uint64_t i = 0; i < B; i++) {
        float *y = Y + i * d;
        double s = 0;
        for (uint32_t j = 0; j < d; j++)
            s += (double)y[j] * y[j];
        const float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (uint32_t j = 0; s > 0 && j < d; j++)
            y[j] *= inv;
    }
}

/* ------------------------------------------------------------ exact top-k */

typedef struct {
    sten__topk_acc *acc;
    int64_t chunk0, j0; /* the block's first chunk and column in the whole row */
} block_arg;

static void on_chunk(void *arg, int64_t chunk, int64_t j0, int64_t j1, float *c, int64_t ldc)
{
    const block_arg *a = arg;
    sten__topk_chunk(a->acc, a->chunk0 + chunk, a->j0 + j0, a->j0 + j1, c, ldc);
}

/* Scratch for flat_topk. */
typedef struct {
    sten__topk_acc *acc;
    float *bias; /* the points' (or centroids') negated squared norms */
} flat_ws;

/* The best K of the N points P (N x d; pn their squared norms) for each of
 * the B rows Q (B x d), by score 2 q.p - |p|^2 (l2: the nearest first) or
 * q.p; ties go to the lower point. idx, score: B x K. One NT product over
 * all the points as they lie (its strips packed from the rows), each chunk
 * of scores screened into the top K while in cache. */
static sten_status flat_topk(sten_ctx *ctx, flat_ws *w, const float *P, const float *pn, uint32_t N, uint32_t d,
                             bool l2, const float *Q, uint32_t B, uint32_t K, uint32_t *idx, float *score)
{
    sten_status st = sten__topk_begin(ctx, B, N, K, NULL, &w->acc);
    for (uint32_t j = 0; !st && l2 && j < N; j++)
        w->bias[j] = -pn[j];
    block_arg a = {w->acc, 0, 0};
    // scores: (B, N) = alpha Q (B, d) . P^T (d, N) + bias, P held as its N rows (ldb < 0)
    if (!st)
        st = sten__gemm_chunks(ctx, B, N, d, l2 ? 2.0f : 1.0f, Q, d, P, -(int64_t)d, 0.0f, NULL, 0,
                               l2 ? w->bias : NULL, on_chunk, &a);
    if (!st)
        sten__topk_end(ctx, w->acc, idx, score, NULL);
    return st;
}

/* ------------------------------------------------------------------ IVF */

/* true when (s, row r) ranks before (t, row q): higher score, then lower row */
static inline bool before(float s, uint32_t r, float t, uint32_t q)
{
    return s > t || (s == t && r < q);
}

/* Point p (score s) into the sorted best list id/sc (*n of at most K). */
static inline void offer(const uint32_t *rows, uint32_t *id, float *sc, uint32_t *n, uint32_t K, uint32_t p, float s)
{
    if (*n == K && !before(s, rows[p], sc[K - 1], rows[id[K - 1]]))
        return;
    uint32_t at = *n < K ? (*n)++ : K - 1;
    for (; at > 0 && before(s, rows[p], sc[at - 1], rows[id[at - 1]]); at--) {
        id[at] = id[at - 1];
        sc[at] = sc[at - 1];
    }
    id[at] = p;
    sc[at] = s;
}

/* 8 floats loaded and stored unaligned: one vector register. */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

/* q . x over d values, 16 at a time in two 8-lane accumulators; inlined
 * into each ISA level's copy of its callers, so every IVFFlat score is
 * rounded the same way whichever path computes it. */
static inline float dot_v8(const float *q, const float *x, uint32_t d)
{
    const uint32_t d16 = d / 16 * 16, d8 = d / 8 * 8;
    v8f a0 = {0}, a1 = {0};
    uint32_t j = 0;
    for (; j < d16; j += 16) {
        a0 += *(const v8f *)(q + j) * *(const v8f *)(x + j);
        a1 += *(const v8f *)(q + j + 8) * *(const v8f *)(x + j + 8);
    }
    if (j < d8) {
        a0 += *(const v8f *)(q + j) * *(const v8f *)(x + j);
        j += 8;
    }
    a0 += a1;
    float dot = ((a0[0] + a0[4]) + (a0[1] + a0[5])) + ((a0[2] + a0[6]) + (a0[3] + a0[7]));
    for (; j < d; j++)
        dot += q[j] * x[j];
    return dot;
}

/* Asks for the d floats at x (a point two ahead in a list's scan). */
static inline void prefetch_point(const float *x, uint32_t d)
{
    for (uint32_t j = 0; j < d; j += 16)
        __builtin_prefetch(x + j);
}

/* Every point of list c against the prepared query q into the best list,
 * the next point asked for ahead. */
STEN__SIMD_CLONES
static void scan_list(const sten_knn *m, uint32_t c, const float *q, bool l2, uint32_t *id, float *sc, uint32_t *n,
                      uint32_t K)
{
    const uint32_t d = m->index_dim;
    const uint32_t p1 = m->list_start[c + 1];
    for (uint32_t p = m->list_start[c]; p < p1; p++) {
        const float *x = m->points + (uint64_t)p * d;
        if (p + 2 < p1)
            prefetch_point(x + 2 * (uint64_t)d, d);
        const float dot = dot_v8(q, x, d);
        offer(m->rows, id, sc, n, K, p, l2 ? 2.0f * dot - m->norms[p] : dot);
    }
}

/* The dot products of one point x with each of the nq queries whose rows
 * are qs (indices into Q). */
STEN__SIMD_CLONES
static void dots(const float *x, const float *Q, const uint32_t *qs, uint32_t nq, uint32_t d, float *out)
{
    for (uint32_t t = 0; t < nq; t++)
        out[t] = dot_v8(Q + (uint64_t)qs[t] * d, x, d);
}

/* IVFFlat, the queries [b0, b1) of Q: each list their probes name is read
 * once for all of them (its points stream through the cache once, each
 * against every query that probes it, rather than once per query), the
 * lists in order. inv: nlists + 1 + (b1 - b0) * L + (b1 - b0) scratch
 * words. The best lists come out as a per-query scan's (the kept K do not
 * depend on the order points are offered in). */
static void scan_lists_together(const sten_knn *m, const float *Q, uint32_t b0, uint32_t b1, const uint32_t *probe,
                                uint32_t L, uint32_t K, bool l2, uint32_t *idx, float *score, uint32_t *nkept,
                                uint32_t *inv)
{
    const uint32_t nl = m->nlists, d = m->index_dim, nq = b1 - b0;
    uint32_t *start = inv, *qs = inv + nl + 1;
    float *dv = (float *)(qs + (uint64_t)nq * L); /* nq floats: one point's dot with each query */
    memset(start, 0, ((size_t)nl + 1) * sizeof *start);
    for (uint32_t b = b0; b < b1; b++)
        for (uint32_t l = 0; l < L; l++)
            start[probe[(uint64_t)b * L + l] + 1]++;
    for (uint32_t c = 0; c < nl; c++)
        start[c + 1] += start[c];
    for (uint32_t b = b0; b < b1; b++) /* a counting sort: each list's queries, in query order */
        for (uint32_t l = 0; l < L; l++) {
            const uint32_t c = probe[(uint64_t)b * L + l];
            qs[start[c]++] = b;
        }
    for (uint32_t c = nl; c > 0; c--) /* start[c] moved to the list's end: shift back */
        start[c] = start[c - 1];
    start[0] = 0;
    for (uint32_t c = 0; c < nl; c++) {
        const uint32_t *cq = qs + start[c], n = start[c + 1] - start[c];
        if (!n)
            continue;
        const uint32_t p1 = m->list_start[c + 1];
        for (uint32_t p = m->list_start[c]; p < p1; p++) {
            const float *x = m->points + (uint64_t)p * d;
            if (p + 2 < p1)
                prefetch_point(x + 2 * (uint64_t)d, d);
            dots(x, Q, cq, n, d, dv);
            for (uint32_t t = 0; t < n; t++) {
                const uint32_t b = cq[t];
                offer(m->rows, idx + (uint64_t)b * K, score + (uint64_t)b * K, &nkept[b], K, p,
                      l2 ? 2.0f * dv[t] - m->norms[p] : dv[t]);
            }
        }
    }
}

/* IVFPQ: the distance table of query q for list c. L2: T[j][k] = |(q - c)_j
 * - pq_jk|^2, and a point's score is minus the sum of its codes' entries;
 * inner product and cosine: T[j][k] = <q_j, pq_jk> (the same for every
 * list), the score <q, c> + the sum. *base gets the part outside the sum. */
static void pq_table(const sten_knn *m, const float *q, uint32_t c, bool l2, float *T, float *base)
{
    const uint32_t d = m->index_dim, M = m->pq_m, K = m->pq_ksub, ds = d / M;
    const float *cen = m->centroids + (uint64_t)c * d;
    double b = 0;
    if (!l2)
        for (uint32_t t = 0; t < d; t++)
            b += (double)q[t] * cen[t];
    *base = (float)b;
    for (uint32_t j = 0; j < M; j++)
        for (uint32_t k = 0; k < K; k++) {
            const float *v = m->pq_centroids + ((uint64_t)j * K + k) * ds;
            float acc = 0;
            for (uint32_t t = 0; t < ds; t++) {
                const float x = l2 ? q[j * ds + t] - cen[j * ds + t] - v[t] : q[j * ds + t] * v[t];
                acc += l2 ? x * x : x;
            }
            T[(uint64_t)j * K + k] = acc;
        }
}

/* Every coded point of list c into the best list, by its table. */
static void pq_scan_list(const sten_knn *m, uint32_t c, const float *T, float base, bool l2, uint32_t *id, float *sc,
                         uint32_t *n, uint32_t K)
{
    const uint32_t M = m->pq_m, ks = m->pq_ksub;
    for (uint32_t p = m->list_start[c]; p < m->list_start[c + 1]; p++) {
        const uint8_t *code = m->codes + (uint64_t)p * M;
        float s = 0;
        for (uint32_t j = 0; j < M; j++)
            s += T[(uint64_t)j * ks + code[j]];
        offer(m->rows, id, sc, n, K, p, l2 ? -s : base + s);
    }
}

/* List c of the index against prepared query q into the best list: the
 * points (IVFFlat) or the codes through T (IVFPQ; for L2 T is made for the
 * list here, for the inner product it was made once for the query). */
static void visit_list(const sten_knn *m, uint32_t c, const float *q, bool l2, float *T, uint32_t *id, float *sc,
                       uint32_t *n, uint32_t K)
{
    if (!m->codes) {
        scan_list(m, c, q, l2, id, sc, n, K);
        return;
    }
    float base;
    if (l2) {
        pq_table(m, q, c, true, T, &base);
    } else {
        double b = 0;
        for (uint32_t t = 0; t < m->index_dim; t++)
            b += (double)q[t] * m->centroids[(uint64_t)c * m->index_dim + t];
        base = (float)b;
    }
    pq_scan_list(m, c, T, base, l2, id, sc, n, K);
}

/* The IVF search of B prepared rows Q: the L lists probe (B x L, nearest
 * first) are scanned, then, while fewer than K points were seen, the
 * others in list order. idx, score: B x K. IVFFlat shares each list's
 * visit among the queries that probe it (scan_lists_together; inv: its
 * scratch, nt x (nlists + 1 + (B / nt + 1) x (L + 1)) words, nkept: B);
 * IVFPQ scans through distance tables, one per thread in tables (pq_m x
 * pq_ksub floats each). */
static void ivf_scan(sten_ctx *ctx, const sten_knn *m, const float *Q, uint32_t B, const uint32_t *probe, uint32_t L,
                     uint32_t K, uint32_t *idx, float *score, float *tables, uint32_t *inv, uint32_t *nkept)
{
    const bool l2 = m->opts.index_metric == STEN_KNN_L2;
    const int nt = sten__threads_for(ctx, (int64_t)B * L * (m->n / m->nlists + 1) * m->index_dim, 1 << 15);
    memset(nkept, 0, (size_t)B * sizeof *nkept);
    if (!m->codes) {
        const uint64_t per = (uint64_t)m->nlists + 1 + ((uint64_t)B / (uint32_t)nt + 1) * (L + 1);
#pragma omp parallel num_threads(nt)
        {
            const uint32_t parts = (uint32_t)omp_get_num_threads(), part = (uint32_t)omp_get_thread_num();
            const uint32_t b0 = (uint32_t)((uint64_t)B * part / parts), b1 = (uint32_t)((uint64_t)B * (part + 1) / parts);
            if (b1 > b0)
                scan_lists_together(m, Q, b0, b1, probe, L, K, l2, idx, score, nkept, inv + per * part);
        }
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
    for (int64_t b = 0; b < (int64_t)B; b++) {
        const float *q = Q + (uint64_t)b * m->index_dim;
        const uint32_t *pr = probe + (uint64_t)b * L;
        uint32_t *id = idx + (uint64_t)b * K, *n = &nkept[b];
        float *sc = score + (uint64_t)b * K;
        float *T = NULL;
        if (m->codes) {
            T = tables + (uint64_t)omp_get_thread_num() * m->pq_m * m->pq_ksub;
            float unused;
            if (!l2) /* the inner-product table is the query's, whatever the list */
                pq_table(m, q, 0, false, T, &unused);
        }
        uint64_t seen = 0;
        for (uint32_t l = 0; l < L; l++) {
            if (m->codes)
                visit_list(m, pr[l], q, l2, T, id, sc, n, K);
            seen += m->list_start[pr[l] + 1] - m->list_start[pr[l]];
        }
        for (uint32_t c = 0; seen < K && c < m->nlists; c++) {
            bool probed = false;
            for (uint32_t l = 0; l < L && !probed; l++)
                probed = pr[l] == c;
            if (probed)
                continue;
            visit_list(m, c, q, l2, T, id, sc, n, K);
            seen += m->list_start[c + 1] - m->list_start[c];
        }
    }
}

/* ------------------------------------------------------------- search */

/* The K kept of each row, distances recomputed in double and re-sorted
 * (nearest first, then the lower training row). */
static void finish_rows(sten_ctx *ctx, const sten_knn *m, const float *Q, uint32_t B, uint32_t K, uint32_t *idx,
                        float *dist)
{
    const uint32_t d = m->index_dim;
    const bool l2 = m->opts.index_metric == STEN_KNN_L2;
    const int nt = sten__threads_for(ctx, (int64_t)B * K * d, 1 << 15);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < (int64_t)B; b++) {
        const float *q = Q + (uint64_t)b * d;
        uint32_t *id = idx + (uint64_t)b * K;
        float *ds = dist + (uint64_t)b * K;
        for (uint32_t r = 0; r < K; r++) {
            const float *x = m->points + (uint64_t)id[r] * d;
            double s = 0;
            for (uint32_t j = 0; j < d; j++)
                s += l2 ? ((double)q[j] - x[j]) * ((double)q[j] - x[j]) : (double)q[j] * x[j];
            const float v = (float)s;
            uint32_t at = r; /* insertion: ranks by -distance (L2) or similarity */
            const float key = l2 ? -v : v;
            while (at > 0 && before(key, m->rows[id[r]], l2 ? -ds[at - 1] : ds[at - 1], m->rows[id[at - 1]]))
                at--;
            const uint32_t p = id[r];
            memmove(id + at + 1, id + at, (r - at) * sizeof *id);
            memmove(ds + at + 1, ds + at, (r - at) * sizeof *ds);
            id[at] = p;
            ds[at] = v;
        }
    }
}

typedef struct {
    flat_ws flat;
    float *Q, *score;
    uint32_t *probe;
    float *tables;   /* IVFPQ: a distance table per thread */
    uint32_t *inv;   /* IVFFlat: each thread's lists-to-queries scratch (ivf_scan) */
    uint32_t *nkept; /* IVF: each query's kept count */
} search_ws;

static void ws_free(sten_ctx *ctx, search_ws *w)
{
    sten__topk_free(ctx, w->flat.acc);
    sten_free(ctx, w->flat.bias);
    sten_free(ctx, w->Q), sten_free(ctx, w->score), sten_free(ctx, w->probe), sten_free(ctx, w->tables);
    sten_free(ctx, w->inv), sten_free(ctx, w->nkept);
}

/* Query rows per block: fewer for a large K (the top-k heaps are per row). */
static uint32_t qblock(uint32_t K)
{
    const uint32_t q = (1u << 22) / K;
    return q < 1 ? 1 : q < QBLOCK ? q : QBLOCK;
}

static sten_status ws_init(sten_ctx *ctx, const sten_knn *m, uint32_t K, uint32_t L, search_ws *w)
{
    memset(w, 0, sizeof *w);
    const uint32_t QB = qblock(STEN__MAXU(K, L));
    w->flat.bias = sten_alloc(ctx, (size_t)STEN__MAXU(m->n, m->nlists) * sizeof(float));
    w->Q = sten_alloc(ctx, (size_t)QB * m->index_dim * sizeof(float));
    w->score = sten_alloc(ctx, (size_t)QB * STEN__MAXU(K, L) * sizeof(float));
    w->probe = L ? sten_alloc(ctx, (size_t)QB * L * sizeof(uint32_t)) : NULL;
    w->tables = m->codes ? sten_alloc(ctx, (size_t)sten_ctx_threads(ctx) * m->pq_m * m->pq_ksub * sizeof(float))
                         : NULL;
    const size_t nt = (size_t)sten_ctx_threads(ctx);
    w->inv = L && !m->codes ? sten_alloc(ctx, nt * ((size_t)m->nlists + 1 + ((size_t)QB / nt + 1) * (L + 1)) *
                                                  sizeof(uint32_t))
                            : NULL;
    w->nkept = L ? sten_alloc(ctx, (size_t)QB * sizeof(uint32_t)) : NULL;
    if (!w->flat.bias || !w->Q || !w->score || (L && !w->probe) || (m->codes && !w->tables) ||
        (L && !m->codes && !w->inv) || (L && !w->nkept)) {
        ws_free(ctx, w);
        memset(w, 0, sizeof *w);
        return STEN_E_NOMEM;
    }
    return STEN_OK;
}

/* One block of B rows X into ids/dist (B x K). */
static sten_status search_block(sten_ctx *ctx, const sten_knn *m, search_ws *w, const float *X, uint32_t B,
                                uint32_t K, uint32_t L, const float *cn, uint32_t *ids, float *dist)
{
    const bool l2 = m->opts.index_metric == STEN_KNN_L2;
    prepare(ctx, m, X, B, w->Q);
    sten_status st;
    if (!m->nlists) {
        st = flat_topk(ctx, &w->flat, m->points, m->norms, m->n, m->index_dim, l2, w->Q, B, K, ids, w->score);
    } else {
        st = flat_topk(ctx, &w->flat, m->centroids, cn, m->nlists, m->index_dim, l2, w->Q, B, L, w->probe, w->score);
        if (!st)
            ivf_scan(ctx, m, w->Q, B, w->probe, L, K, ids, w->score, w->tables, w->inv, w->nkept);
    }
    if (!st && m->codes) /* no points to measure again: the tables' distances, already in order */
        for (uint64_t e = 0; e < (uint64_t)B * K; e++)
            dist[e] = l2 ? -w->score[e] : w->score[e];
    else if (!st)
        finish_rows(ctx, m, w->Q, B, K, ids, dist);
    return st;
}

sten_status sten_knn_search(sten_ctx *ctx, const sten_knn *m, const float *X, uint64_t n, uint32_t K,
                            uint32_t nprobe, uint32_t *ids, float *dist)
{
    if (K < 1 || K > m->n)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: %u neighbours asked of an index of %u points", K, m->n);
    const uint32_t L = sten_knn_nprobe(m, nprobe);
    search_ws w;
    sten_status st = ws_init(ctx, m, K, L, &w);
    float *cn = L ? sten_alloc(ctx, (size_t)m->nlists * sizeof *cn) : NULL, *dtmp = NULL;
    if (!st && !dist && !(dist = dtmp = sten_alloc(ctx, (size_t)qblock(STEN__MAXU(K, L)) * K * sizeof *dist)))
        st = STEN_E_NOMEM;
    if (!st && L && !cn)
        st = STEN_E_NOMEM;
    if (!st && L)
        sten__sq_norms(ctx, m->centroids, m->nlists, m->index_dim, cn);
    const uint32_t QB = qblock(STEN__MAXU(K, L));
    for (uint64_t i = 0; !st && i < n; i += QB) {
        const uint32_t B = (uint32_t)(n - i < QB ? n - i : QB);
        st = search_block(ctx, m, &w, X + i * m->dim, B, K, L, cn, ids + i * K, dtmp ? dtmp : dist + i * K);
        sten__progress(ctx, "k-NN: search", "rows", i + B, n);
    }
    ws_free(ctx, &w);
    sten_free(ctx, cn), sten_free(ctx, dtmp);
    return st;
}

/* ---------------------------------------------------------- prediction */

typedef struct {
    float label;
    uint32_t first; /* its nearest neighbour's rank */
} vote;

static int cmp_vote(const void *a, const void *b)
{
    const vote *x = a, *y = b;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

/* The classifier's answer from the K labels of one row, nearest first:
 * the most frequent; a tie goes to the label met first. */
static float majority(const float *lab, uint32_t K, vote *v)
{
    for (uint32_t r = 0; r < K; r++)
        v[r] = (vote){lab[r], r};
    qsort(v, K, sizeof *v, cmp_vote);
    uint32_t best_count = 0, best_first = UINT32_MAX;
    float best = v[0].label;
    for (uint32_t r = 0; r < K;) {
        uint32_t e = r;
        while (e < K && v[e].label == v[r].label)
            e++;
        if (e - r > best_count || (e - r == best_count && v[r].first < best_first)) {
            best_count = e - r;
            best_first = v[r].first;
            best = v[r].label;
        }
        r = e;
    }
    return best;
}

sten_status sten_knn_predict(sten_ctx *ctx, const sten_knn *m, const float *X, uint64_t n, uint32_t nprobe,
                             float *pred, uint32_t *ids, float *dist)
{
    const uint32_t K = m->opts.k, QB = qblock(K);
    uint32_t *id = ids ? NULL : sten_alloc(ctx, (size_t)QB * K * sizeof *id);
    float *lab = sten_alloc(ctx, (size_t)K * sizeof *lab);
    vote *v = sten_alloc(ctx, (size_t)K * sizeof *v);
    sten_status st = (!ids && !id) || !lab || !v ? STEN_E_NOMEM : STEN_OK;
    for (uint64_t i = 0; !st && i < n; i += QB) {
        const uint32_t B = (uint32_t)(n - i < QB ? n - i : QB);
        uint32_t *bi = ids ? ids + i * K : id;
        st = sten_knn_search(ctx, m, X + i * m->dim, B, K, nprobe, bi, dist ? dist + i * K : NULL);
        for (uint32_t b = 0; !st && b < B; b++) {
            double s = 0;
            for (uint32_t r = 0; r < K; r++)
                s += lab[r] = m->labels[bi[(uint64_t)b * K + r]];
            pred[i + b] = m->opts.predictor_type == STEN_KNN_REGRESSOR ? (float)(s / K) : majority(lab, K, v);
        }
    }
    sten_free(ctx, id), sten_free(ctx, lab), sten_free(ctx, v);
    return st;
}

/* ------------------------------------------------------------------ fit */

static sten_status check_opts(sten_ctx *ctx, uint64_t n, const sten_knn_opts *o)
{
    const char *bad = !o->feature_dim ? "feature_dim" : !o->k ? "k" : !o->sample_size ? "sample_size"
                    : !o->mini_batch_size ? "mini_batch_size" : NULL;
    if (bad)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: %s must be at least 1", bad);
    if ((unsigned)o->predictor_type > STEN_KNN_REGRESSOR || (unsigned)o->index_metric > STEN_KNN_COSINE ||
        (unsigned)o->index_type > STEN_KNN_IVFPQ || (unsigned)o->dimension_reduction_type > STEN_KNN_REDUCE_FJLT)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: predictor_type, index_metric, index_type or "
                         "dimension_reduction_type out of range");
    const bool reduce = o->dimension_reduction_type != STEN_KNN_REDUCE_NONE;
    if (reduce ? !o->dimension_reduction_target || o->dimension_reduction_target >= o->feature_dim
               : o->dimension_reduction_target != 0)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: dimension_reduction_target = %u (expected 1 to feature_dim - 1 "
                         "with sign or fjlt, 0 without reduction)", o->dimension_reduction_target);
    const uint32_t d = reduce ? o->dimension_reduction_target : o->feature_dim;
    if (o->index_type == STEN_KNN_IVFPQ && o->pq_m && (o->pq_m > d || d % o->pq_m))
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: faiss_index_pq_m = %u does not divide the index width %u "
                         "(feature_dim, or dimension_reduction_target when reducing)", o->pq_m, d);
    if (o->index_type != STEN_KNN_IVFPQ && o->pq_m)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: faiss_index_pq_m applies only to faiss.IVFPQ");
    if (n == 0 || n > UINT32_MAX)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: %llu training rows (expected 1 to %u)", (unsigned long long)n,
                         UINT32_MAX);
    const uint64_t points = n < o->sample_size ? n : o->sample_size;
    if (o->k > points)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: k = %u is more than the %llu points of the index", o->k,
                         (unsigned long long)points);
    if (o->index_type != STEN_KNN_FLAT && o->ivf_nlists > points)
        return sten_fail(ctx, STEN_E_INVALID, "k-NN: faiss_index_ivf_nlists = %u is more than the %llu points of "
                         "the index", o->ivf_nlists, (unsigned long long)points);
    return STEN_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Algorithm R with the seed's stream: s of the n rows, then in row order. */
static void reservoir(uint64_t n, uint32_t s, uint64_t seed, uint32_t *rows)
{
    sten_rng r;
    sten_rng_init(&r, seed, 0x6b6e6e73616d70ull); /* "knnsamp" */
    for (uint32_t i = 0; i < s; i++)
        rows[i] = i;
    for (uint64_t i = s; i < n; i++) {
        const uint32_t j = sten_rng_below(&r, (uint32_t)(i + 1));
        if (j < s)
            rows[j] = (uint32_t)i;
    }
    qsort(rows, s, sizeof *rows, cmp_u32);
}

/* IVF: centroids by k-means on the points, each point to its list (by the
 * index metric, as the search probes), points regrouped by list in a
 * stable order. */
static sten_status build_ivf(sten_ctx *ctx, sten_knn *m)
{
    const uint32_t d = m->index_dim, N = m->n;
    uint32_t nl = m->opts.ivf_nlists ? m->opts.ivf_nlists : (uint32_t)lround(sqrt((double)N));
    nl = nl < 1 ? 1 : nl > N ? N : nl;
    sten_kmeans_opts ko = sten_kmeans_defaults();
    ko.k = nl;
    ko.feature_dim = d;
    ko.init = STEN_KMEANS_PLUSPLUS;
    ko.epochs = 5;
    ko.extra_center_factor = 1; /* the local stage then only polishes */
    ko.local_lloyd_num_trials = 1;
    ko.mini_batch_size = m->opts.mini_batch_size;
    ko.seed = m->opts.seed;
    sten_kmeans km;
    sten_status st = sten_kmeans_fit(ctx, m->points, N, &ko, &km, NULL);
    if (st)
        return st;
    m->centroids = km.centers; /* taken over */
    m->nlists = nl;
    if (m->opts.index_metric == STEN_KNN_COSINE) { /* probed by cosine: unit centroids */
        sten_knn tmp = *m;
        tmp.projection = NULL;
        tmp.dim = d;
        prepare(ctx, &tmp, m->centroids, nl, m->centroids);
    }
    uint32_t *list = sten_alloc(ctx, (size_t)N * sizeof *list);
    float *cn = sten_alloc(ctx, (size_t)nl * sizeof *cn), *sc = sten_alloc(ctx, (size_t)QBLOCK * sizeof *sc);
    m->list_start = sten_calloc(ctx, (size_t)nl + 1, sizeof *m->list_start);
    float *P = sten_alloc(ctx, (size_t)N * d * sizeof *P), *lab = sten_alloc(ctx, (size_t)N * sizeof *lab);
    uint32_t *rows = sten_alloc(ctx, (size_t)N * sizeof *rows);
    flat_ws w = {NULL, sten_alloc(ctx, (size_t)nl * sizeof(float))};
    st = !list || !cn || !sc || !m->list_start || !P || !lab || !rows || !w.bias ? STEN_E_NOMEM : STEN_OK;
    if (!st)
        sten__sq_norms(ctx, m->centroids, nl, d, cn);
    const bool l2 = m->opts.index_metric == STEN_KNN_L2;
    for (uint32_t i = 0; !st && i < N; i += QBLOCK) {
        const uint32_t B = N - i < QBLOCK ? N - i : QBLOCK;
        st = flat_topk(ctx, &w, m->centroids, cn, nl, d, l2, m->points + (uint64_t)i * d, B, 1, list + i, sc);
    }
    if (!st) { /* a stable counting sort by list */
        for (uint32_t i = 0; i < N; i++)
            m->list_start[list[i] + 1]++;
        for (uint32_t c = 0; c < nl; c++)
            m->list_start[c + 1] += m->list_start[c];
        uint32_t *at = sten_alloc(ctx, (size_t)nl * sizeof *at);
        if (!at)
            st = STEN_E_NOMEM;
        for (uint32_t c = 0; !st && c < nl; c++)
            at[c] = m->list_start[c];
        for (uint32_t i = 0; !st && i < N; i++) {
            const uint32_t to = at[list[i]]++;
            memcpy(P + (uint64_t)to * d, m->points + (uint64_t)i * d, d * sizeof *P);
            lab[to] = m->labels[i];
            rows[to] = m->rows[i];
        }
        sten_free(ctx, at);
    }
    if (!st) {
        float *t = m->points;
        m->points = P, P = t;
        t = m->labels, m->labels = lab, lab = t;
        uint32_t *u = m->rows;
        m->rows = rows, rows = u;
    }
    sten__topk_free(ctx, w.acc);
    sten_free(ctx, w.bias);
    sten_free(ctx, list), sten_free(ctx, cn), sten_free(ctx, sc), sten_free(ctx, P), sten_free(ctx, lab);
    sten_free(ctx, rows);
    return st;
}

/* IVFPQ's bytes per point when the options leave it to sten: the largest
 * of 16, 8, 4, 2, 1 that divides the index width. */
static uint32_t pq_m_of(const sten_knn_opts *o, uint32_t d)
{
    if (o->pq_m)
        return o->pq_m;
    uint32_t M = 16;
    while (d % M)
        M /= 2;
    return M;
}

/* Product quantization of the residuals (each point minus its list's
 * centroid): for each of the pq_m sub-vectors, min(256, points) centroids by
 * sten's k-means over the residuals' sub-vectors (seeded per sub-vector),
 * then each point's byte: its sub-vector's nearest centroid. The points are
 * then freed: the index holds codes only. */
static sten_status build_pq(sten_ctx *ctx, sten_knn *m)
{
    const uint32_t d = m->index_dim, N = m->n, M = pq_m_of(&m->opts, d), ds = d / M;
    const uint32_t ks = N < 256 ? N : 256;
    float *res = sten_alloc(ctx, (size_t)N * ds * sizeof *res), *D = sten_alloc(ctx, (size_t)QBLOCK * ks * sizeof *D);
    float *cn = sten_alloc(ctx, (size_t)ks * sizeof *cn), *d2 = sten_alloc(ctx, (size_t)QBLOCK * sizeof *d2);
    uint32_t *best = sten_alloc(ctx, (size_t)QBLOCK * sizeof *best);
    m->pq_centroids = sten_alloc(ctx, (size_t)M * ks * ds * sizeof *m->pq_centroids);
    m->codes = sten_alloc(ctx, (size_t)N * M);
    sten_status st = !res || !D || !cn || !d2 || !best || !m->pq_centroids || !m->codes ? STEN_E_NOMEM : STEN_OK;
    for (uint32_t j = 0; !st && j < M; j++) {
        for (uint32_t c = 0; c < m->nlists; c++) /* sub-vector j of every residual */
            for (uint32_t p = m->list_start[c]; p < m->list_start[c + 1]; p++)
                for (uint32_t t = 0; t < ds; t++)
                    res[(uint64_t)p * ds + t] = m->points[(uint64_t)p * d + j * ds + t] -
                                                m->centroids[(uint64_t)c * d + j * ds + t];
        sten_kmeans_opts ko = sten_kmeans_defaults();
        ko.k = ks;
        ko.feature_dim = ds;
        ko.init = STEN_KMEANS_PLUSPLUS;
        ko.epochs = 5;
        ko.extra_center_factor = 1;
        ko.local_lloyd_num_trials = 1;
        ko.mini_batch_size = m->opts.mini_batch_size;
        ko.seed = m->opts.seed ^ (0x70710000ull + j);
        sten_kmeans km;
        if ((st = sten_kmeans_fit(ctx, res, N, &ko, &km, NULL)))
            break;
        float *C = m->pq_centroids + (uint64_t)j * ks * ds;
        memcpy(C, km.centers, (size_t)ks * ds * sizeof *C);
        sten_kmeans_free(ctx, &km);
        sten__sq_norms(ctx, C, ks, ds, cn);
        for (uint32_t i = 0; i < N; i += QBLOCK) {
            const uint32_t B = N - i < QBLOCK ? N - i : QBLOCK;
            sten__nearest(ctx, res + (uint64_t)i * ds, B, C, cn, ks, ds, D, best, d2);
            for (uint32_t b = 0; b < B; b++)
                m->codes[(uint64_t)(i + b) * M + j] = (uint8_t)best[b];
        }
        sten__progress(ctx, "k-NN: product quantization", "sub-vectors", j + 1, M);
    }
    if (!st) {
        m->pq_m = M;
        m->pq_ksub = ks;
        sten_free(ctx, m->points);
        m->points = NULL;
    }
    sten_free(ctx, res), sten_free(ctx, D), sten_free(ctx, cn), sten_free(ctx, d2), sten_free(ctx, best);
    return st;
}

/* The squared norms of the points (search's L2 scores need them). */
sten_status sten__knn_derive(sten_ctx *ctx, sten_knn *m)
{
    sten_free(ctx, m->norms);
    m->norms = NULL;
    if (m->codes) /* IVFPQ holds no points */
        return STEN_OK;
    if (!(m->norms = sten_alloc(ctx, (size_t)(m->n ? m->n : 1) * sizeof *m->norms)))
        return STEN_E_NOMEM;
    sten__sq_norms(ctx, m->points, m->n, m->index_dim, m->norms);
    return STEN_OK;
}

sten_status sten_knn_fit(sten_ctx *ctx, const float *X, const float *y, uint64_t n, const sten_knn_opts *o,
                         sten_knn *out)
{
    memset(out, 0, sizeof *out);
    sten_status st = check_opts(ctx, n, o);
    if (st)
        return st;
    const uint32_t N = (uint32_t)(n < o->sample_size ? n : o->sample_size), dim = o->feature_dim;
    const bool sign = o->dimension_reduction_type != STEN_KNN_REDUCE_NONE; /* a projection: sign or fjlt */
    out->opts = *o;
    out->dim = dim;
    out->index_dim = sign ? o->dimension_reduction_target : dim;
    out->n = N;
    out->train_rows = n;
    const uint32_t d = out->index_dim, QB = o->mini_batch_size < N ? o->mini_batch_size : N;
    out->rows = sten_alloc(ctx, (size_t)N * sizeof *out->rows);
    out->labels = sten_alloc(ctx, (size_t)N * sizeof *out->labels);
    out->points = sten_alloc(ctx, (size_t)N * d * sizeof *out->points);
    out->projection = sign ? sten_alloc(ctx, (size_t)d * dim * sizeof *out->projection) : NULL;
    float *Xb = sten_alloc(ctx, (size_t)QB * dim * sizeof *Xb);
    if (!out->rows || !out->labels || !out->points || (sign && !out->projection) || !Xb)
        st = STEN_E_NOMEM;
    if (!st && sign)
        st = o->dimension_reduction_type == STEN_KNN_REDUCE_FJLT
                 ? sten_knn_fjlt_matrix(ctx, dim, d, o->seed, out->projection)
                 : sten_knn_sign_matrix(ctx, dim, d, o->seed, out->projection);
    if (!st)
        reservoir(n, N, o->seed, out->rows);
    for (uint32_t i = 0; !st && i < N; i += QB) { /* gathered, then projected in blocks */
        const uint32_t B = N - i < QB ? N - i : QB;
        for (uint32_t b = 0; b < B; b++) {
            memcpy(Xb + (uint64_t)b * dim, X + (uint64_t)out->rows[i + b] * dim, dim * sizeof *Xb);
            out->labels[i + b] = y[out->rows[i + b]];
        }
        prepare(ctx, out, Xb, B, out->points + (uint64_t)i * d);
        sten__progress(ctx, "k-NN: index", "rows", i + B, N);
    }
    sten_free(ctx, Xb);
    if (!st && o->index_type != STEN_KNN_FLAT)
        st = build_ivf(ctx, out);
    if (!st && o->index_type == STEN_KNN_IVFPQ)
        st = build_pq(ctx, out);
    if (!st)
        st = sten__knn_derive(ctx, out);
    if (st)
        sten_knn_free(ctx, out);
    return st;
}
