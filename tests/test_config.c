/* test_config.c — the network config parser: DSSTNE's MovieLens config and
 * the two mistakes in its walkthrough copy, defaults, every kind of value, the
 * Training object, and a corpus of bad configs with their exact messages. */
#include "check.h"
#include "sten.h"

static sten_ctx *ctx;

static sten_net_desc *parse(const char *json)
{
    sten_net_desc *d = NULL;
    if (sten_net_desc_parse(ctx, json, strlen(json), "cfg.json", &d) != STEN_OK) {
        fprintf(stderr, "  unexpected error: %s\n", sten_ctx_error(ctx));
        sten_ctx_clear_error(ctx);
    }
    return d;
}

static void expect_error(const char *json, sten_status want, const char *msg)
{
    sten_net_desc *d = NULL;
    CHECK_EQ(sten_net_desc_parse(ctx, json, strlen(json), "cfg.json", &d), want);
    CHECK(d == NULL);
    CHECK_STR(sten_ctx_error(ctx), msg);
    sten_ctx_clear_error(ctx);
}

static void test_movielens_walkthrough(void)
{
    sten_net_desc *d;
    CHECK_EQ(sten_net_desc_load(ctx, STEN_TEST_DATA "/config/movielens.json", &d), STEN_OK);
    if (!d)
        return;
    CHECK_EQ(d->n_layers, 3);
    CHECK(!d->shuffle_indices);
    CHECK_EQ(d->loss, STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY);
    CHECK_NEAR(d->sparseness_p, 0.5, 0, 0);
    CHECK_NEAR(d->sparseness_beta, 2.0, 0, 0);
    CHECK_NEAR(d->denoising_p, 0.2, 1e-7, 0);
    CHECK_NEAR(d->smce_one_target, 1.0, 0, 0);
    CHECK_NEAR(d->smce_zero_target, 0.0, 0, 0);
    CHECK_STR(d->layers[0].dataset, "gl_input");
    CHECK(d->layers[0].N_auto && d->layers[0].sparse);
    CHECK_EQ(d->layers[1].N, 128);
    CHECK_EQ(d->layers[1].kind, STEN_LAYER_HIDDEN);
    CHECK_EQ(d->layers[2].kind, STEN_LAYER_OUTPUT);
    CHECK_EQ(d->layers[2].line, 22);
    CHECK_EQ(d->layers[2].column, 9);
    sten_net_desc_free(ctx, d);
    CHECK_EQ(sten_net_desc_load(ctx, STEN_TEST_DATA "/config/walkthrough_typo.json", &d), STEN_E_PARSE);
    CHECK_STR(sten_ctx_error(ctx), STEN_TEST_DATA "/config/walkthrough_typo.json:9:5: unknown key "
              "\"Shufflelndices\" in the network config (did you mean \"ShuffleIndices\"?)");
    sten_ctx_clear_error(ctx);
    CHECK_EQ(sten_net_desc_load(ctx, STEN_TEST_DATA "/config/walkthrough_comma.json", &d), STEN_E_PARSE);
    CHECK_STR(sten_ctx_error(ctx), STEN_TEST_DATA "/config/walkthrough_comma.json:22:158: trailing "
              "comma after the last element of \"Layers\" (JSON allows no comma before ']'; remove it)");
    sten_ctx_clear_error(ctx);
}

