/* pca.c — SageMaker's PCA on dense or sparse rows. regular: the covariance in one
 * streamed pass (an SGEMM Xc^T Xc per block, summed in double: OpenBLAS's
 * SGEMM ran 2-3x faster than its SSYRK here, for twice the arithmetic),
 * then LAPACK's symmetric eigensolver for the top components. randomized: a streamed
 * range finder with oversampling and subspace (power) iterations, never
 * forming the dim x dim covariance. Sums run in row order, so results do
 * not depend on the thread count. Sparse rows (sten_pca_fit_csr) are never
 * made dense: their covariance and its products are taken from the entries
 * (the mean subtracted through the column sums). No incremental update. */
#include "algo_int.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* LAPACK from OpenBLAS (Fortran calling convention), as src/rec/baselines.c. */
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a, const int *lda,
             const double *vl, const double *vu, const int *il, const int *iu, const double *abstol, int *m,
             double *w, double *z, const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
             const int *liwork, int *info);
void ssyevr_(const char *jobz, const char *range, const char *uplo, const int *n, float *a, const int *lda,
             const float *vl, const float *vu, const int *il, const int *iu, const float *abstol, int *m,
             float *w, float *z, const int *ldz, int *isuppz, float *work, const int *lwork, int *iwork,
             const int *liwork, int *info);

#define DOUBLE_EIG_MAX 4096 /* above this dim, the eigensolver runs in float (memory and time) */

sten_pca_opts sten_pca_defaults(void)
{
    return (sten_pca_opts){.num_components = 0, .feature_dim = 0, .mode = STEN_PCA_REGULAR,
                           .subtract_mean = true, .extra_components = -1, .mini_batch_size = 500,
                           .power_iterations = 2, .seed = 12134};
}

void sten_pca_free(sten_ctx *ctx, sten_pca *m)
{
    if (!m)
        return;
    sten_free(ctx, m->mean);
    sten_free(ctx, m->components);
    sten_free(ctx, m->eigenvalues);
    memset(m, 0, sizeof *m);
}

#define PCA_TRI_BLOCK 48 /* G's block rows: the triangle's share of the work against the calls' */

/* Rows [pos, pos + B) of X minus mean into Xc (B x d). */
static void center(const float *X, uint64_t pos, uint32_t B, uint32_t d, const float *mean, float *Xc)
{
    for (uint32_t b = 0; b < B; b++) {
        const float *x = X + (pos + b) * d;
        float *y = Xc + (uint64_t)b * d;
        for (uint32_t j = 0; j < d; j++)
            y[j] = x[j] - mean[j];
    }
}

/* The top m eigenpairs of the symmetric d x d matrix A (destroyed):
 * values decreasing in val, vectors as rows of V (m x d). */
