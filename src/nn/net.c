/* net.c — turns a network description plus the datasets it names into a
 * runnable network: binds layers to datasets (N: "auto"), resolves sources,
 * skips and shared weights, orders layers, allocates weights and batch
 * buffers, initialises weights. No arithmetic on batches here. */
#include "net_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int sten__net_find_layer(const sten_net *net, const char *name)
{
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (strcmp(net->layers[i].d->name, name) == 0)
            return (int)i;
    return -1;
}

static int find_dataset(const sten_net *net, const char *name)
{
    for (size_t i = 0; i < net->n_ds; i++)
        if (net->ds[i].name && strcmp(net->ds[i].name, name) == 0)
            return (int)i;
    return -1;
}

static uint32_t ds_width(const sten_dataset *d)
{
    uint64_t w = (uint64_t)d->width * STEN__MAX(d->height, 1u) * STEN__MAX(d->length, 1u);
    return w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
}

/* "config.json:12:5: layer "Hidden": " prefix for messages about a layer */
#define LAYER_FMT "%s:%d:%d: layer \"%s\": "
#define LAYER_ARGS(net, ld) (net)->desc.source, (ld)->line, (ld)->column, (ld)->name

/* Which numbering of labels a dataset follows (what generate-netcdf
 * records; a dataset without fingerprints passes): its feature index must
 * be the one layer ld was trained with, where ld records one, and its rows
 * must be the samples of the other datasets' rows (*rows: the first dataset
 * that records them). `what` and `layer` start the message. */
static sten_status check_fingerprints(sten_ctx *ctx, const char *what, const char *layer,
                                      const sten_layer_desc *ld, const sten_dataset *d,
                                      const sten_dataset **rows)
{
    if (d->features.entries && ld->features.entries && !sten_fingerprint_equal(d->features, ld->features))
        return sten_fail(ctx, STEN_E_FORMAT, "%s%sDataSet \"%s\" was made with another feature index (%u "
                         "entries, fingerprint %016llx) than the model's own data (%u entries, "
                         "fingerprint %016llx): its columns would be other features; generate it with the "
                         "model's index files (generate-netcdf -f)", what, layer, d->name, d->features.entries,
                         (unsigned long long)d->features.hash, ld->features.entries,
                         (unsigned long long)ld->features.hash);
    if (!d->samples.entries)
        return STEN_OK;
    if (*rows && !sten_fingerprint_equal(d->samples, (*rows)->samples))
        return sten_fail(ctx, STEN_E_FORMAT, "%s%sDataSet \"%s\" has rows for other samples than DataSet "
                         "\"%s\" (%u samples, fingerprint %016llx, against %u, %016llx): row r of one is not "
                         "row r of the other; generate both from data on the same samples with the same "
                         "samples index (generate-netcdf -s)", what, layer, d->name, (*rows)->name,
                         d->samples.entries, (unsigned long long)d->samples.hash, (*rows)->samples.entries,
                         (unsigned long long)(*rows)->samples.hash);
    if (!*rows)
        *rows = d;
    return STEN_OK;
}

static sten_status bind_datasets(sten_ctx *ctx, sten_net *net)
{
    const sten_dataset *rows = NULL; /* the first dataset that records its rows' samples */
    for (uint32_t i = 0; i < net->n_layers; i++) {
        nn_layer *L = &net->layers[i];
        const sten_layer_desc *ld = L->d;
        L->ds = -1;
        if (ld->dataset[0] == '\0') {
            if (ld->N_auto && !L->ops->width)
                return sten_fail(ctx, STEN_E_INVALID, LAYER_FMT "N is \"auto\" but no DataSet is named",
                                 LAYER_ARGS(net, ld));
            if (L->kind == STEN_LAYER_INPUT || L->kind == STEN_LAYER_OUTPUT)
                return sten_fail(ctx, STEN_E_INVALID, LAYER_FMT "%s layer needs a DataSet",
                                 LAYER_ARGS(net, ld), L->kind == STEN_LAYER_INPUT ? "an input" : "an output");
            continue;
        }
        L->ds = find_dataset(net, ld->dataset);
        if (L->ds < 0 && !ld->N_auto && L->kind == STEN_LAYER_OUTPUT)
            continue; /* prediction needs no targets; training checks */
        if (L->ds < 0) {
            char names[256] = "";
            for (size_t k = 0; k < net->n_ds; k++) {
                size_t n = strlen(names);
                snprintf(names + n, sizeof names - n, "%s%s", k ? ", " : "", net->ds[k].name);
            }
            return sten_fail(ctx, STEN_E_NOTFOUND,
                             LAYER_FMT "DataSet \"%s\" is not in the data files (they hold: %s)",
                             LAYER_ARGS(net, ld), ld->dataset, names[0] ? names : "nothing");
        }
        const sten_dataset *d = &net->ds[L->ds];
        const uint32_t w = ds_width(d);
        if (ld->N_auto)
            L->N = w;
        else if (L->N < w)
            return sten_fail(ctx, STEN_E_INVALID,
                             LAYER_FMT "N = %u is smaller than the width %u of DataSet \"%s\"",
                             LAYER_ARGS(net, ld), L->N, w, ld->dataset);
        if (net->examples == 0)
            net->examples = d->examples;
        else if (d->examples != net->examples)
            return sten_fail(ctx, STEN_E_INVALID,
                             LAYER_FMT "DataSet \"%s\" has %llu examples, others have %llu",
                             LAYER_ARGS(net, ld), ld->dataset, (unsigned long long)d->examples,
                             (unsigned long long)net->examples);
        char where[STEN_NAME_MAX + 64];
        if (ld->line) /* a config's layer; one read from a model file has no place */
            snprintf(where, sizeof where, ":%d:%d: layer \"%s\": ", ld->line, ld->column, ld->name);
        else
            snprintf(where, sizeof where, ": layer \"%s\": ", ld->name);
        sten_status st = check_fingerprints(ctx, net->desc.source, where, ld, d, &rows);
        if (st)
            return st;
        if (d->features.entries) /* the model file keeps it: predict checks index files against it */
            net->desc.layers[i].features = d->features;
        if (L->kind == STEN_LAYER_INPUT) {
            L->sparse_in = (d->attributes & STEN_DS_SPARSE) != 0;
            L->denoise = L->sparse_in && ld->sparse && net->desc.denoising_p > 0.0f;
            L->normalize = L->sparse_in && sten__fc_normalizes(L);
        }
    }
    return STEN_OK;
}

