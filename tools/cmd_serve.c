/* cmd_serve.c — `sten serve`: starts the recommendation daemon (src/serve/)
 * and waits for signals: SIGHUP reloads the model (the old one keeps
 * answering until the new one is loaded; a failed load keeps the old one),
 * SIGINT/SIGTERM stop it. The HTTP API is in docs/serving.md. */
#include "cli.h"
#include "serve/serve.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cmd_serve_usage[] =
    "usage: sten serve [--port P] [--model MODEL.nc [-d NAME] [-i IN_FEATURES] [-o OUT_FEATURES]]\n"
    "                  [--history TRAIN.txt] [--store DIR] [options]\n"
    "\n"
    "Answers recommendation requests over HTTP (JSON; docs/serving.md):\n"
    "POST /recommendations, /personalize-ranking, /events (Amazon Personalize's\n"
    "shapes), POST /invocations and GET /ping (SageMaker's), GET /health,\n"
    "/ready and /metrics (Prometheus). Three recommenders: a trained model run\n"
    "per request (batched), precomputed lists and item neighbours from a store\n"
    "(`sten store build`), and popularity as the fallback.\n"
    "\n"
    "  --port P              TCP port (default 8080; 0: any free one)\n"
    "  --bind ADDR           IPv4 address to listen on (default 127.0.0.1)\n"
    "  --port-file F         write the port to F once listening\n"
    "  -n, --model FILE      trained model (DSSTNE autoencoder, FM: one sparse input)\n"
    "  -d, --dataset NAME    accepted for `sten predict` compatibility\n"
    "  -i, --input-features F   the model's input feature index (item labels)\n"
    "  -o, --output-features F  the model's output feature index\n"
    "      --history FILE    users' items, DSSTNE text (what the model was trained on)\n"
    "      --store DIR       LMDB store: precomputed lists, neighbours, the event log\n"
    "                        (events are durable only with a store)\n"
    "      --recommender R   default: model, precomputed, item-to-item or popularity\n"
    "      --token-file F    require 'Authorization: Bearer <first line of F>'\n"
    "                        (also STEN_SERVE_TOKEN; /ping, /health, /ready stay open)\n"
    "      --http-threads N  HTTP threads (default: cores)\n"
    "  -t, --threads N       model threads (default: cores)\n"
    "      --batch N         requests per model batch at most (default 64)\n"
    "      --batch-window-us U  how long a batch waits to fill (default 1000)\n"
    "      --queue N         requests waiting for the model at most (default 4096;\n"
    "                        beyond: 503 with Retry-After)\n"
    "      --max-body BYTES  request body limit (default 1048576; beyond: 413)\n"
    "      --timeout S       idle connection timeout in seconds (default 30)\n"
    "      --max-results N   numResults at most (default 500)\n"
    "      --recent N        history items item-to-item combines (default 50)\n"
    "      --max-history N   latest history items the model reads (default 4096)\n"
    "      --precision P     fp32 (default), bf16, int8 or auto\n"
    "      --items FILE      item metadata, CSV: ITEM_ID,FIELD,... ('|' between a\n"
    "                        cell's values), for filters\n"
    "      --filter NAME=EXPR  a filter requests name in \"filterArn\" (repeatable):\n"
    "                        EXCLUDE|INCLUDE ItemID WHERE Items.FIELD [NOT] IN\n"
    "                        (\"v\", ... | $PARAM) [AND|OR ...] [| ...]\n"
    "      --config FILE     a JSON object of these options ({\"port\": 8080,\n"
    "                        \"model\": \"gl.nc\", \"filters\": {\"NAME\": \"EXPR\"}});\n"
    "                        the command line's options win\n"
    "\n"
    "SIGHUP reloads the model; SIGINT or SIGTERM stop the server.\n";

/* The token: the first line of a file (kept out of the process list). */
static char *read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[512];
    char *t = fgets(buf, sizeof buf, f) ? buf : NULL;
    fclose(f);
    if (!t)
        return NULL;
    t[strcspn(t, "\r\n")] = '\0';
    return *t ? strdup(t) : NULL;
}

