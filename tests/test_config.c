/* test_config.c — the network config parser: DSSTNE's MovieLens config and
 * the two mistakes in its walkthrough copy, defaults, every key with its
 * value, the Training object, the name helpers, a corpus of bad configs with
 * their exact messages (inline and data/config/bad/NAME.json + NAME.err),
 * limits, warnings, and allocation failures at every step. */
#include "check.h"
#include "sten.h"

#include <dirent.h>
#include <unistd.h>

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

/* DSSTNE's walkthrough config (samples/movielens/config.json in DSSTNE's
 * repository, whitespace aside) reads unchanged. walkthrough_typo.json and
 * walkthrough_comma.json are that config with a hand-made mistake each
 * (DSSTNE's own file has neither): the messages must point at them. */
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

/* Layer types from the registry: their names, their own settings, and
 * widths from their sources. */
static void test_layer_types(void)
{
    sten_net_desc *d = parse(
        "{\"Layers\": [{\"Name\": \"In\", \"N\": \"auto\", \"DataSet\": \"in\"},\n"
        " {\"Name\": \"A\", \"N\": 4}, {\"Name\": \"B\", \"N\": 3, \"Source\": \"In\"},\n"
        " {\"Name\": \"Cat\", \"Type\": \"concat\", \"N\": \"auto\", \"Sources\": [\"A\", \"B\", \"In\"]},\n"
        " {\"Name\": \"FM\", \"Kind\": \"Output\", \"Type\": \"FactorizationMachine\", \"N\": 1,\n"
        "  \"Factors\": 8, \"factorsLR\": 0.5, \"Source\": \"In\", \"DataSet\": \"y\"}]}");
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ(d->layers[3].type, STEN_LAYER_CONCAT);
        CHECK(d->layers[3].N_auto);
        CHECK_EQ(d->layers[3].n_sources, 3);
        CHECK_STR(d->layers[3].sources[2], "In");
        CHECK_EQ(d->layers[4].type, STEN_LAYER_FACTORIZATION_MACHINE);
        CHECK_EQ(sten_layer_desc_get(&d->layers[4], "Factors"), 8.0);
        CHECK_NEAR(sten_layer_desc_get(&d->layers[4], "FactorsLR"), 0.5, 0, 0);
        CHECK(isnan(sten_layer_desc_get(&d->layers[4], "BiasLR")));
        CHECK(isnan(sten_layer_desc_get(&d->layers[3], "Factors"))); /* not Concat's */
        sten_net_desc_free(ctx, d);
    }
    expect_error(LAYERS(" {\"N\": 8, \"Factors\": 4}"), STEN_E_PARSE,
                 "cfg.json:2:11: layer \"Hidden1\": \"Factors\" is for FactorizationMachine layers");
    expect_error(LAYERS(" {\"N\": 1, \"Type\": \"FactorizationMachine\", \"Factors\": 0}"), STEN_E_RANGE,
                 "cfg.json:2:43: layer \"Hidden1\": \"Factors\" = 0 is out of range (expected 1 to 100000)");
    expect_error(LAYERS(" {\"N\": 1, \"Type\": \"FactorizationMachine\"}"), STEN_E_PARSE,
                 "cfg.json:2:2: layer \"Hidden1\": a FactorizationMachine layer needs \"Factors\" >= 1 "
                 "and N = 1 (one score per example)");
    expect_error(LAYERS(" {\"N\": \"auto\", \"Type\": \"Concat\"}"), STEN_E_PARSE,
                 "cfg.json:2:2: layer \"Hidden1\": a Concat layer is a Hidden layer with at least one Source");
    expect_error(LAYERS(" {\"N\": 2, \"Type\": \"Dense\"}"), STEN_E_PARSE,
                 "cfg.json:2:11: layer \"Hidden1\": unknown layer Type \"Dense\" (expected FullyConnected, "
                 "FactorizationMachine, Concat, Embedding, Interaction, Variational, Convolutional, Pooling)");
    expect_error(LAYERS(" {\"N\": \"auto\", \"Type\": \"Embedding\", \"Source\": \"Input0\"}"), STEN_E_PARSE,
                 "cfg.json:2:2: layer \"Hidden1\": an Embedding layer is a Hidden layer with one Source (a "
                 "sparse input) and N = its dimension");
    expect_error(LAYERS(" {\"N\": \"auto\", \"Type\": \"Interaction\", \"Source\": \"Input0\"}"), STEN_E_PARSE,
                 "cfg.json:2:2: layer \"Hidden1\": an Interaction layer is a Hidden layer with two or more "
                 "Sources of one width");
    expect_error(LAYERS(" {\"N\": 4, \"Type\": \"Embedding\", \"Pooling\": 2}"), STEN_E_RANGE,
                 "cfg.json:2:32: layer \"Hidden1\": \"Pooling\" = 2 is out of range (expected 0 to 1)");
}

