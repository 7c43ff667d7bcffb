/* sten.h — the whole public API of sten (Sparse Tensor ENgine).
 *
 * Everything exported starts with sten_ / STEN_. Fallible calls return a
 * sten_status (0 = OK, negative = error); the detail of the first error is kept
 * in the context's error buffer (sten_ctx_error). Library code never prints and
 * never exits: messages go through the log callback set on the context.
 *
 * Shapes use fixed letters: B batch rows, N units/items, H hidden units,
 * K factors or top-k, nnz non-zeros. Dense matrices are row-major float32.
 */
#ifndef STEN_H
#define STEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility: what this header declares is
 * exported, nothing else (internals are sten__ and stay inside libsten). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define STEN_VERSION_MAJOR 0
#define STEN_VERSION_MINOR 1
#define STEN_VERSION_PATCH 0
#define STEN_VERSION_STRING "0.1.0"

/* Version of the library actually linked (may differ from the header). */
const char *sten_version(void);

/* ------------------------------------------------------------------ status */

/* One list makes both the enum and sten_status_str(). */
#define STEN_STATUS_LIST(X)                                                    \
    X(STEN_OK, 0, "ok")                                                        \
    X(STEN_E_INVALID, -1, "invalid argument")                                  \
    X(STEN_E_NOMEM, -2, "out of memory")                                       \
    X(STEN_E_IO, -3, "input/output error")                                     \
    X(STEN_E_PARSE, -4, "parse error")                                         \
    X(STEN_E_FORMAT, -5, "unsupported or malformed file format")               \
    X(STEN_E_RANGE, -6, "value out of range")                                  \
    X(STEN_E_NOTFOUND, -7, "not found")                                        \
    X(STEN_E_UNSUPPORTED, -8, "not supported")                                 \
    X(STEN_E_NUMERIC, -9, "numerical failure (NaN or divergence)")             \
    X(STEN_E_INTERNAL, -10, "internal error")

typedef enum {
#define STEN__STATUS_ENUM(name, code, text) name = code,
    STEN_STATUS_LIST(STEN__STATUS_ENUM)
#undef STEN__STATUS_ENUM
} sten_status;

/* Short English description of a status; never NULL ("unknown status" for
 * values outside the list). */
const char *sten_status_str(sten_status st);

/* Symbolic name of a status ("STEN_E_PARSE"); never NULL. */
const char *sten_status_name(sten_status st);

/* ----------------------------------------------------------------- context */

/* A context holds everything that would otherwise be global: the first-error
 * buffer, the log callback, allocation accounting and the thread count. One
 * context must not be used by two threads at once; use one per thread. */
typedef struct sten_ctx sten_ctx;

typedef enum {
    STEN_LOG_ERROR = 0,
    STEN_LOG_WARN = 1,
    STEN_LOG_INFO = 2,
    STEN_LOG_DEBUG = 3
} sten_log_level;

/* Log callback: msg is a complete line without trailing newline, valid only
 * during the call. */
typedef void (*sten_log_fn)(void *user, sten_log_level level, const char *msg);

/* Creates a context with threads = number of available cores, no log
 * callback, no allocation limit. *out is owned by the caller; free it with
 * sten_ctx_free. Returns STEN_E_NOMEM if the context itself cannot be made. */
sten_status sten_ctx_init(sten_ctx **out);
/* Frees the context; NULL is a no-op. Does not free memory still allocated
 * through it (that is a leak the byte counter reports). */
void sten_ctx_free(sten_ctx *ctx);

/* The first error recorded since the last clear, as
 * "<where>: <what>" (e.g. "ratings.csv:12: expected 4 fields, got 3"), or ""
 * when none. Borrowed: valid until the next clear or free. */
const char *sten_ctx_error(const sten_ctx *ctx);
/* Status of that first error (STEN_OK when none). */
sten_status sten_ctx_error_status(const sten_ctx *ctx);
/* Forgets the recorded error so the next one is kept. */
void sten_ctx_clear_error(sten_ctx *ctx);

/* Records an error if none is recorded yet (first error wins), logs it at
 * STEN_LOG_ERROR, and returns st, so callers can `return sten_fail(...)`.
 * For application code that builds on sten and wants one error channel. */
