/* synth_ctr.c — synthetic click logs in Criteo's layout (label, 13 integer
 * features, 26 categorical ones), with Criteo Kaggle's per-field
 * cardinalities (scalable), Zipf-like value frequencies, and a planted click
 * model with first-order and pairwise field interactions, so that a model
 * with interactions can beat a linear one. Every per-value parameter is a
 * hash of (seed, field, value): no tables, any cardinality. Deterministic for
 * a seed. The planted click probabilities of the first rows are handed back:
 * their AUC against the labels is the ceiling a learner can reach. */
#include "core/core_int.h"

#include <math.h>
#include <string.h>

#define N_DENSE 13
#define N_CAT 26
#define LATENT 4
#define N_PAIRS 12

/* Criteo Kaggle's distinct values per categorical field (as in DLRM's preprocessing). */
static const uint32_t kaggle_card[N_CAT] = {
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572};

sten_synth_ctr_opts sten_synth_ctr_defaults(void)
{
    return (sten_synth_ctr_opts){.rows = 100000, .seed = 1, .scale = 1.0};
}

/* Four uniforms in [0, 1) from (seed, a, b, c). */
static void hash4(uint64_t seed, uint32_t a, uint32_t b, uint32_t c, float out[4])
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, ctr[4] = {a, b, c, 0x63747221u};
    uint32_t r[4];
    sten_philox4x32(ctr, key, r);
    for (int k = 0; k < 4; k++)
        out[k] = (float)(r[k] >> 8) * 0x1.0p-24f;
}

/* A standard normal from two uniforms. */
static float normal(float u1, float u2)
{
    return sqrtf(-2.0f * logf(u1 + 0x1.0p-25f)) * cosf(6.2831853f * u2);
}

typedef struct {
    uint32_t card[N_CAT];
    int pair[N_PAIRS][2];
    float dense_w[N_DENSE];
    uint64_t seed;
} planted;

/* Field f's value v: its first-order weight and its latent vector. */
static float value_weight(const planted *m, int f, uint32_t v, float lat[LATENT])
{
    float u[4], w[4];
    hash4(m->seed, (uint32_t)f, v, 1, u);
    hash4(m->seed, (uint32_t)f, v, 2, w);
    lat[0] = normal(w[0], w[1]), lat[1] = normal(w[2], w[3]);
    lat[2] = normal(u[2], u[3]), lat[3] = normal(w[1], u[2]);
    return normal(u[0], u[1]);
}

/* The planted logit of one example. */
static double logit(const planted *m, const float *dense, const uint32_t *cat, const bool *miss)
{
    float lat[N_CAT][LATENT];
    double z = -1.9;
    for (int f = 0; f < N_CAT; f++) {
        if (miss[f]) {
            memset(lat[f], 0, sizeof lat[f]);
            continue;
        }
        z += 0.15 * value_weight(m, f, cat[f], lat[f]);
    }
    for (int p = 0; p < N_PAIRS; p++) {
        const float *a = lat[m->pair[p][0]], *b = lat[m->pair[p][1]];
        z += 0.18 * (a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]);
    }
    for (int d = 0; d < N_DENSE; d++)
        z += m->dense_w[d] * (dense[d] - 1.5);
    return z;
}

sten_status sten_synth_ctr(sten_ctx *ctx, const sten_synth_ctr_opts *o, FILE *out, float *prob,
                           float *label, uint64_t n_keep)
{
    if (o->rows == 0 || !(o->scale > 0) || o->scale > 1.0)
        return sten_fail(ctx, STEN_E_INVALID, "synthetic click logs: rows must be at least 1 and the "
                         "cardinality scale in (0, 1] (got %llu rows, scale %g)",
                         (unsigned long long)o->rows, o->scale);
    planted m = {.seed = o->seed};
    for (int f = 0; f < N_CAT; f++) {
        const double c = floor(kaggle_card[f] * o->scale + 0.5);
        m.card[f] = c < 2 ? 2 : (uint32_t)c;
    }
    sten_rng r;
    sten_rng_init(&r, o->seed, 0xC7);
    for (int p = 0; p < N_PAIRS; p++) { /* distinct fields per pair */
        m.pair[p][0] = (int)sten_rng_below(&r, N_CAT);
        do
            m.pair[p][1] = (int)sten_rng_below(&r, N_CAT);
        while (m.pair[p][1] == m.pair[p][0]);
    }
    for (int d = 0; d < N_DENSE; d++)
        m.dense_w[d] = 0.15f * sten_rng_normal(&r);
    for (uint64_t i = 0; i < o->rows; i++) {
        sten_rng_init(&r, o->seed, 0x100000000ull + i);
        float dense[N_DENSE];
        long long ints[N_DENSE];
        bool dmiss[N_DENSE], miss[N_CAT];
        uint32_t cat[N_CAT];
        for (int d = 0; d < N_DENSE; d++) { /* counts, log-normal, 10% missing */
            dmiss[d] = sten_rng_uniform(&r) < 0.1f;
            ints[d] = (long long)floor(exp(0.5 + 0.2 * d + 1.2 * sten_rng_normal(&r))) - 1;
            dense[d] = dmiss[d] ? 0.0f : (float)log1p((double)(ints[d] > 0 ? ints[d] : 0));
        }
        for (int f = 0; f < N_CAT; f++) { /* Zipf-like: log-uniform ranks, 3% missing */
            miss[f] = sten_rng_uniform(&r) < 0.03f;
            const double x = exp(sten_rng_uniform(&r) * log((double)m.card[f] + 1.0)) - 1.0;
            cat[f] = (uint32_t)fmin(x, m.card[f] - 1.0);
        }
        const double p = 1.0 / (1.0 + exp(-logit(&m, dense, cat, miss)));
        const int y = sten_rng_uniform(&r) < p;
        if (i < n_keep)
            prob[i] = (float)p, label[i] = (float)y;
        fprintf(out, "%d", y);
        for (int d = 0; d < N_DENSE; d++) {
            if (dmiss[d])
                fputs("\t", out);
            else
                fprintf(out, "\t%lld", ints[d]);
        }
        for (int f = 0; f < N_CAT; f++) {
            /* the value's 8 hex digits: a bijection of its rank, per field */
            const uint32_t hex = cat[f] * 0x9e3779b1u ^ 0x85ebca6bu * (uint32_t)(f + 1);
            if (miss[f])
                fputs("\t", out);
            else
                fprintf(out, "\t%08x", hex);
        }
        fputc('\n', out);
    }
    return ferror(out) ? sten_fail(ctx, STEN_E_IO, "synthetic click logs: write error (disk full?)")
                       : STEN_OK;
}
