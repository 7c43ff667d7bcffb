/* fm_hparams.c — SageMaker's Factorization Machines hyperparameters (the
 * names and defaults of its documentation) into a sten network description:
 * one sparse input and one FactorizationMachine output, trained with Adam.
 * Values may be JSON numbers or strings (SageMaker passes strings). */
#include "core/core_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { HP_FEATURE_DIM, HP_FACTORS, HP_PREDICTOR, HP_EPOCHS, HP_BATCH, HP_LR0, HP_LR1, HP_LR2,
       HP_WD0, HP_WD1, HP_WD2, HP_M0, HP_M1, HP_M2, HP_SIG0, HP_SIG1, HP_SIG2, HP_SC0, HP_SC1,
       HP_SC2, HP_VAL0, HP_VAL1, HP_VAL2, HP_CLIP, HP_EPS, HP_RESCALE, HP_COUNT };

typedef struct {
    const char *name;
    double lo, hi, def; /* NaN default = required or "None" */
    bool integer, method, predictor;
} hp;

#define INF HUGE_VAL
static const hp table[HP_COUNT] = {
    [HP_FEATURE_DIM] = {"feature_dim", 1, 4294967294.0, NAN, true, false, false},
    [HP_FACTORS] = {"num_factors", 1, 100000, NAN, true, false, false},
    [HP_PREDICTOR] = {"predictor_type", 0, 1, NAN, false, false, true},
    [HP_EPOCHS] = {"epochs", 1, 1000000, 1, true, false, false},
    [HP_BATCH] = {"mini_batch_size", 1, 16777216, 1000, true, false, false},
    [HP_LR0] = {"bias_lr", 0, INF, 0.1, false, false, false},
    [HP_LR1] = {"linear_lr", 0, INF, 0.001, false, false, false},
    [HP_LR2] = {"factors_lr", 0, INF, 0.0001, false, false, false},
    [HP_WD0] = {"bias_wd", 0, INF, 0.01, false, false, false},
    [HP_WD1] = {"linear_wd", 0, INF, 0.001, false, false, false},
    [HP_WD2] = {"factors_wd", 0, INF, 0.00001, false, false, false},
    [HP_M0] = {"bias_init_method", 0, 2, 0, false, true, false},
    [HP_M1] = {"linear_init_method", 0, 2, 0, false, true, false},
    [HP_M2] = {"factors_init_method", 0, 2, 0, false, true, false},
    [HP_SIG0] = {"bias_init_sigma", 0, INF, 0.01, false, false, false},
    [HP_SIG1] = {"linear_init_sigma", 0, INF, 0.01, false, false, false},
    [HP_SIG2] = {"factors_init_sigma", 0, INF, 0.001, false, false, false},
    [HP_SC0] = {"bias_init_scale", 0, INF, NAN, false, false, false},
    [HP_SC1] = {"linear_init_scale", 0, INF, NAN, false, false, false},
    [HP_SC2] = {"factors_init_scale", 0, INF, NAN, false, false, false},
    [HP_VAL0] = {"bias_init_value", -INF, INF, NAN, false, false, false},
    [HP_VAL1] = {"linear_init_value", -INF, INF, NAN, false, false, false},
    [HP_VAL2] = {"factors_init_value", -INF, INF, NAN, false, false, false},
    [HP_CLIP] = {"clip_gradient", 1e-30, INF, NAN, false, false, false},
    [HP_EPS] = {"eps", 1e-30, 1, 1e-8, false, false, false},
    [HP_RESCALE] = {"rescale_grad", 1e-30, INF, NAN, false, false, false},
};

static const char *const methods[] = {"normal", "uniform", "constant"};
static const char *const predictors[] = {"binary_classifier", "regressor"};

