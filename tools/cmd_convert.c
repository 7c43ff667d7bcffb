/* cmd_convert.c — `sten convert`: interaction logs (MovieLens ratings.csv,
 * ratings.dat, u.data, any delimited file; plain or gzip) -> DSSTNE text,
 * one line per user, replacing DSSTNE's awk step. Input in any order. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

const char cmd_convert_usage[] =
    "usage: sten convert INPUT -o OUTPUT [options]\n"
    "\n"
    "Groups an interaction log by user into DSSTNE text\n"
    "(\"user<TAB>item[,value]:item[,value]...\"), ready for generate-netcdf.\n"
    "Users come in order of first appearance, each user's items in time order;\n"
    "a (user, item) pair that repeats keeps its latest record.\n"
    "\n"
    "  -o, --output FILE   DSSTNE text to write (atomically)\n"
    "  --max-memory MB     memory for records while sorting (default 256); larger\n"
    "                      logs are sorted in runs through temporary files\n"
    CLI_LOG_USAGE
    "\n"
    CLI_FORCE_USAGE
    "\n"
    "  --to fm [--threshold X] [--encoding PREFIX]   write Factorization Machine\n"
    "      input instead: libsvm lines \"label user:1 item:1\" (0-based; items after\n"
    "      the users), label = the rating, or 1/0 for rating >= X with --threshold;\n"
    "      prints feature_dim. The first line is a comment naming the encoding\n"
    "      (\"# sten-fm-encoding HASH features D\"); train refuses train and test\n"
    "      files whose encodings differ.\n"
    "      --encoding PREFIX: the user and item numbering, shared between files.\n"
    "      If PREFIX.users and PREFIX.items exist they are read and this file is\n"
    "      encoded with them (users or items they lack are left out of their\n"
    "      line, and counted); if neither exists, this file's numbering (by first\n"
    "      appearance) is written to them. Convert the training file first, then\n"
    "      the test file with the same PREFIX. Without it the numbering is this\n"
    "      file's own, so files converted separately do not share features.\n"
    "\n"
    "libsvm/svmlight input (\"label idx:value ...\"):\n"
    "  --format libsvm --index-base 0|1 [--labels FILE]\n"
    "      one line per input line (sample = line number), feature = idx - base with its\n"
    "      value; the base must be stated; labels go to FILE (\"sample<TAB>label\").\n"
    "\n"
    "Criteo click logs (\"label<TAB>I1..I13<TAB>C1..C26\", empty fields allowed):\n"
    "  --format criteo [--hash-buckets N | --min-freq F]   OUTPUT is a NetCDF file with\n"
    "      datasets dense (log(1 + max(x, 0))), C1..C26 (one index each) and label.\n"
    "      Categorical values are hashed into N buckets per field (default 1000000;\n"
    "      the same indices in every file), or with --min-freq mapped through this\n"
    "      file's vocabulary of values seen at least F times (others share index 1).\n"
    "      Index 0 is a missing value. docs/dlrm.md.\n"
    "  --to libsvm        instead, libsvm lines for linear models (Linear Learner,\n"
    "      FM; 0-based): label, the 13 dense values as features 0..12, then\n"
    "      C1..C26 one hot, each field's indices after the previous field's;\n"
    "      prints feature_dim. docs/builtins.md.\n";

/* FNV-1a over an index's labels in integer order: the fingerprint of a
 * numbering, so that files encoded differently can be told apart. */
static uint64_t index_hash(const sten_index *ix, uint64_t h)
{
    const uint32_t span = sten_index_span(ix);
    for (uint32_t id = 0; id <= span; id++) {
        const char *l = id < span ? sten_index_label(ix, id) : NULL;
        for (const unsigned char *p = (const unsigned char *)(l ? l : ""); *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ (l ? '\n' : '\1')) * 1099511628211ull; /* a gap differs from an empty label */
    }
    return h;
}

/* --to fm's encoding: PREFIX.users and PREFIX.items, read when both exist,
 * written by this conversion when neither does. */
