/* kmeans.c — SageMaker's k-means: K = k * extra_center_factor centres by
 * mini-batch k-means over the data in passes, then a weighted Lloyd's
 * (the local stage) reduces them to k. Distances come from one SGEMM per
 * block of rows (|x|^2 - 2 x.c + |c|^2); sums are taken in row order, so a
 * seed gives the same centres for any thread count. Dense data only. */
#include "algo_int.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define BLOCK 1024 /* rows per distance block */

sten_kmeans_opts sten_kmeans_defaults(void)
{
    return (sten_kmeans_opts){.k = 0, .feature_dim = 0, .init = STEN_KMEANS_RANDOM, .max_iterations = 100,
                              .tol = 1e-4f, .mini_batch_size = 5000, .epochs = 1, .extra_center_factor = 0,
                              .half_life_time_size = 0, .local_lloyd_max_iter = 300,
                              .local_lloyd_init = STEN_KMEANS_PLUSPLUS, .local_lloyd_num_trials = 0,
                              .local_lloyd_tol = 1e-4f, .seed = 12134};
}

void sten__sq_norms(sten_ctx *ctx, const float *X, uint64_t n, uint32_t dim, float *out)
{
    const int nt = sten__threads_for(ctx, (int64_t)(n * dim), 1 << 15);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < (int64_t)n; i++) {
        const float *x = X + (uint64_t)i * dim;
        double s = 0;
        for (uint32_t j = 0; j < dim; j++)
            s += (double)x[j] * x[j];
        out[i] = (float)s;
    }
}

/* For rows X (B x dim): the closest of the K centres C (cn: their squared
 * norms) and the squared distance to it, computed directly (not from the
 * expansion, which loses digits when |x| is large against the distance).
 * D: B x K scratch. The rows go in chunks of NEAREST_CHUNK to ctx's threads,
 * each chunk by its own single-threaded SGEMM and scan: a block is too
 * small for OpenBLAS's threads to pay, one parallel region beats two, and
 * fixed chunks give the same distances for any thread count. */
#define NEAREST_CHUNK 128

/* Rows b0 .. b1 - 1 of sten__nearest's, by one single-threaded SGEMM. */
static void nearest_chunk(const float *X, uint32_t b0, uint32_t b1, const float *C, const float *cn, uint32_t K,
                          uint32_t dim, float *D, uint32_t *best, float *d2)
{
    // D rows b0..b1: (b1 - b0, K) = -2 X rows (b1 - b0, dim) . C^T (dim, K)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)(b1 - b0), (blasint)K, (blasint)dim, -2.0f,
                X + (uint64_t)b0 * dim, (blasint)dim, C, (blasint)dim, 0.0f, D + (uint64_t)b0 * K, (blasint)K);
    for (uint32_t b = b0; b < b1; b++) {
        const float *row = D + (uint64_t)b * K;
        uint32_t arg = 0;
        float m = row[0] + cn[0];
        for (uint32_t j = 1; j < K; j++)
            if (row[j] + cn[j] < m) { /* |x|^2 is the same for every centre */
                m = row[j] + cn[j];
                arg = j;
            }
        const float *x = X + (uint64_t)b * dim, *c = C + (uint64_t)arg * dim;
        double s = 0;
        for (uint32_t j = 0; j < dim; j++)
            s += ((double)x[j] - c[j]) * ((double)x[j] - c[j]);
        best[b] = arg;
        d2[b] = (float)s;
    }
}

void sten__nearest(sten_ctx *ctx, const float *X, uint32_t B, const float *C, const float *cn, uint32_t K,
                   uint32_t dim, float *D, uint32_t *best, float *d2)
{
    const int nt = sten__threads_for(ctx, (int64_t)B * K * dim, 1 << 18);
    const int64_t chunks = ((int64_t)B + NEAREST_CHUNK - 1) / NEAREST_CHUNK;
    if (nt <= 1) { /* no region: OpenBLAS would open its own, nested, for every call */
        openblas_set_num_threads(1);
        for (int64_t q = 0; q < chunks; q++)
            nearest_chunk(X, (uint32_t)q * NEAREST_CHUNK, (uint32_t)STEN__MIN((q + 1) * NEAREST_CHUNK, (int64_t)B), C,
                          cn, K, dim, D, best, d2);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t q = 0; q < chunks; q++) /* inside the region OpenBLAS runs on the calling thread */
        nearest_chunk(X, (uint32_t)q * NEAREST_CHUNK, (uint32_t)STEN__MIN((q + 1) * NEAREST_CHUNK, (int64_t)B), C, cn,
                      K, dim, D, best, d2);
}

