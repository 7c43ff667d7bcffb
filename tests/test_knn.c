/* test_knn.c — k-NN (src/algo/knn.c): exact search against a brute-force
 * reference (ids, distances, ties) for the three metrics, IVF against exact
 * and its recall on clustered data, the classifier's vote and the
 * regressor's mean against a reference, the sign projection and the
 * reservoir sample, model files, hyperparameter files and labeled CSV with
 * their exact error messages. */
#include "check.h"
#include "sten.h"

#include <netcdf.h>
#include <stdint.h>
#include <unistd.h>

#include "test_files.h"

/* ------------------------------------------------------ the reference */

/* Small integers (-3..3): every product and sum is exact in float, so the
 * SGEMM scores equal the reference's, and equal distances (ties) are
 * frequent. Every 7th row repeats an earlier one (exact duplicates). */
static void int_rows(float *X, int n, int d, uint64_t seed)
{
    sten_rng r;
    sten_rng_init(&r, seed, 3);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            X[i * d + j] = i % 7 == 6 ? X[(i / 2) * d + j] : (float)sten_rng_below(&r, 7) - 3.0f;
}

typedef struct {
    double v;
    uint32_t row;
} ref_hit;

static int by_near_l2(const void *a, const void *b)
{
    const ref_hit *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static int by_near_sim(const void *a, const void *b)
{
    const ref_hit *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* The metric between raw rows x and p, in double. */
static double ref_metric(const float *x, const float *p, int d, sten_knn_metric metric)
{
    double s = 0, nx = 0, np = 0;
    for (int j = 0; j < d; j++) {
        s += metric == STEN_KNN_L2 ? ((double)x[j] - p[j]) * ((double)x[j] - p[j]) : (double)x[j] * p[j];
        nx += (double)x[j] * x[j];
        np += (double)p[j] * p[j];
    }
    if (metric == STEN_KNN_COSINE)
        s = nx > 0 && np > 0 ? s / sqrt(nx * np) : 0;
    return s;
}

/* The K nearest of all N rows P for query x, by brute force: hits[0..K). */
static void ref_search(const float *P, int N, const float *x, int d, sten_knn_metric metric, int K, ref_hit *all,
                       ref_hit *hits)
{
    for (int i = 0; i < N; i++)
        all[i] = (ref_hit){ref_metric(x, P + i * d, d, metric), (uint32_t)i};
    qsort(all, N, sizeof *all, metric == STEN_KNN_L2 ? by_near_l2 : by_near_sim);
    memcpy(hits, all, (size_t)K * sizeof *hits);
}

static sten_knn fit(const float *X, const float *y, int n, int d, int k, sten_knn_metric metric, sten_knn_index index,
                    uint32_t nlists)
{
    sten_knn_opts o = sten_knn_defaults();
    o.feature_dim = d;
    o.k = k;
    o.sample_size = n;
    o.index_metric = metric;
    o.index_type = index;
    o.ivf_nlists = nlists;
    sten_knn m;
    CHECK_EQ(sten_knn_fit(ctx, X, y, n, &o, &m), STEN_OK);
    return m;
}

/* Search results against the reference. exact: ids and distances equal
 * (integer data, L2 and inner product); else each distance within 1e-5 of
 * the reference's at that rank and of the point's own, ids distinct, and
 * exact ties ordered by row. Returns the rows that differ. */
static int compare(const sten_knn *m, const uint32_t *ids, const float *dist, const ref_hit *hits, int K,
                   const float *P, const float *x, int d, sten_knn_metric metric, bool exact)
{
    int wrong = 0;
    for (int r = 0; r < K; r++) {
        const uint32_t row = m->rows[ids[r]];
        if (exact) {
            wrong += row != hits[r].row || dist[r] != (float)hits[r].v;
            continue;
        }
        wrong += fabs(dist[r] - hits[r].v) > 1e-5 || fabs(ref_metric(x, P + row * d, d, metric) - dist[r]) > 1e-5;
        for (int q = 0; q < r; q++)
            wrong += ids[q] == ids[r];
        wrong += r > 0 && dist[r] == dist[r - 1] && m->rows[ids[r - 1]] > row;
    }
    return wrong;
}

/* ------------------------------------------------------------- exact */

enum { EN = 5000, ED = 6, EQ = 600, EK = 10 };

static void test_exact_search(void)
{
    /* 5000 points: two GEMM blocks of columns; 600 queries: two blocks of rows */
    float *P = malloc(sizeof(float) * EN * ED), *Q = malloc(sizeof(float) * EQ * ED), *y = calloc(EN, sizeof *y);
    int_rows(P, EN, ED, 1);
    int_rows(Q, EQ, ED, 2);
    uint32_t *ids = malloc(sizeof *ids * EQ * EK);
    float *dist = malloc(sizeof *dist * EQ * EK);
    ref_hit *all = malloc(sizeof *all * EN), hits[EK];
    for (int metric = 0; metric < 3; metric++) {
        sten_knn m = fit(P, y, EN, ED, EK, (sten_knn_metric)metric, STEN_KNN_FLAT, 0);
        CHECK_EQ(m.n, EN);
        CHECK_EQ(sten_knn_search(ctx, &m, Q, EQ, EK, 0, ids, dist), STEN_OK);
        int wrong = 0, ties = 0;
        for (int q = 0; q < EQ; q++) {
            ref_search(P, EN, Q + q * ED, ED, (sten_knn_metric)metric, EK, all, hits);
            wrong += compare(&m, ids + q * EK, dist + q * EK, hits, EK, P, Q + q * ED, ED, (sten_knn_metric)metric,
                             metric != STEN_KNN_COSINE);
            for (int r = 1; r < EK; r++)
                ties += hits[r].v == hits[r - 1].v;
        }
        CHECK_EQ(wrong, 0);
        CHECK(ties > EQ); /* the data has ties to break, and they were broken by row */
        /* one thread or two: the same answer */
        uint32_t *ids1 = malloc(sizeof *ids1 * EQ * EK);
        sten_ctx_set_threads(ctx, 1);
        CHECK_EQ(sten_knn_search(ctx, &m, Q, EQ, EK, 0, ids1, NULL), STEN_OK);
        sten_ctx_set_threads(ctx, 2);
        CHECK(!memcmp(ids, ids1, sizeof *ids * EQ * EK));
        free(ids1);
        sten_knn_free(ctx, &m);
    }
    /* K = every point: the whole order */
    sten_knn m = fit(P, y, 40, ED, 40, STEN_KNN_L2, STEN_KNN_FLAT, 0);
    CHECK_EQ(sten_knn_search(ctx, &m, Q, 1, 40, 0, ids, dist), STEN_OK);
    ref_search(P, 40, Q, ED, STEN_KNN_L2, EK, all, hits); /* all[] holds the whole order */
    int wrong = 0;
    for (int r = 0; r < 40; r++)
        wrong += m.rows[ids[r]] != all[r].row;
    CHECK_EQ(wrong, 0);
    CHECK_EQ(sten_knn_search(ctx, &m, Q, 1, 41, 0, ids, dist), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "k-NN: 41 neighbours asked of an index of 40 points");
    sten_ctx_clear_error(ctx);
    sten_knn_free(ctx, &m);
    free(P), free(Q), free(y), free(ids), free(dist), free(all);
}

/* ------------------------------------------------------------------ IVF */

static void test_ivf_all_lists(void)
{
    float *P = malloc(sizeof(float) * EN * ED), *Q = malloc(sizeof(float) * EQ * ED), *y = calloc(EN, sizeof *y);
    int_rows(P, EN, ED, 3);
    int_rows(Q, EQ, ED, 4);
    uint32_t *a = malloc(sizeof *a * EQ * EK), *b = malloc(sizeof *b * EQ * EK);
    float *da = malloc(sizeof *da * EQ * EK), *db = malloc(sizeof *db * EQ * EK);
    for (int metric = 0; metric < 3; metric++) {
        sten_knn flat = fit(P, y, EN, ED, EK, (sten_knn_metric)metric, STEN_KNN_FLAT, 0);
        sten_knn ivf = fit(P, y, EN, ED, EK, (sten_knn_metric)metric, STEN_KNN_IVFFLAT, 20);
        CHECK_EQ(ivf.nlists, 20);
        CHECK_EQ(ivf.list_start[20], EN);
        CHECK_EQ(sten_knn_nprobe(&ivf, 0), 1); /* max(1, 20 / 16) */
        CHECK_EQ(sten_knn_search(ctx, &flat, Q, EQ, EK, 0, a, da), STEN_OK);
        CHECK_EQ(sten_knn_search(ctx, &ivf, Q, EQ, EK, 20, b, db), STEN_OK);
        int wrong = 0;
        for (int i = 0; i < EQ * EK; i++)
            wrong += metric == STEN_KNN_COSINE ? fabsf(da[i] - db[i]) > 1e-6f
                                               : flat.rows[a[i]] != ivf.rows[b[i]] || da[i] != db[i];
        CHECK_EQ(wrong, 0);
        sten_knn_free(ctx, &flat);
        sten_knn_free(ctx, &ivf);
    }
    free(P), free(Q), free(y), free(a), free(b), free(da), free(db);
}

enum { CN = 8000, CD = 16, CC = 40, CQ = 400, CK = 10 };

/* Clustered data: CC centres in [-10, 10]^CD, unit noise. */
static void clusters(float *X, int n, uint64_t seed)
{
    sten_rng r;
    sten_rng_init(&r, 77, 5);
    float C[CC * CD];
    for (int i = 0; i < CC * CD; i++)
        C[i] = 20.0f * sten_rng_uniform(&r) - 10.0f;
    sten_rng_init(&r, seed, 6);
    for (int i = 0; i < n; i++) {
        const int c = (int)sten_rng_below(&r, CC);
        for (int j = 0; j < CD; j++)
            X[i * CD + j] = C[c * CD + j] + sten_rng_normal(&r);
    }
}

static void test_ivf_recall(void)
{
    float *P = malloc(sizeof(float) * CN * CD), *Q = malloc(sizeof(float) * CQ * CD), *y = calloc(CN, sizeof *y);
    clusters(P, CN, 1);
    clusters(Q, CQ, 2);
    uint32_t *a = malloc(sizeof *a * CQ * CK), *b = malloc(sizeof *b * CQ * CK);
    sten_knn flat = fit(P, y, CN, CD, CK, STEN_KNN_L2, STEN_KNN_FLAT, 0);
    sten_knn ivf = fit(P, y, CN, CD, CK, STEN_KNN_L2, STEN_KNN_IVFFLAT, 0);
    CHECK_EQ(ivf.nlists, 89); /* auto: round(sqrt(8000)) */
    CHECK_EQ(sten_knn_search(ctx, &flat, Q, CQ, CK, 0, a, NULL), STEN_OK);
    const uint32_t probes[] = {1, 5, 89};
    double recall[3];
    for (int t = 0; t < 3; t++) {
        CHECK_EQ(sten_knn_search(ctx, &ivf, Q, CQ, CK, probes[t], b, NULL), STEN_OK);
        int hit = 0;
        for (int q = 0; q < CQ; q++)
            for (int r = 0; r < CK; r++)
                for (int s = 0; s < CK; s++)
                    hit += flat.rows[a[q * CK + r]] == ivf.rows[b[q * CK + s]];
        recall[t] = hit / (double)(CQ * CK);
    }
    printf("  IVF recall@10, 89 lists, 40 clusters: nprobe 1 %.3f, 5 (default) %.3f, 89 %.3f\n", recall[0],
           recall[1], recall[2]);
    CHECK_EQ(sten_knn_nprobe(&ivf, 0), 5);
    CHECK(recall[0] > 0.5);
    CHECK(recall[1] >= 0.95);
    CHECK(recall[2] == 1.0);
    /* each list read once for all the queries probing it (the rows shared among threads): the same
     * neighbours and distances, to the bit, for 1 thread and 2 */
    float *d1 = malloc(sizeof *d1 * CQ * CK), *d2 = malloc(sizeof *d2 * CQ * CK);
    sten_ctx_set_threads(ctx, 1);
    CHECK_EQ(sten_knn_search(ctx, &ivf, Q, CQ, CK, 5, a, d1), STEN_OK);
    sten_ctx_set_threads(ctx, 2);
    CHECK_EQ(sten_knn_search(ctx, &ivf, Q, CQ, CK, 5, b, d2), STEN_OK);
    CHECK(!memcmp(a, b, sizeof *a * CQ * CK) && !memcmp(d1, d2, sizeof *d1 * CQ * CK));
    free(d1), free(d2);
    sten_knn_free(ctx, &flat);
    sten_knn_free(ctx, &ivf);
    free(P), free(Q), free(y), free(a), free(b);
}

/* ---------------------------------------------------------- predictions */

/* The reference answer from the reference's neighbours (nearest first). */
static float ref_predict(const ref_hit *hits, int K, const float *y, sten_knn_predictor type)
{
    if (type == STEN_KNN_REGRESSOR) {
        double s = 0;
        for (int r = 0; r < K; r++)
            s += y[hits[r].row];
        return (float)(s / K);
    }
    int best = 0, best_n = 0;
    for (int r = 0; r < K; r++) { /* the most votes; on a tie the one met first */
        int c = 0;
        for (int s = 0; s < K; s++)
            c += y[hits[s].row] == y[hits[r].row];
        if (c > best_n)
            best_n = c, best = r;
    }
    return y[hits[best].row];
}

static void test_predict(void)
{
    enum { N = 1500, D = 5, NQ = 300, K = 6 };
    float *P = malloc(sizeof(float) * N * D), *Q = malloc(sizeof(float) * NQ * D), y[N], pred[NQ];
    int_rows(P, N, D, 8);
    int_rows(Q, NQ, D, 9);
    for (int i = 0; i < N; i++) /* labels from the features, with noise: votes split */
        y[i] = (float)((P[i * D] > 0) + (P[i * D + 1] > 0) + (i % 5 == 0));
    ref_hit *all = malloc(sizeof *all * N), hits[K];
    int ties = 0;
    for (int type = 0; type < 2; type++) {
        sten_knn m = fit(P, y, N, D, K, STEN_KNN_L2, STEN_KNN_FLAT, 0);
        m.opts.predictor_type = (sten_knn_predictor)type;
        CHECK_EQ(sten_knn_predict(ctx, &m, Q, NQ, 0, pred, NULL, NULL), STEN_OK);
        int wrong = 0;
        for (int q = 0; q < NQ; q++) {
            ref_search(P, N, Q + q * D, D, STEN_KNN_L2, K, all, hits);
            wrong += pred[q] != ref_predict(hits, K, y, (sten_knn_predictor)type);
            int c[4] = {0}, top = 0, nt = 0;
            for (int r = 0; r < K; r++)
                c[(int)y[hits[r].row]]++;
            for (int l = 0; l < 4; l++)
                top = c[l] > top ? c[l] : top;
            for (int l = 0; l < 4; l++)
                nt += c[l] == top;
            ties += type == 0 && nt > 1;
        }
        CHECK_EQ(wrong, 0);
        sten_knn_free(ctx, &m);
    }
    CHECK(ties > 10); /* the tie rule was exercised */
    /* the tie rule by hand: labels nearest first 5, 2, 2, 5 -> a tie, 5 met first */
    const float P1[] = {1, 2, 3, 4, 10}, y1[] = {5, 2, 2, 5, 9}, q1[] = {0};
    uint32_t ids[4];
    float d1[4], p1;
    sten_knn m = fit(P1, y1, 5, 1, 4, STEN_KNN_L2, STEN_KNN_FLAT, 0);
    CHECK_EQ(sten_knn_predict(ctx, &m, q1, 1, 0, &p1, ids, d1), STEN_OK);
    CHECK_EQ(p1, 5);
    const float wd[] = {1, 4, 9, 16};
    CHECK_CLOSE(d1, wd, 4, 0, 0);
    m.opts.predictor_type = STEN_KNN_REGRESSOR;
    CHECK_EQ(sten_knn_predict(ctx, &m, q1, 1, 0, &p1, NULL, NULL), STEN_OK);
    CHECK_EQ(p1, 3.5f);
    sten_knn_free(ctx, &m);
    free(P), free(Q), free(all);
}

/* ---------------------------------------------- projection and sampling */

static void test_sign_and_sample(void)
{
    enum { D = 40, T = 12, N = 1000 };
    float R[T * D], R2[T * D];
    CHECK_EQ(sten_knn_sign_matrix(ctx, D, T, 5, R), STEN_OK);
    CHECK_EQ(sten_knn_sign_matrix(ctx, D, T, 5, R2), STEN_OK);
    CHECK(!memcmp(R, R2, sizeof R));
    int plus = 0, bad = 0;
    for (int i = 0; i < T * D; i++) {
        plus += R[i] > 0;
        bad += fabsf(fabsf(R[i]) - 1.0f / sqrtf(T)) > 1e-7f;
    }
    CHECK_EQ(bad, 0);
    CHECK(plus > T * D / 3 && plus < 2 * T * D / 3);
    CHECK_EQ(sten_knn_sign_matrix(ctx, D, T, 6, R2), STEN_OK);
    CHECK(memcmp(R, R2, sizeof R) != 0);

    float *X = malloc(sizeof(float) * N * D), y[N];
    sten_rng r;
    sten_rng_init(&r, 9, 9);
    for (int i = 0; i < N * D; i++)
        X[i] = sten_rng_normal(&r);
    for (int i = 0; i < N; i++)
        y[i] = (float)i;
    sten_knn_opts o = sten_knn_defaults();
    o.feature_dim = D;
    o.k = 3;
    o.sample_size = 100;
    o.dimension_reduction_type = STEN_KNN_REDUCE_SIGN;
    o.dimension_reduction_target = T;
    o.seed = 5;
    sten_knn m, m2;
    CHECK_EQ(sten_knn_fit(ctx, X, y, N, &o, &m), STEN_OK);
    CHECK_EQ(m.n, 100);
    CHECK_EQ(m.index_dim, T);
    CHECK_EQ(m.train_rows, N);
    CHECK(m.projection && !memcmp(m.projection, R, sizeof R)); /* the seed's matrix */
    int order = 0, lab = 0, proj = 0;
    double ratio = 0;
    for (uint32_t i = 0; i < m.n; i++) {
        order += i > 0 && m.rows[i] <= m.rows[i - 1];
        lab += m.labels[i] != y[m.rows[i]];
        double n2 = 0, x2 = 0;
        for (int t = 0; t < T; t++) { /* point = R x */
            double s = 0;
            for (int j = 0; j < D; j++)
                s += (double)R[t * D + j] * X[m.rows[i] * D + j];
            proj += fabs(s - m.points[i * T + t]) > 1e-5;
            n2 += s * s;
        }
        for (int j = 0; j < D; j++)
            x2 += (double)X[m.rows[i] * D + j] * X[m.rows[i] * D + j];
        ratio += n2 / x2 / m.n;
    }
    CHECK_EQ(order, 0);
    CHECK_EQ(lab, 0);
    CHECK_EQ(proj, 0);
    CHECK(m.rows[m.n - 1] < N && m.rows[m.n - 1] > N / 2); /* drawn from all the rows, not the first */
    CHECK(ratio > 0.8 && ratio < 1.2); /* lengths kept on average */
    CHECK_EQ(sten_knn_fit(ctx, X, y, N, &o, &m2), STEN_OK); /* the same seed: the same sample */
    CHECK(!memcmp(m.rows, m2.rows, sizeof *m.rows * m.n));
    sten_knn_free(ctx, &m2);
    o.seed = 6;
    CHECK_EQ(sten_knn_fit(ctx, X, y, N, &o, &m2), STEN_OK);
    CHECK(memcmp(m.rows, m2.rows, sizeof *m.rows * m.n) != 0);
    sten_knn_free(ctx, &m2);
    /* the library refuses what the hyperparameter reader would */
    o.dimension_reduction_target = D;
    CHECK_EQ(sten_knn_fit(ctx, X, y, N, &o, &m2), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "k-NN: dimension_reduction_target = 40 (expected 1 to feature_dim - 1 with sign "
              "or fjlt, 0 without reduction)");
    sten_ctx_clear_error(ctx);
    o.dimension_reduction_type = STEN_KNN_REDUCE_NONE;
    o.dimension_reduction_target = 0;
    o.k = 101;
    CHECK_EQ(sten_knn_fit(ctx, X, y, N, &o, &m2), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "k-NN: k = 101 is more than the 100 points of the index");
    sten_ctx_clear_error(ctx);
    sten_knn_free(ctx, &m);
    free(X);
}

/* The fast JL transform: entries +-1/sqrt(target) in the Hadamard pattern
 * (rows of a power-of-two width orthogonal), deterministic for the seed,
 * lengths kept on average with less spread than a sign projection's; a
 * fitted index projects with it; IVFPQ (product-quantized residuals): every
 * distance is the exact distance to the point's reconstruction (centroid +
 * the coded sub-vectors), recall against exact search on clustered data,
 * all lists probed beats the default probes, and the model file round-trips
 * to the same answers. */
static void test_fjlt_and_ivfpq(void)
{
    enum { D = 64, T = 16 };
    float *R = malloc(sizeof(float) * T * D), *R2 = malloc(sizeof(float) * T * D);
    CHECK_EQ(sten_knn_fjlt_matrix(ctx, D, T, 5, R), STEN_OK);
    CHECK_EQ(sten_knn_fjlt_matrix(ctx, D, T, 5, R2), STEN_OK);
    CHECK(!memcmp(R, R2, sizeof(float) * T * D));
    int bad = 0, nonorth = 0;
    for (int i = 0; i < T * D; i++)
        bad += fabsf(fabsf(R[i]) - 1.0f / sqrtf(T)) > 1e-7f;
    for (int a = 0; a < T; a++)
        for (int b = 0; b < T; b++) {
            double dot = 0;
            for (int j = 0; j < D; j++)
                dot += (double)R[a * D + j] * R[b * D + j];
            nonorth += fabs(dot - (a == b ? (double)D / T : 0.0)) > 1e-5;
        }
    CHECK_EQ(bad, 0);
    CHECK_EQ(nonorth, 0); /* D a power of two: R R^T = (D / T) I */
    CHECK_EQ(sten_knn_fjlt_matrix(ctx, D, D + 1, 5, R2), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);
    /* |R x|^2 / |x|^2 over random x: mean ~1 */
    sten_rng r;
    sten_rng_init(&r, 3, 3);
    double mean = 0;
    for (int i = 0; i < 400; i++) {
        float x[D];
        double x2 = 0, y2 = 0;
        for (int j = 0; j < D; j++)
        {
            x[j] = sten_rng_normal(&r);
            x2 += (double)x[j] * x[j];
        }
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int j = 0; j < D; j++)
                s += (double)R[t * D + j] * x[j];
            y2 += s * s;
        }
        mean += y2 / x2 / 400;
    }
    CHECK(mean > 0.9 && mean < 1.1);
    free(R), free(R2);

    /* IVFPQ on clustered data */
    float *P = malloc(sizeof(float) * CN * CD), *Q = malloc(sizeof(float) * CQ * CD), *y = calloc(CN, sizeof *y);
    clusters(P, CN, 1);
    clusters(Q, CQ, 2);
    uint32_t *a = malloc(sizeof *a * CQ * CK), *b = malloc(sizeof *b * CQ * CK), *c = malloc(sizeof *c * CQ * CK);
    float *db = malloc(sizeof *db * CQ * CK), *dc = malloc(sizeof *dc * CQ * CK);
    sten_knn flat = fit(P, y, CN, CD, CK, STEN_KNN_L2, STEN_KNN_FLAT, 0);
    sten_knn_opts o = sten_knn_defaults();
    o.feature_dim = CD;
    o.k = CK;
    o.sample_size = CN;
    o.index_type = STEN_KNN_IVFPQ;
    o.pq_m = 8;
    sten_knn pq;
    CHECK_EQ(sten_knn_fit(ctx, P, y, CN, &o, &pq), STEN_OK);
    CHECK(pq.points == NULL && pq.codes && pq.pq_m == 8 && pq.pq_ksub == 256 && pq.nlists == 89);
    CHECK_EQ(sten_knn_search(ctx, &flat, Q, CQ, CK, 0, a, NULL), STEN_OK);
    double recall[2];
    const uint32_t probes[2] = {0, 89};
    for (int t = 0; t < 2; t++) {
        CHECK_EQ(sten_knn_search(ctx, &pq, Q, CQ, CK, probes[t], b, db), STEN_OK);
        int hit = 0;
        for (int q = 0; q < CQ; q++)
            for (int i = 0; i < CK; i++)
                for (int j = 0; j < CK; j++)
                    hit += flat.rows[a[q * CK + i]] == pq.rows[b[q * CK + j]];
        recall[t] = hit / (double)(CQ * CK);
    }
    /* each distance: |q - (centroid + reconstruction)|^2 of that point, in order */
    int wrong = 0, order = 0;
    const uint32_t ds = CD / 8;
    for (int q = 0; q < CQ; q++)
        for (int i = 0; i < CK; i++) {
            const uint32_t p = b[q * CK + i];
            uint32_t list = 0;
            while (pq.list_start[list + 1] <= p)
                list++;
            double s = 0;
            for (uint32_t j = 0; j < 8; j++)
                for (uint32_t t = 0; t < ds; t++) {
                    const float rec = pq.centroids[list * CD + j * ds + t] +
                                      pq.pq_centroids[((uint64_t)j * 256 + pq.codes[(uint64_t)p * 8 + j]) * ds + t];
                    s += ((double)Q[q * CD + j * ds + t] - rec) * ((double)Q[q * CD + j * ds + t] - rec);
                }
            wrong += fabs(s - db[q * CK + i]) > 1e-3 * (1 + s);
            order += i > 0 && db[q * CK + i] < db[q * CK + i - 1];
        }
    printf("  IVFPQ (8 bytes a point) recall@10, 89 lists: nprobe 5 (default) %.3f, 89 %.3f\n", recall[0], recall[1]);
    CHECK_EQ(wrong, 0);
    CHECK_EQ(order, 0);
    CHECK(recall[0] > 0.6);
    CHECK(recall[1] >= recall[0]);
    /* the model file: the same answers */
    char tmpd[] = "/tmp/sten_pq_XXXXXX", path[64];
    CHECK(mkdtemp(tmpd) != NULL);
    snprintf(path, sizeof path, "%s/pq.nc", tmpd);
    CHECK_EQ(sten_knn_save(ctx, &pq, path), STEN_OK);
    sten_knn back;
    CHECK_EQ(sten_knn_load(ctx, path, &back), STEN_OK);
    CHECK(back.codes && !back.points && back.pq_m == 8 && back.opts.index_type == STEN_KNN_IVFPQ);
    CHECK_EQ(sten_knn_search(ctx, &back, Q, CQ, CK, 89, c, dc), STEN_OK);
    CHECK(!memcmp(b, c, sizeof *b * CQ * CK) && !memcmp(db, dc, sizeof *db * CQ * CK));
    sten_knn_free(ctx, &back);
    unlink(path);
    /* inner product over an fjlt-reduced index: fitted with the seed's matrix */
    o.index_metric = STEN_KNN_INNER_PRODUCT;
    o.dimension_reduction_type = STEN_KNN_REDUCE_FJLT;
    o.dimension_reduction_target = 8;
    o.pq_m = 3;
    CHECK_EQ(sten_knn_fit(ctx, P, y, CN, &o, &back), STEN_E_INVALID); /* 3 does not divide 8 */
    CHECK_STR(sten_ctx_error(ctx), "k-NN: faiss_index_pq_m = 3 does not divide the index width 8 (feature_dim, or "
              "dimension_reduction_target when reducing)");
    sten_ctx_clear_error(ctx);
    o.pq_m = 0; /* auto: 8 */
    CHECK_EQ(sten_knn_fit(ctx, P, y, CN, &o, &back), STEN_OK);
    float Rf[8 * CD];
    CHECK_EQ(sten_knn_fjlt_matrix(ctx, CD, 8, o.seed, Rf), STEN_OK);
    CHECK(back.pq_m == 8 && back.projection && !memcmp(back.projection, Rf, sizeof Rf));
    CHECK_EQ(sten_knn_search(ctx, &back, Q, CQ, CK, 0, c, dc), STEN_OK);
    CHECK_EQ(sten_knn_save(ctx, &back, path), STEN_OK);
    sten_knn again;
    CHECK_EQ(sten_knn_load(ctx, path, &again), STEN_OK);
    CHECK_EQ(again.opts.dimension_reduction_type, STEN_KNN_REDUCE_FJLT);
    CHECK_EQ(sten_knn_search(ctx, &again, Q, CQ, CK, 0, b, db), STEN_OK);
    CHECK(!memcmp(b, c, sizeof *b * CQ * CK) && !memcmp(db, dc, sizeof *db * CQ * CK));
    for (int q = 0; q < CQ; q++) /* best first by inner product */
        for (int i = 1; i < CK; i++)
            order += dc[q * CK + i] > dc[q * CK + i - 1];
    CHECK_EQ(order, 0);
    sten_knn_free(ctx, &again);
    sten_knn_free(ctx, &back);
    unlink(path);
    rmdir(tmpd);
    sten_knn_free(ctx, &flat);
    sten_knn_free(ctx, &pq);
    free(P), free(Q), free(y), free(a), free(b), free(c), free(db), free(dc);
}