static void test_error_corpus(void)
{
    expect_error(LAYERS(" {\"Name\": \"Hidden\", \"N\": 8, \"Activation\": \"Sigmod\"}"), STEN_E_PARSE,
                 "cfg.json:2:29: layer \"Hidden\": unknown activation \"Sigmod\" (expected Sigmoid, "
                 "Tanh, RELU, LeakyRELU, ELU, SELU, SoftPlus, SoftSign, SoftMax, RELUMax, LinearMax, Linear)");
    expect_error(LAYERS(" {\"Name\": \"H\", \"N\": 8, \"Activaton\": \"Tanh\"}"), STEN_E_PARSE,
                 "cfg.json:2:24: layer \"H\": unknown key \"Activaton\" in a layer (did you mean \"Activation\"?)");
    expect_error(LAYERS(" {\"N\": 8, \"pDropout\": 1.5}"), STEN_E_RANGE,
                 "cfg.json:2:11: layer \"Hidden1\": \"pDropout\" = 1.5 is out of range (expected at least 0 "
                 "and less than 1)");
    expect_error(LAYERS(" {\"Name\": \"H\", \"N\": \"auto\"}"), STEN_E_PARSE,
                 "cfg.json:2:2: layer \"H\": \"N\": \"auto\" needs a DataSet, so only Input and Output "
                 "layers can use it");
    expect_error(LAYERS(" {\"Name\": \"H\", \"N\": 4, \"Source\": \"Inptu0\"}"), STEN_E_PARSE,
                 "cfg.json:2:24: layer \"H\": \"Source\" refers to layer \"Inptu0\", which does not exist "
                 "(did you mean \"Input0\"?)");
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
                 "cfg.json:2:3: layer \"Hidden1\": \"N\": expected a positive integer or \"auto\"");
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


/* Every key of the language, in mixed case, with a value that is not the
 * default: each lands in its field. */
