/* model_io.c — model files of the built-in algorithms (k-means, PCA, k-NN,
 * Linear Learner): NetCDF-4 with a global sten_model_kind ("kmeans", "pca",
 * "knn", "linear") and
 * sten_format_version 2, which a sten that knows only networks (format 1)
 * refuses as "newer than this sten reads". Written atomically (temporary,
 * fsync, rename); read strictly (every shape checked against the header). */
#include "algo_int.h"
#include "core/file_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUILTIN_FORMAT 2
#define MAX_ELEMENTS ((uint64_t)1 << 31) /* floats in one variable: a bound on untrusted headers */

static const char *const kind_names[] = {"network", "kmeans", "pca", "knn", "linear"};
#define KINDS 5

const char *sten_model_kind_name(sten_model_kind kind)
{
    return (unsigned)kind < KINDS ? kind_names[kind] : "unknown";
}

typedef struct {
    sten_ctx *ctx;
    const char *path;
    int nc;
    sten_status st; /* the first failure */
} mio;

static int ok(mio *m, int rc, const char *what, const char *name)
{
    if (rc == NC_NOERR)
        return 1;
    if (!m->st)
        m->st = sten_fail(m->ctx, rc == NC_ENOTATT || rc == NC_ENOTVAR || rc == NC_EBADDIM ? STEN_E_FORMAT : STEN_E_IO,
                          "%s: %s %s: %s", m->path, what, name, nc_strerror(rc));
    return 0;
}

/* ------------------------------------------------------------------ write */

static void put_text(mio *m, const char *name, const char *v)
{
    if (!m->st)
        ok(m, nc_put_att_text(m->nc, NC_GLOBAL, name, strlen(v), v), "writing attribute", name);
}

static void put_uint(mio *m, const char *name, unsigned long long v)
{
    if (!m->st)
        ok(m, nc_put_att_ulonglong(m->nc, NC_GLOBAL, name, NC_UINT64, 1, &v), "writing attribute", name);
}

static void put_double(mio *m, const char *name, double v)
{
    if (!m->st)
        ok(m, nc_put_att_double(m->nc, NC_GLOBAL, name, NC_DOUBLE, 1, &v), "writing attribute", name);
}

static int def_var(mio *m, const char *name, int nd, const int *dims)
{
    int id = -1;
    if (!m->st)
        ok(m, nc_def_var(m->nc, name, NC_FLOAT, nd, dims, &id), "defining variable", name);
    return id;
}

static int def_dim(mio *m, const char *name, size_t len)
{
    int id = -1;
    if (!m->st)
        ok(m, nc_def_dim(m->nc, name, len, &id), "defining dimension", name);
    return id;
}

/* Opens a temporary beside path with room for bytes reserved (a full disk
 * ends here, before HDF5 writes: see sten_net_save) and the common header. */
static char *begin(mio *m, const char *kind, uint64_t bytes)
{
    char *tmp = sten__tmp_path(m->ctx, m->path);
    if (!tmp) {
        m->st = sten_ctx_error_status(m->ctx);
        return NULL;
    }
    const uint64_t need = bytes + (1 << 20);
    const int fd = open(tmp, O_WRONLY);
    const int rc = fd < 0 ? errno : posix_fallocate(fd, 0, (off_t)need);
    if (fd >= 0)
        close(fd);
    if (rc) {
        sten__abort_path(m->ctx, tmp);
        m->st = sten_fail(m->ctx, STEN_E_IO, "%s: cannot reserve %.1f MB for the model: %s", m->path, need / 1e6,
                          strerror(rc));
        return NULL;
    }
    if (!ok(m, nc_create(tmp, NC_CLOBBER | NC_NETCDF4, &m->nc), "creating", "file")) {
        sten__abort_path(m->ctx, tmp);
        return NULL;
    }
    const int fmt = BUILTIN_FORMAT;
    ok(m, nc_put_att_int(m->nc, NC_GLOBAL, "sten_format_version", NC_INT, 1, &fmt), "writing attribute",
       "sten_format_version");
    put_text(m, "sten_model_kind", kind);
    put_text(m, "sten_version", STEN_VERSION_STRING);
    return tmp;
}

static sten_status finish(mio *m, char *tmp)
{
    if (!m->st)
        ok(m, nc_close(m->nc), "closing", "file");
    else
        nc_close(m->nc);
    if (m->st) {
        sten__abort_path(m->ctx, tmp);
        return m->st;
    }
    return sten__commit_path(m->ctx, tmp, m->path);
}

static void put_data(mio *m, int id, const char *name, const float *v)
{
    if (!m->st)
        ok(m, nc_put_var_float(m->nc, id, v), "writing variable", name);
}

