/* test_builtins.c — the built-in algorithms (src/algo): k-means against a
 * plain-loop Lloyd's and known blob centres, k-means++ seeding's
 * properties, PCA against data built from known orthogonal directions and
 * variances (and randomized against regular), model files, hyperparameter
 * files and dense CSV with their exact error messages. */
#include "check.h"
#include "sten.h"

#include <netcdf.h>
#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

#include "test_files.h"

/* ------------------------------------------------------------ k-means data */

enum { BK = 5, BD = 8, BPER = 400, BN = BK * BPER };

/* Well-separated blobs: BK true centres in [-20, 20]^BD, noise sigma 0.5;
 * row i belongs to blob i % BK. */
static void blobs(float *X, float *truth, uint64_t seed)
{
    sten_rng r;
    sten_rng_init(&r, seed, 1);
    for (int c = 0; c < BK * BD; c++)
        truth[c] = 40.0f * sten_rng_uniform(&r) - 20.0f;
    for (int i = 0; i < BN; i++)
        for (int j = 0; j < BD; j++)
            X[i * BD + j] = truth[(i % BK) * BD + j] + 0.5f * sten_rng_normal(&r);
}

static double sqd(const float *a, const float *b, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++)
        s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

/* Plain Lloyd's (the reference): assignment by direct distances, means in
 * row order, until the inertia drops by no more than tol (relative). */
static double ref_lloyd(const float *X, int n, int d, float *C, int k, int max_iter, double tol)
{
    int *a = malloc((size_t)n * sizeof *a);
    double *s = malloc((size_t)k * d * sizeof *s), *m = malloc((size_t)k * sizeof *m);
    double J = 0, Jn;
    for (int it = 0; it <= max_iter; it++) {
        Jn = 0;
        for (int i = 0; i < n; i++) {
            int best = 0;
            double bd = sqd(X + i * d, C, d);
            for (int c = 1; c < k; c++) {
                const double dd = sqd(X + i * d, C + c * d, d);
                if (dd < bd)
                    bd = dd, best = c;
            }
            a[i] = best;
            Jn += bd;
        }
        if (it > 0 && J - Jn <= tol * J) {
            J = Jn;
            break;
        }
        J = Jn;
        if (it == max_iter)
            break;
        memset(s, 0, (size_t)k * d * sizeof *s);
        memset(m, 0, (size_t)k * sizeof *m);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++)
                s[a[i] * d + j] += X[i * d + j];
            m[a[i]] += 1;
        }
        for (int c = 0; c < k; c++)
            for (int j = 0; m[c] > 0 && j < d; j++)
                C[c * d + j] = (float)(s[c * d + j] / m[c]);
    }
    free(a), free(s), free(m);
    return J;
}

static double ref_ssd(const float *X, int n, int d, const float *C, int k)
{
    double J = 0;
    for (int i = 0; i < n; i++) {
        double bd = INFINITY;
        for (int c = 0; c < k; c++)
            bd = fmin(bd, sqd(X + i * d, C + c * d, d));
        J += bd;
    }
    return J;
}

