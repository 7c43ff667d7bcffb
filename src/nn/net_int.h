/* net_int.h — the runtime form of a network (layers, weights, buffers for
 * one mini-batch) shared by the files of src/nn. The public face is the
 * opaque sten_net in sten.h. */
#ifndef STEN_NET_INT_H
#define STEN_NET_INT_H

#include "core/core_int.h"
#include "layer.h"

#include <pthread.h>

/* A connection source -> layer with its own bias. Shared weights point at
 * their owner's matrix; gradients of every user land in the owner's. */
struct nn_weight {
    uint32_t src, dst;  /* layer indices */
    uint32_t rows, cols; /* stored matrix shape: input-major (N_src x N_dst), or the owner's */
    int owner;           /* weight index whose matrix this uses; itself when not shared */
    bool transposed;     /* uses the owner's matrix transposed */
    float *W, *gW;       /* rows x cols; for shared weights the owner's */
    float *b, *gb;       /* N_dst; never shared */
    bool g_fresh;        /* gW not yet written this step (owner) */
    bool fusable;        /* plain SGD can update W inside the gradient product (no gW) */
    bool fused;          /* W was updated during this step's backward pass */
    bool gb_done;        /* gb already holds this batch's bias gradient (summed
                            chunk by chunk by the fused loss) */
    float scale;         /* W's true value is scale * W (owner): plain SGD's decay of a
                            sparse input's weights is deferred into it instead of a
                            pass over every row each step; 1 outside training */
    /* Derived data (owner), each with the net->version it was made from
     * (0: never). Wb: bf16 precision, W rounded for the products (the fused
     * bf16 update keeps it current); Wt, wn, wmax: fp32 recommendation
     * screened in bf16 (src/rec/predict.c): W item-major for rescoring,
     * each item's column norm, the largest |W|; Wbp: inference, Wb packed
     * once for the NN kernel; Wq: int8 precision (inference), W quantized
     * for sten__qgemm. */
    uint16_t *Wb;
    bool wb_dctx;        /* Wb came from the model's own context (net->dctx) */
    uint64_t wb_ver;
    float *Wt, *wn, wmax;
    uint64_t scr_ver;
    uint32_t *Wbp;
    uint64_t wbp_ver;
    sten_qmat Wq;
    uint64_t wq_ver;
    /* Model parallelism (shard.c): this matrix is the block at row row0,
     * column col0 of a full_rows x full_cols matrix (the whole of it
     * when not sharded); initial values and fan sizes are the full one's. */
    uint32_t full_rows, full_cols, row0, col0;
};

/* Plain SGD (no L1) folded into back-propagation: W <- (1 - alpha lambda) W
 * - alpha/B * grad, inside the gradient's own GEMM or sparse product, so the
 * weight gradient is never stored. */
struct nn_fuse {
    float alpha, lambda;
};

struct nn_layer {
    const sten_layer_desc *d;
    const nn_layer_ops *ops; /* what its type does */
    void *priv;              /* the type's own state (ops->build / ops->free) */
    sten_layer_kind kind;
    uint32_t N;
    sten_act fn;         /* activation function */
    sten_act_params ap;
    float p_dropout;
    float sp_p, sp_beta;  /* sparseness penalty; beta 0 = off */
    int ds;               /* bound dataset index, -1 = none */
    bool sparse_in;       /* input layer fed from a sparse dataset */
    bool denoise;         /* sparse input with Denoising */
    bool normalize;       /* sparse input scaled to unit L2 norm per example */
    bool fuse_loss;       /* output whose activation the loss pass can compute */
    bool softmax_z;       /* a SoftMax output whose loss (CrossEntropy or Multinomial on
                             sparse targets) takes z: no separate softmax pass in training */
    uint32_t n_in;
    uint32_t n_src;
    uint32_t *src;       /* source layer indices, in the order of its Sources */
    uint32_t *in;        /* incoming weight indices (a weightless type has none) */
    uint32_t n_skip;
    uint32_t skip[STEN_MAX_SKIPS]; /* layer indices */
    /* Model parallelism (shard.c): this layer holds units off .. off+N of
     * N_full (a sharded Input or Output layer: an item range); its
     * pre-activation is a partial sum to add up over the group (sources
     * sharded), or its delta is (it feeds sharded layers). */
    bool sharded, group_sum, group_delta;
    uint32_t N_full, off;
    /* Model parallelism over tables (an Embedding layer of a network built
     * by sten_net_build_sharded with Embedding layers): the member holding
     * its whole table (the others hold none, and their output is zero
     * before the group sum); -1 on every other layer and network. */
    int owner;
};

