/* cmd_tune.c — `sten tune`: automatic model tuning as SageMaker offers it
 * (docs/tuning.md). A tuning spec in SageMaker's shape names the
 * hyperparameters and their ranges, the objective metric and its direction,
 * the strategy (Random, Bayesian, Hyperband) and the trial budget; every
 * trial is a `sten train` process of its own on a copy of the config (or
 * the built-in algorithm's hyperparameter file) with the trial's values
 * set. Trials run MaxParallelTrainingJobs at a time; with early stopping a
 * network's trial is stopped by SageMaker's median rule, or with Hyperband
 * at the rungs of asynchronous successive halving (stop_now). A trial is
 * proposed from, and judged against, only the trials at least
 * MaxParallelTrainingJobs before it, which are finished by then: the same
 * spec, seed and thread count give the same trials in any timing, and an
 * interrupted run resumes where it stopped (trials.jsonl). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char cmd_tune_usage[] =
    "usage: sten tune --spec SPEC.json --dir DIR [--threads N] [--force] -- TRAIN-ARGS...\n"
    "\n"
    "Automatic model tuning: runs `sten train TRAIN-ARGS` once per trial with\n"
    "the trial's hyperparameter values set in a copy of the config (-c) or of\n"
    "the built-in algorithm's --hyperparameters file, and keeps the best.\n"
    "SPEC.json, in SageMaker's names (docs/tuning.md):\n"
    "  {\"Strategy\": \"Bayesian\",                      Random, Bayesian or Hyperband\n"
    "   \"HyperParameterTuningJobObjective\": {\"Type\": \"Maximize\",\n"
    "                                        \"MetricName\": \"validation:ndcg@100\"},\n"
    "   \"ResourceLimits\": {\"MaxNumberOfTrainingJobs\": 24, \"MaxParallelTrainingJobs\": 2},\n"
    "   \"TrainingJobEarlyStoppingType\": \"Auto\",       Off or Auto\n"
    "   \"RandomSeed\": 1,\n"
    "   \"ParameterRanges\": {\n"
    "     \"ContinuousParameterRanges\": [{\"Name\": \"Training.Alpha\", \"MinValue\": 0.0003,\n"
    "                                   \"MaxValue\": 0.01, \"ScalingType\": \"Logarithmic\"}],\n"
    "     \"IntegerParameterRanges\": [{\"Name\": \"Layers.Hidden.N\", \"MinValue\": 100, \"MaxValue\": 800}],\n"
    "     \"CategoricalParameterRanges\": [{\"Name\": \"Layers.Hidden.Activation\",\n"
    "                                    \"Values\": [\"Tanh\", \"Sigmoid\"]}]}}\n"
    "A Name with dots is a config path (Training.Alpha, Denoising.p, Layers.<layer\n"
    "Name>.<key>); one without is a key of the --hyperparameters file. Network\n"
    "metrics: validation:ndcg@K, validation:recall@K (TRAIN-ARGS give --validate\n"
    "with the validation users' fold-in and held-out files) or validation:loss;\n"
    "built-ins: the metric lines they print (validation:objective_loss, ...).\n"
    "\n"
    "  --spec FILE      the tuning spec\n"
    "  --dir DIR        trial-N/ (config, model, metrics, output of each trial),\n"
    "                   trials.jsonl (a line per finished trial), best.json and\n"
    "                   the best trial's best-config.json / best-model.nc; run\n"
    "                   the same command again to resume an interrupted tuning\n"
    "  --threads N      threads in all (default: all cores), shared by the trials\n"
    "                   running at once\n"
    "  --force          start over in a DIR that holds another tuning run\n";

enum { ETA = 3, OPT_SPEC = 1, OPT_DIR, OPT_FORCE };

typedef enum { P_CONT, P_INT, P_CAT } ptype;
typedef enum { SC_LINEAR, SC_LOG, SC_REVLOG } pscale;
typedef enum { S_RANDOM, S_BAYESIAN, S_HYPERBAND } strategy;
typedef enum { T_PENDING, T_RUNNING, T_COMPLETED, T_STOPPED, T_FAILED } tstatus;
static const char *const status_name[] = {"Pending", "InProgress", "Completed", "Stopped", "Failed"};

typedef struct {
    const char *name;
    ptype type;
    pscale scale;
    double lo, hi;
    json_t *values; /* categorical: the array (borrowed from the spec) */
    bool hp;        /* a key of the hyperparameter file, not a config path */
} param;

typedef struct {
    json_t *root;
    strategy strat;
    bool maximize, early;
    const char *metric;
    uint32_t max_trials, parallel, n;
    uint64_t seed;
    param p[64];
} spec;

typedef struct {
    tstatus st;
    pid_t pid;
    bool killed;          /* stopped by the tuner */
    double *u;            /* the point in the unit cube */
    json_t *values;       /* {"name": value} */
    double obj;           /* the best value so far (NaN: none) */
    uint32_t best_epoch, epochs;
    double *hist;         /* the metric per epoch (networks) */
    uint32_t n_hist, cap_hist;
    double t0, seconds;
    long read_at;         /* bytes of metrics.jsonl read */
} trial;

typedef struct {
    const char *spec_path, *dir;
    long long threads;
    bool force;
    char **targs;   /* TRAIN-ARGS */
    int n_targs;
    bool network;   /* a config (-c), not --algorithm */
    const char *base; /* the config or hyperparameter file the trials start from */
    json_t *base_json;
    char select[64], key[96]; /* networks: --select and the metrics file's key */
    uint32_t epochs;  /* a network trial's epochs (rungs) */
    char exe[4096];
} tune_args;

static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}


/* ------------------------------------------------------------------ spec */

static int spec_error(const char *path, const char *where, const char *msg)
{
    fprintf(stderr, "sten tune: %s: %s: %s\n", path, where, msg);
    return CLI_EX_DATAERR;
}

/* A number given as a JSON number or (SageMaker's way) a string. */
static bool spec_number(json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out);
    }
    if (json_is_string(v))
        return sten_parse_double(json_string_value(v), strlen(json_string_value(v)), out) == STEN_OK &&
               isfinite(*out);
    return false;
}

static const char *const top_keys[] = {"Strategy", "HyperParameterTuningJobObjective", "ResourceLimits",
                                       "TrainingJobEarlyStoppingType", "RandomSeed", "ParameterRanges", NULL};

static bool known(const char *key, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(key, list[i]))
            return true;
    return false;
}