/* Widths a layer type takes from its sources ("N": "auto" on a Concat):
 * passes until every such width is known (sources before their users). */
static sten_status resolve_widths(sten_ctx *ctx, sten_net *net)
{
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].ops->width && net->layers[i].d->N_auto)
            net->layers[i].N = 0; /* not known yet (the description may hold a placeholder) */
    for (uint32_t pass = 0; pass <= net->n_layers; pass++) {
        bool open = false;
        for (uint32_t i = 0; i < net->n_layers; i++) {
            nn_layer *L = &net->layers[i];
            if (!L->ops->width || !L->d->N_auto || L->N)
                continue;
            L->N = L->ops->width(net, L);
            open |= L->N == 0;
        }
        if (!open)
            return STEN_OK;
    }
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].ops->width && net->layers[i].d->N_auto && !net->layers[i].N)
            return sten_fail(ctx, STEN_E_INVALID, LAYER_FMT "N is \"auto\" but the widths of its "
                             "Sources cannot be known (a missing Source, or a cycle)",
                             LAYER_ARGS(net, net->layers[i].d));
    return STEN_OK;
}

static sten_status resolve_layer(sten_ctx *ctx, sten_net *net, uint32_t i, int prev)
{
    nn_layer *L = &net->layers[i];
    const sten_layer_desc *ld = L->d;
    const sten_net_desc *nd = &net->desc;
    L->fn = ld->activation;
    L->ap = sten_act_params_default();
    L->ap.slope = isnan(ld->relu_slope) ? nd->relu_slope : ld->relu_slope;
    L->ap.alpha = isnan(ld->elu_alpha) ? nd->elu_alpha : ld->elu_alpha;
    L->ap.lambda = isnan(ld->selu_lambda) ? nd->selu_lambda : ld->selu_lambda;
    L->p_dropout = L->kind == STEN_LAYER_INPUT && L->sparse_in ? 0.0f : ld->p_dropout;
    if (L->kind == STEN_LAYER_HIDDEN && ld->sparse) {
        L->sp_p = ld->sparseness_p > 0 ? ld->sparseness_p : nd->sparseness_p;
        L->sp_beta = ld->sparseness_beta > 0 ? ld->sparseness_beta : nd->sparseness_beta;
    }
    if (L->kind == STEN_LAYER_INPUT)
        return STEN_OK;
    if (L->kind == STEN_LAYER_OUTPUT && nd->loss == STEN_LOSS_MULTINOMIAL && L->fn != STEN_ACT_SOFTMAX)
        return sten_fail(ctx, STEN_E_INVALID, LAYER_FMT "the Multinomial ErrorFunction needs a SoftMax "
                         "output (its Activation)", LAYER_ARGS(net, ld));
    if (L->kind == STEN_LAYER_OUTPUT && L->ds >= 0) {
        const sten_loss l = nd->loss;
        L->softmax_z = L->fn == STEN_ACT_SOFTMAX && (net->ds[L->ds].attributes & STEN_DS_SPARSE) &&
                       (l == STEN_LOSS_CROSS_ENTROPY || l == STEN_LOSS_MULTINOMIAL);
        L->fuse_loss = L->fn == STEN_ACT_SIGMOID && (net->ds[L->ds].attributes & STEN_DS_SPARSE) &&
                       (l == STEN_LOSS_CROSS_ENTROPY || l == STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY ||
                        l == STEN_LOSS_DATA_SCALED_MARGINAL_CROSS_ENTROPY);
    }
    /* skips */
    for (uint32_t k = 0; k < ld->n_skips; k++) {
        int s = sten__net_find_layer(net, ld->skips[k]);
        if (s < 0 || (uint32_t)s == i)
            return sten_fail(ctx, STEN_E_INVALID, LAYER_FMT "Skip names %s layer \"%s\"",
                             LAYER_ARGS(net, ld), s < 0 ? "no" : "its own", ld->skips[k]);
        if (net->layers[s].N != L->N || net->layers[s].sparse_in)
            return sten_fail(ctx, STEN_E_INVALID,
                             LAYER_FMT "Skip layer \"%s\" must be dense with N = %u (it has %u)",
                             LAYER_ARGS(net, ld), ld->skips[k], L->N, net->layers[s].N);
        L->skip[L->n_skip++] = (uint32_t)s;
    }
    if (ld->n_sources == 0 && prev < 0 && L->n_skip == 0)
        return sten_fail(ctx, STEN_E_INVALID, LAYER_FMT "has no Source and no layer before it",
                         LAYER_ARGS(net, ld));
    return STEN_OK;
}

static sten_status add_weight(sten_ctx *ctx, sten_net *net, uint32_t src, uint32_t dst)
{
    (void)ctx;
    nn_layer *L = &net->layers[dst];
    nn_weight *w = &net->weights[net->n_weights];
    w->src = src;
    w->dst = dst;
    w->rows = net->layers[src].N;
    w->cols = L->N;
    w->owner = (int)net->n_weights;
    L->in[L->n_in++] = net->n_weights++;
    return STEN_OK;
}

/* A source of layer dst, with its connection unless the type has none. */
static sten_status add_source(sten_ctx *ctx, sten_net *net, uint32_t src, uint32_t dst)
{
    nn_layer *L = &net->layers[dst];
    if (src == dst || net->layers[src].kind == STEN_LAYER_TARGET)
        return sten_fail(ctx, STEN_E_INVALID, LAYER_FMT "cannot take input from layer \"%s\"",
                         LAYER_ARGS(net, L->d), net->layers[src].d->name);
    L->src[L->n_src++] = src;
    return L->ops->weightless ? STEN_OK : add_weight(ctx, net, src, dst);
}

