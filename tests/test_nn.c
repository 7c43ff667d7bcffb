/* test_nn.c — the network engine: finite-difference gradient checks for every
 * hidden activation, every error function (sparse boolean, sparse valued and
 * dense targets) and the layer features (several sources, skip connections,
 * tied transposed weights, sparseness penalty, dropout, denoising, data
 * weights), plus value checks of DeltaNorm and WeightNorm. */
#include "check.h"
#include "nn/net_int.h"
#include "nn_fixtures.h"

#include <netcdf.h>
#include <unistd.h>

static sten_ctx *ctx;

static double objective(sten_net *net)
{
    sten__net_forward(ctx, net, net->ws);
    sten__net_loss(ctx, net, net->ws);
    return net->ws->loss + net->ws->reg;
}

/* Central differences on one parameter array p (n values) against the
 * analytic gradient g; counts checks in *total and mismatches in *bad. */
static void fd_array(sten_net *net, const char *what, const char *name, float *p, const float *g,
                     uint64_t n, int *total, int *bad)
{
    const double eps = 1e-3;
    float *ana = malloc((size_t)n * sizeof *ana);
    memcpy(ana, g, (size_t)n * sizeof *ana);
    for (uint64_t i = 0; i < n; i++) {
        const float save = p[i];
        p[i] = save + (float)eps;
        const double f1 = objective(net);
        p[i] = save - (float)eps;
        const double f2 = objective(net);
        p[i] = save;
        const double num = (f1 - f2) / (2 * eps);
        (*total)++;
        if (fabs(num - ana[i]) > 2e-3 + 2e-2 * fabs(num)) {
            if (*bad < 3)
                fprintf(stderr, "  %s: %s[%llu]: analytic %.6g numeric %.6g\n", what, name,
                        (unsigned long long)i, ana[i], num);
            (*bad)++;
        }
    }
    free(ana);
}

/* Every parameter (the list: weights, biases, factors) against central differences. Non-smooth
 * functions (RELU, L1, hinge) may straddle a kink for a few parameters:
 * allowed_bad of them may differ. */
static int grad_check(sten_net *net, const char *what, int allowed_bad)
{
    objective(net);
    sten__net_backward(ctx, net, net->ws);
    int bad = 0, total = 0;
    for (uint32_t i = 0; i < net->n_params; i++) {
        const nn_param *p = &net->params[i];
        const uint32_t *rows;
        const float *g = sten__param_grad(net, net->ws, i, &rows);
        float *full = NULL;
        if (rows) { /* kept per touched row: spread over the table (the rest is 0) */
            const sten_csr *xt = &net->ws->buf[p->rows_of].xt;
            full = calloc(p->n, sizeof *full);
            for (uint32_t q = 0; q < xt->rows; q++)
                memcpy(full + (uint64_t)rows[q] * p->row_len, g + (uint64_t)q * p->row_len,
                       p->row_len * sizeof *full);
            g = full;
        }
        fd_array(net, what, p->name, p->w, g, p->n, &total, &bad);
        free(full);
    }
    if (bad > allowed_bad || getenv("STEN_TEST_VERBOSE"))
        fprintf(stderr, "  %s: %d of %d gradients differ\n", what, bad, total);
    CHECK(bad <= allowed_bad);
    CHECK(total > 0);
    return bad <= allowed_bad;
}

static sten_net *build(sten_net_desc *d, sten_dataset *ds, size_t n, uint32_t B)
{
    sten_net *net = NULL;
    sten_status st = sten_net_build(ctx, d, ds, n, B, &net);
    if (st) {
        fprintf(stderr, "  build failed: %s\n", sten_ctx_error(ctx));
        sten_ctx_clear_error(ctx);
        CHECK_EQ(st, STEN_OK);
        return NULL;
    }
    CHECK_EQ(sten_net_init_weights(ctx, net, 7), STEN_OK);
    CHECK_EQ(sten__net_alloc_grads(ctx, net, true), STEN_OK);
    /* non-zero biases so every term is exercised */
    for (uint32_t k = 0; k < net->n_weights; k++)
        for (uint32_t j = 0; j < net->layers[net->weights[k].dst].N; j++)
            net->weights[k].b[j] = 0.05f * (float)((j * 3 + k) % 5) - 0.1f;
    uint32_t ids[64];
    for (uint32_t b = 0; b < B; b++)
        ids[b] = (b * 5 + 1) % (uint32_t)ds[0].examples;
    net->seed = 99;
    CHECK_EQ(sten__net_load_batch(ctx, net, net->ws, ids, B, NN_TRAIN), STEN_OK);
    return net;
}

/* Sparse input -> Hidden(act) -> Output(out_act, loss), sparse targets. */
static void check_mlp(sten_act hidden, sten_act out, sten_loss loss, int target_kind,
                      bool sparseness, int allowed_bad)
{
    sten_layer_desc L[3] = {
        fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("Hidden", STEN_LAYER_HIDDEN, 5, hidden),
        fx_layer("Output", STEN_LAYER_OUTPUT, 0, out),
    };
    L[0].N_auto = L[2].N_auto = true;
    strcpy(L[0].dataset, "in");
    strcpy(L[2].dataset, "out");
    L[1].sparse = sparseness;
    sten_net_desc d = fx_desc(L, 3);
    d.loss = loss;
    d.smce_one_target = 1.0f;
    d.smce_zero_target = 0.0f;
    d.smce_one_scale = 1.5f;
    d.smce_zero_scale = 0.5f;
    d.delta_boost_one = 1.25f;
    d.sparseness_p = 0.3f;
    d.sparseness_beta = sparseness ? 0.7f : 0.0f;
    sten_dataset ds[2];
    fx_sparse(ctx, &ds[0], "in", 16, 11, 4, false);
    if (target_kind == 2)
        fx_dense(ctx, &ds[1], "out", 16, 9, out == STEN_ACT_SIGMOID ? 0.0f : -1.0f, 1.0f);
    else
        fx_sparse(ctx, &ds[1], "out", 16, 9, 3, target_kind == 1);
    if (out == STEN_ACT_SOFTMAX && target_kind == 2) /* a distribution per row */
        for (uint32_t r = 0; r < 16; r++) {
            float s = 0;
            for (int j = 0; j < 9; j++)
                s += ds[1].dense[r * 9 + j] = fabsf(ds[1].dense[r * 9 + j]);
            for (int j = 0; j < 9; j++)
                ds[1].dense[r * 9 + j] /= s;
        }
    sten_net *net = build(&d, ds, 2, 6);
    if (net) {
        char what[160];
        static const char *const loss_names[] = {"L1", "L2", "CrossEntropy", "SMCE", "DSMCE",
                                                 "Hinge", "L2Hinge"};
        snprintf(what, sizeof what, "hidden %s, output %s, loss %s, %s targets%s",
                 sten_act_name(hidden), sten_act_name(out), loss_names[loss],
                 target_kind == 0 ? "boolean" : target_kind == 1 ? "valued" : "dense",
                 sparseness ? ", sparseness penalty" : "");
        grad_check(net, what, allowed_bad);
    }
    sten_net_free(ctx, net);
    fx_free(ctx, &ds[0]);
    fx_free(ctx, &ds[1]);
}

static void test_every_hidden_activation(void)
{
#define ITEM(name, code, text) name,
    static const sten_act all[] = {STEN_ACT_LIST(ITEM)};
#undef ITEM
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i] == STEN_ACT_SOFTMAX)
            continue; /* hidden SoftMax checked below with dense L2 */
        const bool kinked = all[i] == STEN_ACT_RELU || all[i] == STEN_ACT_LEAKYRELU ||
                            all[i] == STEN_ACT_RELUMAX || all[i] == STEN_ACT_LINEARMAX;
        check_mlp(all[i], STEN_ACT_SIGMOID, STEN_LOSS_CROSS_ENTROPY, 0, false, kinked ? 3 : 0);
    }
    check_mlp(STEN_ACT_SOFTMAX, STEN_ACT_LINEAR, STEN_LOSS_L2, 2, false, 0);
    check_mlp(STEN_ACT_SIGMOID, STEN_ACT_SIGMOID, STEN_LOSS_CROSS_ENTROPY, 0, true, 0);
}

/* The from-z zero-target pass on each kernel this CPU has (AVX-512, AVX2,
 * the portable loop) over z from -110 to 110 and a ragged tail: the same
 * deltas and loss to a few ulp (the kernels compute exp and log their own
 * ways), a NaN kept in its delta and the loss. */
static void test_zero_pass_kernels(void)
{
    enum { N = 1003 };
    static float z[N], d[3][N];
    const int isa[3] = {512, 256, 0};
    for (int i = 0; i < N; i++)
        z[i] = i % 3 ? -110.0f + 220.0f * (float)i / (N - 1) : 0.01f * (float)(i % 41) - 0.2f;
    for (int thr = 0; thr < 2; thr++) { /* SMCE's zero target 0, CE's -inf */
        const float t = thr ? -INFINITY : 0.0f;
        double L[3];
        int ran[3];
        for (int v = 0; v < 3; v++) {
            ran[v] = sten__loss_set_isa(isa[v]) == isa[v];
            L[v] = sten__loss_zero_pass(d[v], z, N, 0.75f, t);
        }
        for (int v = 0; v < 2; v++) {
            if (!ran[v])
                continue;
            int bad = 0;
            for (int i = 0; i < N; i++)
                bad += !(fabsf(d[v][i] - d[2][i]) <= 4e-7f * fabsf(d[2][i]) + 1e-30f);
            CHECK_EQ(bad, 0);
            /* float sums of ~1,000 terms, in each kernel's (and build's) own order */
            if (!(fabs(L[v] - L[2]) <= 2e-5 * fabs(L[2])))
                fprintf(stderr, "  zero pass, kernel %d: loss %.9g, the portable loop's %.9g\n", isa[v], L[v], L[2]);
            CHECK(fabs(L[v] - L[2]) <= 2e-5 * fabs(L[2]));
        }
        CHECK(L[2] > 100.0); /* the positive z's terms: not an empty pass */
    }
    /* each term alone against -ln(1 - sigmoid(z)) = softplus(z) in double, clamped as lg clamps */
    for (int v = 0; v < 3; v++) {
        if (sten__loss_set_isa(isa[v]) != isa[v])
            continue;
        int bad = 0;
        for (int i = 0; i < N; i++) {
            float di;
            const double l = sten__loss_zero_pass(&di, &z[i], 1, 1.0f, -INFINITY);
            const double zi = z[i], sp = (zi > 0 ? zi : 0.0) + log1p(exp(-fabs(zi)));
            const double ref = sp > 27.631021 ? 27.631021 : sp;
            bad += !(fabs(l - ref) <= 4e-7 * ref + 1e-7);
        }
        if (bad)
            fprintf(stderr, "  zero pass, kernel %d: %d terms off softplus(z)\n", isa[v], bad);
        CHECK_EQ(bad, 0);
    }
    if (!(sten__loss_set_isa(512) == 512))
        printf("  (no AVX-512 here: its zero pass not compared)\n");
    if (!(sten__loss_set_isa(256) == 256))
        printf("  (no AVX2 here: its zero pass not compared)\n");
    float zn[13], dn[13];
    for (int i = 0; i < 13; i++)
        zn[i] = (float)i - 6.0f;
    zn[9] = NAN;
    for (int v = 0; v < 3; v++) {
        sten__loss_set_isa(isa[v]);
        CHECK(isnan(sten__loss_zero_pass(dn, zn, 13, 1.0f, 0.0f)));
        CHECK(isnan(dn[9]) && !isnan(dn[8]) && !isnan(dn[12]));
    }
    sten__loss_set_isa(-1);
}

static void test_every_loss(void)
{
    for (int tk = 0; tk < 3; tk++) {
        check_mlp(STEN_ACT_TANH, STEN_ACT_SIGMOID, STEN_LOSS_CROSS_ENTROPY, tk, false, 0);
        check_mlp(STEN_ACT_TANH, STEN_ACT_SIGMOID, STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY, tk, false, 0);
        check_mlp(STEN_ACT_TANH, STEN_ACT_SIGMOID, STEN_LOSS_DATA_SCALED_MARGINAL_CROSS_ENTROPY, tk, false, 0);
        check_mlp(STEN_ACT_TANH, STEN_ACT_SIGMOID, STEN_LOSS_L2, tk, false, 0);
        check_mlp(STEN_ACT_TANH, STEN_ACT_LINEAR, STEN_LOSS_L2, tk, false, 0);
        check_mlp(STEN_ACT_TANH, STEN_ACT_TANH, STEN_LOSS_L1, tk, false, 3);
        check_mlp(STEN_ACT_TANH, STEN_ACT_LINEAR, STEN_LOSS_HINGE, tk, false, 3);
        check_mlp(STEN_ACT_TANH, STEN_ACT_LINEAR, STEN_LOSS_L2_HINGE, tk, false, 3);
        check_mlp(STEN_ACT_TANH, STEN_ACT_SOFTMAX, STEN_LOSS_L2, tk, false, 0);
    }
    check_mlp(STEN_ACT_TANH, STEN_ACT_SOFTMAX, STEN_LOSS_CROSS_ENTROPY, 0, false, 0);
    check_mlp(STEN_ACT_TANH, STEN_ACT_SOFTMAX, STEN_LOSS_CROSS_ENTROPY, 2, false, 0);
}

/* Sparse + dense inputs into one hidden layer, a second hidden layer with a
 * skip from the first, dropout, denoising, and a weighted output. */