/* ------------------------------------------------------------- seeding */

/* Index of the point where the running sum of p passes u * total. */
static uint64_t pick(const double *p, uint64_t n, double total, float u)
{
    const double target = (double)u * total;
    double run = 0;
    uint64_t last = n;
    for (uint64_t i = 0; i < n; i++) {
        if (p[i] <= 0)
            continue;
        last = i;
        run += p[i];
        if (run > target)
            return i;
    }
    return last; /* rounding at the very end */
}

sten_status sten_kmeans_seed(sten_ctx *ctx, const float *P, const float *w, uint64_t n, uint32_t dim,
                             uint32_t K, sten_kmeans_init how, uint64_t seed, float *C)
{
    uint64_t weighted = 0;
    for (uint64_t i = 0; i < n; i++)
        weighted += !w || w[i] > 0;
    if (K == 0 || weighted < K)
        return sten_fail(ctx, STEN_E_INVALID, "k-means: %u centres asked of %llu points with weight", K,
                         (unsigned long long)weighted);
    double *p = sten_alloc(ctx, n * sizeof *p);   /* each point's chance, up to a factor */
    double *d2 = sten_alloc(ctx, n * sizeof *d2); /* k-means++: squared distance to the nearest chosen,
                                                     -1 once chosen */
    if (!p || !d2) {
        sten_free(ctx, p), sten_free(ctx, d2);
        return STEN_E_NOMEM;
    }
    sten_rng r;
    sten_rng_init(&r, seed, 0x6b6d65616e73ull); /* "kmeans" */
    double total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += p[i] = w ? w[i] : 1.0;
    const int nt = sten__threads_for(ctx, (int64_t)(n * dim), 1 << 15);
    for (uint32_t c = 0; c < K; c++) {
        const uint64_t i = pick(p, n, total, sten_rng_uniform(&r));
        memcpy(C + (uint64_t)c * dim, P + i * dim, dim * sizeof *C);
        if (how == STEN_KMEANS_RANDOM) { /* by weight, without replacement */
            total -= p[i];
            p[i] = 0;
            continue;
        }
        const float *ci = C + (uint64_t)c * dim;
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t q = 0; q < (int64_t)n; q++) {
            if (c > 0 && d2[q] < 0)
                continue;
            const float *x = P + (uint64_t)q * dim;
            double s = 0;
            for (uint32_t j = 0; j < dim; j++)
                s += ((double)x[j] - ci[j]) * ((double)x[j] - ci[j]);
            if (c == 0 || s < d2[q])
                d2[q] = s;
        }
        d2[i] = -1.0;
        total = 0;
        for (uint64_t q = 0; q < n; q++)
            total += p[q] = d2[q] > 0 ? (w ? w[q] : 1.0) * d2[q] : 0.0;
        if (!(total > 0)) /* every weighted point left sits on a centre: by weight among them */
            for (uint64_t q = 0; q < n; q++)
                total += p[q] = d2[q] >= 0 ? (w ? w[q] : 1.0) : 0.0;
    }
    sten_free(ctx, p);
    sten_free(ctx, d2);
    return STEN_OK;
}

/* ------------------------------------------------------------- Lloyd's */

/* Assigns every point (blocks of BLOCK rows); returns the weighted inertia. */
static double assign_all(sten_ctx *ctx, const float *P, const float *w, uint64_t n, uint32_t dim,
                         const float *C, const float *cn, uint32_t K, float *D, uint32_t *best, float *d2)
{
    double J = 0;
    for (uint64_t i = 0; i < n; i += BLOCK) {
        const uint32_t B = (uint32_t)(n - i < BLOCK ? n - i : BLOCK);
        sten__nearest(ctx, P + i * dim, B, C, cn, K, dim, D, best + i, d2 + i);
        for (uint32_t b = 0; b < B; b++)
            J += (w ? (double)w[i + b] : 1.0) * d2[i + b];
    }
    return J;
}