sten_status sten_kmeans_save(sten_ctx *ctx, const sten_kmeans *km, const char *path)
{
    mio m = {ctx, path, -1, STEN_OK};
    char *tmp = begin(&m, "kmeans", (uint64_t)km->k * km->dim * 4);
    if (!tmp)
        return m.st;
    const sten_kmeans_opts *o = &km->opts;
    char hp[1024]; /* the training settings, SageMaker's names (for the record; not read back) */
    snprintf(hp, sizeof hp,
             "{\"k\": \"%u\", \"feature_dim\": \"%u\", \"init_method\": \"%s\", \"max_iterations\": \"%u\", "
             "\"tol\": \"%g\", \"mini_batch_size\": \"%u\", \"epochs\": \"%u\", \"extra_center_factor\": \"%s%.0u\", "
             "\"half_life_time_size\": \"%u\", \"local_lloyd_max_iter\": \"%u\", \"local_lloyd_init_method\": \"%s\", "
             "\"local_lloyd_num_trials\": \"%s%.0u\", \"local_lloyd_tol\": \"%g\", \"seed\": \"%llu\"}",
             o->k, o->feature_dim, o->init ? "kmeans++" : "random", o->max_iterations, (double)o->tol,
             o->mini_batch_size, o->epochs, o->extra_center_factor ? "" : "auto", o->extra_center_factor,
             o->half_life_time_size, o->local_lloyd_max_iter, o->local_lloyd_init ? "kmeans++" : "random",
             o->local_lloyd_num_trials ? "" : "auto", o->local_lloyd_num_trials, (double)o->local_lloyd_tol,
             (unsigned long long)o->seed);
    put_text(&m, "sten_hyperparameters", hp);
    put_uint(&m, "k", km->k);
    put_uint(&m, "feature_dim", km->dim);
    const int dims[2] = {def_dim(&m, "k", km->k), def_dim(&m, "feature_dim", km->dim)};
    const int id = def_var(&m, "centers", 2, dims);
    put_data(&m, id, "centers", km->centers);
    return finish(&m, tmp);
}

sten_status sten_pca_save(sten_ctx *ctx, const sten_pca *p, const char *path)
{
    mio m = {ctx, path, -1, STEN_OK};
    char *tmp = begin(&m, "pca", ((uint64_t)p->n_comp + 2) * p->dim * 4);
    if (!tmp)
        return m.st;
    const sten_pca_opts *o = &p->opts;
    char hp[512];
    snprintf(hp, sizeof hp,
             "{\"num_components\": \"%u\", \"feature_dim\": \"%u\", \"algorithm_mode\": \"%s\", "
             "\"subtract_mean\": \"%s\", \"extra_components\": \"%d\", \"mini_batch_size\": \"%u\", "
             "\"seed\": \"%llu\"}",
             o->num_components, o->feature_dim, o->mode ? "randomized" : "regular",
             o->subtract_mean ? "true" : "false", o->extra_components, o->mini_batch_size,
             (unsigned long long)o->seed);
    put_text(&m, "sten_hyperparameters", hp);
    put_uint(&m, "num_components", p->n_comp);
    put_uint(&m, "feature_dim", p->dim);
    put_uint(&m, "subtract_mean", o->subtract_mean);
    put_uint(&m, "rows", p->rows);
    put_double(&m, "total_variance", p->total_variance);
    const int dc = def_dim(&m, "num_components", p->n_comp), dd = def_dim(&m, "feature_dim", p->dim);
    const int both[2] = {dc, dd};
    const int im = def_var(&m, "mean", 1, &dd), ic = def_var(&m, "components", 2, both);
    const int ie = def_var(&m, "eigenvalues", 1, &dc);
    put_data(&m, im, "mean", p->mean);
    put_data(&m, ic, "components", p->components);
    put_data(&m, ie, "eigenvalues", p->eigenvalues);
    return finish(&m, tmp);
}

/* ------------------------------------------------------------------- read */

static sten_status open_model(sten_ctx *ctx, const char *path, int *nc)
{
    const int rc = nc_open(path, NC_NOWRITE, nc);
    if (rc != NC_NOERR)
        return sten_fail(ctx, rc == ENOENT ? STEN_E_NOTFOUND : STEN_E_FORMAT, "%s: cannot open as a NetCDF model: %s",
                         path, nc_strerror(rc));
    return STEN_OK;
}

/* The kind attribute's text in buf ("" when there is none). */
static sten_status kind_text(mio *m, char *buf, size_t n)
{
    nc_type t;
    size_t len;
    buf[0] = '\0';
    const int rc = nc_inq_att(m->nc, NC_GLOBAL, "sten_model_kind", &t, &len);
    if (rc == NC_ENOTATT)
        return STEN_OK;
    if (!ok(m, rc, "attribute", "sten_model_kind"))
        return m->st;
    if (t != NC_CHAR || len == 0 || len >= n)
        return sten_fail(m->ctx, STEN_E_FORMAT, "%s: attribute sten_model_kind is not a kind name", m->path);
    if (!ok(m, nc_get_att_text(m->nc, NC_GLOBAL, "sten_model_kind", buf), "attribute", "sten_model_kind"))
        return m->st;
    buf[len] = '\0';
    return STEN_OK;
}

