/* test_rec.c — evaluation metrics against hand-computed cases: lists
 * shorter than k, held-out sets smaller than k, users without held-out items,
 * coverage and MRR; score metrics (RMSE, MAE, AUC with ties, log loss); the
 * evaluation splits (src/rec/split.c) on generated data; item-item
 * similarity (src/rec/similar.c) and the neighbourhood baselines
 * (src/rec/nbhd.c) against dense double references. */
#include "check.h"
#include "sten.h"

static sten_ctx *ctx;

static void test_rank_metrics_by_hand(void)
{
    const uint32_t ks[3] = {1, 3, 5};
    sten_eval *ev;
    CHECK_EQ(sten_eval_new(ctx, ks, 3, 10, &ev), STEN_OK);
    const uint32_t r1[5] = {5, 1, 7, 3, 9}, t1[3] = {1, 3, 4};
    const uint32_t r2[2] = {2, 0}, t2[2] = {0, 2};
    const uint32_t r3[1] = {8};
    CHECK_EQ(sten_eval_add(ctx, ev, r1, 5, t1, 3), STEN_OK);
    sten_rank_metrics one[3];
    double mrr, cov;
    uint64_t users, empty;
    sten_eval_result(ev, one, &mrr, &cov, &users, &empty);
    /* user 1 alone */
    CHECK_NEAR(one[0].precision, 0.0, 1e-12, 0);
    CHECK_NEAR(one[0].ndcg, 0.0, 1e-12, 0);
    CHECK_NEAR(one[1].precision, 1.0 / 3, 1e-12, 0);
    CHECK_NEAR(one[1].recall, 1.0 / 3, 1e-12, 0);
    CHECK_NEAR(one[1].recall_trunc, 1.0 / 3, 1e-12, 0);
    CHECK_NEAR(one[1].ndcg, 0.630929753571 / 2.130929753571, 1e-9, 0);
    CHECK_NEAR(one[1].map, 0.5 / 3, 1e-12, 0);
    CHECK_NEAR(one[1].hit_rate, 1.0, 1e-12, 0);
    CHECK_NEAR(one[2].precision, 0.4, 1e-12, 0);
    CHECK_NEAR(one[2].recall, 2.0 / 3, 1e-12, 0);
    CHECK_NEAR(one[2].ndcg, (0.630929753571 + 0.430676558073) / 2.130929753571, 1e-9, 0);
    CHECK_NEAR(one[2].map, (0.5 + 0.5) / 3, 1e-12, 0);
    CHECK_NEAR(mrr, 0.5, 1e-12, 0);
    /* user 2: truth smaller than k, every slot a hit, list shorter than k */
    CHECK_EQ(sten_eval_add(ctx, ev, r2, 2, t2, 2), STEN_OK);
    /* user 3: nothing held out: counted apart */
    CHECK_EQ(sten_eval_add(ctx, ev, r3, 1, NULL, 0), STEN_OK);
    sten_rank_metrics all[3];
    sten_eval_result(ev, all, &mrr, &cov, &users, &empty);
    CHECK_EQ(users, 2);
    CHECK_EQ(empty, 1);
    CHECK_NEAR(all[2].precision, 0.4, 1e-12, 0);
    CHECK_NEAR(all[2].recall, (2.0 / 3 + 1.0) / 2, 1e-12, 0);
    CHECK_NEAR(all[2].recall_trunc, (2.0 / 3 + 1.0) / 2, 1e-12, 0);
    CHECK_NEAR(all[2].ndcg, ((0.630929753571 + 0.430676558073) / 2.130929753571 + 1.0) / 2, 1e-9, 0);
    CHECK_NEAR(all[2].map, (1.0 / 3 + 1.0) / 2, 1e-12, 0);
    CHECK_NEAR(all[0].recall_trunc, 0.5, 1e-12, 0); /* user 2's first item is a hit */
    CHECK_NEAR(all[0].precision, 0.5, 1e-12, 0);
    CHECK_NEAR(mrr, 0.75, 1e-12, 0);
    CHECK_NEAR(cov, 0.8, 1e-12, 0);
    /* duplicate truth items count once */
    const uint32_t t4[3] = {5, 5, 5};
    CHECK_EQ(sten_eval_add(ctx, ev, r1, 5, t4, 3), STEN_OK);
    sten_eval_result(ev, all, &mrr, &cov, &users, &empty);
    CHECK_NEAR(all[0].precision, (0.0 + 1.0 + 1.0) / 3, 1e-12, 0);
    CHECK_NEAR(all[2].recall, (2.0 / 3 + 1.0 + 1.0) / 3, 1e-12, 0);
    /* out-of-catalogue ids are errors */
    const uint32_t bad[1] = {10};
    CHECK_EQ(sten_eval_add(ctx, ev, bad, 1, t1, 3), STEN_E_RANGE);
    CHECK_STR(sten_ctx_error(ctx), "recommended item 10 is outside the 10-item catalogue");
    sten_ctx_clear_error(ctx);
    sten_eval_free(ctx, ev);
    CHECK_EQ(sten_eval_new(ctx, ks, 0, 10, &ev), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);
}