/* --------------------------------------------------------- model files */

static void test_model_files(void)
{
    enum { N = 600, D = 10, NQ = 50, K = 4 };
    float *X = malloc(sizeof(float) * N * D), y[N];
    sten_rng r;
    sten_rng_init(&r, 4, 4);
    for (int i = 0; i < N * D; i++)
        X[i] = sten_rng_normal(&r) + (float)(i / D % 3) * 4.0f;
    for (int i = 0; i < N; i++)
        y[i] = (float)(i % 3);
    char path[256];
    snprintf(path, sizeof path, "%s/knn.nc", dir);
    uint32_t ia[NQ * K], ib[NQ * K];
    float da[NQ * K], db[NQ * K], pa[NQ], pb[NQ];
    for (int variant = 0; variant < 2; variant++) {
        sten_knn_opts o = sten_knn_defaults();
        o.feature_dim = D;
        o.k = K;
        o.sample_size = variant ? 500 : N;
        o.predictor_type = variant ? STEN_KNN_REGRESSOR : STEN_KNN_CLASSIFIER;
        o.index_metric = variant ? STEN_KNN_COSINE : STEN_KNN_INNER_PRODUCT;
        if (variant) {
            o.index_type = STEN_KNN_IVFFLAT;
            o.dimension_reduction_type = STEN_KNN_REDUCE_SIGN;
            o.dimension_reduction_target = 6;
        }
        sten_knn m, back;
        CHECK_EQ(sten_knn_fit(ctx, X, y, N, &o, &m), STEN_OK);
        CHECK_EQ(sten_knn_save(ctx, &m, path), STEN_OK);
        sten_model_kind kind = STEN_MODEL_NETWORK;
        CHECK_EQ(sten_model_kind_of(ctx, path, &kind), STEN_OK);
        CHECK_EQ(kind, STEN_MODEL_KNN);
        CHECK_STR(sten_model_kind_name(kind), "knn");
        CHECK_EQ(sten_knn_load(ctx, path, &back), STEN_OK);
        CHECK_EQ(back.n, m.n);
        CHECK_EQ(back.nlists, m.nlists);
        CHECK_EQ(back.index_dim, m.index_dim);
        CHECK_EQ(back.opts.k, K);
        CHECK_EQ(back.opts.predictor_type, o.predictor_type);
        CHECK_EQ(back.opts.index_metric, o.index_metric);
        CHECK_EQ(back.opts.index_type, o.index_type);
        CHECK_EQ(back.train_rows, N);
        CHECK(!memcmp(back.points, m.points, sizeof(float) * m.n * m.index_dim));
        CHECK(!memcmp(back.rows, m.rows, sizeof(uint32_t) * m.n));
        CHECK_EQ(sten_knn_predict(ctx, &m, X, NQ, 0, pa, ia, da), STEN_OK);
        CHECK_EQ(sten_knn_predict(ctx, &back, X, NQ, 0, pb, ib, db), STEN_OK);
        CHECK(!memcmp(ia, ib, sizeof ia) && !memcmp(da, db, sizeof da) && !memcmp(pa, pb, sizeof pa));
        sten_knn_free(ctx, &m);
        sten_knn_free(ctx, &back);
    }
    sten_kmeans km;
    check_error(sten_kmeans_load(ctx, path, &km), STEN_E_FORMAT, path, ": this is a knn model, not a kmeans model");
    /* a damaged model: list_start not a partition */
    int nc, id;
    CHECK_EQ(nc_open(path, NC_WRITE, &nc), NC_NOERR);
    CHECK_EQ(nc_inq_varid(nc, "list_start", &id), NC_NOERR);
    const size_t at = 1;
    const unsigned big = 100000;
    CHECK_EQ(nc_put_var1_uint(nc, id, &at, &big), NC_NOERR);
    nc_close(nc);
    sten_knn back;
    check_error(sten_knn_load(ctx, path, &back), STEN_E_FORMAT, path, ": list_start is not a partition of the points");
    free(X);
}

