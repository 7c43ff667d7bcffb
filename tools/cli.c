/* cli.c — helpers shared by the subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const cli_cmd *cli_find(const char *name)
{
    for (const cli_cmd *c = cli_commands; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

void cli_print_usage(FILE *f, const cli_cmd *cmd)
{
    fprintf(f, "%s", cmd->usage);
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    cli_progress_clear();
    fprintf(stderr, "sten %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    cli_print_usage(stderr, cmd);
    return CLI_EX_USAGE;
}

static void log_stderr(void *user, sten_log_level level, const char *msg)
{
    static const char *const tag[] = {"error", "warning", "info", "debug"};
    /* errors are reported once, by cli_fail, with the command name */
    if (level == STEN_LOG_ERROR)
        return;
    cli_progress_clear();
    fprintf(stderr, "sten %s: %s: %s\n", (const char *)user, tag[level], msg);
}

sten_ctx *cli_ctx_new(const char *cmd)
{
    sten_ctx *ctx;
    if (sten_ctx_init(&ctx) != STEN_OK) {
        fputs("sten: out of memory\n", stderr);
        exit(CLI_EX_OSERR);
    }
    sten_log_level lvl = STEN_LOG_INFO;
    const char *env = getenv("STEN_LOG");
    if (env && !strcmp(env, "warn"))
        lvl = STEN_LOG_WARN;
    else if (env && !strcmp(env, "debug"))
        lvl = STEN_LOG_DEBUG;
    sten_ctx_set_log(ctx, log_stderr, (void *)cmd, lvl);
    /* a memory budget for what sten allocates (data, model, optimizer state,
     * workspaces): STEN_MEM_LIMIT=N[K|M|G]; past it, allocations fail with
     * sten's out-of-memory error (exit 71) naming the size */
    const char *lim = getenv("STEN_MEM_LIMIT");
    if (lim && *lim) {
        char *end;
        double v = strtod(lim, &end);
        const double unit = *end == 'K' || *end == 'k' ? 1024.0 : *end == 'M' || *end == 'm' ? 1048576.0
                          : *end == 'G' || *end == 'g' ? 1073741824.0 : 1.0;
        if (unit != 1.0)
            end++;
        if (end == lim || *end || !(v > 0) || v * unit > 1e18) {
            fprintf(stderr, "sten %s: STEN_MEM_LIMIT='%s': expected a size such as 512M or 4G\n", cmd, lim);
            exit(CLI_EX_USAGE);
        }
        sten_ctx_set_mem_limit(ctx, (size_t)(v * unit));
    }
    return ctx;
}

int cli_exit_code(sten_status st)
{
    switch (st) {
    case STEN_OK: return CLI_EX_OK;
    case STEN_E_INVALID: return CLI_EX_USAGE;
    case STEN_E_PARSE:
    case STEN_E_FORMAT:
    case STEN_E_RANGE:
    case STEN_E_NUMERIC: return CLI_EX_DATAERR;
    case STEN_E_NOTFOUND: return CLI_EX_NOINPUT;
    case STEN_E_IO: return CLI_EX_IOERR;
    case STEN_E_NOMEM: return CLI_EX_OSERR;
    case STEN_E_UNSUPPORTED: return CLI_EX_UNAVAILABLE;
    default: return CLI_EX_SOFTWARE;
    }
}

int cli_fail(const char *cmd, sten_ctx *ctx, sten_status st)
{
    const char *msg = sten_ctx_error(ctx);
    cli_progress_clear();
    fprintf(stderr, "sten %s: %s\n", cmd, msg[0] ? msg : sten_status_str(st));
    return cli_exit_code(st);
}

int cli_parse_int(const cli_cmd *cmd, const char *opt, const char *s,
                  long long lo, long long hi, long long *out)
{
    long long v;
    if (sten_parse_int(s, strlen(s), lo, hi, &v) != STEN_OK)
        return cli_usage_error(cmd, "%s expects an integer in [%lld, %lld], got '%s'",
                               opt, lo, hi, s);
    *out = v;
    return 0;
}

int cli_parse_precision(const cli_cmd *cmd, const char *s, sten_precision *out)
{
    if (!strcasecmp(s, "fp32"))
        *out = STEN_PRECISION_FP32;
    else if (!strcasecmp(s, "bf16"))
        *out = STEN_PRECISION_BF16;
    else if (!strcasecmp(s, "auto"))
        *out = STEN_PRECISION_AUTO;
    else if (!strcasecmp(s, "int8") && strcmp(cmd->name, "train") != 0)
        *out = STEN_PRECISION_INT8;
    else if (!strcasecmp(s, "int8"))
        return cli_usage_error(cmd, "--precision int8 is for inference (predict, serve); train in fp32 or "
                                    "bf16 and score the model with --precision int8");
    else
        return cli_usage_error(cmd, "--precision expects fp32, bf16 or auto%s, got '%s'",
                               strcmp(cmd->name, "train") != 0 ? " (or int8)" : "", s);
    return 0;
}