static void test_score_metrics_by_hand(void)
{
    const float s[4] = {0.9f, 0.2f, 0.6f, 0.6f}, y[4] = {1, 0, 0, 1};
    sten_score_metrics m;
    CHECK_EQ(sten_eval_scores(ctx, s, y, 4, &m), STEN_OK);
    CHECK_NEAR(m.rmse, sqrt(0.57 / 4), 1e-6, 0);
    CHECK_NEAR(m.mae, 0.325, 1e-6, 0);
    CHECK_NEAR(m.auc, 0.875, 1e-12, 0);
    CHECK_NEAR(m.logloss, -(log(0.9) + log(0.8) + log(0.4) + log(0.6)) / 4, 1e-6, 0);
    CHECK_NEAR(m.accuracy, 0.75, 1e-12, 0);
    const float one_class[2] = {1, 1};
    CHECK_EQ(sten_eval_scores(ctx, s, one_class, 2, &m), STEN_OK);
    CHECK(isnan(m.auc));
    const float nan_s[1] = {NAN};
    CHECK_EQ(sten_eval_scores(ctx, nan_s, y, 1, &m), STEN_E_RANGE);
    sten_ctx_clear_error(ctx);
}

/* EASE's defining identity: with G = X^T X and P = (G + lambda I)^-1,
 * B = I - P diag(1/diag P), so (G + lambda I) B has G's off-diagonal. */
static void test_ease_identity_and_popularity(void)
{
    const uint32_t U = 12, N = 7;
    sten_csr X;
    CHECK_EQ(sten_csr_init(ctx, &X, U, N, U * N, false), STEN_OK);
    uint64_t e = 0;
    for (uint32_t u = 0; u < U; u++) {
        for (uint32_t j = 0; j < N; j++)
            if ((u * 3 + j * 5 + u * j) % 4 == 0 || j == u % N)
                X.col[e++] = j;
        X.row_ptr[u + 1] = e;
    }
    X.rows = U;
    X.nnz = e;
    double G[7][7] = {{0}};
    for (uint32_t u = 0; u < U; u++)
        for (uint64_t a = X.row_ptr[u]; a < X.row_ptr[u + 1]; a++)
            for (uint64_t b = X.row_ptr[u]; b < X.row_ptr[u + 1]; b++)
                G[X.col[a]][X.col[b]] += 1.0;
    sten_ease *m;
    const float lambda = 2.5f;
    CHECK_EQ(sten_ease_fit(ctx, &X, lambda, 100, &m), STEN_OK);
    float S[12 * 7];
    sten_ease_scores(ctx, m, &X, S);
    /* recover B row by row from unit users: score of e_i is row i of B */
    sten_csr one;
    sten_csr_init(ctx, &one, N, N, N, false);
    for (uint32_t i = 0; i < N; i++) {
        one.col[i] = i;
        one.row_ptr[i + 1] = i + 1;
    }
    one.rows = N;
    one.nnz = N;
    float Bm[7 * 7];
    sten_ease_scores(ctx, m, &one, Bm);
    for (uint32_t i = 0; i < N; i++) {
        CHECK_NEAR(Bm[i * N + i], 0.0, 1e-7, 0);
        for (uint32_t j = 0; j < N; j++) {
            if (i == j)
                continue;
            double mij = 0;
            for (uint32_t k = 0; k < N; k++)
                mij += (G[i][k] + (i == k ? lambda : 0)) * Bm[k * N + j];
            CHECK_NEAR(mij, G[i][j], 1e-3, 1e-4);
        }
    }
    /* a user's scores are the sum of the B rows of its items */
    for (uint32_t j = 0; j < N; j++) {
        double s = 0;
        for (uint64_t q = X.row_ptr[0]; q < X.row_ptr[1]; q++)
            s += Bm[X.col[q] * N + j];
        CHECK_NEAR(S[j], s, 1e-5, 1e-5);
    }
    sten_ease_free(ctx, m);
    CHECK_EQ(sten_ease_fit(ctx, &X, lambda, 6, &m), STEN_E_RANGE);
    CHECK(strstr(sten_ctx_error(ctx), "the limit is 6 items") != NULL);
    sten_ctx_clear_error(ctx);
    float pop[7];
    sten_popularity(&X, pop);
    for (uint32_t j = 0; j < N; j++)
        CHECK_NEAR(pop[j], G[j][j], 0, 0);
    sten_csr_free(ctx, &X);
    sten_csr_free(ctx, &one);
}

/* The evaluation splits on generated data: every record in one part, the
 * per-user protocols hold out what they say, the same seed the same parts. */
