/* cli.h — what the sten command's subcommands share: the command table,
 * usage errors (exit 64), a context that logs to stderr, and the mapping
 * from library status to exit code. Uses only the public API. */
#ifndef STEN_CLI_H
#define STEN_CLI_H

#include "progress.h"
#include "sten.h"

#include <stdbool.h>
#include <stdio.h>

#define CLI_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CLI_MAX(a, b) ((a) > (b) ? (a) : (b))

/* sysexits.h values, spelled out so the meaning is visible here. */
enum {
    CLI_EX_OK = 0,
    CLI_EX_USAGE = 64,    /* bad command line */
    CLI_EX_DATAERR = 65,  /* bad input data */
    CLI_EX_NOINPUT = 66,  /* input missing */
    CLI_EX_UNAVAILABLE = 69, /* not supported here (a CPU feature, a newer format) */
    CLI_EX_SOFTWARE = 70, /* internal error */
    CLI_EX_OSERR = 71,    /* out of memory and the like */
    CLI_EX_CANTCREAT = 73, /* an output exists (and --force was not given) */
    CLI_EX_IOERR = 74     /* read/write failure */
};

typedef struct {
    const char *name;
    const char *summary;  /* one line for `sten --help` */
    const char *usage;    /* full text for `sten help <name>` */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} cli_cmd;

/* Each subcommand: its entry point and its usage text (tools/cmd_*.c). */
int cmd_info(int argc, char **argv);
extern const char cmd_info_usage[];
int cmd_synth(int argc, char **argv);
extern const char cmd_synth_usage[];
int cmd_convert(int argc, char **argv);
extern const char cmd_convert_usage[];
int cmd_split(int argc, char **argv);
extern const char cmd_split_usage[];
int cmd_predict(int argc, char **argv);
extern const char cmd_predict_usage[];
int cmd_evaluate(int argc, char **argv);
extern const char cmd_evaluate_usage[];
int cmd_report(int argc, char **argv);
extern const char cmd_report_usage[];
int cmd_baseline(int argc, char **argv);
extern const char cmd_baseline_usage[];
int cmd_similar(int argc, char **argv);
extern const char cmd_similar_usage[];
int cmd_train(int argc, char **argv);
int cmd_train_fm(int argc, char **argv); /* `train --algorithm ...` */
extern const char cmd_train_fm_usage[];
/* `train --algorithm kmeans|pca|knn|linear-learner` and `predict --csv` (tools/cmd_*_builtin.c);
 * cli_builtin_algorithm says whether argv's --algorithm names one of them. */
bool cli_builtin_algorithm(int argc, char **argv);
int cmd_train_builtin(int argc, char **argv);
extern const char cmd_train_builtin_usage[];
int cmd_predict_builtin(int argc, char **argv);
extern const char cmd_train_usage[];
int cmd_serve(int argc, char **argv);
extern const char cmd_serve_usage[];
int cmd_store(int argc, char **argv);
extern const char cmd_store_usage[];
int cmd_tune(int argc, char **argv);
extern const char cmd_tune_usage[];
int cmd_generate_netcdf(int argc, char **argv);
extern const char cmd_generate_netcdf_usage[];

/* tools/blas_core.c. First thing in main(): if OpenBLAS runs generic
 * kernels and the CPU can do better (and the user did not set
 * OPENBLAS_CORETYPE), re-executes this binary once with OPENBLAS_CORETYPE
 * set; STEN_BLAS_CORETYPE=keep|auto|best governs it. Returns CLI_EX_OK
 * (after a one-line warning if execv failed) or CLI_EX_USAGE for a bad
 * STEN_BLAS_CORETYPE. argv must be main's. */
int cli_blas_core_fix(char **argv);
/* The `blas core` line of `sten info`: core type, kernels, and what sten did. */
void cli_blas_core_describe(char *buf, size_t n);

/* The table of subcommands (tools/commands.c), terminated by a NULL name. */
extern const cli_cmd cli_commands[];
const cli_cmd *cli_find(const char *name);

/* Prints "sten <cmd>: <message>" and the command's usage to stderr;
 * returns CLI_EX_USAGE. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_print_usage(FILE *f, const cli_cmd *cmd);

/* A context whose log goes to stderr (information and warnings; STEN_LOG=warn
 * for less, STEN_LOG=debug for more). Exits with CLI_EX_OSERR if it cannot be made. */
sten_ctx *cli_ctx_new(const char *cmd);
/* Reports the context's first error on stderr ("sten <cmd>: <error>") and
 * returns the exit code for st. */
int cli_fail(const char *cmd, sten_ctx *ctx, sten_status st);

/* MPI (tools/mpi.c, docs/scale-out.md). cli_mpi_start: called by main
 * before the subcommand; starts MPI when a launcher started this process
 * (only train and predict run across ranks; the others refuse), or refuses
 * when sten was built without MPI and would run alone among others.
 * cli_mpi_finish: ends MPI with the exit code (a failed rank aborts the job
 * instead of leaving the others waiting). cli_mpi_comm: the group for
 * sten_train_opts.comm, or NULL when alone. cli_mpi_gather_to: rank 0
 * writes its buf, then every other rank's, in rank order, to f (the others
 * send theirs); alone, just writes buf. */
int cli_mpi_start(int *argc, char ***argv, const char *sub);
/* What `sten info` says of MPI: the library this sten was built with, or
 * that it was built without. */