static int unknown_key(const char *path, json_t *obj, const char *const *list, const char *where)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (!known(key, list)) {
            char w[256], msg[512] = "";
            snprintf(w, sizeof w, "%s%s%s", where, *where ? "." : "", key);
            for (int i = 0; list[i]; i++)
                snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%s%s", i ? ", " : "expected one of ", list[i]);
            return spec_error(path, w, msg);
        }
    }
    return 0;
}

static int parse_ranges(const char *path, json_t *ranges, ptype type, spec *s)
{
    static const char *const names[] = {"ContinuousParameterRanges", "IntegerParameterRanges",
                                        "CategoricalParameterRanges"};
    static const char *const num_keys[] = {"Name", "MinValue", "MaxValue", "ScalingType", NULL};
    static const char *const cat_keys[] = {"Name", "Values", NULL};
    json_t *arr = json_object_get(ranges, names[type]);
    if (!arr)
        return 0;
    char w[160];
    if (!json_is_array(arr)) {
        snprintf(w, sizeof w, "ParameterRanges.%s", names[type]);
        return spec_error(path, w, "expected an array of ranges");
    }
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r) {
        snprintf(w, sizeof w, "ParameterRanges.%s[%zu]", names[type], i);
        if (!json_is_object(r))
            return spec_error(path, w, "expected an object");
        int rc = unknown_key(path, r, type == P_CAT ? cat_keys : num_keys, w);
        if (rc)
            return rc;
        if (s->n == sizeof s->p / sizeof s->p[0])
            return spec_error(path, w, "more than 64 hyperparameters");
        param *p = &s->p[s->n];
        memset(p, 0, sizeof *p);
        p->type = type;
        json_t *name = json_object_get(r, "Name");
        if (!json_is_string(name) || !*json_string_value(name))
            return spec_error(path, w, "\"Name\": expected the hyperparameter's name (a string)");
        p->name = json_string_value(name);
        p->hp = strchr(p->name, '.') == NULL;
        for (uint32_t k = 0; k < s->n; k++)
            if (!strcmp(s->p[k].name, p->name))
                return spec_error(path, w, "this Name is given twice");
        if (type == P_CAT) {
            p->values = json_object_get(r, "Values");
            if (!json_is_array(p->values) || json_array_size(p->values) == 0)
                return spec_error(path, w, "\"Values\": expected a non-empty array");
            s->n++;
            continue;
        }
        if (!spec_number(json_object_get(r, "MinValue"), &p->lo) ||
            !spec_number(json_object_get(r, "MaxValue"), &p->hi))
            return spec_error(path, w, "\"MinValue\" and \"MaxValue\": expected numbers");
        if (!(p->lo <= p->hi))
            return spec_error(path, w, "\"MinValue\" is greater than \"MaxValue\"");
        if (type == P_INT && (p->lo != floor(p->lo) || p->hi != floor(p->hi)))
            return spec_error(path, w, "an integer range needs whole MinValue and MaxValue");
        json_t *sc = json_object_get(r, "ScalingType");
        const char *scn = sc ? json_string_value(sc) : "Auto";
        if (!scn)
            return spec_error(path, w, "\"ScalingType\": expected Auto, Linear, Logarithmic or ReverseLogarithmic");
        if (!strcasecmp(scn, "Linear"))
            p->scale = SC_LINEAR;
        else if (!strcasecmp(scn, "Logarithmic"))
            p->scale = SC_LOG;
        else if (!strcasecmp(scn, "ReverseLogarithmic"))
            p->scale = SC_REVLOG;
        else if (!strcasecmp(scn, "Auto")) /* logarithmic over positive ranges of two decades or more */
            p->scale = p->lo > 0 && p->hi >= 100 * p->lo ? SC_LOG : SC_LINEAR;
        else
            return spec_error(path, w, "\"ScalingType\": expected Auto, Linear, Logarithmic or ReverseLogarithmic");
        if (p->scale == SC_LOG && !(p->lo > 0))
            return spec_error(path, w, "a Logarithmic range needs MinValue > 0");
        if (p->scale == SC_REVLOG && !(p->lo >= 0 && p->hi < 1) )
            return spec_error(path, w, "a ReverseLogarithmic range needs 0 <= MinValue <= MaxValue < 1");
        if (p->scale == SC_REVLOG && type == P_INT)
            return spec_error(path, w, "ReverseLogarithmic is for continuous ranges");
        s->n++;
    }
    return 0;
}

