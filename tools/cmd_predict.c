/* cmd_predict.c — `sten predict`: DSSTNE's predict. Scores every sample of
 * a DSSTNE text file with a trained model and writes its top-K items not
 * already known (filter file and/or its own input), as recommendation lines
 * "user<TAB>item,score:item,score:...:". Or, with --layer, a layer's
 * activations (user embeddings). */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char cmd_predict_usage[] =
    "usage: sten predict [-d NAME] -n MODEL.nc -r INPUT -i IN_FEATURES -o OUT_FEATURES\n"
    "                    -s RECS [-f FILTER] [-k K] [-b BATCH] [-p FORMAT] [options]\n"
    "       sten predict -n MODEL.nc --data DATA -s SCORES [--format F] [--index-base 0|1]\n"
    "\n"
    "Recommends for every sample (user) of INPUT, DSSTNE text, the K best\n"
    "output items it does not already have.\n"
    "\n"
    "  -d, --dataset NAME      the model's input dataset is NAME_input (DSSTNE; optional:\n"
    "                          the model names its input dataset)\n"
    "  -n, --network FILE      trained model\n"
    "  -r, --input FILE        samples to score (DSSTNE text; values ignored)\n"
    "  -i, --input-features F  the input feature index\n"
    "  -o, --output-features F the output feature index (output unit -> item)\n"
    "  -f, --filter FILE       DSSTNE text of items to exclude per sample\n"
    "      --exclude-seen      also exclude each sample's own input items\n"
    "  -s, --output FILE       recommendations to write (atomically)\n"
    "  -k N                    items per sample (default 100; any K)\n"
    "  -b N                    batch size (default 1024)\n"
    "  -p FORMAT               printf format of scores: %4.3f (the default) or\n"
    "                          DSSTNE's spelling without the %, 4.3f\n"
    "  -l, --layer NAME        write NAME's activations per sample instead\n"
    "  -t, --threads N         threads (default: all cores)\n"
    "      --parallel model    under mpirun (a build with MPI): each rank loads only\n"
    "                          its item range of the model, ranks it, and rank 0\n"
    "                          merges the lists (for models larger than one process);\n"
    "                          without it, each rank scores whole batches of users\n"
    "                          with the whole model (docs/scale-out.md)\n"
    CLI_FORCE_USAGE
    "      --precision P       fp32 (default), bf16 or auto (bf16 where faster here)\n"
    "                          products (bf16: AVX-512 BF16 CPUs, AMX tiles where present;\n"
    "                          rankings can differ where scores are within bf16\n"
    "                          rounding; see docs/performance.md); int8: the hidden\n"
    "                          layers' products on 8-bit integers (AVX-512 VNNI;\n"
    "                          scores move by the quantization: docs/dlrm.md)\n"
    "\n"
    "\n"
    "Scores instead of lists (Factorization Machines, DLRM, any one-output model):\n"
    "  --data FILE (or -i FILE.nc)      score every example of FILE, in order: the\n"
    "                      formats train reads (SageMaker's RecordIO-protobuf, a\n"
    "                      NetCDF file whose datasets the model's input layers name,\n"
    "                      e.g. from convert --format criteo; libsvm with\n"
    "                      --index-base 0|1) and SageMaker's JSON inference input\n"
    "                      ({\"instances\": [{\"features\": [...]} or {\"data\":\n"
    "                      {\"features\": {\"keys\", \"shape\", \"values\"}}}, ...]}, or one\n"
    "                      instance per line); labels, where the data has them, are\n"
    "                      ignored. No -d: the model names its input.\n"
    "  --libsvm FILE --index-base 0|1   the same as --data for a libsvm file\n"
    "  --format scores|json|jsonl       one score per line, SageMaker's\n"
    "                      {\"predictions\": [{\"score\": s, \"predicted_label\": l}, ...]},\n"
    "                      or one such object per line (predicted_label for\n"
    "                      binary classifiers: score >= 0.5)\n"
    "  --parallel model    (-i FILE.nc, under mpirun) a DLRM whose Embedding tables\n"
    "                      are split whole over the ranks: each loads its tables,\n"
    "                      all score every row together, rank 0 writes\n"
    "\n"
    "k-means, PCA, k-NN and Linear Learner models (sten train --algorithm\n"
    "kmeans|pca|knn|linear-learner):\n"
    "  sten predict -n DIR/model.nc --csv DATA.csv -s OUT [--format json|jsonl]\n"
    "                      dense CSV rows (no label), or --data DATA: RecordIO-\n"
    "                      protobuf, SageMaker's JSON instances, a NetCDF dataset\n"
    "                      or libsvm with --index-base 0|1 (sparse rows spread out\n"
    "                      dense); SageMaker's responses\n"
    "                      {\"closest_cluster\", \"distance_to_cluster\"},\n"
    "                      {\"projection\": [...]}, {\"predicted_label\"} or\n"
    "                      {\"score\", \"predicted_label\"} (linear-learner) per row\n"
    "                      (docs/builtins.md)\n"
    "  --verbose           k-NN: also the k neighbours' \"labels\" and \"distances\"\n"
    "  --nprobe N          k-NN faiss.IVFFlat and IVFPQ: lists scanned per row (default\n"
    "                      max(1, nlists / 16))\n"
    "  --stream-rows N     Linear Learner on libsvm rows: read, score and write N\n"
    "                      rows at a time (files larger than memory)\n"
    "\n"
    "Every item listed in the filter is excluded, whatever its value (DSSTNE\n"
    "multiplied scores by filter values; see docs/dsstne-compat.md). Index files\n"
    "other than the ones the model was trained with are refused (exit 65; the\n"
    "check needs a model trained on sten-made datasets, docs/formats.md).\n";