static int find_weight(const sten_net *net, int src, int dst)
{
    for (uint32_t k = 0; k < net->n_weights; k++)
        if ((int)net->weights[k].src == src && (int)net->weights[k].dst == dst)
            return (int)k;
    return -1;
}

static sten_status resolve_sources(sten_ctx *ctx, sten_net *net)
{
    int prev = -1;
    for (uint32_t i = 0; i < net->n_layers; i++) {
        nn_layer *L = &net->layers[i];
        if (L->kind == STEN_LAYER_TARGET)
            continue;
        sten_status st = resolve_layer(ctx, net, i, prev);
        if (st)
            return st;
        if (L->kind != STEN_LAYER_INPUT) {
            if (L->d->n_sources == 0 && prev >= 0) {
                if ((st = add_source(ctx, net, (uint32_t)prev, i)))
                    return st;
            }
            for (uint32_t k = 0; k < L->d->n_sources; k++) {
                int s = sten__net_find_layer(net, L->d->sources[k]);
                if (s < 0)
                    return sten_fail(ctx, STEN_E_INVALID, LAYER_FMT "Source \"%s\" is not a layer",
                                     LAYER_ARGS(net, L->d), L->d->sources[k]);
                if ((st = add_source(ctx, net, (uint32_t)s, i)))
                    return st;
            }
        }
        prev = (int)i;
    }
    return STEN_OK;
}

static sten_status resolve_shared(sten_ctx *ctx, sten_net *net)
{
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const sten_layer_desc *ld = net->layers[i].d;
        for (uint32_t k = 0; k < ld->n_shared; k++) {
            const sten_shared_desc *sh = &ld->shared[k];
            int in = sten__net_find_layer(net, sh->input_layer);
            int w = find_weight(net, in, (int)i);
            int o = find_weight(net, sten__net_find_layer(net, sh->source_input_layer),
                                sten__net_find_layer(net, sh->source_output_layer));
            if (w < 0 || o < 0 || o == w)
                return sten_fail(ctx, STEN_E_INVALID,
                                 LAYER_FMT "SharedWeights: no connection %s -> %s",
                                 LAYER_ARGS(net, ld), w < 0 ? sh->input_layer : sh->source_input_layer,
                                 w < 0 ? ld->name : sh->source_output_layer);
            nn_weight *W = &net->weights[w];
            const nn_weight *O = &net->weights[o];
            if (O->owner != o)
                return sten_fail(ctx, STEN_E_INVALID,
                                 LAYER_FMT "SharedWeights: %s -> %s is itself shared", LAYER_ARGS(net, ld),
                                 sh->source_input_layer, sh->source_output_layer);
            uint32_t r = sh->transposed ? O->cols : O->rows, c = sh->transposed ? O->rows : O->cols;
            if (r != W->rows || c != W->cols)
                return sten_fail(ctx, STEN_E_INVALID,
                                 LAYER_FMT "SharedWeights: %s -> %s is %u x %u%s, this connection needs %u x %u",
                                 LAYER_ARGS(net, ld), sh->source_input_layer, sh->source_output_layer,
                                 O->rows, O->cols, sh->transposed ? " (transposed)" : "", W->rows, W->cols);
            if (sh->transposed && net->layers[W->src].sparse_in)
                return sten_fail(ctx, STEN_E_UNSUPPORTED,
                                 LAYER_FMT "SharedWeights: a transposed matrix cannot take a sparse input "
                                 "(share it the other way round: let the sparse input own it)",
                                 LAYER_ARGS(net, ld));
            W->owner = o;
            W->transposed = sh->transposed;
            W->rows = O->rows;
            W->cols = O->cols;
        }
    }
    return STEN_OK;
}

/* Kahn's algorithm over "needs the output of" edges (sources and skips). */
static sten_status order_layers(sten_ctx *ctx, sten_net *net)
{
    const uint32_t n = net->n_layers;
    uint32_t *indeg = sten_calloc(ctx, n, sizeof *indeg);
    if (!indeg)
        return STEN_E_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        indeg[i] = net->layers[i].n_src + net->layers[i].n_skip;
    uint32_t done = 0;
    for (uint32_t pass = 0; pass < n && done < n; pass++) {
        for (uint32_t i = 0; i < n; i++) {
            if (indeg[i] != 0)
                continue;
            indeg[i] = UINT32_MAX;
            net->order[done++] = i;
            for (uint32_t j = 0; j < n; j++) {
                const nn_layer *L = &net->layers[j];
                for (uint32_t k = 0; k < L->n_src; k++)
                    indeg[j] -= L->src[k] == i;
                for (uint32_t k = 0; k < L->n_skip; k++)
                    indeg[j] -= L->skip[k] == i;
            }
        }
    }
    sten_free(ctx, indeg);
    if (done < n)
        return sten_fail(ctx, STEN_E_INVALID, "%s: the layers' Sources and Skips form a cycle",
                         net->desc.source);
    return STEN_OK;
}

/* d's row lengths (nn_lens): one pass for the longest, one for a histogram. */
static sten_status row_lengths(sten_ctx *ctx, const sten_dataset *d, nn_lens *out)
{
    const uint64_t U = d->sparse.rows, *rp = d->sparse.row_ptr;
    uint64_t maxc = 0;
    for (uint64_t r = 0; r < U; r++)
        maxc = STEN__MAX(maxc, rp[r + 1] - rp[r]);
    uint64_t *hist = sten_calloc(ctx, (size_t)maxc + 1, sizeof *hist);
    if (!hist)
        return STEN_E_NOMEM;
    for (uint64_t r = 0; r < U; r++)
        hist[rp[r + 1] - rp[r]]++;
    uint32_t n = 0;
    for (uint64_t c = 0; c <= maxc; c++)
        n += hist[c] != 0;
    out->v = sten_alloc(ctx, (size_t)(n ? n : 1) * 2 * sizeof *out->v);
    if (!out->v) {
        sten_free(ctx, hist);
        return STEN_E_NOMEM;
    }
    out->n = 0;
    for (uint64_t c = maxc + 1; c-- > 0;)
        if (hist[c]) {
            out->v[2 * out->n] = c;
            out->v[2 * out->n + 1] = hist[c];
            out->n++;
        }
    sten_free(ctx, hist);
    return STEN_OK;
}