static void test_defaults_and_values(void)
{
    sten_net_desc *d = parse(
        "{\"layers\": [{\"n\": \"auto\", \"dataset\": \"in\"},\n"
        " {\"N\": [4, 8], \"activation\": \"lrelu\", \"slope\": 0.2, \"pDropout\": 0.5,\n"
        "  \"WeightInit\": {\"Scheme\": \"gaussian\", \"Scale\": 0.1, \"Bias\": -1},\n"
        "  \"Source\": [\"Input0\"], \"Skip\": \"Input0\", \"SparsenessPenalty\": {\"p\": 0.1, \"beta\": 3}},\n"
        " {\"N\": 10, \"DataSet\": \"out\", \"Activation\": \"softmax\",\n"
        "  \"SharedWeights\": {\"InputLayer\": \"Hidden1\", \"SourceInputLayer\": \"Input0\",\n"
        "                    \"SourceOutputLayer\": \"Hidden1\", \"Transposed\": true}}],\n"
        " \"Training\": {\"Optimizer\": \"adam\", \"Alpha\": 0.001, \"Epochs\": 7, \"BatchSize\": 64,\n"
        "  \"Seed\": 42, \"LearningRateSchedule\": {\"Type\": \"step\", \"Interval\": 3, \"Multiplier\": 0.5}}}");
    if (!d)
        return;
    /* DSSTNE's code defaults */
    CHECK_EQ(d->loss, STEN_LOSS_CROSS_ENTROPY);
    CHECK(d->shuffle_indices);
    CHECK_NEAR(d->smce_one_target, 0.9, 1e-7, 0);
    CHECK_NEAR(d->smce_zero_target, 0.1, 1e-7, 0);
    CHECK_NEAR(d->selu_lambda, 1.050701, 1e-6, 0);
    CHECK_STR(d->layers[0].name, "Input0");
    CHECK_STR(d->layers[1].name, "Hidden1");
    CHECK_STR(d->layers[2].name, "Output2");
    CHECK_EQ(d->layers[0].activation, STEN_ACT_SIGMOID);
    CHECK_EQ(d->layers[0].init, STEN_INIT_XAVIER);
    /* explicit values */
    const sten_layer_desc *h = &d->layers[1];
    CHECK_EQ(h->N, 32);
    CHECK_EQ(h->activation, STEN_ACT_LEAKYRELU);
    CHECK_NEAR(h->relu_slope, 0.2, 1e-7, 0);
    CHECK(isnan(h->elu_alpha)); /* network value */
    CHECK_NEAR(h->p_dropout, 0.5, 0, 0);
    CHECK_EQ(h->init, STEN_INIT_GAUSSIAN);
    CHECK_NEAR(h->init_bias, -1, 0, 0);
    CHECK_EQ(h->n_sources, 1);
    CHECK_EQ(h->n_skips, 1);
    CHECK_STR(h->skips[0], "Input0");
    CHECK_NEAR(h->sparseness_beta, 3, 0, 0);
    CHECK_EQ(d->layers[2].n_shared, 1);
    CHECK(d->layers[2].shared[0].transposed);
    CHECK_STR(d->layers[2].shared[0].source_output_layer, "Hidden1");
    CHECK_EQ(d->training.optimizer, STEN_OPT_ADAM);
    CHECK_EQ(d->training.epochs, 7);
    CHECK_EQ(d->training.batch_size, 64);
    CHECK_EQ(d->training.seed, 42);
    CHECK_EQ(d->training.schedule, STEN_LR_STEP);
    CHECK_EQ(d->training.schedule_interval, 3);
    CHECK(d->training.set & (1u << STEN_TRAIN_OPTIMIZER));
    CHECK(!(d->training.set & (1u << STEN_TRAIN_MU)));
    CHECK_NEAR(d->training.lambda, 0.0001, 1e-9, 0); /* default kept */
    sten_net_desc_free(ctx, d);
    CHECK_STR(sten_loss_name(STEN_LOSS_L2_HINGE), "L2Hinge");
    CHECK_STR(sten_optimizer_name(STEN_OPT_RMSPROP), "RMSProp");
    CHECK_STR(sten_init_name(STEN_INIT_CAFFE_XAVIER), "CaffeXavier");
}

#define LAYERS(x) "{\"Layers\": [{\"N\": \"auto\", \"DataSet\": \"in\"},\n" x ",\n {\"N\": 5}]}"