/* --config FILE: its keys as "--key=value" arguments placed before the
 * command line's (so the command line wins), in *out (owned, NULL-ended
 * strings; free with free_args). */
static int config_args(const cli_cmd *self, const char *path, const struct option *opts, int argc, char **argv,
                       int *out_argc, char ***out_argv)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        const bool missing = je.line < 1 && access(path, R_OK);
        if (je.line >= 1)
            fprintf(stderr, "sten serve: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
        else
            fprintf(stderr, "sten serve: --config %s: %s\n", path, missing ? strerror(errno) : je.text);
        return missing ? CLI_EX_NOINPUT : CLI_EX_DATAERR;
    }
    if (!json_is_object(root)) {
        fprintf(stderr, "sten serve: %s: a JSON object of options expected\n", path);
        json_decref(root);
        return CLI_EX_DATAERR;
    }
    size_t cap = (size_t)argc + 2 * json_object_size(root) + 64, n = 0;
    char **v = calloc(cap, sizeof *v);
    int rc = v ? 0 : CLI_EX_OSERR;
    if (v)
        v[n++] = strdup(argv[0]);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (rc)
            break;
        if (!strcmp(key, "filters")) { /* {"NAME": "EXPR", ...} */
            const char *name;
            json_t *e;
            if (!json_is_object(val)) {
                fprintf(stderr, "sten serve: %s: \"filters\" must be an object {\"NAME\": \"EXPRESSION\"}\n", path);
                rc = CLI_EX_DATAERR;
                break;
            }
            json_object_foreach(val, name, e) {
                if (!json_is_string(e)) {
                    fprintf(stderr, "sten serve: %s: \"filters\": \"%s\" must be a string (an expression)\n",
                            path, name);
                    rc = CLI_EX_DATAERR;
                    break;
                }
                if (n + 2 >= cap) {
                    rc = CLI_EX_OSERR;
                    break;
                }
                const size_t len = strlen(name) + json_string_length(e) + 16;
                if (!(v[n] = malloc(len))) {
                    rc = CLI_EX_OSERR;
                    break;
                }
                snprintf(v[n++], len, "--filter=%s=%s", name, json_string_value(e));
            }
            continue;
        }
        const struct option *o = opts;
        while (o->name && (strcmp(o->name, key) || o->has_arg != required_argument || !strcmp(key, "config")))
            o++;
        if (!o->name) {
            char known[1024] = "";
            for (o = opts; o->name; o++)
                if (o->has_arg == required_argument && strcmp(o->name, "config") && strcmp(o->name, "network") &&
                    strcmp(o->name, "dataset"))
                    snprintf(known + strlen(known), sizeof known - strlen(known), "%s, ", o->name);
            fprintf(stderr, "sten serve: %s: unknown key \"%s\" (expected %sfilters)\n", path, key, known);
            rc = CLI_EX_DATAERR;
            break;
        }
        char buf[64];
        const char *text = buf;
        if (json_is_string(val))
            text = json_string_value(val);
        else if (json_is_integer(val))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(val));
        else {
            fprintf(stderr, "sten serve: %s: \"%s\" must be a string or an integer\n", path, key);
            rc = CLI_EX_DATAERR;
            break;
        }
        const size_t len = strlen(key) + strlen(text) + 4;
        if (n + 2 >= cap || !(v[n] = malloc(len))) {
            rc = CLI_EX_OSERR;
            break;
        }
        snprintf(v[n++], len, "--%s=%s", key, text);
    }
    json_decref(root);
    for (int i = 1; !rc && i < argc; i++)
        if (n + 1 >= cap || !(v[n++] = strdup(argv[i])))
            rc = CLI_EX_OSERR;
    if (rc == CLI_EX_OSERR)
        fprintf(stderr, "sten serve: --config %s: out of memory\n", path);
    if (rc) {
        for (size_t i = 0; v && i < n; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    (void)self;
    *out_argc = (int)n;
    *out_argv = v;
    return 0;
}

static void free_args(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static int write_port(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) || rename(tmp, path))
        return -1;
    return 0;
}

