/* model.c — network model files in DSSTNE's NetCDF schema (global
 * attributes, layer<i>_* and weight<i>_* attributes, input-major
 * weight<i>_weights and weight<i>_bias variables), plus sten's additions
 * (format version, training settings, optimizer state for --resume, the
 * index fingerprints of the data) in sten_* attributes and variables.
 * Written atomically. */
#include "core/file_int.h"
#include "io/io_int.h"
#include "net_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netcdf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEN_MODEL_FORMAT 1 /* sten_format_version written; newer is refused */

typedef enum { A_F32, A_U32, A_ENUM, A_BOOL, A_STR, A_U64 } att_type;

typedef struct {
    const char *name;
    att_type type;
    size_t off;
} att_desc;

#define NET(f, t, n) {n, t, offsetof(sten_net_desc, f)}
#define LAY(f, t, n) {n, t, offsetof(sten_layer_desc, f)}
#define TRN(f, t, n) {n, t, offsetof(sten_net_desc, training) + offsetof(sten_train_desc, f)}

/* Global attributes that map to description fields, read and written. */
static const att_desc net_atts[] = {
    NET(version, A_F32, "version"),
    NET(name, A_STR, "name"),
    NET(autoencoder, A_BOOL, "kind"),
    NET(loss, A_ENUM, "errorFunction"),
    NET(decay, A_F32, "decay"),
    NET(sparseness_p, A_F32, "sparsenessPenalty_p"),
    NET(sparseness_beta, A_F32, "sparsenessPenalty_beta"),
    NET(denoising_p, A_F32, "denoising_p"),
    NET(delta_boost_one, A_F32, "deltaBoost_one"),
    NET(delta_boost_zero, A_F32, "deltaBoost_zero"),
    NET(smce_one_scale, A_F32, "SMCE_oneScale"),
    NET(smce_zero_scale, A_F32, "SMCE_zeroScale"),
    NET(smce_one_target, A_F32, "SMCE_oneTarget"),
    NET(smce_zero_target, A_F32, "SMCE_zeroTarget"),
    NET(shuffle_indices, A_BOOL, "ShuffleIndices"),
    NET(relu_slope, A_F32, "sten_RELUSlope"),
    NET(elu_alpha, A_F32, "sten_ELUAlpha"),
    NET(selu_lambda, A_F32, "sten_SELULambda"),
    TRN(optimizer, A_ENUM, "sten_optimizer"),
    TRN(alpha, A_F32, "sten_alpha"),
    TRN(lambda, A_F32, "sten_lambda"),
    TRN(lambda1, A_F32, "sten_lambda1"),
    TRN(mu, A_F32, "sten_mu"),
    TRN(mu1, A_F32, "sten_mu1"),
    TRN(epochs, A_U32, "sten_epochs"),
    TRN(batch_size, A_U32, "sten_batch_size"),
    TRN(seed, A_U64, "sten_seed"),
    TRN(schedule, A_ENUM, "sten_schedule"),
    TRN(schedule_interval, A_U32, "sten_schedule_interval"),
    TRN(schedule_multiplier, A_F32, "sten_schedule_multiplier"),
    TRN(checkpoint_interval, A_U32, "sten_checkpoint_interval"),
    TRN(eps, A_F32, "sten_eps"),
    TRN(rescale_grad, A_F32, "sten_rescale_grad"),
};

/* Per-layer attributes (prefix layer<i>_). */
static const att_desc layer_atts[] = {
    LAY(name, A_STR, "name"),
    LAY(kind, A_ENUM, "kind"),
    LAY(type, A_ENUM, "type"),
    LAY(dataset, A_STR, "dataSet"),
    LAY(N, A_U32, "Nx"),
    LAY(p_dropout, A_F32, "pDropout"),
    LAY(init, A_ENUM, "weightInit"),
    LAY(init_scale, A_F32, "weightInitScale"),
    LAY(init_bias, A_F32, "biasInit"),
    LAY(weight_norm, A_F32, "weightNorm"),
    LAY(delta_norm, A_F32, "deltaNorm"),
    LAY(activation, A_ENUM, "activation"),
    LAY(sparseness_p, A_F32, "sparsenessPenalty_p"),
    LAY(sparseness_beta, A_F32, "sparsenessPenalty_beta"),
    LAY(relu_slope, A_F32, "RELUSlope"),
    LAY(elu_alpha, A_F32, "ELUAlpha"),
    LAY(selu_lambda, A_F32, "SELULambda"),
};

/* Attributes DSSTNE's loader requires that sten has no use for: written
 * with DSSTNE's values so DSSTNE can read sten's models. */
static const struct {
    const char *name;
    nc_type type;
    double value;
} dsstne_consts[] = {
    {"maxout_k", NC_INT, 2},    {"LRN_k", NC_FLOAT, 2},       {"LRN_n", NC_INT, 5},
    {"LRN_alpha", NC_FLOAT, 1e-4}, {"LRN_beta", NC_FLOAT, 0.75}, {"checkpoint_interval", NC_INT, 0},
    {"checkpoint_epochs", NC_INT, 0},
};
static const char *const layer_consts[] = {
    "poolingfunction", "Ny", "Nz", "Nw", "dimensions", "kernelX", "kernelY", "kernelZ",
    "kernelDimensions", "kernelStrideX", "kernelStrideY", "kernelStrideZ",
};

