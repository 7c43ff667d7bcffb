/* cmd_similar.c — `sten similar`: every item's most similar items, from the
 * users who have them (src/rec/similar.c), written as recommendation lines
 * "item<TAB>nbr,score:nbr,score:...:" so the reader of predict's output loads
 * them too. Items without any neighbour get no line. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

const char cmd_similar_usage[] =
    "usage: sten similar -r TRAIN -s OUT [-i FEATURES] [-k M] [--measure NAME]\n"
    "                    [--min-support N] [--shrink X] [--alpha A] [--lambda L]\n"
    "                    [--max-items N] [-t N]\n"
    "\n"
    "Writes the M most similar items of every item of TRAIN (DSSTNE text, one\n"
    "line per user; values ignored), one line per item that has any:\n"
    "\"item<TAB>item,score:item,score:...:\", best first (docs/similar.md).\n"
    "\n"
    "  -r, --input FILE      users' items (DSSTNE text)\n"
    "  -i, --features FILE   the item index (its labels; items not in it are\n"
    "                        dropped and reported); default: the items of TRAIN\n"
    "  -s, --output FILE     neighbours to write (atomically)\n"
    CLI_FORCE_USAGE
    "  -k M                  neighbours per item (default 100)\n"
    "  --measure NAME        cosine (default), jaccard, conditional or ease\n"
    "  --min-support N       co-occurrence measures: pairs that at least N users\n"
    "                        share (default 1)\n"
    "  --shrink X            cosine, conditional: times c/(c+X), c the pair's\n"
    "                        users (default 0)\n"
    "  --alpha A             conditional: c / (n_i n_j^A), A in [0, 1] (default 0.5)\n"
    "  --lambda L            ease: L2 strength (default 500)\n"
    "  --max-items N         ease: refuse catalogues larger than N (default 40000;\n"
    "                        the matrix takes N*N*4 bytes)\n"
    "  -t, --threads N       threads (default: all cores)\n";

static const char *const measures[] = {
    [STEN_SIM_COSINE] = "cosine", [STEN_SIM_JACCARD] = "jaccard",
    [STEN_SIM_CONDITIONAL] = "conditional", [STEN_SIM_EASE] = "ease",
};

typedef struct {
    const char *input, *features, *output;
    long long threads;
    bool force;
    sten_similar_opts o;
} similar_args;

static int parse_measure(const cli_cmd *self, const char *s, sten_sim_measure *out)
{
    for (int m = 0; m < (int)(sizeof measures / sizeof *measures); m++)
        if (!strcmp(s, measures[m])) {
            *out = (sten_sim_measure)m;
            return 0;
        }
    return cli_usage_error(self, "unknown --measure '%s' (cosine, jaccard, conditional, ease)", s);
}

/* Returns 0, -1 after --help, or a usage error's exit code. */
static int parse(const cli_cmd *self, int argc, char **argv, similar_args *a)
{
    enum { O_MEASURE = 1000, O_SUPPORT, O_SHRINK, O_ALPHA, O_LAMBDA, O_MAX_ITEMS };
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'r'},      {"features", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 's'},     {"threads", required_argument, NULL, 't'},
        {"measure", required_argument, NULL, O_MEASURE},
        {"min-support", required_argument, NULL, O_SUPPORT},
        {"shrink", required_argument, NULL, O_SHRINK}, {"alpha", required_argument, NULL, O_ALPHA},
        {"lambda", required_argument, NULL, O_LAMBDA},
        {"max-items", required_argument, NULL, O_MAX_ITEMS},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    long long k = a->o.neighbors, support = a->o.min_support, max_items = a->o.max_items;
    double shrink = a->o.shrink, alpha = a->o.alpha, lambda = a->o.lambda;
    int c, bad = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":r:i:s:k:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': a->input = optarg; break;
        case 'i': a->features = optarg; break;
        case 's': a->output = optarg; break;
        case 'f': a->force = true; break;
        case 'k': bad = cli_parse_int(self, "-k", optarg, 1, 1 << 24, &k); break;
        case 't': bad = cli_parse_int(self, "--threads", optarg, 0, 1024, &a->threads); break;
        case O_MEASURE: bad = parse_measure(self, optarg, &a->o.measure); break;
        case O_SUPPORT: bad = cli_parse_int(self, "--min-support", optarg, 1, UINT32_MAX, &support); break;
        case O_SHRINK: bad = cli_parse_double(self, "--shrink", optarg, 0, 1e12, &shrink); break;
        case O_ALPHA: bad = cli_parse_double(self, "--alpha", optarg, 0, 1, &alpha); break;
        case O_LAMBDA: bad = cli_parse_double(self, "--lambda", optarg, 1e-9, 1e12, &lambda); break;
        case O_MAX_ITEMS: bad = cli_parse_int(self, "--max-items", optarg, 1, 1000000, &max_items); break;
        case 'h': cli_print_usage(stdout, self); return -1;
        default: bad = cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return bad;
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    const char *missing = !a->input ? "-r TRAIN" : !a->output ? "-s OUT" : NULL;
    if (missing)
        return cli_usage_error(self, "%s is required", missing);
    a->o.neighbors = (uint32_t)k;
    a->o.min_support = (uint32_t)support;
    a->o.max_items = (uint32_t)max_items;
    a->o.shrink = (float)shrink;
    a->o.alpha = (float)alpha;
    a->o.lambda = (float)lambda;
    return 0;
}

