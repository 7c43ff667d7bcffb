/* cmd_train.c — `sten train`: DSSTNE's train command (-c -i -o -n -b -e and
 * -alpha -lambda -lambda1 -mu -mu1) plus long options for what DSSTNE could
 * not do: optimizer choice, threads, seed, checkpoints, resume, metrics,
 * validation with early stopping. */
#include "cli.h"
#include "report.h"

#include <getopt.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char cmd_train_usage[] =
    "usage: sten train -c CONFIG -i INPUT.nc -o OUTPUT.nc -n MODEL.nc [options]\n"
    "\n"
    "Trains the network described by a DSSTNE JSON config on the datasets of\n"
    "INPUT.nc and OUTPUT.nc (they may be the same file) and writes the model\n"
    "in DSSTNE's NetCDF model format. Settings come from the config's\n"
    "\"Training\" object; options given here override them.\n"
    "\n"
    "DSSTNE's options:\n"
    "  -c, --config FILE        network config (JSON)\n"
    "  -d NAME                  accepted as in DSSTNE's usage line, and unused as\n"
    "                           there: the config's DataSet names bind the data\n"
    "  -i, --input FILE         NetCDF file with the input dataset(s)\n"
    "  -o, --output FILE        NetCDF file with the output (target) dataset(s)\n"
    "  -n, --network FILE       model file to write (refused if it exists, see --force)\n"
    "  -b, --batch N            mini-batch size (default 1024)\n"
    "  -e, --epochs N           epochs (default 40)\n"
    "  -alpha, --alpha X        learning rate (default 0.025)\n"
    "  -lambda, --lambda X      L2 weight decay (default 0.0001)\n"
    "  -lambda1, --lambda1 X    L1 weight decay (default 0)\n"
    "  -mu, --mu X              momentum / RMSProp decay / Adam beta1 (default 0.5)\n"
    "  -mu1, --mu1 X            Adam beta2\n"
    "\n"
    "sten's options:\n"
    "      --optimizer NAME     SGD, Momentum, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam\n"
    "  -t, --threads N          threads (default: all cores)\n"
    "      --seed N             random seed (default 12134); same seed and threads\n"
    "                           give a bit-identical model\n"
    "      --checkpoint-every N write MODEL-epochE.nc every N epochs\n"
    "      --resume FILE        continue from a checkpoint (weights and optimizer state)\n"
    "      --metrics FILE       append one JSON line per epoch\n"
    "      --validate FILE      NetCDF validation data (datasets named as in training);\n"
    "                           give it twice for separate input and output files\n"
    "      --patience N         stop after N epochs without a better validation loss\n"
    "                           (or --select metric)\n"
    "      --select METRIC      what --patience and --keep-best follow: loss (the\n"
    "                           default), recall@K or ndcg@K: the network ranks every\n"
    "                           item for each validation example but its input items\n"
    "                           (fold-in history) and scores the top K against its\n"
    "                           output items (held out); both metrics are printed\n"
    "                           and written to --metrics each epoch (docs/quality.md)\n"
    "      --keep-best          write the weights of the best validation epoch\n"
    "      --validate-users N   hold N users (examples) of the training data out as\n"
    "                           validation users instead of --validate: each one's\n"
    "                           input keeps a random 80% of its items, its output\n"
    "                           the other 20% (the same draw for the same --seed)\n"
    "      --test FILE          NetCDF test data (as --validate) for a one-unit output:\n"
    "                           after each epoch, prints {\"epoch\", \"test:auc\",\n"
    "                           \"test:logloss\", \"test:accuracy\"} as a JSON line (and\n"
    "                           adds them to --metrics)\n"
    "      --report FILE        at the end, an HTML report (docs/report.md): loss and\n"
    "                           validation per epoch, the model's item embeddings\n"
    "      --force              overwrite MODEL.nc, checkpoints and the report that\n"
    "                           exist (refused otherwise, exit 73, before training starts)\n"
    "      --parallel data      under mpirun -np P (a build with MPI): each rank reads\n"
    "                           every P-th example of the data, takes batch/P of every\n"
    "                           batch, and the gradients are summed over the ranks\n"
    "                           before each update: the model of one process with the\n"
    "                           same batch (docs/scale-out.md). Rank 0 writes the model,\n"
    "                           checkpoints, metrics and report\n"
    "      --parallel model     DSSTNE's scheme: each rank holds an item range of the\n"
    "                           input and output layers and sees every example; only\n"
    "                           batch x hidden activations cross the wire\n"
    "      --precision P        fp32 (default), bf16 or auto: bf16 products take bf16\n"
    "                           inputs with fp32 sums, weights stay fp32 (needs a CPU\n"
    "                           with AVX-512 BF16; AMX tiles where present); auto\n"
    "                           takes bf16 only where it measured faster here (sten\n"
    "                           info; see docs/performance.md)\n"
    "  -h, --help               this text\n"
    "\n"
    "sten train --algorithm factorization-machines ... trains SageMaker's\n"
    "Factorization Machines instead; --algorithm kmeans, pca, knn or linear-learner\n"
    "its k-means, PCA, k-NN or Linear Learner (sten train --algorithm x --help;\n"
    "docs/builtins.md).\n";