/* One value: a number, or a string holding a number or a name. */
static sten_status value_of(sten_ctx *ctx, const char *src, const hp *h, json_t *v, double *out)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (h->method || h->predictor) {
        const char *const *names = h->method ? methods : predictors;
        const int n = h->method ? 3 : 2;
        for (int k = 0; s && k < n; k++)
            if (!strcasecmp(s, names[k])) {
                *out = k;
                return STEN_OK;
            }
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter %s = %s%s%s is not allowed (expected %s)",
                         src, h->name, s ? "\"" : "", s ? s : json_is_number(v) ? "a number" : "non-text",
                         s ? "\"" : "", h->method ? "normal, uniform or constant" : "binary_classifier or regressor");
    }
    double x;
    if (json_is_number(v))
        x = json_number_value(v);
    else if (!s || sten_parse_double(s, strlen(s), &x) != STEN_OK)
        return sten_fail(ctx, STEN_E_PARSE, "%s: hyperparameter %s must be a number%s%s%s", src, h->name,
                         s ? " (got \"" : "", s ? s : "", s ? "\")" : "");
    if (!(x >= h->lo && x <= h->hi) || (h->integer && x != floor(x))) {
        char range[96];
        if (h->hi == INF && h->lo == -INF)
            snprintf(range, sizeof range, "any number");
        else if (h->hi == INF)
            snprintf(range, sizeof range, "%s%s %g", h->integer ? "an integer " : "",
                     h->lo > 0 && h->lo < 1e-20 ? ">" : ">=", h->lo > 0 && h->lo < 1e-20 ? 0.0 : h->lo);
        else
            snprintf(range, sizeof range, "%s%g to %g", h->integer ? "an integer from " : "", h->lo, h->hi);
        return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter %s = %g is out of range (expected %s)", src,
                         h->name, x, range);
    }
    *out = x;
    return STEN_OK;
}

/* SageMaker adds the reserved key _tuning_objective_metric to the
 * hyperparameters of a tuning job's training jobs; its value names one of
 * the metrics the algorithm prints. */
static sten_status tuning_metric(sten_ctx *ctx, const char *path, json_t *v)
{
    static const char *const metrics[] = {"test:rmse", "test:mae", "test:binary_classification_accuracy",
                                          "test:binary_classification_cross_entropy", "test:binary_f_beta",
                                          "test:auc"};
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    for (size_t k = 0; s && k < sizeof metrics / sizeof *metrics; k++)
        if (!strcmp(s, metrics[k]))
            return STEN_OK;
    return sten_fail(ctx, STEN_E_RANGE, "%s: hyperparameter _tuning_objective_metric = %s%s%s names no metric "
                     "sten prints (expected test:rmse, test:mae, test:binary_classification_accuracy, "
                     "test:binary_classification_cross_entropy, test:binary_f_beta or test:auc)", path,
                     s ? "\"" : "", s ? s : "a non-string", s ? "\"" : "");
}

static sten_status read_values(sten_ctx *ctx, const char *path, json_t *root, double *val)
{
    for (int k = 0; k < HP_COUNT; k++)
        val[k] = table[k].def;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "_tuning_objective_metric")) { /* SageMaker's, set by tuning jobs */
            sten_status st = tuning_metric(ctx, path, v);
            if (st)
                return st;
            continue;
        }
        int k = 0;
        while (k < HP_COUNT && strcmp(key, table[k].name))
            k++;
        if (k == HP_COUNT) {
            char list[900] = "";
            for (int j = 0; j < HP_COUNT; j++) {
                const size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", j ? ", " : "", table[j].name);
            }
            return sten_fail(ctx, STEN_E_PARSE, "%s: unknown hyperparameter \"%s\" (known: %s)", path, key,
                             list);
        }
        sten_status st = value_of(ctx, path, &table[k], v, &val[k]);
        if (st)
            return st;
    }
    for (int k = 0; k < HP_COUNT; k++)
        if (isnan(val[k]) && (k == HP_FEATURE_DIM || k == HP_FACTORS || k == HP_PREDICTOR))
            return sten_fail(ctx, STEN_E_PARSE, "%s: hyperparameter %s is required", path, table[k].name);
    return STEN_OK;
}

