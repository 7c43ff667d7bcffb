/* cmd_train_builtin.c — `sten train --algorithm kmeans|pca|knn|linear-learner`:
 * SageMaker's k-means, PCA, k-NN and Linear Learner behind the same front door as Factorization Machines
 * (hyperparameter file, --train/--test channels, --model-dir), on dense CSV
 * rows (k-NN's and Linear Learner's with the label first). The algorithms are the library's (src/algo); this
 * file only reads, checks, calls and reports. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char cmd_train_builtin_usage[] =
    "usage: sten train --algorithm kmeans|pca|knn|linear-learner --hyperparameters HP.json\n"
    "                  --train DATA [--validation DATA] [--test DATA]\n"
    "                  --model-dir DIR\n"
    "                  [--index-base 0|1] [--stream-rows N] [--seed N] [--threads N]\n"
    "                  [--force]\n"
    "\n"
    "Trains SageMaker's k-means or PCA on dense CSV rows without a label\n"
    "column (feature_dim numbers a line; plain or gzip), or k-NN on rows with\n"
    "the label first, or Linear Learner likewise. DATA may also be\n"
    "RecordIO-protobuf (SageMaker's application/x-recordio-protobuf, told by\n"
    "its first bytes) or libsvm with --index-base (its first feature index);\n"
    "k-means, PCA and Linear Learner keep sparse rows sparse; k-NN spreads\n"
    "them out dense.\n"
    "HP.json uses SageMaker's names (strings or numbers):\n"
    "  kmeans: k, feature_dim (required), init_method, max_iterations, tol,\n"
    "          mini_batch_size, epochs, extra_center_factor, half_life_time_size,\n"
    "          local_lloyd_max_iter, local_lloyd_init_method,\n"
    "          local_lloyd_num_trials, local_lloyd_tol, eval_metrics,\n"
    "          _tuning_objective_metric (test:msd or test:ssd)\n"
    "  pca:    num_components, feature_dim, mini_batch_size (required),\n"
    "          algorithm_mode (regular, randomized), subtract_mean,\n"
    "          extra_components\n"
    "  knn:    feature_dim, k, predictor_type (classifier, regressor),\n"
    "          sample_size (required), dimension_reduction_type (none, sign,\n"
    "          fjlt), dimension_reduction_target, index_type (faiss.Flat,\n"
    "          faiss.IVFFlat, faiss.IVFPQ), index_metric (L2, INNER_PRODUCT,\n"
    "          COSINE), faiss_index_ivf_nlists, faiss_index_pq_m,\n"
    "          mini_batch_size, _tuning_objective_metric (test:accuracy or\n"
    "          test:mse)\n"
    "  linear-learner: feature_dim, predictor_type (binary_classifier,\n"
    "          regressor, multiclass_classifier; required), num_classes, loss,\n"
    "          l1, wd, learning_rate, optimizer, mini_batch_size, epochs,\n"
    "          normalize_data, normalize_label, num_models,\n"
    "          binary_classifier_model_selection_criteria, f_beta,\n"
    "          target_recall, target_precision, early_stopping_patience,\n"
    "          early_stopping_tolerance, use_bias, margin,\n"
    "          _tuning_objective_metric; eps-insensitive, quantile and huber\n"
    "          losses exit 69. --validation (linear-learner only) picks the\n"
    "          model, the threshold and stops early. --stream-rows N\n"
    "          (linear-learner, libsvm channels) reads the channels N rows at a\n"
    "          time, a pass per epoch, for data larger than memory\n"
    "Writes DIR/model.nc (refused if it exists, unless --force; exit 73), which\n"
    "sten predict -n DIR/model.nc --csv DATA scores. k-means with --test prints\n"
    "test:msd / test:ssd (eval_metrics) as JSON lines; PCA prints its explained\n"
    "variance as a JSON line; k-NN with --test prints test:accuracy\n"
    "(classifier) or test:mse (regressor); Linear Learner prints\n"
    "validation: and test: objective_loss and its predictor's metrics. Every\n"
    "algorithm prints {\"read_seconds\": R, \"fit_seconds\": F} (reading the CSV\n"
    "channels, fitting) as a JSON line. --seed (default 12134) makes a run\n"
    "repeatable.\n"
    "See docs/builtins.md.\n";

typedef struct {
    const char *algo, *hp, *train, *validation, *test, *dir;
    long long seed, threads, base; /* base: libsvm's first index (-1: not libsvm) */
    long long stream;              /* --stream-rows (0: read channels whole) */
    bool force;
} bi_args;

