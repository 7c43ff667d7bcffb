/* cmd_store.c — `sten store`: fills the serving store (an LMDB directory)
 * that `sten serve --store` reads: precomputed recommendations (predict's or
 * baseline's output) and item neighbours (similar's output). Each table is
 * replaced in one transaction, so a running server switches to the new
 * lists at once, never seeing half of them. */
#include "cli.h"
#include "serve/store.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char cmd_store_usage[] =
    "usage: sten store build --store DIR [--recs RECS.txt] [--similar SIMS.txt]\n"
    "       sten store info --store DIR\n"
    "\n"
    "build: loads recommendation lines (\"key<TAB>item,score:item,score:...\",\n"
    "as `sten predict`, `sten baseline` and `sten similar` write them) into the\n"
    "store `sten serve --store DIR` answers from: --recs per user (precomputed\n"
    "recommendations), --similar per item (item-to-item). Each replaces its\n"
    "table atomically; a running server sees the new lists at once.\n"
    "info: what the store holds.\n"
    "\n"
    "  --store DIR      the store (created when missing)\n"
    "  --recs FILE      users' lists\n"
    "  --similar FILE   items' neighbour lists\n";

int cmd_store(int argc, char **argv)
{
    const cli_cmd *self = cli_find("store");
    static const struct option opts[] = {
        {"store", required_argument, NULL, 'S'}, {"recs", required_argument, NULL, 'R'},
        {"similar", required_argument, NULL, 'M'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            cli_print_usage(stdout, self);
            return CLI_EX_OK;
        }
        return cli_usage_error(self, "expected build or info");
    }
    const char *action = argv[1];
    const bool build = !strcmp(action, "build");
    if (!build && strcmp(action, "info"))
        return cli_usage_error(self, "unknown action '%s' (expected build or info)", action);
    const char *dir = NULL, *recs = NULL, *sims = NULL;
    int c, bad = 0;
    opterr = 0;
    optind = 2;
    while (!bad && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'S': dir = optarg; break;
        case 'R': recs = optarg; break;
        case 'M': sims = optarg; break;
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
        return cli_usage_error(self, "info takes only --store");
    char err[600];
    store *s = store_open(dir, build, 0, err, sizeof err);
    if (!s) {
        fprintf(stderr, "sten store: %s\n", err);
        return CLI_EX_NOINPUT;
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
    if (!build) {
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
