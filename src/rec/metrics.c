/* metrics.c — evaluation of recommendations: ranking metrics at several
 * cut-offs (precision, recall, truncated recall, NDCG, MAP, hit rate), MRR
 * and catalogue coverage, user by user; and score metrics (RMSE, MAE, AUC,
 * log loss, accuracy). Reading files is the command's job. */
#include "core/core_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sten_eval {
    uint32_t n_k, ks[STEN_EVAL_MAX_K], max_k;
    uint32_t n_items;
    uint64_t *truth_bits; /* the current user's truth, cleared after each user */
    uint64_t *seen_bits;  /* every item recommended in the top max_k */
    double sum[STEN_EVAL_MAX_K][6];
    double mrr;
    uint64_t users, empty;
};

sten_status sten_eval_new(sten_ctx *ctx, const uint32_t *ks, uint32_t n_k, uint32_t n_items,
                          sten_eval **out)
{
    *out = NULL;
    if (n_k == 0 || n_k > STEN_EVAL_MAX_K || n_items == 0)
        return sten_fail(ctx, STEN_E_INVALID, "evaluation needs 1 to %d cut-offs and items (got %u, %u)",
                         STEN_EVAL_MAX_K, n_k, n_items);
    sten_eval *ev = sten_calloc(ctx, 1, sizeof *ev);
    if (!ev)
        return STEN_E_NOMEM;
    for (uint32_t i = 0; i < n_k; i++) {
        if (ks[i] == 0) {
            sten_free(ctx, ev);
            return sten_fail(ctx, STEN_E_INVALID, "cut-off k must be at least 1");
        }
        ev->ks[i] = ks[i];
        ev->max_k = STEN__MAX(ev->max_k, ks[i]);
    }
    ev->n_k = n_k;
    ev->n_items = n_items;
    const size_t words = (n_items + 63) / 64;
    ev->truth_bits = sten_calloc(ctx, words, sizeof(uint64_t));
    ev->seen_bits = sten_calloc(ctx, words, sizeof(uint64_t));
    if (!ev->truth_bits || !ev->seen_bits) {
        sten_eval_free(ctx, ev);
        return STEN_E_NOMEM;
    }
    *out = ev;
    return STEN_OK;
}

void sten_eval_free(sten_ctx *ctx, sten_eval *ev)
{
    if (!ev)
        return;
    sten_free(ctx, ev->truth_bits);
    sten_free(ctx, ev->seen_bits);
    sten_free(ctx, ev);
}

#define BIT(b, i) ((b)[(i) >> 6] >> ((i) & 63) & 1u)

sten_status sten_eval_add(sten_ctx *ctx, sten_eval *ev, const uint32_t *ranked, uint32_t n,
                          const uint32_t *truth, uint32_t n_truth)
{
    for (uint32_t i = 0; i < n; i++)
        if (ranked[i] >= ev->n_items)
            return sten_fail(ctx, STEN_E_RANGE, "recommended item %u is outside the %u-item catalogue",
                             ranked[i], ev->n_items);
    for (uint32_t i = 0; i < n_truth; i++)
        if (truth[i] >= ev->n_items)
            return sten_fail(ctx, STEN_E_RANGE, "held-out item %u is outside the %u-item catalogue",
                             truth[i], ev->n_items);
    for (uint32_t i = 0; i < STEN__MIN(n, ev->max_k); i++)
        ev->seen_bits[ranked[i] >> 6] |= 1ull << (ranked[i] & 63);
    uint32_t distinct = 0;
    for (uint32_t i = 0; i < n_truth; i++) {
        distinct += !BIT(ev->truth_bits, truth[i]);
        ev->truth_bits[truth[i] >> 6] |= 1ull << (truth[i] & 63);
    }
    if (distinct == 0) {
        ev->empty++;
        return STEN_OK;
    }
    ev->users++;
    /* one walk down the list, recording the running sums at each cut-off */
    uint32_t hits = 0;
    double dcg = 0.0, ap = 0.0, idcg_run = 0.0;
    bool first = true;
    uint32_t j = 0;
    for (uint32_t c = 0; c < ev->n_k; c++) {
        const uint32_t k = ev->ks[c];
        for (; j < STEN__MIN(n, k); j++) {
            if (BIT(ev->truth_bits, ranked[j])) {
                hits++;
                dcg += 1.0 / log2((double)j + 2.0);
                ap += (double)hits / (double)(j + 1);
                if (first) {
                    ev->mrr += 1.0 / (double)(j + 1);
                    first = false;
                }
            }
        }
        const uint32_t ideal = STEN__MIN(k, distinct);
        idcg_run = 0.0;
        for (uint32_t i = 0; i < ideal; i++)
            idcg_run += 1.0 / log2((double)i + 2.0);
        double *s = ev->sum[c];
        s[0] += (double)hits / k;
        s[1] += (double)hits / distinct;
        s[2] += (double)hits / ideal;
        s[3] += dcg / idcg_run;
        s[4] += ap / ideal;
        s[5] += hits > 0;
    }
    /* MRR looks at the whole list, past the largest cut-off too */
    for (; first && j < n; j++)
        if (BIT(ev->truth_bits, ranked[j])) {
            ev->mrr += 1.0 / (double)(j + 1);
            first = false;
        }
    for (uint32_t i = 0; i < n_truth; i++)
        ev->truth_bits[truth[i] >> 6] = 0;
    return STEN_OK;
}

