/* cmd_split.c — `sten split`: train/test (and validation) splits of an
 * interaction log, written as DSSTNE text: per-user random holdout,
 * leave-one-out, per-user temporal, global time cut, and the strong
 * generalization protocol of Liang et al. 2018 (Mult-VAE). */
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
    CLI_LOG_USAGE
    "\n"
    "Users with fewer than two items stay whole in the training part.\n";

enum { P_RANDOM, P_LOO, P_TEMPORAL, P_TIMECUT, P_STRONG };

typedef struct {
    int protocol;
    double fraction, cut, positive;
    long long last, seed, valid_users, test_users;
    const char *prefix;
    sten_value_kind value;
} split_args;

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

/* Per user: mark m of its n records (in [a, b), time-sorted) as test (1). */
static void mark_user(const split_args *a, uint8_t *flag, uint64_t s, uint64_t e, uint32_t user)
{
    const uint64_t n = e - s;
    if (n < 2)
        return;
    uint64_t m;
    if (a->protocol == P_LOO)
        m = 1;
    else if (a->protocol == P_TEMPORAL && a->last > 0)
        m = (uint64_t)a->last;
    else
        m = (uint64_t)llround(a->fraction * (double)n);
    m = m < 1 ? 1 : m > n - 1 ? n - 1 : m;
    if (a->protocol != P_RANDOM) { /* the latest m */
        for (uint64_t i = e - m; i < e; i++)
            flag[i] = 1;
        return;
    }
    /* m distinct positions from the user's own stream (Floyd's algorithm) */
    sten_rng r;
    sten_rng_init(&r, (uint64_t)a->seed, user);
    for (uint64_t j = n - m; j < n; j++) {
        const uint64_t t = sten_rng_below(&r, (uint32_t)j + 1);
        flag[s + (flag[s + t] ? j : t)] = 1;
    }
}

static sten_status strong(sten_ctx *ctx, const split_args *a, sten_interactions *in, uint8_t *flag)
{
    /* positives only; users with >= 5 of them */
    uint64_t w = 0;
    for (uint64_t i = 0; i < in->n; i++)
        if (in->x[i].rating > a->positive)
            in->x[w++] = in->x[i];
    in->n = w;
    const uint32_t U = sten_index_span(in->users);
    uint64_t *start = calloc((size_t)U + 1, sizeof *start);
    uint32_t *users = malloc(((size_t)U + 1) * sizeof *users);
    if (!start || !users) {
        free(start), free(users);
        return sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < in->n; i++)
        start[in->x[i].user + 1]++;
    uint32_t n_users = 0;
    for (uint32_t u = 0; u < U; u++)
        if (start[u + 1] >= 5)
            users[n_users++] = u;
    /* shuffle the kept users with the seed; take test, then validation */
    sten_rng r;
    sten_rng_init(&r, (uint64_t)a->seed, 0);
    for (uint32_t i = n_users; i > 1; i--) {
        const uint32_t j = sten_rng_below(&r, i), t = users[i - 1];
        users[i - 1] = users[j];
        users[j] = t;
    }
    const uint32_t cap = n_users / 5;
    const uint32_t nt = (uint32_t)CLI_MIN((long long)cap, a->test_users);
    const uint32_t nv = (uint32_t)CLI_MIN((long long)cap, a->valid_users);
    /* role per user: 0 dropped (< 5), 1 train, 2 valid, 3 test */
    uint8_t *role = calloc(U ? U : 1, 1);
    if (!role) {
        free(start), free(users);
        return sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < n_users; i++)
        role[users[i]] = i < nt ? 3 : i < nt + nv ? 2 : 1;
    /* items: those the training users have */
    const uint32_t I = sten_index_span(in->items);
    uint8_t *known = calloc(I ? I : 1, 1);
    for (uint64_t i = 0; known && i < in->n; i++)
        if (role[in->x[i].user] == 1)
            known[in->x[i].item] = 1;
    /* flags: 0 train, 2 valid fold-in, 3 valid holdout, 4 test fold-in, 5 test holdout, 9 drop */
    for (uint64_t s = 0; known && s < in->n;) {
        const uint32_t u = in->x[s].user;
        uint64_t e = s;
        while (e < in->n && in->x[e].user == u)
            e++;
        for (uint64_t i = s; i < e; i++)
            flag[i] = role[u] == 0 ? 9 : role[u] == 1 ? 0 : !known[in->x[i].item] ? 9
                    : role[u] == 2 ? 2 : 4;
        if (role[u] >= 2) { /* 20% of the user's known items held out */
            uint64_t n = 0;
            for (uint64_t i = s; i < e; i++)
                n += flag[i] != 9;
            const uint64_t m = (uint64_t)llround(0.2 * (double)n);
            sten_rng ru;
            sten_rng_init(&ru, (uint64_t)a->seed + 1, u);
            for (uint64_t k = 0, picked = 0; picked < m && k < 64 * n + 64; k++) {
                const uint64_t i = s + sten_rng_below(&ru, (uint32_t)(e - s));
                if (flag[i] == 2 || flag[i] == 4) {
                    flag[i]++;
                    picked++;
                }
            }
        }
        s = e;
    }
    const bool ok = known != NULL;
    free(start), free(users), free(role), free(known);
    if (!ok)
        return sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    fprintf(stderr, "sten split: strong generalization: %u users with >= 5 positives, %u validation, "
            "%u test\n", n_users, nv, nt);
    return STEN_OK;
}