typedef struct {
    const char *name, *model, *input, *in_feat, *out_feat, *filter, *output, *fmt, *layer;
    const char *libsvm, *netcdf, *data;
    long long k, batch, threads, base;
    int format; /* 0 scores, 1 json, 2 jsonl */
    sten_precision precision;
    bool exclude_seen, force, model_parallel;
    char pfmt[64]; /* -p in DSSTNE's spelling, with its % */
} pred_args;

/* A NetCDF file (classic "CDF" or HDF5-based), by its first bytes. */
static bool is_netcdf(const char *path)
{
    unsigned char m[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    const size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && (!memcmp(m, "CDF", 3) || !memcmp(m, "\x89HDF", 4));
}

static int parse(const cli_cmd *self, int argc, char **argv, pred_args *a)
{
    static const struct option opts[] = {
        {"dataset", required_argument, NULL, 'd'}, {"network", required_argument, NULL, 'n'},
        {"input", required_argument, NULL, 'r'},   {"input-features", required_argument, NULL, 'i'},
        {"output-features", required_argument, NULL, 'o'},
        {"filter", required_argument, NULL, 'f'},  {"output", required_argument, NULL, 's'},
        {"layer", required_argument, NULL, 'l'},   {"threads", required_argument, NULL, 't'},
        {"exclude-seen", no_argument, NULL, 'E'},  {"help", no_argument, NULL, 'h'},
        {"libsvm", required_argument, NULL, 'V'},  {"index-base", required_argument, NULL, 'B'},
        {"format", required_argument, NULL, 'F'},
        {"precision", required_argument, NULL, 'P'},
        {"data", required_argument, NULL, 'D'},    {"force", no_argument, NULL, 'O'},
        {"parallel", required_argument, NULL, 'M'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":d:n:r:i:o:f:s:k:b:p:l:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->name = optarg; break;
        case 'n': a->model = optarg; break;
        case 'r': a->input = optarg; break;
        case 'i': a->in_feat = optarg; break;
        case 'o': a->out_feat = optarg; break;
        case 'f': a->filter = optarg; break;
        case 's': a->output = optarg; break;
        case 'l': a->layer = optarg; break;
        case 'E': a->exclude_seen = true; break;
        case 'V': a->libsvm = optarg; break;
        case 'D': a->data = optarg; break;
        case 'O': a->force = true; break;
        case 'M':
            if (!strcmp(optarg, "model"))
                a->model_parallel = true;
            else if (strcmp(optarg, "data") != 0)
                bad = cli_usage_error(self, "--parallel expects data or model, got '%s'", optarg);
            break;
        case 'B': bad = cli_parse_int(self, "--index-base", optarg, 0, 1, &a->base); break;
        case 'F':
            a->format = !strcmp(optarg, "scores") ? 0 : !strcmp(optarg, "json") ? 1 : !strcmp(optarg, "jsonl") ? 2 : -1;
            if (a->format < 0)
                bad = cli_usage_error(self, "--format expects scores, json or jsonl, got '%s'", optarg);
            break;
        case 'k': bad = cli_parse_int(self, "-k", optarg, 1, 1 << 24, &a->k); break;
        case 'b': bad = cli_parse_int(self, "-b", optarg, 1, 1 << 20, &a->batch); break;
        case 't': bad = cli_parse_int(self, "--threads", optarg, 0, 1024, &a->threads); break;
        case 'P': bad = cli_parse_precision(self, optarg, &a->precision); break;
        case 'p':
            /* DSSTNE's predict took "4.3f" and put the % in front itself */
            snprintf(a->pfmt, sizeof a->pfmt, "%s%s", optarg[0] == '%' ? "" : "%", optarg);
            a->fmt = a->pfmt;
            if (strlen(optarg) >= sizeof a->pfmt - 1 || !sten_recs_format_ok(a->fmt))
                bad = cli_usage_error(self, "-p expects a float format such as %%4.3f or DSSTNE's 4.3f, "
                                      "got '%s'", optarg);
            break;
        case 'h': cli_print_usage(stdout, self); return -1;
        default: bad = cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return bad;
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (a->libsvm && a->data)
        return cli_usage_error(self, "--libsvm and --data exclude each other (--data reads libsvm too)");
    if (a->libsvm && a->base < 0)
        return cli_usage_error(self, "--libsvm needs --index-base 0 or 1 (say which: a guess would shift "
                               "every feature)");
    if (a->libsvm)
        a->data = a->libsvm;
    if (!a->data && a->in_feat && is_netcdf(a->in_feat))
        a->data = a->in_feat;
    if (a->data) { /* scores of every example of a data file */
        if (is_netcdf(a->data))
            a->netcdf = a->data;
        const char *m = !a->model ? "-n MODEL" : !a->output ? "-s OUTPUT" : NULL;
        return m ? cli_usage_error(self, "%s is required", m) : 0;
    }
    const char *missing = !a->model ? "-n MODEL" : !a->input ? "-r INPUT"
                        : !a->in_feat ? "-i IN_FEATURES" : !a->output ? "-s RECS"
                        : !a->out_feat && !a->layer ? "-o OUT_FEATURES" : NULL;
    if (missing)
        return cli_usage_error(self, "%s is required", missing);
    if (a->name && strlen(a->name) + 7 > STEN_NAME_MAX)
        return cli_usage_error(self, "dataset name too long");
    return 0;
}

/* The model's input: its one sparse input layer's DataSet and width (width
 * may be NULL). With
 * -d NAME, NAME_input must be that DataSet; the message lists what the model
 * reads otherwise. */
static sten_status model_input(sten_ctx *ctx, const pred_args *a, char *dname, uint32_t *width)
{
    sten_net_desc *md = NULL;
    sten_status st = cli_explain_model(ctx, a->model, sten_model_read_desc(ctx, a->model, &md));
    if (st)
        return st;
    char names[512] = "";
    int found = -1, inputs = 0;
    for (uint32_t i = 0; i < md->n_layers; i++) {
        const sten_layer_desc *l = &md->layers[i];
        if (l->kind != STEN_LAYER_INPUT)
            continue;
        const size_t n = strlen(names);
        snprintf(names + n, sizeof names - n, "%s%s", inputs++ ? ", " : "", l->dataset);
        if (a->name ? !strcmp(l->dataset, dname) : found < 0)
            found = (int)i;
    }
    if (a->name && found < 0) {
        const char *sfx = strstr(names, "_input");
        st = sten_fail(ctx, STEN_E_INVALID, "-d %s: the model %s has no input dataset \"%s\"; its input "
                       "layers read: %s%s%.*s%s", a->name, a->model, dname, names, sfx ? " (use -d " : "",
                       sfx ? (int)(sfx - names) : 0, names, sfx ? ", or leave -d out)" : "");
    } else if (!a->name && inputs != 1) {
        st = sten_fail(ctx, STEN_E_INVALID, "%s: the model has %d input layers (%s); this takes one sparse "
                       "input", a->model, inputs, names);
    } else {
        snprintf(dname, STEN_NAME_MAX, "%s", md->layers[found].dataset);
        if (width)
            *width = md->layers[found].N;
    }
    sten_net_desc_free(ctx, md);
    return st;
}

/* The index files must be the ones the model was trained with: the input
 * index that of its input layer (DataSet dname), the output index that of
 * its output layer (out may be NULL with --layer). */
static sten_status check_indexes(sten_ctx *ctx, const pred_args *a, const char *dname, const sten_index *in,
                                 const sten_index *out)
{
    sten_net_desc *md = NULL;
    sten_status st = sten_model_read_desc(ctx, a->model, &md);
    for (uint32_t i = 0; !st && i < md->n_layers; i++) {
        const sten_layer_desc *l = &md->layers[i];
        if (l->kind == STEN_LAYER_INPUT && !strcmp(l->dataset, dname))
            st = sten_index_check(ctx, in, a->in_feat, l, a->model);
        else if (l->kind == STEN_LAYER_OUTPUT && out)
            st = sten_index_check(ctx, out, a->out_feat, l, a->model);
    }
    sten_net_desc_free(ctx, md);
    return st;
}

/* A filter file's rows (DSSTNE text over the output features) as a source
 * of exclusions. */
static sten_status add_filter(sten_ctx *ctx, sten_exclusion *ex, const char *path, sten_index *items,
                              sten_index *samples)
{
    sten_csr m = {0};
    uint32_t *ids = NULL;
    sten_text_stats ts;
    sten_status st = sten_text_read(ctx, path, items, false, samples, false, &m, &ids, &ts);
    if (!st)
        st = sten_exclusion_add(ctx, ex, &m, ids);
    sten_csr_free(ctx, &m);
    sten_free(ctx, ids);
    return st;
}

static sten_status run(sten_ctx *ctx, const pred_args *a)
{
    const bool mp = a->model_parallel && cli_mpi_size() > 1;
    if (mp && a->layer)
        return sten_fail(ctx, STEN_E_INVALID, "--layer with --parallel model: layer output runs data parallel "
                         "(leave out --parallel model)");
    sten_index *in_feat = NULL, *out_feat = NULL, *samples = NULL;
    sten_dataset ds;
    memset(&ds, 0, sizeof ds);
    uint32_t *ids = NULL;
    sten_exclusion *excl = NULL;
    int nf = 0;
    sten_net *net = NULL;
    sten_csr ex = {0};
    sten_outfile *of = NULL;
    FILE *f = NULL;
    char dname[STEN_NAME_MAX];
    snprintf(dname, sizeof dname, "%s_input", a->name ? a->name : "");
    sten_text_stats ts;
    sten_status st = model_input(ctx, a, dname, NULL);
    if (!st)
        st = cli_load_index(ctx, a->in_feat, &in_feat);
    if (!st && a->out_feat)
        st = cli_load_index(ctx, a->out_feat, &out_feat);
    if (!st)
        st = check_indexes(ctx, a, dname, in_feat, out_feat);
    if (!st)
        st = sten_index_new(ctx, &samples);
    if (!st)
        st = sten_text_read(ctx, a->input, in_feat, false, samples, false, &ds.sparse, &ids, &ts);
    if (!st && ds.sparse.rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no samples to score", a->input);
    if (!st) {
        ds.name = dname;
        ds.attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
        ds.dims = 1;
        ds.width = sten_round_width(sten_index_span(in_feat));
        ds.sparse.cols = ds.width;
        ds.examples = ds.unique = ds.sparse.rows;
        st = cli_explain_model(ctx, a->model, mp ? sten_net_load_sharded(ctx, a->model, &ds, 1, (uint32_t)a->batch,
                                                                         false, cli_mpi_comm(), &net)
                                                 : sten_net_load(ctx, a->model, &ds, 1, (uint32_t)a->batch,
                                                                 false, &net));
        if (!st && !mp)
            st = cli_set_precision(ctx, net, a->precision);
    }
    if (!st)
        st = sten_exclusion_new(ctx, &excl);
    if (!st && a->filter && out_feat && !(st = add_filter(ctx, excl, a->filter, out_feat, samples)))
        nf++;
    if (!st && a->exclude_seen && out_feat && !(st = add_filter(ctx, excl, a->input, out_feat, samples)))
        nf++;
    /* across MPI ranks: each scores a run of whole batches (the batches of one
     * process, so the scores are its bits) into memory, and rank 0 writes
     * them all in order (docs/scale-out.md) */
    const int rank = cli_mpi_rank(), ranks = mp ? 1 : cli_mpi_size(); /* model parallel: all rank everyone */
    char *mine = NULL;
    size_t mine_len = 0;
    FILE *out = NULL;
    if (!st && rank == 0)
        st = sten_outfile_open(ctx, a->output, &of, &out);
    if (!st && ranks > 1 && !(f = open_memstream(&mine, &mine_len)))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    else if (!st && ranks == 1 && rank == 0)
        f = out;
    else if (!st && ranks == 1 && !(f = fopen("/dev/null", "w"))) /* model parallel: rank 0 writes */
        st = sten_fail(ctx, STEN_E_IO, "cannot open /dev/null");
    const uint32_t K = (uint32_t)a->k, B = (uint32_t)a->batch;
    uint32_t *ex_ids = malloc((size_t)B * 4), *idx = malloc((size_t)B * K * 4), *cnt = malloc((size_t)B * 4);
    float *val = malloc((size_t)B * K * 4);
    if (!st && (!ex_ids || !idx || !cnt || !val))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    const uint32_t n_items = out_feat ? sten_index_span(out_feat) : 0;
    const uint64_t batches = (ds.examples + B - 1) / B;
    const uint64_t first = ranks > 1 ? batches * (uint64_t)rank / (uint64_t)ranks : 0;
    const uint64_t last = ranks > 1 ? batches * (uint64_t)(rank + 1) / (uint64_t)ranks : batches;
    for (uint64_t pos = first * B; !st && pos < CLI_MIN(ds.examples, last * B); pos += B) {
        const uint32_t nb = (uint32_t)CLI_MIN((uint64_t)B, ds.examples - pos);
        if (rank == 0)
            cli_progress_count(a->layer ? "inference" : "recommending", "users", pos, ds.examples);
        for (uint32_t b = 0; b < nb; b++)
            ex_ids[b] = (uint32_t)(pos + b);
        if (a->layer) {
            const float *h;
            uint32_t w;
            st = sten_net_infer(ctx, net, ex_ids, nb, a->layer, &h, &w);
            for (uint32_t b = 0; !st && b < nb; b++) {
                fprintf(f, "%s\t", sten_index_label(samples, ids[pos + b]));
                for (uint32_t j = 0; j < w; j++)
                    fprintf(f, j ? ",%.7g" : "%.7g", (double)h[(uint64_t)b * w + j]);
                fputc('\n', f);
            }
            continue;
        }
        st = sten_exclusion_batch(ctx, excl, ids + pos, nb, &ex);
        if (!st)
            st = sten_net_recommend(ctx, net, ex_ids, nb, n_items, K, nf ? &ex : NULL, idx, val, cnt);
        for (uint32_t b = 0; !st && b < nb; b++)
            st = sten_recs_write(ctx, f, sten_index_label(samples, ids[pos + b]), idx + (size_t)b * K,
                                 val + (size_t)b * K, cnt[b], out_feat, a->fmt ? a->fmt : "%4.3f");
    }
    if (mp && rank != 0 && f)
        fclose(f);
    if (ranks > 1) { /* every rank's lines to rank 0, in rank order */
        if (f && fclose(f) != 0 && !st)
            st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
        f = NULL;
        if (!st)
            st = cli_mpi_gather_to(ctx, out, mine, mine_len);
        free(mine);
    }
    if (rank == 0 && !st)
        st = sten_outfile_commit(ctx, of);
    else if (rank == 0)
        sten_outfile_abort(ctx, of);
    cli_progress_clear();
    if (!st && rank == 0)
        fprintf(stderr, "sten predict: %s: %llu samples%s\n", a->output, (unsigned long long)ds.examples,
                ts.unknown_features ? " (some input features were not in the index; see above)" : "");
    free(ex_ids), free(idx), free(cnt), free(val);
    sten_exclusion_free(ctx, excl);
    sten_csr_free(ctx, &ex);
    sten_net_free(ctx, net);
    sten_csr_free(ctx, &ds.sparse);
    sten_free(ctx, ids);
    sten_index_free(ctx, in_feat);
    sten_index_free(ctx, out_feat);
    sten_index_free(ctx, samples);
    return st;
}

/* Scores as plain numbers (format 0) or SageMaker's JSON shapes (1: one
 * object, 2: one per line); predicted_label for binary classifiers. */
static void write_scores(FILE *f, const float *sc, uint64_t n, int format, bool binary)
{
    if (format == 1)
        fputs("{\"predictions\": [", f);
    for (uint64_t i = 0; i < n; i++) {
        const double v = sc[i];
        if (format == 0) {
            fprintf(f, "%.9g\n", v);
            continue;
        }
        if (format == 1 && i)
            fputs(", ", f);
        if (binary)
            fprintf(f, "{\"score\": %.9g, \"predicted_label\": %d}", v, v >= 0.5);
        else
            fprintf(f, "{\"score\": %.9g}", v);
        if (format == 2)
            fputc('\n', f);
    }
    if (format == 1)
        fputs("]}\n", f);
}

/* Scores of every example of a NetCDF file (its datasets named as the
 * model's layers' DataSets), in order. */
static sten_status run_netcdf_scores(sten_ctx *ctx, const pred_args *a)
{
    sten_dataset *ds = NULL;
    size_t n_ds = 0;
    sten_net *net = NULL;
    sten_workspace *ws = NULL;
    sten_outfile *of = NULL;
    FILE *f = NULL;
    float *sc = NULL;
    /* --parallel model: each rank holds its Embedding tables, scores every
     * row with the others (collective), rank 0 writes */
    const bool mp = a->model_parallel && cli_mpi_size() > 1, writes = !mp || cli_mpi_rank() == 0;
    sten_status st = sten_dataset_read_netcdf(ctx, a->netcdf, &ds, &n_ds);
    if (!st)
        st = cli_explain_model(ctx, a->model,
                               mp ? sten_net_load_sharded(ctx, a->model, ds, n_ds, (uint32_t)a->batch, false,
                                                          cli_mpi_comm(), &net)
                                  : sten_net_load(ctx, a->model, ds, n_ds, (uint32_t)a->batch, false, &net));
    if (!st && mp && !sten_net_tables_held(net, NULL, NULL))
        st = sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: scores with --parallel model need a model split by "
                       "Embedding tables (DLRM); run this one as one process", a->model);
    if (!st)
        st = cli_set_precision(ctx, net, a->precision);
    if (!st)
        st = sten_workspace_new(ctx, net, (uint32_t)a->batch, &ws);
    const uint64_t n = st ? 0 : sten_workspace_examples(ws);
    if (!st && !(sc = malloc((size_t)(n ? n : 1) * sizeof *sc)))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    const double t0 = cli_now_s();
    if (!st)
        st = sten_net_score_ws(ctx, net, ws, sc, NULL);
    const double secs = cli_now_s() - t0;
    if (!st && writes)
        st = sten_outfile_open(ctx, a->output, &of, &f);
    if (!st && writes) {
        write_scores(f, sc, n, a->format, sten_net_description(net)->loss == STEN_LOSS_CROSS_ENTROPY);
        st = sten_outfile_commit(ctx, of);
    }
    cli_progress_clear();
    if (!st && writes) /* the scoring alone timed: what a server holding the model and the rows pays */
        fprintf(stderr, "sten predict: %s: %llu scores (scoring %.3f s, %.0f rows/s)\n", a->output,
                (unsigned long long)n, secs, secs > 0 ? (double)n / secs : 0.0);
    free(sc);
    sten_workspace_free(ctx, ws);
    sten_net_free(ctx, net);
    sten_datasets_free(ctx, ds, n_ds);
    return st;
}

/* Scores of a data file in any format train reads, or SageMaker's JSON
 * inference input, as plain numbers or SageMaker's JSON shapes. */
static sten_status run_scores(sten_ctx *ctx, const pred_args *a)
{
    char dname[STEN_NAME_MAX];
    snprintf(dname, sizeof dname, "%s_input", a->name ? a->name : "");
    uint32_t width = 0;
    sten_dataset x;
    memset(&x, 0, sizeof x);
    sten_net *net = NULL;
    sten_outfile *of = NULL;
    FILE *f = NULL;
    sten_status st = model_input(ctx, a, dname, &width);
    if (!st)
        st = sten_labeled_read(ctx, a->data, (int)a->base, width, dname, NULL, &x, NULL);
    const uint32_t B = (uint32_t)a->batch;
    if (!st)
        st = sten_net_load(ctx, a->model, &x, 1, B, false, &net);
    if (!st)
        st = cli_set_precision(ctx, net, a->precision);
    const bool binary = !st && sten_net_description(net)->loss == STEN_LOSS_CROSS_ENTROPY;
    uint32_t *ids = malloc((size_t)B * sizeof *ids);
    float *sc = malloc((size_t)(x.examples ? x.examples : 1) * sizeof *sc);
    if (!st && (!ids || !sc))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (uint64_t pos = 0; !st && pos < x.examples; pos += B) {
        const uint32_t nb = (uint32_t)CLI_MIN((uint64_t)B, x.examples - pos);
        cli_progress_count("scoring", "examples", pos, x.examples);
        for (uint32_t b = 0; b < nb; b++)
            ids[b] = (uint32_t)(pos + b);
        const float *s;
        uint32_t w;
        st = sten_net_infer(ctx, net, ids, nb, NULL, &s, &w);
        for (uint32_t b = 0; !st && b < nb; b++)
            sc[pos + b] = s[(uint64_t)b * w];
    }
    if (!st)
        st = sten_outfile_open(ctx, a->output, &of, &f);
    if (!st) {
        write_scores(f, sc, x.examples, a->format, binary);
        st = sten_outfile_commit(ctx, of);
    }
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten predict: %s: %llu scores\n", a->output, (unsigned long long)x.examples);
    free(sc);
    free(ids);
    sten_net_free(ctx, net);
    sten_dataset_clear(ctx, &x); /* our struct: cleared, not sten_datasets_free */
    return st;
}

int cmd_predict(int argc, char **argv)
{
    bool builtin = false;
    /* the built-ins' models score rows: --csv, or --data with a built-in's model */
    const char *model = NULL;
    bool data = false;
    for (int i = 1; i < argc; i++) {
        builtin |= !strcmp(argv[i], "--csv") || !strncmp(argv[i], "--csv=", 6);
        data |= !strcmp(argv[i], "--data") || !strncmp(argv[i], "--data=", 7);
        if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "--network")) && i + 1 < argc)
            model = argv[i + 1];
        else if (!strncmp(argv[i], "--network=", 10))
            model = argv[i] + 10;
    }
    if (!builtin && data && model) {
        sten_model_kind kind;
        sten_ctx *probe = cli_ctx_new("predict");
        builtin = probe && sten_model_kind_of(probe, model, &kind) == STEN_OK && kind != STEN_MODEL_NETWORK;
        sten_ctx_free(probe);
    }
    const cli_cmd *self = cli_find("predict");
    pred_args a = {.k = 100, .batch = 1024, .base = -1};
    const int rc0 = builtin ? 0 : parse(self, argc, argv, &a);
    if (rc0)
        return rc0 < 0 ? CLI_EX_OK : rc0;
    if (cli_mpi_size() > 1 && (builtin || (a.data && !(a.netcdf && a.model_parallel)))) {
        if (cli_mpi_rank() == 0)
            fprintf(stderr, "sten predict: only recommendation and layer output from DSSTNE text (-r), and "
                            "scores of a NetCDF file with --parallel model (a model split by Embedding tables), "
                            "run across MPI ranks; run this one as one process\n");
        return CLI_EX_USAGE;
    }
    if (builtin)
        return cmd_predict_builtin(argc, argv);
    const int exists = cli_check_output("predict", a.output, a.force);
    if (exists)
        return exists;
    sten_ctx *ctx = cli_ctx_new("predict");
    sten_ctx_set_threads(ctx, (int)a.threads);
    cli_progress_attach(ctx, "predict");
    const sten_status st = a.netcdf ? run_netcdf_scores(ctx, &a) : a.data ? run_scores(ctx, &a)
                                                                          : run(ctx, &a);
    const int rc = st ? cli_fail("predict", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return rc;
}
