/* cmd_evaluate.c — `sten evaluate`: recommendation lines against held-out
 * truth (both DSSTNE text) -> Precision/Recall/truncated Recall/NDCG/MAP/
 * HitRate at several k, MRR and coverage; or a score file (prediction,label
 * per line) -> RMSE, MAE, AUC, log loss, accuracy. Table or --json. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char cmd_evaluate_usage[] =
    "usage: sten evaluate -r RECS -t TRUTH [-k 10,20,...] [--features FILE | --items N] [--json]\n"
    "       sten evaluate --scores FILE [--json]\n"
    "\n"
    "Ranking metrics of recommendation lines (\"user<TAB>item,score:...\", as\n"
    "sten predict writes) against held-out items (DSSTNE text), averaged over\n"
    "the users with held-out items; a user with no recommendation line counts\n"
    "as all misses. Definitions in docs/evaluate.md.\n"
    "\n"
    "  -r, --recs FILE      recommendations\n"
    "  -t, --truth FILE     held-out items per user\n"
    "  -k LIST              cut-offs (default 10,20,50)\n"
    "      --features FILE  the catalogue for coverage: an item index file\n"
    "      --items N        ... or its size (default: items seen in both files)\n"
    "      --scores FILE    lines \"prediction,label\" (or TAB): RMSE, MAE, AUC,\n"
    "                       log loss, accuracy\n"
    "      --json           one JSON object instead of a table\n";

static int parse_ks(const cli_cmd *self, const char *s, uint32_t *ks, uint32_t *n)
{
    *n = 0;
    while (*s) {
        const char *e = strchr(s, ',');
        const size_t len = e ? (size_t)(e - s) : strlen(s);
        long long v;
        if (*n == STEN_EVAL_MAX_K || sten_parse_int(s, len, 1, 1 << 24, &v) != STEN_OK)
            return cli_usage_error(self, "-k expects up to %d comma-separated cut-offs >= 1", STEN_EVAL_MAX_K);
        ks[(*n)++] = (uint32_t)v;
        s += len + (e != NULL);
    }
    return *n ? 0 : cli_usage_error(self, "-k is empty");
}

static sten_status eval_scores(sten_ctx *ctx, const char *path, bool json)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sten_fail(ctx, STEN_E_NOTFOUND, "%s: cannot open", path);
    size_t n = 0, cap = 0;
    float *s = NULL, *y = NULL;
    char line[256];
    unsigned long long ln = 0;
    sten_status st = STEN_OK;
    while (!st && fgets(line, sizeof line, f)) {
        ln++;
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0)
            continue;
        const size_t a = strcspn(line, ",\t");
        double p, l;
        if (line[a] == '\0' || sten_parse_double(line, a, &p) || sten_parse_double(line + a + 1, len - a - 1, &l)) {
            st = sten_fail(ctx, STEN_E_PARSE, "%s:%llu: expected \"prediction,label\" (two numbers)", path, ln);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            float *ns = realloc(s, cap * sizeof *s), *ny = realloc(y, cap * sizeof *y);
            if (!ns || !ny) {
                free(ns ? ns : s), free(ny ? ny : y);
                fclose(f);
                return sten_fail(ctx, STEN_E_NOMEM, "out of memory");
            }
            s = ns, y = ny;
        }
        s[n] = (float)p;
        y[n++] = (float)l;
    }
    fclose(f);
    sten_score_metrics m;
    if (!st && n == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no scores (expected lines \"prediction,label\"); an empty "
                       "file has no metrics", path);
    if (!st)
        st = sten_eval_scores(ctx, s, y, n, &m);
    if (!st && json)
        printf("{\"n\": %zu, \"rmse\": %.6f, \"mae\": %.6f, \"auc\": %.6f, \"logloss\": %.6f, "
               "\"accuracy\": %.6f}\n", n, m.rmse, m.mae, m.auc, m.logloss, m.accuracy);
    else if (!st)
        printf("n %zu\nRMSE      %.4f\nMAE       %.4f\nAUC       %.4f\nlogloss   %.4f\naccuracy  %.4f\n",
               n, m.rmse, m.mae, m.auc, m.logloss, m.accuracy);
    free(s), free(y);
    return st;
}

static sten_status eval_ranking(sten_ctx *ctx, const char *recs, const char *truth, const uint32_t *ks,
                                uint32_t n_k, const char *features, long long n_items, bool json)
{
    sten_index *items = NULL, *users = NULL;
    sten_csr R = {0}, T = {0};
    uint32_t *rid = NULL, *tid = NULL;
    int64_t *row_of = NULL;
    sten_eval *ev = NULL;
    sten_text_stats ts;
    sten_status st = features ? cli_load_index(ctx, features, &items) : sten_index_new(ctx, &items);
    if (!st)
        st = sten_index_new(ctx, &users);
    /* with a catalogue index, items outside it are dropped with a warning */
    if (!st)
        st = sten_text_read(ctx, recs, items, !features, users, true, &R, &rid, &ts);
    if (!st)
        st = sten_text_read(ctx, truth, items, !features, users, false, &T, &tid, &ts);
    if (!st && T.rows == 0) /* every metric would be 0/0 */
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no held-out items (no \"user<TAB>item:item...\" lines); "
                       "there is nothing to evaluate", truth);
    if (!st && R.rows == 0)
        sten_log(ctx, STEN_LOG_WARN, "%s holds no recommendation lines: every user counts as a miss", recs);
    const uint32_t catalogue = n_items > 0 ? (uint32_t)n_items : sten_index_span(items);
    if (!st)
        st = sten_eval_new(ctx, ks, n_k, catalogue ? catalogue : 1, &ev);
    if (!st && !(row_of = malloc(((size_t)sten_index_span(users) + 1) * sizeof *row_of)))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (uint32_t i = 0; !st && i < sten_index_span(users); i++)
        row_of[i] = -1;
    for (uint32_t r = 0; !st && r < R.rows; r++)
        row_of[rid[r]] = r;
    uint64_t no_list = 0;
    for (uint32_t t = 0; !st && t < T.rows; t++) {
        if ((t & 0xfff) == 0)
            cli_progress_count("scoring", "users", t, T.rows);
        const int64_t r = row_of[tid[t]];
        no_list += r < 0;
        const uint64_t r0 = r >= 0 ? R.row_ptr[r] : 0, r1 = r >= 0 ? R.row_ptr[r + 1] : 0;
        st = sten_eval_add(ctx, ev, R.col + r0, (uint32_t)(r1 - r0), T.col + T.row_ptr[t],
                           (uint32_t)(T.row_ptr[t + 1] - T.row_ptr[t]));
    }
    cli_progress_clear();
    if (!st) {
        sten_rank_metrics m[STEN_EVAL_MAX_K];
        double mrr, cov;
        uint64_t nu, empty;
        sten_eval_result(ev, m, &mrr, &cov, &nu, &empty);
        if (json) {
            printf("{\"users\": %llu, \"users_without_list\": %llu, \"mrr\": %.6f, \"coverage\": %.6f, "
                   "\"at\": [", (unsigned long long)nu, (unsigned long long)no_list, mrr, cov);
            for (uint32_t c = 0; c < n_k; c++)
                printf("%s{\"k\": %u, \"precision\": %.6f, \"recall\": %.6f, \"recall_trunc\": %.6f, "
                       "\"ndcg\": %.6f, \"map\": %.6f, \"hit_rate\": %.6f}", c ? ", " : "", m[c].k,
                       m[c].precision, m[c].recall, m[c].recall_trunc, m[c].ndcg, m[c].map, m[c].hit_rate);
            printf("]}\n");
        } else {
            printf("users %llu (without a recommendation line: %llu)\n", (unsigned long long)nu,
                   (unsigned long long)no_list);
            printf("%6s %10s %10s %10s %10s %10s %10s\n", "k", "Precision", "Recall", "Recall*",
                   "NDCG", "MAP", "HitRate");
            for (uint32_t c = 0; c < n_k; c++)
                printf("%6u %10.4f %10.4f %10.4f %10.4f %10.4f %10.4f\n", m[c].k, m[c].precision,
                       m[c].recall, m[c].recall_trunc, m[c].ndcg, m[c].map, m[c].hit_rate);
            printf("MRR %.4f   coverage %.4f of %u items   (Recall* = hits / min(k, held-out))\n", mrr,
                   cov, catalogue);
        }
    }
    free(row_of);
    sten_eval_free(ctx, ev);
    sten_csr_free(ctx, &R);
    sten_csr_free(ctx, &T);
    sten_free(ctx, rid);
    sten_free(ctx, tid);
    sten_index_free(ctx, items);
    sten_index_free(ctx, users);
    return st;
}

