/* hparams.c — SageMaker's hyperparameter files for the built-in algorithms
 * (k-means, PCA, k-NN, Linear Learner): one table per algorithm (name, type,
 * range, default) and one strict reader. Values are JSON numbers or strings, as SageMaker passes
 * them; unknown names and bad values are errors naming the key and what is
 * allowed. The FM reader is src/nn/fm_hparams.c (it builds a network). */
#include "algo_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* T_AUTOF: auto (-1) or a number; T_AUTOBOOL: auto (-1), true or false. */
typedef enum { T_INT, T_AUTO, T_FLOAT, T_ENUM, T_BOOL, T_METRICS, T_AUTOF, T_AUTOBOOL } hp_type;

typedef struct {
    const char *name;
    hp_type type;
    double lo, hi, def; /* def NaN: required; T_AUTO: 0 is "auto" */
    const char *const *names; /* T_ENUM: its values, NULL-terminated */
} hp_def;

static const char *const init_names[] = {"random", "kmeans++", NULL};
static const char *const mode_names[] = {"regular", "randomized", NULL};
static const char *const predictor_names[] = {"classifier", "regressor", NULL};
static const char *const reduction_names[] = {"none", "sign", "fjlt", NULL};
static const char *const index_names[] = {"faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ", NULL};
static const char *const metric_names[] = {"L2", "INNER_PRODUCT", "COSINE", NULL};

enum { KM_K, KM_DIM, KM_INIT, KM_MAXIT, KM_TOL, KM_BATCH, KM_EPOCHS, KM_EXTRA, KM_HALF, KM_LL_ITER, KM_LL_INIT,
       KM_LL_TRIALS, KM_LL_TOL, KM_METRICS, KM_COUNT };
static const hp_def kmeans_table[KM_COUNT] = {
    [KM_K] = {"k", T_INT, 1, 1000000, NAN, NULL},
    [KM_DIM] = {"feature_dim", T_INT, 1, STEN_CSV_MAX_DIM, NAN, NULL},
    [KM_INIT] = {"init_method", T_ENUM, 0, 1, 0, init_names},
    [KM_MAXIT] = {"max_iterations", T_INT, 1, 1000000, 100, NULL},
    [KM_TOL] = {"tol", T_FLOAT, 0, 1, 1e-4, NULL},
    [KM_BATCH] = {"mini_batch_size", T_INT, 1, 16777216, 5000, NULL},
    [KM_EPOCHS] = {"epochs", T_INT, 1, 1000000, 1, NULL},
    [KM_EXTRA] = {"extra_center_factor", T_AUTO, 1, 1000, 0, NULL},
    [KM_HALF] = {"half_life_time_size", T_INT, 0, 4294967295.0, 0, NULL},
    [KM_LL_ITER] = {"local_lloyd_max_iter", T_INT, 1, 1000000, 300, NULL},
    [KM_LL_INIT] = {"local_lloyd_init_method", T_ENUM, 0, 1, 1, init_names},
    [KM_LL_TRIALS] = {"local_lloyd_num_trials", T_AUTO, 1, 1000, 0, NULL},
    [KM_LL_TOL] = {"local_lloyd_tol", T_FLOAT, 0, 1, 1e-4, NULL},
    [KM_METRICS] = {"eval_metrics", T_METRICS, 1, 3, STEN_KMEANS_METRIC_MSD, NULL},
};

enum { PCA_COMP, PCA_DIM, PCA_BATCH, PCA_MODE, PCA_SUB, PCA_EXTRA, PCA_COUNT };
static const hp_def pca_table[PCA_COUNT] = {
    [PCA_COMP] = {"num_components", T_INT, 1, 1000000, NAN, NULL},
    [PCA_DIM] = {"feature_dim", T_INT, 1, STEN_CSV_MAX_DIM, NAN, NULL},
    [PCA_BATCH] = {"mini_batch_size", T_INT, 1, 16777216, NAN, NULL},
    [PCA_MODE] = {"algorithm_mode", T_ENUM, 0, 1, 0, mode_names},
    [PCA_SUB] = {"subtract_mean", T_BOOL, 0, 1, 1, NULL},
    [PCA_EXTRA] = {"extra_components", T_INT, -1, 1000000, -1, NULL},
};