static sten_status run(sten_ctx *ctx, const similar_args *a)
{
    sten_index *items = NULL, *users = NULL;
    sten_csr X = {0};
    uint32_t *ids = NULL;
    sten_neighbors nb = {0};
    sten_text_stats ts = {0};
    sten_outfile *of = NULL;
    FILE *f = NULL;
    sten_status st = a->features ? cli_load_index(ctx, a->features, &items) : sten_index_new(ctx, &items);
    if (!st)
        st = sten_index_new(ctx, &users);
    if (!st)
        st = sten_text_read(ctx, a->input, items, !a->features, users, false, &X, &ids, &ts);
    if (!st && X.rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no users' items (no \"user<TAB>item:item...\" lines); "
                       "there is nothing to compare", a->input);
    if (!st) {
        X.cols = sten_index_span(items);
        st = sten_similar(ctx, &X, &a->o, &nb);
    }
    if (!st)
        st = sten_outfile_open(ctx, a->output, &of, &f);
    uint32_t lines = 0;
    for (uint32_t i = 0; !st && i < nb.n_items; i++) {
        const char *label = sten_index_label(items, i);
        if (!nb.count[i] || !label)
            continue;
        st = sten_recs_write(ctx, f, label, nb.idx + (uint64_t)i * nb.M, nb.val + (uint64_t)i * nb.M,
                             nb.count[i], items, "%.6g");
        lines++;
    }
    if (!st)
        st = sten_outfile_commit(ctx, of);
    else if (of)
        sten_outfile_abort(ctx, of);
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten similar: %s: %s neighbours of %u of %u items, from %u users%s\n", a->output,
                measures[a->o.measure], lines, nb.n_items, X.rows,
                ts.unknown_features ? " (some items were not in the index; see above)" : "");
    sten_neighbors_free(ctx, &nb);
    sten_csr_free(ctx, &X);
    sten_free(ctx, ids);
    sten_index_free(ctx, items);
    sten_index_free(ctx, users);
    return st;
}

int cmd_similar(int argc, char **argv)
{
    const cli_cmd *self = cli_find("similar");
    similar_args a = {.o = sten_similar_defaults()};
    const int rc0 = parse(self, argc, argv, &a);
    if (rc0)
        return rc0 < 0 ? CLI_EX_OK : rc0;
    const int exists = cli_check_output("similar", a.output, a.force);
    if (exists)
        return exists;
    sten_ctx *ctx = cli_ctx_new("similar");
    sten_ctx_set_threads(ctx, (int)a.threads);
    cli_progress_attach(ctx, "similar");
    const sten_status st = run(ctx, &a);
    const int rc = st ? cli_fail("similar", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return rc;
}