/* Whether global attribute name holds exactly one number: libnetcdf's
 * nc_get_att_<type> writes every value an attribute holds, so a file whose
 * attribute holds several would overrun the one variable read into. */
static bool one_number(const mio *m, const char *name)
{
    nc_type t;
    size_t len = 0;
    return nc_inq_att(m->nc, NC_GLOBAL, name, &t, &len) == NC_NOERR && len == 1 && t != NC_CHAR && t != NC_STRING;
}

sten_status sten_model_kind_of(sten_ctx *ctx, const char *path, sten_model_kind *out)
{
    *out = STEN_MODEL_NETWORK;
    mio m = {ctx, path, -1, STEN_OK};
    sten_status st = open_model(ctx, path, &m.nc);
    if (st)
        return st;
    char kind[32];
    st = kind_text(&m, kind, sizeof kind);
    nc_close(m.nc);
    if (st || !kind[0])
        return st;
    for (int k = 0; k < KINDS; k++)
        if (!strcmp(kind, kind_names[k])) {
            *out = (sten_model_kind)k;
            return STEN_OK;
        }
    return sten_fail(ctx, STEN_E_FORMAT, "%s: model kind \"%s\" is not one this sten reads (network, kmeans, pca, "
                     "knn, linear); upgrade sten", path, kind);
}

static uint64_t get_uint(mio *m, const char *name, uint64_t lo, uint64_t hi)
{
    nc_type t;
    size_t len;
    unsigned long long v = 0;
    if (m->st || !ok(m, nc_inq_att(m->nc, NC_GLOBAL, name, &t, &len), "attribute", name))
        return 0;
    if (len != 1 || t == NC_CHAR || t == NC_STRING || !ok(m, nc_get_att_ulonglong(m->nc, NC_GLOBAL, name, &v),
                                                          "attribute", name) || v < lo || v > hi) {
        if (!m->st)
            m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: attribute %s is not one number in %llu..%llu", m->path,
                              name, (unsigned long long)lo, (unsigned long long)hi);
        return 0;
    }
    return v;
}

/* A float variable whose dimensions are exactly want[0..nd) long. */
static void get_var(mio *m, const char *name, int nd, const size_t *want, float *dst)
{
    int id, ndims, dims[NC_MAX_VAR_DIMS];
    nc_type t;
    if (m->st || !ok(m, nc_inq_varid(m->nc, name, &id), "variable", name) ||
        !ok(m, nc_inq_var(m->nc, id, NULL, &t, &ndims, dims, NULL), "variable", name))
        return;
    bool good = t == NC_FLOAT && ndims == nd;
    for (int i = 0; good && i < nd; i++) {
        size_t len = 0;
        good = nc_inq_dimlen(m->nc, dims[i], &len) == NC_NOERR && len == want[i];
    }
    if (!good) {
        m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: variable %s is not float of the shape the header gives",
                          m->path, name);
        return;
    }
    ok(m, nc_get_var_float(m->nc, id, dst), "reading variable", name);
}

/* Opens path and checks it is a model of this kind and a format we read. */
static sten_status open_kind(mio *m, const char *want)
{
    sten_status st = open_model(m->ctx, m->path, &m->nc);
    if (st)
        return st;
    char kind[32];
    int fmt = 0;
    if ((st = kind_text(m, kind, sizeof kind))) {
        nc_close(m->nc);
        return st;
    }
    if (strcmp(kind, want)) {
        nc_close(m->nc);
        return sten_fail(m->ctx, STEN_E_FORMAT, "%s: this is a %s model, not a %s model", m->path,
                         kind[0] ? kind : "network", want);
    }
    if (!one_number(m, "sten_format_version") || nc_get_att_int(m->nc, NC_GLOBAL, "sten_format_version", &fmt) != NC_NOERR ||
        fmt > BUILTIN_FORMAT) {
        nc_close(m->nc);
        return sten_fail(m->ctx, fmt > BUILTIN_FORMAT ? STEN_E_UNSUPPORTED : STEN_E_FORMAT,
                         "%s: model format version %d is %s (this sten reads %d); %s", m->path, fmt,
                         fmt > BUILTIN_FORMAT ? "newer than this sten reads" : "missing or wrong", BUILTIN_FORMAT,
                         fmt > BUILTIN_FORMAT ? "upgrade sten" : "the file is damaged");
    }
    return STEN_OK;
}

