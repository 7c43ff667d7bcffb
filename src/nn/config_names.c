/* config_names.c — the names the network config language gives to layer
 * kinds and types, losses, initialisers, optimizers, schedules and
 * activations, with DSSTNE's alternative spellings; lookups, listings and
 * did-you-mean suggestions. No parsing of JSON here (config.c). */
#include "config_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ENUM(tab, what) {what, tab, sizeof tab / sizeof tab[0]}

static const sten__enum_name kinds[] = {{"Input", STEN_LAYER_INPUT}, {"Hidden", STEN_LAYER_HIDDEN},
                                        {"Output", STEN_LAYER_OUTPUT}, {"Target", STEN_LAYER_TARGET}};
/* DSSTNE's layer types that sten parses and refuses; the ones it runs are
 * the registry's (layers.c). */
static const sten__enum_name types[] = {{"Convolutional", STEN_LAYER_CONVOLUTIONAL},
                                        {"Pooling", STEN_LAYER_POOLING}};
static const sten__enum_name losses[] = {
    {"L1", STEN_LOSS_L1}, {"L2", STEN_LOSS_L2}, {"CrossEntropy", STEN_LOSS_CROSS_ENTROPY},
    {"Cross Entropy", STEN_LOSS_CROSS_ENTROPY},
    {"ScaledMarginalCrossEntropy", STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY},
    {"DataScaledMarginalCrossEntropy", STEN_LOSS_DATA_SCALED_MARGINAL_CROSS_ENTROPY},
    {"Hinge", STEN_LOSS_HINGE}, {"L2Hinge", STEN_LOSS_L2_HINGE}, {"Multinomial", STEN_LOSS_MULTINOMIAL}};
static const sten__enum_name inits[] = {
    {"Xavier", STEN_INIT_XAVIER}, {"CaffeXavier", STEN_INIT_CAFFE_XAVIER},
    {"Gaussian", STEN_INIT_GAUSSIAN}, {"Uniform", STEN_INIT_UNIFORM},
    {"UnitBall", STEN_INIT_UNIT_BALL}, {"Constant", STEN_INIT_CONSTANT}, {"SELU", STEN_INIT_SELU}};
static const sten__enum_name optimizers[] = {
    {"SGD", STEN_OPT_SGD}, {"Momentum", STEN_OPT_MOMENTUM}, {"AdaGrad", STEN_OPT_ADAGRAD},
    {"Nesterov", STEN_OPT_NESTEROV}, {"RMSProp", STEN_OPT_RMSPROP},
    {"AdaDelta", STEN_OPT_ADADELTA}, {"Adam", STEN_OPT_ADAM}};
static const sten__enum_name schedules[] = {{"Constant", STEN_LR_CONSTANT}, {"Step", STEN_LR_STEP},
                                            {"Exponential", STEN_LR_EXPONENTIAL}};
static const sten__enum_name net_kinds[] = {{"FeedForward", 0}, {"AutoEncoder", 1}};
static const sten__enum_name activations[] = {
    {"Sigmoid", STEN_ACT_SIGMOID}, {"Tanh", STEN_ACT_TANH}, {"RELU", STEN_ACT_RELU},
    {"RectifiedLinear", STEN_ACT_RELU}, {"LeakyRELU", STEN_ACT_LEAKYRELU},
    {"LRELU", STEN_ACT_LEAKYRELU}, {"LeakyRectifiedLinear", STEN_ACT_LEAKYRELU},
    {"ELU", STEN_ACT_ELU}, {"ExponentialLinear", STEN_ACT_ELU}, {"SELU", STEN_ACT_SELU},
    {"ScaledExponentialLinear", STEN_ACT_SELU}, {"SoftPlus", STEN_ACT_SOFTPLUS},
    {"SoftSign", STEN_ACT_SOFTSIGN}, {"SoftMax", STEN_ACT_SOFTMAX}, {"RELUMax", STEN_ACT_RELUMAX},
    {"LinearMax", STEN_ACT_LINEARMAX}, {"Linear", STEN_ACT_LINEAR}};
static const sten__enum_name pool_fns[] = {{"None", 0}, {"Max", 1}, {"Average", 2}, {"LRN", 3},
                                           {"LocalResponseNormalization", 3}, {"Maxout", 4},
                                           {"DotProduct", 5}, {"Cosine", 6}};

const sten__enum_table sten__e_kind = ENUM(kinds, "layer Kind"), sten__e_type = ENUM(types, "layer Type"),
                       sten__e_loss = ENUM(losses, "ErrorFunction"),
                       sten__e_init = ENUM(inits, "WeightInit Scheme"),
                       sten__e_opt = ENUM(optimizers, "Optimizer"),
                       sten__e_sched = ENUM(schedules, "schedule Type"),
                       sten__e_netkind = ENUM(net_kinds, "network Kind"),
                       sten__e_act = ENUM(activations, "activation"),
                       sten__e_pool = ENUM(pool_fns, "pooling Function");

const char *sten__enum_canon(const sten__enum_table *t, int v)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->names[i].value == v)
            return t->names[i].name;
    return NULL;
}

bool sten__enum_find(const sten__enum_table *t, const char *s, int *out)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcasecmp(s, t->names[i].name) == 0) {
            *out = t->names[i].value;
            return true;
        }
    return false;
}

void sten__enum_list(const sten__enum_table *t, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->n && len < cap; i++) {
        if (sten__enum_canon(t, t->names[i].value) != t->names[i].name)
            continue; /* an alias */
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", t->names[i].name);
    }
}

static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            const size_t up = row[j];
            const int same = (a[i - 1] | 32) == (b[j - 1] | 32);
            size_t best = diag + !same;
            best = STEN__MIN(best, up + 1);
            best = STEN__MIN(best, row[j - 1] + 1);
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* " (did you mean "X"?)" when a candidate is close, else "". */
void sten__suggest(const char *word, const char *const *cands, size_t n, char *out, size_t cap)
{
    size_t best = 99;
    const char *pick = NULL;
    for (size_t i = 0; i < n; i++) {
        const size_t d = levenshtein(word, cands[i]);
        if (d < best) {
            best = d;
            pick = cands[i];
        }
    }
    const size_t limit = STEN__MAX((size_t)2, strlen(word) / 3);
    if (pick && best <= limit)
        snprintf(out, cap, " (did you mean \"%s\"?)", pick);
    else
        out[0] = '\0';
}

const char *sten_loss_name(sten_loss l)
{
    return sten__enum_canon(&sten__e_loss, (int)l);
}

const char *sten_init_name(sten_init i)
{
    return sten__enum_canon(&sten__e_init, (int)i);
}

const char *sten_optimizer_name(sten_optimizer o)
{
    return sten__enum_canon(&sten__e_opt, (int)o);
}

sten_status sten_loss_parse(const char *name, sten_loss *out)
{
    int v;
    if (!name || !sten__enum_find(&sten__e_loss, name, &v))
        return STEN_E_NOTFOUND;
    *out = (sten_loss)v;
    return STEN_OK;
}

sten_status sten_init_parse(const char *name, sten_init *out)
{
    int v;
    if (!name || !sten__enum_find(&sten__e_init, name, &v))
        return STEN_E_NOTFOUND;
    *out = (sten_init)v;
    return STEN_OK;
}

sten_status sten_optimizer_parse(const char *name, sten_optimizer *out)
{
    int v;
    if (!name || !sten__enum_find(&sten__e_opt, name, &v))
        return STEN_E_NOTFOUND;
    *out = (sten_optimizer)v;
    return STEN_OK;
}
