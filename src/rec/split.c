/* split.c — train/test (and validation) splits of an interaction log for
 * evaluation: per-user random holdout, leave-one-out, per-user temporal,
 * global time cut, and the strong generalization protocol of Liang et al.
 * 2018 (Mult-VAE). Each record gets a part; reading the log and writing the
 * parts is the caller's (tools/cmd_split.c). Deterministic for a seed. */
#include "core/core_int.h"

#include <math.h>
#include <string.h>

sten_split_opts sten_split_defaults(void)
{
    return (sten_split_opts){.protocol = STEN_SPLIT_RANDOM, .fraction = 0.2, .last = 0, .cut = NAN,
                             .seed = 98765, .valid_users = 10000, .test_users = 10000,
                             .positive = 3.5};
}

/* One user's records [s, e) (time-sorted): its m test records marked. */
static void mark_user(const sten_split_opts *o, uint8_t *part, uint64_t s, uint64_t e, uint32_t user)
{
    const uint64_t n = e - s;
    if (n < 2)
        return;
    uint64_t m;
    if (o->protocol == STEN_SPLIT_LOO)
        m = 1;
    else if (o->protocol == STEN_SPLIT_TEMPORAL && o->last > 0)
        m = o->last;
    else
        m = (uint64_t)llround(o->fraction * (double)n);
    m = m < 1 ? 1 : m > n - 1 ? n - 1 : m;
    if (o->protocol != STEN_SPLIT_RANDOM) { /* the latest m */
        for (uint64_t i = e - m; i < e; i++)
            part[i] = STEN_PART_TEST;
        return;
    }
    /* m distinct positions from the user's own stream (Floyd's algorithm) */
    sten_rng r;
    sten_rng_init(&r, o->seed, user);
    for (uint64_t j = n - m; j < n; j++) {
        const uint64_t t = sten_rng_below(&r, (uint32_t)j + 1);
        part[s + (part[s + t] ? j : t)] = STEN_PART_TEST;
    }
}

/* Liang et al.: positives only, users with >= 5 of them; validation and
 * test users drawn with the seed; their items that training users have,
 * 80/20 into fold-in and held-out. */
static sten_status strong(sten_ctx *ctx, const sten_split_opts *o, sten_interactions *in, uint8_t *part,
                          sten_split_stats *stats)
{
    uint64_t w = 0;
    for (uint64_t i = 0; i < in->n; i++)
        if (in->x[i].rating > o->positive)
            in->x[w++] = in->x[i];
    in->n = w;
    const uint32_t U = sten_index_span(in->users), I = sten_index_span(in->items);
    uint64_t *count = sten_calloc(ctx, (size_t)U + 1, sizeof *count);
    uint32_t *users = sten_alloc(ctx, ((size_t)U + 1) * sizeof *users);
    uint8_t *role = sten_calloc(ctx, U ? U : 1, 1); /* 0 dropped (< 5), 1 train, 2 valid, 3 test */
    uint8_t *known = sten_calloc(ctx, I ? I : 1, 1);
    sten_status st = count && users && role && known ? STEN_OK : STEN_E_NOMEM;
    uint32_t n_users = 0, nt = 0, nv = 0;
    if (!st) {
        for (uint64_t i = 0; i < in->n; i++)
            count[in->x[i].user]++;
        for (uint32_t u = 0; u < U; u++)
            if (count[u] >= 5)
                users[n_users++] = u;
        /* shuffle the kept users with the seed; take test, then validation */
        sten_rng r;
        sten_rng_init(&r, o->seed, 0);
        for (uint32_t i = n_users; i > 1; i--) {
            const uint32_t j = sten_rng_below(&r, i), t = users[i - 1];
            users[i - 1] = users[j];
            users[j] = t;
        }
        const uint32_t cap = n_users / 5;
        nt = STEN__MIN(cap, o->test_users);
        nv = STEN__MIN(cap, o->valid_users);
        for (uint32_t i = 0; i < n_users; i++)
            role[users[i]] = i < nt ? 3 : i < nt + nv ? 2 : 1;
        for (uint64_t i = 0; i < in->n; i++)
            if (role[in->x[i].user] == 1)
                known[in->x[i].item] = 1;
    }
    for (uint64_t s = 0; !st && s < in->n;) {
        const uint32_t u = in->x[s].user;
        uint64_t e = s;
        while (e < in->n && in->x[e].user == u)
            e++;
        for (uint64_t i = s; i < e; i++)
            part[i] = role[u] == 0 ? STEN_PART_DROPPED : role[u] == 1 ? STEN_PART_TRAIN
                    : !known[in->x[i].item] ? STEN_PART_DROPPED
                    : role[u] == 2 ? STEN_PART_VALID_FOLDIN : STEN_PART_TEST_FOLDIN;
        if (role[u] >= 2) { /* 20% of the user's known items held out */
            uint64_t n = 0;
            for (uint64_t i = s; i < e; i++)
                n += part[i] != STEN_PART_DROPPED;
            const uint64_t m = (uint64_t)llround(0.2 * (double)n);
            sten_rng ru;
            sten_rng_init(&ru, o->seed + 1, u);
            for (uint64_t k = 0, picked = 0; picked < m && k < 64 * n + 64; k++) {
                const uint64_t i = s + sten_rng_below(&ru, (uint32_t)(e - s));
                if (part[i] == STEN_PART_VALID_FOLDIN || part[i] == STEN_PART_TEST_FOLDIN) {
                    part[i]++; /* the holdout code follows its fold-in's */
                    picked++;
                }
            }
        }
        s = e;
    }
    sten_free(ctx, count), sten_free(ctx, users), sten_free(ctx, role), sten_free(ctx, known);
    stats->users = n_users;
    stats->valid_users = nv;
    stats->test_users = nt;
    return st;
}