sten_status sten_kmeans_load(sten_ctx *ctx, const char *path, sten_kmeans *out)
{
    memset(out, 0, sizeof *out);
    mio m = {ctx, path, -1, STEN_OK};
    sten_status st = open_kind(&m, "kmeans");
    if (st)
        return st;
    const uint64_t k = get_uint(&m, "k", 1, 1000000), dim = get_uint(&m, "feature_dim", 1, STEN_CSV_MAX_DIM);
    if (!m.st && k * dim > MAX_ELEMENTS)
        m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: %llu x %llu centres is more than sten reads", path,
                         (unsigned long long)k, (unsigned long long)dim);
    if (!m.st && !(out->centers = sten_alloc(ctx, k * dim * sizeof *out->centers)))
        m.st = STEN_E_NOMEM;
    const size_t shape[2] = {(size_t)k, (size_t)dim};
    get_var(&m, "centers", 2, shape, out->centers);
    for (uint64_t i = 0; !m.st && i < k * dim; i++)
        if (!isfinite(out->centers[i]))
            m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: centre %llu holds a value that is not finite", path,
                             (unsigned long long)(i / dim));
    nc_close(m.nc);
    if (m.st) {
        sten_kmeans_free(ctx, out);
        return m.st;
    }
    out->k = (uint32_t)k;
    out->dim = (uint32_t)dim;
    out->opts = sten_kmeans_defaults();
    out->opts.k = out->k;
    out->opts.feature_dim = out->dim;
    return STEN_OK;
}

sten_status sten_pca_load(sten_ctx *ctx, const char *path, sten_pca *out)
{
    memset(out, 0, sizeof *out);
    mio m = {ctx, path, -1, STEN_OK};
    sten_status st = open_kind(&m, "pca");
    if (st)
        return st;
    const uint64_t dim = get_uint(&m, "feature_dim", 1, STEN_CSV_MAX_DIM);
    const uint64_t nc = get_uint(&m, "num_components", 1, dim ? dim : 1);
    const uint64_t sub = get_uint(&m, "subtract_mean", 0, 1), rows = get_uint(&m, "rows", 1, UINT64_MAX);
    double tv = 0;
    if (!m.st && !one_number(&m, "total_variance"))
        m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: attribute total_variance is not one number", path);
    if (!m.st)
        ok(&m, nc_get_att_double(m.nc, NC_GLOBAL, "total_variance", &tv), "attribute", "total_variance");
    if (!m.st && nc * dim > MAX_ELEMENTS)
        m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: %llu x %llu components is more than sten reads", path,
                         (unsigned long long)nc, (unsigned long long)dim);
    if (!m.st && (!(out->mean = sten_alloc(ctx, dim * sizeof(float))) ||
                  !(out->components = sten_alloc(ctx, nc * dim * sizeof(float))) ||
                  !(out->eigenvalues = sten_alloc(ctx, nc * sizeof(float)))))
        m.st = STEN_E_NOMEM;
    const size_t shape[2] = {(size_t)nc, (size_t)dim};
    get_var(&m, "mean", 1, shape + 1, out->mean);
    get_var(&m, "components", 2, shape, out->components);
    get_var(&m, "eigenvalues", 1, shape, out->eigenvalues);
    for (uint64_t i = 0; !m.st && i < nc * dim + dim; i++)
        if (!isfinite(i < dim ? out->mean[i] : out->components[i - dim]))
            m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: %s holds a value that is not finite", path,
                             i < dim ? "mean" : "components");
    nc_close(m.nc);
    if (m.st) {
        sten_pca_free(ctx, out);
        return m.st;
    }
    out->dim = (uint32_t)dim;
    out->n_comp = (uint32_t)nc;
    out->rows = rows;
    out->total_variance = tv;
    out->opts = sten_pca_defaults();
    out->opts.num_components = out->n_comp;
    out->opts.feature_dim = out->dim;
    out->opts.subtract_mean = sub != 0;
    return STEN_OK;
}

/* ------------------------------------------------------------------ k-NN */

static const char *const knn_pred_names[] = {"classifier", "regressor"};
static const char *const knn_index_names[] = {"faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ"};
static const char *const knn_metric_names[] = {"L2", "INNER_PRODUCT", "COSINE"};
static const char *const knn_reduce_names[] = {"none", "sign", "fjlt"};

static int def_uvar(mio *m, const char *name, int dim)
{
    int id = -1;
    if (!m->st)
        ok(m, nc_def_var(m->nc, name, NC_UINT, 1, &dim, &id), "defining variable", name);
    return id;
}

static void put_udata(mio *m, int id, const char *name, const uint32_t *v)
{
    if (!m->st)
        ok(m, nc_put_var_uint(m->nc, id, v), "writing variable", name);
}