enum { KN_DIM, KN_K, KN_PRED, KN_SAMPLE, KN_RTYPE, KN_RTARGET, KN_INDEX, KN_METRIC, KN_NLISTS, KN_PQM, KN_BATCH,
       KN_COUNT };
static const hp_def knn_table[KN_COUNT] = {
    [KN_DIM] = {"feature_dim", T_INT, 1, STEN_CSV_MAX_DIM, NAN, NULL},
    [KN_K] = {"k", T_INT, 1, 10000, NAN, NULL},
    [KN_PRED] = {"predictor_type", T_ENUM, 0, 1, NAN, predictor_names},
    [KN_SAMPLE] = {"sample_size", T_INT, 1, 4294967295.0, NAN, NULL},
    [KN_RTYPE] = {"dimension_reduction_type", T_ENUM, 0, 2, 0, reduction_names},
    [KN_RTARGET] = {"dimension_reduction_target", T_INT, 1, STEN_CSV_MAX_DIM, 0, NULL},
    [KN_INDEX] = {"index_type", T_ENUM, 0, 2, 0, index_names},
    [KN_METRIC] = {"index_metric", T_ENUM, 0, 2, 0, metric_names},
    [KN_NLISTS] = {"faiss_index_ivf_nlists", T_AUTO, 1, 1000000, 0, NULL},
    [KN_PQM] = {"faiss_index_pq_m", T_INT, 1, 96, 0, NULL},
    [KN_BATCH] = {"mini_batch_size", T_INT, 1, 16777216, 5000, NULL},
};

static const char *const ll_pred_names[] = {"binary_classifier", "regressor", "multiclass_classifier", NULL};
static const char *const ll_loss_names[] = {"auto", "logistic", "squared_loss", "absolute_loss", "hinge_loss",
                                            "eps_insensitive_squared_loss", "eps_insensitive_absolute_loss",
                                            "quantile_loss", "huber_loss", "softmax_loss", NULL};
static const char *const ll_opt_names[] = {"auto", "sgd", "adam", NULL};
static const char *const ll_sel_names[] = {"accuracy", "f_beta", "precision_at_target_recall",
                                           "recall_at_target_precision", "loss_function", NULL};

enum { LL_DIM, LL_PRED, LL_CLASSES, LL_LOSS, LL_L1, LL_WD, LL_LR, LL_OPT, LL_BATCH, LL_EPOCHS, LL_NDATA, LL_NLABEL,
       LL_MODELS, LL_SEL, LL_BETA, LL_TRECALL, LL_TPREC, LL_PATIENCE, LL_TOL, LL_BIAS, LL_MARGIN, LL_NPS, LL_COUNT };