static void test_error_corpus(void)
{
    expect_error(LAYERS(" {\"Name\": \"Hidden\", \"N\": 8, \"Activation\": \"Sigmod\"}"), STEN_E_PARSE,
                 "cfg.json:2:29: layer \"Hidden\": unknown activation \"Sigmod\" (expected Sigmoid, "
                 "Tanh, RELU, LeakyRELU, ELU, SELU, SoftPlus, SoftSign, SoftMax, RELUMax, LinearMax, Linear)");
    expect_error(LAYERS(" {\"Name\": \"H\", \"N\": 8, \"Activaton\": \"Tanh\"}"), STEN_E_PARSE,
                 "cfg.json:2:24: layer \"H\": unknown key \"Activaton\" in a layer (did you mean \"Activation\"?)");
    expect_error(LAYERS(" {\"N\": 8, \"pDropout\": 1.5}"), STEN_E_RANGE,
                 "cfg.json:2:11: \"pDropout\" = 1.5 is out of range (expected 0 to 0.999999)");
    expect_error(LAYERS(" {\"Name\": \"H\", \"N\": \"auto\"}"), STEN_E_PARSE,
                 "cfg.json:2:2: layer \"H\": \"N\": \"auto\" needs a DataSet, so only Input and Output "
                 "layers can use it");
    expect_error(LAYERS(" {\"Name\": \"H\", \"N\": 4, \"Source\": \"Inptu0\"}"), STEN_E_PARSE,
                 "cfg.json:2:2: layer \"H\": refers to layer \"Inptu0\", which does not exist (did you "
                 "mean \"Input0\"?)");
    expect_error(LAYERS(" {\"Name\": \"Input0\", \"N\": 4}"), STEN_E_PARSE,
                 "cfg.json:2:2: duplicate layer name \"Input0\"");
    expect_error(LAYERS(" {\"Name\": \"C\", \"N\": 4, \"Type\": \"Convolutional\"}"), STEN_E_UNSUPPORTED,
                 "cfg.json:2:2: layer \"C\": Convolutional layers are not supported yet");
    expect_error(LAYERS(" {\"Name\": \"B\", \"N\": 4, \"BatchNormalization\": true}"), STEN_E_UNSUPPORTED,
                 "cfg.json:2:24: layer \"B\": BatchNormalization is not supported yet");
    expect_error("{\"TrainingParameters\": {\"Epochs\": 3}, \"Layers\": []}", STEN_E_PARSE,
                 "cfg.json:1:2: \"TrainingParameters\" belongs to DSSTNE's CDL command files, not to a "
                 "network config; put training settings in a \"Training\" object");
    expect_error(LAYERS(" {\"N\": true}"), STEN_E_PARSE,
                 "cfg.json:2:3: \"N\": expected a positive integer or \"auto\"");
    expect_error("{\"Version\": 0.5, \"Layers\": [{}, {}]}", STEN_E_RANGE,
                 "cfg.json:1:2: \"Version\" = 0.5: configs older than 0.7 are not supported (as in DSSTNE)");
    expect_error("{\"Layers\": [{\"N\": 3}\n  {\"N\": 4}]}", STEN_E_PARSE,
                 "cfg.json:2:3: ']' expected near '{'");
    expect_error("{\"Training\": {\"Optimizer\": \"adamw\"}, \"Layers\": [{}, {}]}", STEN_E_PARSE,
                 "cfg.json:1:15: unknown Optimizer \"adamw\" (expected SGD, Momentum, AdaGrad, Nesterov, "
                 "RMSProp, AdaDelta, Adam)");
    expect_error("{\"ErrorFunction\": 3, \"Layers\": [{}, {}]}", STEN_E_PARSE,
                 "cfg.json:1:2: \"ErrorFunction\": expected a name, got a number");
    expect_error("{\"Layers\": [{\"N\": 2}, {\"N\": 2, \"N\": 3}]}", STEN_E_PARSE,
                 "cfg.json:1:34: duplicate object key near '\"N\"'");
    expect_error("{\"Name\": \"x\"}", STEN_E_PARSE,
                 "cfg.json: no \"Layers\": a network needs at least an input and an output layer");
    expect_error("[1, 2]", STEN_E_PARSE, "cfg.json:1:1: expected a JSON object, got an array");
}

static void test_alloc_failures(void)
{
    const char *json = LAYERS(" {\"N\": 8, \"Activation\": \"Tanh\"}");
    for (long n = 1;; n++) {
        sten_net_desc *d = NULL;
        sten_ctx_fail_alloc_at(ctx, n);
        const sten_status st = sten_net_desc_parse(ctx, json, strlen(json), "cfg.json", &d);
        sten_ctx_fail_alloc_at(ctx, 0);
        sten_ctx_clear_error(ctx);
        if (st == STEN_OK) {
            sten_net_desc_free(ctx, d);
            CHECK(n > 3);
            break;
        }
        CHECK_EQ(st, STEN_E_NOMEM);
        CHECK(d == NULL);
        CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    }
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return EXIT_FAILURE;
    RUN(test_movielens_walkthrough);
    RUN(test_defaults_and_values);
    RUN(test_error_corpus);
    RUN(test_alloc_failures);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
