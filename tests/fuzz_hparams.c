/* fuzz_hparams.c — fuzz driver for SageMaker's FM hyperparameters JSON
 * (sten_fm_desc_from_hyperparameters), as is and with one allocation
 * failed. A success must describe the FM network: a sparse input and one
 * FactorizationMachine output. tests/fuzz/fuzz.h has the rest. */
#include "fuzz/fuzz.h"

static void parse_once(sten_ctx *ctx, const char *path, long fail_at)
{
    sten_net_desc *d = NULL;
    sten_ctx_fail_alloc_at(ctx, fail_at);
    const sten_status st = sten_fm_desc_from_hyperparameters(ctx, path, &d);
    sten_ctx_fail_alloc_at(ctx, 0);
    fuzz_outcome(ctx, st, path, fail_at > 0, false);
    if (st != STEN_OK) {
        REQUIRE(d == NULL);
        return;
    }
    REQUIRE(d->n_layers == 2 && d->layers != NULL);
    REQUIRE(d->layers[0].kind == STEN_LAYER_INPUT && d->layers[0].sparse && d->layers[0].N >= 1);
    REQUIRE(d->layers[1].kind == STEN_LAYER_OUTPUT);
    REQUIRE(d->training.epochs >= 1 && d->training.batch_size >= 1);
    sten_net_desc_free(ctx, d);
}

int fuzz_one(sten_ctx *ctx, const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_file(path, sizeof path, "hyperparameters.json", data, size);
    parse_once(ctx, path, 0);
    parse_once(ctx, path, 1 + (long)(size % 13));
    return 0;
}
