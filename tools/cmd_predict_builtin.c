/* cmd_predict_builtin.c — `sten predict -n MODEL --csv DATA` (or --data
 * DATA: RecordIO-protobuf, SageMaker's JSON instances, libsvm with
 * --index-base, or CSV): scores rows with a k-means, PCA, k-NN or Linear
 * Learner model (sten train
 * --algorithm kmeans|pca|knn|linear-learner) in SageMaker's response shapes:
 * {"closest_cluster", "distance_to_cluster"} per row for k-means,
 * {"projection": [...]} for PCA, {"predicted_label"} (--verbose: with
 * "labels" and "distances") for k-NN, {"score", "predicted_label"} (no label
 * for the regressor, a list of scores for multiclass) for Linear Learner;
 * all of them in {"predictions": [...]} (json) or one object per line
 * (jsonl). */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *csv, *output;
    long long threads, nprobe, base; /* base: libsvm's first index (-1: not libsvm) */
    long long stream;                /* --stream-rows: linear models over libsvm, a chunk at a time */
    int format; /* 1 json, 2 jsonl */
    bool force, verbose;
} bp_args;

static int parse(const cli_cmd *self, int argc, char **argv, bp_args *a)
{
    static const struct option opts[] = {
        {"network", required_argument, NULL, 'n'}, {"csv", required_argument, NULL, 'C'},
        {"output", required_argument, NULL, 's'},  {"format", required_argument, NULL, 'F'},
        {"threads", required_argument, NULL, 't'}, {"force", no_argument, NULL, 'O'},
        {"verbose", no_argument, NULL, 'V'},       {"nprobe", required_argument, NULL, 'P'},
        {"data", required_argument, NULL, 'C'},    {"index-base", required_argument, NULL, 'B'},
        {"stream-rows", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    optind = 1;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":n:s:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': a->model = optarg; break;
        case 'C': a->csv = optarg; break;
        case 's': a->output = optarg; break;
        case 'O': a->force = true; break;
        case 'V': a->verbose = true; break;
        case 'P': bad = cli_parse_int(self, "--nprobe", optarg, 1, UINT32_MAX, &a->nprobe); break;
        case 'B': bad = cli_parse_int(self, "--index-base", optarg, 0, 1, &a->base); break;
        case 'R': bad = cli_parse_int(self, "--stream-rows", optarg, 1, UINT32_MAX - 1, &a->stream); break;
        case 't': bad = cli_parse_int(self, "--threads", optarg, 0, 1024, &a->threads); break;
        case 'F':
            a->format = !strcmp(optarg, "json") ? 1 : !strcmp(optarg, "jsonl") ? 2 : -1;
            if (a->format < 0)
                bad = cli_usage_error(self, "--format expects json or jsonl with --csv (k-means, PCA, k-NN and "
                                      "linear models answer with objects, not scores), got '%s'", optarg);
            break;
        case 'h': cli_print_usage(stdout, self); return -1;
        default: bad = cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return bad;
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    const char *m = !a->model ? "-n MODEL" : !a->output ? "-s OUTPUT" : !a->csv ? "--csv DATA (or --data)" : NULL;
    if (!m && a->stream && a->base < 0)
        return cli_usage_error(self, "--stream-rows reads libsvm rows: give --index-base 0 or 1");
    return m ? cli_usage_error(self, "%s is required", m) : 0;
}

/* One response object: k-means (cluster, distance) or PCA (a row of Y). */
static void write_one(FILE *f, const uint32_t *cl, const float *dist, const float *Y, uint32_t w, uint64_t i)
{
    if (cl) {
        fprintf(f, "{\"closest_cluster\": %u, \"distance_to_cluster\": %.9g}", cl[i], (double)dist[i]);
        return;
    }
    fputs("{\"projection\": [", f);
    for (uint32_t j = 0; j < w; j++)
        fprintf(f, j ? ", %.9g" : "%.9g", (double)Y[i * w + j]);
    fputs("]}", f);
}

static void write_all(FILE *f, int format, const uint32_t *cl, const float *dist, const float *Y, uint32_t w,
                      uint64_t n)
{
    if (format == 1)
        fputs("{\"predictions\": [", f);
    for (uint64_t i = 0; i < n; i++) {
        if (format == 1 && i)
            fputs(", ", f);
        write_one(f, cl, dist, Y, w, i);
        if (format == 2)
            fputc('\n', f);
    }
    if (format == 1)
        fputs("]}\n", f);
}

/* v in the fewest digits that read back as the same float (1.8, not
 * 1.79999995). */
static void put_float(FILE *f, const char *sep, float v)
{
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    fprintf(f, "%s%s", sep, buf);
}

/* One k-NN response: SageMaker's predicted_label; verbose, the k
 * neighbours' labels and distances, nearest first. */
static void write_knn(FILE *f, const sten_knn *m, const float *pred, const uint32_t *ids, const float *dist,
                      uint64_t i)
{
    put_float(f, "{\"predicted_label\": ", pred[i]);
    if (ids) {
        const uint32_t K = m->opts.k;
        fputs(", \"labels\": [", f);
        for (uint32_t r = 0; r < K; r++)
            put_float(f, r ? ", " : "", m->labels[ids[i * K + r]]);
        fputs("], \"distances\": [", f);
        for (uint32_t r = 0; r < K; r++)
            put_float(f, r ? ", " : "", dist[i * K + r]);
        fputc(']', f);
    }
    fputc('}', f);
}

static sten_status run_knn(sten_ctx *ctx, const bp_args *a)
{
    sten_knn m;
    float *X = NULL, *pred = NULL, *dist = NULL;
    uint32_t *ids = NULL;
    uint64_t n = 0;
    sten_outfile *of = NULL;
    FILE *f = NULL;
    sten_status st = sten_knn_load(ctx, a->model, &m);
    if (!st && a->nprobe && !m.nlists)
        st = sten_fail(ctx, STEN_E_INVALID, "--nprobe: %s is an exact (faiss.Flat) index; nprobe is for "
                       "faiss.IVFFlat and faiss.IVFPQ", a->model);
    if (!st && a->nprobe > m.nlists)
        st = sten_fail(ctx, STEN_E_INVALID, "--nprobe %lld: %s has %u lists", a->nprobe, a->model, m.nlists);
    if (!st)
        st = cli_read_rows(ctx, a->csv, m.dim, (int)a->base, false, &X, NULL, &n);
    const size_t nk = (size_t)n * m.opts.k;
    if (!st && (!(pred = malloc((size_t)n * sizeof *pred)) ||
                (a->verbose && (!(ids = malloc(nk * sizeof *ids)) || !(dist = malloc(nk * sizeof *dist))))))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    const double t0 = cli_now_s();
    if (!st)
        st = sten_knn_predict(ctx, &m, X, n, (uint32_t)a->nprobe, pred, ids, dist);
    const double searched = cli_now_s() - t0;
    if (!st)
        st = sten_outfile_open(ctx, a->output, &of, &f);
    if (!st) {
        if (a->format == 1)
            fputs("{\"predictions\": [", f);
        for (uint64_t i = 0; i < n; i++) {
            if (a->format == 1 && i)
                fputs(", ", f);
            write_knn(f, &m, pred, ids, dist, i);
            if (a->format == 2)
                fputc('\n', f);
        }
        if (a->format == 1)
            fputs("]}\n", f);
        st = sten_outfile_commit(ctx, of);
    }
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten predict: %s: %llu rows (knn, %s%s%u; search %.3f s)\n", a->output,
                (unsigned long long)n, m.codes ? "faiss.IVFPQ, nprobe " : m.nlists ? "faiss.IVFFlat, nprobe " : "faiss.Flat",
                m.nlists ? "" : ", k ", m.nlists ? sten_knn_nprobe(&m, (uint32_t)a->nprobe) : m.opts.k, searched);
    free(pred), free(ids), free(dist);
    sten_free(ctx, X);
    sten_knn_free(ctx, &m);
    return st;
}

/* One Linear Learner response (SageMaker's): binary {"score": p,
 * "predicted_label": 0|1}, regressor {"score": y}, multiclass {"score":
 * [p...], "predicted_label": c}. */
static void write_linear(FILE *f, const sten_linear *m, const float *S, const float *lab, uint64_t i)
{
    const uint32_t C = m->outputs;
    fputs("{\"score\": ", f);
    if (C > 1) {
        fputc('[', f);
        for (uint32_t c = 0; c < C; c++)
            put_float(f, c ? ", " : "", S[i * C + c]);
        fputc(']', f);
    } else {
        put_float(f, "", S[i]);
    }
    if (m->opts.predictor_type != STEN_LINEAR_REGRESSOR)
        fprintf(f, ", \"predicted_label\": %u", (unsigned)lab[i]);
    fputc('}', f);
}

/* A linear model over libsvm rows read a->stream at a time, each chunk
 * scored and written before the next is read. */
static sten_status run_linear_stream(sten_ctx *ctx, const bp_args *a, const sten_linear *m)
{
    sten_libsvm_stream *s = NULL;
    sten_outfile *of = NULL;
    FILE *f = NULL;
    float *S = NULL, *lab = NULL;
    uint64_t n = 0;
    sten_status st = sten_libsvm_stream_open(ctx, a->csv, (int)a->base, m->dim, &s);
    if (!st && (!(S = malloc((size_t)a->stream * m->outputs * sizeof *S)) ||
                !(lab = malloc((size_t)a->stream * sizeof *lab))))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory for a chunk of %lld rows", a->stream);
    if (!st)
        st = sten_outfile_open(ctx, a->output, &of, &f);
    if (!st && a->format == 1)
        fputs("{\"predictions\": [", f);
    const sten_csr *x;
    const float *y;
    while (!st && !(st = sten_libsvm_stream_next(ctx, s, (uint32_t)a->stream, &x, &y)) && x->rows &&
           !(st = sten_linear_predict_csr(ctx, m, x, S, lab)))
        for (uint32_t i = 0; i < x->rows; i++, n++) {
            if (a->format == 1 && n)
                fputs(", ", f);
            write_linear(f, m, S, lab, i);
            if (a->format == 2)
                fputc('\n', f);
        }
    if (!st && !n)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no examples", a->csv);
    if (!st && a->format == 1)
        fputs("]}\n", f);
    if (!st)
        st = sten_outfile_commit(ctx, of), of = NULL;
    sten_outfile_abort(ctx, of);
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten predict: %s: %llu rows (linear, %lld at a time)\n", a->output, (unsigned long long)n,
                a->stream);
    free(S), free(lab);
    sten_libsvm_stream_close(ctx, s);
    return st;
}

