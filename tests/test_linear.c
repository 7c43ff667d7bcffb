/* test_linear.c — Linear Learner (src/algo/linear.c): regression recovers
 * the planted weights, logistic reaches an accuracy bound and its gradient
 * (and softmax's and squared loss's) matches finite differences, l1 zeroes
 * irrelevant weights, num_models keeps the setting that is best alone,
 * normalize_data equals pre-normalised rows, the threshold is the best by
 * brute force, hyperparameter files with their exact messages, model files. */
#include "check.h"
#include "sten.h"
#include "algo/algo_int.h"

#include <stdint.h>
#include <unistd.h>

#include "test_files.h"

/* X (n x d): normal features times scale[j] plus shift[j]. */
static void features(float *X, int n, int d, const float *scale, const float *shift, uint64_t seed)
{
    sten_rng r;
    sten_rng_init(&r, seed, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            X[i * d + j] = sten_rng_normal(&r) * (scale ? scale[j] : 1.0f) + (shift ? shift[j] : 0.0f);
}

static sten_linear_opts base_opts(sten_linear_predictor p, int d)
{
    sten_linear_opts o = sten_linear_defaults();
    o.feature_dim = (uint32_t)d;
    o.predictor_type = p;
    o.num_models = 1;
    o.early_stopping_patience = 1000;
    o.selection = STEN_LINEAR_SEL_LOSS;
    return o;
}

/* ------------------------------------------------------------ regression */

static void test_regression(void)
{
    enum { N = 4000, D = 5 };
    static float X[N * D], y[N];
    const float w[D] = {1.5f, -2.0f, 0.5f, 3.0f, 0.0f}, b = 0.7f;
    const float scale[D] = {1, 2, 0.5f, 1, 3}, shift[D] = {0, 5, -1, 0, 2};
    features(X, N, D, scale, shift, 11);
    sten_rng r;
    sten_rng_init(&r, 12, 2);
    for (int i = 0; i < N; i++) {
        double s = b;
        for (int j = 0; j < D; j++)
            s += (double)w[j] * X[i * D + j];
        y[i] = (float)s + 0.01f * sten_rng_normal(&r);
    }
    sten_linear_opts o = base_opts(STEN_LINEAR_REGRESSOR, D);
    o.mini_batch_size = 100, o.epochs = 20, o.learning_rate = 0.01f, o.wd = 0, o.l1 = 0;
    sten_linear m;
    sten_linear_report rep;
    CHECK_EQ(sten_linear_fit(ctx, X, y, N, NULL, NULL, 0, &o, &m, &rep), STEN_OK);
    if (!m.weights)
        return;
    CHECK_EQ(m.outputs, 1);
    for (int j = 0; j < D; j++)
        CHECK_NEAR(m.weights[j], w[j], 0.01, 0);
    CHECK_NEAR(m.bias[0], b, 0.03, 0);
    CHECK(rep.loss[0] < 0.001); /* training mse near the noise's 1e-4 */
    sten_linear_metrics mt;
    CHECK_EQ(sten_linear_evaluate(ctx, &m, X, y, N, &mt), STEN_OK);
    CHECK_NEAR(mt.mse, rep.loss[0], 1e-6, 1e-3);
    CHECK_NEAR(mt.objective_loss, mt.mse, 1e-9, 1e-6); /* squared_loss is the mse */
    float s[3];
    CHECK_EQ(sten_linear_predict(ctx, &m, X, 3, s, NULL), STEN_OK);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(s[i], y[i], 0.05, 0);
    sten_linear_free(ctx, &m);
}

/* ---------------------------------------------------------- classifiers */

/* Binary labels from a planted direction with 5% flipped. */
static void binary_data(float *X, float *y, int n, int d, uint64_t seed)
{
    features(X, n, d, NULL, NULL, seed);
    sten_rng r;
    sten_rng_init(&r, seed, 7);
    for (int i = 0; i < n; i++) {
        double s = 0.3;
        for (int j = 0; j < d; j++)
            s += (j % 2 ? -1.0 : 1.0) * (j + 1) * X[i * d + j];
        y[i] = (float)(s > 0);
        if (sten_rng_uniform(&r) < 0.05f)
            y[i] = 1 - y[i];
    }
}

static void test_logistic(void)
{
    enum { N = 3000, D = 4 };
    static float X[N * D], y[N], Xt[N * D], yt[N];
    binary_data(X, y, N, D, 21);
    binary_data(Xt, yt, N, D, 22);
    sten_linear_opts o = base_opts(STEN_LINEAR_BINARY, D);
    o.mini_batch_size = 100, o.epochs = 20, o.learning_rate = 0.05f;
    sten_linear m;
    CHECK_EQ(sten_linear_fit(ctx, X, y, N, NULL, NULL, 0, &o, &m, NULL), STEN_OK);
    if (!m.weights)
        return;
    CHECK_EQ(m.threshold == 0.5f, 1); /* loss_function: the logistic's 0.5 */
    sten_linear_metrics mt;
    CHECK_EQ(sten_linear_evaluate(ctx, &m, Xt, yt, N, &mt), STEN_OK);
    CHECK(mt.accuracy > 0.92); /* 95% of labels follow the plane (chance: 0.5) */
    CHECK(mt.precision > 0.9 && mt.recall > 0.9 && mt.f_beta > 0.9);
    CHECK(mt.objective_loss < 0.35); /* 0.69 at chance, 0.2 for the flips alone */
    float p[N], lab[N];
    CHECK_EQ(sten_linear_predict(ctx, &m, Xt, N, p, lab), STEN_OK);
    int agree = 0;
    for (int i = 0; i < N; i++)
        agree += p[i] > 0 && p[i] < 1 && lab[i] == (float)(p[i] >= 0.5f);
    CHECK_EQ(agree, N);
    sten_linear_free(ctx, &m);
}

/* d loss / d w by central differences against sten__linear_gradient, for
 * the smooth losses at a random point. */
static void test_gradient(void)
{
    enum { N = 64, D = 5, K = 3 };
    static float X[N * D], y[N];
    features(X, N, D, NULL, NULL, 31);
    const sten_linear_loss losses[] = {STEN_LINEAR_LOGISTIC, STEN_LINEAR_SQUARED, STEN_LINEAR_SOFTMAX};
    const sten_linear_predictor preds[] = {STEN_LINEAR_BINARY, STEN_LINEAR_REGRESSOR, STEN_LINEAR_MULTICLASS};
    for (int t = 0; t < 3; t++) {
        const uint32_t C = t == 2 ? K : 1;
        for (int i = 0; i < N; i++)
            y[i] = t == 0 ? (float)(i % 2) : t == 1 ? X[i * D] * 0.7f - 1 : (float)(i % K);
        float W[D * K], bias[K], gW[D * K], gb[K];
        sten_rng r;
        sten_rng_init(&r, 32 + t, 3);
        for (uint32_t k = 0; k < D * C; k++)
            W[k] = 0.5f * sten_rng_normal(&r);
        for (uint32_t c = 0; c < C; c++)
            bias[c] = 0.3f * sten_rng_normal(&r);
        sten_linear m = {.dim = D, .outputs = C, .weights = W, .bias = bias};
        m.opts = base_opts(preds[t], D);
        m.opts.loss = losses[t];
        m.opts.num_classes = t == 2 ? K : 0;
        const double l0 = sten__linear_gradient(ctx, &m, X, y, N, gW, gb);
        CHECK(isfinite(l0) && l0 > 0);
        float dummyW[D * K], dummyb[K];
        double worst = 0;
        for (uint32_t k = 0; k < D * C + C; k++) {
            float *p = k < D * C ? &W[k] : &bias[k - D * C];
            const float keep = *p, h = 1e-2f;
            *p = keep + h;
            const double up = sten__linear_gradient(ctx, &m, X, y, N, dummyW, dummyb);
            *p = keep - h;
            const double down = sten__linear_gradient(ctx, &m, X, y, N, dummyW, dummyb);
            *p = keep;
            const double fd = (up - down) / (2.0 * ((double)(keep + h) - keep));
            const double g = k < D * C ? gW[k] : gb[k - D * C];
            const double err = fabs(fd - g) / (1e-3 + fabs(fd));
            worst = err > worst ? err : worst;
        }
        CHECK(worst < 2e-2);
        if (worst >= 2e-2)
            fprintf(stderr, "  loss %d: worst relative gradient error %g\n", t, worst);
    }
}

static void test_multiclass(void)
{
    enum { N = 3000, D = 6, K = 4 };
    static float X[N * D], y[N];
    features(X, N, D, NULL, NULL, 41);
    for (int i = 0; i < N; i++) { /* class c: a shift of 3 along feature c */
        y[i] = (float)(i % K);
        X[i * D + i % K] += 3.0f;
    }
    sten_linear_opts o = base_opts(STEN_LINEAR_MULTICLASS, D);
    o.num_classes = K, o.mini_batch_size = 200, o.epochs = 10;
    sten_linear m;
    CHECK_EQ(sten_linear_fit(ctx, X, y, N, NULL, NULL, 0, &o, &m, NULL), STEN_OK);
    if (!m.weights)
        return;
    CHECK_EQ(m.outputs, K);
    sten_linear_metrics mt;
    CHECK_EQ(sten_linear_evaluate(ctx, &m, X, y, N, &mt), STEN_OK);
    CHECK(mt.multiclass_accuracy > 0.85); /* the Bayes rate here is about 0.87 */
    float p[2 * K], lab[2];
    CHECK_EQ(sten_linear_predict(ctx, &m, X, 2, p, lab), STEN_OK);
    CHECK_NEAR(p[0] + p[1] + p[2] + p[3], 1.0, 1e-5, 0);
    sten_linear_free(ctx, &m);
    y[5] = 7; /* a label outside 0 .. num_classes - 1 */
    CHECK_EQ(sten_linear_fit(ctx, X, y, N, NULL, NULL, 0, &o, &m, NULL), STEN_E_RANGE);
    CHECK_STR(sten_ctx_error(ctx), "linear-learner: training row 6 has label 7 (multiclass_classifier expects 0 to "
                                   "num_classes - 1)");
    sten_ctx_clear_error(ctx);
}

/* ------------------------------------------------------------------- l1 */

static void test_l1(void)
{
    enum { N = 3000, D = 10 };
    static float X[N * D], y[N];
    features(X, N, D, NULL, NULL, 51);
    for (int i = 0; i < N; i++)
        y[i] = 2 * X[i * D] - 3 * X[i * D + 1] + X[i * D + 2] + 0.5f;
    for (int pass = 0; pass < 2; pass++) {
        sten_linear_opts o = base_opts(STEN_LINEAR_REGRESSOR, D);
        o.optimizer = STEN_LINEAR_SGD, o.learning_rate = 0.05f, o.mini_batch_size = 100, o.epochs = 10;
        o.l1 = pass ? 0.05f : 0.0f, o.wd = 0;
        sten_linear m;
        CHECK_EQ(sten_linear_fit(ctx, X, y, N, NULL, NULL, 0, &o, &m, NULL), STEN_OK);
        if (!m.weights)
            return;
        int zero = 0;
        for (int j = 3; j < D; j++)
            zero += m.weights[j] == 0.0f;
        CHECK_EQ(zero, pass ? D - 3 : 0); /* without l1 noise-free SGD leaves tiny weights, none exactly 0 */
        for (int j = 0; j < 3; j++)
            CHECK(fabsf(m.weights[j]) > 0.8f);
        sten_linear_free(ctx, &m);
    }
}

/* ----------------------------------------------------------- num_models */

static void test_num_models(void)
{
    enum { N = 2000, NV = 1000, D = 6, M = 5 };
    static float X[N * D], y[N], Xv[NV * D], yv[NV];
    binary_data(X, y, N, D, 61);
    binary_data(Xv, yv, NV, D, 62);
    sten_linear_opts o = base_opts(STEN_LINEAR_BINARY, D);
    o.num_models = M, o.epochs = 3, o.mini_batch_size = 200, o.learning_rate = 0.003f, o.wd = 0.01f;
    o.early_stopping_patience = 2;
    sten_linear all;
    sten_linear_report rep;
    CHECK_EQ(sten_linear_fit(ctx, X, y, N, Xv, yv, NV, &o, &all, &rep), STEN_OK);
    if (!all.weights)
        return;
    CHECK_EQ(rep.num_models, M);
    CHECK(rep.on_validation);
    CHECK(rep.learning_rate[0] == 0.003f && rep.wd[0] == 0.01f);
    double alone[M];
    int best = 0;
    for (int j = 0; j < M; j++) {
        sten_linear_opts one = o;
        one.num_models = 1, one.learning_rate = rep.learning_rate[j], one.wd = rep.wd[j], one.l1 = rep.l1[j];
        sten_linear m;
        sten_linear_report r1;
        CHECK_EQ(sten_linear_fit(ctx, X, y, N, Xv, yv, NV, &one, &m, &r1), STEN_OK);
        alone[j] = r1.loss[0];
        CHECK_NEAR(rep.loss[j], alone[j], 1e-5, 1e-4); /* the same model trained beside the others */
        CHECK_EQ(rep.epochs[j], r1.epochs[0]);
        if (alone[j] < alone[best])
            best = j;
        if (j == (int)rep.chosen && m.weights)
            for (int k = 0; k < D; k++)
                CHECK_NEAR(all.weights[k], m.weights[k], 1e-4, 1e-3);
        sten_linear_free(ctx, &m);
    }
    CHECK_EQ(rep.chosen, best);
    double lo = alone[0], hi = alone[0];
    for (int j = 1; j < M; j++)
        lo = alone[j] < lo ? alone[j] : lo, hi = alone[j] > hi ? alone[j] : hi;
    CHECK(hi > 1.2 * lo); /* the settings differ enough for the choice to matter */
    CHECK(all.opts.learning_rate == rep.learning_rate[best]);
    sten_linear_free(ctx, &all);
}

/* ------------------------------------------------------- normalize_data */

static void test_normalize(void)
{
    enum { N = 2000, D = 4 };
    static float X[N * D], Xn[N * D], y[N];
    const float scale[D] = {10, 0.1f, 3, 1}, shift[D] = {50, -2, 0, 7};
    features(X, N, D, scale, shift, 71);
    for (int i = 0; i < N; i++)
        y[i] = (float)((X[i * D] - 50) / 10 - (X[i * D + 1] + 2) * 10 + 0.2 > 0);
    float mu[D], isd[D];
    for (int j = 0; j < D; j++) { /* as the library: double moments, float mean and 1/sd */
        double s = 0, ss = 0;
        for (int i = 0; i < N; i++)
            s += X[i * D + j];
        const double mean = s / N;
        for (int i = 0; i < N; i++)
            ss += ((double)X[i * D + j] - mean) * ((double)X[i * D + j] - mean);
        mu[j] = (float)mean, isd[j] = (float)(1.0 / sqrt(ss / N));
    }
    for (int i = 0; i < N * D; i++)
        Xn[i] = (X[i] - mu[i % D]) * isd[i % D];
    sten_linear_opts o = base_opts(STEN_LINEAR_BINARY, D);
    o.mini_batch_size = 100, o.epochs = 5;
    sten_linear a, b;
    CHECK_EQ(sten_linear_fit(ctx, X, y, N, NULL, NULL, 0, &o, &a, NULL), STEN_OK);
    o.normalize_data = false;
    CHECK_EQ(sten_linear_fit(ctx, Xn, y, N, NULL, NULL, 0, &o, &b, NULL), STEN_OK);
    if (!a.weights || !b.weights)
        return;
    static float pa[N], pb[N];
    CHECK_EQ(sten_linear_predict(ctx, &a, X, N, pa, NULL), STEN_OK);
    CHECK_EQ(sten_linear_predict(ctx, &b, Xn, N, pb, NULL), STEN_OK);
    CHECK_CLOSE(pa, pb, N, 2e-4, 1e-3);
    CHECK(fabsf(a.weights[0] - b.weights[0]) > 0.01f); /* different models, same predictions */
    sten_linear_free(ctx, &a), sten_linear_free(ctx, &b);
}

/* ------------------------------------------------------------ threshold */

/* The criterion at threshold t, by counting. */
static void counts(const float *s, const float *y, int n, float t, double *acc, double *prec, double *rec, double *f2)
{
    double tp = 0, fp = 0, fn = 0, tn = 0;
    for (int i = 0; i < n; i++) {
        const bool p = s[i] >= t;
        tp += p && y[i] == 1, fp += p && y[i] == 0, fn += !p && y[i] == 1, tn += !p && y[i] == 0;
    }
    *acc = (tp + tn) / n, *prec = tp + fp > 0 ? tp / (tp + fp) : 0, *rec = tp / (tp + fn);
    *f2 = tp > 0 ? 5 * tp / (5 * tp + 4 * fn + fp) : 0;
}

static void test_threshold(void)
{
    const float s4[] = {0.1f, 0.4f, 0.6f, 0.9f}, y4[] = {0, 0, 1, 1};
    float t;
    double v;
    CHECK_EQ(sten_linear_pick_threshold(ctx, s4, y4, 4, STEN_LINEAR_SEL_ACCURACY, 1, 0, &t, &v), STEN_OK);
    CHECK_NEAR(t, 0.5, 1e-6, 0);
    CHECK_NEAR(v, 1.0, 0, 0);
    enum { N = 300 };
    float s[N], y[N];
    sten_rng r;
    sten_rng_init(&r, 81, 4);
    for (int i = 0; i < N; i++) { /* scores in steps of 0.05: many ties */
        y[i] = (float)(sten_rng_uniform(&r) < 0.4f);
        s[i] = roundf((0.3f * y[i] + 0.7f * sten_rng_uniform(&r)) * 20) / 20;
    }
    for (int crit = 0; crit < 4; crit++) {
        const float target = 0.7f;
        CHECK_EQ(sten_linear_pick_threshold(ctx, s, y, N, (sten_linear_selection)crit, 2, target, &t, &v), STEN_OK);
        double acc, prec, rec, f2, q[4];
        counts(s, y, N, t, &acc, &prec, &rec, &f2);
        q[0] = acc, q[1] = f2, q[2] = prec, q[3] = rec;
        double best = -1; /* brute force over every score as a threshold, and above them all */
        for (int i = 0; i <= N; i++) {
            double a2, p2, r2, fb2;
            counts(s, y, N, i < N ? s[i] : 2.0f, &a2, &p2, &r2, &fb2);
            const double cand = crit == 0 ? a2 : crit == 1 ? fb2 : crit == 2 ? (r2 >= target ? p2 : -1)
                                                                             : (i < N && p2 >= target ? r2 : -1);
            best = cand > best ? cand : best;
        }
        CHECK(best > 0);
        CHECK_NEAR(q[crit], best, 1e-12, 0);
        CHECK_NEAR(v, best, 1e-12, 0);
        if (crit == 2)
            CHECK(rec >= target);
        if (crit == 3)
            CHECK(prec >= target);
    }
    CHECK_EQ(sten_linear_pick_threshold(ctx, s, y, N, STEN_LINEAR_SEL_LOSS, 1, 0, &t, NULL), STEN_E_INVALID);
    sten_ctx_clear_error(ctx);

    /* in a fit: the threshold is the one chosen on the validation rows */
    enum { NT = 1500, D = 4 };
    static float X[NT * D], yy[NT], Xv[NT * D], yv[NT];
    binary_data(X, yy, NT, D, 83);
    binary_data(Xv, yv, NT, D, 84);
    sten_linear_opts o = base_opts(STEN_LINEAR_BINARY, D);
    o.selection = STEN_LINEAR_SEL_F_BETA, o.beta = 2, o.epochs = 3;
    sten_linear m;
    CHECK_EQ(sten_linear_fit(ctx, X, yy, NT, Xv, yv, NT, &o, &m, NULL), STEN_OK);
    if (!m.weights)
        return;
    static float p[NT];
    CHECK_EQ(sten_linear_predict(ctx, &m, Xv, NT, p, NULL), STEN_OK);
    float want;
    CHECK_EQ(sten_linear_pick_threshold(ctx, p, yv, NT, STEN_LINEAR_SEL_F_BETA, 2, 0, &want, NULL), STEN_OK);
    CHECK_NEAR(m.threshold, want, 1e-6, 0);
    CHECK(m.threshold < 0.5f); /* beta 2 favours recall */
    sten_linear_metrics mt;
    CHECK_EQ(sten_linear_evaluate(ctx, &m, Xv, yv, NT, &mt), STEN_OK);
    CHECK(mt.recall > mt.precision);
    sten_linear_free(ctx, &m);
}

/* ------------------------------------------------------ hyperparameters */

static void test_hyperparameters(void)
{
    sten_linear_opts o;
    const char *f = write_file("hp.json", "{\"feature_dim\": \"16\", \"predictor_type\": \"multiclass_classifier\", "
                                          "\"num_classes\": \"5\", \"l1\": \"0.01\", \"wd\": \"auto\", "
                                          "\"learning_rate\": 0.2, \"optimizer\": \"sgd\", \"mini_batch_size\": \"64\", "
                                          "\"epochs\": \"7\", \"normalize_data\": \"false\", \"num_models\": \"4\", "
                                          "\"early_stopping_patience\": \"2\", \"use_bias\": false, "
                                          "\"_tuning_objective_metric\": \"validation:multiclass_accuracy\"}");
    CHECK_EQ(sten_linear_opts_from_hyperparameters(ctx, f, &o), STEN_OK);
    CHECK_EQ(o.feature_dim, 16);
    CHECK_EQ(o.predictor_type, STEN_LINEAR_MULTICLASS);
    CHECK_EQ(o.num_classes, 5);
    CHECK_NEAR(o.l1, 0.01, 1e-9, 0);
    CHECK(o.wd < 0);
    CHECK_NEAR(o.learning_rate, 0.2, 1e-7, 0);
    CHECK_EQ(o.optimizer, STEN_LINEAR_SGD);
    CHECK_EQ(o.mini_batch_size, 64);
    CHECK_EQ(o.epochs, 7);
    CHECK(!o.normalize_data && !o.use_bias);
    CHECK_EQ(o.num_models, 4);
    CHECK_EQ(o.early_stopping_patience, 2);
    f = write_file("hp.json", "{\"feature_dim\": 3, \"predictor_type\": \"regressor\"}");
    CHECK_EQ(sten_linear_opts_from_hyperparameters(ctx, f, &o), STEN_OK);
    CHECK_EQ(o.loss, STEN_LINEAR_LOSS_AUTO);
    CHECK_EQ(o.mini_batch_size, 1000);
    CHECK_EQ(o.epochs, 15);
    CHECK_EQ(o.num_models, 0);
    CHECK_EQ(o.normalize_label, -1);
    CHECK(o.learning_rate == 0 && o.l1 < 0 && o.normalize_data && o.use_bias);
#define BASE "\"feature_dim\": \"4\", \"predictor_type\": \"binary_classifier\""
    static const struct {
        const char *json, *tail;
        sten_status st;
    } bad[] = {
        {"{" BASE ", \"momentum\": \"0.9\"}",
         ": unknown linear-learner hyperparameter \"momentum\" (known: feature_dim, predictor_type, num_classes, loss, "
         "l1, wd, learning_rate, optimizer, mini_batch_size, epochs, normalize_data, normalize_label, num_models, "
         "binary_classifier_model_selection_criteria, f_beta, target_recall, target_precision, "
         "early_stopping_patience, early_stopping_tolerance, use_bias, margin, num_point_for_scaler)", STEN_E_PARSE},
        {"{\"feature_dim\": \"4\"}", ": hyperparameter predictor_type is required (linear-learner)", STEN_E_PARSE},
        {"{\"feature_dim\": \"4\", \"predictor_type\": \"classifier\"}",
         ": hyperparameter predictor_type = \"classifier\" is not allowed (expected binary_classifier, regressor or "
         "multiclass_classifier)", STEN_E_RANGE},
        {"{" BASE ", \"loss\": \"squared_loss\"}",
         ": hyperparameter loss = \"squared_loss\" does not apply to predictor_type binary_classifier (expected auto, "
         "logistic or hinge_loss)", STEN_E_RANGE},
        {"{\"feature_dim\": \"4\", \"predictor_type\": \"regressor\", \"loss\": \"huber_loss\"}",
         ": hyperparameter loss = \"huber_loss\" is not supported yet (sten trains logistic, hinge_loss, "
         "squared_loss, absolute_loss and softmax_loss; docs/builtins.md)", STEN_E_UNSUPPORTED},
        {"{\"feature_dim\": \"4\", \"predictor_type\": \"multiclass_classifier\"}",
         ": hyperparameter num_classes is required with predictor_type multiclass_classifier (linear-learner)",
         STEN_E_PARSE},
        {"{" BASE ", \"num_classes\": \"3\"}",
         ": hyperparameter num_classes = 3 applies only to predictor_type multiclass_classifier (it is "
         "binary_classifier)", STEN_E_RANGE},
        {"{\"feature_dim\": \"4\", \"predictor_type\": \"multiclass_classifier\", \"num_classes\": \"2\"}",
         ": hyperparameter num_classes = \"2\" is out of range (expected an integer from 3 to 1000000)", STEN_E_RANGE},
        {"{" BASE ", \"learning_rate\": \"0\"}",
         ": hyperparameter learning_rate = \"0\" is out of range (expected auto or a number from 1e-08 to 100)",
         STEN_E_RANGE},
        {"{" BASE ", \"wd\": \"lots\"}",
         ": hyperparameter wd = \"lots\" is not allowed (expected auto or a number from 0 to 1e+06)", STEN_E_RANGE},
        {"{" BASE ", \"normalize_label\": \"maybe\"}",
         ": hyperparameter normalize_label = \"maybe\" is not allowed (expected auto, true or false)", STEN_E_RANGE},
        {"{" BASE ", \"num_models\": \"65\"}",
         ": hyperparameter num_models = \"65\" is out of range (expected auto or an integer from 1 to 64)",
         STEN_E_RANGE},
        {"{" BASE ", \"optimizer\": \"rmsprop\"}",
         ": hyperparameter optimizer = \"rmsprop\" is not allowed (expected auto, sgd or adam)", STEN_E_RANGE},
        {"{" BASE ", \"binary_classifier_model_selection_criteria\": \"auc\"}",
         ": hyperparameter binary_classifier_model_selection_criteria = \"auc\" is not allowed (expected accuracy, "
         "f_beta, precision_at_target_recall, recall_at_target_precision or loss_function)", STEN_E_RANGE},
        {"{" BASE ", \"_tuning_objective_metric\": \"test:mse\"}",
         ": hyperparameter _tuning_objective_metric = \"test:mse\" is not what a binary_classifier prints",
         STEN_E_RANGE},
        {"{" BASE ", \"_tuning_objective_metric\": \"test:auc\"}",
         ": hyperparameter _tuning_objective_metric = \"test:auc\" names no metric linear-learner prints (expected "
         "validation:objective_loss, test:objective_loss, validation:binary_classification_accuracy, "
         "test:binary_classification_accuracy, validation:binary_f_beta, test:binary_f_beta, validation:precision, "
         "test:precision, validation:recall, test:recall, validation:mse, test:mse, validation:absolute_loss, "
         "test:absolute_loss, validation:multiclass_accuracy or test:multiclass_accuracy)", STEN_E_RANGE},
    };
#undef BASE
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *path = write_file("bad.json", bad[i].json);
        check_error(sten_linear_opts_from_hyperparameters(ctx, path, &o), bad[i].st, path, bad[i].tail);
    }
}