static void test_all_keys(void)
{
    sten_net_desc *d;
    CHECK_EQ(sten_net_desc_load(ctx, STEN_TEST_DATA "/config/good/all_keys.json", &d), STEN_OK);
    if (!d)
        return;
    CHECK_NEAR(d->version, 0.81, 1e-6, 0);
    CHECK_STR(d->name, "every key");
    CHECK(d->autoencoder);
    CHECK(!d->shuffle_indices);
    CHECK_NEAR(d->sparseness_p, 0.05, 1e-7, 0);
    CHECK_NEAR(d->sparseness_beta, 3, 0, 0);
    CHECK_NEAR(d->denoising_p, 0.25, 0, 0);
    CHECK_NEAR(d->delta_boost_one, 2, 0, 0);
    CHECK_NEAR(d->delta_boost_zero, 0.5, 0, 0);
    CHECK_NEAR(d->smce_one_target, 0.95, 1e-7, 0);
    CHECK_NEAR(d->smce_zero_target, 0.05, 1e-7, 0);
    CHECK_NEAR(d->smce_one_scale, 30, 0, 0);
    CHECK_NEAR(d->smce_zero_scale, 0.5, 0, 0);
    CHECK_EQ(d->loss, STEN_LOSS_CROSS_ENTROPY);
    CHECK_NEAR(d->relu_slope, 0.2, 1e-7, 0);
    CHECK_NEAR(d->elu_alpha, 0.9, 1e-7, 0);
    CHECK_NEAR(d->selu_lambda, 1.1, 1e-7, 0);
    CHECK_NEAR(d->decay, 0.001, 1e-9, 0);
    CHECK_EQ(d->n_layers, 5);
    if (d->n_layers != 5) {
        sten_net_desc_free(ctx, d);
        return;
    }
    const sten_layer_desc *in = &d->layers[0], *c = &d->layers[1], *side = &d->layers[2];
    const sten_layer_desc *out = &d->layers[3], *tg = &d->layers[4];
    CHECK_STR(in->name, "Input0");
    CHECK(in->N_auto && in->sparse);
    CHECK_STR(in->dataset, "gl_input");
    CHECK_EQ(in->line, 19);
    CHECK_EQ(in->column, 9);
    CHECK_STR(c->name, "Code");
    CHECK_EQ(c->kind, STEN_LAYER_HIDDEN);
    CHECK_EQ(c->type, STEN_LAYER_FULLY_CONNECTED);
    CHECK_EQ(c->N, 32);
    CHECK(!c->N_auto);
    CHECK_EQ(c->activation, STEN_ACT_LEAKYRELU);
    CHECK_NEAR(c->relu_slope, 0.3, 1e-7, 0);
    CHECK_NEAR(c->elu_alpha, 0.7, 1e-7, 0);
    CHECK_NEAR(c->selu_lambda, 1.2, 1e-7, 0);
    CHECK_NEAR(c->p_dropout, 0.1, 1e-7, 0);
    CHECK_NEAR(c->weight_norm, 5, 0, 0);
    CHECK_NEAR(c->delta_norm, 6, 0, 0);
    CHECK(c->sparse);
    CHECK_EQ(c->init, STEN_INIT_CAFFE_XAVIER);
    CHECK_NEAR(c->init_scale, 0.5, 0, 0);
    CHECK_NEAR(c->init_bias, 0.25, 0, 0);
    CHECK_NEAR(c->sparseness_p, 0.1, 1e-7, 0);
    CHECK_NEAR(c->sparseness_beta, 4, 0, 0);
    CHECK_EQ(c->n_sources, 0); /* the previous layer */
    CHECK_EQ(side->n_sources, 2);
    CHECK_STR(side->sources[0], "Input0");
    CHECK_STR(side->sources[1], "Code");
    CHECK_EQ(side->activation, STEN_ACT_TANH);
    CHECK(isnan(side->relu_slope) && isnan(side->elu_alpha) && isnan(side->selu_lambda));
    CHECK_EQ(side->init, STEN_INIT_XAVIER);
    CHECK_NEAR(side->init_scale, 1, 0, 0);
    CHECK_EQ(out->kind, STEN_LAYER_OUTPUT);
    CHECK_EQ(out->n_sources, 1);
    CHECK_STR(out->sources[0], "Side");
    CHECK_EQ(out->n_skips, 1);
    CHECK_STR(out->skips[0], "Side");
    CHECK_EQ(out->activation, STEN_ACT_SOFTMAX);
    CHECK_EQ(out->init, STEN_INIT_GAUSSIAN);
    CHECK_NEAR(out->init_scale, 1, 0, 0); /* the scheme alone changes only the scheme */
    CHECK_EQ(tg->kind, STEN_LAYER_TARGET);
    CHECK_STR(tg->name, "Target4");
    const sten_train_desc *t = &d->training;
    CHECK_EQ(t->optimizer, STEN_OPT_NESTEROV);
    CHECK_NEAR(t->alpha, 0.05, 1e-9, 0);
    CHECK_NEAR(t->lambda, 0.001, 1e-9, 0);
    CHECK_NEAR(t->lambda1, 0.0002, 1e-9, 0);
    CHECK_NEAR(t->mu, 0.9, 1e-7, 0);
    CHECK_NEAR(t->mu1, 0.99, 1e-7, 0);
    CHECK_EQ(t->epochs, 12);
    CHECK_EQ(t->batch_size, 256);
    CHECK(t->seed == 9007199254740991ull);
    CHECK_EQ(t->schedule, STEN_LR_EXPONENTIAL);
    CHECK_NEAR(t->schedule_multiplier, 0.95, 1e-7, 0);
    CHECK_EQ(t->checkpoint_interval, 3);
    const unsigned all = (1u << (STEN_TRAIN_CHECKPOINT_INTERVAL + 1)) - 1;
    CHECK_EQ(t->set, all);
    sten_net_desc_free(ctx, d);

    CHECK_EQ(sten_net_desc_load(ctx, STEN_TEST_DATA "/config/good/tied_autoencoder.json", &d), STEN_OK);
    if (!d)
        return;
    CHECK_EQ(d->loss, STEN_LOSS_SCALED_MARGINAL_CROSS_ENTROPY);
    CHECK_NEAR(d->smce_one_target, 1, 0, 0);
    CHECK_NEAR(d->relu_slope, 0.01, 1e-9, 0); /* sten's default, not DSSTNE's 1.0 */
    CHECK_EQ(d->layers[1].init, STEN_INIT_SELU);
    CHECK_EQ(d->layers[2].n_shared, 1);
    CHECK_STR(d->layers[2].shared[0].input_layer, "Hidden");
    CHECK_STR(d->layers[2].shared[0].source_input_layer, "Input");
    CHECK_STR(d->layers[2].shared[0].source_output_layer, "Hidden");
    CHECK(d->layers[2].shared[0].transposed);
    CHECK_EQ(d->training.optimizer, STEN_OPT_ADAM);
    CHECK_EQ(d->training.epochs, 20);
    CHECK_EQ(d->training.batch_size, 1024); /* default */
    CHECK_EQ(d->training.seed, 12134);
    CHECK_NEAR(d->training.mu, 0.5, 0, 0);
    CHECK_EQ(d->training.checkpoint_interval, 0);
    CHECK_EQ(d->training.schedule, STEN_LR_STEP);
    CHECK_EQ(d->training.schedule_interval, 5);
    CHECK_EQ(d->training.set, (1u << STEN_TRAIN_OPTIMIZER) | (1u << STEN_TRAIN_ALPHA) |
                                  (1u << STEN_TRAIN_EPOCHS) | (1u << STEN_TRAIN_SCHEDULE));
    sten_net_desc_free(ctx, d);
}