static int parse_spec(const char *path, spec *s)
{
    memset(s, 0, sizeof *s);
    json_error_t e;
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "sten tune: %s: %s\n", path, strerror(errno));
        return CLI_EX_NOINPUT;
    }
    if (!(s->root = json_load_file(path, JSON_REJECT_DUPLICATES, &e))) {
        fprintf(stderr, "sten tune: %s:%d:%d: %s\n", path, e.line, e.column, e.text);
        return CLI_EX_DATAERR;
    }
    json_t *root = s->root;
    if (!json_is_object(root))
        return spec_error(path, "the spec", "expected a JSON object");
    int rc = unknown_key(path, root, top_keys, "");
    if (rc)
        return rc;
    json_t *v = json_object_get(root, "Strategy");
    const char *sn = v ? json_string_value(v) : "Bayesian";
    if (sn && !strcasecmp(sn, "Random"))
        s->strat = S_RANDOM;
    else if (sn && !strcasecmp(sn, "Bayesian"))
        s->strat = S_BAYESIAN;
    else if (sn && !strcasecmp(sn, "Hyperband"))
        s->strat = S_HYPERBAND;
    else
        return spec_error(path, "Strategy", "expected Random, Bayesian or Hyperband");
    json_t *obj = json_object_get(root, "HyperParameterTuningJobObjective");
    static const char *const obj_keys[] = {"Type", "MetricName", NULL};
    if (!json_is_object(obj))
        return spec_error(path, "HyperParameterTuningJobObjective",
                          "expected {\"Type\": \"Maximize\" or \"Minimize\", \"MetricName\": ...}");
    if ((rc = unknown_key(path, obj, obj_keys, "HyperParameterTuningJobObjective")))
        return rc;
    const char *ty = json_string_value(json_object_get(obj, "Type"));
    s->metric = json_string_value(json_object_get(obj, "MetricName"));
    if (!ty || (strcasecmp(ty, "Maximize") && strcasecmp(ty, "Minimize")))
        return spec_error(path, "HyperParameterTuningJobObjective.Type", "expected Maximize or Minimize");
    if (!s->metric || !*s->metric)
        return spec_error(path, "HyperParameterTuningJobObjective.MetricName", "expected the metric's name");
    s->maximize = !strcasecmp(ty, "Maximize");
    json_t *lim = json_object_get(root, "ResourceLimits");
    static const char *const lim_keys[] = {"MaxNumberOfTrainingJobs", "MaxParallelTrainingJobs", NULL};
    s->max_trials = 10;
    s->parallel = 1;
    if (lim) {
        if (!json_is_object(lim))
            return spec_error(path, "ResourceLimits", "expected an object");
        if ((rc = unknown_key(path, lim, lim_keys, "ResourceLimits")))
            return rc;
        double x;
        if ((v = json_object_get(lim, "MaxNumberOfTrainingJobs"))) {
            if (!spec_number(v, &x) || x != floor(x) || x < 1 || x > 10000)
                return spec_error(path, "ResourceLimits.MaxNumberOfTrainingJobs", "expected a whole number, 1 to 10000");
            s->max_trials = (uint32_t)x;
        }
        if ((v = json_object_get(lim, "MaxParallelTrainingJobs"))) {
            if (!spec_number(v, &x) || x != floor(x) || x < 1 || x > 256)
                return spec_error(path, "ResourceLimits.MaxParallelTrainingJobs", "expected a whole number, 1 to 256");
            s->parallel = (uint32_t)x;
        }
    }
    v = json_object_get(root, "TrainingJobEarlyStoppingType");
    const char *es = v ? json_string_value(v) : s->strat == S_HYPERBAND ? "Auto" : "Off";
    if (!es || (strcasecmp(es, "Off") && strcasecmp(es, "Auto")))
        return spec_error(path, "TrainingJobEarlyStoppingType", "expected Off or Auto");
    s->early = !strcasecmp(es, "Auto");
    if (s->strat == S_HYPERBAND && !s->early)
        return spec_error(path, "TrainingJobEarlyStoppingType", "Hyperband stops trials early: Off does not go with it");
    s->seed = 1;
    if ((v = json_object_get(root, "RandomSeed"))) {
        double x;
        if (!spec_number(v, &x) || x != floor(x) || x < 0 || x > 9007199254740991.0)
            return spec_error(path, "RandomSeed", "expected a whole number >= 0");
        s->seed = (uint64_t)x;
    }
    json_t *ranges = json_object_get(root, "ParameterRanges");
    static const char *const range_keys[] = {"ContinuousParameterRanges", "IntegerParameterRanges",
                                             "CategoricalParameterRanges", NULL};
    if (!json_is_object(ranges))
        return spec_error(path, "ParameterRanges", "expected an object with the ranges to search");
    if ((rc = unknown_key(path, ranges, range_keys, "ParameterRanges")))
        return rc;
    for (int t = P_CONT; t <= P_CAT && !rc; t++)
        rc = parse_ranges(path, ranges, (ptype)t, s);
    if (!rc && s->n == 0)
        return spec_error(path, "ParameterRanges", "no hyperparameter to search");
    return rc;
}

/* The value of parameter p at u in [0, 1]: a JSON number or the category. */
static json_t *param_value(const param *p, double u, bool as_string)
{
    double x;
    if (p->type == P_CAT) {
        const size_t m = json_array_size(p->values);
        size_t i = (size_t)(u * (double)m);
        return json_incref(json_array_get(p->values, i < m ? i : m - 1));
    }
    switch (p->scale) {
    case SC_LOG:
        x = exp(log(p->lo) + u * (log(p->type == P_INT ? p->hi + 1 : p->hi) - log(p->lo)));
        break;
    case SC_REVLOG:
        x = 1.0 - exp(log(1.0 - p->lo) + u * (log(1.0 - p->hi) - log(1.0 - p->lo)));
        break;
    default:
        x = p->lo + u * (p->hi - p->lo + (p->type == P_INT ? 1.0 : 0.0));
        break;
    }
    if (p->type == P_INT) {
        x = fmin(fmax(floor(x), p->lo), p->hi);
        if (as_string) {
            char b[32];
            snprintf(b, sizeof b, "%.0f", x);
            return json_string(b);
        }
        return json_integer((json_int_t)x);
    }
    char b[32]; /* six significant digits: what a person would write */
    snprintf(b, sizeof b, "%.6g", fmin(fmax(x, p->lo), p->hi));
    return as_string ? json_string(b) : json_real(strtod(b, NULL)); /* SageMaker's hyperparameters are strings */
}

/* ------------------------------------------------------- config paths */

/* The object holding the last segment of `name` in the config, and that
 * segment; objects on the way are made. NULL with msg when the path does
 * not lead anywhere (a layer that is not there). */
static json_t *config_slot(json_t *cfg, const char *name, const char **last, char *msg, size_t cap)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", name);
    json_t *at = cfg;
    char *save = NULL, *seg = strtok_r(buf, ".", &save);
    const char *key = name;
    while (seg) {
        char *next = strtok_r(NULL, ".", &save);
        key = name + (seg - buf);
        if (!next)
            break;
        json_t *child = json_object_get(at, seg);
        if (!strcmp(seg, "Layers") && json_is_array(child)) {
            /* Layers.<Name>: the layer of that Name */
            json_t *L = NULL, *x;
            size_t i;
            json_array_foreach(child, i, x) {
                const char *n = json_string_value(json_object_get(x, "Name"));
                if (n && !strcmp(n, next))
                    L = x;
            }
            if (!L) {
                snprintf(msg, cap, "the config has no layer named \"%s\"", next);
                return NULL;
            }
            at = L;
            seg = strtok_r(NULL, ".", &save);
            if (!seg) {
                snprintf(msg, cap, "name a key of layer \"%s\" (Layers.%s.N, ...)", next, next);
                return NULL;
            }
            continue;
        }
        if (!child) {
            child = json_object();
            json_object_set_new(at, seg, child);
        } else if (!json_is_object(child)) {
            snprintf(msg, cap, "\"%s\" in the config is not an object", seg);
            return NULL;
        }
        at = child;
        seg = next;
    }
    if (!json_is_object(at)) {
        snprintf(msg, cap, "the config is not a JSON object there");
        return NULL;
    }
    *last = key + (strrchr(key, '.') ? strrchr(key, '.') - key + 1 : 0);
    return at;
}