/* The most entries B rows of d can hold (the sum of the B longest rows; at
 * least 1): a workspace's batch capacity. The lengths are the template's
 * when the workspace is made like one, else found here and kept in *lens. */
static sten_status batch_nnz_bound(sten_ctx *ctx, const sten_dataset *d, const nn_lens *like, uint32_t B,
                                   nn_lens *lens, uint64_t *out)
{
    if (like && like->v) {
        if (!(lens->v = sten_alloc(ctx, (size_t)(like->n ? like->n : 1) * 2 * sizeof *lens->v)))
            return STEN_E_NOMEM;
        memcpy(lens->v, like->v, (size_t)like->n * 2 * sizeof *lens->v);
        lens->n = like->n;
    } else {
        const sten_status st = row_lengths(ctx, d, lens);
        if (st)
            return st;
    }
    uint64_t total = 0, left = B;
    for (uint32_t i = 0; i < lens->n && left; i++) {
        const uint64_t take = STEN__MIN(lens->v[2 * i + 1], left);
        total += take * lens->v[2 * i];
        left -= take;
    }
    *out = total ? total : 1;
    return STEN_OK;
}

static float *buf(sten_ctx *ctx, uint64_t n, sten_status *st)
{
    if (*st)
        return NULL;
    float *p = sten_calloc(ctx, (size_t)(n ? n : 1), sizeof *p);
    if (!p)
        *st = STEN_E_NOMEM;
    return p;
}

/* A layer's buffers in a workspace (and its target, for an output). */
static sten_status alloc_buf(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const nn_layer *L,
                             const sten_workspace *like, nn_buf *A, nn_target *T)
{
    const uint32_t li = (uint32_t)(L - net->layers);
    const nn_lens *like_lens = like ? &like->lens[li] : NULL;
    const uint64_t BN = (uint64_t)ws->B_cap * L->N;
    sten_status st = STEN_OK;
    if (L->kind == STEN_LAYER_TARGET)
        return STEN_OK;
    const sten_dataset *d = ws->lds[L - net->layers];
    if (L->sparse_in) {
        uint64_t cap;
        if ((st = batch_nnz_bound(ctx, d, like_lens, ws->B_cap, &ws->lens[li], &cap)))
            return st;
        bool valued = d->sparse.val != NULL || L->denoise || L->normalize || d->weight;
        /* a batch touching few of many rows (an embedding's vocabulary) gets a
         * transpose of the rows it touches only: no pass over all rows per step */
        const bool compact = (uint64_t)L->N > 8 * cap;
        if ((st = sten_csr_init(ctx, &A->x, ws->B_cap, L->N, cap, valued)) ||
            (st = sten_csr_init(ctx, &A->xt, compact ? (uint32_t)STEN__MIN(cap, (uint64_t)L->N) : L->N,
                                ws->B_cap, cap, valued)))
            return st;
        if (compact && (!(A->rid = sten_alloc(ctx, (size_t)cap * sizeof *A->rid)) ||
                        !(A->keys = sten_alloc(ctx, (size_t)cap * 2 * sizeof *A->keys))))
            return STEN_E_NOMEM;
    } else {
        A->out = buf(ctx, BN, &st);
        A->act = A->out;
        if (L->p_dropout > 0 && L->kind != STEN_LAYER_OUTPUT) {
            A->act = buf(ctx, BN, &st);
            A->mask = buf(ctx, BN, &st);
        }
    }
    if (L->ops->ws_floats)
        A->scratch = buf(ctx, ws->B_cap * L->ops->ws_floats(net, L), &st);
    /* a fused-loss output writes its delta over its activations (they are
     * not read again in training), saving a batch x N buffer */
    if (L->kind != STEN_LAYER_INPUT)
        A->delta = L->fuse_loss ? A->act : buf(ctx, BN, &st);
    if (st == STEN_OK && L->kind == STEN_LAYER_OUTPUT && d) {
        if (d->attributes & STEN_DS_SPARSE) {
            uint64_t cap;
            if ((st = batch_nnz_bound(ctx, d, like_lens, ws->B_cap, &ws->lens[li], &cap)) ||
                (st = sten_csr_init(ctx, &T->t, ws->B_cap, L->N, cap, d->sparse.val != NULL)))
                return st;
            if (L->fuse_loss) {
                T->stash = buf(ctx, cap, &st);
                const size_t chunks = (L->N + STEN__GEMM_CHUNK - 1) / STEN__GEMM_CHUNK;
                T->part = sten_calloc(ctx, chunks * ws->B_cap, sizeof *T->part);
                T->cstart = sten_calloc(ctx, (chunks + 1) * ws->B_cap, sizeof *T->cstart);
                T->scol = sten_calloc(ctx, cap ? cap : 1, sizeof *T->scol);
                if (d->sparse.val)
                    T->sval = buf(ctx, cap ? cap : 1, &st);
                if ((!T->part || !T->cstart || !T->scol) && !st)
                    st = STEN_E_NOMEM;
            }
        } else {
            T->dense = buf(ctx, BN, &st);
        }
        if (d->weight)
            T->weight = buf(ctx, ws->B_cap, &st);
    }
    return st;
}