static void test_sources_skip_dropout_denoise_weights(void)
{
    sten_layer_desc L[5] = {
        fx_layer("In1", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("In2", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("H1", STEN_LAYER_HIDDEN, 6, STEN_ACT_TANH),
        fx_layer("H2", STEN_LAYER_HIDDEN, 6, STEN_ACT_ELU),
        fx_layer("Out", STEN_LAYER_OUTPUT, 0, STEN_ACT_SIGMOID),
    };
    L[0].N_auto = L[1].N_auto = L[4].N_auto = true;
    L[0].sparse = true;
    strcpy(L[0].dataset, "a");
    strcpy(L[1].dataset, "b");
    strcpy(L[4].dataset, "t");
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[2], "In1"), STEN_OK);
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[2], "In2"), STEN_OK);
    L[2].p_dropout = 0.3f;
    L[3].n_skips = 1;
    strcpy(L[3].skips[0], "H1");
    L[3].p_dropout = 0.2f;
    sten_net_desc d = fx_desc(L, 5);
    d.loss = STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY;
    d.denoising_p = 0.25f;
    sten_dataset ds[3];
    fx_sparse(ctx, &ds[0], "a", 20, 13, 5, false);
    fx_dense(ctx, &ds[1], "b", 20, 4, -1.0f, 1.0f);
    fx_sparse(ctx, &ds[2], "t", 20, 7, 3, false);
    ds[2].attributes |= STEN_DS_WEIGHTED;
    ds[2].weight = sten_alloc(ctx, 20 * sizeof(float));
    for (int i = 0; i < 20; i++)
        ds[2].weight[i] = 0.5f + 0.1f * (float)i;
    sten_net *net = build(&d, ds, 3, 8);
    if (net) {
        CHECK_EQ(net->n_weights, 4); /* In1->H1, In2->H1, H1->H2, H2->Out */
        CHECK(net->layers[0].denoise);
        /* denoising dropped some entries and scaled the rest by 1/(1-p) */
        CHECK(net->ws->buf[0].x.nnz < ds[0].sparse.nnz);
        CHECK_NEAR(net->ws->buf[0].x.val[0], 1.0 / 0.75, 1e-6, 0);
        grad_check(net, "two sources + skip + dropout + denoising + data weights", 0);
    }
    sten_net_free(ctx, net);
    sten_layer_desc_clear(ctx, &L[2]);
    for (int i = 0; i < 3; i++)
        fx_free(ctx, &ds[i]);
}

/* One hidden layer read by two fully connected layers, one of them also
 * reading a second layer, and a chain whose layers each have one reader:
 * every delta is right whether its readers add into it (zeroed first) or
 * its one reader writes it whole (sole_fc_reader). Finite differences. */
static void test_shared_and_sole_readers(void)
{
    sten_layer_desc L[6] = {
        fx_layer("In", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("H1", STEN_LAYER_HIDDEN, 7, STEN_ACT_TANH),
        fx_layer("H2", STEN_LAYER_HIDDEN, 5, STEN_ACT_TANH),
        fx_layer("H3", STEN_LAYER_HIDDEN, 6, STEN_ACT_SIGMOID),
        fx_layer("H4", STEN_LAYER_HIDDEN, 4, STEN_ACT_TANH),
        fx_layer("Out", STEN_LAYER_OUTPUT, 3, STEN_ACT_SIGMOID),
    };
    L[0].N_auto = true;
    strcpy(L[0].dataset, "in");
    strcpy(L[5].dataset, "out");
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[1], "In"), STEN_OK);
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[2], "H1"), STEN_OK); /* H1: two readers */
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[3], "H1"), STEN_OK);
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[4], "H3"), STEN_OK); /* H3: one reader */
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[5], "H2"), STEN_OK);
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[5], "H4"), STEN_OK);
    sten_net_desc d = fx_desc(L, 6);
    d.loss = STEN_LOSS_CROSS_ENTROPY;
    sten_dataset ds[2];
    fx_dense(ctx, &ds[0], "in", 10, 5, -1.0f, 1.0f);
    fx_dense(ctx, &ds[1], "out", 10, 3, 0.0f, 1.0f);
    sten_net *net = build(&d, ds, 2, 6);
    if (net) {
        grad_check(net, "a layer with two readers, a chain with one", 0);
        sten_net_free(ctx, net);
    }
    for (int i = 0; i < 2; i++)
        fx_free(ctx, &ds[i]);
    for (int i = 0; i < 6; i++)
        sten_layer_desc_clear(ctx, &L[i]);
}

/* A Concat layer: twelve hidden layers (more Sources than the old limit of
 * eight) and a dense input side by side, with dropout, into the output:
 * gradients by finite differences, the width from "N": "auto", and a model
 * that saves and loads to the same outputs. */
static void test_concat(void)
{
    enum { T = 12 };
    sten_layer_desc L[T + 4];
    char name[32];
    L[0] = fx_layer("In1", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID);
    L[1] = fx_layer("In2", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID);
    L[0].N_auto = L[1].N_auto = true;
    strcpy(L[0].dataset, "a");
    strcpy(L[1].dataset, "b");
    L[T + 2] = fx_layer("Cat", STEN_LAYER_HIDDEN, 0, STEN_ACT_SIGMOID);
    L[T + 2].type = STEN_LAYER_CONCAT;
    L[T + 2].N_auto = true;
    L[T + 2].p_dropout = 0.2f;
    for (int t = 0; t < T; t++) {
        snprintf(name, sizeof name, "T%d", t);
        L[2 + t] = fx_layer(name, STEN_LAYER_HIDDEN, 1 + t % 3, t % 2 ? STEN_ACT_TANH : STEN_ACT_SIGMOID);
        CHECK_EQ(sten_layer_desc_add_source(ctx, &L[2 + t], t % 3 ? "In1" : "In2"), STEN_OK);
        CHECK_EQ(sten_layer_desc_add_source(ctx, &L[T + 2], name), STEN_OK);
    }
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[T + 2], "In2"), STEN_OK);
    L[T + 3] = fx_layer("Out", STEN_LAYER_OUTPUT, 0, STEN_ACT_LINEAR);
    L[T + 3].N_auto = true;
    strcpy(L[T + 3].dataset, "t");
    sten_net_desc d = fx_desc(L, T + 4);
    d.loss = STEN_LOSS_L2;
    sten_dataset ds[3];
    fx_dense(ctx, &ds[0], "a", 12, 5, -1.0f, 1.0f);
    fx_dense(ctx, &ds[1], "b", 12, 3, -1.0f, 1.0f);
    fx_dense(ctx, &ds[2], "t", 12, 4, 0.0f, 1.0f);
    sten_net *net = build(&d, ds, 3, 6);
    if (net) {
        const nn_layer *C = &net->layers[T + 2];
        CHECK_EQ(C->N, 3 + 12 / 3 * (1 + 2 + 3)); /* In2's 3, the twelve 1/2/3-wide layers */
        CHECK_EQ(C->n_src, T + 1);
        CHECK_EQ(C->n_in, 0); /* no weights of its own */
        CHECK_EQ(net->layers[T + 3].n_in, 1);
        /* the description says what each "auto" became (the dataset's width, the sources' sum) */
        CHECK_EQ(sten_net_description(net)->layers[T + 2].N, C->N);
        CHECK_EQ(sten_net_description(net)->layers[0].N, net->layers[0].N);
        CHECK(sten_net_description(net)->layers[0].N > 0 && sten_net_description(net)->layers[0].N_auto);
        grad_check(net, "Concat of 13 sources with dropout", 0);
        /* save and load: the same outputs */
        char tmpl[] = "/tmp/sten_cat_XXXXXX", file[64];
        CHECK(mkdtemp(tmpl) != NULL);
        snprintf(file, sizeof file, "%s/cat.nc", tmpl);
        CHECK_EQ(sten_net_save(ctx, net, file), STEN_OK);
        sten_net *back = NULL;
        CHECK_EQ(sten_net_load(ctx, file, ds, 3, 6, false, &back), STEN_OK);
        if (back) {
            uint32_t ids[6] = {0, 2, 4, 6, 8, 10};
            const float *a, *b;
            uint32_t w1, w2;
            float keep[6 * 4];
            CHECK_EQ(sten_net_infer(ctx, net, ids, 6, NULL, &a, &w1), STEN_OK);
            memcpy(keep, a, sizeof keep);
            CHECK_EQ(sten_net_infer(ctx, back, ids, 6, NULL, &b, &w2), STEN_OK);
            CHECK(w1 == 4 && w2 == 4 && memcmp(keep, b, sizeof keep) == 0);
            CHECK_EQ(sten_net_description(back)->layers[T + 2].type, STEN_LAYER_CONCAT);
            CHECK_EQ(sten_net_description(back)->layers[T + 2].n_sources, T + 1);
        }
        sten_net_free(ctx, back);
        unlink(file);
        rmdir(tmpl);
    }
    sten_net_free(ctx, net);
    /* a sparse source is refused, with the layer named */
    sten_layer_desc_clear(ctx, &L[T + 2]);
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[T + 2], "In1"), STEN_OK);
    sten_dataset sp;
    fx_sparse(ctx, &sp, "a", 12, 5, 2, false);
    sten_dataset ds2[3] = {sp, ds[1], ds[2]};
    net = NULL;
    CHECK_EQ(sten_net_build(ctx, &d, ds2, 3, 6, &net), STEN_E_UNSUPPORTED);
    CHECK_STR(sten_ctx_error(ctx), "test.json:1:1: layer \"Cat\": a Concat layer takes dense sources; "
                                   "\"In1\" is a sparse input (put a FullyConnected layer between them)");
    sten_ctx_clear_error(ctx);
    for (int i = 0; i < T + 4; i++)
        sten_layer_desc_clear(ctx, &L[i]);
    fx_free(ctx, &sp);
    for (int i = 0; i < 3; i++)
        fx_free(ctx, &ds[i]);
}

/* A small DLRM: a dense input through a bottom layer, two categorical
 * inputs through Embedding tables (one-hot, sum; multi-hot, mean), their
 * pairwise dot products beside the bottom output (Interaction, KeepFirst),
 * a top layer to a Sigmoid click probability. Gradients by finite
 * differences (with and without self-interaction); training touches only
 * the table rows its data has (lazy updates), and the model saves and
 * loads to the same outputs. */
static sten_train_opts ae_opts(const sten_net_desc *d, sten_optimizer opt, uint32_t epochs);