static sten_status run_linear(sten_ctx *ctx, const bp_args *a)
{
    sten_linear m;
    float *X = NULL, *S = NULL, *lab = NULL;
    uint64_t n = 0;
    sten_outfile *of = NULL;
    FILE *f = NULL;
    sten_status st = a->verbose || a->nprobe ? sten_fail(ctx, STEN_E_INVALID, "%s: --verbose and --nprobe are for "
                                                         "k-NN models, this is a linear model", a->model)
                                             : sten_linear_load(ctx, a->model, &m);
    if (st)
        return st;
    if (a->stream) {
        st = run_linear_stream(ctx, a, &m);
        sten_linear_free(ctx, &m);
        return st;
    }
    /* a sparse format's rows stay sparse (a hashed feature space is wide) */
    sten_dataset x;
    memset(&x, 0, sizeof x);
    bool sparse = false;
    if (cli_rows_are_csv(a->csv, (int)a->base)) {
        st = cli_read_rows(ctx, a->csv, m.dim, (int)a->base, false, &X, NULL, &n);
    } else if (!(st = sten_labeled_read(ctx, a->csv, (int)a->base, m.dim, "x", "y", &x, NULL))) {
        sparse = (x.attributes & STEN_DS_SPARSE) && !x.index;
        n = x.examples;
        if (!sparse) /* dense rows: as they are */
            st = cli_rows_spread(ctx, a->csv, m.dim, &x, NULL, &X, NULL, &n);
    }
    if (!st && (!(S = malloc((size_t)n * m.outputs * sizeof *S)) || !(lab = malloc((size_t)n * sizeof *lab))))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st)
        st = sparse ? sten_linear_predict_csr(ctx, &m, &x.sparse, S, lab) : sten_linear_predict(ctx, &m, X, n, S, lab);
    sten_dataset_clear(ctx, &x);
    if (!st)
        st = sten_outfile_open(ctx, a->output, &of, &f);
    if (!st) {
        if (a->format == 1)
            fputs("{\"predictions\": [", f);
        for (uint64_t i = 0; i < n; i++) {
            if (a->format == 1 && i)
                fputs(", ", f);
            write_linear(f, &m, S, lab, i);
            if (a->format == 2)
                fputc('\n', f);
        }
        if (a->format == 1)
            fputs("]}\n", f);
        st = sten_outfile_commit(ctx, of);
    }
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten predict: %s: %llu rows (linear)\n", a->output, (unsigned long long)n);
    free(S), free(lab);
    sten_free(ctx, X);
    sten_linear_free(ctx, &m);
    return st;
}