/* Which dataset each layer of ws reads: the network's, or those of ds by name. */
static sten_status bind_ws(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const sten_dataset *ds,
                           size_t n_ds, const char *what)
{
    ws->examples = net->examples;
    bool first = true;
    const sten_dataset *rows = NULL; /* the first dataset that records its rows' samples */
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        if (!ds) {
            ws->lds[i] = L->ds >= 0 ? &net->ds[L->ds] : NULL;
            continue;
        }
        if (!L->d->dataset[0] || L->kind == STEN_LAYER_TARGET)
            continue;
        const sten_dataset *d = NULL;
        for (size_t k = 0; k < n_ds && !d; k++)
            if (ds[k].name && !strcmp(ds[k].name, L->d->dataset))
                d = &ds[k];
        if (!d && L->kind == STEN_LAYER_INPUT)
            return sten_fail(ctx, STEN_E_NOTFOUND, "%s has no dataset \"%s\" (input layer \"%s\")", what,
                             L->d->dataset, L->d->name);
        if (!d)
            continue; /* no targets: inference only */
        const uint64_t w = (uint64_t)d->width * STEN__MAX(d->height, 1u) * STEN__MAX(d->length, 1u);
        const bool sparse = (d->attributes & STEN_DS_SPARSE) != 0;
        if (w > L->N || (L->kind == STEN_LAYER_INPUT && sparse != L->sparse_in))
            return sten_fail(ctx, STEN_E_INVALID, "%s: dataset \"%s\" is %s%llu wide; layer \"%s\" takes %s%u",
                             what, d->name, sparse ? "sparse, " : "dense, ", (unsigned long long)w,
                             L->d->name, L->sparse_in ? "sparse, " : "", L->N);
        if (!first && d->examples != ws->examples)
            return sten_fail(ctx, STEN_E_INVALID, "%s: dataset \"%s\" has %llu examples, others have %llu",
                             what, d->name, (unsigned long long)d->examples,
                             (unsigned long long)ws->examples);
        char where[STEN_NAME_MAX + 16];
        snprintf(where, sizeof where, ": layer \"%s\": ", L->d->name);
        const sten_status st = check_fingerprints(ctx, what, where, L->d, d, &rows);
        if (st)
            return st;
        ws->examples = d->examples;
        first = false;
        ws->lds[i] = d;
    }
    return STEN_OK;
}

/* A workspace on ds (or the network's datasets), or with like, on what
 * like reads. */
static sten_status ws_new(sten_ctx *ctx, const sten_net *net, const sten_dataset *ds, size_t n_ds,
                          const char *what, const sten_workspace *like, uint32_t B_cap, sten_workspace **out)
{
    *out = NULL;
    if (B_cap == 0)
        return sten_fail(ctx, STEN_E_INVALID, "%s: batch size must be at least 1", net->desc.source);
    sten_workspace *ws = sten_calloc(ctx, 1, sizeof *ws);
    if (!ws)
        return STEN_E_NOMEM;
    ws->net = net;
    ws->B_cap = B_cap;
    ws->lds = sten_calloc(ctx, net->n_layers, sizeof *ws->lds);
    ws->lens = sten_calloc(ctx, net->n_layers, sizeof *ws->lens);
    ws->buf = sten_calloc(ctx, net->n_layers, sizeof *ws->buf);
    ws->targets = sten_calloc(ctx, net->n_layers, sizeof *ws->targets);
    ws->batch_ids = sten_calloc(ctx, B_cap, sizeof *ws->batch_ids);
    ws->row_loss = sten_calloc(ctx, B_cap, sizeof *ws->row_loss);
    ws->row_end = sten_calloc(ctx, B_cap, sizeof *ws->row_end);
    sten_status st = ws->lds && ws->lens && ws->buf && ws->targets && ws->batch_ids && ws->row_loss && ws->row_end
                         ? STEN_OK : STEN_E_NOMEM;
    if (!st && like) {
        memcpy(ws->lds, like->lds, net->n_layers * sizeof *ws->lds);
        ws->examples = like->examples;
    } else if (!st) {
        st = bind_ws(ctx, net, ws, ds, n_ds, what);
    }
    for (uint32_t i = 0; !st && i < net->n_layers; i++)
        st = alloc_buf(ctx, net, ws, &net->layers[i], like, &ws->buf[i], &ws->targets[i]);
    if (st) {
        sten_workspace_free(ctx, ws);
        return st;
    }
    *out = ws;
    return STEN_OK;
}

sten_status sten__ws_new_on(sten_ctx *ctx, const sten_net *net, const sten_dataset *ds, size_t n_ds,
                            const char *what, uint32_t B_cap, sten_workspace **out)
{
    return ws_new(ctx, net, ds, n_ds, what, NULL, B_cap, out);
}

sten_status sten__ws_like(sten_ctx *ctx, const sten_workspace *like, uint32_t B_cap, sten_workspace **out)
{
    return ws_new(ctx, like->net, NULL, 0, NULL, like, B_cap, out);
}

sten_status sten__ws_new(sten_ctx *ctx, const sten_net *net, uint32_t B_cap, sten_workspace **out)
{
    return sten__ws_new_on(ctx, net, NULL, 0, NULL, B_cap, out);
}

sten_status sten_workspace_new(sten_ctx *ctx, const sten_net *net, uint32_t batch, sten_workspace **out)
{
    return sten__ws_new(ctx, net, batch, out);
}

sten_status sten_workspace_new_on(sten_ctx *ctx, const sten_net *net, const sten_dataset *ds, size_t n_ds,
                                  uint32_t batch, sten_workspace **out)
{
    return sten__ws_new_on(ctx, net, ds, n_ds, "the data given", batch, out);
}

uint64_t sten_workspace_examples(const sten_workspace *ws)
{
    return ws->examples;
}