bool cli_builtin_algorithm(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *v = !strcmp(argv[i], "--algorithm") && i + 1 < argc ? argv[i + 1]
                      : !strncmp(argv[i], "--algorithm=", 12) ? argv[i] + 12 : NULL;
        if (v)
            return !strcmp(v, "kmeans") || !strcmp(v, "pca") || !strcmp(v, "knn") || !strcmp(v, "linear-learner");
    }
    return false;
}

static int parse(const cli_cmd *self, int argc, char **argv, bi_args *a)
{
    static const struct option opts[] = {
        {"algorithm", required_argument, NULL, 'A'}, {"hyperparameters", required_argument, NULL, 'H'},
        {"train", required_argument, NULL, 'T'},     {"test", required_argument, NULL, 'E'},
        {"model-dir", required_argument, NULL, 'M'}, {"seed", required_argument, NULL, 'S'},
        {"threads", required_argument, NULL, 't'},   {"force", no_argument, NULL, 'f'},
        {"validation", required_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'},
        {"index-base", required_argument, NULL, 'B'}, {"stream-rows", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    optind = 1;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'A': a->algo = optarg; break;
        case 'H': a->hp = optarg; break;
        case 'T': a->train = optarg; break;
        case 'E': a->test = optarg; break;
        case 'V': a->validation = optarg; break;
        case 'M': a->dir = optarg; break;
        case 'S': bad = cli_parse_int(self, "--seed", optarg, 0, INT64_MAX, &a->seed); break;
        case 't': bad = cli_parse_int(self, "--threads", optarg, 0, 1024, &a->threads); break;
        case 'f': a->force = true; break;
        case 'B': bad = cli_parse_int(self, "--index-base", optarg, 0, 1, &a->base); break;
        case 'R': bad = cli_parse_int(self, "--stream-rows", optarg, 1, UINT32_MAX - 1, &a->stream); break;
        case 'h': fputs(cmd_train_builtin_usage, stdout); return -1;
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
    if (!a->algo || (strcmp(a->algo, "kmeans") && strcmp(a->algo, "pca") && strcmp(a->algo, "knn") &&
                     strcmp(a->algo, "linear-learner")))
        return cli_usage_error(self, "unknown --algorithm '%s' (factorization-machines, kmeans, pca, knn or "
                               "linear-learner)", a->algo ? a->algo : "");
    if (a->validation && strcmp(a->algo, "linear-learner"))
        return cli_usage_error(self, "--validation: only linear-learner reads a validation channel");
    if (a->stream && (strcmp(a->algo, "linear-learner") || a->base < 0))
        return cli_usage_error(self, "--stream-rows: only linear-learner streams, from libsvm channels (give "
                               "--index-base)");
    if (a->test && !strcmp(a->algo, "pca"))
        return cli_usage_error(self, "--test: PCA reports no test metric (nor does SageMaker's)");
    return 0;
}


/* The seconds spent reading every CSV channel and fitting, as a JSON line
 * beside the metrics, so a benchmark can set the fit apart from the parse. */
static void print_seconds(double read_s, double fit_s)
{
    cli_progress_clear();
    printf("{\"read_seconds\": %.4f, \"fit_seconds\": %.4f}\n", read_s, fit_s);
    fflush(stdout);
}

static sten_status make_dir(sten_ctx *ctx, const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return sten_fail(ctx, STEN_E_IO, "%s: cannot create the model directory: %s", dir, strerror(errno));
    return STEN_OK;
}

/* A training job's channels as dense rows (labels for supervised
 * algorithms), read and checked before any training they would waste, and
 * the model directory made; read_s the seconds the reading took. */
typedef struct {
    float *X, *y, *V, *vy, *T, *ty;
    uint64_t n, nv, nt;
    double read_s;
    bool sparse;         /* unsupervised channels kept sparse (k-means, PCA): sx, st */
    sten_dataset sx, st; /* the training and test channels' rows */
} channels;

static sten_status read_channels(sten_ctx *ctx, const bi_args *a, uint32_t dim, bool labeled, channels *c)
{
    memset(c, 0, sizeof *c);
    const double t0 = cli_now_s();
    const int base = (int)a->base;
    sten_status st = cli_read_rows(ctx, a->train, dim, base, labeled, &c->X, labeled ? &c->y : NULL, &c->n);
    if (!st && a->validation)
        st = cli_read_rows(ctx, a->validation, dim, base, labeled, &c->V, labeled ? &c->vy : NULL, &c->nv);
    if (!st && a->test)
        st = cli_read_rows(ctx, a->test, dim, base, labeled, &c->T, labeled ? &c->ty : NULL, &c->nt);
    c->read_s = cli_now_s() - t0;
    return st ? st : make_dir(ctx, a->dir);
}

/* One channel kept sparse: a format that holds sparse rows (RecordIO-
 * protobuf, libsvm, a sparse NetCDF dataset) read into x, never made dense. */
static sten_status sparse_channel(sten_ctx *ctx, const bi_args *a, const char *path, uint32_t dim, sten_dataset *x)
{
    sten_status st = sten_labeled_read(ctx, path, (int)a->base, dim, "x", "y", x, NULL);
    if (!st && (!(x->attributes & STEN_DS_SPARSE) || x->index)) {
        sten_dataset_clear(ctx, x);
        st = sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: a dense dataset; give dense rows as CSV", path);
    }
    return st;
}

/* The unsupervised algorithms' channels: sparse where the training channel
 * is in a sparse format (c->sparse), else dense rows as read_channels. */
static sten_status read_unsupervised(sten_ctx *ctx, const bi_args *a, uint32_t dim, channels *c)
{
    if (cli_rows_are_csv(a->train, (int)a->base))
        return read_channels(ctx, a, dim, false, c);
    memset(c, 0, sizeof *c);
    c->sparse = true;
    const double t0 = cli_now_s();
    sten_status st = sparse_channel(ctx, a, a->train, dim, &c->sx);
    if (!st && a->test && cli_rows_are_csv(a->test, (int)a->base)) /* each channel in its own format */
        st = cli_read_rows(ctx, a->test, dim, (int)a->base, false, &c->T, NULL, &c->nt);
    else if (!st && a->test)
        st = sparse_channel(ctx, a, a->test, dim, &c->st);
    c->n = c->sx.examples;
    if (!c->T)
        c->nt = c->st.examples;
    c->read_s = cli_now_s() - t0;
    return st ? st : make_dir(ctx, a->dir);
}

static void free_channels(sten_ctx *ctx, channels *c)
{
    sten_dataset_clear(ctx, &c->sx);
    sten_dataset_clear(ctx, &c->st);
    sten_free(ctx, c->X), sten_free(ctx, c->y), sten_free(ctx, c->V), sten_free(ctx, c->vy);
    sten_free(ctx, c->T), sten_free(ctx, c->ty);
    memset(c, 0, sizeof *c);
}

static sten_status train_kmeans(sten_ctx *ctx, const bi_args *a, const char *model)
{
    sten_kmeans_opts o;
    unsigned metrics = 0;
    channels c = {0};
    sten_kmeans km;
    memset(&km, 0, sizeof km);
    uint32_t *cl = NULL;
    sten_status st = sten_kmeans_opts_from_hyperparameters(ctx, a->hp, &o, &metrics);
    o.seed = (uint64_t)a->seed;
    if (!st)
        st = read_unsupervised(ctx, a, o.feature_dim, &c);
    const bool T = c.T || c.st.examples;
    const uint64_t n = c.n, nt = c.nt;
    double t0 = cli_now_s();
    sten_kmeans_report r;
    if (!st) {
        fprintf(stderr, "sten train: k-means, k %u, %llu %s rows of %u features, threads %d\n", o.k,
                (unsigned long long)n, c.sparse ? "sparse" : "dense", o.feature_dim, sten_ctx_threads(ctx));
        t0 = cli_now_s();
        st = c.sparse ? sten_kmeans_fit_csr(ctx, &c.sx.sparse, &o, &km, &r) : sten_kmeans_fit(ctx, c.X, n, &o, &km, &r);
    }
    if (!st) {
        print_seconds(c.read_s, cli_now_s() - t0);
        fprintf(stderr, "sten train: mini-batch stage: %u centres, %u pass%s, msd %.6g; local Lloyd's: %u trials to "
                "%u centres, weighted inertia %.6g\n", r.centers, r.passes, r.passes == 1 ? "" : "es", r.stage_msd,
                r.trials, o.k, r.local_inertia);
        st = sten_kmeans_save(ctx, &km, model);
    }
    double ssd = 0;
    if (!st && T && !(cl = malloc((size_t)nt * sizeof *cl)))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st && T &&
        !(st = c.T ? sten_kmeans_assign(ctx, &km, c.T, nt, cl, NULL, &ssd)
                   : sten_kmeans_assign_csr(ctx, &km, &c.st.sparse, cl, NULL, &ssd))) {
        if (metrics & STEN_KMEANS_METRIC_MSD) /* SageMaker's metric names */
            printf("{\"test:msd\": %.9g}\n", ssd / (double)nt);
        if (metrics & STEN_KMEANS_METRIC_SSD)
            printf("{\"test:ssd\": %.9g}\n", ssd);
        fflush(stdout);
    }
    free(cl);
    sten_kmeans_free(ctx, &km);
    free_channels(ctx, &c);
    return st;
}

static sten_status train_pca(sten_ctx *ctx, const bi_args *a, const char *model)
{
    sten_pca_opts o;
    channels c = {0};
    sten_pca p;
    memset(&p, 0, sizeof p);
    sten_status st = sten_pca_opts_from_hyperparameters(ctx, a->hp, &o);
    o.seed = (uint64_t)a->seed;
    if (!st)
        st = read_unsupervised(ctx, a, o.feature_dim, &c); /* sparse rows stay sparse: sten_pca_fit_csr */
    double t0 = cli_now_s();
    const uint64_t n = c.n;
    if (!st) {
        fprintf(stderr, "sten train: PCA (%s), %u components, %llu %s rows of %u features, threads %d\n",
                o.mode == STEN_PCA_RANDOMIZED ? "randomized" : "regular", o.num_components, (unsigned long long)n,
                c.sparse ? "sparse" : "dense", o.feature_dim, sten_ctx_threads(ctx));
        t0 = cli_now_s();
        st = c.sparse ? sten_pca_fit_csr(ctx, &c.sx.sparse, &o, &p) : sten_pca_fit(ctx, c.X, n, &o, &p);
    }
    if (!st) {
        print_seconds(c.read_s, cli_now_s() - t0);
        st = sten_pca_save(ctx, &p, model);
    }
    if (!st) { /* the explained variance, as a JSON line (and its sum on stderr) */
        cli_progress_clear();
        double sum = 0;
        printf("{\"explained_variance\": [");
        for (uint32_t j = 0; j < p.n_comp; j++)
            printf(j ? ", %.9g" : "%.9g", (double)p.eigenvalues[j]);
        printf("], \"explained_variance_ratio\": [");
        for (uint32_t j = 0; j < p.n_comp; j++) {
            const double r = p.total_variance > 0 ? p.eigenvalues[j] / p.total_variance : 0.0;
            sum += r;
            printf(j ? ", %.9g" : "%.9g", r);
        }
        printf("]}\n");
        fflush(stdout);
        fprintf(stderr, "sten train: %u components explain %.4f of the variance (total variance %.6g)\n", p.n_comp,
                sum, p.total_variance);
    }
    sten_pca_free(ctx, &p);
    free_channels(ctx, &c);
    return st;
}

static sten_status train_knn(sten_ctx *ctx, const bi_args *a, const char *model)
{
    sten_knn_opts o;
    float *pred = NULL;
    channels c = {0};
    sten_knn m;
    memset(&m, 0, sizeof m);
    sten_status st = sten_knn_opts_from_hyperparameters(ctx, a->hp, &o);
    o.seed = (uint64_t)a->seed;
    if (!st)
        st = read_channels(ctx, a, o.feature_dim, true, &c);
    const float *X = c.X, *y = c.y, *T = c.T, *ty = c.ty;
    const uint64_t n = c.n, nt = c.nt;
    double t0 = cli_now_s();
    if (!st) {
        fprintf(stderr, "sten train: k-NN (%s), k %u, %llu rows of %u features, sample_size %u, threads %d\n",
                o.predictor_type == STEN_KNN_REGRESSOR ? "regressor" : "classifier", o.k, (unsigned long long)n,
                o.feature_dim, o.sample_size, sten_ctx_threads(ctx));
        t0 = cli_now_s();
        st = sten_knn_fit(ctx, X, y, n, &o, &m);
    }
    if (!st) {
        print_seconds(c.read_s, cli_now_s() - t0);
        fprintf(stderr, "sten train: index of %u points of %u values%s", m.n, m.index_dim, m.nlists ? "" : "\n");
        if (m.nlists)
            fprintf(stderr, " in %u lists (predict probes %u by default)\n", m.nlists, sten_knn_nprobe(&m, 0));
        st = sten_knn_save(ctx, &m, model);
    }
    if (!st && T && !(pred = malloc((size_t)nt * sizeof *pred)))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st && T && !(st = sten_knn_predict(ctx, &m, T, nt, 0, pred, NULL, NULL))) {
        double s = 0; /* SageMaker's metric names */
        for (uint64_t i = 0; i < nt; i++)
            s += o.predictor_type == STEN_KNN_REGRESSOR ? ((double)pred[i] - ty[i]) * ((double)pred[i] - ty[i])
                                                        : (double)(pred[i] == ty[i]);
        cli_progress_clear();
        printf(o.predictor_type == STEN_KNN_REGRESSOR ? "{\"test:mse\": %.9g}\n" : "{\"test:accuracy\": %.9g}\n",
               s / (double)nt);
        fflush(stdout);
    }
    free(pred);
    sten_knn_free(ctx, &m);
    free_channels(ctx, &c);
    return st;
}

/* Linear Learner's metrics for one channel, SageMaker's names, JSON lines. */
static void print_linear_metrics(const char *channel, sten_linear_predictor p, const sten_linear_metrics *mt)
{
    printf("{\"%s:objective_loss\": %.9g}\n", channel, mt->objective_loss);
    if (p == STEN_LINEAR_BINARY)
        printf("{\"%s:binary_classification_accuracy\": %.9g}\n{\"%s:binary_f_beta\": %.9g}\n"
               "{\"%s:precision\": %.9g}\n{\"%s:recall\": %.9g}\n", channel, mt->accuracy, channel, mt->f_beta,
               channel, mt->precision, channel, mt->recall);
    else if (p == STEN_LINEAR_REGRESSOR)
        printf("{\"%s:mse\": %.9g}\n{\"%s:absolute_loss\": %.9g}\n", channel, mt->mse, channel, mt->absolute_loss);
    else
        printf("{\"%s:multiclass_accuracy\": %.9g}\n", channel, mt->multiclass_accuracy);
}

/* One labelled channel as Linear Learner takes it: a sparse format's rows
 * (RecordIO-protobuf, libsvm, a sparse NetCDF dataset) kept sparse in x,
 * anything else as dense rows X; y the labels either way. */
typedef struct {
    float *X, *y;
    uint64_t n;
    bool sparse;
    sten_dataset x; /* when sparse */
} lchannel;

static void free_lchannel(sten_ctx *ctx, lchannel *c)
{
    sten_dataset_clear(ctx, &c->x);
    sten_free(ctx, c->X), sten_free(ctx, c->y);
    memset(c, 0, sizeof *c);
}

/* The kind a channel must come as: its own, sparse (a dense channel's
 * non-zero values gathered into a CSR) or dense (sparse rows spread out),
 * so that validation rows match the training rows. */
enum { LCH_ANY, LCH_SPARSE, LCH_DENSE };

static sten_status read_lchannel(sten_ctx *ctx, const bi_args *a, const char *path, uint32_t dim, int kind,
                                 lchannel *c)
{
    memset(c, 0, sizeof *c);
    const int base = (int)a->base;
    sten_status st = STEN_OK;
    if (kind != LCH_DENSE && !cli_rows_are_csv(path, base)) {
        sten_dataset t;
        if ((st = sten_labeled_read(ctx, path, base, dim, "x", "y", &c->x, &t)))
            return st;
        if ((c->x.attributes & STEN_DS_SPARSE) && !c->x.index && c->x.examples) {
            c->sparse = true;
            c->n = c->x.examples;
            if (!(c->y = sten_alloc(ctx, c->n * sizeof *c->y)))
                st = sten_fail(ctx, STEN_E_NOMEM, "%s: out of memory for %llu labels", path,
                               (unsigned long long)c->n);
            for (uint64_t r = 0; !st && r < c->n; r++)
                c->y[r] = t.dense[t.index ? t.index[r] : r];
            sten_dataset_clear(ctx, &t);
            if (st)
                free_lchannel(ctx, c);
            return st;
        }
        st = cli_rows_spread(ctx, path, dim, &c->x, &t, &c->X, &c->y, &c->n); /* dense rows: as they are */
    } else {
        st = cli_read_rows(ctx, path, dim, base, true, &c->X, &c->y, &c->n);
    }
    if (st)
        return st;
    if (kind != LCH_SPARSE)
        return STEN_OK;
    uint64_t nnz = 0;
    for (uint64_t i = 0; i < c->n * dim; i++)
        nnz += c->X[i] != 0;
    if (c->n > UINT32_MAX)
        st = sten_fail(ctx, STEN_E_RANGE, "%s: %llu rows (at most %u)", path, (unsigned long long)c->n, UINT32_MAX);
    if (!st)
        st = sten_csr_init(ctx, &c->x.sparse, (uint32_t)c->n, dim, nnz ? nnz : 1, true);
    for (uint64_t i = 0; !st && i < c->n; i++) {
        for (uint32_t j = 0; j < dim; j++)
            if (c->X[i * dim + j] != 0) {
                c->x.sparse.col[c->x.sparse.nnz] = j;
                c->x.sparse.val[c->x.sparse.nnz++] = c->X[i * dim + j];
            }
        c->x.sparse.row_ptr[++c->x.sparse.rows] = c->x.sparse.nnz;
    }
    if (!st) {
        c->sparse = true;
        sten_free(ctx, c->X), c->X = NULL;
    } else {
        free_lchannel(ctx, c);
    }
    return st;
}

/* Which of Linear Learner's models was kept, with its settings and loss,
 * and a binary classifier's threshold, on stderr. */
static void report_linear(const sten_linear_report *r, const sten_linear *m)
{
    const uint32_t k = r->chosen;
    fprintf(stderr, "sten train: kept model %u of %u (learning_rate %g, wd %g, l1 %g; %s loss %.6g after %u epochs)\n",
            k, r->num_models, (double)r->learning_rate[k], (double)r->wd[k], (double)r->l1[k],
            r->on_validation ? "validation" : "training", r->loss[k], r->epochs[k]);
    if (m->opts.predictor_type == STEN_LINEAR_BINARY)
        fprintf(stderr, "sten train: decision threshold %.6g\n", (double)m->threshold);
}

/* Linear Learner over libsvm channels read a->stream rows at a time: the
 * training and validation rows never held whole. */
static sten_status train_linear_stream(sten_ctx *ctx, const bi_args *a, const sten_linear_opts *o, const char *model)
{
    const char *path[3] = {a->train, a->validation, a->test};
    static const char *const name[3] = {"training", "validation", "test"};
    sten_libsvm_stream *s[3] = {NULL, NULL, NULL};
    sten_row_source src[3];
    sten_status st = STEN_OK;
    for (int k = 0; k < 3 && !st; k++)
        if (path[k] && !(st = sten_libsvm_stream_open(ctx, path[k], (int)a->base, o->feature_dim, &s[k])))
            src[k] = sten_libsvm_stream_source(s[k]);
    if (!st)
        st = make_dir(ctx, a->dir);
    sten_linear m;
    memset(&m, 0, sizeof m);
    sten_linear_report r;
    const double t0 = cli_now_s();
    if (!st) {
        fprintf(stderr, "sten train: linear-learner, %s read %lld rows at a time, %u features%s, threads %d\n",
                a->train, a->stream, o->feature_dim, s[1] ? ", with validation" : "", sten_ctx_threads(ctx));
        st = sten_linear_fit_stream(ctx, &src[0], s[1] ? &src[1] : NULL, (uint32_t)a->stream, o, &m, &r);
    }
    if (!st) {
        print_seconds(0, cli_now_s() - t0); /* the reading is inside the passes */
        report_linear(&r, &m);
        st = sten_linear_save(ctx, &m, model);
    }
    sten_linear_metrics mt;
    for (int k = 1; k < 3 && !st; k++)
        if (s[k] && !(st = sten_linear_evaluate_stream(ctx, &m, &src[k], (uint32_t)a->stream, &mt)))
            print_linear_metrics(name[k], o->predictor_type, &mt);
    fflush(stdout);
    sten_linear_free(ctx, &m);
    for (int k = 0; k < 3; k++)
        sten_libsvm_stream_close(ctx, s[k]);
    return st;
}

static sten_status train_linear(sten_ctx *ctx, const bi_args *a, const char *model)
{
    sten_linear_opts o;
    lchannel tr = {0}, va = {0}, te = {0};
    sten_linear m;
    memset(&m, 0, sizeof m);
    sten_linear_report r;
    sten_status st = sten_linear_opts_from_hyperparameters(ctx, a->hp, &o);
    o.seed = (uint64_t)a->seed;
    if (!st && a->stream)
        return train_linear_stream(ctx, a, &o, model);
    double t0 = cli_now_s();
    if (!st)
        st = read_lchannel(ctx, a, a->train, o.feature_dim, LCH_ANY, &tr);
    if (!st && a->validation) /* the validation rows follow the training rows' kind */
        st = read_lchannel(ctx, a, a->validation, o.feature_dim, tr.sparse ? LCH_SPARSE : LCH_DENSE, &va);
    if (!st && a->test)
        st = read_lchannel(ctx, a, a->test, o.feature_dim, LCH_ANY, &te);
    if (!st)
        st = make_dir(ctx, a->dir);
    const double read_s = cli_now_s() - t0;
    if (!st) {
        static const char *const pn[] = {"binary_classifier", "regressor", "multiclass_classifier"};
        fprintf(stderr, "sten train: linear-learner (%s), %llu %s rows of %u features%s, threads %d\n",
                pn[o.predictor_type], (unsigned long long)tr.n, tr.sparse ? "sparse" : "dense", o.feature_dim,
                va.n ? ", with validation" : "", sten_ctx_threads(ctx));
        t0 = cli_now_s();
        st = tr.sparse ? sten_linear_fit_csr(ctx, &tr.x.sparse, tr.y, va.n ? &va.x.sparse : NULL, va.y, &o, &m, &r)
                       : sten_linear_fit(ctx, tr.X, tr.y, tr.n, va.X, va.y, va.n, &o, &m, &r);
    }
    if (!st) {
        print_seconds(read_s, cli_now_s() - t0);
        report_linear(&r, &m);
        st = sten_linear_save(ctx, &m, model);
    }
    sten_linear_metrics mt;
    const lchannel *ch[2] = {&va, &te};
    for (int k = 0; k < 2 && !st; k++) {
        const lchannel *c = ch[k];
        if (!c->n)
            continue;
        st = c->sparse ? sten_linear_evaluate_csr(ctx, &m, &c->x.sparse, c->y, &mt)
                       : sten_linear_evaluate(ctx, &m, c->X, c->y, c->n, &mt);
        if (!st)
            print_linear_metrics(k ? "test" : "validation", o.predictor_type, &mt);
    }
    fflush(stdout);
    sten_linear_free(ctx, &m);
    free_lchannel(ctx, &tr), free_lchannel(ctx, &va), free_lchannel(ctx, &te);
    return st;
}

int cmd_train_builtin(int argc, char **argv)
{
    const cli_cmd *self = cli_find("train");
    bi_args a = {.seed = 12134, .base = -1};
    const int rc0 = parse(self, argc, argv, &a);
    if (rc0)
        return rc0 < 0 ? CLI_EX_OK : rc0;
    char model[4200];
    snprintf(model, sizeof model, "%s/model.nc", a.dir);
    const int rc1 = cli_check_model_dir("train", a.dir, model, a.force);
    if (rc1)
        return rc1;
    sten_ctx *ctx = cli_ctx_new("train");
    sten_ctx_set_threads(ctx, (int)a.threads);
    cli_progress_attach(ctx, "train");
    const sten_status st = !strcmp(a.algo, "kmeans") ? train_kmeans(ctx, &a, model)
                         : !strcmp(a.algo, "knn")    ? train_knn(ctx, &a, model)
                         : !strcmp(a.algo, "linear-learner") ? train_linear(ctx, &a, model)
                                                     : train_pca(ctx, &a, model);
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten train: wrote %s\n", model);
    const int rc = st ? cli_fail("train", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return rc;
}
