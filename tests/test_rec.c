/* test_rec.c — evaluation metrics against hand-computed cases: lists
 * shorter than k, held-out sets smaller than k, users without held-out items,
 * coverage and MRR; score metrics (RMSE, MAE, AUC with ties, log loss); the
 * evaluation splits (src/rec/split.c) on generated data. */
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

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return EXIT_FAILURE;
    RUN(test_rank_metrics_by_hand);
    RUN(test_score_metrics_by_hand);
    RUN(test_ease_identity_and_popularity);
    RUN(test_splits);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