static void check_dlrm(bool self)
{
    sten_layer_desc L[8] = {
        fx_layer("Dense", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("C1", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("C2", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("Bottom", STEN_LAYER_HIDDEN, 3, STEN_ACT_TANH),
        fx_layer("E1", STEN_LAYER_HIDDEN, 3, STEN_ACT_SIGMOID),
        fx_layer("E2", STEN_LAYER_HIDDEN, 3, STEN_ACT_SIGMOID),
        fx_layer("Inter", STEN_LAYER_HIDDEN, 0, STEN_ACT_SIGMOID),
        fx_layer("Click", STEN_LAYER_OUTPUT, 1, STEN_ACT_SIGMOID),
    };
    L[0].N_auto = L[1].N_auto = L[2].N_auto = true;
    strcpy(L[0].dataset, "dense");
    strcpy(L[1].dataset, "c1");
    strcpy(L[2].dataset, "c2");
    strcpy(L[7].dataset, "label");
    L[1].sparse = L[2].sparse = true;
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[3], "Dense"), STEN_OK);
    L[4].type = L[5].type = STEN_LAYER_EMBEDDING;
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[4], "C1"), STEN_OK);
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[5], "C2"), STEN_OK);
    CHECK_EQ(sten_layer_desc_set(&L[5], "Pooling", 1), STEN_OK);
    L[6].type = STEN_LAYER_INTERACTION;
    L[6].N_auto = true;
    CHECK_EQ(sten_layer_desc_set(&L[6], "KeepFirst", 1), STEN_OK);
    CHECK_EQ(sten_layer_desc_set(&L[6], "SelfInteraction", self), STEN_OK);
    for (int k = 3; k <= 5; k++)
        CHECK_EQ(sten_layer_desc_add_source(ctx, &L[6], L[k].name), STEN_OK);
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[7], "Inter"), STEN_OK);
    sten_net_desc d = fx_desc(L, 8);
    d.loss = STEN_LOSS_CROSS_ENTROPY;
    sten_dataset ds[4];
    fx_dense(ctx, &ds[0], "dense", 12, 4, -1.0f, 1.0f);
    fx_sparse(ctx, &ds[1], "c1", 12, 200, 1, false); /* one-hot, wide: rows 4, 5, 6, ... never used */
    fx_sparse(ctx, &ds[2], "c2", 12, 9, 3, true);   /* multi-hot, valued */
    fx_dense(ctx, &ds[3], "label", 12, 1, 0.0f, 1.0f);
    for (int i = 0; i < 12; i++)
        ds[3].dense[i] = (float)(i % 3 == 0);
    sten_net *net = build(&d, ds, 4, 6);
    if (net) {
        CHECK_EQ(net->layers[6].N, 3 + (self ? 6 : 3)); /* Bottom's 3, then the pairs */
        CHECK_EQ(net->n_weights, 2); /* Dense -> Bottom, Inter -> Click: tables are parameters */
        grad_check(net, self ? "DLRM, self-interaction" : "DLRM", 0);
        const nn_param *t1 = NULL;
        for (uint32_t i = 0; i < net->n_params; i++)
            if (!strcmp(net->params[i].name, "E1 table"))
                t1 = &net->params[i];
        CHECK(t1 && t1->update == NN_UPDATE_ROWS && t1->conn < 0 && t1->n == 200 * 3);
        CHECK(net->ws->buf[1].rid != NULL); /* 200 rows, 6 per batch: the compact transpose */
        float before[600];
        memcpy(before, t1->w, sizeof before);
        {   /* one row-wise AdaGrad step on the batch grad_check left: row 7 (example 1's
             * c1) moves by -alpha g / sqrt(mean(g^2)), g the row's mean gradient + decay */
            const uint32_t r = 7, K = 3;
            float g[3], w0[3];
            memcpy(w0, t1->w + r * K, sizeof w0);
            const float lam = d.training.lambda, ib = 1.0f / (float)net->ws->B;
            /* the table's gradient is kept per touched row: find row 7's */
            const uint32_t *rows;
            const float *tg = sten__param_grad(net, net->ws, (uint32_t)(t1 - net->params), &rows);
            CHECK(rows != NULL);
            uint32_t q = 0;
            while (rows && q < net->ws->buf[1].xt.rows && rows[q] != r)
                q++;
            CHECK(rows && q < net->ws->buf[1].xt.rows);
            CHECK(t1->g == NULL); /* no table-sized gradient */
            double ss = 0;
            for (uint32_t f = 0; f < K; f++) {
                g[f] = tg[q * K + f] * ib + lam * w0[f];
                ss += (double)g[f] * g[f];
            }
            sten_train_desc t = d.training;
            t.optimizer = STEN_OPT_ADAGRAD;
            CHECK_EQ(sten__optim_alloc(ctx, net, t.optimizer), STEN_OK);
            CHECK_EQ(t1->s_n, 200); /* one accumulator per row */
            sten__optim_step(ctx, net, net->ws, &t, 0.1f, net->ws->B, NULL, NULL);
            for (uint32_t f = 0; f < K; f++)
                CHECK_NEAR(t1->w[r * K + f], w0[f] - 0.1 * g[f] / sqrt(ss / K), 1e-6, 1e-4);
            CHECK_NEAR(t1->s1[r], ss / K, 1e-9, 1e-4);
            CHECK_EQ(t1->s1[4], 0.0); /* an untouched row's accumulator */
            memcpy(before, t1->w, sizeof before);
        }
        sten_train_opts o = ae_opts(&d, STEN_OPT_ADAM, 3);
        o.t.batch_size = 6;
        CHECK_EQ(sten_net_train(ctx, net, &o), STEN_OK);
        /* c1's rows are (r * 7) % 200: 4 never occurs, 7 does */
        CHECK(memcmp(before + 4 * 3, t1->w + 4 * 3, 12) == 0);
        CHECK(memcmp(before + 7 * 3, t1->w + 7 * 3, 12) != 0);
        { /* two threads (the tables' row updates one table a thread) and one: the same model */
            sten_net *nt[2] = {build(&d, ds, 4, 6), build(&d, ds, 4, 6)};
            for (int k = 0; k < 2 && nt[0] && nt[1]; k++) {
                sten_ctx_set_threads(ctx, 2 - k);
                sten_train_opts ok = ae_opts(&d, STEN_OPT_ADAM, 2);
                ok.t.batch_size = 6;
                CHECK_EQ(sten_net_train(ctx, nt[k], &ok), STEN_OK);
            }
            sten_ctx_set_threads(ctx, 2);
            int same = nt[0] && nt[1];
            for (uint32_t i = 0; same && i < nt[0]->n_params; i++)
                same &= memcmp(nt[0]->params[i].w, nt[1]->params[i].w, nt[0]->params[i].n * sizeof(float)) == 0;
            CHECK(same);
            sten_net_free(ctx, nt[0]);
            sten_net_free(ctx, nt[1]);
        }
        char tmpl[] = "/tmp/sten_dlrm_XXXXXX", file[64];
        CHECK(mkdtemp(tmpl) != NULL);
        snprintf(file, sizeof file, "%s/dlrm.nc", tmpl);
        CHECK_EQ(sten_net_save(ctx, net, file), STEN_OK);
        sten_net *back = NULL;
        CHECK_EQ(sten_net_load(ctx, file, ds, 3, 6, false, &back), STEN_OK);
        if (back) {
            uint32_t ids[6] = {0, 1, 2, 3, 4, 11};
            const float *a, *b;
            uint32_t w1, w2;
            float keep[6];
            CHECK_EQ(sten_net_infer(ctx, net, ids, 6, NULL, &a, &w1), STEN_OK);
            memcpy(keep, a, sizeof keep);
            CHECK_EQ(sten_net_infer(ctx, back, ids, 6, NULL, &b, &w2), STEN_OK);
            CHECK(w1 == 1 && w2 == 1 && memcmp(keep, b, sizeof keep) == 0);
            CHECK_EQ(sten_layer_desc_get(&sten_net_description(back)->layers[5], "Pooling"), 1.0);
            CHECK_EQ(sten_layer_desc_get(&sten_net_description(back)->layers[6], "SelfInteraction"), self);
        }
        sten_net_free(ctx, back);
        /* other data (same names, new values) through a workspace of the trained
         * network = the saved model built on that data */
        sten_dataset other[3];
        fx_dense(ctx, &other[0], "dense", 9, 4, -2.0f, 2.0f);
        fx_sparse(ctx, &other[1], "c1", 9, 200, 1, false);
        fx_sparse(ctx, &other[2], "c2", 9, 9, 2, true);
        sten_workspace *ws = NULL;
        CHECK_EQ(sten_workspace_new_on(ctx, net, other, 3, 9, &ws), STEN_OK);
        CHECK_EQ(sten_net_load(ctx, file, other, 3, 9, false, &back), STEN_OK);
        if (ws && back) {
            CHECK_EQ(sten_workspace_examples(ws), 9);
            uint32_t ids[9] = {8, 7, 6, 5, 4, 3, 2, 1, 0};
            const float *a, *b;
            uint32_t w1, w2;
            float keep[9];
            CHECK_EQ(sten_net_infer_ws(ctx, net, ws, ids, 9, NULL, &a, &w1), STEN_OK);
            memcpy(keep, a, sizeof keep);
            CHECK_EQ(sten_net_infer(ctx, back, ids, 9, NULL, &b, &w2), STEN_OK);
            CHECK(memcmp(keep, b, sizeof keep) == 0);
            /* all of them in order, as sten_net_score_ws gives them; no labels in this data */
            float sc[9], y[9];
            CHECK_EQ(sten_net_score_ws(ctx, net, ws, sc, NULL), STEN_OK);
            for (int i = 0; i < 9; i++)
                CHECK(sc[i] == keep[8 - i]);
            CHECK_EQ(sten_net_score_ws(ctx, net, ws, sc, y), STEN_E_NOTFOUND);
            CHECK_STR(sten_ctx_error(ctx), "the data has no dense dataset \"label\" of labels for output "
                                           "layer \"Click\"");
            sten_ctx_clear_error(ctx);
        }
        sten_workspace_free(ctx, ws);
        sten_net_free(ctx, back);
        back = NULL;
        /* more rows than one thread's batches: scoring split over threads,
         * each with a workspace of its own on the data ws reads (not the
         * network's), gives the scores of one thread, row for row, and of
         * inference on a batch of ids in any order */
        enum { BIG = 2600 }; /* five of the threads' 512-row blocks: three threads */
        sten_dataset big[3];
        fx_dense(ctx, &big[0], "dense", BIG, 4, -2.0f, 2.0f);
        fx_sparse(ctx, &big[1], "c1", BIG, 200, 1, false);
        fx_sparse(ctx, &big[2], "c2", BIG, 9, 2, true);
        CHECK_EQ(sten_workspace_new_on(ctx, net, big, 3, 100, &ws), STEN_OK);
        float *one = calloc(BIG, sizeof *one), *many = calloc(BIG, sizeof *many);
        const int threads = sten_ctx_threads(ctx);
        if (ws && one && many) {
            sten_ctx_set_threads(ctx, 1);
            CHECK_EQ(sten_net_score_ws(ctx, net, ws, one, NULL), STEN_OK);
            sten_ctx_set_threads(ctx, 3);
            CHECK_EQ(sten_net_score_ws(ctx, net, ws, many, NULL), STEN_OK);
            CHECK(memcmp(one, many, BIG * sizeof *one) == 0);
            uint32_t ids[3] = {BIG - 1, 700, 3};
            const float *a;
            uint32_t w1;
            CHECK_EQ(sten_net_infer_ws(ctx, net, ws, ids, 3, NULL, &a, &w1), STEN_OK);
            CHECK(a[0] == many[BIG - 1] && a[1] == many[700] && a[2] == many[3]);
            CHECK(many[BIG - 1] != many[BIG - 2]); /* the last rows were scored, not left as zeros */
            /* the caller's memory cap holds for the threads' own workspaces */
            sten_ctx_set_mem_limit(ctx, sten_ctx_bytes_in_use(ctx) + 3000);
            CHECK_EQ(sten_net_score_ws(ctx, net, ws, many, NULL), STEN_E_NOMEM);
            CHECK(strlen(sten_ctx_error(ctx)) > 0);
            sten_ctx_clear_error(ctx);
            sten_ctx_set_mem_limit(ctx, 0);
        }
        sten_ctx_set_threads(ctx, threads);
        free(one), free(many);
        sten_workspace_free(ctx, ws);
        for (int i = 0; i < 3; i++)
            fx_free(ctx, &big[i]);
        CHECK_EQ(sten_workspace_new_on(ctx, net, other + 1, 2, 9, &ws), STEN_E_NOTFOUND);
        CHECK_STR(sten_ctx_error(ctx), "the data given has no dataset \"dense\" (input layer \"Dense\")");
        sten_ctx_clear_error(ctx);
        for (int i = 0; i < 3; i++)
            fx_free(ctx, &other[i]);
        unlink(file);
        rmdir(tmpl);
    }
    sten_net_free(ctx, net);
    for (int i = 0; i < 8; i++)
        sten_layer_desc_clear(ctx, &L[i]);
    for (int i = 0; i < 4; i++)
        fx_free(ctx, &ds[i]);
}

/* An Interaction over S dense inputs of width W (KeepFirst, with or
 * without self-interaction): its outputs against the pairs computed here
 * in the layer's own order (each sum over the width in order, each
 * product rounded before it is added: the same bits). 3, 17 and 29
 * sources: one vector of pairs a row, two, and two with a part; widths 5
 * and DLRM's 16 (its register-transposed route). */
static void check_interaction_width(uint32_t S, bool self, uint32_t W)
{
    enum { EX = 4, SMAX = 29 };
    sten_layer_desc L[SMAX + 2];
    sten_dataset ds[SMAX + 1];
    for (uint32_t k = 0; k < S; k++) {
        L[k] = fx_layer("In", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID);
        snprintf(L[k].name, sizeof L[k].name, "In%u", k);
        L[k].N_auto = true;
        snprintf(L[k].dataset, sizeof L[k].dataset, "d%u", k);
        fx_dense(ctx, &ds[k], L[k].dataset, EX, W, -1.0f, 1.0f);
        for (uint32_t e = 0; e < EX * W; e++) /* (fx_dense fills every dataset alike) */
            ds[k].dense[e] = (float)((e * 37 + 11 + 53 * k * k) % 101) / 50.0f - 1.0f;
    }
    L[S] = fx_layer("Inter", STEN_LAYER_HIDDEN, 0, STEN_ACT_SIGMOID);
    L[S].type = STEN_LAYER_INTERACTION;
    L[S].N_auto = true;
    CHECK_EQ(sten_layer_desc_set(&L[S], "KeepFirst", 1), STEN_OK);
    CHECK_EQ(sten_layer_desc_set(&L[S], "SelfInteraction", self), STEN_OK);
    for (uint32_t k = 0; k < S; k++)
        CHECK_EQ(sten_layer_desc_add_source(ctx, &L[S], L[k].name), STEN_OK);
    L[S + 1] = fx_layer("Click", STEN_LAYER_OUTPUT, 1, STEN_ACT_SIGMOID);
    strcpy(L[S + 1].dataset, "label");
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[S + 1], "Inter"), STEN_OK);
    fx_dense(ctx, &ds[S], "label", EX, 1, 0.0f, 1.0f);
    sten_net_desc d = fx_desc(L, S + 2);
    d.loss = STEN_LOSS_CROSS_ENTROPY;
    sten_net *net = build(&d, ds, S + 1, EX);
    if (net) {
        const uint32_t ids[EX] = {0, 1, 2, 3}, N = net->layers[S].N;
        CHECK_EQ(N, W + (self ? S * (S + 1) / 2 : S * (S - 1) / 2));
        CHECK_EQ(sten__net_load_batch(ctx, net, net->ws, ids, EX, NN_EVAL), STEN_OK);
        sten__net_forward(ctx, net, net->ws);
        const float *z = net->ws->buf[S].act;
        int same = 1;
        for (uint32_t b = 0; b < EX; b++) {
            const float *o = z + (uint64_t)b * N;
            same &= memcmp(o, ds[0].dense + b * W, W * sizeof *o) == 0;
            o += W;
            for (uint32_t i = 0; i < S; i++)
                for (uint32_t j = 0; j < i + self; j++) {
                    float acc = 0.0f;
                    for (uint32_t k = 0; k < W; k++) {
                        const float p = ds[i].dense[b * W + k] * ds[j].dense[b * W + k];
                        acc = acc + p;
                    }
                    same &= *o++ == acc;
                }
        }
        if (!same)
            fprintf(stderr, "  interaction of %u sources of %u%s: not the pairs in order\n", S, W,
                    self ? " (self)" : "");
        CHECK(same);
        sten_net_free(ctx, net);
    }
    for (uint32_t k = 0; k <= S; k++)
        fx_free(ctx, &ds[k]);
    for (uint32_t k = 0; k < S + 2; k++)
        sten_layer_desc_clear(ctx, &L[k]);
}

static void test_dlrm_layers(void)
{
    check_dlrm(false);
    check_dlrm(true);
    for (int self = 0; self <= 1; self++)
        for (uint32_t w = 5; w <= 16; w += 11) {
            check_interaction_width(3, self, w);
            check_interaction_width(17, self, w);
            check_interaction_width(29, self, w);
        }
}

/* A tied autoencoder: the output layer uses the input weights transposed. */
static void test_tied_transposed_weights(void)
{
    sten_layer_desc L[4] = {
        fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("H1", STEN_LAYER_HIDDEN, 8, STEN_ACT_SIGMOID),
        fx_layer("H2", STEN_LAYER_HIDDEN, 5, STEN_ACT_TANH),
        fx_layer("Output", STEN_LAYER_OUTPUT, 8, STEN_ACT_SIGMOID),
    };
    L[0].N_auto = true;
    strcpy(L[0].dataset, "in");
    strcpy(L[3].dataset, "out");
    /* H2 -> Output reuses H1 -> H2 transposed (8 x 5 seen as 5 x 8) */
    L[3].n_shared = 1;
    strcpy(L[3].shared[0].input_layer, "H2");
    strcpy(L[3].shared[0].source_input_layer, "H1");
    strcpy(L[3].shared[0].source_output_layer, "H2");
    L[3].shared[0].transposed = true;
    sten_net_desc d = fx_desc(L, 4);
    sten_dataset ds[2];
    fx_sparse(ctx, &ds[0], "in", 12, 10, 4, false);
    fx_sparse(ctx, &ds[1], "out", 12, 8, 3, false);
    sten_net *net = build(&d, ds, 2, 5);
    if (net) {
        CHECK_EQ(net->weights[2].owner, 1);
        CHECK(net->weights[2].transposed);
        CHECK(net->weights[2].W == net->weights[1].W);
        grad_check(net, "tied transposed weights", 0);
    }
    sten_net_free(ctx, net);
    fx_free(ctx, &ds[0]);
    fx_free(ctx, &ds[1]);
}