static const hp_def linear_table[LL_COUNT] = {
    [LL_DIM] = {"feature_dim", T_INT, 1, 1e8, NAN, NULL}, /* sparse rows: hashed features */
    [LL_PRED] = {"predictor_type", T_ENUM, 0, 2, NAN, ll_pred_names},
    [LL_CLASSES] = {"num_classes", T_INT, 3, 1000000, 0, NULL},
    [LL_LOSS] = {"loss", T_ENUM, 0, 9, 0, ll_loss_names},
    [LL_L1] = {"l1", T_AUTOF, 0, 1e6, -1, NULL},
    [LL_WD] = {"wd", T_AUTOF, 0, 1e6, -1, NULL},
    [LL_LR] = {"learning_rate", T_AUTOF, 1e-8, 100, -1, NULL},
    [LL_OPT] = {"optimizer", T_ENUM, 0, 2, 0, ll_opt_names},
    [LL_BATCH] = {"mini_batch_size", T_INT, 1, 16777216, 1000, NULL},
    [LL_EPOCHS] = {"epochs", T_INT, 1, 1000000, 15, NULL},
    [LL_NDATA] = {"normalize_data", T_BOOL, 0, 1, 1, NULL},
    [LL_NLABEL] = {"normalize_label", T_AUTOBOOL, 0, 1, -1, NULL},
    [LL_MODELS] = {"num_models", T_AUTO, 1, STEN_LINEAR_MAX_MODELS, 0, NULL},
    [LL_SEL] = {"binary_classifier_model_selection_criteria", T_ENUM, 0, 4, 0, ll_sel_names},
    [LL_BETA] = {"f_beta", T_FLOAT, 1e-6, 1e6, 1, NULL},
    [LL_TRECALL] = {"target_recall", T_FLOAT, 0, 1, 0.8, NULL},
    [LL_TPREC] = {"target_precision", T_FLOAT, 0, 1, 0.8, NULL},
    [LL_PATIENCE] = {"early_stopping_patience", T_INT, 1, 1000000, 3, NULL},
    [LL_TOL] = {"early_stopping_tolerance", T_FLOAT, 0, 1, 0.001, NULL},
    [LL_BIAS] = {"use_bias", T_BOOL, 0, 1, 1, NULL},
    [LL_MARGIN] = {"margin", T_FLOAT, 0, 1e6, 1, NULL},
    [LL_NPS] = {"num_point_for_scaler", T_INT, 1, 1e9, 10000, NULL},
};

/* What a key allows, for messages. */
static void allowed(const hp_def *h, char *buf, size_t n)
{
    switch (h->type) {
    case T_AUTOF: snprintf(buf, n, "auto or a number from %g to %g", h->lo, h->hi); break;
    case T_AUTOBOOL: snprintf(buf, n, "auto, true or false"); break;
    case T_INT: snprintf(buf, n, "an integer from %.0f to %.0f", h->lo, h->hi); break;
    case T_AUTO: snprintf(buf, n, "auto or an integer from %.0f to %.0f", h->lo, h->hi); break;
    case T_FLOAT: snprintf(buf, n, "a number from %g to %g", h->lo, h->hi); break;
    case T_BOOL: snprintf(buf, n, "true or false"); break;
    case T_METRICS: snprintf(buf, n, "[\"msd\"], [\"ssd\"] or [\"msd\", \"ssd\"]"); break;
    case T_ENUM: {
        buf[0] = '\0';
        for (int k = 0; h->names[k]; k++) {
            const size_t l = strlen(buf);
            snprintf(buf + l, n - l, "%s%s", k ? (h->names[k + 1] ? ", " : " or ") : "", h->names[k]);
        }
        break;
    }
    }
}

/* The value as written, for messages: "text", a number, or a JSON kind. */
static void shown(json_t *v, char *buf, size_t n)
{
    if (json_is_string(v))
        snprintf(buf, n, "\"%.60s\"", json_string_value(v));
    else if (json_is_number(v))
        snprintf(buf, n, "%g", json_number_value(v));
    else
        snprintf(buf, n, "%s", json_is_boolean(v) ? (json_is_true(v) ? "true" : "false")
                               : json_is_array(v) ? "a list" : json_is_object(v) ? "an object" : "null");
}

static sten_status refuse(sten_ctx *ctx, const char *src, const hp_def *h, json_t *v)
{
    char a[160], s[80];
    allowed(h, a, sizeof a);
    shown(v, s, sizeof s);
    return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter %s = %s is not allowed (expected %s)", src, h->name, s, a);
}