sten_status sten_split(sten_ctx *ctx, const sten_split_opts *o, sten_interactions *in, uint8_t *part,
                       sten_split_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    memset(part, STEN_PART_TRAIN, (size_t)in->n);
    sten_interactions_dedupe(in); /* also sorts by user, then time */
    switch (o->protocol) {
    case STEN_SPLIT_STRONG:
        for (uint64_t i = 0; i < in->n; i++)
            if (isnan(in->x[i].rating))
                return sten_fail(ctx, STEN_E_FORMAT, "the strong protocol needs ratings; this log has none");
        return strong(ctx, o, in, part, stats);
    case STEN_SPLIT_TIMECUT: {
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (uint64_t i = 0; i < in->n; i++) {
            lo = STEN__MIN(lo, in->x[i].timestamp);
            hi = STEN__MAX(hi, in->x[i].timestamp);
        }
        const double cut = !isnan(o->cut) ? o->cut : hi - o->fraction * (double)(hi - lo);
        for (uint64_t i = 0; i < in->n; i++)
            part[i] = (double)in->x[i].timestamp >= cut ? STEN_PART_TEST : STEN_PART_TRAIN;
        return STEN_OK;
    }
    case STEN_SPLIT_RANDOM:
    case STEN_SPLIT_LOO:
    case STEN_SPLIT_TEMPORAL:
        for (uint64_t s = 0; s < in->n;) {
            uint64_t e = s;
            while (e < in->n && in->x[e].user == in->x[s].user)
                e++;
            mark_user(o, part, s, e, in->x[s].user);
            s = e;
        }
        return STEN_OK;
    }
    return sten_fail(ctx, STEN_E_INVALID, "split protocol %d is not one of sten_split_protocol", (int)o->protocol);
}

/* ------------------------------------------------ validation users held out */

/* Whether entry (example, column) is in the example's fold-in: a draw of
 * the (seed, example) stream keyed by the column, so every dataset over the
 * same items agrees. */
static bool in_fold_in(uint64_t seed, uint64_t example, uint32_t column, double fraction)
{
    uint64_t h = seed ^ (example * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)column * 0xc2b2ae3d27d4eb4full);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 32;
    return (double)(h >> 11) * 0x1p-53 >= fraction;
}

/* Rows rows[0..n) of d (entries kept by keep: 0 all, 1 fold-in, 2 held out)
 * into out, a new dataset of n examples. */
static sten_status take_rows(sten_ctx *ctx, const sten_dataset *d, const uint64_t *rows, uint64_t n, int keep,
                             double fraction, uint64_t seed, sten_dataset *out)
{
    memset(out, 0, sizeof *out);
    const size_t len = strlen(d->name) + 1;
    uint64_t nnz = 0;
    for (uint64_t r = 0; r < n; r++)
        nnz += d->sparse.row_ptr[rows[r] + 1] - d->sparse.row_ptr[rows[r]];
    sten_status st = (out->name = sten_alloc(ctx, len)) ? STEN_OK : STEN_E_NOMEM;
    if (!st)
        memcpy(out->name, d->name, len);
    if (!st)
        st = sten_csr_init(ctx, &out->sparse, (uint32_t)(n ? n : 1), d->sparse.cols, nnz ? nnz : 1,
                           d->sparse.val != NULL);
    if (!st && d->weight && !(out->weight = sten_alloc(ctx, (size_t)(n ? n : 1) * sizeof *out->weight)))
        st = STEN_E_NOMEM;
    if (st) {
        sten_dataset_clear(ctx, out);
        return st;
    }
    uint64_t e = 0;
    for (uint64_t r = 0; r < n; r++) {
        out->sparse.row_ptr[r] = e;
        for (uint64_t k = d->sparse.row_ptr[rows[r]]; k < d->sparse.row_ptr[rows[r] + 1]; k++) {
            const bool f = keep && in_fold_in(seed, rows[r], d->sparse.col[k], fraction);
            if (keep == 1 ? !f : keep == 2 ? f : false)
                continue;
            out->sparse.col[e] = d->sparse.col[k];
            if (out->sparse.val)
                out->sparse.val[e] = d->sparse.val[k];
            e++;
        }
        if (out->weight)
            out->weight[r] = d->weight[rows[r]];
    }
    out->sparse.row_ptr[n] = e;
    out->sparse.rows = (uint32_t)n;
    out->sparse.nnz = e;
    out->attributes = d->attributes;
    out->dtype = d->dtype;
    out->dims = d->dims, out->width = d->width, out->height = d->height, out->length = d->length;
    out->examples = out->unique = n;
    out->features = d->features; /* the same columns; the samples are a subset (not known) */
    return STEN_OK;
}

