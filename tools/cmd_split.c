/* cmd_split.c — `sten split`: reads an interaction log, splits it with
 * sten_split (per-user random holdout, leave-one-out, per-user temporal,
 * global time cut, Liang et al.'s strong generalization) and writes each
 * part as DSSTNE text. The protocols themselves are src/rec/split.c. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char cmd_split_usage[] =
    "usage: sten split INPUT -o PREFIX --protocol P [options]\n"
    "\n"
    "Splits an interaction log and writes DSSTNE text files PREFIX-train.txt and\n"
    "PREFIX-test.txt (strong: also PREFIX-valid-foldin.txt, PREFIX-valid-holdout.txt,\n"
    "PREFIX-test-foldin.txt, PREFIX-test-holdout.txt; test.txt is then the test\n"
    "users' held-out part and train.txt the training users).\n"
    "\n"
    "  --protocol P        random    per user, hold out --fraction of the items at random\n"
    "                      loo       per user, hold out the latest item\n"
    "                      temporal  per user, hold out the latest --last N items\n"
    "                                or the latest --fraction\n"
    "                      time-cut  everything at or after --fraction of the time\n"
    "                                range (or --cut T) is test\n"
    "                      strong    Liang et al.: ratings > --positive (3.5) only,\n"
    "                                users with >= 5 items, --valid-users and\n"
    "                                --test-users held out, 80/20 fold-in\n"
    "  --fraction F        default 0.2\n"
    "  --last N            temporal: items per user held out\n"
    "  --cut T             time-cut: a timestamp\n"
    "  --seed S            default 98765 (Liang et al.'s)\n"
    "  --valid-users N, --test-users N   strong: default 10000 each, capped at a\n"
    "                      fifth of the users each\n"
    "  --positive X        strong: keep ratings > X (default 3.5)\n"
    "  -o, --output PREFIX\n"
    CLI_FORCE_USAGE
    CLI_LOG_USAGE
    "\n"
    "Users with fewer than two items stay whole in the training part.\n"
    "loo and temporal take \"latest\" by timestamp; a log without timestamps has\n"
    "no time order, and they then hold out each user's items that first appear\n"
    "latest in the file (said on stderr). time-cut needs timestamps.\n";

typedef struct {
    sten_split_opts o;
    bool have_protocol, force;
    const char *prefix;
    sten_value_kind value;
} split_args;

static const char *const strong_parts[] = {"train", "valid-foldin", "valid-holdout", "test-foldin",
                                           "test-holdout"};
static const char *const plain_parts[] = {"train", "test"};

/* The files the split will write, refused if they exist (unless --force). */
static int check_outputs(const split_args *a)
{
    const bool strong = a->o.protocol == STEN_SPLIT_STRONG;
    for (int k = 0; k < (strong ? 5 : 2); k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s-%s.txt", a->prefix, strong ? strong_parts[k] : plain_parts[k]);
        const int rc = cli_check_output("split", path, a->force);
        if (rc)
            return rc;
    }
    return 0;
}

/* Protocols that take the latest records need timestamps: time-cut is
 * refused without them, loo and temporal say what "latest" became. */
static sten_status check_time(sten_ctx *ctx, const char *path, const split_args *a, const sten_interactions *in)
{
    const sten_split_protocol p = a->o.protocol;
    if (p != STEN_SPLIT_LOO && p != STEN_SPLIT_TEMPORAL && p != STEN_SPLIT_TIMECUT)
        return STEN_OK;
    for (uint64_t i = 0; i < in->n; i++)
        if (in->x[i].timestamp != 0)
            return STEN_OK;
    if (p == STEN_SPLIT_TIMECUT)
        return sten_fail(ctx, STEN_E_FORMAT, "%s: --protocol time-cut needs timestamps, and this log has none "
                         "(give --columns with a timestamp, or use --protocol random)", path);
    fprintf(stderr, "sten split: warning: %s has no timestamps, so there is no time order: --protocol %s "
            "held out each user's item%s that first appear%s latest in the file (the highest item "
            "numbers), not the most recent; use a log with timestamps, or --protocol random\n", path,
            p == STEN_SPLIT_LOO ? "loo" : "temporal", p == STEN_SPLIT_LOO ? "" : "s",
            p == STEN_SPLIT_LOO ? "s" : "");
    return STEN_OK;
}

/* Writes the records of x[0..n) for which keep(flag) holds. */
static sten_status write_part(sten_ctx *ctx, const sten_interactions *in, const uint8_t *flag,
                              uint8_t want, const char *prefix, const char *part, sten_value_kind v,
                              uint64_t *count)
{
    char path[4200];
    snprintf(path, sizeof path, "%s-%s.txt", prefix, part);
    sten_interaction *sel = malloc((in->n ? in->n : 1) * sizeof *sel);
    if (!sel)
        return sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    uint64_t k = 0;
    for (uint64_t i = 0; i < in->n; i++)
        if (flag[i] == want)
            sel[k++] = in->x[i];
    FILE *f;
    sten_outfile *of;
    sten_status st = sten_outfile_open(ctx, path, &of, &f);
    if (!st)
        st = sten_interactions_write_text(ctx, in, sel, k, v, f);
    if (!st)
        st = sten_outfile_commit(ctx, of);
    else if (of)
        sten_outfile_abort(ctx, of);
    free(sel);
    *count = k;
    if (!st)
        fprintf(stderr, "sten split: %s: %llu interactions\n", path, (unsigned long long)k);
    return st;
}

