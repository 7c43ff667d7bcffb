/* cmd_synth.c — `sten synth`: seeded synthetic interaction data with
 * realistic skew (docs/synth.md), as MovieLens-style ratings.csv or DSSTNE
 * text, at any size up to MovieLens-20M shape. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char cmd_synth_usage[] =
    "usage: sten synth -o FILE [--preset NAME] [--users N] [--items N]\n"
    "                  [--interactions N] [--clusters C] [--seed S]\n"
    "                  [--format ratings-csv|dsstne] [--threads N]\n"
    "\n"
    "Generates implicit-feedback data: power-law item popularity, log-normal\n"
    "user activity, latent taste clusters. The same seed gives the same bytes.\n"
    "\n"
    "  --preset small|ml-100k|ml-1m|ml-20m   shapes (users, items, interactions):\n"
    "      small 2000/1000/100000, ml-100k 943/1682/100000,\n"
    "      ml-1m 6040/3706/1000209, ml-20m 138493/26744/20000263\n"
    "  --users N, --items N, --interactions N   override the preset (default small)\n"
    "  --clusters C        taste clusters (default 20)\n"
    "  --seed S            default 1\n"
    "  --format F          ratings-csv (userId,movieId,rating,timestamp with a\n"
    "                      header; default) or dsstne (one line per user)\n"
    "  -o, --output FILE   where to write (atomically)\n"
    CLI_FORCE_USAGE
    "\n"
    "Click logs in Criteo's TSV layout (for DLRM, FM; docs/dlrm.md):\n"
    "  --preset criteo [--rows N] [--scale F] [--seed S]\n"
    "      N rows (default 100000) of label, I1..I13, C1..C26; the categorical\n"
    "      fields have Criteo Kaggle's cardinalities times F (0 < F <= 1, default\n"
    "      1); clicks come from a planted model with pairwise interactions, whose\n"
    "      own AUC (the ceiling) is printed.\n";

/* Criteo-layout click logs; the planted model's AUC on (up to) the first 200,000 rows. */
static int synth_ctr(const char *out, const sten_synth_ctr_opts *o)
{
    sten_ctx *ctx = cli_ctx_new("synth");
    const uint64_t keep = o->rows < 200000 ? o->rows : 200000;
    float *p = malloc((size_t)keep * sizeof *p), *y = malloc((size_t)keep * sizeof *y);
    FILE *f = NULL;
    sten_outfile *of = NULL;
    sten_status st = p && y ? sten_outfile_open(ctx, out, &of, &f) : sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st)
        st = sten_synth_ctr(ctx, o, f, p, y, keep);
    if (!st)
        st = sten_outfile_commit(ctx, of);
    else
        sten_outfile_abort(ctx, of);
    sten_score_metrics m;
    if (!st && !(st = sten_eval_scores(ctx, p, y, keep, &m))) {
        double clicks = 0;
        for (uint64_t i = 0; i < keep; i++)
            clicks += y[i];
        fprintf(stderr, "sten synth: %s: %llu click-log rows (seed %llu, cardinality scale %g); "
                "%.1f%% clicks; the planted model's AUC %.4f, log loss %.4f (first %llu rows)\n", out,
                (unsigned long long)o->rows, (unsigned long long)o->seed, o->scale,
                100.0 * clicks / (double)keep, m.auc, m.logloss, (unsigned long long)keep);
    }
    const int rc = st ? cli_fail("synth", ctx, st) : CLI_EX_OK;
    free(p), free(y);
    sten_ctx_free(ctx);
    return rc;
}

static const struct {
    const char *name;
    uint32_t users, items;
    uint64_t interactions;
} presets[] = {{"small", 2000, 1000, 100000},
               {"ml-100k", 943, 1682, 100000},
               {"ml-1m", 6040, 3706, 1000209},
               {"ml-20m", 138493, 26744, 20000263}};