sten_status sten_knn_save(sten_ctx *ctx, const sten_knn *km, const char *path)
{
    mio m = {ctx, path, -1, STEN_OK};
    const uint64_t bytes = ((uint64_t)km->n * ((km->codes ? 0 : km->index_dim) + 2) +
                            (uint64_t)km->nlists * (km->index_dim + 1) +
                            (km->projection ? (uint64_t)km->index_dim * km->dim : 0) +
                            (uint64_t)km->pq_ksub * km->index_dim) * 4 + (uint64_t)km->n * km->pq_m;
    const unsigned index = km->codes ? STEN_KNN_IVFPQ : km->nlists ? STEN_KNN_IVFFLAT : STEN_KNN_FLAT;
    char *tmp = begin(&m, "knn", bytes);
    if (!tmp)
        return m.st;
    const sten_knn_opts *o = &km->opts;
    char hp[1024];
    snprintf(hp, sizeof hp,
             "{\"feature_dim\": \"%u\", \"k\": \"%u\", \"predictor_type\": \"%s\", \"sample_size\": \"%u\", "
             "\"dimension_reduction_type\": \"%s\", \"dimension_reduction_target\": \"%u\", \"index_type\": \"%s\", "
             "\"index_metric\": \"%s\", \"faiss_index_ivf_nlists\": \"%s%.0u\", \"faiss_index_pq_m\": \"%u\", "
             "\"mini_batch_size\": \"%u\", \"seed\": \"%llu\"}",
             o->feature_dim, o->k, knn_pred_names[o->predictor_type & 1], o->sample_size,
             knn_reduce_names[o->dimension_reduction_type % 3], o->dimension_reduction_target,
             knn_index_names[o->index_type % 3], knn_metric_names[o->index_metric % 3], o->ivf_nlists ? "" : "auto",
             o->ivf_nlists, km->pq_m, o->mini_batch_size, (unsigned long long)o->seed);
    put_text(&m, "sten_hyperparameters", hp);
    put_uint(&m, "k", o->k);
    put_uint(&m, "feature_dim", km->dim);
    put_uint(&m, "index_dim", km->index_dim);
    put_uint(&m, "points", km->n);
    put_uint(&m, "nlists", km->nlists);
    put_uint(&m, "train_rows", km->train_rows);
    put_text(&m, "predictor_type", knn_pred_names[o->predictor_type & 1]);
    put_text(&m, "index_type", knn_index_names[index]);
    put_text(&m, "index_metric", knn_metric_names[o->index_metric % 3]);
    put_text(&m, "dimension_reduction_type", knn_reduce_names[km->projection ? o->dimension_reduction_type % 3 : 0]);
    if (km->codes) {
        put_uint(&m, "pq_m", km->pq_m);
        put_uint(&m, "pq_ksub", km->pq_ksub);
    }
    const int dp = def_dim(&m, "point", km->n), dd = def_dim(&m, "index_dim", km->index_dim);
    const int both[2] = {dp, dd};
    const int ip = km->codes ? -1 : def_var(&m, "points", 2, both), il = def_var(&m, "labels", 1, &dp),
              ir = def_uvar(&m, "rows", dp);
    int icd = -1, ipq = -1;
    if (km->codes) {
        const int cdims[2] = {dp, def_dim(&m, "pq_m", km->pq_m)};
        const int qdims[3] = {cdims[1], def_dim(&m, "pq_ksub", km->pq_ksub),
                              def_dim(&m, "pq_sub_dim", km->index_dim / km->pq_m)};
        if (!m.st)
            ok(&m, nc_def_var(m.nc, "codes", NC_UBYTE, 2, cdims, &icd), "defining variable", "codes");
        ipq = def_var(&m, "pq_centroids", 3, qdims);
    }
    int ipr = -1, ic = -1, is = -1;
    if (km->projection) {
        const int pd[2] = {dd, def_dim(&m, "feature_dim", km->dim)};
        ipr = def_var(&m, "projection", 2, pd);
    }
    if (km->nlists) {
        const int cd[2] = {def_dim(&m, "list", km->nlists), dd};
        ic = def_var(&m, "centroids", 2, cd);
        is = def_uvar(&m, "list_start", def_dim(&m, "list_edge", (size_t)km->nlists + 1));
    }
    if (km->codes) {
        if (!m.st)
            ok(&m, nc_put_var_uchar(m.nc, icd, km->codes), "writing variable", "codes");
        put_data(&m, ipq, "pq_centroids", km->pq_centroids);
    } else {
        put_data(&m, ip, "points", km->points);
    }
    put_data(&m, il, "labels", km->labels);
    put_udata(&m, ir, "rows", km->rows);
    if (km->projection)
        put_data(&m, ipr, "projection", km->projection);
    if (km->nlists) {
        put_data(&m, ic, "centroids", km->centroids);
        put_udata(&m, is, "list_start", km->list_start);
    }
    return finish(&m, tmp);
}

/* A text attribute that must be one of names[0..count); its index. */
static unsigned get_name(mio *m, const char *att, const char *const *names, unsigned count)
{
    char buf[32] = "";
    size_t len = 0;
    nc_type t;
    if (m->st || !ok(m, nc_inq_att(m->nc, NC_GLOBAL, att, &t, &len), "attribute", att))
        return 0;
    if (t == NC_CHAR && len > 0 && len < sizeof buf &&
        ok(m, nc_get_att_text(m->nc, NC_GLOBAL, att, buf), "attribute", att))
        for (unsigned k = 0; k < count; k++)
            if (!strcmp(buf, names[k]))
                return k;
    if (!m->st)
        m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: attribute %s is not one of %s, %s%s%s", m->path, att, names[0],
                          names[1], count > 2 ? ", " : "", count > 2 ? names[2] : "");
    return 0;
}