static void test_kmeans_blobs(void)
{
    float *X = malloc(sizeof(float) * BN * BD), truth[BK * BD];
    blobs(X, truth, 7);
    sten_kmeans_opts o = sten_kmeans_defaults();
    o.k = BK;
    o.feature_dim = BD;
    o.init = STEN_KMEANS_PLUSPLUS;
    o.mini_batch_size = 300;
    o.epochs = 3;
    o.seed = 99;
    sten_kmeans m;
    sten_kmeans_report rep;
    CHECK_EQ(sten_kmeans_fit(ctx, X, BN, &o, &m, &rep), STEN_OK);
    CHECK_EQ(m.k, BK);
    CHECK_EQ(rep.centers, BK * 4); /* auto: ceil(log10 2000) = 4 */
    CHECK_EQ(rep.trials, 10);
    /* every true centre has its own fitted centre within 0.2 (noise: ~0.07 expected) */
    int used[BK] = {0};
    for (int t = 0; t < BK; t++) {
        int best = 0;
        for (int c = 1; c < BK; c++)
            if (sqd(truth + t * BD, m.centers + c * BD, BD) < sqd(truth + t * BD, m.centers + best * BD, BD))
                best = c;
        used[best]++;
        CHECK(sqrt(sqd(truth + t * BD, m.centers + best * BD, BD)) < 0.2);
    }
    for (int c = 0; c < BK; c++)
        CHECK_EQ(used[c], 1);
    /* the assignment (GEMM distances) against direct distances */
    uint32_t *cl = malloc(BN * sizeof *cl);
    float *dist = malloc(BN * sizeof *dist);
    double ssd;
    CHECK_EQ(sten_kmeans_assign(ctx, &m, X, BN, cl, dist, &ssd), STEN_OK);
    int wrong = 0;
    double worst = 0;
    for (int i = 0; i < BN; i++) {
        int best = 0;
        for (int c = 1; c < BK; c++)
            if (sqd(X + i * BD, m.centers + c * BD, BD) < sqd(X + i * BD, m.centers + best * BD, BD))
                best = c;
        wrong += (int)cl[i] != best;
        worst = fmax(worst, fabs(dist[i] - sqrt(sqd(X + i * BD, m.centers + best * BD, BD))));
    }
    CHECK_EQ(wrong, 0);
    CHECK(worst < 1e-5);
    CHECK_NEAR(ssd, ref_ssd(X, BN, BD, m.centers, BK), 0, 1e-6);
    /* no worse than plain Lloyd's from k-means++'s start on the same data and seed */
    float C0[BK * BD];
    CHECK_EQ(sten_kmeans_seed(ctx, X, NULL, BN, BD, BK, STEN_KMEANS_PLUSPLUS, o.seed, C0), STEN_OK);
    const double lloyd = ref_lloyd(X, BN, BD, C0, BK, 300, 1e-4);
    CHECK(ssd <= lloyd * (1 + 1e-6));
    /* ... and from a random start, which can merge two blobs: the scheme may not */
    double worst_random = 0;
    for (uint64_t s = 1; s <= 6; s++) {
        CHECK_EQ(sten_kmeans_seed(ctx, X, NULL, BN, BD, BK, STEN_KMEANS_RANDOM, s, C0), STEN_OK);
        worst_random = fmax(worst_random, ref_lloyd(X, BN, BD, C0, BK, 300, 1e-4));
    }
    CHECK(ssd <= worst_random * (1 + 1e-6));
    /* the same seed, one thread or two: the same centres, bit for bit */
    sten_kmeans m1;
    sten_ctx_set_threads(ctx, 1);
    CHECK_EQ(sten_kmeans_fit(ctx, X, BN, &o, &m1, NULL), STEN_OK);
    sten_ctx_set_threads(ctx, 2);
    CHECK(m1.centers && !memcmp(m1.centers, m.centers, sizeof(float) * BK * BD));
    sten_kmeans_free(ctx, &m1);
    /* ... also where the blocks are big enough to be shared among threads (5000 rows x 120 centres) */
    enum { LN = 20000, LD = 32 };
    float *L = malloc(sizeof(float) * LN * LD);
    sten_rng lr;
    sten_rng_init(&lr, 5, 5);
    for (int i = 0; i < LN * LD; i++)
        L[i] = sten_rng_normal(&lr) + (float)((i / LD) % 7) * (i % 3 ? 1.0f : -2.0f);
    sten_kmeans_opts lo = o;
    lo.k = 30, lo.feature_dim = LD, lo.mini_batch_size = 5000;
    sten_kmeans l1, l2;
    sten_ctx_set_threads(ctx, 1);
    CHECK_EQ(sten_kmeans_fit(ctx, L, LN, &lo, &l1, NULL), STEN_OK);
    sten_ctx_set_threads(ctx, 2);
    CHECK_EQ(sten_kmeans_fit(ctx, L, LN, &lo, &l2, NULL), STEN_OK);
    CHECK(l1.centers && l2.centers && !memcmp(l1.centers, l2.centers, sizeof(float) * 30 * LD));
    sten_kmeans_free(ctx, &l1), sten_kmeans_free(ctx, &l2);
    free(L);
    /* k above the rows is refused, naming k */
    o.k = 50;
    CHECK_EQ(sten_kmeans_fit(ctx, X, 20, &o, &m1, NULL), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "k-means: k = 50 is more than the 20 rows of the data");
    sten_ctx_clear_error(ctx);
    sten_kmeans_free(ctx, &m);
    free(X), free(cl), free(dist);
}

/* The library's weighted Lloyd's against the plain loops, from one start. */
/* k-means on sparse rows (sten_kmeans_fit_csr, _assign_csr): each batch
 * spread out on its own gives exactly the dense fit's centres and
 * assignments (the same rows, values and order); columns past feature_dim
 * refused. */
static void test_kmeans_sparse(void)
{
    float *X = malloc(sizeof(float) * BN * BD), truth[BK * BD];
    blobs(X, truth, 7);
    for (int i = 0; i < BN * BD; i++) /* zeros in: a sparse matrix worth the name */
        if ((i * 7) % 3 == 0)
            X[i] = 0.0f;
    sten_csr S;
    CHECK_EQ(sten_csr_init(ctx, &S, BN, BD, (uint64_t)BN * BD, true), STEN_OK);
    uint64_t e = 0;
    for (int i = 0; i < BN; i++) {
        S.row_ptr[i] = e;
        for (int j = 0; j < BD; j++)
            if (X[i * BD + j] != 0.0f) {
                S.col[e] = (uint32_t)j;
                S.val[e++] = X[i * BD + j];
            }
    }
    S.row_ptr[BN] = e;
    S.rows = BN, S.nnz = e;
    sten_kmeans_opts o = sten_kmeans_defaults();
    o.k = BK;
    o.feature_dim = BD;
    o.init = STEN_KMEANS_PLUSPLUS;
    o.mini_batch_size = 300;
    o.epochs = 3;
    o.seed = 99;
    sten_kmeans a, b;
    CHECK_EQ(sten_kmeans_fit(ctx, X, BN, &o, &a, NULL), STEN_OK);
    CHECK_EQ(sten_kmeans_fit_csr(ctx, &S, &o, &b, NULL), STEN_OK);
    CHECK(!memcmp(a.centers, b.centers, sizeof(float) * BK * BD));
    uint32_t *ca = malloc(BN * sizeof *ca), *cb = malloc(BN * sizeof *cb);
    float *da = malloc(BN * sizeof *da), *db = malloc(BN * sizeof *db);
    double sa, sb;
    CHECK_EQ(sten_kmeans_assign(ctx, &a, X, BN, ca, da, &sa), STEN_OK);
    CHECK_EQ(sten_kmeans_assign_csr(ctx, &b, &S, cb, db, &sb), STEN_OK);
    CHECK(!memcmp(ca, cb, BN * sizeof *ca) && !memcmp(da, db, BN * sizeof *da) && sa == sb);
    o.feature_dim = BD - 1;
    sten_kmeans c;
    CHECK_EQ(sten_kmeans_fit_csr(ctx, &S, &o, &c, NULL), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);
    sten_kmeans_free(ctx, &a), sten_kmeans_free(ctx, &b);
    sten_csr_free(ctx, &S);
    free(X), free(ca), free(cb), free(da), free(db);
}