/* eval_metrics: a JSON list of "msd" / "ssd", or a string holding one. */
static sten_status metrics_of(sten_ctx *ctx, const char *src, const hp_def *h, json_t *v, double *out)
{
    json_t *list = v, *own = NULL;
    if (json_is_string(v))
        list = own = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
    unsigned bits = 0;
    bool ok = json_is_array(list) && json_array_size(list) > 0;
    size_t i;
    json_t *e;
    json_array_foreach(ok ? list : NULL, i, e) {
        const char *s = json_is_string(e) ? json_string_value(e) : "";
        const unsigned b = !strcmp(s, "msd") ? STEN_KMEANS_METRIC_MSD : !strcmp(s, "ssd") ? STEN_KMEANS_METRIC_SSD : 0;
        ok = ok && b;
        bits |= b;
    }
    json_decref(own);
    if (!ok)
        return refuse(ctx, src, h, v);
    *out = bits;
    return STEN_OK;
}

static sten_status value_of(sten_ctx *ctx, const char *src, const hp_def *h, json_t *v, double *out)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    switch (h->type) {
    case T_METRICS:
        return metrics_of(ctx, src, h, v, out);
    case T_ENUM:
        for (int k = 0; s && h->names[k]; k++)
            if (!strcmp(s, h->names[k])) {
                *out = k;
                return STEN_OK;
            }
        return refuse(ctx, src, h, v);
    case T_AUTOBOOL:
        if (s && !strcmp(s, "auto")) {
            *out = -1;
            return STEN_OK;
        }
        /* fall through */
    case T_BOOL:
        if (json_is_boolean(v) || (s && (!strcmp(s, "true") || !strcmp(s, "false")))) {
            *out = json_is_true(v) || (s && !strcmp(s, "true"));
            return STEN_OK;
        }
        return refuse(ctx, src, h, v);
    default:
        break;
    }
    if ((h->type == T_AUTO || h->type == T_AUTOF) && s && !strcmp(s, "auto")) {
        *out = h->type == T_AUTO ? 0 : -1;
        return STEN_OK;
    }
    double x;
    if (json_is_number(v))
        x = json_number_value(v);
    else if (!s || sten_parse_double(s, strlen(s), &x) != STEN_OK)
        return refuse(ctx, src, h, v);
    if (!(x >= h->lo && x <= h->hi) || (h->type != T_FLOAT && h->type != T_AUTOF && x != floor(x))) {
        char a[160];
        allowed(h, a, sizeof a);
        char given[80]; /* as written: %g would print 2599987 as 2.59999e+06 */
        if (s)
            snprintf(given, sizeof given, "\"%.70s\"", s);
        else
            snprintf(given, sizeof given, "%.17g", x);
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter %s = %s is out of range (expected %s)", src, h->name,
                         given, a);
    }
    *out = x;
    return STEN_OK;
}

/* _tuning_objective_metric: SageMaker adds it to a tuning job's training
 * jobs; its value must name a metric the algorithm prints (none: NULL). */
static sten_status tuning_metric(sten_ctx *ctx, const char *src, const char *algo, const char *const *metrics,
                                 json_t *v, int *tuned)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    for (int k = 0; s && metrics && metrics[k]; k++)
        if (!strcmp(s, metrics[k])) {
            *tuned = k;
            return STEN_OK;
        }
    char got[80];
    shown(v, got, sizeof got);
    if (!metrics)
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter _tuning_objective_metric = %s: %s prints no "
                         "metric to tune on (SageMaker's %s cannot be tuned either)", src, got, algo, algo);
    char list[600] = "";
    for (int k = 0; metrics[k]; k++) {
        const size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", k ? (metrics[k + 1] ? ", " : " or ") : "", metrics[k]);
    }
    return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter _tuning_objective_metric = %s names no metric %s "
                     "prints (expected %s)", src, got, algo, list);
}

/* Reads path into val[] by table (defaults first); required keys checked.
 * *tuned: which of metrics _tuning_objective_metric names (-1: none). */
