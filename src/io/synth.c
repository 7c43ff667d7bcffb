/* synth.c — a seeded generator of implicit-feedback data with the shape of
 * real logs: power-law item popularity, log-normal user activity, and latent
 * taste clusters that give a model signal to learn (docs/synth.md). Each
 * user draws from its own RNG stream, so the output depends on the seed only. */
#include "core/core_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

sten_synth_opts sten_synth_defaults(void)
{
    return (sten_synth_opts){.users = 6000, .items = 3700, .interactions = 1000000,
                             .clusters = 20, .seed = 1, .popularity_exponent = 1.5f, .taste = 0.7f};
}

typedef struct {
    uint32_t N, C;
    uint32_t *cluster_items; /* items grouped by cluster */
    uint32_t *cluster_start; /* C + 1 offsets */
    double *cum;             /* cumulative popularity within each cluster's run */
    double *gcum;            /* cumulative popularity over all items */
} model;

/* Index of the first cum[lo..hi) >= x (the last one if none is). */
static uint32_t search(const double *cum, uint32_t lo, uint32_t hi, double x)
{
    uint32_t a = lo, b = hi;
    while (a < b) {
        const uint32_t mid = a + (b - a) / 2;
        if (cum[mid] >= x)
            b = mid;
        else
            a = mid + 1;
    }
    return a < hi ? a : hi - 1;
}

static uint32_t draw_global(const model *m, sten_rng *r)
{
    return search(m->gcum, 0, m->N, sten_rng_uniform(r) * m->gcum[m->N - 1]);
}

static uint32_t draw_cluster(const model *m, uint32_t c, sten_rng *r)
{
    const uint32_t a = m->cluster_start[c], b = m->cluster_start[c + 1];
    if (a == b)
        return draw_global(m, r);
    const double lo = a ? m->cum[a - 1] : 0.0;
    const double x = lo + sten_rng_uniform(r) * (m->cum[b - 1] - lo);
    return m->cluster_items[search(m->cum, a, b, x)];
}

static sten_status build_model(sten_ctx *ctx, const sten_synth_opts *o, model *m)
{
    m->N = o->items;
    m->C = STEN__MAX(o->clusters, 1u);
    m->cluster_items = sten_alloc(ctx, (size_t)m->N * sizeof *m->cluster_items);
    m->cluster_start = sten_calloc(ctx, (size_t)m->C + 1, sizeof *m->cluster_start);
    m->cum = sten_alloc(ctx, (size_t)m->N * sizeof *m->cum);
    m->gcum = sten_alloc(ctx, (size_t)m->N * sizeof *m->gcum);
    uint32_t *cl = sten_alloc(ctx, (size_t)m->N * sizeof *cl);
    if (!m->cluster_items || !m->cluster_start || !m->cum || !m->gcum || !cl) {
        sten_free(ctx, cl);
        return STEN_E_NOMEM;
    }
    /* item i has popularity rank i (ids are labels, so rank is visible but
     * harmless); its cluster is a draw of its own stream */
    double acc = 0.0;
    for (uint32_t i = 0; i < m->N; i++) {
        sten_rng r;
        sten_rng_init(&r, o->seed ^ 0x6974656d73ull, i); /* "items" */
        cl[i] = sten_rng_below(&r, m->C);
        m->cluster_start[cl[i] + 1]++;
        acc += pow((double)i + 5.0, -(double)o->popularity_exponent);
        m->gcum[i] = acc;
    }
    for (uint32_t c = 0; c < m->C; c++)
        m->cluster_start[c + 1] += m->cluster_start[c];
    uint32_t *fill = sten_alloc(ctx, (size_t)m->C * sizeof *fill);
    if (!fill) {
        sten_free(ctx, cl);
        return STEN_E_NOMEM;
    }
    memcpy(fill, m->cluster_start, (size_t)m->C * sizeof *fill);
    for (uint32_t i = 0; i < m->N; i++)
        m->cluster_items[fill[cl[i]]++] = i;
    for (uint32_t c = 0; c < m->C; c++) {
        double s = m->cluster_start[c] ? m->cum[m->cluster_start[c] - 1] : 0.0;
        for (uint32_t k = m->cluster_start[c]; k < m->cluster_start[c + 1]; k++) {
            const uint32_t i = m->cluster_items[k];
            s += m->gcum[i] - (i ? m->gcum[i - 1] : 0.0);
            m->cum[k] = s;
        }
    }
    sten_free(ctx, fill);
    sten_free(ctx, cl);
    return STEN_OK;
}

static void free_model(sten_ctx *ctx, model *m)
{
    sten_free(ctx, m->cluster_items);
    sten_free(ctx, m->cluster_start);
    sten_free(ctx, m->cum);
    sten_free(ctx, m->gcum);
}

/* One user's interactions into out (capacity cap); returns the count. mark
 * is an N-bit scratch set, left clear. */