static void test_kmeans_lloyd_reference(void)
{
    float *X = malloc(sizeof(float) * BN * BD), truth[BK * BD], C[BK * BD], R[BK * BD];
    blobs(X, truth, 11);
    /* a poor start on purpose (random rows), so several iterations run */
    CHECK_EQ(sten_kmeans_seed(ctx, X, NULL, BN, BD, BK, STEN_KMEANS_RANDOM, 3, C), STEN_OK);
    memcpy(R, C, sizeof C);
    double J;
    uint32_t iters;
    CHECK_EQ(sten_kmeans_lloyd(ctx, X, NULL, BN, BD, C, BK, 50, 1e-6, &J, &iters), STEN_OK);
    const double Jr = ref_lloyd(X, BN, BD, R, BK, 50, 1e-6);
    CHECK(iters >= 2);
    CHECK_NEAR(J, Jr, 0, 1e-5);
    CHECK_CLOSE(C, R, BK * BD, 1e-4, 1e-5);
    /* weights: a point of weight 3 counts as three copies of it */
    const float P[] = {0, 0, 1, 0, 10, 10}, w[] = {1, 3, 1};
    float C2[2] = {0, 0}, C3[4] = {0, 0, 10, 10};
    CHECK_EQ(sten_kmeans_lloyd(ctx, P, w, 3, 2, C3, 2, 10, 0, &J, NULL), STEN_OK);
    CHECK_NEAR(C3[0], 0.75, 1e-6, 0);
    CHECK_NEAR(J, 1 * 0.75 * 0.75 + 3 * 0.25 * 0.25, 1e-6, 0);
    (void)C2;
    free(X);
}

static void test_kmeans_plusplus(void)
{
    float *X = malloc(sizeof(float) * BN * BD), truth[BK * BD], C[BK * BD], C2[BK * BD];
    blobs(X, truth, 5);
    for (uint64_t s = 1; s <= 5; s++) {
        CHECK_EQ(sten_kmeans_seed(ctx, X, NULL, BN, BD, BK, STEN_KMEANS_PLUSPLUS, s, C), STEN_OK);
        int blob_of[BK], per_blob[BK] = {0};
        for (int c = 0; c < BK; c++) { /* a centre is a row of the data, in some blob */
            int row = -1;
            for (int i = 0; i < BN && row < 0; i++)
                if (!memcmp(X + i * BD, C + c * BD, sizeof(float) * BD))
                    row = i;
            CHECK(row >= 0);
            blob_of[c] = row < 0 ? 0 : row % BK;
            per_blob[blob_of[c]]++;
        }
        for (int b = 0; b < BK; b++) /* D^2 sampling on far-apart blobs: one centre in each */
            CHECK_EQ(per_blob[b], 1);
    }
    /* seeded: the same seed, the same centres; another seed, others */
    CHECK_EQ(sten_kmeans_seed(ctx, X, NULL, BN, BD, BK, STEN_KMEANS_PLUSPLUS, 1, C), STEN_OK);
    CHECK_EQ(sten_kmeans_seed(ctx, X, NULL, BN, BD, BK, STEN_KMEANS_PLUSPLUS, 1, C2), STEN_OK);
    CHECK(!memcmp(C, C2, sizeof C));
    CHECK_EQ(sten_kmeans_seed(ctx, X, NULL, BN, BD, BK, STEN_KMEANS_PLUSPLUS, 2, C2), STEN_OK);
    CHECK(memcmp(C, C2, sizeof C) != 0);
    /* weight 0 is never chosen: blob 0 without weight, 4 centres from the others */
    float *w = malloc(sizeof(float) * BN);
    for (int i = 0; i < BN; i++)
        w[i] = i % BK == 0 ? 0.0f : 1.0f;
    for (int how = 0; how < 2; how++) {
        CHECK_EQ(sten_kmeans_seed(ctx, X, w, BN, BD, BK - 1, (sten_kmeans_init)how, 4, C), STEN_OK);
        for (int c = 0; c < BK - 1; c++)
            CHECK(sqd(C + c * BD, truth, BD) > 100);
    }
    /* fewer weighted points than centres asked */
    const float P[] = {0, 1, 2}, pw[] = {1, 0, 1};
    CHECK_EQ(sten_kmeans_seed(ctx, P, pw, 3, 1, 3, STEN_KMEANS_PLUSPLUS, 1, C), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "k-means: 3 centres asked of 2 points with weight");
    sten_ctx_clear_error(ctx);
    /* duplicated points: k-means++ still returns K distinct rows when there are K */
    const float Q[] = {1, 1, 1, 1, 5};
    CHECK_EQ(sten_kmeans_seed(ctx, Q, NULL, 5, 1, 3, STEN_KMEANS_PLUSPLUS, 1, C), STEN_OK);
    free(X), free(w);
}

/* ------------------------------------------------------------------ PCA */