/* ------------------------------------------------------ hyperparameters */

static void test_hyperparameters(void)
{
    sten_knn_opts o;
    const char *f = write_file("hp.json", "{\"feature_dim\": \"16\", \"k\": 7, \"predictor_type\": \"regressor\", "
                                          "\"sample_size\": \"2000\", \"dimension_reduction_type\": \"sign\", "
                                          "\"dimension_reduction_target\": \"8\", \"index_type\": \"faiss.IVFFlat\", "
                                          "\"index_metric\": \"COSINE\", \"faiss_index_ivf_nlists\": \"30\", "
                                          "\"mini_batch_size\": \"100\", \"_tuning_objective_metric\": \"test:mse\"}");
    CHECK_EQ(sten_knn_opts_from_hyperparameters(ctx, f, &o), STEN_OK);
    CHECK_EQ(o.feature_dim, 16);
    CHECK_EQ(o.k, 7);
    CHECK_EQ(o.predictor_type, STEN_KNN_REGRESSOR);
    CHECK_EQ(o.sample_size, 2000);
    CHECK_EQ(o.dimension_reduction_type, STEN_KNN_REDUCE_SIGN);
    CHECK_EQ(o.dimension_reduction_target, 8);
    CHECK_EQ(o.index_type, STEN_KNN_IVFFLAT);
    CHECK_EQ(o.index_metric, STEN_KNN_COSINE);
    CHECK_EQ(o.ivf_nlists, 30);
    CHECK_EQ(o.mini_batch_size, 100);
    f = write_file("hp.json", "{\"feature_dim\": \"16\", \"k\": \"7\", \"predictor_type\": \"classifier\", "
                              "\"sample_size\": \"2000\"}");
    CHECK_EQ(sten_knn_opts_from_hyperparameters(ctx, f, &o), STEN_OK);
    CHECK_EQ(o.index_type, STEN_KNN_FLAT);
    CHECK_EQ(o.index_metric, STEN_KNN_L2);
    CHECK_EQ(o.mini_batch_size, 5000);
    CHECK_EQ(o.dimension_reduction_type, STEN_KNN_REDUCE_NONE);
#define BASE "\"feature_dim\": \"16\", \"k\": \"5\", \"predictor_type\": \"classifier\", \"sample_size\": \"100\""
    static const struct {
        const char *json, *tail;
        sten_status st;
    } bad[] = {
        {"{" BASE ", \"nprobe\": \"4\"}",
         ": unknown k-NN hyperparameter \"nprobe\" (known: feature_dim, k, predictor_type, sample_size, "
         "dimension_reduction_type, dimension_reduction_target, index_type, index_metric, faiss_index_ivf_nlists, "
         "faiss_index_pq_m, mini_batch_size)", STEN_E_PARSE},
        {"{\"feature_dim\": \"16\", \"k\": \"5\", \"sample_size\": \"100\"}",
         ": hyperparameter predictor_type is required (k-NN)", STEN_E_PARSE},
        {"{\"feature_dim\": \"16\", \"k\": \"5\", \"predictor_type\": \"classifier\"}",
         ": hyperparameter sample_size is required (k-NN)", STEN_E_PARSE},
        {"{\"feature_dim\": \"16\", \"k\": \"0\", \"predictor_type\": \"classifier\", \"sample_size\": \"100\"}",
         ": hyperparameter k = \"0\" is out of range (expected an integer from 1 to 10000)", STEN_E_RANGE},
        {"{\"feature_dim\": \"16\", \"k\": \"5\", \"predictor_type\": \"classify\", \"sample_size\": \"100\"}",
         ": hyperparameter predictor_type = \"classify\" is not allowed (expected classifier or regressor)",
         STEN_E_RANGE},
        {"{" BASE ", \"index_type\": \"faiss.HNSW\"}",
         ": hyperparameter index_type = \"faiss.HNSW\" is not allowed (expected faiss.Flat, faiss.IVFFlat or "
         "faiss.IVFPQ)", STEN_E_RANGE},
        {"{" BASE ", \"index_metric\": \"l2\"}",
         ": hyperparameter index_metric = \"l2\" is not allowed (expected L2, INNER_PRODUCT or COSINE)", STEN_E_RANGE},
        {"{" BASE ", \"faiss_index_ivf_nlists\": \"many\", \"index_type\": \"faiss.IVFFlat\"}",
         ": hyperparameter faiss_index_ivf_nlists = \"many\" is not allowed (expected auto or an integer from 1 to "
         "1000000)", STEN_E_RANGE},
        {"{" BASE ", \"index_type\": \"faiss.IVFPQ\", \"faiss_index_pq_m\": \"5\"}",
         ": hyperparameter faiss_index_pq_m = 5 does not divide the index width 16 (feature_dim, or "
         "dimension_reduction_target when reducing)", STEN_E_RANGE},
        {"{" BASE ", \"faiss_index_pq_m\": \"4\"}",
         ": hyperparameter faiss_index_pq_m applies only to index_type faiss.IVFPQ (it is faiss.Flat)", STEN_E_RANGE},
        {"{" BASE ", \"dimension_reduction_type\": \"sign\"}",
         ": hyperparameter dimension_reduction_target is required with dimension_reduction_type sign (k-NN)",
         STEN_E_PARSE},
        {"{" BASE ", \"dimension_reduction_target\": \"8\"}",
         ": hyperparameter dimension_reduction_target = 8 needs dimension_reduction_type sign or fjlt (it is none)",
         STEN_E_RANGE},
        {"{" BASE ", \"dimension_reduction_type\": \"sign\", \"dimension_reduction_target\": \"16\"}",
         ": hyperparameter dimension_reduction_target = 16 is not less than feature_dim = 16 (expected 1 to "
         "feature_dim - 1)", STEN_E_RANGE},
        {"{" BASE ", \"faiss_index_ivf_nlists\": \"10\"}",
         ": hyperparameter faiss_index_ivf_nlists = 10 applies only to index_type faiss.IVFFlat or faiss.IVFPQ (it "
         "is faiss.Flat)",
         STEN_E_RANGE},
        {"{\"feature_dim\": \"16\", \"k\": \"500\", \"predictor_type\": \"classifier\", \"sample_size\": \"100\"}",
         ": hyperparameter k = 500 is more than sample_size = 100 (expected 1 to sample_size)", STEN_E_RANGE},
        {"{" BASE ", \"_tuning_objective_metric\": \"test:mse\"}",
         ": hyperparameter _tuning_objective_metric = \"test:mse\" is not what a classifier prints (expected "
         "test:accuracy)", STEN_E_RANGE},
        {"{" BASE ", \"_tuning_objective_metric\": \"test:msd\"}",
         ": hyperparameter _tuning_objective_metric = \"test:msd\" names no metric k-NN prints (expected "
         "test:accuracy or test:mse)", STEN_E_RANGE},
    };
#undef BASE
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *path = write_file("bad.json", bad[i].json);
        check_error(sten_knn_opts_from_hyperparameters(ctx, path, &o), bad[i].st, path, bad[i].tail);
    }
}