/* The trial's copy of the base file with its values set. */
static json_t *trial_file(const tune_args *a, const spec *s, const trial *t, char *msg, size_t cap)
{
    json_t *doc = json_deep_copy(a->base_json);
    for (uint32_t k = 0; doc && k < s->n; k++) {
        const param *p = &s->p[k];
        json_t *v = json_object_get(t->values, p->name);
        if (p->hp) {
            json_object_set(doc, p->name, v);
            continue;
        }
        const char *last;
        json_t *o = config_slot(doc, p->name, &last, msg, cap);
        if (!o) {
            json_decref(doc);
            return NULL;
        }
        json_object_set(o, last, v);
    }
    return doc;
}

/* ---------------------------------------------------------- trials */

static void trial_path(const tune_args *a, uint32_t k, const char *file, char *out, size_t cap)
{
    snprintf(out, cap, "%s/trial-%u%s%s", a->dir, k + 1, file ? "/" : "", file ? file : "");
}

static bool better(const spec *s, double a, double b)
{
    return isfinite(a) && (!isfinite(b) || (s->maximize ? a > b : a < b));
}

/* The best of a trial's first n epochs. */
static double best_of(const spec *s, const trial *t, uint32_t n)
{
    double b = NAN;
    for (uint32_t e = 0; e < n && e < t->n_hist; e++)
        if (better(s, t->hist[e], b))
            b = t->hist[e];
    return b;
}

/* The trial's point: random (the (seed, trial) stream), or Bayesian from
 * the finished trials at least `parallel` before it. */
static int propose(sten_ctx *ctx, const spec *s, trial *T, uint32_t k)
{
    const uint32_t init = s->n + 1 < 3 ? 3 : s->n + 1 > 10 ? 10 : s->n + 1;
    sten_rng r;
    sten_rng_init(&r, s->seed, k);
    trial *t = &T[k];
    if (s->strat != S_BAYESIAN || k < init || k < s->parallel) {
        for (uint32_t d = 0; d < s->n; d++)
            t->u[d] = sten_rng_uniform(&r);
    } else {
        const uint32_t m = k - s->parallel + 1; /* trials 0 .. k - parallel */
        double *x = malloc((size_t)m * s->n * sizeof *x), *y = malloc((size_t)m * sizeof *y);
        if (!x || !y) {
            free(x), free(y);
            return cli_fail("tune", ctx, STEN_E_NOMEM);
        }
        for (uint32_t j = 0; j < m; j++) {
            memcpy(x + (size_t)j * s->n, T[j].u, s->n * sizeof *x);
            y[j] = s->maximize ? T[j].obj : -T[j].obj;
        }
        sten_status st = sten_bayesopt_propose(ctx, x, y, m, s->n, s->seed, t->u);
        free(x), free(y);
        if (st)
            return cli_fail("tune", ctx, st);
    }
    json_decref(t->values);
    t->values = json_object();
    for (uint32_t d = 0; d < s->n; d++)
        json_object_set_new(t->values, s->p[d].name, param_value(&s->p[d], t->u[d], s->p[d].hp));
    return 0;
}

/* Whether a running network trial falls out after its epoch n, judged
 * against the finished trials at least `parallel` before it (the same ones
 * in any timing). Hyperband (asynchronous successive halving): at each rung
 * epoch R = 1/27, 1/9, 1/3 of the epochs it must be in the best 1/ETA of
 * those that reached R. Early stopping "Auto" with the other strategies
 * (SageMaker's median rule): from a tenth of the epochs on, its best so far
 * must not be worse than the median of those trials' running averages over
 * their first n epochs. Either needs ETA - 1 trials to compare with. */
static bool stop_now(const tune_args *a, const spec *s, const trial *T, uint32_t k, uint32_t n)
{
    const double v = best_of(s, &T[k], n);
    if (s->strat != S_HYPERBAND) {
        if (n < (a->epochs + 9) / 10 || n >= a->epochs)
            return false;
        double avg[10000];
        uint32_t count = 0;
        for (uint32_t j = 0; j + s->parallel <= k; j++) {
            if (T[j].n_hist < n)
                continue;
            double sum = 0.0;
            uint32_t m = 0;
            for (uint32_t e = 0; e < n; e++)
                if (isfinite(T[j].hist[e]))
                    sum += T[j].hist[e], m++;
            if (m)
                avg[count++] = sum / m;
        }
        if (count + 1 < ETA)
            return false;
        for (uint32_t i = 1; i < count; i++) /* sort: the median */
            for (uint32_t j = i; j > 0 && avg[j] < avg[j - 1]; j--) {
                const double x = avg[j];
                avg[j] = avg[j - 1];
                avg[j - 1] = x;
            }
        const double med = count % 2 ? avg[count / 2] : 0.5 * (avg[count / 2 - 1] + avg[count / 2]);
        return better(s, med, v);
    }
    for (uint32_t div = ETA * ETA * ETA; div >= ETA; div /= ETA) {
        const uint32_t R = a->epochs / div;
        if (R == 0 || R >= a->epochs || n != R)
            continue;
        uint32_t count = 0, ahead = 0;
        for (uint32_t j = 0; j + s->parallel <= k; j++) {
            if (T[j].n_hist < R)
                continue;
            count++;
            ahead += better(s, best_of(s, &T[j], R), v);
        }
        if (count + 1 >= ETA && ahead >= (count + 1 + ETA - 1) / ETA)
            return true;
    }
    return false;
}

/* The trial's history cut to its first n epochs, and its best in them. */
static void cut_history(const spec *s, trial *t, uint32_t n)
{
    t->n_hist = n < t->n_hist ? n : t->n_hist;
    t->obj = NAN;
    t->best_epoch = 0;
    for (uint32_t e = 0; e < t->n_hist; e++)
        if (better(s, t->hist[e], t->obj)) {
            t->obj = t->hist[e];
            t->best_epoch = e + 1;
        }
}