typedef struct {
    sten_ctx *ctx;
    const char *path;
    int nc;
    int err;        /* first netCDF error */
    bool dry;       /* only count the variables' bytes: nothing is written */
    uint64_t bytes; /* ... counted here, with the number of variables */
    uint64_t vars;
    float *blk;     /* a model-parallel shard's save: room for another member's block */
} ncio;

/* Records the first netCDF failure with the file and what was being done. */
static int nc_ok(ncio *io, int rc, const char *what, const char *name)
{
    if (rc == NC_NOERR || io->dry)
        return 1;
    if (!io->err) {
        io->err = rc;
        sten_fail(io->ctx, rc == NC_ENOTATT || rc == NC_ENOTVAR ? STEN_E_FORMAT : STEN_E_IO,
                  "%s: %s %s: %s", io->path, what, name, nc_strerror(rc));
    }
    return 0;
}

static void put_att(ncio *io, const char *name, att_type t, const void *p)
{
    unsigned u;
    int rc;
    switch (t) {
    case A_F32:
        rc = nc_put_att_float(io->nc, NC_GLOBAL, name, NC_FLOAT, 1, p);
        break;
    case A_STR:
        rc = nc_put_att_text(io->nc, NC_GLOBAL, name, strlen(p), p);
        break;
    case A_U64:
        rc = nc_put_att_ulonglong(io->nc, NC_GLOBAL, name, NC_UINT64, 1, p);
        break;
    default:
        u = t == A_BOOL ? *(const bool *)p : t == A_ENUM ? (unsigned)*(const int *)p : *(const uint32_t *)p;
        rc = nc_put_att_uint(io->nc, NC_GLOBAL, name, NC_UINT, 1, &u);
    }
    nc_ok(io, rc, "writing attribute", name);
}

static void put_str(ncio *io, const char *name, const char *s)
{
    put_att(io, name, A_STR, s);
}

static void put_u32(ncio *io, const char *name, uint32_t v)
{
    put_att(io, name, A_U32, &v);
}

static void put_table(ncio *io, const att_desc *t, size_t n, const void *base, const char *prefix)
{
    char name[160];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, t[i].name);
        put_att(io, name, t[i].type, (const char *)base + t[i].off);
    }
}

static void put_var(ncio *io, const char *name, const char *dim, size_t len, const float *data)
{
    int d, v;
    char dname[160];
    if (io->dry) {
        io->bytes += (uint64_t)len * sizeof *data;
        io->vars++;
        return;
    }
    snprintf(dname, sizeof dname, "%s", dim);
    if (!nc_ok(io, nc_def_dim(io->nc, dname, len ? len : 1, &d), "defining dimension", dname) ||
        !nc_ok(io, nc_def_var(io->nc, name, NC_FLOAT, 1, &d, &v), "defining variable", name))
        return;
    if (len)
        nc_ok(io, nc_put_var_float(io->nc, v, data), "writing variable", name);
}

/* The layer's index fingerprint (sten's addition; a layer without one has
 * no such attributes): layer<i>_sten_featureEntries and
 * layer<i>_sten_featureFingerprint. */
static void fingerprint_names(const char *p, char *entries, char *hash, size_t cap)
{
    snprintf(entries, cap, "%ssten_featureEntries", p);
    snprintf(hash, cap, "%ssten_featureFingerprint", p);
}

static void write_layer(ncio *io, const sten_net *net, uint32_t i)
{
    const nn_layer *L = &net->layers[i];
    sten_layer_desc d = *L->d;
    char p[64], name[160];
    snprintf(p, sizeof p, "layer%u_", i);
    d.N = L->sharded ? L->N_full : L->N; /* resolved: "auto" became the dataset width (all of it) */
    d.relu_slope = L->ap.slope;
    d.elu_alpha = L->ap.alpha;
    d.selu_lambda = L->ap.lambda;
    put_table(io, layer_atts, sizeof layer_atts / sizeof layer_atts[0], &d, p);
    /* the settings of the layer's own type */
    for (size_t k = 0; k < L->ops->n_settings; k++) {
        const nn_setting *t = &L->ops->settings[k];
        if (!t->attr)
            continue;
        const float v = isnan(d.setting[t->index]) ? t->def : d.setting[t->index];
        const uint32_t u = (uint32_t)v;
        snprintf(name, sizeof name, "%s%s", p, t->attr);
        put_att(io, name, t->whole ? A_U32 : A_F32, t->whole ? (const void *)&u : (const void *)&v);
    }
    for (size_t k = 0; k < sizeof layer_consts / sizeof layer_consts[0]; k++) {
        snprintf(name, sizeof name, "%s%s", p, layer_consts[k]);
        put_u32(io, name, strcmp(layer_consts[k], "poolingfunction") ? 1 : 0);
    }
    static const char *const pad[] = {"kernelPaddingX", "kernelPaddingY", "kernelPaddingZ"};
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "%s%s", p, pad[k]);
        put_u32(io, name, 0);
    }
    char hash[160];
    fingerprint_names(p, name, hash, sizeof name);
    if (!io->dry && !io->err && sten__nc_put_fingerprint(io->ctx, io->nc, io->path, name, hash, d.features))
        io->err = NC_EINVAL;
    snprintf(name, sizeof name, "%sattributes", p);
    put_u32(io, name, (d.sparse ? 1u : 0u) | (L->denoise ? 2u : 0u));
    snprintf(name, sizeof name, "%ssources", p);
    put_u32(io, name, L->n_src);
    for (uint32_t k = 0; k < L->n_src; k++) {
        snprintf(name, sizeof name, "%ssource%u", p, k);
        put_str(io, name, net->layers[L->src[k]].d->name);
    }
    snprintf(name, sizeof name, "%sskips", p);
    put_u32(io, name, L->n_skip);
    for (uint32_t k = 0; k < L->n_skip; k++) {
        snprintf(name, sizeof name, "%sskip%u", p, k);
        put_str(io, name, net->layers[L->skip[k]].d->name);
    }
}