static sten_status eig_top(sten_ctx *ctx, double *A, int d, int m, double *val, double *V)
{
    const int il = d - m + 1, iu = d;
    int found = 0, info = 0, lwork = -1, liwork = -1, iw;
    int *isuppz = sten_alloc(ctx, 2 * (size_t)d * sizeof *isuppz);
    double *w = sten_alloc(ctx, (size_t)d * sizeof *w), *Z = sten_alloc(ctx, (size_t)d * m * sizeof *Z);
    float *Af = NULL, *wf = NULL, *Zf = NULL;
    void *work = NULL;
    int *iwork = NULL;
    sten_status st = isuppz && w && Z ? STEN_OK : STEN_E_NOMEM;
    sten__blas_threads(ctx);
    if (!st && d <= DOUBLE_EIG_MAX) {
        const double zero = 0, abstol = 0;
        double wq;
        dsyevr_("V", "I", "U", &d, A, &d, &zero, &zero, &il, &iu, &abstol, &found, w, Z, &d, isuppz, &wq, &lwork,
                &iw, &liwork, &info);
        lwork = (int)wq + 1, liwork = iw;
        work = sten_alloc(ctx, (size_t)lwork * sizeof(double));
        iwork = sten_alloc(ctx, (size_t)liwork * sizeof *iwork);
        if (!info && work && iwork)
            dsyevr_("V", "I", "U", &d, A, &d, &zero, &zero, &il, &iu, &abstol, &found, w, Z, &d, isuppz, work,
                    &lwork, iwork, &liwork, &info);
        else if (!info)
            st = STEN_E_NOMEM;
    } else if (!st) { /* too large for a double copy: float */
        Af = sten_alloc(ctx, (size_t)d * d * sizeof *Af), wf = sten_alloc(ctx, (size_t)d * sizeof *wf);
        Zf = sten_alloc(ctx, (size_t)d * m * sizeof *Zf);
        if (!Af || !wf || !Zf)
            st = STEN_E_NOMEM;
        for (size_t i = 0; !st && i < (size_t)d * d; i++)
            Af[i] = (float)A[i];
        const float zero = 0, abstol = 0;
        float wq;
        if (!st)
            ssyevr_("V", "I", "U", &d, Af, &d, &zero, &zero, &il, &iu, &abstol, &found, wf, Zf, &d, isuppz, &wq,
                    &lwork, &iw, &liwork, &info);
        lwork = (int)wq + 1, liwork = iw;
        work = st ? NULL : sten_alloc(ctx, (size_t)lwork * sizeof(float));
        iwork = st ? NULL : sten_alloc(ctx, (size_t)liwork * sizeof *iwork);
        if (!st && !info && work && iwork)
            ssyevr_("V", "I", "U", &d, Af, &d, &zero, &zero, &il, &iu, &abstol, &found, wf, Zf, &d, isuppz, work,
                    &lwork, iwork, &liwork, &info);
        else if (!st && !info)
            st = STEN_E_NOMEM;
        for (int i = 0; !st && i < found; i++)
            w[i] = wf[i];
        for (size_t i = 0; !st && i < (size_t)d * found; i++)
            Z[i] = Zf[i];
    }
    if (!st && (info || found != m))
        st = sten_fail(ctx, STEN_E_NUMERIC, "PCA: the eigensolver failed (LAPACK %cSYEVR info %d, %d of %d "
                       "eigenvalues)", d <= DOUBLE_EIG_MAX ? 'D' : 'S', info, found, m);
    /* ascending columns of Z -> decreasing rows of V */
    for (int i = 0; !st && i < m; i++) {
        val[i] = w[m - 1 - i];
        memcpy(V + (size_t)i * d, Z + (size_t)(m - 1 - i) * d, (size_t)d * sizeof *V);
    }
    sten_free(ctx, isuppz), sten_free(ctx, w), sten_free(ctx, Z), sten_free(ctx, Af), sten_free(ctx, wf);
    sten_free(ctx, Zf), sten_free(ctx, work), sten_free(ctx, iwork);
    return st;
}

/* Column means (double sums in row order) and the total variance. */
static void moments(const float *X, uint64_t n, uint32_t d, bool subtract, float *mean, double *sum)
{
    memset(sum, 0, (size_t)d * sizeof *sum);
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < d; j++)
            sum[j] += X[i * d + j];
    for (uint32_t j = 0; j < d; j++)
        mean[j] = subtract ? (float)(sum[j] / (double)n) : 0.0f;
}

/* regular: C (d x d, double) = covariance of the rows, in one pass of
 * blocks: each block less a shift c (the first block's mean: close to the
 * mean, so the products lose little to cancellation; 0 without
 * subtract_mean), and the residue of the shift corrected from the shifted
 * rows' sums s (C = (sum (x - c)(x - c)^T - s s^T / n) / (n - 1)). The
 * mean is c + s / n. */
