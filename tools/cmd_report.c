/* cmd_report.c — `sten report`: one self-contained HTML file (inline SVG, no
 * scripts, fonts or URLs) from a training run's metrics, evaluations, the
 * training data with recommendation lists, and a model's item vectors. The
 * reading and drawing live in report_data.c and report.c. */
#include "cli.h"
#include "report.h"

#include <getopt.h>
#include <string.h>

const char cmd_report_usage[] =
    "usage: sten report -o REPORT.html [--metrics FILE] [--eval [NAME=]FILE ...]\n"
    "                   [--train FILE] [--recs [NAME=]FILE ...] [--features FILE]\n"
    "                   [--model MODEL.nc] [options]\n"
    "\n"
    "Writes one self-contained HTML page (inline SVG: no scripts, fonts or\n"
    "links; light and dark) with a section for each input given\n"
    "(docs/report.md):\n"
    "\n"
    "  -o, --output FILE    the page (refused if it exists, see --force)\n"
    "      --metrics FILE   sten train --metrics JSON lines: loss and validation\n"
    "                       metrics per epoch (the file's last run)\n"
    "      --eval [NAME=]FILE  sten evaluate -r ... --json output: Recall@k and\n"
    "                       NDCG@k curves, one per recommender (up to 8; NAME\n"
    "                       defaults to the file name)\n"
    "      --train FILE     training data (DSSTNE text): item popularity, the long tail\n"
    "      --recs [NAME=]FILE  recommendation lines (sten predict / baseline):\n"
    "                       where the slots go, coverage (up to 8)\n"
    "      --features FILE  the item index: the catalogue for coverage, item names,\n"
    "                       and --train's popularity on --model's items\n"
    "      --model FILE     a model with a sparse input and a hidden layer: its item\n"
    "                       vectors projected on two principal components\n"
    "      --title TEXT     the page's title (default \"sten report\")\n"
    "      --max-points N   items drawn in the embedding plot (default 3000)\n"
    CLI_FORCE_USAGE
    "  -h, --help           this text\n";

enum { OPT_METRICS = 256, OPT_EVAL, OPT_TRAIN, OPT_RECS, OPT_FEATURES, OPT_MODEL, OPT_TITLE, OPT_MAX_POINTS,
       OPT_FORCE };

/* "NAME=FILE", or FILE named by its base name without the extension. */
static int named(const cli_cmd *self, const char *opt, const char *arg, char names[][REP_NAME_MAX],
                 const char **name, const char **path, uint32_t *n)
{
    if (*n == REP_MAX_NAMED)
        return cli_usage_error(self, "%s: at most %d", opt, REP_MAX_NAMED);
    const char *eq = strchr(arg, '=');
    const char *file = eq ? eq + 1 : arg;
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    const char *dot = strrchr(base, '.');
    const size_t len = eq ? (size_t)(eq - arg) : dot && dot > base ? (size_t)(dot - base) : strlen(base);
    if (!*file || len == 0 || len >= REP_NAME_MAX)
        return cli_usage_error(self, "%s expects [NAME=]FILE with a name of 1 to %d characters, got '%s'", opt,
                               REP_NAME_MAX - 1, arg);
    snprintf(names[*n], REP_NAME_MAX, "%.*s", (int)len, eq ? arg : base);
    name[*n] = names[*n];
    path[(*n)++] = file;
    return 0;
}

int cmd_report(int argc, char **argv)
{
    const cli_cmd *self = cli_find("report");
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},          {"metrics", required_argument, NULL, OPT_METRICS},
        {"eval", required_argument, NULL, OPT_EVAL},       {"train", required_argument, NULL, OPT_TRAIN},
        {"recs", required_argument, NULL, OPT_RECS},       {"features", required_argument, NULL, OPT_FEATURES},
        {"model", required_argument, NULL, OPT_MODEL},     {"title", required_argument, NULL, OPT_TITLE},
        {"max-points", required_argument, NULL, OPT_MAX_POINTS}, {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0},
    };
    rep_inputs in = {.max_points = 3000};
    char eval_names[REP_MAX_NAMED][REP_NAME_MAX], recs_names[REP_MAX_NAMED][REP_NAME_MAX];
    const char *output = NULL, *metrics = NULL;
    bool force = false;
    long long mp;
    int c, bad = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case OPT_METRICS: metrics = optarg; break;
        case OPT_EVAL: bad = named(self, "--eval", optarg, eval_names, in.eval_name, in.eval_path, &in.n_eval); break;
        case OPT_RECS: bad = named(self, "--recs", optarg, recs_names, in.recs_name, in.recs_path, &in.n_recs); break;
        case OPT_TRAIN: in.train = optarg; break;
        case OPT_FEATURES: in.features = optarg; break;
        case OPT_MODEL: in.model = optarg; break;
        case OPT_TITLE: in.title = optarg; break;
        case OPT_MAX_POINTS:
            if (!(bad = cli_parse_int(self, "--max-points", optarg, 1, 1000000, &mp)))
                in.max_points = (uint32_t)mp;
            break;
        case OPT_FORCE: force = true; break;
        case 'h': cli_print_usage(stdout, self); return CLI_EX_OK;
        default: bad = cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return bad;
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!output)
        return cli_usage_error(self, "-o REPORT.html is required");
    if (!metrics && !in.n_eval && !in.train && !in.n_recs && !in.model)
        return cli_usage_error(self, "nothing to report: give --metrics, --eval, --train, --recs or --model");
    int rc = cli_check_output("report", output, force);
    if (rc)
        return rc;
    sten_ctx *ctx = cli_ctx_new("report");
    rep_metrics *m = NULL;
    sten_status st = STEN_OK;
    if (metrics) {
        st = rep_metrics_new(ctx, &m);
        if (!st)
            st = rep_metrics_read(ctx, m, metrics);
        in.metrics = m;
        in.metrics_src = metrics;
    }
    if (!st)
        st = rep_write(ctx, &in, output);
    rc = st ? cli_fail("report", ctx, st) : CLI_EX_OK;
    if (!st)
        fprintf(stderr, "sten report: wrote %s\n", output);
    rep_metrics_free(m);
    sten_ctx_free(ctx);
    return rc;
}