/* ----------------------------------------------------------- model files */

/* ---------------------------------------------------------- sparse rows */

/* x's rows as a CSR of their non-zero values (a dense matrix with zeros in
 * it, as a libsvm file would give it). */
static void to_csr(const float *X, int n, int d, sten_csr *S)
{
    uint64_t nnz = 0;
    for (int i = 0; i < n * d; i++)
        nnz += X[i] != 0;
    CHECK_EQ(sten_csr_init(ctx, S, (uint32_t)n, (uint32_t)d, nnz ? nnz : 1, true), STEN_OK);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            if (X[i * d + j] != 0)
                S->col[S->nnz] = (uint32_t)j, S->val[S->nnz++] = X[i * d + j];
        S->row_ptr[++S->rows] = S->nnz;
    }
}

/* Rows where each feature is present with probability p (else 0), so that
 * batches miss some features; labels from a plane over them. */
static void sparse_binary(float *X, float *y, int n, int d, double p, uint64_t seed)
{
    sten_rng r;
    sten_rng_init(&r, seed, 3);
    for (int i = 0; i < n; i++) {
        double s = -0.3;
        for (int j = 0; j < d; j++) {
            X[i * d + j] = sten_rng_uniform(&r) < p ? 1.0f + (float)(j % 3) : 0.0f;
            s += (j % 2 ? 0.8 : -0.6) * X[i * d + j];
        }
        y[i] = (float)(s + 0.5 * sten_rng_normal(&r) > 0);
    }
}