/* auto says what it measured and chose; bf16 where this CPU's bf16
 * products are the slower ones says so (and still runs in bf16). */
sten_status cli_set_precision(sten_ctx *ctx, sten_net *net, sten_precision p)
{
    if (p == STEN_PRECISION_FP32)
        return STEN_OK;
    if (p == STEN_PRECISION_INT8) {
        if (strcmp(sten_int8_kernel(), "portable loop") == 0)
            fprintf(stderr, "note: --precision int8 runs a portable loop on this CPU (no AVX-512 VNNI): "
                            "slower than fp32\n");
        return sten_net_set_precision(ctx, net, p);
    }
    sten_precision_report r;
    char why[256];
    sten_precision_probe(ctx, &r);
    sten_precision_describe(&r, why, sizeof why);
    if (p == STEN_PRECISION_AUTO)
        fprintf(stderr, "precision auto: %s\n", why);
    else if (r.bf16 && r.choice != STEN_PRECISION_BF16 && r.fp32_gflops > 0)
        fprintf(stderr, "note: --precision bf16 is slower than fp32 on this CPU: %s\n", why);
    return sten_net_set_precision(ctx, net, p);
}

int cli_opt_error(const cli_cmd *cmd, int c, char **argv)
{
    if (c == ':')
        return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int cli_parse_double(const cli_cmd *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out)
{
    if (sten_parse_double(s, strlen(s), out) != STEN_OK || *out < lo || *out > hi)
        return cli_usage_error(cmd, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, s);
    return 0;
}

int cli_log_option(const cli_cmd *cmd, int c, const char *arg, sten_log_opts *o,
                   sten_value_kind *value)
{
    static const char *const formats[] = {"auto", "movielens-csv", "movielens-dat", "udata",
                                          "delimited"};
    static const char *const values[] = {"none", "rating", "timestamp"};
    switch (c) {
    case CLI_OPT_FORMAT:
        for (int k = 0; k < 5; k++)
            if (!strcmp(arg, formats[k])) {
                o->format = (sten_log_format)k;
                return 0;
            }
        return cli_usage_error(cmd, "unknown --format '%s' (auto, movielens-csv, movielens-dat, "
                               "udata, delimited)", arg);
    case CLI_OPT_DELIM:
        if (strlen(arg) != 1 && strcmp(arg, "\\t"))
            return cli_usage_error(cmd, "--delimiter expects one character, got '%s'", arg);
        o->delimiter = strcmp(arg, "\\t") ? arg[0] : '\t';
        return 0;
    case CLI_OPT_COLUMNS:
        o->columns = arg;
        return 0;
    case CLI_OPT_HEADER:
        o->header = true;
        return 0;
    case CLI_OPT_MIN_RATING:
        return cli_parse_double(cmd, "--min-rating", arg, -1e9, 1e9, &o->min_rating);
    default:
        for (int k = 0; k < 3; k++)
            if (!strcmp(arg, values[k])) {
                *value = (sten_value_kind)k;
                return 0;
            }
        return cli_usage_error(cmd, "--value expects none, rating or timestamp, got '%s'", arg);
    }
}

sten_status cli_load_index(sten_ctx *ctx, const char *path, sten_index **out)
{
    sten_status st = sten_index_new(ctx, out);
    if (!st)
        st = sten_index_load(ctx, *out, path);
    if (!st && sten_index_size(*out) == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: the index is empty (expected \"label<TAB>integer\" lines); "
                       "every feature would be dropped", path);
    if (st) {
        sten_index_free(ctx, *out);
        *out = NULL;
    }
    return st;
}

bool cli_rows_are_csv(const char *path, int base)
{
    unsigned char head[256] = {0};
    FILE *f = fopen(path, "rb");
    const size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    const bool recordio = got >= 4 && head[0] == 0x0a && head[1] == 0x23 && head[2] == 0xd7 && head[3] == 0xce;
    const bool netcdf = got >= 4 && (!memcmp(head, "CDF", 3) || !memcmp(head, "\x89HDF", 4));
    size_t i = got >= 3 && head[0] == 0xef && head[1] == 0xbb && head[2] == 0xbf ? 3 : 0; /* a UTF-8 BOM */
    while (i < got && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
        i++;
    /* JSON inference input ('{' first, as sten_labeled_read tells it): its own reader says what labels it lacks */
    const bool json = i < got && head[i] == '{';
    return !recordio && !netcdf && !json && base < 0;
}

sten_status cli_read_rows(sten_ctx *ctx, const char *path, uint32_t dim, int base, bool labeled, float **X,
                          float **y, uint64_t *n)
{
    *X = NULL;
    if (y)
        *y = NULL;
    *n = 0;
    if (cli_rows_are_csv(path, base)) /* CSV: the label first when labeled */
        return labeled ? sten_csv_read_labeled(ctx, path, dim, X, y, n) : sten_csv_read_dense(ctx, path, dim, X, n);
    sten_dataset x, t;
    const sten_status st = sten_labeled_read(ctx, path, base, dim, "x", "y", &x, labeled ? &t : NULL);
    return st ? st : cli_rows_spread(ctx, path, dim, &x, labeled ? &t : NULL, X, y, n);
}

sten_status cli_rows_spread(sten_ctx *ctx, const char *path, uint32_t dim, sten_dataset *xs, sten_dataset *ts,
                            float **X, float **y, uint64_t *n)
{
    sten_dataset x = *xs, t = ts ? *ts : (sten_dataset){0};
    const bool labeled = ts != NULL;
    memset(xs, 0, sizeof *xs);
    if (ts)
        memset(ts, 0, sizeof *ts);
    *X = NULL;
    if (y)
        *y = NULL;
    *n = 0;
    sten_status st = STEN_OK;
    const uint64_t rows = x.examples;
    if (rows == 0)
        st = sten_fail(ctx, STEN_E_PARSE, "%s: no examples", path);
    else if (!(*X = sten_calloc(ctx, (size_t)rows * dim, sizeof **X)) ||
             (labeled && !(*y = sten_alloc(ctx, (size_t)rows * sizeof **y))))
        st = sten_fail(ctx, STEN_E_NOMEM, "%s: %llu rows of %u features (%.1f MB dense) do not fit in memory", path,
                       (unsigned long long)rows, dim, (double)rows * dim * 4 / 1e6);
    for (uint64_t r = 0; !st && r < rows; r++) { /* sparse rows spread out: the algorithms are dense */
        const uint64_t row = x.index ? x.index[r] : r;
        if (x.attributes & STEN_DS_SPARSE) {
            for (uint64_t e = x.sparse.row_ptr[row]; e < x.sparse.row_ptr[row + 1]; e++)
                (*X)[r * dim + x.sparse.col[e]] = x.sparse.val ? x.sparse.val[e] : 1.0f;
        } else {
            memcpy(*X + r * dim, x.dense + row * x.width, (size_t)CLI_MIN(dim, x.width) * sizeof **X);
        }
        if (labeled)
            (*y)[r] = t.dense[t.index ? t.index[r] : r];
    }
    sten_dataset_clear(ctx, &x);
    if (labeled)
        sten_dataset_clear(ctx, &t);
    if (st) {
        sten_free(ctx, *X);
        if (y)
            sten_free(ctx, *y), *y = NULL;
        *X = NULL;
        return st;
    }
    *n = rows;
    return STEN_OK;
}

int cli_check_output(const char *cmd, const char *path, bool force)
{
    struct stat sb;
    if (!path || stat(path, &sb) != 0)
        return 0;
    if (S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "sten %s: %s is a directory; name a file to write\n", cmd, path);
        return CLI_EX_CANTCREAT;
    }
    if (force)
        return 0;
    fprintf(stderr, "sten %s: %s already exists; pass --force to overwrite it\n", cmd, path);
    return CLI_EX_CANTCREAT;
}

int cli_check_model_dir(const char *cmd, const char *dir, const char *model, bool force)
{
    struct stat sb;
    const bool exists = stat(dir, &sb) == 0;
    if (exists && !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "sten %s: --model-dir %s is a file, not a directory\n", cmd, dir);
        return CLI_EX_CANTCREAT;
    }
    const int rc = cli_check_output(cmd, model, force);
    if (rc)
        return rc;
    char parent[4200];
    const char *slash = strrchr(dir, '/');
    snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - dir) + 1 : 1, slash ? dir : ".");
    const char *where = exists ? dir : parent;
    if (access(where, W_OK) != 0) {
        fprintf(stderr, "sten %s: %s: cannot write the model directory there: %s\n", cmd, where, strerror(errno));
        return CLI_EX_CANTCREAT;
    }
    return 0;
}

sten_status cli_explain_model(sten_ctx *ctx, const char *path, sten_status st)
{
    if (st != STEN_E_FORMAT && st != STEN_E_PARSE)
        return st;
    sten_nc_kind kind;
    char names[512];
    sten_ctx *probe; /* a context of its own: the first error on ctx must not be this probe's */
    if (sten_ctx_init(&probe) != STEN_OK)
        return st;
    const bool data = !sten_netcdf_kind(probe, path, &kind, names, sizeof names) && kind == STEN_NC_DATA;
    sten_ctx_free(probe);
    if (!data)
        return st;
    sten_ctx_clear_error(ctx);
    return sten_fail(ctx, STEN_E_FORMAT, "%s: this is a dataset, not a model (it holds dataset%s %s); a "
                     "model is the file sten train writes with -n", path, strchr(names, ',') ? "s" : "", names);
}