/* A uint variable of exactly len entries. */
static void get_uvar(mio *m, const char *name, size_t want, uint32_t *dst)
{
    int id, ndims, dims[NC_MAX_VAR_DIMS];
    nc_type t;
    size_t len = 0;
    if (m->st || !ok(m, nc_inq_varid(m->nc, name, &id), "variable", name) ||
        !ok(m, nc_inq_var(m->nc, id, NULL, &t, &ndims, dims, NULL), "variable", name))
        return;
    if (t != NC_UINT || ndims != 1 || nc_inq_dimlen(m->nc, dims[0], &len) != NC_NOERR || len != want) {
        m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: variable %s is not uint of the length the header gives",
                          m->path, name);
        return;
    }
    ok(m, nc_get_var_uint(m->nc, id, dst), "reading variable", name);
}

/* A ubyte variable of rows x cols. */
static void get_ubytes(mio *m, const char *name, size_t rows, size_t cols, uint8_t *dst)
{
    int id, ndims, dims[NC_MAX_VAR_DIMS];
    nc_type t;
    size_t a = 0, b = 0;
    if (m->st || !ok(m, nc_inq_varid(m->nc, name, &id), "variable", name) ||
        !ok(m, nc_inq_var(m->nc, id, NULL, &t, &ndims, dims, NULL), "variable", name))
        return;
    if (t != NC_UBYTE || ndims != 2 || nc_inq_dimlen(m->nc, dims[0], &a) != NC_NOERR ||
        nc_inq_dimlen(m->nc, dims[1], &b) != NC_NOERR || a != rows || b != cols) {
        m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: variable %s is not ubyte of the shape the header gives",
                          m->path, name);
        return;
    }
    ok(m, nc_get_var_uchar(m->nc, id, dst), "reading variable", name);
}

static void all_finite(mio *m, const char *name, const float *v, uint64_t n)
{
    for (uint64_t i = 0; !m->st && i < n; i++)
        if (!isfinite(v[i]))
            m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: %s holds a value that is not finite", m->path, name);
}

/* The lists: start at 0, never go down, end at the points; rows rise
 * within each list and stay below train_rows. */
static void check_lists(mio *m, const sten_knn *k)
{
    const uint32_t nl = k->nlists ? k->nlists : 1;
    for (uint32_t c = 0; !m->st && c < nl; c++) {
        const uint32_t a = k->nlists ? k->list_start[c] : 0, b = k->nlists ? k->list_start[c + 1] : k->n;
        if ((c == 0 && a != 0) || b < a || b > k->n || (c == nl - 1 && b != k->n)) {
            m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: list_start is not a partition of the points", m->path);
            break;
        }
        for (uint32_t p = a; !m->st && p < b; p++)
            if (k->rows[p] >= k->train_rows || (p > a && k->rows[p] <= k->rows[p - 1]))
                m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: rows are not rising training rows", m->path);
    }
}