enum { PD = 30, PR = 5, PN = 1500 };

/* Orthonormal columns of A (rows x cols, row-major), Gram-Schmidt twice. */
static void orthonormal_cols(double *A, int rows, int cols)
{
    for (int j = 0; j < cols; j++) {
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < j; k++) {
                double dot = 0;
                for (int i = 0; i < rows; i++)
                    dot += A[i * cols + k] * A[i * cols + j];
                for (int i = 0; i < rows; i++)
                    A[i * cols + j] -= dot * A[i * cols + k];
            }
        double nrm = 0;
        for (int i = 0; i < rows; i++)
            nrm += A[i * cols + j] * A[i * cols + j];
        for (int i = 0; i < rows; i++)
            A[i * cols + j] /= sqrt(nrm);
    }
}

/* X = mean + Z U^T: U (PD x PR) orthonormal directions, Z's columns
 * centred and orthogonal with sample variances lambda exactly, so the
 * sample covariance is U diag(lambda) U^T. */
static const double lambda[PR] = {25, 16, 9, 4, 1};
static void pca_data(float *X, double *U, float *mean, double noise)
{
    sten_rng r;
    sten_rng_init(&r, 2024, 3);
    for (int i = 0; i < PD * PR; i++)
        U[i] = sten_rng_normal(&r);
    orthonormal_cols(U, PD, PR);
    double *Z = malloc(sizeof(double) * PN * (PR + 1));
    for (int i = 0; i < PN * (PR + 1); i++)
        Z[i] = sten_rng_normal(&r);
    for (int i = 0; i < PN; i++)
        Z[i * (PR + 1)] = 1.0; /* orthogonal to the constant column = centred */
    orthonormal_cols(Z, PN, PR + 1);
    for (int j = 0; j < PD; j++)
        mean[j] = 3.0f * sten_rng_normal(&r);
    for (int i = 0; i < PN; i++)
        for (int j = 0; j < PD; j++) {
            double v = mean[j];
            for (int c = 0; c < PR; c++)
                v += Z[i * (PR + 1) + c + 1] * sqrt(lambda[c] * (PN - 1)) * U[j * PR + c];
            X[i * PD + j] = (float)(v + noise * sten_rng_normal(&r));
        }
    free(Z);
}

static void check_components(const sten_pca *p, const double *U, double tol)
{
    for (int c = 0; c < PR; c++) {
        double dot = 0, nrm = 0;
        int arg = 0;
        for (int j = 0; j < PD; j++) {
            dot += p->components[c * PD + j] * U[j * PR + c];
            nrm += (double)p->components[c * PD + j] * p->components[c * PD + j];
            if (fabsf(p->components[c * PD + j]) > fabsf(p->components[c * PD + arg]))
                arg = j;
        }
        CHECK_NEAR(fabs(dot), 1.0, tol, 0); /* the same direction, up to sign */
        CHECK_NEAR(nrm, 1.0, 1e-5, 0);
        CHECK(p->components[c * PD + arg] > 0); /* the sign rule */
    }
}

static void test_pca_regular(void)
{
    float *X = malloc(sizeof(float) * PN * PD), mean[PD];
    double U[PD * PR];
    pca_data(X, U, mean, 0.0);
    sten_pca_opts o = sten_pca_defaults();
    o.num_components = PR;
    o.feature_dim = PD;
    o.mini_batch_size = 200; /* several blocks */
    sten_pca p;
    CHECK_EQ(sten_pca_fit(ctx, X, PN, &o, &p), STEN_OK);
    check_components(&p, U, 1e-5);
    double total = 0;
    for (int c = 0; c < PR; c++) {
        CHECK_NEAR(p.eigenvalues[c], lambda[c], 1e-4, 1e-4);
        total += lambda[c];
    }
    CHECK_NEAR(p.total_variance, total, 1e-3, 1e-4);
    CHECK_CLOSE(p.mean, mean, PD, 1e-4, 1e-5);
    /* projection against the plain loops */
    float *Y = malloc(sizeof(float) * PN * PR);
    CHECK_EQ(sten_pca_project(ctx, &p, X, PN, Y), STEN_OK);
    double worst = 0;
    for (int i = 0; i < PN; i++)
        for (int c = 0; c < PR; c++) {
            double v = 0;
            for (int j = 0; j < PD; j++)
                v += ((double)X[i * PD + j] - p.mean[j]) * p.components[c * PD + j];
            worst = fmax(worst, fabs(v - Y[i * PR + c]));
        }
    CHECK(worst < 1e-3);
    /* far from the origin (every value + 1000): the one-pass covariance about the first block's mean
     * loses nothing to cancellation, the mean comes out shifted */
    float *Xf = malloc(sizeof(float) * PN * PD);
    for (int i = 0; i < PN * PD; i++)
        Xf[i] = X[i] + 1000.0f;
    sten_pca f;
    CHECK_EQ(sten_pca_fit(ctx, Xf, PN, &o, &f), STEN_OK);
    for (int c = 0; c < PR; c++)
        CHECK_NEAR(f.eigenvalues[c], p.eigenvalues[c], 1e-3, 1e-3);
    for (int j = 0; j < PD; j++)
        CHECK_NEAR(f.mean[j], p.mean[j] + 1000.0, 1e-3, 0);
    sten_pca_free(ctx, &f);
    free(Xf);
    /* fewer components: the leading ones, the same */
    sten_pca q;
    o.num_components = 2;
    CHECK_EQ(sten_pca_fit(ctx, X, PN, &o, &q), STEN_OK);
    CHECK_CLOSE(q.components, p.components, 2 * PD, 1e-5, 0);
    sten_pca_free(ctx, &q);
    /* without subtract_mean: a zero mean, and the mean dominates the first direction */
    o.num_components = PR;
    o.subtract_mean = false;
    CHECK_EQ(sten_pca_fit(ctx, X, PN, &o, &q), STEN_OK);
    for (int j = 0; j < PD; j++)
        CHECK_EQ(q.mean[j], 0);
    CHECK(q.eigenvalues[0] > 100);
    sten_pca_free(ctx, &q);
    /* num_components above feature_dim is refused */
    o.num_components = PD + 1;
    CHECK_EQ(sten_pca_fit(ctx, X, PN, &o, &q), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "PCA: num_components must be in 1..feature_dim");
    sten_ctx_clear_error(ctx);
    sten_pca_free(ctx, &p);
    free(X), free(Y);
}

