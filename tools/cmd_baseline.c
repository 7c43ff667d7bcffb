/* cmd_baseline.c — `sten baseline popularity|ease|itemknn|rp3beta`: the
 * baselines every number needs beside it, through the same recommendation-line output as
 * `sten predict`, so `sten evaluate` compares them like for like. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char cmd_baseline_usage[] =
    "usage: sten baseline popularity|ease|itemknn|rp3beta --train TRAIN -s RECS\n"
    "                     [-r USERS] [-k K] [--lambda L] [--max-items N]\n"
    "                     [--neighbours M] [--shrink S] [--alpha A] [--beta B]\n"
    "                     [--keep-seen] [-t N]\n"
    "\n"
    "Fits a baseline on TRAIN (DSSTNE text) and writes the top-K items for the\n"
    "users of USERS (default: TRAIN's users) that they do not have in TRAIN or\n"
    "USERS. popularity ranks items by how many users have them; ease is Steck's\n"
    "closed-form item-item model (WWW 2019), a dense items x items matrix;\n"
    "itemknn (cosine, shrunk) and rp3beta (item-user-item walk, popularity\n"
    "penalised) keep M neighbours per item, sparse (docs/evaluate.md).\n"
    "\n"
    "  --train FILE       training interactions\n"
    "  -r, --users FILE   users to recommend for (their items are the input)\n"
    "  -s, --output FILE  recommendations (atomically)\n"
    CLI_FORCE_USAGE
    "  -k K               items per user (default 100)\n"
    "  --lambda L         ease: L2 strength (default 500)\n"
    "  --max-items N      ease: refuse catalogues larger than N (default 40000;\n"
    "                     the matrix takes N*N*4 bytes)\n"
    "  --neighbours M     itemknn, rp3beta: neighbours kept per item (default 100)\n"
    "  --shrink S         itemknn: c / (sqrt(n_i n_j) + S) (default 10)\n"
    "  --alpha A          rp3beta: transition exponent in [0, 4] (default 1)\n"
    "  --beta B           rp3beta: popularity exponent in [0, 4] (default 0.5)\n"
    "  --keep-seen        do not exclude known items\n"
    "  -t, --threads N    threads\n";

int cmd_baseline(int argc, char **argv)
{
    const cli_cmd *self = cli_find("baseline");
    static const struct option opts[] = {
        {"train", required_argument, NULL, 'T'}, {"users", required_argument, NULL, 'r'},
        {"output", required_argument, NULL, 's'}, {"lambda", required_argument, NULL, 'L'},
        {"max-items", required_argument, NULL, 'M'}, {"keep-seen", no_argument, NULL, 'K'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"force", no_argument, NULL, 'f'},         {"neighbours", required_argument, NULL, 'N'},
        {"neighbors", required_argument, NULL, 'N'}, {"shrink", required_argument, NULL, 'S'},
        {"alpha", required_argument, NULL, 'A'},   {"beta", required_argument, NULL, 'B'},
        {NULL, 0, NULL, 0},
    };
    const char *train = NULL, *users_path = NULL, *out = NULL;
    long long k = 100, max_items = 40000, threads = 0;
    double lambda = 500.0;
    sten_nbhd_opts no = sten_nbhd_defaults();
    long long nbrs = no.neighbors;
    double shrink = no.shrink, alpha = no.alpha, beta = no.beta;
    bool keep_seen = false, force = false;
    int c, bad = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":r:s:k:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'T': train = optarg; break;
        case 'r': users_path = optarg; break;
        case 's': out = optarg; break;
        case 'k': bad = cli_parse_int(self, "-k", optarg, 1, 1 << 24, &k); break;
        case 'L': bad = cli_parse_double(self, "--lambda", optarg, 1e-9, 1e12, &lambda); break;
        case 'M': bad = cli_parse_int(self, "--max-items", optarg, 1, 1000000, &max_items); break;
        case 'N': bad = cli_parse_int(self, "--neighbours", optarg, 1, 1000000, &nbrs); break;
        case 'S': bad = cli_parse_double(self, "--shrink", optarg, 0, 1e12, &shrink); break;
        case 'A': bad = cli_parse_double(self, "--alpha", optarg, 0, STEN_NBHD_MAX_EXPONENT, &alpha); break;
        case 'B': bad = cli_parse_double(self, "--beta", optarg, 0, STEN_NBHD_MAX_EXPONENT, &beta); break;
        case 'K': keep_seen = true; break;
        case 'f': force = true; break;
        case 't': bad = cli_parse_int(self, "--threads", optarg, 0, 1024, &threads); break;
        case 'h': cli_print_usage(stdout, self); return CLI_EX_OK;
        default: bad = cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return bad;
    static const char *const names[] = {"popularity", "ease", "itemknn", "rp3beta"};
    int which = -1;
    for (int i = 0; argc - optind == 1 && i < 4; i++)
        if (!strcmp(argv[optind], names[i]))
            which = i;
    if (which < 0)
        return cli_usage_error(self, "name the baseline: popularity, ease, itemknn or rp3beta");
    if (!train || !out)
        return cli_usage_error(self, "%s is required", !train ? "--train FILE" : "-s RECS");
    const int exists = cli_check_output("baseline", out, force);
    if (exists)
        return exists;
    const bool ease = which == 1, nbhd = which >= 2;
    no.kind = which == 3 ? STEN_NBHD_RP3BETA : STEN_NBHD_ITEMKNN;
    no.neighbors = (uint32_t)nbrs, no.shrink = (float)shrink, no.alpha = (float)alpha, no.beta = (float)beta;
    sten_ctx *ctx = cli_ctx_new("baseline");
    sten_ctx_set_threads(ctx, (int)threads);
    cli_progress_attach(ctx, "baseline");
    sten_index *items = NULL, *users = NULL;
    sten_csr X = {0}, U = {0};
    uint32_t *xid = NULL, *uid = NULL;
    sten_ease *model = NULL;
    sten_nbhd *nmodel = NULL;
    sten_text_stats ts;
    sten_outfile *of = NULL;
    FILE *f = NULL;
    sten_status st = sten_index_new(ctx, &items);
    if (!st)
        st = sten_index_new(ctx, &users);
    if (!st)
        st = sten_text_read(ctx, train, items, true, users, false, &X, &xid, &ts);
    if (!st && X.rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no training interactions (no \"user<TAB>item:item...\" "
                       "lines); a baseline needs some", train);
    if (!st && users_path)
        st = sten_text_read(ctx, users_path, items, false, users, false, &U, &uid, &ts);
    const sten_csr *Q = users_path ? &U : &X;
    const uint32_t *qid = users_path ? uid : xid;
    const uint32_t N = sten_index_span(items);
    if (!st) {
        X.cols = N;
        U.cols = N;
    }
    if (!st && ease)
        st = sten_ease_fit(ctx, &X, (float)lambda, (uint32_t)max_items, &model);
    if (!st && nbhd)
        st = sten_nbhd_fit(ctx, &X, &no, &nmodel);
    /* exclusions: the user's items in USERS and in TRAIN (by user label) */
    int64_t *train_row = NULL;
    if (!st && !(train_row = malloc(((size_t)sten_index_span(users) + 1) * sizeof *train_row)))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (uint32_t i = 0; !st && i < sten_index_span(users); i++)
        train_row[i] = -1;
    for (uint32_t r = 0; !st && r < X.rows; r++)
        train_row[xid[r]] = r;
    if (!st)
        st = sten_outfile_open(ctx, out, &of, &f);
    const uint32_t B = 256, K = (uint32_t)k;
    float *S = malloc((size_t)B * (N ? N : 1) * sizeof *S), *pop = malloc((N ? N : 1) * sizeof *pop);
    uint32_t *idx = malloc((size_t)B * K * 4), *cnt = malloc(B * 4);
    float *val = malloc((size_t)B * K * 4);
    sten_csr ex = {0}, batch = {0};
    if (!st && (!S || !pop || !idx || !cnt || !val))
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    if (!st && !ease && !nbhd)
        sten_popularity(&X, pop);
    for (uint32_t pos = 0; !st && pos < Q->rows; pos += B) {
        const uint32_t nb = CLI_MIN(B, Q->rows - pos);
        cli_progress_count(ease ? "EASE: scoring" : "scoring", "users", pos, Q->rows);
        /* this batch's rows as their own CSR (a view: row_ptr shifted) */
        batch = *Q;
        batch.row_ptr = Q->row_ptr + pos;
        batch.rows = nb;
        if (ease) {
            /* spmm reads row_ptr[b] as absolute offsets, as the view keeps them */
            sten_ease_scores(ctx, model, &batch, S);
        } else if (nbhd) {
            sten_nbhd_scores(ctx, nmodel, &batch, S);
        } else {
            for (uint32_t b = 0; b < nb; b++)
                memcpy(S + (size_t)b * N, pop, (size_t)N * sizeof *S);
        }
        if (!keep_seen) {
            uint64_t need = 0;
            for (uint32_t b = 0; b < nb; b++) {
                const int64_t tr = train_row[qid[pos + b]];
                need += Q->row_ptr[pos + b + 1] - Q->row_ptr[pos + b];
                if (tr >= 0 && Q != &X)
                    need += X.row_ptr[tr + 1] - X.row_ptr[tr];
            }
            sten_csr_free(ctx, &ex);
            if ((st = sten_csr_init(ctx, &ex, nb, N, need + 1, false)))
                break;
            uint64_t e = 0;
            for (uint32_t b = 0; b < nb; b++) {
                for (uint64_t q = Q->row_ptr[pos + b]; q < Q->row_ptr[pos + b + 1]; q++)
                    ex.col[e++] = Q->col[q];
                const int64_t tr = train_row[qid[pos + b]];
                for (uint64_t q = tr >= 0 && Q != &X ? X.row_ptr[tr] : 0; tr >= 0 && Q != &X && q < X.row_ptr[tr + 1]; q++)
                    ex.col[e++] = X.col[q];
                ex.row_ptr[b + 1] = e;
            }
            ex.rows = nb;
            ex.nnz = e;
        }
        if (!st)
            st = sten_topk(ctx, S, N, nb, N, K, keep_seen ? NULL : &ex, idx, val, cnt);
        for (uint32_t b = 0; !st && b < nb; b++)
            st = sten_recs_write(ctx, f, sten_index_label(users, qid[pos + b]), idx + (size_t)b * K,
                                 val + (size_t)b * K, cnt[b], items, "%.6g");
    }
    if (!st)
        st = sten_outfile_commit(ctx, of);
    else
        sten_outfile_abort(ctx, of);
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten baseline: %s: %s over %u items, %u users\n", out, argv[optind], N, Q->rows);
    const int rc = st ? cli_fail("baseline", ctx, st) : CLI_EX_OK;
    free(S), free(pop), free(idx), free(cnt), free(val), free(train_row);
    sten_csr_free(ctx, &ex);
    sten_ease_free(ctx, model);
    sten_nbhd_free(ctx, nmodel);
    sten_csr_free(ctx, &X);
    sten_csr_free(ctx, &U);
    sten_free(ctx, xid);
    sten_free(ctx, uid);
    sten_index_free(ctx, items);
    sten_index_free(ctx, users);
    sten_ctx_free(ctx);
    return rc;
}