void sten_eval_result(const sten_eval *ev, sten_rank_metrics *at, double *mrr, double *coverage,
                      uint64_t *users, uint64_t *users_without_truth)
{
    const double u = ev->users ? (double)ev->users : NAN;
    for (uint32_t c = 0; c < ev->n_k; c++) {
        const double *s = ev->sum[c];
        at[c] = (sten_rank_metrics){ev->ks[c], s[0] / u, s[1] / u, s[2] / u, s[3] / u, s[4] / u,
                                    s[5] / u};
    }
    uint64_t seen = 0;
    for (uint32_t w = 0; w < (ev->n_items + 63) / 64; w++)
        seen += (uint64_t)__builtin_popcountll(ev->seen_bits[w]);
    if (mrr)
        *mrr = ev->mrr / u;
    if (coverage)
        *coverage = (double)seen / ev->n_items;
    if (users)
        *users = ev->users;
    if (users_without_truth)
        *users_without_truth = ev->empty;
}

typedef struct {
    float s;
    float y;
} scored_label;

static int cmp_score(const void *a, const void *b)
{
    const float x = ((const scored_label *)a)->s, y = ((const scored_label *)b)->s;
    return (x > y) - (x < y);
}

/* Mann-Whitney AUC with tied scores sharing their average rank. */
static double auc(scored_label *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_score);
    double rank_sum = 0.0, pos = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].s == v[i].s)
            j++;
        const double avg = (double)(i + 1 + j) / 2.0; /* ranks i+1 .. j */
        for (size_t q = i; q < j; q++)
            if (v[q].y > 0.5f) {
                rank_sum += avg;
                pos++;
            }
        i = j;
    }
    const double neg = (double)n - pos;
    if (pos == 0 || neg == 0)
        return NAN;
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg);
}

sten_status sten_eval_scores(sten_ctx *ctx, const float *score, const float *label, size_t n,
                             sten_score_metrics *out)
{
    if (n == 0)
        return sten_fail(ctx, STEN_E_INVALID, "no scores to evaluate");
    scored_label *v = sten_alloc(ctx, n * sizeof *v);
    if (!v)
        return STEN_E_NOMEM;
    double se = 0, ae = 0, ll = 0, correct = 0;
    for (size_t i = 0; i < n; i++) {
        const double s = score[i], y = label[i], d = s - y;
        if (!isfinite(s) || !isfinite(y)) {
            sten_free(ctx, v);
            return sten_fail(ctx, STEN_E_RANGE, "score or label %zu is not a finite number", i + 1);
        }
        se += d * d;
        ae += fabs(d);
        const double p = fmin(fmax(s, 1e-15), 1.0 - 1e-15);
        ll -= y > 0.5 ? log(p) : log(1.0 - p);
        correct += (s >= 0.5) == (y > 0.5);
        v[i] = (scored_label){score[i], label[i]};
    }
    out->rmse = sqrt(se / (double)n);
    out->mae = ae / (double)n;
    out->logloss = ll / (double)n;
    out->accuracy = correct / (double)n;
    out->auc = auc(v, n);
    sten_free(ctx, v);
    return STEN_OK;
}
