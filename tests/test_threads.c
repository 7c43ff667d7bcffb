/* test_threads.c — one trained model, many threads: eight threads, each with
 * its own context and workspace, recommend for every user and read a hidden
 * layer from one shared network at the same time, and every thread gets
 * exactly the lists and activations of a single-threaded run — in fp32 (the
 * bf16-screened path where the CPU has it), after the weights change (the
 * derived data is rebuilt), and in bf16 precision where available. CI also
 * runs it under ThreadSanitizer (scripts/test.sh --tsan). */
#include "check.h"
#include "nn_fixtures.h"

#include <pthread.h>

enum { USERS = 96, ITEMS = 1300, K = 20, BATCH = 16, THREADS = 8 };

static sten_ctx *ctx;

typedef struct {
    const sten_net *net;
    const sten_csr *seen;
    uint32_t *idx;   /* USERS x K */
    float *val;
    float *hidden;   /* USERS x H */
    uint32_t H;
    sten_status st;
} job;

/* Every user, BATCH at a time, through the thread's own context and
 * workspace: top-K unseen items, and the Hidden layer. */
static void *run(void *arg)
{
    job *j = arg;
    sten_ctx *c = NULL;
    sten_workspace *ws = NULL;
    if ((j->st = sten_ctx_init(&c)) != STEN_OK)
        return NULL;
    sten_ctx_set_threads(c, 1);
    if ((j->st = sten_workspace_new(c, j->net, BATCH, &ws)) != STEN_OK)
        goto out;
    for (uint32_t u0 = 0; u0 < USERS && !j->st; u0 += BATCH) {
        uint32_t ids[BATCH], cnt[BATCH];
        for (uint32_t b = 0; b < BATCH; b++)
            ids[b] = u0 + b;
        sten_csr ex = *j->seen;
        ex.rows = BATCH;
        ex.row_ptr = j->seen->row_ptr + u0;
        j->st = sten_net_recommend_ws(c, j->net, ws, ids, BATCH, ITEMS, K, &ex, j->idx + (size_t)u0 * K,
                                      j->val + (size_t)u0 * K, cnt);
        const float *h;
        uint32_t w;
        if (!j->st && !(j->st = sten_net_infer_ws(c, j->net, ws, ids, BATCH, "Hidden", &h, &w)))
            memcpy(j->hidden + (size_t)u0 * j->H, h, (size_t)BATCH * w * sizeof *h);
    }
out:
    if (j->st)
        fprintf(stderr, "  thread: %s\n", sten_ctx_error(c));
    sten_workspace_free(c, ws);
    sten_ctx_free(c);
    return NULL;
}

/* THREADS threads at once on a model whose derived data is stale (they race
 * to have it made), then the single-threaded reference: the same bits. */