/* One layer's part of a workspace: what a pass over one batch writes.
 * Buffers are B_cap x N, row-major with ld = N. */
typedef struct {
    float *out;   /* what the next layers read (after dropout) */
    float *act;   /* activation before dropout (== out when no dropout) */
    float *mask;  /* dropout factor per unit (NULL when no dropout) */
    float *delta; /* dL/d(out), then dL/dz in backward */
    uint16_t *delta_b; /* bf16 precision: dL/dz rounded, for the products */
    bool db_ok;        /* delta_b holds this batch's final delta (the fused loss) */
    bool delta_chunked; /* ... and only delta_b: the fp32 delta stayed in per-thread chunks */
    bool act_deferred; /* act holds z: the last forward left the activation to the loss */
    bool loss_fused;   /* the last forward also computed loss and delta, chunk by
                          chunk inside the output product (partials in T->part) */
    sten_csr x, xt;    /* sparse input batch and its transpose */
    uint32_t *rid;     /* a compact transpose (inputs far wider than a batch's entries):
                          xt's row q is input row rid[q]; NULL: xt has every row */
    uint64_t *keys;    /* its sorting scratch */
    float *scratch;    /* the layer type's own per-batch floats (ops->ws_floats) */
    bool delta_set;    /* backward: its one reader, a fully connected layer, writes the
                          delta whole (beta 0), so it is not zeroed first */
    uint16_t *out_b;   /* a chain link's output in bf16 only (layer_fc.c): up32(B_cap)
                          rows of up32(N), zero past N; NULL until first used */
    bool outb_ok;      /* out_b holds this pass's output (and out does not) */
} nn_buf;

/* A sparse dataset's distinct row lengths, longest first, each with how
 * many rows have it (v[2i], v[2i + 1]): the bound on a batch's entries for
 * any batch size without a pass over the rows (a workspace made like
 * another, one per scoring thread, takes its template's). */
typedef struct {
    uint64_t *v;
    uint32_t n;
} nn_lens;

/* The target of an output layer for the current batch. */
typedef struct {
    sten_csr t;     /* sparse targets (val NULL = boolean) */
    float *dense;   /* dense targets, B_cap x N */
    float *weight;  /* per-example weights or NULL */
    float *stash;   /* fused-loss outputs: the listed items' activations, saved
                       before the delta overwrites them in place (cap of t) */
    double *part;   /* fused-loss outputs: loss per (column chunk, row), summed
                       in a fixed order (chunks of the output product) */
    uint64_t *cstart; /* fused-loss outputs: each row of t is grouped by column
                         chunk (stable); entries of row b, chunk c start at
                         cstart[b * (chunks + 1) + c] */
    uint32_t *scol;   /* scratch for the grouping (cap of t) */
    float *sval;
} nn_target;