static sten_status run(sten_ctx *ctx, const bp_args *a)
{
    sten_model_kind kind;
    sten_kmeans km;
    sten_pca pca;
    memset(&km, 0, sizeof km);
    memset(&pca, 0, sizeof pca);
    float *X = NULL, *out = NULL;
    uint32_t *cl = NULL;
    uint64_t n = 0;
    sten_outfile *of = NULL;
    FILE *f = NULL;
    sten_status st = sten_model_kind_of(ctx, a->model, &kind);
    if (!st && a->stream && kind != STEN_MODEL_LINEAR)
        return sten_fail(ctx, STEN_E_INVALID, "%s: --stream-rows is for linear models, this is a %s model", a->model,
                         sten_model_kind_name(kind));
    if (!st && kind == STEN_MODEL_KNN)
        return run_knn(ctx, a);
    if (!st && kind == STEN_MODEL_LINEAR)
        return run_linear(ctx, a);
    if (!st && kind == STEN_MODEL_NETWORK)
        st = sten_fail(ctx, STEN_E_INVALID, "%s: a network model; --csv is for k-means, PCA, k-NN and linear models (a "
                       "network scores --data, or -r with index files)", a->model);
    if (!st && (a->verbose || a->nprobe))
        st = sten_fail(ctx, STEN_E_INVALID, "%s: --verbose and --nprobe are for k-NN models, this is a %s model",
                       a->model, sten_model_kind_name(kind));
    if (!st)
        st = kind == STEN_MODEL_KMEANS ? sten_kmeans_load(ctx, a->model, &km) : sten_pca_load(ctx, a->model, &pca);
    const uint32_t dim = kind == STEN_MODEL_KMEANS ? km.dim : pca.dim;
    if (!st)
        st = cli_read_rows(ctx, a->csv, dim, (int)a->base, false, &X, NULL, &n);
    const uint32_t w = kind == STEN_MODEL_KMEANS ? 1 : pca.n_comp;
    if (!st && (!(out = malloc((size_t)n * w * sizeof *out)) ||
                (kind == STEN_MODEL_KMEANS && !(cl = malloc((size_t)n * sizeof *cl)))))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st)
        st = kind == STEN_MODEL_KMEANS ? sten_kmeans_assign(ctx, &km, X, n, cl, out, NULL)
                                       : sten_pca_project(ctx, &pca, X, n, out);
    if (!st)
        st = sten_outfile_open(ctx, a->output, &of, &f);
    if (!st) {
        write_all(f, a->format, cl, out, out, w, n);
        st = sten_outfile_commit(ctx, of);
    }
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten predict: %s: %llu rows (%s)\n", a->output, (unsigned long long)n,
                sten_model_kind_name(kind));
    free(out), free(cl);
    sten_free(ctx, X);
    sten_kmeans_free(ctx, &km);
    sten_pca_free(ctx, &pca);
    return st;
}

int cmd_predict_builtin(int argc, char **argv)
{
    const cli_cmd *self = cli_find("predict");
    bp_args a = {.format = 1, .base = -1};
    const int rc0 = parse(self, argc, argv, &a);
    if (rc0)
        return rc0 < 0 ? CLI_EX_OK : rc0;
    const int exists = cli_check_output("predict", a.output, a.force);
    if (exists)
        return exists;
    sten_ctx *ctx = cli_ctx_new("predict");
    sten_ctx_set_threads(ctx, (int)a.threads);
    cli_progress_attach(ctx, "predict");
    const sten_status st = run(ctx, &a);
    const int rc = st ? cli_fail("predict", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return rc;
}