static void check_concurrent(sten_net *net, const sten_csr *seen, const char *what)
{
    job jobs[THREADS + 1];
    const uint32_t H = 24;
    for (int t = 0; t <= THREADS; t++) {
        jobs[t] = (job){net, seen, calloc((size_t)USERS * K, 4), calloc((size_t)USERS * K, 4),
                        calloc((size_t)USERS * H, 4), H, STEN_OK};
    }
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        CHECK_EQ(pthread_create(&th[t], NULL, run, &jobs[t]), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    run(&jobs[THREADS]); /* the reference, alone */
    CHECK_EQ(jobs[THREADS].st, STEN_OK);
    int same = 0;
    for (int t = 0; t < THREADS; t++) {
        CHECK_EQ(jobs[t].st, STEN_OK);
        same += memcmp(jobs[t].idx, jobs[THREADS].idx, (size_t)USERS * K * 4) == 0 &&
                memcmp(jobs[t].val, jobs[THREADS].val, (size_t)USERS * K * 4) == 0 &&
                memcmp(jobs[t].hidden, jobs[THREADS].hidden, (size_t)USERS * H * 4) == 0;
    }
    fprintf(stderr, "  %s: %d of %d threads match the single-threaded run\n", what, same, THREADS);
    CHECK_EQ(same, THREADS);
    /* and the lists are real: K items each, none of them seen */
    int bad = 0;
    for (uint32_t u = 0; u < USERS; u++)
        for (uint32_t r = 0; r < K; r++) {
            const uint32_t item = jobs[THREADS].idx[u * K + r];
            bad += item >= ITEMS;
            for (uint64_t e = seen->row_ptr[u]; e < seen->row_ptr[u + 1]; e++)
                bad += seen->col[e] == item;
        }
    CHECK_EQ(bad, 0);
    for (int t = 0; t <= THREADS; t++)
        free(jobs[t].idx), free(jobs[t].val), free(jobs[t].hidden);
}

static void test_one_model_many_threads(void)
{
    sten_layer_desc L[3] = {fx_layer("Input", STEN_LAYER_INPUT, 0, STEN_ACT_SIGMOID),
                            fx_layer("Hidden", STEN_LAYER_HIDDEN, 24, STEN_ACT_SIGMOID),
                            fx_layer("Output", STEN_LAYER_OUTPUT, 0, STEN_ACT_SIGMOID)};
    L[0].N_auto = L[2].N_auto = true;
    L[0].sparse = true;
    strcpy(L[0].dataset, "gl_input");
    strcpy(L[2].dataset, "gl_output");
    sten_net_desc d = fx_desc(L, 3);
    d.loss = STEN_LOSS_CROSS_ENTROPY;
    sten_dataset ds[2];
    fx_sparse(ctx, &ds[0], "gl_input", USERS, ITEMS, 40, false);
    fx_sparse(ctx, &ds[1], "gl_output", USERS, ITEMS, 40, false);
    sten_net *net = NULL;
    CHECK_EQ(sten_net_build(ctx, &d, ds, 2, 32, &net), STEN_OK);
    if (!net)
        return;
    sten_net_init_weights(ctx, net, 5);
    sten_train_opts o;
    memset(&o, 0, sizeof o);
    o.t = d.training;
    o.t.optimizer = STEN_OPT_ADAM;
    o.t.alpha = 0.01f;
    o.t.epochs = 2;
    o.t.batch_size = 32;
    o.first_epoch = 1;
    sten_train_desc_resolve(&o.t);
    CHECK_EQ(sten_net_train(ctx, net, &o), STEN_OK);
    check_concurrent(net, &ds[0].sparse, "fp32");
    /* the weights change: what inference derived from them is made again */
    o.first_epoch = 3;
    o.t.epochs = 3;
    CHECK_EQ(sten_net_train(ctx, net, &o), STEN_OK);
    check_concurrent(net, &ds[0].sparse, "fp32 after more training");
    if (sten_bf16_supported()) {
        CHECK_EQ(sten_net_set_precision(ctx, net, STEN_PRECISION_BF16), STEN_OK);
        check_concurrent(net, &ds[0].sparse, "bf16");
    }
    /* a workspace belongs to the network it was made for */
    sten_net *other = NULL;
    CHECK_EQ(sten_net_build(ctx, &d, ds, 2, 8, &other), STEN_OK);
    sten_workspace *ws = NULL;
    CHECK_EQ(sten_workspace_new(ctx, other, 8, &ws), STEN_OK);
    uint32_t ids[1] = {0}, idx[K];
    CHECK_EQ(sten_net_recommend_ws(ctx, net, ws, ids, 1, ITEMS, K, NULL, idx, NULL, NULL), STEN_E_INVALID);
    CHECK_STR(sten_ctx_error(ctx), "the workspace was made for another network");
    sten_ctx_clear_error(ctx);
    sten_workspace_free(ctx, ws);
    /* scores are for one-unit outputs */
    CHECK_EQ(sten_workspace_new(ctx, net, 8, &ws), STEN_OK);
    float sc[USERS];
    CHECK_EQ(sten_net_score_ws(ctx, net, ws, sc, NULL), STEN_E_INVALID);
    CHECK(strstr(sten_ctx_error(ctx), "scores need a one-unit output; \"Output\" has 1300 units") != NULL);
    sten_ctx_clear_error(ctx);
    sten_workspace_free(ctx, ws);
    CHECK_EQ(sten_workspace_new(ctx, net, 0, &ws), STEN_E_INVALID);
    CHECK(ws == NULL);
    sten_ctx_clear_error(ctx);
    sten_workspace_free(ctx, NULL);
    sten_net_free(ctx, other);
    sten_net_free(ctx, net);
    fx_free(ctx, &ds[0]);
    fx_free(ctx, &ds[1]);
}

int main(void)
{
    if (sten_ctx_init(&ctx) != STEN_OK)
        return EXIT_FAILURE;
    sten_ctx_set_threads(ctx, 2);
    RUN(test_one_model_many_threads);
    CHECK_EQ(sten_ctx_bytes_in_use(ctx), 0);
    sten_ctx_free(ctx);
    return CHECK_DONE();
}