typedef struct {
    char users[4200], items[4200];
    bool read;
} fm_encoding;

static int fm_encoding_paths(const char *prefix, fm_encoding *e)
{
    memset(e, 0, sizeof *e);
    if (!prefix)
        return 0;
    snprintf(e->users, sizeof e->users, "%s.users", prefix);
    snprintf(e->items, sizeof e->items, "%s.items", prefix);
    const bool u = access(e->users, F_OK) == 0, i = access(e->items, F_OK) == 0;
    if (u != i) {
        fprintf(stderr, "sten convert: %s exists but %s does not: an encoding is both files (delete the "
                "one left to start a new encoding)\n", u ? e->users : e->items, u ? e->items : e->users);
        return CLI_EX_NOINPUT;
    }
    e->read = u;
    return 0;
}

/* One libsvm line per rating, repeated pairs merged (in memory). With an
 * encoding read, this log's users and items are renumbered by label. */
static sten_status write_fm(sten_ctx *ctx, FILE *f, const sten_interactions *in, const sten_index *eu,
                            const sten_index *ei, uint32_t U, double threshold, uint64_t lost[2])
{
    for (uint64_t i = 0; i < in->n; i++) {
        const double r = in->x[i].rating;
        uint32_t u = in->x[i].user, it = in->x[i].item;
        bool have_u = true, have_i = true;
        if (eu) {
            const char *lu = sten_index_label(in->users, u), *li = sten_index_label(in->items, it);
            have_u = sten_index_find(eu, lu, strlen(lu), &u);
            have_i = sten_index_find(ei, li, strlen(li), &it);
            lost[0] += !have_u;
            lost[1] += !have_i;
        }
        fprintf(f, isnan(threshold) ? "%.9g" : "%.0f", isnan(threshold) ? r : (double)(r >= threshold));
        if (have_u)
            fprintf(f, " %u:1", u);
        if (have_i)
            fprintf(f, " %llu:1", (unsigned long long)U + it);
        fputc('\n', f);
    }
    return ferror(f) ? sten_fail(ctx, STEN_E_IO, "write error (disk full?)") : STEN_OK;
}

static int convert_fm(const char *path, const char *out, const sten_log_opts *lo, double threshold,
                      const char *prefix)
{
    fm_encoding e;
    const int rc0 = fm_encoding_paths(prefix, &e);
    if (rc0)
        return rc0;
    sten_ctx *ctx = cli_ctx_new("convert");
    cli_progress_attach(ctx, "convert");
    sten_interactions in = {0};
    sten_index *eu = NULL, *ei = NULL; /* the encoding read; NULL: this file's own */
    sten_status st = sten_interactions_read(ctx, path, lo, &in);
    if (!st)
        sten_interactions_dedupe(&in);
    for (uint64_t i = 0; !st && i < in.n; i++)
        if (isnan(in.x[i].rating))
            st = sten_fail(ctx, STEN_E_FORMAT, "%s: --to fm needs ratings; this log has none", path);
    if (!st && !in.n)
        st = sten_fail(ctx, STEN_E_FORMAT, "%s: no ratings to convert", path);
    if (!st && e.read && !(st = cli_load_index(ctx, e.users, &eu)))
        st = cli_load_index(ctx, e.items, &ei);
    const sten_index *users = eu ? eu : in.users, *items = ei ? ei : in.items;
    const uint32_t U = st ? 0 : sten_index_span(users), I = st ? 0 : sten_index_span(items);
    const uint64_t hash = st ? 0 : index_hash(items, index_hash(users, 14695981039346656037ull));
    FILE *f = NULL;
    sten_outfile *of = NULL;
    uint64_t lost[2] = {0, 0};
    if (!st)
        st = sten_outfile_open(ctx, out, &of, &f);
    if (!st) {
        fprintf(f, "# sten-fm-encoding %016llx features %llu\n", (unsigned long long)hash,
                (unsigned long long)U + I);
        st = write_fm(ctx, f, &in, eu, ei, U, threshold, lost);
    }
    if (!st && prefix && !e.read && !(st = sten_index_save(ctx, in.users, e.users)))
        st = sten_index_save(ctx, in.items, e.items);
    if (!st)
        st = sten_outfile_commit(ctx, of);
    else
        sten_outfile_abort(ctx, of);
    cli_progress_clear();
    if (!st) {
        fprintf(stderr, "sten convert: %s: %u users, %u items, %llu interactions\n", out,
                sten_index_size(in.users), sten_index_size(in.items), (unsigned long long)in.n);
        fprintf(stderr, "sten convert: feature_dim = %llu (%u users + %u items), encoding %016llx%s%s%s\n",
                (unsigned long long)U + I, U, I, (unsigned long long)hash,
                !prefix ? "" : e.read ? " read from " : " written to ", prefix ? prefix : "",
                prefix ? ".{users,items}" : "");
        if (lost[0] || lost[1])
            fprintf(stderr, "sten convert: warning: %llu ratings name a user and %llu an item that the "
                    "encoding %s lacks; those features are left out of their lines\n",
                    (unsigned long long)lost[0], (unsigned long long)lost[1], prefix);
        if (!prefix)
            fprintf(stderr, "sten convert: note: users and items are numbered in this file's own order; "
                    "to give another file (a test set) the same features, convert both with "
                    "--encoding PREFIX\n");
    }
    const int rc = st ? cli_fail("convert", ctx, st) : CLI_EX_OK;
    sten_index_free(ctx, eu);
    sten_index_free(ctx, ei);
    sten_interactions_free(ctx, &in);
    sten_ctx_free(ctx);
    return rc;
}