/* New lines of a network trial's metrics file. */
static void read_metrics(const tune_args *a, const spec *s, uint32_t k, trial *t)
{
    char path[4200];
    trial_path(a, k, "metrics.jsonl", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[4096];
    if (fseek(f, t->read_at, SEEK_SET) == 0)
        while (fgets(line, sizeof line, f)) {
            const size_t n = strlen(line);
            if (n == 0 || line[n - 1] != '\n')
                break; /* not written whole yet */
            t->read_at += (long)n;
            json_t *j = json_loads(line, 0, NULL);
            json_t *v = j ? json_object_get(j, a->key) : NULL;
            const double x = json_is_number(v) ? json_number_value(v) : NAN;
            if (t->n_hist == t->cap_hist) {
                t->cap_hist = t->cap_hist ? 2 * t->cap_hist : 64;
                t->hist = realloc(t->hist, t->cap_hist * sizeof *t->hist);
            }
            if (t->hist) {
                t->hist[t->n_hist++] = x;
                if (better(s, x, t->obj)) {
                    t->obj = x;
                    t->best_epoch = t->n_hist;
                }
            }
            json_decref(j);
        }
    fclose(f);
}

/* A built-in's objective: the last line of its output naming the metric. */
static void read_stdout_metric(const tune_args *a, const spec *s, uint32_t k, trial *t)
{
    char path[4200], line[4096];
    trial_path(a, k, "stdout.txt", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        json_t *v = j ? json_object_get(j, s->metric) : NULL;
        if (json_is_number(v))
            t->obj = json_number_value(v);
        json_decref(j);
    }
    fclose(f);
}

/* A running (or just ended) network trial's new metrics lines, each epoch
 * judged by the early-stopping rule as it comes: stopped at the first that
 * fails it, its record cut there (what it did after is timing, not result). */
static void judge_new_epochs(const tune_args *a, const spec *s, trial *T, uint32_t k)
{
    trial *t = &T[k];
    const uint32_t before = t->n_hist;
    read_metrics(a, s, k, t);
    for (uint32_t n = before + 1; s->early && a->epochs && n <= t->n_hist; n++)
        if (stop_now(a, s, T, k, n)) {
            kill(t->pid, SIGTERM); /* harmless when it has ended: not reaped yet, the pid is still its own */
            t->killed = true;
            cut_history(s, t, n);
            break;
        }
}

static int launch(const tune_args *a, const spec *s, trial *T, uint32_t k, sten_ctx *ctx)
{
    trial *t = &T[k];
    int rc = propose(ctx, s, T, k);
    if (rc)
        return rc;
    char dir[4200], file[4200], model[4200], metrics[4200], out[4200], err[4200], msg[256] = "";
    trial_path(a, k, NULL, dir, sizeof dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "sten tune: %s: %s\n", dir, strerror(errno));
        return CLI_EX_CANTCREAT;
    }
    trial_path(a, k, a->network ? "config.json" : "hyperparameters.json", file, sizeof file);
    trial_path(a, k, "model.nc", model, sizeof model);
    trial_path(a, k, "metrics.jsonl", metrics, sizeof metrics);
    trial_path(a, k, "stdout.txt", out, sizeof out);
    trial_path(a, k, "stderr.txt", err, sizeof err);
    unlink(metrics);
    json_t *doc = trial_file(a, s, t, msg, sizeof msg);
    if (!doc) {
        fprintf(stderr, "sten tune: %s: %s\n", a->spec_path, msg);
        return CLI_EX_DATAERR;
    }
    const int wrc = json_dump_file(doc, file, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(doc);
    if (wrc != 0) {
        fprintf(stderr, "sten tune: %s: cannot write\n", file);
        return CLI_EX_IOERR;
    }
    /* argv: sten train TRAIN-ARGS with the trial's file, model and threads */
    const char **argv = calloc((size_t)a->n_targs + 20, sizeof *argv);
    if (!argv)
        return CLI_EX_OSERR;
    int n = 0;
    char threads[32];
    const long long tt = a->threads / s->parallel > 0 ? a->threads / s->parallel : 1;
    snprintf(threads, sizeof threads, "%lld", tt);
    argv[n++] = a->exe;
    argv[n++] = "train";
    for (int i = 0; i < a->n_targs; i++) {
        const char *x = a->targs[i];
        const bool cfg = !strcmp(x, "-c") || !strcmp(x, "--config") || !strcmp(x, "-config");
        const bool hp = !strcmp(x, "--hyperparameters") || !strcmp(x, "-hyperparameters");
        const bool md = !strcmp(x, "--model-dir") || !strcmp(x, "-model-dir");
        argv[n++] = x;
        if ((cfg || hp || md) && i + 1 < a->n_targs) {
            argv[n++] = md ? dir : file;
            i++;
        }
    }
    if (a->network) {
        const char *more[] = {"-n", model, "--metrics", metrics, "--select", a->select, "--keep-best",
                              "--force", "-t", threads};
        for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
            argv[n++] = more[i];
    } else {
        argv[n++] = "--force";
    }
    argv[n] = NULL;
    fflush(NULL);
    const pid_t pid = fork();
    if (pid < 0) {
        free(argv);
        fprintf(stderr, "sten tune: cannot start a trial: %s\n", strerror(errno));
        return CLI_EX_OSERR;
    }
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(CLI_EX_CANTCREAT);
        char env[64];
        snprintf(env, sizeof env, "%lld", tt);
        setenv("OMP_NUM_THREADS", env, 1);
        setenv("OPENBLAS_NUM_THREADS", env, 1);
        execv(a->exe, (char *const *)argv);
        fprintf(stderr, "sten tune: cannot run %s: %s\n", a->exe, strerror(errno));
        _exit(CLI_EX_SOFTWARE);
    }
    free(argv);
    t->pid = pid;
    t->st = T_RUNNING;
    t->killed = false;
    t->obj = NAN;
    t->n_hist = 0;
    t->read_at = 0;
    t->best_epoch = 0;
    t->t0 = cli_now_s();
    return 0;
}

/* trials.jsonl's line for a finished trial. */
static int record(const tune_args *a, const spec *s, uint32_t k, const trial *t)
{
    json_t *j = json_pack("{s:i, s:s, s:o, s:O}", "trial", (json_int_t)k + 1, "status", status_name[t->st],
                          "objective", isfinite(t->obj) ? json_real(t->obj) : json_null(), "params", t->values);
    json_t *u = json_array(), *h = json_array();
    for (uint32_t d = 0; d < s->n; d++)
        json_array_append_new(u, json_real(t->u[d]));
    for (uint32_t e = 0; e < t->n_hist; e++)
        json_array_append_new(h, isfinite(t->hist[e]) ? json_real(t->hist[e]) : json_null());
    json_object_set_new(j, "best_epoch", json_integer(t->best_epoch));
    json_object_set_new(j, "epochs", json_integer(t->n_hist));
    json_object_set_new(j, "seconds", json_real(round(t->seconds * 1000) / 1000));
    json_object_set_new(j, "point", u);
    json_object_set_new(j, "history", h);
    char path[4200];
    snprintf(path, sizeof path, "%s/trials.jsonl", a->dir);
    FILE *f = fopen(path, "a");
    char *line = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(17)); /* read back exactly */
    json_decref(j);
    const bool ok = f && line && fprintf(f, "%s\n", line) > 0;
    free(line);
    if (!f || fclose(f) != 0 || !ok) {
        fprintf(stderr, "sten tune: %s: cannot write\n", path);
        return CLI_EX_IOERR;
    }
    return 0;
}