static sten_status covariance(sten_ctx *ctx, const float *X, uint64_t n, const sten_pca_opts *o, float *mean,
                              double *C)
{
    const uint32_t d = o->feature_dim, Bm = (uint32_t)(o->mini_batch_size < n ? o->mini_batch_size : n);
    float *Xc = sten_alloc(ctx, (size_t)Bm * d * sizeof *Xc), *G = sten_alloc(ctx, (size_t)d * d * sizeof *G);
    double *s = sten_calloc(ctx, d, sizeof *s);
    if (!Xc || !G || !s) {
        sten_free(ctx, Xc), sten_free(ctx, G), sten_free(ctx, s);
        return STEN_E_NOMEM;
    }
    memset(C, 0, (size_t)d * d * sizeof *C);
    for (uint64_t b = 0; o->subtract_mean && b < Bm; b++) /* the shift: the first block's mean */
        for (uint32_t j = 0; j < d; j++)
            s[j] += X[b * d + j];
    for (uint32_t j = 0; j < d; j++)
        mean[j] = (float)(s[j] / (double)Bm), s[j] = 0;
    for (uint64_t pos = 0; pos < n; pos += Bm) {
        const uint32_t B = (uint32_t)(n - pos < Bm ? n - pos : Bm);
        center(X, pos, B, d, mean, Xc);
        /* G's upper triangle by block rows: G[i0:i1, i0:] = Xc[:, i0:i1]^T Xc[:, i0:], TN products
         * (sten's own kernels where the CPU has them): about half of X^T X's work, as SSYRK would
         * do but faster than this OpenBLAS's */
        for (uint32_t i0 = 0; i0 < d; i0 += PCA_TRI_BLOCK) {
            const uint32_t h = d - i0 < PCA_TRI_BLOCK ? d - i0 : PCA_TRI_BLOCK;
            // G[i0.., i0..]: (h, d - i0) = Xc[:, i0..]^T (h, B) . Xc[:, i0..] (B, d - i0)
            sten_gemm(ctx, STEN_TRANS, STEN_NO_TRANS, h, d - i0, B, 1.0f, Xc + i0, d, Xc + i0, d, 0.0f,
                      G + (size_t)i0 * d + i0, d);
        }
        for (uint32_t i = 0; i < d; i++)
            for (uint32_t j = i; j < d; j++)
                C[(size_t)i * d + j] += G[(size_t)i * d + j];
        for (uint64_t b = 0; b < B; b++)
            for (uint32_t j = 0; j < d; j++)
                s[j] += Xc[b * d + j];
        sten__progress(ctx, "PCA: covariance", "rows", pos + B, n);
    }
    const double den = n > 1 ? (double)(n - 1) : 1.0;
    for (uint32_t i = 0; i < d; i++)
        for (uint32_t j = i; j < d; j++) {
            const double v = (C[(size_t)i * d + j] - (o->subtract_mean ? s[i] * s[j] / (double)n : 0.0)) / den;
            C[(size_t)i * d + j] = C[(size_t)j * d + i] = v;
        }
    for (uint32_t j = 0; o->subtract_mean && j < d; j++)
        mean[j] = (float)(mean[j] + s[j] / (double)n);
    sten_free(ctx, Xc), sten_free(ctx, G), sten_free(ctx, s);
    return STEN_OK;
}

/* Orthonormal columns of Q (d x L, row-major, double), modified Gram-Schmidt
 * twice; a column with nothing left is replaced by a random one. */