static void test_pca_randomized(void)
{
    float *X = malloc(sizeof(float) * PN * PD), mean[PD];
    double U[PD * PR];
    pca_data(X, U, mean, 0.1); /* a full spectrum below the five */
    sten_pca_opts o = sten_pca_defaults();
    o.num_components = PR;
    o.feature_dim = PD;
    sten_pca reg, rnd;
    CHECK_EQ(sten_pca_fit(ctx, X, PN, &o, &reg), STEN_OK);
    check_components(&reg, U, 1e-3);
    o.mode = STEN_PCA_RANDOMIZED;
    o.extra_components = 3; /* little oversampling: the power iterations must do the rest */
    CHECK_EQ(sten_pca_fit(ctx, X, PN, &o, &rnd), STEN_OK);
    check_components(&rnd, U, 1e-3);
    CHECK_CLOSE(rnd.eigenvalues, reg.eigenvalues, PR, 1e-4, 1e-4);
    CHECK_CLOSE(rnd.components, reg.components, PR * PD, 1e-3, 0);
    /* regular mode's total is its covariance's trace (float products summed in double), randomized
     * mode's a pass in double: the same to float precision */
    CHECK_NEAR(rnd.total_variance, reg.total_variance, 0, 1e-6);
    /* the same seed, the same result; threads do not matter */
    sten_pca again;
    sten_ctx_set_threads(ctx, 1);
    CHECK_EQ(sten_pca_fit(ctx, X, PN, &o, &again), STEN_OK);
    sten_ctx_set_threads(ctx, 2);
    CHECK(!memcmp(again.components, rnd.components, sizeof(float) * PR * PD));
    sten_pca_free(ctx, &again);
    /* default oversampling, the cap at feature_dim */
    o.extra_components = -1;
    o.num_components = 25; /* 25 + 25 > 30: all 30 directions */
    CHECK_EQ(sten_pca_fit(ctx, X, PN, &o, &again), STEN_OK);
    CHECK_CLOSE(again.eigenvalues, reg.eigenvalues, PR, 1e-4, 1e-4);
    sten_pca_free(ctx, &again);
    sten_pca_free(ctx, &reg);
    sten_pca_free(ctx, &rnd);
    free(X);
}

/* PCA on sparse rows (sten_pca_fit_csr): the same model as on their dense
 * copy, in both modes (components up to rounding, eigenvalues, mean, total
 * variance), with and without the mean, boolean rows; regular refused past
 * its width bound before allocating. */
static void test_pca_sparse(void)
{
    enum { N = 600, D = 40 };
    float *X = calloc((size_t)N * D, sizeof *X);
    sten_csr S;
    CHECK_EQ(sten_csr_init(ctx, &S, N, D, (uint64_t)N * D, true), STEN_OK);
    sten_rng r;
    sten_rng_init(&r, 21, 4);
    uint64_t e = 0;
    for (uint32_t i = 0; i < N; i++) {
        S.row_ptr[i] = e;
        for (uint32_t j = 0; j < D; j++) /* ~15% dense, a few strong directions */
            if (sten_rng_uniform(&r) < 0.15f) {
                const float v = (float)((j % 5) + 1) * (1.0f + sten_rng_normal(&r) * 0.3f) + (i % 3 == 0 ? 2.0f : 0.0f);
                X[(size_t)i * D + j] = v;
                S.col[e] = j;
                S.val[e++] = v;
            }
    }
    S.row_ptr[N] = e;
    S.rows = N, S.nnz = e;
    for (int mode = 0; mode < 2; mode++)
        for (int sub = 0; sub < 2; sub++) {
            sten_pca_opts o = sten_pca_defaults();
            o.num_components = 4;
            o.feature_dim = D;
            o.mode = mode ? STEN_PCA_RANDOMIZED : STEN_PCA_REGULAR;
            o.subtract_mean = sub != 0;
            sten_pca dn, sp;
            CHECK_EQ(sten_pca_fit(ctx, X, N, &o, &dn), STEN_OK);
            CHECK_EQ(sten_pca_fit_csr(ctx, &S, &o, &sp), STEN_OK);
            CHECK_CLOSE(sp.eigenvalues, dn.eigenvalues, 4, 1e-4, 1e-4);
            CHECK_CLOSE(sp.components, dn.components, 4 * D, 1e-3, 1e-3);
            CHECK_CLOSE(sp.mean, dn.mean, D, 1e-6, 1e-5);
            CHECK_NEAR(sp.total_variance, dn.total_variance, 1e-9, 1e-5);
            CHECK(sp.rows == N && sp.dim == D && sp.n_comp == 4);
            sten_pca_free(ctx, &dn);
            sten_pca_free(ctx, &sp);
        }
    /* boolean rows: every entry a 1 */
    memset(X, 0, sizeof(float) * N * D);
    for (uint32_t i = 0; i < N; i++)
        for (uint64_t k = S.row_ptr[i]; k < S.row_ptr[i + 1]; k++)
            X[(size_t)i * D + S.col[k]] = 1.0f;
    float *val = S.val;
    S.val = NULL;
    sten_pca_opts o = sten_pca_defaults();
    o.num_components = 3;
    o.feature_dim = D;
    o.mode = STEN_PCA_RANDOMIZED;
    sten_pca dn, sp;
    CHECK_EQ(sten_pca_fit(ctx, X, N, &o, &dn), STEN_OK);
    CHECK_EQ(sten_pca_fit_csr(ctx, &S, &o, &sp), STEN_OK);
    CHECK_CLOSE(sp.eigenvalues, dn.eigenvalues, 3, 1e-4, 1e-4);
    CHECK_CLOSE(sp.components, dn.components, 3 * D, 1e-3, 1e-3);
    sten_pca_free(ctx, &dn);
    sten_pca_free(ctx, &sp);
    S.val = val;
    o.mode = STEN_PCA_REGULAR;
    o.feature_dim = STEN_PCA_SPARSE_REGULAR_MAX + 1;
    CHECK_EQ(sten_pca_fit_csr(ctx, &S, &o, &sp), STEN_E_INVALID);
    CHECK(strstr(sten_ctx_error(ctx), "use algorithm_mode randomized") != NULL);
    sten_ctx_clear_error(ctx);
    sten_csr_free(ctx, &S);
    free(X);
}