/* The Criteo datasets as libsvm lines for linear models (Linear Learner,
 * FM): "label f:v ...", 0-based, the 13 integer fields' log(1 + max(x, 0))
 * as features 0..12 where not 0, then each categorical field's indices one
 * hot after the previous fields' (index 0, a missing value, has none).
 * *dim gets the feature count. */
static sten_status write_criteo_libsvm(sten_ctx *ctx, const sten_dataset *ds, size_t n, const char *out,
                                       uint64_t *dim)
{
    uint64_t off[26];
    *dim = 13;
    for (int k = 0; k < 26; k++)
        off[k] = *dim, *dim += ds[1 + k].width - 1;
    sten_outfile *of = NULL;
    FILE *f = NULL;
    sten_status st = sten_outfile_open(ctx, out, &of, &f);
    const sten_dataset *dense = &ds[0], *label = &ds[n - 1];
    for (uint64_t r = 0; !st && r < dense->examples; r++) {
        fprintf(f, "%g", (double)label->dense[r]);
        for (int j = 0; j < 13; j++)
            if (dense->dense[r * 13 + j] != 0)
                fprintf(f, " %d:%.6g", j, (double)dense->dense[r * 13 + j]);
        for (int k = 0; k < 26; k++) {
            const uint32_t i = ds[1 + k].sparse.col[r];
            if (i)
                fprintf(f, " %llu:1", (unsigned long long)(off[k] + i - 1));
        }
        fputc('\n', f);
    }
    if (!st)
        st = sten_outfile_commit(ctx, of), of = NULL;
    sten_outfile_abort(ctx, of);
    return st;
}