static void orthonormalize(double *Q, uint32_t d, uint32_t L, sten_rng *r)
{
    for (uint32_t j = 0; j < L; j++) {
        for (int tries = 0; tries < 4; tries++) {
            double before = 0;
            for (uint32_t i = 0; i < d; i++)
                before += Q[(size_t)i * L + j] * Q[(size_t)i * L + j];
            for (int pass = 0; pass < 2; pass++)
                for (uint32_t k = 0; k < j; k++) {
                    double dot = 0;
                    for (uint32_t i = 0; i < d; i++)
                        dot += Q[(size_t)i * L + k] * Q[(size_t)i * L + j];
                    for (uint32_t i = 0; i < d; i++)
                        Q[(size_t)i * L + j] -= dot * Q[(size_t)i * L + k];
                }
            double nrm = 0;
            for (uint32_t i = 0; i < d; i++)
                nrm += Q[(size_t)i * L + j] * Q[(size_t)i * L + j];
            if (nrm > 1e-20 * before && nrm > 0) {
                nrm = 1.0 / sqrt(nrm);
                for (uint32_t i = 0; i < d; i++)
                    Q[(size_t)i * L + j] *= nrm;
                break;
            }
            for (uint32_t i = 0; i < d; i++) /* in the span of the others: a fresh direction */
                Q[(size_t)i * L + j] = sten_rng_normal(r);
        }
    }
}

/* Y (d x L, double) = covariance times Q (d x L, double), streamed. */
static sten_status cov_times(sten_ctx *ctx, const float *X, uint64_t n, const sten_pca_opts *o, const float *mean,
                             const double *Q, uint32_t L, double *Y)
{
    const uint32_t d = o->feature_dim, Bm = (uint32_t)(o->mini_batch_size < n ? o->mini_batch_size : n);
    float *Xc = sten_alloc(ctx, (size_t)Bm * d * sizeof *Xc), *Qf = sten_alloc(ctx, (size_t)d * L * sizeof *Qf);
    float *T = sten_alloc(ctx, (size_t)Bm * L * sizeof *T), *Yb = sten_alloc(ctx, (size_t)d * L * sizeof *Yb);
    double *s = sten_calloc(ctx, d, sizeof *s);
    if (!Xc || !Qf || !T || !Yb || !s) {
        sten_free(ctx, Xc), sten_free(ctx, Qf), sten_free(ctx, T), sten_free(ctx, Yb), sten_free(ctx, s);
        return STEN_E_NOMEM;
    }
    for (size_t i = 0; i < (size_t)d * L; i++)
        Qf[i] = (float)Q[i];
    memset(Y, 0, (size_t)d * L * sizeof *Y);
    for (uint64_t pos = 0; pos < n; pos += Bm) {
        const uint32_t B = (uint32_t)(n - pos < Bm ? n - pos : Bm);
        center(X, pos, B, d, mean, Xc);
        sten__gemm_blas(ctx, STEN_NO_TRANS, STEN_NO_TRANS, B, L, d, 1.0f, Xc, d, Qf, L, 0.0f, T, L);
        sten__gemm_blas(ctx, STEN_TRANS, STEN_NO_TRANS, d, L, B, 1.0f, Xc, d, T, L, 0.0f, Yb, L);
        for (size_t i = 0; i < (size_t)d * L; i++)
            Y[i] += Yb[i];
        for (uint64_t b = 0; b < B; b++)
            for (uint32_t j = 0; j < d; j++)
                s[j] += Xc[b * d + j];
        sten__progress(ctx, "PCA: randomized pass", "rows", pos + B, n);
    }
    /* the residue of the float mean: minus s (s^T Q) / n */
    const double den = n > 1 ? (double)(n - 1) : 1.0;
    for (uint32_t l = 0; l < L; l++) {
        double sq = 0;
        for (uint32_t j = 0; j < d; j++)
            sq += s[j] * Q[(size_t)j * L + l];
        for (uint32_t i = 0; i < d; i++)
            Y[(size_t)i * L + l] = (Y[(size_t)i * L + l] - (o->subtract_mean ? s[i] * sq / (double)n : 0.0)) / den;
    }
    sten_free(ctx, Xc), sten_free(ctx, Qf), sten_free(ctx, T), sten_free(ctx, Yb), sten_free(ctx, s);
    return STEN_OK;
}

/* What randomized() multiplies the covariance by: the rows, dense or sparse. */
typedef struct {
    const float *X;    /* dense rows, or NULL */
    const sten_csr *S; /* sparse rows, or NULL */
    const double *sum; /* sparse: the column sums */
    uint64_t n;
} pca_rows;