int cmd_evaluate(int argc, char **argv)
{
    const cli_cmd *self = cli_find("evaluate");
    static const struct option opts[] = {
        {"recs", required_argument, NULL, 'r'},   {"truth", required_argument, NULL, 't'},
        {"features", required_argument, NULL, 'F'}, {"items", required_argument, NULL, 'N'},
        {"scores", required_argument, NULL, 'S'}, {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *recs = NULL, *truth = NULL, *features = NULL, *scores = NULL;
    long long n_items = 0;
    bool json = false;
    uint32_t ks[STEN_EVAL_MAX_K] = {10, 20, 50}, n_k = 3;
    int c, bad = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":r:t:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': recs = optarg; break;
        case 't': truth = optarg; break;
        case 'k': bad = parse_ks(self, optarg, ks, &n_k); break;
        case 'F': features = optarg; break;
        case 'N': bad = cli_parse_int(self, "--items", optarg, 1, UINT32_MAX - 1, &n_items); break;
        case 'S': scores = optarg; break;
        case 'J': json = true; break;
        case 'h': cli_print_usage(stdout, self); return CLI_EX_OK;
        default: bad = cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return bad;
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!scores && (!recs || !truth))
        return cli_usage_error(self, "-r RECS and -t TRUTH (or --scores FILE) are required");
    sten_ctx *ctx = cli_ctx_new("evaluate");
    cli_progress_attach(ctx, "evaluate"); /* reading large files */
    const sten_status st = scores ? eval_scores(ctx, scores, json)
                                  : eval_ranking(ctx, recs, truth, ks, n_k, features, n_items, json);
    const int rc = st ? cli_fail("evaluate", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return rc;
}