void sten_workspace_free(sten_ctx *ctx, sten_workspace *ws)
{
    if (!ws)
        return;
    for (uint32_t i = 0; ws->buf && i < ws->net->n_layers; i++) {
        nn_buf *A = &ws->buf[i];
        if (A->act != A->out)
            sten_free(ctx, A->act);
        sten_free(ctx, A->out);
        sten_free(ctx, A->mask);
        if (A->delta != A->act)
            sten_free(ctx, A->delta);
        sten_free(ctx, A->delta_b);
        sten_free(ctx, A->scratch);
        sten_csr_free(ctx, &A->x);
        sten_csr_free(ctx, &A->xt);
        sten_free(ctx, A->rid);
        sten_free(ctx, A->keys);
        sten_free(ctx, A->out_b);
    }
    for (uint32_t i = 0; ws->targets && i < ws->net->n_layers; i++) {
        nn_target *T = &ws->targets[i];
        sten_csr_free(ctx, &T->t);
        sten_free(ctx, T->dense);
        sten_free(ctx, T->weight);
        sten_free(ctx, T->stash);
        sten_free(ctx, T->part);
        sten_free(ctx, T->cstart);
        sten_free(ctx, T->scol);
        sten_free(ctx, T->sval);
    }
    sten__topk_free(ctx, ws->topk_keep);
    for (uint32_t i = 0; ws->pgrad && i < ws->n_pgrad; i++)
        sten_free(ctx, ws->pgrad[i]);
    sten_free(ctx, ws->pgrad);
    for (uint32_t i = 0; ws->lens && i < ws->net->n_layers; i++)
        sten_free(ctx, ws->lens[i].v);
    sten_free(ctx, ws->lens);
    sten_free(ctx, ws->lds);
    sten_free(ctx, ws->buf);
    sten_free(ctx, ws->targets);
    sten_free(ctx, ws->batch_ids);
    sten_free(ctx, ws->row_loss);
    sten_free(ctx, ws->row_end);
    if (ws->rows)
        sten_datasets_free(ctx, ws->rows, 1);
    sten_free(ctx, ws->row_ids);
    sten_free(ctx, ws);
}

static sten_status alloc_weights(sten_ctx *ctx, sten_net *net)
{
    sten_status st = STEN_OK;
    for (uint32_t k = 0; k < net->n_weights && !st; k++) {
        nn_weight *w = &net->weights[k];
        w->b = buf(ctx, net->layers[w->dst].N, &st);
        w->gb = buf(ctx, net->layers[w->dst].N, &st);
        w->scale = 1.0f;
        if (w->owner == (int)k)
            w->W = buf(ctx, (uint64_t)w->rows * w->cols, &st); /* gW: sten__net_alloc_grads */
    }
    for (uint32_t k = 0; k < net->n_weights && !st; k++) {
        nn_weight *w = &net->weights[k];
        if (w->owner != (int)k)
            w->W = net->weights[w->owner].W;
    }
    /* fusable: a plain matrix nobody shares, without WeightNorm (which uses
     * the gradient buffer as scratch), of a layer type that can update it
     * inside its backward pass */
    for (uint32_t k = 0; k < net->n_weights && !st; k++) {
        nn_weight *w = &net->weights[k];
        const nn_layer *L = &net->layers[w->dst];
        w->fusable = w->owner == (int)k && L->d->weight_norm <= 0.0f && L->ops->fused_sgd;
        for (uint32_t j = 0; j < net->n_weights; j++)
            if (j != k && net->weights[j].owner == (int)k)
                w->fusable = false;
    }
    return st;
}

sten_status sten__net_alloc_grads(sten_ctx *ctx, sten_net *net, bool all)
{
    sten_workspace *ws = net->ws;
    if (!ws->pgrad) {
        if (!(ws->pgrad = sten_calloc(ctx, net->n_params + 1, sizeof *ws->pgrad)))
            return STEN_E_NOMEM;
        ws->n_pgrad = net->n_params;
    }
    for (uint32_t i = 0; i < net->n_params; i++) {
        nn_param *p = &net->params[i];
        const nn_buf *src = p->update == NN_UPDATE_ROWS ? &ws->buf[p->rows_of] : NULL;
        if (p->g_compact && src && src->rid) { /* per touched row, in the workspace */
            if (!ws->pgrad[i] &&
                !(ws->pgrad[i] = sten_calloc(ctx, (size_t)src->xt.row_cap * p->row_len, sizeof(float))))
                return STEN_E_NOMEM;
            continue;
        }
        if (p->g || p->n == 0 || (!all && p->matrix && p->matrix->fusable)) /* n 0: another member's table */
            continue;
        if (!(p->g = sten_calloc(ctx, (size_t)p->n, sizeof *p->g)))
            return STEN_E_NOMEM;
        if (p->matrix)
            p->matrix->gW = p->g; /* freed with the connection */
        else
            p->own_g = true;
    }
    for (uint32_t k = 0; k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        if (w->owner != (int)k)
            w->gW = net->weights[w->owner].gW;
    }
    return STEN_OK;
}

sten_status sten__net_add_param(sten_ctx *ctx, sten_net *net, const nn_param *p, nn_param **out)
{
    if (net->n_params == net->params_cap) {
        uint64_t cap = net->params_cap;
        sten_status st = sten__grow(ctx, (void **)&net->params, &cap, cap + 1, sizeof *net->params);
        if (st)
            return st;
        net->params_cap = (uint32_t)cap;
    }
    net->params[net->n_params] = *p;
    if (out)
        *out = &net->params[net->n_params];
    net->n_params++;
    return STEN_OK;
}

sten_status sten__net_add_weight_params(sten_ctx *ctx, sten_net *net, uint32_t k)
{
    nn_weight *w = &net->weights[k];
    nn_param b = {.w = w->b, .g = w->gb, .n = net->layers[w->dst].N, .lr = NAN, .l2 = 0.0f,
                  .l1 = 0.0f, .conn = (int)k, .layer = w->dst, .var = "bias", .state = "sten_bias_",
                  .required = true};
    snprintf(b.name, sizeof b.name, "weight%u bias", k);
    sten_status st = sten__net_add_param(ctx, net, &b, NULL);
    if (st || w->owner != (int)k) /* a shared matrix is its owner's parameter */
        return st;
    nn_param W = {.w = w->W, .n = (uint64_t)w->rows * w->cols, .lr = NAN, .l2 = NAN, .l1 = NAN,
                  .reg = true, .conn = (int)k, .layer = w->dst, .var = "weights", .state = "sten_",
                  .required = true, .matrix = w};
    snprintf(W.name, sizeof W.name, "weight%u W", k);
    return sten__net_add_param(ctx, net, &W, NULL);
}