static sten_status cov_times_csr(sten_ctx *ctx, const pca_rows *R, const sten_pca_opts *o, const double *Q,
                                 uint32_t L, double *Y);

/* randomized: V (m x d) and val (m) from subspace iteration on L columns. */
static sten_status randomized(sten_ctx *ctx, const pca_rows *R, const sten_pca_opts *o, const float *mean,
                              double *val, double *V)
{
    const uint32_t d = o->feature_dim, m = o->num_components;
    const uint32_t extra = o->extra_components < 0 ? STEN__MAXU(10u, m) : (uint32_t)o->extra_components;
    const uint32_t L = m + extra < d ? m + extra : d;
    double *Q = sten_alloc(ctx, (size_t)d * L * sizeof *Q), *Y = sten_alloc(ctx, (size_t)d * L * sizeof *Y);
    double *Bm = sten_alloc(ctx, (size_t)L * L * sizeof *Bm), *U = sten_alloc(ctx, (size_t)L * L * sizeof *U);
    double *lam = sten_alloc(ctx, (size_t)L * sizeof *lam);
    sten_status st = Q && Y && Bm && U && lam ? STEN_OK : STEN_E_NOMEM;
    sten_rng r;
    sten_rng_init(&r, o->seed, 0x706361ull); /* "pca" */
    for (size_t i = 0; !st && i < (size_t)d * L; i++)
        Y[i] = sten_rng_normal(&r);
    for (uint32_t it = 0; !st && it <= o->power_iterations; it++) {
        memcpy(Q, Y, (size_t)d * L * sizeof *Q);
        orthonormalize(Q, d, L, &r);
        st = R->S ? cov_times_csr(ctx, R, o, Q, L, Y) : cov_times(ctx, R->X, R->n, o, mean, Q, L, Y);
    }
    /* B = Q^T C Q, symmetrised, its eigenpairs; components = Q U */
    for (uint32_t a = 0; !st && a < L; a++)
        for (uint32_t b = 0; b < L; b++) {
            double s = 0;
            for (uint32_t i = 0; i < d; i++)
                s += Q[(size_t)i * L + a] * Y[(size_t)i * L + b];
            Bm[(size_t)a * L + b] = s;
        }
    for (uint32_t a = 0; !st && a < L; a++)
        for (uint32_t b = a + 1; b < L; b++)
            Bm[(size_t)a * L + b] = Bm[(size_t)b * L + a] = 0.5 * (Bm[(size_t)a * L + b] + Bm[(size_t)b * L + a]);
    if (!st)
        st = eig_top(ctx, Bm, (int)L, (int)m, lam, U);
    for (uint32_t c = 0; !st && c < m; c++) {
        val[c] = lam[c];
        for (uint32_t i = 0; i < d; i++) {
            double s = 0;
            for (uint32_t a = 0; a < L; a++)
                s += Q[(size_t)i * L + a] * U[(size_t)c * L + a];
            V[(size_t)c * d + i] = s;
        }
    }
    sten_free(ctx, Q), sten_free(ctx, Y), sten_free(ctx, Bm), sten_free(ctx, U), sten_free(ctx, lam);
    return st;
}

/* The trace of the covariance: centred squares summed in double, per
 * column, in one pass down the rows (row-major, as X lies). */
static sten_status total_variance(sten_ctx *ctx, const float *X, uint64_t n, uint32_t d, const float *mean,
                                  bool subtract, double *out)
{
    double *acc = sten_calloc(ctx, 2 * (size_t)d, sizeof *acc), *s = acc, *s2 = acc + d;
    if (!acc)
        return STEN_E_NOMEM;
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < d; j++) {
            const double v = (double)X[i * d + j] - mean[j];
            s[j] += v;
            s2[j] += v * v;
        }
    double t = 0;
    for (uint32_t j = 0; j < d; j++)
        t += s2[j] - (subtract ? s[j] * s[j] / (double)n : 0.0);
    sten_free(ctx, acc);
    *out = t / (n > 1 ? (double)(n - 1) : 1.0);
    return STEN_OK;
}

