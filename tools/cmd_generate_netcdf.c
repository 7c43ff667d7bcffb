/* cmd_generate_netcdf.c — `sten generate-netcdf`: DSSTNE's generateNetCDF.
 * DSSTNE text data + feature/sample index files -> a NetCDF dataset with
 * exactly generateNetCDF's schema, plus the fingerprints of the indexes it
 * used (docs/formats.md). Outputs are written atomically, the dataset
 * first, so a failure changes no file. */
#include "cli.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

const char cmd_generate_netcdf_usage[] =
    "usage: sten generate-netcdf -d NAME -i INPUT -o OUTPUT.nc -f FEATURES -s SAMPLES\n"
    "                            [-c | -m] [-t indicator|analog]\n"
    "\n"
    "Converts DSSTNE text data (\"sample<TAB>feature[,value]:feature[,value]...\",\n"
    "a file or a directory of files) into a NetCDF dataset, as DSSTNE's\n"
    "generateNetCDF does. The width is the feature count rounded up to a\n"
    "multiple of 128.\n"
    "\n"
    "  -d, --dataset NAME         dataset name (must equal the layer's DataSet)\n"
    "  -i, --input PATH           text file or directory\n"
    "  -o, --output FILE          NetCDF file to write\n"
    "  -f, --features FILE        feature index: read-only unless -c or -m\n"
    "  -s, --samples FILE         sample index: read if it exists, written if it grew\n"
    "  -c, --create-features      build a new feature index from this input\n"
    "  -m, --merge-features       add this input's new features to the index\n"
    "  -t, --type indicator|analog  boolean data (default) or keep the values\n"
    "      --force                overwrite OUTPUT.nc, and with -c FEATURES, if they\n"
    "                             exist (refused otherwise, exit 73; -s and -m\n"
    "                             update their index in place, as DSSTNE did)\n"
    "  -h, --help                 this text\n"
    "\n"
    "Unlike DSSTNE, features missing from a read-only index are counted and\n"
    "reported, not silently dropped. The dataset records the fingerprints of\n"
    "the index files (sten_* attributes DSSTNE ignores): train copies them into\n"
    "the model, and predict and serve refuse other index files.\n";

typedef struct {
    const char *name, *input, *output, *features, *samples;
    bool create, merge, analog, force;
} gen_args;

static int parse(const cli_cmd *self, int argc, char **argv, gen_args *a)
{
    static const struct option opts[] = {
        {"dataset", required_argument, NULL, 'd'},   {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},    {"features", required_argument, NULL, 'f'},
        {"samples", required_argument, NULL, 's'},   {"create-features", no_argument, NULL, 'c'},
        {"merge-features", no_argument, NULL, 'm'}, {"type", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'F'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:i:o:f:s:cmt:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->name = optarg; break;
        case 'i': a->input = optarg; break;
        case 'o': a->output = optarg; break;
        case 'f': a->features = optarg; break;
        case 's': a->samples = optarg; break;
        case 'c': a->create = true; break;
        case 'F': a->force = true; break;
        case 'm': a->merge = true; break;
        case 't':
            if (strcmp(optarg, "indicator") && strcmp(optarg, "analog"))
                return cli_usage_error(self, "-t expects indicator or analog, got '%s'", optarg);
            a->analog = !strcmp(optarg, "analog");
            break;
        case 'h': cli_print_usage(stdout, self); return -1;
        case ':': return cli_usage_error(self, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error(self, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    const char *missing = !a->name ? "-d NAME" : !a->input ? "-i INPUT" : !a->output ? "-o OUTPUT.nc"
                        : !a->features ? "-f FEATURES" : !a->samples ? "-s SAMPLES" : NULL;
    if (missing)
        return cli_usage_error(self, "%s is required", missing);
    if (a->create && a->merge)
        return cli_usage_error(self, "-c and -m exclude each other");
    if (strlen(a->name) >= STEN_NAME_MAX)
        return cli_usage_error(self, "dataset name longer than %d bytes", STEN_NAME_MAX - 1);
    const int exists = cli_check_output("generate-netcdf", a->output, a->force);
    return exists ? exists : cli_check_output("generate-netcdf", a->create ? a->features : NULL, a->force);
}

static sten_status run(sten_ctx *ctx, const gen_args *a)
{
    sten_index *feat = NULL, *samp = NULL;
    sten_csr x = {0};
    uint32_t *ids = NULL;
    sten_text_stats ts;
    struct stat sb;
    sten_status st = sten_index_new(ctx, &feat);
    if (!st)
        st = sten_index_new(ctx, &samp);
    if (!st && !a->create)
        st = sten_index_load(ctx, feat, a->features); /* -m and read-only need the file */
    if (!st && stat(a->samples, &sb) == 0)
        st = sten_index_load(ctx, samp, a->samples);
    if (!st)
        st = sten_text_read(ctx, a->input, feat, a->create || a->merge, samp, a->analog, &x, &ids, &ts);
    cli_progress_clear();
    if (!st && x.rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no samples found", a->input);
    if (!st) {
        sten_dataset d;
        memset(&d, 0, sizeof d);
        d.name = (char *)a->name;
        d.attributes = STEN_DS_SPARSE | (a->analog ? 0u : (uint32_t)STEN_DS_BOOLEAN);
        d.dtype = a->analog ? 4 : 0; /* DSSTNE: Float for analog, UInt for indicator */
        d.dims = 1;
        d.width = sten_round_width(sten_index_span(feat));
        d.examples = d.unique = x.rows;
        x.cols = d.width;
        d.sparse = x;
        /* which numbering the columns and rows follow: train copies the
         * features' into the model, predict checks its index files against it */
        d.features = sten_index_fingerprint(feat);
        d.samples = sten_index_fingerprint_ids(samp, ids, x.rows);
        st = sten_dataset_write_netcdf(ctx, a->output, &d, 1);
    }
    if (!st && (a->create || (a->merge && ts.new_features)))
        st = sten_index_save(ctx, feat, a->features);
    if (!st && ts.new_samples)
        st = sten_index_save(ctx, samp, a->samples);
    if (!st)
        fprintf(stderr,
                "sten generate-netcdf: %s: %llu examples, %u features (width %u), %llu non-zeros%s"
                "; %llu unknown features dropped\n",
                a->output, (unsigned long long)ts.samples, sten_index_size(feat),
                sten_round_width(sten_index_span(feat)), (unsigned long long)ts.nnz,
                a->analog ? " (analog)" : "", (unsigned long long)ts.unknown_features);
    sten_csr_free(ctx, &x);
    sten_free(ctx, ids);
    sten_index_free(ctx, feat);
    sten_index_free(ctx, samp);
    return st;
}

int cmd_generate_netcdf(int argc, char **argv)
{
    const cli_cmd *self = cli_find("generate-netcdf");
    gen_args a = {0};
    const int rc = parse(self, argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_EX_OK : rc;
    sten_ctx *ctx = cli_ctx_new("generate-netcdf");
    cli_progress_attach(ctx, "generate-netcdf");
    const sten_status st = run(ctx, &a);
    const int code = st ? cli_fail("generate-netcdf", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return code;
}