static sten_status read_file(sten_ctx *ctx, const char *path, const char *algo, const hp_def *table, int count,
                             const char *const *metrics, double *val, int *tuned)
{
    *tuned = -1;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open the hyperparameters file: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: is a directory, not a hyperparameters file (JSON)", path);
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root && json_error_code(&err) == json_error_cannot_open_file)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: %s", path, err.text);
    if (!root)
        return sten_fail(ctx, STEN_E_PARSE, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    sten_status st = json_is_object(root) ? STEN_OK : sten_fail(ctx, STEN_E_PARSE, "%s: expected a JSON object", path);
    for (int k = 0; k < count; k++)
        val[k] = table[k].def;
    const char *key;
    json_t *v;
    json_object_foreach(st ? NULL : root, key, v) {
        if (!strcmp(key, "_tuning_objective_metric")) {
            if ((st = tuning_metric(ctx, path, algo, metrics, v, tuned)))
                break;
            continue;
        }
        int k = 0;
        while (k < count && strcmp(key, table[k].name))
            k++;
        if (k == count) {
            char list[600] = "";
            for (int j = 0; j < count; j++) {
                const size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", j ? ", " : "", table[j].name);
            }
            st = sten_fail(ctx, STEN_E_PARSE, "%s: unknown %s hyperparameter \"%s\" (known: %s)", path, algo, key,
                           list);
            break;
        }
        if ((st = value_of(ctx, path, &table[k], v, &val[k])))
            break;
    }
    json_decref(root);
    for (int k = 0; !st && k < count; k++)
        if (isnan(val[k]))
            st = sten_fail(ctx, STEN_E_PARSE, "%s: hyperparameter %s is required (%s)", path, table[k].name, algo);
    return st;
}

sten_status sten_kmeans_opts_from_hyperparameters(sten_ctx *ctx, const char *path, sten_kmeans_opts *o,
                                                  unsigned *metrics)
{
    static const char *const names[] = {"test:msd", "test:ssd", NULL};
    double v[KM_COUNT];
    int tuned;
    *o = sten_kmeans_defaults();
    sten_status st = read_file(ctx, path, "k-means", kmeans_table, KM_COUNT, names, v, &tuned);
    if (st)
        return st;
    o->k = (uint32_t)v[KM_K];
    o->feature_dim = (uint32_t)v[KM_DIM];
    o->init = (sten_kmeans_init)v[KM_INIT];
    o->max_iterations = (uint32_t)v[KM_MAXIT];
    o->tol = (float)v[KM_TOL];
    o->mini_batch_size = (uint32_t)v[KM_BATCH];
    o->epochs = (uint32_t)v[KM_EPOCHS];
    o->extra_center_factor = (uint32_t)v[KM_EXTRA];
    o->half_life_time_size = (uint32_t)v[KM_HALF];
    o->local_lloyd_max_iter = (uint32_t)v[KM_LL_ITER];
    o->local_lloyd_init = (sten_kmeans_init)v[KM_LL_INIT];
    o->local_lloyd_num_trials = (uint32_t)v[KM_LL_TRIALS];
    o->local_lloyd_tol = (float)v[KM_LL_TOL];
    if (metrics)
        *metrics = (unsigned)v[KM_METRICS];
    return STEN_OK;
}

sten_status sten_pca_opts_from_hyperparameters(sten_ctx *ctx, const char *path, sten_pca_opts *o)
{
    double v[PCA_COUNT];
    int tuned;
    *o = sten_pca_defaults();
    sten_status st = read_file(ctx, path, "PCA", pca_table, PCA_COUNT, NULL, v, &tuned);
    if (st)
        return st;
    if (v[PCA_COMP] > v[PCA_DIM])
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter num_components = %.0f is more than feature_dim = "
                         "%.0f (expected 1 to feature_dim)", path, v[PCA_COMP], v[PCA_DIM]);
    o->num_components = (uint32_t)v[PCA_COMP];
    o->feature_dim = (uint32_t)v[PCA_DIM];
    o->mini_batch_size = (uint32_t)v[PCA_BATCH];
    o->mode = (sten_pca_mode)v[PCA_MODE];
    o->subtract_mean = v[PCA_SUB] != 0;
    o->extra_components = (int32_t)v[PCA_EXTRA];
    return STEN_OK;
}

