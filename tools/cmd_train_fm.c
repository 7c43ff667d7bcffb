/* cmd_train_fm.c — `sten train --algorithm factorization-machines`: the
 * SageMaker-style front door. SageMaker's hyperparameter file and names,
 * libsvm data, a model directory, and the test metrics printed as JSON lines
 * under SageMaker's metric names. The model is an ordinary sten network
 * (a FactorizationMachine layer), so predict/evaluate/model files all apply. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char cmd_train_fm_usage[] =
    "usage: sten train --algorithm factorization-machines --hyperparameters HP.json\n"
    "                  --train DATA [--test DATA] --model-dir DIR --index-base 0|1\n"
    "                  [--seed N] [--threads N] [--force]\n"
    "\n"
    "Trains SageMaker's Factorization Machines as a sten network. HP.json uses\n"
    "SageMaker's names (feature_dim, num_factors, predictor_type, epochs,\n"
    "mini_batch_size, bias_lr, linear_lr, factors_lr, *_wd, *_init_method,\n"
    "*_init_sigma, *_init_scale, *_init_value, clip_gradient, eps, rescale_grad;\n"
    "numbers or strings). DATA is SageMaker's RecordIO-protobuf, a NetCDF file with\n"
    "datasets fm_input (sparse) and fm_label (one value per example), or libsvm\n"
    "(\"label idx:value ...\", with --index-base stated); indices below feature_dim;\n"
    "binary_classifier labels are 0/1. SageMaker's reserved _tuning_objective_metric\n"
    "key is accepted (a metric named below).\n"
    "Writes DIR/model.nc (refused if it exists, unless --force) and prints test\n"
    "metrics as JSON lines (test:rmse, test:binary_classification_accuracy,\n"
    "test:binary_classification_cross_entropy, test:binary_f_beta, test:auc).\n"
    "The test data and the model directory are checked before training starts;\n"
    "libsvm files from sten convert --to fm whose encodings differ are refused.\n";

typedef struct {
    const char *hp, *train, *test, *dir;
    long long base, seed, threads;
    bool force;
} fm_args;

static int parse(const cli_cmd *self, int argc, char **argv, fm_args *a)
{
    static const struct option opts[] = {
        {"algorithm", required_argument, NULL, 'A'}, {"hyperparameters", required_argument, NULL, 'H'},
        {"train", required_argument, NULL, 'T'},     {"test", required_argument, NULL, 'E'},
        {"model-dir", required_argument, NULL, 'M'}, {"index-base", required_argument, NULL, 'B'},
        {"seed", required_argument, NULL, 'S'},      {"threads", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    optind = 1;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'A':
            if (strcmp(optarg, "factorization-machines"))
                bad = cli_usage_error(self, "unknown --algorithm '%s' (factorization-machines, kmeans, pca, knn or "
                                      "linear-learner)", optarg);
            break;
        case 'H': a->hp = optarg; break;
        case 'T': a->train = optarg; break;
        case 'E': a->test = optarg; break;
        case 'M': a->dir = optarg; break;
        case 'B': bad = cli_parse_int(self, "--index-base", optarg, 0, 1, &a->base); break;
        case 'S': bad = cli_parse_int(self, "--seed", optarg, 0, INT64_MAX, &a->seed); break;
        case 't': bad = cli_parse_int(self, "--threads", optarg, 0, 1024, &a->threads); break;
        case 'f': a->force = true; break;
        case 'h': fputs(cmd_train_fm_usage, stdout); return -1;
        default: bad = cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return bad;
    const char *missing = !a->hp ? "--hyperparameters" : !a->train ? "--train" : !a->dir ? "--model-dir" : NULL;
    if (missing)
        return cli_usage_error(self, "%s is required", missing);
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* The encoding comment sten convert --to fm writes on a libsvm file's first
 * line ("# sten-fm-encoding HASH features D"), or "" when there is none. */
static void fm_encoding_of(const char *path, char *out, size_t n)
{
    char line[256];
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(line, sizeof line, f) && !strncmp(line, "# sten-fm-encoding ", 19))
        snprintf(out, n, "%.*s", (int)strcspn(line + 19, "\r\n"), line + 19);
    fclose(f);
}

/* Train and test data numbered by different encodings would be scored on
 * features that mean other users and items: refused, before training. */
static sten_status check_encodings(sten_ctx *ctx, const char *train, const char *test)
{
    char a[128], b[128];
    fm_encoding_of(train, a, sizeof a);
    fm_encoding_of(test, b, sizeof b);
    if (!a[0] || !b[0] || !strcmp(a, b))
        return STEN_OK;
    return sten_fail(ctx, STEN_E_FORMAT, "%s and %s were converted with different encodings (%s; %s): the "
                     "same feature number means another user or item in each. Convert both with "
                     "sten convert --to fm --encoding PREFIX (the training file first)", train, test, a, b);
}

static sten_status check_labels(sten_ctx *ctx, const char *path, const sten_dataset *y, bool binary)
{
    for (uint64_t i = 0; binary && i < y->examples; i++)
        if (y->dense[i] != 0.0f && y->dense[i] != 1.0f)
            return sten_fail(ctx, STEN_E_RANGE, "%s: example %llu has label %g; a binary_classifier "
                             "needs 0 or 1", path, (unsigned long long)i + 1, (double)y->dense[i]);
    return STEN_OK;
}