int cmd_synth(int argc, char **argv)
{
    const cli_cmd *self = cli_find("synth");
    static const struct option opts[] = {
        {"preset", required_argument, NULL, 'p'}, {"users", required_argument, NULL, 'u'},
        {"items", required_argument, NULL, 'i'},  {"interactions", required_argument, NULL, 'n'},
        {"clusters", required_argument, NULL, 'c'}, {"seed", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"rows", required_argument, NULL, 'R'},   {"scale", required_argument, NULL, 'S'},
        {"force", no_argument, NULL, 'F'},        {NULL, 0, NULL, 0},
    };
    sten_synth_ctr_opts co = sten_synth_ctr_defaults();
    bool ctr = false;
    sten_synth_opts o = sten_synth_defaults();
    o.users = presets[0].users;
    o.items = presets[0].items;
    o.interactions = presets[0].interactions;
    long long users = -1, items = -1, inter = -1, v, threads = 0;
    const char *out = NULL;
    bool dsstne = false, force = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'R': if (cli_parse_int(self, "--rows", optarg, 1, 10000000000LL, &v)) return CLI_EX_USAGE; co.rows = (uint64_t)v; break;
        case 'S': if (cli_parse_double(self, "--scale", optarg, 1e-9, 1.0, &co.scale)) return CLI_EX_USAGE; break;
        case 'p': {
            if (!strcmp(optarg, "criteo")) {
                ctr = true;
                break;
            }
            size_t k = 0;
            while (k < sizeof presets / sizeof presets[0] && strcmp(presets[k].name, optarg))
                k++;
            if (k == sizeof presets / sizeof presets[0])
                return cli_usage_error(self, "unknown preset '%s' (small, ml-100k, ml-1m, ml-20m, criteo)", optarg);
            o.users = presets[k].users;
            o.items = presets[k].items;
            o.interactions = presets[k].interactions;
            break;
        }
        case 'u': if (cli_parse_int(self, "--users", optarg, 1, UINT32_MAX - 1, &users)) return CLI_EX_USAGE; break;
        case 'i': if (cli_parse_int(self, "--items", optarg, 10, 100000000, &items)) return CLI_EX_USAGE; break;
        case 'n': if (cli_parse_int(self, "--interactions", optarg, 1, 10000000000LL, &inter)) return CLI_EX_USAGE; break;
        case 'c': if (cli_parse_int(self, "--clusters", optarg, 1, 100000, &v)) return CLI_EX_USAGE; o.clusters = (uint32_t)v; break;
        case 's': if (cli_parse_int(self, "--seed", optarg, 0, INT64_MAX, &v)) return CLI_EX_USAGE; o.seed = (uint64_t)v; break;
        case 't': if (cli_parse_int(self, "--threads", optarg, 0, 1024, &threads)) return CLI_EX_USAGE; break;
        case 'f':
            if (strcmp(optarg, "ratings-csv") && strcmp(optarg, "dsstne"))
                return cli_usage_error(self, "--format expects ratings-csv or dsstne, got '%s'", optarg);
            dsstne = !strcmp(optarg, "dsstne");
            break;
        case 'o': out = optarg; break;
        case 'F': force = true; break;
        case 'h': cli_print_usage(stdout, self); return CLI_EX_OK;
        default: return cli_opt_error(self, c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!out)
        return cli_usage_error(self, "-o FILE is required");
    const int exists = cli_check_output("synth", out, force);
    if (exists)
        return exists;
    if (ctr) {
        co.seed = o.seed;
        return synth_ctr(out, &co);
    }
    if (users > 0) o.users = (uint32_t)users;
    if (items > 0) o.items = (uint32_t)items;
    if (inter > 0) o.interactions = (uint64_t)inter;
    sten_ctx *ctx = cli_ctx_new("synth");
    sten_ctx_set_threads(ctx, (int)threads);
    cli_progress_attach(ctx, "synth");
    sten_interactions in = {0};
    sten_status st = sten_synth(ctx, &o, &in);
    FILE *f = NULL;
    sten_outfile *of = NULL;
    if (!st)
        st = sten_outfile_open(ctx, out, &of, &f);
    if (!st && dsstne) { /* in pieces that end at a user's last record, for progress */
        for (uint64_t i = 0, j; !st && i < in.n; i = j) {
            cli_progress_count("writing", "interactions", i, in.n);
            for (j = CLI_MIN(in.n, i + (1 << 16)); j < in.n && in.x[j].user == in.x[j - 1].user; j++)
                ;
            st = sten_interactions_write_text(ctx, &in, in.x + i, j - i, STEN_VALUE_NONE, f);
        }
    } else if (!st) {
        fputs("userId,movieId,rating,timestamp\n", f);
        for (uint64_t i = 0; i < in.n; i++) {
            if ((i & 0xffff) == 0)
                cli_progress_count("writing", "interactions", i, in.n);
            fprintf(f, "%u,%u,%.1f,%lld\n", in.x[i].user + 1, in.x[i].item + 1, (double)in.x[i].rating,
                    (long long)in.x[i].timestamp);
        }
    }
    cli_progress_clear();
    if (!st)
        st = sten_outfile_commit(ctx, of);
    else
        sten_outfile_abort(ctx, of);
    if (!st)
        fprintf(stderr, "sten synth: %s: %u users, %u items, %llu interactions (seed %llu)\n", out,
                o.users, o.items, (unsigned long long)in.n, (unsigned long long)o.seed);
    const int rc = st ? cli_fail("synth", ctx, st) : CLI_EX_OK;
    sten_interactions_free(ctx, &in);
    sten_ctx_free(ctx);
    return rc;
}