static int parse(const cli_cmd *self, int argc, char **argv, split_args *a, sten_log_opts *lo)
{
    static const struct option opts[] = {
        {"protocol", required_argument, NULL, 'P'}, {"fraction", required_argument, NULL, 'F'},
        {"last", required_argument, NULL, 'L'},     {"cut", required_argument, NULL, 'C'},
        {"seed", required_argument, NULL, 'S'},     {"valid-users", required_argument, NULL, 'V'},
        {"test-users", required_argument, NULL, 'T'}, {"positive", required_argument, NULL, 'X'},
        {"output", required_argument, NULL, 'o'},   {"help", no_argument, NULL, 'h'},
        CLI_LOG_OPTIONS,                            {NULL, 0, NULL, 0},
    };
    static const char *const protocols[] = {"random", "loo", "temporal", "time-cut", "strong"};
    int c, bad = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'P':
            a->protocol = -1;
            for (int k = 0; k < 5; k++)
                if (!strcmp(optarg, protocols[k]))
                    a->protocol = k;
            if (a->protocol < 0)
                bad = cli_usage_error(self, "unknown --protocol '%s' (random, loo, temporal, "
                                      "time-cut, strong)", optarg);
            break;
        case 'F': bad = cli_parse_double(self, "--fraction", optarg, 0.0001, 0.9999, &a->fraction); break;
        case 'L': bad = cli_parse_int(self, "--last", optarg, 1, 1000000, &a->last); break;
        case 'C': bad = cli_parse_double(self, "--cut", optarg, -9e18, 9e18, &a->cut); break;
        case 'S': bad = cli_parse_int(self, "--seed", optarg, 0, INT64_MAX, &a->seed); break;
        case 'V': bad = cli_parse_int(self, "--valid-users", optarg, 0, UINT32_MAX, &a->valid_users); break;
        case 'T': bad = cli_parse_int(self, "--test-users", optarg, 0, UINT32_MAX, &a->test_users); break;
        case 'X': bad = cli_parse_double(self, "--positive", optarg, -1e9, 1e9, &a->positive); break;
        case 'o': a->prefix = optarg; break;
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
    if (!a->prefix || a->protocol < 0)
        return cli_usage_error(self, "%s is required", !a->prefix ? "-o PREFIX" : "--protocol");
    return 0;
}

int cmd_split(int argc, char **argv)
{
    const cli_cmd *self = cli_find("split");
    split_args a = {.protocol = -1, .fraction = 0.2, .cut = NAN, .positive = 3.5, .seed = 98765,
                    .valid_users = 10000, .test_users = 10000};
    sten_log_opts lo = {.format = STEN_FMT_AUTO, .min_rating = NAN};
    const int rc0 = parse(self, argc, argv, &a, &lo);
    if (rc0)
        return rc0 < 0 ? CLI_EX_OK : rc0;
    sten_ctx *ctx = cli_ctx_new("split");
    sten_interactions in = {0};
    sten_status st = sten_interactions_read(ctx, argv[optind], &lo, &in);
    if (!st)
        sten_interactions_dedupe(&in); /* also sorts by user, then time */
    if (!st && a.protocol == P_STRONG)
        for (uint64_t i = 0; i < in.n && !st; i++)
            if (isnan(in.x[i].rating))
                st = sten_fail(ctx, STEN_E_FORMAT, "%s: the strong protocol needs ratings; this log has "
                               "none", argv[optind]);
    uint8_t *flag = st ? NULL : calloc(in.n ? in.n : 1, 1);
    if (!st && !flag)
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st && a.protocol == P_STRONG) {
        st = strong(ctx, &a, &in, flag);
    } else if (!st && a.protocol == P_TIMECUT) {
        int64_t lo_t = INT64_MAX, hi_t = INT64_MIN;
        for (uint64_t i = 0; i < in.n; i++) {
            lo_t = CLI_MIN(lo_t, in.x[i].timestamp);
            hi_t = CLI_MAX(hi_t, in.x[i].timestamp);
        }
        const double cut = !isnan(a.cut) ? a.cut : hi_t - a.fraction * (double)(hi_t - lo_t);
        for (uint64_t i = 0; i < in.n; i++)
            flag[i] = (double)in.x[i].timestamp >= cut;
    } else if (!st) {
        for (uint64_t s = 0; s < in.n;) {
            uint64_t e = s;
            while (e < in.n && in.x[e].user == in.x[s].user)
                e++;
            mark_user(&a, flag, s, e, in.x[s].user);
            s = e;
        }
    }
    uint64_t cnt;
    if (!st && a.protocol == P_STRONG) {
        static const char *const parts[] = {"train", "valid-foldin", "valid-holdout", "test-foldin",
                                            "test-holdout"};
        static const uint8_t codes[] = {0, 2, 3, 4, 5};
        for (int k = 0; k < 5 && !st; k++)
            st = write_part(ctx, &in, flag, codes[k], a.prefix, parts[k], a.value, &cnt);
    } else if (!st) {
        st = write_part(ctx, &in, flag, 0, a.prefix, "train", a.value, &cnt);
        if (!st)
            st = write_part(ctx, &in, flag, 1, a.prefix, "test", a.value, &cnt);
    }
    const int rc = st ? cli_fail("split", ctx, st) : CLI_EX_OK;
    free(flag);
    sten_interactions_free(ctx, &in);
    sten_ctx_free(ctx);
    return rc;
}