static void test_delta_and_weight_norm(void)
{
    sten_layer_desc L[3] = {
        fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("Hidden", STEN_LAYER_HIDDEN, 6, STEN_ACT_LINEAR),
        fx_layer("Output", STEN_LAYER_OUTPUT, 0, STEN_ACT_LINEAR),
    };
    L[0].N_auto = L[2].N_auto = true;
    strcpy(L[0].dataset, "in");
    strcpy(L[2].dataset, "out");
    L[2].delta_norm = 0.05f;
    L[1].weight_norm = 0.2f;
    L[1].init = STEN_INIT_CONSTANT; /* large weights: the norm must bite */
    sten_net_desc d = fx_desc(L, 3);
    d.loss = STEN_LOSS_L2;
    sten_dataset ds[2];
    fx_sparse(ctx, &ds[0], "in", 10, 9, 4, false);
    fx_dense(ctx, &ds[1], "out", 10, 7, 2.0f, 3.0f);
    sten_net *net = build(&d, ds, 2, 4);
    if (net) {
        objective(net);
        sten__net_backward(ctx, net, net->ws);
        const nn_layer *O = &net->layers[2];
        const float *delta = net->ws->buf[2].delta;
        for (uint32_t b = 0; b < net->ws->B; b++) {
            double ss = 0;
            for (uint32_t j = 0; j < O->N; j++)
                ss += (double)delta[b * O->N + j] * delta[b * O->N + j];
            CHECK_NEAR(sqrt(ss), 0.05, 1e-5, 0); /* big errors: every row clipped to c */
        }
        sten_train_desc t = d.training;
        t.lambda = 0;
        sten__optim_alloc(ctx, net, t.optimizer);
        sten__optim_step(ctx, net, net->ws, &t, 0.1f, net->ws->B, NULL, NULL);
        const nn_weight *w = &net->weights[0];
        for (uint32_t o = 0; o < w->cols; o++) {
            double ss = 0;
            for (uint32_t r = 0; r < w->rows; r++)
                ss += (double)w->W[r * w->cols + o] * w->W[r * w->cols + o];
            CHECK(sqrt(ss) <= 0.2 + 1e-5);
        }
    }
    sten_net_free(ctx, net);
    fx_free(ctx, &ds[0]);
    fx_free(ctx, &ds[1]);
}

static void test_build_errors(void)
{
    sten_layer_desc L[3] = {
        fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("Hidden", STEN_LAYER_HIDDEN, 4, STEN_ACT_SIGMOID),
        fx_layer("Output", STEN_LAYER_OUTPUT, 0, STEN_ACT_SIGMOID),
    };
    L[0].N_auto = L[2].N_auto = true;
    strcpy(L[0].dataset, "gl_input");
    strcpy(L[2].dataset, "gl_outptu");
    L[2].line = 14;
    L[2].column = 9;
    sten_net_desc d = fx_desc(L, 3);
    sten_dataset ds[2];
    fx_sparse(ctx, &ds[0], "gl_input", 6, 10, 3, false);
    fx_sparse(ctx, &ds[1], "gl_output", 6, 10, 3, false);
    sten_net *net;
    CHECK_EQ(sten_net_build(ctx, &d, ds, 2, 4, &net), STEN_E_NOTFOUND);
    CHECK_STR(sten_ctx_error(ctx), "test.json:14:9: layer \"Output\": DataSet \"gl_outptu\" is not "
                                   "in the data files (they hold: gl_input, gl_output)");
    CHECK(net == NULL);
    sten_ctx_clear_error(ctx);
    strcpy(L[2].dataset, "gl_output");
    L[2].N_auto = false;
    L[2].N = 8;
    CHECK_EQ(sten_net_build(ctx, &d, ds, 2, 4, &net), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "test.json:14:9: layer \"Output\": N = 8 is smaller than the "
                                   "width 10 of DataSet \"gl_output\"");
    sten_ctx_clear_error(ctx);
    L[2].N = 10;
    CHECK_EQ(sten_layer_desc_add_source(ctx, &L[1], "Output"), STEN_OK); /* a cycle Hidden <-> Output */
    CHECK_EQ(sten_net_build(ctx, &d, ds, 2, 4, &net), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "test.json: the layers' Sources and Skips form a cycle");
    sten_ctx_clear_error(ctx);
    /* every allocation failure is clean */
    sten_layer_desc_clear(ctx, &L[1]);
    size_t before = sten_ctx_bytes_in_use(ctx);
    for (long n = 1;; n++) {
        sten_ctx_fail_alloc_at(ctx, n);
        sten_status st = sten_net_build(ctx, &d, ds, 2, 4, &net);
        sten_ctx_fail_alloc_at(ctx, 0);
        sten_ctx_clear_error(ctx);
        if (st == STEN_OK) {
            sten_net_free(ctx, net);
            CHECK(n > 5);
            break;
        }
        CHECK_EQ(st, STEN_E_NOMEM);
        CHECK_EQ(sten_ctx_bytes_in_use(ctx), before);
    }
    fx_free(ctx, &ds[0]);
    fx_free(ctx, &ds[1]);
}

/* A small autoencoder on 40 examples for training-level tests. */
typedef struct {
    sten_layer_desc L[3];
    sten_net_desc d;
    sten_dataset ds[2];
} ae_fixture;

static void ae_init(ae_fixture *f)
{
    f->L[0] = fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID);
    f->L[1] = fx_layer("Hidden", STEN_LAYER_HIDDEN, 8, STEN_ACT_SIGMOID);
    f->L[2] = fx_layer("Output", STEN_LAYER_OUTPUT, 0, STEN_ACT_SIGMOID);
    f->L[0].N_auto = f->L[2].N_auto = true;
    f->L[0].sparse = f->L[1].sparse = true;
    strcpy(f->L[0].dataset, "gl_input");
    strcpy(f->L[2].dataset, "gl_output");
    f->d = fx_desc(f->L, 3);
    f->d.loss = STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY;
    f->d.smce_one_target = 1.0f;
    f->d.smce_zero_target = 0.0f;
    f->d.sparseness_p = 0.5f;
    f->d.sparseness_beta = 2.0f;
    f->d.denoising_p = 0.2f;
    fx_sparse(ctx, &f->ds[0], "gl_input", 40, 30, 6, false);
    fx_sparse(ctx, &f->ds[1], "gl_output", 40, 30, 6, false);
}

static void ae_free(ae_fixture *f)
{
    fx_free(ctx, &f->ds[0]);
    fx_free(ctx, &f->ds[1]);
}

static sten_train_opts ae_opts(const sten_net_desc *d, sten_optimizer opt, uint32_t epochs)
{
    sten_train_opts o;
    memset(&o, 0, sizeof o);
    o.t = d->training;
    o.t.optimizer = opt;
    o.t.alpha = opt == STEN_OPT_ADAM ? 0.01f : 0.5f;
    o.t.epochs = epochs;
    o.t.batch_size = 8;
    o.first_epoch = 1;
    sten_train_desc_resolve(&o.t);
    return o;
}

static sten_status record_loss(void *user, const sten_net *net, const sten_epoch_stats *s)
{
    (void)net;
    ((double *)user)[s->epoch] = s->loss;
    return STEN_OK;
}

/* Mult-VAE (Liang et al. 2018) as layers of the engine: a sparse input
 * scaled to unit norm per example and denoised, a Tanh encoder, the mean and
 * log-variance heads (Linear, 2N), the Variational layer (sampled z, KL
 * term), a Tanh decoder and a SoftMax output under the Multinomial loss.
 * Gradients by finite differences (the KL at its cap from the start), the
 * input's norms, the loss's value against a plain computation, evaluation
 * without sampling, training lowering the loss, and the settings surviving
 * a save and load. */
static void test_mult_vae(void)
{
    sten_layer_desc L[6] = {
        fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
        fx_layer("Enc", STEN_LAYER_HIDDEN, 6, STEN_ACT_TANH),
        fx_layer("Heads", STEN_LAYER_HIDDEN, 8, STEN_ACT_LINEAR),
        fx_layer("Z", STEN_LAYER_HIDDEN, 0, STEN_ACT_LINEAR),
        fx_layer("Dec", STEN_LAYER_HIDDEN, 5, STEN_ACT_TANH),
        fx_layer("Output", STEN_LAYER_OUTPUT, 0, STEN_ACT_SOFTMAX),
    };
    L[0].N_auto = L[3].N_auto = L[5].N_auto = true;
    strcpy(L[0].dataset, "in");
    strcpy(L[5].dataset, "out");
    L[0].sparse = L[5].sparse = true;
    CHECK_EQ(sten_layer_desc_set(&L[0], "Normalize", 1), STEN_OK);
    CHECK_EQ(sten_layer_desc_set(&L[1], "Normalize", 1), STEN_OK); /* accepted here, refused at build */
    L[3].type = STEN_LAYER_VARIATIONAL;
    CHECK_EQ(sten_layer_desc_set(&L[3], "KLCap", 0.5), STEN_OK);
    CHECK_EQ(sten_layer_desc_set(&L[3], "KLAnnealSteps", 0), STEN_OK);
    CHECK_EQ(sten_layer_desc_set(&L[3], "KLCap", -1), STEN_E_RANGE);
    sten_net_desc d = fx_desc(L, 6);
    d.loss = STEN_LOSS_MULTINOMIAL;
    d.denoising_p = 0.25f;
    sten_dataset ds[2];
    fx_sparse(ctx, &ds[0], "in", 16, 11, 4, false);
    fx_sparse(ctx, &ds[1], "out", 16, 11, 3, false);
    sten_net *net = NULL;
    CHECK_EQ(sten_net_build(ctx, &d, ds, 2, 6, &net), STEN_E_INVALID); /* Normalize on a hidden layer */
    CHECK(net == NULL);
    CHECK(strstr(sten_ctx_error(ctx), "Normalize") != NULL);
    sten_ctx_clear_error(ctx);
    d.layers[1].setting[0] = NAN;
    net = build(&d, ds, 2, 6);
    if (net) {
        CHECK_EQ(net->layers[3].N, 4);
        CHECK(net->layers[0].normalize && net->layers[0].denoise);
        grad_check(net, "Mult-VAE (normalized, denoised input; KL at cap 0.5)", 0);
        /* without denoising every example's input has unit norm */
        net->desc.denoising_p = 0.0f;
        uint32_t ids[6] = {0, 3, 5, 7, 9, 15};
        CHECK_EQ(sten__net_load_batch(ctx, net, net->ws, ids, 6, NN_EVAL), STEN_OK);
        const sten_csr *x = &net->ws->buf[0].x;
        for (uint32_t b = 0; b < 6; b++) {
            double ss = 0;
            for (uint64_t e = x->row_ptr[b]; e < x->row_ptr[b + 1]; e++)
                ss += (double)x->val[e] * x->val[e];
            CHECK_NEAR(ss, 1.0, 1e-6, 1e-6);
        }
        /* evaluation: z = mu, the same twice, and the loss is the multinomial
         * likelihood alone: -sum over each example's items of log softmax */
        sten__net_forward(ctx, net, net->ws);
        sten__net_loss(ctx, net, net->ws);
        const double l1 = net->ws->loss;
        const float *z = net->ws->buf[3].out, *heads = net->ws->buf[2].out;
        for (uint32_t b = 0; b < 6; b++)
            for (uint32_t j = 0; j < 4; j++)
                CHECK_EQ(z[b * 4 + j], heads[b * 8 + j]);
        const float *a = net->ws->buf[5].act;
        const sten_csr *t = &net->ws->targets[5].t;
        double ref = 0;
        for (uint32_t b = 0; b < 6; b++) {
            double sum = 0;
            for (uint32_t j = 0; j < 11; j++)
                sum += a[b * 11 + j];
            CHECK_NEAR(sum, 1.0, 1e-6, 1e-5);
            for (uint64_t e = t->row_ptr[b]; e < t->row_ptr[b + 1]; e++)
                ref -= log(a[b * 11 + t->col[e]]);
        }
        CHECK_NEAR(l1, ref, 1e-9, 1e-5);
        sten__net_forward(ctx, net, net->ws);
        sten__net_loss(ctx, net, net->ws);
        CHECK_EQ(net->ws->loss, l1);
        net->desc.denoising_p = 0.25f;
        /* training (an autoencoder of the input) lowers the loss; the model keeps the settings */
        sten_net *ae = NULL;
        strcpy(d.layers[5].dataset, "in");
        d.layers[3].setting[0] = 0.05f; /* KLCap */
        CHECK_EQ(sten_net_build(ctx, &d, ds, 1, 6, &ae), STEN_OK);
        double losses[201] = {0};
        sten_train_opts o = ae_opts(&d, STEN_OPT_ADAM, 200);
        o.epoch_done = record_loss;
        o.user = losses;
        if (ae) {
            sten_net_init_weights(ctx, ae, 3);
            CHECK_EQ(sten_net_train(ctx, ae, &o), STEN_OK);
        }
        sten_net_free(ctx, ae);
        strcpy(d.layers[5].dataset, "out");
        d.layers[3].setting[0] = 0.5f;
        /* the least a multinomial over n listed items can be is n log n (1/n on each) */
        double floor_ = 0;
        for (uint32_t r = 0; r < 16; r++) {
            const double n = (double)(ds[0].sparse.row_ptr[r + 1] - ds[0].sparse.row_ptr[r]);
            floor_ += n * log(n) / 16;
        }
        CHECK(losses[200] - floor_ < 0.7 * (losses[1] - floor_));
        fprintf(stderr, "  Mult-VAE loss per example: epoch 1 %.4f, epoch 200 %.4f (floor %.4f)\n", losses[1],
                losses[200], floor_);
        o.t.epochs = 2;
        o.epoch_done = NULL;
        CHECK_EQ(sten_net_train(ctx, net, &o), STEN_OK);
        char tmpl[] = "/tmp/sten_vae_XXXXXX", file[64];
        CHECK(mkdtemp(tmpl) != NULL);
        snprintf(file, sizeof file, "%s/vae.nc", tmpl);
        CHECK_EQ(sten_net_save(ctx, net, file), STEN_OK);
        sten_net *back = NULL;
        CHECK_EQ(sten_net_load(ctx, file, ds, 2, 6, false, &back), STEN_OK);
        if (back) {
            const sten_net_desc *bd = sten_net_description(back);
            CHECK_EQ(bd->loss, STEN_LOSS_MULTINOMIAL);
            CHECK_EQ(bd->layers[3].type, STEN_LAYER_VARIATIONAL);
            CHECK_EQ(sten_layer_desc_get(&bd->layers[3], "KLCap"), 0.5);
            CHECK_EQ(sten_layer_desc_get(&bd->layers[3], "KLAnnealSteps"), 0.0);
            CHECK_EQ(sten_layer_desc_get(&bd->layers[0], "Normalize"), 1.0);
            CHECK(back->layers[0].normalize);
            const float *pa, *pb;
            uint32_t w1, w2;
            float keep[6 * 11];
            CHECK_EQ(sten_net_infer(ctx, net, ids, 6, NULL, &pa, &w1), STEN_OK);
            memcpy(keep, pa, sizeof keep);
            CHECK_EQ(sten_net_infer(ctx, back, ids, 6, NULL, &pb, &w2), STEN_OK);
            CHECK(w1 == 11 && w2 == 11 && memcmp(keep, pb, sizeof keep) == 0);
        }
        sten_net_free(ctx, back);
        unlink(file);
        rmdir(tmpl);
    }
    sten_net_free(ctx, net);
    /* the Multinomial loss needs a SoftMax output */
    d.layers[5].activation = STEN_ACT_SIGMOID;
    net = NULL;
    CHECK_EQ(sten_net_build(ctx, &d, ds, 2, 6, &net), STEN_E_INVALID);
    CHECK(strstr(sten_ctx_error(ctx), "SoftMax") != NULL);
    sten_ctx_clear_error(ctx);
    fx_free(ctx, &ds[0]);
    fx_free(ctx, &ds[1]);
}

