/* cmd_store.c — `sten store`: fills the serving store (an LMDB directory)
 * that `sten serve --store` reads: precomputed recommendations (predict's or
 * baseline's output) and item neighbours (similar's output). Each table is
 * replaced in one transaction, so a running server switches to the new
 * lists at once, never seeing half of them. */
#include "cli.h"
#include "serve/store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const char cmd_store_usage[] =
    "usage: sten store build --store DIR [--recs RECS.txt] [--similar SIMS.txt]\n"
    "       sten store info --store DIR\n"
    "       sten store export --store DIR [--history TRAIN.txt] -o OUT.txt\n"
    "\n"
    "build: loads recommendation lines (\"key<TAB>item,score:item,score:...\",\n"
    "as `sten predict`, `sten baseline` and `sten similar` write them) into the\n"
    "store `sten serve --store DIR` answers from: --recs per user (precomputed\n"
    "recommendations), --similar per item (item-to-item). Each replaces its\n"
    "table atomically; a running server sees the new lists at once.\n"
    "info: what the store holds.\n"
    "export: the users' histories (TRAIN.txt's, then the event log's items,\n"
    "in order) as DSSTNE text, to retrain on (the continuous-training loop:\n"
    "examples/serving/run.sh).\n"
    "\n"
    "  --store DIR      the store (created when missing)\n"
    "  --recs FILE      users' lists\n"
    "  --similar FILE   items' neighbour lists\n"
    "  --history FILE   export: the histories the events add to\n"
    "  -o, --output F   export: DSSTNE text to write (atomically)\n"
    "  --force          export: overwrite -o if it exists (refused otherwise, exit\n"
    "                   73; build updates the store in place)\n";

/* Users' item lists for export: labels through two indexes. */
typedef struct {
    sten_ctx *ctx;
    sten_index *users, *items;
    uint32_t **list, *n, *cap, n_users;
    int failed;
} hist_set;

static int hist_push(hist_set *h, const char *user, size_t ulen, const char *item, size_t ilen)
{
    uint32_t u, it;
    if ((!sten_index_find(h->users, user, ulen, &u) && sten_index_add(h->ctx, h->users, user, ulen, &u)) ||
        (!sten_index_find(h->items, item, ilen, &it) && sten_index_add(h->ctx, h->items, item, ilen, &it)))
        return -1;
    if (u >= h->n_users) {
        const uint32_t nn = (u + 1) * 2;
        uint32_t **l = realloc(h->list, nn * sizeof *l), *n = realloc(h->n, nn * sizeof *n),
                 *c = realloc(h->cap, nn * sizeof *c);
        if (l)
            h->list = l;
        if (n)
            h->n = n;
        if (c)
            h->cap = c;
        if (!l || !n || !c)
            return -1;
        for (uint32_t i = h->n_users; i < nn; i++)
            h->list[i] = NULL, h->n[i] = h->cap[i] = 0;
        h->n_users = nn;
    }
    for (uint32_t i = 0; i < h->n[u]; i++)
        if (h->list[u][i] == it)
            return 0; /* each item once per user */
    if (h->n[u] == h->cap[u]) {
        const uint32_t nc = h->cap[u] ? h->cap[u] * 2 : 8;
        uint32_t *l = realloc(h->list[u], nc * sizeof *l);
        if (!l)
            return -1;
        h->list[u] = l, h->cap[u] = nc;
    }
    h->list[u][h->n[u]++] = it;
    return 0;
}

static int export_event(void *arg, const char *rec, size_t len)
{
    hist_set *h = arg;
    json_error_t e;
    json_t *j = json_loadb(rec, len, 0, &e);
    json_t *u = j ? json_object_get(j, "userId") : NULL, *i = j ? json_object_get(j, "itemId") : NULL;
    const int rc = json_is_string(u) && json_is_string(i)
                       ? hist_push(h, json_string_value(u), json_string_length(u), json_string_value(i),
                                   json_string_length(i))
                       : -1;
    json_decref(j);
    return rc;
}