struct sten_net {
    sten_net_desc desc; /* deep copy: layers owned */
    const sten_dataset *ds;
    size_t n_ds;
    uint64_t examples;
    uint32_t n_layers, n_weights;
    nn_layer *layers;
    nn_weight *weights;
    nn_param *params;  /* every trainable tensor, in the order the layers entered them */
    uint32_t n_params, params_cap;
    uint32_t *order;   /* forward order of layer indices */
    uint64_t step;      /* optimizer steps taken */
    int opt_state;      /* optimizer whose state is allocated, -1 = none */
    bool bf16;          /* STEN_PRECISION_BF16 (sten_net_set_precision) */
    bool int8;          /* STEN_PRECISION_INT8: inference's dense products in int8 */
    uint32_t epoch;     /* for denoising randoms */
    uint64_t seed;
    /* Weights change in steps, init, loads and end-of-epoch settling, each
     * of which bumps `version`; data derived from them (bf16 copies, packed
     * strips, screening data) records the version it was made from, so it
     * is never invalidated by hand. Inference builds what it needs under
     * `lock` before reading (sten__net_prepare), so any number of threads
     * can share one model. */
    uint64_t version;
    pthread_mutex_t lock;
    /* What inference derives from the weights is allocated through the
     * model's own context, under `lock` (the callers' contexts are each
     * one thread's). */
    sten_ctx *dctx;
    sten_workspace *ws; /* the network's own workspace: training and the
                           single-thread calls (sten_net_infer / _recommend) */
    /* Model parallelism (sten_net_build_sharded, shard.c): the group this
     * network is one shard of, or NULL; the caller's whole datasets (what a
     * full model is built on for saving); this shard's own column slices
     * of them (sliced[i]: its CSR is the shard's). */
    const sten_comm *comm;
    bool tables;         /* split by tables (nn_layer.owner), not by item ranges */
    const sten_dataset *full_ds;
    size_t n_full_ds;
    sten_dataset *shard_ds;
    bool *sliced;
};

/* How a forward pass runs: an argument, never a flag on the shared model.
 *  NN_TRAIN: dropout, denoising, the input's transpose, the fused loss;
 *  NN_EVAL:  inference, every activation computed;
 *  NN_RANK:  inference for top-K: an order-keeping output activation waits
 *            for the K winners, and with ws->topk the output product goes
 *            straight into it (never stored). */
typedef enum { NN_TRAIN = 0, NN_EVAL = 1, NN_RANK = 2 } nn_mode;

/* What a forward and backward pass over one batch need besides the model:
 * per-layer buffers, targets, top-K accumulators. One per thread. */
struct sten_workspace {
    const sten_net *net; /* the model it was made for */
    const sten_dataset **lds; /* per layer: the dataset it reads (NULL: none), the
                                 network's own or the workspace's (sten_workspace_new_on) */
    nn_lens *lens;       /* per layer: its sparse dataset's row lengths (v NULL: none) */
    uint64_t examples;   /* of those datasets */
    uint32_t B_cap, B;   /* capacity and current batch rows */
    nn_mode mode;        /* of the current pass */
    nn_buf *buf;         /* per layer */
    nn_target *targets;  /* per layer (only output layers used) */
    double loss, reg;    /* of the last pass: data loss, regularisation */
    uint32_t *batch_ids; /* example ids of the current batch */
    sten__topk_acc *topk; /* NN_RANK: the accumulator the output product feeds, or NULL */
    sten__topk_acc *topk_keep; /* that accumulator, kept for the next call */
    bool screen;          /* with topk: the output product in bf16, its bounds per row
                             set for the screening accumulator (exact fp32 results) */
    bool chain;           /* NN_EVAL read at an output layer only (sten_net_infer_ws):
                             hidden layers may pass their output on in bf16 alone
                             (layer_fc.c, chain_out) */
    sten_status fwd_st;   /* a forward pass's failure (a product's scratch could not
                             be had), for the caller to return; STEN_OK otherwise */
    double *row_loss;    /* per-row loss scratch (summed in order) */
    uint64_t *row_end;   /* per-row scratch of the batch loader */
    float **pgrad;       /* per parameter: its gradient by the compact transpose's rows
                            (g_compact parameters in training), or NULL */
    uint32_t n_pgrad;
    sten_dataset *rows;  /* a rows workspace's own input dataset (sten_workspace_new_rows),
                            refilled by each call; NULL otherwise */
    uint32_t *row_ids;   /* with rows: 0 .. B_cap-1 */
};

static inline nn_buf *sten__buf(sten_workspace *ws, const sten_net *net, const nn_layer *L)
{
    return &ws->buf[L - net->layers];
}

/* net.c */
int sten__net_find_layer(const sten_net *net, const char *name);
/* The network's own workspace made for batches of B (training's size). */
sten_status sten__net_set_batch(sten_ctx *ctx, sten_net *net, uint32_t B);
/* A workspace for batches of up to B_cap examples (sten_workspace_new), on
 * the network's datasets, or with ds, on the datasets of ds named as the
 * layers' DataSets (inputs required; `what` names them in messages). */