static int parse(const cli_cmd *self, int argc, char **argv, split_args *a, sten_log_opts *lo)
{
    static const struct option opts[] = {
        {"protocol", required_argument, NULL, 'P'}, {"fraction", required_argument, NULL, 'F'},
        {"last", required_argument, NULL, 'L'},     {"cut", required_argument, NULL, 'C'},
        {"seed", required_argument, NULL, 'S'},     {"valid-users", required_argument, NULL, 'V'},
        {"test-users", required_argument, NULL, 'T'}, {"positive", required_argument, NULL, 'X'},
        {"output", required_argument, NULL, 'o'},   {"help", no_argument, NULL, 'h'},
        {"force", no_argument, NULL, 'f'},
        CLI_LOG_OPTIONS,                            {NULL, 0, NULL, 0},
    };
    /* in the order of sten_split_protocol */
    static const char *const protocols[] = {"random", "loo", "temporal", "time-cut", "strong"};
    int c, bad = 0;
    long long v = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'P':
            a->have_protocol = false;
            for (int k = 0; k < 5; k++)
                if (!strcmp(optarg, protocols[k])) {
                    a->o.protocol = (sten_split_protocol)k;
                    a->have_protocol = true;
                }
            if (!a->have_protocol)
                bad = cli_usage_error(self, "unknown --protocol '%s' (random, loo, temporal, "
                                      "time-cut, strong)", optarg);
            break;
        case 'F': bad = cli_parse_double(self, "--fraction", optarg, 0.0001, 0.9999, &a->o.fraction); break;
        case 'L': bad = cli_parse_int(self, "--last", optarg, 1, 1000000, &v); a->o.last = (uint64_t)v; break;
        case 'C': bad = cli_parse_double(self, "--cut", optarg, -9e18, 9e18, &a->o.cut); break;
        case 'S': bad = cli_parse_int(self, "--seed", optarg, 0, INT64_MAX, &v); a->o.seed = (uint64_t)v; break;
        case 'V': bad = cli_parse_int(self, "--valid-users", optarg, 0, UINT32_MAX, &v); a->o.valid_users = (uint32_t)v; break;
        case 'T': bad = cli_parse_int(self, "--test-users", optarg, 0, UINT32_MAX, &v); a->o.test_users = (uint32_t)v; break;
        case 'X': bad = cli_parse_double(self, "--positive", optarg, -1e9, 1e9, &a->o.positive); break;
        case 'o': a->prefix = optarg; break;
        case 'f': a->force = true; break;
        case 'h': cli_print_usage(stdout, self); return -1;
        default:
            if (c >= CLI_OPT_FORMAT && c <= CLI_OPT_VALUE)
                bad = cli_log_option(self, c, optarg, lo, &a->value);
            else
                bad = cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return bad;
    if (argc - optind != 1)
        return cli_usage_error(self, argc == optind ? "INPUT is required" : "one INPUT only");
    if (!a->prefix || !a->have_protocol)
        return cli_usage_error(self, "%s is required", !a->prefix ? "-o PREFIX" : "--protocol");
    return 0;
}

int cmd_split(int argc, char **argv)
{
    const cli_cmd *self = cli_find("split");
    split_args a = {.o = sten_split_defaults()};
    sten_log_opts lo = {.format = STEN_FMT_AUTO, .min_rating = NAN};
    const int rc0 = parse(self, argc, argv, &a, &lo);
    if (rc0)
        return rc0 < 0 ? CLI_EX_OK : rc0;
    const int exists = check_outputs(&a);
    if (exists)
        return exists;
    sten_ctx *ctx = cli_ctx_new("split");
    cli_progress_attach(ctx, "split");
    sten_interactions in = {0};
    sten_split_stats stats;
    uint8_t *part = NULL;
    sten_status st = sten_interactions_read(ctx, argv[optind], &lo, &in);
    cli_progress_clear();
    if (!st)
        st = check_time(ctx, argv[optind], &a, &in);
    if (!st && !(part = malloc(in.n ? in.n : 1)))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st && (st = sten_split(ctx, &a.o, &in, part, &stats))) {
        char msg[1200]; /* the library's message, with the file it is about */
        snprintf(msg, sizeof msg, "%s: %s", argv[optind], sten_ctx_error(ctx));
        sten_ctx_clear_error(ctx);
        st = sten_fail(ctx, st, "%s", msg);
    }
    uint64_t cnt;
    if (!st && a.o.protocol == STEN_SPLIT_STRONG) {
        fprintf(stderr, "sten split: strong generalization: %u users with >= 5 positives, %u validation, "
                "%u test\n", stats.users, stats.valid_users, stats.test_users);
        static const uint8_t codes[] = {STEN_PART_TRAIN, STEN_PART_VALID_FOLDIN, STEN_PART_VALID_HOLDOUT,
                                        STEN_PART_TEST_FOLDIN, STEN_PART_TEST_HOLDOUT};
        for (int k = 0; k < 5 && !st; k++)
            st = write_part(ctx, &in, part, codes[k], a.prefix, strong_parts[k], a.value, &cnt);
    } else if (!st) {
        st = write_part(ctx, &in, part, STEN_PART_TRAIN, a.prefix, "train", a.value, &cnt);
        if (!st)
            st = write_part(ctx, &in, part, STEN_PART_TEST, a.prefix, "test", a.value, &cnt);
    }
    const int rc = st ? cli_fail("split", ctx, st) : CLI_EX_OK;
    free(part);
    sten_interactions_free(ctx, &in);
    sten_ctx_free(ctx);
    return rc;
}