sten_status sten_kmeans_lloyd(sten_ctx *ctx, const float *P, const float *w, uint64_t n, uint32_t dim,
                              float *C, uint32_t K, uint32_t max_iter, double tol, double *inertia,
                              uint32_t *iters)
{
    float *D = sten_alloc(ctx, (size_t)BLOCK * K * sizeof *D);
    float *d2 = sten_alloc(ctx, (n ? n : 1) * sizeof *d2);
    float *cn = sten_alloc(ctx, (size_t)K * sizeof *cn);
    uint32_t *best = sten_alloc(ctx, (n ? n : 1) * sizeof *best);
    double *sum = sten_alloc(ctx, (size_t)K * dim * sizeof *sum), *mass = sten_alloc(ctx, (size_t)K * sizeof *mass);
    if (!D || !d2 || !cn || !best || !sum || !mass) {
        sten_free(ctx, D), sten_free(ctx, d2), sten_free(ctx, cn), sten_free(ctx, best);
        sten_free(ctx, sum), sten_free(ctx, mass);
        return STEN_E_NOMEM;
    }
    sten__sq_norms(ctx, C, K, dim, cn);
    double J = assign_all(ctx, P, w, n, dim, C, cn, K, D, best, d2);
    uint32_t it = 0;
    while (it < max_iter) {
        memset(sum, 0, (size_t)K * dim * sizeof *sum);
        memset(mass, 0, (size_t)K * sizeof *mass);
        for (uint64_t i = 0; i < n; i++) { /* in point order: the same sums for any thread count */
            const double wi = w ? w[i] : 1.0;
            if (wi == 0)
                continue;
            double *s = sum + (uint64_t)best[i] * dim;
            const float *x = P + i * dim;
            for (uint32_t j = 0; j < dim; j++)
                s[j] += wi * x[j];
            mass[best[i]] += wi;
        }
        for (uint32_t c = 0; c < K; c++) /* an empty centre keeps its place */
            for (uint32_t j = 0; mass[c] > 0 && j < dim; j++)
                C[(uint64_t)c * dim + j] = (float)(sum[(uint64_t)c * dim + j] / mass[c]);
        sten__sq_norms(ctx, C, K, dim, cn);
        const double Jn = assign_all(ctx, P, w, n, dim, C, cn, K, D, best, d2);
        it++;
        const bool done = J - Jn <= tol * J;
        J = Jn;
        if (done)
            break;
    }
    if (inertia)
        *inertia = J;
    if (iters)
        *iters = it;
    sten_free(ctx, D), sten_free(ctx, d2), sten_free(ctx, cn), sten_free(ctx, best);
    sten_free(ctx, sum), sten_free(ctx, mass);
    return STEN_OK;
}

/* ------------------------------------------------------ the mini-batch stage */

typedef struct {
    float *C, *cn, *count; /* K centres, their squared norms, the (decayed) rows each took */
    uint32_t K;
} stage;

/* The rows: dense (X, n x dim) or sparse (S); a batch of sparse rows is
 * spread out dense into the batch buffer only, never the whole matrix. */
typedef struct {
    const float *X;
    const sten_csr *S;
    uint32_t dim;
} km_rows;

/* Rows ids[0..B) into Xb (B x dim). */
static void gather(const km_rows *R, const uint32_t *ids, uint32_t B, float *Xb)
{
    const uint32_t dim = R->dim;
    for (uint32_t b = 0; b < B; b++) {
        float *y = Xb + (uint64_t)b * dim;
        if (R->X) {
            memcpy(y, R->X + (uint64_t)ids[b] * dim, dim * sizeof *y);
            continue;
        }
        memset(y, 0, dim * sizeof *y);
        for (uint64_t e = R->S->row_ptr[ids[b]]; e < R->S->row_ptr[ids[b] + 1]; e++)
            y[R->S->col[e]] = R->S->val ? R->S->val[e] : 1.0f;
    }
}

static uint32_t auto_factor(uint64_t n)
{
    /* sten's choice for "auto" (SageMaker does not publish its rule): more
     * spare centres for more data, ceil(log10 n) in [1, 10] */
    uint32_t x = 1;
    for (uint64_t m = 10; m < n && x < 10; m *= 10)
        x++;
    return x;
}

/* One pass over the rows in a shuffled order; returns the pass's mean
 * squared distance (each batch measured before its update). */