sten_status sten__ws_new(sten_ctx *ctx, const sten_net *net, uint32_t B_cap, sten_workspace **out);
/* A workspace reading the datasets `like` reads, for batches of up to B_cap
 * (a thread's own, for work split over threads). */
sten_status sten__ws_like(sten_ctx *ctx, const sten_workspace *like, uint32_t B_cap, sten_workspace **out);
/* Recall@K and NDCG@K of the network's ranking on the examples of ws
 * (rank_valid.c; sten_train_opts.rank_k says what they are). */
sten_status sten__rank_validation(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, uint32_t K,
                                  double *recall, double *ndcg);
sten_status sten__ws_new_on(sten_ctx *ctx, const sten_net *net, const sten_dataset *ds, size_t n_ds,
                            const char *what, uint32_t B_cap, sten_workspace **out);
/* Weights changed (a step, init, load, settling): what was derived from
 * them is stale. */
static inline void sten__net_changed(sten_net *net)
{
    net->version++;
}
/* shard.c: model parallelism. The group sum of a buffer of n floats (a
 * layer's partial pre-activation or delta), in place. */
sten_status sten__group_sum(const sten_net *net, float *buf, uint64_t n);
/* Whether every member of c succeeded (collective): this member's st if it
 * failed, else STEN_E_IO with the message `other` if another one did, else
 * STEN_OK. */
sten_status sten__group_verdict(sten_ctx *ctx, const sten_comm *c, sten_status st, const char *other);
/* Saving a sharded network (collective; rank 0 writes the whole model one
 * block at a time): member m's block of parameter i, within the full one;
 * the full parameter's length; rows [row, row + rows) of member m's block
 * of array a (0 values, 1 and 2 optimizer state) of sharded parameter i
 * sent to rank 0 (recv, there; collective); what the members other than 0
 * do while rank 0 writes:
 * send each of their blocks in the order rank 0 asks for them. */
void sten__shard_block(const sten_net *net, const nn_param *p, int a, int m, uint32_t *row0, uint32_t *rows,
                       uint32_t *col0, uint32_t *cols);
uint64_t sten__shard_full_len(const sten_net *net, const nn_param *p, int a);
sten_status sten__shard_fetch(const sten_net *net, uint32_t i, int a, int m, uint32_t row, uint32_t rows,
                              float *recv);
/* Rows of a block of `cols` columns sent at once (about 4 MB). */
uint32_t sten__shard_piece_rows(uint32_t cols);
sten_status sten__shard_send(const sten_net *net);
/* Whether parameter i is one shard of a larger one (else every member
 * holds the same values). */
bool sten__param_sharded(const sten_net *net, uint32_t i);
/* Whether the model has array a (0 values, 1 and 2 optimizer state) of a
 * parameter: the same answer on every member of a sharded network, also
 * where this member holds none of it (another member's table). */
bool sten__param_has(const sten_net *net, const nn_param *p, int a);
/* Whether optimizer o keeps array a of a parameter (0 values, 1 and 2 state). */
bool sten__optim_has(sten_optimizer o, int a);
/* sten_net_build, and with `tables` (a group), the network split by
 * Embedding tables over it: each table's owner chosen before the layers
 * are built, so no other member ever allocates it. */
sten_status sten__net_build_in(sten_ctx *ctx, const sten_net_desc *d, const sten_dataset *ds, size_t n_ds,
                               uint32_t batch, const sten_comm *tables, sten_net **out);
/* A member's column slices of datasets (those the split layers of d bind;
 * sliced[i] says which; the others are shallow copies), and their release. */
sten_status sten__shard_datasets(sten_ctx *ctx, const sten_net_desc *d, const sten_comm *comm,
                                 const sten_dataset *ds, size_t n_ds, sten_dataset **out, bool **sliced);
void sten__shard_datasets_free(sten_ctx *ctx, sten_dataset *sds, bool *sliced, size_t n_ds);

/* forward.c: one batch through the network, losses and gradients. */
sten_status sten__net_load_batch(sten_ctx *ctx, const sten_net *net, sten_workspace *ws,
                                 const uint32_t *ids, uint32_t B, nn_mode mode);