/* ---------------------------------------------------------- model files */

static void test_model_files(void)
{
    float X[] = {0, 0, 0, 1, 10, 10, 10, 11, 5, 5, 6, 5};
    sten_kmeans_opts o = sten_kmeans_defaults();
    o.k = 2;
    o.feature_dim = 2;
    sten_kmeans m, back;
    CHECK_EQ(sten_kmeans_fit(ctx, X, 6, &o, &m, NULL), STEN_OK);
    char path[256], ppath[256];
    snprintf(path, sizeof path, "%s/km.nc", dir);
    snprintf(ppath, sizeof ppath, "%s/pca.nc", dir);
    CHECK_EQ(sten_kmeans_save(ctx, &m, path), STEN_OK);
    CHECK_EQ(sten_kmeans_load(ctx, path, &back), STEN_OK);
    CHECK_EQ(back.k, 2);
    CHECK_EQ(back.dim, 2);
    CHECK(back.centers && !memcmp(back.centers, m.centers, sizeof(float) * 4));
    sten_model_kind kind = STEN_MODEL_NETWORK;
    CHECK_EQ(sten_model_kind_of(ctx, path, &kind), STEN_OK);
    CHECK_EQ(kind, STEN_MODEL_KMEANS);
    /* an older sten reads sten_format_version first: 2 is "newer" to it */
    int nc, fmt = 0;
    CHECK_EQ(nc_open(path, NC_NOWRITE, &nc), NC_NOERR);
    CHECK_EQ(nc_get_att_int(nc, NC_GLOBAL, "sten_format_version", &fmt), NC_NOERR);
    nc_close(nc);
    CHECK_EQ(fmt, 2);
    /* this sten's network loader says what it is */
    sten_net_desc *d = NULL;
    char want[1024];
    snprintf(want, sizeof want, "%s: this is a kmeans model (sten train --algorithm kmeans), not a network; score "
             "it with sten predict -n %s --csv DATA", path, path);
    CHECK_EQ(sten_model_read_desc(ctx, path, &d), STEN_E_UNSUPPORTED);
    CHECK_STR(sten_ctx_error(ctx), want);
    sten_ctx_clear_error(ctx);
    sten_pca p, pb;
    check_error(sten_pca_load(ctx, path, &pb), STEN_E_FORMAT, path, ": this is a kmeans model, not a pca model");
    sten_pca_opts po = sten_pca_defaults();
    po.num_components = 1;
    po.feature_dim = 2;
    CHECK_EQ(sten_pca_fit(ctx, X, 6, &po, &p), STEN_OK);
    CHECK_EQ(sten_pca_save(ctx, &p, ppath), STEN_OK);
    CHECK_EQ(sten_pca_load(ctx, ppath, &pb), STEN_OK);
    CHECK_EQ(pb.n_comp, 1);
    CHECK_CLOSE(pb.components, p.components, 2, 0, 0);
    CHECK_CLOSE(pb.mean, p.mean, 2, 0, 0);
    CHECK_CLOSE(pb.eigenvalues, p.eigenvalues, 1, 0, 0);
    CHECK_NEAR(pb.total_variance, p.total_variance, 0, 0);
    CHECK(pb.opts.subtract_mean);
    CHECK_EQ(sten_model_kind_of(ctx, ppath, &kind), STEN_OK);
    CHECK_EQ(kind, STEN_MODEL_PCA);
    sten_kmeans_free(ctx, &back);
    check_error(sten_kmeans_load(ctx, ppath, &back), STEN_E_FORMAT, ppath, ": this is a pca model, not a kmeans model");
    sten_kmeans_free(ctx, &m);
    sten_kmeans_free(ctx, &back);
    sten_pca_free(ctx, &p);
    sten_pca_free(ctx, &pb);
}