/* The sparse trainer equals the dense one where every step touches every
 * feature (no entry is 0) and normalisation is off: the same batches, the
 * same updates (Adam and SGD, wd and l1), up to summation order; then on
 * rows with zeros, predict_csr and evaluate_csr equal their dense twins. */
static void test_sparse_equals_dense(void)
{
    enum { N = 600, D = 7 };
    static float X[N * D], y[N];
    binary_data(X, y, N, D, 41);
    for (int i = 0; i < N * D; i++)
        X[i] = X[i] == 0 ? 1e-3f : X[i];
    sten_csr S = {0};
    to_csr(X, N, D, &S);
    for (int opt = 0; opt < 2; opt++) {
        sten_linear_opts o = base_opts(STEN_LINEAR_BINARY, D);
        o.normalize_data = false, o.num_models = 4, o.mini_batch_size = 50, o.epochs = 4;
        o.optimizer = opt ? STEN_LINEAR_SGD : STEN_LINEAR_ADAM;
        o.wd = 0.01f, o.l1 = 0.002f;
        sten_linear a, b;
        sten_linear_report ra, rb;
        CHECK_EQ(sten_linear_fit(ctx, X, y, N, X, y, N, &o, &a, &ra), STEN_OK);
        CHECK_EQ(sten_linear_fit_csr(ctx, &S, y, &S, y, &o, &b, &rb), STEN_OK);
        if (!a.weights || !b.weights)
            return;
        CHECK_EQ(ra.chosen, rb.chosen);
        for (uint32_t m = 0; m < ra.num_models; m++) {
            CHECK_NEAR(ra.loss[m], rb.loss[m], 1e-5, 1e-4);
            CHECK_EQ(ra.epochs[m], rb.epochs[m]);
        }
        for (int j = 0; j < D; j++)
            CHECK_NEAR(a.weights[j], b.weights[j], 1e-4, 1e-3);
        CHECK_NEAR(a.bias[0], b.bias[0], 1e-4, 1e-3);
        CHECK_NEAR(a.threshold, b.threshold, 1e-4, 1e-3);
        sten_linear_free(ctx, &a), sten_linear_free(ctx, &b);
    }
    sten_csr_free(ctx, &S);
    /* rows with zeros: the sparse and the dense scorer agree on any model */
    sparse_binary(X, y, N, D, 0.3, 42);
    to_csr(X, N, D, &S);
    sten_linear_opts o = base_opts(STEN_LINEAR_BINARY, D);
    sten_linear m;
    CHECK_EQ(sten_linear_fit(ctx, X, y, N, NULL, NULL, 0, &o, &m, NULL), STEN_OK);
    static float s1[N], s2[N], l1[N], l2[N];
    CHECK_EQ(sten_linear_predict(ctx, &m, X, N, s1, l1), STEN_OK);
    CHECK_EQ(sten_linear_predict_csr(ctx, &m, &S, s2, l2), STEN_OK);
    for (int i = 0; i < N; i++)
        CHECK_NEAR(s1[i], s2[i], 1e-6, 1e-5);
    sten_linear_metrics ma, mb;
    CHECK_EQ(sten_linear_evaluate(ctx, &m, X, y, N, &ma), STEN_OK);
    CHECK_EQ(sten_linear_evaluate_csr(ctx, &m, &S, y, &mb), STEN_OK);
    CHECK_NEAR(ma.objective_loss, mb.objective_loss, 1e-6, 1e-5);
    CHECK_NEAR(ma.accuracy, mb.accuracy, 0.002, 0); /* a score on the threshold may flip */
    sten_linear_free(ctx, &m);
    sten_csr_free(ctx, &S);
}