void sten__net_forward(sten_ctx *ctx, const sten_net *net, sten_workspace *ws);
/* Loss of the output layers (sets ws->loss, ws->reg) and their deltas. */
void sten__net_loss(sten_ctx *ctx, const sten_net *net, sten_workspace *ws);
/* Back-propagates and fills every gW/gb with the gradient of the summed
 * batch loss (not divided by B). Needs the gradient buffers (below). */
void sten__net_backward(sten_ctx *ctx, sten_net *net, sten_workspace *ws);
/* The same, but fusable weights are updated by SGD in place (fz) instead of
 * getting a gradient; their `fused` flag tells the optimizer step. */
void sten__net_backward_fused(sten_ctx *ctx, sten_net *net, sten_workspace *ws, const nn_fuse *fz);
/* Where parameter i's gradient is in ws: *rows = NULL, p->g (row r at r *
 * row_len); or *rows = the compact transpose's row ids, row q at q * row_len. */
static inline float *sten__param_grad(const sten_net *net, const sten_workspace *ws, uint32_t i,
                                      const uint32_t **rows)
{
    const nn_param *p = &net->params[i];
    const bool c = i < ws->n_pgrad && ws->pgrad[i];
    *rows = c ? ws->buf[p->rows_of].rid : NULL;
    return c ? ws->pgrad[i] : p->g;
}
/* Allocates the weight gradient buffers: all of them, or only those of
 * weights that cannot be fused. Idempotent; run outside the step loop. */
sten_status sten__net_alloc_grads(sten_ctx *ctx, sten_net *net, bool all);
bool sten__act_increasing(const nn_layer *L);
/* layer_fc.c: whether its backward forms the activation's derivative itself
 * (with the bias gradient and the delta's rounding, in one pass), so that
 * the generic pass leaves it */
bool sten__fc_delta_fused(const sten_net *net, const sten_workspace *ws, const nn_layer *L);
void sten__fc_delta_fuse(bool on); /* tests: off = the three passes (default on) */
/* Folds every weight's deferred scale into W (end of an epoch, before
 * anything outside the step loop reads W). */
void sten__net_settle(sten_ctx *ctx, sten_net *net);
void sten__weight_settle(sten_ctx *ctx, nn_weight *w); /* one weight's */
/* The dataset row of example id (datasets with an index map examples to
 * unique rows). */
static inline uint64_t sten__ds_row(const sten_dataset *d, uint64_t id)
{
    return d->index ? d->index[id] : id;
}
/* How many of R's Sources are layer li; with skip, whether one of R's skip
 * connections is li too. */
static inline uint32_t sten__reads(const nn_layer *R, uint32_t li, bool *skip)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < R->n_src; k++)
        n += R->src[k] == li;
    if (skip) {
        *skip = false;
        for (uint32_t k = 0; k < R->n_skip; k++)
            *skip |= R->skip[k] == li;
    }
    return n;
}
/* The weight of a layer whose pre-activation is one dense, untransposed
 * product plus bias (no skips, no dropout): what the chunked product and
 * its fused consumers (loss, top-K) need; NULL otherwise. */
static inline const nn_weight *sten__single_dense_in(const sten_net *net, const nn_layer *L)
{
    return L->ops->dense_product ? L->ops->dense_product(net, L) : NULL;
}
/* loss.c: one output layer's loss and delta dL/dz (with its activation). */
double sten__loss_layer(sten_ctx *ctx, const sten_net *net, sten_workspace *ws, const nn_layer *L,
                        const nn_target *T, uint32_t B);
/* The from-z zero-target pass of a Sigmoid output (CE/SMCE): d = scale a
 * where a = sigmoid(z) > thr, else 0; returns scale times the sum of the
 * kept -ln(1-a). sten__loss_set_isa narrows the kernels it may use (512:
 * AVX-512 where the CPU has it, 256: AVX2 + FMA at most, 0: the portable
 * loop, -1: back to the CPU's best) and returns the one now in use. */
double sten__loss_zero_pass(float *d, const float *z, uint32_t N, float scale, float thr);
int sten__loss_set_isa(int isa);