/* ------------------------------------------------------ hyperparameters */

static void test_hyperparameters(void)
{
    sten_kmeans_opts k;
    sten_pca_opts p;
    unsigned metrics = 0;
    const char *f = write_file("hp1.json", "{\"k\": \"10\", \"feature_dim\": \"16\", \"init_method\": \"kmeans++\", "
                                           "\"mini_batch_size\": \"1000\", \"eval_metrics\": \"[\\\"msd\\\", \\\"ssd\\\"]\", "
                                           "\"extra_center_factor\": \"auto\", \"local_lloyd_num_trials\": 3, "
                                           "\"_tuning_objective_metric\": \"test:msd\"}");
    CHECK_EQ(sten_kmeans_opts_from_hyperparameters(ctx, f, &k, &metrics), STEN_OK);
    CHECK_EQ(k.k, 10);
    CHECK_EQ(k.feature_dim, 16);
    CHECK_EQ(k.init, STEN_KMEANS_PLUSPLUS);
    CHECK_EQ(k.mini_batch_size, 1000);
    CHECK_EQ(k.extra_center_factor, 0);
    CHECK_EQ(k.local_lloyd_num_trials, 3);
    CHECK_EQ(k.local_lloyd_max_iter, 300);
    CHECK_EQ(k.epochs, 1);
    CHECK_EQ(metrics, STEN_KMEANS_METRIC_MSD | STEN_KMEANS_METRIC_SSD);
    static const struct {
        const char *json, *tail;
    } bad_km[] = {
        {"{\"k\": \"3\", \"feature_dim\": \"2\", \"foo\": \"1\"}",
         ": unknown k-means hyperparameter \"foo\" (known: k, feature_dim, init_method, max_iterations, tol, "
         "mini_batch_size, epochs, extra_center_factor, half_life_time_size, local_lloyd_max_iter, "
         "local_lloyd_init_method, local_lloyd_num_trials, local_lloyd_tol, eval_metrics)"},
        {"{\"k\": \"0\", \"feature_dim\": \"2\"}",
         ": hyperparameter k = \"0\" is out of range (expected an integer from 1 to 1000000)"},
        {"{\"k\": \"abc\", \"feature_dim\": \"2\"}",
         ": hyperparameter k = \"abc\" is not allowed (expected an integer from 1 to 1000000)"},
        {"{\"k\": 2.5, \"feature_dim\": \"2\"}",
         ": hyperparameter k = 2.5 is out of range (expected an integer from 1 to 1000000)"},
        {"{\"k\": \"3\", \"feature_dim\": \"2\", \"init_method\": \"kmeans+\"}",
         ": hyperparameter init_method = \"kmeans+\" is not allowed (expected random or kmeans++)"},
        {"{\"k\": \"3\", \"feature_dim\": \"2\", \"extra_center_factor\": \"0\"}",
         ": hyperparameter extra_center_factor = \"0\" is out of range (expected auto or an integer from 1 to 1000)"},
        {"{\"k\": \"3\", \"feature_dim\": \"2\", \"tol\": \"2\"}",
         ": hyperparameter tol = \"2\" is out of range (expected a number from 0 to 1)"},
        {"{\"k\": \"3\", \"feature_dim\": \"2\", \"eval_metrics\": \"[\\\"mse\\\"]\"}",
         ": hyperparameter eval_metrics = \"[\"mse\"]\" is not allowed (expected [\"msd\"], [\"ssd\"] or "
         "[\"msd\", \"ssd\"])"},
        {"{\"feature_dim\": \"2\"}", ": hyperparameter k is required (k-means)"},
        {"{\"k\": \"3\", \"feature_dim\": \"2\", \"_tuning_objective_metric\": \"test:rmse\"}",
         ": hyperparameter _tuning_objective_metric = \"test:rmse\" names no metric k-means prints (expected "
         "test:msd or test:ssd)"},
        {"{\"k\": \"3\",\n \"feature_dim\": }", ":2:17: unexpected token near '}'"},
    };
    for (size_t i = 0; i < sizeof bad_km / sizeof *bad_km; i++) {
        const char *path = write_file("bad.json", bad_km[i].json);
        const sten_status st = sten_kmeans_opts_from_hyperparameters(ctx, path, &k, NULL);
        check_error(st, i == sizeof bad_km / sizeof *bad_km - 1 ? STEN_E_PARSE
                        : i == 0 || i == 8 ? STEN_E_PARSE : STEN_E_RANGE, path, bad_km[i].tail);
    }
    const char *missing = "/nonexistent/hp.json";
    CHECK_EQ(sten_kmeans_opts_from_hyperparameters(ctx, missing, &k, NULL), STEN_E_NOTFOUND);
    sten_ctx_clear_error(ctx);

    f = write_file("hp2.json", "{\"num_components\": \"5\", \"feature_dim\": \"30\", \"algorithm_mode\": "
                               "\"randomized\", \"subtract_mean\": \"false\", \"mini_batch_size\": \"500\", "
                               "\"extra_components\": \"-1\"}");
    CHECK_EQ(sten_pca_opts_from_hyperparameters(ctx, f, &p), STEN_OK);
    CHECK_EQ(p.num_components, 5);
    CHECK_EQ(p.mode, STEN_PCA_RANDOMIZED);
    CHECK(!p.subtract_mean);
    CHECK_EQ(p.extra_components, -1);
    CHECK_EQ(p.mini_batch_size, 500);
    static const struct {
        const char *json, *tail;
    } bad_pca[] = {
        {"{\"num_components\": \"40\", \"feature_dim\": \"30\", \"mini_batch_size\": \"5\"}",
         ": hyperparameter num_components = 40 is more than feature_dim = 30 (expected 1 to feature_dim)"},
        {"{\"num_components\": \"4\", \"feature_dim\": \"30\", \"mini_batch_size\": \"5\", \"subtract_mean\": \"yes\"}",
         ": hyperparameter subtract_mean = \"yes\" is not allowed (expected true or false)"},
        {"{\"num_components\": \"4\", \"feature_dim\": \"30\", \"mini_batch_size\": \"5\", \"algorithm_mode\": \"fast\"}",
         ": hyperparameter algorithm_mode = \"fast\" is not allowed (expected regular or randomized)"},
        {"{\"num_components\": \"4\", \"feature_dim\": \"30\", \"mini_batch_size\": \"5\", \"extra_components\": \"-2\"}",
         ": hyperparameter extra_components = \"-2\" is out of range (expected an integer from -1 to 1000000)"},
        {"{\"num_components\": \"4\", \"feature_dim\": \"30\"}", ": hyperparameter mini_batch_size is required (PCA)"},
        {"{\"num_components\": \"4\", \"feature_dim\": \"30\", \"mini_batch_size\": \"5\", "
         "\"_tuning_objective_metric\": \"test:msd\"}",
         ": hyperparameter _tuning_objective_metric = \"test:msd\": PCA prints no metric to tune on (SageMaker's "
         "PCA cannot be tuned either)"},
        {"{\"num_components\": \"4\", \"feature_dim\": \"30\", \"mini_batch_size\": \"5\", \"k\": \"3\"}",
         ": unknown PCA hyperparameter \"k\" (known: num_components, feature_dim, mini_batch_size, "
         "algorithm_mode, subtract_mean, extra_components)"},
    };
    for (size_t i = 0; i < sizeof bad_pca / sizeof *bad_pca; i++) {
        const char *path = write_file("bad.json", bad_pca[i].json);
        check_error(sten_pca_opts_from_hyperparameters(ctx, path, &p), i == 4 || i == 6 ? STEN_E_PARSE : STEN_E_RANGE,
                    path, bad_pca[i].tail);
    }
}