/* The k-NN keys that depend on each other, checked once all are read. */
static sten_status knn_cross_checks(sten_ctx *ctx, const char *path, const double *v, int tuned)
{
    const int rtype = (int)v[KN_RTYPE], index = (int)v[KN_INDEX];
    if (rtype != STEN_KNN_REDUCE_NONE && v[KN_RTARGET] == 0)
        return sten_fail(ctx, STEN_E_PARSE, "%s: hyperparameter dimension_reduction_target is required with "
                         "dimension_reduction_type %s (k-NN)", path, reduction_names[rtype]);
    if (rtype == STEN_KNN_REDUCE_NONE && v[KN_RTARGET] != 0)
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter dimension_reduction_target = %.0f needs "
                         "dimension_reduction_type sign or fjlt (it is none)", path, v[KN_RTARGET]);
    if (v[KN_RTARGET] >= v[KN_DIM])
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter dimension_reduction_target = %.0f is not less than "
                         "feature_dim = %.0f (expected 1 to feature_dim - 1)", path, v[KN_RTARGET], v[KN_DIM]);
    if (v[KN_PQM] != 0 && index != STEN_KNN_IVFPQ)
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter faiss_index_pq_m applies only to index_type "
                         "faiss.IVFPQ (it is %s)", path, index_names[index]);
    const double width = rtype != STEN_KNN_REDUCE_NONE ? v[KN_RTARGET] : v[KN_DIM];
    if (v[KN_PQM] != 0 && fmod(width, v[KN_PQM]) != 0)
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter faiss_index_pq_m = %.0f does not divide the index "
                         "width %.0f (feature_dim, or dimension_reduction_target when reducing)", path, v[KN_PQM],
                         width);
    if (index == STEN_KNN_FLAT && v[KN_NLISTS] != 0)
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter faiss_index_ivf_nlists = %.0f applies only to "
                         "index_type faiss.IVFFlat or faiss.IVFPQ (it is faiss.Flat)", path, v[KN_NLISTS]);
    if (v[KN_K] > v[KN_SAMPLE])
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter k = %.0f is more than sample_size = %.0f (expected "
                         "1 to sample_size)", path, v[KN_K], v[KN_SAMPLE]);
    if (tuned >= 0 && tuned != (int)v[KN_PRED])
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter _tuning_objective_metric = \"%s\" is not what a "
                         "%s prints (expected %s)", path, tuned ? "test:mse" : "test:accuracy",
                         predictor_names[(int)v[KN_PRED]], v[KN_PRED] ? "test:mse" : "test:accuracy");
    return STEN_OK;
}

sten_status sten_knn_opts_from_hyperparameters(sten_ctx *ctx, const char *path, sten_knn_opts *o)
{
    static const char *const names[] = {"test:accuracy", "test:mse", NULL};
    double v[KN_COUNT];
    int tuned;
    *o = sten_knn_defaults();
    sten_status st = read_file(ctx, path, "k-NN", knn_table, KN_COUNT, names, v, &tuned);
    if (!st)
        st = knn_cross_checks(ctx, path, v, tuned);
    if (st)
        return st;
    o->feature_dim = (uint32_t)v[KN_DIM];
    o->k = (uint32_t)v[KN_K];
    o->predictor_type = (sten_knn_predictor)v[KN_PRED];
    o->sample_size = (uint32_t)v[KN_SAMPLE];
    o->dimension_reduction_type = (sten_knn_reduction)v[KN_RTYPE];
    o->dimension_reduction_target = (uint32_t)v[KN_RTARGET];
    o->index_type = (sten_knn_index)v[KN_INDEX];
    o->index_metric = (sten_knn_metric)v[KN_METRIC];
    o->ivf_nlists = (uint32_t)v[KN_NLISTS];
    o->pq_m = (uint32_t)v[KN_PQM];
    o->mini_batch_size = (uint32_t)v[KN_BATCH];
    return STEN_OK;
}