/* The same for columns [j0, j1) of every row of a fused-loss output, on z
 * as the product left it (called on each finished chunk of the output
 * product): row b's column j at zc[b * ldz + (j - j0)], in L->act or in a
 * chunk buffer. The delta is written over z, the loss of row b into
 * T->part[chunk * B + b]; with gb, the columns' delta sums (the bias
 * gradient) are added to gb[j0..j1); with db, the delta rounded to bf16
 * (sten__bf16) is written there too, row b's column j at db[b * lddb + j -
 * j0], in the same pass. */
void sten__loss_chunk(const sten_net *net, const sten_workspace *ws, const nn_layer *L, nn_target *T,
                      int64_t chunk, uint32_t j0, uint32_t j1, float *zc, int64_t ldz, float *gb,
                      uint16_t *db, int64_t lddb);
/* net.c: enters a parameter in the list (copied); *out, if not NULL,
 * points at the entry (valid until the next add). */
sten_status sten__net_add_param(sten_ctx *ctx, sten_net *net, const nn_param *p, nn_param **out);
/* A connection's matrix and bias as parameters, with the optimizer's own
 * settings (the fully connected layer's; other types adjust them). */
sten_status sten__net_add_weight_params(sten_ctx *ctx, sten_net *net, uint32_t k);
/* optim.c: one parameter array with the optimizer's rule; lambda is the L2
 * weight decay, clip > 0 clips each gradient element first. */
void sten__optim_update(sten_ctx *ctx, const sten_train_desc *t, uint64_t step, float alpha,
                        float lambda, float lambda1, float clip, float inv_B, float *w,
                        float *g, float *s1, float *s2, uint64_t n);
/* optim.c */
sten_status sten__optim_alloc(sten_ctx *ctx, sten_net *net, sten_optimizer opt);
/* Data-parallel training: the rows of a sparse-row parameter that any
 * member's batch touched (ascending) and their gradients summed over the
 * group (n x row_len). */
typedef struct {
    uint64_t n, cap;
    uint32_t *row;
    float *g;
} nn_rowset;
/* A dense parameter in a data-parallel group's shared area: this member
 * updates elements [lo, hi) of it (the weights and optimizer state every
 * member maps), from the sum of every member's gradient, gm[0..members)
 * in member order (its own among them). */
typedef struct {
    uint64_t lo, hi;
    const float *const *gm; /* NULL: not shared (the whole parameter, from p->g) */
    uint32_t members;
    bool summed;            /* [lo, hi) of this member's p->g holds the group's sum already
                               (several machines: summed across them first) */
    /* A sparse-row parameter (gm NULL, rid set): member m's rows touched
     * this step, cnt[m][i] of them ascending in rid[m], their gradients in
     * rg[m] (row q at q * row_len); this member updates all of them on its
     * own copy. pos, rowg: scratch for ctx->threads threads (pos: members
     * each; rowg: kmax floats each). */
    const uint32_t *const *rid;
    const float *const *rg;
    const volatile uint64_t *const *cnt;
    uint64_t *pos;
    float *rowg;
    uint32_t kmax;
    bool via_mpi;           /* this step summed through MPI_Allreduce instead (STEN_MPI_ALTERNATE) */
} nn_span;
/* out[0..len) = the members' gm[m][at..at+len) summed in member order
 * (out is none of them: the first pass would overwrite a later member). */
void sten__sum_members(float *out, const float *const *gm, uint32_t members, uint64_t at, uint64_t len);
/* One update from the gradient sums over `rows` examples (ws's batch
 * alone, or the whole group's batch in data-parallel training). rs: NULL,
 * or per parameter the row sets that replace ws's batch rows for the
 * sparse-row parameters. span: NULL, or per parameter this member's share
 * of a shared dense one. */
void sten__optim_step(sten_ctx *ctx, sten_net *net, const sten_workspace *ws, const sten_train_desc *t,
                      float alpha, uint64_t rows, const nn_rowset *rs, const nn_span *span);
double sten__weight_reg(sten_ctx *ctx, const sten_net *net, float lambda, float lambda1);

#endif