static sten_status check_opts(sten_ctx *ctx, uint64_t n, const sten_pca_opts *o)
{
    const uint32_t d = o->feature_dim, m = o->num_components;
    if (!d || !m || m > d || !o->mini_batch_size || n == 0 || o->extra_components < -1)
        return sten_fail(ctx, STEN_E_INVALID, "PCA: %s", !d ? "feature_dim must be at least 1"
                         : !m || m > d ? "num_components must be in 1..feature_dim"
                         : !o->mini_batch_size ? "mini_batch_size must be at least 1"
                         : n == 0 ? "no rows" : "extra_components must be -1 or more");
    return STEN_OK;
}

/* out's components (rows of V with a deterministic sign: the largest-
 * magnitude entry positive, the first on ties) and eigenvalues. */
static void keep_components(sten_pca *out, const double *V, const double *val, uint32_t m, uint32_t d)
{
    for (uint32_t c = 0; c < m; c++) {
        const double *v = V + (size_t)c * d;
        uint32_t arg = 0;
        for (uint32_t j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[arg]))
                arg = j;
        const double sgn = v[arg] < 0 ? -1.0 : 1.0;
        for (uint32_t j = 0; j < d; j++)
            out->components[(size_t)c * d + j] = (float)(sgn * v[j]);
        out->eigenvalues[c] = (float)(val[c] > 0 ? val[c] : 0.0);
    }
}

/* The end of a fit: on success the components and the model's fields;
 * on failure the partial model freed. V and val are the caller's. */
static sten_status finish_fit(sten_ctx *ctx, sten_status st, const double *V, const double *val, uint64_t n,
                              const sten_pca_opts *o, sten_pca *out)
{
    if (st) {
        sten_pca_free(ctx, out);
        return st;
    }
    keep_components(out, V, val, o->num_components, o->feature_dim);
    out->dim = o->feature_dim;
    out->n_comp = o->num_components;
    out->rows = n;
    out->opts = *o;
    return STEN_OK;
}

sten_status sten_pca_fit(sten_ctx *ctx, const float *X, uint64_t n, const sten_pca_opts *o, sten_pca *out)
{
    memset(out, 0, sizeof *out);
    const uint32_t d = o->feature_dim, m = o->num_components;
    sten_status st = check_opts(ctx, n, o);
    if (st)
        return st;
    const bool regular = o->mode == STEN_PCA_REGULAR;
    out->mean = sten_alloc(ctx, (size_t)d * sizeof *out->mean);
    out->components = sten_alloc(ctx, (size_t)m * d * sizeof *out->components);
    out->eigenvalues = sten_alloc(ctx, (size_t)m * sizeof *out->eigenvalues);
    double *sum = sten_alloc(ctx, (size_t)d * sizeof *sum), *val = sten_alloc(ctx, (size_t)m * sizeof *val);
    double *V = sten_alloc(ctx, (size_t)m * d * sizeof *V);
    double *C = regular ? sten_alloc(ctx, (size_t)d * d * sizeof *C) : NULL;
    st = out->mean && out->components && out->eigenvalues && sum && val && V && (C || !regular) ? STEN_OK
                                                                                                : STEN_E_NOMEM;
    if (!st) {
        const pca_rows R = {X, NULL, NULL, n};
        if (regular) {
            st = covariance(ctx, X, n, o, out->mean, C);
        } else {
            moments(X, n, d, o->subtract_mean, out->mean, sum);
            st = randomized(ctx, &R, o, out->mean, val, V);
        }
    }
    if (!st && regular) { /* the total variance is C's trace (eig_top destroys C) */
        double t = 0;
        for (uint32_t j = 0; j < d; j++)
            t += C[(size_t)j * d + j];
        out->total_variance = t;
        st = eig_top(ctx, C, (int)d, (int)m, val, V);
    } else if (!st) {
        st = total_variance(ctx, X, n, d, out->mean, o->subtract_mean, &out->total_variance);
    }
    st = finish_fit(ctx, st, V, val, n, o, out);
    sten_free(ctx, sum), sten_free(ctx, val), sten_free(ctx, V), sten_free(ctx, C);
    return st;
}