static void test_splits(void)
{
    sten_synth_opts so = sten_synth_defaults();
    so.users = 300, so.items = 200, so.interactions = 6000, so.seed = 4;
    for (int p = STEN_SPLIT_RANDOM; p <= STEN_SPLIT_STRONG; p++) {
        sten_interactions in = {0}, again = {0};
        CHECK_EQ(sten_synth(ctx, &so, &in), STEN_OK);
        CHECK_EQ(sten_synth(ctx, &so, &again), STEN_OK);
        for (uint64_t i = 0; i < in.n; i++) /* ratings 1..5 for the strong protocol */
            in.x[i].rating = again.x[i].rating = (float)(1 + i % 5);
        sten_split_opts o = sten_split_defaults();
        o.protocol = (sten_split_protocol)p;
        o.valid_users = o.test_users = 20;
        uint8_t *part = malloc(in.n), *part2 = malloc(again.n);
        sten_split_stats st, st2;
        CHECK_EQ(sten_split(ctx, &o, &in, part, &st), STEN_OK);
        CHECK_EQ(sten_split(ctx, &o, &again, part2, &st2), STEN_OK);
        CHECK(in.n == again.n && memcmp(part, part2, in.n) == 0); /* deterministic */
        uint64_t count[10] = {0}, users = 0, users_tested = 0, bad = 0;
        for (uint64_t s = 0; s < in.n;) {
            uint64_t e = s, test = 0;
            while (e < in.n && in.x[e].user == in.x[s].user)
                e++;
            for (uint64_t i = s; i < e; i++) {
                count[part[i] < 10 ? part[i] : 0]++;
                test += part[i] == STEN_PART_TEST;
                /* LOO and temporal hold out the latest: no test record before a training one */
                if ((p == STEN_SPLIT_LOO || p == STEN_SPLIT_TEMPORAL) && i > s &&
                    part[i - 1] == STEN_PART_TEST && part[i] == STEN_PART_TRAIN)
                    bad++;
            }
            users++;
            users_tested += test > 0;
            if (p == STEN_SPLIT_LOO)
                bad += e - s >= 2 ? test != 1 : test != 0;
            s = e;
        }
        CHECK_EQ(bad, 0);
        if (p == STEN_SPLIT_RANDOM || p == STEN_SPLIT_TEMPORAL) /* 20% held out, within rounding */
            CHECK(fabs((double)count[STEN_PART_TEST] / (double)in.n - 0.2) < 0.03);
        if (p != STEN_SPLIT_STRONG && p != STEN_SPLIT_TIMECUT)
            CHECK(users_tested > users * 9 / 10);
        if (p == STEN_SPLIT_STRONG) {
            CHECK_EQ(st.valid_users, 20);
            CHECK_EQ(st.test_users, 20);
            CHECK(count[STEN_PART_VALID_HOLDOUT] > 0 && count[STEN_PART_TEST_HOLDOUT] > 0);
            CHECK(count[STEN_PART_VALID_FOLDIN] > 2 * count[STEN_PART_VALID_HOLDOUT]);
            for (uint64_t i = 0; i < in.n; i++)
                bad += in.x[i].rating <= 3.5f; /* positives only */
            CHECK_EQ(bad, 0);
        }
        free(part), free(part2);
        sten_interactions_free(ctx, &in);
        sten_interactions_free(ctx, &again);
    }
}

/* ---- item-item similarity (src/rec/similar.c) against dense double references */

/* A seeded random boolean users x items matrix with skewed popularity (so
 * scores tie and items differ in count); item N-1 nobody has. */
static void random_boolean(uint32_t U, uint32_t N, uint64_t seed, sten_csr *X)
{
    CHECK_EQ(sten_csr_init(ctx, X, U, N, (uint64_t)U * N, false), STEN_OK);
    sten_rng r;
    sten_rng_init(&r, seed, 0);
    uint64_t e = 0;
    for (uint32_t u = 0; u < U; u++) {
        for (uint32_t j = 0; j + 1 < N; j++)
            if (sten_rng_uniform(&r) < 0.6f / (1.0f + (float)j / 6.0f))
                X->col[e++] = j;
        X->row_ptr[u + 1] = e;
    }
    X->rows = U;
    X->nnz = e;
}

/* C[i*N + j] = users holding i and j (C[i*N + i] = n_i), in doubles. */
static double *dense_cooc(const sten_csr *X)
{
    const uint32_t N = X->cols;
    double *C = calloc((size_t)N * N, sizeof *C);
    for (uint32_t u = 0; u < X->rows; u++)
        for (uint64_t a = X->row_ptr[u]; a < X->row_ptr[u + 1]; a++)
            for (uint64_t b = X->row_ptr[u]; b < X->row_ptr[u + 1]; b++)
                C[(size_t)X->col[a] * N + X->col[b]] += 1.0;
    return C;
}

/* The reference score of (i, j), or NaN when j is not eligible. */
static double ref_score(const double *C, uint32_t N, const sten_similar_opts *o, uint32_t i, uint32_t j)
{
    const double c = C[(size_t)i * N + j], ni = C[(size_t)i * N + i], nj = C[(size_t)j * N + j];
    if (i == j || c < o->min_support)
        return NAN;
    const double shrunk = c / (c + o->shrink);
    switch (o->measure) {
    case STEN_SIM_COSINE: return c / sqrt(ni * nj) * shrunk;
    case STEN_SIM_JACCARD: return c / (ni + nj - c);
    default: return c / (ni * pow(nj, o->alpha)) * shrunk;
    }
}

/* Row i holds count[i] entries best first (ties by id), never i itself,
 * and empty slots after them. */
static void check_rows_shape(const sten_neighbors *nb)
{
    for (uint32_t i = 0; i < nb->n_items; i++) {
        const uint32_t *ri = nb->idx + (size_t)i * nb->M;
        const float *rv = nb->val + (size_t)i * nb->M;
        CHECK(nb->count[i] <= nb->M);
        for (uint32_t r = 0; r < nb->count[i]; r++) {
            CHECK(ri[r] < nb->n_items && ri[r] != i);
            if (r > 0)
                CHECK(rv[r - 1] > rv[r] || (rv[r - 1] == rv[r] && ri[r - 1] < ri[r]));
        }
        for (uint32_t r = nb->count[i]; r < nb->M; r++)
            CHECK(ri[r] == UINT32_MAX && rv[r] == -INFINITY);
    }
}

/* Cosine, Jaccard and conditional probability (with shrinkage, support and
 * damping) against dense co-occurrence counts: the same items in the same
 * order, the same scores. */