enum {
    OPT_ALPHA = 256, OPT_LAMBDA, OPT_LAMBDA1, OPT_MU, OPT_MU1, OPT_OPTIMIZER, OPT_SEED,
    OPT_CKPT, OPT_RESUME, OPT_METRICS, OPT_VALIDATE, OPT_PATIENCE, OPT_FORCE, OPT_PRECISION,
    OPT_TEST, OPT_REPORT, OPT_PARALLEL, OPT_SELECT, OPT_KEEP_BEST, OPT_VALIDATE_USERS
};

typedef struct {
    const char *config, *input, *output, *network, *resume, *metrics, *validate, *validate2;
    const char *test, *test2, *dsstne_name, *report;
    rep_metrics *rep; /* this run's metrics lines, for --report */
    sten_workspace *test_ws; /* over the test data: scores and labels each epoch */
    float *test_p, *test_y;
    long long batch, epochs, threads, seed, ckpt, patience, validate_users;
    sten_select select;
    uint32_t rank_k; /* --select recall@K / ndcg@K */
    bool keep_best;
    double alpha, lambda, lambda1, mu, mu1;
    int optimizer;
    sten_precision precision;
    bool force;
    sten_parallel parallel;
    int rank; /* MPI rank (0 alone): only rank 0 writes and reports */
    FILE *metrics_f;
    sten_ctx *ctx;
    uint32_t epochs_total; /* for the progress line */
} train_args;

static int parse_float(const cli_cmd *self, const char *opt, const char *s, double lo, double hi,
                       double *out)
{
    if (sten_parse_double(s, strlen(s), out) != STEN_OK || *out < lo || *out > hi)
        return cli_usage_error(self, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, s);
    return 0;
}