static void print_metrics(const float *p, const float *y, uint64_t n, bool binary, sten_ctx *ctx)
{
    sten_score_metrics m;
    if (sten_eval_scores(ctx, p, y, n, &m))
        return;
    if (!binary) {
        printf("{\"test:rmse\": %.6f}\n{\"test:mae\": %.6f}\n", m.rmse, m.mae);
        return;
    }
    double tp = 0, fp = 0, fn = 0;
    for (uint64_t i = 0; i < n; i++) {
        const bool pos = p[i] >= 0.5f, yes = y[i] > 0.5f;
        tp += pos && yes;
        fp += pos && !yes;
        fn += !pos && yes;
    }
    const double f1 = tp ? 2 * tp / (2 * tp + fp + fn) : 0.0;
    printf("{\"test:binary_classification_accuracy\": %.6f}\n", m.accuracy);
    printf("{\"test:binary_classification_cross_entropy\": %.6f}\n", m.logloss);
    printf("{\"test:binary_f_beta\": %.6f}\n", f1);
    printf("{\"test:auc\": %.6f}\n", m.auc);
    printf("{\"test:rmse\": %.6f}\n", m.rmse);
}

static sten_status epoch_line(void *user, const sten_net *net, const sten_epoch_stats *s)
{
    (void)user, (void)net;
    cli_progress_clear();
    fprintf(stderr, "sten train: epoch %u: loss %.6f per example, %.4f s, %.0f examples/s\n", s->epoch,
            s->loss, s->seconds, s->examples_per_s);
    return STEN_OK;
}

static void fm_progress(void *user, const sten_train_progress *p)
{
    cli_progress_train(*(const uint32_t *)user, p);
}

int cmd_train_fm(int argc, char **argv)
{
    const cli_cmd *self = cli_find("train");
    fm_args a = {.base = -1, .seed = 12134};
    const int rc0 = parse(self, argc, argv, &a);
    if (rc0)
        return rc0 < 0 ? CLI_EX_OK : rc0;
    char model[4200];
    snprintf(model, sizeof model, "%s/model.nc", a.dir);
    const int rc1 = cli_check_model_dir("train", a.dir, model, a.force);
    if (rc1)
        return rc1;
    sten_ctx *ctx = cli_ctx_new("train");
    cli_progress_attach(ctx, "train");
    sten_ctx_set_threads(ctx, (int)a.threads);
    sten_net_desc *desc = NULL;
    sten_dataset ds[2], test[2];
    memset(ds, 0, sizeof ds);
    memset(test, 0, sizeof test);
    sten_net *net = NULL;
    sten_workspace *ws = NULL;
    float *pred = NULL, *lab = NULL;
    sten_status st = sten_fm_desc_from_hyperparameters(ctx, a.hp, &desc);
    const bool binary = desc && desc->layers[1].activation == STEN_ACT_SIGMOID;
    if (!st && a.test)
        st = check_encodings(ctx, a.train, a.test);
    if (!st)
        st = sten_labeled_read(ctx, a.train, (int)a.base, desc->layers[0].N, "fm_input", "fm_label",
                               &ds[0], &ds[1]);
    if (!st)
        st = check_labels(ctx, a.train, &ds[1], binary);
    /* the test data is read and checked now, not after the training it would waste */
    if (!st && a.test)
        st = sten_labeled_read(ctx, a.test, (int)a.base, desc->layers[0].N, "fm_input", "fm_label",
                               &test[0], &test[1]);
    if (!st && a.test)
        st = check_labels(ctx, a.test, &test[1], binary);
    if (!st)
        st = sten_net_build(ctx, desc, ds, 2, desc->training.batch_size, &net);
    if (!st)
        st = sten_net_init_weights(ctx, net, (uint64_t)a.seed);
    if (!st && a.test)
        st = sten_workspace_new_on(ctx, net, test, 2, desc->training.batch_size, &ws);
    if (!st && a.test && (!(pred = malloc((size_t)test[0].examples * sizeof *pred)) ||
                          !(lab = malloc((size_t)test[0].examples * sizeof *lab))))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st && mkdir(a.dir, 0755) != 0 && errno != EEXIST)
        st = sten_fail(ctx, STEN_E_IO, "%s: cannot create the model directory: %s", a.dir, strerror(errno));
    if (!st) {
        sten_train_opts o;
        memset(&o, 0, sizeof o);
        o.t = desc->training;
        o.t.seed = (uint64_t)a.seed;
        o.first_epoch = 1;
        o.epoch_done = epoch_line;
        if (cli_progress_enabled()) {
            o.progress = fm_progress;
            o.progress_every = 1; /* the line limits its own drawing */
            o.user = &o.t.epochs;
        }
        fprintf(stderr, "sten train: factorization machine, %u features, %u factors, %s, %llu examples, "
                "%u epochs\n", desc->layers[0].N, (unsigned)sten_layer_desc_get(&desc->layers[1], "Factors"),
                binary ? "binary_classifier" : "regressor", (unsigned long long)ds[0].examples, o.t.epochs);
        st = sten_net_train(ctx, net, &o);
    }
    if (!st)
        st = sten_net_save(ctx, net, model);
    if (!st && a.test && !(st = sten_net_score_ws(ctx, net, ws, pred, lab)))
        print_metrics(pred, lab, test[0].examples, binary, ctx);
    if (!st)
        fprintf(stderr, "sten train: wrote %s\n", model);
    const int rc = st ? cli_fail("train", ctx, st) : CLI_EX_OK;
    free(pred), free(lab);
    sten_workspace_free(ctx, ws);
    sten_net_free(ctx, net);
    for (int i = 0; i < 2; i++) { /* the structs are ours: clear, not sten_datasets_free */
        sten_dataset_clear(ctx, &ds[i]);
        sten_dataset_clear(ctx, &test[i]);
    }
    sten_net_desc_free(ctx, desc);
    sten_ctx_free(ctx);
    return rc;
}