static sten_status copy_desc(sten_ctx *ctx, sten_net_desc *dst, const sten_net_desc *src)
{
    *dst = *src;
    dst->layers = sten_calloc(ctx, (size_t)src->n_layers + 1, sizeof *dst->layers);
    if (!dst->layers)
        return STEN_E_NOMEM;
    return sten__layer_descs_copy(ctx, dst->layers, src->layers, src->n_layers);
}

/* Model parallelism over tables: each Embedding table to a member, the
 * largest first, each to the member holding the fewest values so far
 * (the lower rank on ties): the same choice on every member. */
static void assign_tables(sten_net *net, const sten_comm *c)
{
    uint64_t load[256] = {0};
    for (;;) {
        int best = -1;
        uint64_t size = 0;
        for (uint32_t i = 0; i < net->n_layers; i++) {
            const nn_layer *L = &net->layers[i];
            if (L->ops == &sten__layer_embedding && L->owner < 0 && L->n_src == 1) {
                const uint64_t v = (uint64_t)net->layers[L->src[0]].N * L->N;
                if (best < 0 || v > size)
                    best = (int)i, size = v;
            }
        }
        if (best < 0)
            return;
        int m = 0;
        for (int k = 1; k < c->size; k++)
            if (load[k] < load[m])
                m = k;
        net->layers[best].owner = m;
        load[m] += size;
    }
}

sten_status sten_net_build(sten_ctx *ctx, const sten_net_desc *d, const sten_dataset *ds,
                           size_t n_ds, uint32_t batch, sten_net **out)
{
    return sten__net_build_in(ctx, d, ds, n_ds, batch, NULL, out);
}

sten_status sten__net_build_in(sten_ctx *ctx, const sten_net_desc *d, const sten_dataset *ds, size_t n_ds,
                               uint32_t batch, const sten_comm *tables, sten_net **out)
{
    *out = NULL;
    if (batch == 0 || d->n_layers == 0)
        return sten_fail(ctx, STEN_E_INVALID, "%s: %s", d->source,
                         batch ? "the network has no layers" : "batch size must be at least 1");
    sten_net *net = sten_calloc(ctx, 1, sizeof *net);
    if (!net)
        return STEN_E_NOMEM;
    sten_status st = copy_desc(ctx, &net->desc, d);
    net->ds = ds;
    net->n_ds = n_ds;
    net->opt_state = -1;
    net->n_layers = d->n_layers;
    net->version = 1;
    pthread_mutex_init(&net->lock, NULL);
    if (!st && sten_ctx_init(&net->dctx) != STEN_OK)
        st = sten_fail(ctx, STEN_E_NOMEM, "out of memory for a network's context");
    if (!st) {
        /* a layer has one connection per Source, or one from the layer before */
        size_t conns = 0;
        for (uint32_t i = 0; i < d->n_layers; i++)
            conns += STEN__MAX(d->layers[i].n_sources, 1u);
        net->layers = sten_calloc(ctx, d->n_layers, sizeof *net->layers);
        net->weights = sten_calloc(ctx, conns, sizeof *net->weights);
        net->order = sten_calloc(ctx, d->n_layers, sizeof *net->order);
        if (!net->layers || !net->weights || !net->order)
            st = STEN_E_NOMEM;
        for (uint32_t i = 0; !st && i < d->n_layers; i++) {
            const size_t cap = STEN__MAX(d->layers[i].n_sources, 1u);
            net->layers[i].src = sten_calloc(ctx, cap, sizeof(uint32_t));
            net->layers[i].in = sten_calloc(ctx, cap, sizeof(uint32_t));
            if (!net->layers[i].src || !net->layers[i].in)
                st = STEN_E_NOMEM;
        }
    }
    for (uint32_t i = 0; !st && i < net->n_layers; i++) {
        nn_layer *L = &net->layers[i];
        L->d = &net->desc.layers[i];
        L->owner = -1;
        L->kind = L->d->kind;
        L->N = L->d->N;
        char why[256];
        if (!(L->ops = sten__layer_ops(L->d->type)))
            st = sten_fail(ctx, STEN_E_UNSUPPORTED, LAYER_FMT "layer type %d is not one this sten has",
                           LAYER_ARGS(net, L->d), (int)L->d->type);
        else if (L->ops->check && !L->ops->check(L->d, why, sizeof why)) /* a description made in code */
            st = sten_fail(ctx, STEN_E_INVALID, LAYER_FMT "%s", LAYER_ARGS(net, L->d), why);
    }
    if (!st)
        st = bind_datasets(ctx, net);
    if (!st)
        st = resolve_widths(ctx, net);
    for (uint32_t i = 0; !st && i < net->n_layers; i++)
        if (net->desc.layers[i].N_auto) /* the description says what "auto" became */
            net->desc.layers[i].N = net->layers[i].N;
    if (!st)
        st = resolve_sources(ctx, net);
    if (!st)
        st = resolve_shared(ctx, net);
    if (!st)
        st = order_layers(ctx, net);
    if (!st)
        st = alloc_weights(ctx, net);
    if (!st && tables) {
        if (tables->size > 256)
            st = sten_fail(ctx, STEN_E_UNSUPPORTED, "splitting tables over %d ranks (at most 256)", tables->size);
        net->comm = tables;
        net->tables = true;
        assign_tables(net, tables);
    }
    for (uint32_t i = 0; !st && i < net->n_layers; i++)
        st = net->layers[i].ops->build(ctx, net, &net->layers[i]);
    if (!st)
        st = sten__ws_new(ctx, net, batch, &net->ws);
    if (st) {
        sten_net_free(ctx, net);
        return st;
    }
    *out = net;
    return STEN_OK;
}