static void test_training_lowers_loss_and_is_reproducible(void)
{
    ae_fixture f;
    ae_init(&f);
    sten_net *a = NULL, *b = NULL;
    CHECK_EQ(sten_net_build(ctx, &f.d, f.ds, 2, 8, &a), STEN_OK);
    CHECK_EQ(sten_net_build(ctx, &f.d, f.ds, 2, 8, &b), STEN_OK);
    if (a && b) {
        sten_net_init_weights(ctx, a, 5);
        sten_net_init_weights(ctx, b, 5);
        double losses[32] = {0};
        sten_train_opts o = ae_opts(&f.d, STEN_OPT_ADAM, 20);
        o.epoch_done = record_loss;
        o.user = losses;
        CHECK_EQ(sten_net_train(ctx, a, &o), STEN_OK);
        CHECK(losses[20] < 0.7 * losses[1]);
        fprintf(stderr, "  loss per example: epoch 1 %.4f, epoch 20 %.4f\n", losses[1], losses[20]);
        /* same seed, other thread count: bit-identical weights */
        sten_ctx_set_threads(ctx, 1);
        o.epoch_done = NULL;
        CHECK_EQ(sten_net_train(ctx, b, &o), STEN_OK);
        sten_ctx_set_threads(ctx, 2);
        for (uint32_t k = 0; k < a->n_weights; k++) {
            const nn_weight *wa = &a->weights[k], *wb = &b->weights[k];
            CHECK(memcmp(wa->W, wb->W, (size_t)wa->rows * wa->cols * 4) == 0);
            CHECK(memcmp(wa->b, wb->b, (size_t)a->layers[wa->dst].N * 4) == 0);
        }
    }
    sten_net_free(ctx, a);
    sten_net_free(ctx, b);
    ae_free(&f);
}

/* Model parallelism without MPI (tests/test_mpi.sh runs it across ranks):
 * shard r of P holds rows [rW/P, (r+1)W/P) of the input matrix and those
 * columns of the output matrix and bias, initialised to exactly the full
 * model's values there, with the Xavier scale of the full widths; a group of
 * one trains bit for bit as the plain network and saves an ordinary model;
 * the topology checks refuse what the scheme cannot split. */
static sten_status solo_allreduce(void *u, void *b, size_t n, sten_comm_type t, sten_comm_op o)
{
    (void)u, (void)b, (void)n, (void)t, (void)o; /* the sum over a group of one */
    return STEN_OK;
}
static sten_status solo_bcast(void *u, void *b, size_t n, int root)
{
    (void)u, (void)b, (void)n, (void)root;
    return STEN_OK;
}
static sten_status solo_gather(void *u, const void *send, void *recv, const size_t *bytes, int root)
{
    (void)u, (void)root;
    memcpy(recv, send, bytes[0]);
    return STEN_OK;
}

static void test_model_parallel_shards(void)
{
    ae_fixture f;
    ae_init(&f);
    f.d.denoising_p = 0.0f;
    sten_net *whole = NULL;
    CHECK_EQ(sten_net_build(ctx, &f.d, f.ds, 2, 8, &whole), STEN_OK);
    if (!whole)
        return;
    sten_net_init_weights(ctx, whole, 9);
    const uint32_t W = whole->layers[0].N, H = 8;
    for (int P = 2; P <= 3; P++)
        for (int r = 0; r < P; r++) {
            sten_comm c = {.rank = r, .size = P}; /* building and init never communicate */
            sten_net *sh = NULL;
            CHECK_EQ(sten_net_build_sharded(ctx, &f.d, f.ds, 2, 8, &c, &sh), STEN_OK);
            if (!sh)
                continue;
            sten_net_init_weights(ctx, sh, 9);
            const uint32_t c0 = W * (uint32_t)r / (uint32_t)P, c1 = W * (uint32_t)(r + 1) / (uint32_t)P;
            CHECK(sh->layers[0].sharded && sh->layers[2].sharded && !sh->layers[1].sharded);
            CHECK(sh->layers[1].group_sum && sh->layers[1].group_delta);
            CHECK_EQ(sh->layers[0].N, c1 - c0);
            const nn_weight *wi = &sh->weights[sh->layers[1].in[0]], *wo = &sh->weights[sh->layers[2].in[0]];
            const nn_weight *fi = &whole->weights[whole->layers[1].in[0]], *fo = &whole->weights[whole->layers[2].in[0]];
            CHECK(memcmp(wi->W, fi->W + (uint64_t)c0 * H, (size_t)(c1 - c0) * H * 4) == 0);
            for (uint32_t h = 0; h < H; h++)
                CHECK(memcmp(wo->W + (uint64_t)h * (c1 - c0), fo->W + (uint64_t)h * W + c0, (size_t)(c1 - c0) * 4) == 0);
            uint64_t in_range = 0; /* the shard's data: its columns of every row, re-based */
            for (uint64_t e = 0; e < f.ds[0].sparse.nnz; e++)
                in_range += f.ds[0].sparse.col[e] >= c0 && f.ds[0].sparse.col[e] < c1;
            CHECK_EQ(sh->ds[0].sparse.nnz, in_range);
            CHECK_EQ(sh->ds[0].sparse.rows, f.ds[0].sparse.rows);
            sten_net_free(ctx, sh);
        }
    /* a group of one: the plain network's training, bit for bit, and its save */
    sten_comm solo = {.rank = 0, .size = 1, .allreduce = solo_allreduce, .bcast = solo_bcast, .gather = solo_gather};
    sten_net *one = NULL;
    CHECK_EQ(sten_net_build_sharded(ctx, &f.d, f.ds, 2, 8, &solo, &one), STEN_OK);
    if (one) {
        sten_net_init_weights(ctx, one, 9);
        sten_train_opts o = ae_opts(&f.d, STEN_OPT_ADAM, 3);
        CHECK_EQ(sten_net_train(ctx, whole, &o), STEN_OK);
        CHECK_EQ(sten_net_train(ctx, one, &o), STEN_E_INVALID); /* a shard trains with parallel MODEL */
        sten_ctx_clear_error(ctx);
        o.parallel = STEN_PARALLEL_MODEL;
        CHECK_EQ(sten_net_train(ctx, one, &o), STEN_OK);
        for (uint32_t k = 0; k < whole->n_weights; k++) {
            const nn_weight *a = &whole->weights[k], *b = &one->weights[k];
            CHECK(memcmp(a->W, b->W, (size_t)a->rows * a->cols * 4) == 0);
        }
        char dir[] = "/tmp/sten_shard_XXXXXX", file[64];
        CHECK(mkdtemp(dir) != NULL);
        snprintf(file, sizeof file, "%s/one.nc", dir);
        CHECK_EQ(sten_net_save(ctx, one, file), STEN_OK);
        sten_net *back = NULL;
        CHECK_EQ(sten_net_load(ctx, file, f.ds, 2, 8, true, &back), STEN_OK);
        remove(file);
        rmdir(dir);
        for (uint32_t k = 0; back && k < whole->n_weights; k++) {
            const nn_weight *a = &whole->weights[k], *b = &back->weights[k];
            CHECK(memcmp(a->W, b->W, (size_t)a->rows * a->cols * 4) == 0);
        }
        sten_net_free(ctx, back);
    }
    sten_net_free(ctx, one);
    /* an output wider than its dataset is not catalogue-wide: refused naming it */
    ae_fixture g;
    ae_init(&g);
    g.L[2].N_auto = false;
    g.L[2].N = 64;
    sten_net *bad = NULL;
    CHECK_EQ(sten_net_build_sharded(ctx, &g.d, g.ds, 2, 8, &solo, &bad), STEN_E_UNSUPPORTED);
    CHECK(strstr(sten_ctx_error(ctx), "output layer \"Output\"") != NULL);
    sten_ctx_clear_error(ctx);
    CHECK(bad == NULL);
    ae_free(&g);
    sten_net_free(ctx, whole);
    ae_free(&f);
}

/* Training 4 epochs straight equals 2 epochs, save, load with optimizer
 * state, 2 more epochs; and a saved model predicts exactly like the original. */
static void test_save_load_resume(void)
{
    ae_fixture f;
    ae_init(&f);
    char dir[] = "/tmp/sten_nn_XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/model.nc", dir);
    sten_net *a = NULL, *b = NULL, *c = NULL;
    sten_net_build(ctx, &f.d, f.ds, 2, 8, &a);
    sten_net_build(ctx, &f.d, f.ds, 2, 8, &b);
    sten_net_init_weights(ctx, a, 3);
    sten_net_init_weights(ctx, b, 3);
    sten_train_opts o = ae_opts(&f.d, STEN_OPT_MOMENTUM, 4);
    CHECK_EQ(sten_net_train(ctx, a, &o), STEN_OK);
    o.t.epochs = 2;
    CHECK_EQ(sten_net_train(ctx, b, &o), STEN_OK);
    CHECK_EQ(sten_net_save(ctx, b, path), STEN_OK);
    CHECK_EQ(sten_net_load(ctx, path, f.ds, 2, 8, true, &c), STEN_OK);
    if (c) {
        CHECK_EQ(sten_net_epoch(c), 2);
        o.t.epochs = 4;
        o.first_epoch = 3;
        CHECK_EQ(sten_net_train(ctx, c, &o), STEN_OK);
        for (uint32_t k = 0; k < a->n_weights; k++) {
            const nn_weight *wa = &a->weights[k], *wc = &c->weights[k];
            CHECK(memcmp(wa->W, wc->W, (size_t)wa->rows * wa->cols * 4) == 0);
            CHECK(memcmp(wa->b, wc->b, (size_t)a->layers[wa->dst].N * 4) == 0);
        }
        /* a model without its targets loads for prediction, and predicts the same */
        sten_net *p = NULL;
        CHECK_EQ(sten_net_save(ctx, c, path), STEN_OK);
        CHECK_EQ(sten_net_load(ctx, path, f.ds, 1, 8, false, &p), STEN_OK);
        if (p) {
            uint32_t ids[8] = {0, 3, 5, 7, 11, 13, 17, 19};
            sten__net_load_batch(ctx, c, c->ws, ids, 8, NN_EVAL);
            sten__net_load_batch(ctx, p, p->ws, ids, 8, NN_EVAL);
            sten__net_forward(ctx, c, c->ws);
            sten__net_forward(ctx, p, p->ws);
            CHECK(memcmp(c->ws->buf[2].out, p->ws->buf[2].out, 8 * c->layers[2].N * 4) == 0);
            CHECK_EQ(p->layers[2].ds, -1);
        }
        sten_net_free(ctx, p);
    }
    /* a file of the earlier layout (before the layer table: FM settings as
     * attributes of every layer) loads, and predicts the same */
    char cmd[300];
    int nc, v99 = 99;
    CHECK_EQ(nc_open(path, NC_WRITE, &nc), NC_NOERR);
    nc_redef(nc);
    static const char *const old_atts[] = {"sten_bias_lr", "sten_linear_lr", "sten_factors_lr",
                                           "sten_bias_wd", "sten_linear_wd", "sten_factors_wd"};
    for (int i = 0; i < 3; i++) {
        const unsigned zero = 0;
        const float nan_ = NAN, clip = 0.0f;
        snprintf(cmd, sizeof cmd, "layer%d_sten_factors", i);
        CHECK_EQ(nc_put_att_uint(nc, NC_GLOBAL, cmd, NC_UINT, 1, &zero), NC_NOERR);
        snprintf(cmd, sizeof cmd, "layer%d_sten_clip_gradient", i);
        CHECK_EQ(nc_put_att_float(nc, NC_GLOBAL, cmd, NC_FLOAT, 1, &clip), NC_NOERR);
        for (int k = 0; k < 6; k++) {
            snprintf(cmd, sizeof cmd, "layer%d_%s", i, old_atts[k]);
            CHECK_EQ(nc_put_att_float(nc, NC_GLOBAL, cmd, NC_FLOAT, 1, &nan_), NC_NOERR);
        }
    }
    CHECK_EQ(nc_close(nc), NC_NOERR);
    if (c) {
        sten_net *old = NULL;
        CHECK_EQ(sten_net_load(ctx, path, f.ds, 1, 8, false, &old), STEN_OK);
        uint32_t ids[8] = {1, 2, 4, 8, 16, 32, 33, 39}, n1, n2;
        const float *y1, *y2;
        float keep[8 * 30];
        if (old && !sten_net_infer(ctx, c, ids, 8, NULL, &y1, &n1)) {
            memcpy(keep, y1, (size_t)8 * n1 * 4);
            CHECK_EQ(sten_net_infer(ctx, old, ids, 8, NULL, &y2, &n2), STEN_OK);
            CHECK(n1 == n2 && n1 <= 30 && memcmp(keep, y2, (size_t)8 * n1 * 4) == 0);
        }
        sten_net_free(ctx, old);
    }
    /* a newer format is refused with a clear message */
    CHECK_EQ(nc_open(path, NC_WRITE, &nc), NC_NOERR);
    nc_redef(nc);
    CHECK_EQ(nc_put_att_int(nc, NC_GLOBAL, "sten_format_version", NC_INT, 1, &v99), NC_NOERR);
    CHECK_EQ(nc_close(nc), NC_NOERR);
    {
        sten_net *q = NULL;
        CHECK_EQ(sten_net_load(ctx, path, f.ds, 2, 8, false, &q), STEN_E_UNSUPPORTED);
        CHECK(strstr(sten_ctx_error(ctx), "model format version 99 is newer than this sten reads (1)") != NULL);
        sten_ctx_clear_error(ctx);
    }
    sten_net *q = NULL;
    snprintf(cmd, sizeof cmd, "%s/none.nc", dir);
    CHECK_EQ(sten_net_load(ctx, cmd, f.ds, 2, 8, false, &q), STEN_E_NOTFOUND);
    sten_ctx_clear_error(ctx);
    unlink(path);
    rmdir(dir);
    sten_net_free(ctx, a);
    sten_net_free(ctx, b);
    sten_net_free(ctx, c);
    ae_free(&f);
}