/* Connection k's attributes (DSSTNE's schema); its values are parameters. */
static void write_weight(ncio *io, const sten_net *net, uint32_t k)
{
    const nn_weight *w = &net->weights[k];
    const nn_layer *S = &net->layers[w->src], *L = &net->layers[w->dst];
    char p[64], name[160];
    snprintf(p, sizeof p, "weight%u_", k);
    snprintf(name, sizeof name, "%sinputLayer", p);
    put_str(io, name, S->d->name);
    snprintf(name, sizeof name, "%soutputLayer", p);
    put_str(io, name, L->d->name);
    const unsigned long long shape[5] = {L->sharded ? L->N_full : L->N, S->sharded ? S->N_full : S->N, 1, 1, 1};
    static const char *const sn[5] = {"width", "height", "length", "depth", "breadth"};
    for (int s = 0; s < 5; s++) {
        snprintf(name, sizeof name, "%s%s", p, sn[s]);
        put_att(io, name, A_U64, &shape[s]);
    }
    const bool shared = w->owner != (int)k;
    snprintf(name, sizeof name, "%sbShared", p);
    put_u32(io, name, shared);
    snprintf(name, sizeof name, "%sbLocked", p);
    put_u32(io, name, 0);
    snprintf(name, sizeof name, "%snorm", p);
    put_att(io, name, A_F32, &L->d->weight_norm);
    if (shared) {
        const nn_weight *o = &net->weights[w->owner];
        snprintf(name, sizeof name, "%sbTransposed", p);
        put_u32(io, name, w->transposed);
        snprintf(name, sizeof name, "%ssourceInputLayer", p);
        put_str(io, name, net->layers[o->src].d->name);
        snprintf(name, sizeof name, "%ssourceOutputLayer", p);
        put_str(io, name, net->layers[o->dst].d->name);
    }
}

/* A parameter's values are "<ns><var>" (s = 0), its optimizer state
 * "<ns><state>s1" and "s2" (s = 1, 2; for --resume), ns naming its
 * connection ("weight<k>_") or its layer ("layer<i>_"). */
static void param_var(char *out, size_t cap, const char *ns, const nn_param *q, int s)
{
    snprintf(out, cap, "%s%s%s", ns, s ? q->state : q->var, s == 1 ? "s1" : s == 2 ? "s2" : "");
}

/* A model-parallel shard's parameter, written whole by rank 0 one member's
 * block at a time (its own, then each other's as it arrives). */
static void put_sharded(ncio *io, const sten_net *net, uint32_t i, int a, const char *name, const char *dim)
{
    const nn_param *p = &net->params[i];
    const uint64_t len = sten__shard_full_len(net, p, a);
    if (io->dry) {
        io->bytes += len * sizeof(float);
        io->vars++;
        return;
    }
    int d, v = -1;
    char dname[160];
    snprintf(dname, sizeof dname, "%s", dim);
    if (!io->err && nc_ok(io, nc_def_dim(io->nc, dname, (size_t)len, &d), "defining dimension", dname))
        nc_ok(io, nc_def_var(io->nc, name, NC_FLOAT, 1, &d, &v), "defining variable", name);
    const uint32_t ld = p->matrix ? net->weights[p->conn].full_cols : 0;
    const float *own = a == 0 ? p->w : a == 1 ? p->s1 : p->s2;
    for (int m = 0; m < net->comm->size; m++) { /* every piece fetched, even after a failure */
        uint32_t r0, nr, c0, nc;
        sten__shard_block(net, p, a, m, &r0, &nr, &c0, &nc);
        const uint32_t per = m ? sten__shard_piece_rows(nc) : nr; /* another's block: in pieces of rows */
        for (uint32_t q = 0; q < nr; q += per) {
            const uint32_t k = STEN__MIN(per, nr - q);
            const float *blk = own + (uint64_t)q * nc;
            if (m > 0) {
                if (sten__shard_fetch(net, i, a, m, q, k, io->blk) && !io->err) {
                    io->err = NC_EINVAL;
                    sten_fail(io->ctx, STEN_E_IO, "%s: receiving rank %d's part of %s failed", io->path, m, name);
                }
                blk = io->blk;
            }
            const bool run = !p->matrix || nc == ld; /* the piece is one contiguous run */
            for (uint32_t r = 0; !io->err && r < (run ? 1 : k); r++) {
                const size_t start = p->matrix ? (size_t)(r0 + q + r) * ld + c0 : (size_t)(r0 + q) * nc + c0;
                const size_t count = run ? (size_t)k * nc : nc;
                nc_ok(io, nc_put_vara_float(io->nc, v, &start, &count, blk + (uint64_t)r * nc),
                      "writing variable", name);
            }
        }
    }
}