/* ---------------------------------------------------------- labeled CSV */

static void test_labeled_csv(void)
{
    float *X = NULL, *y = NULL;
    uint64_t n = 0;
    const char *f = write_file("ok.csv", "1,2,3,4\n0,-4.5,5e1,6\n");
    CHECK_EQ(sten_csv_read_labeled(ctx, f, 3, &X, &y, &n), STEN_OK);
    CHECK_EQ(n, 2);
    const float wx[] = {2, 3, 4, -4.5f, 50, 6}, wy[] = {1, 0};
    if (X && y) {
        CHECK_CLOSE(X, wx, 6, 0, 0);
        CHECK_CLOSE(y, wy, 2, 0, 0);
    }
    sten_free(ctx, X), sten_free(ctx, y);
    static const struct {
        const char *text, *tail;
    } bad[] = {
        {"1,2,3,4\n1,2,3\n", ":2:6: expected 4 fields (the label and feature_dim), got 3"},
        {"x,2,3,4\n", ":1:1: expected a number, got \"x\""},
        {"", ": no rows (expected lines of 4 comma-separated numbers, the label first)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *path = write_file("bad.csv", bad[i].text);
        check_error(sten_csv_read_labeled(ctx, path, 3, &X, &y, &n), STEN_E_PARSE, path, bad[i].tail);
        CHECK(X == NULL && y == NULL && n == 0);
    }
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return 1;
    sten_ctx_set_threads(ctx, 2);
    snprintf(dir, sizeof dir, "/tmp/sten-knn-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_exact_search);
    RUN(test_ivf_all_lists);
    RUN(test_ivf_recall);
    RUN(test_predict);
    RUN(test_sign_and_sample);
    RUN(test_fjlt_and_ivfpq);
    RUN(test_model_files);
    RUN(test_hyperparameters);
    RUN(test_labeled_csv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
