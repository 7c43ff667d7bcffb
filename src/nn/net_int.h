/* net_int.h — the runtime form of a network (layers, weights, buffers for
 * one mini-batch) shared by the files of src/nn. The public face is the
 * opaque sten_net in sten.h. */
#ifndef STEN_NET_INT_H
#define STEN_NET_INT_H

#include "core/core_int.h"
#include "layer.h"

#define NN_MAX_IN (STEN_MAX_SOURCES)

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
    uint16_t *Wb;        /* bf16 precision: W rounded, for the products (owner) */
    bool wb_ok;          /* Wb matches W (cleared by whatever else writes W) */
    /* fp32 recommendation screened in bf16 (src/rec/predict.c): W item-major
     * for rescoring, each item's column norm, the largest |W| */
    float *Wt, *wn, wmax;
    bool scr_ok;         /* Wt and wn match W */
    uint32_t *Wbp;       /* inference: Wb packed once for the NN kernel */
    bool wbp_ok;         /* Wbp matches Wb */
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
    bool fuse_loss;       /* output whose activation the loss pass can compute */
    bool act_deferred;    /* act holds z: the last forward left the activation to the loss */
    bool loss_fused;      /* the last forward also computed loss and delta, chunk by
                             chunk inside the output product (partials in T->part) */
    /* batch buffers, B_cap x N, row-major with ld = N */
    float *out;   /* what the next layers read (after dropout) */
    float *act;   /* activation before dropout (== out when no dropout) */
    float *mask;  /* dropout factor per unit (NULL when no dropout) */
    float *delta; /* dL/d(out), then dL/dz in backward */
    uint16_t *delta_b; /* bf16 precision: dL/dz rounded, for the products */
    bool db_ok;        /* delta_b holds this batch's final delta (the fused loss) */
    sten_csr x, xt; /* sparse input batch and its transpose */
    uint32_t n_in;
    uint32_t in[NN_MAX_IN]; /* incoming weight indices */
    uint32_t n_skip;
    uint32_t skip[STEN_MAX_SKIPS]; /* layer indices */
};

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
    uint32_t B_cap, B; /* capacity and current batch rows */
    nn_target *targets; /* per layer (only output layers used) */
    double loss, reg;   /* of the last step: data loss, regularisation */
    uint64_t step;      /* optimizer steps taken */
    int opt_state;      /* optimizer whose state is allocated, -1 = none */
    bool training;
    bool bf16;          /* STEN_PRECISION_BF16 (sten_net_set_precision) */
    bool rank_only;     /* inference for top-K: a strictly increasing output activation
                           can wait until the K winners are known */
    uint32_t epoch;     /* for denoising randoms */
    uint64_t seed;
    uint32_t *batch_ids; /* example ids of the current batch */
    sten__topk_acc *topk; /* set by sten_net_recommend when the output layer can
                             hand its product straight to top-K (never stored) */
    sten__topk_acc *topk_keep; /* that accumulator, kept for the next call */
    bool screen;          /* with topk: the output product in bf16, its bounds per row
                             set for the screening accumulator (exact fp32 results) */
    sten_status fwd_st;   /* a forward pass's failure (a product's scratch could not
                             be had), for the caller to return; STEN_OK otherwise */
    double *row_loss;    /* per-row loss scratch (summed in order) */
    uint64_t *row_end;   /* per-row scratch of the batch loader */
};

/* net.c */
int sten__net_find_layer(const sten_net *net, const char *name);
/* forward.c: one batch through the network, losses and gradients. */
sten_status sten__net_load_batch(sten_ctx *ctx, sten_net *net, const uint32_t *ids, uint32_t B);
void sten__net_forward(sten_ctx *ctx, sten_net *net);
/* Loss of the output layers (sets net->loss, net->reg) and their deltas. */
void sten__net_loss(sten_ctx *ctx, sten_net *net);
/* Back-propagates and fills every gW/gb with the gradient of the summed
 * batch loss (not divided by B). Needs the gradient buffers (below). */
void sten__net_backward(sten_ctx *ctx, sten_net *net);
/* The same, but fusable weights are updated by SGD in place (fz) instead of
 * getting a gradient; their `fused` flag tells the optimizer step. */
void sten__net_backward_fused(sten_ctx *ctx, sten_net *net, const nn_fuse *fz);
/* Allocates the weight gradient buffers: all of them, or only those of
 * weights that cannot be fused. Idempotent; run outside the step loop. */
sten_status sten__net_alloc_grads(sten_ctx *ctx, sten_net *net, bool all);
bool sten__act_increasing(const nn_layer *L);
/* Folds every weight's deferred scale into W (end of an epoch, before
 * anything outside the step loop reads W). */
void sten__net_settle(sten_ctx *ctx, sten_net *net);
void sten__weight_settle(sten_ctx *ctx, nn_weight *w); /* one weight's */
/* W changed other than through a bf16-aware product: its bf16 copy is stale. */
static inline void sten__w_changed(nn_weight *w)
{
    w->wb_ok = false;
    w->scr_ok = false;
    w->wbp_ok = false;
}
/* The weight of a layer whose pre-activation is one dense, untransposed
 * product plus bias (no skips, no dropout): what the chunked product and
 * its fused consumers (loss, top-K) need; NULL otherwise. */
static inline const nn_weight *sten__single_dense_in(const sten_net *net, const nn_layer *L)
{
    return L->ops->dense_product ? L->ops->dense_product(net, L) : NULL;
}
/* loss.c: one output layer's loss and delta dL/dz (with its activation). */
double sten__loss_layer(sten_ctx *ctx, const sten_net *net, const nn_layer *L,
                        const nn_target *T, uint32_t B);
/* The same for columns [j0, j1) of every row of a fused-loss output, on z
 * as the product left it (called on each finished chunk of the output
 * product): row b's column j at zc[b * ldz + (j - j0)], in L->act or in a
 * chunk buffer. The delta is written over z, the loss of row b into
 * T->part[chunk * B + b]; with gb, the columns' delta sums (the bias
 * gradient) are added to gb[j0..j1). */
void sten__loss_chunk(const sten_net *net, const nn_layer *L, nn_target *T, int64_t chunk,
                      uint32_t j0, uint32_t j1, float *zc, int64_t ldz, float *gb);
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
void sten__optim_step(sten_ctx *ctx, sten_net *net, const sten_train_desc *t, float alpha);
double sten__weight_reg(sten_ctx *ctx, const sten_net *net, float lambda, float lambda1);

#endif