/* ------------------------------------------------------------------ CSV */

static void test_csv(void)
{
    float *X = NULL;
    uint64_t n = 0;
    const char *f = write_file("ok.csv", "1,2,3\n-4.5,5e1,6\n");
    CHECK_EQ(sten_csv_read_dense(ctx, f, 3, &X, &n), STEN_OK);
    CHECK_EQ(n, 2);
    const float want[] = {1, 2, 3, -4.5f, 50, 6};
    if (X)
        CHECK_CLOSE(X, want, 6, 0, 0);
    sten_free(ctx, X);
    /* gzip, whatever the name */
    char gzp[256];
    snprintf(gzp, sizeof gzp, "%s/ok.csv.gz", dir);
    gzFile gz = gzopen(gzp, "wb");
    gzputs(gz, "7,8\n9,10\n11,12");
    gzclose(gz);
    CHECK_EQ(sten_csv_read_dense(ctx, gzp, 2, &X, &n), STEN_OK);
    CHECK_EQ(n, 3);
    if (X)
        CHECK_EQ(X[5], 12);
    sten_free(ctx, X);
    static const struct {
        const char *text, *tail;
    } bad[] = {
        {"1,2,3\n4,x,6\n", ":2:3: expected a number, got \"x\""},
        {"1,2,3\n4,5\n", ":2:4: expected 3 fields (feature_dim), got 2"},
        {"1,2,3,4\n", ":1:7: expected 3 fields (feature_dim), got 4"},
        {"1,2,3\n\n4,5,6\n", ":2: empty line (expected 3 comma-separated numbers)"},
        {"1,,3\n", ":1:3: empty field (expected a number)"},
        {"1,nan,3\n", ":1:3: expected a number, got \"nan\""},
        {"1, 2,3\n", ":1:3: expected a number, got \" 2\""},
        {"1,2,1e39\n", ":1:5: expected a number, got \"1e39\""},
        {"", ": no rows (expected lines of 3 comma-separated numbers)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *path = write_file("bad.csv", bad[i].text);
        check_error(sten_csv_read_dense(ctx, path, 3, &X, &n), STEN_E_PARSE, path, bad[i].tail);
        CHECK(X == NULL);
    }
    check_error(sten_csv_read_dense(ctx, f, 0, &X, &n), STEN_E_INVALID, f,
                ": feature_dim 0 is out of range (1 to 1000000)");
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return 1;
    sten_ctx_set_threads(ctx, 2);
    snprintf(dir, sizeof dir, "/tmp/sten-builtins-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_kmeans_blobs);
    RUN(test_kmeans_sparse);
    RUN(test_kmeans_lloyd_reference);
    RUN(test_kmeans_plusplus);
    RUN(test_pca_regular);
    RUN(test_pca_randomized);
    RUN(test_pca_sparse);
    RUN(test_model_files);
    RUN(test_hyperparameters);
    RUN(test_csv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