/* Sparse rows learn (the plane's accuracy), each step moves only the
 * weights of its batch's features (a feature in no row keeps 0 under wd),
 * normalize_data makes the model blind to a column's scale (x 10: the same
 * predictions), and columns past feature_dim are refused by name. */
static void test_sparse(void)
{
    enum { N = 3000, D = 40 };
    static float X[N * D], y[N], X10[N * D];
    sparse_binary(X, y, N, D, 0.15, 43);
    for (int i = 0; i < N; i++)
        X[i * D + D - 1] = 0; /* the last feature never appears */
    sten_csr S = {0}, S10 = {0};
    to_csr(X, N, D, &S);
    memcpy(X10, X, sizeof X);
    for (int i = 0; i < N; i++)
        X10[i * D + 3] *= 10;
    to_csr(X10, N, D, &S10);
    sten_linear_opts o = base_opts(STEN_LINEAR_BINARY, D);
    o.epochs = 8, o.wd = 0.001f, o.mini_batch_size = 64;
    sten_linear m = {0};
    for (int models = 1; models <= 8; models += 7) { /* the scorer's scalar columns, then its 8-wide blocks */
        o.num_models = (uint32_t)models;
        sten_linear_free(ctx, &m);
        CHECK_EQ(sten_linear_fit_csr(ctx, &S, y, NULL, NULL, &o, &m, NULL), STEN_OK);
        if (!m.weights)
            return;
        sten_linear_metrics mt;
        CHECK_EQ(sten_linear_evaluate_csr(ctx, &m, &S, y, &mt), STEN_OK);
        CHECK(mt.accuracy > 0.8); /* chance is about 0.5 */
        CHECK(m.weights[D - 1] == 0.0f);
        CHECK(m.weights[1] > 0 && m.weights[0] < 0); /* the plane's signs */
        sten_linear m10;
        CHECK_EQ(sten_linear_fit_csr(ctx, &S10, y, NULL, NULL, &o, &m10, NULL), STEN_OK);
        static float s1[N], s2[N];
        CHECK_EQ(sten_linear_predict_csr(ctx, &m, &S, s1, NULL), STEN_OK);
        CHECK_EQ(sten_linear_predict_csr(ctx, &m10, &S10, s2, NULL), STEN_OK);
        for (int i = 0; i < N; i++)
            CHECK_NEAR(s1[i], s2[i], 1e-4, 1e-3);
        CHECK_NEAR(m10.weights[3] * 10, m.weights[3], 1e-4, 1e-3);
        sten_linear_free(ctx, &m10);
    }
    o.feature_dim = D - 1;
    sten_linear bad;
    check_error(sten_linear_fit_csr(ctx, &S, y, NULL, NULL, &o, &bad, NULL), STEN_E_RANGE, "",
                "linear-learner: the training rows have 40 columns, more than feature_dim = 39");
    static float out[N];
    m.dim = D - 1;
    check_error(sten_linear_predict_csr(ctx, &m, &S, out, NULL), STEN_E_RANGE, "",
                "linear-learner: the input rows have 40 columns, more than feature_dim = 39");
    m.dim = D;
    sten_linear_free(ctx, &m);
    sten_csr_free(ctx, &S), sten_csr_free(ctx, &S10);
}