sten_status sten_knn_load(sten_ctx *ctx, const char *path, sten_knn *out)
{
    memset(out, 0, sizeof *out);
    mio m = {ctx, path, -1, STEN_OK};
    sten_status st = open_kind(&m, "knn");
    if (st)
        return st;
    sten_knn_opts *o = &out->opts;
    *o = sten_knn_defaults();
    const uint64_t dim = get_uint(&m, "feature_dim", 1, STEN_CSV_MAX_DIM);
    const uint64_t idim = get_uint(&m, "index_dim", 1, dim ? dim : 1);
    const uint64_t n = get_uint(&m, "points", 1, UINT32_MAX), k = get_uint(&m, "k", 1, n ? n : 1);
    const uint64_t nl = get_uint(&m, "nlists", 0, n), rows = get_uint(&m, "train_rows", n, UINT32_MAX);
    o->predictor_type = (sten_knn_predictor)get_name(&m, "predictor_type", knn_pred_names, 2);
    o->index_metric = (sten_knn_metric)get_name(&m, "index_metric", knn_metric_names, 3);
    const unsigned it = get_name(&m, "index_type", knn_index_names, 3);
    /* files before fjlt have no dimension_reduction_type: a projection there is sign's */
    int has_rt = nc_inq_att(m.nc, NC_GLOBAL, "dimension_reduction_type", NULL, NULL) == NC_NOERR;
    const unsigned rt = has_rt ? get_name(&m, "dimension_reduction_type", knn_reduce_names, 3) : 1;
    const bool pq = it == STEN_KNN_IVFPQ;
    const uint64_t pqm = pq ? get_uint(&m, "pq_m", 1, idim ? idim : 1) : 0;
    const uint64_t pqk = pq ? get_uint(&m, "pq_ksub", 1, 256) : 0;
    if (!m.st && pq && idim % pqm)
        m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: pq_m = %llu does not divide index_dim = %llu", path,
                         (unsigned long long)pqm, (unsigned long long)idim);
    if (!m.st && (it != STEN_KNN_FLAT) != (nl > 0))
        m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: index_type %s with %llu lists", path, knn_index_names[it],
                         (unsigned long long)nl);
    if (!m.st && (n * idim > MAX_ELEMENTS || idim * dim > MAX_ELEMENTS || nl * idim > MAX_ELEMENTS))
        m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: %llu points of %llu values is more than sten reads", path,
                         (unsigned long long)n, (unsigned long long)idim);
    const bool proj = idim < dim;
    if (!m.st && ((!pq && !(out->points = sten_alloc(ctx, n * idim * sizeof(float)))) ||
                  (pq && !(out->codes = sten_alloc(ctx, n * pqm))) ||
                  (pq && !(out->pq_centroids = sten_alloc(ctx, pqk * idim * sizeof(float)))) ||
                  !(out->labels = sten_alloc(ctx, n * sizeof(float))) ||
                  !(out->rows = sten_alloc(ctx, n * sizeof(uint32_t))) ||
                  (proj && !(out->projection = sten_alloc(ctx, idim * dim * sizeof(float)))) ||
                  (nl && !(out->centroids = sten_alloc(ctx, nl * idim * sizeof(float)))) ||
                  (nl && !(out->list_start = sten_alloc(ctx, (nl + 1) * sizeof(uint32_t))))))
        m.st = STEN_E_NOMEM;
    const size_t ps[2] = {(size_t)n, (size_t)idim}, pr[2] = {(size_t)idim, (size_t)dim};
    const size_t cs[2] = {(size_t)nl, (size_t)idim};
    if (pq) {
        const size_t qs[3] = {(size_t)pqm, (size_t)pqk, (size_t)(idim / (pqm ? pqm : 1))};
        get_ubytes(&m, "codes", (size_t)n, (size_t)pqm, out->codes);
        get_var(&m, "pq_centroids", 3, qs, out->pq_centroids);
    } else {
        get_var(&m, "points", 2, ps, out->points);
    }
    get_var(&m, "labels", 1, ps, out->labels);
    get_uvar(&m, "rows", (size_t)n, out->rows);
    if (proj)
        get_var(&m, "projection", 2, pr, out->projection);
    if (nl) {
        get_var(&m, "centroids", 2, cs, out->centroids);
        get_uvar(&m, "list_start", (size_t)nl + 1, out->list_start);
    }
    nc_close(m.nc);
    out->dim = (uint32_t)dim;
    out->index_dim = (uint32_t)idim;
    out->n = (uint32_t)n;
    out->nlists = (uint32_t)nl;
    out->train_rows = rows;
    out->pq_m = (uint32_t)pqm;
    out->pq_ksub = (uint32_t)pqk;
    if (pq) {
        all_finite(&m, "pq_centroids", out->pq_centroids, pqk * idim);
        for (uint64_t e = 0; !m.st && e < n * pqm; e++)
            if (out->codes[e] >= pqk)
                m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: codes name a centroid past pq_ksub = %llu", path,
                                 (unsigned long long)pqk);
    } else {
        all_finite(&m, "points", out->points, n * idim);
    }
    all_finite(&m, "labels", out->labels, n);
    if (proj)
        all_finite(&m, "projection", out->projection, idim * dim);
    if (nl)
        all_finite(&m, "centroids", out->centroids, nl * idim);
    if (!m.st)
        check_lists(&m, out);
    if (!m.st)
        m.st = sten__knn_derive(ctx, out);
    if (m.st) {
        sten_knn_free(ctx, out);
        return m.st;
    }
    o->feature_dim = out->dim;
    o->k = (uint32_t)k;
    o->sample_size = out->n;
    o->dimension_reduction_type = proj ? (rt == STEN_KNN_REDUCE_FJLT ? STEN_KNN_REDUCE_FJLT : STEN_KNN_REDUCE_SIGN)
                                       : STEN_KNN_REDUCE_NONE;
    o->dimension_reduction_target = proj ? out->index_dim : 0;
    o->index_type = (sten_knn_index)it;
    o->ivf_nlists = out->nlists;
    o->pq_m = out->pq_m;
    return STEN_OK;
}

/* -------------------------------------------------------- Linear Learner */

static const char *const ll_pred_names[] = {"binary_classifier", "regressor", "multiclass_classifier"};
static const char *const ll_loss_names[] = {"logistic", "squared_loss", "absolute_loss", "hinge_loss",
                                            "softmax_loss"};
static const sten_linear_loss ll_losses[] = {STEN_LINEAR_LOGISTIC, STEN_LINEAR_SQUARED, STEN_LINEAR_ABSOLUTE,
                                             STEN_LINEAR_HINGE, STEN_LINEAR_SOFTMAX};