/* A FactorizationMachine output over a valued sparse input: gradients of
 * bias, linear weights and factors, for regression (L2) and classification
 * (sigmoid + cross-entropy); and it learns a pairwise pattern. */
static void test_factorization_machine(void)
{
    for (int cls = 0; cls < 2; cls++) {
        sten_layer_desc L[2] = {
            fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
            fx_layer("FM", STEN_LAYER_OUTPUT, 1, cls ? STEN_ACT_SIGMOID : STEN_ACT_LINEAR),
        };
        L[0].N_auto = true;
        strcpy(L[0].dataset, "x");
        strcpy(L[1].dataset, "y");
        L[1].type = STEN_LAYER_FACTORIZATION_MACHINE;
        CHECK_EQ(sten_layer_desc_set(&L[1], "factors", 3), STEN_OK);
        CHECK_EQ(sten_layer_desc_set(&L[1], "Factors", 0), STEN_E_RANGE);
        CHECK_EQ(sten_layer_desc_set(&L[1], "FactorsLR", -1), STEN_E_RANGE);
        CHECK_EQ(sten_layer_desc_set(&L[1], "Factor", 3), STEN_E_NOTFOUND);
        CHECK_EQ(sten_layer_desc_set(&L[0], "Factors", 3), STEN_E_NOTFOUND); /* not FM's */
        CHECK(isnan(sten_layer_desc_get(&L[1], "BiasLR")));
        CHECK_EQ(sten_layer_desc_get(&L[1], "FACTORS"), 3.0);
        L[1].init = STEN_INIT_GAUSSIAN;
        L[1].init_scale = 0.3f;
        sten_net_desc d = fx_desc(L, 2);
        d.loss = cls ? STEN_LOSS_CROSS_ENTROPY : STEN_LOSS_L2;
        sten_dataset ds[2];
        fx_sparse(ctx, &ds[0], "x", 16, 9, 4, true);
        fx_dense(ctx, &ds[1], "y", 16, 1, 0.0f, 1.0f);
        sten_net *net = build(&d, ds, 2, 6);
        if (net && !cls) {
            /* the O(K nnz) form equals the O(n^2) definition, example by example */
            sten__net_forward(ctx, net, net->ws);
            const nn_layer *F = &net->layers[1];
            const nn_weight *w = &net->weights[F->in[0]];
            const sten_csr *X = &net->ws->buf[0].x;
            const float *Fout = net->ws->buf[1].out;
            /* the factors: the layer's third parameter (bias, linear, factors) */
            CHECK_EQ(net->n_params, 3);
            const uint32_t K = (uint32_t)(net->params[2].n / w->rows);
            const float *V = net->params[2].w;
            CHECK_EQ(K, 3);
            for (uint32_t b = 0; b < net->ws->B; b++) {
                double y = w->b[0];
                for (uint64_t e = X->row_ptr[b]; e < X->row_ptr[b + 1]; e++) {
                    y += (double)X->val[e] * w->W[X->col[e]];
                    for (uint64_t q = e + 1; q < X->row_ptr[b + 1]; q++) {
                        double dot = 0;
                        for (uint32_t f = 0; f < K; f++)
                            dot += (double)V[X->col[e] * K + f] * V[X->col[q] * K + f];
                        y += dot * X->val[e] * X->val[q];
                    }
                }
                CHECK_NEAR(Fout[b], y, 1e-5, 1e-5);
            }
        }
        if (net) {
            CHECK_EQ(net->params[2].n, 3u * net->weights[0].rows);
            CHECK_EQ(net->params[2].update, NN_UPDATE_ROWS);
            grad_check(net, cls ? "FM, sigmoid + cross-entropy" : "FM, linear + L2", 0);
            /* train, save, load: the same predictions */
            sten_train_opts o = ae_opts(&d, STEN_OPT_ADAM, 3);
            o.t.batch_size = 6;
            CHECK_EQ(sten_net_train(ctx, net, &o), STEN_OK);
            char tmpl[] = "/tmp/sten_fm_XXXXXX", file[64];
            CHECK(mkdtemp(tmpl) != NULL);
            snprintf(file, sizeof file, "%s/fm.nc", tmpl);
            CHECK_EQ(sten_net_save(ctx, net, file), STEN_OK);
            sten_net *back = NULL;
            CHECK_EQ(sten_net_load(ctx, file, ds, 1, 6, false, &back), STEN_OK);
            if (back) {
                CHECK_EQ(back->params[2].n, net->params[2].n);
                CHECK(memcmp(back->params[2].w, net->params[2].w, net->params[2].n * 4) == 0);
                CHECK_EQ(sten_layer_desc_get(&sten_net_description(back)->layers[1], "Factors"), 3.0);
                uint32_t ids[6] = {0, 1, 2, 3, 4, 5};
                const float *a, *b;
                uint32_t w1, w2;
                sten_net_infer(ctx, net, ids, 6, NULL, &a, &w1);
                float keep[6];
                memcpy(keep, a, sizeof keep);
                sten_net_infer(ctx, back, ids, 6, NULL, &b, &w2);
                CHECK(memcmp(keep, b, sizeof keep) == 0);
            }
            sten_net_free(ctx, back);
            unlink(file);
            rmdir(tmpl);
        }
        sten_net_free(ctx, net);
        fx_free(ctx, &ds[0]);
        fx_free(ctx, &ds[1]);
    }
}

/* No allocation inside the step loop: an epoch of 1 batch and an epoch of
 * 5 batches make the same number of allocations (the per-call setup). */
static void test_no_allocation_in_steps(void)
{
    ae_fixture f;
    ae_init(&f);
    sten_net *net = NULL;
    CHECK_EQ(sten_net_build(ctx, &f.d, f.ds, 2, 8, &net), STEN_OK);
    sten_net_init_weights(ctx, net, 1);
    sten_train_opts o = ae_opts(&f.d, STEN_OPT_ADAM, 1);
    CHECK_EQ(sten_net_train(ctx, net, &o), STEN_OK); /* optimizer state now exists */
    size_t counts[2];
    const uint64_t sizes[2] = {8, 40};
    for (int k = 0; k < 2; k++) {
        net->examples = sizes[k];
        const size_t before = sten_ctx_alloc_count(ctx);
        CHECK_EQ(sten_net_train(ctx, net, &o), STEN_OK);
        counts[k] = sten_ctx_alloc_count(ctx) - before;
    }
    CHECK_EQ(counts[0], counts[1]);
    CHECK(counts[1] <= 3);
    sten_net_free(ctx, net);
    ae_free(&f);
}

/* A NaN loss stops training with a message naming the epoch and batch. */
static void test_nan_stops_training(void)
{
    ae_fixture f;
    ae_init(&f);
    sten_net *net = NULL;
    CHECK_EQ(sten_net_build(ctx, &f.d, f.ds, 2, 8, &net), STEN_OK);
    sten_net_init_weights(ctx, net, 1);
    net->weights[1].b[3] = NAN; /* an output bias: every example's loss turns NaN */
    sten_train_opts o = ae_opts(&f.d, STEN_OPT_SGD, 3);
    CHECK_EQ(sten_net_train(ctx, net, &o), STEN_E_NUMERIC);
    CHECK(strstr(sten_ctx_error(ctx), "epoch 1, batch 1: the loss is NaN; training stopped") != NULL);
    sten_ctx_clear_error(ctx);
    sten_net_free(ctx, net);
    ae_free(&f);
}

/* Recommendations never contain an excluded (seen) item, respect the item
 * count (padding), handle K larger than the catalogue, and a user with no
 * items still gets a full list. */