static void write_param(ncio *io, const sten_net *net, uint32_t pi)
{
    const nn_param *q = &net->params[pi];
    const bool sharded = sten__param_sharded(net, pi);
    char ns[64], name[160], dim[160];
    if (q->conn >= 0)
        snprintf(ns, sizeof ns, "weight%d_", q->conn);
    else
        snprintf(ns, sizeof ns, "layer%u_", q->layer);
    const float *v[3] = {q->w, q->s1, q->s2};
    for (int s = 0; s < 3; s++) {
        if (sharded ? !sten__param_has(net, q, s) : !v[s]) /* another member's table: still written */
            continue;
        param_var(name, sizeof name, ns, q, s);
        /* DSSTNE's dimension names for its own two variables */
        if (s == 0 && !strcmp(q->var, "weights"))
            snprintf(dim, sizeof dim, "%sweightDim", ns);
        else
            snprintf(dim, sizeof dim, "%.150sDim", name);
        if (sharded)
            put_sharded(io, net, pi, s, name, dim);
        else
            put_var(io, name, dim, (size_t)(s ? q->s_n : q->n), v[s]);
    }
}

/* Everything the model file holds, through io (dry: only counted). */
static void write_model(ncio *io, const sten_net *net)
{
    put_table(io, net_atts, sizeof net_atts / sizeof net_atts[0], &net->desc, "");
    for (size_t i = 0; i < sizeof dsstne_consts / sizeof dsstne_consts[0]; i++) {
        const float f = (float)dsstne_consts[i].value;
        const int n = (int)dsstne_consts[i].value;
        nc_ok(io, dsstne_consts[i].type == NC_INT
                       ? nc_put_att_int(io->nc, NC_GLOBAL, dsstne_consts[i].name, NC_INT, 1, &n)
                       : nc_put_att_float(io->nc, NC_GLOBAL, dsstne_consts[i].name, NC_FLOAT, 1, &f),
              "writing attribute", dsstne_consts[i].name);
    }
    put_u32(io, "bSparsenessPenalty", net->desc.sparseness_beta > 0);
    put_u32(io, "bDenoising", net->desc.denoising_p > 0);
    put_str(io, "checkpoint_name", "");
    put_u32(io, "layers", net->n_layers);
    put_u32(io, "weights", net->n_weights);
    const int fmt = STEN_MODEL_FORMAT;
    nc_ok(io, nc_put_att_int(io->nc, NC_GLOBAL, "sten_format_version", NC_INT, 1, &fmt),
          "writing attribute", "sten_format_version");
    put_u32(io, "sten_epoch", net->epoch);
    put_att(io, "sten_step", A_U64, &net->step);
    for (uint32_t i = 0; i < net->n_layers; i++)
        write_layer(io, net, i);
    for (uint32_t k = 0; k < net->n_weights; k++)
        write_weight(io, net, k);
    for (uint32_t i = 0; i < net->n_params; i++)
        write_param(io, net, i);
}

/* HDF5 writing a file on a disk that fills up cannot be closed cleanly: its
 * close fails, libnetcdf's report of the objects still open crashes inside
 * HDF5, and so would HDF5's exit handler. So the space is checked first:
 * a dry pass counts the bytes, and the temporary file is allocated that
 * large (plus a margin for HDF5's own structures) before HDF5 writes it; a
 * disk, quota or file size limit that cannot hold the model ends there,
 * with a clean error. HDF5 truncates the file when it creates it, so this
 * narrows the window rather than closing it: another writer filling the
 * disk in between can still end in HDF5's crash (never a half-written file
 * under the real name: the temporary is renamed only after a clean close).
 * The model cannot be built in memory and copied instead: netCDF's
 * in-memory files lack the creation order it needs to open them for
 * writing again. */
/* Every member's verdict (a model-parallel save): STEN_OK only if all are. */
static sten_status group_verdict(sten_ctx *ctx, const sten_net *net, sten_status st, const char *path)
{
    char msg[4200];
    if (!net->comm)
        return st;
    snprintf(msg, sizeof msg, "%s: another rank failed while the model was saved", path);
    return sten__group_verdict(ctx, net->comm, st, msg);
}

/* A model-parallel shard's save is collective: rank 0 writes the whole
 * model, fetching each other member's blocks as it writes them (it never
 * holds more than its own shard and one other block); the others send. */
sten_status sten_net_save(sten_ctx *ctx, const sten_net *net, const char *path)
{
    const bool root = !net->comm || net->comm->rank == 0;
    ncio io = {ctx, path, -1, 0, false, 0, 0, NULL};
    char *tmp = NULL;
    sten_status st = STEN_OK;
    if (root) {
        ncio dry = {.ctx = ctx, .path = path, .nc = -1, .dry = true};
        write_model(&dry, net);
        const uint64_t need = dry.bytes + dry.bytes / 32 + (dry.vars + net->n_layers + 16) * 8192 + (1 << 20);
        uint64_t blk = 0; /* the largest block another member sends */
        for (uint32_t i = 0; net->comm && i < net->n_params; i++)
            for (int m = 1; m < net->comm->size && sten__param_sharded(net, i); m++) {
                uint32_t r0, nr, c0, nc;
                sten__shard_block(net, &net->params[i], 0, m, &r0, &nr, &c0, &nc);
                blk = STEN__MAX(blk, (uint64_t)STEN__MIN(nr, sten__shard_piece_rows(nc)) * nc);
            }
        if (blk && !(io.blk = sten_alloc(ctx, (size_t)blk * sizeof(float))))
            st = STEN_E_NOMEM;
        if (!st && !(tmp = sten__tmp_path(ctx, path)))
            st = sten_ctx_error_status(ctx);
        const int fd = st ? -1 : open(tmp, O_WRONLY);
        const int rc = st ? 0 : fd < 0 ? errno : posix_fallocate(fd, 0, (off_t)need);
        if (fd >= 0)
            close(fd);
        if (rc)
            st = sten_fail(ctx, STEN_E_IO, "%s: cannot reserve %.1f MB for the model: %s", path, need / 1e6,
                           strerror(rc));
        if (!st && !nc_ok(&io, nc_create(tmp, NC_CLOBBER | NC_NETCDF4, &io.nc), "creating", "file"))
            st = sten_ctx_error_status(ctx);
    }
    if ((st = group_verdict(ctx, net, st, path))) { /* rank 0 could not start: nobody sends */
        if (tmp)
            sten__abort_path(ctx, tmp);
        sten_free(ctx, io.blk);
        return st;
    }
    if (root) {
        write_model(&io, net);
        if (!io.err)
            nc_ok(&io, nc_close(io.nc), "closing", "file");
        else
            nc_close(io.nc);
        if (io.err) {
            sten__abort_path(ctx, tmp);
            st = sten_ctx_error_status(ctx);
        } else {
            st = sten__commit_path(ctx, tmp, path);
        }
    } else {
        st = sten__shard_send(net);
    }
    sten_free(ctx, io.blk);
    return group_verdict(ctx, net, st, path);
}