static sten_status stage_pass(sten_ctx *ctx, const km_rows *R, uint64_t n, const sten_kmeans_opts *o, stage *s,
                              const uint32_t *order, float *Xb, float *D, uint32_t *best, float *d2, double *sum,
                              double *msd)
{
    const uint32_t dim = o->feature_dim, K = s->K, Bmax = o->mini_batch_size;
    double loss = 0;
    double *mass = sum + (uint64_t)K * dim;
    for (uint64_t pos = 0; pos < n; pos += Bmax) {
        const uint32_t B = (uint32_t)(n - pos < Bmax ? n - pos : Bmax);
        gather(R, order + pos, B, Xb);
        for (uint32_t b0 = 0; b0 < B; b0 += BLOCK)
            sten__nearest(ctx, Xb + (uint64_t)b0 * dim, B - b0 < BLOCK ? B - b0 : BLOCK, s->C, s->cn, K, dim, D,
                          best + b0, d2 + b0);
        if (o->half_life_time_size) { /* older rows weigh less: 1/2 after half_life rows */
            const float decay = (float)pow(0.5, (double)B / o->half_life_time_size);
            for (uint32_t c = 0; c < K; c++)
                s->count[c] *= decay;
        }
        for (uint32_t b = 0; b < B; b++) {
            loss += d2[b];
            double *acc = sum + (uint64_t)best[b] * dim;
            const float *x = Xb + (uint64_t)b * dim;
            for (uint32_t j = 0; j < dim; j++)
                acc[j] += x[j];
            mass[best[b]] += 1;
        }
        /* each centre moves to the mean of every row it has taken: c += (S - m c) / count */
        for (uint32_t c = 0; c < K; c++) {
            if (mass[c] == 0)
                continue;
            s->count[c] += (float)mass[c];
            float *cc = s->C + (uint64_t)c * dim;
            double *acc = sum + (uint64_t)c * dim;
            for (uint32_t j = 0; j < dim; j++) {
                cc[j] += (float)((acc[j] - mass[c] * cc[j]) / s->count[c]);
                acc[j] = 0;
            }
            mass[c] = 0;
        }
        sten__sq_norms(ctx, s->C, K, dim, s->cn);
        sten__progress(ctx, "k-means: mini-batch stage", "rows", pos + B, n);
    }
    *msd = loss / (double)n;
    return STEN_OK;
}