static void test_names(void)
{
    sten_loss l = STEN_LOSS_L1;
    CHECK_EQ(sten_loss_parse("cross entropy", &l), STEN_OK);
    CHECK_EQ(l, STEN_LOSS_CROSS_ENTROPY);
    CHECK_EQ(sten_loss_parse("CROSSENTROPY", &l), STEN_OK);
    CHECK_EQ(sten_loss_parse("datascaledmarginalcrossentropy", &l), STEN_OK);
    CHECK_EQ(l, STEN_LOSS_DATA_SCALED_MARGINAL_CROSS_ENTROPY);
    CHECK_EQ(sten_loss_parse("SMCE", &l), STEN_E_NOTFOUND);
    CHECK_EQ(l, STEN_LOSS_DATA_SCALED_MARGINAL_CROSS_ENTROPY); /* untouched */
    sten_init i = STEN_INIT_XAVIER;
    CHECK_EQ(sten_init_parse("unitball", &i), STEN_OK);
    CHECK_EQ(i, STEN_INIT_UNIT_BALL);
    CHECK_EQ(sten_init_parse("he", &i), STEN_E_NOTFOUND);
    sten_optimizer o = STEN_OPT_SGD;
    CHECK_EQ(sten_optimizer_parse("ADAM", &o), STEN_OK);
    CHECK_EQ(o, STEN_OPT_ADAM);
    CHECK_EQ(sten_optimizer_parse("adamw", &o), STEN_E_NOTFOUND);
    CHECK_EQ(sten_optimizer_parse(NULL, &o), STEN_E_NOTFOUND);
    /* every value round-trips through its name */
    for (int k = 0; k <= STEN_LOSS_L2_HINGE; k++)
        CHECK(sten_loss_parse(sten_loss_name((sten_loss)k), &l) == STEN_OK && (int)l == k);
    for (int k = 0; k <= STEN_INIT_SELU; k++)
        CHECK(sten_init_parse(sten_init_name((sten_init)k), &i) == STEN_OK && (int)i == k);
    for (int k = 0; k <= STEN_OPT_ADAM; k++)
        CHECK(sten_optimizer_parse(sten_optimizer_name((sten_optimizer)k), &o) == STEN_OK && (int)o == k);
    CHECK(sten_loss_name((sten_loss)99) == NULL);
}