static void test_similar_cooc_reference(void)
{
    const uint32_t U = 60, N = 40, M = 7;
    sten_csr X;
    random_boolean(U, N, 11, &X);
    double *C = dense_cooc(&X);
    const struct {
        sten_sim_measure m;
        uint32_t support;
        float shrink, alpha;
    } cases[] = {
        {STEN_SIM_COSINE, 1, 0.0f, 0.5f},      {STEN_SIM_COSINE, 3, 10.0f, 0.5f},
        {STEN_SIM_JACCARD, 1, 0.0f, 0.5f},     {STEN_SIM_JACCARD, 4, 0.0f, 0.5f},
        {STEN_SIM_CONDITIONAL, 1, 0.0f, 0.5f}, {STEN_SIM_CONDITIONAL, 2, 5.0f, 0.2f},
        {STEN_SIM_CONDITIONAL, 1, 0.0f, 0.0f},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        sten_similar_opts o = sten_similar_defaults();
        o.measure = cases[k].m, o.neighbors = M, o.min_support = cases[k].support;
        o.shrink = cases[k].shrink, o.alpha = cases[k].alpha;
        sten_neighbors nb;
        CHECK_EQ(sten_similar(ctx, &X, &o, &nb), STEN_OK);
        CHECK_EQ(nb.n_items, N);
        CHECK_EQ(nb.M, M);
        check_rows_shape(&nb);
        for (uint32_t i = 0; i < N; i++) {
            /* the reference ranking: (float score desc, id asc) by selection */
            uint32_t want_idx[7], n = 0;
            float want_val[7];
            bool taken[40] = {false};
            while (n < M) {
                int64_t best = -1;
                float bv = 0;
                for (uint32_t j = 0; j < N; j++) {
                    const double s = ref_score(C, N, &o, i, j);
                    if (isnan(s) || taken[j])
                        continue;
                    if (best < 0 || (float)s > bv)
                        best = j, bv = (float)s;
                }
                if (best < 0)
                    break;
                taken[best] = true;
                want_idx[n] = (uint32_t)best;
                want_val[n++] = bv;
            }
            CHECK_EQ(nb.count[i], n);
            for (uint32_t r = 0; r < n && r < nb.count[i]; r++) {
                CHECK_EQ(nb.idx[(size_t)i * M + r], want_idx[r]);
                CHECK_NEAR(nb.val[(size_t)i * M + r], want_val[r], 0, 1e-6);
            }
        }
        CHECK_EQ(nb.count[N - 1], 0); /* nobody has the last item */
        sten_neighbors_free(ctx, &nb);
        CHECK(nb.idx == NULL && nb.n_items == 0);
    }
    /* more neighbours asked than items: M = N - 1, every co-occurring item listed */
    sten_similar_opts o = sten_similar_defaults();
    o.neighbors = 1000;
    sten_neighbors nb;
    CHECK_EQ(sten_similar(ctx, &X, &o, &nb), STEN_OK);
    CHECK_EQ(nb.M, N - 1);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t n = 0;
        for (uint32_t j = 0; j < N; j++)
            n += j != i && C[(size_t)i * N + j] > 0;
        CHECK_EQ(nb.count[i], n);
    }
    check_rows_shape(&nb);
    sten_neighbors_free(ctx, &nb);
    sten_neighbors_free(ctx, NULL);
    free(C);
    sten_csr_free(ctx, &X);
}

/* P = (X^T X + lambda I)^-1 by Gauss-Jordan in doubles (SPD: no pivoting),
 * then EASE's B = -P_ij / P_jj with a zero diagonal, in place of G. */
static void ease_reference(double *G, uint32_t N, double lambda)
{
    double *P = calloc((size_t)N * N, sizeof *P);
    for (uint32_t i = 0; i < N; i++) {
        G[(size_t)i * N + i] += lambda;
        P[(size_t)i * N + i] = 1.0;
    }
    for (uint32_t k = 0; k < N; k++) {
        const double d = G[(size_t)k * N + k];
        for (uint32_t j = 0; j < N; j++)
            G[(size_t)k * N + j] /= d, P[(size_t)k * N + j] /= d;
        for (uint32_t i = 0; i < N; i++) {
            const double f = G[(size_t)i * N + k];
            if (i == k || f == 0)
                continue;
            for (uint32_t j = 0; j < N; j++)
                G[(size_t)i * N + j] -= f * G[(size_t)k * N + j], P[(size_t)i * N + j] -= f * P[(size_t)k * N + j];
        }
    }
    for (uint32_t i = 0; i < N; i++)
        for (uint32_t j = 0; j < N; j++)
            G[(size_t)i * N + j] = i == j ? 0.0 : -P[(size_t)i * N + j] / P[(size_t)j * N + j];
    free(P);
}

/* EASE: each row's positive weights of B, the largest M, as a double
 * inverse says (ties within float rounding may swap, so: each listed
 * weight is right, and nothing left out beats what was kept). */
