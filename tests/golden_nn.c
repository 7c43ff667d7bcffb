/* golden_nn.c — trains a small DSSTNE-style network (sparse input ->
 * Sigmoid hidden with sparseness penalty -> Sigmoid output, scaled marginal
 * cross-entropy) for a few steps with a given optimizer and prints every
 * weight and bias, for golden_nn.py to compare with an independent NumPy
 * computation. Usage: golden_nn sgd|sgd-fused|adam|momentum */
#include "nn/net_int.h"
#include "nn_fixtures.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 64;
    sten_ctx *ctx;
    sten_ctx_init(&ctx);
    sten_ctx_set_threads(ctx, 1);
    sten_layer_desc L[3] = {
        fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("Hidden", STEN_LAYER_HIDDEN, 4, STEN_ACT_SIGMOID),
        fx_layer("Output", STEN_LAYER_OUTPUT, 0, STEN_ACT_SIGMOID),
    };
    L[0].N_auto = L[2].N_auto = true;
    L[0].sparse = true;
    L[1].sparse = true;
    strcpy(L[0].dataset, "in");
    strcpy(L[2].dataset, "out");
    sten_net_desc d = fx_desc(L, 3);
    d.loss = STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY;
    d.smce_one_target = 1.0f;
    d.smce_zero_target = 0.0f;
    d.smce_one_scale = 1.5f;
    d.smce_zero_scale = 0.5f;
    d.sparseness_p = 0.3f;
    d.sparseness_beta = 0.5f;
    d.shuffle_indices = false;
    /* 4 examples over 6 features; the target is the input itself */
    static const uint32_t rows[4][3] = {{0, 2, 5}, {1, 2, 9}, {3, 9, 9}, {0, 4, 5}};
    sten_dataset ds[2];
    for (int k = 0; k < 2; k++) {
        memset(&ds[k], 0, sizeof ds[k]);
        ds[k].name = k ? "out" : "in";
        ds[k].attributes = STEN_DS_SPARSE | STEN_DS_BOOLEAN;
        ds[k].dims = 1;
        ds[k].width = 6;
        ds[k].examples = ds[k].unique = 4;
        sten_csr_init(ctx, &ds[k].sparse, 4, 6, 12, false);
        uint64_t e = 0;
        for (int r = 0; r < 4; r++) {
            for (int j = 0; j < 3; j++)
                if (rows[r][j] < 6)
                    ds[k].sparse.col[e++] = rows[r][j];
            ds[k].sparse.row_ptr[r + 1] = e;
        }
        ds[k].sparse.rows = 4;
        ds[k].sparse.nnz = e;
    }
    sten_net *net;
    if (sten_net_build(ctx, &d, ds, 2, 2, &net)) {
        fprintf(stderr, "%s\n", sten_ctx_error(ctx));
        return 1;
    }
    /* weights from a formula both sides share */
    for (uint32_t k = 0; k < net->n_weights; k++) {
        nn_weight *w = &net->weights[k];
        for (uint32_t i = 0; i < w->rows; i++)
            for (uint32_t j = 0; j < w->cols; j++)
                w->W[i * w->cols + j] = 0.5f * sinf((float)(i * 7 + j * 3 + k));
        for (uint32_t j = 0; j < w->cols; j++)
            w->b[j] = 0.1f * cosf((float)(j + k));
    }
    sten_train_opts o;
    memset(&o, 0, sizeof o);
    o.t = d.training;
    o.t.epochs = 3;
    o.t.alpha = 0.1f;
    o.t.lambda = 0.01f;
    o.t.lambda1 = 0.001f;
    o.t.batch_size = 2;
    if (!strcmp(argv[1], "sgd-fused")) /* no L1: SGD runs inside back-propagation */
        o.t.lambda1 = 0.0f;
    if (!strcmp(argv[1], "adam")) {
        o.t.optimizer = STEN_OPT_ADAM;
        o.t.alpha = 0.01f;
    } else if (!strcmp(argv[1], "momentum")) {
        o.t.optimizer = STEN_OPT_MOMENTUM;
        o.t.mu = 0.9f;
        o.t.set |= 1u << STEN_TRAIN_MU;
    }
    sten_train_desc_resolve(&o.t);
    if (sten_net_train(ctx, net, &o)) {
        fprintf(stderr, "%s\n", sten_ctx_error(ctx));
        return 1;
    }
    for (uint32_t k = 0; k < net->n_weights; k++) {
        const nn_weight *w = &net->weights[k];
        for (uint32_t i = 0; i < w->rows * w->cols; i++)
            printf("W%u %u %.9g\n", k, i, w->W[i]);
        for (uint32_t j = 0; j < w->cols; j++)
            printf("b%u %u %.9g\n", k, j, w->b[j]);
    }
    sten_net_free(ctx, net);
    fx_free(ctx, &ds[0]);
    fx_free(ctx, &ds[1]);
    sten_ctx_free(ctx);
    return 0;
}