/* ------------------------------------------------------------------ read */

static int get_att(ncio *io, const char *name, att_type t, void *p, bool required)
{
    nc_type type;
    size_t len;
    int rc = nc_inq_att(io->nc, NC_GLOBAL, name, &type, &len);
    if (rc == NC_ENOTATT && !required)
        return 0;
    if (!nc_ok(io, rc, "attribute", name))
        return -1;
    /* libnetcdf writes all of an attribute's values: a number must be one */
    if (t != A_STR && (len != 1 || type == NC_CHAR || type == NC_STRING)) {
        sten_fail(io->ctx, STEN_E_FORMAT, "%s: attribute %s must be one number", io->path, name);
        io->err = NC_EBADTYPE;
        return -1;
    }
    switch (t) {
    case A_F32:
        rc = nc_get_att_float(io->nc, NC_GLOBAL, name, p);
        break;
    case A_U64:
        rc = nc_get_att_ulonglong(io->nc, NC_GLOBAL, name, p);
        break;
    case A_STR: {
        if (type != NC_CHAR || len >= STEN_NAME_MAX) {
            sten_fail(io->ctx, STEN_E_FORMAT, "%s: attribute %s must be text shorter than %d", io->path,
                      name, STEN_NAME_MAX);
            io->err = NC_EBADTYPE;
            return -1;
        }
        char *s = p;
        rc = nc_get_att_text(io->nc, NC_GLOBAL, name, s);
        s[len] = '\0';
        break;
    }
    default: {
        unsigned u = 0;
        rc = nc_get_att_uint(io->nc, NC_GLOBAL, name, &u);
        if (t == A_BOOL)
            *(bool *)p = u != 0;
        else if (t == A_ENUM)
            *(int *)p = (int)u;
        else
            *(uint32_t *)p = u;
    }
    }
    return nc_ok(io, rc, "reading attribute", name) ? 1 : -1;
}

static int get_table(ncio *io, const att_desc *t, size_t n, void *base, const char *prefix,
                     bool required)
{
    char name[160];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, t[i].name);
        /* sten's own additions are optional: DSSTNE files lack them */
        const bool req = required && strncmp(t[i].name, "sten_", 5) != 0;
        if (get_att(io, name, t[i].type, (char *)base + t[i].off, req) < 0)
            return -1;
    }
    return 0;
}

static int get_var(ncio *io, const char *name, float *dst, size_t want, bool required)
{
    int v, d, nd;
    size_t len;
    int rc = nc_inq_varid(io->nc, name, &v);
    if (rc == NC_ENOTVAR && !required)
        return 0;
    if (!nc_ok(io, rc, "variable", name) || !nc_ok(io, nc_inq_varndims(io->nc, v, &nd), "variable", name))
        return -1;
    if (nd != 1) { /* one dimension id fits d; the values are read whole */
        sten_fail(io->ctx, STEN_E_FORMAT, "%s: variable %s has %d dimensions, expected 1", io->path, name, nd);
        io->err = NC_EEDGE;
        return -1;
    }
    if (!nc_ok(io, nc_inq_vardimid(io->nc, v, &d), "variable", name) ||
        !nc_ok(io, nc_inq_dimlen(io->nc, d, &len), "variable", name))
        return -1;
    if (len != want) {
        sten_fail(io->ctx, STEN_E_FORMAT, "%s: variable %s has %zu values, the network needs %zu",
                  io->path, name, len, want);
        io->err = NC_EEDGE;
        return -1;
    }
    return nc_ok(io, nc_get_var_float(io->nc, v, dst), "reading variable", name) ? 1 : -1;
}

/* "<p><what>s" = n (at most max), then the layer names "<p><what>0" ..
 * "<p><what>{n-1}", each handed to take(l, name). */
static int read_names(ncio *io, const char *p, const char *what, uint32_t max, sten_layer_desc *l,
                      sten_status (*take)(sten_ctx *ctx, sten_layer_desc *l, const char *name))
{
    char name[160], value[STEN_NAME_MAX];
    uint32_t n = 0;
    snprintf(name, sizeof name, "%s%ss", p, what);
    if (get_att(io, name, A_U32, &n, false) < 0)
        return -1;
    if (n > max) {
        sten_fail(io->ctx, STEN_E_FORMAT, "%s: %s = %u (at most %u)", io->path, name, n, max);
        return -1;
    }
    for (uint32_t k = 0; k < n; k++) {
        snprintf(name, sizeof name, "%s%s%u", p, what, k);
        if (get_att(io, name, A_STR, value, true) < 0)
            return -1;
        if (!value[0]) { /* before take(), whose message would not name the file */
            sten_fail(io->ctx, STEN_E_FORMAT, "%s: attribute %s is empty (expected a layer name)", io->path,
                      name);
            return -1;
        }
        if (take(io->ctx, l, value))
            return -1;
    }
    return 0;
}