static uint32_t gen_user(const model *m, const sten_synth_opts *o, uint32_t u, double mu,
                         uint32_t cap, sten_interaction *out, uint64_t *mark)
{
    sten_rng r;
    sten_rng_init(&r, o->seed, u);
    const double z = sten_rng_normal(&r);
    double want = exp(mu + z);
    want = fmin(fmax(want, 3.0), fmin((double)cap, m->N / 3.0));
    const uint32_t n = (uint32_t)want;
    const uint32_t pref[2] = {sten_rng_below(&r, m->C), sten_rng_below(&r, m->C)};
    const int64_t t0 = 946684800 + (int64_t)sten_rng_below(&r, 400000000u);
    uint32_t k = 0;
    for (uint32_t tries = 0; k < n && tries < 20 * n; tries++) {
        const bool liked = sten_rng_uniform(&r) < o->taste;
        const uint32_t it = liked ? draw_cluster(m, pref[sten_rng_below(&r, 2)], &r) : draw_global(m, &r);
        if (mark[it >> 6] >> (it & 63) & 1)
            continue;
        mark[it >> 6] |= 1ull << (it & 63);
        /* ratings: 0.5 .. 5 in half stars, higher for the user's own taste */
        const float base = liked ? 4.0f : 1.0f;
        const float rating = base + 0.5f * (float)sten_rng_below(&r, liked ? 3 : 7);
        const int64_t ts = t0 + (int64_t)k * 60 + sten_rng_below(&r, 60);
        out[k++] = (sten_interaction){u, it, rating, ts};
    }
    for (uint32_t i = 0; i < k; i++)
        mark[out[i].item >> 6] = 0;
    return k;
}

static sten_status add_labels(sten_ctx *ctx, sten_index *ix, uint32_t n)
{
    char buf[16];
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id;
        const int l = snprintf(buf, sizeof buf, "%u", i + 1);
        sten_status st = sten_index_add(ctx, ix, buf, (size_t)l, &id);
        if (st)
            return st;
    }
    return STEN_OK;
}

sten_status sten_synth(sten_ctx *ctx, const sten_synth_opts *o, sten_interactions *out)
{
    if (o->users == 0 || o->items < 10 || o->interactions == 0 || !(o->taste >= 0 && o->taste <= 1))
        return sten_fail(ctx, STEN_E_INVALID, "synth: need users >= 1, items >= 10, interactions >= 1, "
                         "0 <= taste <= 1");
    model m;
    memset(&m, 0, sizeof m);
    sten_status st = build_model(ctx, o, &m);
    if (!st && !out->users)
        st = sten_index_new(ctx, &out->users);
    if (!st && !out->items)
        st = sten_index_new(ctx, &out->items);
    if (!st)
        st = add_labels(ctx, out->users, o->users);
    if (!st)
        st = add_labels(ctx, out->items, o->items);
    /* log-normal activity with sigma 1 and the requested mean */
    const double mean = (double)o->interactions / o->users;
    const double mu = log(mean) - 0.5;
    const uint32_t cap = (uint32_t)fmin(m.N / 3.0, mean * 40.0 + 10.0);
    const int nt = sten_ctx_threads(ctx);
    const uint32_t chunk = 4096;
    const uint32_t n_chunks = (o->users + chunk - 1) / chunk;
    sten_interaction *buf = NULL;
    uint64_t *marks = NULL, *counts = NULL;
    if (!st) {
        buf = sten_alloc(ctx, (size_t)nt * cap * sizeof *buf);
        marks = sten_calloc(ctx, (size_t)nt * ((m.N + 63) / 64), sizeof *marks);
        counts = sten_alloc(ctx, (size_t)chunk * sizeof *counts);
        if (!buf || !marks || !counts)
            st = STEN_E_NOMEM;
    }
    /* chunk by chunk: count in parallel, grow once, then fill in parallel at
     * known offsets (each user's stream is replayed, so no per-user buffers) */
    for (uint32_t c = 0; !st && c < n_chunks; c++) {
        const uint32_t u0 = c * chunk, u1 = STEN__MIN(o->users, u0 + chunk);
        sten__progress(ctx, "generating", "users", u0, o->users);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 64)
        for (uint32_t u = u0; u < u1; u++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            counts[u - u0] = gen_user(&m, o, u, mu, cap, buf + (size_t)t * cap,
                                      marks + (size_t)t * ((m.N + 63) / 64));
        }
        uint64_t total = out->n;
        for (uint32_t u = u0; u < u1; u++) {
            const uint64_t k = counts[u - u0];
            counts[u - u0] = total;
            total += k;
        }
        if ((st = sten__grow(ctx, (void **)&out->x, &out->cap, total, sizeof *out->x)))
            break;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 64)
        for (uint32_t u = u0; u < u1; u++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            gen_user(&m, o, u, mu, cap, out->x + counts[u - u0], marks + (size_t)t * ((m.N + 63) / 64));
        }
        out->n = total;
    }
    sten_free(ctx, buf);
    sten_free(ctx, marks);
    sten_free(ctx, counts);
    free_model(ctx, &m);
    return st;
}