static void test_recommend(void)
{
    ae_fixture f;
    ae_init(&f);
    f.ds[0].sparse.row_ptr[1] = f.ds[0].sparse.row_ptr[0]; /* example 0: no items at all */
    for (uint32_t r = 1; r <= f.ds[0].sparse.rows; r++)
        if (f.ds[0].sparse.row_ptr[r] < f.ds[0].sparse.row_ptr[1])
            f.ds[0].sparse.row_ptr[r] = f.ds[0].sparse.row_ptr[1];
    sten_net *net = NULL;
    CHECK_EQ(sten_net_build(ctx, &f.d, f.ds, 2, 8, &net), STEN_OK);
    sten_net_init_weights(ctx, net, 11);
    sten_train_opts o = ae_opts(&f.d, STEN_OPT_ADAM, 5);
    CHECK_EQ(sten_net_train(ctx, net, &o), STEN_OK);
    uint32_t ids[8] = {0, 1, 2, 3, 4, 5, 6, 7}, idx[8 * 40], cnt[8];
    float val[8 * 40];
    /* exclude each example's own input items */
    sten_csr ex = f.ds[0].sparse;
    ex.rows = 8;
    const uint32_t n_items = 27; /* the last 3 units play DSSTNE's padding */
    CHECK_EQ(sten_net_recommend(ctx, net, ids, 8, n_items, 40, &ex, idx, val, cnt), STEN_OK);
    for (uint32_t b = 0; b < 8; b++) {
        uint32_t seen_in_range = 0;
        for (uint64_t e = ex.row_ptr[b]; e < ex.row_ptr[b + 1]; e++)
            seen_in_range += ex.col[e] < n_items;
        CHECK_EQ(cnt[b], n_items - seen_in_range);
        for (uint32_t r = 0; r < cnt[b]; r++) {
            CHECK(idx[b * 40 + r] < n_items);
            for (uint64_t e = ex.row_ptr[b]; e < ex.row_ptr[b + 1]; e++)
                CHECK(idx[b * 40 + r] != ex.col[e]);
            if (r)
                CHECK(val[b * 40 + r] <= val[b * 40 + r - 1]);
        }
        CHECK_EQ(idx[b * 40 + 39], UINT32_MAX);
    }
    CHECK_EQ(cnt[0], n_items); /* the empty user gets a full list from the biases */
    /* a batch repeating the longest rows needs more than the buffers hold:
     * refused, never written past them */
    uint32_t longest = 0;
    for (uint32_t r = 0; r < f.ds[0].sparse.rows; r++)
        if (f.ds[0].sparse.row_ptr[r + 1] - f.ds[0].sparse.row_ptr[r] >
            f.ds[0].sparse.row_ptr[longest + 1] - f.ds[0].sparse.row_ptr[longest])
            longest = r;
    uint32_t same[8];
    for (int b = 0; b < 8; b++)
        same[b] = longest;
    CHECK_EQ(sten_net_recommend(ctx, net, same, 8, n_items, 40, NULL, idx, val, cnt), STEN_E_INVALID);
    CHECK(strstr(sten_ctx_error(ctx), "are examples repeated?") != NULL);
    sten_ctx_clear_error(ctx);
    /* deterministic */
    uint32_t idx2[8 * 40];
    CHECK_EQ(sten_net_recommend(ctx, net, ids, 8, n_items, 40, &ex, idx2, NULL, NULL), STEN_OK);
    CHECK(memcmp(idx, idx2, sizeof idx) == 0);
    /* int8 inference: the ranked output layer stays fp32 and is never
     * quantized (its hidden layer reads the sparse input): fp32's lists */
    CHECK_EQ(sten_net_set_precision(ctx, net, STEN_PRECISION_INT8), STEN_OK);
    uint32_t idx3[8 * 40];
    float val3[8 * 40];
    CHECK_EQ(sten_net_recommend(ctx, net, ids, 8, n_items, 40, &ex, idx3, val3, cnt), STEN_OK);
    CHECK(memcmp(idx, idx3, sizeof idx) == 0 && memcmp(val, val3, sizeof val) == 0);
    for (uint32_t k = 0; k < net->n_weights; k++)
        CHECK(!net->weights[k].Wq.q);
    CHECK_EQ(sten_net_set_precision(ctx, net, STEN_PRECISION_FP32), STEN_OK);
    /* embeddings of a named layer */
    const float *h;
    uint32_t w;
    CHECK_EQ(sten_net_infer(ctx, net, ids, 8, "Hidden", &h, &w), STEN_OK);
    CHECK_EQ(w, 8);
    CHECK(h[0] > 0.0f && h[0] < 1.0f);
    CHECK_EQ(sten_net_infer(ctx, net, ids, 8, "Hiden", &h, &w), STEN_E_NOTFOUND);
    sten_ctx_clear_error(ctx);
    /* request rows (a server's users): the same lists as the dataset's
     * examples, in any grouping; rows past the capacities refused */
    sten_workspace *rw = NULL;
    CHECK_EQ(sten_workspace_new_rows(ctx, net, 4, 64, false, &rw), STEN_OK);
    for (uint32_t b0 = 0; b0 < 8; b0 += 3) {
        const uint32_t nb = b0 + 3 <= 8 ? 3 : 8 - b0;
        sten_csr x = f.ds[0].sparse, xe = ex;
        x.rows = xe.rows = nb;
        x.row_ptr += b0;
        xe.row_ptr += b0;
        uint64_t base = x.row_ptr[0], rp[4], erp[4];
        for (uint32_t r = 0; r <= nb; r++)
            rp[r] = x.row_ptr[r] - base, erp[r] = xe.row_ptr[r] - xe.row_ptr[0];
        x.col += base, x.row_ptr = rp, x.nnz = rp[nb];
        xe.col += xe.row_ptr[0], xe.row_ptr = erp, xe.nnz = erp[nb];
        uint32_t ridx[3 * 40], rcnt[3];
        float rval[3 * 40];
        CHECK_EQ(sten_net_recommend_rows(ctx, net, rw, &x, n_items, 40, &xe, ridx, rval, rcnt), STEN_OK);
        CHECK(memcmp(ridx, idx + b0 * 40, (size_t)nb * 40 * 4) == 0);
        /* the scores to rounding: a BLAS GEMM (STEN_KERNELS=portable) may
         * block a 3-row product differently from an 8-row one */
        for (uint32_t i = 0; i < nb * 40; i++)
            CHECK(rval[i] == val[b0 * 40 + i] ||
                  fabsf(rval[i] - val[b0 * 40 + i]) <= 1e-6f * (1.0f + fabsf(val[b0 * 40 + i])));
        CHECK(memcmp(rcnt, cnt + b0, (size_t)nb * 4) == 0);
        const float *hr;
        uint32_t wr;
        CHECK_EQ(sten_net_infer_rows(ctx, net, rw, &x, "Hidden", &hr, &wr), STEN_OK);
        CHECK_EQ(wr, 8);
        CHECK(memcmp(hr, h + (size_t)b0 * 8, (size_t)nb * 8 * 4) == 0);
    }
    sten_csr big = f.ds[0].sparse;
    big.rows = 5; /* more rows than the workspace takes */
    CHECK_EQ(sten_net_infer_rows(ctx, net, rw, &big, NULL, &h, &w), STEN_E_INVALID);
    CHECK(strstr(sten_ctx_error(ctx), "1 to 4 allowed") != NULL);
    sten_ctx_clear_error(ctx);
    uint32_t bad_col = 1000;
    uint64_t bad_rp[2] = {0, 1};
    sten_csr bad = {.rows = 1, .cols = 1001, .nnz = 1, .row_ptr = bad_rp, .col = &bad_col};
    CHECK_EQ(sten_net_infer_rows(ctx, net, rw, &bad, NULL, &h, &w), STEN_E_INVALID);
    CHECK(strstr(sten_ctx_error(ctx), "feature 1000") != NULL);
    sten_ctx_clear_error(ctx);
    sten_workspace_free(ctx, rw);
    sten_net_free(ctx, net);
    ae_free(&f);
}

/* The fused recommend path (the output product handed to top-K chunk by
 * chunk, never stored) against the plain one (scores stored, then
 * sten_topk), on a catalogue spanning several 512-column chunks, with
 * exclusions unsorted and in every chunk: the same items, the same order,
 * the same values, for any thread count; in fp32 and, where the CPU has
 * it, in bf16 (whose plain path stores the bf16 product). */
static void check_fused_recommend_rows(sten_net *net, const sten_csr *ex, uint32_t n_items,
                                       uint32_t K, uint32_t B)
{
    uint32_t *ids = malloc((size_t)B * 4), *cnt = malloc((size_t)B * 4), *rcnt = malloc((size_t)B * 4);
    for (uint32_t b = 0; b < B; b++)
        ids[b] = b;
    uint32_t *idx = calloc((size_t)B * K, 4), *ref = calloc((size_t)B * K, 4);
    float *val = calloc((size_t)B * K, 4), *rval = calloc((size_t)B * K, 4);
    CHECK_EQ(sten_net_recommend(ctx, net, ids, B, n_items, K, ex, idx, val, cnt), STEN_OK);
    /* in fp32 where the CPU has bf16, that went through the bf16 screening */
    if (!net->bf16 && sten__bf16_fast(ctx) && sten__gemm_own())
        CHECK_EQ(net->weights[1].scr_ver, net->version);
    else if (!net->bf16) /* bf16 products slower here: no screening */
        CHECK(net->weights[1].scr_ver != net->version);
    /* the plain path: pre-activations stored, ranked, the winners activated */
    CHECK_EQ(sten__net_load_batch(ctx, net, net->ws, ids, B, NN_RANK), STEN_OK);
    sten__net_forward(ctx, net, net->ws);
    const float *z = net->ws->buf[2].out;
    const uint32_t N = net->layers[2].N;
    CHECK_EQ(sten_topk(ctx, z, N, B, n_items, K, ex, ref, rval, rcnt), STEN_OK);
    const nn_layer *L = &net->layers[2];
    for (uint64_t r = 0; r < (uint64_t)B * K; r++)
        if (ref[r] != UINT32_MAX)
            sten__act_forward_one(L->fn, &L->ap, &rval[r]);
    CHECK(memcmp(idx, ref, (size_t)B * K * 4) == 0);
    CHECK(memcmp(val, rval, (size_t)B * K * 4) == 0);
    CHECK(memcmp(cnt, rcnt, (size_t)B * 4) == 0);
    /* one thread: the same (sten's kernels sum in an order fixed by the
     * shapes; OpenBLAS, used without AVX-512, may split sums by thread) */
    uint32_t *idx1 = calloc((size_t)B * K, 4);
    sten_ctx_set_threads(ctx, 1);
    CHECK_EQ(sten_net_recommend(ctx, net, ids, B, n_items, K, ex, idx1, NULL, NULL), STEN_OK);
    sten_ctx_set_threads(ctx, 2);
    if (sten__gemm_own())
        CHECK(memcmp(idx, idx1, (size_t)B * K * 4) == 0);
    free(idx), free(ref), free(val), free(rval), free(idx1), free(ids), free(cnt), free(rcnt);
}

/* A 32-row stripe and a part of one (the chunks shared out among the
 * threads), and four stripes and a part (each thread its own rows). */
static void check_fused_recommend(sten_net *net, const sten_csr *ex, uint32_t n_items, uint32_t K)
{
    check_fused_recommend_rows(net, ex, n_items, K, 37);
    check_fused_recommend_rows(net, ex, n_items, K, 130);
}

static void recommend_fused_cases(void)
{
    ae_fixture f;
    ae_init(&f);
    fx_free(ctx, &f.ds[0]);
    fx_free(ctx, &f.ds[1]);
    fx_sparse(ctx, &f.ds[0], "gl_input", 140, 1300, 40, false);
    fx_sparse(ctx, &f.ds[1], "gl_output", 140, 1300, 40, false);
    sten_net *net = NULL;
    CHECK_EQ(sten_net_build(ctx, &f.d, f.ds, 2, 130, &net), STEN_OK);
    sten_net_init_weights(ctx, net, 3);
    sten_train_opts o = ae_opts(&f.d, STEN_OPT_SGD, 2);
    o.t.batch_size = 130;
    CHECK_EQ(sten_net_train(ctx, net, &o), STEN_OK);
    sten_csr ex = f.ds[0].sparse;
    ex.rows = 130;
    check_fused_recommend(net, &ex, 1290, 25);
    check_fused_recommend(net, &ex, 1290, 10); /* the K best in one vector */
    check_fused_recommend(net, &ex, 1290, 1);
    check_fused_recommend(net, NULL, 700, 600); /* K past a chunk, no exclusions */
    /* every score tied (zero output weights and biases): the screening's
     * candidates overflow and whole rows are rescored; ties by index */
    nn_weight *ow = &net->weights[1];
    memset(ow->W, 0, (size_t)ow->rows * ow->cols * sizeof *ow->W);
    memset(ow->b, 0, (size_t)net->layers[2].N * sizeof *ow->b);
    sten__net_changed(net);
    check_fused_recommend(net, &ex, 1290, 25);
    /* one huge weight: its item's bound is wide, the rest stay exact */
    ow->W[5 * ow->cols + 77] = 1e30f;
    sten__net_changed(net);
    check_fused_recommend(net, &ex, 1290, 25);
    if (sten_bf16_supported()) {
        /* bf16's scores screened with no bounds (sten__topk_end_exact), on
         * weights of their own again (random: no ties) */
        sten_net_init_weights(ctx, net, 5);
        sten__net_changed(net);
        CHECK_EQ(sten_net_set_precision(ctx, net, STEN_PRECISION_BF16), STEN_OK);
        check_fused_recommend(net, &ex, 1290, 25);
        check_fused_recommend(net, &ex, 1290, 10);
        /* a score that is not a number: skipped, as sten_topk ranks it
         * below every number */
        ow->b[600] = NAN;
        sten__net_changed(net);
        check_fused_recommend(net, &ex, 1290, 10);
        /* fewer numbers than K (NaNs then fill the lists), then every score
         * tied (more candidates than kept): the plain heaps */
        for (uint32_t j = 3; j < net->layers[2].N; j++)
            ow->b[j] = NAN;
        sten__net_changed(net);
        check_fused_recommend(net, &ex, 1290, 10);
        memset(ow->W, 0, (size_t)ow->rows * ow->cols * sizeof *ow->W);
        memset(ow->b, 0, (size_t)net->layers[2].N * sizeof *ow->b);
        sten__net_changed(net);
        check_fused_recommend(net, &ex, 1290, 25);
    } else {
        CHECK_EQ(sten_net_set_precision(ctx, net, STEN_PRECISION_BF16), STEN_E_UNSUPPORTED);
        sten_ctx_clear_error(ctx);
    }
    sten_net_free(ctx, net);
    ae_free(&f);
}

/* The cases on every kernel this CPU has: fp32 screened through bf16 on
 * AVX-512 BF16 and on AMX tiles (forced on, whatever the probe measured),
 * and fp32 unscreened (what a CPU whose bf16 products are slower takes). */
static void test_recommend_fused(void)
{
    for (int amx = 0; amx <= (int)sten__amx_hardware(); amx++) {
        sten__amx_force(amx);
        sten__bf16_fast_force(1);
        recommend_fused_cases();
    }
    sten__amx_force(-1);
    sten__bf16_fast_force(0);
    recommend_fused_cases();
    sten__bf16_fast_force(-1);
}

/* A chain of dense layers: "Dense" (dataset "dense") through n hidden
 * layers H1..Hn (widths and activations given) to "Out", one Sigmoid unit
 * on "label", cross-entropy. L holds n + 2 layers. */
static sten_net_desc dense_chain(sten_layer_desc *L, int n, const uint32_t *width, const sten_act *act)
{
    L[0] = fx_layer("Dense", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID);
    for (int k = 1; k <= n; k++) {
        char name[8];
        snprintf(name, sizeof name, "H%d", k);
        L[k] = fx_layer(name, STEN_LAYER_HIDDEN, width[k - 1], act[k - 1]);
    }
    L[n + 1] = fx_layer("Out", STEN_LAYER_OUTPUT, 1, STEN_ACT_SIGMOID);
    L[0].N_auto = true;
    strcpy(L[0].dataset, "dense");
    strcpy(L[n + 1].dataset, "label");
    for (int k = 1; k <= n + 1; k++)
        CHECK_EQ(sten_layer_desc_add_source(ctx, &L[k], L[k - 1].name), STEN_OK);
    sten_net_desc d = fx_desc(L, (uint32_t)n + 2);
    d.loss = STEN_LOSS_CROSS_ENTROPY;
    return d;
}

/* bf16 inference through a chain of MLP layers on AMX tiles (layer_fc.c,
 * sten__amx_chain): read at the output layer, the hidden layers whose
 * readers all take packed bf16 weights pass their output on in bf16 only,
 * and the scores are those of the fp32 route (read at a hidden layer, no
 * chain) to the bit. Widths and a batch off the tiles' 32 (padding). */