static void test_similar_ease_reference(void)
{
    const uint32_t U = 60, N = 40, M = 6;
    sten_csr X;
    random_boolean(U, N, 12, &X);
    double *B = dense_cooc(&X);
    const double lambda = 4.0, tol = 2e-5;
    ease_reference(B, N, lambda);
    sten_similar_opts o = sten_similar_defaults();
    o.measure = STEN_SIM_EASE, o.neighbors = M, o.lambda = (float)lambda;
    o.min_support = 5; /* co-occurrence options do not apply */
    sten_neighbors nb;
    CHECK_EQ(sten_similar(ctx, &X, &o, &nb), STEN_OK);
    CHECK_EQ(nb.M, M);
    check_rows_shape(&nb);
    uint32_t listed = 0;
    for (uint32_t i = 0; i < N; i++) {
        const uint32_t *ri = nb.idx + (size_t)i * M;
        const float *rv = nb.val + (size_t)i * M;
        bool in[40] = {false};
        uint32_t positive = 0;
        for (uint32_t j = 0; j < N; j++)
            positive += j != i && B[(size_t)i * N + j] > tol;
        CHECK(nb.count[i] >= (positive < M ? positive : M));
        for (uint32_t r = 0; r < nb.count[i]; r++) {
            CHECK(rv[r] > 0.0f);
            CHECK_NEAR(rv[r], B[(size_t)i * N + ri[r]], tol, 1e-4);
            in[ri[r]] = true;
        }
        const double floor = nb.count[i] == M ? rv[M - 1] : 0.0;
        for (uint32_t j = 0; j < N; j++)
            if (j != i && !in[j])
                CHECK(B[(size_t)i * N + j] <= floor + tol);
        listed += nb.count[i];
    }
    CHECK(listed > N * M / 2); /* the test has something to compare */
    CHECK_EQ(nb.count[N - 1], 0); /* an item nobody has: all of its weights are 0 */
    sten_neighbors_free(ctx, &nb);
    free(B);
    sten_csr_free(ctx, &X);
}

/* Co-occurrence results are bit-identical for 1 and 2 threads (on a matrix
 * large enough that the work is split). */
static void test_similar_threads(void)
{
    sten_csr X;
    random_boolean(600, 300, 13, &X);
    for (int m = STEN_SIM_COSINE; m <= STEN_SIM_CONDITIONAL; m++) {
        sten_similar_opts o = sten_similar_defaults();
        o.measure = (sten_sim_measure)m, o.neighbors = 20, o.shrink = m == STEN_SIM_JACCARD ? 0.0f : 2.0f;
        sten_neighbors one, two;
        sten_ctx_set_threads(ctx, 1);
        CHECK_EQ(sten_similar(ctx, &X, &o, &one), STEN_OK);
        sten_ctx_set_threads(ctx, 2);
        CHECK_EQ(sten_similar(ctx, &X, &o, &two), STEN_OK);
        const size_t n = (size_t)one.n_items * one.M;
        CHECK(one.M == two.M && memcmp(one.idx, two.idx, n * sizeof *one.idx) == 0);
        CHECK(memcmp(one.val, two.val, n * sizeof *one.val) == 0);
        CHECK(memcmp(one.count, two.count, one.n_items * sizeof *one.count) == 0);
        check_rows_shape(&two);
        sten_neighbors_free(ctx, &one);
        sten_neighbors_free(ctx, &two);
    }
    sten_ctx_set_threads(ctx, 0);
    sten_csr_free(ctx, &X);
}