/* data/config/bad/NAME.json fails with exactly the message in NAME.err
 * (one line; messages name the file as given, so the test runs there). */
static void test_bad_corpus(void)
{
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_EQ(chdir(STEN_TEST_DATA "/config/bad"), 0);
    DIR *dir = opendir(".");
    CHECK(dir != NULL);
    int n = 0;
    for (struct dirent *e; dir && (e = readdir(dir));) {
        const size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json"))
            continue;
        char err_name[512], want[1024] = "";
        snprintf(err_name, sizeof err_name, "%.*s.err", (int)(l - 5), e->d_name);
        FILE *f = fopen(err_name, "r");
        CHECK(f != NULL);
        if (f) {
            if (!fgets(want, sizeof want, f))
                want[0] = '\0';
            fclose(f);
        }
        want[strcspn(want, "\n")] = '\0';
        sten_net_desc *d = NULL;
        const sten_status st = sten_net_desc_load(ctx, e->d_name, &d);
        CHECK(st != STEN_OK && d == NULL);
        CHECK_STR(sten_ctx_error(ctx), want);
        sten_ctx_clear_error(ctx);
        sten_net_desc_free(ctx, d);
        n++;
    }
    if (dir)
        closedir(dir);
    CHECK(n >= 30);
    CHECK_EQ(chdir(cwd), 0);
}

typedef struct {
    int n;
    char last[512];
} log_capture;

static void capture(void *user, sten_log_level level, const char *msg)
{
    log_capture *c = user;
    if (level == STEN_LOG_WARN) {
        c->n++;
        snprintf(c->last, sizeof c->last, "%s", msg);
    }
}

/* Keys DSSTNE accepted for nothing are warnings that say where and why;
 * limits on size, nesting and entries are errors. */