sten_status sten_linear_save(sten_ctx *ctx, const sten_linear *lm, const char *path)
{
    mio m = {ctx, path, -1, STEN_OK};
    char *tmp = begin(&m, "linear", ((uint64_t)lm->dim + 1) * lm->outputs * 4);
    if (!tmp)
        return m.st;
    const sten_linear_opts *o = &lm->opts;
    unsigned li = 0;
    while (li < 4 && ll_losses[li] != o->loss)
        li++;
    char hp[1024];
    snprintf(hp, sizeof hp,
             "{\"feature_dim\": \"%u\", \"predictor_type\": \"%s\", \"num_classes\": \"%u\", \"loss\": \"%s\", "
             "\"l1\": \"%g\", \"wd\": \"%g\", \"learning_rate\": \"%g\", \"optimizer\": \"%s\", "
             "\"mini_batch_size\": \"%u\", \"epochs\": \"%u\", \"normalize_data\": \"%s\", \"num_models\": \"%u\", "
             "\"use_bias\": \"%s\", \"num_point_for_scaler\": \"%u\", \"seed\": \"%llu\"}",
             o->feature_dim, ll_pred_names[o->predictor_type % 3], o->num_classes, ll_loss_names[li], (double)o->l1,
             (double)o->wd, (double)o->learning_rate, o->optimizer == STEN_LINEAR_SGD ? "sgd" : "adam",
             o->mini_batch_size, o->epochs, o->normalize_data ? "true" : "false", o->num_models,
             o->use_bias ? "true" : "false", o->num_point_for_scaler, (unsigned long long)o->seed);
    put_text(&m, "sten_hyperparameters", hp);
    put_uint(&m, "feature_dim", lm->dim);
    put_uint(&m, "outputs", lm->outputs);
    put_text(&m, "predictor_type", ll_pred_names[o->predictor_type % 3]);
    put_text(&m, "loss", ll_loss_names[li]);
    put_double(&m, "threshold", lm->threshold);
    put_double(&m, "beta", o->beta);
    put_double(&m, "margin", o->margin);
    const int dd = def_dim(&m, "feature_dim", lm->dim), dc = def_dim(&m, "outputs", lm->outputs);
    const int both[2] = {dd, dc};
    const int iw = def_var(&m, "weights", 2, both), ib = def_var(&m, "bias", 1, &dc);
    put_data(&m, iw, "weights", lm->weights);
    put_data(&m, ib, "bias", lm->bias);
    return finish(&m, tmp);
}

static double get_double(mio *m, const char *name)
{
    double v = 0;
    if (!m->st && !one_number(m, name))
        m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: attribute %s is not one number", m->path, name);
    if (!m->st && ok(m, nc_get_att_double(m->nc, NC_GLOBAL, name, &v), "attribute", name) && !isfinite(v))
        m->st = sten_fail(m->ctx, STEN_E_FORMAT, "%s: attribute %s is not finite", m->path, name);
    return v;
}

sten_status sten_linear_load(sten_ctx *ctx, const char *path, sten_linear *out)
{
    memset(out, 0, sizeof *out);
    mio m = {ctx, path, -1, STEN_OK};
    sten_status st = open_kind(&m, "linear");
    if (st)
        return st;
    sten_linear_opts *o = &out->opts;
    *o = sten_linear_defaults();
    const uint64_t dim = get_uint(&m, "feature_dim", 1, 100000000); /* sparse rows: hashed features */
    const uint64_t nout = get_uint(&m, "outputs", 1, 1000000);
    o->predictor_type = (sten_linear_predictor)get_name(&m, "predictor_type", ll_pred_names, 3);
    const unsigned li = get_name(&m, "loss", ll_loss_names, 5);
    o->loss = ll_losses[li];
    out->threshold = (float)get_double(&m, "threshold");
    o->beta = (float)get_double(&m, "beta");
    o->margin = (float)get_double(&m, "margin");
    char msg[300];
    sten_status code;
    if (!m.st && ((o->predictor_type == STEN_LINEAR_MULTICLASS) != (nout >= 3) ||
                  (o->predictor_type != STEN_LINEAR_MULTICLASS && nout != 1) ||
                  sten__linear_loss_problem(o, &code, msg, sizeof msg)))
        m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: %s with %llu outputs and loss %s do not go together", path,
                         ll_pred_names[o->predictor_type], (unsigned long long)nout, ll_loss_names[li]);
    if (!m.st && dim * nout > MAX_ELEMENTS)
        m.st = sten_fail(ctx, STEN_E_FORMAT, "%s: %llu x %llu weights is more than sten reads", path,
                         (unsigned long long)dim, (unsigned long long)nout);
    if (!m.st && (!(out->weights = sten_alloc(ctx, dim * nout * sizeof(float))) ||
                  !(out->bias = sten_alloc(ctx, nout * sizeof(float)))))
        m.st = STEN_E_NOMEM;
    const size_t shape[2] = {(size_t)dim, (size_t)nout};
    get_var(&m, "weights", 2, shape, out->weights);
    get_var(&m, "bias", 1, shape + 1, out->bias);
    nc_close(m.nc);
    all_finite(&m, "weights", out->weights, dim * nout);
    all_finite(&m, "bias", out->bias, nout);
    if (m.st) {
        sten_linear_free(ctx, out);
        return m.st;
    }
    out->dim = (uint32_t)dim;
    out->outputs = (uint32_t)nout;
    o->feature_dim = out->dim;
    o->num_classes = o->predictor_type == STEN_LINEAR_MULTICLASS ? out->outputs : 0;
    return STEN_OK;
}