/* Trials recorded by an earlier run of the same tuning. */
static int restore(const tune_args *a, const spec *s, trial *T, uint32_t *done)
{
    char path[4200], line[1 << 16];
    snprintf(path, sizeof path, "%s/trials.jsonl", a->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        const json_int_t k = json_integer_value(json_object_get(j, "trial")) - 1;
        json_t *u = json_object_get(j, "point"), *h = json_object_get(j, "history");
        const char *st = json_string_value(json_object_get(j, "status"));
        if (!j || k < 0 || k >= s->max_trials || json_array_size(u) != s->n || !json_is_array(h) || !st) {
            json_decref(j);
            continue; /* a line cut by the interruption: that trial runs again */
        }
        trial *t = &T[k];
        for (uint32_t d = 0; d < s->n; d++)
            t->u[d] = json_number_value(json_array_get(u, d));
        json_decref(t->values);
        t->values = json_incref(json_object_get(j, "params"));
        json_t *o = json_object_get(j, "objective");
        t->obj = json_is_number(o) ? json_number_value(o) : NAN;
        t->best_epoch = (uint32_t)json_integer_value(json_object_get(j, "best_epoch"));
        t->seconds = json_number_value(json_object_get(j, "seconds"));
        t->n_hist = 0;
        t->cap_hist = (uint32_t)json_array_size(h) + 1;
        t->hist = realloc(t->hist, t->cap_hist * sizeof *t->hist);
        size_t e;
        json_t *x;
        json_array_foreach(h, e, x) t->hist[t->n_hist++] = json_is_number(x) ? json_number_value(x) : NAN;
        t->st = !strcmp(st, "Completed") ? T_COMPLETED : !strcmp(st, "Stopped") ? T_STOPPED : T_FAILED;
        (*done)++;
        json_decref(j);
    }
    fclose(f);
    return 0;
}

/* ------------------------------------------------------------ command */