static void test_warnings_and_limits(void)
{
    log_capture cap = {0, ""};
    sten_ctx_set_log(ctx, capture, &cap, STEN_LOG_WARN);
    sten_net_desc *d = parse("{\"Layers\": [{}, {}],\n  \"weightsdata\": \"w.nc\"}");
    CHECK(d != NULL);
    sten_net_desc_free(ctx, d);
    CHECK_EQ(cap.n, 1);
    CHECK_STR(cap.last, "cfg.json:2:3: \"weightsdata\" is accepted and ignored: DSSTNE never read "
              "weights from it either; start from a model file instead");
    d = parse("{\"Layers\": [{}, {}], \"LRN\": {\"k\": 2}}");
    sten_net_desc_free(ctx, d);
    CHECK_EQ(cap.n, 2);
    CHECK_STR(cap.last, "cfg.json:1:22: \"LRN\" is accepted and ignored: only Pooling layers use it, "
              "and they are not supported");
    sten_ctx_set_log(ctx, NULL, NULL, STEN_LOG_WARN);

    /* more entries than any config has */
    const size_t n = 70000;
    char *big = malloc(64 + 2 * n);
    if (!big)
        return;
    size_t len = (size_t)sprintf(big, "{\"Layers\": [{}, {}], \"Name\": [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(big + len, i ? ",0" : "0");
    len += (size_t)sprintf(big + len, "]}");
    d = NULL;
    CHECK_EQ(sten_net_desc_parse(ctx, big, len, "big.json", &d), STEN_E_RANGE);
    CHECK_STR(sten_ctx_error(ctx), "big.json:1:131095: more than 65536 keys and array elements "
              "(a network config has hundreds)");
    sten_ctx_clear_error(ctx);
    free(big);
    /* more bytes than the limit, refused before reading them */
    CHECK_EQ(sten_net_desc_parse(ctx, "{}", (4u << 20) + 1, "huge.json", &d), STEN_E_RANGE);
    CHECK_STR(sten_ctx_error(ctx), "huge.json: 4194305 bytes is too large for a network config "
              "(limit 4194304)");
    sten_ctx_clear_error(ctx);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
}

/* Failing the n-th allocation, for every n until the parse gets through:
 * out of memory, no descriptor, nothing leaked; then exactly the outcome
 * (status and message) it has without failures, which must be `want`. */
static void alloc_sweep(const char *json, size_t len, sten_status want)
{
    sten_net_desc *d = NULL;
    CHECK_EQ(sten_net_desc_parse(ctx, json, len, "cfg.json", &d), want);
    sten_net_desc_free(ctx, d);
    char ref[1024];
    snprintf(ref, sizeof ref, "%s", want ? sten_ctx_error(ctx) : "");
    sten_ctx_clear_error(ctx);
    for (long n = 1;; n++) {
        d = NULL;
        sten_ctx_fail_alloc_at(ctx, n);
        const sten_status st = sten_net_desc_parse(ctx, json, len, "cfg.json", &d);
        sten_ctx_fail_alloc_at(ctx, 0);
        sten_net_desc_free(ctx, d);
        CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
        if (st != STEN_E_NOMEM) {
            CHECK_EQ(st, want);
            CHECK_STR(want ? sten_ctx_error(ctx) : "", ref);
            CHECK(n > 3);
            sten_ctx_clear_error(ctx);
            break;
        }
        CHECK(d == NULL);
        sten_ctx_clear_error(ctx);
    }
}

static void test_alloc_failures(void)
{
    const char *json = LAYERS(" {\"N\": 8, \"Activation\": \"Tanh\"}");
    alloc_sweep(json, strlen(json), STEN_OK);
    /* failures while indexing positions are not hidden by the depth limit
     * the scan reaches afterwards (found by fuzzing) */
    char deep[300];
    int k = snprintf(deep, sizeof deep, "{\"Layers\": [{}, {}], \"Name\": ");
    for (int i = 0; i < 70; i++)
        deep[k++] = '[';
    alloc_sweep(deep, (size_t)k, STEN_E_RANGE); /* the depth limit comes before the end */
    for (int i = 0; i < 70; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    alloc_sweep(deep, (size_t)k, STEN_E_RANGE);
    FILE *f = fopen(STEN_TEST_DATA "/config/good/all_keys.json", "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    static char buf[1 << 16];
    const size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    alloc_sweep(buf, len, STEN_OK);
    /* and through the file reader */
    for (long n = 1;; n++) {
        sten_net_desc *d = NULL;
        sten_ctx_fail_alloc_at(ctx, n);
        const sten_status st = sten_net_desc_load(ctx, STEN_TEST_DATA "/config/movielens.json", &d);
        sten_ctx_fail_alloc_at(ctx, 0);
        sten_ctx_clear_error(ctx);
        sten_net_desc_free(ctx, d);
        if (st == STEN_OK)
            break;
        CHECK_EQ(st, STEN_E_NOMEM);
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
    RUN(test_layer_types);
    RUN(test_all_keys);
    RUN(test_names);
    RUN(test_bad_corpus);
    RUN(test_warnings_and_limits);
    RUN(test_alloc_failures);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