/* Linear Learner's metrics, by what each predictor prints (objective_loss:
 * all); a tuning metric must be one its predictor_type prints. */
static const char *const ll_metrics[] = {
    "validation:objective_loss", "test:objective_loss", "validation:binary_classification_accuracy",
    "test:binary_classification_accuracy", "validation:binary_f_beta", "test:binary_f_beta", "validation:precision",
    "test:precision", "validation:recall", "test:recall", "validation:mse", "test:mse", "validation:absolute_loss",
    "test:absolute_loss", "validation:multiclass_accuracy", "test:multiclass_accuracy", NULL};

static int ll_metric_predictor(int tuned)
{
    return tuned < 2 ? -1 : tuned < 10 ? STEN_LINEAR_BINARY : tuned < 14 ? STEN_LINEAR_REGRESSOR
                                                                        : STEN_LINEAR_MULTICLASS;
}

sten_status sten_linear_opts_from_hyperparameters(sten_ctx *ctx, const char *path, sten_linear_opts *o)
{
    double v[LL_COUNT];
    int tuned;
    *o = sten_linear_defaults();
    sten_status st = read_file(ctx, path, "linear-learner", linear_table, LL_COUNT, ll_metrics, v, &tuned);
    if (st)
        return st;
    const int pred = (int)v[LL_PRED];
    if (pred == STEN_LINEAR_MULTICLASS && v[LL_CLASSES] == 0)
        return sten_fail(ctx, STEN_E_PARSE, "%s: hyperparameter num_classes is required with predictor_type "
                         "multiclass_classifier (linear-learner)", path);
    if (pred != STEN_LINEAR_MULTICLASS && v[LL_CLASSES] != 0)
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter num_classes = %.0f applies only to predictor_type "
                         "multiclass_classifier (it is %s)", path, v[LL_CLASSES], ll_pred_names[pred]);
    if (tuned >= 0 && ll_metric_predictor(tuned) >= 0 && ll_metric_predictor(tuned) != pred)
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter _tuning_objective_metric = \"%s\" is not what a %s "
                         "prints", path, ll_metrics[tuned], ll_pred_names[pred]);
    o->feature_dim = (uint32_t)v[LL_DIM];
    o->predictor_type = (sten_linear_predictor)pred;
    o->num_classes = (uint32_t)v[LL_CLASSES];
    o->loss = (sten_linear_loss)v[LL_LOSS];
    char msg[300];
    sten_status code;
    if (sten__linear_loss_problem(o, &code, msg, sizeof msg))
        return sten_fail(ctx, code, "%s: %s", path, msg);
    o->l1 = (float)v[LL_L1];
    o->wd = (float)v[LL_WD];
    o->learning_rate = v[LL_LR] < 0 ? 0.0f : (float)v[LL_LR];
    o->optimizer = (sten_linear_optimizer)v[LL_OPT];
    o->mini_batch_size = (uint32_t)v[LL_BATCH];
    o->epochs = (uint32_t)v[LL_EPOCHS];
    o->normalize_data = v[LL_NDATA] != 0;
    o->normalize_label = (int)v[LL_NLABEL];
    o->num_models = (uint32_t)v[LL_MODELS];
    o->selection = (sten_linear_selection)v[LL_SEL];
    o->beta = (float)v[LL_BETA];
    o->target_recall = (float)v[LL_TRECALL];
    o->target_precision = (float)v[LL_TPREC];
    o->early_stopping_patience = (uint32_t)v[LL_PATIENCE];
    o->early_stopping_tolerance = (float)v[LL_TOL];
    o->use_bias = v[LL_BIAS] != 0;
    o->margin = (float)v[LL_MARGIN];
    o->num_point_for_scaler = (uint32_t)v[LL_NPS];
    return STEN_OK;
}