static int parse_args(const cli_cmd *self, int argc, char **argv, tune_args *a)
{
    static const struct option opts[] = {
        {"spec", required_argument, NULL, OPT_SPEC}, {"dir", required_argument, NULL, OPT_DIR},
        {"threads", required_argument, NULL, 't'},   {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":t:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SPEC: a->spec_path = optarg; break;
        case OPT_DIR: a->dir = optarg; break;
        case OPT_FORCE: a->force = true; break;
        case 't': bad = cli_parse_int(self, "--threads", optarg, 1, 1024, &a->threads); break;
        case 'h':
            cli_print_usage(stdout, self);
            exit(CLI_EX_OK);
        default: return cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return CLI_EX_USAGE;
    if (!a->spec_path || !a->dir)
        return cli_usage_error(self, "%s is required", !a->spec_path ? "--spec SPEC.json" : "--dir DIR");
    if (optind >= argc || strcmp(argv[optind - 1], "--") != 0)
        return cli_usage_error(self, "give the training command's arguments after --");
    a->targs = argv + optind;
    a->n_targs = argc - optind;
    for (int i = 0; i < a->n_targs; i++) {
        const char *x = a->targs[i];
        static const char *const ours[] = {"-n", "--network", "-network", "--metrics", "-metrics", "--select",
                                           "-select", "--keep-best", "-keep-best", "-t", "--threads", "-threads", NULL};
        for (int k = 0; ours[k]; k++)
            if (!strcmp(x, ours[k]) || (!strncmp(x, ours[k], strlen(ours[k])) && x[strlen(ours[k])] == '='))
                return cli_usage_error(self, "%s in the training arguments: the tuner sets it for each trial", x);
        if (!strcmp(x, "-c") || !strcmp(x, "--config") || !strcmp(x, "-config"))
            a->base = i + 1 < a->n_targs ? a->targs[i + 1] : NULL, a->network = true;
        if (!strcmp(x, "--hyperparameters") || !strcmp(x, "-hyperparameters"))
            a->base = i + 1 < a->n_targs ? a->targs[i + 1] : NULL;
        if (!strcmp(x, "-e") || !strcmp(x, "--epochs") || !strcmp(x, "-epochs")) {
            long long e = 0;
            if (i + 1 < a->n_targs && !cli_parse_int(self, "-e", a->targs[i + 1], 1, 1000000, &e))
                a->epochs = (uint32_t)e;
        }
    }
    if (!a->base)
        return cli_usage_error(self, "the training arguments need -c CONFIG.json (a network) or "
                                     "--hyperparameters HP.json (a built-in algorithm)");
    return 0;
}

/* DIR/tune-state.json: what this tuning is (spec and arguments); another
 * run in DIR resumes it only if they are the same. */
static int prepare_dir(const tune_args *a, const spec *s, bool *resume)
{
    char path[4200];
    json_t *args = json_array();
    for (int i = 0; i < a->n_targs; i++)
        json_array_append_new(args, json_string(a->targs[i]));
    json_t *state = json_pack("{s:O, s:o, s:O}", "spec", s->root, "train_args", args, "base", a->base_json);
    snprintf(path, sizeof path, "%s/tune-state.json", a->dir);
    *resume = false;
    struct stat sb;
    if (stat(a->dir, &sb) == 0) {
        json_t *old = json_load_file(path, 0, NULL);
        if (old && json_equal(old, state) && !a->force) {
            *resume = true;
        } else if (!a->force) {
            json_decref(old);
            json_decref(state);
            fprintf(stderr, "sten tune: %s: %s; --force starts over there\n", a->dir,
                    old ? "holds a tuning run of another spec, config or arguments"
                        : "exists and holds no tuning run (tune-state.json)");
            return CLI_EX_CANTCREAT;
        }
        json_decref(old);
        if (!*resume) {
            char tj[4200];
            snprintf(tj, sizeof tj, "%s/trials.jsonl", a->dir);
            unlink(tj);
        }
    } else if (mkdir(a->dir, 0777) != 0) {
        json_decref(state);
        fprintf(stderr, "sten tune: %s: %s\n", a->dir, strerror(errno));
        return CLI_EX_CANTCREAT;
    }
    const int rc = *resume ? 0 : json_dump_file(state, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(state);
    if (rc) {
        fprintf(stderr, "sten tune: %s: cannot write\n", path);
        return CLI_EX_IOERR;
    }
    return 0;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[1 << 16];
    size_t n;
    bool ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = false;
    return ok ? 0 : -1;
}

/* best.json, the best trial's files beside it, and a table on stdout. */
static int summarise(const tune_args *a, const spec *s, const trial *T, double wall)
{
    int best = -1;
    uint32_t order[10000], n = 0, counts[5] = {0};
    for (uint32_t k = 0; k < s->max_trials; k++) {
        counts[T[k].st]++;
        if (T[k].st == T_COMPLETED && (best < 0 || better(s, T[k].obj, T[best].obj)))
            best = (int)k;
        if (isfinite(T[k].obj))
            order[n++] = k;
    }
    for (uint32_t i = 1; i < n; i++) /* by objective, best first */
        for (uint32_t j = i; j > 0 && better(s, T[order[j]].obj, T[order[j - 1]].obj); j--) {
            const uint32_t x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    printf("%-6s %-10s %12s %6s  %s\n", "trial", "status", s->metric, "epoch", "hyperparameters");
    for (uint32_t i = 0; i < n && i < 10; i++) {
        const trial *t = &T[order[i]];
        char *p = json_dumps(t->values, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(10));
        printf("%-6u %-10s %12.6f %6u  %s\n", order[i] + 1, status_name[t->st], t->obj, t->best_epoch, p ? p : "");
        free(p);
    }
    printf("%u trials: %u completed, %u stopped early, %u failed; %.1f s\n", s->max_trials, counts[T_COMPLETED],
           counts[T_STOPPED], counts[T_FAILED], wall);
    if (best < 0) {
        fprintf(stderr, "sten tune: no trial completed (see %s/trial-*/stderr.txt)\n", a->dir);
        return CLI_EX_SOFTWARE;
    }
    char from[4200], to[4200];
    trial_path(a, (uint32_t)best, a->network ? "config.json" : "hyperparameters.json", from, sizeof from);
    snprintf(to, sizeof to, "%s/%s", a->dir, a->network ? "best-config.json" : "best-hyperparameters.json");
    int rc = copy_file(from, to);
    if (!rc && a->network) {
        trial_path(a, (uint32_t)best, "model.nc", from, sizeof from);
        snprintf(to, sizeof to, "%s/best-model.nc", a->dir);
        rc = copy_file(from, to);
    }
    char dir[4200];
    trial_path(a, (uint32_t)best, NULL, dir, sizeof dir);
    json_t *j = json_pack("{s:i, s:s, s:f, s:O, s:s, s:i, s:i, s:i, s:f}", "best_trial", (json_int_t)best + 1,
                          "metric", s->metric, "objective", T[best].obj, "params", T[best].values,
                          "trial_dir", dir, "completed", (json_int_t)counts[T_COMPLETED], "stopped",
                          (json_int_t)counts[T_STOPPED], "failed", (json_int_t)counts[T_FAILED],
                          "wall_seconds", round(wall * 10) / 10);
    if (a->network)
        json_object_set_new(j, "best_epoch", json_integer(T[best].best_epoch));
    snprintf(to, sizeof to, "%s/best.json", a->dir);
    if (!rc)
        rc = json_dump_file(j, to, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(j);
    if (rc) {
        fprintf(stderr, "sten tune: %s: cannot write the best trial's files\n", a->dir);
        return CLI_EX_IOERR;
    }
    fprintf(stderr, "sten tune: best: trial %d, %s %.6f; %s/best.json\n", best + 1, s->metric, T[best].obj, a->dir);
    return 0;
}

/* Networks: --select and the metrics key for the objective. */
static int network_metric(const spec *s, tune_args *a)
{
    const char *m = s->metric;
    if (strncmp(m, "validation:", 11) != 0)
        return spec_error(a->spec_path, "HyperParameterTuningJobObjective.MetricName",
                          "a network's metric is validation:ndcg@K, validation:recall@K or validation:loss");
    m += 11;
    bool has_valid = false;
    for (int i = 0; i < a->n_targs; i++)
        has_valid |= !strcmp(a->targs[i], "--validate") || !strcmp(a->targs[i], "-validate");
    if (!has_valid) {
        fprintf(stderr, "sten tune: the metric %s needs --validate in the training arguments (the validation "
                        "users' fold-in and held-out files)\n", s->metric);
        return CLI_EX_USAGE;
    }
    if (!strcmp(m, "loss")) {
        snprintf(a->select, sizeof a->select, "loss");
        snprintf(a->key, sizeof a->key, "valid_loss");
        return 0;
    }
    const char *at = strchr(m, '@');
    char *end;
    const long k = at ? strtol(at + 1, &end, 10) : 0;
    if (!at || k < 1 || k > 100000 || *end || ((at - m != 4 || strncmp(m, "ndcg", 4)) && (at - m != 6 || strncmp(m, "recall", 6))))
        return spec_error(a->spec_path, "HyperParameterTuningJobObjective.MetricName",
                          "a network's metric is validation:ndcg@K, validation:recall@K or validation:loss");
    /* the names sten train writes: K as a plain number (ndcg@020 is ndcg@20) */
    snprintf(a->select, sizeof a->select, "%.*s@%ld", (int)(at - m), m, k);
    snprintf(a->key, sizeof a->key, "valid_%s", a->select);
    return 0;
}

int cmd_tune(int argc, char **argv)
{
    const cli_cmd *self = cli_find("tune");
    tune_args a = {0};
    int rc = parse_args(self, argc, argv, &a);
    if (rc)
        return rc;
    spec s;
    if ((rc = parse_spec(a.spec_path, &s))) {
        json_decref(s.root);
        return rc;
    }
    if (s.max_trials > 10000)
        s.max_trials = 10000;
    json_error_t e;
    if (access(a.base, R_OK) != 0) {
        fprintf(stderr, "sten tune: %s: %s\n", a.base, strerror(errno));
        json_decref(s.root);
        return CLI_EX_NOINPUT;
    }
    if (!(a.base_json = json_load_file(a.base, JSON_REJECT_DUPLICATES, &e)) || !json_is_object(a.base_json)) {
        fprintf(stderr, "sten tune: %s:%d:%d: %s\n", a.base, e.line, e.column,
                a.base_json ? "expected a JSON object" : e.text);
        json_decref(s.root);
        json_decref(a.base_json);
        return CLI_EX_DATAERR;
    }
    sten_ctx *ctx = cli_ctx_new("tune");
    trial *T = calloc(s.max_trials, sizeof *T);
    double *U = calloc((size_t)s.max_trials * s.n, sizeof *U);
    if (!ctx || !T || !U) {
        rc = CLI_EX_OSERR;
        goto out;
    }
    for (uint32_t k = 0; k < s.max_trials; k++) {
        T[k].u = U + (size_t)k * s.n;
        T[k].obj = NAN;
    }
    /* every parameter must lead somewhere in the base file */
    for (uint32_t d = 0; d < s.n && !rc; d++) {
        char msg[256];
        const char *last;
        if (s.p[d].hp == a.network && a.network) {
            fprintf(stderr, "sten tune: %s: \"%s\": a network's hyperparameters are config paths with dots "
                            "(Training.Alpha, Layers.Hidden.N, ...)\n", a.spec_path, s.p[d].name);
            rc = CLI_EX_DATAERR;
        } else if (!s.p[d].hp && !a.network) {
            fprintf(stderr, "sten tune: %s: \"%s\": a built-in algorithm's hyperparameters are keys of its "
                            "--hyperparameters file (no dots)\n", a.spec_path, s.p[d].name);
            rc = CLI_EX_DATAERR;
        } else if (!s.p[d].hp) {
            json_t *probe = json_deep_copy(a.base_json);
            if (!config_slot(probe, s.p[d].name, &last, msg, sizeof msg)) {
                fprintf(stderr, "sten tune: %s: \"%s\": %s\n", a.spec_path, s.p[d].name, msg);
                rc = CLI_EX_DATAERR;
            }
            json_decref(probe);
        }
    }
    if (!rc && a.network)
        rc = network_metric(&s, &a);
    if (rc)
        goto out;
    if (!a.epochs) { /* the trials' epochs, for the rungs: -e, else the config's, else DSSTNE's 40 */
        json_t *ep = json_object_get(json_object_get(a.base_json, "Training"), "Epochs");
        a.epochs = json_is_integer(ep) ? (uint32_t)json_integer_value(ep) : 40;
        for (uint32_t d = 0; d < s.n; d++)
            if (!strcmp(s.p[d].name, "Training.Epochs"))
                a.epochs = 0; /* searched: no rungs */
    }
    if (a.threads == 0)
        a.threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    const ssize_t xl = readlink("/proc/self/exe", a.exe, sizeof a.exe - 1);
    if (xl > 0)
        a.exe[xl] = '\0';
    else
        snprintf(a.exe, sizeof a.exe, "%s", argv[0]);
    bool resume;
    if ((rc = prepare_dir(&a, &s, &resume)))
        goto out;
    uint32_t done = 0;
    if (resume && (rc = restore(&a, &s, T, &done)))
        goto out;
    if (resume)
        fprintf(stderr, "sten tune: resuming in %s: %u of %u trials done\n", a.dir, done, s.max_trials);
    static const char *const strat_name[] = {"Random", "Bayesian", "Hyperband"};
    fprintf(stderr, "sten tune: %u trials, %u at a time, %s search over %u hyperparameters, %s %s%s\n",
            s.max_trials, s.parallel, strat_name[s.strat], s.n, s.maximize ? "maximizing" : "minimizing",
            s.metric, !(s.early && a.network && a.epochs) ? ""
                      : s.strat == S_HYPERBAND ? ", trials stopped at successive-halving rungs"
                                               : ", trials stopped below the median");
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    const double t0 = cli_now_s();
    uint32_t running = 0;
    while (done < s.max_trials && !rc) {
        /* start trials in order while slots are free and those they learn from are done */
        for (uint32_t k = 0; k < s.max_trials && running < s.parallel && !interrupted && !rc; k++) {
            if (T[k].st != T_PENDING)
                continue;
            bool ready = true;
            for (uint32_t j = 0; j + s.parallel <= k; j++)
                ready &= T[j].st >= T_COMPLETED;
            if (!ready)
                break;
            if (!(rc = launch(&a, &s, T, k, ctx)))
                running++;
        }
        if (interrupted || rc)
            break;
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
        if (interrupted) /* Ctrl-C reached the trials too: none of them is judged now */
            break;
        for (uint32_t k = 0; k < s.max_trials && !rc; k++) {
            trial *t = &T[k];
            if (t->st != T_RUNNING)
                continue;
            if (a.network && !t->killed)
                judge_new_epochs(&a, &s, T, k);
            int ws;
            if (waitpid(t->pid, &ws, WNOHANG) != t->pid)
                continue;
            running--;
            t->seconds = cli_now_s() - t->t0;
            if (!t->killed && WIFSIGNALED(ws) && (WTERMSIG(ws) == SIGINT || WTERMSIG(ws) == SIGTERM)) {
                /* stopped from outside (an interrupt on its way to us too): not a result; runs again on resume */
                t->st = T_PENDING;
                interrupted = 1;
                break;
            }
            if (a.network && !t->killed) /* the last lines, judged as the earlier ones were */
                judge_new_epochs(&a, &s, T, k);
            else if (!a.network)
                read_stdout_metric(&a, &s, k, t);
            if (t->killed) {
                t->st = T_STOPPED;
            } else {
                t->st = WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && isfinite(t->obj) ? T_COMPLETED : T_FAILED;
            }
            if (t->st == T_FAILED)
                t->obj = NAN;
            char *p = json_dumps(t->values, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(10));
            fprintf(stderr, "sten tune: trial %u: %s, %s %.6f%s (%.1f s) %s\n", k + 1, status_name[t->st],
                    s.metric, t->obj, t->st == T_STOPPED ? " when stopped" : "", t->seconds, p ? p : "");
            free(p);
            rc = record(&a, &s, k, t);
            done++;
        }
    }
    if (interrupted || rc) {
        for (uint32_t k = 0; k < s.max_trials; k++)
            if (T[k].st == T_RUNNING) {
                kill(T[k].pid, SIGTERM);
                waitpid(T[k].pid, NULL, 0);
            }
        if (!rc) {
            fprintf(stderr, "sten tune: interrupted after %u of %u trials; the same command resumes\n", done,
                    s.max_trials);
            rc = 130;
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (!rc)
        rc = summarise(&a, &s, T, cli_now_s() - t0);
out:
    for (uint32_t k = 0; T && k < s.max_trials; k++) {
        json_decref(T[k].values);
        free(T[k].hist);
    }
    free(T);
    free(U);
    json_decref(a.base_json);
    json_decref(s.root);
    sten_ctx_free(ctx);
    return rc;
}