void cli_mpi_describe(char *out, size_t cap);
int cli_mpi_finish(int rc);
const sten_comm *cli_mpi_comm(void);
int cli_mpi_rank(void);
int cli_mpi_size(void);
void cli_mpi_barrier(void);
sten_status cli_mpi_gather_to(sten_ctx *ctx, FILE *f, const char *buf, size_t len);
int cli_exit_code(sten_status st);

/* Options shared by the commands that read interaction logs (convert,
 * split): long-only codes and their getopt entries. */
enum { CLI_OPT_FORMAT = 1000, CLI_OPT_DELIM, CLI_OPT_COLUMNS, CLI_OPT_HEADER, CLI_OPT_MIN_RATING,
       CLI_OPT_VALUE };
#define CLI_LOG_OPTIONS                                                          \
    {"format", required_argument, NULL, CLI_OPT_FORMAT},                         \
    {"delimiter", required_argument, NULL, CLI_OPT_DELIM},                       \
    {"columns", required_argument, NULL, CLI_OPT_COLUMNS},                       \
    {"header", no_argument, NULL, CLI_OPT_HEADER},                               \
    {"min-rating", required_argument, NULL, CLI_OPT_MIN_RATING},                 \
    {"value", required_argument, NULL, CLI_OPT_VALUE}
#define CLI_LOG_USAGE                                                              \
    "  --format F        auto (default), movielens-csv, movielens-dat, udata, delimited\n" \
    "  --delimiter C     delimited: the separator (one character; default ',')\n"    \
    "  --columns SPEC    delimited: e.g. user,item,rating,timestamp ('-' skips one)\n" \
    "  --header          delimited: the first line is a header\n"                   \
    "  --min-rating X    keep only ratings >= X\n"                                  \
    "  --value V         what follows each item in the output: none (default),\n"   \
    "                    rating, or timestamp (as DSSTNE's awk converter)\n"
/* Handles one of the shared options; returns 0, or a usage error (64). */
int cli_log_option(const cli_cmd *cmd, int c, const char *arg, sten_log_opts *o,
                   sten_value_kind *value);

/* Reads an index file, or says which and why it could not. An index with no
 * entries is refused (STEN_E_PARSE): every feature would be dropped. */
sten_status cli_load_index(sten_ctx *ctx, const char *path, sten_index **out);

/* The overwrite rule every command follows: a file a command would create is
 * refused if it exists, unless --force (files a command is told to update in
 * place, such as generate-netcdf's samples index, are not outputs in this
 * sense). Prints "sten <cmd>: PATH already exists; pass --force to overwrite
 * it" and returns CLI_EX_CANTCREAT (73), or 0. A directory is refused even
 * with --force. NULL paths are skipped. Call it before any work is done. */
/* Dense rows (n x dim, and labels when labeled) for a built-in algorithm,
 * from whichever format path holds: RecordIO-protobuf, a NetCDF dataset or,
 * unlabeled, SageMaker's JSON instances (told apart by their first bytes),
 * libsvm when base is 0 or 1 (sten_labeled_read; sparse rows are spread out
 * dense), else CSV (the label first when labeled). *X and *y owned (sten_free). */
sten_status cli_read_rows(sten_ctx *ctx, const char *path, uint32_t dim, int base, bool labeled, float **X,
                          float **y, uint64_t *n);
/* cli_read_rows' second half: the rows of x (and, when t is not NULL, its
 * labels) as read by sten_labeled_read from path, spread out dense into *X
 * (n x dim) and *y; x and t are consumed (cleared) either way. */
sten_status cli_rows_spread(sten_ctx *ctx, const char *path, uint32_t dim, sten_dataset *x, sten_dataset *t,
                            float **X, float **y, uint64_t *n);
/* Whether cli_read_rows reads path as CSV (else through sten_labeled_read). */
bool cli_rows_are_csv(const char *path, int base);

int cli_check_output(const char *cmd, const char *path, bool force);
/* A --model-dir before any work: a directory, or one that can be made in a
 * writable parent; its model file (path model) is checked by the overwrite
 * rule. Prints the reason and returns CLI_EX_CANTCREAT, or 0. */
int cli_check_model_dir(const char *cmd, const char *dir, const char *model, bool force);

/* After a model failed to load from path: when the file is a dataset (or
 * something else that is not a model), replaces the error with one that says
 * so. Returns st. */
sten_status cli_explain_model(sten_ctx *ctx, const char *path, sten_status st);

/* The usage lines every writing command shares. */
#define CLI_FORCE_USAGE "      --force           overwrite outputs that exist (refused otherwise, exit 73)\n"

/* The usage error for getopt's ':' (missing value) and '?' (unknown option)
 * results; returns CLI_EX_USAGE. */
int cli_opt_error(const cli_cmd *cmd, int c, char **argv);
/* Strict number option parsing: the whole string, within [lo, hi]. Returns 0,
 * or prints a usage error and returns 64. */
int cli_parse_double(const cli_cmd *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out);

/* Strict integer option parsing: the whole string, within [lo, hi].
 * Returns 0 on success, otherwise prints a usage error and returns 64. */
int cli_parse_int(const cli_cmd *cmd, const char *opt, const char *s,
                  long long lo, long long hi, long long *out);

/* --precision fp32|bf16 (any case). Returns 0, or prints a usage error and
 * returns 64. */
int cli_parse_precision(const cli_cmd *cmd, const char *s, sten_precision *out);
/* Applies --precision to a network; a CPU without AVX-512 BF16 gets the
 * library's error (which says so). */
sten_status cli_set_precision(sten_ctx *ctx, sten_net *net, sten_precision p);

#endif