/* ---------------------------------------------------------- sparse rows */

/* Y (d x L) = covariance times Q from the entries: (X^T (X Q) - s (s^T Q) / n)
 * / (n - 1), s the column sums (without the mean: X^T X Q / (n - 1)); rows
 * in blocks, sums in double, in row order. */
static sten_status cov_times_csr(sten_ctx *ctx, const pca_rows *R, const sten_pca_opts *o, const double *Q,
                                 uint32_t L, double *Y)
{
    const sten_csr *S = R->S;
    const uint32_t d = o->feature_dim;
    const uint64_t n = R->n;
    double *T = sten_alloc(ctx, (size_t)L * sizeof *T);
    if (!T)
        return STEN_E_NOMEM;
    memset(Y, 0, (size_t)d * L * sizeof *Y);
    for (uint64_t i = 0; i < n; i++) {
        memset(T, 0, (size_t)L * sizeof *T);
        for (uint64_t e = S->row_ptr[i]; e < S->row_ptr[i + 1]; e++) {
            const double x = S->val ? S->val[e] : 1.0;
            const double *q = Q + (size_t)S->col[e] * L;
            for (uint32_t l = 0; l < L; l++)
                T[l] += x * q[l];
        }
        for (uint64_t e = S->row_ptr[i]; e < S->row_ptr[i + 1]; e++) {
            const double x = S->val ? S->val[e] : 1.0;
            double *y = Y + (size_t)S->col[e] * L;
            for (uint32_t l = 0; l < L; l++)
                y[l] += x * T[l];
        }
        if ((i & 0xffff) == 0xffff)
            sten__progress(ctx, "PCA: randomized pass", "rows", i + 1, n);
    }
    const double den = n > 1 ? (double)(n - 1) : 1.0;
    for (uint32_t l = 0; l < L; l++) {
        double sq = 0;
        for (uint32_t j = 0; j < d; j++)
            sq += R->sum[j] * Q[(size_t)j * L + l];
        for (uint32_t j = 0; j < d; j++)
            Y[(size_t)j * L + l] =
                (Y[(size_t)j * L + l] - (o->subtract_mean ? R->sum[j] * sq / (double)n : 0.0)) / den;
    }
    sten_free(ctx, T);
    return STEN_OK;
}

/* regular, sparse: C (d x d) = (X^T X - s s^T / n) / (n - 1) from each row's
 * pairs of entries. */
static void covariance_csr(sten_ctx *ctx, const sten_csr *S, uint64_t n, const sten_pca_opts *o, const double *sum,
                           double *C)
{
    const uint32_t d = o->feature_dim;
    memset(C, 0, (size_t)d * d * sizeof *C);
    for (uint64_t i = 0; i < n; i++) {
        for (uint64_t a = S->row_ptr[i]; a < S->row_ptr[i + 1]; a++) {
            const double xa = S->val ? S->val[a] : 1.0;
            for (uint64_t b = S->row_ptr[i]; b < S->row_ptr[i + 1]; b++)
                C[(size_t)S->col[a] * d + S->col[b]] += xa * (S->val ? S->val[b] : 1.0);
        }
        if ((i & 0xffff) == 0xffff)
            sten__progress(ctx, "PCA: covariance", "rows", i + 1, n);
    }
    const double den = n > 1 ? (double)(n - 1) : 1.0;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            C[i * d + j] = (C[i * d + j] - (o->subtract_mean ? sum[i] * sum[j] / (double)n : 0.0)) / den;
}