static sten_status take_skip(sten_ctx *ctx, sten_layer_desc *l, const char *name)
{
    (void)ctx;
    snprintf(l->skips[l->n_skips++], STEN_NAME_MAX, "%s", name);
    return STEN_OK;
}

static int read_layers(ncio *io, sten_net_desc *d)
{
    char p[64], name[160];
    for (uint32_t i = 0; i < d->n_layers; i++) {
        sten_layer_desc *l = &d->layers[i];
        memset(l, 0, sizeof *l);
        for (int g = 0; g < STEN_LAYER_SETTINGS; g++)
            l->setting[g] = NAN;
        snprintf(p, sizeof p, "layer%u_", i);
        if (get_table(io, layer_atts, sizeof layer_atts / sizeof layer_atts[0], l, p, true) < 0)
            return -1;
        if (l->N == 0) { /* a config's N is at least 1; a layer of no units leaves nothing to compute */
            sten_fail(io->ctx, STEN_E_FORMAT, "%s: layer%u (%s) has Nx = 0 units", io->path, i, l->name);
            return -1;
        }
        char entries[160], hash[160];
        fingerprint_names(p, entries, hash, sizeof entries);
        if (sten__nc_get_fingerprint(io->ctx, io->nc, io->path, entries, hash, &l->features))
            return -1;
        const nn_layer_ops *ops = sten__layer_ops(l->type);
        if (!ops) {
            sten_fail(io->ctx, STEN_E_UNSUPPORTED, "%s: layer%u has type %d, not one this sten has "
                      "(a newer sten's model?)", io->path, i, (int)l->type);
            return -1;
        }
        for (size_t k = 0; k < ops->n_settings; k++) {
            const nn_setting *t = &ops->settings[k];
            if (!t->attr)
                continue;
            snprintf(name, sizeof name, "%s%s", p, t->attr);
            uint32_t u;
            float f;
            const int got = get_att(io, name, t->whole ? A_U32 : A_F32, t->whole ? (void *)&u : (void *)&f, false);
            if (got < 0)
                return -1;
            const double v = t->whole ? (double)u : (double)f;
            if (got > 0 && !isnan(v) && (!(v >= t->lo && v <= t->hi) || (t->whole && v != floor(v)))) {
                sten_fail(io->ctx, STEN_E_FORMAT, "%s: attribute %s = %g is outside [%g, %g]", io->path, name,
                          v, t->lo, t->hi);
                return -1;
            }
            if (got > 0)
                l->setting[t->index] = (float)v;
        }
        uint32_t attrs = 0;
        snprintf(name, sizeof name, "%sattributes", p);
        if (get_att(io, name, A_U32, &attrs, true) < 0)
            return -1;
        l->sparse = attrs & 1u;
        if (read_names(io, p, "source", STEN_MAX_SOURCES, l, sten_layer_desc_add_source) < 0 ||
            read_names(io, p, "skip", STEN_MAX_SKIPS, l, take_skip) < 0)
            return -1;
        l->N_auto = false;
        l->line = l->column = 0;
        /* what the config parser checks of a layer, for one read from a file */
        char why[200];
        if (ops->check && !ops->check(l, why, sizeof why)) {
            sten_fail(io->ctx, STEN_E_FORMAT, "%s: layer%u: %s", io->path, i, why);
            return -1;
        }
    }
    return 0;
}

/* Shared weights are recorded on the weights; the description wants them on
 * the layer that uses them. */
static int read_shared(ncio *io, sten_net_desc *d, uint32_t n_weights)
{
    char p[64], name[160], in[STEN_NAME_MAX], out[STEN_NAME_MAX];
    for (uint32_t k = 0; k < n_weights; k++) {
        uint32_t shared = 0;
        snprintf(p, sizeof p, "weight%u_", k);
        snprintf(name, sizeof name, "%sbShared", p);
        if (get_att(io, name, A_U32, &shared, true) < 0)
            return -1;
        if (!shared)
            continue;
        snprintf(name, sizeof name, "%sinputLayer", p);
        if (get_att(io, name, A_STR, in, true) < 0)
            return -1;
        snprintf(name, sizeof name, "%soutputLayer", p);
        if (get_att(io, name, A_STR, out, true) < 0)
            return -1;
        sten_layer_desc *l = NULL;
        for (uint32_t i = 0; i < d->n_layers; i++)
            if (!strcmp(d->layers[i].name, out))
                l = &d->layers[i];
        if (!l || l->n_shared == STEN_MAX_SHARED) {
            sten_fail(io->ctx, STEN_E_FORMAT, "%s: weight%u shares into unknown layer \"%s\"",
                      io->path, k, out);
            return -1;
        }
        sten_shared_desc *s = &l->shared[l->n_shared++];
        snprintf(s->input_layer, sizeof s->input_layer, "%s", in);
        uint32_t tr = 0;
        snprintf(name, sizeof name, "%sbTransposed", p);
        if (get_att(io, name, A_U32, &tr, false) < 0)
            return -1;
        s->transposed = tr != 0;
        snprintf(name, sizeof name, "%ssourceInputLayer", p);
        if (get_att(io, name, A_STR, s->source_input_layer, true) < 0)
            return -1;
        snprintf(name, sizeof name, "%ssourceOutputLayer", p);
        if (get_att(io, name, A_STR, s->source_output_layer, true) < 0)
            return -1;
    }
    return 0;
}