void sten_net_free(sten_ctx *ctx, sten_net *net)
{
    if (!net)
        return;
    sten_workspace_free(ctx, net->ws);
    for (uint32_t i = 0; net->layers && i < net->n_layers; i++) {
        nn_layer *L = &net->layers[i];
        if (L->ops && L->ops->free)
            L->ops->free(ctx, L);
        sten_free(ctx, L->in);
        sten_free(ctx, L->src);
    }
    for (uint32_t k = 0; net->weights && k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        sten_free(ctx, w->b);
        sten_free(ctx, w->gb);
        if (w->owner == (int)k) {
            sten_free(ctx, w->W);
            sten_free(ctx, w->gW);
            sten_free(w->wb_dctx ? net->dctx : ctx, w->Wb);
            sten_free(net->dctx, w->Wt);
            sten_free(net->dctx, w->wn);
            sten_free(net->dctx, w->Wbp);
            sten__qmat_free(net->dctx, &w->Wq);
        }
    }
    for (uint32_t i = 0; i < net->n_params; i++) {
        sten_free(ctx, net->params[i].s1);
        sten_free(ctx, net->params[i].s2);
        if (net->params[i].own_g)
            sten_free(ctx, net->params[i].g);
    }
    for (size_t i = 0; net->shard_ds && i < net->n_full_ds; i++)
        if (net->sliced[i])
            sten_csr_free(ctx, &net->shard_ds[i].sparse);
    sten_free(ctx, net->shard_ds);
    sten_free(ctx, net->sliced);
    sten_free(ctx, net->params);
    sten_free(ctx, net->layers);
    sten_free(ctx, net->weights);
    sten_free(ctx, net->order);
    sten__layer_descs_free(ctx, net->desc.layers, net->desc.n_layers);
    pthread_mutex_destroy(&net->lock);
    sten_ctx_free(net->dctx);
    sten_free(ctx, net);
}

sten_precision sten_net_precision(const sten_net *net)
{
    return net->int8 ? STEN_PRECISION_INT8 : net->bf16 ? STEN_PRECISION_BF16 : STEN_PRECISION_FP32;
}

bool sten_bf16_supported(void)
{
    return sten__bf16_available();
}

/* bf16 precision: the rounded copy of the delta of each layer whose weight
 * has one, for training on the network's own workspace. */
static sten_status bf16_deltas(sten_ctx *ctx, sten_net *net)
{
    for (uint32_t i = 0; net->bf16 && i < net->n_layers; i++) {
        const nn_layer *L = &net->layers[i];
        const nn_weight *w = sten__single_dense_in(net, L);
        nn_buf *A = &net->ws->buf[i];
        if (!w || !net->weights[w->owner].Wb || w->owner != (int)L->in[0] || A->delta_b)
            continue;
        if (!(A->delta_b = sten_alloc(ctx, (size_t)net->ws->B_cap * L->N * sizeof *A->delta_b)))
            return STEN_E_NOMEM;
    }
    return STEN_OK;
}

sten_status sten__net_set_batch(sten_ctx *ctx, sten_net *net, uint32_t B)
{
    if (B == net->ws->B_cap)
        return STEN_OK;
    sten_workspace *ws;
    sten_status st = sten__ws_new(ctx, net, B, &ws);
    if (st)
        return st;
    sten_workspace_free(ctx, net->ws);
    net->ws = ws;
    return bf16_deltas(ctx, net);
}

sten_status sten_net_set_precision(sten_ctx *ctx, sten_net *net, sten_precision p)
{
    if (p != STEN_PRECISION_FP32 && p != STEN_PRECISION_BF16 && p != STEN_PRECISION_AUTO &&
        p != STEN_PRECISION_INT8)
        return sten_fail(ctx, STEN_E_INVALID, "precision %d: not fp32, bf16, int8 or auto", (int)p);
    /* int8: inference only, every CPU (the portable loop where there is no
     * AVX-512 VNNI); the quantized weights are made before inference reads
     * them (src/rec/predict.c), under the model's lock */
    net->int8 = p == STEN_PRECISION_INT8;
    if (net->int8) {
        net->bf16 = false;
        return STEN_OK;
    }
    if (p == STEN_PRECISION_AUTO) {
        sten_precision_report r;
        sten_precision_probe(ctx, &r);
        p = r.choice;
    }
    if (p == STEN_PRECISION_BF16 && !sten__bf16_available())
        return sten__kernels_setting()
                   ? sten_fail(ctx, STEN_E_UNSUPPORTED, "bf16 precision needs AVX-512 BF16 (%s turns it off)",
                               sten__kernels_setting())
                   : sten_fail(ctx, STEN_E_UNSUPPORTED,
                               "bf16 precision needs a CPU with AVX-512 BF16 (this one has none)");
    net->bf16 = p == STEN_PRECISION_BF16;
    if (!net->bf16)
        return STEN_OK; /* the bf16 copies stay allocated, unused */
    for (uint32_t i = 0; i < net->n_layers; i++) {
        nn_layer *L = &net->layers[i];
        const nn_weight *cw = sten__single_dense_in(net, L);
        if (!cw)
            continue;
        nn_weight *w = &net->weights[L->in[0]];
        if (w->owner != (int)L->in[0]) /* shared: its owner's products stay fp32 */
            continue;
        if (!w->Wb && !(w->Wb = sten_alloc(ctx, (size_t)w->rows * w->cols * sizeof *w->Wb)))
            return STEN_E_NOMEM;
        w->wb_ver = 0;
    }
    return bf16_deltas(ctx, net);
}

sten_status sten_net_init_weights(sten_ctx *ctx, sten_net *net, uint64_t seed)
{
    (void)ctx;
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].ops->init)
            net->layers[i].ops->init(net, &net->layers[i], seed);
    net->step = 0;
    sten__net_changed(net);
    return STEN_OK;
}