sten_status sten_fail(sten_ctx *ctx, sten_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Sends messages with level <= max_level to fn. fn = NULL silences logging. */
void sten_ctx_set_log(sten_ctx *ctx, sten_log_fn fn, void *user,
                      sten_log_level max_level);
/* Logs through the context's callback (no-op without one). */
void sten_log(sten_ctx *ctx, sten_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Progress of a long operation: reading a large text file, generating
 * synthetic data, sorting and writing a converted log, fitting EASE. All
 * pointers are borrowed for the duration of the call. */
typedef struct {
    const char *task;     /* what is being done: "reading ratings.csv", "EASE: Gram matrix" */
    const char *unit;     /* what done and total count: "lines", "users", "items",
                             "records"; "" for a phase that is not counted */
    uint64_t done;
    uint64_t total;       /* 0 when not known */
    uint64_t bytes;       /* input bytes consumed so far (compressed bytes for a gzip file);
                             0 when the task is not reading */
    uint64_t bytes_total; /* the input's size; 0 when not known (stdin, a pipe) */
} sten_progress;
typedef void (*sten_progress_fn)(void *user, const sten_progress *p);

/* Sends progress reports to fn (NULL, the default, turns them off; then a
 * report costs one pointer test). fn is called on the thread that called
 * into the library, never from inside a parallel region, every few thousand
 * units of work and at the start of each phase, so it should limit how
 * often it draws itself. The library never prints; training reports through
 * sten_train_opts.progress instead. */
void sten_ctx_set_progress(sten_ctx *ctx, sten_progress_fn fn, void *user);

/* Thread count used by every kernel and by BLAS. n <= 0 means "all available
 * cores". Kernels never call multi-threaded BLAS inside their own parallel
 * regions, so the machine is never oversubscribed. */
void sten_ctx_set_threads(sten_ctx *ctx, int n);
int sten_ctx_threads(const sten_ctx *ctx);

/* ------------------------------------------------------------- allocation */

/* Every allocation made by sten goes through these (so tests can count bytes
 * and fail the Nth allocation). Memory is 64-byte aligned. sten_alloc returns
 * NULL and records STEN_E_NOMEM (with the size) on failure; size 0 returns a
 * valid unique pointer. sten_free(ctx, NULL) is a no-op. */
void *sten_alloc(sten_ctx *ctx, size_t size);
void *sten_calloc(sten_ctx *ctx, size_t count, size_t size);
void sten_free(sten_ctx *ctx, void *p);

/* Bytes currently allocated through ctx and the high-water mark. */
size_t sten_ctx_bytes_in_use(const sten_ctx *ctx);
size_t sten_ctx_bytes_peak(const sten_ctx *ctx);
/* Number of successful allocations not yet freed, and ever made. */
size_t sten_ctx_live_allocs(const sten_ctx *ctx);
size_t sten_ctx_alloc_count(const sten_ctx *ctx);
/* Test hook: the n-th allocation from now (1 = the next one) fails; every
 * later one succeeds again. n = 0 disables. */
void sten_ctx_fail_alloc_at(sten_ctx *ctx, long n);
/* Caps bytes in use; an allocation that would exceed it fails. 0 = no cap. */
void sten_ctx_set_mem_limit(sten_ctx *ctx, size_t bytes);

/* ------------------------------------------------------------ dense matrix */

/* A row-major float32 matrix view: element (r, c) at data[r * ld + c],
 * ld >= cols. `owned` says whether sten_mat_free releases data. */
typedef struct {
    int64_t rows;
    int64_t cols;
    int64_t ld;
    float *data;
    bool owned;
} sten_mat;

/* Allocates a zeroed rows x cols matrix with ld rounded up to 16 floats (one
 * cache line) so every row starts aligned. */
sten_status sten_mat_init(sten_ctx *ctx, sten_mat *m, int64_t rows, int64_t cols);
/* A non-owning view over caller memory. */
sten_mat sten_mat_view(float *data, int64_t rows, int64_t cols, int64_t ld);
/* Frees owned data and zeroes the struct; safe on a zeroed struct. */
void sten_mat_free(sten_ctx *ctx, sten_mat *m);
/* Sets every element to v (only the cols of each row, not the padding). */
void sten_mat_fill(sten_mat *m, float v);

/* -------------------------------------------------------- CSR sparse batch */

/* B rows of a sparse matrix with `cols` columns. Row r's entries are
 * col[row_ptr[r] .. row_ptr[r+1]-1]; val is NULL for boolean data (every
 * listed entry means 1). Columns within a row need not be sorted. */
typedef struct {
    uint32_t rows;
    uint32_t cols;
    uint64_t nnz;       /* = row_ptr[rows] */
    uint64_t cap;       /* capacity of col/val */
    uint32_t row_cap;   /* capacity of row_ptr, minus one */
    uint64_t *row_ptr;  /* rows + 1 entries */
    uint32_t *col;
    float *val;         /* NULL when boolean */
} sten_csr;

/* Allocates a CSR with room for cap non-zeros, rows = 0 of row_cap rows ready
 * (row_ptr has row_cap + 1 entries, row_ptr[0] = 0). valued selects float
 * values. Free with sten_csr_free. */
sten_status sten_csr_init(sten_ctx *ctx, sten_csr *m, uint32_t row_cap,
                          uint32_t cols, uint64_t cap, bool valued);
void sten_csr_free(sten_ctx *ctx, sten_csr *m);
/* Checks row_ptr is non-decreasing, ends at nnz <= cap, and every column is
 * < cols; records a message naming the first bad row/entry. */
sten_status sten_csr_validate(sten_ctx *ctx, const sten_csr *m);
/* xt = transpose of x (x->cols rows, x->rows columns). xt must have been made
 * by sten_csr_init with row_cap >= x->cols, cap >= x->nnz and values iff x has
 * them. Entries of each xt row come in increasing x-row order (deterministic).
 * Allocation-free, so it can run inside a training step. */
sten_status sten_csr_transpose(sten_ctx *ctx, const sten_csr *x, sten_csr *xt);

/* ---------------------------------------------------------------- kernels */

typedef enum { STEN_NO_TRANS = 0, STEN_TRANS = 1 } sten_trans;

/* C = alpha * op(A) * op(B) + beta * C, row-major, through OpenBLAS.
 * op(A): (M, K), op(B): (K, N), C: (M, N). Runs with ctx's thread count. */
void sten_gemm(sten_ctx *ctx, sten_trans ta, sten_trans tb, int64_t M,
               int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* Sparse x dense: Y = beta * Y + X * W.
 * X: CSR (B rows, N_in cols), W: (N_in, H) row-major with leading dim ldw,
 * Y: (B, H) with leading dim ldy. Each output row is a gather-sum of the W
 * rows named by X's row (times the values if X is valued). beta must be 0 or
 * 1 (overwrite or accumulate, e.g. for several sources). */
void sten_spmm(sten_ctx *ctx, const sten_csr *X, const float *W, int64_t ldw,
               int64_t H, float beta, float *Y, int64_t ldy);

/* Weight gradient of a sparse input layer: dW[j, :] += alpha * sum over the
 * entries (i, j) of X of x_ij * dY[i, :], touching only rows j present in X.
 * Takes XT = transpose of X (sten_csr_transpose), so each dW row is reduced by
 * one thread in a fixed order: the result is identical for any thread count.
 * XT: CSR (N_in rows, B cols), dY: (B, H) ld ldd, dW: (N_in, H) ld ldw. */
void sten_spmm_grad(sten_ctx *ctx, const sten_csr *XT, const float *dY,
                    int64_t ldd, int64_t H, float alpha, float *dW,
                    int64_t ldw);

/* Activation functions. Numeric codes match DSSTNE's model files. */
#define STEN_ACT_LIST(X)                                                       \
    X(STEN_ACT_SIGMOID, 0, "Sigmoid")                                          \
    X(STEN_ACT_TANH, 1, "Tanh")                                                \
    X(STEN_ACT_RELU, 2, "RELU")                                                \
    X(STEN_ACT_LINEAR, 3, "Linear")                                            \
    X(STEN_ACT_SOFTPLUS, 5, "SoftPlus")                                        \
    X(STEN_ACT_SOFTSIGN, 6, "SoftSign")                                        \
    X(STEN_ACT_SOFTMAX, 7, "SoftMax")                                          \
    X(STEN_ACT_RELUMAX, 8, "RELUMax")                                          \
    X(STEN_ACT_LINEARMAX, 9, "LinearMax")                                      \
    X(STEN_ACT_ELU, 10, "ELU")                                                 \
    X(STEN_ACT_LEAKYRELU, 11, "LeakyRELU")                                     \
    X(STEN_ACT_SELU, 12, "SELU")

typedef enum {
#define STEN__ACT_ENUM(name, code, text) name = code,
    STEN_ACT_LIST(STEN__ACT_ENUM)
#undef STEN__ACT_ENUM
} sten_act;

/* Parameters some activations use. sten_act_params_default gives DSSTNE's
 * defaults except slope (0.01 rather than DSSTNE's 1.0, which made LeakyRELU
 * the identity; see docs/dsstne-compat.md). */
typedef struct {
    float slope;  /* LeakyRELU negative slope */
    float alpha;  /* ELU / SELU alpha */
    float lambda; /* SELU lambda */
    float max;    /* RELUMax / LinearMax upper clip */
} sten_act_params;

sten_act_params sten_act_params_default(void);
/* Canonical name ("Sigmoid"), or NULL for a value that is not an activation. */
const char *sten_act_name(sten_act a);
/* Case-insensitive parse accepting DSSTNE's spellings (relu,
 * rectifiedlinear, lrelu, leakyrectifiedlinear, elu, exponentiallinear, selu,
 * scaledexponentiallinear, ...). Returns STEN_E_NOTFOUND for anything else. */
sten_status sten_act_parse(const char *name, sten_act *out);

/* Y = f(X) over a (B, N) block (in place allowed: Y == X). SoftMax is per
 * row. X and Y share leading dimension ld. */
void sten_act_forward(sten_ctx *ctx, sten_act a, const sten_act_params *p,
                      const float *X, float *Y, int64_t B, int64_t N,
                      int64_t ld);
/* dX = f'(.) (.) dY, with the derivative computed from the activation output
 * Y (as DSSTNE does). For SoftMax it is the Jacobian-vector product
 * dX = Y (.) (dY - sum(dY (.) Y)) per row. In place allowed: dX == dY. */
void sten_act_backward(sten_ctx *ctx, sten_act a, const sten_act_params *p,
                       const float *Y, const float *dY, float *dX, int64_t B,
                       int64_t N, int64_t ld);

/* Per-row top-K with exclusion.
 * S: (B, N) scores, ld lds. exclude: optional CSR with B rows whose entries
 * are item indices to skip for that row (a user's seen items); NULL for none.
 * Writes, for each row b, out_idx[b*K + r] / out_val[b*K + r] for r < count,
 * best first; ties are broken by the lower item index, NaN scores rank below
 * every number. count[b] = min(K, eligible items); unused slots get index
 * UINT32_MAX and value -INFINITY. out_val and count may be NULL. Any K >= 1 is
 * allowed (K > N just leaves slots unused). Returns STEN_E_NOMEM if its
 * per-thread scratch (N bits per thread) cannot be allocated. */
sten_status sten_topk(sten_ctx *ctx, const float *S, int64_t lds, int64_t B,
                      int64_t N, int64_t K, const sten_csr *exclude,
                      uint32_t *out_idx, float *out_val, uint32_t *count);

/* -------------------------------------------------------------------- RNG */

/* Counter-based generator (Philox4x32-10). A value depends only on (seed,
 * stream, position), never on which thread asks, so giving each example or
 * row its own stream makes results independent of the thread count. */
typedef struct {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    unsigned used; /* values of buf already handed out */
} sten_rng;

/* The raw block function: out = Philox4x32-10(ctr, key). */
void sten_philox4x32(const uint32_t ctr[4], const uint32_t key[2],
                     uint32_t out[4]);
/* Stream `stream` of generator `seed`, positioned at its start. */
void sten_rng_init(sten_rng *r, uint64_t seed, uint64_t stream);
/* Jumps to the n-th 32-bit value of the stream (O(1)). */
void sten_rng_seek(sten_rng *r, uint64_t n);
uint32_t sten_rng_u32(sten_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float sten_rng_uniform(sten_rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint32_t sten_rng_below(sten_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float sten_rng_normal(sten_rng *r);

/* ------------------------------------------------------------- data (io) */

/* DSSTNE dataset attribute bits (the values DSSTNE files store). */
enum {
    STEN_DS_SPARSE = 1,
    STEN_DS_BOOLEAN = 2,
    STEN_DS_COMPRESSED = 4,
    STEN_DS_RECURRENT = 8,
    STEN_DS_MUTABLE = 16,
    STEN_DS_SPARSE_IGNORE_ZERO = 32,
    STEN_DS_INDEXED = 64,
    STEN_DS_WEIGHTED = 128
};

/* An index's fingerprint: its entry count and the 64-bit FNV-1a hash of its
 * "label<TAB>integer\n" lines in increasing integer order (the bytes
 * sten_index_save writes), so the order a file listed them in does not
 * matter while any change to the map does. generate-netcdf records it in
 * the datasets it writes, train copies it into the model, and predict and
 * serve refuse index files whose fingerprint differs (sten_index_check).
 * entries == 0 means none is known (files DSSTNE made carry none). */
typedef struct {
    uint32_t entries;
    uint64_t hash;
} sten_fingerprint;

/* One dataset of a DSSTNE NetCDF file, in memory. */
typedef struct {
    char *name;
    uint32_t attributes;  /* STEN_DS_* bits */
    uint32_t dtype;       /* DSSTNE dataType code of the stored values */
    uint32_t dims, width, height, length;
    uint64_t examples;    /* examplesDim */
    uint64_t unique;      /* stored rows: uniqueExamplesDim, = examples unless Indexed */
    sten_csr sparse;      /* when SPARSE: rows = unique, cols = width*height*length; val NULL if BOOLEAN */
    float *dense;         /* when not SPARSE: unique x (width*height*length), row-major */
    float *weight;        /* per-example weights (examples entries), or NULL */
    uint32_t *index;      /* example -> stored row (examples entries), or NULL */
    /* What generate-netcdf records (entries 0: not known): the feature
     * index its columns follow, and the samples index restricted to the
     * samples of its rows, in row order (sten_index_fingerprint_ids). */
    sten_fingerprint features, samples;
} sten_dataset;

/* Who frees a dataset. A sten_dataset struct belongs to whoever holds its
 * storage; what it points to (name, sparse, dense, weight, index) is owned
 * by the struct once a reader fills it. So:
 *  - a reader that fills caller-provided structs (sten_libsvm_read,
 *    sten_recordio_read, sten_labeled_read, sten_instances_read) is undone
 *    with sten_dataset_clear on each struct;
 *  - a reader that returns an array it allocated (sten_dataset_read_netcdf,
 *    sten_criteo_read) is undone with sten_datasets_free on the array, which
 *    clears every entry and frees the array itself.
 * Never pass a caller's struct to sten_datasets_free. Both are no-ops on
 * NULL, and a cleared struct is all zero (clearing it again is harmless). */
void sten_dataset_clear(sten_ctx *ctx, sten_dataset *d);
void sten_datasets_free(sten_ctx *ctx, sten_dataset *ds, size_t count);

/* Reads every dataset of a DSSTNE NetCDF data file: sparse (boolean or
 * analog with float, double, uint, int, uchar or char values, converted to
 * float), dense, Weighted (dataWeight), Indexed (index + uniqueExamplesDim),
 * uint32 or uint64 sparseStart/sparseEnd. *out (owned, *count entries) is
 * freed with sten_datasets_free. Malformed or unsupported files are refused
 * with a message naming the file, the variable or attribute and the value
 * (a model file given as data says so). */
sten_status sten_dataset_read_netcdf(sten_ctx *ctx, const char *path, sten_dataset **out,
                                     size_t *count);
/* As sten_dataset_read_netcdf, keeping only the examples e with
 * e % parts == part (a data-parallel member's stripe), read in blocks so
 * that no more than that stripe and one block is ever held. The stripes of
 * parts = 1 .. are the whole file. Indexed datasets keep every stored row
 * and stripe their index. */
sten_status sten_dataset_read_netcdf_part(sten_ctx *ctx, const char *path, uint32_t part, uint32_t parts,
                                          sten_dataset **out, size_t *count);
/* Writes datasets in the schema DSSTNE's generateNetCDF writes (global
 * datasets, name<n>, attributes<n>, kind<n>, dataType<n>, dimensions<n>,
 * width<n>; examplesDim<n>, sparseDataDim<n>; sparseStart<n>, sparseEnd<n>,
 * sparseIndex<n> as uint, sparseData<n> float when not boolean), plus
 * dataWeight<n> / index<n> / data<n> for the other kinds, and the
 * fingerprints a dataset records (sten_featureEntries<n>,
 * sten_featureFingerprint<n>, sten_sampleEntries<n>,
 * sten_sampleFingerprint<n>; read back by sten_dataset_read_netcdf).
 * Atomic. */
sten_status sten_dataset_write_netcdf(sten_ctx *ctx, const char *path, const sten_dataset *ds,
                                      size_t count);
/* What a NetCDF file is, from its global attributes alone (no data is read):
 * a data file (DSSTNE's "datasets"; names gets its dataset names,
 * ", "-separated, cut to fit n bytes; names may be NULL), a model ("layers"),
 * or neither. For messages that tell a dataset given as a model (or the
 * reverse) from a broken file. STEN_E_NOTFOUND / STEN_E_FORMAT when the file
 * cannot be opened as NetCDF. */
typedef enum { STEN_NC_UNKNOWN = 0, STEN_NC_DATA, STEN_NC_MODEL } sten_nc_kind;
sten_status sten_netcdf_kind(sten_ctx *ctx, const char *path, sten_nc_kind *kind, char *names, size_t n);
/* DSSTNE's width: n rounded up to a multiple of 128. */
uint32_t sten_round_width(uint32_t n);

/* An index file: labels <-> integers, one "label<TAB>integer" per line.
 * Integers are unique but need not be contiguous. */
typedef struct sten_index sten_index;
sten_status sten_index_new(sten_ctx *ctx, sten_index **out);
void sten_index_free(sten_ctx *ctx, sten_index *ix);
/* Adds the entries of an index file; malformed lines, duplicate labels and
 * duplicate integers are errors naming file:line. Loading into an empty
 * index is all or nothing: after a failure it is still empty. (Added to a
 * non-empty one, a failure may leave part of the file in it.) */
sten_status sten_index_load(sten_ctx *ctx, sten_index *ix, const char *path);
/* Writes the index in increasing integer order (deterministic; DSSTNE wrote
 * hash order), atomically. */
sten_status sten_index_save(sten_ctx *ctx, const sten_index *ix, const char *path);
/* Number of entries, and one more than the largest integer (the width a
 * dataset over this index needs). */
uint32_t sten_index_size(const sten_index *ix);
uint32_t sten_index_span(const sten_index *ix);
/* Looks a label up (len bytes, need not be NUL-terminated). */
bool sten_index_find(const sten_index *ix, const char *label, size_t len, uint32_t *id);
/* Finds or adds (with the next integer, span) a label. */
sten_status sten_index_add(sten_ctx *ctx, sten_index *ix, const char *label, size_t len,
                           uint32_t *id);
/* The label of integer id, or NULL. Borrowed. */
const char *sten_index_label(const sten_index *ix, uint32_t id);

/* The fingerprint of an index (sten_fingerprint, above the datasets). */
sten_fingerprint sten_index_fingerprint(const sten_index *ix);
/* The fingerprint of the entries ids[0..n) of ix, in that order (ids
 * without a label are skipped): the samples of a dataset's rows. With every
 * integer of ix in increasing order it equals sten_index_fingerprint. */
sten_fingerprint sten_index_fingerprint_ids(const sten_index *ix, const uint32_t *ids, size_t n);
bool sten_fingerprint_equal(sten_fingerprint a, sten_fingerprint b);

/* DSSTNE text format: "sample<TAB>feature[,value]:feature[,value]...". */
typedef struct {
    uint64_t lines;              /* lines read (all files) */
    uint64_t samples;            /* rows produced */
    uint64_t nnz;                /* entries produced */
    uint64_t unknown_features;   /* entries dropped: feature not in a read-only index */
    uint64_t replaced_samples;   /* lines whose label appeared before (the later line wins) */
    uint64_t duplicate_features; /* repeated features within a line (merged) */
    uint64_t extra_values;       /* tuples with more than one value (the first is used) */
    bool new_samples;            /* the samples index grew */
    bool new_features;           /* the features index grew */
} sten_text_stats;

/* Reads a DSSTNE text file, or every regular file of a directory in sorted
 * name order. Features are looked up in `features` (added to it when
 * grow_features), samples in `samples` (always grown). Row r of *out is the
 * r-th present sample in increasing sample integer; *out_ids (owned,
 * out->rows entries) gives each row's sample integer. analog keeps values
 * (missing ones are 0, as DSSTNE); otherwise the result is boolean. A later
 * line with the same label replaces the earlier one; a feature repeated within
 * a line counts once (analog: the last value). Errors name file:line:column. */
sten_status sten_text_read(sten_ctx *ctx, const char *path, sten_index *features,
                           bool grow_features, sten_index *samples, bool analog, sten_csr *out,
                           uint32_t **out_ids, sten_text_stats *stats);

/* --------------------------------------------- interactions and synthetic data */

/* One interaction (a rating, click or purchase) with dense ids. */
typedef struct {
    uint32_t user, item;
    float rating;       /* NaN when the source has none */
    int64_t timestamp;  /* 0 when the source has none */
} sten_interaction;

/* Interaction logs with their user and item labels. */
typedef struct {
    sten_interaction *x; /* owned */
    uint64_t n, cap;
    sten_index *users, *items; /* owned */
} sten_interactions;

typedef enum {
    STEN_FMT_AUTO = 0,        /* from the file name and first line */
    STEN_FMT_MOVIELENS_CSV,   /* ratings.csv: userId,movieId,rating,timestamp with header */
    STEN_FMT_MOVIELENS_DAT,   /* ratings.dat: user::item::rating::timestamp */
    STEN_FMT_UDATA,           /* u.data: user TAB item TAB rating TAB timestamp */
    STEN_FMT_DELIMITED        /* any delimiter, columns named by a spec */
} sten_log_format;

typedef struct {
    sten_log_format format;
    char delimiter;        /* STEN_FMT_DELIMITED: one byte; "::" is MOVIELENS_DAT */
    const char *columns;   /* STEN_FMT_DELIMITED: e.g. "user,item,rating,timestamp"; "-" skips */
    bool header;           /* STEN_FMT_DELIMITED: skip the first line */
    double min_rating;     /* keep ratings >= this (NaN = keep all) */
} sten_log_opts;

/* Reads an interaction log (plain or gzip-compressed: zlib reads both,
 * whatever the name) and appends to *out (zero it first). Errors name
 * file:line[:field]. */
sten_status sten_interactions_read(sten_ctx *ctx, const char *path, const sten_log_opts *o,
                                   sten_interactions *out);
void sten_interactions_free(sten_ctx *ctx, sten_interactions *in);
/* Sorts by (user, timestamp, item): users in order of first appearance. */
void sten_interactions_sort(sten_interactions *in);
/* Keeps one record per (user, item): the one with the latest timestamp
 * (which of several with the same timestamp is unspecified). Leaves the records sorted as sten_interactions_sort.
 * Returns how many were removed. */
uint64_t sten_interactions_dedupe(sten_interactions *in);

typedef struct {
    uint64_t written;      /* interactions written */
    uint64_t merged_pairs; /* repeated (user, item) records merged into their latest */
    uint64_t users, items;
    uint64_t runs;         /* sorted runs spilled to temporary files (0: all in memory) */
} sten_convert_stats;

/* What goes in the value slot of DSSTNE text: nothing, the rating, or the
 * timestamp (DSSTNE's awk converter wrote timestamps). */
typedef enum { STEN_VALUE_NONE = 0, STEN_VALUE_RATING, STEN_VALUE_TIMESTAMP } sten_value_kind;

/* Writes interactions x[0..n) (sorted by user) as DSSTNE text, one line
 * per user, to an open stream. Returns STEN_E_IO on a write error. */
sten_status sten_interactions_write_text(sten_ctx *ctx, const sten_interactions *in,
                                         const sten_interaction *x, uint64_t n,
                                         sten_value_kind value, FILE *f);

/* An interaction log to DSSTNE text on `out`, one line per user (users in
 * order of first appearance, items in time order, repeated items keep their
 * latest record), holding at most max_records records in memory: more are
 * sorted in runs spilled to anonymous temporary files and merged. */
sten_status sten_convert_log(sten_ctx *ctx, const char *path, const sten_log_opts *o,
                             sten_value_kind value, uint64_t max_records, FILE *out,
                             sten_convert_stats *stats);

/* libsvm/svmlight ("label idx:value idx:value ..."; "qid:" ignored) to DSSTNE
 * text, streaming: sample = line number (1-based), feature = idx - base, the
 * value kept ("f,v"). base (0 or 1) must be stated: guessing it shifts every
 * feature silently. Labels go to `labels` as "sample<TAB>label" when not NULL.
 * Errors name file:line:column. */
sten_status sten_libsvm_to_text(sten_ctx *ctx, const char *path, int base, FILE *out,
                                FILE *labels, uint64_t *lines);

/* Reads a libsvm file into two caller-provided datasets: x (sparse analog,
 * width columns, named x_name) and y (dense, one label per example, named
 * y_name). Indices must be below width after subtracting base. On success
 * release each with sten_dataset_clear (not sten_datasets_free: the structs
 * are the caller's); on failure both are left zeroed, owning nothing. */
sten_status sten_libsvm_read(sten_ctx *ctx, const char *path, int base, uint32_t width,
                             const char *x_name, const char *y_name, sten_dataset *x,
                             sten_dataset *y);

/* A libsvm file read a chunk of rows at a time, for data larger than
 * memory: _next fills *x (a CSR of at most max_rows rows, width columns,
 * valued) and *y (their labels), both owned by the stream and valid until
 * its next call; (*x)->rows = 0 at the end of the file. _rewind starts over
 * (a pass per epoch). Errors as sten_libsvm_read's (file:line:column). */
typedef struct sten_libsvm_stream sten_libsvm_stream;
sten_status sten_libsvm_stream_open(sten_ctx *ctx, const char *path, int base, uint32_t width,
                                    sten_libsvm_stream **out);
sten_status sten_libsvm_stream_next(sten_ctx *ctx, sten_libsvm_stream *s, uint32_t max_rows, const sten_csr **x,
                                    const float **y);
sten_status sten_libsvm_stream_rewind(sten_ctx *ctx, sten_libsvm_stream *s);
void sten_libsvm_stream_close(sten_ctx *ctx, sten_libsvm_stream *s);

/* Reads SageMaker's RecordIO-protobuf training data (one aialgs.data.Record
 * per example: features["values"] a sparse tensor with keys and shape, or a
 * dense one; label["values"] one value) into x and y as sten_libsvm_read
 * (same ownership: sten_dataset_clear each). Multi-part records are refused;
 * malformed ones name their record number. */
sten_status sten_recordio_read(sten_ctx *ctx, const char *path, uint32_t width, const char *x_name,
                               const char *y_name, sten_dataset *x, sten_dataset *y);

/* Synthetic click logs in Criteo's TSV layout (docs/dlrm.md): 13 log-normal
 * counts (10% missing), 26 categorical fields with Criteo Kaggle's
 * cardinalities times `scale` (at least 2 each), Zipf-like value frequencies
 * (3% missing), and clicks drawn from a planted model with first-order
 * weights, 12 pairwise field interactions and dense terms (about 20%
 * clicks). Deterministic for a seed. The first n_keep rows' planted
 * probabilities and labels go to prob/label (for their AUC: the ceiling). */
typedef struct {
    uint64_t rows, seed;
    double scale; /* (0, 1] */
} sten_synth_ctr_opts;
sten_synth_ctr_opts sten_synth_ctr_defaults(void);
sten_status sten_synth_ctr(sten_ctx *ctx, const sten_synth_ctr_opts *o, FILE *out, float *prob,
                           float *label, uint64_t n_keep);

/* Criteo's click logs ("label<TAB>I1..I13<TAB>C1..C26", empty fields
 * allowed, plain or gzip) as the datasets a DLRM config binds to: "dense"
 * (13 values, log(1 + max(x, 0)) as DLRM), "C1".."C26" (one index per
 * example, sparse boolean) and "label" (dense, 0/1). A categorical value's
 * index: with hash_buckets >= 2, 1 + hash % (hash_buckets - 1) (the same in
 * every file; width hash_buckets); with hash_buckets 0, a vocabulary of the
 * values seen at least min_freq times in this file, by first appearance
 * from 2 (1 = rarer, width = values + 2). Index 0 is a missing value.
 * Streams the text; keeps ~260 bytes per example while reading. *out
 * (count = 28 datasets) is freed with sten_datasets_free; bad lines are
 * STEN_E_PARSE naming path:line and the field. */
typedef struct {
    uint32_t hash_buckets; /* >= 2: hashing; 0: vocabulary */
    uint32_t min_freq;     /* vocabulary: the count a value needs for its own index (>= 1) */
} sten_criteo_opts;
typedef struct {
    uint64_t rows, missing_dense, missing_cat;
    uint32_t width[26];    /* each categorical field's width (its table's rows) */
} sten_criteo_stats;
sten_status sten_criteo_read(sten_ctx *ctx, const char *path, const sten_criteo_opts *o,
                             sten_dataset **out, size_t *count, sten_criteo_stats *stats);

/* Labelled examples in whichever format path holds, told apart by its first
 * bytes: RecordIO-protobuf (sten_recordio_read), a NetCDF file with a sparse
 * dataset x_name and a dense one-value dataset y_name of as many examples
 * (width at most `width`, widened to it), or libsvm (sten_libsvm_read; base 0
 * or 1 must be given for it, anything else is refused as a guess would
 * shift every feature). x and y as sten_libsvm_read (sten_dataset_clear
 * each). y may be NULL when only the features are wanted (prediction): then
 * labels are read and dropped, and SageMaker's JSON inference input
 * (sten_instances_read, first byte '{') is accepted too. */
sten_status sten_labeled_read(sten_ctx *ctx, const char *path, int base, uint32_t width,
                              const char *x_name, const char *y_name, sten_dataset *x, sten_dataset *y);

/* SageMaker's JSON inference input: one object {"instances": [...]}, or JSON
 * Lines with one instance per line. An instance is {"features": [v0, v1, ...]}
 * (dense, at most width values; zeros are not stored) or {"data": {"features":
 * {"keys": [...], "shape": [width], "values": [...]}}} (sparse; keys below
 * width, each once; values optional, 1 when absent); a bare {"keys", "shape",
 * "values"} object in place of "data" is taken too. Into a caller-provided
 * x as sten_libsvm_read's (sparse analog, width columns, named x_name;
 * sten_dataset_clear it). Limits: STEN_INSTANCES_MAX_BYTES of JSON.
 * Syntax errors name path:line:column, others the instance number
 * (JSON Lines: path:line). */
#define STEN_INSTANCES_MAX_BYTES (1u << 30)
sten_status sten_instances_read(sten_ctx *ctx, const char *path, uint32_t width, const char *x_name,
                                sten_dataset *x);

/* The synthetic generator: power-law item popularity, log-normal user
 * activity and latent taste clusters (docs/synth.md). Deterministic for a
 * seed, whatever the thread count. */
typedef struct {
    uint32_t users, items;
    uint64_t interactions; /* target total (the result is within a few percent) */
    uint32_t clusters;     /* taste clusters (default 20) */
    uint64_t seed;
    float popularity_exponent; /* Zipf exponent of item popularity (default 1.0) */
    float taste;           /* share of a user's items drawn from its clusters (0.8) */
} sten_synth_opts;

sten_synth_opts sten_synth_defaults(void);
/* Generates into *out (zero it first); users are "1".."U", items "1".."N". */
sten_status sten_synth(sten_ctx *ctx, const sten_synth_opts *o, sten_interactions *out);

/* ---------------------------------------------------- exclusions (rec) */

/* What recommendations leave out, per sample: the items a user already has,
 * a filter file's items, from any number of sources. */
typedef struct sten_exclusion sten_exclusion;
sten_status sten_exclusion_new(sten_ctx *ctx, sten_exclusion **out);
void sten_exclusion_free(sten_ctx *ctx, sten_exclusion *ex);
/* Adds a source: row r of m lists the items to leave out for sample ids[r]
 * (e.g. what sten_text_read gives: its rows and their sample integers).
 * Copied. */
sten_status sten_exclusion_add(sten_ctx *ctx, sten_exclusion *ex, const sten_csr *m, const uint32_t *ids);
/* The exclusion rows of a batch of samples ids[0..B): row b is the union of
 * every source's row for ids[b] (empty where none has one), ready to pass
 * to sten_net_recommend. *out is (re)made as needed: zero it before the
 * first call, free it with sten_csr_free. */
sten_status sten_exclusion_batch(sten_ctx *ctx, const sten_exclusion *ex, const uint32_t *ids, uint32_t B,
                                 sten_csr *out);

/* DSSTNE's recommendation line, "user<TAB>item,score:item,score:...:\n":
 * items idx[0..n) by their labels in `items` (ids without a label are left
 * out), scores by fmt, one %f, %e or %g conversion (sten_recs_format_ok;
 * DSSTNE's default is "%4.3f"). STEN_E_INVALID for another format,
 * STEN_E_IO when the stream reports an error. */
bool sten_recs_format_ok(const char *fmt);
sten_status sten_recs_write(sten_ctx *ctx, FILE *f, const char *user, const uint32_t *idx,
                            const float *val, uint32_t n, const sten_index *items, const char *fmt);

/* ------------------------------------------------------------- splits (rec) */

/* Evaluation splits of an interaction log (docs/evaluate.md):
 *  RANDOM   per user, `fraction` of its items held out at random (its own stream);
 *  LOO      per user, the latest item held out;
 *  TEMPORAL per user, the latest `last` items (or the latest `fraction`);
 *  TIMECUT  everything at or after `cut` (NaN: `fraction` of the time range from
 *           the end) is test;
 *  STRONG   Liang et al. 2018: ratings > `positive` only, users with >= 5 of them,
 *           `valid_users` and `test_users` (each at most a fifth) held out whole,
 *           their items that training users have split 80/20 into fold-in and
 *           held-out; other records dropped.
 * Users with fewer than two items stay whole in training (per-user protocols). */
typedef enum {
    STEN_SPLIT_RANDOM = 0, STEN_SPLIT_LOO, STEN_SPLIT_TEMPORAL, STEN_SPLIT_TIMECUT, STEN_SPLIT_STRONG
} sten_split_protocol;

/* The part each record goes to. */
enum {
    STEN_PART_TRAIN = 0, STEN_PART_TEST = 1, STEN_PART_VALID_FOLDIN = 2, STEN_PART_VALID_HOLDOUT = 3,
    STEN_PART_TEST_FOLDIN = 4, STEN_PART_TEST_HOLDOUT = 5, STEN_PART_DROPPED = 9
};

typedef struct {
    sten_split_protocol protocol;
    double fraction;       /* default 0.2 */
    uint64_t last;         /* TEMPORAL: items per user; 0 = use fraction */
    double cut;            /* TIMECUT: a timestamp, NaN = from fraction */
    uint64_t seed;         /* default 98765 (Liang et al.'s) */
    uint32_t valid_users, test_users; /* STRONG: default 10000 each */
    double positive;       /* STRONG: keep ratings > this (default 3.5) */
} sten_split_opts;

typedef struct {
    uint32_t users, valid_users, test_users; /* STRONG: users kept, and held out */
} sten_split_stats;

sten_split_opts sten_split_defaults(void);
/* Splits in place: merges repeated (user, item) records and sorts as
 * sten_interactions_dedupe (STRONG also drops non-positive records), then
 * writes each remaining record's STEN_PART_* into part[i]. part needs room
 * for in->n entries as the call begins. */
sten_status sten_split(sten_ctx *ctx, const sten_split_opts *o, sten_interactions *in, uint8_t *part,
                       sten_split_stats *stats);

/* Validation users held out of training data itself (Liang et al.'s
 * protocol; sten train --validate-users): `users` of the examples of ds
 * (n_ds sparse datasets over the same examples, none Indexed) are drawn by
 * seed. *train (n_ds datasets, owned: sten_datasets_free) holds every
 * dataset's other examples, in order; *valid (n_ds) the drawn ones, where
 * a dataset with is_input[k] keeps each example's fold-in entries and the
 * others its held-out entries: an entry is held out with probability
 * `fraction`, decided by its (example, column) so that datasets over the
 * same items agree (an autoencoder's input and output). The copies keep the
 * features fingerprint; their samples fingerprint is unknown (a subset). */
sten_status sten_holdout_users(sten_ctx *ctx, const sten_dataset *ds, size_t n_ds, const bool *is_input,
                               uint32_t users, double fraction, uint64_t seed, sten_dataset **train,
                               sten_dataset **valid);

/* ------------------------------------------------------ network description */

/* What a network config (DSSTNE's JSON language plus sten's Training object)
 * says, before any memory for weights exists. Enum values match the numeric
 * codes DSSTNE stores in model files. */

typedef enum {
    STEN_LAYER_INPUT = 0,
    STEN_LAYER_HIDDEN = 1,
    STEN_LAYER_OUTPUT = 2,
    STEN_LAYER_TARGET = 3
} sten_layer_kind;

typedef enum {
    STEN_LAYER_FULLY_CONNECTED = 0,
    STEN_LAYER_CONVOLUTIONAL = 1, /* parsed, rejected: not supported yet */
    STEN_LAYER_POOLING = 2,       /* parsed, rejected: not supported yet */
    STEN_LAYER_FACTORIZATION_MACHINE = 3, /* sten: w0 + <w,x> + pairwise <v_i,v_j> x_i x_j */
    STEN_LAYER_CONCAT = 4, /* sten: its sources' outputs side by side, no weights */
    STEN_LAYER_EMBEDDING = 5, /* sten: a table's rows summed (or averaged) per example */
    STEN_LAYER_INTERACTION = 6, /* sten: DLRM's pairwise dot products of its sources */
    STEN_LAYER_VARIATIONAL = 7 /* sten: Mult-VAE's sampled Gaussian bottleneck with a KL term */
} sten_layer_type;

typedef enum {
    STEN_LOSS_L1 = 0,
    STEN_LOSS_L2 = 1,
    STEN_LOSS_CROSS_ENTROPY = 2,
    STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY = 3,
    STEN_LOSS_DATA_SCALED_MARGINAL_CROSS_ENTROPY = 4,
    STEN_LOSS_HINGE = 5,
    STEN_LOSS_L2_HINGE = 6,
    STEN_LOSS_MULTINOMIAL = 7 /* sten: -sum t log softmax(z) with the targets' own counts
                                 (1 per listed item), Mult-VAE/Mult-DAE's likelihood */
} sten_loss;

typedef enum {
    STEN_INIT_XAVIER = 0,
    STEN_INIT_CAFFE_XAVIER = 1,
    STEN_INIT_GAUSSIAN = 2,
    STEN_INIT_UNIFORM = 3,
    STEN_INIT_UNIT_BALL = 4,
    STEN_INIT_CONSTANT = 5,
    STEN_INIT_SELU = 6
} sten_init;

typedef enum {
    STEN_OPT_SGD = 0,
    STEN_OPT_MOMENTUM = 1,
    STEN_OPT_ADAGRAD = 2,
    STEN_OPT_NESTEROV = 3,
    STEN_OPT_RMSPROP = 4,
    STEN_OPT_ADADELTA = 5,
    STEN_OPT_ADAM = 6
} sten_optimizer;

typedef enum {
    STEN_LR_CONSTANT = 0, /* alpha / (1 + Decay * batches), DSSTNE's only rule */
    STEN_LR_STEP = 1,     /* alpha * multiplier^floor(epoch / interval) (CDL's AlphaInterval) */
    STEN_LR_EXPONENTIAL = 2 /* alpha * multiplier^epoch */
} sten_lr_schedule;

#define STEN_NAME_MAX 128 /* layer, dataset and network names, with NUL */
#define STEN_MAX_SOURCES 4096 /* a bound on untrusted configs, not a design limit */
#define STEN_MAX_SKIPS 8
#define STEN_MAX_SHARED 4
#define STEN_LAYER_SETTINGS 16 /* type-specific settings per layer */

typedef struct {
    char input_layer[STEN_NAME_MAX];         /* this weight's input */
    char source_input_layer[STEN_NAME_MAX];  /* the owner weight's input */
    char source_output_layer[STEN_NAME_MAX]; /* the owner weight's output */
    bool transposed;
} sten_shared_desc;

/* One layer. Float fields documented as "NaN = network value" inherit the
 * top-level setting when the network is built. */
typedef struct {
    char name[STEN_NAME_MAX];
    sten_layer_kind kind;
    sten_layer_type type;
    uint32_t N;      /* units; with N_auto, 0 until built (sten_net_description: the width used) */
    bool N_auto;     /* "N": "auto": width of the bound dataset */
    bool sparse;     /* input: sparse data; hidden: apply sparseness penalty */
    float p_dropout;
    char dataset[STEN_NAME_MAX]; /* "" when not bound (hidden layers) */
    uint32_t n_sources;          /* 0 = previous layer in the list */
    char (*sources)[STEN_NAME_MAX]; /* owned by the layer description
                                       (sten_layer_desc_add_source / _clear) */
    uint32_t n_skips;
    char skips[STEN_MAX_SKIPS][STEN_NAME_MAX];
    sten_act activation;
    float relu_slope;  /* NaN = network value */
    float elu_alpha;   /* NaN = network value */
    float selu_lambda; /* NaN = network value */
    float weight_norm; /* 0 = off */
    float delta_norm;  /* 0 = off */
    sten_init init;
    float init_scale;
    float init_bias;
    float sparseness_p;    /* 0 = network value */
    float sparseness_beta; /* 0 = network value */
    uint32_t n_shared;
    sten_shared_desc shared[STEN_MAX_SHARED];
    /* Settings of the layer's own type (e.g. a FactorizationMachine's
     * Factors, BiasLR, ...), by the index the type gives them; NaN = not
     * given. Set and read them by name with sten_layer_desc_set / _get;
     * docs/config.md lists each type's settings. */
    float setting[STEN_LAYER_SETTINGS];
    /* The feature index of the data the layer was trained on, as the
     * model file records it (entries 0: not known, e.g. a config's layer
     * or a DSSTNE model); building a network on a dataset that records
     * one sets it, and refuses a dataset that records another. */
    sten_fingerprint features;
    int line, column; /* where the layer starts in the config (for errors) */
} sten_layer_desc;

/* Training settings: the optional "Training" object of the config, which the
 * command line overrides. `set` has bit (1 << STEN_TRAIN_*) for each key the
 * config gave, so an override can tell a default from a choice. */
enum {
    STEN_TRAIN_OPTIMIZER, STEN_TRAIN_ALPHA, STEN_TRAIN_LAMBDA, STEN_TRAIN_LAMBDA1,
    STEN_TRAIN_MU, STEN_TRAIN_MU1, STEN_TRAIN_EPOCHS, STEN_TRAIN_BATCH_SIZE,
    STEN_TRAIN_SEED, STEN_TRAIN_SCHEDULE, STEN_TRAIN_CHECKPOINT_INTERVAL
};
typedef struct {
    sten_optimizer optimizer; /* default SGD, as DSSTNE's train */
    float alpha;              /* learning rate, default 0.025 */
    float lambda;             /* L2 on weights, default 0.0001 */
    float lambda1;            /* L1 on weights, default 0 */
    float mu;                 /* momentum / decay rate / Adam beta1, default 0.5 */
    float mu1;                /* Adam beta2, default 0 (DSSTNE's; see docs) */
    uint32_t epochs;          /* default 40 */
    uint32_t batch_size;      /* default 1024 */
    uint64_t seed;            /* default 12134, DSSTNE's fixed seed */
    sten_lr_schedule schedule;
    uint32_t schedule_interval; /* epochs per step (STEP) */
    float schedule_multiplier;  /* factor per step/epoch */
    uint32_t checkpoint_interval; /* epochs; 0 = no checkpoints */
    float eps;          /* Adam's epsilon; 0 = 1e-8 */
    float rescale_grad; /* gradient scale; 0 = 1/batch (the mean), as DSSTNE */
    uint32_t set;
} sten_train_desc;

typedef struct {
    char name[STEN_NAME_MAX];
    float version;
    bool autoencoder;     /* Kind: AutoEncoder (stored; no behavioural difference) */
    bool shuffle_indices; /* default true */
    sten_loss loss;       /* default CrossEntropy */
    float sparseness_p, sparseness_beta; /* default 0, 0 (off) */
    float denoising_p;                   /* default 0 (off) */
    float delta_boost_one, delta_boost_zero; /* default 1, 1 */
    float smce_one_target, smce_zero_target; /* default 0.9, 0.1 */
    float smce_one_scale, smce_zero_scale;   /* default 1, 1 */
    float relu_slope;   /* default 0.01 (DSSTNE: 1.0; see docs/dsstne-compat.md) */
    float elu_alpha;    /* default 1 */
    float selu_lambda;  /* default 1.050701 */
    float decay;        /* default 0 */
    uint32_t n_layers;
    sten_layer_desc *layers; /* owned */
    sten_train_desc training;
    char source[STEN_NAME_MAX]; /* config path, for messages */
} sten_net_desc;

/* SageMaker's Factorization Machines front door: a hyperparameters file
 * (SageMaker's names: feature_dim, num_factors, predictor_type, epochs,
 * mini_batch_size, bias_lr, linear_lr, factors_lr, bias_wd, linear_wd,
 * factors_wd, {bias,linear,factors}_init_{method,sigma,scale,value},
 * clip_gradient, eps, rescale_grad; values as JSON numbers or strings, as
 * SageMaker passes them) becomes a network: a sparse input "fm_input" of
 * feature_dim features into one FactorizationMachine output "fm_label"
 * (Sigmoid + CrossEntropy for binary_classifier, Linear + L2 for regressor),
 * trained with Adam. Unknown names and out-of-range values are errors naming
 * the hyperparameter and the allowed range. */
sten_status sten_fm_desc_from_hyperparameters(sten_ctx *ctx, const char *path, sten_net_desc **out);

/* The defaults a config gives what it does not set (DSSTNE's, except where
 * docs/dsstne-compat.md says why not): the one place they are written. The
 * network's has no layers; a layer's is a FullyConnected Hidden layer of one
 * Sigmoid unit with no type-specific settings. */
void sten_net_desc_defaults(sten_net_desc *d);
void sten_layer_desc_defaults(sten_layer_desc *l);

/* Appends a Source (a layer name) to a layer: the list grows as needed
 * (STEN_E_RANGE past STEN_MAX_SOURCES or for a name that does not fit). */
sten_status sten_layer_desc_add_source(sten_ctx *ctx, sten_layer_desc *l, const char *name);
/* Frees what a layer description owns (its Sources); sten_net_desc_free
 * does this for every layer of a network description. */
void sten_layer_desc_clear(sten_ctx *ctx, sten_layer_desc *l);

/* A layer's type-specific setting by its config key (case-insensitive, e.g.
 * "Factors" of a FactorizationMachine): set checks the key belongs to the
 * layer's type and the value is in its range (STEN_E_NOTFOUND /
 * STEN_E_RANGE, nothing recorded); get gives NaN for a setting not given
 * or not of this type. */
sten_status sten_layer_desc_set(sten_layer_desc *l, const char *key, double value);
double sten_layer_desc_get(const sten_layer_desc *l, const char *key);

/* Parses a network config file. Keys and enum values are case-insensitive;
 * every error names file:line:column and what was expected (an unknown key
 * comes with a did-you-mean suggestion). *out is owned by the caller
 * (sten_net_desc_free). Checks everything that needs no data; binding
 * N: "auto" and DataSet names to datasets happens when the network is built. */
sten_status sten_net_desc_load(sten_ctx *ctx, const char *path, sten_net_desc **out);
/* The same from memory; `source` names the text in messages. */
sten_status sten_net_desc_parse(sten_ctx *ctx, const char *json, size_t len,
                                const char *source, sten_net_desc **out);
void sten_net_desc_free(sten_ctx *ctx, sten_net_desc *d);
/* Name <-> enum helpers (canonical DSSTNE spellings; parse is case-insensitive
 * and accepts DSSTNE's aliases). Name functions return NULL for bad values. */
const char *sten_loss_name(sten_loss l);
const char *sten_init_name(sten_init i);
const char *sten_optimizer_name(sten_optimizer o);
/* The reverse: case-insensitive, DSSTNE's spellings ("cross entropy",
 * "crossentropy", ...). STEN_E_NOTFOUND (with *out untouched and nothing
 * recorded on any context) for a name that is not one. */
sten_status sten_loss_parse(const char *name, sten_loss *out);
sten_status sten_init_parse(const char *name, sten_init *out);
sten_status sten_optimizer_parse(const char *name, sten_optimizer *out);

/* ----------------------------------------------------------------- network */

/* A network built from a description and bound to datasets: weights, biases,
 * optimizer state and the buffers of one mini-batch. Opaque. */
typedef struct sten_net sten_net;
typedef struct sten_comm sten_comm; /* a group of processes (below, with training) */

/* Builds a network: binds every layer's DataSet to the dataset of that name
 * in ds[0..n_ds) (N: "auto" takes its width), resolves Sources, Skips and
 * SharedWeights, orders the layers, and makes the network's own workspace
 * for batches of up to `batch` examples (what sten_net_infer and
 * sten_net_recommend take; sten_net_train makes it again for its own
 * batch size when that differs). ds is borrowed and must outlive the network; the
 * description is copied. Weights are zero until sten_net_init_weights or a
 * model load. Errors name the config location of the layer at fault. */
sten_status sten_net_build(sten_ctx *ctx, const sten_net_desc *d, const sten_dataset *ds,
                           size_t n_ds, uint32_t batch, sten_net **out);
/* Builds this member's shard of a network for model-parallel training over
 * comm (DSSTNE's scheme, docs/scale-out.md): the catalogue-wide layers (the
 * Input layers over sparse datasets and the Output layers, N "auto") are
 * split by item range, member r of P holding columns [r W / P, (r+1) W / P)
 * of each such dataset's width W; the layers between them are whole on
 * every member. Needs: every Output layer over a sparse dataset with N
 * "auto" and an element-wise loss (no SoftMax), a layer fed by a split
 * layer fed only by split layers (no skips), a layer feeding a split layer
 * feeding only split layers, no sparse-row tables; refused naming the layer
 * otherwise (a network with Embedding layers is split by tables instead:
 * sten_net_tables_held below). ds (every example, all columns) is borrowed as for
 * sten_net_build; the network keeps its own column slices.
 * sten_net_init_weights then gives each member its block of the full
 * model's initial values, so training is the single process's up to
 * summation order; sten_net_save is collective on such a network (every
 * member calls it, rank 0 writes the whole model, an ordinary model file). */
sten_status sten_net_build_sharded(sten_ctx *ctx, const sten_net_desc *d, const sten_dataset *ds, size_t n_ds,
                                   uint32_t batch, const sten_comm *comm, sten_net **out);
/* This member's shard of a saved model (sten_net_load's arguments; each
 * member reads only its blocks of the catalogue-wide layers, split as by
 * sten_net_build_sharded; an Output layer bound to no dataset, as in
 * prediction, is split at the model's width). On such a network
 * sten_net_recommend is collective: every member calls it with the same
 * users, each ranks its items, and rank 0 gets the merged lists (the top K
 * over all items, higher score first, ties by lower item index); the
 * others get no lists (counts 0). */
sten_status sten_net_load_sharded(sten_ctx *ctx, const char *path, const sten_dataset *ds, size_t n_ds,
                                  uint32_t batch, bool with_state, const sten_comm *comm, sten_net **out);
/* A network with Embedding layers (DLRM) is split by tables instead:
 * sten_net_build_sharded gives each table whole to one member (the largest
 * first, each to the member holding the fewest values so far), the other
 * members hold none of it; every member reads every example and holds the
 * rest of the network whole, the tables' outputs summed over the group
 * each batch (B x dimension per table), so the forward pass (training,
 * sten_net_score_ws) is collective. Every sparse input must feed only
 * Embedding layers. Saving and loading work as above. How many of the
 * network's tables this member holds, and of how many: false where the
 * network is not split by tables. */
bool sten_net_tables_held(const sten_net *net, uint32_t *held, uint32_t *total);
void sten_net_free(sten_ctx *ctx, sten_net *net);
/* Initialises weights by each layer's WeightInit (DSSTNE's schemes) and
 * biases to its Bias; deterministic for a seed. */
sten_status sten_net_init_weights(sten_ctx *ctx, sten_net *net, uint64_t seed);
/* Precision of the network's dense products (the output layer's three
 * products in an autoencoder). FP32 is the default. BF16 rounds the
 * products' inputs to bfloat16 and accumulates in fp32 while the weights
 * stay fp32 (mixed precision: AVX-512 BF16's vdpbf16ps, twice the fp32 FMA
 * rate); it needs a CPU with AVX-512 BF16 (STEN_E_UNSUPPORTED otherwise) and
 * allocates a bf16 copy of each such weight matrix and of its layer's delta.
 * Results differ from FP32 by bf16 rounding; they stay deterministic. */
/* The bf16 products run on AMX tiles where the CPU and OS allow them (Intel
 * Xeon 4th generation on), else on AVX-512 BF16. STEN_PRECISION_AUTO picks
 * BF16 only where this CPU's bf16 products measured faster than its fp32
 * ones (sten_precision_probe), FP32 elsewhere. */
/* INT8 is for inference only (scoring, recommending, serving; training
 * refuses it): the dense products of every layer fed by one fully connected
 * source take its weights quantized once to signed 8 bits (a scale per
 * output unit) and its input rows quantized as they are read to unsigned 8
 * bits (a scale and zero point per row), summed exactly in int32 (AVX-512
 * VNNI's vpdpbusd: four times the fp32 FMA's multiply-adds; a portable loop
 * with the same bits elsewhere). An output layer that a recommendation
 * ranks (sten_net_recommend*) stays fp32 and is not quantized. AUTO never
 * picks it: scores move by the quantization (docs/dlrm.md measures the
 * AUC). */
typedef enum {
    STEN_PRECISION_FP32 = 0,
    STEN_PRECISION_BF16 = 1,
    STEN_PRECISION_AUTO = 2,
    STEN_PRECISION_INT8 = 3
} sten_precision;
sten_status sten_net_set_precision(sten_ctx *ctx, sten_net *net, sten_precision p);
/* The precision the network's products run in now: FP32, BF16 or INT8. */
sten_precision sten_net_precision(const sten_net *net);
/* Whether this CPU can run STEN_PRECISION_BF16. */
bool sten_bf16_supported(void);
/* What this CPU does with each precision, measured once per process (the
 * first call takes ~10 ms): an output layer's forward product (256 x 128) x
 * (128 x 4096) timed in fp32 and in bf16, alternating, the best of five. */
typedef struct {
    bool bf16;          /* bf16 products available */
    bool amx;           /* ... and on AMX tiles */
    int threads;        /* threads the probe ran on */
    double fp32_gflops; /* measured rates, 0 where not measured */
    double bf16_gflops;
    sten_precision choice; /* what STEN_PRECISION_AUTO takes: FP32 or BF16 */
} sten_precision_report;
sten_status sten_precision_probe(sten_ctx *ctx, sten_precision_report *out);
/* The report in words ("bf16 (measured on 2 threads, ...: bf16 through AMX
 * tiles 1650 GFLOP/s, fp32 230 GFLOP/s)"). */
void sten_precision_describe(const sten_precision_report *r, char *buf, size_t n);
/* The kernel bf16 products run on here, in words ("AMX tiles (tdpbf16ps)",
 * "AVX-512 BF16 (vdpbf16ps)" or "none"). */
const char *sten_precision_kernel(void);
/* The kernel int8 products run on here, in words ("AVX-512 VNNI (vpdpbusd)"
 * or "portable loop"). */
const char *sten_int8_kernel(void);
/* Which dense-product kernels this process uses, in words (`sten info`). */
const char *sten_gemm_info(void);
/* Number of examples of the bound datasets. */
uint64_t sten_net_examples(const sten_net *net);

/* Writes the network as a DSSTNE NetCDF model file (DSSTNE's attribute
 * names, types and enum codes; input-major weights), plus sten's additions:
 * format version, training settings, completed epochs and optimizer state.
 * Atomic: written to a temporary and renamed. */
sten_status sten_net_save(sten_ctx *ctx, const sten_net *net, const char *path);
/* Reads a model file (sten's or DSSTNE's) and builds the network on the
 * given datasets (which may be only the inputs, for prediction). With
 * with_state the optimizer state saved by sten is restored too (resume). A
 * file from a newer sten format is refused with STEN_E_UNSUPPORTED. */
sten_status sten_net_load(sten_ctx *ctx, const char *path, const sten_dataset *ds, size_t n_ds,
                          uint32_t batch, bool with_state, sten_net **out);
/* The description a model file holds (layer sizes, settings), without
 * building the network. Free with sten_net_desc_free. */
sten_status sten_model_read_desc(sten_ctx *ctx, const char *path, sten_net_desc **out);
/* Refuses an index file that is not the one layer l of a model was trained
 * with (index_path and model_path name the two files in messages): an
 * index numbering more units than the layer's N, or one whose fingerprint
 * differs from the one the model records, is STEN_E_FORMAT with a message
 * naming both files, both entry counts and fingerprints. A model without a
 * fingerprint (DSSTNE's, or trained on DSSTNE's data) gets the width check
 * only; an index narrower than N is then logged as a warning (DSSTNE let a
 * config's N exceed its data's width). */
sten_status sten_index_check(sten_ctx *ctx, const sten_index *ix, const char *index_path,
                             const sten_layer_desc *l, const char *model_path);
/* Epochs completed (0 for a fresh network; read back from model files).
 * While sten_net_train runs, and after it failed, the epoch that was in
 * progress (so the last completed one is that minus 1). */
uint32_t sten_net_epoch(const sten_net *net);
/* The description the network was built from (resolved: N filled in). */
const sten_net_desc *sten_net_description(const sten_net *net);

/* A workspace: the buffers one pass over a batch of up to `batch` examples
 * needs (activations, targets, top-K accumulators), apart from the model.
 * The model's weights are only read by inference, so any number of threads
 * can each run inference through their own workspace (and their own
 * context) on one network at the same time; what inference derives from the
 * weights (bf16 copies, screening data) is built once, under the network's
 * lock. Do not train a network while others infer from it. A workspace
 * refers to its network: free it (sten_workspace_free; NULL is a no-op)
 * before the network. The datasets the network was bound to are what
 * inference reads (ids index them), shared read-only by every workspace. */
typedef struct sten_workspace sten_workspace;
sten_status sten_workspace_new(sten_ctx *ctx, const sten_net *net, uint32_t batch, sten_workspace **out);
/* A workspace over other data than the network was built on (test data, a
 * request's data): each layer with a DataSet reads the dataset of that name
 * in ds[0..n_ds) — every input layer must find one, an output layer without
 * one has no targets —, checked for width and kind and for equal example
 * counts. ds is borrowed and must outlive the workspace. */
sten_status sten_workspace_new_on(sten_ctx *ctx, const sten_net *net, const sten_dataset *ds, size_t n_ds,
                                  uint32_t batch, sten_workspace **out);
/* Examples of the data the workspace reads (ids index them). */
uint64_t sten_workspace_examples(const sten_workspace *ws);
void sten_workspace_free(sten_ctx *ctx, sten_workspace *ws);

/* Inference on examples ids[0..B) of the bound input datasets (B at most
 * the batch size the network was built for): runs the network without
 * dropout or denoising and points *out at the activations of `layer`
 * (NULL = the output layer), B rows of *width floats. Borrowed: valid until
 * the next call on the network. */
sten_status sten_net_infer(sten_ctx *ctx, sten_net *net, const uint32_t *ids, uint32_t B,
                           const char *layer, const float **out, uint32_t *width);
/* The same through a workspace (thread-safe: see sten_workspace); *out is
 * valid until the next call on the workspace. */
sten_status sten_net_infer_ws(sten_ctx *ctx, const sten_net *net, sten_workspace *ws,
                              const uint32_t *ids, uint32_t B, const char *layer, const float **out,
                              uint32_t *width);
/* Top-K recommendations for examples ids[0..B): scores of the output layer's
 * first n_items units (the rest is DSSTNE's 128-padding), skipping for row b
 * the items listed in row b of exclude (NULL = none). Writes as sten_topk. */
sten_status sten_net_recommend(sten_ctx *ctx, sten_net *net, const uint32_t *ids, uint32_t B,
                               uint32_t n_items, uint32_t K, const sten_csr *exclude,
                               uint32_t *idx, float *val, uint32_t *count);
/* The same through a workspace (thread-safe: see sten_workspace). */
sten_status sten_net_recommend_ws(sten_ctx *ctx, const sten_net *net, sten_workspace *ws,
                                  const uint32_t *ids, uint32_t B, uint32_t n_items, uint32_t K,
                                  const sten_csr *exclude, uint32_t *idx, float *val,
                                  uint32_t *count);

/* Scores of a one-unit output (a click probability, a rating) for every
 * example of the workspace's data, in order, into scores[0..examples)
 * (sten_workspace_examples); with labels, the output's dense one-value
 * dataset's values too (STEN_E_NOTFOUND when the data has none). For
 * sten_eval_scores. */
sten_status sten_net_score_ws(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, float *scores,
                              float *labels);

/* Request-time inference (a serving daemon): the input rows come with each
 * call, as CSR rows over the model's one sparse input layer, instead of from
 * a dataset. A rows workspace takes batches of up to `batch` rows holding at
 * most max_nnz non-zeros in all; with `valued` the rows carry values (an FM's
 * features), else every listed entry is a 1 (an autoencoder's history).
 * STEN_E_UNSUPPORTED for a network whose inputs are not exactly one sparse
 * input layer. Thread-safety as any workspace's. */
sten_status sten_workspace_new_rows(sten_ctx *ctx, const sten_net *net, uint32_t batch, uint64_t max_nnz,
                                    bool valued, sten_workspace **out);
/* Inference on rows x (x->rows <= batch, x->nnz <= max_nnz, columns below
 * the input layer's width; values ignored unless the workspace is valued):
 * as sten_net_infer_ws. */
sten_status sten_net_infer_rows(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const sten_csr *x,
                                const char *layer, const float **out, uint32_t *width);
/* Top-K for rows x: as sten_net_recommend_ws (row b of exclude for row b). */
sten_status sten_net_recommend_rows(sten_ctx *ctx, const sten_net *net, sten_workspace *ws,
                                    const sten_csr *x, uint32_t n_items, uint32_t K,
                                    const sten_csr *exclude, uint32_t *idx, float *val, uint32_t *count);

/* Progress of training, reported every progress_every batches. */
typedef struct {
    uint32_t epoch;       /* 1-based */
    uint64_t batch;       /* batches done in this epoch */
    uint64_t batches;     /* batches in an epoch */
    uint64_t examples;    /* examples done in this epoch */
    double loss;          /* mean loss per example so far this epoch */
    double seconds;       /* since the epoch began */
    float alpha;          /* current learning rate */
} sten_train_progress;

typedef struct {
    uint32_t epoch;
    double loss;           /* mean data loss per example */
    double reg;            /* regularisation (L2/L1 on weights, sparseness) at the end */
    double seconds;
    double examples_per_s;
    float alpha;           /* learning rate at the end of the epoch */
    double valid_loss;     /* mean loss per validation example; NaN without validation */
    uint64_t skipped;      /* batches whose update the divergence guard skipped */
    double valid_recall;   /* Recall@rank_k and NDCG@rank_k over the validation examples */
    double valid_ndcg;     /* (sten_train_opts.rank_k); NaN when not computed */
    bool best;             /* the best epoch so far by sten_train_opts.select */
} sten_epoch_stats;

/* What early stopping (patience) and keep_best follow: the validation loss
 * (lower is better) or a ranking metric at rank_k (higher is better). */
typedef enum { STEN_SELECT_LOSS = 0, STEN_SELECT_RECALL = 1, STEN_SELECT_NDCG = 2 } sten_select;

/* A group of processes that train one model together (the ranks of an MPI
 * job): what the trainer needs from it. libsten itself does not link MPI;
 * the sten CLI provides one over MPI when built with it (tools/mpi.c,
 * docs/scale-out.md), and anything else that can sum arrays across
 * processes can stand in. Every member calls the same operations in the
 * same order; each returns STEN_OK or an error after which the group is
 * unusable. */
typedef enum { STEN_COMM_F32 = 0, STEN_COMM_F64 = 1, STEN_COMM_U64 = 2 } sten_comm_type;
/* BOR: bitwise or (U64 only) */
typedef enum { STEN_COMM_SUM = 0, STEN_COMM_MAX = 1, STEN_COMM_MIN = 2, STEN_COMM_BOR = 3 } sten_comm_op;
struct sten_comm {
    int rank, size;  /* this member, and how many there are */
    void *user;
    /* buf (n elements) becomes op over every member's buf, the same bits on
     * every member */
    sten_status (*allreduce)(void *user, void *buf, size_t n, sten_comm_type type, sten_comm_op op);
    /* every member's buf (bytes) becomes root's */
    sten_status (*bcast)(void *user, void *buf, size_t bytes, int root);
    /* root gets every member's send (bytes[m] from member m) one after the
     * other, in member order, in recv (NULL elsewhere); bytes holds every
     * member's count on every member */
    sten_status (*gather)(void *user, const void *send, void *recv, const size_t *bytes, int root);
    /* Optional (NULL: not offered): memory every member maps, where the
     * members run on one machine. Collective: every member asks for its
     * own `bytes` (0 allowed) at once, and seg[m] gets member m's part,
     * the same contents on every member; one area at a time, released by
     * a call with seg NULL (also collective). */
    sten_status (*shared)(void *user, size_t bytes, void **seg);
    /* Waits until every member has come here; what any member wrote to the
     * shared area before is what every member reads after. Needed with
     * shared. */
    sten_status (*barrier)(void *user);
    /* Optional: the machine-level view of this group, for data-parallel
     * training (docs/scale-out.md). node: the members on this member's
     * machine, a group of their own that offers shared and barrier (every
     * machine with the same number of members), or NULL. across: the
     * members with this member's rank in node on the other machines (NULL
     * when node is the whole group). The dense weights and optimizer state
     * then live once per machine; each member sums its machine's gradients
     * of its 1/node->size share of every weight, sums that share across
     * machines, and updates it in place. */
    const sten_comm *node, *across;
};

/* How a group trains (sten_train_opts.parallel). MODEL: DSSTNE's model
 * parallelism, on a network from sten_net_build_sharded: every member sees
 * every example, holds one item range of the catalogue-wide layers, and the
 * group sums the narrow B x hidden activations and deltas that cross the
 * split; the loss is summed over the members. DATA: each member holds
 * the whole model and its own share of the examples (the stripe
 * sten_dataset_read_netcdf_part reads); a mini-batch of batch_size examples
 * is batch_size / size from each member, and the gradients are summed
 * across members before every update (for sparse-row tables, those of
 * Factorization Machines and Embedding layers, only the rows some member's
 * batch touched), so the model is the one a single process makes from the
 * same batches, up to summation order. */
typedef enum { STEN_PARALLEL_NONE = 0, STEN_PARALLEL_DATA = 1, STEN_PARALLEL_MODEL = 2 } sten_parallel;

typedef struct {
    sten_train_desc t;        /* resolved settings (epochs, optimizer, ...) */
    uint32_t first_epoch;     /* 1 normally; later when resuming */
    const sten_dataset *valid; /* validation datasets with the same names, or NULL */
    size_t n_valid;
    uint32_t patience;        /* stop after this many epochs without a better
                                 validation loss; 0 = never */
    uint32_t progress_every;  /* batches between progress calls; 0 = none */
    /* Called on the thread that called sten_net_train, after every
     * progress_every-th batch of an epoch and after its last; NULL = none
     * (then nothing is timed or computed for it). Must not call into net. */
    void (*progress)(void *user, const sten_train_progress *p);
    /* After each epoch (checkpoints, metrics); a non-OK status stops training
     * and is returned. May be NULL. */
    sten_status (*epoch_done)(void *user, const sten_net *net, const sten_epoch_stats *s);
    void *user;
    /* Training across processes: parallel DATA with a group of more than
     * one member (NULL or NONE: this process alone). Every member calls
     * sten_net_train with the same settings; the epoch statistics are the
     * group's; a failure on any member after the start ends it on all of
     * them (the others get STEN_E_IO "another rank failed") once the epoch
     * ends, so epoch_done on every member may write files safely. */
    const sten_comm *comm;
    sten_parallel parallel;
    /* > 0, with validation data: after each epoch the network ranks every
     * item for each validation example except its input items (its fold-in
     * history) and scores the top rank_k against its output items (the
     * held-out ones): Recall@k = hits / min(k, held-out) and NDCG@k averaged
     * over the examples holding out any (Liang et al. 2018). Needs one
     * sparse input and one sparse-target output layer; not with parallel
     * MODEL. */
    uint32_t rank_k;
    sten_select select;       /* what patience and keep_best follow (RECALL/NDCG need rank_k) */
    bool keep_best;           /* end with the weights of the best validation epoch (by select;
                                 the optimizer state stays the last epoch's) */
} sten_train_opts;

/* Trains for opts->t.epochs epochs (from first_epoch) over all examples in
 * mini-batches of opts->t.batch_size (the last one partial), shuffling each
 * epoch when the config's ShuffleIndices is true. Bit-identical results for
 * the same seed and thread count. A non-finite or exploding loss stops
 * training with STEN_E_NUMERIC and a message naming the epoch and batch;
 * the weights are then unusable: keep checkpoints (the epoch callback) to
 * have the last good ones. */
sten_status sten_net_train(sten_ctx *ctx, sten_net *net, const sten_train_opts *opts);
/* Fills in defaults for unset training settings (Adam's betas become 0.9 and
 * 0.999 unless Mu/Mu1 were set; see docs/dsstne-compat.md). */
void sten_train_desc_resolve(sten_train_desc *t);

/* ------------------------------------------------------------- evaluation */

/* Ranking metrics at one cut-off k, averaged over the users with a
 * non-empty held-out set (docs/evaluate.md has the exact definitions). */
typedef struct {
    uint32_t k;
    double precision;    /* hits / k */
    double recall;       /* hits / |truth| */
    double recall_trunc; /* hits / min(k, |truth|) (Liang et al. 2018) */
    double ndcg;         /* binary DCG / ideal DCG over min(k, |truth|) */
    double map;          /* sum of P@j at hits / min(k, |truth|) */
    double hit_rate;     /* share of users with a hit */
} sten_rank_metrics;

#define STEN_EVAL_MAX_K 16

/* Accumulates ranking metrics user by user. */
typedef struct sten_eval sten_eval;

/* ks: the cut-offs (1..n_k <= STEN_EVAL_MAX_K, each >= 1); n_items: catalogue
 * size (item ids are < n_items; coverage is measured against it). */
sten_status sten_eval_new(sten_ctx *ctx, const uint32_t *ks, uint32_t n_k, uint32_t n_items,
                          sten_eval **out);
/* One user: ranked[0..n) best first (it may be shorter than k), truth[0..n_truth)
 * the held-out items. A user with no truth is counted apart and does not enter
 * the averages. Ids >= n_items are an error (STEN_E_RANGE). */
sten_status sten_eval_add(sten_ctx *ctx, sten_eval *ev, const uint32_t *ranked, uint32_t n,
                          const uint32_t *truth, uint32_t n_truth);
/* at[0..n_k) in the order of ks; mrr = mean reciprocal rank of the first hit
 * over the whole list; coverage = distinct items recommended in the top
 * max(ks) / n_items. */
void sten_eval_result(const sten_eval *ev, sten_rank_metrics *at, double *mrr, double *coverage,
                      uint64_t *users, uint64_t *users_without_truth);
void sten_eval_free(sten_ctx *ctx, sten_eval *ev);

/* Metrics of scores against labels (rating or click prediction). */
typedef struct {
    double rmse, mae;
    double auc;      /* labels > 0.5 are positives; ties share ranks; NaN if one class */
    double logloss;  /* scores clipped to [1e-15, 1 - 1e-15] */
    double accuracy; /* score >= 0.5 vs label > 0.5 */
} sten_score_metrics;

sten_status sten_eval_scores(sten_ctx *ctx, const float *score, const float *label, size_t n,
                             sten_score_metrics *out);

/* -------------------------------------------------------------- baselines */

/* Item popularity: counts[j] = number of rows of X (users x items) holding
 * item j (values ignored). counts has X->cols entries. */
void sten_popularity(const sten_csr *X, float *counts);

/* EASE (Steck 2019): item-item weights B = I - P diag(1/diag P) with
 * P = (X^T X + lambda I)^-1, diag(B) = 0; a user's scores are x_u B. Dense
 * N x N: refused with STEN_E_RANGE when X has more than max_items columns. */
typedef struct sten_ease sten_ease;
sten_status sten_ease_fit(sten_ctx *ctx, const sten_csr *X, float lambda, uint32_t max_items,
                          sten_ease **out);
/* S (rows x N, ld N) = U B for the users in U (rows x N CSR). */
void sten_ease_scores(sten_ctx *ctx, const sten_ease *m, const sten_csr *U, float *S);
uint32_t sten_ease_items(const sten_ease *m);
void sten_ease_free(sten_ctx *ctx, sten_ease *m);

/* Sparse neighbourhood baselines (docs/evaluate.md): a top-M item x item
 * matrix W, a user's scores x_u W (x_u boolean: values ignored). With c_ij
 * the users holding i and j, n_i the users holding i, |u| u's items:
 *  ITEMKNN  sim(i,j) = c_ij / (sqrt(n_i n_j) + shrink); each item i keeps
 *           its M most similar j, and score(u,i) = sum of sim(j,i) over
 *           the user's items j among them (Dacrema et al. 2019's ItemKNNCF)
 *  RP3BETA  W[i][j] = n_i^-alpha n_j^-beta sum_{u holds i,j} |u|^-alpha:
 *           the two-step walk item -> user -> item with each transition
 *           probability raised to alpha, divided by popularity(j)^beta
 *           (Paudel et al. 2016); each row i keeps its M largest.
 * Ties in the top M go to the smaller item id; W[i][i] is never kept. */
typedef enum { STEN_NBHD_ITEMKNN, STEN_NBHD_RP3BETA } sten_nbhd_kind;
#define STEN_NBHD_MAX_EXPONENT 4.0f
typedef struct {
    sten_nbhd_kind kind;
    uint32_t neighbors; /* M: neighbours kept per item, >= 1 (default 100) */
    float shrink;       /* itemknn: added to the denominator, >= 0 (default 10) */
    float alpha;        /* rp3beta: transition exponent, [0, 4] (default 1) */
    float beta;         /* rp3beta: popularity exponent, [0, 4] (default 0.5) */
} sten_nbhd_opts;
sten_nbhd_opts sten_nbhd_defaults(void);
typedef struct sten_nbhd sten_nbhd;
/* Fits W from X (users x items; a row listing an item twice is refused).
 * Walks each item's users and their items (sum over users of |u|^2 updates),
 * OpenMP over items, a dense accumulator of X->cols entries per thread;
 * W is identical for any thread count. Memory: about sten_nbhd_bytes; it
 * is logged at STEN_LOG_INFO before allocating. STEN_E_INVALID naming the
 * option for options out of range; STEN_E_NOMEM. *out owned. */
sten_status sten_nbhd_fit(sten_ctx *ctx, const sten_csr *X, const sten_nbhd_opts *o, sten_nbhd **out);
/* Bytes sten_nbhd_fit takes at most for N items, M neighbours, threads threads. */
uint64_t sten_nbhd_bytes(uint32_t N, uint32_t M, int threads);
/* S (rows x N, ld N) = U W for the users in U (rows x N CSR, row_ptr read as
 * absolute offsets into col); items >= N in U are ignored. */
void sten_nbhd_scores(sten_ctx *ctx, const sten_nbhd *m, const sten_csr *U, float *S);
uint32_t sten_nbhd_items(const sten_nbhd *m);
uint64_t sten_nbhd_nnz(const sten_nbhd *m); /* entries kept in W */
void sten_nbhd_free(sten_ctx *ctx, sten_nbhd *m);

/* ------------------------------------------------ item-item similarity (rec) */

/* How two items i, j are compared (docs/similar.md), from the co-occurrence
 * count c = users holding both and the item counts n_i, n_j:
 *  COSINE       c / sqrt(n_i n_j), times c / (c + shrink)
 *  JACCARD      c / (n_i + n_j - c)
 *  CONDITIONAL  P(j|i) damped (Deshpande & Karypis 2004): c / (n_i n_j^alpha),
 *               times c / (c + shrink)
 *  EASE         row i of EASE's B (sten_ease_fit), its positive weights. */
typedef enum { STEN_SIM_COSINE, STEN_SIM_JACCARD, STEN_SIM_CONDITIONAL, STEN_SIM_EASE } sten_sim_measure;

typedef struct {
    sten_sim_measure measure;
    uint32_t neighbors;   /* M: the most neighbours kept per item, >= 1 (default 100) */
    uint32_t min_support; /* co-occurrence measures: pairs with c >= this, >= 1 (default 1) */
    float shrink;         /* cosine, conditional: c / (c + shrink), >= 0 (default 0) */
    float alpha;          /* conditional: n_j's exponent, in [0, 1] (default 0.5) */
    float lambda;         /* EASE: L2 strength, > 0 (default 500) */
    uint32_t max_items;   /* EASE: refuse catalogues above this (default 40000; it
                             needs a dense items x items matrix, 4 N^2 bytes) */
} sten_similar_opts;

sten_similar_opts sten_similar_defaults(void);

/* Each item's neighbours, best first: row i is idx[i*M .. i*M + count[i]) with
 * scores val[...] (descending, ties by the smaller item id); slots past
 * count[i] hold UINT32_MAX / -INFINITY. An item is never its own neighbour.
 * M = min(neighbors, n_items - 1) (0 for a catalogue of one item or none).
 * Arrays owned; free with sten_neighbors_free. */
typedef struct {
    uint32_t n_items, M;
    uint32_t *idx;   /* n_items x M */
    float *val;      /* n_items x M */
    uint32_t *count; /* n_items */
} sten_neighbors;

/* The M most similar items of every item of X (users x items, boolean:
 * values ignored; a row listing an item twice is refused). The co-occurrence
 * measures walk each item's users and their items, sum over users of |u|^2
 * updates in all, with a dense counter of X->cols entries per thread; results
 * are identical for any thread count. EASE fits sten_ease_fit's model (EASE's
 * limit: more than o->max_items items is refused). *out is overwritten (zeroed
 * on error). STEN_E_INVALID, naming the option, for options out of range;
 * STEN_E_NOMEM; STEN_E_NUMERIC from EASE. */
sten_status sten_similar(sten_ctx *ctx, const sten_csr *X, const sten_similar_opts *o,
                         sten_neighbors *out);
/* Frees the arrays and zeroes *nb; NULL or a zeroed struct is a no-op. */
void sten_neighbors_free(sten_ctx *ctx, sten_neighbors *nb);

/* ------------------------------------- built-in algorithms (src/algo) */

/* SageMaker's first built-in algorithms outside the network engine: k-means,
 * PCA and k-NN (docs/builtins.md). All take dense rows: X is n x dim, row-major,
 * contiguous (row r at X + r * dim). Results depend only on the data, the
 * options and the seed, never on the thread count. */

/* Dense rows without labels (SageMaker's text/csv for unsupervised
 * algorithms): one row per line, dim comma-separated numbers, plain or
 * gzip. A field that is not a finite number is STEN_E_PARSE naming
 * file:line:column and the text; a line with another field count is
 * STEN_E_PARSE naming file:line, the count found and dim; an empty line or
 * an empty file is refused. *X (owned, *n x dim floats) is freed with
 * sten_free. dim must be in [1, STEN_CSV_MAX_DIM]. */
#define STEN_CSV_MAX_DIM 1000000u
sten_status sten_csv_read_dense(sten_ctx *ctx, const char *path, uint32_t dim, float **X, uint64_t *n);

typedef enum { STEN_KMEANS_RANDOM = 0, STEN_KMEANS_PLUSPLUS } sten_kmeans_init;

/* k-means options: SageMaker's hyperparameters (docs/builtins.md). */
typedef struct {
    uint32_t k;                      /* clusters, >= 1 */
    uint32_t feature_dim;            /* columns of the data */
    sten_kmeans_init init;           /* init_method of the mini-batch stage (random) */
    uint32_t max_iterations;         /* bound on passes, with epochs (100) */
    float tol;                       /* stop passes when the mean loss changes by less (1e-4) */
    uint32_t mini_batch_size;        /* rows per update (5000) */
    uint32_t epochs;                 /* passes over the data (1) */
    uint32_t extra_center_factor;    /* K = k * this centres in the stage; 0 = auto */
    uint32_t half_life_time_size;    /* rows after which an update weighs 1/2; 0 = no decay */
    uint32_t local_lloyd_max_iter;   /* (300) */
    sten_kmeans_init local_lloyd_init; /* (kmeans++) */
    uint32_t local_lloyd_num_trials; /* 0 = auto (10) */
    float local_lloyd_tol;           /* (1e-4) */
    uint64_t seed;
} sten_kmeans_opts;

/* SageMaker's defaults; k and feature_dim 0 (required). */
sten_kmeans_opts sten_kmeans_defaults(void);

/* A trained k-means model: k centres of dim values, row-major. Owned;
 * free with sten_kmeans_free (a zeroed struct is a no-op). */
typedef struct {
    uint32_t k, dim;
    float *centers;
    sten_kmeans_opts opts; /* what it was trained with (saved in the model file) */
} sten_kmeans;

/* What a fit did (for logs). */
typedef struct {
    uint32_t centers;        /* K, the mini-batch stage's centres */
    uint32_t passes;         /* passes the mini-batch stage made */
    double stage_msd;        /* its last pass's mean squared distance (before each update) */
    uint32_t trials;         /* local Lloyd's trials */
    double local_inertia;    /* the kept trial's weighted sum of squared distances */
} sten_kmeans_report;

/* SageMaker's scheme: K = k * extra_center_factor centres by mini-batch
 * k-means (Sculley 2010) over shuffled rows in passes, then each centre,
 * weighted by the rows it took, is a point for a weighted Lloyd's (the
 * local stage, local_lloyd_num_trials trials, the lowest inertia kept) down
 * to k. Distances are |x|^2 - 2 x.c + |c|^2 from one GEMM per batch.
 * STEN_E_INVALID naming the option for options out of range (k or dim 0, k
 * above n, ...); STEN_E_NOMEM. report may be NULL. *out is overwritten. */
sten_status sten_kmeans_fit(sten_ctx *ctx, const float *X, uint64_t n, const sten_kmeans_opts *o,
                            sten_kmeans *out, sten_kmeans_report *report);
/* The same on sparse rows X (X->rows rows, columns below feature_dim; val
 * NULL = every entry 1): each mini-batch is spread out dense on its own
 * (mini_batch_size x feature_dim floats), never the whole matrix; the same
 * model as sten_kmeans_fit on the dense rows. */
sten_status sten_kmeans_fit_csr(sten_ctx *ctx, const sten_csr *X, const sten_kmeans_opts *o, sten_kmeans *out,
                                sten_kmeans_report *report);
void sten_kmeans_free(sten_ctx *ctx, sten_kmeans *m);

/* The closest centre of each row (ties: the lower index) and the Euclidean
 * distance to it (dist may be NULL). X: n x m->dim. Returns the sum of
 * squared distances in *ssd (may be NULL). */
sten_status sten_kmeans_assign(sten_ctx *ctx, const sten_kmeans *m, const float *X, uint64_t n,
                               uint32_t *cluster, float *dist, double *ssd);
/* The same for sparse rows X (X->rows of them), a block at a time. */
sten_status sten_kmeans_assign_csr(sten_ctx *ctx, const sten_kmeans *m, const sten_csr *X, uint32_t *cluster,
                                   float *dist, double *ssd);

/* The building blocks, for callers that want them alone (and tests):
 * sten_kmeans_seed picks K starting centres among n weighted points P (dim
 * values each; w NULL = all 1): random (K distinct points, chance in
 * proportion to weight) or k-means++ (Arthur & Vassilvitskii 2007: the
 * first by weight, each next with chance w * D^2 to the nearest chosen).
 * Points of weight 0 are never chosen; STEN_E_INVALID when fewer than K
 * points have weight. sten_kmeans_lloyd runs weighted Lloyd's from the K
 * centres C (updated in place) until max_iter or a relative drop of the
 * weighted inertia below tol; a centre left empty keeps its place.
 * *inertia gets the weighted sum of squared distances to the final centres;
 * *iters the iterations run (either may be NULL). */
sten_status sten_kmeans_seed(sten_ctx *ctx, const float *P, const float *w, uint64_t n, uint32_t dim,
                             uint32_t K, sten_kmeans_init how, uint64_t seed, float *C);
sten_status sten_kmeans_lloyd(sten_ctx *ctx, const float *P, const float *w, uint64_t n, uint32_t dim,
                              float *C, uint32_t K, uint32_t max_iter, double tol, double *inertia,
                              uint32_t *iters);

typedef enum { STEN_PCA_REGULAR = 0, STEN_PCA_RANDOMIZED } sten_pca_mode;

/* PCA options: SageMaker's hyperparameters (docs/builtins.md). */
typedef struct {
    uint32_t num_components;   /* >= 1, <= feature_dim */
    uint32_t feature_dim;
    sten_pca_mode mode;        /* algorithm_mode (regular) */
    bool subtract_mean;        /* (true) */
    int32_t extra_components;  /* randomized: oversampling; -1 (the default) is
                                  SageMaker's max(10, num_components); the total
                                  is capped at feature_dim */
    uint32_t mini_batch_size;  /* rows per streamed block (500 here; required
                                  in hyperparameter files, as SageMaker has it) */
    uint32_t power_iterations; /* randomized: passes of subspace iteration (2) */
    uint64_t seed;
} sten_pca_opts;

sten_pca_opts sten_pca_defaults(void);

/* A trained PCA: components (num_components x dim, unit rows, decreasing
 * eigenvalue; each row's largest-magnitude entry positive), the
 * covariance's eigenvalues along them (sample variances, n - 1), the mean
 * (zeros without subtract_mean) and the total variance (the trace), so
 * eigenvalues[i] / total_variance is the explained variance ratio. Owned;
 * free with sten_pca_free. */
typedef struct {
    uint32_t dim, n_comp;
    float *mean;        /* dim */
    float *components;  /* n_comp x dim */
    float *eigenvalues; /* n_comp */
    double total_variance;
    uint64_t rows;      /* rows it was fit on */
    sten_pca_opts opts;
} sten_pca;

/* regular: the covariance in one streamed pass (SSYRK per block of rows,
 * summed in double, rows shifted by the first block's mean against
 * cancellation), then LAPACK's symmetric eigensolver (DSYEVR in double up
 * to dim 4096, SSYEVR above) for the top num_components. randomized: a
 * range finder over num_components + extra_components Gaussian directions,
 * power_iterations passes of subspace iteration, then the small projected
 * eigenproblem; it never forms the dim x dim covariance. STEN_E_INVALID
 * naming the option; STEN_E_NUMERIC if LAPACK fails. *out is overwritten. */
sten_status sten_pca_fit(sten_ctx *ctx, const float *X, uint64_t n, const sten_pca_opts *o, sten_pca *out);
/* The same on sparse rows X (X->rows rows, columns below feature_dim; val
 * NULL = every entry 1), never made dense: randomized multiplies the
 * covariance from the entries (the mean through the column sums), regular
 * sums each row's entry pairs into the dim x dim covariance (refused above
 * STEN_PCA_SPARSE_REGULAR_MAX features: use randomized). The same model as
 * sten_pca_fit on the dense rows, up to rounding. */
#define STEN_PCA_SPARSE_REGULAR_MAX 8192u
sten_status sten_pca_fit_csr(sten_ctx *ctx, const sten_csr *X, const sten_pca_opts *o, sten_pca *out);
/* Y (n x m->n_comp) = (X - mean) components^T. */
sten_status sten_pca_project(sten_ctx *ctx, const sten_pca *m, const float *X, uint64_t n, float *Y);
void sten_pca_free(sten_ctx *ctx, sten_pca *m);

/* SageMaker's hyperparameter files (JSON object; values numbers or strings,
 * as SageMaker passes them) into options, defaults filled. Unknown names,
 * bad values and missing required ones are STEN_E_PARSE / STEN_E_RANGE
 * naming the file, the key and what is allowed; a missing file is
 * STEN_E_NOTFOUND. SageMaker's reserved _tuning_objective_metric is
 * accepted for k-means (test:msd or test:ssd). eval_metrics (k-means):
 * *metrics gets bit 1 for msd, 2 for ssd (may be NULL). The seed is left
 * at its default (the caller's --seed). */
enum { STEN_KMEANS_METRIC_MSD = 1, STEN_KMEANS_METRIC_SSD = 2 };
sten_status sten_kmeans_opts_from_hyperparameters(sten_ctx *ctx, const char *path, sten_kmeans_opts *o,
                                                  unsigned *metrics);
sten_status sten_pca_opts_from_hyperparameters(sten_ctx *ctx, const char *path, sten_pca_opts *o);

/* Model files of the built-in algorithms: NetCDF-4, global attribute
 * sten_model_kind ("kmeans", "pca", "knn", "linear") and sten_format_version 2, so a sten
 * that predates them refuses them as a newer format and sten_net_load
 * refuses them naming their kind; written atomically. */
typedef enum {
    STEN_MODEL_NETWORK = 0, STEN_MODEL_KMEANS, STEN_MODEL_PCA, STEN_MODEL_KNN, STEN_MODEL_LINEAR
} sten_model_kind;
/* The kind of the model file at path (NETWORK for any file without
 * sten_model_kind, DSSTNE's included). STEN_E_NOTFOUND / STEN_E_FORMAT when
 * it cannot be opened as NetCDF; STEN_E_FORMAT for an unknown kind. */
sten_status sten_model_kind_of(sten_ctx *ctx, const char *path, sten_model_kind *out);
const char *sten_model_kind_name(sten_model_kind kind);
sten_status sten_kmeans_save(sten_ctx *ctx, const sten_kmeans *m, const char *path);
sten_status sten_kmeans_load(sten_ctx *ctx, const char *path, sten_kmeans *out);
sten_status sten_pca_save(sten_ctx *ctx, const sten_pca *m, const char *path);
sten_status sten_pca_load(sten_ctx *ctx, const char *path, sten_pca *out);

/* k-NN: SageMaker's k-nearest-neighbours (docs/builtins.md). The index is
 * a seeded reservoir sample of the training rows (label first in the CSV),
 * optionally reduced by a random sign projection or a fast Johnson-
 * Lindenstrauss transform; search is exact (faiss.Flat: blocked SGEMM scores
 * and a bounded top-k per row) or over inverted lists (faiss.IVFFlat: a
 * coarse quantizer trained by sten's k-means, nprobe lists scanned per
 * query; faiss.IVFPQ: the same lists holding product-quantized residuals,
 * pq_m bytes a point, scanned by table look-ups). */
typedef enum { STEN_KNN_CLASSIFIER = 0, STEN_KNN_REGRESSOR } sten_knn_predictor;
typedef enum { STEN_KNN_REDUCE_NONE = 0, STEN_KNN_REDUCE_SIGN, STEN_KNN_REDUCE_FJLT } sten_knn_reduction;
typedef enum { STEN_KNN_FLAT = 0, STEN_KNN_IVFFLAT, STEN_KNN_IVFPQ } sten_knn_index;
typedef enum { STEN_KNN_L2 = 0, STEN_KNN_INNER_PRODUCT, STEN_KNN_COSINE } sten_knn_metric;

/* k-NN options: SageMaker's hyperparameters. */
typedef struct {
    uint32_t feature_dim;                    /* columns after the label */
    uint32_t k;                              /* neighbours that vote / average */
    sten_knn_predictor predictor_type;
    uint32_t sample_size;                    /* rows kept in the index (reservoir sample) */
    sten_knn_reduction dimension_reduction_type; /* (none) */
    uint32_t dimension_reduction_target;     /* the reduced width, < feature_dim (sign, fjlt); 0 without */
    sten_knn_index index_type;               /* (faiss.Flat) */
    sten_knn_metric index_metric;            /* (L2) */
    uint32_t ivf_nlists;                     /* faiss_index_ivf_nlists; 0 = auto: round(sqrt(points)) */
    uint32_t pq_m;                           /* faiss_index_pq_m: IVFPQ's bytes per point, dividing the
                                                index width (0 = auto: the largest of 16, 8, 4, 2, 1
                                                that divides it) */
    uint32_t mini_batch_size;                /* rows per block when projecting and searching (5000) */
    uint64_t seed;
} sten_knn_opts;

/* SageMaker's defaults; feature_dim, k and sample_size 0 (required). */
sten_knn_opts sten_knn_defaults(void);

/* A k-NN model. Owned; free with sten_knn_free (a zeroed struct is a no-op).
 * Point p (0 <= p < n) is points[p * index_dim ...] (projected, and of unit
 * length for COSINE), its label labels[p] and its training row rows[p]
 * (0-based). Flat: points in training-row order. IVF: grouped by list, list
 * c holding points list_start[c] .. list_start[c + 1] - 1 in training-row
 * order, centroids nlists x index_dim. IVFPQ: as IVF, but instead of
 * points (NULL) each point's residual from its list's centroid is coded in
 * pq_m bytes: byte j of codes[p * pq_m ...] names the nearest of pq_ksub
 * centroids of sub-vector j (index_dim / pq_m values), pq_centroids holding
 * pq_m x pq_ksub x (index_dim / pq_m). */
typedef struct {
    uint32_t dim, index_dim, n, nlists;
    float *points, *labels;
    uint32_t *rows;
    float *projection;   /* index_dim x dim (sign, fjlt), or NULL */
    float *centroids;    /* nlists x index_dim, or NULL (Flat) */
    uint32_t *list_start; /* nlists + 1, or NULL */
    float *norms;        /* n: |point|^2 (derived at fit and load; not saved; NULL for IVFPQ) */
    uint64_t train_rows; /* rows the sample was drawn from */
    sten_knn_opts opts;
    uint32_t pq_m, pq_ksub; /* IVFPQ: sub-vectors and centroids per sub-vector (0: not IVFPQ) */
    float *pq_centroids;    /* pq_m x pq_ksub x (index_dim / pq_m) */
    uint8_t *codes;         /* n x pq_m */
} sten_knn;

/* Builds the index from n training rows X (n x o->feature_dim) with labels y
 * (n). Rows are sampled when n > sample_size (seeded reservoir, kept in row
 * order). STEN_E_INVALID naming the option for options out of range (k above
 * the points kept, a reduction target not below feature_dim, pq_m not
 * dividing the index width, ...); STEN_E_NOMEM. *out is overwritten. */
sten_status sten_knn_fit(sten_ctx *ctx, const float *X, const float *y, uint64_t n, const sten_knn_opts *o,
                         sten_knn *out);
void sten_knn_free(sten_ctx *ctx, sten_knn *m);

/* nprobe 0: the default for IVF, max(1, nlists / 16); ignored for Flat. */
uint32_t sten_knn_nprobe(const sten_knn *m, uint32_t nprobe);

/* The K nearest points of each of the n rows X (n x m->dim): ids (n x K)
 * are point numbers (m->rows[id] is the training row, m->labels[id] the
 * label), dist (n x K, may be NULL) the squared Euclidean distance (L2), the
 * inner product (INNER_PRODUCT) or the cosine similarity (COSINE) of the
 * reduced vectors, nearest first; ties go to the lower training row. Flat
 * is exact; IVF scans the nprobe lists whose centroids are nearest (by the
 * index metric), and more lists, nearest first, while fewer than K points
 * were seen, so every row gets K neighbours. K in [1, m->n]. Distances are
 * recomputed in double for the K kept, except for IVFPQ, which holds no
 * points: its distances are faiss's asymmetric ones, from the query to each
 * point's coded reconstruction (centroid + quantized residual). */
sten_status sten_knn_search(sten_ctx *ctx, const sten_knn *m, const float *X, uint64_t n, uint32_t K,
                            uint32_t nprobe, uint32_t *ids, float *dist);

/* SageMaker's predicted_label for each row of X: classifier, the label most
 * of the k neighbours hold (a tie goes to the tied label whose first
 * neighbour is nearest); regressor, the mean of their labels. ids and dist
 * (n x k, either may be NULL) receive the neighbours as sten_knn_search
 * gives them (SageMaker's verbose labels: m->labels[ids]). */
sten_status sten_knn_predict(sten_ctx *ctx, const sten_knn *m, const float *X, uint64_t n, uint32_t nprobe,
                             float *pred, uint32_t *ids, float *dist);

/* The random sign projection (dimension_reduction_type sign): R (target x
 * dim) with entries +-1/sqrt(target) from the seed, so |R x| ~ |x|. */
sten_status sten_knn_sign_matrix(sten_ctx *ctx, uint32_t dim, uint32_t target, uint64_t seed, float *R);
/* The fast Johnson-Lindenstrauss transform (dimension_reduction_type fjlt),
 * a subsampled randomized Hadamard transform: R = sqrt(D'/target) S H D
 * (target x dim) with D random signs, H the normalised Walsh-Hadamard
 * matrix of order D' (the power of two >= dim) and S target of its rows
 * drawn without replacement, all from the seed. Entries are
 * +-1/sqrt(target) like the sign projection's, but rows are orthogonal when
 * dim is a power of two, so |R x| ~ |x| with a smaller spread. */
sten_status sten_knn_fjlt_matrix(sten_ctx *ctx, uint32_t dim, uint32_t target, uint64_t seed, float *R);

/* Labeled dense rows (SageMaker's text/csv for supervised algorithms): the
 * label, then dim features a line. As sten_csv_read_dense, with dim + 1
 * fields expected; *X (n x dim) and *y (n) owned, freed with sten_free. */
sten_status sten_csv_read_labeled(sten_ctx *ctx, const char *path, uint32_t dim, float **X, float **y,
                                  uint64_t *n);

/* k-NN hyperparameter file, as sten_kmeans_opts_from_hyperparameters;
 * _tuning_objective_metric must be test:accuracy (classifier) or test:mse
 * (regressor). */
sten_status sten_knn_opts_from_hyperparameters(sten_ctx *ctx, const char *path, sten_knn_opts *o);
sten_status sten_knn_save(sten_ctx *ctx, const sten_knn *m, const char *path);
sten_status sten_knn_load(sten_ctx *ctx, const char *path, sten_knn *out);

/* Linear Learner: SageMaker's linear-learner (docs/builtins.md). A linear
 * model (binary classifier, regressor or multiclass classifier) trained by
 * mini-batch SGD or Adam on standardised rows, num_models settings at once:
 * the batch's scores for every model come from one SGEMM (X . W, W holding
 * num_models x outputs columns), and the best on the validation rows (or the
 * training rows) is kept. */
typedef enum { STEN_LINEAR_BINARY = 0, STEN_LINEAR_REGRESSOR, STEN_LINEAR_MULTICLASS } sten_linear_predictor;
typedef enum {
    STEN_LINEAR_LOSS_AUTO = 0, STEN_LINEAR_LOGISTIC, STEN_LINEAR_SQUARED, STEN_LINEAR_ABSOLUTE, STEN_LINEAR_HINGE,
    STEN_LINEAR_EPS_SQUARED, STEN_LINEAR_EPS_ABSOLUTE, STEN_LINEAR_QUANTILE, STEN_LINEAR_HUBER, STEN_LINEAR_SOFTMAX
} sten_linear_loss;
typedef enum { STEN_LINEAR_OPT_AUTO = 0, STEN_LINEAR_SGD, STEN_LINEAR_ADAM } sten_linear_optimizer;
typedef enum {
    STEN_LINEAR_SEL_ACCURACY = 0, STEN_LINEAR_SEL_F_BETA, STEN_LINEAR_SEL_PRECISION_AT_RECALL,
    STEN_LINEAR_SEL_RECALL_AT_PRECISION, STEN_LINEAR_SEL_LOSS
} sten_linear_selection;
#define STEN_LINEAR_MAX_MODELS 64

/* Linear Learner options: SageMaker's hyperparameters. The eps-insensitive,
 * quantile and huber losses are refused (STEN_E_UNSUPPORTED). */
typedef struct {
    uint32_t feature_dim;
    sten_linear_predictor predictor_type;
    uint32_t num_classes;          /* multiclass: 3 or more; else 0 */
    sten_linear_loss loss;         /* auto: logistic, squared_loss or softmax_loss by predictor_type */
    float l1, wd;                  /* < 0: auto (0 for the first model; wd varied over the others) */
    float learning_rate;           /* 0: auto (0.01 Adam, 0.1 SGD) */
    sten_linear_optimizer optimizer; /* auto: Adam */
    uint32_t mini_batch_size;      /* (1000) */
    uint32_t epochs;               /* (15) */
    bool normalize_data;           /* (true) */
    int normalize_label;           /* -1 auto (true for the regressor); regressor only */
    uint32_t num_models;           /* 0: auto (8), at most STEN_LINEAR_MAX_MODELS */
    sten_linear_selection selection; /* binary_classifier_model_selection_criteria (accuracy) */
    float beta, target_recall, target_precision; /* (1, 0.8, 0.8) */
    uint32_t early_stopping_patience; /* (3) */
    float early_stopping_tolerance;   /* (0.001) */
    bool use_bias;                 /* (true) */
    float margin;                  /* hinge_loss (1) */
    uint32_t num_point_for_scaler; /* the first rows normalize_data and normalize_label learn from (10000) */
    uint64_t seed;
} sten_linear_opts;

sten_linear_opts sten_linear_defaults(void);

/* A trained linear model, in the input's scale (normalisation folded in):
 * score = x . weights[:, c] + bias[c] for each of the outputs columns (1, or
 * num_classes). Binary: the score is a probability (logistic) or the margin
 * (hinge), predicted_label = score >= threshold. Multiclass: softmax of the
 * scores. Owned; free with sten_linear_free (a zeroed struct is a no-op). */
typedef struct {
    uint32_t dim, outputs;
    float *weights;   /* dim x outputs, row-major */
    float *bias;      /* outputs */
    float threshold;  /* binary only */
    sten_linear_opts opts; /* the kept model's settings (learning_rate, wd, l1 as used) */
} sten_linear;

/* What a fit did: each model's learning rate, wd and l1, its loss on the
 * selection rows (validation if given, else training; the loss function,
 * in the labels' scale) and epochs run, and which was kept. */
typedef struct {
    uint32_t num_models, chosen;
    bool on_validation;
    float learning_rate[STEN_LINEAR_MAX_MODELS], wd[STEN_LINEAR_MAX_MODELS], l1[STEN_LINEAR_MAX_MODELS];
    double loss[STEN_LINEAR_MAX_MODELS];
    uint32_t epochs[STEN_LINEAR_MAX_MODELS];
} sten_linear_report;

/* Trains on n rows X (n x feature_dim) with labels y (0/1 binary, 0 ..
 * num_classes - 1 multiclass); Xv/yv (nv rows, may be NULL/0) are the
 * validation channel: early stopping on its loss (else on the epoch's
 * training loss), model selection and the binary threshold. STEN_E_INVALID
 * naming the option; STEN_E_RANGE naming a bad label's channel and row (1-based);
 * STEN_E_UNSUPPORTED for the refused losses; STEN_E_NUMERIC when every model
 * diverged; STEN_E_NOMEM. report may be NULL. *out is overwritten. */
sten_status sten_linear_fit(sten_ctx *ctx, const float *X, const float *y, uint64_t n, const float *Xv,
                            const float *yv, uint64_t nv, const sten_linear_opts *o, sten_linear *out,
                            sten_linear_report *report);
/* The same on sparse rows X (every row; columns below feature_dim, else
 * STEN_E_RANGE; no values: 1) with labels y (X->rows), Xv/yv the validation
 * rows (may be NULL), never spread out dense. normalize_data scales each
 * column by 1 / the root mean square of its non-zero entries and never
 * shifts (a shift would fill the rows in); each step updates only the
 * weight rows of its batch's features (wd and l1 included), as SparseAdam
 * does. Memory: the rows plus 5 x feature_dim x num_models x outputs floats. */
sten_status sten_linear_fit_csr(sten_ctx *ctx, const sten_csr *X, const float *y, const sten_csr *Xv,
                                const float *yv, const sten_linear_opts *o, sten_linear *out,
                                sten_linear_report *report);

/* Labelled sparse rows read a chunk at a time, for data larger than memory:
 * next fills *x (at most max_rows rows; 0 at the end of a pass) and *y
 * (their labels), valid until its next call; rewind starts a new pass.
 * sten_libsvm_stream_source(s) reads a libsvm stream. */
typedef struct {
    void *self;
    sten_status (*next)(sten_ctx *ctx, void *self, uint32_t max_rows, const sten_csr **x, const float **y);
    sten_status (*rewind)(sten_ctx *ctx, void *self);
} sten_row_source;
sten_row_source sten_libsvm_stream_source(sten_libsvm_stream *s);

/* sten_linear_fit_csr over sources read chunk_rows rows at a time, one pass
 * per epoch (validation: one pass per epoch too; may be NULL), each chunk's
 * rows shuffled within it (the chunks in file order), normalize_data and
 * normalize_label learnt from the first chunk's first num_point_for_scaler
 * rows. Memory: the model's state and a chunk, whatever the files' size.
 * With all rows in one chunk it is sten_linear_fit_csr (tested). */
sten_status sten_linear_fit_stream(sten_ctx *ctx, const sten_row_source *train, const sten_row_source *valid,
                                   uint32_t chunk_rows, const sten_linear_opts *o, sten_linear *out,
                                   sten_linear_report *report);
void sten_linear_free(sten_ctx *ctx, sten_linear *m);

/* scores (n x m->outputs: probabilities, margins or values) and, for the
 * classifiers, labels (n, may be NULL) of the rows X (n x m->dim). */
sten_status sten_linear_predict(sten_ctx *ctx, const sten_linear *m, const float *X, uint64_t n, float *scores,
                                float *labels);
/* The same for every row of the sparse X (X->rows; columns below m->dim). */
sten_status sten_linear_predict_csr(sten_ctx *ctx, const sten_linear *m, const sten_csr *X, float *scores,
                                    float *labels);

/* SageMaker's metrics of m on labelled rows; those that do not apply to the
 * predictor are 0. */
typedef struct {
    double objective_loss;
    double accuracy, f_beta, precision, recall;   /* binary */
    double mse, absolute_loss;                    /* regressor */
    double multiclass_accuracy;                   /* multiclass */
} sten_linear_metrics;
sten_status sten_linear_evaluate(sten_ctx *ctx, const sten_linear *m, const float *X, const float *y, uint64_t n,
                                 sten_linear_metrics *out);
sten_status sten_linear_evaluate_csr(sten_ctx *ctx, const sten_linear *m, const sten_csr *X, const float *y,
                                     sten_linear_metrics *out);
sten_status sten_linear_evaluate_stream(sten_ctx *ctx, const sten_linear *m, const sten_row_source *rows,
                                        uint32_t chunk_rows, sten_linear_metrics *out);

/* The binary decision threshold that maximises the criterion over the
 * n scores with labels y (0/1): predicted positive when score >= threshold;
 * between two distinct scores the midpoint is taken. accuracy, f_beta
 * (beta), precision_at_target_recall (the best precision with recall >=
 * target) or recall_at_target_precision (the best recall with precision >=
 * target; the best precision if none reaches it). *value gets the
 * criterion's value there (may be NULL). STEN_E_INVALID for loss_function
 * or n = 0. */
sten_status sten_linear_pick_threshold(sten_ctx *ctx, const float *scores, const float *y, uint64_t n,
                                       sten_linear_selection crit, float beta, float target, float *threshold,
                                       double *value);

/* Linear Learner hyperparameter file, as sten_knn_opts_from_hyperparameters;
 * _tuning_objective_metric: validation: or test: with objective_loss and the
 * predictor's metrics. The refused losses are STEN_E_UNSUPPORTED. */
sten_status sten_linear_opts_from_hyperparameters(sten_ctx *ctx, const char *path, sten_linear_opts *o);
sten_status sten_linear_save(sten_ctx *ctx, const sten_linear *m, const char *path);
sten_status sten_linear_load(sten_ctx *ctx, const char *path, sten_linear *out);

/* ------------------------------------- hyperparameter search (src/algo) */

/* The next point to try in the unit cube [0, 1]^dims after n trials at x
 * (n x dims, row-major) with objective values y (higher is better; NaN: a
 * failed trial, ignored): the greatest expected improvement under a
 * Gaussian process (Matern 5/2 kernel, length scale and noise by marginal
 * likelihood on a grid) fitted to the standardised values, over random and
 * local candidates. With fewer than two finite values, a uniform random
 * point. Deterministic for (seed, n). out: dims values. `sten tune` maps
 * each hyperparameter's range (linear, logarithmic, integer, categorical)
 * onto one dimension. */
sten_status sten_bayesopt_propose(sten_ctx *ctx, const double *x, const double *y, uint32_t n,
                                  uint32_t dims, uint64_t seed, double *out);

/* ---------------------------------------------------------- number parsing */

/* The one checked number parser (never atoi/atof): the whole slice s[0..len)
 * must be the number, no spaces, no trailing junk. C locale.
 * Returns STEN_OK, STEN_E_PARSE (not a number) or STEN_E_RANGE (outside
 * [lo, hi], or not finite for doubles). Records no error: the caller knows
 * where the text came from and says so. */
sten_status sten_parse_int(const char *s, size_t len, long long lo, long long hi,
                           long long *out);
sten_status sten_parse_double(const char *s, size_t len, double *out);

/* ------------------------------------------------------------------ files */

/* A text output written atomically: the stream writes to a temporary beside
 * path; commit checks for write errors, syncs and renames it into place;
 * abort removes it. Either call frees the handle. */
typedef struct sten_outfile sten_outfile;
sten_status sten_outfile_open(sten_ctx *ctx, const char *path, sten_outfile **out, FILE **f);
sten_status sten_outfile_commit(sten_ctx *ctx, sten_outfile *o);
void sten_outfile_abort(sten_ctx *ctx, sten_outfile *o);

/* ----------------------------------------------------------------- system */

/* Description of the BLAS in use ("OpenBLAS 0.3.21 ... OpenMP"), borrowed. */
const char *sten_blas_info(void);

/* OpenBLAS's core type judged against this CPU. OpenBLAS (DYNAMIC_ARCH)
 * picks its kernels once, in a library constructor, from the CPU model or
 * from OPENBLAS_CORETYPE; a release that does not know a new CPU runs its
 * generic Prescott (SSE3) kernels, 4-11x slower on EASE and every other
 * LAPACK/BLAS-bound step. A library cannot change that for its host
 * process: a program that finds `generic` set it can export
 * OPENBLAS_CORETYPE=<best> and re-execute itself before any BLAS call, as
 * the sten command does (docs/performance.md). All strings are static. */
typedef struct {
    const char *core;    /* OpenBLAS's core type now ("Haswell", "Prescott", ...) */
    const char *kernels; /* what that core's kernels use ("SSE3", "AVX2", "AVX-512",
                            ...; "unknown" for a name sten does not know) */
    const char *best;    /* the core type suited to this CPU's features
                            ("Cooperlake", "SkylakeX", "Haswell", "Sandybridge"),
                            or the same as core when it knows none better */
    bool generic;        /* core runs SSE-era kernels on a CPU with AVX or better */
    bool older;          /* core is of an older vector generation than best
                            (generic implies older) */
} sten_blas_core;
/* Fills *out for the running process (openblas_get_corename() and cpuid).
 * Never fails. */
void sten_blas_core_get(sten_blas_core *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* STEN_H */