/* A parameter's values (required if it says so) and, where its optimizer
 * state is allocated (resume), the state the file has. */
/* A model-parallel shard's block of a whole variable (its rows' runs). */
static int get_block(ncio *io, const sten_net *net, const nn_param *q, int a, const char *name, float *dst,
                     bool required)
{
    int v, d, nd;
    size_t len;
    const uint64_t want = sten__shard_full_len(net, q, a);
    int rc = nc_inq_varid(io->nc, name, &v);
    if (rc == NC_ENOTVAR && !required)
        return 0;
    if (!nc_ok(io, rc, "variable", name) || !nc_ok(io, nc_inq_varndims(io->nc, v, &nd), "variable", name) ||
        nd != 1 || !nc_ok(io, nc_inq_vardimid(io->nc, v, &d), "variable", name) ||
        !nc_ok(io, nc_inq_dimlen(io->nc, d, &len), "variable", name) || len != want) {
        if (!io->err) {
            sten_fail(io->ctx, STEN_E_FORMAT, "%s: variable %s does not have the %llu values the network needs",
                      io->path, name, (unsigned long long)want);
            io->err = NC_EEDGE;
        }
        return -1;
    }
    uint32_t r0, nr, c0, nc;
    sten__shard_block(net, q, a, net->comm->rank, &r0, &nr, &c0, &nc);
    const uint32_t ld = q->matrix ? net->weights[q->conn].full_cols : 0;
    const bool run = !q->matrix || nc == ld;
    for (uint32_t r = 0; r < (run ? 1 : nr); r++) {
        const size_t start = q->matrix ? (size_t)(r0 + r) * ld + c0 : c0, count = run ? (size_t)nr * nc : nc;
        if (!nc_ok(io, nc_get_vara_float(io->nc, v, &start, &count, dst + (uint64_t)r * nc), "reading variable",
                   name))
            return -1;
    }
    return 1;
}

static int read_param(ncio *io, const sten_net *net, uint32_t pi, const char *ns)
{
    const nn_param *q = &net->params[pi];
    const bool sharded = sten__param_sharded(net, pi);
    char name[160];
    float *v[3] = {q->w, q->s1, q->s2};
    for (int s = 0; s < 3; s++) {
        param_var(name, sizeof name, ns, q, s);
        const bool req = s == 0 && q->required;
        if (v[s] && (sharded ? get_block(io, net, q, s, name, v[s], req)
                             : get_var(io, name, v[s], (size_t)(s ? q->s_n : q->n), req)) < 0)
            return -1;
    }
    return 0;
}

static int read_weights(ncio *io, sten_net *net, uint32_t n_weights)
{
    char p[64], ns[64], name[160], in[STEN_NAME_MAX], out[STEN_NAME_MAX];
    for (uint32_t k = 0; k < n_weights; k++) {
        snprintf(p, sizeof p, "weight%u_", k);
        snprintf(name, sizeof name, "%sinputLayer", p);
        if (get_att(io, name, A_STR, in, true) < 0)
            return -1;
        snprintf(name, sizeof name, "%soutputLayer", p);
        if (get_att(io, name, A_STR, out, true) < 0)
            return -1;
        const int s = sten__net_find_layer(net, in), t = sten__net_find_layer(net, out);
        nn_weight *w = NULL;
        for (uint32_t j = 0; j < net->n_weights; j++)
            if ((int)net->weights[j].src == s && (int)net->weights[j].dst == t)
                w = &net->weights[j];
        if (!w) {
            sten_fail(io->ctx, STEN_E_FORMAT, "%s: weight%u connects %s -> %s, which the layers' "
                      "sources do not", io->path, k, in, out);
            return -1;
        }
        /* the file's weight k may be the network's connection j */
        const int j = (int)(w - net->weights);
        snprintf(ns, sizeof ns, "weight%u_", k);
        for (uint32_t i = 0; i < net->n_params; i++)
            if (net->params[i].conn == j && read_param(io, net, i, ns) < 0)
                return -1;
    }
    /* parameters of layers, outside any connection */
    for (uint32_t i = 0; i < net->n_params; i++) {
        snprintf(ns, sizeof ns, "layer%u_", net->params[i].layer);
        if (net->params[i].conn < 0 && read_param(io, net, i, ns) < 0)
            return -1;
    }
    return 0;
}