static int parse_args(const cli_cmd *self, int argc, char **argv, train_args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"input", required_argument, NULL, 'i'},
        {"dataset", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},   {"network", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},    {"epochs", required_argument, NULL, 'e'},
        {"threads", required_argument, NULL, 't'},  {"help", no_argument, NULL, 'h'},
        {"alpha", required_argument, NULL, OPT_ALPHA},
        {"lambda", required_argument, NULL, OPT_LAMBDA},
        {"lambda1", required_argument, NULL, OPT_LAMBDA1},
        {"mu", required_argument, NULL, OPT_MU},    {"mu1", required_argument, NULL, OPT_MU1},
        {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
        {"seed", required_argument, NULL, OPT_SEED},
        {"checkpoint-every", required_argument, NULL, OPT_CKPT},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"validate", required_argument, NULL, OPT_VALIDATE},
        {"patience", required_argument, NULL, OPT_PATIENCE},
        {"force", no_argument, NULL, OPT_FORCE},
        {"precision", required_argument, NULL, OPT_PRECISION},
        {"test", required_argument, NULL, OPT_TEST},
        {"report", required_argument, NULL, OPT_REPORT},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"select", required_argument, NULL, OPT_SELECT},
        {"keep-best", no_argument, NULL, OPT_KEEP_BEST},
        {"validate-users", required_argument, NULL, OPT_VALIDATE_USERS},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    opterr = 0;
    /* long_only: DSSTNE spells its hidden options -alpha, -lambda, ... */
    while (!bad && (c = getopt_long_only(argc, argv, ":c:d:i:o:n:b:e:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': a->config = optarg; break;
        case 'd': a->dsstne_name = optarg; break;
        case 'i': a->input = optarg; break;
        case 'o': a->output = optarg; break;
        case 'n': a->network = optarg; break;
        case 'b': bad = cli_parse_int(self, "--batch", optarg, 1, 1 << 24, &a->batch); break;
        case 'e': bad = cli_parse_int(self, "--epochs", optarg, 1, 1000000, &a->epochs); break;
        case 't': bad = cli_parse_int(self, "--threads", optarg, 0, 1024, &a->threads); break;
        case OPT_PRECISION: bad = cli_parse_precision(self, optarg, &a->precision); break;
        case OPT_ALPHA: bad = parse_float(self, "-alpha", optarg, 0, 1e6, &a->alpha); break;
        case OPT_LAMBDA: bad = parse_float(self, "-lambda", optarg, 0, 1e6, &a->lambda); break;
        case OPT_LAMBDA1: bad = parse_float(self, "-lambda1", optarg, 0, 1e6, &a->lambda1); break;
        case OPT_MU: bad = parse_float(self, "-mu", optarg, 0, 0.999999, &a->mu); break;
        case OPT_MU1: bad = parse_float(self, "-mu1", optarg, 0, 0.999999, &a->mu1); break;
        case OPT_OPTIMIZER: {
            static const char *const names[] = {"sgd", "momentum", "adagrad", "nesterov",
                                                "rmsprop", "adadelta", "adam"};
            a->optimizer = -1;
            for (int k = 0; k < 7; k++)
                if (!strcasecmp(optarg, names[k]))
                    a->optimizer = k;
            if (a->optimizer < 0)
                bad = cli_usage_error(self, "unknown optimizer '%s' (expected SGD, Momentum, "
                                            "Nesterov, AdaGrad, RMSProp, AdaDelta or Adam)", optarg);
            break;
        }
        case OPT_SEED: bad = cli_parse_int(self, "--seed", optarg, 0, INT64_MAX, &a->seed); break;
        case OPT_CKPT: bad = cli_parse_int(self, "--checkpoint-every", optarg, 0, 1000000, &a->ckpt); break;
        case OPT_PATIENCE: bad = cli_parse_int(self, "--patience", optarg, 0, 1000000, &a->patience); break;
        case OPT_RESUME: a->resume = optarg; break;
        case OPT_METRICS: a->metrics = optarg; break;
        case OPT_REPORT: a->report = optarg; break;
        case OPT_VALIDATE:
            if (a->validate && a->validate2)
                return cli_usage_error(self, "--validate takes an input and an output file at most");
            *(a->validate ? &a->validate2 : &a->validate) = optarg;
            break;
        case OPT_TEST:
            if (a->test && a->test2)
                return cli_usage_error(self, "--test takes an input and an output file at most");
            *(a->test ? &a->test2 : &a->test) = optarg;
            break;
        case OPT_FORCE: a->force = true; break;
        case OPT_KEEP_BEST: a->keep_best = true; break;
        case OPT_VALIDATE_USERS:
            bad = cli_parse_int(self, "--validate-users", optarg, 1, UINT32_MAX, &a->validate_users);
            break;
        case OPT_SELECT: {
            const char *at = strchr(optarg, '@');
            long long k = 0;
            const size_t n = at ? (size_t)(at - optarg) : strlen(optarg);
            if (!at && !strcasecmp(optarg, "loss")) {
                a->select = STEN_SELECT_LOSS;
                break;
            }
            if (at && n == 6 && !strncasecmp(optarg, "recall", 6))
                a->select = STEN_SELECT_RECALL;
            else if (at && n == 4 && !strncasecmp(optarg, "ndcg", 4))
                a->select = STEN_SELECT_NDCG;
            else
                return cli_usage_error(self, "--select expects loss, recall@K or ndcg@K, got '%s'", optarg);
            bad = cli_parse_int(self, "--select's K", at + 1, 1, 100000, &k);
            a->rank_k = (uint32_t)k;
            break;
        }
        case OPT_PARALLEL:
            if (!strcasecmp(optarg, "data"))
                a->parallel = STEN_PARALLEL_DATA;
            else if (!strcasecmp(optarg, "model"))
                a->parallel = STEN_PARALLEL_MODEL;
            else
                return cli_usage_error(self, "--parallel expects data or model, got '%s'", optarg);
            break;
        case 'h':
            cli_print_usage(stdout, self);
            exit(CLI_EX_OK);
        case ':':
            return cli_usage_error(self, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(self, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (bad)
        return CLI_EX_USAGE;
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    const char *missing = !a->config ? "-c CONFIG" : !a->input ? "-i INPUT.nc"
                        : !a->output ? "-o OUTPUT.nc" : !a->network ? "-n MODEL.nc" : NULL;
    if (missing)
        return cli_usage_error(self, "%s is required", missing);
    if (a->validate && a->validate_users)
        return cli_usage_error(self, "--validate and --validate-users both name validation data; give one");
    const bool validating = a->validate || a->validate_users;
    if (a->patience && !validating)
        return cli_usage_error(self, "--patience needs --validate");
    if (a->keep_best && !validating)
        return cli_usage_error(self, "--keep-best needs --validate");
    if (a->rank_k && !validating)
        return cli_usage_error(self, "--select %s needs --validate (the validation users' fold-in "
                               "items as input, their held-out items as output)",
                               a->select == STEN_SELECT_RECALL ? "recall@K" : "ndcg@K");
    return 0;
}

/* Command-line values override the config's Training object. */
static void apply_overrides(const train_args *a, sten_train_desc *t)
{
    if (a->batch) t->batch_size = (uint32_t)a->batch;
    if (a->epochs) t->epochs = (uint32_t)a->epochs;
    if (a->optimizer >= 0) t->optimizer = (sten_optimizer)a->optimizer;
    if (a->seed >= 0) t->seed = (uint64_t)a->seed;
    if (a->ckpt >= 0) t->checkpoint_interval = (uint32_t)a->ckpt;
    if (!isnan(a->alpha)) t->alpha = (float)a->alpha;
    if (!isnan(a->lambda)) t->lambda = (float)a->lambda;
    if (!isnan(a->lambda1)) t->lambda1 = (float)a->lambda1;
    if (!isnan(a->mu)) { t->mu = (float)a->mu; t->set |= 1u << STEN_TRAIN_MU; }
    if (!isnan(a->mu1)) { t->mu1 = (float)a->mu1; t->set |= 1u << STEN_TRAIN_MU1; }
    sten_train_desc_resolve(t);
}

/* The progress line within an epoch (set only when the line is shown). */
static void progress(void *user, const sten_train_progress *p)
{
    cli_progress_train(((const train_args *)user)->epochs_total, p);
}

static void checkpoint_name(const char *network, uint32_t epoch, char *out, size_t n)
{
    size_t len = strlen(network);
    if (len > 3 && !strcmp(network + len - 3, ".nc"))
        len -= 3;
    snprintf(out, n, "%.*s-epoch%u.nc", (int)len, network, epoch);
}

static sten_status save_checkpoint(train_args *a, const sten_net *net, uint32_t epoch)
{
    char path[4096];
    checkpoint_name(a->network, epoch, path, sizeof path);
    sten_status st = sten_net_save(a->ctx, net, path);
    if (!st && a->rank == 0)
        sten_log(a->ctx, STEN_LOG_INFO, "checkpoint %s", path);
    return st;
}

static sten_status epoch_done(void *user, const sten_net *net, const sten_epoch_stats *s)
{
    train_args *a = user;
    const sten_train_desc *t = &sten_net_description(net)->training;
    sten_score_metrics m;
    cli_progress_clear();
    const bool ckpt = t->checkpoint_interval && s->epoch % t->checkpoint_interval == 0;
    if (a->rank != 0) /* rank 0 reports and writes for the group (model parallel: with the others' shards) */
        return ckpt && a->parallel == STEN_PARALLEL_MODEL ? save_checkpoint(a, net, s->epoch) : STEN_OK;
    if (a->test_ws) { /* click-through metrics on the test data, SageMaker's names */
        sten_status st = sten_net_score_ws(a->ctx, net, a->test_ws, a->test_p, a->test_y);
        if (!st)
            st = sten_eval_scores(a->ctx, a->test_p, a->test_y, sten_workspace_examples(a->test_ws), &m);
        if (st)
            return st;
        printf("{\"epoch\": %u, \"test:auc\": %.6f, \"test:logloss\": %.6f, \"test:accuracy\": %.6f}\n",
               s->epoch, m.auc, m.logloss, m.accuracy);
        fflush(stdout);
    }
    if (a->metrics_f || a->rep) { /* one JSON line, for the --metrics file and the report */
        char line[1024];
        int n = snprintf(line, sizeof line,
                         "{\"epoch\": %u, \"loss\": %.9g, \"reg\": %.9g, \"seconds\": %.6f, "
                         "\"examples_per_s\": %.3f, \"alpha\": %.9g, \"skipped_batches\": %llu",
                         s->epoch, s->loss, s->reg, s->seconds, s->examples_per_s, s->alpha,
                         (unsigned long long)s->skipped);
        if (!isnan(s->valid_loss))
            n += snprintf(line + n, sizeof line - (size_t)n, ", \"valid_loss\": %.9g", s->valid_loss);
        if (a->rank_k) { /* null when no validation example held out an item (JSON has no NaN) */
            char r[32] = "null", g[32] = "null";
            if (!isnan(s->valid_recall))
                snprintf(r, sizeof r, "%.9g", s->valid_recall);
            if (!isnan(s->valid_ndcg))
                snprintf(g, sizeof g, "%.9g", s->valid_ndcg);
            n += snprintf(line + n, sizeof line - (size_t)n, ", \"valid_recall@%u\": %s, \"valid_ndcg@%u\": %s",
                          a->rank_k, r, a->rank_k, g);
        }
        if (a->test_ws)
            n += snprintf(line + n, sizeof line - (size_t)n,
                          ", \"test:auc\": %.9g, \"test:logloss\": %.9g, \"test:accuracy\": %.9g",
                          m.auc, m.logloss, m.accuracy);
        snprintf(line + n, sizeof line - (size_t)n, "}");
        if (a->rep) {
            const sten_status st = rep_metrics_add_line(a->ctx, a->rep, line, strlen(line), "sten train", s->epoch);
            if (st)
                return st;
        }
        if (a->metrics_f && (fprintf(a->metrics_f, "%s\n", line) < 0 || fflush(a->metrics_f) != 0))
            return sten_fail(a->ctx, STEN_E_IO, "%s: cannot write metrics", a->metrics);
    }
    char valid[160] = "";
    if (a->rank_k && isnan(s->valid_ndcg))
        snprintf(valid, sizeof valid, "; no validation example holds out an item: recall and NDCG cannot be "
                 "measured (are the validation output's items all in its input?)");
    else if (a->rank_k)
        snprintf(valid, sizeof valid, "; validation recall@%u %.4f, ndcg@%u %.4f%s", a->rank_k, s->valid_recall,
                 a->rank_k, s->valid_ndcg, s->best && a->keep_best ? " (best so far)" : "");
    else if (!isnan(s->valid_loss))
        snprintf(valid, sizeof valid, "; validation loss %.6f%s", s->valid_loss,
                 s->best && a->keep_best ? " (best so far)" : "");
    fprintf(stderr, "sten train: epoch %u: loss %.6f per example, %.1f s, %.0f examples/s%s\n",
            s->epoch, s->loss, s->seconds, s->examples_per_s, valid);
    return ckpt ? save_checkpoint(a, net, s->epoch) : STEN_OK;
}

/* What train writes, checked before any work: MODEL.nc is refused if it
 * exists (unless --force), and its directory must be writable, so a run is
 * not lost at its end. Returns 0 or 73. */
static int check_outputs(const train_args *a)
{
    int rc = cli_check_output("train", a->network, a->force);
    if (!rc)
        rc = cli_check_output("train", a->report, a->force);
    if (rc)
        return rc;
    char dir[4096];
    const char *slash = strrchr(a->network, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - a->network) + 1 : 1, slash ? a->network : ".");
    if (access(dir, W_OK) != 0) {
        fprintf(stderr, "sten train: %s: cannot write the model there: %s\n", dir, strerror(errno));
        return CLI_EX_CANTCREAT;
    }
    return 0;
}

/* The checkpoints a run of epochs first..t->epochs writes: refused if they
 * exist, as MODEL.nc is (before training, once a resumed run knows where it
 * starts). */
static int check_checkpoints(const train_args *a, const sten_train_desc *t, uint32_t first)
{
    const uint32_t every = t->checkpoint_interval;
    for (uint32_t e = every ? (first + every - 1) / every * every : 0; every && e <= t->epochs; e += every) {
        char path[4096];
        checkpoint_name(a->network, e, path, sizeof path);
        const int rc = cli_check_output("train", path, a->force);
        if (rc)
            return rc;
    }
    return 0;
}

/* Reads the datasets of INPUT and OUTPUT (once if they are one file):
 * stripe `part` of `parts` of their examples (all: 0 of 1). */
static sten_status load_data(sten_ctx *ctx, const char *in, const char *out, uint32_t part, uint32_t parts,
                             sten_dataset **ds, size_t *n)
{
    sten_dataset *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    sten_status st = sten_dataset_read_netcdf_part(ctx, in, part, parts, &a, &na);
    if (!st && strcmp(in, out) != 0)
        st = sten_dataset_read_netcdf_part(ctx, out, part, parts, &b, &nb);
    if (st) {
        sten_datasets_free(ctx, a, na);
        return st;
    }
    if (!nb) {
        *ds = a;
        *n = na;
        return STEN_OK;
    }
    sten_dataset *all = sten_alloc(ctx, (na + nb) * sizeof *all);
    if (!all) {
        sten_datasets_free(ctx, a, na);
        sten_datasets_free(ctx, b, nb);
        return STEN_E_NOMEM;
    }
    memcpy(all, a, na * sizeof *a);
    memcpy(all + na, b, nb * sizeof *b);
    sten_free(ctx, a); /* the arrays, not the datasets they held */
    sten_free(ctx, b);
    *ds = all;
    *n = na + nb;
    return STEN_OK;
}

int cmd_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) /* the SageMaker-style front door */
        if (!strncmp(argv[i], "--algorithm", 11)) {
            if (cli_mpi_size() > 1) {
                if (cli_mpi_rank() == 0)
                    fprintf(stderr, "sten train: --algorithm runs as one process (across MPI ranks, train a "
                                    "Factorization Machine from a network config: docs/scale-out.md)\n");
                return CLI_EX_USAGE;
            }
            return cli_builtin_algorithm(argc, argv) ? cmd_train_builtin(argc, argv) : cmd_train_fm(argc, argv);
        }
    const cli_cmd *self = cli_find("train");
    train_args a = {.batch = 0, .epochs = 0, .threads = 0, .seed = -1, .ckpt = -1,
                    .alpha = NAN, .lambda = NAN, .lambda1 = NAN, .mu = NAN, .mu1 = NAN,
                    .optimizer = -1};
    int rc = parse_args(self, argc, argv, &a);
    if (rc)
        return rc;
    const int ranks = cli_mpi_size();
    a.rank = cli_mpi_rank();
    if (ranks > 1 && !a.parallel)
        a.parallel = STEN_PARALLEL_DATA; /* the default scheme */
    if (ranks == 1)
        a.parallel = STEN_PARALLEL_NONE; /* one process: the options mean nothing */
    const bool mp = a.parallel == STEN_PARALLEL_MODEL;
    if (mp && (a.test || a.precision == STEN_PRECISION_BF16)) {
        if (a.rank == 0)
            fprintf(stderr, "sten train: --parallel model does not take %s (docs/scale-out.md)\n",
                    a.test ? "--test (its metrics need a one-unit output, which model parallelism does not split)"
                           : "--precision bf16 yet");
        return CLI_EX_USAGE;
    }
    if (ranks > 1 && a.validate_users) {
        if (a.rank == 0)
            fprintf(stderr, "sten train: --validate-users runs as one process (across ranks, give --validate files)\n");
        return CLI_EX_USAGE;
    }
    if ((rc = check_outputs(&a)))
        return rc;
    sten_ctx *ctx = a.ctx = cli_ctx_new("train");
    if (a.dsstne_name)
        sten_log(ctx, STEN_LOG_DEBUG, "-d %s: accepted for DSSTNE's usage line; the config's DataSet names "
                 "bind the data", a.dsstne_name);
    sten_ctx_set_threads(ctx, (int)a.threads);
    cli_progress_attach(ctx, "train");
    sten_net_desc *desc = NULL;
    sten_dataset *ds = NULL, *valid = NULL, *test = NULL;
    size_t n_ds = 0, n_valid = 0, n_test = 0;
    sten_net *net = NULL;
    int refused = 0; /* an output that exists: 73 */
    sten_status st = sten_net_desc_load(ctx, a.config, &desc);
    if (!st && !a.resume) { /* a fresh run's checkpoints, before any data is read */
        sten_train_desc t = desc->training;
        apply_overrides(&a, &t);
        if ((rc = check_checkpoints(&a, &t, 1))) {
            sten_net_desc_free(ctx, desc);
            sten_ctx_free(ctx);
            return rc;
        }
    }
    if (!st) /* data parallel: this rank's stripe of the training data; the
                validation and test data whole, so every rank judges alike */
        st = mp ? load_data(ctx, a.input, a.output, 0, 1, &ds, &n_ds) /* every example, split by items */
                : load_data(ctx, a.input, a.output, (uint32_t)a.rank, (uint32_t)ranks, &ds, &n_ds);
    if (!st && a.validate)
        st = load_data(ctx, a.validate, a.validate2 ? a.validate2 : a.validate, 0, 1, &valid, &n_valid);
    if (!st && a.validate_users) { /* validation users from the training data itself */
        bool *is_input = calloc(n_ds ? n_ds : 1, sizeof *is_input);
        sten_dataset *tr = NULL;
        if (!is_input)
            st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
        for (size_t k = 0; !st && k < n_ds; k++) {
            bool is_output = false;
            for (uint32_t l = 0; l < desc->n_layers; l++) {
                const bool named = !strcmp(desc->layers[l].dataset, ds[k].name);
                is_input[k] |= named && desc->layers[l].kind == STEN_LAYER_INPUT;
                is_output |= named && desc->layers[l].kind == STEN_LAYER_OUTPUT;
            }
            if (is_input[k] && is_output) /* its fold-in would also be the targets, and excluded from the lists */
                st = sten_fail(ctx, STEN_E_INVALID, "--validate-users: dataset %s feeds both an Input and an Output "
                               "layer; held-out items need an output dataset of their own (generate-netcdf the same "
                               "file as gl_input and gl_output)", ds[k].name);
        }
        const uint64_t seed = a.seed >= 0 ? (uint64_t)a.seed : desc->training.seed;
        if (!st)
            st = sten_holdout_users(ctx, ds, n_ds, is_input, (uint32_t)a.validate_users, 0.2, seed, &tr, &valid);
        free(is_input);
        if (!st) {
            sten_datasets_free(ctx, ds, n_ds);
            ds = tr;
            n_valid = n_ds;
            fprintf(stderr, "sten train: %lld validation users held out of %llu (20%% of each one's items to "
                    "find from the rest)\n", a.validate_users, (unsigned long long)(ds[0].examples + a.validate_users));
        }
    }
    if (!st && a.test)
        st = load_data(ctx, a.test, a.test2 ? a.test2 : a.test, 0, 1, &test, &n_test);
    sten_train_opts o;
    memset(&o, 0, sizeof o);
    if (!st) {
        o.t = desc->training;
        apply_overrides(&a, &o.t);
        if (a.resume) {
            st = cli_explain_model(ctx, a.resume, mp ? sten_net_load_sharded(ctx, a.resume, ds, n_ds, o.t.batch_size,
                                                                             true, cli_mpi_comm(), &net)
                                                   : sten_net_load(ctx, a.resume, ds, n_ds, o.t.batch_size, true,
                                                                &net));
            o.first_epoch = net ? sten_net_epoch(net) + 1 : 1;
        } else {
            st = mp ? sten_net_build_sharded(ctx, desc, ds, n_ds, o.t.batch_size, cli_mpi_comm(), &net)
                    : sten_net_build(ctx, desc, ds, n_ds, o.t.batch_size, &net);
            if (!st)
                st = sten_net_init_weights(ctx, net, o.t.seed);
            o.first_epoch = 1;
        }
        if (!st && !mp) /* model parallel: fp32 (the split delta sums are fp32) */
            st = cli_set_precision(ctx, net, a.precision);
        if (!st && a.resume && (refused = check_checkpoints(&a, &o.t, o.first_epoch)))
            st = STEN_E_INVALID; /* said on stderr; the exit code is refused's */
    }
    if (!st && test && !(st = sten_workspace_new_on(ctx, net, test, n_test, o.t.batch_size, &a.test_ws))) {
        const uint64_t n = sten_workspace_examples(a.test_ws);
        a.test_p = malloc((size_t)(n ? n : 1) * sizeof *a.test_p);
        a.test_y = malloc((size_t)(n ? n : 1) * sizeof *a.test_y);
        if (!a.test_p || !a.test_y)
            st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
        else /* a network the metrics cannot apply to is refused now, not after an epoch */
            st = sten_net_score_ws(ctx, net, a.test_ws, a.test_p, a.test_y);
    }
    if (!st && a.report && a.rank == 0)
        st = rep_metrics_new(ctx, &a.rep);
    if (!st && a.metrics && a.rank == 0 && !(a.metrics_f = fopen(a.metrics, "a")))
        st = sten_fail(ctx, STEN_E_IO, "%s: cannot open for appending", a.metrics);
    if (!st) {
        o.valid = valid;
        o.n_valid = n_valid;
        o.patience = (uint32_t)a.patience;
        o.rank_k = a.rank_k;
        o.select = a.select;
        o.keep_best = a.keep_best;
        o.progress = cli_progress_enabled() ? progress : NULL;
        o.progress_every = 1; /* the line limits its own drawing */
        a.epochs_total = o.t.epochs;
        o.epoch_done = epoch_done;
        o.user = &a;
        o.comm = cli_mpi_comm();
        o.parallel = a.parallel;
        char par[128] = "";
        uint32_t held = 0, tables = 0;
        if (ranks > 1 && mp && sten_net_tables_held(net, &held, &tables))
            snprintf(par, sizeof par, " (model parallel over %d ranks: each holds whole Embedding tables, "
                     "rank 0 %u of the %u)", ranks, held, tables);
        else if (ranks > 1 && mp)
            snprintf(par, sizeof par, " (model parallel over %d ranks: each holds 1/%d of the items)", ranks, ranks);
        else if (ranks > 1)
            snprintf(par, sizeof par, " on rank 0 (data parallel over %d ranks, %u of every batch each)", ranks,
                     o.t.batch_size / (uint32_t)ranks);
        if (a.rank == 0 || ranks == 1)
            fprintf(stderr, "sten train: %llu examples%s, batch %u, epochs %u..%u, %s, alpha %g, threads %d, %s\n",
                    (unsigned long long)sten_net_examples(net), par, o.t.batch_size, o.first_epoch,
                    o.t.epochs, sten_optimizer_name(o.t.optimizer), o.t.alpha, sten_ctx_threads(ctx),
                    sten_net_precision(net) == STEN_PRECISION_BF16 ? "bf16" : "fp32");
        st = sten_net_train(ctx, net, &o);
    }
    if (!st && (a.rank == 0 || mp)) /* model parallel: collective */
        st = sten_net_save(ctx, net, a.network);
    if (!st && a.report && a.rank == 0) { /* from this run's metrics and the model just written */
        char title[512];
        snprintf(title, sizeof title, "sten train: %s", a.config);
        const rep_inputs ri = {.title = title, .metrics = a.rep, .metrics_src = "this run of sten train",
                               .model = a.network, .max_points = 3000};
        st = rep_write(ctx, &ri, a.report);
        if (!st)
            fprintf(stderr, "sten train: wrote %s\n", a.report);
    }
    if (a.metrics_f)
        fclose(a.metrics_f);
    const uint32_t done = net && sten_net_epoch(net) > 0 ? sten_net_epoch(net) - 1 : 0;
    if (st && !refused && o.t.checkpoint_interval && done >= o.t.checkpoint_interval) {
        char path[4096];
        checkpoint_name(a.network, done / o.t.checkpoint_interval * o.t.checkpoint_interval, path,
                        sizeof path);
        fprintf(stderr, "sten train: the last good checkpoint is %s\n", path);
    }
    rc = refused ? refused : st ? cli_fail("train", ctx, st) : CLI_EX_OK;
    if (!st && a.rank == 0)
        fprintf(stderr, "sten train: wrote %s\n", a.network);
    sten_workspace_free(ctx, a.test_ws);
    rep_metrics_free(a.rep);
    free(a.test_p), free(a.test_y);
    sten_net_free(ctx, net);
    sten_datasets_free(ctx, ds, n_ds);
    sten_datasets_free(ctx, valid, n_valid);
    sten_datasets_free(ctx, test, n_test);
    sten_net_desc_free(ctx, desc);
    sten_ctx_free(ctx);
    return rc;
}