/* Options out of range are refused, naming the option; *out stays empty. */
static void test_similar_bad_options(void)
{
    sten_csr X;
    random_boolean(20, 10, 14, &X);
    const struct {
        const char *field, *msg;
    } bad[] = {
        {"neighbors", "neighbors must be at least 1 (got 0)"},
        {"min_support", "min_support must be at least 1 (got 0)"},
        {"shrink", "shrink must be finite and >= 0 (got -1)"},
        {"alpha", "alpha must be in [0, 1] (got 1.5)"},
        {"lambda", "lambda must be finite and > 0 (got 0)"},
        {"measure", "unknown similarity measure 9 (expected cosine, jaccard, conditional or ease)"},
        {"max_items", "EASE needs a dense 10 x 10 item matrix (0.0 GiB); the limit is max_items = 9"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        sten_similar_opts o = sten_similar_defaults();
        const char *f = bad[k].field;
        if (!strcmp(f, "neighbors"))
            o.neighbors = 0;
        else if (!strcmp(f, "min_support"))
            o.min_support = 0;
        else if (!strcmp(f, "shrink"))
            o.shrink = -1.0f;
        else if (!strcmp(f, "alpha"))
            o.alpha = 1.5f;
        else if (!strcmp(f, "lambda"))
            o.lambda = 0.0f;
        else if (!strcmp(f, "measure"))
            o.measure = (sten_sim_measure)9;
        else
            o.measure = STEN_SIM_EASE, o.max_items = 9;
        sten_neighbors nb;
        CHECK_EQ(sten_similar(ctx, &X, &o, &nb), STEN_E_INVALID);
        CHECK_STR(sten_ctx_error(ctx), bad[k].msg);
        CHECK(nb.idx == NULL && nb.val == NULL && nb.count == NULL);
        sten_ctx_clear_error(ctx);
    }
    sten_similar_opts o = sten_similar_defaults();
    sten_neighbors nb;
    /* out of memory at every allocation in turn: STEN_E_NOMEM, nothing leaked */
    for (int m = STEN_SIM_COSINE; m <= STEN_SIM_EASE; m += STEN_SIM_EASE) {
        o.measure = (sten_sim_measure)m;
        const size_t before = sten_ctx_bytes_in_use(ctx);
        sten_status st = STEN_E_NOMEM;
        for (long n = 1; st == STEN_E_NOMEM && n < 100; n++) {
            sten_ctx_fail_alloc_at(ctx, n);
            st = sten_similar(ctx, &X, &o, &nb);
            sten_ctx_fail_alloc_at(ctx, 0);
            sten_ctx_clear_error(ctx);
            if (st == STEN_E_NOMEM)
                CHECK(nb.idx == NULL && sten_ctx_bytes_in_use(ctx) == before);
        }
        CHECK_EQ(st, STEN_OK);
        sten_neighbors_free(ctx, &nb);
    }
    /* a row listing an item twice is not boolean data */
    CHECK(X.row_ptr[1] >= 2);
    if (X.row_ptr[1] >= 2) {
        X.col[X.row_ptr[1] - 1] = X.col[X.row_ptr[0]];
        CHECK_EQ(sten_similar(ctx, &X, &o, &nb), STEN_E_INVALID);
        CHECK(strstr(sten_ctx_error(ctx), "X row 0 lists item") != NULL);
        sten_ctx_clear_error(ctx);
    }
    sten_csr_free(ctx, &X);
}

/* The neighbourhood baselines' W by plain loops in doubles: every pair's
 * weight (item-kNN: sqrt(n_i) sqrt(n_j) + shrink; RP3beta: users summed in
 * order), ranked as floats with ties to the smaller id, top M kept per item
 * (item-kNN: per target column; RP3beta: per row). Wd is N x N, row = the
 * user's item, column = the scored item. */
static double *nbhd_reference(const sten_csr *X, const sten_nbhd_opts *o)
{
    const uint32_t N = X->cols, M = o->neighbors;
    double *C = calloc((size_t)N * N, sizeof *C), *Wd = calloc((size_t)N * N, sizeof *Wd);
    double *n = calloc(N, sizeof *n);
    float *v = calloc(N, sizeof *v);
    for (uint32_t u = 0; u < X->rows; u++) {
        const double len = (double)(X->row_ptr[u + 1] - X->row_ptr[u]);
        const double w = o->kind == STEN_NBHD_RP3BETA ? pow(len, -(double)o->alpha) : 1.0;
        for (uint64_t a = X->row_ptr[u]; a < X->row_ptr[u + 1]; a++) {
            n[X->col[a]] += 1.0;
            for (uint64_t b = X->row_ptr[u]; b < X->row_ptr[u + 1]; b++)
                C[(size_t)X->col[a] * N + X->col[b]] += w;
        }
    }
    for (uint32_t i = 0; i < N; i++) {
        /* item-kNN: target i's neighbours j (W[j][i]); RP3beta: row i's j (W[i][j]) */
        for (uint32_t j = 0; j < N; j++) {
            const double c = C[(size_t)i * N + j];
            double s = 0;
            if (i != j && c > 0)
                s = o->kind == STEN_NBHD_RP3BETA
                        ? pow(n[i], -(double)o->alpha) * c * pow(n[j], -(double)o->beta)
                        : c / (sqrt(n[i]) * sqrt(n[j]) + (double)o->shrink);
            v[j] = (float)s;
        }
        for (uint32_t kept = 0; kept < M; kept++) {
            uint32_t b = UINT32_MAX;
            for (uint32_t j = 0; j < N; j++)
                if (v[j] > 0 && (b == UINT32_MAX || v[j] > v[b]))
                    b = j; /* strict: the first (smallest id) of a tie */
            if (b == UINT32_MAX)
                break;
            Wd[o->kind == STEN_NBHD_RP3BETA ? (size_t)i * N + b : (size_t)b * N + i] = v[b];
            v[b] = 0;
        }
    }
    free(C), free(n), free(v);
    return Wd;
}

/* A hand-made 6-user, 7-item matrix (item 6 nobody has; items 3 and 4
 * twins, so the top-M cut meets ties) and a random one: scores x_u W equal
 * the reference, with shrink, alpha, beta and M cutting rows. */
static void test_nbhd_reference(void)
{
    static const uint32_t rows[6][4] = {{0, 1, 2, 9}, {0, 3, 4, 9}, {1, 3, 4, 5}, {2, 5, 9, 9},
                                        {0, 1, 3, 4}, {5, 9, 9, 9}};
    sten_csr H, Rn;
    CHECK_EQ(sten_csr_init(ctx, &H, 6, 7, 24, false), STEN_OK);
    uint64_t e = 0;
    for (uint32_t u = 0; u < 6; u++) {
        for (uint32_t q = 0; q < 4 && rows[u][q] != 9; q++)
            H.col[e++] = rows[u][q];
        H.row_ptr[u + 1] = e;
    }
    H.rows = 6, H.nnz = e;
    random_boolean(80, 14, 5, &Rn);
    const sten_nbhd_opts cases[] = {
        {STEN_NBHD_ITEMKNN, 100, 0.0f, 1.0f, 0.5f}, {STEN_NBHD_ITEMKNN, 2, 10.0f, 1.0f, 0.5f},
        {STEN_NBHD_ITEMKNN, 1, 3.5f, 1.0f, 0.5f},   {STEN_NBHD_RP3BETA, 100, 0.0f, 1.0f, 0.5f},
        {STEN_NBHD_RP3BETA, 2, 0.0f, 0.7f, 0.3f},   {STEN_NBHD_RP3BETA, 1, 0.0f, 1.3f, 0.0f},
    };
    const sten_csr *mats[] = {&H, &Rn};
    for (size_t t = 0; t < 2; t++) {
        const sten_csr *X = mats[t];
        const uint32_t N = X->cols;
        float *S = malloc((size_t)X->rows * N * sizeof *S);
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            double *Wd = nbhd_reference(X, &cases[c]);
            sten_nbhd *m = NULL;
            CHECK_EQ(sten_nbhd_fit(ctx, X, &cases[c], &m), STEN_OK);
            CHECK_EQ(sten_nbhd_items(m), N);
            uint64_t kept = 0;
            for (size_t q = 0; q < (size_t)N * N; q++)
                kept += Wd[q] != 0.0;
            CHECK_EQ(sten_nbhd_nnz(m), kept);
            sten_nbhd_scores(ctx, m, X, S);
            for (uint32_t u = 0; u < X->rows; u++)
                for (uint32_t i = 0; i < N; i++) {
                    double s = 0;
                    for (uint64_t a = X->row_ptr[u]; a < X->row_ptr[u + 1]; a++)
                        s += Wd[(size_t)X->col[a] * N + i];
                    CHECK_NEAR(S[(size_t)u * N + i], s, 1e-6, 1e-5);
                }
            sten_nbhd_free(ctx, m);
            free(Wd);
        }
        free(S);
    }
    /* by hand, item-kNN shrink 0, M 1: item 0's one neighbour is 1, 3 or 4
     * (c = 2, n = 3 each: a three-way tie), so the smaller id, 1; a user
     * holding only item 1 scores item 0 at 2/3, one holding only 3 scores 0 */
    sten_nbhd *m = NULL;
    sten_nbhd_opts o = cases[0];
    o.neighbors = 1;
    CHECK_EQ(sten_nbhd_fit(ctx, &H, &o, &m), STEN_OK);
    sten_csr one;
    CHECK_EQ(sten_csr_init(ctx, &one, 2, 7, 2, false), STEN_OK);
    one.col[0] = 1, one.col[1] = 3, one.row_ptr[1] = 1, one.row_ptr[2] = 2, one.rows = 2, one.nnz = 2;
    float S2[14];
    sten_nbhd_scores(ctx, m, &one, S2);
    CHECK_NEAR(S2[0], 2.0 / 3.0, 1e-6, 0);
    CHECK_NEAR(S2[7 + 0], 0.0, 0, 0);
    sten_nbhd_free(ctx, m);
    sten_csr_free(ctx, &one);
    sten_csr_free(ctx, &H);
    sten_csr_free(ctx, &Rn);
}