/* The description a model file holds (layers, settings, shared weights). */
static sten_status read_desc(sten_ctx *ctx, ncio *io, sten_net_desc *d, uint32_t *n_weights)
{
    memset(d, 0, sizeof *d);
    /* the built-in algorithms' models (src/algo/model_io.c) are not networks */
    char kind[32] = "";
    size_t klen = 0;
    if (nc_inq_attlen(io->nc, NC_GLOBAL, "sten_model_kind", &klen) == NC_NOERR && klen > 0 && klen < sizeof kind &&
        nc_get_att_text(io->nc, NC_GLOBAL, "sten_model_kind", kind) == NC_NOERR && strcmp(kind, "network"))
        return sten_fail(ctx, STEN_E_UNSUPPORTED, "%s: this is a %s model (sten train --algorithm %s), not a "
                         "network; score it with sten predict -n %s --csv DATA", io->path, kind, kind, io->path);
    uint32_t fmt = 0;
    if (get_att(io, "sten_format_version", A_U32, &fmt, false) < 0)
        return sten_ctx_error_status(ctx);
    if (fmt > STEN_MODEL_FORMAT)
        return sten_fail(ctx, STEN_E_UNSUPPORTED,
                         "%s: model format version %u is newer than this sten reads (%d); upgrade sten",
                         io->path, fmt, STEN_MODEL_FORMAT);
    /* the config language's defaults, for what DSSTNE files do not carry */
    sten_net_desc_defaults(d);
    uint32_t n_layers = 0;
    *n_weights = 0;
    if (get_table(io, net_atts, sizeof net_atts / sizeof net_atts[0], d, "", true) < 0 ||
        get_att(io, "layers", A_U32, &n_layers, true) < 0 ||
        get_att(io, "weights", A_U32, n_weights, true) < 0)
        return sten_ctx_error_status(ctx);
    if (n_layers == 0 || n_layers > 4096 || *n_weights > n_layers * STEN_MAX_SOURCES)
        return sten_fail(ctx, STEN_E_FORMAT, "%s: %u layers and %u weights is not a network",
                         io->path, n_layers, *n_weights);
    snprintf(d->source, sizeof d->source, "%s", io->path);
    d->n_layers = n_layers;
    d->layers = sten_calloc(ctx, n_layers, sizeof *d->layers);
    if (!d->layers)
        return STEN_E_NOMEM;
    if (read_layers(io, d) < 0 || read_shared(io, d, *n_weights) < 0) {
        sten__layer_descs_free(ctx, d->layers, n_layers);
        d->layers = NULL;
        return sten_ctx_error_status(ctx);
    }
    return STEN_OK;
}

static sten_status load(sten_ctx *ctx, ncio *io, const sten_dataset *ds, size_t n_ds,
                        uint32_t batch, bool with_state, const sten_comm *comm, sten_net **out)
{
    sten_net_desc d;
    uint32_t n_weights;
    sten_status st = read_desc(ctx, io, &d, &n_weights);
    if (st)
        return st;
    sten_net *net = NULL;
    st = comm ? sten_net_build_sharded(ctx, &d, ds, n_ds, batch, comm, &net)
              : sten_net_build(ctx, &d, ds, n_ds, batch, &net);
    if (!st && with_state)
        st = sten__optim_alloc(ctx, net, d.training.optimizer);
    if (!st && read_weights(io, net, n_weights) < 0)
        st = sten_ctx_error_status(ctx);
    if (!st)
        sten__net_changed(net);
    if (!st) {
        get_att(io, "sten_epoch", A_U32, &net->epoch, false);
        get_att(io, "sten_step", A_U64, &net->step, false);
        st = io->err ? sten_ctx_error_status(ctx) : STEN_OK;
    }
    sten__layer_descs_free(ctx, d.layers, d.n_layers);
    if (st) {
        sten_net_free(ctx, net);
        return st;
    }
    *out = net;
    return STEN_OK;
}

sten_status sten_model_read_desc(sten_ctx *ctx, const char *path, sten_net_desc **out)
{
    *out = NULL;
    ncio io = {ctx, path, -1, 0, false, 0, 0, NULL};
    int rc = nc_open(path, NC_NOWRITE, &io.nc);
    if (rc != NC_NOERR)
        return sten_fail(ctx, rc == ENOENT ? STEN_E_NOTFOUND : STEN_E_FORMAT,
                         "%s: cannot open as a NetCDF model: %s", path, nc_strerror(rc));
    sten_net_desc *d = sten_alloc(ctx, sizeof *d);
    uint32_t n_weights;
    sten_status st = d ? read_desc(ctx, &io, d, &n_weights) : STEN_E_NOMEM;
    nc_close(io.nc);
    if (st) {
        sten_free(ctx, d);
        return st;
    }
    *out = d;
    return STEN_OK;
}

static sten_status open_load(sten_ctx *ctx, const char *path, const sten_dataset *ds, size_t n_ds,
                             uint32_t batch, bool with_state, const sten_comm *comm, sten_net **out);

sten_status sten_net_load(sten_ctx *ctx, const char *path, const sten_dataset *ds, size_t n_ds,
                          uint32_t batch, bool with_state, sten_net **out)
{
    return open_load(ctx, path, ds, n_ds, batch, with_state, NULL, out);
}

sten_status sten_net_load_sharded(sten_ctx *ctx, const char *path, const sten_dataset *ds, size_t n_ds,
                                  uint32_t batch, bool with_state, const sten_comm *comm, sten_net **out)
{
    if (!comm)
        return sten_fail(ctx, STEN_E_INVALID, "model parallelism needs a group (sten_comm)");
    return open_load(ctx, path, ds, n_ds, batch, with_state, comm, out);
}

static sten_status open_load(sten_ctx *ctx, const char *path, const sten_dataset *ds, size_t n_ds,
                             uint32_t batch, bool with_state, const sten_comm *comm, sten_net **out)
{
    *out = NULL;
    ncio io = {ctx, path, -1, 0, false, 0, 0, NULL};
    int rc = nc_open(path, NC_NOWRITE, &io.nc);
    if (rc != NC_NOERR)
        return sten_fail(ctx, rc == ENOENT ? STEN_E_NOTFOUND : STEN_E_FORMAT,
                         "%s: cannot open as a NetCDF model: %s", path, nc_strerror(rc));
    sten_status st = load(ctx, &io, ds, n_ds, batch, with_state, comm, out);
    nc_close(io.nc);
    return st;
}