/* `store export`: histories + events as DSSTNE text. */
static int export_histories(store *s, const char *history, const char *out)
{
    hist_set h = {0};
    sten_ctx *ctx = cli_ctx_new("store");
    h.ctx = ctx;
    sten_status st = sten_index_new(ctx, &h.users);
    if (!st)
        st = sten_index_new(ctx, &h.items);
    if (!st && history) {
        sten_index *fi = NULL, *si = NULL;
        sten_csr m = {0};
        uint32_t *ids = NULL;
        sten_text_stats ts;
        st = sten_index_new(ctx, &fi);
        if (!st)
            st = sten_index_new(ctx, &si);
        if (!st)
            st = sten_text_read(ctx, history, fi, true, si, false, &m, &ids, &ts);
        for (uint32_t r = 0; !st && r < m.rows; r++) {
            const char *ul = sten_index_label(si, ids[r]);
            for (uint64_t e = m.row_ptr[r]; !st && e < m.row_ptr[r + 1]; e++) {
                const char *il = sten_index_label(fi, m.col[e]);
                if (hist_push(&h, ul, strlen(ul), il, strlen(il)))
                    st = sten_fail(ctx, STEN_E_NOMEM, "out of memory");
            }
        }
        sten_csr_free(ctx, &m);
        sten_free(ctx, ids);
        sten_index_free(ctx, fi);
        sten_index_free(ctx, si);
    }
    uint64_t users_with_events = 0;
    const uint32_t before = h.users ? sten_index_span(h.users) : 0;
    if (!st && store_each_event(s, export_event, &h))
        st = sten_fail(ctx, STEN_E_FORMAT, "the store's event log has a record sten cannot read");
    if (!st)
        users_with_events = sten_index_span(h.users) - before;
    sten_outfile *of = NULL;
    FILE *f = NULL;
    if (!st)
        st = sten_outfile_open(ctx, out, &of, &f);
    for (uint32_t u = 0; !st && u < h.n_users && u < sten_index_span(h.users); u++) {
        if (!h.n[u])
            continue;
        fputs(sten_index_label(h.users, u), f);
        for (uint32_t i = 0; i < h.n[u]; i++) {
            fputc(i ? ':' : '\t', f);
            fputs(sten_index_label(h.items, h.list[u][i]), f);
        }
        fputc('\n', f);
    }
    if (!st)
        st = sten_outfile_commit(ctx, of);
    else if (of)
        sten_outfile_abort(ctx, of);
    if (!st)
        fprintf(stderr, "sten store: %s: %u users (%llu new from events), %llu events\n", out,
                sten_index_size(h.users), (unsigned long long)users_with_events,
                (unsigned long long)store_event_count(s));
    for (uint32_t u = 0; u < h.n_users; u++)
        free(h.list[u]);
    free(h.list), free(h.n), free(h.cap);
    sten_index_free(ctx, h.users);
    sten_index_free(ctx, h.items);
    const int rc = st ? cli_fail("store", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return rc;
}

int cmd_store(int argc, char **argv)
{
    const cli_cmd *self = cli_find("store");
    static const struct option opts[] = {
        {"store", required_argument, NULL, 'S'}, {"recs", required_argument, NULL, 'R'},
        {"similar", required_argument, NULL, 'M'}, {"help", no_argument, NULL, 'h'},
        {"history", required_argument, NULL, 'H'}, {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},       {NULL, 0, NULL, 0},
    };
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            cli_print_usage(stdout, self);
            return CLI_EX_OK;
        }
        return cli_usage_error(self, "expected build or info");
    }
    const char *action = argv[1];
    const bool build = !strcmp(action, "build"), export = !strcmp(action, "export");
    if (!build && !export && strcmp(action, "info"))
        return cli_usage_error(self, "unknown action '%s' (expected build, info or export)", action);
    const char *dir = NULL, *recs = NULL, *sims = NULL, *history = NULL, *output = NULL;
    int c, bad = 0;
    bool force = false;
    opterr = 0;
    optind = 2;
    while (!bad && (c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'S': dir = optarg; break;
        case 'R': recs = optarg; break;
        case 'M': sims = optarg; break;
        case 'H': history = optarg; break;
        case 'o': output = optarg; break;
        case 'f': force = true; break;
        case 'h': cli_print_usage(stdout, self); return CLI_EX_OK;
        default: bad = cli_opt_error(self, c, argv);
        }
    }
    if (bad)
        return bad;
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return cli_usage_error(self, "--store DIR is required");
    if (build && !recs && !sims)
        return cli_usage_error(self, "build: give --recs and/or --similar");
    if (!build && (recs || sims))
        return cli_usage_error(self, "--recs and --similar are build's");
    if (export != (output != NULL))
        return cli_usage_error(self, export ? "export: -o OUT.txt is required" : "-o is export's");
    if (!export && (history || force))
        return cli_usage_error(self, "%s is export's", history ? "--history" : "--force");
    const int exists = cli_check_output("store", output, force);
    if (exists)
        return exists;
    char err[600];
    store *s = store_open(dir, build, 0, err, sizeof err);
    if (!s) {
        fprintf(stderr, "sten store: %s\n", err);
        return CLI_EX_NOINPUT;
    }
    if (export) {
        const int erc = export_histories(s, history, output);
        store_close(s);
        return erc;
    }
    int rc = CLI_EX_OK;
    const char *paths[STORE_N_LISTS] = {recs, sims};
    static const char *const what[STORE_N_LISTS] = {"users' lists", "items' neighbour lists"};
    for (int t = 0; build && t < STORE_N_LISTS && !rc; t++) {
        uint64_t keys;
        if (!paths[t])
            continue;
        if (store_load_lists(s, (store_table)t, paths[t], &keys, err, sizeof err)) {
            fprintf(stderr, "sten store: %s (the store is unchanged)\n", err);
            rc = CLI_EX_DATAERR;
        } else {
            fprintf(stderr, "sten store: %s: %llu %s\n", dir, (unsigned long long)keys, what[t]);
        }
    }
    if (!build && !export) {
        store_read *r = store_read_begin(s);
        printf("store %s\n  items %u\n  users' lists %llu\n  items' neighbour lists %llu\n  events %llu\n", dir,
               store_items(s), (unsigned long long)(r ? store_list_count(r, STORE_RECS) : 0),
               (unsigned long long)(r ? store_list_count(r, STORE_SIMILAR) : 0),
               (unsigned long long)store_event_count(s));
        store_read_end(r);
    }
    store_close(s);
    return rc;
}