static int serve_main(const cli_cmd *self, const struct option *opts, int argc, char **argv);
static int serve_run(const cli_cmd *self, serve_opts *o, const char *token_file, int argc, char **argv);

int cmd_serve(int argc, char **argv)
{
    const cli_cmd *self = cli_find("serve");
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'P'},       {"bind", required_argument, NULL, 'A'},
        {"port-file", required_argument, NULL, 'F'},  {"model", required_argument, NULL, 'n'},
        {"network", required_argument, NULL, 'n'},    {"dataset", required_argument, NULL, 'd'},
        {"input-features", required_argument, NULL, 'i'}, {"output-features", required_argument, NULL, 'o'},
        {"history", required_argument, NULL, 'H'},    {"store", required_argument, NULL, 'S'},
        {"recommender", required_argument, NULL, 'R'}, {"token-file", required_argument, NULL, 'T'},
        {"http-threads", required_argument, NULL, 'W'}, {"threads", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},      {"batch-window-us", required_argument, NULL, 'w'},
        {"queue", required_argument, NULL, 'Q'},      {"max-body", required_argument, NULL, 'B'},
        {"timeout", required_argument, NULL, 'O'},    {"max-results", required_argument, NULL, 'k'},
        {"recent", required_argument, NULL, 'r'},     {"max-history", required_argument, NULL, 'M'},
        {"precision", required_argument, NULL, 'p'},  {"items", required_argument, NULL, 'I'},
        {"filter", required_argument, NULL, 'X'},     {"config", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    /* --config first: its options go before the command line's */
    char **cargv = NULL;
    for (int i = 1; i < argc; i++) {
        const char *path = !strncmp(argv[i], "--config=", 9) ? argv[i] + 9
                           : !strcmp(argv[i], "--config") && i + 1 < argc ? argv[i + 1]
                                                                         : NULL;
        if (!path)
            continue;
        if (cargv) {
            free_args(cargv);
            return cli_usage_error(self, "--config given twice");
        }
        int rc = config_args(self, path, opts, argc, argv, &argc, &cargv);
        if (rc)
            return rc;
        argv = cargv;
        i = argc; /* the scan is over: argv is the merged one now */
    }
    const int rc = serve_main(self, opts, argc, argv);
    free_args(cargv);
    return rc;
}