/* Rows X (n x d, zeros left out) as a libsvm file (0-based, exact floats). */
static const char *write_libsvm(const char *name, const float *X, const float *y, int n, int d)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%g", (double)y[i]);
        for (int j = 0; j < d; j++)
            if (X[i * d + j] != 0)
                fprintf(f, " %d:%.9g", j, (double)X[i * d + j]);
        fputc('\n', f);
    }
    fclose(f);
    const char *path = write_file(name, text);
    free(text);
    return path;
}

static bool same_model(const sten_linear *a, const sten_linear *b)
{
    return a->weights && b->weights && a->dim == b->dim && a->outputs == b->outputs &&
           !memcmp(a->weights, b->weights, sizeof(float) * a->dim * a->outputs) &&
           !memcmp(a->bias, b->bias, sizeof(float) * a->outputs) && a->threshold == b->threshold;
}

/* A stream of libsvm rows read in one chunk trains exactly the in-memory
 * sparse model (validation and the threshold on a second stream, the
 * scaler's first rows cut by num_point_for_scaler in both); in chunks of
 * 700 rows it still learns, evaluates as the in-memory scorer, and a bad
 * label in a later chunk names its row in the file. */
static void test_stream(void)
{
    enum { N = 3000, NV = 1000, D = 30 };
    static float X[N * D], y[N], V[NV * D], yv[NV];
    sparse_binary(X, y, N, D, 0.2, 51);
    sparse_binary(V, yv, NV, D, 0.2, 52);
    for (int i = 500; i < N; i++) /* column 5 larger after the scaler's first 500 rows */
        X[i * D + 5] *= 3;
    sten_csr S = {0}, SV = {0};
    to_csr(X, N, D, &S);
    to_csr(V, NV, D, &SV);
    sten_libsvm_stream *ts, *vs;
    CHECK_EQ(sten_libsvm_stream_open(ctx, write_libsvm("tr.svm", X, y, N, D), 0, D, &ts), STEN_OK);
    CHECK_EQ(sten_libsvm_stream_open(ctx, write_libsvm("va.svm", V, yv, NV, D), 0, D, &vs), STEN_OK);
    const sten_row_source tsrc = sten_libsvm_stream_source(ts), vsrc = sten_libsvm_stream_source(vs);
    sten_linear_opts o = base_opts(STEN_LINEAR_BINARY, D);
    o.num_models = 4, o.epochs = 4, o.mini_batch_size = 100, o.selection = STEN_LINEAR_SEL_ACCURACY;
    o.num_point_for_scaler = 500;
    sten_linear a, b, c;
    CHECK_EQ(sten_linear_fit_csr(ctx, &S, y, &SV, yv, &o, &a, NULL), STEN_OK);
    CHECK_EQ(sten_linear_fit_stream(ctx, &tsrc, &vsrc, N, &o, &b, NULL), STEN_OK);
    CHECK(same_model(&a, &b));
    o.num_point_for_scaler = 10000; /* another scaler: another model, so the cut above mattered */
    CHECK_EQ(sten_linear_fit_csr(ctx, &S, y, &SV, yv, &o, &c, NULL), STEN_OK);
    CHECK(!same_model(&a, &c));
    sten_linear_free(ctx, &b), sten_linear_free(ctx, &c);
    CHECK_EQ(sten_linear_fit_stream(ctx, &tsrc, &vsrc, 700, &o, &b, NULL), STEN_OK);
    sten_linear_metrics ma, mb;
    CHECK_EQ(sten_linear_evaluate_csr(ctx, &b, &SV, yv, &ma), STEN_OK);
    CHECK_EQ(sten_linear_evaluate_stream(ctx, &b, &vsrc, 300, &mb), STEN_OK);
    CHECK(ma.accuracy > 0.8);
    CHECK_NEAR(ma.objective_loss, mb.objective_loss, 1e-9, 1e-9);
    CHECK_NEAR(ma.accuracy, mb.accuracy, 1e-12, 0);
    CHECK_NEAR(ma.f_beta, mb.f_beta, 1e-12, 0);
    sten_linear_free(ctx, &a), sten_linear_free(ctx, &b);
    sten_libsvm_stream_close(ctx, ts), sten_libsvm_stream_close(ctx, vs);
    y[2100] = 3;
    CHECK_EQ(sten_libsvm_stream_open(ctx, write_libsvm("bad.svm", X, y, N, D), 0, D, &ts), STEN_OK);
    const sten_row_source bsrc = sten_libsvm_stream_source(ts);
    check_error(sten_linear_fit_stream(ctx, &bsrc, NULL, 700, &o, &a, NULL), STEN_E_RANGE, "",
                "linear-learner: training row 2101 has label 3 (binary_classifier expects 0 or 1)");
    sten_libsvm_stream_close(ctx, ts);
    sten_csr_free(ctx, &S), sten_csr_free(ctx, &SV);
}