/* The thread count changes neither W nor the scores, bit for bit. */
static void test_nbhd_threads(void)
{
    sten_csr X;
    random_boolean(600, 300, 17, &X);
    float *S1 = malloc((size_t)600 * 300 * sizeof *S1), *S2 = malloc((size_t)600 * 300 * sizeof *S2);
    for (int k = STEN_NBHD_ITEMKNN; k <= STEN_NBHD_RP3BETA; k++) {
        sten_nbhd_opts o = sten_nbhd_defaults();
        o.kind = (sten_nbhd_kind)k, o.neighbors = 20, o.alpha = 0.8f;
        sten_nbhd *a = NULL, *b = NULL;
        sten_ctx_set_threads(ctx, 1);
        CHECK_EQ(sten_nbhd_fit(ctx, &X, &o, &a), STEN_OK);
        sten_nbhd_scores(ctx, a, &X, S1);
        sten_ctx_set_threads(ctx, 2);
        CHECK_EQ(sten_nbhd_fit(ctx, &X, &o, &b), STEN_OK);
        sten_nbhd_scores(ctx, b, &X, S2);
        CHECK_EQ(sten_nbhd_nnz(a), sten_nbhd_nnz(b));
        CHECK(memcmp(S1, S2, (size_t)600 * 300 * sizeof *S1) == 0);
        sten_nbhd_free(ctx, a);
        sten_nbhd_free(ctx, b);
    }
    sten_ctx_set_threads(ctx, 0);
    free(S1), free(S2);
    sten_csr_free(ctx, &X);
}

/* Options out of range and repeated items are refused, naming the option;
 * nothing is returned. */
static void test_nbhd_bad_options(void)
{
    sten_csr X;
    random_boolean(20, 10, 3, &X);
    static const struct {
        const char *field, *msg;
    } bad[] = {
        {"neighbors", "neighbors must be at least 1 (got 0)"},
        {"shrink", "shrink must be finite and >= 0 (got -1)"},
        {"alpha", "alpha must be in [0, 4] (got 5)"},
        {"beta", "beta must be in [0, 4] (got nan)"},
        {"kind", "unknown neighbourhood model 7 (expected itemknn or rp3beta)"},
    };
    for (size_t c = 0; c < sizeof bad / sizeof *bad; c++) {
        sten_nbhd_opts o = sten_nbhd_defaults();
        switch (c) {
        case 0: o.neighbors = 0; break;
        case 1: o.shrink = -1.0f; break;
        case 2: o.alpha = 5.0f; break;
        case 3: o.beta = NAN; break;
        default: o.kind = (sten_nbhd_kind)7;
        }
        sten_nbhd *m = (sten_nbhd *)&o;
        CHECK_EQ(sten_nbhd_fit(ctx, &X, &o, &m), STEN_E_INVALID);
        CHECK(m == NULL);
        if (strstr(sten_ctx_error(ctx), bad[c].msg) == NULL)
            fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", bad[c].field, sten_ctx_error(ctx), bad[c].msg);
        CHECK(strstr(sten_ctx_error(ctx), bad[c].msg) != NULL);
        sten_ctx_clear_error(ctx);
    }
    uint32_t r = 0;
    while (X.row_ptr[r + 1] - X.row_ptr[r] < 2)
        r++;
    X.col[X.row_ptr[r] + 1] = X.col[X.row_ptr[r]];
    sten_nbhd_opts o = sten_nbhd_defaults();
    sten_nbhd *m = NULL;
    CHECK_EQ(sten_nbhd_fit(ctx, &X, &o, &m), STEN_E_INVALID);
    CHECK(strstr(sten_ctx_error(ctx), "lists item") != NULL);
    sten_ctx_clear_error(ctx);
    sten_csr_free(ctx, &X);
}