static int serve_main(const cli_cmd *self, const struct option *opts, int argc, char **argv)
{
    serve_opts o = serve_defaults();
    const char *token_file = NULL;
    const char **filters = NULL;
    long long v;
    int c, bad = 0;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":n:d:i:o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'P': bad = cli_parse_int(self, "--port", optarg, 0, 65535, &v), o.port = (int)v; break;
        case 'A': o.bind = optarg; break;
        case 'F': o.port_file = optarg; break;
        case 'n': o.model = optarg; break;
        case 'd': break;
        case 'i': o.in_feat = optarg; break;
        case 'o': o.out_feat = optarg; break;
        case 'H': o.history = optarg; break;
        case 'S': o.store_dir = optarg; break;
        case 'R':
            o.fallback = optarg;
            if (strcmp(optarg, "model") && strcmp(optarg, "precomputed") && strcmp(optarg, "item-to-item") &&
                strcmp(optarg, "popularity"))
                bad = cli_usage_error(self, "--recommender expects model, precomputed, item-to-item or "
                                            "popularity, got '%s'", optarg);
            break;
        case 'T': token_file = optarg; break;
        case 'W': bad = cli_parse_int(self, "--http-threads", optarg, 0, 256, &v), o.http_threads = (unsigned)v; break;
        case 't': bad = cli_parse_int(self, "--threads", optarg, 0, 1024, &v), o.threads = (unsigned)v; break;
        case 'b': bad = cli_parse_int(self, "--batch", optarg, 1, 4096, &v), o.batch = (uint32_t)v; break;
        case 'w': bad = cli_parse_int(self, "--batch-window-us", optarg, 0, 1000000, &v), o.window_us = (unsigned)v; break;
        case 'Q': bad = cli_parse_int(self, "--queue", optarg, 1, 1 << 20, &v), o.queue_max = (unsigned)v; break;
        case 'B': bad = cli_parse_int(self, "--max-body", optarg, 64, 1 << 30, &v), o.max_body = (size_t)v; break;
        case 'O': bad = cli_parse_int(self, "--timeout", optarg, 1, 3600, &v), o.timeout_s = (unsigned)v; break;
        case 'k': bad = cli_parse_int(self, "--max-results", optarg, 1, 100000, &v), o.max_results = (uint32_t)v; break;
        case 'r': bad = cli_parse_int(self, "--recent", optarg, 1, 1000, &v), o.recent = (uint32_t)v; break;
        case 'M': bad = cli_parse_int(self, "--max-history", optarg, 1, 1 << 20, &v), o.max_history = (uint32_t)v; break;
        case 'p': bad = cli_parse_precision(self, optarg, &o.precision); break;
        case 'I': o.items = optarg; break;
        case 'X': {
            const char **p = realloc(filters, (o.n_filters + 1) * sizeof *p);
            if (!p) {
                free(filters);
                return CLI_EX_OSERR;
            }
            filters = p;
            filters[o.n_filters++] = optarg;
            if (!strchr(optarg, '=') || *optarg == '=')
                bad = cli_usage_error(self, "--filter expects NAME=EXPRESSION, got '%s'", optarg);
            break;
        }
        case 'C': break; /* applied above */
        case 'h': bad = -1; cli_print_usage(stdout, self); break;
        default: bad = cli_opt_error(self, c, argv);
        }
    }
    o.filters = filters;
    const int rc = bad < 0 ? CLI_EX_OK : bad ? bad : serve_run(self, &o, token_file, argc, argv);
    free(filters);
    return rc;
}

/* Starts the server with o and waits for signals. */
static int serve_run(const cli_cmd *self, serve_opts *op, const char *token_file, int argc, char **argv)
{
    serve_opts o = *op;
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!o.model && !o.store_dir && !o.history)
        return cli_usage_error(self, "nothing to serve: give --model, --store or --history");
    if ((o.in_feat || o.out_feat) && !o.model)
        return cli_usage_error(self, "-i/-o are the model's indexes: --model is required with them");
    char *token = NULL;
    if (token_file && !(token = read_token(token_file))) {
        fprintf(stderr, "sten serve: --token-file %s: cannot read a token from it%s%s\n", token_file,
                errno ? ": " : "", errno ? strerror(errno) : "");
        return CLI_EX_USAGE;
    }
    if (!token && getenv("STEN_SERVE_TOKEN") && *getenv("STEN_SERVE_TOKEN"))
        token = strdup(getenv("STEN_SERVE_TOKEN"));
    o.token = token;

    /* signals go to this thread only (sigwait), never to the server's */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    server *s = NULL;
    char err[1024];
    if (serve_start(&o, &s, err, sizeof err)) {
        fprintf(stderr, "sten serve: %s\n", err);
        free(token);
        return CLI_EX_DATAERR;
    }
    if (o.port_file && write_port(o.port_file, serve_port(s))) {
        fprintf(stderr, "sten serve: --port-file %s: %s\n", o.port_file, strerror(errno));
        serve_stop(s);
        free(token);
        return CLI_EX_IOERR;
    }
    fprintf(stderr, "sten serve: listening on http://%s:%d/%s%s%s%s\n", o.bind, serve_port(s),
            o.model ? " model " : "", o.model ? o.model : "", o.store_dir ? " store " : "",
            o.store_dir ? o.store_dir : "");
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig))
            continue;
        if (sig != SIGHUP)
            break;
        if (serve_reload(s, err, sizeof err))
            fprintf(stderr, "sten serve: reload failed, the previous model keeps serving: %s\n", err);
        else
            fprintf(stderr, "sten serve: reloaded %s\n", o.model);
    }
    fprintf(stderr, "sten serve: stopping\n");
    serve_stop(s);
    free(token);
    return CLI_EX_OK;
}