static void test_model_files(void)
{
    enum { N = 500, D = 3, K = 3 };
    static float X[N * D], y[N];
    features(X, N, D, NULL, NULL, 91);
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < N; i++)
            y[i] = t == 0 ? (float)(X[i * D] > 0) : t == 1 ? X[i * D + 1] : (float)(i % K);
        sten_linear_opts o = base_opts(t == 0 ? STEN_LINEAR_BINARY : t == 1 ? STEN_LINEAR_REGRESSOR
                                                                            : STEN_LINEAR_MULTICLASS, D);
        o.num_classes = t == 2 ? K : 0;
        o.loss = t == 0 ? STEN_LINEAR_HINGE : t == 1 ? STEN_LINEAR_ABSOLUTE : STEN_LINEAR_SOFTMAX;
        o.selection = STEN_LINEAR_SEL_ACCURACY;
        o.epochs = 2;
        sten_linear m, back;
        CHECK_EQ(sten_linear_fit(ctx, X, y, N, NULL, NULL, 0, &o, &m, NULL), STEN_OK);
        char path[128];
        snprintf(path, sizeof path, "%s/ll%d.nc", dir, t);
        CHECK_EQ(sten_linear_save(ctx, &m, path), STEN_OK);
        sten_model_kind kind;
        CHECK_EQ(sten_model_kind_of(ctx, path, &kind), STEN_OK);
        CHECK_EQ(kind, STEN_MODEL_LINEAR);
        CHECK_EQ(sten_linear_load(ctx, path, &back), STEN_OK);
        if (!m.weights || !back.weights)
            continue;
        CHECK_EQ(back.dim, D);
        CHECK_EQ(back.outputs, m.outputs);
        CHECK_EQ(back.opts.predictor_type, o.predictor_type);
        CHECK_EQ(back.opts.loss, o.loss);
        CHECK(back.threshold == m.threshold);
        CHECK(!memcmp(back.weights, m.weights, sizeof(float) * D * m.outputs));
        CHECK(!memcmp(back.bias, m.bias, sizeof(float) * m.outputs));
        float a[N * K], b[N * K], la[N], lb[N];
        CHECK_EQ(sten_linear_predict(ctx, &m, X, N, a, la), STEN_OK);
        CHECK_EQ(sten_linear_predict(ctx, &back, X, N, b, lb), STEN_OK);
        CHECK(!memcmp(a, b, sizeof(float) * N * m.outputs) && !memcmp(la, lb, sizeof la));
        sten_linear_free(ctx, &m), sten_linear_free(ctx, &back);
    }
    sten_kmeans_opts ko = sten_kmeans_defaults();
    ko.k = 2, ko.feature_dim = D;
    sten_kmeans km;
    sten_linear none;
    char path[128];
    snprintf(path, sizeof path, "%s/km.nc", dir);
    CHECK_EQ(sten_kmeans_fit(ctx, X, N, &ko, &km, NULL), STEN_OK);
    CHECK_EQ(sten_kmeans_save(ctx, &km, path), STEN_OK);
    check_error(sten_linear_load(ctx, path, &none), STEN_E_FORMAT, path, ": this is a kmeans model, not a linear model");
    sten_kmeans_free(ctx, &km);
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return 1;
    sten_ctx_set_threads(ctx, 2);
    snprintf(dir, sizeof dir, "/tmp/sten-linear-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_regression);
    RUN(test_logistic);
    RUN(test_gradient);
    RUN(test_multiclass);
    RUN(test_l1);
    RUN(test_num_models);
    RUN(test_normalize);
    RUN(test_threshold);
    RUN(test_hyperparameters);
    RUN(test_model_files);
    RUN(test_sparse_equals_dense);
    RUN(test_sparse);
    RUN(test_stream);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