static int convert_criteo(const char *in, const char *out, long long buckets, long long min_freq, bool to_libsvm)
{
    sten_ctx *ctx = cli_ctx_new("convert");
    cli_progress_attach(ctx, "convert");
    const sten_criteo_opts o = {.hash_buckets = min_freq ? 0 : (uint32_t)buckets,
                                .min_freq = (uint32_t)min_freq};
    sten_dataset *ds = NULL;
    size_t n = 0;
    sten_criteo_stats cs;
    sten_status st = sten_criteo_read(ctx, in, &o, &ds, &n, &cs);
    uint64_t dim = 0;
    if (!st)
        st = to_libsvm ? write_criteo_libsvm(ctx, ds, n, out, &dim) : sten_dataset_write_netcdf(ctx, out, ds, n);
    cli_progress_clear();
    if (!st && to_libsvm) {
        fprintf(stderr, "sten convert: %s: %llu examples as libsvm (0-based), feature_dim = %llu (13 integer "
                "fields, then C1..C26 one hot, %s)\n", out, (unsigned long long)cs.rows, (unsigned long long)dim,
                o.hash_buckets ? "hashed" : "vocabulary");
        printf("feature_dim %llu\n", (unsigned long long)dim);
    } else if (!st) {
        uint64_t rows = 0;
        for (int k = 0; k < 26; k++)
            rows += cs.width[k];
        fprintf(stderr, "sten convert: %s: %llu examples; datasets dense, C1..C26 (%llu table rows in "
                "all, %s), label; %llu missing integer and %llu missing categorical values\n", out,
                (unsigned long long)cs.rows, (unsigned long long)rows,
                o.hash_buckets ? "hashed" : "vocabulary", (unsigned long long)cs.missing_dense,
                (unsigned long long)cs.missing_cat);
    }
    sten_datasets_free(ctx, ds, n);
    const int rc = st ? cli_fail("convert", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return rc;
}

static int convert_libsvm(const char *in, const char *out, const char *labels_path, int base)
{
    sten_ctx *ctx = cli_ctx_new("convert");
    cli_progress_attach(ctx, "convert");
    sten_outfile *of = NULL, *lf = NULL;
    FILE *f = NULL, *lab = NULL;
    uint64_t n = 0;
    sten_status st = sten_outfile_open(ctx, out, &of, &f);
    if (!st && labels_path)
        st = sten_outfile_open(ctx, labels_path, &lf, &lab);
    if (!st)
        st = sten_libsvm_to_text(ctx, in, base, f, lab, &n);
    if (!st && lf)
        st = sten_outfile_commit(ctx, lf), lf = NULL;
    if (!st)
        st = sten_outfile_commit(ctx, of), of = NULL;
    sten_outfile_abort(ctx, of);
    sten_outfile_abort(ctx, lf);
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten convert: %s: %llu samples from libsvm (%d-based indices)\n", out,
                (unsigned long long)n, base);
    const int rc = st ? cli_fail("convert", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return rc;
}

int cmd_convert(int argc, char **argv)
{
    const cli_cmd *self = cli_find("convert");
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
        {"index-base", required_argument, NULL, 'B'}, {"labels", required_argument, NULL, 'L'},
        {"to", required_argument, NULL, 'F'}, {"threshold", required_argument, NULL, 'X'},
        {"max-memory", required_argument, NULL, 'M'},
        {"hash-buckets", required_argument, NULL, 'N'}, {"min-freq", required_argument, NULL, 'Q'},
        {"force", no_argument, NULL, 'f'}, {"encoding", required_argument, NULL, 'E'},
        CLI_LOG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    sten_log_opts lo = {.format = STEN_FMT_AUTO, .min_rating = NAN};
    sten_value_kind value = STEN_VALUE_NONE;
    const char *out = NULL, *labels = NULL, *encoding = NULL;
    long long base = -1;
    bool libsvm = false, to_fm = false, to_libsvm = false, criteo = false, force = false;
    long long buckets = 1000000, min_freq = 0;
    bool buckets_given = false;
    double threshold = NAN;
    long long max_mb = 256;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 'B') {
            if (cli_parse_int(self, "--index-base", optarg, 0, 1, &base))
                return CLI_EX_USAGE;
        } else if (c == 'L')
            labels = optarg;
        else if (c == 'f')
            force = true;
        else if (c == 'E')
            encoding = optarg;
        else if (c == 'F') {
            if (strcmp(optarg, "fm") && strcmp(optarg, "libsvm"))
                return cli_usage_error(self, "--to expects fm or libsvm, got '%s'", optarg);
            to_fm = !strcmp(optarg, "fm");
            to_libsvm = !to_fm;
        } else if (c == 'M') {
            if (cli_parse_int(self, "--max-memory", optarg, 1, 1 << 20, &max_mb))
                return CLI_EX_USAGE;
        } else if (c == 'X') {
            if (cli_parse_double(self, "--threshold", optarg, -1e9, 1e9, &threshold))
                return CLI_EX_USAGE;
        } else if (c == 'N') {
            if (cli_parse_int(self, "--hash-buckets", optarg, 2, UINT32_MAX, &buckets))
                return CLI_EX_USAGE;
            buckets_given = true;
        } else if (c == 'Q') {
            if (cli_parse_int(self, "--min-freq", optarg, 1, UINT32_MAX, &min_freq))
                return CLI_EX_USAGE;
        } else if (c == CLI_OPT_FORMAT && !strcmp(optarg, "libsvm"))
            libsvm = true;
        else if (c == CLI_OPT_FORMAT && !strcmp(optarg, "criteo"))
            criteo = true;
        else if (c == 'h')
            return cli_print_usage(stdout, self), CLI_EX_OK;
        else if (c >= CLI_OPT_FORMAT && c <= CLI_OPT_VALUE) {
            if (cli_log_option(self, c, optarg, &lo, &value))
                return CLI_EX_USAGE;
        } else
            return cli_opt_error(self, c, argv);
    }
    if (argc - optind != 1)
        return cli_usage_error(self, argc == optind ? "INPUT is required" : "one INPUT only");
    if (!out)
        return cli_usage_error(self, "-o OUTPUT is required");
    if (!to_fm && (encoding || !isnan(threshold)))
        return cli_usage_error(self, "%s is for --to fm", encoding ? "--encoding" : "--threshold");
    if (labels && !libsvm)
        return cli_usage_error(self, "--labels is for --format libsvm");
    int exists = cli_check_output("convert", out, force);
    if (!exists)
        exists = cli_check_output("convert", labels, force);
    if (exists)
        return exists;
    if (!criteo && (buckets_given || min_freq))
        return cli_usage_error(self, "--hash-buckets and --min-freq are for --format criteo");
    if (buckets_given && min_freq)
        return cli_usage_error(self, "--hash-buckets and --min-freq exclude each other (hashing or a "
                               "vocabulary)");
    if (to_libsvm && !criteo)
        return cli_usage_error(self, "--to libsvm is for --format criteo");
    if (criteo && to_fm)
        return cli_usage_error(self, "--to fm is for interaction logs; Criteo rows go --to libsvm");
    if (criteo)
        return convert_criteo(argv[optind], out, buckets, min_freq, to_libsvm);
    if (libsvm != (base >= 0))
        return cli_usage_error(self, libsvm ? "--format libsvm needs --index-base 0 or 1 (say which; "
                                              "guessing would shift every feature)"
                                            : "--index-base is for --format libsvm");
    if (libsvm)
        return convert_libsvm(argv[optind], out, labels, (int)base);
    if (to_fm)
        return convert_fm(argv[optind], out, &lo, threshold, encoding);
    sten_ctx *ctx = cli_ctx_new("convert");
    cli_progress_attach(ctx, "convert");
    FILE *f = NULL;
    sten_outfile *of = NULL;
    sten_convert_stats cs;
    sten_status st = sten_outfile_open(ctx, out, &of, &f);
    if (!st)
        /* 24-byte records, and qsort's temporary of the same size */
        st = sten_convert_log(ctx, argv[optind], &lo, value, (uint64_t)max_mb * 1048576 / 48, f, &cs);
    if (!st)
        st = sten_outfile_commit(ctx, of);
    else
        sten_outfile_abort(ctx, of);
    cli_progress_clear();
    if (!st)
        fprintf(stderr, "sten convert: %s: %llu users, %llu items, %llu interactions (%llu repeated "
                "pairs merged%s)\n", out, (unsigned long long)cs.users, (unsigned long long)cs.items,
                (unsigned long long)cs.written, (unsigned long long)cs.merged_pairs,
                cs.runs ? ", sorted through temporary files" : "");
    const int rc = st ? cli_fail("convert", ctx, st) : CLI_EX_OK;
    sten_ctx_free(ctx);
    return rc;
}