/* Fisher-Yates with the seed's stream for pass p. */
static void shuffle(uint32_t *order, uint64_t n, uint64_t seed, uint32_t p)
{
    sten_rng r;
    sten_rng_init(&r, seed, 0x73687566ull + p); /* "shuf" */
    for (uint64_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (uint64_t i = n - 1; i > 0; i--) {
        const uint32_t j = sten_rng_below(&r, (uint32_t)i + 1);
        const uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static sten_status check_opts(sten_ctx *ctx, uint64_t n, const sten_kmeans_opts *o)
{
    const char *bad = !o->k ? "k" : !o->feature_dim ? "feature_dim" : !o->mini_batch_size ? "mini_batch_size"
                    : !o->epochs ? "epochs" : !o->max_iterations ? "max_iterations"
                    : !o->local_lloyd_max_iter ? "local_lloyd_max_iter" : NULL;
    if (bad)
        return sten_fail(ctx, STEN_E_INVALID, "k-means: %s must be at least 1", bad);
    if (!(o->tol >= 0 && o->tol <= 1) || !(o->local_lloyd_tol >= 0 && o->local_lloyd_tol <= 1))
        return sten_fail(ctx, STEN_E_INVALID, "k-means: tol and local_lloyd_tol must be in [0, 1]");
    if (o->k > n)
        return sten_fail(ctx, STEN_E_INVALID, "k-means: k = %u is more than the %llu rows of the data", o->k,
                         (unsigned long long)n);
    if (n > UINT32_MAX)
        return sten_fail(ctx, STEN_E_INVALID, "k-means: %llu rows; at most %u", (unsigned long long)n, UINT32_MAX);
    return STEN_OK;
}

/* The local stage: trials of weighted Lloyd's on the K centres down to k;
 * the lowest inertia wins (the earlier trial on a tie). */
static sten_status local_stage(sten_ctx *ctx, const sten_kmeans_opts *o, const stage *s, float *out,
                               sten_kmeans_report *rep)
{
    const uint32_t dim = o->feature_dim, k = o->k, K = s->K;
    const uint32_t trials = o->local_lloyd_num_trials ? o->local_lloyd_num_trials : 10;
    float *w = sten_alloc(ctx, (size_t)K * sizeof *w), *C = sten_alloc(ctx, (size_t)k * dim * sizeof *C);
    if (!w || !C) {
        sten_free(ctx, w), sten_free(ctx, C);
        return STEN_E_NOMEM;
    }
    uint32_t weighted = 0;
    for (uint32_t c = 0; c < K; c++)
        weighted += (w[c] = s->count[c]) > 0;
    for (uint32_t c = 0; weighted < k && c < K; c++) /* too few centres took rows: the idle ones count a little */
        if (w[c] <= 0)
            w[c] = 1e-6f, weighted++;
    sten_status st = STEN_OK;
    double best = INFINITY;
    for (uint32_t t = 0; !st && t < trials; t++) {
        double J;
        const uint64_t seed = o->seed + 0x9E3779B97F4A7C15ull * (t + 1);
        st = sten_kmeans_seed(ctx, s->C, w, K, dim, k, o->local_lloyd_init, seed, C);
        if (!st)
            st = sten_kmeans_lloyd(ctx, s->C, w, K, dim, C, k, o->local_lloyd_max_iter, o->local_lloyd_tol, &J, NULL);
        if (!st && J < best) {
            best = J;
            memcpy(out, C, (size_t)k * dim * sizeof *C);
        }
    }
    if (rep) {
        rep->trials = trials;
        rep->local_inertia = best;
    }
    sten_free(ctx, w), sten_free(ctx, C);
    return st;
}

static sten_status fit_rows(sten_ctx *ctx, const km_rows *R, uint64_t n, const sten_kmeans_opts *o,
                            sten_kmeans *out, sten_kmeans_report *report)
{
    memset(out, 0, sizeof *out);
    sten_kmeans_report rep;
    memset(&rep, 0, sizeof rep);
    sten_status st = check_opts(ctx, n, o);
    if (st)
        return st;
    const uint32_t dim = o->feature_dim, Bmax = (uint32_t)(o->mini_batch_size < n ? o->mini_batch_size : n);
    const uint64_t want = (uint64_t)o->k * (o->extra_center_factor ? o->extra_center_factor : auto_factor(n));
    stage s = {.K = (uint32_t)(want < n ? want : n)};
    const uint32_t K = s.K;
    const uint32_t sample = (uint32_t)(n < STEN__MAXU(Bmax, 10ull * K) ? n : STEN__MAXU(Bmax, 10ull * K));
    uint32_t *order = sten_alloc(ctx, n * sizeof *order), *best = sten_alloc(ctx, (size_t)Bmax * sizeof *best);
    float *Xb = sten_alloc(ctx, (size_t)STEN__MAXU(Bmax, sample) * dim * sizeof *Xb);
    float *D = sten_alloc(ctx, (size_t)BLOCK * K * sizeof *D), *d2 = sten_alloc(ctx, (size_t)Bmax * sizeof *d2);
    double *sum = sten_calloc(ctx, (size_t)K * (dim + 1), sizeof *sum);
    s.C = sten_alloc(ctx, (size_t)K * dim * sizeof *s.C);
    s.cn = sten_alloc(ctx, (size_t)K * sizeof *s.cn);
    s.count = sten_calloc(ctx, K, sizeof *s.count);
    out->centers = sten_alloc(ctx, (size_t)o->k * dim * sizeof *out->centers);
    if (!order || !best || !Xb || !D || !d2 || !sum || !s.C || !s.cn || !s.count || !out->centers)
        st = STEN_E_NOMEM;
    /* the stage starts from centres seeded on a sample: the first rows of pass 1's order */
    if (!st) {
        shuffle(order, n, o->seed, 0);
        gather(R, order, sample, Xb);
        st = sten_kmeans_seed(ctx, Xb, NULL, sample, dim, K, o->init, o->seed, s.C);
    }
    if (!st)
        sten__sq_norms(ctx, s.C, K, dim, s.cn);
    const uint32_t passes = o->epochs < o->max_iterations ? o->epochs : o->max_iterations;
    double prev = 0;
    for (uint32_t p = 0; !st && p < passes; p++) {
        if (p)
            shuffle(order, n, o->seed, p);
        double msd;
        st = stage_pass(ctx, R, n, o, &s, order, Xb, D, best, d2, sum, &msd);
        rep.passes = p + 1;
        rep.stage_msd = msd;
        if (p && fabs(prev - msd) <= o->tol * prev)
            break;
        prev = msd;
    }
    rep.centers = K;
    if (!st)
        st = local_stage(ctx, o, &s, out->centers, &rep);
    sten_free(ctx, order), sten_free(ctx, best), sten_free(ctx, Xb), sten_free(ctx, D), sten_free(ctx, d2);
    sten_free(ctx, sum), sten_free(ctx, s.C), sten_free(ctx, s.cn), sten_free(ctx, s.count);
    if (st) {
        sten_kmeans_free(ctx, out);
        return st;
    }
    out->k = o->k;
    out->dim = dim;
    out->opts = *o;
    if (report)
        *report = rep;
    return STEN_OK;
}

sten_status sten_kmeans_fit(sten_ctx *ctx, const float *X, uint64_t n, const sten_kmeans_opts *o,
                            sten_kmeans *out, sten_kmeans_report *report)
{
    const km_rows R = {X, NULL, o->feature_dim};
    return fit_rows(ctx, &R, n, o, out, report);
}

sten_status sten_kmeans_fit_csr(sten_ctx *ctx, const sten_csr *X, const sten_kmeans_opts *o, sten_kmeans *out,
                                sten_kmeans_report *report)
{
    memset(out, 0, sizeof *out);
    if (X->cols > o->feature_dim)
        return sten_fail(ctx, STEN_E_INVALID, "k-means: the rows have %u columns, more than feature_dim = %u", X->cols,
                         o->feature_dim);
    const km_rows R = {NULL, X, o->feature_dim};
    return fit_rows(ctx, &R, X->rows, o, out, report);
}

void sten_kmeans_free(sten_ctx *ctx, sten_kmeans *m)
{
    if (!m)
        return;
    sten_free(ctx, m->centers);
    memset(m, 0, sizeof *m);
}

static sten_status assign_rows(sten_ctx *ctx, const sten_kmeans *m, const km_rows *R, uint64_t n,
                               uint32_t *cluster, float *dist, double *ssd)
{
    float *D = sten_alloc(ctx, (size_t)BLOCK * m->k * sizeof *D), *cn = sten_alloc(ctx, (size_t)m->k * sizeof *cn);
    float *d2 = sten_alloc(ctx, BLOCK * sizeof *d2);
    float *Xb = R->S ? sten_alloc(ctx, (size_t)BLOCK * m->dim * sizeof *Xb) : NULL;
    uint32_t ids[BLOCK];
    if (!D || !cn || !d2 || (R->S && !Xb)) {
        sten_free(ctx, D), sten_free(ctx, cn), sten_free(ctx, d2), sten_free(ctx, Xb);
        return STEN_E_NOMEM;
    }
    sten__sq_norms(ctx, m->centers, m->k, m->dim, cn);
    double s = 0;
    for (uint64_t i = 0; i < n; i += BLOCK) {
        const uint32_t B = (uint32_t)(n - i < BLOCK ? n - i : BLOCK);
        const float *Xi = Xb;
        if (!R->S) {
            Xi = R->X + i * m->dim;
        } else { /* a block of sparse rows spread out */
            for (uint32_t b = 0; b < B; b++)
                ids[b] = (uint32_t)(i + b);
            gather(R, ids, B, Xb);
        }
        sten__nearest(ctx, Xi, B, m->centers, cn, m->k, m->dim, D, cluster + i, d2);
        for (uint32_t b = 0; b < B; b++) {
            s += d2[b];
            if (dist)
                dist[i + b] = sqrtf(d2[b]);
        }
    }
    if (ssd)
        *ssd = s;
    sten_free(ctx, D), sten_free(ctx, cn), sten_free(ctx, d2), sten_free(ctx, Xb);
    return STEN_OK;
}

sten_status sten_kmeans_assign(sten_ctx *ctx, const sten_kmeans *m, const float *X, uint64_t n,
                               uint32_t *cluster, float *dist, double *ssd)
{
    const km_rows R = {X, NULL, m->dim};
    return assign_rows(ctx, m, &R, n, cluster, dist, ssd);
}

sten_status sten_kmeans_assign_csr(sten_ctx *ctx, const sten_kmeans *m, const sten_csr *X, uint32_t *cluster,
                                   float *dist, double *ssd)
{
    if (X->cols > m->dim)
        return sten_fail(ctx, STEN_E_INVALID, "k-means: the rows have %u columns, more than the model's %u", X->cols,
                         m->dim);
    const km_rows R = {NULL, X, m->dim};
    return assign_rows(ctx, m, &R, X->rows, cluster, dist, ssd);
}