/* Validation users held out of the training data (sten_holdout_users): the
 * drawn users leave every dataset and the rest keep their rows in order;
 * each drawn user's input keeps its fold-in and its output the other
 * entries, the two together its whole row; about the fraction held out;
 * the same seed draws the same; refusals name the dataset. */
static void test_holdout_users(void)
{
    enum { E = 200, W = 50 };
    sten_dataset ds[2];
    memset(ds, 0, sizeof ds);
    for (int k = 0; k < 2; k++) {
        ds[k].name = k ? "gl_output" : "gl_input";
        ds[k].attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
        ds[k].dims = 1, ds[k].width = W, ds[k].height = ds[k].length = 1;
        ds[k].examples = ds[k].unique = E;
        CHECK_EQ(sten_csr_init(ctx, &ds[k].sparse, E, W, E * 10, false), STEN_OK);
        uint64_t e = 0;
        for (int r = 0; r < E; r++) {
            ds[k].sparse.row_ptr[r] = e;
            for (int j = 0; j < 10; j++)
                ds[k].sparse.col[e++] = (uint32_t)((r * 3 + j * 5) % W);
        }
        ds[k].sparse.row_ptr[E] = e;
        ds[k].sparse.rows = E, ds[k].sparse.nnz = e;
    }
    const bool is_input[2] = {true, false};
    sten_dataset *tr, *va, *tr2, *va2;
    CHECK_EQ(sten_holdout_users(ctx, ds, 2, is_input, 30, 0.2, 9, &tr, &va), STEN_OK);
    CHECK(tr[0].examples == E - 30 && va[0].examples == 30 && va[1].examples == 30);
    CHECK(!strcmp(va[1].name, "gl_output") && tr[0].width == W);
    /* every training row is one of the originals, in order, whole */
    int prev = -1, bad = 0;
    for (uint64_t r = 0; r < tr[0].examples; r++) {
        const uint32_t c0 = tr[0].sparse.col[tr[0].sparse.row_ptr[r]];
        int orig = -1;
        for (int o = prev + 1; o < E && orig < 0; o++)
            if ((uint32_t)((o * 3) % W) == c0)
                orig = o;
        bad += orig < 0 || tr[0].sparse.row_ptr[r + 1] - tr[0].sparse.row_ptr[r] != 10;
        prev = orig;
    }
    CHECK_EQ(bad, 0);
    uint64_t in = 0, out = 0;
    for (int r = 0; r < 30; r++) { /* fold-in + held-out = the whole row, disjoint */
        const uint64_t a0 = va[0].sparse.row_ptr[r], a1 = va[0].sparse.row_ptr[r + 1];
        const uint64_t b0 = va[1].sparse.row_ptr[r], b1 = va[1].sparse.row_ptr[r + 1];
        bad += (a1 - a0) + (b1 - b0) != 10;
        for (uint64_t i = a0; i < a1; i++)
            for (uint64_t j = b0; j < b1; j++)
                bad += va[0].sparse.col[i] == va[1].sparse.col[j];
        in += a1 - a0, out += b1 - b0;
    }
    CHECK_EQ(bad, 0);
    CHECK(out > 30 && out < 100); /* ~20% of 300 */
    CHECK_EQ(sten_holdout_users(ctx, ds, 2, is_input, 30, 0.2, 9, &tr2, &va2), STEN_OK);
    CHECK(va2[0].sparse.nnz == va[0].sparse.nnz &&
          !memcmp(va2[0].sparse.col, va[0].sparse.col, va[0].sparse.nnz * sizeof(uint32_t)));
    sten_datasets_free(ctx, tr2, 2), sten_datasets_free(ctx, va2, 2);
    CHECK_EQ(sten_holdout_users(ctx, ds, 2, is_input, 30, 0.2, 10, &tr2, &va2), STEN_OK);
    CHECK(va2[0].sparse.nnz != va[0].sparse.nnz ||
          memcmp(va2[0].sparse.col, va[0].sparse.col, va[0].sparse.nnz * sizeof(uint32_t)) != 0);
    sten_datasets_free(ctx, tr2, 2), sten_datasets_free(ctx, va2, 2);
    sten_datasets_free(ctx, tr, 2), sten_datasets_free(ctx, va, 2);
    CHECK_EQ(sten_holdout_users(ctx, ds, 2, is_input, E, 0.2, 9, &tr, &va), STEN_E_INVALID);
    CHECK(tr == NULL && va == NULL);
    sten_ctx_clear_error(ctx);
    ds[1].examples = E - 1;
    CHECK_EQ(sten_holdout_users(ctx, ds, 2, is_input, 30, 0.2, 9, &tr, &va), STEN_E_UNSUPPORTED);
    CHECK(strstr(sten_ctx_error(ctx), "gl_output") != NULL);
    sten_ctx_clear_error(ctx);
    for (int k = 0; k < 2; k++)
        sten_csr_free(ctx, &ds[k].sparse);
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return EXIT_FAILURE;
    RUN(test_rank_metrics_by_hand);
    RUN(test_score_metrics_by_hand);
    RUN(test_ease_identity_and_popularity);
    RUN(test_splits);
    RUN(test_similar_cooc_reference);
    RUN(test_similar_ease_reference);
    RUN(test_similar_threads);
    RUN(test_similar_bad_options);
    RUN(test_nbhd_reference);
    RUN(test_nbhd_threads);
    RUN(test_nbhd_bad_options);
    RUN(test_holdout_users);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