static void test_bf16_chain(void)
{
    if (!sten_bf16_supported()) {
        fprintf(stderr, "  (no AVX-512 BF16 here: bf16 chains not tested)\n");
        return;
    }
    enum { ROWS = 40 };
    sten_layer_desc L[5];
    const uint32_t width[3] = {70, 33, 16};
    const sten_act act[3] = {STEN_ACT_RELU, STEN_ACT_RELU, STEN_ACT_LINEAR};
    sten_net_desc d = dense_chain(L, 3, width, act);
    sten_dataset ds[2];
    fx_dense(ctx, &ds[0], "dense", ROWS, 13, -2.0f, 2.0f);
    fx_dense(ctx, &ds[1], "label", ROWS, 1, 0.0f, 1.0f);
    sten_net *net = build(&d, ds, 2, ROWS);
    const bool amx = sten__amx_hardware();
    if (!amx)
        fprintf(stderr, "  (no AMX tiles here: the chain is not taken; the two routes' scores compared)\n");
    if (net) {
        sten__amx_force(amx);
        CHECK_EQ(sten_net_set_precision(ctx, net, STEN_PRECISION_BF16), STEN_OK);
        uint32_t ids[ROWS];
        for (uint32_t i = 0; i < ROWS; i++)
            ids[i] = i;
        const float *y;
        uint32_t w;
        float chained[ROWS];
        CHECK_EQ(sten_net_infer(ctx, net, ids, ROWS, NULL, &y, &w), STEN_OK);
        memcpy(chained, y, sizeof chained);
        for (int k = 1; k <= 3; k++) /* H3 too: its reader, Out, takes packed weights */
            CHECK_EQ(net->ws->buf[k].outb_ok, amx);
        CHECK(!net->ws->buf[4].outb_ok);
        CHECK_EQ(sten_net_infer(ctx, net, ids, ROWS, "H2", &y, &w), STEN_OK);
        CHECK_EQ(w, 33u);
        for (int k = 1; k <= 4; k++)
            CHECK(!net->ws->buf[k].outb_ok);
        CHECK(memcmp(chained, net->ws->buf[4].out, sizeof chained) == 0);
        int varied = 0; /* the scores are not all one value */
        for (uint32_t i = 1; i < ROWS; i++)
            varied |= chained[i] != chained[0];
        CHECK(varied);
        sten__amx_force(-1);
        sten_net_free(ctx, net);
    }
    for (int k = 0; k < 2; k++)
        fx_free(ctx, &ds[k]);
    for (int k = 0; k < 5; k++)
        sten_layer_desc_clear(ctx, &L[k]);
}

/* int8 inference (STEN_PRECISION_INT8): every layer fed by one dense
 * product takes quantized weights; the scores stay within the
 * quantization's reach of fp32's but are not fp32's; the portable loop
 * gives the same bits as the VNNI kernel; training refuses it; back in fp32
 * the scores are fp32's again, to the bit. */
static void test_int8_inference(void)
{
    enum { ROWS = 50 };
    sten_layer_desc L[5];
    const uint32_t width[3] = {70, 33, 16};
    const sten_act act[3] = {STEN_ACT_RELU, STEN_ACT_RELU, STEN_ACT_TANH};
    sten_net_desc d = dense_chain(L, 3, width, act);
    sten_dataset ds[2];
    fx_dense(ctx, &ds[0], "dense", ROWS, 13, -2.0f, 2.0f);
    fx_dense(ctx, &ds[1], "label", ROWS, 1, 0.0f, 1.0f);
    sten_net *net = build(&d, ds, 2, ROWS);
    if (net) {
        uint32_t ids[ROWS];
        for (uint32_t i = 0; i < ROWS; i++)
            ids[i] = i;
        const float *y;
        uint32_t w;
        float f32[ROWS], i8[ROWS], again[ROWS];
        CHECK_EQ(sten_net_infer(ctx, net, ids, ROWS, NULL, &y, &w), STEN_OK);
        memcpy(f32, y, sizeof f32);
        CHECK_EQ(sten_net_set_precision(ctx, net, STEN_PRECISION_INT8), STEN_OK);
        CHECK_EQ(sten_net_precision(net), STEN_PRECISION_INT8);
        CHECK_EQ(sten_net_infer(ctx, net, ids, ROWS, NULL, &y, &w), STEN_OK);
        memcpy(i8, y, sizeof i8);
        uint32_t quantized = 0;
        for (uint32_t k = 0; k < net->n_weights; k++)
            quantized += net->weights[k].Wq.q && net->weights[k].wq_ver == net->version;
        CHECK_EQ(quantized, 4u); /* H1 (from the input's dense rows), H2, H3, Out */
        double worst = 0.0, spread = 0.0;
        for (uint32_t i = 0; i < ROWS; i++) {
            worst = fmax(worst, fabs((double)i8[i] - f32[i]));
            spread = fmax(spread, fabs((double)f32[i] - f32[0]));
        }
        CHECK(worst > 0.0);            /* int8 was in use */
        CHECK(worst < 0.05 * spread);  /* and close: a few % of the scores' spread */
        sten__qgemm_set_isa(0);
        CHECK_EQ(sten_net_infer(ctx, net, ids, ROWS, NULL, &y, &w), STEN_OK);
        CHECK(memcmp(i8, y, sizeof i8) == 0);
        sten__qgemm_set_isa(-1);
        sten_train_opts o = ae_opts(&d, STEN_OPT_SGD, 1);
        CHECK_EQ(sten_net_train(ctx, net, &o), STEN_E_INVALID);
        CHECK(strstr(sten_ctx_error(ctx), "int8 precision is for inference") != NULL);
        sten_ctx_clear_error(ctx);
        CHECK_EQ(sten_net_set_precision(ctx, net, STEN_PRECISION_FP32), STEN_OK);
        CHECK_EQ(sten_net_infer(ctx, net, ids, ROWS, NULL, &y, &w), STEN_OK);
        memcpy(again, y, sizeof again);
        CHECK(memcmp(f32, again, sizeof f32) == 0);
        sten_net_free(ctx, net);
    }
    for (int k = 0; k < 2; k++)
        fx_free(ctx, &ds[k]);
    for (int k = 0; k < 5; k++)
        sten_layer_desc_clear(ctx, &L[k]);
}

/* bf16 training through ReLU layers: the activation's derivative and the
 * delta's rounding in one pass (layer_fc.c, fc_delta_pass) give the model
 * the three separate passes give, to the bit. */
static void test_bf16_delta_pass(void)
{
    if (!sten_bf16_supported()) {
        fprintf(stderr, "  (no AVX-512 BF16 here: the fused delta pass not tested)\n");
        return;
    }
    enum { ROWS = 300 };
    sten_layer_desc L[4];
    const uint32_t width[2] = {100, 40};
    const sten_act act[2] = {STEN_ACT_RELU, STEN_ACT_LINEAR};
    sten_net_desc d = dense_chain(L, 2, width, act);
    sten_dataset ds[2];
    fx_dense(ctx, &ds[0], "dense", ROWS, 20, -2.0f, 2.0f);
    fx_dense(ctx, &ds[1], "label", ROWS, 1, 0.0f, 1.0f);
    for (uint32_t i = 0; i < ROWS; i++)
        ds[1].dense[i] = (float)(ds[0].dense[i * 20] + ds[0].dense[i * 20 + 3] > 0.0f);
    sten_net *nets[2] = {NULL, NULL};
    for (int v = 0; v < 2; v++) {
        sten__fc_delta_fuse(v == 0);
        CHECK_EQ(sten_net_build(ctx, &d, ds, 2, 100, &nets[v]), STEN_OK);
        if (!nets[v])
            continue;
        sten_net_init_weights(ctx, nets[v], 4);
        CHECK_EQ(sten_net_set_precision(ctx, nets[v], STEN_PRECISION_BF16), STEN_OK);
        sten_train_opts o = ae_opts(&d, STEN_OPT_ADAM, 3);
        o.t.batch_size = 100;
        CHECK_EQ(sten_net_train(ctx, nets[v], &o), STEN_OK);
    }
    sten__fc_delta_fuse(true);
    int same = nets[0] && nets[1];
    for (uint32_t i = 0; same && i < nets[0]->n_params; i++)
        same &= memcmp(nets[0]->params[i].w, nets[1]->params[i].w, nets[0]->params[i].n * sizeof(float)) == 0;
    CHECK(same);
    for (int v = 0; v < 2; v++)
        sten_net_free(ctx, nets[v]);
    for (int k = 0; k < 2; k++)
        fx_free(ctx, &ds[k]);
    for (int k = 0; k < 4; k++)
        sten_layer_desc_clear(ctx, &L[k]);
}

/* A denoised batch's sparse rows gathered on two threads (provisional
 * starts, then the rows split) and on one (one pass): the same entries,
 * values and row starts, the batch large enough for the split. */
static void test_gather_threads(void)
{
    ae_fixture f;
    ae_init(&f);
    fx_free(ctx, &f.ds[0]);
    fx_free(ctx, &f.ds[1]);
    enum { ROWS = 2500 };
    fx_sparse(ctx, &f.ds[0], "gl_input", ROWS, 700, 30, false);
    fx_sparse(ctx, &f.ds[1], "gl_output", ROWS, 700, 30, false);
    sten_net *net = NULL;
    CHECK_EQ(sten_net_build(ctx, &f.d, f.ds, 2, ROWS, &net), STEN_OK);
    if (net) {
        uint32_t *ids = malloc(ROWS * sizeof *ids);
        for (uint32_t i = 0; i < ROWS; i++)
            ids[i] = (i * 7919u) % ROWS; /* a shuffled batch */
        const sten_csr *x = &net->ws->buf[0].x;
        CHECK(x->cap >= 1u << 15); /* two threads' worth: the split route */
        uint64_t *rp = malloc((ROWS + 1) * sizeof *rp);
        uint32_t *col = malloc(x->cap * sizeof *col);
        float *val = malloc(x->cap * sizeof *val);
        for (int t = 2; t >= 1; t--) {
            sten_ctx_set_threads(ctx, t);
            CHECK_EQ(sten__net_load_batch(ctx, net, net->ws, ids, ROWS, NN_TRAIN), STEN_OK);
            CHECK(x->nnz < f.ds[0].sparse.nnz); /* denoising dropped some */
            if (t == 2) {
                memcpy(rp, x->row_ptr, (ROWS + 1) * sizeof *rp);
                memcpy(col, x->col, x->nnz * sizeof *col);
                memcpy(val, x->val, x->nnz * sizeof *val);
            } else {
                CHECK(memcmp(rp, x->row_ptr, (ROWS + 1) * sizeof *rp) == 0);
                CHECK(memcmp(col, x->col, x->nnz * sizeof *col) == 0);
                CHECK(memcmp(val, x->val, x->nnz * sizeof *val) == 0);
            }
        }
        sten_ctx_set_threads(ctx, 2);
        free(ids), free(rp), free(col), free(val);
        sten_net_free(ctx, net);
    }
    ae_free(&f);
}

/* bf16 precision trains like fp32 (the loss within a few percent after
 * the same epochs), stays bit-identical across thread counts, and keeps the
 * rounded copy of W equal to W rounded (the fused update writes both). */
static void test_bf16_training(void)
{
    if (!sten_bf16_supported()) {
        fprintf(stderr, "  (no AVX-512 BF16 here: bf16 training not tested)\n");
        return;
    }
    ae_fixture f;
    ae_init(&f);
    fx_free(ctx, &f.ds[0]);
    fx_free(ctx, &f.ds[1]);
    fx_sparse(ctx, &f.ds[0], "gl_input", 64, 700, 30, false);
    fx_sparse(ctx, &f.ds[1], "gl_output", 64, 700, 30, false);
    double loss[2][16];
    sten_net *nets[3] = {NULL, NULL, NULL};
    for (int v = 0; v < 3; v++) { /* fp32, bf16, bf16 on one thread */
        CHECK_EQ(sten_net_build(ctx, &f.d, f.ds, 2, 16, &nets[v]), STEN_OK);
        sten_net_init_weights(ctx, nets[v], 9);
        if (v)
            CHECK_EQ(sten_net_set_precision(ctx, nets[v], STEN_PRECISION_BF16), STEN_OK);
        sten_train_opts o = ae_opts(&f.d, STEN_OPT_SGD, 12);
        o.t.batch_size = 16;
        if (v < 2) {
            o.epoch_done = record_loss;
            o.user = loss[v];
        }
        if (v == 2)
            sten_ctx_set_threads(ctx, 1);
        CHECK_EQ(sten_net_train(ctx, nets[v], &o), STEN_OK);
        sten_ctx_set_threads(ctx, 2);
    }
    fprintf(stderr, "  loss per example after 12 epochs: fp32 %.5f, bf16 %.5f (epoch 1: %.5f)\n",
            loss[0][12], loss[1][12], loss[0][1]);
    CHECK(loss[1][12] < 0.8 * loss[1][1]);
    CHECK(fabs(loss[1][12] - loss[0][12]) < 0.03 * loss[0][12]);
    for (uint32_t k = 0; k < nets[1]->n_weights; k++) {
        const nn_weight *a = &nets[1]->weights[k], *b = &nets[2]->weights[k];
        CHECK(memcmp(a->W, b->W, (size_t)a->rows * a->cols * 4) == 0);
        if (a->Wb && a->wb_ver == nets[1]->version) {
            int same = 1;
            for (uint64_t e = 0; e < (uint64_t)a->rows * a->cols; e++)
                same &= a->Wb[e] == sten__bf16(a->W[e]);
            CHECK(same);
        }
    }
    CHECK(nets[1]->weights[1].Wb != NULL); /* the output weight took the bf16 path */
    for (int v = 0; v < 3; v++)
        sten_net_free(ctx, nets[v]);
    ae_free(&f);
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return EXIT_FAILURE;
    sten_ctx_set_threads(ctx, 2);
    RUN(test_every_hidden_activation);
    RUN(test_every_loss);
    RUN(test_zero_pass_kernels);
    RUN(test_sources_skip_dropout_denoise_weights);
    RUN(test_shared_and_sole_readers);
    RUN(test_concat);
    RUN(test_dlrm_layers);
    RUN(test_mult_vae);
    RUN(test_tied_transposed_weights);
    RUN(test_delta_and_weight_norm);
    RUN(test_build_errors);
    RUN(test_training_lowers_loss_and_is_reproducible);
    RUN(test_model_parallel_shards);
    RUN(test_save_load_resume);
    RUN(test_recommend);
    RUN(test_recommend_fused);
    RUN(test_bf16_training);
    RUN(test_bf16_chain);
    RUN(test_int8_inference);
    RUN(test_gather_threads);
    RUN(test_bf16_delta_pass);
    RUN(test_nan_stops_training);
    RUN(test_no_allocation_in_steps);
    RUN(test_factorization_machine);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