sten_status sten_holdout_users(sten_ctx *ctx, const sten_dataset *ds, size_t n_ds, const bool *is_input,
                               uint32_t users, double fraction, uint64_t seed, sten_dataset **train,
                               sten_dataset **valid)
{
    *train = *valid = NULL;
    if (n_ds == 0)
        return sten_fail(ctx, STEN_E_INVALID, "holding out validation users: no datasets");
    const uint64_t E = ds[0].examples;
    for (size_t k = 0; k < n_ds; k++) {
        const sten_dataset *d = &ds[k];
        if (!(d->attributes & STEN_DS_SPARSE) || d->index || d->examples != E)
            return sten_fail(ctx, STEN_E_UNSUPPORTED, "holding out validation users: dataset %s is %s; every "
                             "dataset must be sparse, not Indexed, over the same %llu examples", d->name,
                             !(d->attributes & STEN_DS_SPARSE) ? "dense" : d->index ? "Indexed"
                                                                                   : "over other examples",
                             (unsigned long long)E);
    }
    if (E > UINT32_MAX)
        return sten_fail(ctx, STEN_E_UNSUPPORTED, "holding out validation users: %llu examples (at most 2^32-1)",
                         (unsigned long long)E);
    if (users == 0 || users >= E)
        return sten_fail(ctx, STEN_E_INVALID, "holding out %u validation users of %llu examples (expected 1 to "
                         "%llu)", users, (unsigned long long)E, (unsigned long long)(E ? E - 1 : 0));
    if (!(fraction > 0.0 && fraction < 1.0))
        return sten_fail(ctx, STEN_E_INVALID, "holding out validation users: a held-out fraction of %g (expected "
                         "more than 0 and less than 1)", fraction);
    /* the drawn users: a partial shuffle of the example numbers, then each part in order */
    uint64_t *all = sten_alloc(ctx, (size_t)E * sizeof *all);
    uint8_t *drawn = sten_calloc(ctx, (size_t)E, 1);
    sten_dataset *tr = sten_calloc(ctx, n_ds, sizeof *tr), *va = sten_calloc(ctx, n_ds, sizeof *va);
    sten_status st = all && drawn && tr && va ? STEN_OK : STEN_E_NOMEM;
    if (!st) {
        sten_rng r;
        sten_rng_init(&r, seed, 0x686f6c646f7574ull); /* "holdout" */
        for (uint64_t i = 0; i < E; i++)
            all[i] = i;
        for (uint32_t i = 0; i < users; i++) {
            const uint64_t j = i + sten_rng_below(&r, (uint32_t)(E - i));
            const uint64_t x = all[i];
            all[i] = all[j], all[j] = x;
            drawn[all[i]] = 1;
        }
        uint64_t a = 0, b = 0;
        for (uint64_t i = 0; i < E; i++) /* valid rows first (ascending), then the training rows */
            if (drawn[i])
                all[a++] = i;
        for (uint64_t i = 0; i < E; i++)
            if (!drawn[i])
                all[users + b++] = i;
    }
    for (size_t k = 0; !st && k < n_ds; k++) {
        st = take_rows(ctx, &ds[k], all + users, E - users, 0, fraction, seed, &tr[k]);
        if (!st)
            st = take_rows(ctx, &ds[k], all, users, is_input[k] ? 1 : 2, fraction, seed, &va[k]);
    }
    sten_free(ctx, all);
    sten_free(ctx, drawn);
    if (st) {
        sten_datasets_free(ctx, tr, n_ds);
        sten_datasets_free(ctx, va, n_ds);
        return st;
    }
    *train = tr;
    *valid = va;
    return STEN_OK;
}
