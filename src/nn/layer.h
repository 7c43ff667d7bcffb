/* layer.h — what a layer type is to the rest of nn: a table of operations
 * (build, init, forward, backward) filled by one file per type, the type's
 * own settings (config keys and model-file attributes), and the parameter
 * list every trainable tensor is entered in. The trainer, the optimizer, the
 * model files and the predictor go through these and never ask a layer's
 * type. Adding a type: docs/architecture.md. */
#ifndef STEN_LAYER_H
#define STEN_LAYER_H

#include "core/core_int.h"

typedef struct nn_layer nn_layer;
typedef struct nn_weight nn_weight;
typedef struct nn_fuse nn_fuse;

/* ------------------------------------------------------------ settings */

/* One type-specific setting, kept in sten_layer_desc.setting[index] (NaN =
 * not given). key: its config key (NULL: not settable from a config);
 * attr: its model-file attribute after "layer<i>_" (NULL: not stored);
 * whole: an integer (stored as NC_UINT); def: what the file records when
 * the setting was not given. */
typedef struct {
    const char *key;
    const char *attr;
    uint32_t index;
    bool whole;
    double lo, hi;
    float def;
} nn_setting;

/* ------------------------------------------------------------ parameters */

/* How the optimizer updates a parameter: every element, or only the rows
 * (of row_len elements) that this batch touched — the non-empty rows of
 * the transposed sparse batch of layer `rows_of` (lazy sparse updates: an
 * absent row keeps its value and optimizer state, and is not decayed). */
typedef enum { NN_UPDATE_DENSE = 0, NN_UPDATE_ROWS = 1 } nn_update;

/* One trainable tensor with its gradient, optimizer state and update rule.
 * The optimizer, the model writer and reader, gradient checks and (later)
 * the MPI all-reduce walk the network's list of these the same way. */
typedef struct {
    char name[160];     /* for messages and tests: "weight0 W", "weight1 factors" */
    float *w, *g;       /* values; gradient as batch sums (NULL: the network
                           allocates it for training, and frees it: own_g) */
    bool own_g;
    float *s1, *s2;     /* optimizer state (sten__optim_alloc), or NULL */
    uint64_t s_n;       /* elements of each state array (n, or rows for row-wise Adagrad) */
    bool row_wise;      /* NN_UPDATE_ROWS: AdaGrad keeps one accumulator per row, the
                           mean of the row's squared gradients (DLRM's embeddings) */
    bool g_compact;     /* NN_UPDATE_ROWS: where the batch's transpose of rows_of is
                           compact, the gradient is kept per touched row in the
                           workspace (sten__param_grad) instead of table-sized here */
    uint64_t n;         /* elements */
    nn_update update;
    uint32_t row_len;   /* NN_UPDATE_ROWS: elements per row */
    uint32_t rows_of;   /* NN_UPDATE_ROWS: the sparse input layer whose batch names the rows */
    float lr;           /* multiplies the optimizer's rate; NaN = 1 */
    float l2, l1;       /* decay; NaN = the optimizer's Lambda / Lambda1 */
    float clip;         /* clips the mean gradient elementwise first; 0 = no */
    bool reg;           /* counted in the reported regularisation term */
    /* model file: variable "<ns><var>", optimizer state "<ns><state>s1"/"s2",
     * where ns is "weight<conn>_" (conn >= 0) or "layer<layer>_" */
    int conn;
    uint32_t layer;
    const char *var, *state;
    bool required;      /* a model file must hold it (DSSTNE's own variables) */
    /* a connection's matrix: updated inside back-propagation when `fused`
     * says so this step, WeightNorm applied after the update, and its derived
     * copies (bf16, serving data) stale after it */
    nn_weight *matrix;
} nn_param;

/* ------------------------------------------------------------ operations */

typedef struct {
    const char *name;       /* the config's "Type" spelling */
    sten_layer_type type;   /* the code model files store */
    const nn_setting *settings;
    size_t n_settings;
    /* whether plain SGD may update the layer's incoming matrices inside its
     * backward pass (nn_fuse) */
    bool fused_sgd;
    /* no connection (matrix and bias) per source: the type combines its
     * sources' outputs itself */
    bool weightless;
    /* N from the sources' widths ("N": "auto" without a DataSet), or 0 while
     * a source's width is not known yet. NULL: N is the config's. */
    uint32_t (*width)(const sten_net *net, const nn_layer *L);
    /* config checks that need no data (the settings' ranges are checked by
     * the parser); msg gets the reason. NULL: nothing to check. */
    bool (*check)(const sten_layer_desc *d, char *msg, size_t cap);
    /* After sources are resolved: validates them, allocates the type's
     * state and enters its parameters in the list (sten__net_add_param). */
    sten_status (*build)(sten_ctx *ctx, sten_net *net, nn_layer *L);
    void (*free)(sten_ctx *ctx, nn_layer *L);
    /* initial values of its parameters, deterministic for a seed */
    void (*init)(const sten_net *net, nn_layer *L, uint64_t seed);
    /* the layer's activations for ws's batch, from its sources' */
    void (*forward)(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, nn_layer *L);
    /* from its delta = dL/dz: the parameters' gradients (or, with fz, their
     * fused SGD update) and the sources' deltas */
    void (*backward)(sten_ctx *ctx, sten_net *net, sten_workspace *ws, nn_layer *L, const nn_fuse *fz);
    /* a term the type adds to the training objective for the batch (summed
     * over its examples; the Variational layer's KL), whose gradient its
     * backward adds. NULL: none. */
    double (*objective)(const sten_net *net, const sten_workspace *ws, const nn_layer *L);
    /* floats of per-example scratch the type needs in a workspace (NULL: none) */
    uint64_t (*ws_floats)(const sten_net *net, const nn_layer *L);
    /* The weight of a layer whose pre-activation is one dense, untransposed
     * product plus bias (what chunked consumers such as the fused loss and
     * top-K need), or NULL. NULL function: never. */
    const nn_weight *(*dense_product)(const sten_net *net, const nn_layer *L);
} nn_layer_ops;

/* layers.c: the registry */
const nn_layer_ops *sten__layer_ops(sten_layer_type type);
const nn_layer_ops *sten__layer_ops_named(const char *name); /* case-insensitive */
size_t sten__layer_ops_count(void);
const nn_layer_ops *sten__layer_ops_at(size_t i);
/* The setting `key` (case-insensitive) of a type, or NULL. */
const nn_setting *sten__layer_setting(const nn_layer_ops *ops, const char *key);
/* Setting i of a layer, or def when not given. */
static inline float sten__setting_or(const sten_layer_desc *d, uint32_t i, float def)
{
    const float v = d->setting[i];
    return v != v ? def : v;
}

/* n layer descriptions copied with what they own (dst must hold n; on
 * failure, free it with sten__layer_descs_free), and freed. */
sten_status sten__layer_descs_copy(sten_ctx *ctx, sten_layer_desc *dst, const sten_layer_desc *src,
                                   uint32_t n);
void sten__layer_descs_free(sten_ctx *ctx, sten_layer_desc *l, uint32_t n);

/* Whether a FullyConnected Input layer scales each example to unit norm. */
bool sten__fc_normalizes(const nn_layer *L);

/* The layer types (one file each). */
extern const nn_layer_ops sten__layer_fully_connected, sten__layer_fm, sten__layer_concat,
    sten__layer_embedding, sten__layer_interaction, sten__layer_variational;

#endif