sten_status sten_pca_fit_csr(sten_ctx *ctx, const sten_csr *X, const sten_pca_opts *o, sten_pca *out)
{
    memset(out, 0, sizeof *out);
    const uint32_t d = o->feature_dim, m = o->num_components;
    const uint64_t n = X->rows;
    sten_status st = check_opts(ctx, n, o);
    if (st)
        return st;
    if (X->cols > d)
        return sten_fail(ctx, STEN_E_INVALID, "PCA: the rows have %u columns, more than feature_dim = %u", X->cols, d);
    const bool regular = o->mode == STEN_PCA_REGULAR;
    if (regular && d > STEN_PCA_SPARSE_REGULAR_MAX)
        return sten_fail(ctx, STEN_E_INVALID, "PCA: algorithm_mode regular on sparse rows of %u features would hold a "
                         "%u x %u covariance (%.1f GB); use algorithm_mode randomized (it never forms it)", d, d, d,
                         (double)d * d * 8 / 1e9);
    out->mean = sten_alloc(ctx, (size_t)d * sizeof *out->mean);
    out->components = sten_alloc(ctx, (size_t)m * d * sizeof *out->components);
    out->eigenvalues = sten_alloc(ctx, (size_t)m * sizeof *out->eigenvalues);
    double *sum = sten_calloc(ctx, d, sizeof *sum), *sq = sten_calloc(ctx, d, sizeof *sq);
    double *val = sten_alloc(ctx, (size_t)m * sizeof *val), *V = sten_alloc(ctx, (size_t)m * d * sizeof *V);
    double *C = regular ? sten_alloc(ctx, (size_t)d * d * sizeof *C) : NULL;
    st = out->mean && out->components && out->eigenvalues && sum && sq && val && V && (C || !regular)
             ? STEN_OK : STEN_E_NOMEM;
    if (!st) { /* column sums and squares, in row order */
        for (uint64_t e = 0; e < X->row_ptr[n]; e++) {
            const double x = X->val ? X->val[e] : 1.0;
            sum[X->col[e]] += x;
            sq[X->col[e]] += x * x;
        }
        double t = 0;
        for (uint32_t j = 0; j < d; j++) {
            out->mean[j] = o->subtract_mean ? (float)(sum[j] / (double)n) : 0.0f;
            t += sq[j] - (o->subtract_mean ? sum[j] * sum[j] / (double)n : 0.0);
        }
        out->total_variance = t / (n > 1 ? (double)(n - 1) : 1.0);
        const pca_rows R = {NULL, X, sum, n};
        if (regular) {
            covariance_csr(ctx, X, n, o, sum, C);
            st = eig_top(ctx, C, (int)d, (int)m, val, V);
        } else {
            st = randomized(ctx, &R, o, out->mean, val, V);
        }
    }
    st = finish_fit(ctx, st, V, val, n, o, out);
    sten_free(ctx, sum), sten_free(ctx, sq), sten_free(ctx, val), sten_free(ctx, V), sten_free(ctx, C);
    return st;
}

sten_status sten_pca_project(sten_ctx *ctx, const sten_pca *m, const float *X, uint64_t n, float *Y)
{
    const uint32_t d = m->dim, B0 = 1024;
    float *Xc = sten_alloc(ctx, (size_t)B0 * d * sizeof *Xc);
    if (!Xc)
        return STEN_E_NOMEM;
    for (uint64_t pos = 0; pos < n; pos += B0) {
        const uint32_t B = (uint32_t)(n - pos < B0 ? n - pos : B0);
        center(X, pos, B, d, m->mean, Xc);
        sten__gemm_blas(ctx, STEN_NO_TRANS, STEN_TRANS, B, m->n_comp, d, 1.0f, Xc, d, m->components, d, 0.0f,
                        Y + pos * m->n_comp, m->n_comp);
    }
    sten_free(ctx, Xc);
    return STEN_OK;
}