static void build(const double *v, sten_net_desc *d, sten_layer_desc *L)
{
    sten_layer_desc_defaults(&L[0]);
    sten_layer_desc_defaults(&L[1]);
    snprintf(L[0].name, sizeof L[0].name, "Input");
    L[0].kind = STEN_LAYER_INPUT;
    L[0].N = (uint32_t)v[HP_FEATURE_DIM];
    L[0].sparse = true;
    snprintf(L[0].dataset, sizeof L[0].dataset, "fm_input");
    snprintf(L[1].name, sizeof L[1].name, "FM");
    L[1].kind = STEN_LAYER_OUTPUT;
    L[1].type = STEN_LAYER_FACTORIZATION_MACHINE;
    L[1].N = 1;
    snprintf(L[1].dataset, sizeof L[1].dataset, "fm_label");
    const bool cls = v[HP_PREDICTOR] == 0;
    L[1].activation = cls ? STEN_ACT_SIGMOID : STEN_ACT_LINEAR;
    /* the layer's settings by name; the hyperparameters' ranges are within theirs */
    static const char *const group[3] = {"Bias", "Linear", "Factors"};
    char key[32];
    sten_layer_desc_set(&L[1], "Factors", v[HP_FACTORS]);
    for (int g = 0; g < 3; g++) {
        snprintf(key, sizeof key, "%sLR", group[g]);
        sten_layer_desc_set(&L[1], key, v[HP_LR0 + g]);
        snprintf(key, sizeof key, "%sWD", group[g]);
        sten_layer_desc_set(&L[1], key, v[HP_WD0 + g]);
        const int m = (int)v[HP_M0 + g];
        snprintf(key, sizeof key, "%sInitMethod", group[g]);
        sten_layer_desc_set(&L[1], key, m);
        /* the parameter of the chosen method; SageMaker's defaults otherwise */
        const double p = m == 0 ? v[HP_SIG0 + g] : m == 1 ? v[HP_SC0 + g] : v[HP_VAL0 + g];
        snprintf(key, sizeof key, "%sInitParameter", group[g]);
        sten_layer_desc_set(&L[1], key, (float)(isnan(p) ? (m == 2 ? 0.0 : table[HP_SIG0 + g].def) : p));
    }
    if (!isnan(v[HP_CLIP]))
        sten_layer_desc_set(&L[1], "ClipGradient", v[HP_CLIP]);
    L[0].line = L[0].column = L[1].line = L[1].column = 0;
    d->loss = cls ? STEN_LOSS_CROSS_ENTROPY : STEN_LOSS_L2;
    d->layers = L;
    d->n_layers = 2;
    sten_train_desc *t = &d->training;
    t->optimizer = STEN_OPT_ADAM;
    t->alpha = 1.0f; /* the group rates are the learning rates */
    t->lambda = t->lambda1 = 0.0f;
    t->mu = 0.9f;
    t->mu1 = 0.999f;
    t->epochs = (uint32_t)v[HP_EPOCHS];
    t->batch_size = (uint32_t)v[HP_BATCH];
    t->eps = (float)v[HP_EPS];
    t->rescale_grad = isnan(v[HP_RESCALE]) ? 0.0f : (float)v[HP_RESCALE];
    t->set = (1u << STEN_TRAIN_OPTIMIZER) | (1u << STEN_TRAIN_MU) | (1u << STEN_TRAIN_MU1) |
             (1u << STEN_TRAIN_EPOCHS) | (1u << STEN_TRAIN_BATCH_SIZE);
}

sten_status sten_fm_desc_from_hyperparameters(sten_ctx *ctx, const char *path, sten_net_desc **out)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open the hyperparameters file: %s", path,
                         strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: is a directory, not a hyperparameters file (JSON)", path);
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root && json_error_code(&err) == json_error_cannot_open_file)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: %s", path, err.text);
    if (!root)
        return sten_fail(ctx, STEN_E_PARSE, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    double v[HP_COUNT];
    sten_status st = json_is_object(root) ? read_values(ctx, path, root, v)
                                          : sten_fail(ctx, STEN_E_PARSE, "%s: expected a JSON object", path);
    json_decref(root);
    if (st)
        return st;
    /* a description shaped like a parsed config: defaults, then the FM */
    sten_net_desc *d = NULL;
    static const char minimal[] = "{\"Layers\": [{\"N\": 1}, {\"N\": 1}]}";
    if ((st = sten_net_desc_parse(ctx, minimal, sizeof minimal - 1, path, &d)))
        return st;
    build(v, d, d->layers);
    snprintf(d->name, sizeof d->name, "factorization-machines");
    *out = d;
    return STEN_OK;
}
